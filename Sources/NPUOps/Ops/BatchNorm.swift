import Foundation
import NPUDevice
import NPUKernels
import NPUTensor

/// Batch normalisation over axes (0, 2, 3, ...) of [N, C, ...]. Inputs x, scale, bias, mean,
/// variance; outputs y, and the batch mean and (biased) variance in training (the given mean
/// and variance in inference). The per-channel statistics are planned reductions.
public struct BatchNorm: OpDef, Equatable {
    public let isTraining: Bool
    public let epsilon: Float
    public init(isTraining: Bool, epsilon: Float = 1e-5) {
        self.isTraining = isTraining
        self.epsilon = epsilon
    }
    public var type: String { "BatchNorm" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 5)
        let x = inputs[0].shape
        guard x.rank >= 2 else { throw OpError(type, "input must be [N, C, ...], got \(x)") }
        for (k, name) in [(1, "scale"), (2, "bias"), (3, "mean"), (4, "variance")] {
            try expectFloat(inputs, k, name)
            guard inputs[k].shape == [x[1]] else { throw OpError(type, "\(name) must be [\(x[1])] for input \(x), got \(inputs[k].shape)") }
        }
        return [inputs[0], inputs[3], inputs[4]]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let x = inputs[0], c = x.shape[1]
        let (planes, m) = channelMajor(x)
        var mean = try! inputs[3].toArray(of: Float.self), variance = try! inputs[4].toArray(of: Float.self)
        if isTraining {
            mean = channelSums(planes, c, m, op: type, site: "mean", ctx).map { $0 / Float(m) }
            var deviations = planes
            for ch in 0..<c { for k in 0..<m { let d = planes[ch * m + k] - mean[ch]; deviations[ch * m + k] = d * d } }
            variance = channelSums(deviations, c, m, op: type, site: "variance", ctx).map { $0 / Float(m) }
        }
        let scale = try! inputs[1].toArray(of: Float.self), bias = try! inputs[2].toArray(of: Float.self)
        let inner = x.shape.dims.dropFirst(2).reduce(1, *)
        var y = Tensor(unfilled: x.shape)
        if y.count > 0 {
            y.withMutableFloats { p in x.withFloats { npu_batchnorm_apply_f32(p, $0, mean, variance, scale, bias, epsilon, x.shape[0], c, inner) } }
        }
        return [y, try! Tensor(shape: [c], values: mean), try! Tensor(shape: [c], values: variance)]
    }

    /// The planned per-channel sums of a [C, M] array, planned as a site of op type `op`.
    func channelSums(_ data: [Float], _ c: Int, _ m: Int, op: String, site: String, _ ctx: KernelContext) -> [Float] {
        var out = [Float](repeating: 0, count: c)
        data.withUnsafeBufferPointer { ctx.planner.sum(op: op, site: site, $0.baseAddress!, outer: c, extent: m, inner: 1, into: &out) }
        return out
    }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        let stats = isTraining ? [y[1], y[2]] : [x[3], x[4]]
        let d = try b.apply(BatchNormGrad(isTraining: isTraining, epsilon: epsilon), [g[0], x[0], x[1]] + stats)
        return [d[0], d[1], d[2], nil, nil]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work {
        elementwiseWork([inputs[0]], [outputs[0]], flopsPerElement: isTraining ? 8 : 4)
    }

    public func reductionSites(_ inputs: [TensorType], _ outputs: [TensorType]) -> [ReductionSite] {
        let c = inputs[0].shape[1], m = inputs[0].shape.count / max(c, 1)
        return isTraining ? Array(repeating: ReductionSite(extent: m, outputs: c), count: 2) : []  // mean, variance
    }

    static let info = OpInfo(type: "BatchNorm", summary: "batch normalisation (training and inference)", hasBackward: true,
                             plannedReductions: ["mean", "variance"], backwardReductions: ["BatchNormGrad/dgamma", "BatchNormGrad/dbeta"]) {
        let x = sampleTensor([4, 3, 2, 2], scale: 2, offset: 0.5)
        let inputs = [x, sampleTensor([3], seed: 2, scale: 0.5, offset: 1), sampleTensor([3], seed: 3),
                      Tensor(zeros: [3]), try! Tensor(shape: [3], values: [Float](repeating: 1, count: 3))]
        return OpSample(BatchNorm(isTraining: true), inputs, gradientInputs: [0, 1, 2]) { i in
            [referenceBatchNorm(i[0], n: 4, c: 3, inner: 4, scale: i[1], bias: i[2], epsilon: 1e-5)]
        }
    }
}

/// x [N, C, ...] as channel-major [C, N·inner] floats, and M = N·inner.
func channelMajor(_ x: Tensor) -> ([Float], Int) {
    let n = x.shape[0], c = x.shape[1], inner = x.shape.dims.dropFirst(2).reduce(1, *)
    let v = try! x.toArray(of: Float.self)
    var out = [Float](repeating: 0, count: v.count)
    for b in 0..<n { for ch in 0..<c { for k in 0..<inner { out[(ch * n + b) * inner + k] = v[(b * c + ch) * inner + k] } } }
    return (out, n * inner)
}

