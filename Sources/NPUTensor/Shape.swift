/// A tensor's dimensions, outermost first. A rank-0 shape (`[]`) holds one element.
/// Not a collection: its `count` is the element count, not the number of dimensions (use `dims`).
public struct Shape: Hashable, Sendable, ExpressibleByArrayLiteral, CustomStringConvertible {
    public var dims: [Int]

    public init(_ dims: [Int]) {
        precondition(dims.allSatisfy { $0 >= 0 }, "shape \(dims) has a negative dimension")
        self.dims = dims
    }

    public init(arrayLiteral elements: Int...) { self.init(elements) }

    /// Number of dimensions.
    public var rank: Int { dims.count }

    /// Number of elements (1 for rank 0). Shapes built from user input are checked with
    /// `checkedCount` first; an overflow here is a broken invariant.
    public var count: Int { dims.reduce(1, *) }

    /// The element count, or nil if it or any row-major stride does not fit in an `Int` (the
    /// product of the non-zero dimensions overflows).
    public var checkedCount: Int? {
        var n = 1
        for d in dims where d != 0 {
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            n = p
        }
        return dims.contains(0) ? 0 : n
    }

    /// The element count if `checkedCount` exists and is at most `limit`, else nil.
    public func count(atMost limit: Int) -> Int? {
        guard let n = checkedCount, n <= limit else { return nil }
        return n
    }

    /// Row-major (C order) strides in elements.
    public var contiguousStrides: [Int] {
        var strides = [Int](repeating: 1, count: dims.count)
        var stride = 1
        for i in dims.indices.reversed() {
            strides[i] = stride
            stride *= dims[i]
        }
        return strides
    }

    /// Dimension `i`.
    public subscript(i: Int) -> Int { dims[i] }

    /// `[2, 3]`, as MindSpore prints shapes.
    public var description: String { "[" + dims.map(String.init).joined(separator: ", ") + "]" }
}
