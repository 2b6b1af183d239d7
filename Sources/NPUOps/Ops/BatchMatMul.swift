import NPUDevice
import NPUTensor

/// op(A)·op(B) for each matrix of a batch: [..., M, K] × [..., K, N] with equal leading dimensions.
public struct BatchMatMul: OpDef, Equatable {
    public let transposeA: Bool
    public let transposeB: Bool
    public let splitK: SplitK
    /// The precision the cube computes in (see `MatMul.precision`).
    public let precision: Precision
    public init(transposeA: Bool = false, transposeB: Bool = false, splitK: SplitK = .auto, precision: Precision = .float32) {
        self.transposeA = transposeA
        self.transposeB = transposeB
        self.splitK = splitK
        self.precision = precision
    }
    public var type: String { "BatchMatMul" }

    func dims(_ a: Shape, _ b: Shape) throws(OpError) -> (batch: [Int], m: Int, k: Int, n: Int) {
        guard a.rank >= 3, a.rank == b.rank, Array(a.dims.dropLast(2)) == Array(b.dims.dropLast(2)) else {
            throw OpError(type, "inputs must be batches of matrices with equal batch dimensions, got \(a) and \(b)")
        }
        let mat = MatMul(transposeA: transposeA, transposeB: transposeB)
        do {
            let (m, k, n) = try mat.dims(Shape(Array(a.dims.suffix(2))), Shape(Array(b.dims.suffix(2))))
            return (Array(a.dims.dropLast(2)), m, k, n)
        } catch {
            throw OpError(type, error.message)
        }
    }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 2)
        try expectFloat(inputs, 0, "A")
        try expectFloat(inputs, 1, "B")
        let (batch, m, _, n) = try dims(inputs[0].shape, inputs[1].shape)
        return [TensorType(.float32, Shape(batch + [m, n]))]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let (batch, m, k, n) = try dims(inputs[0].shape, inputs[1].shape)
        return [batchedGEMM(inputs[0], inputs[1], batch: batch, m: m, k: k, n: n, transposeA, transposeB, split: splitK, op: type, ctx)]
    }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        try productGradients(&b, transposeA, transposeB, x[0], x[1], g[0], weightSplit: .auto) {
            BatchMatMul(transposeA: $0, transposeB: $1, splitK: $2, precision: precision)
        }
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work {
        guard let (batch, m, k, n) = try? dims(inputs[0].shape, inputs[1].shape) else { return Work(flops: 0, bytes: 0, unit: .cube) }
        return cubeWork(batch: batch.reduce(1, *), m: m, k: k, n: n, precision: precision, splitK: splitK == .never ? 0 : k)
    }

    public func reductionSites(_ inputs: [TensorType], _ outputs: [TensorType]) -> [ReductionSite] {
        guard let (batch, m, k, n) = try? dims(inputs[0].shape, inputs[1].shape) else { return [] }
        return productSites(batch: batch.reduce(1, *), m: m, k: k, n: n, split: splitK)
    }

    static let info = OpInfo(type: "BatchMatMul", summary: "batched matrix product", hasBackward: true, plannedReductions: ["splitK"]) {
        OpSample(BatchMatMul(transposeA: true), [sampleTensor([2, 5, 3]), sampleTensor([2, 5, 4], seed: 2)]) { i in
            let first = referenceMatMul(Array(i[0][0..<15]), Array(i[1][0..<20]), m: 3, k: 5, n: 4, transposeA: true, transposeB: false)
            let second = referenceMatMul(Array(i[0][15..<30]), Array(i[1][20..<40]), m: 3, k: 5, n: 4, transposeA: true, transposeB: false)
            return [first + second]
        }
    }
}
