import NPUDevice
import NPUTensor

/// Dimensions reordered by `perm` (output axis k is input axis perm[k]).
public struct Transpose: OpDef, Equatable {
    public let perm: [Int]
    public init(perm: [Int]) { self.perm = perm }
    public var type: String { "Transpose" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 1)
        guard perm.count == inputs[0].shape.rank, Set(perm) == Set(0..<perm.count) else {
            throw OpError(type, "perm \(perm) is not a permutation of 0..<\(inputs[0].shape.rank)")
        }
        return [TensorType(inputs[0].dtype, Shape(perm.map { inputs[0].shape[$0] }))]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        [try! inputs[0].transposed(perm).contiguous()]
    }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        var inverse = [Int](repeating: 0, count: perm.count)
        for (k, p) in perm.enumerated() { inverse[p] = k }
        return [try b.one(Transpose(perm: inverse), [g[0]])]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { elementwiseWork(inputs, outputs, flopsPerElement: 0) }

    static let info = OpInfo(type: "Transpose", summary: "permute dimensions", hasBackward: true, plannedReductions: []) {
        OpSample(Transpose(perm: [1, 2, 0]), [sampleTensor([2, 3, 4])]) { i in
            [(0..<24).map { k in let (a, b, c) = (k / 8, (k / 2) % 4, k % 2); return i[0][c * 12 + a * 4 + b] }]
        }
    }
}
