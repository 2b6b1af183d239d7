import Foundation
import Testing
import NPUKernels
import NPUTensor
@testable import NPUOps

/// The fused split-K kernel (Kernels/gemm.c) against its contract written out in Swift: each
/// block's partial a chain of fused multiply-adds over its terms in order, from 0, and the
/// partials added from 0 in each output tile's block order. Bits, for every layout.
@Suite struct FusedProductTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var m: Int, n: Int, k: Int, ta: Bool, tb: Bool, blocks: Int, tile: Int, oneOrder: Bool
        var testDescription: String { "\(m)×\(n)×\(k) ta \(ta) tb \(tb), \(blocks) blocks, tile \(tile)\(oneOrder ? ", one order" : "")" }
    }

    static let cases: [Case] = [
        Case(m: 32, n: 128, k: 784, ta: false, tb: true, blocks: 32, tile: 256, oneOrder: false),  // the MLP's fc1 forward
        Case(m: 13, n: 45, k: 100, ta: true, tb: false, blocks: 5, tile: 7, oneOrder: false),  // tiles cross rows, ragged panels
        Case(m: 7, n: 70, k: 64, ta: false, tb: false, blocks: 4, tile: 256, oneOrder: true),
        Case(m: 6, n: 33, k: 50, ta: true, tb: true, blocks: 3, tile: 16, oneOrder: false),
        Case(m: 1, n: 1, k: 17, ta: false, tb: false, blocks: 1, tile: 1, oneOrder: false),
    ]

    @Test(arguments: cases)
    func bitsFollowTheContract(_ c: Case) throws {
        let a = try roundingTensor([c.m * c.k], seed: 31).toArray(of: Float.self), b = try roundingTensor([c.k * c.n], seed: 32).toArray(of: Float.self)
        let lda = c.ta ? c.m : c.k, ldb = c.tb ? c.k : c.n
        let bounds = (0...c.blocks).map { Int64($0 * c.k / c.blocks) }
        let tiles = c.oneOrder ? 1 : (c.m * c.n + c.tile - 1) / c.tile
        // Each tile's order: a rotation and reversal of the blocks, different from tile to tile.
        let orders = (0..<tiles).flatMap { t in (0..<c.blocks).map { Int32((t % 2 == 0 ? $0 + t : c.blocks - 1 - $0 + t) % c.blocks) } }
        var expected = [UInt32](repeating: 0, count: c.m * c.n)
        for i in 0..<c.m {
            for j in 0..<c.n {
                let e = i * c.n + j, first = min(e / c.tile, tiles - 1) * c.blocks
                let order = orders[first..<(first + c.blocks)]
                var sum: Float = 0
                for block in order {
                    var partial: Float = 0
                    for q in Int(bounds[Int(block)])..<Int(bounds[Int(block) + 1]) {
                        let x = c.ta ? a[q * lda + i] : a[i * lda + q], y = c.tb ? b[j * ldb + q] : b[q * ldb + j]
                        partial = partial.addingProduct(x, y)
                    }
                    sum += partial
                }
                expected[e] = sum.bitPattern
            }
        }
        // Both micro-tiles, whichever this CPU would use (the choice is process-wide; either
        // gives these bits, so a test computing beside this one is unaffected).
        defer { npu_splitk_gemm_choose_tiles(-1) }
        for (threads, wide) in [(1, -1), (2, -1), (3, -1), (1, 0), (2, 0), (1, 1), (2, 1)] {
            npu_splitk_gemm_choose_tiles(Int32(wide))
            var out = [Float](repeating: .nan, count: c.m * c.n)
            var workspace = [Float](repeating: 0, count: npu_splitk_gemm_workspace(c.k, c.blocks, threads))
            npu_splitk_gemm_f32(&out, a, lda, c.ta ? 1 : 0, b, ldb, c.tb ? 1 : 0, c.m, c.n, c.k, bounds, c.blocks, orders, tiles, c.tile,
                                &workspace, threads)
            let wrong = zip(out, expected).enumerated().filter { $0.element.0.bitPattern != $0.element.1 }.map(\.offset)
            #expect(wrong.count == 0, "threads \(threads), tiles \(wide): \(wrong.count) outputs differ, first \(wrong.prefix(5))")
        }
    }
}

