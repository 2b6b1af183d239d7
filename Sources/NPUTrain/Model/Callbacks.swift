import Foundation
import NPUDevice
import NPUTensor

/// An error a callback raises to stop training (LossMonitor's NaN stop): the run failed, exit 1.
public struct CallbackError: Error, Equatable, CustomStringConvertible, CategorizedError {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var category: ErrorCategory { .runFailed }
}

/// MindSpore 2.10's `LossMonitor` (`mindspore/train/callback/_loss_monitor.py`, `step_end`):
/// - it counts the global step: a line when `cur_step_num − last printed ≥ per_print_times`, so
///   lines fall every `per_print_times` steps across epoch ends (7 batches, k = 5: epoch 1 step 5,
///   epoch 2 step 3, epoch 3 step 1, ...);
/// - in sink mode it is called once per sink and prints "in the nearest step": the sink's end
///   once `per_print_times` steps have passed since the last line;
/// - `perPrintTimes` 0 never prints;
/// - a NaN or infinite loss stops training with MindSpore's message (`CallbackError`, exit 1);
/// - the line is `epoch: E step: S, loss is L`, S the step within the epoch
///   (`(cur_step_num − 1) % batch_num + 1`) and L the float32 loss as Python prints `float()`.
public final class LossMonitor: Callback {
    public let perPrintTimes: Int
    var lastPrintTime = 0
    let emit: (LossRecord) -> Void

    /// `print` receives each line (standard output by default).
    /// - Throws: `TrainError` for a negative `perPrintTimes`, with MindSpore's message.
    public convenience init(perPrintTimes: Int = 1, print: @escaping (String) -> Void = { Swift.print($0) }) throws {
        try self.init(perPrintTimes: perPrintTimes, lines: { print($0.lossMonitorLine) })
    }

    /// `lines` receives each printed loss as a record (its `lossMonitorLine` is the text).
    /// - Throws: `TrainError` for a negative `perPrintTimes`, with MindSpore's message.
    public init(perPrintTimes: Int = 1, lines: @escaping (LossRecord) -> Void) throws {
        guard perPrintTimes >= 0 else {
            throw TrainError("LossMonitor: per_print_times must be an int >= 0, but got \(perPrintTimes)")
        }
        (self.perPrintTimes, self.emit) = (perPrintTimes, lines)
    }

    /// The line LossMonitor prints for `loss` at `epoch`, `step` (within the epoch).
    public static func line(epoch: Int, step: Int, loss: Float) -> String {
        "epoch: \(epoch) step: \(step), loss is \(Double(loss))"
    }

    public func stepEnd(_ run: RunContext) throws {
        let p = run.cbParams
        guard let loss = p.loss else { return }
        let step = p.curStepInEpoch
        if !loss.isFinite {
            throw CallbackError(
                "In epoch: \(p.curEpochNum) step: \(step), loss is NAN or INF, training process cannot continue, terminating training."
            )
        }
        // A step counter that went back (a rolled-back run) moves the last line back with it.
        if perPrintTimes != 0 && p.curStepNum <= lastPrintTime {
            while p.curStepNum <= lastPrintTime {
                lastPrintTime -= max(perPrintTimes, p.datasetSinkMode ? p.batchNum : 1)
            }
        }
        if perPrintTimes != 0 && p.curStepNum - lastPrintTime >= perPrintTimes {
            lastPrintTime = p.curStepNum
            p.device.hostCallback("LossMonitor")
            emit(LossRecord(epoch: p.curEpochNum, step: step, loss: loss, visible: true, globalLoss: p.globalLoss))
        }
    }
}

/// MindSpore 2.10's `TimeMonitor` (`mindspore/train/callback/_time_monitor.py`, `epoch_end`): at
/// each epoch's end `Train epoch time: T ms, per step time: S ms`, T the epoch's time and S = T /
/// `batch_num` (in `eval`: `Eval ...`). NPUSim measures the card's simulated time (the host's
/// simulated clock from the epoch's begin to its end), not the wall clock.
public final class TimeMonitor: Callback {
    /// `data_size`: the steps per epoch when `batch_num` is unknown.
    public let dataSize: Int?
    var epochStart = SimTime.zero
    let print: (String) -> Void

    public init(dataSize: Int? = nil, print: @escaping (String) -> Void = { Swift.print($0) }) {
        (self.dataSize, self.print) = (dataSize, print)
    }

    public func epochBegin(_ run: RunContext) throws { epochStart = run.cbParams.device.hostTime }

