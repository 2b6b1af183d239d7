import Foundation
import Testing
import NPUData
import NPUOps
@testable import NPUScript
@testable import NPUStudy
import NPUTensor
import NPUTrain

/// The scripts the studies run.
enum StudyScripts {
    /// A 784 → 128 → 10 MLP on 96 synthetic samples, 2 epochs (NPUScriptTests' fixture).
    static let mlp = try! String(contentsOfFile: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../NPUScriptTests/Fixtures/mlp96.yaml").standardized.path, encoding: .utf8)
}

/// MindSpore's reproducibility criterion on the simulator's runs.
@Suite struct ReproducibilityCheckTests {
    @Test func onAndReplayedOrdersAreBitIdenticalAndFreshOrdersAreNot() throws {
        let script = try Script.parse(yaml: StudyScripts.mlp, file: "/tmp/c.yaml")
        var o = RunOptions()
        o.determinism = .on
        let on = try ReproducibilityCheck.run(script, o, runs: 3, compare: 4)
        #expect(on.steps.count == 4 && on.steps.map(\.step) == [1, 2, 3, 4] && on.steps.allSatisfy { $0.losses.count == 3 && $0.maxAbs == 0 })
        #expect(on.bitIdentical && on.reproducible && on.firstDifferentParameter == nil)
        (o.determinism, o.orderSeed) = (.off, .seed(11))
        #expect(try ReproducibilityCheck.run(script, o, compare: 4).bitIdentical)
        // Each run another replayed order (seeds 0 and 1): different runs, yet the same every time.
        o.orderSeed = .seed(0)
        let fresh = try ReproducibilityCheck.run(script, o, compare: 10, atol: 0, rtol: 0, varyOrder: true)
        #expect(fresh.steps.first { $0.maxAbs > 0 }?.step == 1)
        // The script trains 2 epochs of 3 steps; the check runs as many as it compares.
        #expect(fresh.steps.map(\.step) == Array(1...10))
        #expect(!fresh.bitIdentical && !fresh.parametersBitIdentical && fresh.firstDifferentParameter != nil)
        #expect(!fresh.reproducible && fresh.steps.contains { $0.maxAbs > 0 && !$0.allclose })
        // The same differences pass the guide's tolerance.
        let step = try #require(fresh.steps.first { $0.maxAbs > 0 })
        #expect(step.maxAbs <= 1e-3 + 1e-3 * Double(abs(step.losses[0])))
        #expect(throws: TrainError.self) { try ReproducibilityCheck.run(script, o, runs: 1) }
    }
}

/// Replicas that differ only in reduction order (or seed) drifting apart.
@Suite struct DriftStudyTests {
    var script: Script { try! Script.parse(yaml: StudyScripts.mlp, file: "/tmp/d.yaml") }

    @Test func onGivesExactlyZeroEverywhere() throws {
        var o = RunOptions()
        o.determinism = .on
        let study = try DriftStudy.run(script, o, replicas: 3, steps: 12)
        #expect(study.rows.count == 36 && study.rows.allSatisfy { $0.absDiff == 0 && $0.relDiff == 0 && $0.paramL2 == 0 && $0.maxULP == 0 })
        #expect(study.orderSeeds == [0, 1, 2] && study.firstFailingStep == nil && study.growth == nil)
        #expect(study.finalSpread.paramL2 == 0 && study.finalSpread.maxULP == 0)
    }

    @Test func offDriftsReproduciblyWhateverTheParallelism() throws {
        var o = RunOptions()
        (o.determinism, o.orderSeed) = (.off, .seed(40))
        let a = try DriftStudy.run(script, o, replicas: 3, steps: 15, jobs: 1)
        let b = try DriftStudy.run(script, o, replicas: 3, steps: 15, jobs: 3)
        #expect(a.rows == b.rows && a.orderSeeds == [40, 41, 42] && a.seeds == [1, 1, 1])
        #expect(a.rows.filter { $0.replica == 0 }.allSatisfy { $0.paramL2 == 0 && $0.maxULP == 0 })
        let far = a.rows.filter { $0.replica > 0 && $0.step == 15 }
        #expect(far.count == 2 && far.allSatisfy { ($0.paramL2 ?? 0) > 0 && ($0.maxULP ?? 0) > 0 })
        // Tiny drift: well within the guide's tolerance on every step of this short run.
        #expect(a.firstFailingStep == nil && a.finalSpread.paramL2 < 1e-3)
        let csv = a.csv().split(separator: "\n")
        #expect(csv[0] == "step,replica,loss,abs_diff,rel_diff,param_l2,max_ulp" && csv.count == 1 + 45)
    }

