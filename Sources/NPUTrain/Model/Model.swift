import Foundation
import NPUCollective
import NPUData
import NPUDevice
import NPUGraph
import NPUOps
import NPUTensor

/// A metric `Model.eval` computes (MindSpore's `metrics={"Accuracy": Accuracy(), "Loss": Loss()}`).
public enum Metric: String, Sendable, CaseIterable {
    /// The share of samples whose largest logit is their label.
    case accuracy = "Accuracy"
    /// The mean of the batches' losses.
    case loss = "Loss"
}

/// What MindSpore sets with `set_context` and its parallel context, for one `Model`: execution
/// mode, the reduction-order policy and its order source, the card, data-parallel cards and the
/// AllReduce, and what the run records.
public struct ModelContext: Sendable {
    /// `GRAPH_MODE` or `PYNATIVE_MODE`.
    public var mode: ExecutionMode = .graph
    /// The reduction-order policy (`off` like the hardware, `on`, `strict`).
    public var determinism: Determinism = .off
    /// Per op type, a policy other than `determinism`.
    public var overrides: [String: Determinism] = [:]
    /// Where `off` draws its orders: a replayed order seed, or OS entropy.
    public var orderSource: OrderSource = .entropy
    /// The simulated card.
    public var device: DeviceSpec = .ascend910
    /// Data-parallel cards (1 to `Cluster.maxCards`): each card reads its shard of the dataset
    /// and gradients are averaged by an AllReduce (graph mode).
    public var cards = 1
    /// The AllReduce algorithm; nil: HCCL's choice.
    public var allReduceAlgorithm: AllReduceAlgorithm?
    /// MindSpore's `all_reduce_fusion_config`; nil: buckets by size.
    public var fusionSplits: [Int]?
    /// Keep every task of every card with what the executor records (a profile or a trace).
    public var recording = false
    /// Keep the losses of the steps a sink hides (`CallbackParams.hiddenLosses`).
    public var keepHiddenSteps = false
    /// How graph mode fuses the card's kernels (timing only); nil: the device's default.
    public var kernelFusion: FusionLevel?
    /// Set when other processes (MPI ranks) compute some of the cards: this process computes
    /// `exchange.localCards`, reads only their shards, and gets the others' values at each
    /// collective and fetch.
    public var exchange: (any CardExchange)?
    public init() {}
}

/// Another card's copy of the network (data parallelism): built as the script builds card 0's,
/// with its own parameter store.
public struct Replica {
    public var network: any Layer
    public var loss: any Loss
    public var optimizer: any Optimizer
    public var store: ParameterStore
    public init(network: any Layer, loss: any Loss, optimizer: any Optimizer, store: ParameterStore) {
        (self.network, self.loss, self.optimizer, self.store) = (network, loss, optimizer, store)
    }
}

/// MindSpore's `mindspore.train.Model`: a network, its loss and optimizer trained by `train`
/// epoch by epoch (one step per batch, or one sink of steps per epoch in dataset sink mode),
/// calling callbacks with MindSpore 2.10's semantics, and evaluated by `eval`
/// (`mindspore/train/model.py`, `Model.train`, `_train`, `_train_process`,
/// `_train_dataset_sink_process`, `eval`). The cards, the reduction-order policy and the mode
/// come from `context`. The YAML runner and the Python front end both train through it.
public final class Model {
    public let network: any Layer
    public let lossFn: any Loss
    public let optimizer: any Optimizer
    /// Card 0's parameters and optimizer state.
    public let store: ParameterStore
    public let metrics: [Metric]
    /// The network `eval` runs (the training network by default).
    public let evalNetwork: any Layer
    public let ampLevel: AmpLevel
    public let lossScaleManager: (any LossScaleManager)?
    public let context: ModelContext
    /// The cards, card 0 first.
    public let devices: [Device]
    /// Card 0: its timeline and simulated host time.
    public var device: Device { devices[0] }
    let cluster: Cluster?
    let makeReplica: ((Int) throws -> Replica)?
    /// Card 0's compiled training step (after the first `train` or `build`).
    public private(set) var trainNetwork: TrainStep?
    /// Every card's training step (card 0 first), once built.
    public var replicas: [TrainStep] { parallel?.replicas ?? trainNetwork.map { [$0] } ?? [] }

