import NPUDevice
import NPUKernels
import NPURandom
import NPUTensor

/// How reductions split across AI cores combine their block partials (Docs/Determinism.md).
public enum Determinism: String, CaseIterable, Hashable, Sendable {
    /// Like the hardware: every launch adds the partials in a fresh order from the order source.
    case off
    /// The fixed block order (the hardware's deterministic mode).
    case on
    /// Order-independent: an exact accumulator rounded once; the result depends neither on the
    /// block order nor on the number of blocks.
    case strict
}

/// Where `off` draws its block orders from. Separate from every RNG seed.
public enum OrderSource: Hashable, Sendable, CustomStringConvertible {
    /// OS entropy: two runs differ, as on a card.
    case entropy
    /// A reproducible stream of orders: one "nondeterministic" run replayed bit for bit.
    case replay(UInt64)

    public var description: String {
        switch self {
        case .entropy: "entropy"
        case .replay(let s): "replay(\(s))"
        }
    }
}

/// One planned launch of a reduction: the blocking and the order the partials were added in —
/// the ground-truth summation tree.
public struct ReductionPlan: Hashable, Sendable {
    /// Op type and the reduction within it (`ReduceSum`/`sum`, `LayerNormGrad`/`dgamma`).
    public var op: String
    public var site: String
    /// The op instance's stable name in the program (`fc1/MatMul`), empty outside an executor.
    public var instance: String
    /// The step it ran in, and its index among the planned launches of its op instance in that step.
    public var step: Int
    public var launch: Int
    /// Elements reduced into each output.
    public var extent: Int
    public var policy: Determinism
    /// Contiguous ranges of the reduced extent, one per AI core.
    public var blocks: [Range<Int>]
    /// Output elements per tile (the unit one AI core adds atomically); every tile has its order.
    public var tileSize: Int
    /// Block indices in the order their partials were added, tile after tile: `order[t·blocks.count
    /// + j]` is the j-th block added into tile t (identity under `on`, one tile's worth when the
    /// output fits one tile or the order is fixed).
    public var order: [Int32]

    /// The order of tile `t`.
    public func order(tile t: Int) -> ArraySlice<Int32> {
        let b = blocks.count, tiles = order.count / max(b, 1)
        let i = min(t, tiles - 1)
        return order[(i * b)..<((i + 1) * b)]
    }

    /// What the profile records of this plan.
    public var record: PlanRecord {
        PlanRecord(site: site, policy: policy.rawValue, blockSizes: blocks.map(\.count), tileSize: tileSize, order: order)
    }
}

/// Plans every reduction the hardware splits across AI cores, in one place: the reduced extent is
/// split into blocks (one per AI core taking part), each block is reduced in a fixed vectorised
/// order, and the block partials are added into the output one at a time in a block order given
/// by the policy.
///
/// Under `off` the order of a launch is drawn with the counter-based Philox4x32-10 from a key made
/// of (order seed, card, step, the op instance's name, the site, the launch's index within the op,
/// the output tile): a pure function of where the launch stands in the program, never the next
/// draw of a shared stream (Docs/Determinism.md). Executors say which op runs with `enter(op:)`
/// and which step with `step`.
public final class ReductionPlanner {
    /// The global policy.
    public var policy: Determinism
    /// Per-op-type overrides of the policy (`["ReduceSum": .on]`).
    public var overrides: [String: Determinism] = [:]
    public let source: OrderSource
    /// AI cores, the fewest elements per block, and output elements per atomic tile, from the
    /// device profile.
    public let cores: Int
    public let blockMin: Int
    public let tileSize: Int
    /// Side of the cube's output tile, from the device profile.
    public let cubeTile: Int
    /// The card this planner's launches run on (part of every order key).
    public let card: Int
    /// The step being run (part of every order key); executors set it.
    public var step: Int = 0
    /// Forces every plan to this many blocks (tests and studies of blocking).
    public var forcedBlocks: Int?
    /// One op instance at one step whose launches draw their orders from another order seed, as
    /// under `off` whatever the policy: a planted divergence ("what if only this launch had added
    /// in another order?"), for `npusim localize` and its tests.
    public var perturbation: (instance: String, step: Int, seed: UInt64)?

