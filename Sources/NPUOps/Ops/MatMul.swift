import COpenBLAS
import NPUDevice
import NPUKernels
import NPUTensor

/// Whether a MatMul splits its reduced dimension K across AI cores (partials added by the
/// reduction planner, as atomic adds on the card).
public enum SplitK: Hashable, Sendable {
    /// Split when the output has fewer cube tiles (16×16 on the Ascend profiles) than the card has
    /// AI cores and K can be split: the cores would otherwise sit idle. Under `strict` every K > 1
    /// is computed exactly, whatever the profile.
    case auto
    /// Always split (weight gradients, which reduce over the batch).
    case always
    case never
}

/// op(A)·op(B) of float32 matrices with OpenBLAS (op = optional transpose).
public struct MatMul: OpDef, Equatable {
    public let transposeA: Bool
    public let transposeB: Bool
    public let splitK: SplitK
    /// The precision the cube computes in (float16 under O2: the operands were rounded to it);
    /// the values are the same, the cost model's rate and traffic are not.
    public let precision: Precision
    public init(transposeA: Bool = false, transposeB: Bool = false, splitK: SplitK = .auto, precision: Precision = .float32) {
        self.transposeA = transposeA
        self.transposeB = transposeB
        self.splitK = splitK
        self.precision = precision
    }
    public var type: String { "MatMul" }

    /// (M, K, N) of op(A)·op(B).
    func dims(_ a: Shape, _ b: Shape) throws(OpError) -> (m: Int, k: Int, n: Int) {
        guard a.rank == 2, b.rank == 2 else { throw OpError(type, "inputs must be matrices, got \(a) and \(b)") }
        let (m, ka) = transposeA ? (a[1], a[0]) : (a[0], a[1])
        let (kb, n) = transposeB ? (b[1], b[0]) : (b[0], b[1])
        guard ka == kb else {
            throw OpError(type, "inner dimensions differ: op(A) is \(m)×\(ka), op(B) is \(kb)×\(n) (transpose_a \(transposeA), transpose_b \(transposeB))")
        }
        return (m, ka, n)
    }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 2)
        try expectFloat(inputs, 0, "A")
        try expectFloat(inputs, 1, "B")
        let (m, _, n) = try dims(inputs[0].shape, inputs[1].shape)
        return [TensorType(.float32, [m, n])]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let (m, k, n) = try dims(inputs[0].shape, inputs[1].shape)
        return [batchedGEMM(inputs[0], inputs[1], batch: [], m: m, k: k, n: n, transposeA, transposeB, split: splitK, op: type, ctx)]
    }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        // dB contracts over M, the batch rows of a Dense layer: a weight gradient, always split.
        try productGradients(&b, transposeA, transposeB, x[0], x[1], g[0], weightSplit: .always) {
            MatMul(transposeA: $0, transposeB: $1, splitK: $2, precision: precision)
        }
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work {
        let (m, k, n) = (try? dims(inputs[0].shape, inputs[1].shape)) ?? (0, 0, 0)
        return cubeWork(batch: 1, m: m, k: k, n: n, precision: precision, splitK: splitK == .never ? 0 : k)
    }

    public func reductionSites(_ inputs: [TensorType], _ outputs: [TensorType]) -> [ReductionSite] {
        guard let (m, k, n) = try? dims(inputs[0].shape, inputs[1].shape) else { return [] }
        return productSites(batch: 1, m: m, k: k, n: n, split: splitK)
    }

    static let info = OpInfo(type: "MatMul", summary: "matrix product (OpenBLAS); split-K when planned", hasBackward: true,
                             plannedReductions: ["splitK"], backwardReductions: ["MatMul/splitK (weight gradient)"]) {
        OpSample(MatMul(transposeB: true), [sampleTensor([3, 40]), sampleTensor([2, 40], seed: 2)]) { i in
            [referenceMatMul(i[0], i[1], m: 3, k: 40, n: 2, transposeA: false, transposeB: true)]
        }
    }
}

