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

/// What the command line overrides in a script (nil: the script's value).
public struct RunOptions {
    public var mode: String?
    public var determinism: String?
    public var orderSeed: UInt64?
    public var device: DeviceSpec?
    public var seed: Int64?
    public var epochs: Int?
    /// Stop after this many training steps, whatever the epochs say.
    public var steps: Int?
    public var sink: Bool?
    public var sinkSize: Int?
    /// Data-parallel cards (overrides context.cards).
    public var cards: Int?
    /// Start from this checkpoint (parameters, optimizer state, the step reached).
    public var loadCheckpoint: String?
    /// Save a checkpoint here when training ends.
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
    public init() {}
}

/// One loss the run produced: what LossMonitor prints when `visible`; a step a sink hid otherwise.
public struct LossRecord: Equatable {
    public var epoch: Int
    /// The step within the epoch (from 1), as LossMonitor counts it.
    public var step: Int
    public var loss: Float
    public var visible: Bool
    /// With several cards: the mean of every card's loss (the lines show card 0's, as rank 0's
    /// LossMonitor does); nil on one card.
    public var globalLoss: Float? = nil

    /// MindSpore 2.10's LossMonitor line: the float32 loss printed as Python prints `float(loss)`.
    public var lossMonitorLine: String { "epoch: \(epoch) step: \(step), loss is \(Double(loss))" }
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

/// One evaluation (`Model.eval`): the metrics by name, in the script's order.
public struct EvalResult: Equatable {
    /// The epoch after which it ran.
    public var epoch: Int
    public var metrics: [(name: String, value: Double)]
    public static func == (a: EvalResult, b: EvalResult) -> Bool {
        a.epoch == b.epoch && a.metrics.map(\.name) == b.metrics.map(\.name) && a.metrics.map(\.value) == b.metrics.map(\.value)
    }
    /// What `print(model.eval(dataset))` shows: the dict of metrics as Python prints it.
    public var line: String { "{" + metrics.map { "'\($0.name)': \($0.value)" }.joined(separator: ", ") + "}" }
}

/// The result of a run.
public struct RunSummary {
    public var steps: Int
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
    }

    /// The device profile of a run: the flag's, a built-in's, or a profile file's (relative to the script).
    static func deviceSpec(_ script: Script, _ options: RunOptions) throws -> DeviceSpec {
        if let d = options.device { return d }
        if let b = DeviceSpec.builtIn(named: script.context.device) { return b }
        let path = script.context.device.hasPrefix("/") ? script.context.device
            : URL(fileURLWithPath: script.file).deletingLastPathComponent().appendingPathComponent(script.context.device).path
        do { return try DeviceSpec.load(path: path) } catch { throw ScriptError(file: script.file, message: "context.device: \(error)") }
    }