    /// The planted seed of the op instance entered, at this step, if it is the one perturbed.
    private var plantedSeed: UInt64? { perturbation.flatMap { $0.instance == instance && $0.step == step ? $0.seed : nil } }
    /// When true, every plan is appended to `plans` (for the profiler).
    public var recording = false
    public private(set) var plans: [ReductionPlan] = []
    /// While true (compile-time constant folding), a launch that would draw an order under `off`
    /// uses the fixed order and sets `refusedDraw`: folding never draws.
    package var folding = false
    package var refusedDraw = false
    /// The order seed: `replay`'s, or one drawn from the OS.
    private let seed: UInt64
    private var instance = ""
    private var instanceHash: UInt64 = 0xcbf2_9ce4_8422_2325
    private var launchInOp = 0
    /// Block partials and strict's column copies, kept between launches (no allocation per launch;
    /// large ones on huge pages, so a partial buffer's speed does not depend on where malloc put it).
    private let scratch = Workspace()

    public init(spec: DeviceSpec, policy: Determinism = .off, source: OrderSource = .entropy, card: Int = 0) {
        Parallel.takeHostThreads()  // one-thread OpenBLAS calls: bits that do not depend on the host's cores
        self.policy = policy
        self.source = source
        self.card = card
        self.spec = spec
        cores = spec.aiCores
        blockMin = spec.reductionBlockMin
        tileSize = max(1, spec.reductionTile)
        cubeTile = max(1, spec.cubeTile)
        switch source {
        case .entropy:
            var g = SystemRandomNumberGenerator()
            seed = g.next()
        case .replay(let s):
            seed = s
        }
    }

    /// Scratch buffer `slot` (0: block partials, 1: strict's columns) for at least `count` floats.
    private func scratchBuffer(_ slot: Int, _ count: Int) -> UnsafeMutablePointer<Float> { scratch.floats(count, slot: slot) }

    /// The policy for an op type.
    public func policy(for op: String) -> Determinism { overrides[op] ?? policy }

    /// Says which op instance the following launches belong to: its stable name in the program
    /// (`fc1/MatMul`, `Gradients/fc1/MatMul/MatMul`), the same in graph and PyNative mode.
    /// Launch indices count from 0 again.
    public func enter(op name: String) { enter(op: name, identity: Self.identity(of: name)) }

    /// `enter(op:)` with the name's identity computed once beforehand (executors that run the
    /// same ops every step).
    public func enter(op name: String, identity: UInt64) {
        instance = name
        instanceHash = identity
        launchInOp = 0
    }

    /// The hash of an op instance's name that keys its orders.
    public static func identity(of name: String) -> UInt64 { fnv1a(name, from: 0xcbf2_9ce4_8422_2325) }

    /// Number of blocks for a reduced extent (the forced count, if set).
    public func blockCount(extent: Int) -> Int {
        if let forcedBlocks { return max(1, min(forcedBlocks, max(extent, 1))) }
        return naturalBlockCount(extent: extent)
    }

    /// Number of blocks the profile gives a reduced extent, ignoring any forced count: whether an
    /// op splits at all depends on this, never on a test's forcing.
    public func naturalBlockCount(extent: Int) -> Int { spec.reductionBlocks(extent: extent) }
    /// The profile the figures above come from.
    public let spec: DeviceSpec

    /// Plans one launch of a reduction of `extent` elements into each of `outputs` outputs.
    public func plan(op: String, site: String, extent: Int, outputs: Int = 1) -> ReductionPlan {
        let count = blockCount(extent: extent)
        // A planted launch draws from its own seed, as under `off`, whatever the policy.
        let planted = count > 1 && !folding ? plantedSeed : nil
        let p = planted != nil ? .off : policy(for: op)
        let blocks = (0..<count).map { b in (b * extent / count)..<((b + 1) * extent / count) }
        let launch = launchInOp
        launchInOp += 1
        var order: [Int32]
        if p == .off && count > 1 && folding {
            refusedDraw = true
            order = (0..<count).map(Int32.init)
        } else if p == .off && count > 1 {
            let tiles = max(1, (outputs + tileSize - 1) / tileSize)
            order = [Int32](repeating: 0, count: tiles * count)
            let key = launchKey(site: site, launch: launch, seed: planted)
            order.withUnsafeMutableBufferPointer { o in
                // Tiles are drawn independently: threads share them.
                let base = o.baseAddress!
                Parallel.forEachChunk(tiles, minimum: max(1, 1024 / count), align: 64) { r in
                    npu_order_permutations_from(base + r.lowerBound * count, count, r.lowerBound, r.count, key, UInt64(truncatingIfNeeded: step))
                }
            }
        } else {
            order = (0..<count).map(Int32.init)
        }
        let plan = ReductionPlan(op: op, site: site, instance: instance, step: step, launch: launch, extent: extent, policy: p,
                                 blocks: blocks, tileSize: tileSize, order: order)
        if recording { plans.append(plan) }
        return plan
    }