    /// The prefix of the random kernels' states in a checkpoint (`npusim.random_state/card0/...`).
    public static let randomStatePrefix = "npusim.random_state/"

    /// Every card's random kernel states (Dropout's streams), as checkpoint entries: int64 words
    /// named `npusim.random_state/card<k>/<op>`. With `context.exchange` the other processes'
    /// cards' states arrive from them: every process calls this at the same point.
    /// - Throws: what the exchange throws.
    public func randomStates() throws -> [(name: String, tensor: Tensor)] {
        let local = context.exchange?.localCards ?? replicas.indices
        let mine = replicas.enumerated().filter { local.contains($0.offset) }.flatMap { k, step in
            step.randomKernels.map { name, kernel in
                (Self.randomStatePrefix + "card\(k)/" + name, kernel.state.map { Int64(bitPattern: $0) })
            }
        }
        guard let exchange = context.exchange else { return mine.map { ($0.0, try! Tensor(shape: [$0.1.count], values: $0.1)) } }
        var w = ByteWriter()
        for (name, words) in mine {
            w.string(name)
            w.ints(words.map(Int.init))
        }
        var all: [(name: String, tensor: Tensor)] = []
        for part in try exchange.allGather(w.bytes, what: "the random kernels' states for a checkpoint") {
            var r = ByteReader(bytes: part)
            while !r.atEnd {
                let name = try r.string(), words = try r.ints().map(Int64.init)
                all.append((name, try Tensor(shape: [words.count], values: words)))
            }
        }
        return all
    }

    /// Continues every card's random kernels from checkpoint entries `randomStates` wrote.
    public func restoreRandomStates(_ entries: [(name: String, tensor: Tensor)]) {
        for (k, step) in replicas.enumerated() {
            let prefix = Self.randomStatePrefix + "card\(k)/"
            var states: [String: [UInt64]] = [:]
            for (name, t) in entries where name.hasPrefix(prefix) && t.dtype == .int64 {
                states[String(name.dropFirst(prefix.count))] = ((try? t.toArray(of: Int64.self)) ?? []).map { UInt64(bitPattern: $0) }
            }
            step.restoreRandomStates(states)
        }
    }
    var parallel: DataParallelStep?
    var replicaStores: [ParameterStore] = []
    /// The batch types the step was built for.
    var builtFor: [String: TensorType]?
    var evaluator: (graph: CompiledGraph, shape: Shape)?
    /// The compiled evaluation graph's memory plan, once `prepareEval` or `eval` compiled it.
    public var evaluationMemory: MemoryPlan? { evaluator?.graph.memory }
    /// Steps trained in all, across `train` calls (a resumed run starts from its checkpoint's).
    public private(set) var stepsTrained = 0

    /// - Parameters:
    ///   - store: the parameter store the network's parameters live in (card 0's).
    ///   - replica: builds card k's copy (k ≥ 1) when `context.cards` > 1 (with `context.exchange`,
    ///     only the cards this process computes: the others are card 0's ghosts).
    /// - Throws: `TrainError` for more cards than `Cluster.maxCards`, several cards without
    ///   `replica` or outside graph mode; `DeviceError` for a cluster that cannot be.
    public init(
        network: any Layer, loss: any Loss, optimizer: any Optimizer, store: ParameterStore, metrics: [Metric] = [],
        evalNetwork: (any Layer)? = nil, ampLevel: AmpLevel = .O0, lossScaleManager: (any LossScaleManager)? = nil,
        context: ModelContext = ModelContext(), replica: ((Int) throws -> Replica)? = nil
    ) throws {
        guard (1...Cluster.maxCards).contains(context.cards) else {
            throw TrainError(
                "\(context.cards) cards: real numerics run on 1 to \(Cluster.maxCards) cards; simulate more on shapes alone with npusim profile --timing-only"
            )
        }
        guard context.cards == 1 || context.mode == .graph else {
            throw TrainError(
                "\(context.cards) cards train in graph mode (context.mode or --mode graph); PyNative runs one card")
        }
        guard context.cards == 1 || replica != nil else {
            throw TrainError("\(context.cards) cards need a replica builder for cards 1 to \(context.cards - 1)")
        }
        (self.network, self.lossFn, self.optimizer, self.store, self.metrics) = (
            network, loss, optimizer, store, metrics
        )
        (self.evalNetwork, self.ampLevel, self.lossScaleManager, self.context) = (
            evalNetwork ?? network, ampLevel, lossScaleManager, context
        )
        makeReplica = replica
        cluster = context.cards > 1 ? try Cluster(spec: context.device, cards: context.cards) : nil
        devices = cluster?.devices ?? [Device(spec: context.device)]
        if context.recording { for d in devices { d.timelineMode = .all } }
    }

