import COpenBLAS
import NPUDevice
import NPUKernels
import NPUTensor

/// 2-D convolution, NCHW input [N, C, H, W] and weight [OC, C, KH, KW] (group 1): im2col of the
/// whole batch, then one OpenBLAS GEMM.
public struct Conv2D: OpDef, Equatable {
    public let stride: (Int, Int)
    public let padMode: PadMode
    public let dilation: (Int, Int)
    /// The precision the cube computes in (see `MatMul.precision`).
    public let precision: Precision
    public init(stride: (Int, Int) = (1, 1), padMode: PadMode = .valid, dilation: (Int, Int) = (1, 1), precision: Precision = .float32) {
        self.stride = stride
        self.padMode = padMode
        self.dilation = dilation
        self.precision = precision
    }
    public var type: String { "Conv2D" }
    public static func == (a: Self, b: Self) -> Bool {
        a.stride == b.stride && a.padMode == b.padMode && a.dilation == b.dilation && a.precision == b.precision
    }

    func geometry(_ x: Shape, _ w: Shape) throws(OpError) -> WindowGeometry {
        guard x.rank == 4 else { throw OpError(type, "input must be NCHW (rank 4), got \(x)") }
        guard w.rank == 4 else { throw OpError(type, "weight must be [out, in, kh, kw], got \(w)") }
        guard x[1] == w[1] else { throw OpError(type, "input has \(x[1]) channels, weight expects \(w[1])") }
        return try WindowGeometry(op: type, channels: x[1], height: x[2], width: x[3], kernel: (w[2], w[3]), stride: stride,
                                  dilation: dilation, pad: padMode)
    }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 2)
        try expectFloat(inputs, 0, "input")
        try expectFloat(inputs, 1, "weight")
        let g = try geometry(inputs[0].shape, inputs[1].shape)
        return [TensorType(.float32, [inputs[0].shape[0], inputs[1].shape[0], g.outHeight, g.outWidth])]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let x = inputs[0], w = inputs[1]
        var g = try geometry(x.shape, w.shape)
        let n = x.shape[0], oc = w.shape[0], plane = g.outHeight * g.outWidth
        let imageSize = x.shape.dims.dropFirst().reduce(1, *)
        var out = Tensor(zeros: [n, oc, g.outHeight, g.outWidth])
        let threads = BLAS.threads == 1 ? Parallel.threads : 1
        if oc * plane * g.patch < BLAS.panelProducts && n > 1 && threads > 1 {
            // Small images: each thread lays out one image's columns (in its core's cache) and
            // multiplies them, images dealt round-robin; the same product per image as below.
            let workers = min(threads, n), window = g.window, patch = g.patch
            let col = ctx.workspace.floats(patch * plane * workers, slot: 0)
            out.withMutableFloats { dst in
                x.withFloats { xp in
                    w.withFloats { wp in
                        Parallel.forEach(workers, threads: workers) { worker in
                            var win = window
                            let mine = col + worker * patch * plane
                            for t in Swift.stride(from: worker, to: n, by: workers) {
                                npu_im2col_f32(mine, xp + t * imageSize, &win, 1)
                                BLAS.sgemm(m: oc, n: plane, k: patch, a: wp, lda: patch, b: mine, ldb: plane, c: dst + t * oc * plane, ldc: plane)
                            }
                        }
                    }
                }
            }
            return [out]
        }
        // Tiles of images whose columns fit in L2 (~512 KiB): im2col then writes to cache, not DRAM.
        let tile = max(1, min(n, 131_072 / max(g.patch * plane, 1)))
        let col = ctx.workspace.floats(g.patch * tile * plane, slot: 0)
        out.withMutableFloats { dst in
            x.withFloats { xp in
                w.withFloats { wp in
                    for start in Swift.stride(from: 0, to: n, by: tile) {
                        let count = min(tile, n - start), cols = count * plane
                        npu_im2col_f32(col, xp + start * imageSize, &g.window, Int32(count))
                        imageProducts(count, m: oc, plane: plane, k: g.patch, a: wp, lda: g.patch, transA: false, b: col, ldb: cols, c: dst + start * oc * plane)
                    }
                }
            }
        }
        return [out]
    }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        let conv = ConvAttributes(stride: stride, padMode: padMode, dilation: dilation, precision: precision)
        return [try b.one(Conv2DBackpropInput(conv, inputShape: b.type(of: x[0]).shape.dims), [g[0], x[1]]),
                try b.one(Conv2DBackpropFilter(conv, filterShape: b.type(of: x[1]).shape.dims), [g[0], x[0]])]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work {
        // The GEMM of im2col: [OC × C·KH·KW]·[C·KH·KW × N·OH·OW] (the input read once, not per patch).
        let w = inputs[1].shape, out = outputs[0].shape
        let patch = w[1] * w[2] * w[3], columns = out[0] * out[2] * out[3]
        var work = cubeWork(batch: 1, m: w[0], k: patch, n: columns, precision: precision, splitK: 0)
        work.bytes = operandSize(precision) * Double(inputs[0].shape.count + w.count) + 4 * Double(out.count)
        work.workspaceBytes = Int64(operandSize(precision)) * Int64(patch) * Int64(columns)  // the im2col matrix
        return work
    }

    static let info = OpInfo(type: "Conv2D", summary: "2-D convolution (im2col + GEMM)", hasBackward: true, plannedReductions: [],
                             backwardReductions: ["Conv2DBackpropFilter/dW (batch tiles add into dW)"]) {
        OpSample(Conv2D(stride: (2, 1), padMode: .same), [sampleTensor([2, 2, 5, 4]), sampleTensor([3, 2, 3, 2], seed: 2)]) { i in
            [referenceConv(i[0], [2, 2, 5, 4], i[1], [3, 2, 3, 2], stride: (2, 1), pad: (1, 0), out: (3, 4))]
        }
    }
}

