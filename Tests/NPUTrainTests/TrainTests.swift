import Foundation
import Testing
import NPUDevice
import NPUGraph
import NPUOps
import NPURandom
import NPUTensor
@testable import NPUTrain

/// A fresh store and seed state after set_seed(seed): a new process.
func context(seed: Int64 = 1) throws -> LayerContext {
    let seeds = SeedState()
    try seeds.setSeed(seed)
    return LayerContext(store: ParameterStore(), seeds: seeds)
}

func batch(_ step: Int, _ shape: Shape, classes: Int) -> (Tensor, Tensor) {
    let x = sampleTensor(shape, seed: UInt64(100 + step))
    let labels = try! Tensor(shape: [shape[0]], values: (0..<shape[0]).map { Int32(($0 * 7 + step) % classes) })
    return (x, labels)
}

func mlp(_ ctx: LayerContext) throws -> SequentialCell {
    SequentialCell([try Dense(784, 128, name: "fc1", ctx), OpLayer.relu(), try Dense(128, 10, name: "fc2", ctx)])
}

func cnn(_ ctx: LayerContext) throws -> SequentialCell {
    SequentialCell([try Conv2d(1, 4, kernel: 3, name: "conv1", ctx), try BatchNorm2d(4, name: "bn1", ctx), OpLayer.relu(),
                    OpLayer.maxPool2d(kernel: 2, stride: 2), Flatten(), try Dense(4 * 7 * 7, 10, name: "fc", ctx)])
}

func bits(_ store: ParameterStore) -> [String: [UInt32]] {
    // Every float32 and int32 value is a Double exactly, and back (a loss scale's counters are int32).
    Dictionary(uniqueKeysWithValues: store.names.map { ($0, store[$0]!.doubles().map { Float($0).bitPattern }) })
}

/// Trains `steps` steps; returns the loss bits and the final store bits.
func train(_ mode: ExecutionMode, _ policy: Determinism, steps: Int, network: (LayerContext) throws -> SequentialCell,
           input: Shape, optimizer: (SequentialCell, LayerContext) throws -> any Optimizer) throws -> ([UInt32], [String: [UInt32]]) {
    let ctx = try context()
    let net = try network(ctx)
    let opt = try optimizer(net, ctx)
    let step = try TrainStep(network: net, loss: SoftmaxCrossEntropyLoss(), optimizer: opt, mode: mode, device: Device(spec: .ascend910),
                             store: ctx.store, determinism: policy, orderSource: .replay(3), inputType: TensorType(.float32, input),
                             labelType: TensorType(.int32, [input[0]]))
    var losses: [UInt32] = []
    for s in 0..<steps {
        let (x, y) = batch(s, input, classes: 10)
        losses.append(try step(x, y).toArray(of: Float.self)[0].bitPattern)
    }
    return (losses, bits(ctx.store))
}

@Suite struct ModesAgreeTests {
    @Test(arguments: [Determinism.on, .strict])
    func mlpGraphAndPyNativeGiveTheSameBits(policy: Determinism) throws {
        let momentum = { (n: SequentialCell, c: LayerContext) throws -> any Optimizer in try Momentum(n.parameters, learningRate: 0.01, momentum: 0.9, c) }
        let graph = try train(.graph, policy, steps: 3, network: mlp, input: [32, 784], optimizer: momentum)
        let pynative = try train(.pynative, policy, steps: 3, network: mlp, input: [32, 784], optimizer: momentum)
        #expect(graph.0 == pynative.0)
        #expect(graph.1 == pynative.1)
        #expect(Set(graph.0).count == 3)  // the loss moves
    }

    @Test func cnnWithBatchNormGraphAndPyNativeGiveTheSameBits() throws {
        let adam = { (n: SequentialCell, c: LayerContext) throws -> any Optimizer in try Adam(n.parameters, learningRate: 0.01, c) }
        let graph = try train(.graph, .on, steps: 3, network: cnn, input: [8, 1, 14, 14], optimizer: adam)
        let pynative = try train(.pynative, .on, steps: 3, network: cnn, input: [8, 1, 14, 14], optimizer: adam)
        #expect(graph.0 == pynative.0)
        #expect(graph.1 == pynative.1)
        #expect(graph.1["bn1.moving_mean"] != bits(try { let c = try context(); _ = try cnn(c); return c.store }())["bn1.moving_mean"])
    }

