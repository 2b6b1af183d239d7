import ArgumentParser
import Foundation
import NPUMPI
import NPUSim

/// `npusim run SCRIPT.yaml`: trains a script and prints MindSpore's LossMonitor lines.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Train a script (Docs/ScriptFormat.md), printing MindSpore's LossMonitor lines and a summary."
    )

    @Argument(help: "The training script: YAML (Docs/ScriptFormat.md) or a MindSpore Python script (Docs/Python.md).")
    var script: String

    @Argument(parsing: .postTerminator, help: "After --: the Python script's own arguments (its sys.argv).")
    var scriptArguments: [String] = []

    @OptionGroup var flags: RunFlags

    @Option(name: .long, help: "Write epoch,step,loss for every loss the host saw to this CSV file.")
    var losses: String?

    @Flag(name: .customLong("hidden-steps"), help: "With --losses: also the per-step losses a sink hides (column visible).")
    var hiddenSteps = false

    @Option(name: .long, help: "Write the run's timeline to this JSON file (Chrome trace event format: a process per card, a thread per stream and the host; open it in Perfetto or chrome://tracing). Every task is kept: use it with few steps.")
    var trace: String?

    @Option(name: .customLong("load-checkpoint"), help: "Start from this checkpoint: safetensors, or MindSpore's .ckpt (parameters, optimizer state, the step reached).")
    var loadCheckpoint: String?

    @Option(name: .customLong("save-checkpoint"), help: "Save a checkpoint here when training ends, or of the steps trained when a step fails (written durably): MindSpore's format for a .ckpt name, else safetensors.")
    var saveCheckpoint: String?

    @Flag(name: .long, help: "JSON lines instead of text.")
    var json = false

    @Flag(name: .long, help: "No loss lines, only the summary.")
    var quiet = false

    func validate() throws {
        if hiddenSteps && losses == nil { throw ValidationError("--hidden-steps needs --losses FILE.csv") }
    }

    func run() throws { try naming(script) { try runScript() } }

    func runScript() throws {
        // Every output is checked before the first step: a run never trains to lose its results.
        let inputs = [script] + (loadCheckpoint.map { [$0] } ?? [])
        for (flag, path) in [("--losses", losses), ("--trace", trace), ("--save-checkpoint", saveCheckpoint)] {
            if let path { try checkOutput(path, flag: flag, inputs: flag == "--save-checkpoint" ? [script] : inputs) }
        }
        if script.hasSuffix(".py") {
            if let ranks, ranks.size > 1 { throw CLIError(message: "a Python script runs in one process: run it without mpirun") }
            return try runPython()
        }
        let parsed = try Script.load(path: script)
        var bar = ProgressBar(enabled: !json && isatty(STDERR_FILENO) != 0 && (ranks?.rank ?? 0) == 0)
        var options = try flags.options()
        options.loadCheckpoint = loadCheckpoint
        options.saveCheckpoint = saveCheckpoint
        options.trace = trace
        try spreadOverRanks(&options, parsed)
        let summary = try ScriptRunner.run(parsed, options, keepHidden: hiddenSteps, line: { record in
            guard !quiet else { return }
            let global = record.globalLoss.map { ",\"global_loss\":\(jsonNumber(Double($0)))" } ?? ""
            emit(json ? "{\"epoch\":\(record.epoch),\"step\":\(record.step),\"loss\":\(jsonNumber(Double(record.loss)))\(global)}" : record.lossMonitorLine)
        }, evaluated: { result in
            guard !quiet else { return }
            if json {
                emit("{\"eval_after_epoch\":\(result.epoch)," + result.metrics.map { "\"\($0.name)\":\(jsonNumber($0.value))" }.joined(separator: ",") + "}")
            } else {
                emit(result.line)
            }
        }, message: { text in
            if !quiet && !json { emit(text) }
        }, progress: { done, total in
            bar.update(done, total)
        }, interrupted: { partial in
            // A late failure keeps what was trained: the checkpoint (saved by the runner) and the losses.
            bar.finish()
            if let path = partial.savedTo { FileHandle.standardError.write(Data("note: the \(partial.steps) steps trained are saved in \(path)\n".utf8)) }
            if let path = saveCheckpoint, !partial.finite { FileHandle.standardError.write(Data("note: nothing is saved in \(path): the parameters are NaN or infinite\n".utf8)) }
            if let losses, (ranks?.rank ?? 0) == 0, !partial.losses.isEmpty, (try? writeLosses(partial.losses, to: losses)) != nil {
                FileHandle.standardError.write(Data("note: the losses so far are in \(losses)\n".utf8))
            }
        })
        bar.finish()
        if let losses, options.writesFiles { try writeLosses(summary.losses, to: losses) }
        let simulated = summary.simulatedTime.seconds
        // Under off the order seed the run drew its orders from, and the flag that replays it.
        let seed = ScriptRunner.drawsOrders(parsed, options) ? summary.orderSeed : nil
        if json {
            let seedField = seed.map { ",\"order_seed\":\($0)" } ?? ""
            // The process's peak resident memory so far (what `npusim bench stream` compares).
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            let rssField = ",\"peak_rss_bytes\":\(Int(usage.ru_maxrss) * 1024)"
            emit("{\"steps\":\(summary.steps),\"steps_run\":\(summary.stepsRun),\"samples\":\(summary.samples),\"host_seconds\":\(jsonNumber(summary.hostSeconds)),\"simulated_seconds\":\(jsonNumber(simulated)),\"samples_per_second\":\(jsonNumber(summary.samplesPerSecond))\(seedField)\(rssField),\"numerics\":\"\(BLAS.numerics)\"}")
        } else {
            let resumed = summary.stepsRun == summary.steps ? "" : " (\(summary.stepsRun) run here, from step \(summary.steps - summary.stepsRun))"
            emit("\(summary.steps) steps\(resumed), " + String(format: "%d samples: host %.3f s, simulated %.3f ms on the card (%.0f samples/s simulated)",
                                                                summary.samples, summary.hostSeconds, simulated * 1e3, summary.samplesPerSecond))
            if let seed { emit("order seed \(seed) (replay: --order-seed \(seed))") }
        }
    }
}

