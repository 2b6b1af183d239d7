import NPUDevice
import NPUTensor

/// The input broadcast to `shape` (NumPy rules).
public struct BroadcastTo: OpDef, Equatable {
    public let shape: [Int]
    public init(shape: [Int]) { self.shape = shape }
    public var type: String { "BroadcastTo" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 1)
        let target = Shape(shape)
        guard broadcastShapes(inputs[0].shape, target) == target else {
            throw OpError(type, "cannot broadcast \(inputs[0].shape) to \(target)")
        }
        return [TensorType(inputs[0].dtype, target)]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let target = Shape(shape)
        if inputs[0].shape == target { return [inputs[0]] }
        let strides = broadcastStrides(inputs[0].shape, to: target)
        var offsets = [Int](repeating: 0, count: target.count)
        forEachBroadcast(target, strides, strides) { k, ia, _ in offsets[k] = ia }
        return [gathered(inputs[0], target) { offsets[$0] }]
    }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        [try b.unbroadcast(g[0], to: b.type(of: x[0]).shape)]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { elementwiseWork(inputs, outputs, flopsPerElement: 0) }

    static let info = OpInfo(type: "BroadcastTo", summary: "broadcast to a shape", hasBackward: true, plannedReductions: []) {
        OpSample(BroadcastTo(shape: [2, 3, 2]), [sampleTensor([3, 1])]) { i in
            [(0..<12).map { i[0][($0 / 2) % 3] }]
        }
    }
}
