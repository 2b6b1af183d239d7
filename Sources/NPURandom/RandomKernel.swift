import NPUKernels
import NPUTensor

/// The MindSpore CPU random kernels NPUSim reproduces.
public enum RandomKernelKind: String, Sendable {
    /// mt19937 + generate_canonical<double> (`uniform`, `rand`).
    case uniformReal = "UniformReal"
    /// minstd_rand0 + normal_distribution<float> (`standard_normal`, `normal`, `randn`).
    case standardNormal = "StandardNormal"
    /// minstd_rand0 + generate_canonical<float> keep mask (`dropout`, `Dropout`).
    case dropout = "Dropout"
}

/// One instance of a random kernel. Its engine is seeded once from `GetSeed(seeds)` and continues
/// across launches: in graph mode a call site keeps one instance for every step; in PyNative
/// every call builds a new one. A class because identity is the point: two instances with equal
/// seeds are two streams.
public final class RandomKernel {
    public let kind: RandomKernelKind
    /// The seeds it was built with.
    public let seeds: SeedPair
    /// GetSeed(seeds): the engine's seed (random when `seeds` is (0, 0)).
    public let engineSeed: UInt64
    private var mt = npu_mt19937()
    private var minstd = npu_minstd()

    public init(_ kind: RandomKernelKind, seeds: SeedPair) {
        self.kind = kind
        self.seeds = seeds
        engineSeed = kernelSeed(seeds.seed, seeds.seed2).value
        switch kind {
        case .uniformReal: npu_mt19937_seed(&mt, UInt32(truncatingIfNeeded: engineSeed))
        case .standardNormal, .dropout: npu_minstd_seed(&minstd, engineSeed)
        }
    }

    /// The engine's state (what a checkpoint keeps so a resumed run continues the stream): the
    /// minstd word, or the 624 mt19937 words and the index.
    public var state: [UInt64] {
        switch kind {
        case .uniformReal:
            var mt = self.mt
            let words = withUnsafeBytes(of: &mt.mt) { Array($0.bindMemory(to: UInt32.self)) }
            return words.map(UInt64.init) + [UInt64(bitPattern: Int64(mt.index))]
        case .standardNormal, .dropout: return [minstd.x]
        }
    }

    /// Continues from a saved `state` (of a kernel of this kind).
    /// - Returns: false when the state is not one of this kind's (its length).
    @discardableResult
    public func restore(_ state: [UInt64]) -> Bool {
        switch kind {
        case .uniformReal:
            guard state.count == 625, (0...624).contains(Int64(bitPattern: state[624])) else { return false }
            withUnsafeMutableBytes(of: &mt.mt) { raw in
                for (k, w) in state.prefix(624).enumerated() { raw.storeBytes(of: UInt32(truncatingIfNeeded: w), toByteOffset: 4 * k, as: UInt32.self) }
            }
            mt.index = Int32(Int64(bitPattern: state[624]))
        case .standardNormal, .dropout:
            guard state.count == 1, state[0] > 0, state[0] < 2_147_483_647 else { return false }
            minstd.x = state[0]
        }
        return true
    }

    /// One launch of UniformReal: float32 values in [0, 1].
    public func uniform(_ shape: Shape) -> Tensor {
        precondition(kind == .uniformReal, "uniform() on a \(kind.rawValue) kernel")
        var t = Tensor(zeros: shape, dtype: .float32)
        t.withUnsafeMutableBytes { npu_uniform_real_f32($0.baseAddress!.assumingMemoryBound(to: Float.self), &mt, shape.count) }
        return t
    }

    /// One launch of StandardNormal: float32 N(0, 1) values (a fresh distribution per launch).
    public func standardNormal(_ shape: Shape) -> Tensor {
        precondition(kind == .standardNormal, "standardNormal() on a \(kind.rawValue) kernel")
        var t = Tensor(zeros: shape, dtype: .float32)
        t.withUnsafeMutableBytes { npu_standard_normal_f32($0.baseAddress!.assumingMemoryBound(to: Float.self), &minstd, shape.count) }
        return t
    }