/// The sparse cross-entropy's scratch-memory path gives the bits of the general path (the dense
/// one-hot label matrix), forward and gradient, for each reduction.
@Suite struct SparseCrossEntropyPathTests {
    @Test(arguments: [LossReduction.mean, .sum, .none])
    func scratchPathGivesTheGeneralPathsBits(reduction: LossReduction) throws {
        let n = 37, c = 11
        let logits = roundingTensor([n, c], seed: 41)
        let labels = try Tensor(shape: [n], values: (0..<n).map { Int32(($0 * 5) % c) })
        let op = SoftmaxCrossEntropyWithLogits(sparse: true, reduction: reduction)
        let ctx = KernelContext(planner: makePlanner(.on))
        // General path: per-sample losses from the one-hot matrix, then the planned sum.
        let general = try op.perSample(logits, labels)
        let loss = try op.forward([logits, labels], ctx)[0].toArray(of: Float.self)
        if reduction == .none {
            #expect(loss.map(\.bitPattern) == general.loss.map(\.bitPattern))
        } else {
            var total: Float = 0
            general.loss.withUnsafeBufferPointer { ctx.planner.sum(op: op.type, site: "mean", $0.baseAddress!, outer: 1, extent: n, inner: 1, into: &total) }
            #expect(loss[0].bitPattern == (reduction == .mean ? total / Float(n) : total).bitPattern)
        }
        let dloss = reduction == .none ? roundingTensor([n], seed: 42) : Tensor(scalar: Float(0.75))
        let g = try dloss.toArray(of: Float.self)
        let grad = try SoftmaxCrossEntropyGrad(sparse: true, reduction: reduction).forward([logits, labels, dloss], ctx)[0].toArray(of: Float.self)
        var expected = [Float](repeating: 0, count: n * c)
        for r in 0..<n {
            let scale: Float = reduction == .none ? g[r] : (reduction == .mean ? g[0] / Float(n) : g[0])
            for k in 0..<c { expected[r * c + k] = (expf(general.logSoftmax[r * c + k]) - general.targets[r * c + k]) * scale }
        }
        #expect(grad.map(\.bitPattern) == expected.map(\.bitPattern))
        // A label outside the classes is still an error naming the sample.
        let bad = try Tensor(shape: [n], values: (0..<n).map { Int32($0 == 3 ? c : 0) })
        #expect(throws: OpError("SoftmaxCrossEntropyWithLogits", "label \(c) of sample 3 is outside 0..<\(c)")) { try op.forward([logits, bad], ctx) }
    }
}