    /// The batches' input types: `data` and `label` of a batch of `dataset`.
    static func inputTypes(_ dataset: Dataset) throws -> [String: TensorType] {
        let sample = try dataset.sampleType()
        return [
            "data": TensorType(sample.dtype, Shape([dataset.batchSize] + sample.shape.dims)),
            "label": TensorType(.int32, [dataset.batchSize]),
        ]
    }

    /// MindSpore's `Model.build`: builds (and in graph mode compiles) the training step for
    /// `dataset`'s batches on every card, after checking the network takes them and sparse labels
    /// name its classes. `train` builds on first use; build first to reach the steps (observers,
    /// planted perturbations) before training.
    /// - Throws: `DataError` for batches the network does not take or labels outside its classes;
    ///   what building the step throws.
    public func build(trainDataset dataset: Dataset) throws {
        let inputs = try Self.inputTypes(dataset)
        if let builtFor {
            guard builtFor == inputs else {
                throw DataError(
                    "the training step was built for batches of \(builtFor["data"]!), this dataset gives \(inputs["data"]!)"
                )
            }
            return
        }
        let sample = try dataset.sampleType(), batchShape = inputs["data"]!.shape
        // The network must take the dataset's batches, and sparse labels must name its classes:
        // checked on a graph of the forward and loss before anything runs.
        do {
            var probe = GraphModel(isTraining: true)
            let logits = try network(&probe, probe.graph.input("data", inputs["data"]!))
            let classes = probe.type(of: logits).shape.dims.last ?? 0
            _ = try lossFn(&probe, logits, probe.graph.input("label", inputs["label"]!))
            if let sce = lossFn as? SoftmaxCrossEntropyLoss, sce.sparse,
                let bad = dataset.source.firstLabel(outside: classes)
            {
                throw DataError(
                    "\(dataset.source.origin): sample \(bad.index) has label \(bad.label); the network gives \(classes) classes, so labels must be 0 to \(classes - 1)"
                )
            }
        } catch let error as OpError {
            throw DataError(
                "the network does not take the dataset's batches of \(sample.dtype)\(batchShape) (samples of \(sample.shape) from \(dataset.source.origin)): \(error)"
            )
        }
        var configuration = StepConfiguration(
            determinism: context.determinism, orderSource: context.orderSource, ampLevel: ampLevel,
            recording: context.recording, cards: context.cards)
        configuration.lossScaling = lossScaleManager?.scaling
        configuration.allReduceAlgorithm = context.allReduceAlgorithm
        configuration.fusionSplits = context.fusionSplits
        configuration.overrides = context.overrides
        configuration.kernelFusion = context.kernelFusion
        let step = try TrainStep(
            model: NetworkWithLoss(network: network, loss: lossFn), inputs: inputs, optimizer: optimizer,
            mode: context.mode, device: devices[0], store: store, configuration: configuration)
        if let cluster, let makeReplica {
            parallel = try DataParallelStep(cluster: cluster, exchange: context.exchange) { k, card in
                if k == 0 { return step }
                // A card another process computes: card 0's program and parameters, never
                // computed here (a rank's memory grows with its own cards, not the cluster's).
                if let exchange = context.exchange, !exchange.localCards.contains(k) { return try step.ghostReplica(on: card) }
                let r = try makeReplica(k)
                replicaStores.append(r.store)
                return try TrainStep(
                    model: NetworkWithLoss(network: r.network, loss: r.loss), inputs: inputs, optimizer: r.optimizer,
                    mode: .graph, device: card, store: r.store, configuration: configuration)
            }
        }
        trainNetwork = step
        builtFor = inputs
    }

