import Testing
import NPUDevice
import NPUGraph
import NPUOps
import NPURandom
import NPUTensor
@testable import NPUTrain

/// The step executor: resumable steps, the device data queue and sink mode, the host-time model
/// and what a recorded launch carries.
@Suite struct ExecutorTests {
    /// A fresh MLP step on `spec` (same seed every time, so two are bit-for-bit comparable).
    func mlpStep(_ configuration: StepConfiguration, mode: ExecutionMode = .graph, spec: DeviceSpec = .ascend910) throws -> (TrainStep, ParameterStore) {
        let ctx = try context()
        let net = try mlp(ctx)
        let step = try TrainStep(model: NetworkWithLoss(network: net, loss: SoftmaxCrossEntropyLoss()),
                                 inputs: ["data": TensorType(.float32, [32, 784]), "label": TensorType(.int32, [32])],
                                 optimizer: try Momentum(net.parameters, learningRate: 0.01, momentum: 0.9, ctx), mode: mode,
                                 device: Device(spec: spec), store: ctx.store, configuration: configuration)
        return (step, ctx.store)
    }

    func feeds(_ s: Int) -> [String: Tensor] {
        let (x, y) = batch(s, [32, 784], classes: 10)
        return ["data": x, "label": y]
    }

    @Test func aStepResumedNodeByNodeGivesTheBitsOfOneRunAtOnce() throws {
        let config = StepConfiguration(determinism: .off, orderSource: .replay(3))
        let (whole, wholeStore) = try mlpStep(config)
        let (pieces, piecesStore) = try mlpStep(config)
        for s in 0..<3 {
            let a = try whole(feeds(s))
            let run = try pieces.compiled!.begin(.host(feeds(s)))
            var nodes = 0
            while try run.runNext() { nodes += 1 }
            #expect(run.isComplete && nodes == pieces.compiled!.schedule.count)
            let b = try run.finish()
            #expect(try a.toArray(of: Float.self).map(\.bitPattern) == b[0].toArray(of: Float.self).map(\.bitPattern))
        }
        #expect(bits(wholeStore) == bits(piecesStore))
    }

    @Test func aSinkOfFiveStepsGivesTheLossesOfFiveHostFedStepsWithOneRoundTrip() throws {
        let config = StepConfiguration(determinism: .on)
        let (host, hostStore) = try mlpStep(config)
        let (sunk, sunkStore) = try mlpStep(config)
        let losses = try (0..<5).map { try host(feeds($0)).toArray(of: Float.self)[0].bitPattern }
        let result = try sunk.sink((0..<5).map(feeds), keepHidden: true)
        #expect(result.perStep.map { try! $0.toArray(of: Float.self)[0].bitPattern } == losses)
        #expect(try result.loss.toArray(of: Float.self)[0].bitPattern == losses[4])
        #expect(bits(hostStore) == bits(sunkStore))
        #expect(sunk.steps == 5 && sunk.sinks == 1)
        // What the host did: five launches and five round trips, or one sink launch and one.
        func count(_ d: Device, _ type: String) -> Int { d.hostEvents.filter { $0.type == type }.count }
        #expect(count(host.device, "GraphLaunch") == 5 && count(host.device, "Synchronize") == 5)
        #expect(count(sunk.device, "SinkLaunch") == 1 && count(sunk.device, "Synchronize") == 1 && count(sunk.device, "GraphLaunch") == 0)
        // Only the last step's loss is copied back; every batch came through the data stream.
        let d2h = sunk.device.timeline.filter { $0.type == "MemcpyD2H" }, data = sunk.device.timeline.filter { $0.streamName == "data" && $0.type == "MemcpyH2D" }
        #expect(d2h.count == 1 && data.count == 10)
    }

    /// Host time per step, by the modelled amounts: graph launch + round trip per host-fed step;
    /// one sink launch + one round trip per sink; PyNative one dispatch per op + a round trip.
    @Test func hostTimePerStepFollowsTheModel() throws {
        var spec = DeviceSpec.test
        spec.host = HostCosts(dispatch: .microseconds(10), graphLaunch: .microseconds(50), sinkLaunch: .microseconds(70),
                              syncRoundTrip: .microseconds(20), callback: .microseconds(3))
        func hostSpent(_ d: Device) -> SimTime { d.hostEvents.reduce(SimTime.zero) { $0 + $1.duration } }
        let config = StepConfiguration(determinism: .on)
        let (graph, _) = try mlpStep(config, mode: .graph, spec: spec)
        for s in 0..<5 { _ = try graph(feeds(s)) }
        let (sink, _) = try mlpStep(config, mode: .graph, spec: spec)
        _ = try sink.sink((0..<5).map(feeds))
        let (pynative, _) = try mlpStep(config, mode: .pynative, spec: spec)
        for s in 0..<5 { _ = try pynative(feeds(s)) }
        #expect(hostSpent(graph.device) == .microseconds(5 * (50 + 20)))
        #expect(hostSpent(sink.device) == .microseconds(70 + 20))
        let ops = pynative.device.hostEvents.filter { $0.type == "Dispatch" }.count
        #expect(ops > 5 * 10 && ops % 5 == 0)
        #expect(hostSpent(pynative.device) == .microseconds(Double(ops) * 10 + 5 * 20))
        #expect(hostSpent(sink.device) < hostSpent(graph.device) && hostSpent(graph.device) < hostSpent(pynative.device))
        // Tasks carry the host time they were submitted at: a step's kernels after its launch.
        let firstKernel = try #require(graph.device.timeline.first { if case .kernel = $0.kind { true } else { false } })
        #expect(firstKernel.submitted == .microseconds(50))
        pynative.device.hostCallback("loss line")
        #expect(pynative.device.hostEvents.last?.type == "Callback" && pynative.device.hostEvents.last?.duration == .microseconds(3))
    }

