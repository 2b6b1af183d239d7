import Foundation
import Testing
import NPUData
import NPUDevice
import NPUGraph
import NPUOps
import NPURandom
import NPUTensor
@testable import NPUTrain

/// `Model.train` and `eval` with callbacks, as MindSpore 2.10's `Model` calls them.
@Suite struct ModelTests {
    /// A 16 → 4 MLP and 7 batches of 8 per epoch.
    static func model(seed: Int64 = 1, context: ModelContext = ModelContext()) throws -> (Model, Dataset) {
        let ctx = try NPUTrainTests.context(seed: seed)
        let net = SequentialCell([try Dense(16, 8, name: "fc1", ctx), OpLayer.relu(), try Dense(8, 4, name: "fc2", ctx)])
        var c = context
        c.determinism = .on
        let model = try Model(network: net, loss: SoftmaxCrossEntropyLoss(), optimizer: try Momentum(net.parameters, learningRate: 0.01, momentum: 0.9, ctx),
                              store: ctx.store, metrics: [.accuracy, .loss], context: c)
        var data = try Dataset(source: try SyntheticSource(count: 56, shape: [16], classes: 4, seed: 2), shuffle: true, batchSize: 8, dropRemainder: true)
        data.seed = 5
        return (model, data)
    }

    /// Records every hook as MindSpore names it, with the counters it saw.
    final class Journal: Callback {
        var calls: [String] = []
        func note(_ hook: String, _ run: RunContext) {
            let p = run.cbParams
            calls.append("\(hook) \(p.mode.rawValue) e\(p.curEpochNum) s\(p.curStepNum)/\(p.batchNum)")
        }
        func onTrainBegin(_ run: RunContext) throws { note("on_train_begin", run) }
        func onTrainEpochBegin(_ run: RunContext) throws { note("on_train_epoch_begin", run) }
        func onTrainStepBegin(_ run: RunContext) throws { note("on_train_step_begin", run) }
        func onTrainStepEnd(_ run: RunContext) throws { note("on_train_step_end", run) }
        func onTrainEpochEnd(_ run: RunContext) throws { note("on_train_epoch_end", run) }
        func onTrainEnd(_ run: RunContext) throws { note("on_train_end", run) }
    }

    /// Only the older names: MindSpore's `on_train_*` and `on_eval_*` call them.
    final class OldStyle: Callback {
        var calls: [String] = []
        func begin(_ run: RunContext) throws { calls.append("begin \(run.cbParams.mode.rawValue)") }
        func stepEnd(_ run: RunContext) throws { calls.append("step_end \(run.cbParams.curStepNum)") }
        func end(_ run: RunContext) throws { calls.append("end \(run.cbParams.mode.rawValue)") }
    }

    @Test func hooksRunInMindSporesOrderWithItsCounters() throws {
        let (model, data) = try Self.model()
        let journal = Journal()
        try model.train(epochs: 2, dataset: data, callbacks: [journal])
        var expected = ["on_train_begin train e0 s0/7"]
        for e in 1...2 {
            expected.append("on_train_epoch_begin train e\(e) s\((e - 1) * 7)/7")
            for s in 1...7 {
                let n = (e - 1) * 7 + s
                expected += ["on_train_step_begin train e\(e) s\(n)/7", "on_train_step_end train e\(e) s\(n)/7"]
            }
            expected.append("on_train_epoch_end train e\(e) s\(e * 7)/7")
        }
        expected.append("on_train_end train e2 s14/7")
        #expect(journal.calls == expected)
    }

    @Test func olderHookNamesAreCalledInTrainingAndEvaluation() throws {
        let (model, data) = try Self.model()
        let old = OldStyle()
        try model.train(epochs: 1, dataset: data, callbacks: [old])
        let metrics = try model.eval(data, callbacks: [old])
        #expect(old.calls == ["begin train"] + (1...7).map { "step_end \($0)" } + ["end train", "begin eval"] + (1...7).map { "step_end \($0)" } + ["end eval"])
        #expect(metrics.map(\.name) == ["Accuracy", "Loss"] && (0...1).contains(metrics[0].value) && metrics[1].value > 0)
    }