    /// `work` with what the policy of `op` adds on the card (Docs/DeviceModel.md, "What determinism
    /// costs"): under `off` the blocks add into their outputs atomically, as they finish (no
    /// extra work); under `on` every split reduction writes its blocks' partial sums and adds them
    /// in a second, fixed-order pass (each partial written and read: 8 bytes per block and output);
    /// under `strict` the same pass carries exact accumulators, and every term is added exactly
    /// (`strictFlopsPerTerm` vector operations each).
    public func charged(_ work: Work, _ sites: [ReductionSite], op: String) -> Work {
        let p = policy(for: op)
        guard p != .off, !sites.isEmpty else { return work }
        var w = work
        var extraFlops = 0.0
        for s in sites {
            // A product split only for want of output tiles (SplitK.auto) mirrors the kernel's choice.
            let splits = s.autoOutput.map { o in ((o[0] + cubeTile - 1) / cubeTile) * ((o[1] + cubeTile - 1) / cubeTile) < cores } ?? true
            let blocks = splits ? naturalBlockCount(extent: s.extent) : 1
            guard blocks > 1 || p == .strict else { continue }
            if blocks > 1 { w.bytes += 8 * Double(blocks) * Double(s.outputs) * (p == .strict ? 2 : 1) }
            if p == .strict { extraFlops += Self.strictFlopsPerTerm * Double(s.extent) * Double(s.outputs) }
        }
        if extraFlops > 0 {
            // The exact accumulation runs on the vector units, next to whatever the op computes.
            let vector = spec.vectorPeak[.float32] ?? 1
            let peak = spec.peak(w.unit, w.precision) ?? vector
            w.flops += extraFlops * peak / vector
        }
        return w
    }

    /// Vector operations per term of an exact (error-free) accumulation: a TwoSum (6) plus
    /// carrying the error into the accumulator. A modelling choice, not a measured figure.
    public static let strictFlopsPerTerm = 8.0

    /// Forgets recorded plans.
    public func clearPlans() { plans.removeAll(keepingCapacity: true) }

    /// The orders in which a collective adds `contributions` (one per card, or per server) for each
    /// of `chunks` chunks: under `off` one permutation of 0..<contributions per chunk, chunk after
    /// chunk, drawn like every launch's orders (keyed by the order seed, the op instance entered,
    /// `site`, the launch index within the op and the step: the arrival order, replayable); nil
    /// under `on` and `strict`, where the algorithm's fixed order or the exact sum applies.
    public func collectiveOrders(op: String, site: String, contributions: Int, chunks: Int) -> [Int32]? {
        let planted = plantedSeed
        guard policy(for: op) == .off || planted != nil, contributions > 1, chunks > 0 else { return nil }
        let launch = launchInOp
        launchInOp += 1
        var order = [Int32](repeating: 0, count: chunks * contributions)
        let key = launchKey(site: site, launch: launch, seed: planted)
        order.withUnsafeMutableBufferPointer { o in
            npu_order_permutations(o.baseAddress!, contributions, chunks, key, UInt64(truncatingIfNeeded: step))
        }
        if recording {
            plans.append(ReductionPlan(op: op, site: site, instance: instance, step: step, launch: launch, extent: contributions, policy: .off,
                                       blocks: (0..<contributions).map { $0..<($0 + 1) }, tileSize: 1, order: order))
        }
        return order
    }

    /// The Philox key of one launch: Philox(counter: (hash of instance and site, card, launch index),
    /// key: the order seed).
    private func launchKey(site: String, launch: Int, seed: UInt64? = nil) -> UInt64 {
        npu_order_launch_key(seed ?? self.seed, fnv1a(site, from: fnv1a("|", from: instanceHash)), UInt32(truncatingIfNeeded: card),
                             UInt32(truncatingIfNeeded: launch))
    }

    /// A uniformly drawn permutation of 0..<n for one output tile.

    // MARK: Planned reductions