    /// The yardstick: another global seed is another initialisation, far from replica 0 at once.
    @Test func varyingTheSeedStartsFarApart() throws {
        var o = RunOptions()
        o.determinism = .on
        let s = try DriftStudy.run(script, o, replicas: 2, steps: 3, vary: .seed)
        #expect(s.seeds == [1, 2] && s.orderSeeds == [0, 0])
        #expect(s.firstFailingStep == 1 && (s.rows.first { $0.replica == 1 }?.paramL2 ?? 0) > 1)
    }

    /// In sink mode every step's loss is kept; the parameters are read where the host can, at
    /// the sink ends.
    @Test func inSinkModeParametersAreReadAtSinkEnds() throws {
        var o = RunOptions()
        (o.determinism, o.orderSeed, o.sink, o.sinkSize) = (.off, .seed(3), true, 4)
        let s = try DriftStudy.run(script, o, replicas: 2, steps: 12)
        #expect(s.rows.count == 24)
        #expect(Set(s.rows.filter(\.visible).map(\.step)) == [4, 8, 12])
        #expect(s.rows.allSatisfy { ($0.paramL2 != nil) == $0.visible })
        #expect(s.csv().hasPrefix("step,replica,loss,abs_diff,rel_diff,param_l2,max_ulp,visible\n"))
        let svg = s.svg(title: "sink")
        #expect(svg.contains("<circle") && svg.contains("stroke-dasharray") && svg.hasPrefix("<svg"))
        // Replica 0 is drawn last (on top), dashed and wider, and said to be the reference; the
        // axes tick on round values (issue 23: it was in the legend and nowhere in the plot, and
        // ticks fell on fifths of the range).
        let lines = svg.components(separatedBy: "<polyline").dropFirst()
        #expect(lines.last?.contains("<title>replica 0</title>") == true && lines.last?.contains("stroke-dasharray=\"6,4\"") == true)
        #expect(svg.contains("replica 0 is the reference") || svg.contains("bit-identical to replica 0"))
        let stepTicks = svg.components(separatedBy: "text-anchor=\"middle\">").dropFirst().compactMap { Int($0.prefix { $0 != "<" }) }
        #expect(stepTicks.prefix(5) == [1, 2, 4, 6, 8], "\(stepTicks)")
        let lossTicks = svg.components(separatedBy: "text-anchor=\"end\">").dropFirst().compactMap { Double($0.prefix { $0 != "<" }) }
        let spacing = lossTicks.count > 1 ? lossTicks[1] - lossTicks[0] : 0
        #expect(lossTicks.count >= 2 && [1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5, 1].contains { abs($0 - spacing) < 1e-9 }, "\(lossTicks)")
    }

