import NPUOps
import NPURandom
import NPUTensor

/// `nn.BatchNorm2d(num_features, eps=1e-5, momentum=0.9)`: gamma ones, beta zeros, moving mean
/// zeros, moving variance ones. Training normalises with the batch statistics (biased variance)
/// and updates moving = moving·momentum + batch·(1 − momentum), the variance's batch value being
/// the unbiased one (·M/(M − 1), M = N·H·W), as MindSpore 2.10 does (measured); inference uses
/// the moving statistics.
public final class BatchNorm2d: Layer {
    public var cellClass: String? { "BatchNorm2d" }
    public var namesItself: Bool { true }
    public let name: String
    public let gamma: Parameter, beta: Parameter, movingMean: Parameter, movingVariance: Parameter
    public let epsilon: Float
    /// A Python float, as in MindSpore: the op's factor is float32(1 − momentum) computed in double.
    public let momentum: Double

    public init(_ features: Int, epsilon: Float = 1e-5, momentum: Double = 0.9, name: String, _ ctx: LayerContext) throws {
        self.name = name
        gamma = try ctx.parameter("\(name).gamma", [features], .one)
        beta = try ctx.parameter("\(name).beta", [features], .zero)
        movingMean = try ctx.parameter("\(name).moving_mean", [features], .zero, requiresGrad: false)
        movingVariance = try ctx.parameter("\(name).moving_variance", [features], .one, requiresGrad: false)
        (self.epsilon, self.momentum) = (epsilon, momentum)
    }

    public var parameters: [Parameter] { [gamma, beta, movingMean, movingVariance] }

    public func callAsFunction<B: ModelBuilder>(_ b: inout B, _ x: B.Value) throws -> B.Value {
        // MindSpore's O2 keeps BatchNorm in float32 (`amp.py`, AMP_BLACK_LIST, keep_batchnorm_fp32);
        // O3 does not.
        try b.scoped(name, cell: "BatchNorm2d") { b in try b.computing(half: b.ampLevel == .O3) { b in
            let mean = try b.read(movingMean), variance = try b.read(movingVariance)
            let out = try b.apply(BatchNorm(isTraining: b.isTraining, epsilon: epsilon), [x, b.read(gamma), b.read(beta), mean, variance])
            if b.isTraining {
                let shape = b.type(of: x).shape
                let count = shape.count / shape[1]
                // nn.BatchNorm2d passes float32(1 − momentum) to the op, which keeps 1 − that.
                let factor = Float(1.0 - momentum)
                let m = b.scalarConstant(1 - factor), r = b.scalarConstant(factor)
                // One factor M/(M − 1): (b·M)/(M − 1) differs from MindSpore in the last bit.
                let unbiased = try b.op(Mul(), [out[2], b.scalarConstant(Float(Double(count) / Double(max(count - 1, 1))))])
                try b.write(movingMean, try b.op(Add(), [try b.op(Mul(), [mean, m]), try b.op(Mul(), [out[1], r])]))
                try b.write(movingVariance, try b.op(Add(), [try b.op(Mul(), [variance, m]), try b.op(Mul(), [unbiased, r])]))
            }
            return out[0]
        } }
    }
}

/// `nn.LayerNorm(normalized_shape, begin_norm_axis=-1, begin_params_axis=-1, epsilon=1e-7)`:
/// gamma ones, beta zeros over the normalised axes.
public final class LayerNormLayer: Layer {
    public var cellClass: String? { "LayerNorm" }
    public var namesItself: Bool { true }
    public let name: String
    public let gamma: Parameter, beta: Parameter
    public let op: LayerNorm

    public init(_ normalizedShape: [Int], epsilon: Float = 1e-7, name: String, _ ctx: LayerContext) throws {
        self.name = name
        gamma = try ctx.parameter("\(name).gamma", Shape(normalizedShape), .one)
        beta = try ctx.parameter("\(name).beta", Shape(normalizedShape), .zero)
        op = LayerNorm(beginNormAxis: -normalizedShape.count, epsilon: epsilon)
    }

    public var parameters: [Parameter] { [gamma, beta] }

    public func callAsFunction<B: ModelBuilder>(_ b: inout B, _ x: B.Value) throws -> B.Value {
        // Kept in float32 under O2, as BatchNorm is (AMP_BLACK_LIST); float16 under O3.
        try b.scoped(name, cell: "LayerNorm") { b in try b.computing(half: b.ampLevel == .O3) { b in try b.apply(op, [x, b.read(gamma), b.read(beta)])[0] } }
    }
}

/// `nn.Dropout(p=0.5)`: takes its seeds at construction (kernel "dropout", op seed 0, or `seeds`:
/// the pair a front end drew when the user's cell was made), so the same layer continues one
/// random stream from step to step; identity when not training.
public final class DropoutLayer: Layer {
    public var cellClass: String? { "Dropout" }
    public let op: Dropout
    public init(p: Double = 0.5, seeds: SeedPair? = nil, _ ctx: LayerContext) throws {
        guard p >= 0, p < 1 else { throw TrainError("Dropout p must be in [0, 1), got \(p)") }
        op = Dropout(keepProb: Float(1 - p), kernel: RandomKernel(.dropout, seeds: try seeds ?? ctx.seeds.opSeeds(kernel: "dropout", opSeed: 0)))
    }
    public var parameters: [Parameter] { [] }
    public func callAsFunction<B: ModelBuilder>(_ b: inout B, _ x: B.Value) throws -> B.Value {
        b.isTraining ? try b.apply(op, [x])[0] : x
    }
}
