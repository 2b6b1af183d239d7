import Foundation
import Testing
@testable import NPUScript
import NPUData
import NPUOps
import NPUTensor
import NPUTrain

/// MindSpore 2.10's LossMonitor, TimeMonitor and step counting through `Model.train`, each case's
/// expected lines derived by hand from MindSpore's code (`train/callback/_loss_monitor.py`
/// `LossMonitor.step_end`; `train/model.py` `_train`, `_train_process`,
/// `_train_dataset_sink_process`): a line when `cur_step_num − last ≥ per_print_times`, the step
/// printed as `(cur_step_num − 1) % batch_num + 1`, `batch_num` the sink size in sink mode.
@Suite struct LossMonitorTests {
    /// An MLP on 7 batches of 32 per epoch.
    static func script(printEvery: Int, epochs: Int, sink: Int? = nil, lr: Double = 0.01, extra: String = "") throws -> Script {
        try Script.parse(yaml: """
        seed: 1
        context: {mode: graph, determinism: "on"}
        dataset:
          source:
            synthetic: {count: 224, shape: [16], classes: 4, seed: 3}
          shuffle: true
          batch: {batch_size: 32, drop_remainder: true}
        network:
          layers:
            - Dense: {in_channels: 16, out_channels: 8, name: fc1}
            - ReLU: {}
            - Dense: {in_channels: 8, out_channels: 4, name: fc2}
        loss:
          SoftmaxCrossEntropyWithLogits: {sparse: true, reduction: mean}
        optimizer:
          Momentum: {learning_rate: \(lr), momentum: 0.9}
        train:
          epochs: \(epochs)
          dataset_sink_mode: \(sink != nil)
          sink_size: \(sink ?? -1)
          callbacks: [LossMonitor: {per_print_times: \(printEvery)}\(extra)]
        """, file: "/tmp/lossmonitor.yaml")
    }

    static func lines(_ script: Script, _ options: RunOptions = RunOptions(), keepHidden: Bool = false) throws -> (lines: [String], run: RunSummary) {
        var lines: [String] = []
        let run = try ScriptRunner.run(script, options, keepHidden: keepHidden, line: { lines.append($0.lossMonitorLine) })
        return (lines, run)
    }