    /// out[o·inner + i] = Σ_r x[(o·extent + r)·inner + i]: a reduction of the middle axis of an
    /// [outer, extent, inner] float32 array, planned for `op`/`site`.
    public func sum(op: String, site: String, _ x: UnsafePointer<Float>, outer: Int, extent: Int, inner: Int,
                    into out: UnsafeMutablePointer<Float>) {
        let n = outer * inner
        let plan = plan(op: op, site: site, extent: extent, outputs: n)
        if plan.policy == .strict {
            exactSum(x, outer: outer, extent: extent, inner: inner, into: out)
            return
        }
        let count = plan.blocks.count
        let partials = scratchBuffer(0, count * n)
        // Blocks' partials are independent: threads share large sums, a block each.
        plan.blocks.withUnsafeBufferPointer { blocks in
            Parallel.forEach(count, threads: outer * extent * inner >= Self.parallelSum ? Parallel.threads : 1) { b in
                for o in 0..<outer {
                    npu_sum_rows_f32(partials + b * n + o * inner, x + (o * extent + blocks[b].lowerBound) * inner, blocks[b].count, inner)
                }
            }
        }
        combine(plan, partials, into: out, count: n)
    }

    /// Planned accumulation of per-block partial results computed by the caller (Conv2D filter
    /// gradient, scatter-add): `partial(block, buffer)` fills `count` floats for the elements of
    /// `block`, blocks on up to `threads` threads at once; `exact` computes the `strict` result.
    public func accumulate(op: String, site: String, extent: Int, count: Int, into out: UnsafeMutablePointer<Float>, threads: Int = 1,
                           partial: (Range<Int>, UnsafeMutablePointer<Float>) -> Void,
                           exact: (UnsafeMutablePointer<Float>) -> Void) {
        guard let (plan, partials) = planPartials(op: op, site: site, extent: extent, count: count, into: out, exact: exact) else { return }
        // Each block writes its own partial, so blocks may run on several threads (`partial` must allow that).
        plan.blocks.withUnsafeBufferPointer { blocks in
            Parallel.forEach(blocks.count, threads: threads) { b in partial(blocks[b], partials + b * count) }
        }
        combine(plan, partials, into: out, count: count)
    }

    /// Plans one accumulation of `count` outputs and returns its plan and a partial buffer of
    /// blocks × `count` floats; under `strict`, runs `exact` instead and returns nil.
    private func planPartials(op: String, site: String, extent: Int, count: Int, into out: UnsafeMutablePointer<Float>,
                              exact: (UnsafeMutablePointer<Float>) -> Void) -> (ReductionPlan, UnsafeMutablePointer<Float>)? {
        let plan = plan(op: op, site: site, extent: extent, outputs: count)
        if plan.policy == .strict {
            exact(out)
            return nil
        }
        return (plan, scratchBuffer(0, plan.blocks.count * count))
    }

    /// `accumulate` for an output of `rows` rows of `rowLength` (a split-K product with shallow
    /// blocks), a band of rows at a time: `partial(block, rows, buffer)` fills those rows of the
    /// block's partial (`rows.count × rowLength` floats), and each band is combined by the thread
    /// that computed it, while its partials of every block are in that core's cache. Bands hold
    /// about `bandBytes` of partials and depend on the shape only, never on the thread count.
    /// With `threads` > 1 bands run concurrently (`partial` must allow that).
    public func accumulate(op: String, site: String, extent: Int, rows: Int, rowLength: Int, into out: UnsafeMutablePointer<Float>,
                           threads: Int,
                           partial: (Range<Int>, Range<Int>, UnsafeMutablePointer<Float>) -> Void,
                           exact: (UnsafeMutablePointer<Float>) -> Void) {
        let count = rows * rowLength
        guard let (plan, partials) = planPartials(op: op, site: site, extent: extent, count: count, into: out, exact: exact) else { return }
        let blocks = plan.blocks.count
        let bands = max(1, (blocks * count * 4 + Self.bandBytes - 1) / Self.bandBytes), bandRows = (rows + bands - 1) / bands
        plan.order.withUnsafeBufferPointer { o in
            plan.blocks.withUnsafeBufferPointer { ranges in
                Parallel.forEach((rows + bandRows - 1) / bandRows, threads: threads) { band in
                    let r = (band * bandRows)..<min(rows, (band + 1) * bandRows)
                    for b in 0..<blocks { partial(ranges[b], r, partials + b * count + r.lowerBound * rowLength) }
                    npu_combine_span_f32(out, partials, o.baseAddress!, o.count / blocks, blocks, count, plan.tileSize,
                                         r.lowerBound * rowLength, r.upperBound * rowLength)
                }
            }
        }
    }

