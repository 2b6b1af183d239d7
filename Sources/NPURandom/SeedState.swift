import NPUDevice
/// Errors in seeds and random calls. Messages name the call, the value and what is valid.
public enum RandomError: Error, Equatable, CustomStringConvertible {
    case invalidSeed(call: String, value: Int64, valid: String)
    case invalidArgument(call: String, message: String)

    public var description: String {
        switch self {
        case let .invalidSeed(call, value, valid): "[\(call)] seed \(value) is not valid; \(valid)"
        case let .invalidArgument(call, message): "[\(call)] \(message)"
        }
    }
}

/// Which of MindSpore's seed rules gave a random op its seeds (for `npusim seeds explain`).
public enum SeedRule: Hashable, Sendable {
    /// Neither a global nor an op seed: (0, 0), the kernel takes OS entropy.
    case entropy
    /// Global seed only: seed2 is the op-seed counter of this kernel (k-th call).
    case globalSeed(call: Int)
    /// Op seed only: global 0, seed2 = op seed + k·K (deterministic, unlike MindSpore's docstring).
    case opSeedOnly(call: Int)
    /// Both: seed2 = op seed + k·K.
    case bothSeeds(call: Int)
    /// `set_seed(0)`: the default graph seed 87654321 replaces 0.
    case defaultGraphSeed(call: Int)
    /// The global seed truncated to 0 mod (2³¹−1) and the counter to 0: (0, 0), OS entropy.
    case truncatedToEntropy
}

/// The (seed, seed2) pair a random kernel is built with, and the rule that produced it.
public struct SeedPair: Hashable, Sendable, CustomStringConvertible {
    public var seed: Int64
    public var seed2: Int64
    public var rule: SeedRule

    public init(seed: Int64, seed2: Int64, rule: SeedRule) {
        self.seed = seed
        self.seed2 = seed2
        self.rule = rule
    }

    /// True when the kernel will take OS entropy.
    public var isEntropy: Bool { seed == 0 && seed2 == 0 }

    public var description: String { "(\(seed), \(seed2))" }
}

/// Which framework's seed rules apply.
public enum SeedSemantics: String, CaseIterable, Sendable {
    /// MindSpore 2.10 as measured (the default).
    case mindspore
    /// TensorFlow's graph-level / op-level rules (behaviour, not bits).
    case tensorflow
}

/// MindSpore's process-wide seed state (`mindspore/common/seed.py`): the global seed, the
/// numpy-style global generator, the dataset seed and the per-(kernel, op seed) counters.
/// A fresh `SeedState` is a fresh Python process.
public final class SeedState {
    /// Replaces a global seed of 0 for random ops.
    public static let defaultGraphSeed: Int64 = 87_654_321
    /// The op-seed counter step K = keyConstant[0] ^ keyConstant[2].
    public static let counterStep: Int64 = 533_697_028
    static let maxInt32: Int64 = 2_147_483_647
    /// std::mt19937's default seed, which MindSpore's dataset layer treats as "no seed".
    public static let unsetDatasetSeed: UInt32 = 5489

    /// The seed given to `set_seed`, or nil if it was never called.
    public private(set) var globalSeed: Int64?
    /// numpy's global generator (initializers draw their seeds from it).
    public var numpy: NumpyRandomState
    /// The dataset seed (shuffle), 5489 until `set_seed`.
    public private(set) var datasetSeed: UInt32 = SeedState.unsetDatasetSeed
    private struct CounterKey: Hashable {
        let kernel: String
        let opSeed: Int64
    }
    private var counters: [CounterKey: Int64] = [:]

    public init() {
        numpy = .fromEntropy()
    }

    /// `mindspore.set_seed(seed)`: seeds numpy's global generator and the dataset, resets every
    /// op-seed counter and sets the global seed.
    /// - Throws: `RandomError.invalidSeed` for a negative seed or one numpy cannot take (≥ 2³²).
    public func setSeed(_ seed: Int64) throws(RandomError) {
        guard seed >= 0, seed <= Int64(UInt32.max) else {
            throw .invalidSeed(call: "set_seed", value: seed, valid: "a seed is an integer from 0 to 4294967295 (numpy's limit)")
        }
        numpy.seed(UInt32(seed))
        datasetSeed = UInt32(seed)
        counters.removeAll()
        globalSeed = seed
    }

    /// The seeds of one random-op call (`_get_graph_seed(op_seed, kernel_name)`); advances that
    /// kernel's op-seed counter.
    /// - Throws: `RandomError.invalidSeed` for a negative op seed.
    public func opSeeds(kernel: String, opSeed: Int64?) throws(RandomError) -> SeedPair {
        if let opSeed, opSeed < 0 {
            throw .invalidSeed(call: kernel, value: opSeed, valid: "an op seed is a non-negative integer or None")
        }
        let g: Int64 = switch globalSeed {
        case nil: 0
        case 0: Self.defaultGraphSeed
        case let s?: s
        }
        let o = opSeed ?? 0
        if g == 0 && o == 0 { return SeedPair(seed: 0, seed2: 0, rule: .entropy) }
        let key = CounterKey(kernel: kernel, opSeed: o)
        let t = counters[key] ?? o
        counters[key] = t + Self.counterStep
        let call = Int((t - o) / Self.counterStep) + 1
        let seed = g % Self.maxInt32, seed2 = t % Self.maxInt32
        let rule: SeedRule = if seed == 0 && seed2 == 0 {
            .truncatedToEntropy
        } else if globalSeed == nil {
            .opSeedOnly(call: call)
        } else if globalSeed == 0 {
            .defaultGraphSeed(call: call)
        } else if opSeed == nil {
            .globalSeed(call: call)
        } else {
            .bothSeeds(call: call)
        }
        return SeedPair(seed: seed, seed2: seed2, rule: rule)
    }

    /// The seed the random sampler shuffles with: the dataset seed, or OS entropy while it is
    /// 5489 (unset, or set to 5489 — MindSpore replaces that value too).
    public func shuffleSeed() -> (seed: UInt32, entropy: Bool) {
        if datasetSeed == Self.unsetDatasetSeed {
            var g = SystemRandomNumberGenerator()
            return (UInt32(truncatingIfNeeded: g.next()), true)
        }
        return (datasetSeed, false)
    }

    /// The seed an initializer draws from numpy's global generator (`_numpy_seed`).
    public func initializerSeed() -> UInt64 { numpy.randintOneTo2p63() }
}

extension RandomError: CategorizedError {
    public var category: ErrorCategory { .badInput }
}
