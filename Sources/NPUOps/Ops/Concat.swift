import NPUDevice
import NPUTensor

/// Inputs joined along `axis`.
public struct Concat: OpDef, Equatable {
    public let axis: Int
    public init(axis: Int = 0) { self.axis = axis }
    public var type: String { "Concat" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        guard let first = inputs.first else { throw OpError(type, "needs at least one input") }
        let a = try normalizeAxes([axis], rank: first.shape.rank, op: type)[0]
        var dims = first.shape.dims
        dims[a] = 0
        for (k, t) in inputs.enumerated() {
            guard t.dtype == first.dtype, t.shape.rank == first.shape.rank,
                  (0..<dims.count).allSatisfy({ $0 == a || t.shape[$0] == first.shape[$0] }) else {
                throw OpError(type, "input \(k) \(t) does not match input 0 \(first) outside axis \(axis)")
            }
            dims[a] += t.shape[a]
        }
        return [TensorType(first.dtype, Shape(dims))]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let out = try infer(inputs.map(\.type))[0]
        let a = try normalizeAxes([axis], rank: out.shape.rank, op: type)[0]
        let outer = out.shape.dims[..<a].reduce(1, *), inner = out.shape.dims[(a + 1)...].reduce(1, *)
        var result = Tensor(zeros: out.shape, dtype: out.dtype)
        let size = out.dtype.size
        result.withUnsafeMutableBytes { dst in
            var column = 0
            for t in inputs {
                let width = t.shape[a] * inner * size
                t.withUnsafeBytes { src in
                    for o in 0..<outer {
                        (dst.baseAddress! + (o * out.shape[a] * inner + column * inner) * size)
                            .copyMemory(from: src.baseAddress! + o * width, byteCount: width)
                    }
                }
                column += t.shape[a]
            }
        }
        return [result]
    }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        let rank = b.type(of: x[0]).shape.rank
        let a = try normalizeAxes([axis], rank: rank, op: type)[0]
        var start = 0
        var grads: [B.Value?] = []
        for v in x {
            let shape = b.type(of: v).shape
            var begin = [Int](repeating: 0, count: rank)
            begin[a] = start
            grads.append(try b.one(Slice(begin: begin, size: shape.dims), [g[0]]))
            start += shape[a]
        }
        return grads
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { elementwiseWork(inputs, outputs, flopsPerElement: 0) }

    static let info = OpInfo(type: "Concat", summary: "join along an axis", hasBackward: true, plannedReductions: []) {
        OpSample(Concat(axis: 1), [sampleTensor([2, 2]), sampleTensor([2, 3], seed: 2)]) { i in
            [[i[0][0], i[0][1], i[1][0], i[1][1], i[1][2], i[0][2], i[0][3], i[1][3], i[1][4], i[1][5]]]
        }
    }
}