    /// The orders show in the weights' low bits first (a loss near 2.3 can round them away for a few
    /// steps): compare every parameter's bits after four steps.
    @Test func offDiffersBetweenRunsButReplaysExactly() throws {
        let sgd = { (n: SequentialCell, c: LayerContext) throws -> any Optimizer in SGD(n.parameters, learningRate: 0.1) }
        func run(_ source: OrderSource) throws -> [String: [UInt32]] {
            let ctx = try context()
            let net = try mlp(ctx)
            let step = try TrainStep(network: net, loss: SoftmaxCrossEntropyLoss(), optimizer: try sgd(net, ctx), mode: .graph,
                                     device: Device(spec: .ascend910), store: ctx.store, determinism: .off, orderSource: source,
                                     inputType: TensorType(.float32, [32, 784]), labelType: TensorType(.int32, [32]))
            for s in 0..<4 { let (x, y) = batch(s, [32, 784], classes: 10); _ = try step(x, y) }
            return bits(ctx.store)
        }
        let first = try run(.replay(11))
        #expect(try run(.replay(11)) == first)
        let other = try run(.replay(12))
        #expect(other != first)
        #expect(other["fc1.weight"] != first["fc1.weight"])
    }
}

@Suite struct OptimizerTests {
    /// Three updates of a parameter [1, −2] with the constant gradient [0.5, −0.25].
    func threeUpdates(_ make: ([Parameter], LayerContext) throws -> any Optimizer) throws -> [[Float]] {
        let ctx = try context()
        let p = try ctx.parameter("w", [2], .one)
        ctx.store["w"] = try Tensor(shape: [2], values: [Float(1), -2])
        let opt = try make([p], ctx)
        let tape = Tape(context: PyNative(device: Device(spec: .test), determinism: .on))
        var out: [[Float]] = []
        for _ in 0..<3 {
            var b = TapeModel(tape: tape, store: ctx.store, isTraining: true)
            let g = tape.watch(try Tensor(shape: [2], values: [Float(0.5), -0.25]))
            try opt.update(&b, gradients: [g])
            for (name, value) in b.writes { ctx.store[name] = value }
            out.append(try ctx.store["w"]!.toArray(of: Float.self))
        }
        return out
    }

