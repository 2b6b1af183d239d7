import NPUDevice
import NPUTensor

/// Mean over `axes` (all if empty): the planned sum divided by the count.
public struct ReduceMean: OpDef, Equatable {
    public let axes: [Int]
    public let keepDims: Bool
    public init(axes: [Int] = [], keepDims: Bool = false) {
        self.axes = axes
        self.keepDims = keepDims
    }
    public var type: String { "ReduceMean" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try ReduceSum(axes: axes, keepDims: keepDims).infer(inputs)
    }

    func count(_ shape: Shape) throws(OpError) -> Int {
        try normalizeAxes(axes, rank: shape.rank, op: type).reduce(1) { $0 * shape[$1] }
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let a = try normalizeAxes(axes, rank: inputs[0].shape.rank, op: type)
        let n = Float(try count(inputs[0].shape))
        var out = plannedReduceSum(inputs[0], axes: a, keepDims: keepDims, op: type, site: "sum", ctx)
        out.withUnsafeMutableBytes { raw in
            let p = raw.bindMemory(to: Float.self)
            for i in 0..<p.count { p[i] = p[i] / n }
        }
        return [out]
    }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        let shape = b.type(of: x[0]).shape
        let scaled = try b.div(g[0], b.scalar(Float(try count(shape))))
        return try ReduceSum(axes: axes, keepDims: keepDims).backward(&b, x, y, [scaled])
    }

    public func reductionSites(_ inputs: [TensorType], _ outputs: [TensorType]) -> [ReductionSite] {
        [ReductionSite(extent: inputs[0].shape.count / max(outputs[0].shape.count, 1), outputs: outputs[0].shape.count)]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work {
        ReduceSum(axes: axes, keepDims: keepDims).work(inputs, outputs)
    }

    static let info = OpInfo(type: "ReduceMean", summary: "mean over axes", hasBackward: true, plannedReductions: ["sum"]) {
        OpSample(ReduceMean(axes: [-1], keepDims: true), [sampleTensor([3, 6])]) { i in
            [referenceReduce(i[0], [3, 6], axes: [1], initial: 0, +).map { $0 / 6 }]
        }
    }
}
