import Foundation
import NPUDevice
import NPUKernels
import NPUTensor

/// How a loss combines its per-sample values.
public enum LossReduction: String, Hashable, Sendable {
    case mean, sum, none
}

/// Softmax cross-entropy of logits [N, C] with sparse labels ([N], int32 class indices) or dense
/// labels ([N, C] probabilities); the mean or sum over the batch is a planned reduction.
public struct SoftmaxCrossEntropyWithLogits: OpDef, Equatable {
    public let sparse: Bool
    public let reduction: LossReduction
    public init(sparse: Bool, reduction: LossReduction = .mean) {
        self.sparse = sparse
        self.reduction = reduction
    }
    public var type: String { "SoftmaxCrossEntropyWithLogits" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 2)
        try expectFloat(inputs, 0, "logits")
        let logits = inputs[0].shape
        guard logits.rank == 2 else { throw OpError(type, "logits must be [N, C], got \(logits)") }
        if sparse {
            guard inputs[1].dtype == .int32 || inputs[1].dtype == .int64, inputs[1].shape == [logits[0]] else {
                throw OpError(type, "sparse labels must be int32 [\(logits[0])], got \(inputs[1])")
            }
        } else {
            guard inputs[1] == inputs[0] else { throw OpError(type, "dense labels must be float32 \(logits), got \(inputs[1])") }
        }
        return [TensorType(.float32, reduction == .none ? [logits[0]] : [])]
    }

    /// Per-sample losses, and the dense label matrix (one-hot for sparse labels).
    func perSample(_ logits: Tensor, _ labels: Tensor) throws(OpError) -> (loss: [Float], targets: [Float], logSoftmax: [Float]) {
        let n = logits.shape[0], c = logits.shape[1]
        let ls = try! softmaxRows(logits, axis: -1, log: true, op: type).toArray(of: Float.self)
        var targets = [Float](repeating: 0, count: n * c)
        if sparse {
            let idx = indexValues(labels)
            for (r, k) in idx.enumerated() {
                guard k >= 0, k < c else { throw OpError(type, "label \(k) of sample \(r) is outside 0..<\(c)") }
                targets[r * c + k] = 1
            }
        } else {
            targets = try! labels.toArray(of: Float.self)
        }
        var loss = [Float](repeating: 0, count: n)
        for r in 0..<n {
            var s: Float = 0
            for k in 0..<c where targets[r * c + k] != 0 { s += targets[r * c + k] * ls[r * c + k] }
            loss[r] = -s
        }
        return (loss, targets, ls)
    }

    /// Sparse labels without the dense label matrix: the log-softmax rows into `ls` (n·c floats)
    /// and each sample's class, checked. The same values as `perSample`.
    func sparseLogSoftmax(_ logits: Tensor, _ labels: Tensor, into ls: UnsafeMutablePointer<Float>) throws(OpError) -> [Int] {
        let n = logits.shape[0], c = logits.shape[1]
        let idx = indexValues(labels)
        for (r, k) in idx.enumerated() where k < 0 || k >= c { throw OpError(type, "label \(k) of sample \(r) is outside 0..<\(c)") }
        logits.withFloats { npu_softmax_f32(ls, $0, n, c, 1, 1) }
        return idx
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let n = inputs[0].shape[0], c = inputs[0].shape[1]
        if sparse && reduction != .none && n * c > 0 {
            // The training path, in scratch memory: no per-step arrays.
            let ls = ctx.workspace.floats(n * c, slot: 2), loss = ctx.workspace.floats(n, slot: 3)
            let idx = try sparseLogSoftmax(inputs[0], inputs[1], into: ls)
            for r in 0..<n {
                var s: Float = 0
                s += ls[r * c + idx[r]]
                loss[r] = -s
            }
            var total: Float = 0
            ctx.planner.sum(op: type, site: "mean", loss, outer: 1, extent: n, inner: 1, into: &total)
            return [Tensor(scalar: reduction == .mean ? total / Float(n) : total)]
        }
        let loss = try perSample(inputs[0], inputs[1]).loss
        if reduction == .none { return [try! Tensor(shape: [loss.count], values: loss)] }
        var total: Float = 0
        loss.withUnsafeBufferPointer { ctx.planner.sum(op: type, site: "mean", $0.baseAddress!, outer: 1, extent: loss.count, inner: 1, into: &total) }
        return [Tensor(scalar: reduction == .mean ? total / Float(loss.count) : total)]
    }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        [try b.one(SoftmaxCrossEntropyGrad(sparse: sparse, reduction: reduction), [x[0], x[1], g[0]]), nil]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { elementwiseWork(inputs, [inputs[0]], flopsPerElement: 8) }

    public func reductionSites(_ inputs: [TensorType], _ outputs: [TensorType]) -> [ReductionSite] {
        reduction == .none ? [] : [ReductionSite(extent: inputs[0].shape[0], outputs: 1)]  // the batch's losses into one
    }

    static let info = OpInfo(type: "SoftmaxCrossEntropyWithLogits", summary: "softmax cross-entropy (sparse/dense labels; mean/sum/none)",
                             hasBackward: true, plannedReductions: ["mean"]) {
        let labels = try! Tensor(shape: [4], values: [Int32(2), 0, 1, 2])
        return OpSample(SoftmaxCrossEntropyWithLogits(sparse: true), [sampleTensor([4, 3], scale: 2), labels]) { i in
            let ls = referenceSoftmax(i[0], rows: 4, cols: 3, log: true)
            return [[(0..<4).reduce(0.0) { $0 - ls[$1 * 3 + Int(i[1][$1])] } / 4]]
        }
    }
}