    /// One launch of Dropout on a float32 tensor: the output `x·mask·(1/keepProb)` and the mask
    /// (1 kept, 0 dropped), which the backward reuses.
    public func dropout(_ x: Tensor, keepProb: Float) throws(RandomError) -> (output: Tensor, mask: Tensor) {
        precondition(kind == .dropout, "dropout() on a \(kind.rawValue) kernel")
        guard x.dtype == .float32 else {
            throw .invalidArgument(call: "Dropout", message: "input must be float32, got \(x.dtype)")
        }
        guard keepProb > 0, keepProb <= 1 else {
            throw .invalidArgument(call: "Dropout", message: "keep_prob must be in (0, 1], got \(keepProb)")
        }
        var mask = Tensor(zeros: x.shape, dtype: .float32)
        mask.withUnsafeMutableBytes { npu_dropout_mask_f32($0.baseAddress!.assumingMemoryBound(to: Float.self), &minstd, keepProb, x.count) }
        return (scaledByMask(x, mask, keepProb), mask)
    }
}

/// t·mask·(1/keepProb) in float32, in that order (Dropout's forward and backward alike).
func scaledByMask(_ t: Tensor, _ mask: Tensor, _ keepProb: Float) -> Tensor {
    let scale = 1.0 as Float / keepProb
    var out = t.contiguous()
    mask.withUnsafeBytes { m in
        out.withUnsafeMutableBytes { o in
            let mp = m.bindMemory(to: Float.self), op = o.bindMemory(to: Float.self)
            for i in 0..<op.count { op[i] = op[i] * mp[i] * scale }
        }
    }
    return out
}

/// Dropout's backward (MindSpore's DropoutGrad): `dx = dy·mask·(1/keepProb)` in float32, with the
/// mask the forward drew, so no random numbers are drawn again.
public func dropoutBackward(_ dy: Tensor, mask: Tensor, keepProb: Float) throws(RandomError) -> Tensor {
    guard dy.dtype == .float32, mask.dtype == .float32, dy.shape == mask.shape else {
        throw .invalidArgument(call: "DropoutGrad", message: "dy \(dy.dtype) \(dy.shape) and mask \(mask.dtype) \(mask.shape) must be float32 of one shape")
    }
    return scaledByMask(dy, mask, keepProb)
}

/// What one random call produced: the values and the seeds behind them.
public struct RandomResult {
    public var tensor: Tensor
    public var seeds: SeedPair
    /// GetSeed(seeds), the engine seed.
    public var engineSeed: UInt64
}

/// A MindSpore functional random op with its arguments (`ops.uniform`, `ops.normal`, ...).
/// PyNative runs it once on a new kernel per call; a graph call site keeps one kernel.
public enum RandomOp: Hashable, Sendable {
    /// `ops.uniform(shape, minval, maxval)`: UniformReal, then `u·(maxval−minval)+minval` in float32.
    case uniform(Shape, minval: Float, maxval: Float)
    /// `ops.rand(*shape)`: UniformReal values in [0, 1).
    case rand(Shape)
    /// `ops.standard_normal(shape)`.
    case standardNormal(Shape)
    /// `ops.randn(*shape)`.
    case randn(Shape)
    /// `ops.normal(shape, mean, stddev)`: StandardNormal, then `z·stddev+mean` in float32.
    case normal(Shape, mean: Float, stddev: Float)
    /// `ops.dropout(x, p)` on a float32 input of this shape; keep probability `Float(1 − p)`.
    case dropout(Shape, p: Double)

    /// The kernel name MindSpore counts op seeds under.
    public var kernelName: String {
        switch self {
        case .uniform: "uniform"
        case .rand: "rand"
        case .standardNormal: "standard_normal"
        case .randn: "randn"
        case .normal: "normal"
        case .dropout: "dropout"
        }
    }

    public var kind: RandomKernelKind {
        switch self {
        case .uniform, .rand: .uniformReal
        case .standardNormal, .randn, .normal: .standardNormal
        case .dropout: .dropout
        }
    }