    /// Issue 25: slices of the replicas, run apart and joined, are the one run's study bit for
    /// bit, in sink mode too; a slice's files round-trip through their parser.
    @Test func slicesJoinIntoTheOneRunsStudy() throws {
        var o = RunOptions()
        (o.determinism, o.orderSeed, o.sink, o.sinkSize) = (.off, .seed(9), true, 2)
        let whole = try DriftStudy.run(script, o, replicas: 5, steps: 4, jobs: 2)
        var parts: [(dir: String, header: DriftStudy.ShardHeader, study: DriftStudy)] = []
        for i in [2, 0, 1] {
            let slice = try DriftStudy.run(script, o, replicas: 5, steps: 4, shard: .init(index: i, count: 3), jobs: 2)
            #expect(Set(slice.rows.map(\.replica)) == Set([0...0, 1...2, 3...4][i]))
            #expect(slice.referenceLosses == whole.rows.filter { $0.replica == 0 }.map(\.loss.bitPattern))
            let header = DriftStudy.ShardHeader(script: "d.yaml", steps: 4, determinism: "off", study: slice)
            let read = try DriftStudy.parseShard(json: Data(DriftStudy.shardJSON(header).utf8), csv: slice.csv(), jsonPath: "j", csvPath: "c")
            #expect(read.header == header && read.study.rows == slice.rows)
            parts.append((dir: "s\(i)", header: read.header, study: read.study))
        }
        let merged = try DriftStudy.merge(parts)
        #expect(merged.csv() == whole.csv() && merged.rows == whole.rows && merged.orderSeeds == whole.orderSeeds && merged.replicas == 5)
        #expect(whole.rows.contains { ($0.paramL2 ?? 0) > 0 } && whole.rows.contains { !$0.visible })
        // A slice missing, given twice, or computed elsewhere with other bits is refused.
        #expect(throws: TrainError("slice 1/3 missing: give every slice's folder")) { try DriftStudy.merge(Array(parts.prefix(2))) }
        #expect(throws: TrainError("s2 and s2 both hold slice 2/3")) { try DriftStudy.merge(parts + [parts[0]]) }
        var other = parts
        other[2].header.referenceLosses[1] ^= 1
        #expect(throws: TrainError("s1 and s2 computed replica 0 differently (its loss at step 2): run the slices on hosts of one CPU kind and one npusim build")) {
            try DriftStudy.merge(other)
        }
        other = parts
        other[1].header.steps = 3
        #expect(throws: TrainError("s0 and s2 were run with different steps: slices of one study only")) { try DriftStudy.merge(other) }
    }

    /// What a slice's parser refuses, naming the file and line.
    @Test func aDamagedSliceIsRefusedWithTheLine() throws {
        var o = RunOptions()
        o.determinism = .on
        let slice = try DriftStudy.run(script, o, replicas: 3, steps: 2, shard: .init(index: 1, count: 2))
        let json = DriftStudy.shardJSON(DriftStudy.ShardHeader(script: "d.yaml", steps: 2, determinism: "on", study: slice)), csv = slice.csv()
        func parse(_ j: String, _ c: String) throws { _ = try DriftStudy.parseShard(json: Data(j.utf8), csv: c, jsonPath: "x/shard.json", csvPath: "x/shard.csv") }
        #expect(throws: TrainError("x/shard.csv: 2 rows, expected 2 steps × 2 replicas (the file is cut short?)")) {
            try parse(json, csv.split(separator: "\n").prefix(3).joined(separator: "\n"))
        }
        #expect(throws: TrainError("x/shard.csv: line 3 is step 1 replica 1, expected step 1 replica 2 (slice 1/2 holds replicas 1…2)")) {
            var lines = csv.split(separator: "\n").map(String.init)
            lines[2] = lines[1]
            try parse(json, lines.joined(separator: "\n"))
        }
        #expect(throws: TrainError("x/shard.csv: line 2: loss, abs_diff and rel_diff must be numbers")) {
            try parse(json, csv.replacingOccurrences(of: "\n1,1,", with: "\n1,1,x"))
        }
        #expect(throws: TrainError("x/shard.json: --shard 2/2: i must be 0 to 1")) { try parse(json.replacingOccurrences(of: "\"1/2\"", with: "\"2/2\""), csv) }
        #expect(throws: TrainError("x/shard.json: not a JSON object")) { try parse("[", csv) }
        #expect(throws: (any Error).self) { try DriftStudy.Shard(parsing: "1-2", replicas: 3) }
        #expect(try DriftStudy.Shard(parsing: "2/3", replicas: 7).members(of: 7) == 4..<7)
    }

    @Test func ulpDistancesCountRepresentableValues() {
        #expect(ulpDistance(1, Float(1).nextUp) == 1 && ulpDistance(Float(1).nextUp, 1) == 1)
        #expect(ulpDistance(0, -0.0) == 0 && ulpDistance(.leastNonzeroMagnitude, -.leastNonzeroMagnitude) == 2)
        #expect(ulpDistance(1, 2) == 1 << 23 && ulpDistance(.nan, 1) == .max && ulpDistance(-.infinity, .infinity) == UInt32(0xFF00_0000))
    }
}

