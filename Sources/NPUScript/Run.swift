import Foundation
import NPUCollective
import NPUData
import NPUDevice
import NPUGraph
import NPUOps
import NPUProfile
import NPURandom
import NPUTensor
import NPUTrain

/// Which reduction orders an `off` run replays.
public enum OrderSeedChoice: Equatable, Sendable {
    /// This order seed.
    case seed(UInt64)
    /// A fresh draw from OS entropy (replacing a script's `order_seed`), reported so the run can
    /// be replayed.
    case entropy
}

/// What the command line overrides in a script (nil: the script's value).
public struct RunOptions {
    public var mode: ExecutionMode?
    public var determinism: Determinism?
    public var orderSeed: OrderSeedChoice?
    public var device: DeviceSpec?
    public var seed: Int64?
    public var epochs: Int?
    /// Train until this many steps have run (counted from the start of training, so a run resumed
    /// from a checkpoint of step k runs N − k more), continuing into further epochs when the
    /// script's epochs end first. In sink mode the last sink is shortened to end there.
    public var steps: Int?
    public var sink: Bool?
    public var sinkSize: Int?
    /// Data-parallel cards (overrides context.cards).
    public var cards: Int?
    /// Start from this checkpoint (parameters, optimizer state, the step reached).
    public var loadCheckpoint: String?
    /// Save a checkpoint here when training ends (or of the steps trained when a step fails late).
    public var saveCheckpoint: String?
    /// Write the run's timeline here (Chrome trace event format): every task of every card.
    public var trace: String?
    /// Keep every task of every card with what the executor records (steps, reduction plans),
    /// for a profile (`RunSummary.devices`).
    public var record = false
    /// Called with every op's outputs on every card (graph mode): (card, the node's outputs).
    /// Throwing stops the run with that error.
    public var observer: ((Int, NodeOutput) throws -> Void)?
    /// Per-op-type policies that override the run's (`["MatMul": .on]`: MatMul adds in a fixed
    /// order while everything else follows `determinism`).
    public var overrides: [String: Determinism] = [:]
    /// A planted divergence: on `card`, op instance `instance` at step `step` (from 0) draws its
    /// orders from order seed `seed` (`ReductionPlanner.perturbation`).
    public var perturbation: (card: Int, instance: String, step: Int, seed: UInt64)?
    /// Runs of this script alive at once in this process (a drift study's replicas, which train
    /// in lockstep): the host-memory check before allocating counts every one.
    public var concurrentRuns = 1
    /// Set when other processes (MPI ranks) compute some of the cards (`CardExchange`): this
    /// process computes `exchange.localCards`; the process that holds card 0 writes the
    /// checkpoints, the trace and the callbacks' files.
    public var exchange: (any CardExchange)?
    public init() {}
    /// Whether this process writes the run's files: it computes card 0.
    public var writesFiles: Bool { exchange.map { $0.localCards.contains(0) } ?? true }
}

/// Where a run stands after a step the host launched (or a sink): what `ScriptRunner.run`'s
/// `stepEnd` sees.
public struct StepEnd {
    /// Steps run so far (from 1).
    public var step: Int
    /// Card 0's parameters and optimizer state now.
    public var store: ParameterStore
    /// The network's parameter names (no optimizer state), in construction order.
    public var parameters: [String]
}

/// What a run had when a step failed after training began: the loss records so far and where
/// the steps trained were saved (`--save-checkpoint`), if they were.
public struct PartialRun {
    /// The error that stopped the run.
    public let error: any Error
    /// The losses the host received before the error.
    public let losses: [LossRecord]
    /// Steps trained when it stopped (a resumed run counts its checkpoint's).
    public let steps: Int
    /// Where the steps trained were saved, when they were.
    public let savedTo: String?
    /// Whether every parameter was finite (a diverged run's are not saved).
    public let finite: Bool
}