    /// The data stream copies the next batches while the compute stream runs the current step;
    /// each step's compute waits only for its own batch (hand-computed on the test profile).
    @Test func queuedBatchesAreCopiedWhileEarlierStepsCompute() throws {
        var g = Graph()
        let x = g.input("x", TensorType(.float32, [1000]))
        let y = try g.apply(Exp(), [x])[0]
        let device = Device(spec: .test)
        let compiled = try CompiledGraph(g, fetches: [y], device: device, store: ParameterStore(), planner: ReductionPlanner(spec: .test, policy: .on))
        let queue = DeviceQueue(device: device, capacity: 4)
        for k in 0..<3 { try queue.push(["x": sampleTensor([1000], seed: UInt64(k))]) }
        _ = try compiled.run(steps: 3, from: queue)
        device.synchronize()
        // 4000 bytes H2D: 10 µs latency + 0.4 µs; Exp on 1000 floats: 1 µs launch + 8000 B / 100 GB/s = 0.08 µs.
        let copies = device.timeline.filter { $0.streamName == "data" && $0.type == "MemcpyH2D" }
        let exps = device.timeline.filter { $0.type == "Exp" }
        #expect(copies.map(\.start) == [.zero, SimTime(nanoseconds: 10_400), SimTime(nanoseconds: 20_800)])
        #expect(exps.map(\.start) == [SimTime(nanoseconds: 10_400), SimTime(nanoseconds: 20_800), SimTime(nanoseconds: 31_200)])
        #expect(exps.map(\.duration) == Array(repeating: SimTime(nanoseconds: 1_080), count: 3))
        #expect(throws: GraphError("the device queue holds 0 batches; a sink of 1 steps needs 1")) { try compiled.run(steps: 1, from: queue) }
    }

    @Test func recordedLaunchesCarryStepSinkHostTimeAndPlans() throws {
        let (step, _) = try mlpStep(StepConfiguration(determinism: .off, orderSource: .replay(1), recording: true))
        _ = try step(feeds(0))
        _ = try step.sink([feeds(1), feeds(2)])
        let kernels = step.device.timeline.filter { if case .kernel = $0.kind { true } else { false } }
        #expect(kernels.allSatisfy { $0.info != nil && $0.card == 0 })
        #expect(Set(kernels.compactMap { $0.info?.step }) == [0, 1, 2])
        #expect(kernels.filter { $0.info?.step == 0 }.allSatisfy { $0.info?.sink == nil })
        #expect(kernels.filter { $0.info?.step == 2 }.allSatisfy { $0.info?.sink == 0 })
        let dW = try #require(kernels.first { $0.name == "Gradients/fc1/MatMul/MatMul-1" && $0.info?.step == 1 })
        let plan = try #require(dW.info?.plans.first)
        #expect(plan.site == "splitK" && plan.policy == "off" && plan.blockSizes == [8, 8, 8, 8] && plan.tileSize == 256)
        #expect(plan.order.count == 4 * ((128 * 784 + 255) / 256))
        #expect(kernels.allSatisfy { ($0.info?.hostSeconds ?? -1) >= 0 })
        let (quiet, _) = try mlpStep(StepConfiguration(determinism: .off))
        _ = try quiet(feeds(0))
        #expect(quiet.device.timeline.allSatisfy { $0.info == nil })
    }
}

/// Timing-only simulation: the same tasks, events and simulated times as a numeric run, with
/// parameters declared by shape only.
@Suite struct TimingOnlyTests {
    func step(shapeOnly: Bool) throws -> TrainStep {
        let seeds = SeedState()
        try seeds.setSeed(1)
        let ctx = LayerContext(store: ParameterStore(shapeOnly: shapeOnly), seeds: seeds)
        let net = SequentialCell([try Conv2d(1, 4, kernel: 3, name: "conv1", ctx), try BatchNorm2d(4, name: "bn1", ctx), OpLayer.relu(),
                                  OpLayer.maxPool2d(kernel: 2, stride: 2), Flatten(), try Dense(4 * 7 * 7, 10, name: "fc", ctx)])
        return try TrainStep(model: NetworkWithLoss(network: net, loss: SoftmaxCrossEntropyLoss()),
                             inputs: ["data": TensorType(.float32, [8, 1, 14, 14]), "label": TensorType(.int32, [8])],
                             optimizer: try Momentum(net.parameters, learningRate: 0.01, momentum: 0.9, ctx), mode: .graph,
                             device: Device(spec: .ascend910), store: ctx.store, configuration: StepConfiguration(determinism: .on, timingOnly: shapeOnly))
    }

    @Test func timingOnlyAndNumericRunsGiveTheSameSimulatedTimes() throws {
        let numeric = try step(shapeOnly: false), timing = try step(shapeOnly: true)
        #expect(timing.store.values.isEmpty && timing.store.names == numeric.store.names)
        for s in 0..<2 {
            let (x, y) = batch(s, [8, 1, 14, 14], classes: 10)
            _ = try numeric(["data": x, "label": y])
        }
        let end = try timing.simulate(steps: 2)
        #expect(end == numeric.device.hostTime)
        func lanes(_ d: Device) -> [String] { d.timeline.map { "\($0.streamName) \($0.name) \($0.type) \($0.start) \($0.end)" } }
        #expect(lanes(timing.device) == lanes(numeric.device))
        #expect(timing.device.hostEvents == numeric.device.hostEvents)
        #expect(throws: TrainError("a timing-only step computes no loss; run it with simulate(steps:)")) {
            _ = try timing(["data": Tensor(zeros: [8, 1, 14, 14])])
        }
    }
}