    /// Under O2 evaluation runs the network in float16 as training does (MindSpore converts the
    /// backbone once, for both): before any update, the evaluated loss of a batch is the first
    /// training step's loss of that batch, bit for bit.
    @Test func o2EvaluatesAtTheTrainingPrecision() throws {
        let ctx = try NPUTrainTests.context(seed: 1)
        let net = SequentialCell([try Dense(16, 8, name: "fc1", ctx), OpLayer.relu(), try Dense(8, 4, name: "fc2", ctx)])
        var c = ModelContext()
        c.determinism = .on
        let model = try Model(network: net, loss: SoftmaxCrossEntropyLoss(), optimizer: try Momentum(net.parameters, learningRate: 0.01, momentum: 0.9, ctx),
                              store: ctx.store, metrics: [.loss], ampLevel: .O2, lossScaleManager: FixedLossScaleManager(lossScale: 1024), context: c)
        let data = try Dataset(source: try SyntheticSource(count: 8, shape: [16], classes: 4, seed: 2), batchSize: 8, dropRemainder: true)
        let evaluated = try model.eval(data)[0].value
        let recorder = LossRecorder()
        try model.train(epochs: 1, dataset: data, callbacks: [recorder])
        let trained = try #require(recorder.records.first).loss
        #expect(Float(evaluated).bitPattern == trained.bitPattern, "\(evaluated) vs \(trained)")
    }

    /// `initial_epoch`: epochs initial+1 ... epochs run; cur_step_num counts from 0 (MindSpore's
    /// `_train` sets it from `initial_step`, not from the epoch).
    @Test func initialEpochRunsTheLaterEpochsWithAFreshCounter() throws {
        let (model, data) = try Self.model()
        var lines: [String] = []
        try model.train(epochs: 3, dataset: data, callbacks: [try LossMonitor(perPrintTimes: 5) { lines.append($0) }], initialEpoch: 1)
        #expect(lines.count == 2 && lines[0].hasPrefix("epoch: 2 step: 5, loss is ") && lines[1].hasPrefix("epoch: 3 step: 3, loss is "))
        #expect(model.stepsTrained == 14)
        #expect(throws: TrainError.self) { try model.train(epochs: 2, dataset: data, initialEpoch: 2) }
        #expect(throws: TrainError.self) { try model.train(epochs: 2, dataset: data, datasetSinkMode: true, sinkSize: 0) }
    }

    /// `request_stop()` ends training after that step, once its epoch's end hooks have run.
    @Test func requestStopEndsAfterTheStepAndItsEpochEnd() throws {
        let (model, data) = try Self.model()
        let journal = Journal()
        let stopper = LambdaCallback(onTrainStepEnd: { run in if run.cbParams.curStepNum == 3 { run.requestStop() } })
        try model.train(epochs: 5, dataset: data, callbacks: [stopper, journal])
        #expect(model.stepsTrained == 3)
        #expect(journal.calls.suffix(3) == ["on_train_step_end train e1 s3/7", "on_train_epoch_end train e1 s3/7", "on_train_end train e1 s3/7"])
    }

    /// The same steps through `Model` and through `TrainStep` directly give the same bits; sinks
    /// of any size read as many batches as they run, through a bounded device queue.
    @Test func modelTrainIsTheBareStepAndSinksStream() throws {
        let (model, data) = try Self.model()
        let recorder = LossRecorder()
        try model.train(epochs: 2, dataset: data, callbacks: [recorder])
        let (bare, _) = try Self.model()
        try bare.build(trainDataset: data)
        var direct: [UInt32] = []
        for epoch in 1...2 {
            for b in try data.batches(epoch: epoch, shuffleSeed: 5) { direct.append(try bare.trainNetwork!(b.data, b.label).toArray(of: Float.self)[0].bitPattern) }
        }
        #expect(recorder.records.map(\.loss.bitPattern) == direct)
        // One sink of 250 steps (longer than the queue's 100 batches) keeps every hidden loss.
        var c = ModelContext()
        c.keepHiddenSteps = true
        let (sunk, _) = try Self.model(context: c)
        let hidden = LossRecorder()
        try sunk.train(epochs: 1, dataset: data, callbacks: [hidden], datasetSinkMode: true, sinkSize: 250)
        #expect(hidden.records.count == 250 && hidden.records.filter(\.visible).count == 1)
        let (fed, _) = try Self.model()
        let steps = LossRecorder()
        try fed.train(epochs: 36, dataset: data, callbacks: [steps], maxSteps: 250)
        #expect(hidden.records.map(\.loss.bitPattern) == steps.records.map(\.loss.bitPattern))
    }

    /// A user's callback reads `cb_params` and keeps its own values in it.
    @Test func customCallbacksSeeTheLossAndMayWriteTheirOwnValues() throws {
        let (model, data) = try Self.model()
        final class Smallest: Callback {
            func stepEnd(_ run: RunContext) throws {
                let p = run.cbParams
                let best = p.userValues["best"] as? Float ?? .infinity
                p.userValues["best"] = min(best, p.loss!)
            }
            func end(_ run: RunContext) throws { run.cbParams.userValues["done"] = true }
        }
        let recorder = LossRecorder(), smallest = Smallest()
        let seen = LambdaCallback(onTrainEnd: { run in
            #expect(run.cbParams.userValues["best"] as? Float == recorder.records.map(\.loss).min())
        })
        try model.train(epochs: 1, dataset: data, callbacks: [recorder, smallest, seen])
    }
}