    /// Bytes of partials (all blocks) per band of the banded `accumulate`: a core's L2 holds one.
    static let bandBytes = 512 << 10

    /// Planned accumulation by a kernel that computes every block's partial and adds them in the
    /// plan's orders itself (the fused split-K product): `fused(plan, workspace)` with
    /// `workspace(blocks)` floats of scratch; `exact` computes the `strict` result.
    public func accumulateFused(op: String, site: String, extent: Int, count: Int, into out: UnsafeMutablePointer<Float>,
                                workspace: (Int) -> Int,
                                fused: (ReductionPlan, UnsafeMutablePointer<Float>) -> Void,
                                exact: (UnsafeMutablePointer<Float>) -> Void) {
        let plan = plan(op: op, site: site, extent: extent, outputs: count)
        if plan.policy == .strict {
            exact(out)
            return
        }
        fused(plan, scratchBuffer(0, workspace(plan.blocks.count)))
    }

    /// out = 0 + partials[order[0]] + partials[order[1]] + ..., each tile in its own order; large
    /// combines are shared by threads, a chunk of whole tiles each (the order of every element's
    /// additions is the same).
    private func combine(_ plan: ReductionPlan, _ partials: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>, count: Int) {
        let blocks = plan.blocks.count
        plan.order.withUnsafeBufferPointer { o in
            Parallel.forEachChunk(count, minimum: Self.parallelCombine / blocks, align: plan.tileSize) { r in
                npu_combine_span_f32(out, partials, o.baseAddress!, o.count / blocks, blocks, count, plan.tileSize, r.lowerBound, r.upperBound)
            }
        }
    }

    /// Elements from which a planned or exact sum is shared by threads.
    static let parallelSum = 1 << 20

    /// Partials (blocks × outputs) from which a combine is shared by threads.
    static let parallelCombine = 1 << 16

    /// The exact, once-rounded sums of the `strict` policy.
    func exactSum(_ x: UnsafePointer<Float>, outer: Int, extent: Int, inner: Int, into out: UnsafeMutablePointer<Float>) {
        var acc = npu_exact()
        if inner == 1 {
            // An exact sum does not depend on how it is split: threads share a long one, each
            // with its own accumulator, merged after.
            let parts = extent >= Self.parallelSum ? Parallel.threads : 1
            var accumulators = [npu_exact](repeating: npu_exact(), count: parts)
            for o in 0..<outer {
                accumulators.withUnsafeMutableBufferPointer { a in
                    Parallel.forEach(parts, threads: parts) { t in
                        let lo = t * extent / parts, hi = (t + 1) * extent / parts
                        npu_exact_init(&a[t])
                        npu_exact_add_f32(&a[t], x + o * extent + lo, hi - lo)
                    }
                    for t in 1..<max(parts, 1) { npu_exact_merge(&a[0], &a[t]) }
                }
                out[o] = npu_exact_round_f32(&accumulators[0])
            }
            return
        }
        let column = scratchBuffer(1, max(extent, 1))
        for o in 0..<outer {
            for i in 0..<inner {
                for r in 0..<extent { column[r] = x[(o * extent + r) * inner + i] }
                npu_exact_init(&acc)
                npu_exact_add_f32(&acc, column, extent)
                out[o * inner + i] = npu_exact_round_f32(&acc)
            }
        }
    }
}

/// Σ a·b over `n` pairs with strides, exactly, rounded once (the `strict` GEMM-type reductions).
func exactDot(_ a: UnsafePointer<Float>, _ sa: Int, _ b: UnsafePointer<Float>, _ sb: Int, _ n: Int) -> Float {
    npu_exact_dot_f32(a, sa, b, sb, n)
}

/// 64-bit FNV-1a of `text`'s UTF-8 bytes, continuing from `hash`: stable across runs and
/// platforms (Swift's `hashValue` is seeded per process).
func fnv1a(_ text: String, from hash: UInt64) -> UInt64 {
    var text = text
    // Over the contiguous UTF-8 bytes: a third of the cost of iterating `utf8` (hashed per op launch).
    return text.withUTF8 { bytes in
        var h = hash
        for byte in bytes {
            h ^= UInt64(byte)
            h &*= 0x100_0000_01b3
        }
        return h
    }
}
