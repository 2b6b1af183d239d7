import ArgumentParser
import Foundation
import NPUSim

/// `npusim profile SCRIPT.yaml --out DIR`: trains the script's first steps with every task
/// recorded and writes the Ascend profiler's layout, then prints where the time went.
struct ProfileCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "profile",
        abstract: "Profile a script's first steps: ASCEND_PROFILER_OUTPUT/ (trace_view.json, kernel_details.csv, op_statistic.csv, step_trace_time.csv, reductions.csv) and timeline.svg in --out, the top ops, the step breakdown and the simulated throughput."
    )

    @Argument(help: "The training script: YAML, or a MindSpore Python script (Docs/Python.md).")
    var script: String

    @Argument(parsing: .postTerminator, help: "After --: the Python script's own arguments (its sys.argv).")
    var scriptArguments: [String] = []

    @Option(name: .long, help: "The folder to write the profile into (made if missing).")
    var out: String

    @Flag(name: .customLong("timing-only"), help: "Shapes only, no numerics: the same streams, scheduler and cost model (and sinks), for models and clusters too big to compute.")
    var timingOnly = false

    @OptionGroup var flags: RunFlags

    func run() throws {
        if PythonScript.isPython(script) {
            // The script runs its first steps (5 unless --steps) with every task recorded; the
            // runner writes the profile and prints the same summary.
            guard !timingOnly else { throw CLIError(message: "--timing-only takes a YAML script; a Python script runs with its numbers") }
            var runFlags = flags
            if runFlags.steps == nil { runFlags.steps = 5 }
            try PythonScript.exec(PythonScript.arguments(runFlags) + ["--profile", out], script: script, scriptArguments: scriptArguments)
        }
        let parsed = try Script.load(path: script)
        var options = try flags.options()
        if options.steps == nil { options.steps = 5 }
        options.record = true
        let summary = timingOnly ? try ScriptRunner.simulate(parsed, options, steps: options.steps!) : try ScriptRunner.run(parsed, options)
        let profile = Profile(devices: summary.devices)
        try profile.write(to: out)
        emit("profile of \(summary.steps) step\(summary.steps == 1 ? "" : "s") on \(summary.devices.count) card\(summary.devices.count == 1 ? "" : "s"): \(out)/ASCEND_PROFILER_OUTPUT/, \(out)/timeline.svg")
        // The top ops of card 0 by simulated time.
        for line in profile.summaryLines() { emit(line) }
        emit(String(format: "\nsimulated throughput: %.0f samples/s (%d samples in %.3f ms on the card)",
                    summary.samplesPerSecond, summary.samples, summary.simulatedTime.seconds * 1e3))
        if !timingOnly, ScriptRunner.drawsOrders(parsed, options), let seed = summary.orderSeed {
            emit("order seed \(seed) (replay: --order-seed \(seed))")
        }
    }
}
