import NPUCollective
import NPUDevice
import NPUGraph
import NPUOps
import NPURandom
import NPUTensor

/// MindSpore's execution modes.
public enum ExecutionMode: String, Sendable, CaseIterable {
    /// The whole step compiled once into a graph and run as tasks every step.
    case graph
    /// Op by op, at once.
    case pynative
}

/// What a training step computes its loss from: named inputs (any number) in, a float32 scalar
/// out, written once against `ModelBuilder` for both modes.
public protocol TrainingModel {
    /// The loss of one batch given the step's inputs by name.
    func loss<B: ModelBuilder>(_ b: inout B, _ inputs: [String: B.Value]) throws -> B.Value
}

/// MindSpore's WithLossCell: `loss(network(inputs[data]), inputs[label])`.
public struct NetworkWithLoss: TrainingModel {
    public let network: any Layer
    public let lossFunction: any Loss
    /// The names of the data and label inputs.
    public let data: String, label: String

    public init(network: any Layer, loss: any Loss, data: String = "data", label: String = "label") {
        self.network = network
        self.lossFunction = loss
        self.data = data
        self.label = label
    }

    public func loss<B: ModelBuilder>(_ b: inout B, _ inputs: [String: B.Value]) throws -> B.Value {
        guard let x = inputs[data], let y = inputs[label] else {
            throw TrainError("the step needs inputs '\(data)' and '\(label)', got \(inputs.keys.sorted().map { "'\($0)'" }.joined(separator: ", "))")
        }
        // MindSpore's WithLossCell: the network is its `_backbone`, the loss its `_loss_fn`.
        return try b.inCell("network", "WithLossCell") { b in
            // The loss takes the backbone's output in float32 (`amp.py`, `_add_loss_network`).
            let logits = try b.inCell("_backbone", network.cellClass ?? "Cell") { b in try b.backbone(network, x) }
            return try b.inCell("_loss_fn", lossFunction.cellClass) { b in try lossFunction(&b, logits, y) }
        }
    }
}

/// How a training step runs, as configuration: the reduction-order policy (with per-op
/// overrides) and its order source, mixed precision, and whether launches are recorded for the
/// profile.
public struct StepConfiguration: Sendable {
    public var determinism: Determinism
    /// Per op type (`ReduceSum`, `MatMul`): a policy other than `determinism`.
    public var overrides: [String: Determinism]
    public var orderSource: OrderSource
    public var ampLevel: AmpLevel
    /// A static loss scale without an overflow check (what `lossScaling` `.fixed(s,
    /// dropOverflowUpdate: false)` says); nil: `lossScaling` decides.
    public var lossScale: Float?
    /// The loss scaling; nil: `lossScale` if given, else MindSpore's default for the level — a
    /// `DynamicLossScaleManager()` under O2, none otherwise (`mindspore/train/amp.py`, `_config_level`).
    public var lossScaling: LossScaling?

    /// The loss scaling this configuration runs with.
    public var resolvedLossScaling: LossScaling {
        if let lossScaling { return lossScaling }
        if let lossScale { return .fixed(lossScale, dropOverflowUpdate: false) }
        return ampLevel == .O2 ? .dynamic(DynamicLossScaleManager()) : .none
    }
    /// Launches carry their step, sink, host time and reduction plans into the device's timeline.
    public var recording: Bool
    /// Graph mode without values: steps go through the streams, scheduler and cost model only
    /// (`simulate`); parameters may be declared by shape (`ParameterStore(shapeOnly: true)`).
    public var timingOnly: Bool
    /// Data parallelism over this many cards (`DataParallelStep`): every gradient is averaged
    /// across the cards by a collective before the optimizer (MindSpore's gradients_mean).
    public var cards: Int
    /// The AllReduce algorithm; nil: HCCL's choice (a mesh on one board, two levels beyond).
    public var allReduceAlgorithm: AllReduceAlgorithm?
    /// MindSpore's `all_reduce_fusion_config`: parameter indices where a new bucket starts; nil:
    /// buckets of up to `fusionBytes`.
    public var fusionSplits: [Int]?
    /// The fusion threshold in bytes (MindSpore's default 64 MiB).
    public var fusionBytes = 64 << 20
    /// How graph mode fuses kernels (timing only); nil: the device's default (Ascend's buffer
    /// fusion on the Ascend profiles, none on `test`). `.graphKernel` is MindSpore's
    /// `enable_graph_kernel=True`.
    public var kernelFusion: FusionLevel?

