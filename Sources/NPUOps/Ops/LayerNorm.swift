import NPUDevice
import NPUKernels
import NPUTensor

/// Layer normalisation over the axes from `beginNormAxis` on; gamma and beta have the shape of
/// those axes. Outputs y, and the per-row mean and variance (kept dimensions). The row
/// statistics are planned reductions.
public struct LayerNorm: OpDef, Equatable {
    public let beginNormAxis: Int
    public let epsilon: Float
    public init(beginNormAxis: Int = -1, epsilon: Float = 1e-7) {
        self.beginNormAxis = beginNormAxis
        self.epsilon = epsilon
    }
    public var type: String { "LayerNorm" }

    /// (rows, normalised size, statistics shape).
    func layout(_ x: Shape) throws(OpError) -> (rows: Int, d: Int, stats: Shape) {
        let axis = try normalizeAxes([beginNormAxis], rank: x.rank, op: type)[0]
        let d = x.dims[axis...].reduce(1, *)
        return (x.count / max(d, 1), d, Shape(Array(x.dims[..<axis]) + [Int](repeating: 1, count: x.rank - axis)))
    }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 3)
        try expectFloat(inputs, 0, "x")
        let (_, _, stats) = try layout(inputs[0].shape)
        let axis = try normalizeAxes([beginNormAxis], rank: inputs[0].shape.rank, op: type)[0]
        let params = Shape(Array(inputs[0].shape.dims[axis...]))
        for (k, name) in [(1, "gamma"), (2, "beta")] where inputs[k] != TensorType(.float32, params) {
            throw OpError(type, "\(name) must be float32\(params) for input \(inputs[0].shape) normalised from axis \(beginNormAxis), got \(inputs[k])")
        }
        return [inputs[0], TensorType(.float32, stats), TensorType(.float32, stats)]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let (rows, d, stats) = try layout(inputs[0].shape)
        let x = try! inputs[0].toArray(of: Float.self)
        let gamma = try! inputs[1].toArray(of: Float.self), beta = try! inputs[2].toArray(of: Float.self)
        var mean = [Float](repeating: 0, count: rows), variance = [Float](repeating: 0, count: rows)
        x.withUnsafeBufferPointer { ctx.planner.sum(op: type, site: "mean", $0.baseAddress!, outer: rows, extent: d, inner: 1, into: &mean) }
        for r in 0..<rows { mean[r] = mean[r] / Float(d) }
        var sq = [Float](repeating: 0, count: x.count)
        npu_squared_deviations_f32(&sq, x, mean, rows, d)
        sq.withUnsafeBufferPointer { ctx.planner.sum(op: type, site: "variance", $0.baseAddress!, outer: rows, extent: d, inner: 1, into: &variance) }
        for r in 0..<rows { variance[r] = variance[r] / Float(d) }
        var y = Tensor(unfilled: inputs[0].shape)
        if y.count > 0 { y.withMutableFloats { npu_layernorm_apply_f32($0, x, mean, variance, gamma, beta, epsilon, rows, d) } }
        return [y, try! Tensor(shape: stats, values: mean), try! Tensor(shape: stats, values: variance)]
    }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        try b.apply(LayerNormGrad(beginNormAxis: beginNormAxis, epsilon: epsilon), [g[0], x[0], y[2], y[1], x[1]]).map { Optional($0) }
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { elementwiseWork([inputs[0]], [outputs[0]], flopsPerElement: 8) }

    public func reductionSites(_ inputs: [TensorType], _ outputs: [TensorType]) -> [ReductionSite] {
        guard let (rows, d, _) = try? layout(inputs[0].shape) else { return [] }
        return Array(repeating: ReductionSite(extent: d, outputs: rows), count: 2)  // mean, variance
    }

    static let info = OpInfo(type: "LayerNorm", summary: "layer normalisation", hasBackward: true, plannedReductions: ["mean", "variance"],
                             backwardReductions: ["LayerNormGrad/dgamma", "LayerNormGrad/dbeta", "LayerNormGrad/dx"]) {
        OpSample(LayerNorm(beginNormAxis: 1), [sampleTensor([3, 2, 4], scale: 2), sampleTensor([2, 4], seed: 2, scale: 0.5, offset: 1),
                                               sampleTensor([2, 4], seed: 3)]) { i in
            var y = i[0]
            for r in 0..<3 {
                let row = Array(i[0][(r * 8)..<((r + 1) * 8)])
                let mean = row.reduce(0, +) / 8, variance = row.reduce(0.0) { $0 + ($1 - mean) * ($1 - mean) } / 8
                for k in 0..<8 { y[r * 8 + k] = (row[k] - mean) / (variance + 1e-7).squareRoot() * i[1][k] + i[2][k] }
            }
            return [y]
        }
    }
}