    /// Every card's parameter store (card 0's first), once built; with `context.exchange`, card
    /// 0's and those of the cards this process computes (the others share card 0's).
    public var stores: [ParameterStore] { [store] + replicaStores }

    /// Continues after `steps` steps trained before (a run resumed from a checkpoint): the next
    /// step keys its reduction orders as step `steps` + 1 of the uninterrupted run would, and
    /// `train(..., initialStep:)` continues the data there.
    /// - Throws: `TrainError` before `build`.
    public func continueAt(step steps: Int) throws {
        guard !replicas.isEmpty else {
            throw TrainError("continueAt(step:) needs a built model: call build(trainDataset:) first")
        }
        for r in replicas { r.continueAt(step: steps) }
        stepsTrained = steps
    }

    /// MindSpore's `Model.train(epoch, train_dataset, callbacks, dataset_sink_mode, sink_size,
    /// initial_epoch)`.
    ///
    /// - Epochs `initialEpoch + 1 ... epochs` run; `cur_step_num` counts from `initialStep`.
    /// - Without sinking each epoch reads one epoch of the dataset, one step per batch, with
    ///   `on_train_step_begin`/`on_train_step_end` around each.
    /// - In dataset sink mode (graph mode) each epoch is one sink of `sinkSize` steps (−1: the
    ///   dataset's batches per epoch) run from the card's data queue with one host launch, and the
    ///   step callbacks run once per sink with `cur_step_num` grown by the sink's steps. With a sink
    ///   size other than the dataset's an "epoch" is one sink and the data flows on across the
    ///   dataset's epochs (MindSpore's redefinition); `batch_num` is the sink size.
    /// - With several cards each card reads its shard (`num_shards` = cards, `shard_id` = card).
    /// - A callback's `requestStop()` ends training after that step (or sink) and its epoch's end
    ///   callbacks.
    /// - NPUSim's additions: `initialStep` resumes a run after that many steps of these epochs
    ///   (their batches are read and skipped, so the data continues as the uninterrupted run's);
    ///   `maxSteps` stops after that many steps in all (`cur_step_num`), a last sink shortened to
    ///   end there.
    /// - Throws: `TrainError` for arguments MindSpore refuses (with its messages); `DataError` for
    ///   data that does not fit; what a callback or a step throws.
    public func train(
        epochs: Int, dataset: Dataset, callbacks: [any Callback] = [], datasetSinkMode: Bool = false,
        sinkSize: Int = -1,
        initialEpoch: Int = 0, initialStep: Int = 0, maxSteps: Int? = nil
    ) throws {
        guard epochs >= 1 else {
            throw TrainError("For 'Model.train', the parameter 'epoch' must be a positive int, but got \(epochs)")
        }
        guard initialEpoch >= 0, initialEpoch < epochs else {
            throw TrainError(
                "For 'Model.train', the parameter 'epoch' must bigger than parameter 'initial_epoch', but got the parameter 'epoch' is \(epochs), 'initial_epoch' is \(initialEpoch)."
            )
        }
        guard sinkSize == -1 || sinkSize > 0 else {
            throw TrainError("For 'Model.train', The argument 'sink_size' must be -1 or positive, but got \(sinkSize).")
        }
        guard !datasetSinkMode || context.mode == .graph else {
            throw TrainError("dataset sink mode needs graph mode (context.mode or --mode graph)")
        }
        let cards = context.cards
        // A count that does not split evenly is padded as MindSpore's DistributedSampler pads it.
        var shards = try (0..<cards).map { try cards > 1 ? dataset.shard($0, of: cards) : dataset }
        var entropy = SystemRandomNumberGenerator()
        let seed = dataset.seed ?? UInt32(truncatingIfNeeded: entropy.next())
        for k in shards.indices { shards[k].seed = seed }
        let datasetSize = shards[0].batchesPerEpoch - shards[0].skip
        guard datasetSize > 0 else {
            throw DataError(
                "There is no valid data in dataset, please check dataset file firstly: \(dataset.source.count) samples from \(dataset.source.origin), batch_size \(dataset.batchSize), drop_remainder \(dataset.dropRemainder), skip \(dataset.skip), on \(cards) card\(cards == 1 ? "" : "s")"
            )
        }
        try build(trainDataset: shards[0])
        let step = trainNetwork!
        let sink = datasetSinkMode ? (sinkSize == -1 ? datasetSize : sinkSize) : nil
        let batchShape = builtFor!["data"]!.shape

        let p = CallbackParams(network: network, lossFn: lossFn, optimizer: optimizer, device: devices[0], store: store)
        p.randomStates = { [unowned self] in try self.randomStates() }
        p.writesFiles = context.exchange.map { $0.localCards.contains(0) } ?? true
        p.curStepNum = initialStep
        p.epochNum = epochs - initialEpoch
        p.batchNum = sink ?? datasetSize
        p.mode = .train
        p.datasetSinkMode = sink != nil
        p.sinkSize = sink ?? -1
        p.trainNetwork = step
        p.deviceNumber = cards
        p.dataset = dataset
        p.stepsTrained = stepsTrained
        let run = RunContext(p)
        let list = CallbackList(callbacks: callbacks)
        let limit = maxSteps ?? Int.max
        let local = context.exchange?.localCards ?? 0..<cards

        /// Card 0's loss and, with several cards, the mean of every card's.
        func losses(_ perCard: [Tensor]) throws -> (Float, Float?) {
            let values = try perCard.map { try $0.toArray(of: Float.self)[0] }
            return (
                values[0], values.count > 1 ? Float(values.reduce(0.0) { $0 + Double($1) } / Double(values.count)) : nil
            )
        }
        func check(_ b: Batch) throws -> [String: Tensor] {
            // A partial last batch (drop_remainder false) has another shape than the compiled step.
            guard b.data.shape == batchShape else {
                throw DataError(
                    "batch of samples \(b.indices.first!)…\(b.indices.last!) is \(b.data.shape), the step is compiled for \(batchShape); set drop_remainder: true or a batch_size that divides the \(dataset.source.count) samples"
                )
            }
            return ["data": b.data, "label": b.label]
        }

        try list.call({ $0.onTrainBegin }, run)
        if let sink {
            // One stream of batches per card across the dataset's epochs; a resumed run skips the
            // batches it already trained on.
            // Only the cards this process computes read their shards (`ModelContext.exchange`).
            let streams = shards.indices.map { k -> Prefetcher? in
                guard local.contains(k) else { return nil }
                var stream = BatchStream(dataset: shards[k], epoch: initialStep / datasetSize)
                return Prefetcher(capacity: shards[k].prefetchSize) { try stream.next() }
            }
            defer { streams.forEach { $0?.cancel() } }
            func next(_ k: Int) throws -> Batch {
                guard let b = try streams[k]!.next() else {
                    throw DataError("\(dataset.source.origin): the dataset gives no batch")
                }
                return b
            }
            for k in local { for _ in 0..<initialStep % datasetSize { _ = try next(k) } }
            var epoch = initialEpoch + initialStep / sink
            while epoch < epochs && p.curStepNum < limit {
                p.curEpochNum = epoch + 1
                try list.call({ $0.onTrainEpochBegin }, run)
                let n = min(sink, limit - p.curStepNum)
                p.curStepNum += n
                try list.call({ $0.onTrainStepBegin }, run)
                let last: [Tensor], hidden: [[Tensor]]
                if let parallel {
                    (last, hidden) = try parallel.sink(steps: n, keepHidden: context.keepHiddenSteps) { k in
                        try check(try next(k))
                    }
                } else {
                    let r = try step.sink(steps: n, keepHidden: context.keepHiddenSteps) { try check(try next(0)) }
                    (last, hidden) = ([r.loss], r.perStep.map { [$0] })
                }
                stepsTrained += n
                p.stepsTrained = stepsTrained
                p.hiddenLosses = try hidden.dropLast().map { try losses($0) }.map { (loss: $0.0, global: $0.1) }
                p.netOutputs = last[0]
                p.globalLoss = try losses(last).1
                try list.call({ $0.onTrainStepEnd }, run)
                try list.call({ $0.onTrainEpochEnd }, run)
                if run.stopRequested { break }
                epoch += 1
            }
        } else {
            let skipEpochs = initialStep / datasetSize
            var skipSteps = initialStep % datasetSize
            // A resumed run past the last epoch trains nothing (never a reversed range).
            epochLoop: for epoch in min(initialEpoch + skipEpochs, epochs)..<epochs {
                guard p.curStepNum < limit else { break }
                p.curEpochNum = epoch + 1
                try list.call({ $0.onTrainEpochBegin }, run)
                // Each card's batches are made ahead on a thread of their own.
                let iterators = shards.indices.map { k -> Prefetcher? in
                    guard local.contains(k) else { return nil }
                    var batches = shards[k].epochBatches(epoch: epoch + 1 - initialEpoch, shuffleSeed: seed)
                    return Prefetcher(capacity: shards[k].prefetchSize) { try batches.nextBatch() }
                }
                defer { iterators.forEach { $0?.cancel() } }
                for k in local { for _ in 0..<skipSteps { _ = try iterators[k]!.next() } }
                skipSteps = 0
                // The first card computed here leads; the ghosts' feeds are another process's.
                while let b = try iterators[local.lowerBound]!.next() {
                    let feeds = try check(b)
                    p.curStepNum += 1
                    try list.call({ $0.onTrainStepBegin }, run)
                    let output: Tensor, global: Float?
                    if let parallel {
                        let all = try (0..<cards).map { k -> [String: Tensor] in
                            guard k != local.lowerBound else { return feeds }
                            guard let it = iterators[k] else { return [:] }
                            guard let o = try it.next() else {
                                throw DataError("card \(k)'s shard ran out of batches before card \(local.lowerBound)'s")
                            }
                            return try check(o)
                        }
                        let out = try parallel(all)
                        (output, global) = (out[0], try losses(out).1)
                    } else {
                        (output, global) = (try step(feeds), nil)
                    }
                    stepsTrained += 1
                    p.stepsTrained = stepsTrained
                    p.netOutputs = output
                    p.globalLoss = global
                    try list.call({ $0.onTrainStepEnd }, run)
                    if run.stopRequested || p.curStepNum >= limit { break }
                }
                // At an epoch's natural end, every shard reads its end (which moves the random
                // transforms on); a run that stops early reads no further batch.
                let stopping = run.stopRequested || p.curStepNum >= limit
                if !stopping { for k in local { while try iterators[k]!.next() != nil {} } }
                try list.call({ $0.onTrainEpochEnd }, run)
                if run.stopRequested { break epochLoop }
            }
        }
        if let cluster { cluster.synchronize() } else { devices[0].synchronize() }
        try list.call({ $0.onTrainEnd }, run)
    }