    /// The global counter: 7 batches, per_print_times 5, 3 epochs print at global steps 5, 10, 15
    /// and 20 (not at step 5 of every epoch).
    @Test func theCounterIsGlobalAcrossEpochs() throws {
        let (lines, run) = try Self.lines(try Self.script(printEvery: 5, epochs: 3))
        #expect(run.steps == 21 && run.losses.count == 21 && run.losses.allSatisfy(\.visible))
        let loss = { (step: Int) in Double(run.losses[step - 1].loss) }
        #expect(lines == ["epoch: 1 step: 5, loss is \(loss(5))", "epoch: 2 step: 3, loss is \(loss(10))",
                          "epoch: 3 step: 1, loss is \(loss(15))", "epoch: 3 step: 6, loss is \(loss(20))"])
    }

    /// per_print_times 0 never prints (MindSpore accepts it); a negative one is refused.
    @Test func zeroNeverPrints() throws {
        let (lines, run) = try Self.lines(try Self.script(printEvery: 0, epochs: 2))
        #expect(lines.isEmpty && run.losses.count == 14)
        #expect(throws: ScriptError.self) { _ = try Self.script(printEvery: -1, epochs: 1) }
        #expect(throws: TrainError.self) { _ = try LossMonitor(perPrintTimes: -1) }
    }

    /// Sink size 5, per_print_times 3: each epoch is one sink of 5 steps; every sink's end
    /// prints (5 − 0 ≥ 3, 10 − 5 ≥ 3, ...), as step 5 of its epoch; the data flows on across the
    /// dataset's 7-batch epochs, so the losses are those of 15 host-fed steps.
    @Test func sinkSizeFivePrintsEachSinkAtStepFive() throws {
        let (lines, run) = try Self.lines(try Self.script(printEvery: 3, epochs: 3, sink: 5), keepHidden: true)
        let visible = run.losses.filter(\.visible)
        #expect(run.steps == 15 && visible.count == 3)
        #expect(lines == visible.enumerated().map { "epoch: \($0.offset + 1) step: 5, loss is \(Double($0.element.loss))" })
        var plain = RunOptions()
        (plain.sink, plain.steps) = (false, 15)
        let host = try Self.lines(try Self.script(printEvery: 3, epochs: 3, sink: 5), plain).run
        #expect(run.losses.map(\.loss.bitPattern) == host.losses.map(\.loss.bitPattern))
        #expect(run.losses.map(\.step) == Array(1...5) + Array(1...5) + Array(1...5))
    }

    /// A sink size (3) that does not divide the epoch (7), per_print_times 4, 4 epochs (sinks):
    /// cur_step_num 3, 6, 9, 12; lines at 6 (6 − 0 ≥ 4) and 12 (12 − 6 ≥ 4), "in the nearest step".
    @Test func aSinkSizeThatDoesNotDivideTheEpoch() throws {
        let (lines, run) = try Self.lines(try Self.script(printEvery: 4, epochs: 4, sink: 3))
        #expect(run.steps == 12 && run.losses.count == 4 && run.losses.allSatisfy(\.visible))
        #expect(lines == ["epoch: 2 step: 3, loss is \(Double(run.losses[1].loss))", "epoch: 4 step: 3, loss is \(Double(run.losses[3].loss))"])
        // Sink size −1 is the dataset's size: an epoch is the dataset's epoch.
        let whole = try Self.lines(try Self.script(printEvery: 1, epochs: 2, sink: -1)).lines
        #expect(whole.count == 2 && whole.allSatisfy { $0.contains(" step: 7, ") })
    }

    /// A loss that becomes NaN or infinite stops training at that step with MindSpore's message
    /// (a failed run: exit 1), after the lines of the steps before it.
    @Test func aNaNLossStopsTrainingWithMindSporesMessage() throws {
        // Without LossMonitor the run goes on: find the first non-finite loss.
        let unchecked = try Self.lines(try Self.script(printEvery: 1, epochs: 2, lr: 1e30).withoutCallbacks()).run
        let bad = try #require(unchecked.losses.firstIndex { !$0.loss.isFinite })
        #expect(bad >= 1)
        var lines: [String] = []
        do {
            _ = try ScriptRunner.run(try Self.script(printEvery: 1, epochs: 2, lr: 1e30), line: { lines.append($0.lossMonitorLine) })
            Issue.record("a NaN loss did not stop the run")
        } catch let error as CallbackError {
            let step = bad + 1
            #expect(error.message == "In epoch: \((step - 1) / 7 + 1) step: \((step - 1) % 7 + 1), loss is NAN or INF, training process cannot continue, terminating training.")
            #expect(error.category == .runFailed)
        }
        #expect(lines.count == bad)
    }

    /// `--steps N` runs N steps whatever the epochs say, into further epochs; every loss the host
    /// received is recorded, printed or not.
    @Test func stepsRunIntoFurtherEpochs() throws {
        var o = RunOptions()
        o.steps = 17
        let (lines, run) = try Self.lines(try Self.script(printEvery: 44, epochs: 1), o)
        #expect(run.steps == 17 && run.stepsRun == 17 && run.losses.count == 17 && lines.isEmpty)
        #expect(run.losses.map(\.epoch) == Array(repeating: 1, count: 7) + Array(repeating: 2, count: 7) + [3, 3, 3])
        // In sink mode the last sink is shortened to end at step N.
        (o.sink, o.sinkSize, o.steps) = (true, 5, 12)
        let sunk = try Self.lines(try Self.script(printEvery: 1, epochs: 1), o, keepHidden: true).run
        #expect(sunk.steps == 12 && sunk.losses.filter(\.visible).map(\.step) == [5, 5, 2])
    }

    /// TimeMonitor's line is MindSpore's ("Train epoch time: ..."), after LossMonitor's when
    /// listed after it.
    @Test func timeMonitorLineFollowsMindSpore() throws {
        var out: [String] = []
        _ = try ScriptRunner.run(try Self.script(printEvery: 7, epochs: 2, extra: ", TimeMonitor: {}"),
                                 line: { out.append($0.lossMonitorLine) }, message: { out.append($0) })
        #expect(out.count == 4 && out[0].hasPrefix("epoch: 1 step: 7, ") && out[1].hasPrefix("Train epoch time: ") && out[2].hasPrefix("epoch: 2 step: 7, "))
    }
}

extension Script {
    /// The script without its callbacks (no LossMonitor).
    func withoutCallbacks() -> Script {
        var s = self
        s.train.printEvery = nil
        s.train.callbackOrder = []
        return s
    }
}