    public func epochEnd(_ run: RunContext) throws {
        let p = run.cbParams
        let ms = (p.device.hostTime - epochStart).seconds * 1e3
        let steps = p.batchNum > 0 ? p.batchNum : (dataSize ?? 0)
        guard steps > 0 else {
            throw TrainError("TimeMonitor: data_size must be a positive int when the steps per epoch are unknown")
        }
        let mode = p.mode == .train ? "Train" : "Eval"
        print("\(mode) " + String(format: "epoch time: %5.3f ms, per step time: %5.3f ms", ms, ms / Double(steps)))
    }
}

/// One loss the host received (or, when `visible` is false, one a sink hid).
public struct LossRecord: Equatable, Sendable {
    public var epoch: Int
    /// The step within the epoch (from 1), as MindSpore's callbacks count it; for a hidden step,
    /// its place in its sink's epoch.
    public var step: Int
    public var loss: Float
    /// The host received it (every step without sinking, a sink's last step with it).
    public var visible: Bool
    /// With several cards: the mean of every card's loss (card 0's is `loss`); nil on one card.
    public var globalLoss: Float? = nil

    public init(epoch: Int, step: Int, loss: Float, visible: Bool, globalLoss: Float? = nil) {
        (self.epoch, self.step, self.loss, self.visible, self.globalLoss) = (epoch, step, loss, visible, globalLoss)
    }

    /// MindSpore 2.10's LossMonitor line for this loss.
    public var lossMonitorLine: String { LossMonitor.line(epoch: epoch, step: step, loss: loss) }
}

/// Records every loss the host received, and with a model that keeps hidden steps the losses a
/// sink hid, in step order (NPUSim's; `--losses`, `--json`, studies).
public final class LossRecorder: Callback {
    public private(set) var records: [LossRecord] = []
    /// Called with each record as it is made.
    let onRecord: (LossRecord) -> Void

    public init(onRecord: @escaping (LossRecord) -> Void = { _ in }) { self.onRecord = onRecord }

    public func onTrainStepEnd(_ run: RunContext) throws {
        let p = run.cbParams
        guard let loss = p.loss else { return }
        let last = p.curStepInEpoch, hidden = p.hiddenLosses
        for (k, h) in hidden.enumerated() {
            let r = LossRecord(
                epoch: p.curEpochNum, step: last - hidden.count + k, loss: h.loss, visible: false, globalLoss: h.global)
            records.append(r)
            onRecord(r)
        }
        let r = LossRecord(epoch: p.curEpochNum, step: last, loss: loss, visible: true, globalLoss: p.globalLoss)
        records.append(r)
        onRecord(r)
    }
}

/// Writes `epoch,step,loss` of every loss the host received to a CSV file when training ends
/// (written durably: a temporary file, fsync, rename). NPUSim's; MindSpore has no CSV logger.
public final class CSVLogger: Callback {
    public let path: String
    let recorder = LossRecorder()

    public init(path: String) { self.path = path }

    public func onTrainStepEnd(_ run: RunContext) throws { try recorder.onTrainStepEnd(run) }

    public func onTrainEnd(_ run: RunContext) throws {
        guard run.cbParams.writesFiles else { return }
        let csv =
            "epoch,step,loss\n"
            + recorder.records.filter(\.visible).map { "\($0.epoch),\($0.step),\(Double($0.loss))\n" }.joined()
        do { try writeDurably(Array(csv.utf8), to: path) } catch { throw TrainError("CSVLogger: \(error.message)") }
    }
}

/// MindSpore's `LambdaCallback`: a callback of closures, one per hook it needs.
public final class LambdaCallback: Callback {
    let trainStepEnd: ((RunContext) throws -> Void)?
    let trainEpochEnd: ((RunContext) throws -> Void)?
    let trainBegin: ((RunContext) throws -> Void)?
    let trainEnd: ((RunContext) throws -> Void)?

    public init(
        onTrainBegin: ((RunContext) throws -> Void)? = nil, onTrainStepEnd: ((RunContext) throws -> Void)? = nil,
        onTrainEpochEnd: ((RunContext) throws -> Void)? = nil, onTrainEnd: ((RunContext) throws -> Void)? = nil
    ) {
        (trainBegin, trainStepEnd, trainEpochEnd, trainEnd) = (
            onTrainBegin, onTrainStepEnd, onTrainEpochEnd, onTrainEnd
        )
    }

    public func onTrainBegin(_ run: RunContext) throws { try trainBegin?(run) }
    public func onTrainStepEnd(_ run: RunContext) throws { try trainStepEnd?(run) }
    public func onTrainEpochEnd(_ run: RunContext) throws { try trainEpochEnd?(run) }
    public func onTrainEnd(_ run: RunContext) throws { try trainEnd?(run) }
}
