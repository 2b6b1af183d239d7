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

    @Argument(help: "The training script (YAML).")
    var script: String

    @Option(name: .long, help: "The folder to write the profile into (made if missing).")
    var out: String

    @Flag(name: .customLong("timing-only"), help: "Shapes only, no numerics: the same streams, scheduler and cost model (and sinks), for models and clusters too big to compute.")
    var timingOnly = false

    @OptionGroup var flags: RunFlags

    func run() throws {
        let parsed = try Script.load(path: script)
        var options = try flags.options()
        if options.steps == nil { options.steps = 5 }
        options.record = true
        let summary = timingOnly ? try ScriptRunner.simulate(parsed, options, steps: options.steps!) : try ScriptRunner.run(parsed, options)
        let profile = Profile(devices: summary.devices)
        try profile.write(to: out)
        emit("profile of \(summary.steps) step\(summary.steps == 1 ? "" : "s") on \(summary.devices.count) card\(summary.devices.count == 1 ? "" : "s"): \(out)/ASCEND_PROFILER_OUTPUT/, \(out)/timeline.svg")
        // The top ops of card 0 by simulated time.
        let stats = profile.opStatistics().filter { $0.device == 0 }
        emit("\ntop ops (card 0)                  count    total µs   avg µs   share")
        for s in stats.prefix(10) {
            emit(pad("\(s.type) [\(s.core)]", 32) + String(format: "%7d %11.1f %8.2f %6.1f %%", s.count, s.total.microseconds, s.total.microseconds / Double(s.count), s.ratio))
        }
        // Card 0's steps, averaged.
        let steps = profile.steps().filter { $0.device == 0 }
        if !steps.isEmpty {
            func mean(_ f: (Profile.StepBreakdown) -> SimTime) -> Double { steps.reduce(0.0) { $0 + f($1).microseconds } / Double(steps.count) }
            let length = mean(\.length)
            emit("\nstep (card 0, mean of \(steps.count))     µs      share")
            for (name, value) in [("computing", mean(\.computing)), ("communication", mean(\.communication)),
                                  ("  overlapped with computing", mean(\.overlapped)), ("  not overlapped", mean(\.communicationNotOverlapped)),
                                  ("free (idle)", mean(\.free)), ("host (launch, sync, callbacks)", mean(\.host))] {
                emit(pad(name, 32) + String(format: "%9.1f %7.1f %%", value, length > 0 ? value / length * 100 : 0))
            }
            emit(pad("step", 32) + String(format: "%9.1f", length))
        }
        emit(String(format: "\nsimulated throughput: %.0f samples/s (%d samples in %.3f ms on the card)",
                    summary.samplesPerSecond, summary.samples, summary.simulatedTime.seconds * 1e3))
        if !timingOnly, ScriptRunner.drawsOrders(parsed, options), let seed = summary.orderSeed {
            emit("order seed \(seed) (replay: --order-seed \(seed))")
        }
    }

    func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s + " " : s.padding(toLength: w, withPad: " ", startingAt: 0) }
}
