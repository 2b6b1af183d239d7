import Foundation
import Testing
import NPUDevice
import NPUGraph
import NPUOps
import NPUTensor
@testable import NPUTrain

func trainMLP(_ mode: ExecutionMode, amp: AmpLevel, lossScale: Float?, steps: Int = 2) throws -> ([UInt32], [String: [UInt32]]) {
    let ctx = try context()
    let net = try mlp(ctx)
    let step = try TrainStep(network: net, loss: SoftmaxCrossEntropyLoss(), optimizer: try Momentum(net.parameters, learningRate: 0.01, momentum: 0.9, ctx),
                             mode: mode, device: Device(spec: .ascend910), store: ctx.store, determinism: .on, ampLevel: amp, lossScale: lossScale,
                             inputType: TensorType(.float32, [32, 784]), labelType: TensorType(.int32, [32]))
    var losses: [UInt32] = []
    for s in 0..<steps {
        let (x, y) = batch(s, [32, 784], classes: 10)
        losses.append(try step(x, y).toArray(of: Float.self)[0].bitPattern)
    }
    return (losses, bits(ctx.store))
}

@Suite struct MixedPrecisionTests {
    @Test func o2DenseReadsFloat16InputsAndAccumulatesInFloat32() throws {
        let ctx = try context()
        let dense = try Dense(8, 3, hasBias: false, name: "d", ctx)
        let tape = Tape(context: PyNative(device: Device(spec: .test), determinism: .on))
        var b = TapeModel(tape: tape, store: ctx.store, isTraining: false, ampLevel: .O2)
        let x = sampleTensor([2, 8], seed: 9, scale: 3)
        let y = try dense(&b, tape.watch(x)).tensor.toArray(of: Float.self)
        // The same product computed here from float16-rounded operands, in float32 (OpenBLAS order
        // aside, a 3-term check per element suffices: compare against a double reference).
        let xs = try x.toArray(of: Float.self).map { Double(Float(Float16($0))) }
        let ws = try ctx.store["d.weight"]!.toArray(of: Float.self).map { Double(Float(Float16($0))) }
        for i in 0..<2 {
            for j in 0..<3 {
                let exact = (0..<8).reduce(0.0) { $0 + xs[i * 8 + $1] * ws[j * 8 + $1] }
                #expect(abs(Double(y[i * 3 + j]) - exact) <= 1e-6 * max(1, abs(exact)))
            }
        }
        let unrounded = try x.toArray(of: Float.self).map(Double.init)
        let o0 = (0..<8).reduce(0.0) { $0 + unrounded[$1] * Double(try! ctx.store["d.weight"]!.toArray(of: Float.self)[$1]) }
        #expect(abs(Double(y[0]) - o0) > 1e-6)  // rounding to float16 changed the result
    }

    @Test func o2GraphAndPyNativeGiveTheSameBits() throws {
        let graph = try trainMLP(.graph, amp: .O2, lossScale: 1024)
        let pynative = try trainMLP(.pynative, amp: .O2, lossScale: 1024)
        #expect(graph.0 == pynative.0 && graph.1 == pynative.1)
    }

    @Test func lossScaleIsExactInFloat32AndMattersInFloat16() throws {
        // O0: multiplying the backward by 2^10 and dividing the gradients by it is exact.
        #expect(try trainMLP(.graph, amp: .O0, lossScale: 1024) == trainMLP(.graph, amp: .O0, lossScale: 1))
        // O2: gradients pass through float16, where the scale decides what underflows or rounds.
        let unscaled = try trainMLP(.graph, amp: .O2, lossScale: 1), scaled = try trainMLP(.graph, amp: .O2, lossScale: 1024)
        #expect(unscaled.1["fc1.weight"] != scaled.1["fc1.weight"])
        // And O2 differs from O0: the forward reads float16.
        #expect(try trainMLP(.graph, amp: .O0, lossScale: nil).0 != scaled.0)
    }

