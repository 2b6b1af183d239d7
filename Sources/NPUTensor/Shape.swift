/// A tensor's dimensions, outermost first. A rank-0 shape (`[]`) holds one element.
public struct Shape: Hashable, Sendable, ExpressibleByArrayLiteral, CustomStringConvertible, RandomAccessCollection {
    public var dims: [Int]

    public init(_ dims: [Int]) {
        precondition(dims.allSatisfy { $0 >= 0 }, "shape \(dims) has a negative dimension")
        self.dims = dims
    }

    public init(arrayLiteral elements: Int...) { self.init(elements) }

    /// Number of dimensions.
    public var rank: Int { dims.count }

    /// Number of elements (1 for rank 0).
    public var count: Int { dims.reduce(1, *) }

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

    public var startIndex: Int { 0 }
    public var endIndex: Int { dims.count }
    public subscript(i: Int) -> Int { dims[i] }

    /// `[2, 3]`, as MindSpore prints shapes.
    public var description: String { "[" + dims.map(String.init).joined(separator: ", ") + "]" }
}