/// op(A)·op(B) for each of the Π`batch` matrices of A [..., rows, cols] and B (the same for
/// `batch` = [] is one MatMul), each through `plannedGEMM`.
func batchedGEMM(_ a: Tensor, _ b: Tensor, batch: [Int], m: Int, k: Int, n: Int, _ ta: Bool, _ tb: Bool, split: SplitK, op: String,
                 _ ctx: KernelContext) -> Tensor {
    var out = Tensor(unfilled: Shape(batch + [m, n]))
    let lda = a.shape.dims.last!, ldb = b.shape.dims.last!
    a.withFloats { ap in
        b.withFloats { bp in
            out.withMutableFloats { cp in
                for i in 0..<batch.reduce(1, *) {
                    plannedGEMM(ta, tb, m, n, k, ap + i * m * k, lda, bp + i * k * n, ldb, cp + i * m * n, split: split, op: op, ctx)
                }
            }
        }
    }
    return out
}

/// Gradients of C = op(A)·op(B) as products themselves: dA contracts over N, dB over M.
func productGradients<B: GradBuilder>(_ b: inout B, _ ta: Bool, _ tb: Bool, _ a: B.Value, _ bb: B.Value, _ g: B.Value, weightSplit: SplitK,
                                      make: (Bool, Bool, SplitK) -> any OpDef) throws(OpError) -> [B.Value?] {
    switch (ta, tb) {
    case (false, false): [try b.one(make(false, true, .auto), [g, bb]), try b.one(make(true, false, weightSplit), [a, g])]
    case (false, true): [try b.one(make(false, false, .auto), [g, bb]), try b.one(make(true, false, weightSplit), [g, a])]
    case (true, false): [try b.one(make(false, true, .auto), [bb, g]), try b.one(make(false, false, weightSplit), [a, g])]
    case (true, true): [try b.one(make(true, true, .auto), [bb, g]), try b.one(make(true, true, weightSplit), [g, a])]
    }
}

/// C[m×n] = op(A)·op(B): one OpenBLAS call, or split over K by the reduction planner and computed
/// by the fused split-K kernel.
func plannedGEMM(_ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int,
                 _ b: UnsafePointer<Float>, _ ldb: Int, _ c: UnsafeMutablePointer<Float>, split: SplitK, op: String, _ ctx: KernelContext) {
    let planner = ctx.planner
    let side = planner.cubeTile
    let tiles = ((m + side - 1) / side) * ((n + side - 1) / side)
    let splits = switch split {
    case .always: k > 0
    case .never: false
    // Under strict every product that could split on some profile is computed exactly, so the
    // bits never depend on the core count.
    case .auto: planner.policy(for: op) == .strict ? k > 1 : tiles < planner.cores && planner.naturalBlockCount(extent: k) > 1
    }
    guard m > 0, n > 0 else { return }
    guard splits else {
        BLAS.sgemmShared(transA: ta, transB: tb, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: n)
        return
    }
    // Threads share the work unless the product is too small to repay waking one.
    let small = m * n * k < 1 << 16
    let threads = small ? 1 : Parallel.threads
    if !small && k < fusedMinimumDepth * planner.blockCount(extent: k) && BLAS.writesSmallProductsDirectly {
        // Shallow blocks (a weight gradient over a batch) where OpenBLAS writes small products
        // directly, with the fused kernel's bits: a one-thread OpenBLAS call per block and band of
        // rows, bands on several threads while OpenBLAS runs one thread per call (NPUSim's
        // setting; multi-threaded calls at once would only queue for its threads).
        func gemm(_ range: Range<Int>, rows: Range<Int>, _ out: UnsafeMutablePointer<Float>) {
            let aStart = (ta ? a + range.lowerBound * lda : a + range.lowerBound) + (ta ? rows.lowerBound : rows.lowerBound * lda)
            let bStart = tb ? b + range.lowerBound : b + range.lowerBound * ldb
            cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, Int32(rows.count), Int32(n),
                        Int32(range.count), 1, aStart, Int32(lda), bStart, Int32(ldb), 0, out, Int32(n))
        }
        planner.accumulate(op: op, site: "splitK", extent: k, rows: m, rowLength: n, into: c, threads: BLAS.threads == 1 ? threads : 1,
                           partial: gemm) { out in
            exactProduct(ta, tb, m, n, k, a, lda, b, ldb, out)
        }
        return
    }
    // Deep blocks: partials computed and combined in one pass (Kernels/gemm.c), each
    // micro-tile's partials of every block in cache.
    planner.accumulateFused(op: op, site: "splitK", extent: k, count: m * n, into: c, workspace: { npu_splitk_gemm_workspace(k, $0, threads) }) { plan, workspace in
        let bounds = plan.blocks.map { Int64($0.lowerBound) } + [Int64(k)]
        plan.order.withUnsafeBufferPointer { o in
            npu_splitk_gemm_f32(c, a, lda, ta ? 1 : 0, b, ldb, tb ? 1 : 0, m, n, k, bounds, plan.blocks.count, o.baseAddress!,
                                o.count / plan.blocks.count, plan.tileSize, workspace, threads)
        }
    } exact: { out in
        exactProduct(ta, tb, m, n, k, a, lda, b, ldb, out)
    }
}

