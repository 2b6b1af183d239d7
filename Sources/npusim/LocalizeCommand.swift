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

    @Argument(help: "The training script (YAML).")
    var script: String

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

    private func planted(_ text: String) -> (String, Int)? {
        guard let at = text.lastIndex(of: "@"), let step = Int(text[text.index(after: at)...]), step >= 1, at > text.startIndex else { return nil }
        return (String(text[..<at]), step)
    }

    func run() throws {
        if PythonScript.isPython(script) {
            throw CLIError(message: "\(script): localize takes a YAML script so far; a MindSpore Python script runs with npusim run, check, drift and profile (Docs/Python.md)")
        }
        let parsed = try Script.load(path: script)
        var options = try flags.options()
        if options.determinism == nil && parsed.context.determinism != .off && plant == nil {
            options.determinism = .off  // the order seeds only matter under off
        }
        let steps = flags.steps ?? 10
        let plantedInB = plant.map { text -> (card: Int, instance: String, step: Int, seed: UInt64) in
            let (name, step) = planted(text)!
            return (plantCard, name, step - 1, orderSeeds[1] ^ 0x9E37_79B9_7F4A_7C15)
        }
        let result = try Localization.run(parsed, options, orderSeeds: (orderSeeds[0], orderSeeds[1]), steps: steps, plantedInB: plantedInB)
        let policy = options.determinism ?? parsed.context.determinism
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
