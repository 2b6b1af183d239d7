import Testing
import NPUDevice
import NPUKernels
import NPUTensor
@testable import NPUOps

/// `body` with the kernels on `threads` threads and OpenBLAS on one (as the CLI runs them),
/// both restored after.
func onThreads<T>(_ threads: Int, _ body: () throws -> T) rethrows -> T {
    let saved = (kernels: Parallel.threads, blas: BLAS.threads)
    Parallel.threads = threads
    BLAS.setThreads(1)
    defer {
        Parallel.threads = saved.kernels
        BLAS.setThreads(saved.blas)
    }
    return try body()
}

/// The kernels' helper threads (Parallel, Kernels/parallel.c): every task runs once, chunks
/// cover their range once, and no result depends on how many threads shared the work.
@Suite(.serialized) struct ParallelTests {
    @Test func everyTaskRunsExactlyOnce() {
        let tasks = 1000
        let counts = UnsafeMutablePointer<Int32>.allocate(capacity: tasks)
        counts.initialize(repeating: 0, count: tasks)
        defer { counts.deallocate() }
        for _ in 0..<50 { Parallel.forEach(tasks, threads: 3) { t in counts[t] += 1 } }
        #expect((0..<tasks).filter { counts[$0] != 50 } == [])
    }

    /// Helpers sent to sleep wake for the next job; none is lost.
    @Test func restingHelpersWakeForTheNextJob() {
        let tasks = 64
        let counts = UnsafeMutablePointer<Int32>.allocate(capacity: tasks)
        counts.initialize(repeating: 0, count: tasks)
        defer { counts.deallocate() }
        for _ in 0..<20 {
            Parallel.rest()
            Parallel.forEach(tasks, threads: 2) { t in counts[t] += 1 }
        }
        #expect((0..<tasks).filter { counts[$0] != 20 } == [])
    }

    @Test(arguments: [0, 1, 15, 16, 17, 1000, 4097])
    func chunksCoverTheRangeOnceOnAlignedBounds(count: Int) {
        for threads in [1, 2, 3, 8] {
            for align in [1, 16, 64] {
                var seen = [Int](repeating: 0, count: count)
                var misaligned = 0
                seen.withUnsafeMutableBufferPointer { s in
                    Parallel.forEachChunk(count, minimum: 0, align: align, threads: threads) { r in
                        if r.lowerBound % align != 0 { misaligned += 1 }
                        for i in r { s[i] += 1 }
                    }
                }
                #expect(seen.allSatisfy { $0 == 1 }, "count \(count), threads \(threads), align \(align)")
                #expect(misaligned == 0)
            }
        }
    }

    /// Orders drawn for a range of tiles are those tiles' orders of the whole launch.
    @Test(arguments: [2, 4, 7])
    func orderRangesEqualTheWholeLaunch(blocks: Int) {
        let tiles = 300, key: UInt64 = 0x1234_5678_9ABC_DEF0, step: UInt64 = 11
        var whole = [Int32](repeating: -1, count: tiles * blocks)
        npu_order_permutations(&whole, blocks, tiles, key, step)
        for (first, count) in [(0, 64), (64, 100), (164, 136), (299, 1)] {
            var part = [Int32](repeating: -1, count: count * blocks)
            npu_order_permutations_from(&part, blocks, first, count, key, step)
            #expect(part == Array(whole[(first * blocks)..<((first + count) * blocks)]), "tiles \(first)..<\(first + count)")
        }
    }

    /// A large unsplit product in fixed panels (wide: column panels; tall: row panels) gives the
    /// same bits on 1, 2 or 4 threads, and the right values.
    @Test(arguments: [(m: 40, n: 5000, k: 24), (m: 700, n: 300, k: 24)])
    func panelledProductBitsDoNotDependOnTheThreadCount(m: Int, n: Int, k: Int) throws {
        #expect(m * n * k >= BLAS.panelProducts)
        let a = try roundingTensor([m, k], seed: 23).toArray(of: Float.self), b = try roundingTensor([n, k], seed: 24).toArray(of: Float.self)
        func product(threads: Int) -> [UInt32] {
            onThreads(threads) {
                var c = [Float](repeating: .nan, count: m * n)
                BLAS.sgemmShared(transB: true, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k, c: &c, ldc: n)
                return c.map(\.bitPattern)
            }
        }
        let one = product(threads: 1)
        #expect(product(threads: 2) == one)
        #expect(product(threads: 4) == one)
        let reference = referenceMatMul(a.map(Double.init), b.map(Double.init), m: m, k: k, n: n, transposeA: false, transposeB: true)
        let scale = reference.map(abs).max()!
        #expect(zip(one, reference).allSatisfy { abs(Double(Float(bitPattern: $0)) - $1) <= 1e-5 * scale })
    }

