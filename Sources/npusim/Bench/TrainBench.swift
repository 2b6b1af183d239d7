import Foundation
import NPUSim

/// The script of `mlp-step`'s `model-train` cases: the reference MLP on synthetic data.
let mlpScript = """
seed: 1
context: {mode: graph, device: ascend910, determinism: "off"}
dataset:
  source: {synthetic: {count: 3200, shape: [784], classes: 10, seed: 7}}
  batch: {batch_size: 32, drop_remainder: true}
network:
  layers:
    - Dense: {in_channels: 784, out_channels: 128, name: fc1}
    - ReLU: {}
    - Dense: {in_channels: 128, out_channels: 10, name: fc2}
loss: {SoftmaxCrossEntropyWithLogits: {sparse: true, reduction: mean}}
optimizer: {Momentum: {learning_rate: 0.01, momentum: 0.9}}
train: {epochs: 2, callbacks: [LossMonitor: {per_print_times: 100}]}
"""

/// Host ms per step of the MLP script through `npusim run`'s runner (Model.train: the dataset's
/// batches, one step each, loss lines made), without and with dataset sink mode (one sink per
/// epoch). The set-up (building, compiling, making the data) cancels out: the figure is the
/// difference between an 11-epoch and a 1-epoch run, divided by the 1,000 steps between them (a
/// 200-step difference was too noisy to compare the two: 0.18–0.32 ms for the same code).
func modelTrainFigures() throws -> [BenchFigure] {
    let script = try Script.parse(yaml: mlpScript, file: "/tmp/mlp-bench.yaml")
    var figures: [BenchFigure] = []
    for sink in [false, true] {
        func seconds(epochs: Int) throws -> (Double, Int) {
            var options = RunOptions()
            options.sink = sink
            options.epochs = epochs
            var steps = 0
            let s = try wallSecondsThrowing { steps = try ScriptRunner.run(script, options).steps }
            return (s, steps)
        }
        _ = try seconds(epochs: 1)  // warm-up
        var ms: [Double] = []
        for _ in 0..<5 {
            let (short, a) = try seconds(epochs: 1), (long, b) = try seconds(epochs: 11)
            ms.append((long - short) / Double(b - a) * 1e3)
        }
        figures.append(BenchFigure(bench: "mlp-step", caseName: sink ? "model-train-sink" : "model-train", unit: "ms/step", values: ms))
    }
    return figures
}

/// `startup`: seconds from starting `npusim run examples/mlp.yaml` to its first loss line (a new
/// process each time; skipped with a message where examples/mlp.yaml is not in the working folder).
let startupBenchmark = Benchmark(name: "startup", summary: "npusim run examples/mlp.yaml to its first loss line, s") {
    let example = URL(fileURLWithPath: "examples/mlp.yaml").path
    guard FileManager.default.fileExists(atPath: example) else {
        FileHandle.standardError.write(Data("npusim bench startup: run it from the repository (examples/mlp.yaml not found); skipped\n".utf8))
        return []
    }
    let seconds = try secondsToOutput(["run", example, "--steps", "5"], containing: "\n")
    return [BenchFigure(bench: "startup", caseName: "run-to-first-loss", unit: "s", values: seconds)] + (try pythonStartupFigures())
}

/// Seconds from starting `npusim ARGUMENTS` (this binary, a new process each time) until its
/// output contains `marker`; six runs, the first (warming the caches) left out.
func secondsToOutput(_ arguments: [String], containing marker: String, environment: [String: String] = [:]) throws -> [Double] {
    let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
    var seconds: [Double] = []
    for _ in 0..<6 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        let start = DispatchTime.now().uptimeNanoseconds
        try process.run()
        var buffer = Data()
        while !String(decoding: buffer, as: UTF8.self).contains(marker) {
            let chunk = pipe.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
        }
        seconds.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        process.waitUntilExit()
    }
    return Array(seconds.dropFirst())
}
