import NPUGraph
import NPUOps
import NPUTensor

/// How a training step scales its loss (MindSpore's loss-scale managers): the backward starts
/// from the scale instead of 1 and the gradients are multiplied by its reciprocal before the
/// optimizer.
public enum LossScaling: Sendable, Equatable {
    /// A constant scale (`FixedLossScaleManager`). With `dropOverflowUpdate` a step whose
    /// gradients are not all finite updates nothing (MindSpore's default); without it the update
    /// happens whatever the gradients.
    case fixed(Float, dropOverflowUpdate: Bool)
    /// A scale that halves on every overflow and doubles after a window of steps without one
    /// (`DynamicLossScaleManager`); an overflowing step updates nothing.
    case dynamic(DynamicLossScaleManager)

    /// No scaling: the scale 1, no overflow check.
    public static let none = LossScaling.fixed(1, dropOverflowUpdate: false)

    /// The scale of the first step.
    public var initialScale: Float {
        switch self {
        case .fixed(let s, _): s
        case .dynamic(let m): m.initLossScale
        }
    }

    /// Whether a step checks its gradients and drops its update on an overflow.
    public var dropsOverflowUpdate: Bool {
        switch self {
        case .fixed(_, let drop): drop
        case .dynamic: true
        }
    }
}

/// What a `Model` takes as its `loss_scale_manager`.
public protocol LossScaleManager: Sendable {
    /// The scaling a step runs with.
    var scaling: LossScaling { get }
}

/// MindSpore's `FixedLossScaleManager(loss_scale=128, drop_overflow_update=True)`.
public struct FixedLossScaleManager: LossScaleManager, Equatable {
    public var lossScale: Float
    /// Drop a step's update when its gradients overflow (MindSpore's default: true).
    public var dropOverflowUpdate: Bool
    public init(lossScale: Float = 128, dropOverflowUpdate: Bool = true) {
        self.lossScale = lossScale
        self.dropOverflowUpdate = dropOverflowUpdate
    }
    public var scaling: LossScaling { .fixed(lossScale, dropOverflowUpdate: dropOverflowUpdate) }
}

/// MindSpore's `DynamicLossScaleManager(init_loss_scale=2**24, scale_factor=2, scale_window=2000)`
/// (`mindspore/train/loss_scale_manager.py`; the update is `nn.DynamicLossScaleUpdateCell`,
/// `mindspore/nn/wrap/loss_scale.py`, which `DynamicLossScaleUpdate` computes on the card).
public struct DynamicLossScaleManager: LossScaleManager, Equatable {
    public var initLossScale: Float
    public var scaleFactor: Int
    public var scaleWindow: Int
    public init(initLossScale: Float = 16_777_216, scaleFactor: Int = 2, scaleWindow: Int = 2000) {
        self.initLossScale = initLossScale
        self.scaleFactor = scaleFactor
        self.scaleWindow = scaleWindow
    }
    public var scaling: LossScaling { .dynamic(self) }

    /// The parameters the scale and its counters live in (MindSpore's names; a checkpoint holds
    /// them): the scale (float32), the step counter (from 1) and the last overflow step (int32).
    public static let scaleName = "scale_sense", stepName = "current_iterator_step", lastOverflowName = "last_overflow_iterator_step"
    /// The three, in the order `DynamicLossScaleUpdate` takes and gives them.
    public static let stateNames = [scaleName, stepName, lastOverflowName]

    /// Checks the figures as MindSpore does.
    /// - Throws: `TrainError` naming the figure and what is valid.
    public func validate() throws {
        guard initLossScale >= 1, initLossScale.isFinite else { throw TrainError("DynamicLossScaleManager init_loss_scale must be at least 1, got \(initLossScale)") }
        guard scaleFactor > 0 else { throw TrainError("DynamicLossScaleManager scale_factor must be above 0, got \(scaleFactor)") }
        guard scaleWindow > 0, scaleWindow <= Int(Int32.max) else {
            throw TrainError("DynamicLossScaleManager scale_window must be a positive integer up to \(Int32.max), got \(scaleWindow)")
        }
    }

    /// The update op of one step.
    var update: DynamicLossScaleUpdate { DynamicLossScaleUpdate(factor: Float(scaleFactor), window: Int32(scaleWindow)) }

    /// Puts the scale's state into `store` unless it is there (a resumed run keeps its own).
    func prepare(_ store: ParameterStore) {
        let types: [(String, TensorType, Tensor)] = [
            (Self.scaleName, TensorType(.float32, []), Tensor(scalar: initLossScale)),
            (Self.stepName, TensorType(.int32, []), Tensor(scalar: Int32(1))),
            (Self.lastOverflowName, TensorType(.int32, []), Tensor(scalar: Int32(0))),
        ]
        for (name, type, value) in types where store.type(of: name) == nil {
            if store.shapeOnly { store.declare(name, type) } else { store[name] = value }
        }
    }
}