    /// A split-K product whose work is shared by threads gives the same bits on 1, 2 or 4 threads
    /// (OpenBLAS on one thread, as the CLI runs it): deep blocks (the fused kernel; K = 512 in 32
    /// blocks) and shallow ones (bands of rows, a call per block; the MLP's 784×128 weight gradient,
    /// K = 32 in 4 blocks).
    @Test(arguments: [(k: 512, m: 96, n: 200), (k: 32, m: 128, n: 784)])
    func splitKBitsDoNotDependOnTheThreadCount(k: Int, m: Int, n: Int) throws {
        let a = roundingTensor([k, m], seed: 21), b = roundingTensor([k, n], seed: 22)
        func product(threads: Int) throws -> [UInt32] {
            try onThreads(threads) {
                let planner = makePlanner(.off, .replay(7))
                planner.enter(op: "fc/MatMul")
                return try MatMul(transposeA: true, splitK: .always).forward([a, b], KernelContext(planner: planner))[0]
                    .toArray(of: Float.self).map(\.bitPattern)
            }
        }
        let one = try product(threads: 1)
        #expect(try product(threads: 2) == one)
        #expect(try product(threads: 4) == one)
        // And the product is right: within float32 rounding of the double reference.
        let reference = referenceMatMul(try a.toArray(of: Float.self).map(Double.init), try b.toArray(of: Float.self).map(Double.init),
                                        m: m, k: k, n: n, transposeA: true, transposeB: false)
        let scale = reference.map(abs).max()!
        #expect(zip(one, reference).allSatisfy { abs(Double(Float(bitPattern: $0)) - $1) <= 1e-4 * scale })
    }

    /// Shallow split-K blocks (the MLP's weight gradient: K = 32 in 4 blocks of 8) give the
    /// documented bits on any BLAS: each block's partial a chain of fused multiply-adds from +0, q
    /// ascending, the partials added from 0 in the tile's order. On kernel families without
    /// OpenBLAS's direct small-matrix path (Haswell: zero C, then add to it) the blocks went through
    /// OpenBLAS and came out otherwise (run with OPENBLAS_CORETYPE=Haswell NPUSIM_NO_OPENBLAS_TUNE=1
    /// on an AVX-512 host to check that case there).
    @Test(arguments: [Determinism.off, .on])
    func shallowSplitKBlocksGiveTheFusedChainBits(policy: Determinism) throws {
        let (k, m, n) = (32, 128, 784)
        let a = roundingTensor([k, m], seed: 31), b = roundingTensor([k, n], seed: 32)
        let (out, plan) = try onThreads(2) {
            let planner = makePlanner(policy, .replay(11), blocks: 4)
            planner.recording = true
            planner.enter(op: "fc/MatMul")
            let out = try MatMul(transposeA: true, splitK: .always).forward([a, b], KernelContext(planner: planner))[0]
            return (try out.toArray(of: Float.self), try #require(planner.plans.last))
        }
        #expect(plan.blocks.count == 4 && k < fusedMinimumDepth * plan.blocks.count)  // the shallow path
        let x = try a.toArray(of: Float.self), y = try b.toArray(of: Float.self)
        var wrong = 0
        for i in 0..<m {
            for j in 0..<n {
                let partials = plan.blocks.map { block in
                    block.reduce(Float(0)) { $0.addingProduct(x[$1 * m + i], y[$1 * n + j]) }
                }
                let e = i * n + j
                let sum = plan.order(tile: e / plan.tileSize).reduce(Float(0)) { $0 + partials[Int($1)] }
                if sum.bitPattern != out[e].bitPattern { wrong += 1 }
            }
        }
        #expect(wrong == 0, "\(wrong) of \(m * n) outputs differ from the fused chains (\(BLAS.coreName) kernels)")
    }
}

/// The combine's contract, bit for bit: every output adds its block partials from 0 in its
/// tile's recorded order (`ReductionPlan.order(tile:)`), whole or in bands of rows, on one
/// thread or shared by several, with one order (`on`) or drawn per tile (`off`).
@Suite(.serialized) struct CombineOrderTests {
    /// Outputs that are not a whole number of 64-float strips or 256-output tiles.
    static let rows = 101, rowLength = 517, blocks = 5  // the banded accumulate makes 2 bands

