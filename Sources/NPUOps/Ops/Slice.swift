import NPUDevice
import NPUTensor

/// The block of `size` starting at `begin` (MindSpore's Slice; size −1 means "to the end").
public struct Slice: OpDef, Equatable {
    public let begin: [Int]
    public let size: [Int]
    public init(begin: [Int], size: [Int]) {
        self.begin = begin
        self.size = size
    }
    public var type: String { "Slice" }

    func sizes(_ shape: Shape) throws(OpError) -> [Int] {
        guard begin.count == shape.rank, size.count == shape.rank else {
            throw OpError(type, "begin \(begin) and size \(size) need \(shape.rank) entries for input \(shape)")
        }
        var result: [Int] = []
        for d in 0..<shape.rank {
            let s = size[d] == -1 ? shape[d] - begin[d] : size[d]
            guard begin[d] >= 0, s >= 0, begin[d] + s <= shape[d] else {
                throw OpError(type, "begin \(begin) size \(size) is outside input \(shape) on axis \(d)")
            }
            result.append(s)
        }
        return result
    }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 1)
        return [TensorType(inputs[0].dtype, Shape(try sizes(inputs[0].shape)))]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let x = inputs[0], out = Shape(try sizes(x.shape))
        let inStrides = x.shape.contiguousStrides, outStrides = out.contiguousStrides
        return [gathered(x, out) { k in
            zip(zip(multiIndex(k, outStrides), begin), inStrides).reduce(0) { $0 + ($1.0.0 + $1.0.1) * $1.1 }
        }]
    }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        [try b.one(SliceGrad(begin: begin, inputShape: b.type(of: x[0]).shape.dims), [g[0]])]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { elementwiseWork(outputs, outputs, flopsPerElement: 0) }

    static let info = OpInfo(type: "Slice", summary: "a block of the input", hasBackward: true, plannedReductions: []) {
        OpSample(Slice(begin: [1, 0], size: [2, -1]), [sampleTensor([4, 3])]) { i in [Array(i[0][3..<9])] }
    }
}

/// Slice's backward: zeros of the input's shape with dy placed at `begin`.
public struct SliceGrad: OpDef, Equatable {
    public let begin: [Int]
    public let inputShape: [Int]
    public init(begin: [Int], inputShape: [Int]) {
        self.begin = begin
        self.inputShape = inputShape
    }
    public var type: String { "SliceGrad" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 1)
        _ = try Slice(begin: begin, size: inputs[0].shape.dims).infer([TensorType(inputs[0].dtype, Shape(inputShape))])
        return [TensorType(inputs[0].dtype, Shape(inputShape))]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let g = inputs[0], shape = Shape(inputShape)
        var out = Tensor(zeros: shape, dtype: g.dtype)
        let size = g.dtype.size, outStrides = shape.contiguousStrides, gStrides = g.shape.contiguousStrides
        g.withUnsafeBytes { src in
            out.withUnsafeMutableBytes { dst in
                for k in 0..<g.count {
                    let offset = zip(zip(multiIndex(k, gStrides), begin), outStrides).reduce(0) { $0 + ($1.0.0 + $1.0.1) * $1.1 }
                    (dst.baseAddress! + offset * size).copyMemory(from: src.baseAddress! + k * size, byteCount: size)
                }
            }
        }
        return [out]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { elementwiseWork(inputs, outputs, flopsPerElement: 0) }

    static let info = OpInfo(type: "SliceGrad", summary: "Slice's backward", hasBackward: false, plannedReductions: []) {
        OpSample(SliceGrad(begin: [1, 0], inputShape: [3, 2]), [sampleTensor([1, 2])], gradientInputs: []) { i in
            [[0, 0, i[0][0], i[0][1], 0, 0]]
        }
    }
}