/// One product per image, C_t = op(A)·B_t with B_t = b + t·imageStride [k × plane] and C_t at
/// c + t·outputStride [m × plane] (row length ldc): Conv2D's output lands in NCHW order and
/// Conv2DBackpropInput reads dy as it is, with no transposing copy. Each is a column panel of
/// the one product over all the images, so each output's additions are the same. Small
/// products share the threads image by image; larger ones split into panels (`sgemmShared`).
func imageProducts(_ images: Int, m: Int, plane: Int, k: Int, a: UnsafePointer<Float>, lda: Int, transA: Bool, b: UnsafePointer<Float>,
                   ldb: Int, imageStride: Int? = nil, c: UnsafeMutablePointer<Float>, ldc: Int? = nil, outputStride: Int? = nil) {
    let bStep = imageStride ?? plane, cStep = outputStride ?? m * plane, cRow = ldc ?? plane
    if images > 1 && m * plane * k < BLAS.panelProducts {
        Parallel.forEach(images, threads: BLAS.threads == 1 ? Parallel.threads : 1) { t in
            BLAS.sgemm(transA: transA, m: m, n: plane, k: k, a: a, lda: lda, b: b + t * bStep, ldb: ldb, c: c + t * cStep, ldc: cRow)
        }
    } else {
        for t in 0..<images {
            BLAS.sgemmShared(transA: transA, m: m, n: plane, k: k, a: a, lda: lda, b: b + t * bStep, ldb: ldb, c: c + t * cStep, ldc: cRow)
        }
    }
}

/// The attributes Conv2D passes to its backward ops.
public struct ConvAttributes: Hashable, Sendable {
    public var stride: (Int, Int)
    public var padMode: PadMode
    public var dilation: (Int, Int)
    /// The precision the cube computes in.
    public var precision: Precision = .float32

    public static func == (a: ConvAttributes, b: ConvAttributes) -> Bool {
        a.stride == b.stride && a.padMode == b.padMode && a.dilation == b.dilation && a.precision == b.precision
    }
    public func hash(into h: inout Hasher) {
        h.combine(stride.0)
        h.combine(stride.1)
        h.combine(padMode)
        h.combine(dilation.0)
        h.combine(dilation.1)
        h.combine(precision)
    }
}

