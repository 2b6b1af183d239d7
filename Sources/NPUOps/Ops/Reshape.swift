import NPUDevice
import NPUTensor

/// The same elements with another shape (one dimension may be −1).
public struct Reshape: OpDef, Equatable {
    public let shape: [Int]
    public init(shape: [Int]) { self.shape = shape }
    public var type: String { "Reshape" }
    public var launchesKernel: Bool { false }

    func target(_ input: Shape) throws(OpError) -> Shape {
        var dims = shape
        let known = dims.filter { $0 != -1 }.reduce(1, *)
        let inferred = dims.indices.filter { dims[$0] == -1 }
        if inferred.count == 1, known > 0, input.count % known == 0 { dims[inferred[0]] = input.count / known }
        guard inferred.count <= 1, dims.allSatisfy({ $0 >= 0 }), dims.reduce(1, *) == input.count else {
            throw OpError(type, "cannot reshape \(input) (\(input.count) elements) to \(shape)")
        }
        return Shape(dims)
    }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 1)
        return [TensorType(inputs[0].dtype, try target(inputs[0].shape))]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        [try! inputs[0].contiguous().reshaped(try target(inputs[0].shape).dims)]
    }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        [try b.reshape(g[0], b.type(of: x[0]).shape)]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { Work(flops: 0, bytes: 0, unit: .vector) }

    static let info = OpInfo(type: "Reshape", summary: "new shape, same elements", hasBackward: true, plannedReductions: []) {
        OpSample(Reshape(shape: [3, -1]), [sampleTensor([2, 6])]) { i in [i[0]] }
    }
}
