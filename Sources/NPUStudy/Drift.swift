import Foundation
import NPUGraph
import NPUScript
import NPUTensor
import NPUTrain

/// How far replicas of one script drift apart when they differ only in their reduction orders (or,
/// as a yardstick, in the global seed, or both): every step's loss and the distance of every
/// replica's parameters from replica 0's.
public struct DriftStudy {
    /// What the replicas differ in.
    public enum Vary: String, CaseIterable, Sendable {
        /// The order seed: replica r replays order seed base + r (under `off`; under `on` and
        /// `strict` the orders do not depend on it and the replicas agree bit for bit).
        case order
        /// The global seed (`set_seed`): replica r uses seed base + r, the orders one fixed stream.
        case seed
        /// Both.
        case both
    }

    /// One replica at one step.
    public struct Row: Equatable {
        public var step: Int
        public var replica: Int
        public var loss: Float
        /// |loss − replica 0's loss|, and that over |replica 0's loss|.
        public var absDiff: Double
        public var relDiff: Double
        /// The L2 distance of the network's parameters from replica 0's, and the largest distance
        /// in units in the last place of any one element; nil inside a sink (the host cannot read
        /// parameters there).
        public var paramL2: Double?
        public var maxULP: UInt32?
        /// The host saw this loss (false: a step inside a sink).
        public var visible: Bool
    }

    public var replicas: Int
    public var vary: Vary
    /// Every replica's order seed and global seed.
    public var orderSeeds: [UInt64]
    public var seeds: [Int64]
    public var rows: [Row]
    /// Each replica's metrics after its last evaluation (the script's `eval`), if it has one.
    public var finalMetrics: [[String: Double]] = []
    /// The slice this study holds (nil: every replica), and then replica 0's losses as float32
    /// bit patterns, which every slice computes and `merge` compares.
    public var shard: Shard?
    public var referenceLosses: [UInt32] = []

    /// The guide's criterion on every step: the first step whose losses fail allclose(1e-3, 1e-3)
    /// against replica 0, on every step and on the steps the host saw.
    public var firstFailingStep: Int? { firstFailure(visibleOnly: false) }
    public var firstFailingVisibleStep: Int? { firstFailure(visibleOnly: true) }

    func firstFailure(visibleOnly: Bool) -> Int? {
        var zero: [Int: Float] = [:]
        for r in rows where r.replica == 0 { zero[r.step] = r.loss }
        return rows.first { r in
            guard r.replica > 0, !visibleOnly || r.visible, let base = zero[r.step] else { return false }
            return !(r.absDiff <= 1e-3 + 1e-3 * abs(Double(base)))  // NaN fails too
        }?.step
    }

    /// The last step's spread: the largest parameter distance, loss difference and ulp distance.
    public var finalSpread: (paramL2: Double, absDiff: Double, maxULP: UInt32) {
        let last = rows.filter { $0.step == rows.last?.step && $0.paramL2 != nil }
        return (last.compactMap(\.paramL2).max() ?? 0, last.map(\.absDiff).max() ?? 0, last.compactMap(\.maxULP).max() ?? 0)
    }

    /// The mean parameter distance of replicas 1… at each step where the parameters were read.
    public var meanDistance: [(step: Int, distance: Double)] {
        var byStep: [Int: [Double]] = [:]
        for r in rows where r.replica > 0 { if let d = r.paramL2 { byStep[r.step, default: []].append(d) } }
        return byStep.keys.sorted().map { ($0, byStep[$0]!.reduce(0, +) / Double(byStep[$0]!.count)) }
    }

    /// Least-squares fits of the mean parameter distance d over the steps where it is above 0:
    /// exponential growth d ∝ e^(rate·step) (rate per step) and a power law d ∝ step^exponent.
    /// nil with fewer than 3 such steps.
    public var growth: (ratePerStep: Double, exponent: Double)? {
        let points = meanDistance.filter { $0.distance > 0 }
        guard points.count >= 3 else { return nil }
        func slope(_ xs: [Double], _ ys: [Double]) -> Double {
            let mx = xs.reduce(0, +) / Double(xs.count), my = ys.reduce(0, +) / Double(ys.count)
            let sxy = zip(xs, ys).reduce(0) { $0 + ($1.0 - mx) * ($1.1 - my) }, sxx = xs.reduce(0) { $0 + ($1 - mx) * ($1 - mx) }
            return sxx > 0 ? sxy / sxx : 0
        }
        let logs = points.map { log($0.distance) }
        return (slope(points.map { Double($0.step) }, logs), slope(points.map { log(Double($0.step)) }, logs))
    }