    public var shape: Shape {
        switch self {
        case let .uniform(s, _, _), let .rand(s), let .standardNormal(s), let .randn(s), let .normal(s, _, _), let .dropout(s, _): s
        }
    }

    /// Checks the arguments as MindSpore does.
    public func validate() throws(RandomError) {
        guard shape.count <= 1 << 31 else {
            throw .invalidArgument(call: kernelName, message: "shape \(shape) has \(shape.count) elements; at most 2^31 are supported")
        }
        switch self {
        case let .uniform(_, minval, maxval) where !(minval <= maxval):
            throw .invalidArgument(call: kernelName, message: "minval \(minval) must not exceed maxval \(maxval)")
        case let .normal(_, _, stddev) where !(stddev >= 0):
            throw .invalidArgument(call: kernelName, message: "stddev must be non-negative, got \(stddev)")
        case let .dropout(_, p) where !(p >= 0 && p < 1):
            throw .invalidArgument(call: kernelName, message: "p must be in [0, 1), got \(p)")
        default: break
        }
    }

    /// A new kernel for this op with seeds taken from `state` (advancing its op-seed counter).
    public func makeKernel(seed: Int64?, state: SeedState) throws(RandomError) -> RandomKernel {
        try validate()
        return RandomKernel(kind, seeds: try state.opSeeds(kernel: kernelName, opSeed: seed))
    }

    /// One launch on `kernel`. Dropout applies to `input` (a tensor of ones of the op's shape if nil).
    public func launch(on kernel: RandomKernel, input: Tensor? = nil) throws(RandomError) -> Tensor {
        switch self {
        case let .uniform(shape, minval, maxval):
            let range = maxval - minval
            return Self.map(kernel.uniform(shape)) { $0 * range + minval }
        case let .rand(shape): return kernel.uniform(shape)
        case let .standardNormal(shape), let .randn(shape): return kernel.standardNormal(shape)
        case let .normal(shape, mean, stddev): return Self.map(kernel.standardNormal(shape)) { $0 * stddev + mean }
        case let .dropout(shape, p):
            let x = input ?? (try! Tensor(shape: shape, values: [Float](repeating: 1, count: shape.count)))
            return try kernel.dropout(x, keepProb: Float(1 - p)).output
        }
    }

    /// PyNative: takes seeds from `state`, builds a kernel and launches it once.
    public func run(seed: Int64? = nil, state: SeedState, input: Tensor? = nil) throws(RandomError) -> RandomResult {
        let kernel = try makeKernel(seed: seed, state: state)
        return RandomResult(tensor: try launch(on: kernel, input: input), seeds: kernel.seeds, engineSeed: kernel.engineSeed)
    }

    /// Elementwise float32 map (each MindSpore op is its own float32 kernel: no fusion).
    static func map(_ t: Tensor, _ f: (Float) -> Float) -> Tensor {
        var out = t
        out.withUnsafeMutableBytes { raw in
            let p = raw.bindMemory(to: Float.self)
            for i in 0..<p.count { p[i] = f(p[i]) }
        }
        return out
    }
}

/// Graph mode: random call sites take their seeds once, when the graph is built, and each keeps
/// its kernel, so every step continues the same streams. `set_seed` after the build does not
/// touch them; a new graph built after `set_seed` starts afresh.
public final class RandomGraph {
    /// The call sites in build order.
    public private(set) var sites: [(op: RandomOp, kernel: RandomKernel)] = []
    /// Steps run so far.
    public private(set) var steps = 0

    public init() {}

    /// Adds a call site, taking its seeds from `state` now. Returns its index.
    @discardableResult
    public func add(_ op: RandomOp, seed: Int64? = nil, state: SeedState) throws(RandomError) -> Int {
        sites.append((op, try op.makeKernel(seed: seed, state: state)))
        return sites.count - 1
    }

    /// Runs one step: every call site launches once, in build order.
    public func step() throws(RandomError) -> [Tensor] {
        steps += 1
        var outputs: [Tensor] = []
        for site in sites { outputs.append(try site.op.launch(on: site.kernel)) }
        return outputs
    }
}
