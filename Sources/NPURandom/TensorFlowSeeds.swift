import Foundation
import NPUKernels
import NPUTensor

// TensorFlow's seed rules, selectable as `seed_semantics: tensorflow`. They reproduce TF's
// behaviour (which calls repeat and which differ, across calls, graphs, sessions and reruns), not
// its bits: values come from a Philox stream keyed by the seed pair.

/// A TensorFlow random op (`tf.random.uniform`, `tf.random.normal`).
public enum TFRandomOp: Hashable, Sendable {
    case uniform(Shape)
    case normal(Shape)

    var shape: Shape {
        switch self {
        case .uniform(let s), .normal(let s): s
        }
    }
}

/// One TF random kernel: a Philox stream keyed by (seed, seed2), continued across runs.
public final class TFKernel {
    public let seeds: (seed: Int64, seed2: Int64)?
    private var stream: PhiloxStream

    /// A kernel for a seed pair; nil seeds (neither graph nor op seed) take OS entropy.
    public init(seeds: (Int64, Int64)?) {
        self.seeds = seeds
        if let (s, s2) = seeds {
            stream = PhiloxStream(seed: UInt64(bitPattern: s), seed2: UInt64(bitPattern: s2))
        } else {
            var g = SystemRandomNumberGenerator()
            stream = PhiloxStream(seed: g.next(), seed2: g.next())
        }
    }

    func uniformFloat() -> Float { Float(stream.next() >> 8) * 0x1p-24 }

    /// The next output of `op`.
    public func run(_ op: TFRandomOp) -> Tensor {
        let n = op.shape.count
        var values = [Float]()
        values.reserveCapacity(n)
        switch op {
        case .uniform:
            for _ in 0..<n { values.append(uniformFloat()) }
        case .normal:
            while values.count < n {  // Box–Muller in float
                let u1 = max(uniformFloat(), 0x1p-24), u2 = uniformFloat()
                let r = (-2 * logf(u1)).squareRoot(), theta = 2 * Float.pi * u2
                values.append(r * cosf(theta))
                if values.count < n { values.append(r * sinf(theta)) }
            }
        }
        return try! Tensor(shape: op.shape, values: values)
    }
}

/// `random_seed.get_seed(op_seed)`: the pair an op gets from the graph-level and op seeds.
/// `nextOpSeed` supplies the graph's (or eager context's) op counter when only the graph seed is set.
func tfSeeds(graphSeed: Int64?, opSeed: Int64?, nextOpSeed: () -> Int64) -> (Int64, Int64)? {
    var seeds: (Int64, Int64)?
    if let g = graphSeed {
        seeds = (g, opSeed ?? nextOpSeed())
    } else if let o = opSeed {
        seeds = (TFSeedState.defaultGraphSeed, o)
    }
    if let (a, b) = seeds, a == 0 && b == 0 { seeds = (0, 2_147_483_647) }  // (0, 0) would mean "random"
    return seeds
}

/// TensorFlow's eager seed state (`tf.random.set_seed`): the global seed, the eager op counter
/// and the kernel cache (the same kernel serves every call with the same op and seeds).
public final class TFSeedState {
    /// TF's DEFAULT_GRAPH_SEED, used with an op seed when no graph-level seed is set.
    public static let defaultGraphSeed: Int64 = 87_654_321
    public private(set) var globalSeed: Int64?
    private var opCounter: Int64 = 0
    private struct KernelKey: Hashable {
        let op: TFRandomOp
        let seed: Int64
        let seed2: Int64
    }
    private var kernels: [KernelKey: TFKernel] = [:]

    public init() {}

    /// `tf.random.set_seed(seed)`: sets the global seed and resets the op counter and every
    /// cached kernel.
    public func setSeed(_ seed: Int64) throws(RandomError) {
        guard seed >= 0 else { throw .invalidSeed(call: "tf.random.set_seed", value: seed, valid: "a seed is a non-negative integer") }
        globalSeed = seed
        opCounter = 0
        kernels.removeAll()
    }

    /// An eager call of `op`.
    public func run(_ op: TFRandomOp, seed: Int64? = nil) -> Tensor { runWithSeeds(op, seed: seed).tensor }

    /// An eager call of `op`, with the seed pair it used (nil: random).
    public func runWithSeeds(_ op: TFRandomOp, seed: Int64? = nil) -> (tensor: Tensor, seeds: (Int64, Int64)?) {
        guard let (s, s2) = tfSeeds(graphSeed: globalSeed, opSeed: seed, nextOpSeed: { opCounter += 1; return opCounter }) else {
            return (TFKernel(seeds: nil).run(op), nil)
        }
        let key = KernelKey(op: op, seed: s, seed2: s2)
        let kernel = kernels[key] ?? TFKernel(seeds: (s, s2))
        kernels[key] = kernel
        return (kernel.run(op), (s, s2))
    }

    /// A graph traced now (`tf.function`): its graph-level seed is the current global seed.
    public func traceFunction() -> TFGraph { TFGraph(seed: globalSeed) }
}

/// A TensorFlow graph (`tf.Graph`, or a traced `tf.function`). Random ops take their seeds when
/// they are created, from the graph's own seed and its own op counter, so two graphs of the same
/// structure draw the same sequences. Each session starts every kernel afresh; `run` without a
/// session uses one persistent session (a `tf.function` called repeatedly).
public final class TFGraph {
    /// The graph-level seed (`tf.compat.v1.set_random_seed` while this graph is the default).
    public var seed: Int64?
    private var lastID: Int64 = 0
    public private(set) var nodes: [(op: TFRandomOp, seeds: (Int64, Int64)?)] = []
    private lazy var defaultSession = TFSession(graph: self)

    public init(seed: Int64? = nil) { self.seed = seed }

    /// Adds a random op; returns its node index.
    @discardableResult
    public func add(_ op: TFRandomOp, seed opSeed: Int64? = nil) -> Int {
        lastID += 1
        nodes.append((op, tfSeeds(graphSeed: seed, opSeed: opSeed, nextOpSeed: { lastID })))
        return nodes.count - 1
    }

    /// Runs every node once in the persistent session (one call of a `tf.function`).
    public func call() -> [Tensor] { nodes.indices.map { defaultSession.run($0) } }

    /// A new session: kernels start afresh.
    public func session() -> TFSession { TFSession(graph: self) }
}

/// A `tf.compat.v1.Session`: per-node kernels created on first run, continued afterwards.
public final class TFSession {
    unowned let graph: TFGraph
    private var kernels: [Int: TFKernel] = [:]

    init(graph: TFGraph) { self.graph = graph }

    /// `sess.run(node)`.
    public func run(_ node: Int) -> Tensor {
        let n = graph.nodes[node]
        let kernel = kernels[node] ?? TFKernel(seeds: n.seeds)
        kernels[node] = kernel
        return kernel.run(n.op)
    }
}

/// `tf.random.stateless_uniform(shape, seed=(a, b))`: depends only on the seed pair and shape.
public func statelessUniform(_ shape: Shape, seed: (Int64, Int64)) -> Tensor {
    TFKernel(seeds: seed).run(.uniform(shape))
}