    /// The kernel planner's options for a step on `spec`: the fusion level, and float16
    /// activations under O2 (MindSpore's O2 casts the network to float16).
    public func kernelOptions(on spec: DeviceSpec) -> KernelOptions {
        KernelOptions(fusion: kernelFusion ?? (spec.ubFusion ? .buffer : .none), activations: ampLevel.float16Network ? .float16 : .float32)
    }

    public init(determinism: Determinism = .off, overrides: [String: Determinism] = [:], orderSource: OrderSource = .entropy,
                ampLevel: AmpLevel = .O0, lossScale: Float? = nil, recording: Bool = false, timingOnly: Bool = false, cards: Int = 1) {
        self.timingOnly = timingOnly
        self.cards = cards
        self.determinism = determinism
        self.overrides = overrides
        self.orderSource = orderSource
        self.ampLevel = ampLevel
        self.lossScale = lossScale
        self.recording = recording
    }
}

/// One training step (MindSpore's TrainOneStepCell around a model): forward, loss, gradients,
/// optimizer update. Graph mode builds and compiles the step once; PyNative runs it op by op on a
/// tape. Both use the same layers, ops and reverse mode, so under `on` and `strict` they give the
/// same bits. Graph mode can also run a sink of steps from a device data queue.
public final class TrainStep {
    public let mode: ExecutionMode
    public let model: any TrainingModel
    public let optimizer: any Optimizer
    public let store: ParameterStore
    public let device: Device
    public let configuration: StepConfiguration
    public var ampLevel: AmpLevel { configuration.ampLevel }
    /// The step's inputs by name, with their types.
    public let inputs: [String: TensorType]
    /// The loss scale of the first step (the only one unless the scaling is dynamic): the
    /// backward starts from it and the gradients are multiplied by its reciprocal before the
    /// optimizer.
    public let lossScale: Float
    /// The loss scaling the step runs with.
    public var lossScaling: LossScaling { configuration.resolvedLossScaling }
    /// Graph mode: the compiled step (its executor).
    public private(set) var compiled: CompiledGraph?
    private let pynative: PyNative?
    /// PyNative: one tape, cleared at the start of every step.
    private let tape: Tape?
    /// Sink mode's device data queue (made on first use).
    private var queue: DeviceQueue?
    /// Steps run so far (the step that keys reduction orders).
    public private(set) var steps = 0
    /// Sinks run so far.
    public private(set) var sinks = 0

    /// The reduction planner every launch of the step goes through (its policy, recorded plans).
    public var planner: ReductionPlanner { compiled?.context.planner ?? pynative!.planner }