    /// Timing-only: `steps` host-launched steps of the script's network on its cards through the
    /// streams, scheduler and cost model, on shapes alone — no parameter values, no data values, no
    /// numerics — with every task recorded (`RunSummary.devices`), for models and clusters too big
    /// to compute. The batch shape is the dataset's.
    /// - Throws: what building the network, the dataset or the step throws.
    public static func simulate(_ script: Script, _ options: RunOptions = RunOptions(), steps: Int) throws -> RunSummary {
        let started = DispatchTime.now().uptimeNanoseconds
        let builder = Builder(script: script)
        let spec = try deviceSpec(script, options), cards = options.cards ?? script.context.cards
        let dataset = try builder.dataset()
        let sample = try dataset.sampleType()
        let inputs = ["data": TensorType(sample.dtype, Shape([dataset.batchSize] + sample.shape.dims)), "label": TensorType(.int32, [dataset.batchSize])]
        let determinism = Determinism(rawValue: options.determinism ?? script.context.determinism)!
        var configuration = StepConfiguration(determinism: determinism, ampLevel: script.context.ampLevel == "O2" ? .O2 : .O0,
                                              recording: true, timingOnly: true, cards: cards)
        configuration.allReduceAlgorithm = script.context.allReduceAlgorithm.flatMap(AllReduceAlgorithm.init(rawValue:))
        configuration.fusionSplits = script.context.fusionSplits
        func replica(_ device: Device) throws -> TrainStep {
            let seeds = SeedState()
            let ctx = LayerContext(store: ParameterStore(shapeOnly: true), seeds: seeds)
            let net = try builder.network(ctx)
            return try TrainStep(model: NetworkWithLoss(network: net, loss: try builder.loss()), inputs: inputs,
                                 optimizer: try builder.optimizer(net.parameters, ctx), mode: .graph, device: device, store: ctx.store,
                                 configuration: configuration)
        }
        // Dataset sink mode as the run would: sinks of sink_size steps (−1: an epoch of this card's
        // shard); the host prints a loss line (a LossMonitor callback) where the run would.
        let perEpoch = try Self.shardBatches(dataset, cards: cards), sinkSize = Self.sinkSize(script, options) { perEpoch }
        let devices: [Device], advance: (Int) throws -> SimTime
        if cards > 1 {
            let cluster = try Cluster(spec: spec, cards: cards)
            for d in cluster.devices { d.timelineMode = .all }
            let parallel = try DataParallelStep(cluster: cluster, timingOnlyPrototype: replica)
            advance = { n in try parallel.simulate(steps: n, sinkSize: sinkSize == nil ? nil : n) }
            devices = cluster.devices
        } else {
            let device = Device(spec: spec)
            device.timelineMode = .all
            let step = try replica(device)
            advance = { n in try step.simulate(steps: n, sinkSize: sinkSize == nil ? nil : n) }
            devices = [device]
        }
        var done = 0, end = SimTime.zero
        while done < steps {
            let n = sinkSize.map { min($0, steps - done) } ?? 1
            end = try advance(n)
            done += n
            if sinkSize != nil || ((done - 1) % perEpoch + 1) % script.train.printEvery == 0 {
                devices[0].hostCallback("LossMonitor")
                end = devices[0].hostTime
            }
        }
        return RunSummary(steps: steps, samples: steps * dataset.batchSize * cards,
                          hostSeconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9, simulatedTime: end, losses: [], devices: devices)
    }

