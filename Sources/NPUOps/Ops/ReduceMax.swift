import NPUDevice
import NPUTensor

/// Maximum over `axes` (all if empty). Max is order-independent: no planning needed.
public struct ReduceMax: OpDef, Equatable {
    public let axes: [Int]
    public let keepDims: Bool
    public init(axes: [Int] = [], keepDims: Bool = false) {
        self.axes = axes
        self.keepDims = keepDims
    }
    public var type: String { "ReduceMax" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try ReduceSum(axes: axes, keepDims: keepDims).infer(inputs)
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let a = try normalizeAxes(axes, rank: inputs[0].shape.rank, op: type)
        let (data, outer, extent, inner) = reductionLayout(inputs[0], axes: a)
        let x = try! data.toArray(of: Float.self)
        var values = [Float](repeating: -.infinity, count: outer * inner)
        for o in 0..<outer {
            for r in 0..<extent {
                for i in 0..<inner {
                    let v = x[(o * extent + r) * inner + i]
                    if v > values[o * inner + i] || v.isNaN { values[o * inner + i] = v }
                }
            }
        }
        return [try! Tensor(shape: reducedShape(inputs[0].shape, axes: a, keepDims: keepDims), values: values)]
    }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        let shape = b.type(of: x[0]).shape
        let a = try normalizeAxes(axes, rank: shape.rank, op: type)
        let keep = reducedShape(shape, axes: a, keepDims: true)
        let out = try b.one(BroadcastTo(shape: shape.dims), [try b.reshape(y[0], keep)])
        let dout = try b.one(BroadcastTo(shape: shape.dims), [try b.reshape(g[0], keep)])
        return [try b.one(ReduceMaxGrad(axes: a), [x[0], out, dout])]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work {
        ReduceSum(axes: axes, keepDims: keepDims).work(inputs, outputs)
    }

    static let info = OpInfo(type: "ReduceMax", summary: "maximum over axes", hasBackward: true, plannedReductions: []) {
        OpSample(ReduceMax(axes: [1]), [sampleTensor([4, 5])]) { i in
            [referenceReduce(i[0], [4, 5], axes: [1], initial: -.infinity, max)]
        }
    }
}

/// ReduceMax's backward: dout where x equals the maximum, shared equally among ties
/// (inputs x, max and dout, the last two broadcast to x's shape).
public struct ReduceMaxGrad: OpDef, Equatable {
    public let axes: [Int]
    public init(axes: [Int]) { self.axes = axes }
    public var type: String { "ReduceMaxGrad" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 3)
        guard inputs[1] == inputs[0], inputs[2] == inputs[0] else {
            throw OpError(type, "max and dout must be broadcast to x's type \(inputs[0]), got \(inputs[1]) and \(inputs[2])")
        }
        return [inputs[0]]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let a = try normalizeAxes(axes, rank: inputs[0].shape.rank, op: type)
        let (xd, outer, extent, inner) = reductionLayout(inputs[0], axes: a)
        let x = try! xd.toArray(of: Float.self)
        let m = try! reductionLayout(inputs[1], axes: a).data.toArray(of: Float.self)
        let g = try! reductionLayout(inputs[2], axes: a).data.toArray(of: Float.self)
        var dx = [Float](repeating: 0, count: x.count)
        for o in 0..<outer {
            for i in 0..<inner {
                var ties: Float = 0
                for r in 0..<extent where x[(o * extent + r) * inner + i] == m[(o * extent + r) * inner + i] { ties += 1 }
                for r in 0..<extent {
                    let k = (o * extent + r) * inner + i
                    if x[k] == m[k] { dx[k] = g[k] / ties }
                }
            }
        }
        // Back from the reduction layout to x's layout.
        let laid = try! Tensor(shape: xd.shape, values: dx)
        if xd.shape == inputs[0].shape { return [laid] }
        let dims = inputs[0].shape.dims
        let kept = (0..<dims.count).filter { !a.contains($0) }
        let shaped = try! laid.reshaped((kept + a).map { dims[$0] })
        var inverse = [Int](repeating: 0, count: dims.count)
        for (p, axis) in (kept + a).enumerated() { inverse[axis] = p }
        return [try! shaped.transposed(inverse).contiguous()]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { elementwiseWork(inputs, outputs, flopsPerElement: 2) }

    static let info = OpInfo(type: "ReduceMaxGrad", summary: "ReduceMax's backward", hasBackward: false, plannedReductions: []) {
        let x = try! Tensor(shape: [2, 3], values: [Float(1), 3, 3, 5, 2, 4])
        let m = try! Tensor(shape: [2, 3], values: [Float(3), 3, 3, 5, 5, 5])
        let g = try! Tensor(shape: [2, 3], values: [Float(2), 2, 2, 7, 7, 7])
        return OpSample(ReduceMaxGrad(axes: [1]), [x, m, g], gradientInputs: []) { _ in [[0, 1, 1, 7, 0, 0]] }
    }
}
