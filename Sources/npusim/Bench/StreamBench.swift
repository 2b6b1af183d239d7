import Foundation
import NPUSim

/// The script of `stream`: a small CNN on synthetic data of ImageNet's shape and size
/// (1,281,167 samples of 3×224×224, 1,000 classes), shuffled, batches of 8.
func streamScript(count: Int) -> String {
    """
    seed: 1
    context: {mode: graph, device: ascend910, determinism: "on"}
    dataset:
      source: {synthetic: {count: \(count), shape: [3, 224, 224], classes: 1000, seed: 7}}
      shuffle: true
      batch: {batch_size: 8, drop_remainder: true}
    network:
      layers:
        - Conv2d: {in_channels: 3, out_channels: 4, kernel_size: 7, stride: 4, pad_mode: valid}
        - ReLU: {}
        - MaxPool2d: {kernel_size: 5, stride: 5}
        - Flatten: {}
        - Dense: {in_channels: 484, out_channels: 1000}
    loss: {SoftmaxCrossEntropyWithLogits: {sparse: true, reduction: mean}}
    optimizer: {Momentum: {learning_rate: 0.01, momentum: 0.9}}
    train: {epochs: 1, callbacks: [LossMonitor: {per_print_times: 1}]}
    """
}

/// `stream`: data that streams. Each figure is a new `npusim run` process: the seconds from its
/// start to its first loss line on the ImageNet-sized dataset, and its peak RSS (the run's
/// `peak_rss_bytes`) after 1,000 steps in sinks of 10 and of 1,000 steps, and on a dataset of 1 %
/// the size. Targets (issue 20): first loss under 2 s; RSS within 10 % whatever the sink size.
let streamBenchmark = Benchmark(
    name: "stream",
    summary: "ImageNet-sized synthetic data: first loss (s) and peak RSS (MiB) by sink size and dataset size"
) {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("npusim-stream-\(getpid())")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let full = folder.appendingPathComponent("imagenet.yaml").path,
        small = folder.appendingPathComponent("imagenet-1pct.yaml").path
    try streamScript(count: 1_281_167).write(toFile: full, atomically: true, encoding: .utf8)
    try streamScript(count: 12_811).write(toFile: small, atomically: true, encoding: .utf8)
    let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path

    /// Runs `npusim run` with `arguments`: seconds to the first line, and the summary's peak RSS.
    func run(_ arguments: [String]) throws -> (first: Double, rssMiB: Double) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["run"] + arguments + ["--json"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        let start = DispatchTime.now().uptimeNanoseconds
        try process.run()
        var buffer = Data(), first = 0.0
        while true {
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            if first == 0 && buffer.contains(UInt8(ascii: "\n")) {
                first = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            }
        }
        process.waitUntilExit()
        let last = String(decoding: buffer, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        guard process.terminationStatus == 0,
            let object = try? JSONSerialization.jsonObject(with: Data(last.utf8)) as? [String: Any],
            let rss = object["peak_rss_bytes"] as? Double
        else {
            throw CLIError(
                message:
                    "npusim bench stream: npusim run \(arguments.joined(separator: " ")) failed (exit \(process.terminationStatus))",
                code: 1)
        }
        return (first, rss / 1_048_576)
    }

    var first: [Double] = []
    for _ in 0..<5 { first.append(try run([full, "--steps", "1"]).first) }
    var sink10: [Double] = [], sink1000: [Double] = [], smaller: [Double] = []
    for _ in 0..<2 {
        sink10.append(try run([full, "--sink", "--sink-size", "10", "--steps", "1000"]).rssMiB)
        sink1000.append(try run([full, "--sink", "--sink-size", "1000", "--steps", "1000"]).rssMiB)
        smaller.append(try run([small, "--sink", "--sink-size", "10", "--steps", "1000"]).rssMiB)
    }
    return [
        BenchFigure(bench: "stream", caseName: "first-loss", unit: "s", values: first),
        BenchFigure(bench: "stream", caseName: "rss-sink-10", unit: "MiB", values: sink10),
        BenchFigure(bench: "stream", caseName: "rss-sink-1000", unit: "MiB", values: sink1000),
        BenchFigure(
            bench: "stream", caseName: "rss-sink-1000-over-10", unit: "x", values: zip(sink1000, sink10).map { $0 / $1 }
        ),
        BenchFigure(bench: "stream", caseName: "rss-1pct-data", unit: "MiB", values: smaller),
        BenchFigure(
            bench: "stream", caseName: "rss-full-over-1pct", unit: "x", values: zip(sink10, smaller).map { $0 / $1 }),
    ]
}
