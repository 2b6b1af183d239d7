import NPUTensor

/// Normalises axes (negative counts from the end); empty means every axis.
func normalizeAxes(_ axes: [Int], rank: Int, op: String) throws(OpError) -> [Int] {
    if axes.isEmpty { return Array(0..<rank) }
    var result: [Int] = []
    for a in axes {
        let n = a < 0 ? a + rank : a
        guard n >= 0, n < rank else { throw OpError(op, "axis \(a) is out of range for rank \(rank) (valid: \(-rank)..<\(rank))") }
        guard !result.contains(n) else { throw OpError(op, "axis \(a) is repeated in \(axes)") }
        result.append(n)
    }
    return result.sorted()
}

/// The tensor as a contiguous [outer, extent, inner] array reducing `axes`: a view when the axes
/// are one contiguous run, else a transposed copy with the reduced axes last.
func reductionLayout(_ x: Tensor, axes: [Int]) -> (data: Tensor, outer: Int, extent: Int, inner: Int) {
    let dims = x.shape.dims
    let extent = axes.reduce(1) { $0 * dims[$1] }
    if let first = axes.first, axes == Array(first..<(first + axes.count)) {
        let outer = dims[..<first].reduce(1, *), inner = dims[(first + axes.count)...].reduce(1, *)
        return (x.contiguous(), outer, extent, inner)
    }
    let kept = (0..<dims.count).filter { !axes.contains($0) }
    let moved = try! x.transposed(kept + axes).contiguous()
    return (moved, kept.reduce(1) { $0 * dims[$1] }, extent, 1)
}

/// The shape left after reducing `axes`.
func reducedShape(_ shape: Shape, axes: [Int], keepDims: Bool) -> Shape {
    Shape(shape.dims.enumerated().compactMap { i, d in axes.contains(i) ? (keepDims ? 1 : nil) : d })
}

/// The values of an integer index tensor, exactly (through `doubles()` a large int64 would round
/// and trap converting back). Bool and float tensors are rejected by shape inference before this.
func indexValues(_ t: Tensor) -> [Int] {
    switch t.dtype {
    case .int32: (try! t.toArray(of: Int32.self)).map(Int.init)
    case .int64: (try! t.toArray(of: Int64.self)).map(Int.init)
    default: t.doubles().map { $0.isFinite && abs($0) < 0x1p62 ? Int($0) : Int.min }
    }
}