/// One evaluation (`Model.eval`): the metrics by name, in the script's order.
public struct EvalResult: Equatable {
    /// The epoch after which it ran.
    public var epoch: Int
    public var metrics: [(name: String, value: Double)]
    public static func == (a: EvalResult, b: EvalResult) -> Bool {
        a.epoch == b.epoch && a.metrics.map(\.name) == b.metrics.map(\.name)
            && a.metrics.map(\.value) == b.metrics.map(\.value)
    }
    /// What `print(model.eval(dataset))` shows: the dict of metrics as Python prints it.
    public var line: String { "{" + metrics.map { "'\($0.name)': \($0.value)" }.joined(separator: ", ") + "}" }
}

/// The result of a run.
public struct RunSummary {
    /// The steps trained in all (a resumed run counts its checkpoint's).
    public var steps: Int
    /// The samples of the steps this process ran (every card's).
    public var samples: Int
    public var hostSeconds: Double
    /// The card's simulated time when training ended.
    public var simulatedTime: SimTime
    public var losses: [LossRecord]
    public var evaluations: [EvalResult] = []
    /// The cards the run trained on (card 0 first): their timelines and host lanes.
    public var devices: [Device] = []
    /// Card 0's parameters (and optimizer state) when training ended.
    public var store: ParameterStore?
    /// The steps this process ran (`steps` less a resumed checkpoint's).
    public var stepsRun: Int = 0
    /// The order seed `off` drew its orders from (the script's, the flag's or a fresh draw);
    /// nil for a timing-only simulation.
    public var orderSeed: UInt64?
    /// The cluster's cards: `devices.count`, or more when a timing-only run simulated only some
    /// cards of an alike cluster (every other card's timeline is the first simulated card's).
    public var cards: Int?
    /// Samples per simulated second.
    public var samplesPerSecond: Double { simulatedTime > .zero ? Double(samples) / simulatedTime.seconds : 0 }
}

/// Trains a script as MindSpore's `Model.train` would: the dataset's batches epoch by epoch, one
/// step per batch (or one sink of steps per epoch in dataset sink mode), LossMonitor's lines.
public enum ScriptRunner {
    /// Builds the script's network (parameters declared by shape only), loss and optimizer without
    /// training: the checks a run would make before its first step.
    /// - Throws: `ScriptError`, `TrainError` or `OpError` naming what does not fit.
    public static func build(_ script: Script) throws {
        let builder = Builder(script: script)
        let ctx = LayerContext(store: ParameterStore(shapeOnly: true), seeds: SeedState())
        let network = try builder.network(ctx)
        _ = try builder.loss()
        _ = try builder.optimizer(network.parameters, ctx)
        _ = try builder.lossScaleManager()
    }

    /// The device profile of a run: the flag's, a built-in's, or a profile file's (relative to the script).
    static func deviceSpec(_ script: Script, _ options: RunOptions) throws -> DeviceSpec {
        if let d = options.device { return d }
        if let b = DeviceSpec.builtIn(named: script.context.device) { return b }
        let path =
            script.context.device.hasPrefix("/")
            ? script.context.device
            : URL(fileURLWithPath: script.file).deletingLastPathComponent().appendingPathComponent(
                script.context.device
            ).path
        do { return try DeviceSpec.load(path: path) } catch {
            throw ScriptError(file: script.file, message: "context.device: \(error)")
        }
    }

    /// The order seed a run replays: the flag's, else the script's, else (and for `--order-seed
    /// entropy`) a fresh draw from OS entropy — so every `off` run can be replayed.
    public static func orderSeed(_ script: Script, _ options: RunOptions) -> UInt64 {
        switch options.orderSeed {
        case .seed(let s)?: return s
        case .entropy?: return drawOrderSeed()
        case nil: return script.context.orderSeed ?? drawOrderSeed()
        }
    }

    /// The first order seed of a study's runs or replicas (run r replays this + r): the flag's,
    /// else the script's, else 0; a fresh draw for `--order-seed entropy`.
    public static func baseOrderSeed(_ script: Script, _ options: RunOptions) -> UInt64 {
        switch options.orderSeed {
        case .seed(let s)?: return s
        case .entropy?: return drawOrderSeed()
        case nil: return script.context.orderSeed ?? 0
        }
    }

    /// An order seed from OS entropy, in the range `--order-seed` and `order_seed` take.
    public static func drawOrderSeed() -> UInt64 {
        var g = SystemRandomNumberGenerator()
        return UInt64(UInt32(truncatingIfNeeded: g.next()))
    }

