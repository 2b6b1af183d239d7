import Foundation
import NPUData
import NPUGraph
import NPUScript
import NPUTensor
import NPUTrain

/// MindSpore's reproducibility check (its guide: run the script twice in non-sink mode and
/// compare the first iterations' losses with `allclose(atol=1e-3, rtol=1e-3)`), run on the
/// simulator: every step's losses, their differences, and whether the runs were bit-identical.
public struct ReproducibilityCheck {
    /// One step of the comparison: every run's loss (card 0's, as the host prints it).
    public struct Step: Equatable {
        /// The step counted from 1 over the whole run.
        public var step: Int
        public var epoch: Int
        /// The losses of runs 1, 2, … at this step.
        public var losses: [Float]
        /// The largest |loss_r − loss_1| and |loss_r − loss_1| / |loss_1| over the runs.
        public var maxAbs: Double
        public var maxRel: Double
        /// numpy's allclose of every run's loss with run 1's: |a − b| ≤ atol + rtol·|b|.
        public var allclose: Bool
        /// The host saw this loss (false: a step inside a sink, shown only because NPUSim kept
        /// it); without sinking the host gets every step's loss.
        public var visible: Bool
        public var bitIdentical: Bool { losses.allSatisfy { $0.bitPattern == losses[0].bitPattern } }
    }

    public var runs: Int
    public var atol: Double
    public var rtol: Double
    /// Every step run, visible or not, in order.
    public var steps: [Step]
    /// Whether every run ended with bit-identical parameters and optimizer state.
    public var parametersBitIdentical: Bool
    /// The first parameter (by name) whose bits differ between run 1 and another run, if any.
    public var firstDifferentParameter: String?
    /// The order seed each run replayed (`--order-seed` replays one).
    public var orderSeeds: [UInt64] = []
    /// Whether the runs' final parameters were compared.
    public var parametersCompared = true

    /// The steps the host compared (the guide's criterion looks at these).
    public var visibleSteps: [Step] { steps.filter(\.visible) }
    /// The guide's verdict: every loss the host saw is allclose across the runs.
    public var reproducible: Bool { visibleSteps.allSatisfy(\.allclose) }
    /// Every step's loss bit for bit the same in every run, and the parameters too.
    public var bitIdentical: Bool { steps.allSatisfy(\.bitIdentical) && parametersBitIdentical }
    /// In sink mode: the first hidden step whose losses fail the criterion (what the host could
    /// not compare).
    public var firstHiddenFailure: Step? { steps.first { !$0.visible && !$0.allclose } }

    /// Runs `script` `runs` times with `options` and compares the first `compare` losses the host
    /// sees (in sink mode: `compare` sinks, keeping every step's loss on the side). With
    /// `varyOrder`, run r replays order seed s + r (s: the options' or script's order seed, else
    /// 0): runs as different as a card's, yet every one replayable.
    /// - Throws: what `ScriptRunner.run` throws; `TrainError` for fewer than 2 runs or 1 step.
    public static func run(_ script: Script, _ options: RunOptions = RunOptions(), runs: Int = 2, compare: Int = 2,
                           atol: Double = 1e-3, rtol: Double = 1e-3, varyOrder: Bool = false) throws -> ReproducibilityCheck {
        guard runs >= 2 else { throw TrainError("a check compares at least 2 runs, got \(runs)") }
        guard compare >= 1 else { throw TrainError("a check compares at least 1 step, got \(compare)") }
        guard atol >= 0, rtol >= 0, atol.isFinite, rtol.isFinite else { throw TrainError("atol and rtol must be finite and at least 0, got \(atol) and \(rtol)") }
        let made = try (0..<runs).map { try runOne(script, options, run: $0, compare: compare, varyOrder: varyOrder) }
        return try assemble(made, atol: atol, rtol: rtol, sink: try ScriptRunner.sinkSize(script, options) != nil)
    }

    /// What one run of a check leaves for the comparison: its losses, its final parameters and
    /// optimizer state (by name), and the order seed it replayed.
    public struct Run {
        public var losses: [LossRecord]
        public var parameters: [(name: String, tensor: Tensor)]
        public var orderSeed: UInt64?
    }

    /// Run `r` of a check (as `run` makes each): the script ended once the host saw `compare`
    /// losses, replaying order seed s + r with `varyOrder`. Runs may be made anywhere (MPI
    /// ranks) and joined by `assemble`.
    /// - Throws: what `ScriptRunner.run` throws.
    public static func runOne(_ script: Script, _ options: RunOptions, run r: Int, compare: Int, varyOrder: Bool) throws -> Run {
        var o = options
        let sink = try ScriptRunner.sinkSize(script, options)
        o.steps = compare * (sink ?? 1)
        if varyOrder { o.orderSeed = .seed(ScriptRunner.baseOrderSeed(script, options) + UInt64(r)) }
        let result = try ScriptRunner.run(script, o, keepHidden: sink != nil)
        let parameters = result.store.map { s in s.names.sorted().map { (name: $0, tensor: s[$0]!) } } ?? []
        return Run(losses: result.losses, parameters: parameters, orderSeed: result.orderSeed)
    }

