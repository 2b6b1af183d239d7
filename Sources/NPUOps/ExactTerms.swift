import NPUKernels
import NPUTensor

/// An op each of whose outputs is a plain sum of terms of its inputs (MatMul: products along the
/// contracted axis; ReduceSum: the reduced elements), which can add those terms exactly into
/// accumulators. A `strict` AllReduce over gradients made by such ops adds every card's terms
/// exactly and rounds once, so its result is the correctly rounded sum over the global batch,
/// whatever the card count — the cards' exact accumulators travel, not their rounded sums.
public protocol ExactTerms: OpDef {
    /// Adds the terms of every element of output 0 exactly into `acc` (one accumulator per output
    /// element, row-major); false when this launch's inputs are not ones it can (other dtypes or
    /// precisions), and then nothing was added.
    func addExactTerms(_ inputs: [Tensor], into acc: UnsafeMutablePointer<npu_exact>) -> Bool
    /// The same for output `output` (ops with several summed outputs, LayerNormGrad's dγ and dβ).
    func addExactTerms(_ inputs: [Tensor], output: Int, into acc: UnsafeMutablePointer<npu_exact>) -> Bool
}

extension ExactTerms {
    public func addExactTerms(_ inputs: [Tensor], output: Int, into acc: UnsafeMutablePointer<npu_exact>) -> Bool {
        output == 0 && addExactTerms(inputs, into: acc)
    }
}

extension MatMul: ExactTerms {
    public func addExactTerms(_ inputs: [Tensor], into acc: UnsafeMutablePointer<npu_exact>) -> Bool {
        // Under O2 the operands hold float16 values (the cast before the cube rounded them), and
        // the kernel multiplies the values it is given: the same terms at either precision.
        guard inputs.count == 2, inputs.allSatisfy({ $0.dtype == .float32 && $0.shape.rank == 2 }) else { return false }
        let (a, b) = (inputs[0].shape, inputs[1].shape)
        let (m, k) = transposeA ? (a[1], a[0]) : (a[0], a[1])
        let n = transposeB ? b[0] : b[1]
        guard (transposeB ? b[1] : b[0]) == k else { return false }
        inputs[0].withUnsafeBytes { ra in
            inputs[1].withUnsafeBytes { rb in
                guard let pa = ra.baseAddress?.assumingMemoryBound(to: Float.self), let pb = rb.baseAddress?.assumingMemoryBound(to: Float.self) else { return }
                // A(i, p) and B(p, j) as a start and a stride along p.
                let sa = transposeA ? m : 1, sb = transposeB ? 1 : n
                for i in 0..<m {
                    let rowA = transposeA ? pa + i : pa + i * k
                    for j in 0..<n {
                        npu_exact_add_dot_f32(acc + i * n + j, rowA, sa, transposeB ? pb + j * k : pb + j, sb, k)
                    }
                }
            }
        }
        return true
    }
}

extension ReduceSum: ExactTerms {
    public func addExactTerms(_ inputs: [Tensor], into acc: UnsafeMutablePointer<npu_exact>) -> Bool {
        guard inputs.count == 1, inputs[0].dtype == .float32 else { return false }
        let dims = inputs[0].shape.dims, rank = dims.count
        let reduced = Set((axes.isEmpty ? Array(0..<rank) : axes).map { $0 < 0 ? $0 + rank : $0 })
        guard reduced.allSatisfy({ (0..<rank).contains($0) }) else { return false }
        // Each input element's output index: the row-major index over the kept axes.
        var outStride = [Int](repeating: 0, count: rank)
        var s = 1
        for d in (0..<rank).reversed() where !reduced.contains(d) {
            outStride[d] = s
            s *= dims[d]
        }
        inputs[0].withUnsafeBytes { raw in
            guard let x = raw.baseAddress?.assumingMemoryBound(to: Float.self) else { return }
            var index = [Int](repeating: 0, count: rank)
            for e in 0..<inputs[0].count {
                var o = 0
                for d in 0..<rank { o += index[d] * outStride[d] }
                npu_exact_add_f32(acc + o, x + e, 1)
                var d = rank - 1
                while d >= 0 {
                    index[d] += 1
                    if index[d] < dims[d] { break }
                    index[d] = 0
                    d -= 1
                }
            }
        }
        return true
    }
}