/// `localize` on planted divergences: one launch of replay B draws another order; the first op
/// that differs must be exactly that one, at that step, on that card.
@Suite struct LocalizationTests {
    var script: Script { try! Script.parse(yaml: StudyScripts.mlp, file: "/tmp/l.yaml") }

    @Test func aPlantedLaunchIsNamedWithItsStepAndPlans() throws {
        let op = "Gradients/fc2/MatMul/MatMul-1"
        let found = try Localization.run(script, orderSeeds: (1, 1), steps: 5, plantedInB: (card: 0, instance: op, step: 2, seed: 99))
        let d = try #require(found.divergence)
        #expect(d.step == 3 && d.card == 0 && d.name == op && d.type == "MatMul" && d.sink == nil)
        #expect(d.fullName == "Gradients/Default/network-WithLossCell/_backbone-SequentialCell/fc2-Dense/gradMatMul/MatMul-op9")
        #expect(d.plansA.map(\.policy) == ["on"] && d.plansB.map(\.policy) == ["off"] && d.plansA[0].order != d.plansB[0].order)
        #expect(d.differing > 0 && d.maxAbs > 0 && d.maxULP > 0 && d.elements == 1280)
        // Without the plant, replays under `on` agree on every launch.
        let same = try Localization.run(script, orderSeeds: (1, 1), steps: 3)
        #expect(same.divergence == nil && same.compared > 40)
    }

    @Test func insideASinkItNamesTheSinkToo() throws {
        var o = RunOptions()
        (o.sink, o.sinkSize) = (true, 2)
        let op = "Gradients/fc1/MatMul/MatMul-1"
        let d = try #require(try Localization.run(script, o, orderSeeds: (4, 4), steps: 6, plantedInB: (0, op, 4, 7)).divergence)
        #expect(d.step == 5 && d.sink == 3 && d.name == op && d.card == 0)
    }

    @Test func onCardThreeOfFour() throws {
        let yaml = StudyScripts.mlp.replacingOccurrences(of: "batch_size: 32", with: "batch_size: 8")
        var o = RunOptions()
        o.cards = 4
        // The forward product splits its 784-long K across cores; batch 8's weight gradient
        // (K = 8) does not split, so it plans nothing a plant could change.
        let op = "fc1/MatMul"
        let found = try Localization.run(try Script.parse(yaml: yaml, file: "/tmp/l4.yaml"), o, orderSeeds: (2, 2), steps: 3, plantedInB: (3, op, 1, 5))
        let d = try #require(found.divergence)
        #expect(d.step == 2 && d.card == 3 && d.name == op, "\(d.step) card \(d.card) \(d.name) A \(d.plansA.count) B \(d.plansB.count) ulp \(d.maxULP)")
        // A collective's arrival order planted in replay B: named as the collective.
        let all = try #require(try Localization.run(try Script.parse(yaml: yaml, file: "/tmp/l4.yaml"), o, orderSeeds: (2, 2), steps: 3,
                                                    plantedInB: (0, "AllReduce", 1, 9)).divergence)
        #expect(all.type == "AllReduce" && all.step == 2 && all.plansA.isEmpty && all.plansB.map(\.policy) == ["off"] && all.maxULP > 0, "\(all.type) \(all.step) \(all.name) card \(all.card) A \(all.plansA.map(\.policy)) B \(all.plansB.map(\.policy))")
        // Under off with different seeds, the first parting is card 0's first planned op of step 1.
        o.determinism = .off
        let off = try #require(try Localization.run(try Script.parse(yaml: yaml, file: "/tmp/l4.yaml"), o, orderSeeds: (2, 3), steps: 1).divergence)
        #expect(off.step == 1 && off.card == 0 && !off.plansA.isEmpty)
    }
}