    func expected(_ partials: [[Float]], _ plan: ReductionPlan) -> [UInt32] {
        (0..<(Self.rows * Self.rowLength)).map { e in
            var sum: Float = 0
            for b in plan.order(tile: e / plan.tileSize) { sum += partials[Int(b)][e] }
            return sum.bitPattern
        }
    }

    @Test(arguments: [Determinism.off, .on], [1, 2])
    func outputsAddTheirPartialsInTheirTilesOrder(policy: Determinism, threads: Int) throws {
        let count = Self.rows * Self.rowLength
        let partials = (0..<Self.blocks).map { roundingData(count, seed: 50 + UInt64($0)) }
        try onThreads(threads) {
            for banded in [false, true] {
                let planner = makePlanner(policy, .replay(5), blocks: Self.blocks)
                planner.recording = true
                planner.enter(op: "fc/MatMul")
                var out = [Float](repeating: .nan, count: count)
                if banded {
                    planner.accumulate(op: "MatMul", site: "splitK", extent: 100, rows: Self.rows, rowLength: Self.rowLength, into: &out,
                                       threads: threads, partial: { block, rows, buffer in
                        let b = Self.blocks * block.lowerBound / 100
                        for (i, e) in (rows.lowerBound * Self.rowLength..<rows.upperBound * Self.rowLength).enumerated() { buffer[i] = partials[b][e] }
                    }, exact: { _ in Issue.record("strict is not planned here") })
                } else {
                    planner.accumulate(op: "MatMul", site: "splitK", extent: 100, count: count, into: &out, threads: threads, partial: { block, buffer in
                        let b = Self.blocks * block.lowerBound / 100
                        for e in 0..<count { buffer[e] = partials[b][e] }
                    }, exact: { _ in Issue.record("strict is not planned here") })
                }
                let plan = try #require(planner.plans.last)
                #expect(plan.blocks.count == Self.blocks)
                if policy == .off { #expect(Set(plan.order).count == Self.blocks && plan.order.count > Self.blocks) }
                let wrong = zip(out.map(\.bitPattern), expected(partials, plan)).filter { $0 != $1 }.count
                #expect(wrong == 0, "banded \(banded): \(wrong) outputs differ")
            }
        }
    }
}

/// Conv2D's filter gradient lays out and multiplies each batch block on its own thread, and its
/// forward and input gradient multiply image by image (on small images, an image per thread): the
/// bits are the one-thread bits under every policy.
@Suite(.serialized) struct ConvFilterThreadTests {
    @Test func forwardAndInputGradientGiveTheOneThreadBits() throws {
        let x = try Tensor(shape: [7, 3, 13, 11], values: roundingData(7 * 3 * 13 * 11, seed: 72))
        let w = try Tensor(shape: [5, 3, 3, 3], values: roundingData(5 * 27, seed: 73))
        let dy = try Tensor(shape: [7, 5, 11, 9], values: roundingData(7 * 5 * 11 * 9, seed: 74))
        let conv = ConvAttributes(stride: (1, 1), padMode: .valid, dilation: (1, 1))
        func run(threads: Int) throws -> [[UInt32]] {
            try onThreads(threads) {
                let ctx = KernelContext(planner: makePlanner(.on, .replay(9)))
                let y = try Conv2D().forward([x, w], ctx)[0]
                let dx = try Conv2DBackpropInput(conv, inputShape: [7, 3, 13, 11]).forward([dy, w], ctx)[0]
                return try [y, dx].map { try $0.toArray(of: Float.self).map(\.bitPattern) }
            }
        }
        let one = try run(threads: 1)
        #expect(try run(threads: 2) == one)
        #expect(one.allSatisfy { $0.contains { $0 != 0 } })
    }