/// Blocks of at least this many terms go to the fused split-K kernel, and every block of a small
/// product (under 2^16 multiply-adds, where a call per block costs more than the arithmetic).
/// Shallower blocks of larger products are mostly partial traffic, which OpenBLAS's one call per
/// block writes about 12 % faster (the MLP's weight gradient on Zen 4) where it writes small
/// products directly (`BLAS.writesSmallProductsDirectly`); elsewhere they go to the fused kernel
/// too, as OpenBLAS's Haswell kernels zero each block's output before adding to it (1.2–1.5×
/// slower) and round about 5 % of the outputs otherwise than the fused chains.
let fusedMinimumDepth = 16

/// The `strict` product: every output an exact dot product, rounded once.
///
/// Fast path (`npu_strict_product_f32`, Kernels/gemm.c): the product in double. A float product
/// is exact in double, and each of the k additions, in whatever order and with FMA, errs by at
/// most 2^-53 of a partial sum, so the result is within γ_k·Σ|a||b| of the exact sum
/// (γ_k = k·2^-53/(1 − k·2^-53)), and Σ|a||b| ≤ ‖row‖·‖column‖ (Cauchy–Schwarz). Where every
/// value in that interval rounds to the same float, that float is the correctly rounded exact sum
/// (zero as +0, as the accumulator gives it); undecided outputs get a compensated sum with its own
/// bound (every product ±0 decides +0 there), and what that leaves (an exact tie, NaN, infinity)
/// is summed exactly one by one here.
func exactProduct(_ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int,
                  _ b: UnsafePointer<Float>, _ ldb: Int, _ out: UnsafeMutablePointer<Float>, threads: Int? = nil) {
    // Row i of op(A) and column j of op(B) as a start and a stride, for the exact fallback.
    func row(_ i: Int) -> (UnsafePointer<Float>, Int) { ta ? (a + i, lda) : (a + i * lda, 1) }
    func column(_ j: Int) -> (UnsafePointer<Float>, Int) { tb ? (b + j * ldb, 1) : (b + j, ldb) }
    guard k > 0 else {
        for e in 0..<(m * n) { out[e] = exactDot(a, 1, b, 1, 0) }
        return
    }
    let u = 0x1p-53, kd = Double(k)
    // γ_k, doubled for the rounding of the norms and of the interval's ends.
    let gamma = kd * u < 0.25 ? 2 * kd * u / (1 - kd * u) : .infinity
    // The double product and the acceptance test (Kernels/gemm.c), on NPUSim's threads while
    // OpenBLAS runs one per call; the outputs it does not accept (NaN in out) are summed exactly
    // one by one.
    let threads = threads ?? (BLAS.threads == 1 && m * n * k >= 1 << 16 ? Parallel.threads : 1)
    let rejected = npu_strict_product_f32(out, a, lda, ta ? 1 : 0, b, ldb, tb ? 1 : 0, m, n, k, gamma, threads)
    guard rejected != 0 else { return }
    let all = rejected == -1  // (size_t)-1: no memory for the double operands, so every output exactly
    for i in 0..<m {
        for j in 0..<n where all || out[i * n + j].isNaN {
            let (x, sx) = row(i), (y, sy) = column(j)
            out[i * n + j] = exactDot(x, sx, y, sy, k)
        }
    }
}

/// Reference product in double.
func referenceMatMul(_ a: [Double], _ b: [Double], m: Int, k: Int, n: Int, transposeA: Bool, transposeB: Bool) -> [Double] {
    var out = [Double](repeating: 0, count: m * n)
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k { s += (transposeA ? a[p * m + i] : a[i * k + p]) * (transposeB ? b[j * k + p] : b[p * n + j]) }
            out[i * n + j] = s
        }
    }
    return out
}