    func expectClose(_ got: [[Float]], _ want: [[Double]], tolerance: Double = 1e-6) {
        for (g, w) in zip(got.joined(), want.joined()) { #expect(abs(Double(g) - w) <= tolerance, "got \(g), want \(w)") }
    }

    @Test func sgd() throws {
        expectClose(try threeUpdates { p, _ in SGD(p, learningRate: 0.1) }, [[0.95, -1.975], [0.9, -1.95], [0.85, -1.925]])
    }

    @Test func momentum() throws {
        // accum: 0.5, 0.95, 1.355; w: 1 − 0.05, − 0.095, − 0.1355 (and the negatives halved for −0.25)
        expectClose(try threeUpdates { p, c in try Momentum(p, learningRate: 0.1, momentum: 0.9, c) },
                    [[0.95, -1.975], [0.855, -1.9275], [0.7195, -1.85975]])
    }

    @Test func adam() throws {
        // With a constant gradient Adam's bias-corrected step is lr·g/(|g| + ε/√(1−β2ᵗ)) ≈ lr·sign(g).
        func expected(_ t: Int, _ g: Double) -> Double {
            let b1 = 0.9, b2 = 0.999, lr = 0.1, eps = 1e-8
            let m = g * (1 - pow(b1, Double(t))), v = g * g * (1 - pow(b2, Double(t)))
            return lr * (1 - pow(b2, Double(t))).squareRoot() / (1 - pow(b1, Double(t))) * m / (v.squareRoot() + eps)
        }
        var w = [1.0, -2.0]
        var want: [[Double]] = []
        for t in 1...3 {
            w = [w[0] - expected(t, 0.5), w[1] - expected(t, -0.25)]
            want.append(w)
        }
        expectClose(try threeUpdates { p, c in try Adam(p, learningRate: 0.1, c) }, want, tolerance: 2e-6)
        expectClose([want[2].map(Float.init)], [[0.7, -1.7]], tolerance: 1e-6)
    }

    @Test func adamWeightDecay() throws {
        // MindSpore computes 1 − β in float32 from float32 β (1 − 0.999f = 0.000999987), as we do.
        let b1 = Double(Float(0.9)), b2 = Double(Float(0.999))
        var w = [1.0, -2.0], m = [0.0, 0.0], v = [0.0, 0.0]
        var want: [[Double]] = []
        for _ in 1...3 {
            for k in 0..<2 {
                let g = k == 0 ? 0.5 : -0.25
                m[k] = b1 * m[k] + (1 - b1) * g
                v[k] = b2 * v[k] + (1 - b2) * g * g
                w[k] -= 0.1 * (m[k] / (v[k].squareRoot() + 1e-6) + 0.01 * w[k])
            }
            want.append(w)
        }
        expectClose(try threeUpdates { p, c in try AdamWeightDecay(p, learningRate: 0.1, weightDecay: 0.01, c) }, want, tolerance: 3e-6)
    }
}

@Suite struct SteadyStateTests {
    /// After the first steps, a training step allocates no tensor storage in either mode: every
    /// tensor of step n reuses one that died in step n − 1 (or before) — a compiled step through
    /// its graph's pool, a PyNative step through its own (no fresh pages to fault in every step).
    @Test(arguments: [("mlp", ExecutionMode.graph), ("cnn", .graph), ("mlp", .pynative), ("cnn", .pynative)])
    func steadyStateStepsAllocateNoTensors(network: String, mode: ExecutionMode) throws {
        let ctx = try context()
        let net = network == "mlp" ? try mlp(ctx) : try cnn(ctx)
        let input: Shape = network == "mlp" ? [32, 784] : [8, 1, 14, 14]
        let step = try TrainStep(network: net, loss: SoftmaxCrossEntropyLoss(), optimizer: try Adam(net.parameters, ctx), mode: mode,
                                 device: Device(spec: .ascend910), store: ctx.store, determinism: .off,
                                 inputType: TensorType(.float32, input), labelType: TensorType(.int32, [input[0]]))
        let (x, y) = batch(0, input, classes: 10)
        _ = try step(x, y)
        _ = try step(x, y)
        let pool = try #require(step.storagePool)
        let before = pool.freshAllocations
        #expect(before > 0)
        for _ in 0..<3 { _ = try step(x, y) }
        #expect(pool.freshAllocations == before)
        guard mode == .graph else { return }
        // Sinks too: after a first sink, a sink of the same size allocates no tensor either.
        let batches = Array(repeating: ["data": x, "label": y], count: 3)
        _ = try step.sink(batches)
        let afterSink = pool.freshAllocations
        _ = try step.sink(batches)
        _ = try step.sink(batches)
        #expect(pool.freshAllocations == afterSink)
    }
}

@Suite struct GraphErrorTests {
    /// A 20000×20000 float32 weight (1.6 GB) on the `test` profile's 10⁹ bytes of HBM. The store's
    /// tensor is mapped zero memory that is never touched, so the test costs nothing.
    @Test func aNetworkTooLargeForTheTestProfileFailsAtCompileTime() throws {
        var g = Graph()
        let x = g.input("data", TensorType(.float32, [2, 20000]))
        let w = g.parameter("big.weight", TensorType(.float32, [20000, 20000]))
        let y = try g.apply(MatMul(transposeB: true), [x, w])[0]
        let store = ParameterStore()
        store["big.weight"] = Tensor(zeros: [20000, 20000])
        #expect(throws: GraphError("the graph needs 1.49 GiB (1600320000 bytes) of HBM (1.49 GiB (1600160000 bytes) parameters and inputs, 156.25 KiB (160000 bytes) peak of intermediate values) but test:0 has 953.674 MiB (1000000000 bytes) free; largest buffers: big.weight 1.49 GiB (1600000000 bytes), data 156.25 KiB (160000 bytes), MatMul 156.25 KiB (160000 bytes)")) {
            _ = try CompiledGraph(g, fetches: [y], device: Device(spec: .test), store: store, planner: ReductionPlanner(spec: .test))
        }
    }

    @Test func aNetworkTooLargeForHBMFailsAtCompileTimeNamingTheLargestBuffers() throws {
        var spec = DeviceSpec.test
        spec.hbmBytes = 300_000
        let ctx = try context()
        let net = try mlp(ctx)
        do {
            _ = try TrainStep(network: net, loss: SoftmaxCrossEntropyLoss(), optimizer: SGD(net.parameters), mode: .graph, device: Device(spec: spec),
                              store: ctx.store, inputType: TensorType(.float32, [32, 784]), labelType: TensorType(.int32, [32]))
            Issue.record("compiling should fail")
        } catch let error as GraphError {
            #expect(error.message.hasPrefix("the graph needs "))
            #expect(error.message.contains("but test:0 has 292.969 KiB (300000 bytes) free; largest buffers: fc1.weight 392 KiB (401408 bytes)"))
        }
    }

    @Test func shapeErrorsNameTheNode() throws {
        let ctx = try context()
        let net = try mlp(ctx)
        #expect(throws: OpError("fc1/MatMul", "inner dimensions differ: op(A) is 32×100, op(B) is 784×128 (transpose_a false, transpose_b true) (inputs data float32[32, 100], fc1.weight float32[128, 784])")) {
            _ = try TrainStep(network: net, loss: SoftmaxCrossEntropyLoss(), optimizer: SGD(net.parameters), mode: .graph, device: Device(spec: .test),
                              store: ctx.store, inputType: TensorType(.float32, [32, 100]), labelType: TensorType(.int32, [32]))
        }
    }
}