    /// Compiles the evaluation graph for `dataset`'s batches, so a dataset the network does not
    /// take is found before training rather than after it (`eval` calls it too; a second call
    /// with the same batch shape does nothing).
    /// - Throws: `DataError` for batches that do not fit the network.
    public func prepareEval(_ dataset: Dataset) throws {
        let sample = try dataset.sampleType()
        let shape = Shape([dataset.batchSize] + sample.shape.dims)
        guard evaluator == nil || evaluator!.shape != shape else { return }
        if !dataset.dropRemainder && dataset.shardSamples % dataset.batchSize != 0 {
            throw DataError(
                "\(dataset.source.origin): the last evaluation batch would hold \(dataset.shardSamples % dataset.batchSize) of \(dataset.batchSize) samples and the graph is compiled for full batches; set drop_remainder: true or a batch_size that divides \(dataset.shardSamples)"
            )
        }
        var b = GraphModel(isTraining: false, ampLevel: ampLevel)
        let x = b.graph.input("data", TensorType(sample.dtype, shape)),
            y = b.graph.input("label", TensorType(.int32, [dataset.batchSize]))
        let logits: GraphValue
        do { logits = try b.backbone(evalNetwork, x) } catch let error as OpError {
            throw DataError(
                "the network does not take the evaluation dataset's batches of \(sample.dtype)\(shape) (from \(dataset.source.origin)): \(error)"
            )
        }
        let fetches = [logits, try lossFn(&b, logits, y)]
        let planner = ReductionPlanner(
            spec: device.spec, policy: context.determinism, source: context.orderSource, card: device.ordinal)
        evaluator = (
            try CompiledGraph(b.graph, fetches: fetches, device: device, store: store, planner: planner,
                              kernels: KernelOptions(fusion: device.spec.ubFusion ? .buffer : .none)), shape
        )
    }

