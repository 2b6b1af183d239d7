import Testing
import NPUSim  // deliberately not @testable: only the public API

/// A layer written outside the package: a learned per-feature scale, y = x · gamma.
final class FeatureScale: Layer {
    let gamma: Parameter
    init(_ features: Int, name: String, _ ctx: LayerContext) throws {
        gamma = try ctx.parameter("\(name).gamma", [features], .one)
    }
    var parameters: [Parameter] { [gamma] }
    func callAsFunction<B: ModelBuilder>(_ b: inout B, _ x: B.Value) throws -> B.Value {
        try b.scoped("scale") { b in try b.op(Mul(), [x, try b.read(gamma)]) }
    }
}

@Suite struct OutsideLayerTests {
    func train(_ mode: ExecutionMode, steps: Int) throws -> (losses: [Float], gamma: [UInt32]) {
        let seeds = SeedState()
        try seeds.setSeed(1)
        let ctx = LayerContext(store: ParameterStore(), seeds: seeds)
        let net = SequentialCell([try Dense(16, 10, name: "fc", ctx), try FeatureScale(10, name: "scale", ctx)])
        let step = try TrainStep(network: net, loss: SoftmaxCrossEntropyLoss(),
                                 optimizer: try Momentum(net.parameters, learningRate: 0.1, momentum: 0.9, ctx), mode: mode,
                                 device: Device(spec: .test), store: ctx.store, determinism: .on,
                                 inputType: TensorType(.float32, [8, 16]), labelType: TensorType(.int32, [8]))
        let x = sampleTensor([8, 16], seed: 3)
        let y = try Tensor(shape: [8], values: (0..<8).map { Int32($0 % 10) })
        var losses: [Float] = []
        for _ in 0..<steps { losses.append(try step(x, y).toArray(of: Float.self)[0]) }
        return (losses, try ctx.store["scale.gamma"]!.toArray(of: Float.self).map(\.bitPattern))
    }

    @Test func aLayerDefinedOutsideThePackageTrainsInBothModes() throws {
        let graph = try train(.graph, steps: 20)
        let pynative = try train(.pynative, steps: 20)
        #expect(graph.losses.map(\.bitPattern) == pynative.losses.map(\.bitPattern))
        #expect(graph.gamma == pynative.gamma)
        #expect(graph.gamma != [UInt32](repeating: Float(1).bitPattern, count: 10))  // gamma is trained
        #expect(graph.losses.last! < graph.losses.first! / 2)
    }
}
