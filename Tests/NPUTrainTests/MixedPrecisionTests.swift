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

    @Test func o2DefaultsToALossScaleOf1024() throws {
        let ctx = try context()
        let net = try mlp(ctx)
        let step = try TrainStep(network: net, loss: SoftmaxCrossEntropyLoss(), optimizer: SGD(net.parameters), mode: .graph, device: Device(spec: .test),
                                 store: ctx.store, ampLevel: .O2, inputType: TensorType(.float32, [32, 784]), labelType: TensorType(.int32, [32]))
        #expect(step.lossScale == 1024)
        #expect(throws: TrainError("loss scale must be positive, got -1.0")) {
            _ = try TrainStep(network: net, loss: SoftmaxCrossEntropyLoss(), optimizer: SGD(net.parameters), mode: .graph, device: Device(spec: .test),
                              store: ctx.store, lossScale: -1, inputType: TensorType(.float32, [32, 784]), labelType: TensorType(.int32, [32]))
        }
    }
}
