import ArgumentParser
import Foundation
import NPUSim

/// `npusim localize SCRIPT.yaml --order-seeds A B`: where two replays first part.
struct LocalizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "localize",
        abstract: "Replay a script with two order seeds and name the first op whose output differs while its inputs were identical.",
        discussion: """
        Prints the step (and sink), the card, the op (its name and MindSpore's full name), its \
        reduction plans in both replays, and the outputs' max abs and ulp difference. Costs about \
        three runs. Runs in graph mode under --determinism off by default (the order seeds only \
        matter there). --plant OP@STEP makes one launch of replay B draw its orders from another \
        seed (what if only that launch had added in another order?); --plant-card picks the card.
        """
    )

    @Argument(help: "The training script: YAML, or a MindSpore Python script (Docs/Python.md).")
    var script: String

    @Argument(parsing: .postTerminator, help: "After --: the Python script's own arguments (its sys.argv).")
    var scriptArguments: [String] = []

    @Option(name: .customLong("order-seeds"), parsing: .upToNextOption, help: "The two replays' order seeds.")
    var orderSeeds: [UInt64]

    @Option(name: .long, help: "Plant a divergence in replay B: the op instance NAME at step STEP (from 1), as NAME@STEP.")
    var plant: String?

    @Option(name: .customLong("plant-card"), help: "The card the planted launch runs on.")
    var plantCard = 0

    @OptionGroup var flags: RunFlags

    @Flag(name: .long, help: "Print the result as JSON.")
    var json = false

    func validate() throws {
        if orderSeeds.count != 2 { throw ValidationError("--order-seeds takes two seeds, got \(orderSeeds.count)") }
        if flags.orderSeed != nil { throw ValidationError("give the replays' seeds with --order-seeds A B, not --order-seed") }
        if let plant, planted(plant) == nil { throw ValidationError("--plant takes OP@STEP with STEP from 1, e.g. 'Gradients/fc1/MatMul/MatMul-1@2', got '\(plant)'") }
    }

    /// A Python script replayed by the runner (every op launch of its process observed: compiled
    /// steps, jit graphs and PyNative ops alike): A records fingerprints, B keeps its first launch
    /// that differs, A runs again to keep that launch.
    func localizePython(steps: Int) throws -> Localization {
        let dir = try PythonScript.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var runFlags = flags
        runFlags.steps = steps
        if runFlags.determinism == nil { runFlags.determinism = "off" }  // the order seeds only matter under off
        func replay(_ seed: UInt64, _ observe: String) throws {
            try PythonScript.runQuietly(PythonScript.arguments(runFlags, orderSeed: String(seed)) + ["--observe", observe], script: script,
                                        scriptArguments: scriptArguments)
        }
        try replay(orderSeeds[0], "record:\(dir)/a.txt")
        try replay(orderSeeds[1], "compare:\(dir)/b.json:\(dir)/a.txt")
        let b = try launch("\(dir)/b.json")
        guard let position = b.fields["position"] as? Int else {
            return Localization(orderSeeds: (orderSeeds[0], orderSeeds[1]), steps: steps, compared: b.fields["launches"] as? Int ?? 0, divergence: nil)
        }
        try replay(orderSeeds[0], "capture:\(dir)/a2.json:\(position)")
        let a = try launch("\(dir)/a2.json")
        guard a.fields["name"] as? String == b.fields["name"] as? String, let output = b.fields["output"] as? Int, output < a.outputs.count,
              output < b.outputs.count else {
            throw CLIError(message: "replay A did not run \(b.fields["name"] ?? "the op") again at the same point: the runs are not replays of one program", code: 1)
        }
        func plans(_ fields: [String: Any]) -> [PlanRecord] {
            (fields["plans"] as? [[String: Any]] ?? []).map { p in
                PlanRecord(site: p["site"] as? String ?? "", policy: p["policy"] as? String ?? "", blockSizes: Array(repeating: 0, count: p["blocks"] as? Int ?? 0),
                           tileSize: 0, order: (p["order"] as? [Int] ?? []).map { Int32(truncatingIfNeeded: $0) })
            }
        }
        let f = b.fields
        let divergence = Localization.Divergence(step: (f["step"] as? Int ?? 0) + 1, sink: (f["sink"] as? Int).map { $0 + 1 }, card: f["card"] as? Int ?? 0,
                                                 name: f["name"] as? String ?? "", fullName: f["full_name"] as? String ?? "", type: f["type"] as? String ?? "",
                                                 output: output, plansA: plans(a.fields), plansB: plans(f), a: a.outputs[output], b: b.outputs[output])
        return Localization(orderSeeds: (orderSeeds[0], orderSeeds[1]), steps: steps, compared: position + 1, divergence: divergence)
    }

    /// A launch the runner kept: its JSON line and its outputs.
    private func launch(_ path: String) throws -> (fields: [String: Any], outputs: [Tensor]) {
        guard let data = FileManager.default.contents(atPath: path), let fields = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CLIError(message: "the replay wrote no observation (\(path))", code: 1)
        }
        guard fields["position"] != nil else { return (fields, []) }
        let outputs = try Checkpoint.read(path + ".safetensors").sorted { $0.name.count == $1.name.count ? $0.name < $1.name : $0.name.count < $1.name.count }
        return (fields, outputs.map(\.tensor))
    }

    private func planted(_ text: String) -> (String, Int)? {
        guard let at = text.lastIndex(of: "@"), let step = Int(text[text.index(after: at)...]), step >= 1, at > text.startIndex else { return nil }
        return (String(text[..<at]), step)
    }

    func run() throws { try naming(script) { try runScript() } }

    func runScript() throws {
        let steps = flags.steps ?? 10
        let result: Localization, policy: String
        if PythonScript.isPython(script) {
            guard plant == nil else { throw CLIError(message: "--plant takes a YAML script; a Python script's launches are replayed as they come") }
            result = try localizePython(steps: steps)
            policy = flags.determinism ?? "off"
        } else {
            let parsed = try Script.load(path: script)
            var options = try flags.options()
            if options.determinism == nil && parsed.context.determinism != .off && plant == nil {
                options.determinism = .off  // the order seeds only matter under off
            }
            let plantedInB = plant.map { text -> (card: Int, instance: String, step: Int, seed: UInt64) in
                let (name, step) = planted(text)!
                return (plantCard, name, step - 1, orderSeeds[1] ^ 0x9E37_79B9_7F4A_7C15)
            }
            result = try Localization.run(parsed, options, orderSeeds: (orderSeeds[0], orderSeeds[1]), steps: steps, plantedInB: plantedInB)
            policy = (options.determinism ?? parsed.context.determinism).rawValue
        }
        guard let d = result.divergence else {
            if json {
                emit("{\"diverged\":false,\"steps\":\(steps),\"compared\":\(result.compared)}")
            } else {
                emit("localize: replays with order seeds \(orderSeeds[0]) and \(orderSeeds[1]) (determinism \(policy)) agree bit for bit: \(result.compared) op launches over \(steps) steps")
                if result.plantTookEffect == false {
                    emit("  the planted launch changed nothing: \(plant!) planned no reduction on card \(plantCard) at that step (or the run did not reach it)")
                }
            }
            return
        }
        func plans(_ p: [PlanRecord]) -> String {
            p.isEmpty ? "none" : p.map { r in
                "\(r.site) (\(r.policy), \(r.blockSizes.count) blocks, first tile's order \(r.order.prefix(r.blockSizes.count).prefix(12).map(String.init).joined(separator: " "))\(r.blockSizes.count > 12 ? " …" : "")\(r.order.count > r.blockSizes.count ? ", \(r.order.count / max(r.blockSizes.count, 1)) tiles" : ""))"
            }.joined(separator: "; ")
        }
        if json {
            func planJSON(_ p: [PlanRecord]) -> String {
                "[" + p.map { "{\"site\":\"\($0.site)\",\"policy\":\"\($0.policy)\",\"blocks\":\($0.blockSizes.count),\"order\":[\($0.order.prefix(64).map(String.init).joined(separator: ","))]}" }.joined(separator: ",") + "]"
            }
            emit("{\"diverged\":true,\"step\":\(d.step),\"sink\":\(d.sink.map(String.init) ?? "null"),\"card\":\(d.card),\"op\":\"\(d.name)\",\"full_name\":\"\(d.fullName)\","
                 + "\"type\":\"\(d.type)\",\"output\":\(d.output),\"max_abs_diff\":\(jsonNumber(d.maxAbs)),\"max_ulp\":\(d.maxULP),\"differing\":\(d.differing),"
                 + "\"elements\":\(d.elements),\"compared\":\(result.compared),\"plans_a\":\(planJSON(d.plansA)),\"plans_b\":\(planJSON(d.plansB))}")
            return
        }
        emit("localize: replays with order seeds \(orderSeeds[0]) and \(orderSeeds[1]) (determinism \(policy)) first part at")
        emit("  step \(d.step)" + (d.sink.map { ", inside sink \($0) (the host sees only the sink's last loss)" } ?? "") + ", card \(d.card)")
        emit("  op \(d.name) (\(d.type)\(d.type == "AllReduce" ? ", a collective across the cards" : ""))")
        emit("     \(d.fullName)")
        emit("  its inputs were identical in both replays; output \(d.output): \(d.differing) of \(d.elements) elements differ, max abs difference \(String(format: "%.3g", d.maxAbs)), max \(d.maxULP) ulp")
        emit("  plans in replay A: \(plans(d.plansA))")
        emit("  plans in replay B: \(plans(d.plansB))")
        emit("  (\(result.compared) op launches compared)")
    }
}
