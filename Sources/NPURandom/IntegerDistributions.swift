/// A source of uniformly distributed integers in a fixed range, like a C++ engine.
public protocol UniformBitGenerator {
    mutating func next() -> UInt32
    static var range: (min: UInt64, max: UInt64) { get }
}

extension MT19937: UniformBitGenerator {}
extension MinstdRand0: UniformBitGenerator {}

/// `std::uniform_int_distribution<size_t>(a, b)` as GCC 9 computes it (downscaling by division
/// with rejection; newer GCCs use Lemire's method, which gives other values).
@inlinable public func uniformIntGCC9<G: UniformBitGenerator>(_ g: inout G, _ a: UInt64, _ b: UInt64) -> UInt64 {
    let urngRange = G.range.max - G.range.min
    let range = b - a
    if urngRange > range {
        let eRange = range + 1
        let scaling = urngRange / eRange
        let past = eRange * scaling
        var value: UInt64
        repeat { value = UInt64(g.next()) - G.range.min } while value >= past
        return value / scaling + a
    }
    if urngRange < range {
        while true {
            let eUrngRange = urngRange + 1
            let high = eUrngRange &* uniformIntGCC9(&g, 0, range / eUrngRange)
            let value = high &+ (UInt64(g.next()) - G.range.min)
            if !(value > range || value < high) { return value + a }
        }
    }
    return UInt64(g.next()) - G.range.min + a
}

/// `std::shuffle` of libstdc++ (GCC 7 and later): two positions per draw when the engine's range
/// allows, otherwise Fisher–Yates; with GCC 9's uniform_int_distribution.
@inlinable public func shuffleGCC9<T, G: UniformBitGenerator>(_ items: inout [T], _ g: inout G) {
    let n = items.count
    guard n > 1 else { return }
    let urngRange = G.range.max - G.range.min
    if urngRange / UInt64(n) >= UInt64(n) {
        var i = 1
        if n % 2 == 0 {
            items.swapAt(1, Int(uniformIntGCC9(&g, 0, 1)))
            i += 1
        }
        while i != n {
            let swapRange = UInt64(i + 1)
            let x = uniformIntGCC9(&g, 0, swapRange * (swapRange + 1) - 1)
            items.swapAt(i, Int(x / (swapRange + 1)))
            i += 1
            items.swapAt(i, Int(x % (swapRange + 1)))
            i += 1
        }
        return
    }
    for i in 1..<n { items.swapAt(i, Int(uniformIntGCC9(&g, 0, UInt64(i)))) }
}

/// The order in which MindSpore's random sampler visits `n` samples in epoch `epoch` (from 1):
/// epoch 1 shuffles 0..<n with mt19937(seed); epoch e+1 reshuffles epoch e's order with
/// mt19937(seed + e).
public func randomSamplerOrder(count n: Int, seed: UInt32, epoch: Int) -> [Int] {
    randomSamplerOrder(count: n, seed: seed, epoch: epoch, as: Int.self)
}

/// `randomSamplerOrder` as indices of type `I` (UInt32 holds a dataset's order in half the
/// memory of Int; the order is the same).
@inlinable public func randomSamplerOrder<I: FixedWidthInteger>(count n: Int, seed: UInt32, epoch: Int, as: I.Type) -> [I] {
    precondition(n >= 0 && epoch >= 1 && (I.bitWidth >= Int.bitWidth || n - 1 <= Int(I.max)))
    var order = (0..<n).map { I(truncatingIfNeeded: $0) }
    for e in 1...epoch {
        var g = MT19937(seed: seed &+ UInt32(truncatingIfNeeded: e - 1))
        shuffleGCC9(&order, &g)
    }
    return order
}

/// `std::generate_canonical<double, 53>` of libstdc++: ⌈53 / log2(range)⌉ draws (two for
/// mt19937), the first the lowest digit, scaled into [0, 1); a sum that rounds to 1 becomes the
/// largest double below 1.
public func canonicalDouble<G: UniformBitGenerator>(_ g: inout G) -> Double {
    let span = G.range.max - G.range.min + 1
    let r = Double(span)
    let log2r = 63 - span.leadingZeroBitCount
    let k = max(1, (53 + log2r - 1) / log2r)
    var sum = 0.0, factor = 1.0
    for _ in 0..<k {
        sum += Double(UInt64(g.next()) - G.range.min) * factor
        factor *= r
    }
    let value = sum / factor
    return value >= 1 ? 1.0.nextDown : value
}

/// `std::bernoulli_distribution(p)` of libstdc++: true when the canonical double is below p.
public func bernoulliGCC<G: UniformBitGenerator>(_ g: inout G, _ p: Double) -> Bool { canonicalDouble(&g) < p }