/// LayerNorm's backward. Inputs dy, x, variance, mean, gamma; outputs dx, dgamma, dbeta. dgamma
/// and dbeta sum over the rows, dx's row sums over the normalised axes: all planned.
public struct LayerNormGrad: OpDef, Equatable {
    public let beginNormAxis: Int
    public let epsilon: Float
    public init(beginNormAxis: Int, epsilon: Float) {
        self.beginNormAxis = beginNormAxis
        self.epsilon = epsilon
    }
    public var type: String { "LayerNormGrad" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 5)
        let forward = try LayerNorm(beginNormAxis: beginNormAxis, epsilon: epsilon).infer([inputs[1], inputs[4], inputs[4]])
        guard inputs[0] == inputs[1], inputs[2] == forward[1], inputs[3] == forward[1] else {
            throw OpError(type, "dy must match x \(inputs[1]) and mean/variance must be \(forward[1])")
        }
        return [inputs[1], inputs[4], inputs[4]]
    }

    /// The elementwise terms of the backward pass, rounded as the kernel rounds them (the
    /// strict AllReduce adds dγ's and dβ's exactly: they must be the same floats).
    struct Terms {
        var rows: Int, d: Int
        var dy: [Float], rstd: [Float], xhat: [Float], dyXhat: [Float], dyGamma: [Float], dyGammaXhat: [Float]
    }

    func terms(_ inputs: [Tensor]) throws(OpError) -> Terms {
        let (rows, d, _) = try LayerNorm(beginNormAxis: beginNormAxis, epsilon: epsilon).layout(inputs[1].shape)
        let dy = try! inputs[0].toArray(of: Float.self), x = try! inputs[1].toArray(of: Float.self)
        let variance = try! inputs[2].toArray(of: Float.self), mean = try! inputs[3].toArray(of: Float.self)
        let gamma = try! inputs[4].toArray(of: Float.self)
        let rstd = variance.map { 1 / ($0 + epsilon).squareRoot() }
        var xhat = x, dyXhat = x, dyGamma = x, dyGammaXhat = x
        for r in 0..<rows {
            for k in 0..<d {
                let j = r * d + k
                xhat[j] = (x[j] - mean[r]) * rstd[r]
                dyXhat[j] = dy[j] * xhat[j]
                dyGamma[j] = dy[j] * gamma[k]
                dyGammaXhat[j] = dyGamma[j] * xhat[j]
            }
        }
        return Terms(rows: rows, d: d, dy: dy, rstd: rstd, xhat: xhat, dyXhat: dyXhat, dyGamma: dyGamma, dyGammaXhat: dyGammaXhat)
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let t = try terms(inputs)
        let (rows, d, dy, rstd, xhat, dyXhat, dyGamma, dyGammaXhat) = (t.rows, t.d, t.dy, t.rstd, t.xhat, t.dyXhat, t.dyGamma, t.dyGammaXhat)
        func planned(_ data: [Float], site: String, outer: Int, extent: Int, inner: Int) -> [Float] {
            var out = [Float](repeating: 0, count: outer * inner)
            data.withUnsafeBufferPointer { ctx.planner.sum(op: type, site: site, $0.baseAddress!, outer: outer, extent: extent, inner: inner, into: &out) }
            return out
        }
        let dgamma = planned(dyXhat, site: "dgamma", outer: 1, extent: rows, inner: d)
        let dbeta = planned(dy, site: "dbeta", outer: 1, extent: rows, inner: d)
        let s1 = planned(dyGamma, site: "dx", outer: rows, extent: d, inner: 1)
        let s2 = planned(dyGammaXhat, site: "dx", outer: rows, extent: d, inner: 1)
        var dx = xhat  // every element is overwritten
        for r in 0..<rows {
            for k in 0..<d {
                let j = r * d + k
                dx[j] = rstd[r] * (dyGamma[j] - s1[r] / Float(d) - xhat[j] * (s2[r] / Float(d)))
            }
        }
        return [try! Tensor(shape: inputs[1].shape, values: dx), try! Tensor(shape: inputs[4].shape, values: dgamma),
                try! Tensor(shape: inputs[4].shape, values: dbeta)]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work {
        elementwiseWork([inputs[0], inputs[1]], [outputs[0]], flopsPerElement: 10)
    }

    public func reductionSites(_ inputs: [TensorType], _ outputs: [TensorType]) -> [ReductionSite] {
        guard let (rows, d, _) = try? LayerNorm(beginNormAxis: beginNormAxis, epsilon: epsilon).layout(inputs[1].shape) else { return [] }
        return Array(repeating: ReductionSite(extent: rows, outputs: d), count: 2) + Array(repeating: ReductionSite(extent: d, outputs: rows), count: 2)
    }

    static let info = OpInfo(type: "LayerNormGrad", summary: "LayerNorm's backward", hasBackward: false, plannedReductions: ["dgamma", "dbeta", "dx"]) {
        // One row of two: dbeta = Σ dy over rows, dgamma = Σ dy·x̂.
        let x = try! Tensor(shape: [2, 2], values: [Float(1), 3, 0, 2])
        let dy = try! Tensor(shape: [2, 2], values: [Float(1), 2, 3, 4])
        let variance = try! Tensor(shape: [2, 1], values: [Float(1), 1]), mean = try! Tensor(shape: [2, 1], values: [Float(2), 1])
        let gamma = try! Tensor(shape: [2], values: [Float(1), 1])
        return OpSample(LayerNormGrad(beginNormAxis: 1, epsilon: 0), [dy, x, variance, mean, gamma], gradientInputs: []) { _ in
            // x̂ = [−1, 1, −1, 1]; dx row = dy − mean(dy) − x̂·mean(dy·x̂)
            [[0, 0, 0, 0], [-1 + -3, 2 + 4], [4, 6]]
        }
    }
}