/// Conv2D's input gradient: Wᵀ·dy per column, then col2im. Inputs dy [N, OC, OH, OW], weight.
public struct Conv2DBackpropInput: OpDef, Equatable {
    public let conv: ConvAttributes
    public let inputShape: [Int]
    public init(_ conv: ConvAttributes, inputShape: [Int]) {
        self.conv = conv
        self.inputShape = inputShape
    }
    public var type: String { "Conv2DBackpropInput" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 2)
        let forward = Conv2D(stride: conv.stride, padMode: conv.padMode, dilation: conv.dilation)
        let out = try forward.infer([TensorType(.float32, Shape(inputShape)), inputs[1]])[0]
        guard inputs[0] == out else { throw OpError(type, "dy must be \(out) for input \(inputShape), got \(inputs[0])") }
        return [TensorType(.float32, Shape(inputShape))]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let dy = inputs[0], w = inputs[1]
        var g = try Conv2D(stride: conv.stride, padMode: conv.padMode, dilation: conv.dilation).geometry(Shape(inputShape), w.shape)
        let n = inputShape[0], oc = w.shape[0], plane = g.outHeight * g.outWidth, cols = n * plane
        let dcol = ctx.workspace.floats(g.patch * cols, slot: 0)
        // Image t's dy [OC × P] is contiguous: its columns of dcol come straight from it.
        w.withFloats { wp in
            dy.withFloats { dyp in
                imageProducts(n, m: g.patch, plane: plane, k: oc, a: wp, lda: g.patch, transA: true, b: dyp, ldb: plane, imageStride: oc * plane,
                              c: dcol, ldc: cols, outputStride: plane)
            }
        }
        var dx = Tensor(zeros: Shape(inputShape))
        dx.withMutableFloats { npu_col2im_f32($0, dcol, &g.window, Int32(n)) }
        return [dx]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work {
        // The GEMM Wᵀ·dy: [C·KH·KW × OC]·[OC × N·OH·OW].
        let w = inputs[1].shape, dy = inputs[0].shape
        var work = cubeWork(batch: 1, m: w[1] * w[2] * w[3], k: w[0], n: dy[0] * dy[2] * dy[3], precision: conv.precision, splitK: 0)
        work.bytes = operandSize(conv.precision) * Double(dy.count + w.count) + 4 * Double(outputs[0].shape.count)
        work.workspaceBytes = 4 * Int64(w[1] * w[2] * w[3]) * Int64(dy[0] * dy[2] * dy[3])  // the column gradient before col2im
        return work
    }

    static let info = OpInfo(type: "Conv2DBackpropInput", summary: "Conv2D's input gradient (GEMM + col2im)", hasBackward: false,
                             plannedReductions: []) {
        convGradSample(Conv2DBackpropInput(ConvAttributes(stride: (1, 1), padMode: .valid, dilation: (1, 1)), inputShape: [2, 2, 4, 4]), input: false)
    }
}

/// Conv2D's filter gradient dW = Σ over images of dy·colᵀ: the batch is split into tiles across
/// AI cores, and the tiles' partial dW are added by the reduction planner. Inputs dy, x.
public struct Conv2DBackpropFilter: OpDef, Equatable {
    public let conv: ConvAttributes
    public let filterShape: [Int]
    public init(_ conv: ConvAttributes, filterShape: [Int]) {
        self.conv = conv
        self.filterShape = filterShape
    }
    public var type: String { "Conv2DBackpropFilter" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 2)
        let forward = Conv2D(stride: conv.stride, padMode: conv.padMode, dilation: conv.dilation)
        let out = try forward.infer([inputs[1], TensorType(.float32, Shape(filterShape))])[0]
        guard inputs[0] == out else { throw OpError(type, "dy must be \(out) for filter \(filterShape), got \(inputs[0])") }
        return [TensorType(.float32, Shape(filterShape))]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let dy = inputs[0], x = inputs[1]
        let g = try Conv2D(stride: conv.stride, padMode: conv.padMode, dilation: conv.dilation).geometry(x.shape, Shape(filterShape))
        let n = x.shape[0], oc = filterShape[0], plane = g.outHeight * g.outWidth, cols = n * plane, patch = g.patch
        let cp = ctx.workspace.floats(patch * cols, slot: 0), gp = ctx.workspace.floats(oc * cols, slot: 1)
        let imageSize = x.shape.dims.dropFirst().reduce(1, *), window = g.window
        // A block's columns and dy rows, laid out for its product: all at once for the exact
        // product, else each block's just before its product (then still in cache), in its own
        // part of the buffers. The values and their order are the same either way.
        func lay(_ images: Range<Int>, _ xp: UnsafePointer<Float>, _ dyp: UnsafePointer<Float>) -> (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) {
            let start = images.lowerBound * plane
            var w = window
            npu_im2col_f32(cp + patch * start, xp + images.lowerBound * imageSize, &w, Int32(images.count))
            npu_swap_outer_f32(gp + oc * start, dyp + images.lowerBound * oc * plane, images.count, oc, plane)  // [T, OC, P] → [OC, T·P]
            return (gp + oc * start, cp + patch * start)
        }
        var dw = Tensor(zeros: Shape(filterShape))
        x.withFloats { xp in
            dy.withFloats { dyp in
                dw.withMutableFloats { out in
                    ctx.planner.accumulate(op: type, site: "dW", extent: n, count: oc * patch, into: out,
                                           threads: BLAS.threads == 1 ? Parallel.threads : 1, partial: { images, buffer in
                        let (g, c) = lay(images, xp, dyp), k = images.count * plane
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(oc), Int32(patch), Int32(k), 1, g, Int32(k), c, Int32(k), 0,
                                    buffer, Int32(patch))
                    }, exact: { buffer in
                        // dW = G · Cᵀ over every image and position: the strict product's exact dots.
                        _ = lay(0..<n, xp, dyp)
                        exactProduct(false, true, oc, patch, cols, gp, cols, cp, cols, buffer)
                    })
                }
            }
        }
        return [dw]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work {
        // The GEMM dy·colᵀ: [OC × N·OH·OW]·[N·OH·OW × C·KH·KW], split over the batch.
        let w = outputs[0].shape, dy = inputs[0].shape
        var work = cubeWork(batch: 1, m: w[0], k: dy[0] * dy[2] * dy[3], n: w[1] * w[2] * w[3], precision: conv.precision, splitK: dy[0])
        work.bytes = operandSize(conv.precision) * Double(dy.count + inputs[1].shape.count) + 4 * Double(w.count)
        work.workspaceBytes = Int64(operandSize(conv.precision)) * Int64(w[1] * w[2] * w[3]) * Int64(dy[0] * dy[2] * dy[3])  // im2col of x
        return work
    }

    static let info = OpInfo(type: "Conv2DBackpropFilter", summary: "Conv2D's filter gradient (batch tiles add into dW)", hasBackward: false,
                             plannedReductions: ["dW"]) {
        convGradSample(Conv2DBackpropFilter(ConvAttributes(stride: (1, 1), padMode: .valid, dilation: (1, 1)), filterShape: [3, 2, 2, 3]), input: true)
    }
}