    /// O3 computes BatchNorm in float16 too, where O2 keeps it in float32, and scales no loss:
    /// BatchNorm's γ gradient is rounded to float16 under O3 only (the first step's forward is
    /// the same: γ = 1 and β = 0 are float16 values, and both round BatchNorm's output).
    @Test func o3RoundsBatchNormWhereO2DoesNot() throws {
        func oneStep(_ amp: AmpLevel) throws -> ([Float], LossScaling) {
            let ctx = try context()
            let net = try cnn(ctx)
            var c = StepConfiguration(determinism: .on, ampLevel: amp)
            c.lossScaling = amp == .O2 ? .fixed(1, dropOverflowUpdate: true) : nil
            let step = try TrainStep(model: NetworkWithLoss(network: net, loss: SoftmaxCrossEntropyLoss()),
                                     inputs: ["data": TensorType(.float32, [8, 1, 14, 14]), "label": TensorType(.int32, [8])],
                                     optimizer: SGD(net.parameters, learningRate: 0.5), mode: .graph, device: Device(spec: .test), store: ctx.store, configuration: c)
            let (x, y) = batch(0, [8, 1, 14, 14], classes: 10)
            _ = try step(x, y)
            return (try ctx.store["bn1.gamma"]!.toArray(of: Float.self), step.lossScaling)
        }
        let o2 = try oneStep(.O2), o3 = try oneStep(.O3)
        #expect(o3.1 == LossScaling.none)
        // γ − 0.5·g: under O3 g is a float16 value, so 1 − γ is 0.5 times one.
        #expect(o3.0.allSatisfy { Float(Float16((1 - $0) * 2)) == (1 - $0) * 2 }, "\(o3.0)")
        #expect(o2.0 != o3.0 && !o2.0.allSatisfy { Float(Float16((1 - $0) * 2)) == (1 - $0) * 2 }, "\(o2.0)")
    }

    /// MindSpore's O2 default (`amp.py`, `_config_level["O2"]`): a `DynamicLossScaleManager()`.
    @Test func o2DefaultsToMindSporesDynamicLossScale() throws {
        let ctx = try context()
        let net = try mlp(ctx)
        let step = try TrainStep(network: net, loss: SoftmaxCrossEntropyLoss(), optimizer: SGD(net.parameters), mode: .graph, device: Device(spec: .test),
                                 store: ctx.store, ampLevel: .O2, inputType: TensorType(.float32, [32, 784]), labelType: TensorType(.int32, [32]))
        #expect(step.lossScale == 16_777_216 && step.lossScaling == .dynamic(DynamicLossScaleManager(initLossScale: 16_777_216, scaleFactor: 2, scaleWindow: 2000)))
        #expect(throws: TrainError("loss scale must be positive, got -1.0")) {
            _ = try TrainStep(network: net, loss: SoftmaxCrossEntropyLoss(), optimizer: SGD(net.parameters), mode: .graph, device: Device(spec: .test),
                              store: ctx.store, lossScale: -1, inputType: TensorType(.float32, [32, 784]), labelType: TensorType(.int32, [32]))
        }
    }
}

/// MindSpore's dynamic loss scale: the update cell's arithmetic, bit for bit, and a step that
/// drops its update on an overflow.
@Suite struct DynamicLossScaleTests {
    /// Recorded from MindSpore 2.10 on CPU: `nn.DynamicLossScaleUpdateCell(init, factor, window)`
    /// called with a Parameter scale and this overflow pattern, the scale's float32 bits after each
    /// call (the counters: `current_iterator_step` 2, 3, … and `last_overflow_iterator_step`).
    static let pattern = [true, true, false, false, false, false, true, false, false, false, false, false, false, false, true, true, true, false, false, false]
    static let recorded: [(start: Float, factor: Float, window: Int32, bits: [UInt32], last: [Int32])] = [
        (16_777_216, 2, 3, [1258291200, 1249902592, 1249902592, 1249902592, 1258291200, 1258291200, 1249902592, 1249902592, 1249902592, 1258291200,
                            1258291200, 1258291200, 1266679808, 1266679808, 1258291200, 1249902592, 1241513984, 1241513984, 1241513984, 1249902592],
         [1, 2, 2, 2, 5, 5, 7, 7, 7, 10, 10, 10, 13, 13, 15, 16, 17, 17, 17, 20]),
        (1000, 3, 3, [1134996139, 1121859812, 1121859812, 1121859812, 1134996139, 1134996139, 1121859812, 1121859812, 1121859812, 1134996139,
                      1134996139, 1134996139, 1148846080, 1148846080, 1134996139, 1121859812, 1108616686, 1108616686, 1108616686, 1121859813],
         [1, 2, 2, 2, 5, 5, 7, 7, 7, 10, 10, 10, 13, 13, 15, 16, 17, 17, 17, 20]),
        (4, 2, 2, [1073741824, 1065353216, 1065353216, 1073741824, 1073741824, 1082130432, 1073741824, 1073741824, 1082130432, 1082130432,
                   1090519040, 1090519040, 1098907648, 1098907648, 1090519040, 1082130432, 1073741824, 1073741824, 1082130432, 1082130432],
         [1, 2, 2, 4, 4, 6, 7, 7, 9, 9, 11, 11, 13, 13, 15, 16, 17, 17, 19, 19]),
    ]

