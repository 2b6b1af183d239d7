import NPUDevice
import NPUKernels
import NPUTensor

/// MindSpore's ApplyMomentum (no Nesterov), the fused update `nn.Momentum` runs:
/// accumulation' = accumulation·momentum + gradient; variable' = variable − learning_rate·accumulation'.
/// Inputs (variable, accumulation, learning_rate, gradient, momentum), the rates as scalars;
/// outputs (variable', accumulation'). Bit for bit the chain Mul, Add, Mul, Sub it replaces.
public struct ApplyMomentum: OpDef, Equatable {
    public init() {}
    public var type: String { "ApplyMomentum" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 5)
        for (i, name) in ["variable", "accumulation", "learning_rate", "gradient", "momentum"].enumerated() { try expectFloat(inputs, i, name) }
        try expectSameShape(inputs, [0, 1, 3], ["variable", "accumulation", "gradient"])
        try expectScalar(inputs, 2, "learning_rate")
        try expectScalar(inputs, 4, "momentum")
        return [inputs[0], inputs[0]]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        var variable = Tensor(unfilled: inputs[0].shape), accumulation = Tensor(unfilled: inputs[0].shape)
        let lr = inputs[2].scalarFloat, momentum = inputs[4].scalarFloat, n = variable.count
        guard n > 0 else { return [variable, accumulation] }
        variable.withMutableFloats { vo in
            accumulation.withMutableFloats { ao in
                inputs[0].withFloats { v in
                    inputs[1].withFloats { a in
                        inputs[3].withFloats { g in
                            // Elementwise: which thread updates an element changes nothing.
                            Parallel.forEachChunk(n, minimum: 1 << 15) { r in
                                let o = r.lowerBound
                                npu_apply_momentum_f32(vo + o, ao + o, v + o, a + o, g + o, lr, momentum, r.count)
                            }
                        }
                    }
                }
            }
        }
        return [variable, accumulation]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work {
        elementwiseWork(inputs, outputs, flopsPerElement: 4)
    }

    static let info = OpInfo(type: "ApplyMomentum", summary: "fused Momentum update (nn.Momentum's optimizer op)", hasBackward: false,
                             plannedReductions: []) {
        OpSample(ApplyMomentum(), [sampleTensor([2, 5]), sampleTensor([2, 5], seed: 2), Tensor(scalar: Float(0.01)), sampleTensor([2, 5], seed: 3),
                                   Tensor(scalar: Float(0.9))], gradientInputs: []) { i in
            let accum = (0..<10).map { i[1][$0] * i[4][0] + i[3][$0] }
            return [(0..<10).map { i[0][$0] - i[2][0] * accum[$0] }, accum]
        }
    }
}

/// MindSpore's Adam, the fused update `nn.Adam` runs (β-powers already multiplied this step):
/// lr_t = lr·(√(1 − β2ᵗ) / (1 − β1ᵗ)); m' = m + (g − m)(1 − β1); v' = v + (g² − v)(1 − β2);
/// var' = var − lr_t·m' / (√v' + ε). Inputs (var, m, v, beta1_power, beta2_power, lr, beta1,
/// beta2, epsilon, gradient), all but var, m, v and the gradient scalars; outputs (var', m', v').
/// Bit for bit the chain of single ops it replaces.
public struct ApplyAdam: OpDef, Equatable {
    public init() {}
    public var type: String { "Adam" }

    static let names = ["var", "m", "v", "beta1_power", "beta2_power", "lr", "beta1", "beta2", "epsilon", "gradient"]

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 10)
        for (i, name) in Self.names.enumerated() { try expectFloat(inputs, i, name) }
        try expectSameShape(inputs, [0, 1, 2, 9], ["var", "m", "v", "gradient"])
        for i in 3...8 { try expectScalar(inputs, i, Self.names[i]) }
        return [inputs[0], inputs[0], inputs[0]]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let s = (3...8).map { inputs[$0].scalarFloat }
        let (b1p, b2p, lr, beta1, beta2, epsilon) = (s[0], s[1], s[2], s[3], s[4], s[5])
        let lrT = lr * ((1 - b2p).squareRoot() / (1 - b1p))
        var variable = Tensor(unfilled: inputs[0].shape), m = Tensor(unfilled: inputs[0].shape), v = Tensor(unfilled: inputs[0].shape)
        let n = variable.count
        guard n > 0 else { return [variable, m, v] }
        variable.withMutableFloats { vo in
            m.withMutableFloats { mo in
                v.withMutableFloats { so in
                    inputs[0].withFloats { p in
                        inputs[1].withFloats { mi in
                            inputs[2].withFloats { si in
                                inputs[9].withFloats { g in npu_adam_f32(vo, mo, so, p, mi, si, g, lrT, 1 - beta1, 1 - beta2, epsilon, n) }
                            }
                        }
                    }
                }
            }
        }
        return [variable, m, v]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work {
        elementwiseWork(inputs, outputs, flopsPerElement: 12)
    }

    static let info = OpInfo(type: "Adam", summary: "fused Adam update (nn.Adam's optimizer op)", hasBackward: false, plannedReductions: []) {
        OpSample(ApplyAdam(), [sampleTensor([2, 5]), sampleTensor([2, 5], seed: 2), sampleTensor([2, 5], seed: 3, scale: 0.5, offset: 1),
                               Tensor(scalar: Float(0.81)), Tensor(scalar: Float(0.998)), Tensor(scalar: Float(0.001)), Tensor(scalar: Float(0.9)), Tensor(scalar: Float(0.999)),
                               Tensor(scalar: Float(1e-8)), sampleTensor([2, 5], seed: 4)], gradientInputs: []) { i in
            let (b1p, b2p, lr, b1, b2, eps) = (i[3][0], i[4][0], i[5][0], i[6][0], i[7][0], i[8][0])
            let lrT = lr * (1 - b2p).squareRoot() / (1 - b1p)
            let m = (0..<10).map { i[1][$0] + (i[9][$0] - i[1][$0]) * (1 - b1) }
            let v = (0..<10).map { i[2][$0] + (i[9][$0] * i[9][$0] - i[2][$0]) * (1 - b2) }
            return [(0..<10).map { i[0][$0] - lrT * m[$0] / (v[$0].squareRoot() + eps) }, m, v]
        }
    }
}

extension OpDef {
    /// Checks that the inputs at `indices` have one shape.
    func expectSameShape(_ inputs: [TensorType], _ indices: [Int], _ names: [String]) throws(OpError) {
        for (i, name) in zip(indices, names).dropFirst() where inputs[i].shape != inputs[indices[0]].shape {
            throw OpError(type, "\(name) is \(inputs[i].shape); it must have the shape of \(names[0]), \(inputs[indices[0]].shape)")
        }
    }

    /// Checks that input `index` holds one value.
    func expectScalar(_ inputs: [TensorType], _ index: Int, _ name: String) throws(OpError) {
        guard inputs[index].shape.count == 1 else {
            throw OpError(type, "\(name) must be a scalar (one value), got \(inputs[index].shape)")
        }
    }
}

extension Tensor {
    /// The one float32 value of a tensor `infer` checked to be a scalar.
    var scalarFloat: Float { withUnsafeBytes { $0.load(as: Float.self) } }
}