    /// Runs `replicas` replicas of `script` for `steps` steps with `options`, at most `jobs` at a
    /// time on the host's cores; the rows do not depend on `jobs`.
    /// - Throws: what `ScriptRunner.run` throws for any replica; `TrainError` for fewer than 2
    ///   replicas or no step.
    /// With `shard`, only that slice's replicas are reported (replica 0 runs in every slice: the
    /// distances are taken to it); `merge` joins the slices into the study of one run.
    public static func run(_ script: Script, _ options: RunOptions = RunOptions(), replicas: Int, steps: Int, vary: Vary = .order,
                           shard: Shard? = nil, jobs: Int = ProcessInfo.processInfo.activeProcessorCount) throws -> DriftStudy {
        guard replicas >= 2 else { throw TrainError("a drift study needs at least 2 replicas, got \(replicas)") }
        guard steps >= 1 else { throw TrainError("a drift study runs at least 1 step, got \(steps)") }
        let baseOrder = ScriptRunner.baseOrderSeed(script, options)
        let baseSeed = options.seed ?? script.seed ?? 0
        guard vary == .order || baseSeed + Int64(replicas - 1) <= Int64(UInt32.max) else {
            throw TrainError("with --vary \(vary.rawValue) replica r takes the global seed \(baseSeed) + r, above 4294967295 for the last of \(replicas) replicas; give a smaller --seed")
        }
        let orderSeeds = (0..<replicas).map { vary == .seed ? baseOrder : baseOrder + UInt64($0) }
        let seeds = (0..<replicas).map { vary == .order ? baseSeed : baseSeed + Int64($0) }
        let sink = try ScriptRunner.sinkSize(script, options)
        // The replicas this process runs: all, or replica 0 and the slice's.
        let running = shard.map { s in [0] + s.members(of: replicas).filter { $0 != 0 } } ?? Array(0..<replicas)
        var base = options
        base.steps = steps
        base.concurrentRuns = running.count  // in lockstep: every replica's parameters are alive at once

        // Replicas run in lockstep: at each step end (sink end in sink mode) every replica hands
        // over its parameters and waits until the distances to replica 0 are taken.
        let exchange = StepExchange(replicas: running.count, jobs: max(1, min(jobs, running.count)))
        // Each replica's thread owns its run: its script copy, options, store and device.
        final class Job: @unchecked Sendable {
            let script: Script, options: RunOptions, keepHidden: Bool
            var result: Result<RunSummary, Error>?
            init(_ script: Script, _ options: RunOptions, _ keepHidden: Bool) { (self.script, self.options, self.keepHidden) = (script, options, keepHidden) }
        }
        let jobs = running.map { r in
            var o = base
            o.orderSeed = .seed(orderSeeds[r])
            o.seed = seeds[r]
            return Job(script, o, sink != nil)
        }
        let threads = jobs.enumerated().map { r, job in
            Thread {
                exchange.begin(r)
                job.result = Result { try ScriptRunner.run(job.script, job.options, keepHidden: job.keepHidden, stepEnd: { exchange.arrive(r, $0) }) }
                exchange.finish(r)
            }
        }
        // The process's thread counts stay as they are: changing OpenBLAS's while another thread
        // of the process computes corrupts that computation (seen as a flaky localize test run
        // beside a drift study). Replicas share the kernels' helper threads one job at a time.
        for t in threads {
            t.stackSize = 16 << 20
            t.start()
        }
        // The exchange numbers the running replicas 0…; rows carry their replica numbers.
        let distances = exchange.collect().mapValues { row in Dictionary(uniqueKeysWithValues: row.map { (running[$0.key], $0.value) }) }
        let summaries = try jobs.map { try $0.result!.get() }
        var study = try assemble(summaries.map(\.losses), distances: distances, sink: sink != nil, vary: vary, orderSeeds: orderSeeds, seeds: seeds,
                                 replicaNumbers: running)
        study.finalMetrics = summaries.map { s in Dictionary(s.evaluations.last?.metrics.map { ($0.name, $0.value) } ?? [], uniquingKeysWith: { a, _ in a }) }
        if let shard {
            let members = shard.members(of: replicas)
            study.keepOnly(shard)
            study.finalMetrics = zip(running, study.finalMetrics).filter { members.contains($0.0) }.map(\.1)
        }
        return study
    }

    /// A study of replicas run elsewhere (a Python script's, `npusim drift train.py`): every
    /// replica's loss records in order (hidden ones too in sink mode) and, by step (from 1) and
    /// replica, the parameter distances to replica 0 where the host read the parameters.
    /// - Throws: `TrainError` when the replicas ran different numbers of steps.
    /// `replicaNumbers` numbers the runs of `losses` (by default 0, 1, …; the first is replica 0).
    public static func assemble(_ losses: [[LossRecord]], distances: [Int: [Int: (l2: Double, ulp: UInt32)]], sink: Bool, vary: Vary,
                                orderSeeds: [UInt64], seeds: [Int64], replicaNumbers: [Int]? = nil) throws -> DriftStudy {
        let numbers = replicaNumbers ?? Array(losses.indices)
        var rows: [Row] = []
        let count = losses[0].count
        guard losses.allSatisfy({ $0.count == count }) else { throw TrainError("the replicas ran different numbers of steps") }
        for k in 0..<count {
            let base = losses[0][k].loss
            for (j, s) in losses.enumerated() {
                let r = numbers[j], l = s[k], d = Double(l.loss) - Double(base)
                let far = distances[k + 1]?[r]
                rows.append(Row(step: k + 1, replica: r, loss: l.loss, absDiff: abs(d), relDiff: base == 0 ? (d == 0 ? 0 : .infinity) : abs(d) / abs(Double(base)),
                                paramL2: far?.l2, maxULP: far?.ulp, visible: !sink || l.visible))
            }
        }
        return DriftStudy(replicas: orderSeeds.count, vary: vary, orderSeeds: orderSeeds, seeds: seeds, rows: rows)
    }