    /// Whether a run of `script` with `options` draws any reduction order (some policy is `off`),
    /// so its order seed matters.
    public static func drawsOrders(_ script: Script, _ options: RunOptions) -> Bool {
        (options.determinism ?? script.context.determinism) == .off || options.overrides.values.contains(.off)
            || script.context.allReduceDeterminism == .off
    }

    /// A script made ready to train: its `Model` built for its dataset (on its cards, a resumed
    /// checkpoint loaded), the datasets, and how `Model.train` is to be called. What `run` trains
    /// and what the engine's C ABI hands to other front ends.
    public struct Prepared {
        public let model: Model
        public let dataset: Dataset
        /// The evaluation data of `eval:`, read before training.
        public let evalData: Dataset?
        public let sink: Bool
        /// Steps per sink (the epoch's batches for −1).
        public let sinkSize: Int
        /// Steps per epoch as the callbacks count them (the sink size in sink mode).
        public let batchNum: Int
        /// Epochs to train: the script's or the flag's, more when `--steps` asks for more.
        public let epochs: Int
        /// Steps a resumed checkpoint had trained (0 for a fresh run).
        public let resumed: Int
        /// The order seed `off` draws from.
        public let orderSeed: UInt64
        /// The network's parameter names (no optimizer state), in construction order.
        public let parameterNames: [String]
    }

    /// Whether every floating-point parameter in `store` is finite.
    static func allFinite(_ store: ParameterStore) -> Bool {
        store.names.allSatisfy { name in
            guard let t = store[name] else { return true }
            switch t.dtype {
            case .float32: return (try? t.toArray(of: Float.self).allSatisfy(\.isFinite)) ?? true
            case .float16: return (try? t.toArray(of: Float16.self).allSatisfy(\.isFinite)) ?? true
            default: return true
            }
        }
    }

