import ArgumentParser
import Foundation
import NPUSim

/// `npusim study`: the determinism study of Docs/Studies.md, rerun from scratch; it writes the
/// page (every number in it comes from this run) and its figures.
struct StudyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "study",
        abstract: "Run the determinism study (drift under each policy, O0 and O2, sink sizes, accuracy spread, per-op contributions, cost) and write Docs/Studies.md with its figures."
    )

    @Option(name: .long, help: "The page to write.")
    var doc = "Docs/Studies.md"

    @Option(name: .long, help: "The folder for the figures (SVG), relative to the page's folder in the page's links.")
    var figures = "Docs/images/studies"

    @Option(name: .long, help: "Steps of the drift runs.")
    var steps = 1000

    @Option(name: .long, help: "Replicas of each drift run.")
    var replicas = 4

    @Option(name: .long, help: "Replicas of the accuracy-spread runs.")
    var trainings = 5

    @Option(name: .long, help: "The folder holding lenet.yaml and transformer.yaml.")
    var examples = "examples"

    @Option(name: .customLong("training-steps"), help: "Steps of each accuracy-spread training (default: the script's epochs).")
    var trainingSteps: Int?

    @Option(name: .long, help: "Replicas computing at once (default: the host's cores).")
    var jobs = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        if steps < 10 { throw ValidationError("--steps must be at least 10, got \(steps)") }
        if replicas < 2 || trainings < 2 { throw ValidationError("--replicas and --trainings must be at least 2") }
    }

    func run() throws {
        let started = Date()
        try FileManager.default.createDirectory(atPath: figures, withIntermediateDirectories: true)
        let relative = relativePath(from: URL(fileURLWithPath: doc).deletingLastPathComponent().path, to: figures)
        var md = """
        # Studies: how far runs drift, what sinking hides, where drift comes from

        Every number and figure on this page was produced by `make study` (`npusim study`), which
        reruns the whole study from scratch; edit `Sources/npusim/StudyCommand.swift`, not this page.
        Models: the digits CNN (`examples/lenet.yaml`) and the transformer encoder block
        (`examples/transformer.yaml`), both on `ascend910`. Replicas that vary the order replay order
        seeds s, s + 1, s + 2, … (s: the script's `order_seed`, else 0) under `off`, so every number
        here is reproducible; the guide's criterion is MindSpore's allclose(atol=1e-3, rtol=1e-3) of
        the losses against replica 0. The tools are `npusim drift` and `npusim check`
        (Determinism.md); the study drives the same code.


        """
        for (title, path, key) in [("Digits CNN", "examples/lenet.yaml", "lenet"), ("Transformer", "examples/transformer.yaml", "transformer")] {
            emit("study: \(title)")
            let script = try Script.load(path: examples + "/" + URL(fileURLWithPath: path).lastPathComponent)
            md += "## \(title) (`\(path)`)\n\n"
            md += try zeroDrift(script)
            md += try growth(script, key: key, relative: relative)
            md += try sinks(script, key: key, relative: relative)
            md += try accuracy(script)
            md += try contributions(script)
            md += try cost(script)
        }
        md += "---\n\n`make study` took \(Int(Date().timeIntervalSince(started).rounded())) s on this machine (\(ProcessInfo.processInfo.activeProcessorCount) cores, \(steps) steps per drift run, \(replicas) replicas, \(trainings) trainings per spread).\n"
        try writeDurably(Array(md.utf8), to: doc)
        emit("study: wrote \(doc) and \(figures)/ in \(Int(Date().timeIntervalSince(started).rounded())) s")
    }

    // MARK: The parts

    /// (a) `on` and `strict`: the replicas agree bit for bit.
    private func zeroDrift(_ script: Script) throws -> String {
        var rows: [String] = []
        for policy in ["on", "strict"] {
            var o = RunOptions()
            o.determinism = Determinism(rawValue: policy)
            let s = try DriftStudy.run(script, o, replicas: replicas, steps: steps / 5, jobs: jobs)
            let spread = s.finalSpread
            let zero = s.rows.allSatisfy { $0.absDiff == 0 && ($0.paramL2 ?? 0) == 0 && ($0.maxULP ?? 0) == 0 }
            rows.append("| `\(policy)` | \(replicas) | \(steps / 5) | \(fmt(spread.paramL2)) | \(spread.maxULP) | \(zero ? "yes" : "**no**") |")
        }
        return """
        ### (a) `on` and `strict`: no drift

        Replicas with different order seeds, every step's losses and parameters compared:

        | policy | replicas | steps | parameter L2 distance at the end | max ulp | bit-identical on every step |
        |---|---|---|---|---|---|
        \(rows.joined(separator: "\n"))


        """
    }

    /// (b) `off`: how the parameter distance grows, float32 (O0) and float16 compute (O2).
    private func growth(_ script: Script, key: String, relative: String) throws -> String {
        var rows: [String] = [], pictures: [String] = []
        for amp in ["O0", "O2"] {
            var s = script
            s.context.ampLevel = AmpLevel(rawValue: amp)!
            var o = RunOptions()
            o.determinism = .off
            let study = try DriftStudy.run(s, o, replicas: replicas, steps: steps, jobs: jobs)
            let name = "\(key)-off-\(amp).svg"
            try writeDurably(Array(study.svg(title: "\(key): \(replicas) replicas varying order, off, \(amp)").utf8), to: figures + "/" + name)
            pictures.append("![\(key) under off, \(amp)](\(relative)/\(name))")
            let d = study.meanDistance
            func at(_ step: Int) -> String { fmt(d.first { $0.step == step }?.distance ?? 0) }
            let spread = study.finalSpread
            let g = study.growth
            rows.append("| \(amp) | \(at(1)) | \(at(10)) | \(at(100)) | \(at(steps)) | \(spread.maxULP) | \(fmt(spread.absDiff)) | \(study.firstFailingStep.map(String.init) ?? "none") | \(g.map { String(format: "×%.5f", exp($0.ratePerStep)) } ?? "–") | \(g.map { fmt($0.exponent) } ?? "–") |")
        }
        return """
        ### (b) `off`: how the replicas drift apart over \(steps) steps

        The mean L2 distance of replicas 1…\(replicas - 1)'s parameters from replica 0's after steps 1, 10,
        100 and \(steps); the largest ulp distance of any parameter and the largest loss difference at
        the end; the first step whose losses fail the guide's criterion; and two fits of the mean
        distance: exponential (growth factor per step) and power law (exponent of the step). A max ulp
        near 2·10⁹ is a parameter close to 0 whose sign differs between replicas: every float32
        between the two values counts. O2 trains as MindSpore's `amp_level="O2"` does: the network
        computes in float16 (BatchNorm, LayerNorm and the loss in float32), with MindSpore's
        default `DynamicLossScaleManager()`: from a scale of 2²⁴ the float16 gradients overflow, so
        the first steps update nothing (every replica still holds the initial parameters after step
        1: a distance of 0) and halve the scale until it fits (Training.md, "Mixed precision").
        Before, O2 rounded only the products' operands and used a fixed scale of 1024.

        | compute | after 1 | after 10 | after 100 | after \(steps) | max ulp | loss difference | first failing step | per step | power |
        |---|---|---|---|---|---|---|---|---|---|
        \(rows.joined(separator: "\n"))

        \(pictures.joined(separator: "\n\n"))


        """
    }

    /// (c) What sinks of 1, 10 and 100 steps let the host see.
    private func sinks(_ script: Script, key: String, relative: String) throws -> String {
        var rows: [String] = [], picture = ""
        for size in [1, 10, 100] {
            var o = RunOptions()
            (o.determinism, o.sink, o.sinkSize) = (.off, true, size)
            let s = try DriftStudy.run(script, o, replicas: replicas, steps: steps, jobs: jobs)
            // The guide's check: the first two losses the host saw, allclose across replicas.
            let seen = Array(Set(s.rows.filter(\.visible).map(\.step)).sorted().prefix(2))
            let zero = Dictionary(s.rows.filter { $0.replica == 0 }.map { ($0.step, $0.loss) }, uniquingKeysWith: { a, _ in a })
            let twoStep = s.rows.filter { seen.contains($0.step) && $0.replica > 0 }.allSatisfy { $0.absDiff <= 1e-3 + 1e-3 * abs(Double(zero[$0.step] ?? 0)) }
            let hidden = s.rows.filter { !$0.visible && $0.step <= (seen.last ?? 0) && $0.replica > 0 }.map(\.absDiff).max() ?? 0
            rows.append("| \(size) | \(steps / size) | \(seen.map(String.init).joined(separator: ", ")) | \(twoStep ? "passes" : "fails") | \(fmt(hidden)) | \(s.firstFailingStep.map(String.init) ?? "none") | \(s.firstFailingVisibleStep.map(String.init) ?? "none") | \(fmt(s.meanDistance.last?.distance ?? 0)) |")
            if size == 10 {
                let name = "\(key)-off-sink10.svg"
                try writeDurably(Array(s.svg(title: "\(key): \(replicas) replicas varying order, off, sinks of 10 steps").utf8), to: figures + "/" + name)
                picture = "![\(key) under off in sinks of 10](\(relative)/\(name))"
            }
        }
        return """
        ### (c) What sinking lets the host see

        The same replicas in dataset sink mode with sinks of 1, 10 and 100 steps: the host sees one
        loss per sink. The guide's two-step check compares the first two losses the host sees (steps
        `sink size` and 2 × `sink size`); "largest hidden difference" is the largest loss difference
        inside those first two sinks that the host never saw; the first failing step is over every
        step, the first visible one over the steps the host saw. The numerics are those of the
        non-sink run (sinking changes what is seen, not what is computed), so the mean parameter
        distance at the end is the same in every row and the same as in (b).

        | sink size | sinks | steps the check compares | two-step check | largest hidden difference | first failing step | first failing step the host saw | mean parameter distance at the end |
        |---|---|---|---|---|---|---|---|
        \(rows.joined(separator: "\n"))

        \(picture)


        """
    }

    /// (d) The spread of held-out accuracy across order replicas and across seeds.
    private func accuracy(_ script: Script) throws -> String {
        let perEpoch = try ScriptRunner.batchesPerEpoch(script, RunOptions())
        let full = trainingSteps ?? perEpoch * script.train.epochs
        var rows: [String] = [], deviations: [Double] = []
        for (label, vary, policy) in [("reduction order (`off`)", DriftStudy.Vary.order, "off"), ("global seed (`on`)", .seed, "on"), ("both (`off`)", .both, "off")] {
            var o = RunOptions()
            o.determinism = Determinism(rawValue: policy)
            let s = try DriftStudy.run(script, o, replicas: trainings, steps: full, vary: vary, jobs: jobs)
            let acc = s.finalMetrics.compactMap { $0["Accuracy"] }.map { $0 * 100 }
            guard !acc.isEmpty else { continue }
            let mean = acc.reduce(0, +) / Double(acc.count)
            let sd = (acc.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(max(acc.count - 1, 1))).squareRoot()
            deviations.append(sd)
            rows.append("| \(label) | \(acc.count) | \(acc.map { String(format: "%.2f", $0) }.joined(separator: ", ")) | \(String(format: "%.2f", acc.max()! - acc.min()!)) | \(String(format: "%.2f", sd)) | \(fmt(s.finalSpread.paramL2)) |")
        }
        return """
        ### (d) Model diversity: order against seed

        \(trainings) trainings (\(full) steps\(trainingSteps == nil ? ", the script's \(script.train.epochs) epochs" : "")) that differ only in reduction order,
        only in the global seed, or in both; the held-out accuracy after the last epoch (%). Summers &
        Dinneen (ICML 2021, "Nondeterminism and Instability in Neural Network Optimization") found
        that any one source of nondeterminism — even a single-bit change of the initialisation —
        gives about the same diversity of trained models as all sources together; compare the
        spreads of the rows.

        | replicas differ in | runs | accuracy of each run | spread (max − min) | standard deviation | parameter distance at the end |
        |---|---|---|---|---|---|
        \(rows.joined(separator: "\n"))

        \(verdict(deviations))


        """
    }

    /// (e) Which ops contribute most: each op type `on` in turn, the rest `off`.
    private func contributions(_ script: Script) throws -> String {
        let n = max(10, steps / 4)
        var probe = RunOptions()
        (probe.determinism, probe.steps, probe.record) = (.off, 1, true)
        // Unfused, every kernel is one op, so the kernels' types are the op types overrides take.
        var unfused = script
        unfused.context.kernelFusion = FusionLevel.none
        let run = try ScriptRunner.run(unfused, probe)
        let types = Set(run.devices[0].timeline.filter { !($0.info?.plans.isEmpty ?? true) }.map(\.type)).sorted()
        var o = RunOptions()
        o.determinism = .off
        func distance(_ o: RunOptions) throws -> Double {
            let s = try DriftStudy.run(script, o, replicas: replicas, steps: n, jobs: jobs)
            return s.meanDistance.last?.distance ?? 0
        }
        let all = try distance(o)
        var rows: [(String, Double)] = []
        for t in types {
            var fixed = o
            fixed.overrides = [t: .on]
            rows.append((t, try distance(fixed)))
        }
        rows.sort { $0.1 < $1.1 }
        let table = rows.map { t, d in "| \(t) | \(fmt(d)) | \(all > 0 ? String(format: "%.0f %%", (1 - d / all) * 100) : "–") |" }
        return """
        ### (e) Where the drift comes from

        The ops that draw reduction orders in this model (\(types.map { "`\($0)`" }.joined(separator: ", "))), each made
        `on` in turn while every other op stays `off`; the mean parameter distance after \(n) steps,
        against \(fmt(all)) with every op `off`. The more of the distance disappears when an op adds in a
        fixed order, the more of the drift starts there (orders compound: the shares need not add to
        100 %; a share near 0 or slightly below is within the run-to-run variation of the distance).

        | op type `on` | parameter distance after \(n) steps | distance removed |
        |---|---|---|
        \(table.joined(separator: "\n"))


        """
    }

    /// (f) The simulated cost of `on` and `strict`.
    private func cost(_ script: Script) throws -> String {
        let n = 5
        var perType: [String: [String: Double]] = [:], stepTime: [String: Double] = [:]
        for policy in ["off", "on", "strict"] {
            var o = RunOptions()
            (o.determinism, o.steps, o.record) = (Determinism(rawValue: policy), n, true)
            let run = try ScriptRunner.run(script, o)
            let profile = Profile(devices: run.devices)
            for s in profile.opStatistics() where s.device == 0 {
                perType[s.type, default: [:]][policy] = s.total.microseconds / Double(n)
            }
            let steps = profile.steps().filter { $0.device == 0 }
            stepTime[policy] = steps.map { $0.length.microseconds }.reduce(0, +) / Double(max(steps.count, 1))
        }
        let free = perType.values.allSatisfy { $0["off"] == $0["on"] && $0["off"] == $0["strict"] }
        let planned = perType.filter { ($0.value["strict"] ?? 0) != ($0.value["off"] ?? 0) || ($0.value["on"] ?? 0) != ($0.value["off"] ?? 0) }
        let rows = planned.keys.sorted().map { t in
            let v = perType[t]!
            return "| \(t) | \(fmt(v["off"] ?? 0)) | \(fmt(v["on"] ?? 0)) | \(fmt(v["strict"] ?? 0)) |"
        }
        return """
        ### (f) What `on` and `strict` cost on the simulated card

        Simulated µs per step (the mean of \(n) steps) of the kernel types (the card's fused kernels
        named `FusionOp_` and their ops, DeviceModel.md, "Fusion") whose time depends on the policy,
        and of the whole step. `on` writes each block's partial sums and adds them in a fixed-order
        pass; `strict` carries exact accumulators and adds every term exactly (DeviceModel.md, "What
        determinism costs"; the constants there are modelling choices, so read the ratios, not the
        digits).\(free ? " Here no op is charged differently: none of this model's reductions split on the card." : "")

        | kernel type | `off` µs/step | `on` µs/step | `strict` µs/step |
        |---|---|---|---|
        \(rows.isEmpty ? "| (none: every op costs the same under every policy) | | | |" : rows.joined(separator: "\n"))
        | **the step** | \(fmt(stepTime["off"] ?? 0)) | \(fmt(stepTime["on"] ?? 0)) | \(fmt(stepTime["strict"] ?? 0)) |


        """
    }

    // MARK: Helpers

    /// What (d)'s standard deviations say against the published finding.
    private func verdict(_ sd: [Double]) -> String {
        guard sd.count == 3 else { return "" }
        guard sd[1] > 0 else {
            return "Every training reached the same accuracy whatever differed: this task is too easy to tell sources of diversity apart."
        }
        let ratio = sd[0] / sd[1]
        let word = ratio > 0.5 ? "about as much as" : ratio > 0.2 ? "less than" : "far less than"
        return "Here reduction order alone spreads the accuracy \(word) a new global seed does (standard deviation \(String(format: "%.2f", sd[0])) against \(String(format: "%.2f", sd[1])) points, a ratio of \(String(format: "%.2f", ratio))), and both together \(String(format: "%.2f", sd[2])); with \(trainings) runs per row these spreads are rough."
    }

    private func fmt(_ x: Double) -> String {
        if x == 0 { return "0" }
        if !x.isFinite { return "\(x)" }
        return abs(x) >= 1e-3 && abs(x) < 1e5 ? String(format: "%.4g", x) : String(format: "%.3e", x)
    }

    private func relativePath(from base: String, to path: String) -> String {
        let b = URL(fileURLWithPath: base).standardized.pathComponents, p = URL(fileURLWithPath: path).standardized.pathComponents
        var common = 0
        while common < min(b.count, p.count) && b[common] == p[common] { common += 1 }
        return (Array(repeating: "..", count: b.count - common) + p[common...]).joined(separator: "/")
    }
}
