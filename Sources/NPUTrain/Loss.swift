import NPUOps
import NPUTensor

/// A loss: logits (or predictions) and labels to a float32 scalar.
public protocol Loss {
    func callAsFunction<B: ModelBuilder>(_ b: inout B, _ logits: B.Value, _ labels: B.Value) throws -> B.Value
    /// MindSpore's class of this loss cell, for the profiler's full op names.
    var cellClass: String { get }
}

extension Loss {
    public var cellClass: String { String(describing: Self.self) }
}

/// `nn.SoftmaxCrossEntropyWithLogits(sparse, reduction)`.
public struct SoftmaxCrossEntropyLoss: Loss {
    public var cellClass: String { "SoftmaxCrossEntropyWithLogits" }
    public let sparse: Bool
    public let reduction: LossReduction
    public init(sparse: Bool = true, reduction: LossReduction = .mean) {
        self.sparse = sparse
        self.reduction = reduction
    }
    public func callAsFunction<B: ModelBuilder>(_ b: inout B, _ logits: B.Value, _ labels: B.Value) throws -> B.Value {
        try b.apply(SoftmaxCrossEntropyWithLogits(sparse: sparse, reduction: reduction), [logits, labels])[0]
    }
}

/// `nn.MSELoss(reduction='mean')`: mean((x − y)²).
public struct MSELoss: Loss {
    public init() {}
    public func callAsFunction<B: ModelBuilder>(_ b: inout B, _ x: B.Value, _ y: B.Value) throws -> B.Value {
        let d = try b.apply(Sub(), [x, y])[0]
        return try b.apply(ReduceMean(), [try b.apply(Mul(), [d, d])[0]])[0]
    }
}
