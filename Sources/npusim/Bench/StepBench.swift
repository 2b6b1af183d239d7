import Foundation
import NPUSim

/// The reference MLP of the graph-mode issue: Dense 784→128, ReLU, Dense 128→10, sparse softmax
/// cross-entropy (mean), Momentum lr 0.01 / 0.9, batch 32, float32. Host time per training step.
let mlpStepBenchmark = Benchmark(name: "mlp-step", summary: "reference MLP training step, host ms/step") {
    var figures: [BenchFigure] = []
    for mode in ExecutionMode.allCases {
        let seeds = SeedState()
        try seeds.setSeed(1)
        let ctx = LayerContext(store: ParameterStore(), seeds: seeds)
        let net = SequentialCell([try Dense(784, 128, name: "fc1", ctx), OpLayer.relu(), try Dense(128, 10, name: "fc2", ctx)])
        let opt = try Momentum(net.parameters, learningRate: 0.01, momentum: 0.9, ctx)
        let step = try TrainStep(network: net, loss: SoftmaxCrossEntropyLoss(), optimizer: opt, mode: mode, device: Device(spec: .ascend910),
                                 store: ctx.store, determinism: .off, inputType: TensorType(.float32, [32, 784]),
                                 labelType: TensorType(.int32, [32]))
        let x = sampleTensor([32, 784]), y = try Tensor(shape: [32], values: (0..<32).map { Int32($0 % 10) })
        for _ in 0..<20 { _ = try step(x, y) }  // warm-up
        var ms: [Double] = []
        for _ in 0..<9 {
            let n = 50
            let s = wallSeconds { for _ in 0..<n { _ = try! step(x, y) } }
            ms.append(s / Double(n) * 1e3)
        }
        figures.append(BenchFigure(bench: "mlp-step", caseName: mode.rawValue, unit: "ms/step", values: ms))
    }
    return figures
}