/// The gradient of SoftmaxCrossEntropyWithLogits with respect to the logits:
/// (softmax − targets)·dloss (÷N for the mean). Inputs: logits, labels, dloss.
public struct SoftmaxCrossEntropyGrad: OpDef, Equatable {
    public let sparse: Bool
    public let reduction: LossReduction
    public init(sparse: Bool, reduction: LossReduction) {
        self.sparse = sparse
        self.reduction = reduction
    }
    public var type: String { "SoftmaxCrossEntropyGrad" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 3)
        let loss = try SoftmaxCrossEntropyWithLogits(sparse: sparse, reduction: reduction).infer(Array(inputs[0..<2]))
        guard inputs[2] == loss[0] else { throw OpError(type, "dloss must be \(loss[0]), got \(inputs[2])") }
        return [inputs[0]]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let op = SoftmaxCrossEntropyWithLogits(sparse: sparse, reduction: reduction)
        let n = inputs[0].shape[0], c = inputs[0].shape[1]
        if sparse && n * c > 0 {
            let ls = ctx.workspace.floats(n * c, slot: 2)
            let idx = try op.sparseLogSoftmax(inputs[0], inputs[1], into: ls)
            var grad = Tensor(unfilled: inputs[0].shape)
            grad.withMutableFloats { o in
                inputs[2].withFloats { g in
                    for r in 0..<n {
                        let scale: Float = reduction == .none ? g[r] : (reduction == .mean ? g[0] / Float(n) : g[0])
                        for k in 0..<c { o[r * c + k] = (expf(ls[r * c + k]) - (k == idx[r] ? 1 : 0)) * scale }
                    }
                }
            }
            return [grad]
        }
        let (_, targets, ls) = try op.perSample(inputs[0], inputs[1])
        let g = try! inputs[2].toArray(of: Float.self)
        var grad = [Float](repeating: 0, count: n * c)
        for r in 0..<n {
            let scale: Float = reduction == .none ? g[r] : (reduction == .mean ? g[0] / Float(n) : g[0])
            for k in 0..<c { grad[r * c + k] = (expf(ls[r * c + k]) - targets[r * c + k]) * scale }
        }
        return [try! Tensor(shape: inputs[0].shape, values: grad)]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { elementwiseWork(inputs, outputs, flopsPerElement: 4) }

    static let info = OpInfo(type: "SoftmaxCrossEntropyGrad", summary: "SoftmaxCrossEntropyWithLogits' backward", hasBackward: false,
                             plannedReductions: []) {
        let labels = try! Tensor(shape: [2, 2], values: [Float(0.25), 0.75, 1, 0])
        return OpSample(SoftmaxCrossEntropyGrad(sparse: false, reduction: .sum), [sampleTensor([2, 2]), labels, Tensor(scalar: Float(2))],
                        gradientInputs: []) { i in
            let sm = referenceSoftmax(i[0], rows: 2, cols: 2, log: false)
            return [(0..<4).map { (sm[$0] - i[1][$0]) * 2 }]
        }
    }
}