    /// The random kernels the step keeps between launches (Dropout's), by op instance name: what
    /// a checkpoint saves so that a resumed run continues their streams.
    public var randomKernels: [(name: String, kernel: RandomKernel)] {
        if let compiled { return compiled.randomKernels }
        return (pynative?.kernels ?? [:]).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// Continues the random kernels from saved states by name; in PyNative a kernel whose op has
    /// not run yet takes its state when it first runs.
    public func restoreRandomStates(_ states: [String: [UInt64]]) {
        for (name, kernel) in randomKernels { if let s = states[name] { kernel.restore(s) } }
        if let pynative {
            for (name, s) in states where pynative.kernels[name] == nil { pynative.pendingStates[name] = s }
        }
    }

    /// The pool that recycles each step's tensors (graph mode: the compiled graph's; PyNative: the
    /// step's own). Nil for a timing-only replica.
    public var storagePool: StoragePool? { compiled?.pool ?? (pynative != nil ? pynativePool : nil) }

    /// A step of `network` and `loss` fed inputs named "data" and "label".
    /// - Throws: `TrainError`/`GraphError`/`OpError` naming what does not fit.
    public convenience init(network: any Layer, loss: any Loss, optimizer: any Optimizer, mode: ExecutionMode, device: Device, store: ParameterStore,
                            determinism: Determinism = .off, orderSource: OrderSource = .entropy, ampLevel: AmpLevel = .O0, lossScale: Float? = nil,
                            inputType: TensorType, labelType: TensorType) throws {
        try self.init(model: NetworkWithLoss(network: network, loss: loss), inputs: ["data": inputType, "label": labelType], optimizer: optimizer,
                      mode: mode, device: device, store: store,
                      configuration: StepConfiguration(determinism: determinism, orderSource: orderSource, ampLevel: ampLevel, lossScale: lossScale))
    }

    /// A step of any model with named inputs (`inputs`: one batch's types; graph mode compiles
    /// for them).
    /// - Throws: `TrainError`/`GraphError`/`OpError` naming what does not fit.
    public init(model: any TrainingModel, inputs: [String: TensorType], optimizer: any Optimizer, mode: ExecutionMode, device: Device,
                store: ParameterStore, configuration: StepConfiguration = StepConfiguration()) throws {
        (self.model, self.inputs, self.optimizer, self.mode, self.device, self.store) = (model, inputs, optimizer, mode, device, store)
        self.configuration = configuration
        let scaling = configuration.resolvedLossScaling
        self.lossScale = scaling.initialScale
        guard self.lossScale > 0, self.lossScale.isFinite else { throw TrainError("loss scale must be positive, got \(self.lossScale)") }
        if case .dynamic(let m) = scaling {
            try m.validate()
            m.prepare(store)
        }
        let most = configuration.timingOnly ? Cluster.maxTimingOnlyCards : Cluster.maxCards
        guard (1...most).contains(configuration.cards) else {
            throw TrainError("a step runs on 1 to \(Cluster.maxCards) cards with real numerics (\(Cluster.maxTimingOnlyCards) timing-only), got \(configuration.cards)")
        }
        if configuration.cards > 1 && mode == .pynative {
            throw TrainError("data parallelism over \(configuration.cards) cards needs graph mode (a lockstep compiled step per card)")
        }
        if configuration.timingOnly && mode == .pynative {
            throw TrainError("timing-only simulation needs graph mode; PyNative computes every op as it goes")
        }
        switch mode {
        case .pynative:
            let context = PyNative(device: device, determinism: configuration.determinism, orderSource: configuration.orderSource)
            context.planner.overrides = configuration.overrides
            pynative = context
            tape = Tape(context: context)
        case .graph:
            pynative = nil
            tape = nil
            var b = GraphModel(isTraining: true, ampLevel: configuration.ampLevel)
            var values: [String: GraphValue] = [:]
            for name in inputs.keys.sorted() { values[name] = b.graph.input(name, inputs[name]!) }
            let l = try model.loss(&b, values)
            let params = optimizer.parameters.map { b.read($0) }
            // A dynamic scale is a parameter the step reads and updates; a fixed one a constant.
            var dynamic: (manager: DynamicLossScaleManager, scale: GraphValue)?
            if case .dynamic(let m) = scaling { dynamic = (m, b.graph.parameter(DynamicLossScaleManager.scaleName, TensorType(.float32, []))) }
            let grads = try dynamic.map { try b.graph.gradients(of: l, wrt: params, seed: $0.scale) }
                ?? b.graph.gradients(of: l, wrt: params, lossScale: self.lossScale)
            let scaled = try Self.require(grads, optimizer.parameters)
            var unscaled = try dynamic.map { try Self.unscale(&b, scaled, by: $0.scale) } ?? Self.unscale(&b, scaled, self.lossScale)
            if configuration.cards > 1 {
                // The exact sum takes the products' terms only through a constant power-of-two unscale.
                unscaled = try Self.allReduce(&b, unscaled, configuration, cardsPerServer: device.spec.cardsPerServer,
                                              producers: dynamic == nil ? scaled : nil, unscale: dynamic == nil ? 1 / self.lossScale : 1)
            }
            // MindSpore's TrainOneStepWithLossScaleCell: the update only when every gradient is finite.
            let finite = scaling.dropsOverflowUpdate ? try b.op(AllFinite(), unscaled) : nil
            b.updateCondition = finite
            try b.inCell("optimizer", optimizer.cellClass) { b in try optimizer.update(&b, gradients: unscaled) }
            b.updateCondition = nil
            if let dynamic, let finite {
                let s = DynamicLossScaleManager.self
                let state = [b.graph.parameter(s.stepName, TensorType(.int32, [])), b.graph.parameter(s.lastOverflowName, TensorType(.int32, []))]
                let next = try b.apply(dynamic.manager.update, [dynamic.scale] + state + [finite])
                for (name, value) in zip(s.stateNames, next) { try b.graph.assign(name, value) }
            }
            let planner = ReductionPlanner(spec: device.spec, policy: configuration.determinism, source: configuration.orderSource, card: device.ordinal)
            planner.overrides = configuration.overrides
            compiled = try CompiledGraph(b.graph, fetches: [l], device: device, store: store, planner: planner,
                                         timingOnly: configuration.timingOnly, kernels: configuration.kernelOptions(on: device.spec))
            compiled!.recording = configuration.recording
        }
    }

    /// This timing-only step on another card of the same cluster, sharing the compiled graph's
    /// analysis and the shape-only store (nothing is written there): what every card of a
    /// timing-only cluster runs, compiled once instead of once per card.
    /// - Throws: `TrainError` unless this is a timing-only graph-mode step; `GraphError` when the
    ///   plan does not fit `device`.
    public func timingReplica(on device: Device) throws -> TrainStep {
        guard configuration.timingOnly, let compiled else { throw TrainError("timingReplica(on:) needs a timing-only graph-mode step") }
        return TrainStep(replicating: self, device: device, compiled: try sharing(compiled, on: device))
    }

    /// `compiled`'s analysis on `device`, with that card's own reduction planner.
    private func sharing(_ compiled: CompiledGraph, on device: Device) throws(GraphError) -> CompiledGraph {
        let planner = ReductionPlanner(spec: device.spec, policy: configuration.determinism, source: configuration.orderSource, card: device.ordinal)
        planner.overrides = configuration.overrides
        return try CompiledGraph(sharing: compiled, device: device, store: store, planner: planner)
    }

    /// This step as a ghost card of a cluster spread over processes (`CardExchange`): a card
    /// another process computes. It shares this step's model, optimizer, parameter store and
    /// compiled graph's analysis, so it holds no parameters, optimizer state or program of its
    /// own; it never computes values (`CompiledGraph.ghost`), only launches the card's kernels.
    /// - Throws: `TrainError` unless this is a graph-mode step; `GraphError` when the plan does
    ///   not fit `device`.
    public func ghostReplica(on device: Device) throws -> TrainStep {
        guard let compiled else { throw TrainError("ghostReplica(on:) needs a graph-mode step") }
        let ghost = try sharing(compiled, on: device)
        ghost.ghost = true
        return TrainStep(replicating: self, device: device, compiled: ghost)
    }

    private init(replicating other: TrainStep, device: Device, compiled: CompiledGraph) {
        (model, inputs, optimizer, mode, store, configuration, lossScale) =
            (other.model, other.inputs, other.optimizer, other.mode, other.store, other.configuration, other.lossScale)
        self.device = device
        self.compiled = compiled
        pynative = nil
        tape = nil
    }

    /// Every gradient AllReduced (mean) across the cards, in buckets: MindSpore's
    /// `all_reduce_fusion_config` split points when given (parameter indices), else buckets of up
    /// to `fusionBytes` filled in backward order (the last layers' gradients first, as they
    /// appear), each bucket one fused AllReduce that starts when its gradients exist.
    ///
    /// Under `strict` each AllReduce also takes the inputs of the ops that made its gradients
    /// when they can add their terms exactly (`ExactTerms`: MatMul, ReduceSum, Conv2D's filter
    /// gradient, LayerNorm's γ and β, Embedding's scatter): it adds every card's terms
    /// exactly and rounds once, so N cards give the bits one card gives with the global batch.
    /// `producers` are the gradients before `unscale`, the power of two `grads` are those times
    /// (the loss scale's inverse): their producers' terms go to the AllReduce, scaled after the sum.
    static func allReduce(_ b: inout GraphModel, _ grads: [GraphValue], _ c: StepConfiguration, cardsPerServer: Int,
                          producers: [GraphValue]? = nil, unscale: Float = 1) throws -> [GraphValue] {
        let algorithm = c.allReduceAlgorithm ?? .auto(cards: c.cards, cardsPerServer: cardsPerServer)
        var buckets: [[Int]] = []
        if let splits = c.fusionSplits {
            var start = 0
            for end in splits + [grads.count] where end > start {
                buckets.append(Array(start..<min(end, grads.count)))
                start = min(end, grads.count)
            }
            buckets.reverse()
        } else {
            var current: [Int] = [], bytes = 0
            for k in grads.indices.reversed() {
                let size = b.type(of: grads[k]).shape.count * 4
                if !current.isEmpty && bytes + size > c.fusionBytes {
                    buckets.append(current)
                    (current, bytes) = ([], 0)
                }
                current.insert(k, at: 0)
                bytes += size
            }
            if !current.isEmpty { buckets.append(current) }
        }
        var out = grads
        let strict = (c.overrides["AllReduce"] ?? c.determinism) == .strict
        // Through the unscale only when it is a power of two (then it commutes with rounding).
        let (source, scale) = producers.map { unscale.significandBitPattern == 0 && unscale.isNormal ? ($0, unscale) : (grads, 1) } ?? (grads, 1)
        for bucket in buckets {
            var exact: [(op: any ExactTerms, arity: Int, output: Int, scale: Float)?] = []
            var terms: [GraphValue] = []
            if strict {
                for k in bucket {
                    let node = b.graph.nodes[source[k].node]
                    if case .op(let op) = node.kind, let e = op as? any ExactTerms {
                        exact.append((e, node.inputs.count, source[k].index, scale))
                        terms += node.inputs
                    } else {
                        exact.append(nil)
                    }
                }
            }
            let op = AllReduce(cards: c.cards, algorithm: algorithm, mean: true, cardsPerServer: cardsPerServer, exact: exact)
            let reduced = try b.apply(op, bucket.map { grads[$0] } + terms)
            for (k, v) in zip(bucket, reduced) { out[k] = v }
        }
        return out
    }

    /// Gradients divided by the loss scale (nothing to do at scale 1).
    static func unscale<B: ModelBuilder>(_ b: inout B, _ grads: [B.Value], _ scale: Float) throws -> [B.Value] {
        guard scale != 1 else { return grads }
        let inverse = b.scalarConstant(1 / scale)
        return try grads.map { try b.op(Mul(), [$0, inverse]) }
    }

    /// Gradients times the float32 reciprocal of a scale the step reads (a dynamic loss scale), as
    /// MindSpore's `_grad_scale` computes them.
    static func unscale<B: ModelBuilder>(_ b: inout B, _ grads: [B.Value], by scale: B.Value) throws -> [B.Value] {
        let inverse = try b.op(Div(), [b.scalarConstant(1), scale])
        return try grads.map { try b.op(Mul(), [$0, inverse]) }
    }

    static func require<V>(_ grads: [V?], _ params: [Parameter]) throws -> [V] {
        try zip(grads, params).map { g, p in
            guard let g else { throw TrainError("the loss does not depend on parameter '\(p.name)'") }
            return g
        }
    }

    /// Runs one step on a batch of "data" and "label"; returns the loss.
    public func callAsFunction(_ data: Tensor, _ labels: Tensor) throws -> Tensor {
        try callAsFunction(["data": data, "label": labels])
    }

    /// Runs one step on named inputs; returns the loss (the host reads it: the card synchronises).
    /// - Throws: `GraphError`/`TrainError` for a missing or mistyped input; `DeviceError` when a
    ///   PyNative launch ran out of HBM.
    public func callAsFunction(_ feeds: [String: Tensor]) throws -> Tensor {
        if configuration.timingOnly { throw TrainError("a timing-only step computes no loss; run it with simulate(steps:)") }
        defer { steps += 1 }
        if let compiled {
            let out = try compiled.step(feeds)
            device.synchronize()
            return out[0]
        }
        for name in inputs.keys.sorted() {
            let type = inputs[name]!
            guard let t = feeds[name] else { throw TrainError("no feed for input '\(name)'; the step's inputs are \(inputs.keys.sorted().map { "'\($0)'" }.joined(separator: ", "))") }
            guard t.type == type else { throw TrainError("input '\(name)' is \(t.type), the step expects \(type)") }
        }
        // The step's tensors come from and return to a pool, as a compiled step's do: from the
        // second step on, op outputs reuse the last step's memory instead of allocating (and
        // faulting in) fresh pages.
        return try pynativePool.run {
            lastLoss = nil  // back to the pool, if the caller has let it go
            let loss = try pynativeStep(feeds)
            lastLoss = loss
            return loss
        }
    }

    /// Recycles a PyNative step's tensors (op outputs, gradients) from step to step.
    private let pynativePool = StoragePool()
    /// The last PyNative step's loss, released inside the next step so that it returns to the pool.
    private var lastLoss: Tensor?

    private func pynativeStep(_ feeds: [String: Tensor]) throws -> Tensor {
        let tape = self.tape!
        tape.reset()
        pynative!.beginStep(steps)
        var b = TapeModel(tape: tape, store: store, isTraining: true, ampLevel: configuration.ampLevel)
        var values: [String: TapeValue] = [:]
        for name in inputs.keys.sorted() { values[name] = tape.watch(feeds[name]!) }
        let l = try model.loss(&b, values)
        let params = try optimizer.parameters.map { try b.read($0) }
        let scaling = lossScaling
        var dynamic: (manager: DynamicLossScaleManager, scale: TapeValue)?
        if case .dynamic(let m) = scaling { dynamic = (m, tape.watch(store[DynamicLossScaleManager.scaleName]!)) }
        let scale = try dynamic.map { try $0.scale.tensor.toArray(of: Float.self)[0] } ?? lossScale
        let grads = try tape.gradients(of: l, wrt: params, lossScale: scale)
        let scaled = try Self.require(grads, optimizer.parameters).map { tape.watch($0) }
        let unscaled = try dynamic.map { try Self.unscale(&b, scaled, by: $0.scale) } ?? Self.unscale(&b, scaled, lossScale)
        // The host reads the overflow check and runs the optimizer only on finite gradients, as
        // MindSpore's `if not overflow` does in PyNative mode.
        var finite: TapeValue?
        if scaling.dropsOverflowUpdate { finite = try b.op(AllFinite(), unscaled) }
        if try finite.map({ try pynative!.read($0.tensor).doubles()[0] != 0 }) ?? true {
            try optimizer.update(&b, gradients: unscaled)
            for (name, value) in b.writes { store[name] = value }
        }
        if let dynamic, let finite {
            let s = DynamicLossScaleManager.self
            let next = try b.apply(dynamic.manager.update, [dynamic.scale, tape.watch(store[s.stepName]!), tape.watch(store[s.lastOverflowName]!), finite])
            for (name, value) in zip(s.stateNames, next) { store[name] = value.tensor }
        }
        return try pynative!.read(l.tensor)
    }

    /// Counts a sink of `n` steps that a cluster ran on this step's compiled graph.
    func advance(steps n: Int) {
        steps += n
        sinks += 1
    }

    /// Continues at step `step` (a resumed run): the next step keys its reduction orders as step
    /// `step` of the uninterrupted run would.
    public func continueAt(step: Int) {
        steps = step
        compiled?.continueAt(step: step)
    }

    /// Timing-only simulation: `n` steps through the card's streams, scheduler and cost model,
    /// computing no values — host-launched and each synchronised, or with `sinkSize` in sinks of
    /// that many steps (dataset sink mode: one launch and one synchronisation per sink). Returns
    /// the simulated host time at the end.
    /// - Throws: `TrainError` unless the step was built with `timingOnly`.
    @discardableResult
    public func simulate(steps n: Int, sinkSize: Int? = nil) throws -> SimTime {
        guard let compiled, compiled.timingOnly else {
            throw TrainError("simulate(steps:) needs a step built with StepConfiguration(timingOnly: true) in graph mode")
        }
        if let sinkSize {
            // Dataset sink mode: sinks of `sinkSize` steps (the last one shorter), each one host
            // launch, its batches copied through the card's data queue.
            guard sinkSize >= 1 else { throw TrainError("a sink runs at least 1 step, got \(sinkSize)") }
            var done = 0
            while done < n {
                let k = min(sinkSize, n - done)
                let queue = self.queue ?? DeviceQueue(device: device)
                self.queue = queue
                try queue.fill(upTo: k, shapes: inputs)
                _ = try compiled.run(steps: k, from: queue, sink: sinks) { try queue.fill(upTo: $0, shapes: self.inputs) }
                device.synchronize()
                (done, steps, sinks) = (done + k, steps + k, sinks + 1)
            }
            return device.hostTime
        }
        for _ in 0..<n {
            _ = try compiled.step([:])
            device.synchronize()
            steps += 1
        }
        return device.hostTime
    }

    /// Dataset sink mode (graph mode only): the batches go to the card's data queue and the step
    /// runs once per batch with one host launch and one synchronisation; returns the loss the
    /// host sees (the last step's) and, with `keepHidden`, every step's loss — what a card
    /// computes inside a sink and never shows. Numerics are those of as many single steps.
    /// - Throws: `TrainError` in PyNative mode; `GraphError` for a batch that does not fit.
    public func sink(_ batches: [[String: Tensor]], keepHidden: Bool = false) throws -> (loss: Tensor, perStep: [Tensor]) {
        var taken = 0
        return try sink(steps: batches.count, keepHidden: keepHidden) {
            defer { taken += 1 }
            return batches[taken]
        }
    }

    /// Dataset sink mode with batches drawn as the card's data queue has room: `next()` gives the
    /// next batch. The queue holds at most its capacity (`DeviceQueue.defaultCapacity`), so a
    /// sink of any length holds at most that many batches.
    /// - Throws: `TrainError` in PyNative mode or for no step; `GraphError` for a batch that does
    ///   not fit; what `next` throws.
    public func sink(steps n: Int, keepHidden: Bool = false, next: () throws -> [String: Tensor]) throws -> (loss: Tensor, perStep: [Tensor]) {
        guard let compiled else { throw TrainError("dataset sink mode needs graph mode; PyNative runs op by op from the host") }
        guard n >= 1 else { throw TrainError("a sink needs at least one batch") }
        let queue = self.queue ?? DeviceQueue(device: device)
        self.queue = queue
        defer {
            steps += n
            sinks += 1
        }
        // Batches are made as steps take them: the host holds one at a time, whatever the sink.
        let result = try withoutActuallyEscaping(next) { next in
            do {
                try queue.fill(upTo: n, types: inputs, next)
                return try compiled.run(steps: n, from: queue, sink: sinks, keepHidden: keepHidden) { try queue.fill(upTo: $0, types: self.inputs, next) }
            } catch {
                queue.clear()
                throw error
            }
        }
        device.synchronize()
        return (result.fetched[0], result.perStep.map { $0[0] })
    }
}
