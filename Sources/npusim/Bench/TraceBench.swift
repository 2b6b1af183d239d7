import Foundation
import NPUSim

/// `trace-write`: seconds to encode and write a trace of 1,000,000 events (the tasks, counters
/// and marks of timing-only ResNet-50 steps, recorded), through a temporary file.
let traceWriteBenchmark = Benchmark(name: "trace-write", summary: "writing a 1,000,000-event trace_view.json, s") {
    let seeds = SeedState()
    try seeds.setSeed(1)
    let ctx = LayerContext(store: ParameterStore(shapeOnly: true), seeds: seeds)
    let net = try resnet50(ctx)
    let device = Device(spec: .ascend910)
    device.timelineMode = .all
    let step = try TrainStep(model: NetworkWithLoss(network: net, loss: SoftmaxCrossEntropyLoss()),
                             inputs: ["data": TensorType(.float32, [32, 3, 224, 224]), "label": TensorType(.int32, [32])],
                             optimizer: try Momentum(net.parameters, learningRate: 0.1, momentum: 0.9, ctx), mode: .graph,
                             device: device, store: ctx.store, configuration: StepConfiguration(recording: true, timingOnly: true))
    // Steps until the trace holds a million events (counted from a first encoding).
    func events() -> Int { ChromeTrace.encode([device]).reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) } - 2 }
    try step.simulate(steps: 10)
    let perStep = max(1, events() / 10)
    try step.simulate(steps: (1_000_000 + perStep - 1) / perStep - 10)
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("npusim-trace-bench-\(getpid()).json").path
    defer { try? FileManager.default.removeItem(atPath: path) }
    var seconds: [Double] = [], encode: [Double] = [], size = 0
    for _ in 0..<3 {
        // What `npusim profile` does: encode and write at once (the writer thread takes each
        // piece as it fills), durably; and the encoding alone, for reference.
        seconds.append(try wallSecondsThrowing { try ChromeTrace.write([device], to: path) })
        var bytes: [UInt8] = []
        encode.append(wallSeconds { bytes = ChromeTrace.encode([device]) })
        size = bytes.count
    }
    return [BenchFigure(bench: "trace-write", caseName: "1M-events", unit: "s", values: seconds),
            BenchFigure(bench: "trace-write", caseName: "1M-events-encode", unit: "s", values: encode),
            BenchFigure(bench: "trace-write", caseName: "1M-events-MB", unit: "MB", values: [Double(size) / 1e6])]
}
