import ArgumentParser
import Foundation
import NPUMPI
import NPUSim

/// `npusim check SCRIPT.yaml`: MindSpore's reproducibility criterion on repeated runs.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Run a script several times and apply MindSpore's reproducibility criterion (allclose of the first steps' losses); exit 0 if it holds, 1 if not.",
        discussion: """
        Prints each compared step's losses, their largest absolute and relative difference, and \
        whether the runs were bit-identical (losses and final parameters). Under --determinism off \
        without --order-seed every run draws its own reduction orders, as runs on a card do. In \
        sink mode the host sees one loss per sink: the criterion compares those, and the hidden \
        per-step losses are shown too, with what the criterion would have missed. --steps N \
        compares the first N losses the host sees (2 by default).
        """
    )

    @Argument(help: "The training script: YAML, or a MindSpore Python script (Docs/Python.md).")
    var script: String

    @Argument(parsing: .postTerminator, help: "After --: the Python script's own arguments (its sys.argv).")
    var scriptArguments: [String] = []

    @Option(name: .long, parsing: .unconditional, help: "How many runs to compare (at least 2).")
    var runs = 2

    @Option(name: .long, parsing: .unconditional, help: "allclose's absolute tolerance.")
    var atol = 1e-3

    @Option(name: .long, parsing: .unconditional, help: "allclose's relative tolerance.")
    var rtol = 1e-3

    @Flag(name: .customLong("vary-order"), help: "Run r replays order seed s + r (s: --order-seed, context.order_seed or 0): runs as different as a card's, each replayable.")
    var varyOrder = false

    @OptionGroup var flags: RunFlags

    @Flag(name: .long, help: "JSON lines instead of text: one per step, then a verdict object.")
    var json = false

    func validate() throws {
        if runs < 2 || runs > 100 { throw ValidationError("--runs must be 2 to 100, got \(runs)") }
        if let steps = flags.steps, steps > 100_000 { throw ValidationError("--steps must be 1 to 100000, got \(steps)") }
        if !(atol >= 0 && atol.isFinite) || !(rtol >= 0 && rtol.isFinite) { throw ValidationError("--atol and --rtol must be finite and at least 0") }
    }

    /// How many losses the host sees are compared: --steps (2 by default, as the guide's check).
    var steps: Int { flags.steps ?? 2 }

    func run() throws { try naming(script) { try runScript() } }

    func runScript() throws {
        let report: ReproducibilityCheck, policy: String, orders: String
        if PythonScript.isPython(script) {
            if let ranks, ranks.size > 1 { throw CLIError(message: "a Python script's runs run one after another in one process: run it without mpirun") }
            report = try checkPython()
            policy = flags.determinism ?? "as the script sets it (MindSpore's default: off)"
            let base = flags.orderSeed.flatMap(UInt64.init) ?? 0
            orders = varyOrder ? ", run r replaying order seed \(base) + r" : flags.orderSeed.map { ", order seed \($0) (every run replays it)" } ?? ""
        } else {
            let parsed = try Script.load(path: script)
            let options = try flags.options()
            report = try checkYAML(parsed, options)
            let determinism = options.determinism ?? parsed.context.determinism
            policy = determinism.rawValue
            let seeds = report.orderSeeds
            let replay = seeds.map { "--order-seed \($0)" }.joined(separator: ", ")
            orders = determinism != .off ? "" : varyOrder ? ", run r replaying order seed \(seeds.first ?? 0) + r"
                : Set(seeds).count == 1 ? ", order seed \(seeds[0]) (every run replays it)"
                : ", orders drawn afresh each run: order seeds \(seeds.map(String.init).joined(separator: ", ")) (replay: \(replay))"
        }
        if json {
            for s in report.steps {
                emit("{\"step\":\(s.step),\"epoch\":\(s.epoch),\"visible\":\(s.visible),\"losses\":[\(s.losses.map { jsonNumber(Double($0)) }.joined(separator: ","))],"
                     + "\"max_abs_diff\":\(jsonNumber(s.maxAbs)),\"max_rel_diff\":\(jsonNumber(s.maxRel)),\"allclose\":\(s.allclose),\"bit_identical\":\(s.bitIdentical)}")
            }
            emit("{\"runs\":\(runs),\"atol\":\(jsonNumber(atol)),\"rtol\":\(jsonNumber(rtol)),\"determinism\":\"\(policy)\",\"reproducible\":\(report.reproducible),"
                 + "\"bit_identical\":\(report.bitIdentical),\"parameters_bit_identical\":\(report.parametersBitIdentical),"
                 + "\"first_hidden_failure\":\(report.firstHiddenFailure.map { String($0.step) } ?? "null")}")
        } else {
            emit("check: \(runs) runs of \(script), determinism \(policy)\(orders); allclose(atol=\(atol), rtol=\(rtol)) on the first \(steps) loss\(steps == 1 ? "" : "es") the host sees")
            let header = ["step", "epoch"] + (1...runs).map { "run \($0) loss" } + ["max abs diff", "max rel diff", "allclose"]
            let sink = report.steps.contains { !$0.visible }
            var rows = [header + (sink ? ["host saw"] : [])]
            for s in report.steps {
                rows.append([String(s.step), String(s.epoch)] + s.losses.map { "\(Double($0))" } + [figure(s.maxAbs), figure(s.maxRel), s.allclose ? "yes" : "NO"]
                            + (sink ? [s.visible ? "yes" : "hidden"] : []))
            }
            let widths = rows[0].indices.map { c in rows.map { $0[c].count }.max()! }
            for r in rows { emit(r.enumerated().map { $1.padding(toLength: widths[$0] + 2, withPad: " ", startingAt: 0) }.joined().trimmingCharacters(in: .whitespaces)) }
            emit(report.bitIdentical ? "bit-identical: yes (every loss and every parameter\(report.parametersCompared ? "" : "; parameters not compared"))"
                 : "bit-identical: no (" + [report.steps.first { !$0.bitIdentical }.map { "losses first differ at step \($0.step)" },
                                            report.firstDifferentParameter.map { "parameters differ at the end, first '\($0)'" }].compactMap { $0 }.joined(separator: "; ") + ")")
            if sink {
                let seen = report.visibleSteps.map { String($0.step) }.joined(separator: ", ")
                emit("sink mode: the host saw the losses of steps \(seen); " + (report.firstHiddenFailure.map {
                    "inside a sink, step \($0.step) already fails the criterion (max abs diff \(figure($0.maxAbs))), which the host could not see"
                } ?? "no hidden step fails the criterion"))
            }
            emit("reproducible by MindSpore's criterion: \(report.reproducible ? "yes" : "no")")
        }
        if let bad = report.visibleSteps.first(where: { !$0.allclose }) {
            let nan = bad.losses.indices.filter { bad.losses[$0].isNaN }.map { String($0 + 1) }
            if !nan.isEmpty {
                throw CLIError(message: "not reproducible: step \(bad.step)'s loss is NaN in run\(nan.count == 1 ? "" : "s") \(nan.joined(separator: ", ")) (allclose never holds for NaN: the training diverged)", code: 1, everyRank: true)
            }
            throw CLIError(message: "not reproducible: step \(bad.step)'s losses differ by up to \(figure(bad.maxAbs)) (allclose(atol=\(atol), rtol=\(rtol)) fails)", code: 1, everyRank: true)
        }
    }

    /// A YAML script's runs: in this process, or under mpirun run r on rank r mod R, every rank
    /// then holding every run (losses and final parameters, exchanged once at the end).
    func checkYAML(_ parsed: Script, _ options: RunOptions) throws -> ReproducibilityCheck {
        guard let ranks, ranks.size > 1 else {
            return try ReproducibilityCheck.run(parsed, options, runs: runs, compare: steps, atol: atol, rtol: rtol, varyOrder: varyOrder)
        }
        var mine = ByteWriter()
        for r in stride(from: ranks.rank, to: runs, by: ranks.size) {
            mine.int(r)
            mine.blob(try ReproducibilityCheck.runOne(parsed, options, run: r, compare: steps, varyOrder: varyOrder).encoded())
        }
        var made: [Int: ReproducibilityCheck.Run] = [:]
        for part in try ranks.allGather(mine.bytes, what: "the check's runs") {
            var reader = ByteReader(bytes: part)
            while !reader.atEnd { made[try reader.int()] = try ReproducibilityCheck.Run(decoding: try reader.blob()) }
        }
        guard made.count == runs, made.keys.allSatisfy({ (0..<runs).contains($0) }) else {
            throw CLIError(message: "the ranks returned runs \(made.keys.sorted()) of \(runs)", code: 1)
        }
        return try ReproducibilityCheck.assemble((0..<runs).map { made[$0]! }, atol: atol, rtol: rtol,
                                                 sink: try ScriptRunner.sinkSize(parsed, options) != nil)
    }

    /// A Python script run `runs` times by the runner, each run ended once the host has seen
    /// `steps` losses; every loss (hidden ones too) and every Parameter's final value compared.
    func checkPython() throws -> ReproducibilityCheck {
        let dir = try PythonScript.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var losses: [[LossRecord]] = [], parameters: [[(name: String, tensor: Tensor)]] = []
        var runFlags = flags
        runFlags.steps = nil  // check's --steps counts the losses the host sees
        let base = flags.orderSeed.flatMap(UInt64.init) ?? 0
        for r in 0..<runs {
            let csv = "\(dir)/losses-\(r).csv", values = "\(dir)/parameters-\(r).safetensors"
            var arguments = PythonScript.arguments(runFlags, orderSeed: varyOrder ? String(base + UInt64(r)) : nil)
            arguments += ["--host-losses", String(steps), "--hidden-steps", "--losses", csv, "--final-parameters", values]
            try PythonScript.runQuietly(arguments, script: script, scriptArguments: scriptArguments)
            losses.append(try PythonScript.losses(csv))
            parameters.append(try Checkpoint.read(values))
        }
        guard !losses[0].isEmpty else { throw CLIError(message: "\(script) trained no step: nothing to compare", code: 1) }
        return try ReproducibilityCheck.compare(losses, parameters: parameters, atol: atol, rtol: rtol, sink: losses[0].contains { !$0.visible })
    }

    /// A difference: 0, or three significant digits.
    private func figure(_ x: Double) -> String { x == 0 ? "0" : x.isFinite ? String(format: "%.3g", x) : "\(x)" }
}
