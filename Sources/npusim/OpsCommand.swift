import ArgumentParser
import Foundation
import NPUSim

struct OpsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ops",
        abstract: "List every op: backward, planned reductions, nondeterminism under --determinism off."
    )

    @Flag(name: .long, help: "One JSON object per op.")
    var json = false

    func run() throws {
        if json {
            for op in OpCatalog.all {
                let object: [String: Any] = [
                    "name": op.type, "summary": op.summary, "has_backward": op.hasBackward,
                    "planned_reductions": op.plannedReductions, "backward_reductions": op.backwardReductions,
                    "nondeterministic_under_off": op.nondeterministicUnderOff,
                ]
                emit(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            }
            for c in collectiveCatalog {
                let object: [String: Any] = ["name": c.type, "summary": c.summary, "collective": true, "order_sites": c.orderSites,
                                             "nondeterministic_under_off": c.nondeterministicUnderOff]
                emit(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
            }
            return
        }
        func pad(_ s: String, _ w: Int) -> String { s.padding(toLength: w, withPad: " ", startingAt: 0) }
        emit(pad("op", 31) + pad("backward", 10) + pad("planned reductions", 24) + "nondeterministic under off")
        for op in OpCatalog.all {
            let planned = op.plannedReductions.isEmpty ? "-" : op.plannedReductions.joined(separator: ", ")
            var nondet = op.nondeterministicUnderOff ? "yes" : "no"
            if !op.backwardReductions.isEmpty { nondet += "; backward: \(op.backwardReductions.joined(separator: ", "))" }
            emit(pad(op.type, 31) + pad(op.hasBackward ? "yes" : "-", 10) + pad(planned, 24) + nondet)
        }
        emit("\ncollective (many cards)        order sites under the policy                       nondeterministic under off")
        for c in collectiveCatalog {
            emit(pad(c.type, 31) + pad(c.orderSites.isEmpty ? "-" : c.orderSites.joined(separator: ", "), 51) + (c.nondeterministicUnderOff ? "yes (arrival order)" : "no"))
        }
        emit("\n\(OpCatalog.all.count) ops and \(collectiveCatalog.count) collectives. A planned reduction is split over min(AI cores, ⌈extent / reduction_block_min⌉) blocks;")
        emit("under --determinism off the block partials are added in a fresh order every launch (Docs/Determinism.md).")
    }
}
