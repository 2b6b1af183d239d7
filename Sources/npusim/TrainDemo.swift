import Foundation
import NPUSim

/// A synthetic 10-class problem the reference MLP can learn: each class is a Gaussian blob
/// around its own random centre in 784 dimensions (data drawn with NPUSim's MindSpore RNG).
struct SyntheticDigits {
    let batches: [(Tensor, Tensor)]

    init(batches count: Int, batchSize: Int, seed: Int64) throws {
        let state = SeedState()
        try state.setSeed(seed)
        let centres = try RandomOp.normal([10, 784], mean: 0, stddev: 1).run(seed: 1, state: state).tensor.toArray(of: Float.self)
        var made: [(Tensor, Tensor)] = []
        for b in 0..<count {
            let noise = try RandomOp.normal([batchSize, 784], mean: 0, stddev: 6).run(seed: Int64(2 + b), state: state).tensor.toArray(of: Float.self)
            let labels = (0..<batchSize).map { Int32(($0 * 7 + b * 3) % 10) }
            var x = noise
            for r in 0..<batchSize { for k in 0..<784 { x[r * 784 + k] += centres[Int(labels[r]) * 784 + k] } }
            made.append((try Tensor(shape: [batchSize, 784], values: x), try Tensor(shape: [batchSize], values: labels)))
        }
        batches = made
    }
}

/// Trains the reference MLP (set_seed(1), Momentum 0.01/0.9, batch 32) in graph mode; returns
/// the losses and the simulated device time.
func trainReferenceMLP(_ data: SyntheticDigits, spec: DeviceSpec, determinism: Determinism, orderSource: OrderSource, epochs: Int,
                       print printLosses: Bool) throws -> (losses: [Float], device: SimTime, weights: [Float]) {
    let seeds = SeedState()
    try seeds.setSeed(1)
    let ctx = LayerContext(store: ParameterStore(), seeds: seeds)
    let net = SequentialCell([try Dense(784, 128, name: "fc1", ctx), OpLayer.relu(), try Dense(128, 10, name: "fc2", ctx)])
    let device = Device(spec: spec)
    let step = try TrainStep(network: net, loss: SoftmaxCrossEntropyLoss(), optimizer: try Momentum(net.parameters, learningRate: 0.01, momentum: 0.9, ctx),
                             mode: .graph, device: device, store: ctx.store, determinism: determinism, orderSource: orderSource,
                             inputType: TensorType(.float32, [32, 784]), labelType: TensorType(.int32, [32]))
    var losses: [Float] = []
    for epoch in 1...epochs {
        for (i, (x, y)) in data.batches.enumerated() {
            let loss = try step(x, y).toArray(of: Float.self)[0]
            losses.append(loss)
            if printLosses && (i == 0 || (i + 1) % 5 == 0) { emit("epoch: \(epoch) step: \(i + 1), loss is \(loss)") }
        }
    }
    return (losses, device.synchronize(), try ctx.store["fc1.weight"]!.toArray(of: Float.self))
}

/// The training part of `npusim demo`.
func trainingDemo(spec: DeviceSpec) throws {
    let data = try SyntheticDigits(batches: 20, batchSize: 32, seed: 7)
    emit("Training the reference MLP (Dense 784→128, ReLU, Dense 128→10; Momentum 0.01/0.9; batch 32) in graph mode on \(spec.name)")
    emit("on a synthetic 10-class problem; set_seed(1): the initial weights are the ones MindSpore 2.10 creates.\n")
    let start = Date()
    let first = try trainReferenceMLP(data, spec: spec, determinism: .off, orderSource: .entropy, epochs: 2, print: true)
    let host = Date().timeIntervalSince(start)
    emit(String(format: "\n%d steps: host %.1f ms, simulated device %@, %.0f samples/s (simulated)", first.losses.count, host * 1e3,
                first.device.description, Double(first.losses.count * 32) / first.device.seconds))

    emit("\nWhy two runs with the same seed differ: reductions split across AI cores add their partials in")
    emit("the order the cores finish. The same script twice more, after 40 steps:")
    func run(_ d: Determinism, _ s: OrderSource) throws -> (loss: Float, weights: [Float]) {
        let r = try trainReferenceMLP(data, spec: spec, determinism: d, orderSource: s, epochs: 2, print: false)
        return (r.losses.last!, r.weights)
    }
    func compare(_ label: String, _ a: (loss: Float, weights: [Float]), _ b: (loss: Float, weights: [Float])) {
        let differing = zip(a.weights, b.weights).filter { $0.bitPattern != $1.bitPattern }.count
        let maxDiff = zip(a.weights, b.weights).map { abs($0 - $1) }.max() ?? 0
        let verdict = differing == 0 ? "bit-identical" : "\(differing) of \(a.weights.count) fc1 weights differ, by up to \(maxDiff)"
        emit("  \(label.padding(toLength: 34, withPad: " ", startingAt: 0)) loss \(a.loss) vs \(b.loss); \(verdict)")
    }
    compare("--determinism off (like the card):", try run(.off, .entropy), try run(.off, .entropy))
    compare("--determinism on (fixed order):", try run(.on, .entropy), try run(.on, .entropy))
    compare("off, replaying order seed 7 twice:", try run(.off, .replay(7)), try run(.off, .replay(7)))
    emit("\nBits under on and replayed off are reproducible on the same host numerics: \(BLAS.numerics).")
    emit("\nEvery split reduction (weight gradients over the batch, the loss mean, bias gradients) is planned in")
    emit("one place; `npusim ops` lists them and Docs/Determinism.md gives the contract.")
}