/// The strict product's fast path (the product and |A|·|B| in double, each output accepted when
/// its error interval rounds to one float) gives the bits of an exact dot product per output, on
/// every layout: random values, and rows built to land on or next to a rounding boundary of
/// float (a tie broken by a term 2^-60 below, exact cancellation to zero, NaN, infinity, and a
/// zero row against an infinity).
@Suite struct StrictProductTests {
    /// Every layout, on one thread and two, with each micro-tile (8 × 16, or 4 × 8 quarters where
    /// AVX-512 is missing): outputs smaller than one tile, partial and whole panels (op(A)ᵀ's
    /// 8-float and op(B)'s 16-float rows are packed by a vector path), and few column panels,
    /// whose row panels then split into groups across the threads.
    @Test(arguments: [(false, false, 7, 9), (true, false, 7, 9), (false, true, 7, 9), (true, true, 7, 9),
                      (false, false, 9, 7), (true, false, 9, 7), (false, true, 9, 7), (true, true, 9, 7),
                      (false, true, 20, 300), (true, false, 300, 20), (true, false, 24, 48), (false, true, 48, 24)])
    func theFastPathGivesTheExactDotProductsBits(ta: Bool, tb: Bool, m: Int, n: Int) throws {
        let k = 300
        var state: UInt64 = 3
        func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state) >> 40) * 0x1p-20
        }
        var a = (0..<(m * k)).map { _ in next() }, b = (0..<(k * n)).map { _ in next() }
        func setA(_ i: Int, _ p: Int, _ v: Float) { a[ta ? p * m + i : i * k + p] = v }
        func setB(_ p: Int, _ j: Int, _ v: Float) { b[tb ? j * k + p : p * n + j] = v }
        // Row 0 · column 0 = 1 + 2^-24 + 2^-60 (rounds up; without the last term it would tie to 1);
        // row 1 · column 0 = x − x; row 2 · column 1 = NaN; row 3 · column 2 = inf.
        for p in 0..<k { setA(0, p, 0); setA(1, p, 0); setB(p, 0, 0) }
        setA(0, 0, 1); setA(0, 1, 0x1p-24); setA(0, 2, 0x1p-60)
        setB(0, 0, 1); setB(1, 0, 1); setB(2, 0, 1)
        setA(1, 3, 3); setA(1, 4, -3); setB(3, 0, 0.1); setB(4, 0, 0.1)
        setA(2, 5, .nan); setB(5, 1, 1)
        setA(3, 6, .infinity); setB(6, 2, 1)
        // Row 4 is all zeros against column 3's infinity: 0 · inf is NaN, not the zero row's +0.
        for p in 0..<k { setA(4, p, 0) }
        setB(7, 3, .infinity)
        // Row 5 · column 4 = 2^40 + p − 2^40 with p = (1 + 2^-20)² · 2^-13: the double sum rounds
        // 2^40 + p up to 2^40 + 2^-12 and is off by half itself, so only the bound (‖row‖·‖column‖,
        // not the result's size) can send it to the exact sum, which gives p's float.
        for p in 0..<k { setA(5, p, 0) }
        setA(5, 0, 0x1p40); setA(5, 1, 1 + 0x1p-20); setA(5, 2, -0x1p40)
        setB(0, 4, 1); setB(1, 4, 0x1p-13 + 0x1p-33); setB(2, 4, 1)
        let lda = ta ? m : k, ldb = tb ? k : n
        var expected = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                let row = (0..<k).map { ta ? a[$0 * m + i] : a[i * k + $0] }, column = (0..<k).map { tb ? b[j * k + $0] : b[$0 * n + j] }
                expected[i * n + j] = exactDot(row, 1, column, 1, k)
            }
        }
        // The tile choice is process-wide; either gives these bits, so a test beside this one is unaffected.
        defer { npu_splitk_gemm_choose_tiles(-1) }
        for (threads, wide) in [(1, -1), (2, -1), (1, 0), (2, 0), (1, 1), (2, 1)] {
            npu_splitk_gemm_choose_tiles(Int32(wide))
            var out = [Float](repeating: 0, count: m * n)
            a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in out.withUnsafeMutableBufferPointer { po in
                exactProduct(ta, tb, m, n, k, pa.baseAddress!, lda, pb.baseAddress!, ldb, po.baseAddress!, threads: threads)
            } } }
            let wrong = (0..<(m * n)).filter { out[$0].bitPattern != expected[$0].bitPattern && !(out[$0].isNaN && expected[$0].isNaN) }
            #expect(wrong.isEmpty, "threads \(threads), tiles \(wide): \(wrong.count) outputs differ, first \(wrong.prefix(5).map { ($0 / n, $0 % n, out[$0], expected[$0]) })")
            #expect(out[0] == 1 + 0x1p-23 && out[n].bitPattern == 0 && out[2 * n + 1].isNaN && out[3 * n + 2] == .infinity && out[4 * n + 3].isNaN)
            #expect(out[5 * n + 4] == 0x1p-13 + 0x1p-32, "\(out[5 * n + 4])")
        }
    }

    /// A row and a column that are both nonzero but never at the same term (ReLU's zeros in a
    /// weight gradient): every product is ±0, so the exact sum is the accumulator's +0, decided
    /// without the one-by-one exact sum (it once took thousands of these per LeNet step there).
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func productsThatAreAllZeroNeedNoExactSum(ta: Bool, tb: Bool) throws {
        let (m, n, k) = (6, 5, 32)
        // Row i of op(A) is nonzero on even terms only (−0 on odd ones), column j of op(B) on odd
        // terms only (−0 on even ones): every product ±0, and no row or column all zero.
        var a = [Float](repeating: 0, count: m * k), b = [Float](repeating: 0, count: k * n)
        for i in 0..<m {
            for p in 0..<k { a[ta ? p * m + i : i * k + p] = p % 2 == 0 ? Float(i + 1) * (p % 4 == 0 ? 1 : -1) : -0.0 }
        }
        for j in 0..<n {
            for p in 0..<k { b[tb ? j * k + p : p * n + j] = p % 2 == 1 ? Float(j + 2) * 0.5 : -0.0 }
        }
        var out = [Float](repeating: .nan, count: m * n)
        let lda = ta ? m : k, ldb = tb ? k : n
        let gamma = 2 * Double(k) * 0x1p-53 / (1 - Double(k) * 0x1p-53)
        let left = npu_strict_product_f32(&out, a, lda, ta ? 1 : 0, b, ldb, tb ? 1 : 0, m, n, k, gamma, 1)
        #expect(left == 0)
        for i in 0..<m {
            for j in 0..<n {
                let row = (0..<k).map { ta ? a[$0 * m + i] : a[i * k + $0] }, column = (0..<k).map { tb ? b[j * k + $0] : b[$0 * n + j] }
                #expect(exactDot(row, 1, column, 1, k).bitPattern == 0)
                #expect(out[i * n + j].bitPattern == 0, "(\(i), \(j)): \(out[i * n + j])")
            }
        }
    }

    /// Deep sums that nearly cancel (a conv filter gradient's shape: a few outputs, thousands of
    /// terms): ‖row‖·‖column‖ is then far above the result and the first bound cannot decide, so
    /// the compensated second chance (and, for an exact tie, the one-by-one exact sum) must still
    /// give the exact dot product's bits. Every way of splitting the work: K slices of the float
    /// rows for a small output with op(B)ᵀ's rows contiguous (a filter gradient), K slices in
    /// double through OpenBLAS otherwise, and row bands for a larger output.
    @Test(arguments: [(5, 6, 5000, true), (5, 6, 5000, false), (7, 9, 1031, true), (40, 33, 2000, false)])
    func deepCancellingSumsGiveTheExactDotProductsBits(m: Int, n: Int, k: Int, tb: Bool) throws {
        var state: UInt64 = 11
        func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state) >> 40) * 0x1p-20
        }
        // Row i's second half is its first half negated and nudged by one ulp now and then: the
        // terms cancel to a sum some 2^-20 of ‖row‖·‖column‖.
        var a = [Float](repeating: 0, count: m * k), b = [Float](repeating: 0, count: k * n)
        let half = k / 2
        for i in 0..<m {
            for p in 0..<half {
                let v = next()
                a[i * k + p] = v
                a[i * k + half + p] = p % 7 == 0 ? -v.nextUp : -v
            }
        }
        // Element p of column j of op(B).
        func at(_ p: Int, _ j: Int) -> Int { tb ? j * k + p : p * n + j }
        for j in 0..<n {
            for p in 0..<half {
                let v = next()
                b[at(p, j)] = v
                b[at(half + p, j)] = v
            }
        }
        // Row 0 · column 0 = 2^20 − 2^20 + 1 + 2^-24: an exact tie, which rounds to even (1).
        for p in 0..<k { a[p] = 0 }
        a[0] = 0x1p20; a[1] = -0x1p20; a[2] = 1; a[3] = 0x1p-24
        for p in 0..<4 { b[at(p, 0)] = 1 }
        // On one thread and on two (the work splits differently; the bits may not).
        var out = [Float](repeating: 0, count: m * n), two = out
        a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in
            out.withUnsafeMutableBufferPointer { exactProduct(false, tb, m, n, k, pa.baseAddress!, k, pb.baseAddress!, tb ? k : n, $0.baseAddress!, threads: 1) }
            two.withUnsafeMutableBufferPointer { exactProduct(false, tb, m, n, k, pa.baseAddress!, k, pb.baseAddress!, tb ? k : n, $0.baseAddress!, threads: 2) }
        } }
        #expect(out.map(\.bitPattern) == two.map(\.bitPattern))
        var cancelled = 0
        for i in 0..<m {
            for j in 0..<n {
                let column = (0..<k).map { b[at($0, j)] }
                let expected = a.withUnsafeBufferPointer { exactDot($0.baseAddress! + i * k, 1, column, 1, k) }
                #expect(out[i * n + j].bitPattern == expected.bitPattern, "(\(i), \(j)): \(out[i * n + j]) against \(expected)")
                let norms = (0..<k).reduce(0.0) { $0 + Double(a[i * k + $1]) * Double(a[i * k + $1]) }.squareRoot()
                    * column.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
                if Double(abs(expected)) < norms * 0x1p-16 { cancelled += 1 }
            }
        }
        // The data is what it claims: most outputs far below their Cauchy–Schwarz bound.
        #expect(cancelled > m * n / 2)
        #expect(out[0] == 1)
    }
}