extension RunCommand {
    /// `--losses`: every loss the host received (every step without sinking, one per sink with
    /// it; with `--hidden-steps` the hidden ones too), and with several cards a column of the mean
    /// loss over the cards (the lines show card 0's).
    func writeLosses(_ records: [LossRecord], to path: String) throws {
        let cards = records.first?.globalLoss != nil
        var csv = "epoch,step,loss" + (cards ? ",global_loss" : "") + (hiddenSteps ? ",visible\n" : "\n")
        for r in records where r.visible || hiddenSteps {
            csv += "\(r.epoch),\(r.step),\(Double(r.loss))" + (r.globalLoss.map { ",\(Double($0))" } ?? "") + (hiddenSteps ? ",\(r.visible)\n" : "\n")
        }
        do { try writeDurably(Array(csv.utf8), to: path) } catch { throw CLIError(message: "cannot write \(path): \(error.message)", code: 1) }
    }

    /// A MindSpore Python script: `python -m npusim.runner` in the Python environment that has
    /// the npusim package (`NPUSIM_PYTHON`, else the repository's `.venv` made by `make python`),
    /// with the script's arguments after `--`. Exits with the script's status.
    func runPython() throws {
        let unsupported = [("--trace", trace != nil), ("--load-checkpoint", loadCheckpoint != nil), ("--save-checkpoint", saveCheckpoint != nil),
                           ("--json", json), ("--quiet", quiet)]
            .filter(\.1).map(\.0)
        guard unsupported.isEmpty else {
            throw CLIError(message: "npusim run SCRIPT.py does not take \(unsupported.joined(separator: ", ")): a Python script saves and loads checkpoints itself (save_checkpoint, ModelCheckpoint), and prints its own lines (Docs/Python.md)")
        }
        var arguments = PythonScript.arguments(flags)
        if let losses { arguments += ["--losses", losses] }
        if hiddenSteps { arguments.append("--hidden-steps") }
        try PythonScript.exec(arguments, script: script, scriptArguments: scriptArguments)
    }

    /// The Python that has the npusim package: `NPUSIM_PYTHON`, else `.venv/bin/python` of the
    /// repository this binary was built in (`.build/<config>/npusim`).
    static func pythonEnvironment() throws -> String {
        if let p = ProcessInfo.processInfo.environment["NPUSIM_PYTHON"], !p.isEmpty { return p }
        var dir = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        while dir.path != "/" {
            let candidate = dir.appendingPathComponent(".venv/bin/python").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        throw CLIError(message: "no Python environment with the npusim package: run `make python` in the repository (or set NPUSIM_PYTHON to a python that has it)")
    }
}

/// A finite number as JSON, a non-finite one as a string.
func jsonNumber(_ x: Double) -> String { x.isFinite ? "\(x)" : "\"\(x)\"" }

/// A progress bar on standard error for long runs, drawn only on a terminal (never into a file
/// or a pipe) and at most ten times a second; erased when the run ends.
struct ProgressBar {
    let enabled: Bool
    private var last: UInt64 = 0
    private var drawn = false
    private let started = DispatchTime.now().uptimeNanoseconds
    /// Runs shorter than this get no bar (NPUSIM_PROGRESS_DELAY_MS, default 1000).
    private let delay = UInt64(ProcessInfo.processInfo.environment["NPUSIM_PROGRESS_DELAY_MS"].flatMap { UInt64($0) } ?? 1000) * 1_000_000

    init(enabled: Bool) { self.enabled = enabled }

    mutating func update(_ done: Int, _ total: Int) {
        let now = DispatchTime.now().uptimeNanoseconds
        // Only runs longer than `delay` get a bar, redrawn every 0.1 s.
        guard enabled, total > 0, now - started >= delay, now - last > 100_000_000 || done == total else { return }
        last = now
        let width = 30, filled = min(width, width * done / total)
        let text = "\r[" + String(repeating: "=", count: filled) + String(repeating: " ", count: width - filled) + "] step \(done)/\(total)"
        FileHandle.standardError.write(Data(text.utf8))
        drawn = true
    }

