import Foundation
import NPUSim

/// Resident set size of this process in MiB (/proc/self/statm; nil where there is none).
func residentMiB() -> Double? {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
    let fields = text.split(separator: " ")
    guard fields.count > 1, let pages = Double(fields[1]) else { return nil }
    return pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
}

/// 100,000 steps of the reference MLP in graph mode, one TrainStep, with the device's default
/// recorder: host memory (RSS) after 1k, 10k and 100k steps. Flat after warm-up means nothing
/// grows per step (tasks, buffers, streams, events).
let soakBenchmark = Benchmark(name: "soak", summary: "100,000 MLP training steps, host RSS in MiB at steps 1k, 10k, 100k") {
    let seeds = SeedState()
    try seeds.setSeed(1)
    let ctx = LayerContext(store: ParameterStore(), seeds: seeds)
    let net = SequentialCell([try Dense(784, 128, name: "fc1", ctx), OpLayer.relu(), try Dense(128, 10, name: "fc2", ctx)])
    let opt = try Momentum(net.parameters, learningRate: 0.01, momentum: 0.9, ctx)
    let step = try TrainStep(network: net, loss: SoftmaxCrossEntropyLoss(), optimizer: opt, mode: .graph, device: Device(spec: .ascend910),
                             store: ctx.store, determinism: .off, inputType: TensorType(.float32, [32, 784]),
                             labelType: TensorType(.int32, [32]))
    let x = sampleTensor([32, 784]), y = try Tensor(shape: [32], values: (0..<32).map { Int32($0 % 10) })
    guard residentMiB() != nil else {
        FileHandle.standardError.write(Data("npusim bench soak: no /proc/self/statm on this system; skipped\n".utf8))
        return []
    }
    var figures: [BenchFigure] = []
    var done = 0
    for mark in [1_000, 10_000, 100_000] {
        while done < mark {
            _ = try step(x, y)
            done += 1
        }
        figures.append(BenchFigure(bench: "soak", caseName: "rss-at-\(mark / 1000)k-steps", unit: "MiB", values: [residentMiB()!]))
    }
    return figures
}
