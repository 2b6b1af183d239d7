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

    @Argument(help: "The training script: YAML, or a MindSpore Python script (Docs/Python.md).")
    var script: String

    @Argument(parsing: .postTerminator, help: "After --: the Python script's own arguments (its sys.argv).")
    var scriptArguments: [String] = []

    @Option(name: .long, parsing: .unconditional, help: "How many replicas (at least 2).")
    var replicas: Int

    @Option(name: .long, help: "What the replicas differ in: order, seed or both.")
    var vary = "order"

    @Option(name: .long, help: "The folder to write drift.csv, summary.json and drift.svg into (made if missing).")
    var out = "drift"

    @Option(name: .long, parsing: .unconditional, help: "Replicas computing at once (default: the host's cores).")
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

    func run() throws { try naming(script) { try runScript() } }

    func runScript() throws {
        let steps = flags.steps ?? 100
        let study: DriftStudy, policy: String
        if PythonScript.isPython(script) {
            study = try driftPython(steps: steps)
            policy = flags.determinism ?? "script"
        } else {
            let parsed = try Script.load(path: script)
            let options = try flags.options()
            study = try DriftStudy.run(parsed, options, replicas: replicas, steps: steps, vary: DriftStudy.Vary(rawValue: vary)!, jobs: jobs)
            policy = (options.determinism ?? parsed.context.determinism).rawValue
        }
        do {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        } catch {
            throw CLIError(message: "cannot make \(out): \(error.localizedDescription)", code: 1)
        }
        let summary = summaryJSON(study, steps: steps, policy: policy)
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
        if policy == "off" && vary != "seed" {
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

    /// A Python script's replicas, one runner process after another (`--jobs` does not apply):
    /// replica r with order seed base + r (or global seed base + r), each step's loss and, after
    /// each step the host saw, its trainable parameters, compared with replica 0's.
    func driftPython(steps: Int) throws -> DriftStudy {
        let dir = try PythonScript.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let kind = DriftStudy.Vary(rawValue: vary)!
        let baseOrder = flags.orderSeed.flatMap(UInt64.init) ?? 0, baseSeed = flags.seed ?? 0
        let orderSeeds = (0..<replicas).map { kind == .seed ? baseOrder : baseOrder + UInt64($0) }
        guard kind == .order || baseSeed + Int64(replicas - 1) <= Int64(UInt32.max) else {
            throw CLIError(message: "with --vary \(vary) replica r takes the global seed \(baseSeed) + r, above 4294967295 for the last of \(replicas) replicas; give a smaller --seed")
        }
        let seeds = (0..<replicas).map { kind == .order ? baseSeed : baseSeed + Int64($0) }
        var runFlags = flags
        runFlags.steps = steps
        var losses: [[LossRecord]] = [], traces: [FileHandle] = []
        defer { traces.forEach { try? $0.close() } }
        for r in 0..<replicas {
            runFlags.seed = kind == .order ? flags.seed : seeds[r]
            let csv = "\(dir)/losses-\(r).csv", trace = "\(dir)/parameters-\(r).bin"
            let arguments = PythonScript.arguments(runFlags, orderSeed: String(orderSeeds[r])) + ["--hidden-steps", "--losses", csv, "--parameter-trace", trace]
            try PythonScript.runQuietly(arguments, script: script, scriptArguments: scriptArguments)
            losses.append(try PythonScript.losses(csv))
            guard let handle = FileHandle(forReadingAtPath: trace) else { throw CLIError(message: "\(script): the run recorded no parameters (no optimizer step?)", code: 1) }
            traces.append(handle)
        }
        guard !losses[0].isEmpty else { throw CLIError(message: "\(script) trained no step: nothing to compare", code: 1) }
        // Parameters were recorded at each step the host saw: the distances are keyed by that step.
        let visible = losses[0].enumerated().filter(\.element.visible).map { $0.offset + 1 }
        let sizes = try traces.map { h -> Int in
            guard let head = try h.read(upToCount: 8), head.count == 8 else { throw CLIError(message: "a parameter trace is empty", code: 1) }
            return Int(head.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        }
        guard Set(sizes).count == 1, let size = sizes.first else { throw CLIError(message: "the replicas trained different parameters", code: 1) }
        var distances: [Int: [Int: (l2: Double, ulp: UInt32)]] = [:]
        for step in visible {
            let records = try traces.map { h -> [Float] in
                guard let data = try h.read(upToCount: size * 4), data.count == size * 4 else { return [] }
                return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            }
            guard records.allSatisfy({ $0.count == size }) else { break }
            var row: [Int: (l2: Double, ulp: UInt32)] = [:]
            for (r, values) in records.enumerated() { row[r] = DriftStudy.distance([values], [records[0]]) }
            distances[step] = row
        }
        return try DriftStudy.assemble(losses, distances: distances, sink: losses[0].contains { !$0.visible }, vary: kind,
                                       orderSeeds: orderSeeds, seeds: seeds)
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
