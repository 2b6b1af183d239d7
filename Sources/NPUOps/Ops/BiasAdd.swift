import NPUDevice
import NPUKernels
import NPUTensor

/// x + b along axis 1 (NCHW / [N, C]): MindSpore's BiasAdd.
public struct BiasAdd: OpDef, Equatable {
    public init() {}
    public var type: String { "BiasAdd" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 2)
        try expectFloat(inputs, 0, "x")
        try expectFloat(inputs, 1, "bias")
        guard inputs[0].shape.rank >= 2, inputs[1].shape.rank == 1, inputs[1].shape[0] == inputs[0].shape[1] else {
            throw OpError(type, "bias \(inputs[1].shape) must be [C] for input \(inputs[0].shape) with C on axis 1")
        }
        return [inputs[0]]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let shape = inputs[0].shape
        let c = shape[1], inner = shape.dims.dropFirst(2).reduce(1, *)
        var out = Tensor(unfilled: shape)
        guard out.count > 0 else { return [out] }
        out.withMutableFloats { o in
            inputs[0].withFloats { x in inputs[1].withFloats { npu_bias_add_f32(o, x, $0, shape[0], c, inner) } }
        }
        return [out]
    }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        let rank = b.type(of: x[0]).shape.rank
        return [g[0], try b.reduceSum(g[0], axes: [0] + Array(2..<rank), keepDims: false)]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { elementwiseWork(inputs, outputs) }

    static let info = OpInfo(type: "BiasAdd", summary: "add a per-channel bias (axis 1)", hasBackward: true, plannedReductions: [],
                             backwardReductions: ["ReduceSum/sum (bias gradient over the batch)"]) {
        OpSample(BiasAdd(), [sampleTensor([2, 3, 2, 2]), sampleTensor([3], seed: 2)]) { i in
            [(0..<24).map { i[0][$0] + i[1][($0 / 4) % 3] }]
        }
    }
}