extension Conv2DBackpropFilter: ExactTerms {
    /// dW[o, p] = Σ over images and output positions of dy · the input patch element: products
    /// of the im2col matrix and dy, each added exactly.
    public func addExactTerms(_ inputs: [Tensor], into acc: UnsafeMutablePointer<npu_exact>) -> Bool {
        guard inputs.count == 2, inputs.allSatisfy({ $0.dtype == .float32 && $0.shape.rank == 4 }),
              var g = try? Conv2D(stride: conv.stride, padMode: conv.padMode, dilation: conv.dilation).geometry(inputs[1].shape, Shape(filterShape))
        else { return false }
        let n = inputs[1].shape[0], oc = filterShape[0], plane = g.outHeight * g.outWidth, cols = n * plane, patch = g.patch
        guard inputs[0].shape.dims == [n, oc, g.outHeight, g.outWidth] else { return false }
        var col = [Float](repeating: 0, count: patch * cols), dy = [Float](repeating: 0, count: oc * cols)
        col.withUnsafeMutableBufferPointer { c in inputs[1].withFloats { npu_im2col_f32(c.baseAddress!, $0, &g.window, Int32(n)) } }
        dy.withUnsafeMutableBufferPointer { d in inputs[0].withFloats { npu_swap_outer_f32(d.baseAddress!, $0, n, oc, plane) } }
        col.withUnsafeBufferPointer { c in
            dy.withUnsafeBufferPointer { d in
                for o in 0..<oc {
                    for p in 0..<patch { npu_exact_add_dot_f32(acc + o * patch + p, d.baseAddress! + o * cols, 1, c.baseAddress! + p * cols, 1, cols) }
                }
            }
        }
        return true
    }
}

extension LayerNormGrad: ExactTerms {
    public func addExactTerms(_ inputs: [Tensor], into acc: UnsafeMutablePointer<npu_exact>) -> Bool { false }

    /// dγ (output 1) and dβ (output 2) are column sums over the rows of dy·x̂ and dy: the same
    /// rounded products the kernel sums (`terms`), added exactly. dx (output 0) is no plain sum.
    public func addExactTerms(_ inputs: [Tensor], output: Int, into acc: UnsafeMutablePointer<npu_exact>) -> Bool {
        guard output == 1 || output == 2, inputs.count == 5, inputs.allSatisfy({ $0.dtype == .float32 }),
              let t = try? terms(inputs) else { return false }
        let data = output == 1 ? t.dyXhat : t.dy
        data.withUnsafeBufferPointer { p in
            for r in 0..<t.rows {
                for k in 0..<t.d { npu_exact_add_f32(acc + k, p.baseAddress! + r * t.d + k, 1) }
            }
        }
        return true
    }
}

extension GatherGrad: ExactTerms {
    /// Embedding's (Gather's) gradient: each row of dy added into the row its index names.
    public func addExactTerms(_ inputs: [Tensor], into acc: UnsafeMutablePointer<npu_exact>) -> Bool {
        guard inputs.count == 2, inputs[0].dtype == .float32, let out = try? infer(inputs.map(\.type))[0] else { return false }
        let idx = indexValues(inputs[1])
        guard idx.allSatisfy({ $0 >= 0 && $0 < rows }) else { return false }
        let width = out.shape.dims.dropFirst().reduce(1, *)
        inputs[0].withUnsafeBytes { raw in
            guard let g = raw.baseAddress?.assumingMemoryBound(to: Float.self) else { return }
            for (p, r) in idx.enumerated() {
                for d in 0..<width { npu_exact_add_f32(acc + r * width + d, g + p * width + d, 1) }
            }
        }
        return true
    }
}
