import NPUDevice
import NPUTensor

/// One-hot encoding of integer indices along a new last axis of size `depth`.
public struct OneHot: OpDef, Equatable {
    public let depth: Int
    public let on: Float
    public let off: Float
    public init(depth: Int, on: Float = 1, off: Float = 0) {
        self.depth = depth
        self.on = on
        self.off = off
    }
    public var type: String { "OneHot" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 1)
        guard inputs[0].dtype == .int32 || inputs[0].dtype == .int64 else {
            throw OpError(type, "indices must be int32 or int64, got \(inputs[0].dtype)")
        }
        guard depth > 0 else { throw OpError(type, "depth must be positive, got \(depth)") }
        return [TensorType(.float32, Shape(inputs[0].shape.dims + [depth]))]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let idx = indexValues(inputs[0])
        var values = [Float](repeating: off, count: idx.count * depth)
        for (p, v) in idx.enumerated() where v >= 0 && v < depth { values[p * depth + v] = on }
        return [try! Tensor(shape: Shape(inputs[0].shape.dims + [depth]), values: values)]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { elementwiseWork(inputs, outputs, flopsPerElement: 0) }

    static let info = OpInfo(type: "OneHot", summary: "one-hot encoding (out-of-range indices give all off)", hasBackward: false,
                             plannedReductions: []) {
        OpSample(OneHot(depth: 3), [try! Tensor(shape: [3], values: [Int32(2), 0, 5])], gradientInputs: []) { _ in
            [[0, 0, 1, 1, 0, 0, 0, 0, 0]]
        }
    }
}
