import NPUDevice
import NPUKernels
import NPUTensor

/// Rows of `params` [V, ...] at integer `indices` [...]: out [indices..., params[1:]...] (axis 0,
/// the Embedding lookup).
public struct Gather: OpDef, Equatable {
    public init() {}
    public var type: String { "Gather" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 2)
        guard inputs[0].shape.rank >= 1 else { throw OpError(type, "params must have at least one dimension") }
        guard inputs[1].dtype == .int32 || inputs[1].dtype == .int64 else {
            throw OpError(type, "indices must be int32 or int64, got \(inputs[1].dtype)")
        }
        return [TensorType(inputs[0].dtype, Shape(inputs[1].shape.dims + inputs[0].shape.dims.dropFirst()))]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let params = inputs[0], rows = params.shape[0]
        let idx = indexValues(inputs[1])
        if let bad = idx.firstIndex(where: { $0 < 0 || $0 >= rows }) {
            throw OpError(type, "index \(idx[bad]) at position \(bad) is outside 0..<\(rows)")
        }
        let width = params.shape.dims.dropFirst().reduce(1, *)
        let out = Shape(inputs[1].shape.dims + params.shape.dims.dropFirst())
        return [gathered(params, out) { k in idx[k / max(width, 1)] * width + k % max(width, 1) }]
    }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        [try b.one(GatherGrad(rows: b.type(of: x[0]).shape[0]), [g[0], x[1]]), nil]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { elementwiseWork([inputs[1]], outputs, flopsPerElement: 0) }

    static let info = OpInfo(type: "Gather", summary: "rows of params at indices (Embedding)", hasBackward: true, plannedReductions: [],
                             backwardReductions: ["GatherGrad/scatter-add"]) {
        OpSample(Gather(), [sampleTensor([5, 3]), try! Tensor(shape: [2, 2], values: [Int32(4), 1, 1, 0])]) { i in
            [[4, 1, 1, 0].flatMap { r in (0..<3).map { i[0][r * 3 + $0] } }]
        }
    }
}

/// Gather's backward: scatter-add of dy rows into a [rows, ...] zero tensor at the indices
/// (UnsortedSegmentSum). Rows hit by several indices are sums: the index positions are split
/// into blocks across AI cores and the block partials added in the planner's order.
public struct GatherGrad: OpDef, Equatable {
    public let rows: Int
    public init(rows: Int) { self.rows = rows }
    public var type: String { "GatherGrad" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 2)
        try expectFloat(inputs, 0, "dy")
        let idx = inputs[1].shape
        guard inputs[0].shape.rank >= idx.rank, Array(inputs[0].shape.dims.prefix(idx.rank)) == idx.dims else {
            throw OpError(type, "dy \(inputs[0].shape) must start with the indices' shape \(idx)")
        }
        return [TensorType(.float32, Shape([rows] + inputs[0].shape.dims.dropFirst(idx.rank)))]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let out = try infer(inputs.map(\.type))[0]
        let idx = indexValues(inputs[1])
        guard idx.allSatisfy({ $0 >= 0 && $0 < rows }) else { throw OpError(type, "indices must be in 0..<\(rows)") }
        let width = out.shape.dims.dropFirst().reduce(1, *)
        let g = try! inputs[0].toArray(of: Float.self)
        var result = Tensor(zeros: out.shape)
        result.withUnsafeMutableBytes { raw in
            let dst = raw.bindMemory(to: Float.self).baseAddress!
            let plan = ctx.planner.plan(op: type, site: "scatter-add", extent: idx.count, outputs: rows * width)
            if plan.policy == .strict {
                var acc = npu_exact()
                for r in Set(idx) {
                    let positions = idx.indices.filter { idx[$0] == r }
                    for d in 0..<width {
                        npu_exact_init(&acc)
                        for p in positions { npu_exact_add_f64(&acc, Double(g[p * width + d])) }
                        dst[r * width + d] = npu_exact_round_f32(&acc)
                    }
                }
                return
            }
            // Each block's partial rows (positions in order); every output tile adds the blocks'
            // partials in its own order.
            let partials = plan.blocks.map { block -> [Int: [Float]] in
                var partial: [Int: [Float]] = [:]
                for p in block {
                    var row = partial[idx[p]] ?? [Float](repeating: 0, count: width)
                    for d in 0..<width { row[d] += g[p * width + d] }
                    partial[idx[p]] = row
                }
                return partial
            }
            for r in Set(idx) {
                for d in 0..<width {
                    let e = r * width + d
                    var total: Float = 0
                    for b in plan.order(tile: e / plan.tileSize) { if let row = partials[Int(b)][r] { total += row[d] } }
                    dst[e] = total
                }
            }
        }
        return [result]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { elementwiseWork(inputs, outputs) }

    public func reductionSites(_ inputs: [TensorType], _ outputs: [TensorType]) -> [ReductionSite] {
        [ReductionSite(extent: inputs[1].shape.count, outputs: outputs[0].shape.count)]  // the scatter-add
    }

    static let info = OpInfo(type: "GatherGrad", summary: "Gather's backward: scatter-add (UnsortedSegmentSum)", hasBackward: false,
                             plannedReductions: ["scatter-add"]) {
        OpSample(GatherGrad(rows: 3), [sampleTensor([4, 2]), try! Tensor(shape: [4], values: [Int32(2), 0, 2, 2])], gradientInputs: []) { i in
            let g = i[0]
            return [[g[2], g[3], 0, 0, g[0] + g[4] + g[6], g[1] + g[5] + g[7]]]
        }
    }
}
