import NPUDevice
import NPUKernels
import NPUTensor

/// NumPy broadcasting of two shapes, or nil if they do not broadcast.
public func broadcastShapes(_ a: Shape, _ b: Shape) -> Shape? {
    let rank = max(a.rank, b.rank)
    var dims = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
        let da = i < rank - a.rank ? 1 : a[i - (rank - a.rank)]
        let db = i < rank - b.rank ? 1 : b[i - (rank - b.rank)]
        guard da == db || da == 1 || db == 1 else { return nil }
        dims[i] = da == 1 ? db : da
    }
    return Shape(dims)
}

/// Strides (in elements) that read `shape` as if broadcast to `target` (0 on broadcast axes).
func broadcastStrides(_ shape: Shape, to target: Shape) -> [Int] {
    let own = shape.contiguousStrides
    let pad = target.rank - shape.rank
    return (0..<target.rank).map { i in i < pad || shape[i - pad] == 1 ? 0 : own[i - pad] }
}

/// Calls `body(outIndex, aIndex, bIndex)` for every element of `out`, with input offsets under
/// broadcasting.
func forEachBroadcast(_ out: Shape, _ sa: [Int], _ sb: [Int], _ body: (Int, Int, Int) -> Void) {
    let n = out.count
    guard n > 0 else { return }
    let rank = out.rank
    var index = [Int](repeating: 0, count: rank)
    var ia = 0, ib = 0
    for k in 0..<n {
        body(k, ia, ib)
        var d = rank - 1
        while d >= 0 {
            index[d] += 1
            ia += sa[d]
            ib += sb[d]
            if index[d] < out[d] { break }
            ia -= sa[d] * out[d]
            ib -= sb[d] * out[d]
            index[d] = 0
            d -= 1
        }
    }
}

/// A float32 elementwise op of one input.
protocol UnaryElementwise: OpDef {
    func apply(_ x: Float) -> Float
    var flopsPerElement: Double { get }
    /// A C kernel computing `apply` over a whole buffer (out, x, count), if there is one.
    var kernel: (@convention(c) (UnsafeMutablePointer<Float>?, UnsafePointer<Float>?, Int) -> Void)? { get }
}

extension UnaryElementwise {
    var flopsPerElement: Double { 1 }
    var kernel: (@convention(c) (UnsafeMutablePointer<Float>?, UnsafePointer<Float>?, Int) -> Void)? { nil }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 1)
        try expectFloat(inputs, 0, "x")
        return inputs
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        var out = Tensor(unfilled: inputs[0].shape)
        inputs[0].withUnsafeBytes { raw in
            out.withUnsafeMutableBytes { dst in
                let x = raw.bindMemory(to: Float.self), o = dst.bindMemory(to: Float.self)
                if let kernel {
                    kernel(o.baseAddress, x.baseAddress, o.count)
                } else {
                    for i in 0..<o.count { o[i] = apply(x[i]) }
                }
            }
        }
        return [out]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work {
        elementwiseWork(inputs, outputs, flopsPerElement: flopsPerElement)
    }
}

/// A float32 elementwise op of two broadcast inputs.
protocol BinaryElementwise: OpDef {
    func apply(_ a: Float, _ b: Float) -> Float
    /// The C kernel computing `apply` (bit for bit), if there is one.
    var kernel: npu_binary_op? { get }
}

/// How an operand of a broadcast binary op maps onto its output viewed as [rows][width]: every
/// element, one scalar, or a row repeated along the leading axes (nil: none of these).
func operandLayout(_ s: Shape, count: Int, of out: Shape) -> (layout: npu_operand, width: Int?)? {
    if s == out { return (NPU_FULL, nil) }
    if count == 1 { return (NPU_SCALAR, nil) }
    if s.rank <= out.rank, s.dims == Array(out.dims.suffix(s.rank)) { return (NPU_ROW, count) }
    return nil
}

extension BinaryElementwise {
    var kernel: npu_binary_op? { nil }

