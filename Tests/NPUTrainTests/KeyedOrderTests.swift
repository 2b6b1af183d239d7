import Testing
import NPUDevice
import NPUGraph
import NPUOps
import NPUTensor
@testable import NPUTrain
@testable import NPUDevice

/// A layer that computes a planned reduction nobody uses, then passes its input on.
final class UnusedReduction: Layer {
    var parameters: [Parameter] { [] }
    func callAsFunction<B: ModelBuilder>(_ b: inout B, _ x: B.Value) throws -> B.Value {
        try b.scoped("probe") { b in _ = try b.apply(ReduceSum(axes: [0]), [x]) }
        return x
    }
}

/// The keyed order draws of `off` (Docs/Determinism.md): a launch's order depends on where it
/// stands in the program, never on which other launches ran before it.
@Suite struct KeyedOrderTests {
    static func momentum(_ n: SequentialCell, _ c: LayerContext) throws -> any Optimizer {
        try Momentum(n.parameters, learningRate: 0.01, momentum: 0.9, c)
    }
    static func adam(_ n: SequentialCell, _ c: LayerContext) throws -> any Optimizer { try Adam(n.parameters, learningRate: 0.01, c) }
    static func adamw(_ n: SequentialCell, _ c: LayerContext) throws -> any Optimizer {
        try AdamWeightDecay(n.parameters, learningRate: 0.01, weightDecay: 0.01, c)
    }

    @Test func replayedOffRunsAreBitIdenticalInGraphAndPyNativeMode() throws {
        let cases: [(String, (LayerContext) throws -> SequentialCell, Shape, (SequentialCell, LayerContext) throws -> any Optimizer)] = [
            ("mlp", mlp, [32, 784], Self.momentum),
            ("cnn+bn", cnn, [8, 1, 14, 14], Self.adam),
            ("transformer", transformer, [4, 8, 16], Self.adamw),
        ]
        for (name, network, input, optimizer) in cases {
            let graph = try train(.graph, .off, steps: 3, network: network, input: input, optimizer: optimizer)
            let pynative = try train(.pynative, .off, steps: 3, network: network, input: input, optimizer: optimizer)
            let fixed = try train(.graph, .on, steps: 3, network: network, input: input, optimizer: optimizer)
            #expect(graph.0 == pynative.0, "\(name): losses differ between modes")
            #expect(graph.1 == pynative.1, "\(name): weights differ between modes")
            // The replayed order is not the fixed one: off really reorders.
            #expect(graph.1 != fixed.1, "\(name): off gave the bits of on")
        }
    }

    /// Runs 2 PyNative MLP steps under off/replay(5), with or without an extra unused planned
    /// reduction; returns the recorded plans by (instance, site, launch) and the weights.
    func run(probe: Bool) throws -> ([String: ReductionPlan], [String: [UInt32]]) {
        let ctx = try context()
        let net = SequentialCell(probe ? [try Dense(784, 128, name: "fc1", ctx), UnusedReduction(), OpLayer.relu(), try Dense(128, 10, name: "fc2", ctx)]
                                       : [try Dense(784, 128, name: "fc1", ctx), OpLayer.relu(), try Dense(128, 10, name: "fc2", ctx)])
        let step = try TrainStep(network: net, loss: SoftmaxCrossEntropyLoss(), optimizer: try Self.momentum(net, ctx), mode: .pynative,
                                 device: Device(spec: .ascend910), store: ctx.store, determinism: .off, orderSource: .replay(5),
                                 inputType: TensorType(.float32, [32, 784]), labelType: TensorType(.int32, [32]))
        step.planner.recording = true
        for s in 0..<2 { let (x, y) = batch(s, [32, 784], classes: 10); _ = try step(x, y) }
        var plans: [String: ReductionPlan] = [:]
        for p in step.planner.plans { plans["\(p.step) \(p.instance) \(p.site) \(p.launch)"] = p }
        return (plans, bits(ctx.store))
    }

