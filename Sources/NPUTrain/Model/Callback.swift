import NPUData
import NPUDevice
import NPUGraph
import NPUTensor

/// Which loop a callback is called from (`cb_params.mode`).
public enum RunMode: String, Sendable {
    case train, eval
}

/// What `Model.train` and `Model.eval` tell callbacks, and what callbacks may change:
/// MindSpore 2.10's `cb_params` (`RunContext.original_args()`), with the fields its `Model` sets
/// (`mindspore/train/model.py`, `Model._train`, `_train_process`, `_train_dataset_sink_process`,
/// `eval`). Every field is writable, as in MindSpore; `userValues` holds a callback's own
/// attributes ("users can add customized attributes").
public final class CallbackParams {
    /// `cur_epoch_num`: the epoch running, from 1 (from `initialEpoch + 1` on a resumed run). In
    /// sink mode with a sink size other than the dataset's, an epoch is one sink (MindSpore's
    /// redefinition).
    public var curEpochNum = 0
    /// `cur_step_num`: steps run so far in this `train` call, global across epochs (it grows by
    /// the sink size at each sink in sink mode); in `eval`, batches evaluated.
    public var curStepNum = 0
    /// `batch_num`: steps per epoch, the sink size in sink mode with a sink size; in `eval`, the
    /// evaluation batches.
    public var batchNum = 0
    /// `epoch_num`: epochs this call runs (`epochs - initialEpoch`).
    public var epochNum = 0
    /// `net_outputs`: card 0's loss of the last step the host saw (nil before the first).
    public var netOutputs: Tensor? { didSet { cachedLoss = nil } }
    /// `loss` of the current `netOutputs`, read once however many callbacks ask.
    private var cachedLoss: Float??
    /// `train` or `eval`.
    public var mode: RunMode = .train
    /// `dataset_sink_mode`.
    public var datasetSinkMode = false
    /// `sink_size` (the steps of one sink; the dataset's batches for −1).
    public var sinkSize = -1
    /// `train_network`: the compiled training step of card 0 (nil in `eval`).
    public var trainNetwork: TrainStep?
    /// `network`: the network without its loss.
    public var network: any Layer
    /// `loss_fn`.
    public var lossFn: any Loss
    /// `optimizer`.
    public var optimizer: any Optimizer
    /// `device_number`: the data-parallel cards.
    public var deviceNumber = 1
    /// `train_dataset` (in `train`) or `valid_dataset` (in `eval`).
    public var dataset: Dataset?
    /// `metrics`: the last evaluation's results by metric name, in the model's metric order.
    public var metrics: [(name: String, value: Double)]?

    // NPUSim's additions: what a card computes and its simulated time.
    /// With several cards, the mean of every card's loss for `netOutputs`' step (card 0's is
    /// `netOutputs`, as rank 0's callbacks see it).
    public var globalLoss: Float?
    /// The losses of the steps a sink ran before its last (card 0's, and the mean over the cards
    /// with several), kept only when the model keeps hidden steps; empty otherwise.
    public var hiddenLosses: [(loss: Float, global: Float?)] = []
    /// Card 0 (its simulated host time is `device.hostTime`).
    public var device: Device
    /// Card 0's parameters and optimizer state.
    public var store: ParameterStore
    /// Steps the network has trained in all: `curStepNum` plus a resumed checkpoint's steps (the
    /// step count a checkpoint saves, MindSpore's `global_step`).
    public internal(set) var stepsTrained = 0
    /// A callback's own values, by name.
    public var userValues: [String: Any] = [:]
    /// Every card's random kernel states as checkpoint entries (`Model.randomStates`), for a
    /// checkpoint that resumes bit for bit.
    public var randomStates: () throws -> [(name: String, tensor: Tensor)] = { [] }
    /// False in the processes of a run split across processes (`ModelContext.exchange`) other
    /// than card 0's: their callbacks compute what card 0's do but write no file.
    public var writesFiles = true

    init(network: any Layer, lossFn: any Loss, optimizer: any Optimizer, device: Device, store: ParameterStore) {
        (self.network, self.lossFn, self.optimizer, self.device, self.store) = (
            network, lossFn, optimizer, device, store
        )
    }

    /// `net_outputs` as LossMonitor reads it: `float(np.mean(loss))` (nil before the first step).
    public var loss: Float? {
        if let cachedLoss { return cachedLoss }
        let value = netOutputs.map { t -> Float in
            let v = t.doubles()
            return v.count == 1 ? Float(v[0]) : Float(v.reduce(0, +) / Double(max(v.count, 1)))
        }
        cachedLoss = .some(value)
        return value
    }