    /// Runs the C kernel if there is one and both layouts are ones it takes; false otherwise.
    func runKernel(_ a: UnsafeBufferPointer<Float>, _ sa: Shape, _ b: UnsafeBufferPointer<Float>, _ sb: Shape,
                   _ o: UnsafeMutableBufferPointer<Float>, _ shape: Shape) -> Bool {
        guard let kernel, o.count > 0, let la = operandLayout(sa, count: a.count, of: shape),
              let lb = operandLayout(sb, count: b.count, of: shape) else { return false }
        if let wa = la.width, let wb = lb.width, wa != wb { return false }
        let width = la.width ?? lb.width ?? o.count
        npu_binary_f32(kernel, o.baseAddress!, a.baseAddress!, la.layout, b.baseAddress!, lb.layout, o.count / width, width)
        return true
    }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 2)
        try expectFloat(inputs, 0, "x")
        try expectFloat(inputs, 1, "y")
        guard let shape = broadcastShapes(inputs[0].shape, inputs[1].shape) else {
            throw OpError(type, "shapes \(inputs[0].shape) and \(inputs[1].shape) do not broadcast")
        }
        return [TensorType(.float32, shape)]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let (sa, sb) = (inputs[0].shape, inputs[1].shape)
        let shape = broadcastShapes(sa, sb)!
        var out = Tensor(unfilled: shape)
        inputs[0].withUnsafeBytes { ra in
            inputs[1].withUnsafeBytes { rb in
                out.withUnsafeMutableBytes { ro in
                    let a = ra.bindMemory(to: Float.self), b = rb.bindMemory(to: Float.self), o = ro.bindMemory(to: Float.self)
                    let n = o.count
                    if runKernel(a, sa, b, sb, o, shape) {
                        return
                    } else if sa == shape && sb == shape {
                        for i in 0..<n { o[i] = apply(a[i], b[i]) }
                    } else if b.count == 1 && sa == shape {
                        let s = b[0]
                        for i in 0..<n { o[i] = apply(a[i], s) }
                    } else if a.count == 1 && sb == shape {
                        let s = a[0]
                        for i in 0..<n { o[i] = apply(s, b[i]) }
                    } else if sa == shape, b.count > 0, sb.rank <= shape.rank, sb.dims == Array(shape.dims.suffix(sb.rank)) {
                        let w = b.count  // b repeats along the leading axes
                        for r in 0..<(n / w) { for j in 0..<w { o[r * w + j] = apply(a[r * w + j], b[j]) } }
                    } else {
                        forEachBroadcast(shape, broadcastStrides(sa, to: shape), broadcastStrides(sb, to: shape)) { k, ia, ib in
                            o[k] = apply(a[ia], b[ib])
                        }
                    }
                }
            }
        }
        return [out]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work {
        elementwiseWork(inputs, outputs)
    }
}

// MARK: Building gradients

extension GradBuilder {
    /// The first output of `op` applied to `inputs`.
    public mutating func one(_ op: any OpDef, _ inputs: [Value]) throws(OpError) -> Value { try apply(op, inputs)[0] }
    public mutating func scalar(_ v: Float) -> Value { constant(Tensor(scalar: v)) }
    public mutating func add(_ a: Value, _ b: Value) throws(OpError) -> Value { try one(Add(), [a, b]) }
    public mutating func sub(_ a: Value, _ b: Value) throws(OpError) -> Value { try one(Sub(), [a, b]) }
    public mutating func mul(_ a: Value, _ b: Value) throws(OpError) -> Value { try one(Mul(), [a, b]) }
    public mutating func div(_ a: Value, _ b: Value) throws(OpError) -> Value { try one(Div(), [a, b]) }
    public mutating func neg(_ a: Value) throws(OpError) -> Value { try one(Neg(), [a]) }
    public mutating func reshape(_ a: Value, _ shape: Shape) throws(OpError) -> Value {
        type(of: a).shape == shape ? a : try one(Reshape(shape: shape.dims), [a])
    }
    public mutating func reduceSum(_ a: Value, axes: [Int], keepDims: Bool) throws(OpError) -> Value {
        try one(ReduceSum(axes: axes, keepDims: keepDims), [a])
    }

    /// Sums a gradient of a broadcast result back to `shape` (a planned ReduceSum over the
    /// broadcast axes, then a reshape).
    public mutating func unbroadcast(_ g: Value, to shape: Shape) throws(OpError) -> Value {
        let gShape = type(of: g).shape
        if gShape == shape { return g }
        let pad = gShape.rank - shape.rank
        let axes = (0..<gShape.rank).filter { $0 < pad || (shape[$0 - pad] == 1 && gShape[$0] != 1) }
        let summed = axes.isEmpty ? g : try reduceSum(g, axes: axes, keepDims: false)
        return try reshape(summed, shape)
    }
}

// MARK: Double-precision references for the catalogue tests

/// Elementwise reference with broadcasting.
func referenceBroadcast(_ a: [Double], _ sa: Shape, _ b: [Double], _ sb: Shape, _ f: (Double, Double) -> Double) -> [Double] {
    let out = broadcastShapes(sa, sb)!
    var result = [Double](repeating: 0, count: out.count)
    forEachBroadcast(out, broadcastStrides(sa, to: out), broadcastStrides(sb, to: out)) { k, ia, ib in result[k] = f(a[ia], b[ib]) }
    return result
}

/// Reference reduction in double: `combine` over `axes` of a row-major array of `shape`.
func referenceReduce(_ x: [Double], _ shape: Shape, axes: [Int], initial: Double, _ combine: (Double, Double) -> Double) -> [Double] {
    let outShape = reducedShape(shape, axes: axes, keepDims: true)
    var out = [Double](repeating: initial, count: outShape.count)
    let strides = shape.contiguousStrides, outStrides = outShape.contiguousStrides
    for k in 0..<x.count {
        var o = 0
        for (d, i) in multiIndex(k, strides).enumerated() where !axes.contains(d) { o += i * outStrides[d] }
        out[o] = combine(out[o], x[k])
    }
    return out
}