    /// The check of runs made by `runOne`, in run order.
    /// - Throws: `TrainError` when the runs recorded different numbers of losses.
    public static func assemble(_ runs: [Run], atol: Double, rtol: Double, sink: Bool) throws -> ReproducibilityCheck {
        try compare(runs.map(\.losses), parameters: runs.map(\.parameters), atol: atol, rtol: rtol, sink: sink, orderSeeds: runs.compactMap(\.orderSeed))
    }

    /// Compares runs made elsewhere (a Python script's, `npusim check train.py`): every run's
    /// loss records in order, and its final named parameters (nil: not compared).
    /// - Throws: `TrainError` when the runs recorded different numbers of losses.
    public static func compare(_ losses: [[LossRecord]], parameters: [[(name: String, tensor: Tensor)]]?, atol: Double, rtol: Double,
                               sink: Bool, orderSeeds: [UInt64] = []) throws -> ReproducibilityCheck {
        var steps: [Step] = []
        let counts = Set(losses.map(\.count))
        guard counts.count == 1 else { throw TrainError("the runs recorded different numbers of losses: \(counts.sorted())") }
        for k in losses[0].indices {
            let records = losses.map { $0[k] }
            let base = Double(records[0].loss)
            let diffs = records.map { abs(Double($0.loss) - base) }
            let close = records.allSatisfy { abs(Double($0.loss) - base) <= atol + rtol * abs(base) }
            steps.append(Step(step: k + 1, epoch: records[0].epoch, losses: records.map(\.loss), maxAbs: diffs.max() ?? 0,
                              maxRel: base == 0 ? (diffs.max() == 0 ? 0 : .infinity) : (diffs.max() ?? 0) / abs(base),
                              allclose: close, visible: !sink || records[0].visible))
        }
        var different: String?
        if let parameters, let first = parameters.first {
            search: for (k, entry) in first.enumerated() {
                for other in parameters.dropFirst() {
                    guard k < other.count, other[k].name == entry.name, entry.tensor.hasSameBits(as: other[k].tensor) else { different = entry.name; break search }
                }
            }
            if different == nil, Set(parameters.map(\.count)).count > 1 { different = "(the runs made different parameters)" }
        }
        var check = ReproducibilityCheck(runs: losses.count, atol: atol, rtol: rtol, steps: steps, parametersBitIdentical: different == nil,
                                         firstDifferentParameter: different, orderSeeds: orderSeeds)
        check.parametersCompared = parameters != nil
        return check
    }
}

extension ReproducibilityCheck.Run {
    /// The run as bytes another process reads back with `init(decoding:)` (runs over MPI ranks).
    public func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.int(losses.count)
        for l in losses {
            w.int(l.epoch)
            w.int(l.step)
            w.int(Int(l.loss.bitPattern))
            w.int(l.visible ? 1 : 0)
            w.int(l.globalLoss.map { Int($0.bitPattern) } ?? -1)
        }
        w.int(parameters.count)
        for (name, t) in parameters {
            w.string(name)
            w.string(t.dtype.rawValue)
            w.ints(t.shape.dims)
            t.withUnsafeBytes { w.blob(Array($0)) }
        }
        w.int(orderSeed.map { Int(bitPattern: UInt($0)) } ?? 0)
        w.int(orderSeed == nil ? 0 : 1)
        return w.bytes
    }

    /// - Throws: `TrainError` for bytes `encoded()` did not write.
    public init(decoding bytes: [UInt8]) throws {
        var r = ByteReader(bytes: bytes)
        do {
            losses = try (0..<max(0, try r.int())).map { _ in
                let epoch = try r.int(), step = try r.int(), loss = Float(bitPattern: UInt32(truncatingIfNeeded: try r.int()))
                let visible = try r.int() == 1, global = try r.int()
                return LossRecord(epoch: epoch, step: step, loss: loss, visible: visible,
                                  globalLoss: global < 0 ? nil : Float(bitPattern: UInt32(truncatingIfNeeded: global)))
            }
            parameters = try (0..<max(0, try r.int())).map { _ in
                let name = try r.string()
                guard let dtype = DType(rawValue: try r.string()) else { throw TrainError("a run's parameter has an unknown dtype") }
                let shape = Shape(try r.ints()), data = try r.blob()
                guard data.count == shape.count * dtype.size else { throw TrainError("a run's parameter '\(name)' has \(data.count) bytes for \(dtype)\(shape)") }
                var t = Tensor(unfilled: shape, dtype: dtype)
                t.withUnsafeMutableBytes { dst in data.withUnsafeBytes { if $0.count > 0 { dst.copyMemory(from: $0) } } }
                return (name: name, tensor: t)
            }
            let seed = UInt64(UInt(bitPattern: try r.int()))
            orderSeed = try r.int() == 1 ? seed : nil
        } catch let e as GraphError {
            throw TrainError("a run sent by another process is cut short: \(e)")
        }
    }
}
