import Foundation
import NPUDevice
import NPUKernels
import NPUTensor

/// softmax along `axis`: exp(x − max) / Σ exp(x − max), each row within one core (fixed order).
public struct Softmax: OpDef, Equatable {
    public let axis: Int
    public init(axis: Int = -1) { self.axis = axis }
    public var type: String { "Softmax" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 1)
        try expectFloat(inputs, 0, "x")
        _ = try normalizeAxes([axis], rank: inputs[0].shape.rank, op: type)
        return inputs
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        [try softmaxRows(inputs[0], axis: axis, log: false, op: type)]
    }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        let gy = try b.mul(g[0], y[0])
        let s = try b.reduceSum(gy, axes: [axis], keepDims: true)
        return [try b.mul(y[0], try b.sub(g[0], s))]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { elementwiseWork(inputs, outputs, flopsPerElement: 6) }

    static let info = OpInfo(type: "Softmax", summary: "softmax along an axis", hasBackward: true, plannedReductions: [],
                             backwardReductions: ["ReduceSum/sum"]) {
        OpSample(Softmax(), [sampleTensor([3, 5], scale: 3)]) { i in [referenceSoftmax(i[0], rows: 3, cols: 5, log: false)] }
    }
}

/// Softmax or log-softmax of the `axis` rows of x, in float32 with a fixed order.
func softmaxRows(_ x: Tensor, axis: Int, log: Bool, op: String) throws(OpError) -> Tensor {
    let a = try normalizeAxes([axis], rank: x.shape.rank, op: op)
    let dims = x.shape.dims
    let outer = dims[..<a[0]].reduce(1, *), extent = dims[a[0]], inner = dims[(a[0] + 1)...].reduce(1, *)
    var out = Tensor(unfilled: x.shape)
    guard out.count > 0 else { return out }
    out.withMutableFloats { o in x.withFloats { npu_softmax_f32(o, $0, outer, extent, inner, log ? 1 : 0) } }
    return out
}

/// Reference softmax of rows in double.
func referenceSoftmax(_ x: [Double], rows: Int, cols: Int, log: Bool) -> [Double] {
    var out = x
    for r in 0..<rows {
        let row = x[(r * cols)..<((r + 1) * cols)]
        let m = row.max()!
        let s = row.reduce(0.0) { $0 + Foundation.exp($1 - m) }
        for c in 0..<cols { out[r * cols + c] = log ? x[r * cols + c] - m - Foundation.log(s) : Foundation.exp(x[r * cols + c] - m) / s }
    }
    return out
}