    /// Runs `script` with `options`; `line` receives each line the host would print (LossMonitor).
    /// - Throws: `ScriptError`, `DataError`, `TrainError`, `GraphError`, `OpError` naming what failed.
    public static func run(_ script: Script, _ options: RunOptions = RunOptions(), keepHidden: Bool = false,
                           line: (LossRecord) -> Void = { _ in }, stepEnd: (StepEnd) -> Void = { _ in }, evaluated: (EvalResult) -> Void = { _ in },
                           message: (String) -> Void = { _ in }, progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws -> RunSummary {
        let started = DispatchTime.now().uptimeNanoseconds
        let builder = Builder(script: script)
        let spec = try deviceSpec(script, options)
        let cards = options.cards ?? script.context.cards
        guard cards <= Cluster.maxCards else {
            throw TrainError("\(cards) cards: real numerics run on 1 to \(Cluster.maxCards) cards; simulate more on shapes alone with npusim profile --timing-only")
        }
        let seeds = SeedState()
        if let s = options.seed ?? script.seed { try seeds.setSeed(s) }
        let ctx = LayerContext(store: ParameterStore(), seeds: seeds)
        let network = try builder.network(ctx)
        let loss = try builder.loss()
        let parameterNames = network.parameters.map(\.name)
        let optimizer = try builder.optimizer(network.parameters, ctx)
        // Every card reads its own shard of the data (num_shards = cards, shard_id = card), with
        // the script's batch size per card, as MindSpore's data-parallel scripts shard theirs.
        var dataset = try builder.dataset()
        if cards > 1 {
            let transforms = dataset.transforms, workers = dataset.numParallelWorkers
            dataset = try Dataset(source: dataset.source, shuffle: dataset.shuffle, batchSize: dataset.batchSize, dropRemainder: dataset.dropRemainder,
                                  skip: dataset.skip, numShards: cards, shardID: 0)
            dataset.transforms = transforms
            dataset.numParallelWorkers = workers
            guard dataset.source.count % cards == 0 else {
                throw DataError("\(dataset.source.origin): \(dataset.source.count) samples do not split evenly over \(cards) cards; give a multiple of \(cards) samples")
            }
        }
        guard dataset.batchesPerEpoch > 0 else {
            throw DataError("the dataset gives no batch: \(dataset.source.count) samples, batch_size \(dataset.batchSize), drop_remainder \(dataset.dropRemainder)")
        }
        let determinism = Determinism(rawValue: options.determinism ?? script.context.determinism)!
        let mode: ExecutionMode = (options.mode ?? script.context.mode) == "pynative" ? .pynative : .graph
        let orderSource: OrderSource = (options.orderSeed ?? script.context.orderSeed).map { .replay($0) } ?? .entropy
        let sample = try dataset.sampleType()
        let batchShape = Shape([dataset.batchSize] + sample.shape.dims)
        // The network must take the dataset's batches, and sparse labels must name its classes:
        // checked on a graph of the forward and loss before anything runs.
        do {
            var probe = GraphModel(isTraining: true)
            let logits = try network(&probe, probe.graph.input("data", TensorType(sample.dtype, batchShape)))
            let classes = probe.type(of: logits).shape.dims.last ?? 0
            _ = try loss(&probe, logits, probe.graph.input("label", TensorType(.int32, [dataset.batchSize])))
            if let sce = loss as? SoftmaxCrossEntropyLoss, sce.sparse, let bad = dataset.source.classLabels.firstIndex(where: { $0 < 0 || Int($0) >= classes }) {
                throw DataError("\(dataset.source.origin): sample \(bad) has label \(dataset.source.classLabels[bad]); the network gives \(classes) classes, so labels must be 0 to \(classes - 1)")
            }
        } catch let error as OpError {
            throw DataError("the network does not take the dataset's batches of \(sample.dtype)\(batchShape) (samples of \(sample.shape) from \(dataset.source.origin)): \(error)")
        }
        var configuration = StepConfiguration(determinism: determinism, orderSource: orderSource,
                                              ampLevel: script.context.ampLevel == "O2" ? .O2 : .O0, recording: options.trace != nil || options.record, cards: cards)
        configuration.allReduceAlgorithm = script.context.allReduceAlgorithm.flatMap(AllReduceAlgorithm.init(rawValue:))
        configuration.fusionSplits = script.context.fusionSplits
        configuration.overrides = options.overrides
        let inputs = ["data": TensorType(sample.dtype, batchShape), "label": TensorType(.int32, [dataset.batchSize])]
        let sink = options.sink ?? script.train.sink
        guard !(sink && mode == .pynative) else { throw TrainError("dataset sink mode needs graph mode (context.mode or --mode graph)") }
        guard cards == 1 || mode == .graph else {
            throw TrainError("\(cards) cards train in graph mode (context.mode or --mode graph); PyNative runs one card")
        }
        // One card, or a cluster running one replica per card (card 0's is this run's network,
        // store and device: the one the loss lines, evaluation and checkpoints show).
        let cluster = cards > 1 ? try Cluster(spec: spec, cards: cards) : nil
        var replicaStores: [ParameterStore] = []
        let device = cluster?.devices[0] ?? Device(spec: spec)
        let devices = cluster?.devices ?? [device]
        if options.trace != nil || options.record { for d in devices { d.timelineMode = .all } }  // every task, for the trace
        let step = try TrainStep(model: NetworkWithLoss(network: network, loss: loss), inputs: inputs, optimizer: optimizer, mode: mode,
                                 device: device, store: ctx.store, configuration: configuration)
        let parallel = try cluster.map { cluster in
            try DataParallelStep(cluster: cluster) { k, card in
                if k == 0 { return step }
                let replicaSeeds = SeedState()
                if let s = options.seed ?? script.seed { try replicaSeeds.setSeed(s) }  // the same initial parameters on every card
                let replica = LayerContext(store: ParameterStore(), seeds: replicaSeeds)
                replicaStores.append(replica.store)
                let net = try builder.network(replica)
                return try TrainStep(model: NetworkWithLoss(network: net, loss: try builder.loss()), inputs: inputs,
                                     optimizer: try builder.optimizer(net.parameters, replica), mode: .graph, device: card, store: replica.store,
                                     configuration: configuration)
            }
        }
        for (k, replica) in (parallel?.replicas ?? [step]).enumerated() {
            if let observer = options.observer { replica.compiled?.observer = { try observer(k, $0) } }
            if let p = options.perturbation, p.card == k { replica.planner.perturbation = (p.instance, p.step, p.seed) }
        }
        let shards = try (1..<max(cards, 1)).map { k in
            var shard = try Dataset(source: dataset.source, shuffle: dataset.shuffle, batchSize: dataset.batchSize, dropRemainder: dataset.dropRemainder,
                                    skip: dataset.skip, numShards: cards, shardID: k)
            shard.transforms = dataset.transforms
            shard.numParallelWorkers = dataset.numParallelWorkers
            return shard
        }
        let epochs = options.epochs ?? script.train.epochs
        let limit = options.steps ?? Int.max
        let shuffleSeed = seeds.shuffleSeed().seed
        var sinkSize = options.sinkSize ?? script.train.sinkSize
        if sinkSize == -1 { sinkSize = dataset.batchesPerEpoch }

        // The batches in order across epochs: the dataset's epochs end to end (card 0's shard;
        // the other cards' shards advance with it).
        var pending: [Batch] = [], dataEpoch = 0
        var shardPending: [[Batch]] = shards.map { _ in [] }
        func nextBatch() -> Batch {
            if pending.isEmpty {
                dataEpoch += 1
                pending = dataset.batches(epoch: dataEpoch, shuffleSeed: shuffleSeed).reversed()
                for (k, shard) in shards.enumerated() { shardPending[k] = shard.batches(epoch: dataEpoch, shuffleSeed: shuffleSeed).reversed() }
            }
            return pending.removeLast()
        }
        /// Card 0's loss and, on several cards, the mean of every card's.
        func losses(_ perCard: [Tensor]) throws -> (Float, Float?) {
            let values = try perCard.map { try $0.toArray(of: Float.self)[0] }
            return (values[0], values.count > 1 ? Float(values.reduce(0.0) { $0 + Double($1) } / Double(values.count)) : nil)
        }
        /// One training step on `b` (card 0's batch) and the other cards' next batches.
        func train(_ b: Batch) throws -> (Float, Float?) {
            guard let parallel else { return (try step(["data": b.data, "label": b.label]).toArray(of: Float.self)[0], nil) }
            let rest = shards.indices.map { shardPending[$0].removeLast() }
            let feeds = ([b] + rest).map { ["data": $0.data, "label": $0.label] }
            return try losses(try parallel(feeds))
        }
        func check(_ b: Batch) throws {
            // A partial last batch (drop_remainder false) has another shape than the compiled step.
            guard b.data.shape == batchShape else {
                throw DataError("batch of samples \(b.indices.first!)…\(b.indices.last!) is \(b.data.shape), the step is compiled for \(batchShape); set drop_remainder: true or a batch_size that divides the \(dataset.source.count) samples")
            }
        }
        // Model.eval: the network in inference mode (Dropout off, BatchNorm's moving statistics) on
        // the held-out batches, as a compiled graph on the same card.
        var evaluations: [EvalResult] = []
        var evaluator: (CompiledGraph, Dataset, Shape)?
        func evaluate(after epoch: Int) throws {
            guard let spec = script.eval else { return }
            if evaluator == nil {
                let data = try builder.dataset(spec.dataset)
                var b = GraphModel(isTraining: false, ampLevel: script.context.ampLevel == "O2" ? .O2 : .O0)
                let evalSample = try data.sampleType()
                let shape = Shape([data.batchSize] + evalSample.shape.dims)
                let x = b.graph.input("data", TensorType(evalSample.dtype, shape)), y = b.graph.input("label", TensorType(.int32, [data.batchSize]))
                let logits = try network(&b, x)
                let fetches = spec.metrics.contains("Loss") ? [logits, try loss(&b, logits, y)] : [logits]
                let planner = ReductionPlanner(spec: device.spec, policy: determinism, source: orderSource, card: device.ordinal)
                evaluator = (try CompiledGraph(b.graph, fetches: fetches, device: device, store: ctx.store, planner: planner), data, shape)
            }
            let (graph, data, shape) = evaluator!
            var correct = 0, samples = 0, lossSum = 0.0, batches = 0
            for batch in data.batches(epoch: 1, shuffleSeed: 0) {
                guard batch.data.shape == shape else {
                    throw DataError("eval batch of samples \(batch.indices.first!)…\(batch.indices.last!) is \(batch.data.shape); set eval.dataset.batch.drop_remainder: true or a batch_size that divides \(data.source.count)")
                }
                let out = try graph.step(["data": batch.data, "label": batch.label])
                let logits = try out[0].toArray(of: Float.self), labels = try batch.label.toArray(of: Int32.self)
                let classes = out[0].shape[1]
                for r in 0..<labels.count {
                    var best = 0
                    for c in 1..<classes where logits[r * classes + c] > logits[r * classes + best] { best = c }
                    if best == Int(labels[r]) { correct += 1 }
                }
                samples += labels.count
                if out.count > 1 { lossSum += Double(try out[1].toArray(of: Float.self)[0]) }
                batches += 1
            }
            device.synchronize()
            let result = EvalResult(epoch: epoch, metrics: spec.metrics.map { name in
                (name, name == "Accuracy" ? Double(correct) / Double(max(samples, 1)) : lossSum / Double(max(batches, 1)))
            })
            evaluations.append(result)
            evaluated(result)
        }
        var records: [LossRecord] = [], done = 0
        // A resumed run: the parameters and optimizer state of the checkpoint, and the data and
        // step count continue where it stopped.
        if let path = options.loadCheckpoint {
            // Every card starts from the checkpoint (replicas hold the same parameters).
            let names = Set(network.parameters.map(\.name))
            let loaded = try Checkpoint.load(path, into: ctx.store, network: names)
            for store in replicaStores { _ = try Checkpoint.load(path, into: store, network: names) }
            loaded.notes.forEach(message)
            if let reached = loaded.step {
                if sink && reached % sinkSize != 0 {
                    throw CheckpointError("\(path) was saved at step \(reached), inside a sink of \(sinkSize) steps; resume it without sinking or with a sink size that divides \(reached)")
                }
                for _ in 0..<reached {
                    _ = nextBatch()
                    for k in shards.indices { _ = shardPending[k].removeLast() }
                }
                for replica in parallel?.replicas ?? [step] { replica.continueAt(step: reached) }
                done = reached
            }
        }
        let checkpointer = try script.train.modelCheckpoint.map { try ModelCheckpointer(spec: $0, batchNum: sink ? sinkSize : dataset.batchesPerEpoch) }
        var lastEpoch = 0
        epochLoop: for epoch in 1...max(1, epochs) {
            lastEpoch = epoch
            let epochStart = device.hostTime, stepsBefore = done
            var epochEnd: SimTime?
            defer {
                // TimeMonitor, as MindSpore prints it, with the card's simulated time (training
                // only, evaluation excluded).
                if script.train.timeMonitor && done > stepsBefore {
                    let ms = ((epochEnd ?? device.hostTime) - epochStart).seconds * 1e3
                    message(String(format: "epoch time: %5.3f ms, per step time: %5.3f ms", ms, ms / Double(done - stepsBefore)))
                }
            }
            if sink {
                guard epoch * sinkSize > done else { continue }  // sinks a resumed run already ran
                let n = min(sinkSize, limit - done)
                guard n > 0 else { break }
                // Every card's batches for the sink (card 0's, then each other card's shard).
                var perCard: [[[String: Tensor]]] = Array(repeating: [], count: max(cards, 1))
                for _ in 0..<n {
                    let b = nextBatch()
                    try check(b)
                    perCard[0].append(["data": b.data, "label": b.label])
                    for k in shards.indices {
                        let o = shardPending[k].removeLast()
                        perCard[k + 1].append(["data": o.data, "label": o.label])
                    }
                }
                let last: [Tensor], hidden: [[Tensor]]
                if let parallel {
                    (last, hidden) = try parallel.sink(perCard, keepHidden: keepHidden)
                } else {
                    let result = try step.sink(perCard[0], keepHidden: keepHidden)
                    (last, hidden) = ([result.loss], result.perStep.map { [$0] })
                }
                if keepHidden {
                    for (k, l) in hidden.dropLast().enumerated() {
                        let (loss, global) = try losses(l)
                        records.append(LossRecord(epoch: epoch, step: k + 1, loss: loss, visible: false, globalLoss: global))
                    }
                }
                let (loss, global) = try losses(last)
                let r = LossRecord(epoch: epoch, step: n, loss: loss, visible: true, globalLoss: global)
                records.append(r)
                device.hostCallback("LossMonitor")
                line(r)
                done += n
                stepEnd(StepEnd(step: done, store: ctx.store, parameters: parameterNames))
                try checkpointer?.stepEnd(store: ctx.store, step: done, epoch: epoch)
                progress(done, min(limit, max(1, epochs) * sinkSize))
            } else {
                for s in 1...dataset.batchesPerEpoch {
                    guard (epoch - 1) * dataset.batchesPerEpoch + s > done else { continue }  // steps a resumed run already ran
                    guard done < limit else { break epochLoop }
                    let b = nextBatch()
                    try check(b)
                    let (l, global) = try train(b)
                    done += 1
                    progress(done, min(limit, max(1, epochs) * dataset.batchesPerEpoch))
                    let r = LossRecord(epoch: epoch, step: s, loss: l, visible: s % script.train.printEvery == 0, globalLoss: global)
                    records.append(r)
                    if r.visible {
                        device.hostCallback("LossMonitor")
                        line(r)
                    }
                    stepEnd(StepEnd(step: done, store: ctx.store, parameters: parameterNames))
                    try checkpointer?.stepEnd(store: ctx.store, step: done, epoch: epoch)
                }
            }
            epochEnd = device.hostTime
            if script.eval?.perEpoch == true { try evaluate(after: epoch) }
            if done >= limit { break }
        }
        if let spec = script.eval, !spec.perEpoch { try evaluate(after: options.epochs ?? script.train.epochs) }
        if let cluster { cluster.synchronize() } else { device.synchronize() }
        if let path = script.train.csvLog {
            let csv = "epoch,step,loss\n" + records.filter(\.visible).map { "\($0.epoch),\($0.step),\(Double($0.loss))\n" }.joined()
            do { try writeDurably(Array(csv.utf8), to: path) } catch { throw DataError("CSVLogger: \(error.message)") }
        }
        try checkpointer?.stepEnd(store: ctx.store, step: done, epoch: lastEpoch, force: true)
        if let path = options.saveCheckpoint { try Checkpoint.save(ctx.store, to: path, step: done, epoch: lastEpoch) }
        if let path = options.trace {
            do { try ChromeTrace.write(devices, to: path) } catch { throw DataError("--trace: \(error)") }
        }
        return RunSummary(steps: done, samples: done * dataset.batchSize * cards,
                          hostSeconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9, simulatedTime: device.hostTime, losses: records,
                          evaluations: evaluations, devices: devices, store: ctx.store)
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
        let shard = try Dataset(source: d.source, shuffle: d.shuffle, batchSize: d.batchSize, dropRemainder: d.dropRemainder,
                                skip: d.skip, numShards: cards, shardID: 0)
        return max(1, shard.batchesPerEpoch)
    }
}