    func finish() {
        if drawn { FileHandle.standardError.write(Data(("\r" + String(repeating: " ", count: 60) + "\r").utf8)) }
    }
}

/// The flags `run` and `profile` share: each overrides the script.
struct RunFlags: ParsableArguments {
    @Option(name: .long, help: "graph or pynative (overrides context.mode).")
    var mode: String?

    @Option(name: .long, help: "off, on or strict (overrides context.determinism).")
    var determinism: String?

    @Option(name: .customLong("order-seed"), parsing: .unconditional, help: "Replay one order stream under off (0 to 4294967295; overrides context.order_seed), or 'entropy': a fresh draw, printed so it can be replayed. Without either an off run draws one and prints it.")
    var orderSeed: String?

    @Option(name: .long, parsing: .unconditional, help: "Data-parallel cards: 1 to 64 with real numerics, to 4096 with npusim profile --timing-only (a second for 4,096: only the cards --detail-cards names, card 0 and one more are simulated, the others are alike; Docs/Profiling.md) (overrides context.cards).")
    var cards: Int?

    @Option(name: .long, help: "Device profile: a built-in name or a profile YAML file (overrides context.device).")
    var device: String?

    @Option(name: .long, parsing: .unconditional, help: "mindspore.set_seed value, 0 to 4294967295 (overrides seed).")
    var seed: Int64?

    @Option(name: .long, parsing: .unconditional, help: "Epochs, 1 to 1000000 (overrides train.epochs).")
    var epochs: Int?

    @Option(name: .long, parsing: .unconditional, help: "Train this many steps, continuing into further epochs when the script's end first (counted from the start of training: a run resumed at step k runs N - k more). check compares the first N losses the host sees instead (one per sink in sink mode).")
    var steps: Int?

    @Flag(inversion: .prefixedNo, help: "Dataset sink mode (overrides train.dataset_sink_mode).")
    var sink: Bool?

    @Option(name: .customLong("sink-size"), parsing: .unconditional, help: "Steps per sink, 1 to 1000000; -1: a whole epoch (overrides train.sink_size).")
    var sinkSize: Int?

    func validate() throws {
        if let mode, !["graph", "pynative"].contains(mode) { throw ValidationError("--mode must be graph or pynative, got '\(mode)'") }
        if let orderSeed, orderSeed != "entropy" && UInt32(orderSeed) == nil {
            throw ValidationError("--order-seed must be a whole number from 0 to 4294967295 or 'entropy', got '\(orderSeed)'")
        }
        if let determinism, !["off", "on", "strict"].contains(determinism) { throw ValidationError("--determinism must be off, on or strict, got '\(determinism)'") }
        // The script's ranges (train.epochs, train.sink_size, seed) hold for the flags too.
        if let epochs, !(1...1_000_000).contains(epochs) { throw ValidationError("--epochs must be 1 to 1000000, got \(epochs)") }
        if let steps, !(1...1_000_000_000).contains(steps) { throw ValidationError("--steps must be 1 to 1000000000, got \(steps)") }
        if let sinkSize, sinkSize != -1 && !(1...1_000_000).contains(sinkSize) {
            throw ValidationError("--sink-size must be -1 (a whole epoch) or 1 to 1000000 steps, got \(sinkSize)")
        }
        if let seed, !(0...Int64(UInt32.max)).contains(seed) {
            throw ValidationError("--seed must be 0 to 4294967295 (MindSpore's set_seed feeds numpy, which takes 32 bits), got \(seed)")
        }
        if let cards, !(1...4096).contains(cards) { throw ValidationError("--cards must be 1 to 4096 (64 with real numerics), got \(cards)") }
    }

    /// The run options these flags give.
    func options() throws -> RunOptions {
        var options = RunOptions()
        options.mode = mode.flatMap(ExecutionMode.init(rawValue:))
        options.determinism = determinism.flatMap(Determinism.init(rawValue:))
        options.orderSeed = orderSeed.map { $0 == "entropy" ? .entropy : .seed(UInt64(UInt32($0) ?? 0)) }
        options.device = try device.map { try DeviceSpec.resolve($0) }
        options.seed = seed
        options.epochs = epochs
        options.steps = steps
        options.sink = sink
        options.sinkSize = sinkSize
        options.cards = cards
        return options
    }
}

/// Under mpirun: rank r computes its block of the run's cards (`MPIWorld.partition`), and card
/// 0's rank writes the files.
/// - Throws: `CLIError` for fewer cards than ranks or a PyNative run.
func spreadOverRanks(_ options: inout RunOptions, _ script: Script) throws {
    guard let ranks, ranks.size > 1 else { return }
    guard (options.mode ?? script.context.mode) == .graph else {
        throw CLIError(message: "mpirun spreads a graph-mode run's cards over the ranks; PyNative runs one card")
    }
    do { try ranks.partition(cards: options.cards ?? script.context.cards) } catch let e as MPIError { throw CLIError(message: e.message) }
    options.exchange = ranks
}