/// Reference training-mode batch norm in double.
func referenceBatchNorm(_ x: [Double], n: Int, c: Int, inner: Int, scale: [Double], bias: [Double], epsilon: Double) -> [Double] {
    var y = x
    let m = Double(n * inner)
    for ch in 0..<c {
        var idx: [Int] = []
        for b in 0..<n { for k in 0..<inner { idx.append((b * c + ch) * inner + k) } }
        let mean = idx.reduce(0.0) { $0 + x[$1] } / m
        let variance = idx.reduce(0.0) { $0 + (x[$1] - mean) * (x[$1] - mean) } / m
        for i in idx { y[i] = (x[i] - mean) / (variance + epsilon).squareRoot() * scale[ch] + bias[ch] }
    }
    return y
}

/// BatchNorm's backward. Inputs dy, x, scale, mean, variance; outputs dx, dscale, dbias. The
/// per-channel sums Σdy and Σdy·x̂ are planned reductions.
public struct BatchNormGrad: OpDef, Equatable {
    public let isTraining: Bool
    public let epsilon: Float
    public init(isTraining: Bool, epsilon: Float) {
        self.isTraining = isTraining
        self.epsilon = epsilon
    }
    public var type: String { "BatchNormGrad" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 5)
        guard inputs[0] == inputs[1] else { throw OpError(type, "dy \(inputs[0]) must match x \(inputs[1])") }
        let c = TensorType(.float32, [inputs[1].shape[1]])
        guard inputs[2] == c, inputs[3] == c, inputs[4] == c else { throw OpError(type, "scale, mean and variance must be \(c)") }
        return [inputs[1], c, c]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let x = inputs[1], c = x.shape[1]
        let (dyc, m) = channelMajor(inputs[0]), (xc, _) = channelMajor(x)
        let scale = try! inputs[2].toArray(of: Float.self), mean = try! inputs[3].toArray(of: Float.self)
        let variance = try! inputs[4].toArray(of: Float.self)
        let rstd = variance.map { 1 / ($0 + epsilon).squareRoot() }
        var xhat = xc, dyXhat = xc
        for ch in 0..<c {
            for k in 0..<m {
                xhat[ch * m + k] = (xc[ch * m + k] - mean[ch]) * rstd[ch]
                dyXhat[ch * m + k] = dyc[ch * m + k] * xhat[ch * m + k]
            }
        }
        let bn = BatchNorm(isTraining: isTraining, epsilon: epsilon)
        let dbeta = bn.channelSums(dyc, c, m, op: type, site: "dbeta", ctx)
        let dgamma = bn.channelSums(dyXhat, c, m, op: type, site: "dgamma", ctx)
        let n = x.shape[0], inner = x.shape.dims.dropFirst(2).reduce(1, *)
        var dx = [Float](repeating: 0, count: x.count)
        for b in 0..<n {
            for ch in 0..<c {
                for k in 0..<inner {
                    let j = ch * m + b * inner + k
                    dx[(b * c + ch) * inner + k] = isTraining
                        ? scale[ch] * rstd[ch] / Float(m) * (Float(m) * dyc[j] - dbeta[ch] - xhat[j] * dgamma[ch])
                        : dyc[j] * scale[ch] * rstd[ch]
                }
            }
        }
        return [try! Tensor(shape: x.shape, values: dx), try! Tensor(shape: [c], values: dgamma), try! Tensor(shape: [c], values: dbeta)]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work {
        elementwiseWork([inputs[0], inputs[1]], [outputs[0]], flopsPerElement: 10)
    }

    public func reductionSites(_ inputs: [TensorType], _ outputs: [TensorType]) -> [ReductionSite] {
        let c = inputs[0].shape[1], m = inputs[0].shape.count / max(c, 1)
        return Array(repeating: ReductionSite(extent: m, outputs: c), count: 2)  // dgamma, dbeta
    }

    static let info = OpInfo(type: "BatchNormGrad", summary: "BatchNorm's backward", hasBackward: false, plannedReductions: ["dgamma", "dbeta"]) {
        // Inference mode: dx = dy·scale·rstd, dscale = Σdy·x̂, dbias = Σdy.
        let dy = sampleTensor([2, 2, 3], seed: 5), x = sampleTensor([2, 2, 3], seed: 6)
        let scale = try! Tensor(shape: [2], values: [Float(2), 0.5]), mean = try! Tensor(shape: [2], values: [Float(0.1), -0.2])
        let variance = try! Tensor(shape: [2], values: [Float(0.5), 2])
        return OpSample(BatchNormGrad(isTraining: false, epsilon: 1e-5), [dy, x, scale, mean, variance], gradientInputs: []) { i in
            let rstd = i[4].map { 1 / ($0 + 1e-5).squareRoot() }
            let idx = (0..<12).map { ($0 / 3) % 2 }
            let dx = (0..<12).map { i[0][$0] * i[2][idx[$0]] * rstd[idx[$0]] }
            var dgamma = [0.0, 0.0], dbeta = [0.0, 0.0]
            for k in 0..<12 {
                let ch = idx[k]
                let xhat: Double = (i[1][k] - i[3][ch]) * rstd[ch]
                dgamma[ch] += i[0][k] * xhat
                dbeta[ch] += i[0][k]
            }
            return [dx, dgamma, dbeta]
        }
    }
}