    @Test(arguments: [Determinism.off, .on, .strict])
    func filterGradientsGiveTheOneThreadBits(policy: Determinism) throws {
        let x = try Tensor(shape: [8, 3, 13, 11], values: roundingData(8 * 3 * 13 * 11, seed: 70))
        let dy = try Tensor(shape: [8, 5, 11, 9], values: roundingData(8 * 5 * 11 * 9, seed: 71))
        let op = Conv2DBackpropFilter(ConvAttributes(stride: (1, 1), padMode: .valid, dilation: (1, 1)), filterShape: [5, 3, 3, 3])
        func dw(threads: Int) throws -> [UInt32] {
            try onThreads(threads) {
                let planner = makePlanner(policy, .replay(9), blocks: 4)
                return try op.forward([dy, x], KernelContext(planner: planner))[0].toArray(of: Float.self).map(\.bitPattern)
            }
        }
        let one = try dw(threads: 1)
        #expect(try dw(threads: 2) == one)
        // Not all zeros (the gradient was computed).
        #expect(one.contains { $0 != 0 })
    }
}

/// Long sums shared by threads: exact accumulators merged after give the one-accumulator bits,
/// and a planned sum's block partials computed on several threads the one-thread bits.
@Suite(.serialized) struct ParallelSumTests {
    @Test func mergedExactAccumulatorsEqualOne() {
        // Huge values that cancel, tiny ones that survive only if nothing is lost.
        var x = roundingData(10_000, seed: 61)
        x[17] = 1e30; x[9_000] = -1e30; x[4_321] = 3e-38
        func exact(_ parts: [Range<Int>]) -> UInt32 {
            var accumulators = parts.map { r -> npu_exact in
                var a = npu_exact()
                npu_exact_init(&a)
                x.withUnsafeBufferPointer { npu_exact_add_f32(&a, $0.baseAddress! + r.lowerBound, r.count) }
                return a
            }
            return accumulators.withUnsafeMutableBufferPointer { a in
                for i in 1..<a.count { npu_exact_merge(&a[0], &a[i]) }
                return npu_exact_round_f32(&a[0]).bitPattern
            }
        }
        let whole = exact([0..<10_000])
        #expect(exact([0..<17, 17..<9_001, 9_001..<10_000]) == whole)
        #expect(exact((0..<10).map { ($0 * 1000)..<(($0 + 1) * 1000) }) == whole)
        // Everything cancels but the tiny value, which only one part holds.
        let saved = x
        x = [1e30, 1, 3e-38, -1e30, -1]
        #expect(exact([0..<2, 2..<5]) == Float(3e-38).bitPattern)
        #expect(exact([0..<3, 3..<5]) == Float(3e-38).bitPattern)
        x = saved
        // Non-finite values are counted through a merge too.
        x[5] = .infinity
        #expect(exact([0..<5, 5..<10_000]) == Float.infinity.bitPattern)
        x[6] = -.infinity
        #expect(Float(bitPattern: exact([0..<6, 6..<10_000])).isNaN)
    }

    @Test(arguments: [Determinism.on, .off, .strict])
    func longSumsGiveTheOneThreadBits(policy: Determinism) {
        let n = (1 << 20) + 12_345
        let x = roundingData(n, seed: 62)
        func sum(threads: Int) -> UInt32 {
            onThreads(threads) {
                let planner = makePlanner(policy, .replay(3))
                planner.enter(op: "ReduceSum")
                var out: Float = .nan
                x.withUnsafeBufferPointer { planner.sum(op: "ReduceSum", site: "sum", $0.baseAddress!, outer: 1, extent: n, inner: 1, into: &out) }
                return out.bitPattern
            }
        }
        let one = sum(threads: 1)
        #expect(sum(threads: 2) == one)
        #expect(sum(threads: 3) == one)
        #expect(!Float(bitPattern: one).isNaN)
    }
}
