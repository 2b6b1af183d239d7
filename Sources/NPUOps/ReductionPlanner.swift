import NPUDevice
import NPUKernels
import NPURandom

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
    /// Elements reduced into each output.
    public var extent: Int
    public var policy: Determinism
    /// Contiguous ranges of the reduced extent, one per AI core.
    public var blocks: [Range<Int>]
    /// Block indices in the order their partials were added (identity under `on`).
    public var order: [Int32]
}

/// Plans every reduction the hardware splits across AI cores, in one place: the reduced extent is
/// split into blocks (one per AI core taking part), each block is reduced in a fixed vectorised
/// order, and the block partials are added into the output one at a time in a block order given
/// by the policy. A class: it owns the order source's stream.
public final class ReductionPlanner {
    /// The global policy.
    public var policy: Determinism
    /// Per-op-type overrides of the policy (`["ReduceSum": .on]`).
    public var overrides: [String: Determinism] = [:]
    public let source: OrderSource
    /// AI cores and the fewest elements per block, from the device profile.
    public let cores: Int
    public let blockMin: Int
    /// Forces every plan to this many blocks (tests and studies of blocking).
    public var forcedBlocks: Int?
    /// When true, every plan is appended to `plans` (for the profiler).
    public var recording = false
    public private(set) var plans: [ReductionPlan] = []
    private var stream: PhiloxStream
    /// Block partials and strict's column copies, kept between launches (no allocation per launch).
    private var scratch: [(pointer: UnsafeMutablePointer<Float>, capacity: Int)] = []

    public init(spec: DeviceSpec, policy: Determinism = .off, source: OrderSource = .entropy) {
        self.policy = policy
        self.source = source
        cores = spec.aiCores
        blockMin = spec.reductionBlockMin
        switch source {
        case .entropy:
            var g = SystemRandomNumberGenerator()
            stream = PhiloxStream(seed: g.next(), seed2: g.next())
        case .replay(let seed):
            // A key of its own so that the order stream never coincides with an RNG stream.
            stream = PhiloxStream(seed: seed, seed2: 0x4E50_5553_494D_4F52)
        }
    }

    deinit { scratch.forEach { $0.pointer.deallocate() } }

    /// Scratch buffer `slot` (0: block partials, 1: strict's columns) for at least `count` floats.
    private func scratchBuffer(_ slot: Int, _ count: Int) -> UnsafeMutablePointer<Float> {
        while scratch.count <= slot { scratch.append((.allocate(capacity: 1), 1)) }
        if scratch[slot].capacity < count {
            scratch[slot].pointer.deallocate()
            scratch[slot] = (.allocate(capacity: count), count)
        }
        return scratch[slot].pointer
    }

    /// The policy for an op type.
    public func policy(for op: String) -> Determinism { overrides[op] ?? policy }

    /// Number of blocks for a reduced extent (the forced count, if set).
    public func blockCount(extent: Int) -> Int {
        if let forcedBlocks { return max(1, min(forcedBlocks, max(extent, 1))) }
        return naturalBlockCount(extent: extent)
    }

    /// Number of blocks the profile gives a reduced extent, ignoring any forced count: whether an
    /// op splits at all depends on this, never on a test's forcing.
    public func naturalBlockCount(extent: Int) -> Int {
        max(1, min(cores, (extent + blockMin - 1) / blockMin))
    }

    /// Plans one launch of a reduction of `extent` elements per output.
    public func plan(op: String, site: String, extent: Int) -> ReductionPlan {
        let p = policy(for: op)
        let count = blockCount(extent: extent)
        let blocks = (0..<count).map { b in (b * extent / count)..<((b + 1) * extent / count) }
        var order = (0..<count).map(Int32.init)
        if p == .off && count > 1 {
            for i in stride(from: count - 1, to: 0, by: -1) {  // Fisher–Yates from the order source
                order.swapAt(i, Int(uniformBelow(UInt32(i + 1))))
            }
        }
        let plan = ReductionPlan(op: op, site: site, extent: extent, policy: p, blocks: blocks, order: order)
        if recording { plans.append(plan) }
        return plan
    }

    /// Forgets recorded plans.
    public func clearPlans() { plans.removeAll(keepingCapacity: true) }

    private func uniformBelow(_ n: UInt32) -> UInt32 {
        let limit = UInt32.max - UInt32.max % n
        while true {
            let x = stream.next()
            if x < limit { return x % n }
        }
    }

    // MARK: Planned reductions

    /// out[o·inner + i] = Σ_r x[(o·extent + r)·inner + i]: a reduction of the middle axis of an
    /// [outer, extent, inner] float32 array, planned for `op`/`site`.
    public func sum(op: String, site: String, _ x: UnsafePointer<Float>, outer: Int, extent: Int, inner: Int,
                    into out: UnsafeMutablePointer<Float>) {
        let plan = plan(op: op, site: site, extent: extent)
        let n = outer * inner
        if plan.policy == .strict {
            exactSum(x, outer: outer, extent: extent, inner: inner, into: out)
            return
        }
        let count = plan.blocks.count
        let partials = scratchBuffer(0, count * n)
        for (b, block) in plan.blocks.enumerated() {
            for o in 0..<outer {
                npu_sum_rows_f32(partials + b * n + o * inner, x + (o * extent + block.lowerBound) * inner, block.count, inner)
            }
        }
        plan.order.withUnsafeBufferPointer { npu_combine_partials_f32(out, partials, $0.baseAddress!, count, n) }
    }

    /// Planned accumulation of per-block partial results computed by the caller (split-K GEMM,
    /// Conv2D filter gradient, scatter-add): `partial(block, buffer)` fills `count` floats for the
    /// elements of `block`; `exact` computes the `strict` result.
    public func accumulate(op: String, site: String, extent: Int, count: Int, into out: UnsafeMutablePointer<Float>,
                           partial: (Range<Int>, UnsafeMutablePointer<Float>) -> Void,
                           exact: (UnsafeMutablePointer<Float>) -> Void) {
        let plan = plan(op: op, site: site, extent: extent)
        if plan.policy == .strict {
            exact(out)
            return
        }
        let blocks = plan.blocks.count
        let partials = scratchBuffer(0, blocks * count)
        for (b, block) in plan.blocks.enumerated() { partial(block, partials + b * count) }
        plan.order.withUnsafeBufferPointer { npu_combine_partials_f32(out, partials, $0.baseAddress!, blocks, count) }
    }

    /// The exact, once-rounded sums of the `strict` policy.
    func exactSum(_ x: UnsafePointer<Float>, outer: Int, extent: Int, inner: Int, into out: UnsafeMutablePointer<Float>) {
        var acc = npu_exact()
        if inner == 1 {
            for o in 0..<outer {
                npu_exact_init(&acc)
                npu_exact_add_f32(&acc, x + o * extent, extent)
                out[o] = npu_exact_round_f32(&acc)
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