    /// The L2 distance and the largest ulp distance between two parameter sets (flattened alike).
    public static func distance(_ a: [[Float]], _ b: [[Float]]) -> (l2: Double, ulp: UInt32) { StepExchange.distance(a, b) }

    /// `drift.csv`: step,replica,loss,abs_diff,rel_diff,param_l2,max_ulp (empty inside a sink),
    /// and in sink mode a column `visible`.
    public func csv() -> String {
        let sink = rows.contains { !$0.visible }
        var out = "step,replica,loss,abs_diff,rel_diff,param_l2,max_ulp" + (sink ? ",visible\n" : "\n")
        for r in rows {
            out += "\(r.step),\(r.replica),\(Double(r.loss)),\(r.absDiff),\(r.relDiff),\(r.paramL2.map { "\($0)" } ?? ""),\(r.maxULP.map(String.init) ?? "")"
            out += sink ? ",\(r.visible)\n" : "\n"
        }
        return out
    }
}

/// The per-step rendezvous of a drift study's replicas: each replica hands over a copy of its
/// parameters at a step end and waits; when all have arrived, the distances to replica 0 are
/// taken and every replica goes on. At most `jobs` replicas compute at a time.
final class StepExchange: @unchecked Sendable {
    let replicas: Int
    let jobs: Int
    private let slots: DispatchSemaphore
    private let lock = NSLock()
    private let arrived = DispatchSemaphore(value: 0)
    private var proceed: [DispatchSemaphore]
    private var snapshots: [[[Float]]?]
    private var step = 0
    private var finished = 0
    /// Step → replica → (L2 distance, max ulp distance) to replica 0.
    private var distances: [Int: [Int: (l2: Double, ulp: UInt32)]] = [:]

    init(replicas: Int, jobs: Int) {
        self.replicas = replicas
        self.jobs = jobs
        slots = DispatchSemaphore(value: jobs)
        proceed = (0..<replicas).map { _ in DispatchSemaphore(value: 0) }
        snapshots = Array(repeating: nil, count: replicas)
    }

    func begin(_ r: Int) { slots.wait() }

    /// Replica r ended a step: hand over its parameters, give up its core, wait for the others.
    func arrive(_ r: Int, _ end: StepEnd) {
        let copy = end.parameters.map { name in (try? end.store[name]?.toArray(of: Float.self)) ?? [] }
        lock.withLock {
            snapshots[r] = copy
            step = end.step
        }
        slots.signal()
        arrived.signal()
        proceed[r].wait()
        slots.wait()
    }

    func finish(_ r: Int) {
        slots.signal()
        lock.withLock { finished += 1 }
        arrived.signal()
    }

    /// Runs on the caller's thread until every replica finished: the distances of every step.
    func collect() -> [Int: [Int: (l2: Double, ulp: UInt32)]] {
        while true {
            // Every replica still running signals once per round: it arrived at a step end, or
            // it finished (or failed).
            var waiting = replicas - lock.withLock { finished }
            while waiting > 0 {
                arrived.wait()
                waiting -= 1
            }
            let (done, taken, at) = lock.withLock { () -> (Int, [[[Float]]?], Int) in
                defer { snapshots = Array(repeating: nil, count: replicas) }
                return (finished, snapshots, step)
            }
            if taken.allSatisfy({ $0 != nil }), let zero = taken[0] {
                var row: [Int: (l2: Double, ulp: UInt32)] = [:]
                for (r, s) in taken.enumerated() { row[r] = Self.distance(s!, zero) }
                distances[at] = row
            }
            for (r, s) in taken.enumerated() where s != nil { proceed[r].signal() }
            if done == replicas { return distances }
        }
    }

    /// The L2 distance and the largest ulp distance between two parameter sets.
    static func distance(_ a: [[Float]], _ b: [[Float]]) -> (l2: Double, ulp: UInt32) {
        var sum = 0.0, ulp: UInt32 = 0
        for (x, y) in zip(a, b) {
            for (p, q) in zip(x, y) {
                let d = Double(p) - Double(q)
                sum += d * d
                ulp = max(ulp, ulpDistance(p, q))
            }
        }
        return (sum.squareRoot(), ulp)
    }
}

/// How many representable float32 values lie between a and b (0: the same value; NaNs are as far
/// as can be).
public func ulpDistance(_ a: Float, _ b: Float) -> UInt32 {
    guard !a.isNaN, !b.isNaN else { return a.bitPattern == b.bitPattern ? 0 : .max }
    func ordered(_ x: Float) -> Int64 {
        let bits = Int64(x.bitPattern)
        return x.sign == .minus ? -(bits & 0x7FFF_FFFF) : bits
    }
    let d = abs(ordered(a) - ordered(b))
    return d > Int64(UInt32.max) ? .max : UInt32(d)
}
