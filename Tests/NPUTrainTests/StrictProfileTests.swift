import Testing
import NPUDevice
import NPUGraph
import NPUOps
import NPUTensor
@testable import NPUTrain

/// `strict` is independent of the device profile: the same script gives the same bits on every
/// card, whatever its core count, blocking or tile sizes.
@Suite struct StrictProfileTests {
    static var oneCore: DeviceSpec {
        var s = DeviceSpec.test
        s.name = "one-core"
        s.aiCores = 1
        return s
    }

    func train(_ spec: DeviceSpec, _ network: (LayerContext) throws -> SequentialCell, input: Shape, mode: ExecutionMode) throws -> ([UInt32], [String: [UInt32]]) {
        let ctx = try context()
        let net = try network(ctx)
        let step = try TrainStep(network: net, loss: SoftmaxCrossEntropyLoss(), optimizer: try Momentum(net.parameters, learningRate: 0.01, momentum: 0.9, ctx),
                                 mode: mode, device: Device(spec: spec), store: ctx.store, determinism: .strict,
                                 inputType: TensorType(.float32, input), labelType: TensorType(.int32, [input[0]]))
        var losses: [UInt32] = []
        for s in 0..<2 {
            let (x, y) = batch(s, input, classes: 10)
            losses.append(try step(x, y).toArray(of: Float.self)[0].bitPattern)
        }
        return (losses, bits(ctx.store))
    }

    @Test func strictGivesTheSameBitsOnEveryProfile() throws {
        let profiles = [DeviceSpec.ascend910, .ascend910b, .test, Self.oneCore]
        let nets: [(String, (LayerContext) throws -> SequentialCell, Shape)] = [("mlp", mlp, [32, 784]), ("cnn+bn", cnn, [8, 1, 14, 14]),
                                                                               ("transformer", transformer, [4, 8, 16])]
        for (name, net, input) in nets {
            let reference = try train(profiles[0], net, input: input, mode: .graph)
            for spec in profiles.dropFirst() {
                let other = try train(spec, net, input: input, mode: .graph)
                #expect(other.0 == reference.0, "\(name) on \(spec.name): losses differ from ascend910")
                let differing = reference.1.keys.filter { other.1[$0] != reference.1[$0] }.sorted()
                #expect(differing.isEmpty, "\(name) on \(spec.name): \(differing) differ from ascend910")
            }
        }
    }
}