    @Test func anUnusedLaunchChangesNoOtherLaunchsOrder() throws {
        let (base, baseWeights) = try run(probe: false)
        let (probed, probedWeights) = try run(probe: true)
        let extra = probed.keys.filter { base[$0] == nil }
        #expect(!extra.isEmpty && extra.allSatisfy { $0.contains("probe/ReduceSum") }, "extra launches: \(extra)")
        #expect(base.values.contains { $0.order.count > $0.blocks.count }, "some launch draws one order per output tile")
        for (key, plan) in base { #expect(probed[key]?.order == plan.order, "\(key)") }
        #expect(probedWeights == baseWeights)
    }

    @Test func ordersAreDrawnPerOutputTile() throws {
        let p = ReductionPlanner(spec: .ascend910, policy: .off, source: .replay(1))
        p.enter(op: "fc1/MatMul")
        let plan = p.plan(op: "MatMul", site: "splitK", extent: 32, outputs: 1000)
        #expect(plan.tileSize == DeviceSpec.ascend910.reductionTile)
        #expect(plan.order.count == 4 * 4)  // ⌈1000 / 256⌉ tiles of 4 blocks
        let tiles = (0..<4).map { Array(plan.order(tile: $0)) }
        #expect(tiles.allSatisfy { Set($0) == [0, 1, 2, 3] })
        #expect(Set(tiles).count > 1)
        // A pure function of the key: the same launch of another planner draws the same orders,
        // another step or instance other orders.
        let q = ReductionPlanner(spec: .ascend910, policy: .off, source: .replay(1))
        q.enter(op: "fc1/MatMul")
        #expect(q.plan(op: "MatMul", site: "splitK", extent: 32, outputs: 1000).order == plan.order)
        q.step = 1
        q.enter(op: "fc1/MatMul")
        #expect(q.plan(op: "MatMul", site: "splitK", extent: 32, outputs: 1000).order != plan.order)
        q.step = 0
        q.enter(op: "fc2/MatMul")
        #expect(q.plan(op: "MatMul", site: "splitK", extent: 32, outputs: 1000).order != plan.order)
    }
}

@Suite struct PyNativeInputTests {
    /// A layer whose parameter lives in another store: PyNative said so with a trap before.
    @Test func aParameterTheStoreLacksIsAnError() throws {
        let net = SequentialCell([try Dense(4, 2, name: "fc", try context())])
        let store = ParameterStore()
        let tape = Tape(context: PyNative(device: Device(spec: .test), determinism: .on))
        var b = TapeModel(tape: tape, store: store, isTraining: true)
        #expect(throws: TrainError("parameter 'fc.weight' is not in the parameter store (was the layer built with another store?)")) {
            _ = try net(&b, tape.watch(sampleTensor([3, 4])))
        }
    }
}

/// Nothing a long run keeps grows with the number of steps or compiles.
@Suite struct RetainedMemoryTests {
    @Test func perStepRetainedMemoryDoesNotGrow() throws {
        let ctx = try context()
        let net = try mlp(ctx)
        let device = Device(spec: .ascend910)
        device.timelineMode = .keepLast(100)
        let step = try TrainStep(network: net, loss: SoftmaxCrossEntropyLoss(), optimizer: try Momentum(net.parameters, learningRate: 0.01, momentum: 0.9, ctx),
                                 mode: .graph, device: device, store: ctx.store, determinism: .off,
                                 inputType: TensorType(.float32, [32, 784]), labelType: TensorType(.int32, [32]))
        let (x, y) = batch(0, [32, 784], classes: 10)
        for _ in 0..<10 { _ = try step(x, y) }
        let pool = try #require(step.storagePool)
        let warm = (pool.retainedBytes, device.recordEnds.count)
        for _ in 0..<300 { _ = try step(x, y) }
        #expect(pool.retainedBytes == warm.0)
        #expect(device.recordEnds.count == warm.1)
        #expect(device.timeline.count <= 200)
        #expect(device.timeline.last?.type == "MemcpyD2H")  // the newest records are the ones kept
    }

    @Test func recompilingLeaksNoStreamsOrEvents() throws {
        let ctx = try context()
        let net = try mlp(ctx)
        let device = Device(spec: .test)
        func compileAndStep() throws {
            let step = try TrainStep(network: net, loss: SoftmaxCrossEntropyLoss(), optimizer: SGD(net.parameters, learningRate: 0.1), mode: .graph,
                                     device: device, store: ctx.store, determinism: .on,
                                     inputType: TensorType(.float32, [32, 784]), labelType: TensorType(.int32, [32]))
            let (x, y) = batch(0, [32, 784], classes: 10)
            _ = try step(x, y)
        }
        try compileAndStep()
        let streams = device.streams.count, events = device.recordEnds.count
        for _ in 0..<5 { try compileAndStep() }
        #expect(device.streams.count == streams)
        #expect(device.recordEnds.count <= events)
    }

    @Test func timelineOffKeepsNothing() {
        let device = Device(spec: .test)
        device.timelineMode = .off
        device.defaultStream.launch("k", type: "Add", work: Work(flops: 1, bytes: 4, unit: .vector))
        #expect(device.synchronize() > .zero)
        #expect(device.timeline.isEmpty)
    }
}

@Suite struct RandomStateOwnershipTests {
    /// Two graph steps compiled from one network start the Dropout stream afresh each, as a
    /// rebuilt MindSpore graph does; within one step the stream carries on.
    @Test func twoStepsFromOneNetworkDoNotShareAGenerator() throws {
        let ctx = try context()
        let net = SequentialCell([try Dense(16, 10, name: "fc", ctx), try DropoutLayer(p: 0.5, ctx)])
        func makeStep() throws -> TrainStep {
            try TrainStep(network: net, loss: SoftmaxCrossEntropyLoss(), optimizer: SGD(net.parameters, learningRate: 0), mode: .graph,
                          device: Device(spec: .test), store: ctx.store, determinism: .on,
                          inputType: TensorType(.float32, [8, 16]), labelType: TensorType(.int32, [8]))
        }
        let (x, y) = batch(0, [8, 16], classes: 10)
        let first = try makeStep(), second = try makeStep()
        let a1 = try first(x, y).toArray(of: Float.self), a2 = try first(x, y).toArray(of: Float.self)
        let b1 = try second(x, y).toArray(of: Float.self)
        #expect(a1 == b1)   // a fresh generator: the same first mask
        #expect(a1 != a2)   // the stream carries on within one step (lr 0: only the mask changes)
    }
}
