import Foundation
import NPUDevice
import NPUGraph
import NPUScript
import NPUTensor
import NPUTrain

/// Where two replays of a script first part: the first op, in execution order, whose output
/// differs while all its inputs were identical (every earlier op matched, so its inputs did), with
/// its step, card, reduction plans in both replays and how far the outputs are apart.
///
/// It costs about three runs, never one per op: replay A records a fingerprint of every op's
/// outputs; replay B compares its own against them and stops at the first mismatch, keeping its
/// outputs; replay A runs again to that op to keep its outputs.
public struct Localization {
    /// The first op whose outputs differ.
    public struct Divergence {
        /// The step (from 1) and, in sink mode, the sink (from 1) it ran in.
        public var step: Int
        public var sink: Int?
        public var card: Int
        /// The op's name (its identity), MindSpore's full name and its type.
        public var name: String
        public var fullName: String
        public var type: String
        /// The differing output, and the op's reduction plans in replay A and in replay B.
        public var output: Int
        public var plansA: [PlanRecord]
        public var plansB: [PlanRecord]
        /// The largest absolute difference, the largest distance in units in the last place, and
        /// how many of the output's elements differ.
        public var maxAbs: Double
        public var maxULP: UInt32
        public var differing: Int
        public var elements: Int

        /// The divergence of launch B from launch A at output `output` (their reduction plans and
        /// how far that output is apart).
        public init(step: Int, sink: Int?, card: Int, name: String, fullName: String, type: String, output: Int, plansA: [PlanRecord],
                    plansB: [PlanRecord], a: Tensor, b: Tensor) {
            (self.step, self.sink, self.card, self.name, self.fullName, self.type) = (step, sink, card, name, fullName, type)
            (self.output, self.plansA, self.plansB) = (output, plansA, plansB)
            (maxAbs, maxULP, differing, elements) = Localization.difference(a, b)
        }
    }

    public init(orderSeeds: (a: UInt64, b: UInt64), steps: Int, compared: Int, divergence: Divergence?, plantTookEffect: Bool? = nil) {
        (self.orderSeeds, self.steps, self.compared, self.divergence, self.plantTookEffect) = (orderSeeds, steps, compared, divergence, plantTookEffect)
    }

    /// How far two outputs are apart: the largest absolute and ulp differences and how many
    /// elements differ (all of them when the types differ), and the element count.
    static func difference(_ x: Tensor, _ y: Tensor) -> (maxAbs: Double, maxULP: UInt32, differing: Int, elements: Int) {
        var maxAbs = 0.0, maxULP: UInt32 = 0, differing = 0
        if x.dtype == .float32 && y.dtype == .float32 && x.shape == y.shape, let u = try? x.toArray(of: Float.self), let v = try? y.toArray(of: Float.self) {
            for (p, q) in zip(u, v) where p.bitPattern != q.bitPattern {
                differing += 1
                maxAbs = max(maxAbs, abs(Double(p) - Double(q)))
                maxULP = max(maxULP, ulpDistance(p, q))
            }
        } else {
            differing = max(x.count, y.count)
        }
        return (maxAbs, maxULP, differing, y.count)
    }

    public var orderSeeds: (a: UInt64, b: UInt64)
    public var steps: Int
    /// Op launches compared (every op on every card at every step up to the divergence).
    public var compared: Int
    public var divergence: Divergence?
    /// With a plant: whether replay B ran the planted launch and it planned a reduction (a plant
    /// on an op that plans none, or on a step not reached, changes nothing).
    public var plantTookEffect: Bool?

    struct Stop: Error {}

    /// Replays `script` with order seeds `a` and `b` for `steps` steps (graph mode), `plantedInB`
    /// perturbing one launch of replay B (`RunOptions.perturbation`).
    /// - Throws: what `ScriptRunner.run` throws; `TrainError` in PyNative mode.
    public static func run(_ script: Script, _ options: RunOptions = RunOptions(), orderSeeds: (a: UInt64, b: UInt64), steps: Int,
                           plantedInB: (card: Int, instance: String, step: Int, seed: UInt64)? = nil) throws -> Localization {
        guard (options.mode ?? script.context.mode) == .graph else { throw TrainError("localize compares compiled steps: run it in graph mode (context.mode or --mode graph)") }
        guard steps >= 1 else { throw TrainError("localize runs at least 1 step, got \(steps)") }
        var base = options
        base.steps = steps
        base.observer = nil
        base.perturbation = nil

        // Replay A: every op's fingerprint, in execution order.
        var fingerprints: [[UInt64]] = []
        var a = base
        a.orderSeed = .seed(orderSeeds.a)
        a.observer = { _, out in fingerprints.append(out.outputs.map(fingerprint)) }
        _ = try ScriptRunner.run(script, a)

        // Replay B: the first op whose fingerprint differs.
        var index = 0
        var found: (card: Int, out: NodeOutput, output: Int, position: Int)?
        var planted = plantedInB.map { _ in false }
        var b = base
        b.orderSeed = .seed(orderSeeds.b)
        b.perturbation = plantedInB
        b.observer = { card, out in
            defer { index += 1 }
            if let p = plantedInB, p.card == card, p.instance == out.name, p.step == out.step, !out.plans.isEmpty { planted = true }
            guard index < fingerprints.count else { return }
            let mine = out.outputs.map(fingerprint)
            if let k = mine.indices.first(where: { mine[$0] != fingerprints[index][$0] }) ?? (mine.count != fingerprints[index].count ? 0 : nil) {
                var kept = out
                kept.outputs = out.outputs.map { $0.contiguous() }  // a copy that outlives the step's pool
                found = (card, kept, k, index)
                throw Stop()
            }
        }
        do { _ = try ScriptRunner.run(script, b) } catch is Stop {}
        guard let found else { return Localization(orderSeeds: orderSeeds, steps: steps, compared: index, divergence: nil, plantTookEffect: planted) }

        // Replay A again, to the same op: its outputs and plans.
        var reached = 0
        var theirs: NodeOutput?
        a.observer = { _, out in
            defer { reached += 1 }
            if reached == found.position {
                var kept = out
                kept.outputs = out.outputs.map { $0.contiguous() }
                theirs = kept
                throw Stop()
            }
        }
        do { _ = try ScriptRunner.run(script, a) } catch is Stop {}
        guard let theirs, theirs.name == found.out.name else { throw TrainError("replay A did not run \(found.out.name) again at the same point: the runs are not replays of one program") }
        let divergence = Divergence(step: found.out.step + 1, sink: found.out.sink.map { $0 + 1 }, card: found.card, name: found.out.name,
                                    fullName: found.out.fullName, type: found.out.type, output: found.output, plansA: theirs.plans,
                                    plansB: found.out.plans, a: theirs.outputs[found.output], b: found.out.outputs[found.output])
        return Localization(orderSeeds: orderSeeds, steps: steps, compared: found.position + 1, divergence: divergence, plantTookEffect: planted)
    }

    /// A 64-bit fingerprint of a tensor's type and bytes.
    static func fingerprint(_ t: Tensor) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(t.count)
        t.withUnsafeBytes { raw in
            let words = raw.count / 8
            raw.baseAddress.map { base in
                for k in 0..<words { h = (h ^ base.loadUnaligned(fromByteOffset: 8 * k, as: UInt64.self)) &* 0x0000_0100_0000_01B3 }
                for k in (8 * words)..<raw.count { h = (h ^ UInt64(base.load(fromByteOffset: k, as: UInt8.self))) &* 0x0000_0100_0000_01B3 }
            }
        }
        return h
    }
}
