import NPUDevice
import NPUTensor

/// MaximumGrad / MinimumGrad: routes g (shaped like the broadcast result) to x where x wins the
/// comparison (x ≥ y for Maximum, x ≤ y for Minimum), else to y. Outputs are full-size; the
/// caller sums them back to the inputs' shapes.
public struct SelectGrad: OpDef, Equatable {
    public let pickFirstWhenGreaterOrEqual: Bool
    public init(pickFirstWhenGreaterOrEqual: Bool) { self.pickFirstWhenGreaterOrEqual = pickFirstWhenGreaterOrEqual }
    public var type: String { pickFirstWhenGreaterOrEqual ? "MaximumGrad" : "MinimumGrad" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 3)
        guard let shape = broadcastShapes(inputs[0].shape, inputs[1].shape), shape == inputs[2].shape else {
            throw OpError(type, "dout \(inputs[2].shape) must have the broadcast shape of \(inputs[0].shape) and \(inputs[1].shape)")
        }
        return [TensorType(.float32, shape), TensorType(.float32, shape)]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let shape = inputs[2].shape
        var dx = Tensor(zeros: shape), dy = Tensor(zeros: shape)
        let a = try! inputs[0].toArray(of: Float.self), b = try! inputs[1].toArray(of: Float.self), g = try! inputs[2].toArray(of: Float.self)
        dx.withUnsafeMutableBytes { rx in
            dy.withUnsafeMutableBytes { ry in
                let px = rx.bindMemory(to: Float.self), py = ry.bindMemory(to: Float.self)
                forEachBroadcast(shape, broadcastStrides(inputs[0].shape, to: shape), broadcastStrides(inputs[1].shape, to: shape)) { k, ia, ib in
                    let first = pickFirstWhenGreaterOrEqual ? a[ia] >= b[ib] : a[ia] <= b[ib]
                    px[k] = first ? g[k] : 0
                    py[k] = first ? 0 : g[k]
                }
            }
        }
        return [dx, dy]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { elementwiseWork(inputs, outputs) }

    static let info = OpInfo(type: "MaximumGrad", summary: "gradient routing of Maximum/Minimum", hasBackward: false, plannedReductions: []) {
        OpSample(SelectGrad(pickFirstWhenGreaterOrEqual: true), [sampleTensor([2, 3]), sampleTensor([3], seed: 2), sampleTensor([2, 3], seed: 3)],
                 gradientInputs: []) { i in
            let b = [i[1][0], i[1][1], i[1][2], i[1][0], i[1][1], i[1][2]]
            return [(0..<6).map { i[0][$0] >= b[$0] ? i[2][$0] : 0 }, (0..<6).map { i[0][$0] >= b[$0] ? 0 : i[2][$0] }]
        }
    }
}