    /// The step within the epoch, as MindSpore's callbacks compute it:
    /// `(cur_step_num - 1) % batch_num + 1`.
    public var curStepInEpoch: Int { batchNum > 0 ? (curStepNum - 1) % batchNum + 1 : curStepNum }
}

/// MindSpore's `RunContext`: the parameters callbacks share, and a request to stop.
public final class RunContext {
    /// `original_args()`.
    public let cbParams: CallbackParams
    /// Whether a callback asked to stop (`get_stop_requested()`).
    public private(set) var stopRequested = false

    public init(_ cbParams: CallbackParams) { self.cbParams = cbParams }

    /// `original_args()`: the callback parameters.
    public func originalArgs() -> CallbackParams { cbParams }

    /// `request_stop()`: training stops after this step (non-sink) or sink, once the epoch's end
    /// callbacks have run, as MindSpore's loops do.
    public func requestStop() { stopRequested = true }
}

/// A callback with MindSpore 2.10's hooks (`mindspore/train/callback/_callback.py`, `Callback`).
///
/// Implement the hooks you need; the others do nothing. As in MindSpore, the `on_train_*` and
/// `on_eval_*` hooks call the older names by default (`onTrainStepEnd` and `onEvalStepEnd` call
/// `stepEnd`, and so on), so a callback written against `begin`, `epochBegin`, `stepBegin`,
/// `stepEnd`, `epochEnd` and `end` is called in training and evaluation alike. A hook that throws
/// stops the run with that error (LossMonitor's NaN stop).
public protocol Callback: AnyObject {
    func onTrainBegin(_ run: RunContext) throws
    func onTrainEpochBegin(_ run: RunContext) throws
    func onTrainStepBegin(_ run: RunContext) throws
    func onTrainStepEnd(_ run: RunContext) throws
    func onTrainEpochEnd(_ run: RunContext) throws
    func onTrainEnd(_ run: RunContext) throws
    func onEvalBegin(_ run: RunContext) throws
    func onEvalEpochBegin(_ run: RunContext) throws
    func onEvalStepBegin(_ run: RunContext) throws
    func onEvalStepEnd(_ run: RunContext) throws
    func onEvalEpochEnd(_ run: RunContext) throws
    func onEvalEnd(_ run: RunContext) throws
    /// The older names (`begin`, `epoch_begin`, ...), deprecated in MindSpore but still called.
    func begin(_ run: RunContext) throws
    func epochBegin(_ run: RunContext) throws
    func stepBegin(_ run: RunContext) throws
    func stepEnd(_ run: RunContext) throws
    func epochEnd(_ run: RunContext) throws
    func end(_ run: RunContext) throws
}

extension Callback {
    public func onTrainBegin(_ run: RunContext) throws { try begin(run) }
    public func onTrainEpochBegin(_ run: RunContext) throws { try epochBegin(run) }
    public func onTrainStepBegin(_ run: RunContext) throws { try stepBegin(run) }
    public func onTrainStepEnd(_ run: RunContext) throws { try stepEnd(run) }
    public func onTrainEpochEnd(_ run: RunContext) throws { try epochEnd(run) }
    public func onTrainEnd(_ run: RunContext) throws { try end(run) }
    public func onEvalBegin(_ run: RunContext) throws { try begin(run) }
    public func onEvalEpochBegin(_ run: RunContext) throws { try epochBegin(run) }
    public func onEvalStepBegin(_ run: RunContext) throws { try stepBegin(run) }
    public func onEvalStepEnd(_ run: RunContext) throws { try stepEnd(run) }
    public func onEvalEpochEnd(_ run: RunContext) throws { try epochEnd(run) }
    public func onEvalEnd(_ run: RunContext) throws { try end(run) }
    public func begin(_ run: RunContext) throws {}
    public func epochBegin(_ run: RunContext) throws {}
    public func stepBegin(_ run: RunContext) throws {}
    public func stepEnd(_ run: RunContext) throws {}
    public func epochEnd(_ run: RunContext) throws {}
    public func end(_ run: RunContext) throws {}
}

/// The hooks of a list of callbacks, called in list order (MindSpore's `_CallbackManager`).
struct CallbackList {
    let callbacks: [any Callback]
    func call(_ hook: (any Callback) -> (RunContext) throws -> Void, _ run: RunContext) throws {
        for c in callbacks { try hook(c)(run) }
    }
}
