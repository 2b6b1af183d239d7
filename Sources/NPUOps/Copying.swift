import NPUTensor

/// A tensor of `shape` whose element k is x's element at storage offset `source(k)` (in
/// elements, row-major x), copied byte-wise so that every dtype works.
func gathered(_ x: Tensor, _ shape: Shape, _ source: (Int) -> Int) -> Tensor {
    var out = Tensor(zeros: shape, dtype: x.dtype)
    let size = x.dtype.size
    x.withUnsafeBytes { src in
        out.withUnsafeMutableBytes { dst in
            for k in 0..<shape.count {
                (dst.baseAddress! + k * size).copyMemory(from: src.baseAddress! + source(k) * size, byteCount: size)
            }
        }
    }
    return out
}

/// Row-major multi-index of element k of `shape`.
func multiIndex(_ k: Int, _ strides: [Int]) -> [Int] {
    var rest = k
    return strides.map { s in
        let i = rest / s
        rest -= i * s
        return i
    }
}
