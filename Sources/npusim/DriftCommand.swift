import ArgumentParser
import Foundation
import NPUMPI
import NPUSim

/// `npusim drift`: `npusim drift SCRIPT --replicas K` (the default, `DriftRun`) and `npusim drift merge`.
struct DriftCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drift",
        abstract: "Measure how replicas that differ only in reduction order (or seed) drift apart; join slices of such a study.",
        subcommands: [DriftRun.self, DriftMerge.self],
        defaultSubcommand: DriftRun.self
    )
}

/// `npusim drift SCRIPT.yaml --replicas K`: how far replicas drift apart step by step.
struct DriftRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run K replicas that differ only in reduction order (or global seed) and measure how their losses and parameters drift apart.",
        discussion: """
        Writes DIR/drift.csv (step,replica,loss,abs_diff,rel_diff,param_l2,max_ulp against replica \
        0), DIR/summary.json and DIR/drift.svg. Replica r replays order seed base + r (the base: \
        --order-seed, context.order_seed, or 0); --vary seed gives replica r the global seed base + \
        r instead, --vary both varies both. --steps N runs N steps (100 by default). In sink mode the \
        losses inside each sink are kept too, and the parameters are read at the sink ends, where \
        the host can. The numbers do not depend on --jobs.

        --shard i/n runs slice i (from 0) of n: a contiguous block of the replicas, plus replica 0 \
        to measure against, and writes DIR/shard.csv and DIR/shard.json; `npusim drift merge DIR...` \
        joins every slice's folder into the drift.csv, summary.json and drift.svg of one run, bit \
        for bit (Docs/Scaling.md). One process runs at most 64 replicas.
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

    @Option(name: .long, help: "Run only slice i (from 0) of n of the replicas, for `npusim drift merge` to join (i/n).")
    var shard: String?

    @Flag(name: .long, help: "Print the summary as JSON.")
    var json = false

    /// Replicas one process trains at once (all alive in lockstep); more go to slices.
    static let replicasPerProcess = 64

    func validate() throws {
        if replicas < 2 || replicas > 1_000_000 { throw ValidationError("--replicas must be 2 to 1000000, got \(replicas)") }
        _ = try slice()
        if DriftStudy.Vary(rawValue: vary) == nil { throw ValidationError("--vary must be order, seed or both, got '\(vary)'") }
        if jobs < 1 { throw ValidationError("--jobs must be at least 1, got \(jobs)") }
        if let steps = flags.steps, steps > 1_000_000 { throw ValidationError("--steps must be 1 to 1000000, got \(steps)") }
    }

    func run() throws { try naming(script) { try runScript() } }

    /// The slice --shard names, or under mpirun this rank's slice, if any.
    func slice() throws -> DriftStudy.Shard? {
        if let ranks, ranks.size > 1 {
            guard shard == nil else { throw CLIError(message: "under mpirun each rank runs its slice of the replicas: give no --shard") }
            guard replicas >= ranks.size else { throw CLIError(message: "mpirun -n \(ranks.size) needs at least \(ranks.size) replicas (one per rank), got --replicas \(replicas)") }
            return DriftStudy.Shard(index: ranks.rank, count: ranks.size)
        }
        do { return try shard.map { try DriftStudy.Shard(parsing: $0, replicas: replicas) } } catch let e as TrainError { throw ValidationError(e.message) }
    }

    func runScript() throws {
        let steps = flags.steps ?? 100
        // The replicas one process trains at once (all alive in lockstep); more go to slices.
        let running = try slice().map { 1 + $0.members(of: replicas).filter { $0 != 0 }.count } ?? replicas
        if running > Self.replicasPerProcess {
            let here = ranks.map { $0.size > 1 ? " on rank \($0.rank) of \($0.size)" : "" } ?? ""
            throw CLIError(message: "--replicas \(replicas)\(shard.map { " --shard \($0)" } ?? "") runs \(running) replicas in one process\(here), at most \(Self.replicasPerProcess): split them with --shard i/n and join the slices with npusim drift merge, or run more ranks")
        }
        let study: DriftStudy, policy: String
        if PythonScript.isPython(script) {
            if let ranks, ranks.size > 1 { throw CLIError(message: "a Python script's replicas run one after another in one process: run it without mpirun") }
            study = try driftPython(steps: steps)
            policy = flags.determinism ?? "script"
        } else {
            let parsed = try Script.load(path: script)
            let options = try flags.options()
            study = try DriftStudy.run(parsed, options, replicas: replicas, steps: steps, vary: DriftStudy.Vary(rawValue: vary)!, shard: try slice(), jobs: jobs)
            policy = (options.determinism ?? parsed.context.determinism).rawValue
        }
        let name = URL(fileURLWithPath: script).lastPathComponent
        guard let s = study.shard else {
            return try Self.report(study, script: script, name: name, steps: steps, policy: policy, out: out, json: json)
        }
        let header = DriftStudy.ShardHeader(script: name, steps: steps, determinism: policy, study: study)
        if let ranks, ranks.size > 1 {
            // Each rank ran its slice; rank 0 joins them as `drift merge` does.
            var mine = ByteWriter()
            mine.string(DriftStudy.shardJSON(header))
            mine.string(study.csv())
            let parts = try ranks.allGather(mine.bytes, what: "the drift slices (slice \(s.description))")
            guard ranks.rank == 0 else { return }
            let slices = try parts.enumerated().map { r, bytes in
                var reader = ByteReader(bytes: bytes)
                let json = try reader.string(), csv = try reader.string()
                let (h, st) = try DriftStudy.parseShard(json: Data(json.utf8), csv: csv, jsonPath: "rank \(r)'s slice", csvPath: "rank \(r)'s slice")
                return (dir: "rank \(r)", header: h, study: st)
            }
            let merged: DriftStudy
            do { merged = try DriftStudy.merge(slices) } catch let e as TrainError { throw CLIError(message: e.message, code: 1) }
            try Self.report(merged, script: script, name: name, steps: steps, policy: policy, out: out, json: json)
            return
        }
        try Self.write([("shard.csv", study.csv()), ("shard.json", DriftStudy.shardJSON(header))], to: out)
        let members = s.members(of: replicas)
        emit("drift: slice \(s.description) (replicas \(members.lowerBound)…\(members.upperBound - 1) of \(replicas)) of \(script), \(steps) steps: \(out)/shard.csv, \(out)/shard.json; join every slice with npusim drift merge --out DIR SLICE-DIR...")
    }

    /// Writes files into `dir` (made if missing), each whole or not at all.
    static func write(_ files: [(String, String)], to dir: String) throws {
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        } catch {
            throw CLIError(message: "cannot make \(dir): \(error.localizedDescription)", code: 1)
        }
        for (name, text) in files {
            do { try writeDurably(Array(text.utf8), to: dir + "/" + name) } catch { throw CLIError(message: "cannot write \(dir)/\(name): \(error)", code: 1) }
        }
    }

    /// Writes a whole study's drift.csv, summary.json and drift.svg into `out` and prints what it found.
    static func report(_ study: DriftStudy, script: String, name: String, steps: Int, policy: String, out: String, json: Bool) throws {
        let (replicas, vary) = (study.replicas, study.vary.rawValue)
        let summary = summaryJSON(study, steps: steps, policy: policy)
        let title = "\(name): \(replicas) replicas varying \(vary == "both" ? "seed and order" : vary), determinism \(policy)"
        try write([("drift.csv", study.csv()), ("summary.json", summary + "\n"), ("drift.svg", study.svg(title: title))], to: out)
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
        let slice = try slice()
        let running = slice.map { [0] + $0.members(of: replicas).filter { $0 != 0 } } ?? Array(0..<replicas)
        var losses: [[LossRecord]] = [], traces: [FileHandle] = []
        defer { traces.forEach { try? $0.close() } }
        for r in running {
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
            for (j, values) in records.enumerated() { row[running[j]] = DriftStudy.distance([values], [records[0]]) }
            distances[step] = row
        }
        var study = try DriftStudy.assemble(losses, distances: distances, sink: losses[0].contains { !$0.visible }, vary: kind,
                                            orderSeeds: orderSeeds, seeds: seeds, replicaNumbers: running)
        if let slice { study.keepOnly(slice) }
        return study
    }

    private static func fmt(_ x: Double) -> String { x == 0 ? "0" : String(format: "%.3g", x) }

    private static func summaryJSON(_ s: DriftStudy, steps: Int, policy: String) -> String {
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

/// `npusim drift merge --out DIR SLICE-DIR...`: joins the slices of `npusim drift --shard`.
struct DriftMerge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Join the slices written by npusim drift --shard i/n into one study's drift.csv, summary.json and drift.svg.",
        discussion: """
        Give every slice's folder once, in any order. The files are those one run of every replica \
        writes, bit for bit. The slices must come from one script, step count, policy and seed \
        set, and from hosts that compute alike: each slice runs replica 0, and merge refuses \
        slices whose replica 0 differs (another CPU kind or npusim build gives other bits).
        """
    )

    @Argument(help: "The --out folders of the slices.")
    var slices: [String]

    @Option(name: .long, help: "The folder to write drift.csv, summary.json and drift.svg into (made if missing).")
    var out = "drift"

    @Flag(name: .long, help: "Print the summary as JSON.")
    var json = false

    func validate() throws {
        if slices.isEmpty { throw ValidationError("give the folders of the slices (the --out of each npusim drift --shard i/n run)") }
    }

    func run() throws {
        do {
            let parts = try slices.map { dir in
                let (header, study) = try DriftStudy.loadShard(dir)
                return (dir: dir, header: header, study: study)
            }
            let study = try DriftStudy.merge(parts)
            let h = parts[0].header
            try DriftRun.report(study, script: h.script, name: h.script, steps: h.steps, policy: h.determinism, out: out, json: json)
        } catch let e as TrainError {
            throw CLIError(message: e.message, code: 1)
        }
    }
}