    /// MindSpore's `Model.eval(valid_dataset, callbacks)`: the network in inference mode (Dropout
    /// off, BatchNorm's moving statistics) on every batch of one epoch of `dataset`, compiled as a
    /// graph on card 0, with the `on_eval_*` callbacks. Returns the model's metrics in order.
    /// - Throws: `TrainError` for a model without metrics (MindSpore's message); `DataError` for
    ///   batches that do not fit; what a callback throws.
    public func eval(_ dataset: Dataset, callbacks: [any Callback] = []) throws -> [(name: String, value: Double)] {
        guard !metrics.isEmpty else {
            throw TrainError(
                "For Model.eval, the model argument 'metrics' can not be None or empty, you should set the argument 'metrics' for model."
            )
        }
        try prepareEval(dataset)
        let (graph, shape) = evaluator!
        let p = CallbackParams(network: network, lossFn: lossFn, optimizer: optimizer, device: device, store: store)
        p.mode = .eval
        p.batchNum = dataset.batchesPerEpoch
        p.dataset = dataset
        p.deviceNumber = 1
        p.stepsTrained = stepsTrained
        let run = RunContext(p), list = CallbackList(callbacks: callbacks)
        try list.call({ $0.onEvalBegin }, run)
        try list.call({ $0.onEvalEpochBegin }, run)
        var correct = 0, samples = 0, lossSum = 0.0, batches = 0
        var epochBatches = dataset.epochBatches(epoch: 1, shuffleSeed: dataset.seed ?? 0)
        while let batch = try epochBatches.nextBatch() {
            guard batch.data.shape == shape else {
                throw DataError(
                    "eval batch of samples \(batch.indices.first!)…\(batch.indices.last!) is \(batch.data.shape); set drop_remainder: true or a batch_size that divides \(dataset.source.count)"
                )
            }
            p.curStepNum += 1
            try list.call({ $0.onEvalStepBegin }, run)
            let out = try graph.step(["data": batch.data, "label": batch.label])
            let logits = try out[0].toArray(of: Float.self), labels = try batch.label.toArray(of: Int32.self)
            let classes = out[0].shape[1]
            for r in 0..<labels.count {
                var best = 0
                for c in 1..<classes where logits[r * classes + c] > logits[r * classes + best] { best = c }
                if best == Int(labels[r]) { correct += 1 }
            }
            samples += labels.count
            lossSum += Double(try out[1].toArray(of: Float.self)[0])
            batches += 1
            p.netOutputs = out[1]
            try list.call({ $0.onEvalStepEnd }, run)
            if run.stopRequested { break }
        }
        device.synchronize()
        try list.call({ $0.onEvalEpochEnd }, run)
        let results = metrics.map { m in
            (
                name: m.rawValue,
                value: m == .accuracy ? Double(correct) / Double(max(samples, 1)) : lossSum / Double(max(batches, 1))
            )
        }
        p.metrics = results
        try list.call({ $0.onEvalEnd }, run)
        return results
    }
}

/// A dataset's batches end to end across its epochs (1, 2, ...), made one at a time as read: what
/// a sink's data thread sends to the card.
struct BatchStream {
    let dataset: Dataset
    var epoch = 0
    var current: Dataset.EpochBatches?

    /// A stream that starts after `epoch` whole epochs (a resumed run skips them without reading).
    init(dataset: Dataset, epoch: Int = 0) { (self.dataset, self.epoch) = (dataset, epoch) }

    mutating func next() throws -> Batch {
        if let b = try current?.nextBatch() { return b }
        epoch += 1
        current = dataset.epochBatches(epoch: epoch, shuffleSeed: dataset.seed ?? 0)
        guard let b = try current?.nextBatch() else {
            throw DataError("\(dataset.source.origin): epoch \(epoch) of the dataset gives no batch")
        }
        return b
    }
}
