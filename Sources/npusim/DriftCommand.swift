import ArgumentParser
import Foundation
import NPUSim

/// `npusim drift SCRIPT.yaml --replicas K`: how far replicas drift apart step by step.
struct DriftCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drift",
        abstract: "Run K replicas that differ only in reduction order (or global seed) and measure how their losses and parameters drift apart.",
        discussion: """
        Writes DIR/drift.csv (step,replica,loss,abs_diff,rel_diff,param_l2,max_ulp against replica \
        0), DIR/summary.json and DIR/drift.svg. Replica r replays order seed base + r (the base: \
        --order-seed, context.order_seed, or 0); --vary seed gives replica r the global seed base + \
        r instead, --vary both varies both. --steps N runs N steps (100 by default). In sink mode the \
        losses inside each sink are kept too, and the parameters are read at the sink ends, where \
        the host can. The numbers do not depend on --jobs.
        """
    )

    @Argument(help: "The training script (YAML).")
    var script: String

    @Option(name: .long, help: "How many replicas (at least 2).")
    var replicas: Int

    @Option(name: .long, help: "What the replicas differ in: order, seed or both.")
    var vary = "order"

    @Option(name: .long, help: "The folder to write drift.csv, summary.json and drift.svg into (made if missing).")
    var out = "drift"

    @Option(name: .long, help: "Replicas computing at once (default: the host's cores).")
    var jobs = ProcessInfo.processInfo.activeProcessorCount

    @OptionGroup var flags: RunFlags

    @Flag(name: .long, help: "Print the summary as JSON.")
    var json = false

    func validate() throws {
        if replicas < 2 || replicas > 64 { throw ValidationError("--replicas must be 2 to 64, got \(replicas)") }
        if DriftStudy.Vary(rawValue: vary) == nil { throw ValidationError("--vary must be order, seed or both, got '\(vary)'") }
        if jobs < 1 { throw ValidationError("--jobs must be at least 1, got \(jobs)") }
        if let steps = flags.steps, steps > 1_000_000 { throw ValidationError("--steps must be 1 to 1000000, got \(steps)") }
    }

    func run() throws {
        if PythonScript.isPython(script) {
            throw CLIError(message: "\(script): drift takes a YAML script so far; a MindSpore Python script runs with npusim run, check and profile (Docs/Python.md)")
        }
        let parsed = try Script.load(path: script)
        let options = try flags.options()
        let steps = flags.steps ?? 100
        let study = try DriftStudy.run(parsed, options, replicas: replicas, steps: steps, vary: DriftStudy.Vary(rawValue: vary)!, jobs: jobs)
        do {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        } catch {
            throw CLIError(message: "cannot make \(out): \(error.localizedDescription)", code: 1)
        }
        let policy = options.determinism ?? parsed.context.determinism
        let summary = summaryJSON(study, steps: steps, policy: policy.rawValue)
        let title = "\(URL(fileURLWithPath: script).lastPathComponent): \(replicas) replicas varying \(vary == "both" ? "seed and order" : vary), determinism \(policy)"
        for (name, text) in [("drift.csv", study.csv()), ("summary.json", summary + "\n"), ("drift.svg", study.svg(title: title))] {
            do { try writeDurably(Array(text.utf8), to: out + "/" + name) } catch { throw CLIError(message: "cannot write \(out)/\(name): \(error)", code: 1) }
        }
        if json {
            emit(summary)
            return
        }
        let spread = study.finalSpread
        emit("drift: \(replicas) replicas of \(script), \(steps) steps, varying \(vary), determinism \(policy): \(out)/drift.csv, \(out)/summary.json, \(out)/drift.svg")
        if policy == .off && vary != "seed" {
            emit("order seeds \(study.orderSeeds.map(String.init).joined(separator: ", ")) (replica r replays --order-seed \(study.orderSeeds[0]) + r)")
        }
        emit("first step failing allclose(1e-3, 1e-3) against replica 0: " + (study.firstFailingStep.map(String.init) ?? "none"))
        if study.rows.contains(where: { !$0.visible }) {
            emit("  among the losses the host saw (one per sink): " + (study.firstFailingVisibleStep.map(String.init) ?? "none"))
        }
        emit("at the last step: parameter L2 distance up to \(fmt(spread.paramL2)), loss difference up to \(fmt(spread.absDiff)), max ulp distance \(spread.maxULP)")
        if let g = study.growth {
            emit("growth of the mean parameter distance: ×\(fmt(exp(g.ratePerStep))) per step (exponential fit), or ∝ step^\(fmt(g.exponent)) (power law)")
        } else {
            emit("growth: fewer than 3 steps with a distance above 0, nothing to fit")
        }
    }

    private func fmt(_ x: Double) -> String { x == 0 ? "0" : String(format: "%.3g", x) }

    private func summaryJSON(_ s: DriftStudy, steps: Int, policy: String) -> String {
        let spread = s.finalSpread
        var fields = [
            "\"replicas\":\(s.replicas)", "\"steps\":\(steps)", "\"vary\":\"\(s.vary.rawValue)\"", "\"determinism\":\"\(policy)\"",
            "\"order_seeds\":[\(s.orderSeeds.map(String.init).joined(separator: ","))]", "\"seeds\":[\(s.seeds.map(String.init).joined(separator: ","))]",
            "\"first_failing_step\":\(s.firstFailingStep.map(String.init) ?? "null")",
            "\"first_failing_visible_step\":\(s.firstFailingVisibleStep.map(String.init) ?? "null")",
            "\"final_param_l2\":\(jsonNumber(spread.paramL2))", "\"final_abs_diff\":\(jsonNumber(spread.absDiff))", "\"final_max_ulp\":\(spread.maxULP)",
        ]
        if let g = s.growth {
            fields += ["\"growth_rate_per_step\":\(jsonNumber(g.ratePerStep))", "\"growth_exponent\":\(jsonNumber(g.exponent))"]
        } else {
            fields += ["\"growth_rate_per_step\":null", "\"growth_exponent\":null"]
        }
        return "{" + fields.joined(separator: ",") + "}"
    }
}
