import Foundation
import NPUKernels

/// One Philox4x32-10 block (Random123): four 32-bit outputs for a counter and a key.
public func philox4x32_10(counter: (UInt32, UInt32, UInt32, UInt32), key: (UInt32, UInt32)) -> [UInt32] {
    var out = [UInt32](repeating: 0, count: 4)
    let c = [counter.0, counter.1, counter.2, counter.3], k = [key.0, key.1]
    npu_philox4x32_10(&out, c, k)
    return out
}

/// MindSpore's `random::Philox` stream (initializers): key = seed, counter = (0, 0, seed2).
public struct PhiloxStream {
    var state = npu_philox()

    /// A stream keyed by `seed` with counter words 2–3 from `seed2` (`seed2` defaults to `seed`,
    /// as MindSpore's one-argument constructor does).
    public init(seed: UInt64, seed2: UInt64? = nil) {
        npu_philox_init(&state, seed, seed2 ?? seed)
    }

    /// The next 32-bit output.
    public mutating func next() -> UInt32 { npu_philox_next(&state) }
}

/// `std::mt19937`; seeded with a 32-bit value it is also numpy's legacy MT19937 (`init_genrand`).
public struct MT19937 {
    var state = npu_mt19937()

    public init(seed: UInt32) { npu_mt19937_seed(&state, seed) }

    public mutating func next() -> UInt32 { npu_mt19937_next(&state) }

    /// The smallest and largest outputs (`min()`/`max()` of the C++ engine).
    public static let range: (min: UInt64, max: UInt64) = (0, 0xFFFF_FFFF)
}

/// `std::mt19937_64` (the 64-bit Mersenne Twister: n 312, m 156, MindSpore's dataset ShuffleOp's
/// engine). Not a hot loop: Swift, with the standard's constants.
public struct MT19937_64 {
    private var mt = [UInt64](repeating: 0, count: 312)
    private var index = 312

    public init(seed: UInt64) {
        mt[0] = seed
        for i in 1..<312 { mt[i] = 6_364_136_223_846_793_005 &* (mt[i - 1] ^ (mt[i - 1] >> 62)) &+ UInt64(i) }
    }

    public mutating func next() -> UInt64 {
        if index >= 312 {
            for k in 0..<312 {
                let y = (mt[k] & 0xFFFF_FFFF_8000_0000) | (mt[(k + 1) % 312] & 0x7FFF_FFFF)
                mt[k] = mt[(k + 156) % 312] ^ (y >> 1) ^ (y & 1 == 0 ? 0 : 0xB502_6F5A_A966_19E9)
            }
            index = 0
        }
        var y = mt[index]
        index += 1
        y ^= (y >> 29) & 0x5555_5555_5555_5555
        y ^= (y << 17) & 0x71D6_7FFF_EDA6_0000
        y ^= (y << 37) & 0xFFF7_EEE0_0000_0000
        return y ^ (y >> 43)
    }
}

/// `std::minstd_rand0` (libstdc++'s default_random_engine): x ← 16807·x mod (2³¹−1).
public struct MinstdRand0 {
    var state = npu_minstd()

    /// Seeds as libstdc++ does with a 64-bit value: seed mod (2³¹−1), or 1 if that is 0.
    public init(seed: UInt64) { npu_minstd_seed(&state, seed) }

    public mutating func next() -> UInt32 { npu_minstd_next(&state) }

    public static let range: (min: UInt64, max: UInt64) = (1, 2_147_483_646)
}

/// MindSpore's `kernel::random::GetSeed(seed, seed2)`: the 64-bit seed a CPU random kernel seeds
/// its engine with. `(0, 0)` means "take OS entropy": the result is then random (`entropy` true).
public func kernelSeed(_ seed: Int64, _ seed2: Int64) -> (value: UInt64, entropy: Bool) {
    if seed == 0 && seed2 == 0 {
        var g = SystemRandomNumberGenerator()
        return (g.next(), true)
    }
    return (npu_get_seed(UInt64(bitPattern: seed), UInt64(bitPattern: seed2)), false)
}

/// numpy's legacy `RandomState` for an integer seed: MT19937 with `init_genrand`, the legacy
/// Gaussian with its cached spare, and `randint(1, 2**63)` as MindSpore's initializers draw it.
public struct NumpyRandomState {
    var mt: MT19937
    var spareGauss: Double?

    /// `numpy.random.RandomState(seed)` / `numpy.random.seed(seed)`.
    public init(seed: UInt32) {
        mt = MT19937(seed: seed)
    }

    /// A generator seeded from OS entropy (numpy's global generator before any seed).
    public static func fromEntropy() -> NumpyRandomState {
        var g = SystemRandomNumberGenerator()
        return NumpyRandomState(seed: UInt32(truncatingIfNeeded: g.next()))
    }

    /// Re-seeds, dropping any cached Gaussian.
    public mutating func seed(_ seed: UInt32) {
        self = NumpyRandomState(seed: seed)
    }

    /// Two MT19937 outputs, high word first.
    public mutating func nextUInt64() -> UInt64 {
        let hi = UInt64(mt.next())
        return hi << 32 | UInt64(mt.next())
    }

    /// `random_sample()`: 53-bit double in [0, 1).
    public mutating func nextDouble() -> Double {
        let a = Double(mt.next() >> 5), b = Double(mt.next() >> 6)
        return (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }

    /// `randint(1, 2**63, dtype=int64)`: masked rejection sampling, as MindSpore's `_numpy_seed`.
    public mutating func randintOneTo2p63() -> UInt64 {
        let range: UInt64 = (1 << 63) - 2, mask: UInt64 = (1 << 63) - 1
        while true {
            let v = nextUInt64() & mask
            if v <= range { return 1 + v }
        }
    }

    /// The legacy polar Gaussian (`standard_normal`, `normal`).
    public mutating func gauss() -> Double {
        if let spare = spareGauss {
            spareGauss = nil
            return spare
        }
        var x1 = 0.0, x2 = 0.0, r2 = 0.0
        repeat {
            x1 = 2.0 * nextDouble() - 1.0
            x2 = 2.0 * nextDouble() - 1.0
            r2 = x1 * x1 + x2 * x2
        } while r2 >= 1.0 || r2 == 0.0
        let f = (-2.0 * log(r2) / r2).squareRoot()
        spareGauss = f * x1
        return f * x2
    }

    /// `normal(loc, scale)`.
    public mutating func normal(loc: Double = 0, scale: Double = 1) -> Double { loc + scale * gauss() }

    /// `uniform(low, high)`.
    public mutating func uniform(low: Double = 0, high: Double = 1) -> Double { low + (high - low) * nextDouble() }
}