    @Test(arguments: 0..<3)
    func theUpdateIsMindSporesBitForBit(k: Int) throws {
        let r = Self.recorded[k]
        let op = DynamicLossScaleUpdate(factor: r.factor, window: r.window)
        let ctx = KernelContext(planner: ReductionPlanner(spec: .test, policy: .on, source: .replay(0), card: 0))
        var state = [Tensor(scalar: r.start), Tensor(scalar: Int32(1)), Tensor(scalar: Int32(0))]
        for (i, overflow) in Self.pattern.enumerated() {
            state = try op.forward(state + [Tensor(scalar: !overflow)], ctx)
            #expect(try state[0].toArray(of: Float.self)[0].bitPattern == r.bits[i], "call \(i + 1)")
            #expect(try state[1].toArray(of: Int32.self)[0] == Int32(i + 2) && state[2].toArray(of: Int32.self)[0] == r.last[i], "call \(i + 1)")
        }
    }

    /// An MLP under O2 from MindSpore's default scale of 2^24: the float16 gradient operands
    /// overflow, so the first steps change no parameter and halve the scale, until it is small
    /// enough; from then on the step trains. Graph mode, PyNative and a sink agree bit for bit.
    @Test func overflowingStepsUpdateNothingAndHalveTheScale() throws {
        func run(_ mode: ExecutionMode, sink: Bool = false) throws -> (initial: [String: [UInt32]], scales: [Float], params: [[String: [UInt32]]]) {
            let ctx = try context()
            let net = try mlp(ctx)
            let step = try TrainStep(network: net, loss: SoftmaxCrossEntropyLoss(), optimizer: try Momentum(net.parameters, learningRate: 0.01, momentum: 0.9, ctx),
                                     mode: mode, device: Device(spec: .ascend910), store: ctx.store, determinism: .on, ampLevel: .O2,
                                     inputType: TensorType(.float32, [32, 784]), labelType: TensorType(.int32, [32]))
            let initial = bits(ctx.store)
            var scales: [Float] = [], params: [[String: [UInt32]]] = []
            let batches = (0..<14).map { batch($0, [32, 784], classes: 10) }
            if sink {
                _ = try step.sink(batches.map { ["data": $0.0, "label": $0.1] })
                return (initial, [try ctx.store["scale_sense"]!.toArray(of: Float.self)[0]], [bits(ctx.store)])
            }
            for (x, y) in batches {
                _ = try step(x, y)
                scales.append(try ctx.store["scale_sense"]!.toArray(of: Float.self)[0])
                params.append(bits(ctx.store))
            }
            return (initial, scales, params)
        }
        let graph = try run(.graph)
        // 2^24 halves on every overflow; the first finite step keeps its scale.
        let overflows = graph.scales.indices.first { i in graph.scales[i] == (i == 0 ? 16_777_216 : graph.scales[i - 1]) } ?? graph.scales.count
        #expect(overflows >= 1 && overflows < graph.scales.count, "\(graph.scales)")
        for i in 0..<overflows { #expect(graph.scales[i] == 16_777_216 / Float(1 << (i + 1))) }
        let weights = { (p: [String: [UInt32]]) in p.filter { !["scale_sense", "current_iterator_step", "last_overflow_iterator_step"].contains($0.key) } }
        #expect(weights(graph.params[overflows - 1]) == weights(graph.initial))
        #expect(weights(graph.params[overflows]) != weights(graph.initial))
        // The counter holds the last step that overflowed (a scale lower than the step before's).
        let lastOverflow = graph.scales.indices.last { $0 > 0 ? graph.scales[$0] < graph.scales[$0 - 1] : graph.scales[0] < 16_777_216 }!
        #expect(graph.params.last!["last_overflow_iterator_step"] == [Float(lastOverflow + 1).bitPattern])
        let pynative = try run(.pynative)
        #expect(pynative.scales == graph.scales && pynative.params == graph.params)
        let sunk = try run(.graph, sink: true)
        #expect(sunk.scales == [graph.scales.last!] && sunk.params[0] == graph.params.last!)
    }

    /// A FixedLossScaleManager drops an overflowing update by default and keeps its scale.
    @Test func aFixedScaleDropsAnOverflowingUpdate() throws {
        func run(_ scaling: LossScaling) throws -> [String: [UInt32]] {
            let ctx = try context()
            let net = try mlp(ctx)
            var c = StepConfiguration(determinism: .on, ampLevel: .O2)
            c.lossScaling = scaling
            let step = try TrainStep(model: NetworkWithLoss(network: net, loss: SoftmaxCrossEntropyLoss()),
                                     inputs: ["data": TensorType(.float32, [32, 784]), "label": TensorType(.int32, [32])],
                                     optimizer: SGD(net.parameters), mode: .graph, device: Device(spec: .test), store: ctx.store, configuration: c)
            let before = bits(ctx.store)
            let (x, y) = batch(0, [32, 784], classes: 10)
            _ = try step(x, y)
            #expect(ctx.store["scale_sense"] == nil)
            return bits(ctx.store).filter { before[$0.key] != $0.value }
        }
        #expect(try run(.fixed(1e30, dropOverflowUpdate: true)).isEmpty)  // 1e30 overflows float16
        #expect(try !run(.fixed(1e30, dropOverflowUpdate: false)).isEmpty)  // the update happens, with infinities
        #expect(try !run(.fixed(1024, dropOverflowUpdate: true)).isEmpty)
    }
}

/// A dynamic loss scale's state is saved with the parameters and restored; a checkpoint without
/// it (saved by an O0 run, or before O2 had a dynamic scale) still loads, the scale starting afresh.
@Suite struct LossScaleCheckpointTests {
    @Test(arguments: ["ckpt", "safetensors"])
    func theScaleStateRoundTripsAndMayBeAbsent(ext: String) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("npusim-lossscale-\(getpid())-\(ext)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = ParameterStore()
        store["w"] = Tensor(scalar: Float(2))
        DynamicLossScaleManager(initLossScale: 1024).prepare(store)
        store["scale_sense"] = Tensor(scalar: Float(512))
        store["current_iterator_step"] = Tensor(scalar: Int32(7))
        let path = dir.appendingPathComponent("a.\(ext)").path
        try Checkpoint.save(store, to: path, step: 6, epoch: 1)
        let back = ParameterStore()
        back["w"] = Tensor(scalar: Float(0))
        DynamicLossScaleManager(initLossScale: 1024).prepare(back)
        _ = try Checkpoint.load(path, into: back, network: ["w"])
        #expect(back["scale_sense"]?.doubles() == [512] && back["current_iterator_step"]?.doubles() == [7] && back["w"]?.doubles() == [2])
        // Without the state in the file: the parameters load, the scale stays as prepared.
        let plain = ParameterStore()
        plain["w"] = Tensor(scalar: Float(3))
        let old = dir.appendingPathComponent("b.\(ext)").path
        try Checkpoint.save(plain, to: old, step: 6, epoch: 1)
        _ = try Checkpoint.load(old, into: back, network: ["w"])
        #expect(back["w"]?.doubles() == [3] && back["scale_sense"]?.doubles() == [512])
    }
}
