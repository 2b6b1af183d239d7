import NPUDevice
import NPUTensor

/// Sum over `axes` (all if empty). Split across AI cores by the reduction planner.
public struct ReduceSum: OpDef, Equatable {
    public let axes: [Int]
    public let keepDims: Bool
    public init(axes: [Int] = [], keepDims: Bool = false) {
        self.axes = axes
        self.keepDims = keepDims
    }
    public var type: String { "ReduceSum" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 1)
        try expectFloat(inputs, 0, "x")
        let a = try normalizeAxes(axes, rank: inputs[0].shape.rank, op: type)
        return [TensorType(.float32, reducedShape(inputs[0].shape, axes: a, keepDims: keepDims))]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let a = try normalizeAxes(axes, rank: inputs[0].shape.rank, op: type)
        return [plannedReduceSum(inputs[0], axes: a, keepDims: keepDims, op: type, site: "sum", ctx)]
    }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        let shape = b.type(of: x[0]).shape
        let a = try normalizeAxes(axes, rank: shape.rank, op: type)
        let kept = try b.reshape(g[0], reducedShape(shape, axes: a, keepDims: true))
        return [try b.one(BroadcastTo(shape: shape.dims), [kept])]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work {
        Work(flops: Double(inputs[0].shape.count), bytes: Double(4 * (inputs[0].shape.count + outputs[0].shape.count)), unit: .vector)
    }

    public func reductionSites(_ inputs: [TensorType], _ outputs: [TensorType]) -> [ReductionSite] {
        [ReductionSite(extent: inputs[0].shape.count / max(outputs[0].shape.count, 1), outputs: outputs[0].shape.count)]
    }

    static let info = OpInfo(type: "ReduceSum", summary: "sum over axes", hasBackward: true, plannedReductions: ["sum"]) {
        OpSample(ReduceSum(axes: [0, 2]), [sampleTensor([3, 4, 5])]) { i in
            [referenceReduce(i[0], [3, 4, 5], axes: [0, 2], initial: 0, +)]
        }
    }
}

/// A planned sum over `axes` of a float32 tensor.
func plannedReduceSum(_ x: Tensor, axes: [Int], keepDims: Bool, op: String, site: String, _ ctx: KernelContext) -> Tensor {
    let (data, outer, extent, inner) = reductionLayout(x, axes: axes)
    var out = Tensor(zeros: reducedShape(x.shape, axes: axes, keepDims: keepDims))
    data.withUnsafeBytes { src in
        out.withUnsafeMutableBytes { dst in
            ctx.planner.sum(op: op, site: site, src.bindMemory(to: Float.self).baseAddress!, outer: outer, extent: extent, inner: inner,
                            into: dst.bindMemory(to: Float.self).baseAddress!)
        }
    }
    return out
}