@Suite struct WholeNetworkGradientTests {
    /// Graph-mode gradients of a small tanh network against central differences of its loss.
    @Test func smallNetworkGradientsMatchFiniteDifferences() throws {
        let ctx = try context()
        let net = SequentialCell([try Dense(6, 5, name: "a", ctx), OpLayer.tanh(), try Dense(5, 3, name: "b", ctx)])
        var b = GraphModel(isTraining: true)
        let x = b.graph.input("data", TensorType(.float32, [4, 6])), y = b.graph.input("label", TensorType(.int32, [4]))
        let loss = try SoftmaxCrossEntropyLoss()(&b, try net(&b, x), y)
        let grads = try b.graph.gradients(of: loss, wrt: net.parameters.map { b.read($0) }).map { $0! }
        let planner = ReductionPlanner(spec: .ascend910, policy: .on)
        let compiled = try CompiledGraph(b.graph, fetches: [loss] + grads, device: Device(spec: .ascend910), store: ctx.store, planner: planner)
        let feeds = ["data": sampleTensor([4, 6], seed: 5, scale: 2), "label": try Tensor(shape: [4], values: [Int32(0), 2, 1, 2])]
        let out = try compiled.step(feeds)
        func lossAt(_ name: String, _ k: Int, _ delta: Float) throws -> Double {
            var values = try ctx.store[name]!.toArray(of: Float.self)
            let saved = values[k]
            values[k] += delta
            ctx.store[name] = try Tensor(shape: ctx.store[name]!.shape, values: values)
            let l = Double(try compiled.step(feeds)[0].toArray(of: Float.self)[0])
            values[k] = saved
            ctx.store[name] = try Tensor(shape: ctx.store[name]!.shape, values: values)
            return l
        }
        for (p, g) in zip(net.parameters, out.dropFirst()) {
            let analytic = try g.toArray(of: Float.self)
            for k in Swift.stride(from: 0, to: analytic.count, by: 3) {
                let h: Float = 1e-2
                let numeric = (try lossAt(p.name, k, h) - lossAt(p.name, k, -h)) / (2 * Double(h))
                #expect(abs(Double(analytic[k]) - numeric) <= 2e-3 + 2e-2 * abs(numeric), "\(p.name)[\(k)]: \(analytic[k]) vs \(numeric)")
            }
        }
    }
}

/// A transformer block with LayerNorm and attention, then a classifier over the flattened sequence.
func transformer(_ ctx: LayerContext) throws -> SequentialCell {
    SequentialCell([try TransformerBlock(embedding: 16, heads: 4, name: "block", ctx), Flatten(), try Dense(8 * 16, 10, name: "head", ctx)])
}

@Suite struct TransformerTests {
    @Test(arguments: [Determinism.on, .strict])
    func transformerBlockGraphAndPyNativeGiveTheSameBits(policy: Determinism) throws {
        let adamw = { (n: SequentialCell, c: LayerContext) throws -> any Optimizer in try AdamWeightDecay(n.parameters, learningRate: 0.01, weightDecay: 0.01, c) }
        let graph = try train(.graph, policy, steps: 3, network: transformer, input: [4, 8, 16], optimizer: adamw)
        let pynative = try train(.pynative, policy, steps: 3, network: transformer, input: [4, 8, 16], optimizer: adamw)
        #expect(graph.0 == pynative.0)
        #expect(graph.1 == pynative.1)
        #expect(Set(graph.0).count == 3)
    }

    @Test func embeddingGradientIsAPlannedScatterAdd() throws {
        let ctx = try context()
        let embed = try Embedding(5, 3, name: "embed", ctx)
        var b = GraphModel(isTraining: true)
        let ids = b.graph.input("ids", TensorType(.int32, [6]))
        let out = try embed(&b, ids)
        let loss = try b.op(ReduceSum(), [out])
        let g = try b.graph.gradients(of: loss, wrt: [b.read(embed.table)])[0]!
        let compiled = try CompiledGraph(b.graph, fetches: [g], device: Device(spec: .test), store: ctx.store,
                                         planner: ReductionPlanner(spec: .test, policy: .on))
        let grad = try compiled.step(["ids": try Tensor(shape: [6], values: [Int32(1), 3, 1, 1, 0, 3])])[0]
        // d(Σ table[ids])/d table = how often each row is used.
        #expect(try grad.toArray(of: Float.self) == [1, 1, 1, 3, 3, 3, 0, 0, 0, 2, 2, 2, 0, 0, 0])
    }
}
