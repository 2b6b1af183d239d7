import NPUOps
import NPUTensor

/// An optimizer: given each trainable parameter's gradient, writes the new values of the
/// parameters and of its own state (MindSpore's update formulas, in float32 op by op).
public protocol Optimizer {
    /// The parameters it trains.
    var parameters: [Parameter] { get }
    func update<B: ModelBuilder>(_ b: inout B, gradients: [B.Value]) throws
    /// MindSpore's class of this optimizer cell (`Momentum`), for the profiler's full op names.
    var cellClass: String { get }
}

extension Optimizer {
    public var cellClass: String { String(describing: Self.self) }
}

extension ModelBuilder {
    /// The first output of `op` applied to `inputs`.
    public mutating func op(_ op: any OpDef, _ inputs: [Value]) throws -> Value { try apply(op, inputs)[0] }
    /// A float32 scalar constant.
    public mutating func scalarConstant(_ v: Float) -> Value { constant(Tensor(scalar: v)) }
}

/// State of an optimizer: one zero tensor per parameter, named `prefix.param`.
func stateParameters(_ prefix: String, _ params: [Parameter], _ ctx: LayerContext) throws -> [Parameter] {
    try params.map { try ctx.parameter("\(prefix).\($0.name)", $0.type.shape, .zero, requiresGrad: false) }
}

/// `nn.SGD(params, learning_rate)` without momentum: p ← p − lr·g.
public final class SGD: Optimizer {
    public let parameters: [Parameter]
    public let learningRate: Float
    public init(_ parameters: [Parameter], learningRate: Float = 0.1) {
        self.parameters = parameters.filter(\.requiresGrad)
        self.learningRate = learningRate
    }
    public func update<B: ModelBuilder>(_ b: inout B, gradients: [B.Value]) throws {
        let lr = b.scalarConstant(learningRate)
        for (p, g) in zip(parameters, gradients) {
            try b.write(p, try b.op(Sub(), [b.read(p), try b.op(Mul(), [lr, g])]))
        }
    }
}

/// `nn.Momentum(params, learning_rate, momentum)`, one fused ApplyMomentum op per parameter (no
/// Nesterov): accum ← accum·momentum + g; p ← p − lr·accum. State: `moments.<param>`.
public final class Momentum: Optimizer {
    public let parameters: [Parameter]
    public let moments: [Parameter]
    public let learningRate: Float
    public let momentum: Float
    public init(_ parameters: [Parameter], learningRate: Float, momentum: Float, _ ctx: LayerContext) throws {
        self.parameters = parameters.filter(\.requiresGrad)
        moments = try stateParameters("moments", self.parameters, ctx)
        self.learningRate = learningRate
        self.momentum = momentum
    }
    public func update<B: ModelBuilder>(_ b: inout B, gradients: [B.Value]) throws {
        let lr = b.scalarConstant(learningRate), mu = b.scalarConstant(momentum)
        for ((p, accum), g) in zip(zip(parameters, moments), gradients) {
            let updated = try b.apply(ApplyMomentum(), [b.read(p), b.read(accum), lr, g, mu])
            try b.write(p, updated[0])
            try b.write(accum, updated[1])
        }
    }
}

/// `nn.Adam(params, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8)`: β-powers multiplied
/// first, then one fused Adam op per parameter: m ← m + (g − m)(1 − β1); v ← v + (g² − v)(1 − β2);
/// p ← p − lr·(√(1 − β2ᵗ)/(1 − β1ᵗ))·m/(√v + ε). State: `moment1.<p>`, `moment2.<p>`,
/// `beta1_power`, `beta2_power`.
public final class Adam: Optimizer {
    public let parameters: [Parameter]
    public let moment1: [Parameter]
    public let moment2: [Parameter]
    public let beta1Power: Parameter
    public let beta2Power: Parameter
    public let learningRate: Float, beta1: Float, beta2: Float, epsilon: Float

    public init(_ parameters: [Parameter], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8,
                _ ctx: LayerContext) throws {
        self.parameters = parameters.filter(\.requiresGrad)
        moment1 = try stateParameters("moment1", self.parameters, ctx)
        moment2 = try stateParameters("moment2", self.parameters, ctx)
        beta1Power = try ctx.parameter("beta1_power", [], .one, requiresGrad: false)
        beta2Power = try ctx.parameter("beta2_power", [], .one, requiresGrad: false)
        (self.learningRate, self.beta1, self.beta2, self.epsilon) = (learningRate, beta1, beta2, epsilon)
    }

    public func update<B: ModelBuilder>(_ b: inout B, gradients: [B.Value]) throws {
        let b1 = b.scalarConstant(beta1), b2 = b.scalarConstant(beta2)
        let b1p = try b.op(Mul(), [b.read(beta1Power), b1]), b2p = try b.op(Mul(), [b.read(beta2Power), b2])
        try b.write(beta1Power, b1p)
        try b.write(beta2Power, b2p)
        let lr = b.scalarConstant(learningRate), eps = b.scalarConstant(epsilon)
        for (k, g) in gradients.enumerated() {
            let (p, m1, m2) = (parameters[k], moment1[k], moment2[k])
            let updated = try b.apply(ApplyAdam(), [b.read(p), b.read(m1), b.read(m2), b1p, b2p, lr, b1, b2, eps, g])
            try b.write(p, updated[0])
            try b.write(m1, updated[1])
            try b.write(m2, updated[2])
        }
    }
}

/// `nn.AdamWeightDecay(params, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-6, weight_decay=0)`:
/// m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²; u = m/(√v + ε) + wd·p; p ← p − lr·u (no bias
/// correction). State: `adam_m.<p>`, `adam_v.<p>`.
public final class AdamWeightDecay: Optimizer {
    public let parameters: [Parameter]
    public let m: [Parameter]
    public let v: [Parameter]
    public let learningRate: Float, beta1: Float, beta2: Float, epsilon: Float, weightDecay: Float

    public init(_ parameters: [Parameter], learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-6,
                weightDecay: Float = 0, _ ctx: LayerContext) throws {
        self.parameters = parameters.filter(\.requiresGrad)
        m = try stateParameters("adam_m", self.parameters, ctx)
        v = try stateParameters("adam_v", self.parameters, ctx)
        (self.learningRate, self.beta1, self.beta2, self.epsilon, self.weightDecay) = (learningRate, beta1, beta2, epsilon, weightDecay)
    }

    public func update<B: ModelBuilder>(_ b: inout B, gradients: [B.Value]) throws {
        let b1 = b.scalarConstant(beta1), b2 = b.scalarConstant(beta2), c1 = b.scalarConstant(1 - beta1), c2 = b.scalarConstant(1 - beta2)
        let eps = b.scalarConstant(epsilon), lr = b.scalarConstant(learningRate), wd = b.scalarConstant(weightDecay)
        for (k, g) in gradients.enumerated() {
            let nm = try b.op(Add(), [try b.op(Mul(), [b1, b.read(m[k])]), try b.op(Mul(), [c1, g])])
            let nv = try b.op(Add(), [try b.op(Mul(), [b2, b.read(v[k])]), try b.op(Mul(), [c2, try b.op(Mul(), [g, g])])])
            var u = try b.op(Div(), [nm, try b.op(Add(), [try b.op(Sqrt(), [nv]), eps])])
            if weightDecay != 0 { u = try b.op(Add(), [u, try b.op(Mul(), [wd, b.read(parameters[k])])]) }
            try b.write(m[k], nm)
            try b.write(v[k], nv)
            try b.write(parameters[k], try b.op(Sub(), [b.read(parameters[k]), try b.op(Mul(), [lr, u])]))
        }
    }
}
