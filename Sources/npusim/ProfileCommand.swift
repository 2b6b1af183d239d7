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

    @Option(name: .customLong("detail-cards"), help: "The cards whose every task is written (trace_view.json, kernel_details.csv, reductions.csv, timeline.svg): 'all', or ordinals and ranges such as 0,3,8-15. Default: all up to 8 cards, else card 0. op_statistic.csv and step_trace_time.csv always cover every card.")
    var detailCards: String?

    @OptionGroup var flags: RunFlags

    func run() throws { try naming(script) { try runScript() } }

    /// `--detail-cards` as ordinals below `cards` (nil: every card).
    static func detail(_ text: String?, cards: Int) throws -> Set<Int>? {
        guard let text else { return cards <= 8 ? nil : [0] }
        if text == "all" { return nil }
        var out: Set<Int> = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            let ends = part.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
            guard (1...2).contains(ends.count), let a = ends.first!, let b = ends.last!, a >= 0, a <= b, b < cards else {
                throw CLIError(message: "--detail-cards '\(text)': give 'all' or card ordinals and ranges from 0 to \(cards - 1), such as 0,3,8-\(max(cards - 1, 0))")
            }
            out.formUnion(a...b)
        }
        return out
    }

    func runScript() throws {
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
        let detail = try Self.detail(detailCards, cards: options.cards ?? parsed.context.cards)
        if let ranks, ranks.size > 1, timingOnly { throw CLIError(message: "--timing-only simulates shapes alone in one process: run it without mpirun") }
        try spreadOverRanks(&options, parsed)
        // Timing-only, the cards not detailed are not simulated: they are alike (Profiling.md).
        let summary = timingOnly ? try ScriptRunner.simulate(parsed, options, steps: options.steps!, simulating: detail) : try ScriptRunner.run(parsed, options)
        let cards = summary.cards ?? summary.devices.count
        let profile = Profile(devices: summary.devices, detailCards: detail, cards: cards)
        // Every rank simulated every card's timeline; card 0's rank writes it.
        if options.writesFiles { try profile.write(to: out) }
        emit("profile of \(summary.steps) step\(summary.steps == 1 ? "" : "s") on \(cards) card\(cards == 1 ? "" : "s"): \(out)/ASCEND_PROFILER_OUTPUT/, \(out)/timeline.svg")
        if profile.detailed.count < cards {
            let list = profile.detailed.count == 1 ? "card \(profile.detailed[0].ordinal)" : "\(profile.detailed.count) cards"
            let template = summary.devices.first { $0.ordinal != 0 }?.ordinal ?? 0
            let simulated = summary.devices.count < cards ? " (the cards beside card 0 are alike: \(summary.devices.count) were simulated, the others have card \(template)'s figures)" : ""
            emit("every task of \(list) (--detail-cards); op_statistic.csv and step_trace_time.csv for all \(cards)\(simulated)")
        }
        // The top ops of card 0 by simulated time.
        for line in profile.summaryLines() { emit(line) }
        emit(String(format: "\nsimulated throughput: %.0f samples/s (%d samples in %.3f ms on the card)",
                    summary.samplesPerSecond, summary.samples, summary.simulatedTime.seconds * 1e3))
        if !timingOnly, ScriptRunner.drawsOrders(parsed, options), let seed = summary.orderSeed {
            emit("order seed \(seed) (replay: --order-seed \(seed))")
        }
    }
}