/// Samples of the two conv gradients, checked against the adjoint of the reference convolution.
func convGradSample(_ op: any OpDef, input: Bool) -> OpSample {
    let xs: Shape = [2, 2, 4, 4], ws: Shape = input ? [3, 2, 2, 3] : [3, 2, 2, 3]
    let dy = sampleTensor([2, 3, 3, 2], seed: 9)
    let other = input ? sampleTensor(xs, seed: 3) : sampleTensor(ws, seed: 4)
    return OpSample(op, [dy, other], gradientInputs: []) { i in
        // The gradient of Σ dy·conv(x, w) with respect to w (or x), by finite differences in double.
        let base = input ? i[1] : [Double](repeating: 0, count: xs.count)
        let weight = input ? [Double](repeating: 0, count: ws.count) : i[1]
        let n = input ? ws.count : xs.count
        return [(0..<n).map { e in
            var x = base, w = weight
            if input { w[e] = 1 } else { x[e] = 1 }
            let out = referenceConv(x, xs, w, ws, stride: (1, 1), pad: (0, 0), out: (3, 2))
            return zip(out, i[0]).reduce(0.0) { $0 + $1.0 * $1.1 }
        }]
    }
}

/// Reference convolution in double (NCHW, OIHW), with padding (top, left).
func referenceConv(_ x: [Double], _ xs: Shape, _ w: [Double], _ ws: Shape, stride: (Int, Int), pad: (Int, Int), out: (Int, Int)) -> [Double] {
    let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3]), (oc, kh, kw) = (ws[0], ws[2], ws[3])
    var y = [Double](repeating: 0, count: n * oc * out.0 * out.1)
    for b in 0..<n {
        for o in 0..<oc {
            for i in 0..<out.0 {
                for j in 0..<out.1 {
                    var s = 0.0
                    for ch in 0..<c {
                        for ki in 0..<kh {
                            for kj in 0..<kw {
                                let ii = i * stride.0 - pad.0 + ki, jj = j * stride.1 - pad.1 + kj
                                guard ii >= 0, ii < h, jj >= 0, jj < wd else { continue }
                                s += x[((b * c + ch) * h + ii) * wd + jj] * w[((o * c + ch) * kh + ki) * kw + kj]
                            }
                        }
                    }
                    y[((b * oc + o) * out.0 + i) * out.1 + j] = s
                }
            }
        }
    }
    return y
}