    /// The host's memory, or less when this process is capped (`ulimit -v`), and whether it is.
    static func hostMemory() -> (bytes: Int64, capped: Bool) {
        let host = Int64(clamping: ProcessInfo.processInfo.physicalMemory)
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_AS.rawValue), &limit) == 0, limit.rlim_cur != rlim_t.max, Int64(clamping: limit.rlim_cur) < host {
            return (Int64(clamping: limit.rlim_cur), true)
        }
        return (host, false)
    }

    /// The compiled steps' memory plans (every card's, and the evaluation graph's): what a step
    /// holds on the host — parameters, inputs, intermediate values and kernel workspace (a
    /// convolution's unfolded input) — must fit the host before the first step allocates it.
    static func checkStepMemory(_ script: Script, _ model: Model, runs: Int) throws {
        var needed: Int64 = 0, largest: [(String, Int64)] = []
        // Ghost cards (another process computes them) hold nothing of their own.
        let computed = model.replicas.compactMap(\.compiled).filter { !$0.ghost }
        for plan in computed.map(\.memory) + (model.evaluationMemory.map { [$0] } ?? []) {
            needed = needed.addingReportingOverflow(plan.peakBytes.addingReportingOverflow(plan.residentBytes).partialValue).partialValue
            largest += plan.largest.prefix(2)
        }
        let (all, overflow) = needed.multipliedReportingOverflow(by: Int64(max(1, runs)))
        let (host, capped) = hostMemory()
        guard !overflow, all >= 0, all <= host / 10 * 8 else {
            let top = largest.sorted { $0.1 > $1.1 }.prefix(3).map { "\($0.0) \(formatBytes($0.1))" }.joined(separator: ", ")
            throw ScriptError(file: script.file, message: "a step needs \(overflow || all < 0 ? "more than 8 EiB" : formatBytes(all)) of host memory (parameters, intermediate values and kernel workspace on \(computed.count) card\(computed.count == 1 ? "" : "s")\(runs > 1 ? " × \(runs) runs at once" : "")) but this \(capped ? "process may use" : "host has") \(formatBytes(host))\(capped ? " (ulimit -v)" : ""); largest values: \(top)")
        }
    }

    /// Plans before allocating: the network and optimizer declared by shape only (no value made),
    /// their bytes checked against the card's HBM and, for every card's copy, the host's memory —
    /// so a model too big fails at once with the timing-only path's message, never after minutes
    /// of allocation or with the system's "failed to allocate".
    static func checkMemory(_ script: Script, _ options: RunOptions, _ builder: Builder) throws {
        let plan = LayerContext(store: ParameterStore(shapeOnly: true), seeds: SeedState())
        let network = try builder.network(plan)
        _ = try builder.optimizer(network.parameters, plan)
        var bytes: Int64 = 0
        for name in plan.store.names {
            guard let t = plan.store.type(of: name), let n = t.shape.checkedCount else {
                throw ScriptError(file: script.file, message: "parameter '\(name)' has too many elements")
            }
            let (b, overflow) = Int64(n).multipliedReportingOverflow(by: Int64(t.dtype.size))
            guard !overflow, bytes <= Int64.max - b else { throw ScriptError(file: script.file, message: "the parameters' size overflows") }
            bytes += b
        }
        let device = try deviceSpec(script, options)
        guard bytes <= device.hbmBytes else {
            throw ScriptError(file: script.file, message: "the parameters and optimizer state need \(formatBytes(bytes)) of HBM but \(device.name) has \(formatBytes(device.hbmBytes)) (npusim profile --timing-only simulates a model of any size on shapes alone)")
        }
        // Under mpirun a process holds copies for its own cards and card 0 (the others are ghosts).
        let cluster = options.cards ?? script.context.cards
        let cards = Int64(options.exchange.map { e in e.localCards.clamped(to: 0..<cluster).count + (e.localCards.contains(0) ? 0 : 1) } ?? cluster)
        let runs = Int64(max(1, options.concurrentRuns))
        let (host, capped) = hostMemory()
        let (copiesCount, tooMany) = cards.multipliedReportingOverflow(by: runs)
        let (product, tooBig) = bytes.multipliedReportingOverflow(by: copiesCount)
        let (all, overflow) = (product, tooMany || tooBig)
        guard !overflow, all <= host / 10 * 8 else {
            let copies = "\(cards) card\(cards == 1 ? "" : "s")" + (runs > 1 ? " × \(runs) runs at once" : "")
            throw ScriptError(file: script.file, message: "the parameters and optimizer state of \(copies) need \(overflow ? "more than 8 EiB" : formatBytes(all)) of host memory (every card's copy is computed for real) but this \(capped ? "process may use" : "host has") \(formatBytes(host))\(capped ? " (ulimit -v)" : ""); use fewer cards, or npusim profile --timing-only for shapes alone")
        }
    }

    /// Builds `script` with `options` into a `Prepared` run: network, loss, optimizer and dataset
    /// from the script, the `Model` with the context the flags and script set, built for the
    /// dataset, and a checkpoint loaded when resuming. `message` receives the loader's notes.
    /// - Throws: what building or loading throws.
    public static func prepare(_ script: Script, _ options: RunOptions = RunOptions(), keepHidden: Bool = false,
                               message: (String) -> Void = { _ in }) throws -> Prepared {
        let builder = Builder(script: script)
        try checkMemory(script, options, builder)
        let seeds = SeedState()
        if let s = options.seed ?? script.seed { try seeds.setSeed(s) }
        let ctx = LayerContext(store: ParameterStore(), seeds: seeds)
        let network = try builder.network(ctx)
        let loss = try builder.loss()
        let parameterNames = network.parameters.map(\.name)
        let optimizer = try builder.optimizer(network.parameters, ctx)
        var dataset = try builder.dataset()
        dataset.seed = seeds.shuffleSeed().seed
        // The evaluation data is read before training, so a missing file costs no training.
        let evalData = try script.eval.map { try builder.dataset($0.dataset) }

        var context = ModelContext()
        context.mode = options.mode ?? script.context.mode
        context.determinism = options.determinism ?? script.context.determinism
        context.overrides = options.overrides
        if let policy = script.context.allReduceDeterminism {
            for op in ["AllReduce", "ReduceScatter"] where context.overrides[op] == nil { context.overrides[op] = policy }
        }
        let orderSeed = Self.orderSeed(script, options)
        context.orderSource = .replay(orderSeed)
        context.device = try deviceSpec(script, options)
        context.cards = options.cards ?? script.context.cards
        context.allReduceAlgorithm = script.context.allReduceAlgorithm.flatMap(AllReduceAlgorithm.init(rawValue:))
        context.fusionSplits = script.context.fusionSplits
        context.kernelFusion = script.context.kernelFusion
        context.recording = options.trace != nil || options.record
        context.keepHiddenSteps = keepHidden
        context.exchange = options.exchange
        // Batch statistics are each card's own: there N cards are not one card, by definition.
        if context.cards > 1, (context.overrides["AllReduce"] ?? context.determinism) == .strict {
            let norms = script.network.filter { $0.type == "BatchNorm2d" }.map(\.name)
            let names = parameterNames.filter { p in norms.contains { p.hasPrefix($0 + ".") } }
            if !norms.isEmpty {
                message("note: strict on \(context.cards) cards gives one card's bits with the global batch except through batch statistics: BatchNorm2d \(norms.map { "'\($0)'" }.joined(separator: ", ")) normalises over each card's batch of \(dataset.batchSize), so \(names.joined(separator: ", ")) and everything they feed differ from a one-card run")
            }
            if script.context.ampLevel != .O0 {
                message("note: strict on \(context.cards) cards under amp_level \(script.context.ampLevel.rawValue) is not one card with the global batch: each card's cube writes its gradients in float16, rounded on the card before the AllReduce adds them, so the parameters differ from a one-card run (amp_level O0 gives one card's bits)")
            }
        }
        let metrics = script.eval?.metrics.compactMap(Metric.init(rawValue:)) ?? []
        let model = try Model(
            network: network, loss: loss, optimizer: optimizer, store: ctx.store, metrics: metrics,
            ampLevel: script.context.ampLevel, lossScaleManager: try builder.lossScaleManager(),
            context: context
        ) { _ in
            // Another card: the same script built again with the same seed (the same initial
            // parameters on every card).
            let replicaSeeds = SeedState()
            if let s = options.seed ?? script.seed { try replicaSeeds.setSeed(s) }
            let replica = LayerContext(store: ParameterStore(), seeds: replicaSeeds)
            let net = try builder.network(replica)
            return Replica(
                network: net, loss: try builder.loss(), optimizer: try builder.optimizer(net.parameters, replica),
                store: replica.store)
        }
        // The evaluation graph is compiled now: a dataset the network does not take stops the run
        // before its first step, not after its last.
        if let evalData { try model.prepareEval(evalData) }
        let sink = options.sink ?? script.train.sink
        let perEpoch = try Self.shardBatches(dataset, cards: context.cards)
        var sinkSize = options.sinkSize ?? script.train.sinkSize
        if sinkSize == -1 { sinkSize = perEpoch }
        let batchNum = sink ? sinkSize : perEpoch
        try model.build(trainDataset: context.cards > 1 ? try dataset.shard(0, of: context.cards) : dataset)
        try checkStepMemory(script, model, runs: options.concurrentRuns)
        for (k, replica) in model.replicas.enumerated() {
            if let observer = options.observer { replica.compiled?.observer = { try observer(k, $0) } }
            if let p = options.perturbation, p.card == k { replica.planner.perturbation = (p.instance, p.step, p.seed) }
        }

        // A resumed run: the parameters and optimizer state of the checkpoint, and the data and
        // step count continue where it stopped.
        var resumed = 0
        if let path = options.loadCheckpoint {
            // Every card starts from the checkpoint (replicas hold the same parameters).
            let names = Set(parameterNames)
            let loaded = try Checkpoint.load(path, into: model.store, network: names)
            for store in model.stores.dropFirst() { _ = try Checkpoint.load(path, into: store, network: names) }
            loaded.notes.forEach(message)
            // Dropout's streams continue where the saved run left them (every card's).
            model.restoreRandomStates(loaded.randomStates)
            if let reached = loaded.step {
                if sink && reached % sinkSize != 0 {
                    throw CheckpointError(
                        "\(path) was saved at step \(reached), inside a sink of \(sinkSize) steps; resume it without sinking or with a sink size that divides \(reached)"
                    )
                }
                try model.continueAt(step: reached)
                resumed = reached
            }
        }
        var epochs = options.epochs ?? script.train.epochs
        // Enough epochs for --steps (counts from flags may be huge: no product may overflow).
        if let steps = options.steps { epochs = max(epochs, steps / batchNum + (steps % batchNum == 0 ? 0 : 1)) }
        if let path = options.loadCheckpoint {
            let (all, overflow) = epochs.multipliedReportingOverflow(by: batchNum)
            let total = options.steps ?? (overflow ? Int.max : all)
            // Nothing left to train is no error (a checkpoint loaded to evaluate it), but said.
            if resumed >= total {
                message("\(path) was saved at step \(resumed), and this run trains \(total) step\(total == 1 ? "" : "s") in all (\(options.steps != nil ? "--steps" : "\(epochs) epoch\(epochs == 1 ? "" : "s") of \(batchNum) batches")): nothing is left to train; raise --epochs or --steps past \(resumed) to continue it")
            }
        }
        return Prepared(model: model, dataset: dataset, evalData: evalData, sink: sink, sinkSize: sinkSize, batchNum: batchNum,
                        epochs: epochs, resumed: resumed, orderSeed: orderSeed, parameterNames: parameterNames)
    }

    /// Runs `script` with `options` as MindSpore's `Model.train` would (a translation of the
    /// script into `Model` and callbacks): `line` receives each LossMonitor line's record,
    /// `stepEnd` card 0's store after each step the host launched (or sink), `message` the other
    /// lines the host prints (TimeMonitor, notes), `evaluated` each evaluation; the summary holds
    /// every loss the host received (and with `keepHidden` the ones a sink hid). When a step fails
    /// after training began, the steps trained are saved to `saveCheckpoint` first and
    /// `interrupted` receives what the run had; then the error is thrown.
    /// - Throws: `ScriptError`, `DataError`, `TrainError`, `GraphError`, `OpError` naming what
    ///   failed; `CallbackError` (LossMonitor's NaN stop).
    public static func run(
        _ script: Script, _ options: RunOptions = RunOptions(), keepHidden: Bool = false,
        line: @escaping (LossRecord) -> Void = { _ in }, stepEnd: @escaping (StepEnd) -> Void = { _ in },
        evaluated: @escaping (EvalResult) -> Void = { _ in }, message: @escaping (String) -> Void = { _ in },
        progress: @escaping (_ done: Int, _ total: Int) -> Void = { _, _ in },
        interrupted: (PartialRun) -> Void = { _ in }
    ) throws -> RunSummary {
        let started = DispatchTime.now().uptimeNanoseconds
        let prepared = try prepare(script, options, keepHidden: keepHidden, message: message)
        let (model, dataset, evalData, parameterNames) = (prepared.model, prepared.dataset, prepared.evalData, prepared.parameterNames)
        let (product, overflow) = prepared.epochs.multipliedReportingOverflow(by: prepared.batchNum)
        let total = min(options.steps ?? Int.max, overflow ? Int.max : product)

        // The script's callbacks in its order, then NPUSim's recorders.
        var callbacks: [any Callback] = []
        for type in script.train.callbackOrder {
            switch type {
            case "LossMonitor":
                callbacks.append(try LossMonitor(perPrintTimes: script.train.printEvery ?? 1, lines: line))
            case "TimeMonitor":
                callbacks.append(TimeMonitor(print: message))
            case "CSVLogger":
                if let path = script.train.csvLog { callbacks.append(CSVLogger(path: path)) }
            case "ModelCheckpoint":
                if let spec = script.train.modelCheckpoint {
                    let format: Checkpoint.Format = spec.format == "safetensors" ? .safetensors : .mindspore
                    let config = CheckpointConfig(
                        saveCheckpointSteps: spec.saveCheckpointSteps, keepCheckpointMax: spec.keepCheckpointMax,
                        format: format)
                    callbacks.append(
                        try ModelCheckpoint(prefix: spec.prefix, directory: spec.directory, config: config))
                }
            default: break
            }
        }
        let recorder = LossRecorder()
        callbacks.append(recorder)
        callbacks.append(
            LambdaCallback(onTrainStepEnd: { run in
                let p = run.cbParams
                stepEnd(StepEnd(step: p.stepsTrained, store: p.store, parameters: parameterNames))
                progress(p.stepsTrained, total)
            }))
        // Model.eval after each epoch (`eval.per_epoch`), outside TimeMonitor's epoch.
        var evaluations: [EvalResult] = []
        if let spec = script.eval, let evalData, spec.perEpoch {
            callbacks.append(
                LambdaCallback(onTrainEpochEnd: { run in
                    let result = EvalResult(epoch: run.cbParams.curEpochNum, metrics: try model.eval(evalData))
                    evaluations.append(result)
                    evaluated(result)
                }))
        }
        func save(_ path: String) throws {
            let states = try model.randomStates()  // every process takes part; card 0's writes
            guard options.writesFiles else { return }
            try Checkpoint.save(model.store, to: path, step: model.stepsTrained, epoch: recorder.records.last?.epoch ?? 1, extra: states)
        }
        do {
            try model.train(
                epochs: prepared.epochs, dataset: dataset, callbacks: callbacks, datasetSinkMode: prepared.sink,
                sinkSize: prepared.sinkSize, initialStep: prepared.resumed, maxSteps: options.steps)
            if let spec = script.eval, let evalData, !spec.perEpoch {
                let result = EvalResult(epoch: options.epochs ?? script.train.epochs, metrics: try model.eval(evalData))
                evaluations.append(result)
                evaluated(result)
            }
        } catch {
            // A step failed late: what was trained is saved first (the parameters after the last
            // whole step), then the error is reported with the losses so far.
            // Parameters gone NaN or infinite (a diverged run) are not worth a file, and never
            // replace one.
            var saved: String?
            let finite = allFinite(model.store)
            // Split across processes, the others may not reach this point: nothing is exchanged.
            if let path = options.saveCheckpoint, options.exchange == nil, model.stepsTrained > prepared.resumed, finite, (try? save(path)) != nil { saved = path }
            interrupted(PartialRun(error: error, losses: recorder.records, steps: model.stepsTrained, savedTo: saved, finite: finite))
            throw error
        }
        let done = model.stepsTrained
        if let path = options.saveCheckpoint { try save(path) }
        // Split across processes: the ghost cards' recorded plans come from where they ran.
        if let exchange = options.exchange, model.context.recording { try exchange.shareRecordings(model.devices) }
        if let path = options.trace, options.writesFiles {
            do { try ChromeTrace.write(model.devices, to: path) } catch { throw DataError("--trace: \(error)") }
        }
        let ran = done - prepared.resumed
        var summary = RunSummary(
            steps: done, samples: ran * dataset.batchSize * model.context.cards,
            hostSeconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9,
            simulatedTime: model.device.hostTime,
            losses: recorder.records, evaluations: evaluations, devices: model.devices, store: model.store)
        summary.stepsRun = ran
        summary.orderSeed = prepared.orderSeed
        return summary
    }
}

extension ScriptRunner {
    /// The steps of one sink in a run of `script` with `options` (sink_size, or −1: an epoch of
    /// card 0's shard), or nil when the run does not sink.
    public static func sinkSize(_ script: Script, _ options: RunOptions) throws -> Int? {
        try sinkSize(script, options) { try batchesPerEpoch(script, options) }
    }

    /// `sinkSize` with an epoch's batches from `perEpoch` (asked only for sink_size −1).
    static func sinkSize(_ script: Script, _ options: RunOptions, perEpoch: () throws -> Int) rethrows -> Int? {
        guard options.sink ?? script.train.sink else { return nil }
        let size = options.sinkSize ?? script.train.sinkSize
        return size > 0 ? size : try perEpoch()
    }

    /// The batches of one epoch of card 0's shard (what a run steps through per epoch).
    public static func batchesPerEpoch(_ script: Script, _ options: RunOptions) throws -> Int {
        try shardBatches(Builder(script: script).dataset(), cards: options.cards ?? script.context.cards)
    }

    /// The batches of one epoch of card 0's shard of `d` over `cards` cards.
    static func shardBatches(_ d: Dataset, cards: Int) throws -> Int {
        let shard = try d.shard(0, of: cards)
        return max(1, shard.batchesPerEpoch - shard.skip)
    }
}
