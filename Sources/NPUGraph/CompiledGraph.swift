import Foundation
import NPUDevice
import NPUOps
import NPURandom
import NPUTensor

/// Named tensors that outlive steps: parameters, optimizer state, moving statistics. A
/// shape-only store (timing-only simulation) holds their types and no values.
public final class ParameterStore {
    public private(set) var values: [String: Tensor] = [:]
    /// Names in creation order (MindSpore's parameter order).
    public private(set) var names: [String] = []
    /// True when parameters are declared by type only (no values are made or kept).
    public let shapeOnly: Bool
    private var declared: [String: TensorType] = [:]

    public init(shapeOnly: Bool = false) { self.shapeOnly = shapeOnly }

    /// Declares parameter `name` of `type` without a value (a shape-only store).
    public func declare(_ name: String, _ type: TensorType) {
        if declared[name] == nil && values[name] == nil { names.append(name) }
        declared[name] = type
    }

    /// The type of parameter `name`, whether it holds a value or was declared.
    public func type(of name: String) -> TensorType? { values[name]?.type ?? declared[name] }

    public subscript(name: String) -> Tensor? {
        get { values[name] }
        set {
            if values[name] == nil, newValue != nil { names.append(name) }
            values[name] = newValue
        }
    }
}

/// One op's outputs in a numeric step, as `CompiledGraph.observer` sees them.
public struct NodeOutput {
    /// The step (from 0) and, in sink mode, the sink.
    public var step: Int
    public var sink: Int?
    /// The node's index in the graph, its name (its identity), MindSpore's full name and type.
    public var node: Int
    public var name: String
    public var fullName: String
    public var type: String
    public var outputs: [Tensor]
    /// The reduction plans the launch used (empty for an op that plans none).
    public var plans: [PlanRecord]
}

/// The memory plan of a compiled graph: buffers reused once their last reader has run.
public struct MemoryPlan: Sendable {
    /// Peak bytes of the step's intermediate values (parameters and inputs excluded).
    public var peakBytes: Int64
    /// Bytes of the parameters and inputs.
    public var residentBytes: Int64
    /// The largest values, for messages: (node name, bytes).
    public var largest: [(String, Int64)]
}

/// A graph compiled for one card: dead code removed, constants folded, memory planned and checked
/// against HBM, and a step that runs every node as a task on the card's streams (inputs copied on
/// a copy stream, compute on the default stream after an event).
public final class CompiledGraph {
    public let graph: Graph
    public let device: Device
    public let store: ParameterStore
    public let context: KernelContext
    /// The values `step` returns.
    public let fetches: [GraphValue]
    /// Nodes that run, in order.
    public private(set) var schedule: [Int] = []
    public private(set) var memory: MemoryPlan
    private var folded: [Int: [Tensor]] = [:]
    /// Values computed at compile time (constant folding), by node.
    var foldedValues: [Int: [Tensor]] { folded }
    /// Steps are simulated without values (see `init`).
    public let timingOnly: Bool
    /// Records per launch what the profile needs (step, sink, host time, reduction plans) into
    /// the device's timeline; off by default (nothing kept, nothing measured).
    public var recording = false
    /// The step's own random kernels: each Dropout node gets a fresh generator from its seeds, so
    /// a rebuilt graph starts afresh (as MindSpore's does) and two steps built from one network
    /// never share a generator.
    private var ownOps: [Int: any OpDef] = [:]
    /// Each op node's order identity (`ReductionPlanner.identity(of:)` of its name), hashed once.
    private var identities: [UInt64] = []
    /// Each op node's declared work (its input types are fixed at compile time).
    private var works: [Work?] = []
    private let copyStream: NPUDevice.Stream
    /// Recorded every step: the inputs are on the card; the compute that produces the fetches is done.
    private let inputsCopied: Event
    private let computeDone: Event
    /// Collectives: compute reached one (waited for by every card's comm stream); it is done.
    private let collectiveReady: Event
    /// Each collective's completion on the `comm` stream, waited for by its first consumer.
    private var collectiveDone: [Int: Event] = [:]
    private var allocation: Allocation?
    /// Steps begun so far (the next step's number).
    public private(set) var steps = 0
    /// Called with every op's outputs as the step computes them (numeric steps only), with the
    /// reduction plans its launch used: what `npusim localize` compares. Nil: nothing is done.
    public var observer: ((NodeOutput) throws -> Void)?
    /// Recycles the step's tensors: from the second step on, a step allocates no tensor storage.
    public let pool = StoragePool()
    /// The previous step's fetched tensors, released inside the next step so that they return to
    /// the pool (if the caller has let them go).
    private var lastFetches: [Tensor] = []

    /// - Throws: `GraphError` for a graph that does not fit the card's HBM (naming the largest
    ///   buffers) or that reads a parameter the store does not hold.
    /// - Parameter timingOnly: run steps through the streams, scheduler and cost model without
    ///   computing values (same tasks, events and times as a numeric run); parameters need only
    ///   be declared in the store, feeds may be omitted, and steps fetch nothing.
    public init(_ graph: Graph, fetches: [GraphValue], device: Device, store: ParameterStore, planner: ReductionPlanner,
                timingOnly: Bool = false) throws(GraphError) {
        self.timingOnly = timingOnly
        self.graph = graph
        self.device = device
        self.store = store
        self.fetches = fetches
        context = KernelContext(planner: planner)
        (copyStream, inputsCopied, computeDone, collectiveReady) = Self.lanes(on: device)
        memory = MemoryPlan(peakBytes: 0, residentBytes: 0, largest: [])
        // Dead-code removal: what the fetches and the assignments need.
        var live = Set(fetches.map(\.node))
        for (i, n) in graph.nodes.enumerated() { if case .assign = n.kind { live.insert(i) } }
        for i in graph.nodes.indices.reversed() where live.contains(i) { live.formUnion(graph.nodes[i].inputs.map(\.node)) }
        schedule = Self.collectivesEarly(graph, graph.nodes.indices.filter(live.contains))
        for i in schedule {
            if case .parameter(let name) = graph.nodes[i].kind {
                guard let type = timingOnly ? store.type(of: name) : store[name]?.type else {
                    throw GraphError("\(graph.nodes[i].name): parameter '\(name)' is not in the parameter store")
                }
                guard type == graph.nodes[i].outputTypes[0] else {
                    throw GraphError("\(graph.nodes[i].name): parameter '\(name)' is \(type) in the store, the graph expects \(graph.nodes[i].outputTypes[0])")
                }
            }
        }
        identities = [UInt64](repeating: 0, count: graph.nodes.count)
        for i in schedule {
            guard case .op(let op) = graph.nodes[i].kind else { continue }
            identities[i] = ReductionPlanner.identity(of: graph.nodes[i].name)
            if let fresh = Self.ownKernel(op) { ownOps[i] = fresh }
        }
        foldConstants()
        works = graph.nodes.map { n in
            guard case .op(let op) = n.kind, op.launchesKernel else { return nil }
            let inputs = n.inputs.map { graph.nodes[$0.node].outputTypes[$0.index] }
            return planner.charged(op.work(inputs, n.outputTypes), op.reductionSites(inputs, n.outputTypes), op: op.type)
        }
        memory = planMemory()
        allocation = try Self.reserve(memory, on: device)
    }

    /// The same compiled step on another card: the analysis (schedule, folded constants, declared
    /// work, memory plan) is `other`'s, shared; the card, its streams and events, the planner and
    /// the step's own random kernels are new. A data-parallel cluster compiles once this way
    /// instead of once per card.
    /// - Throws: `GraphError` when the plan does not fit `device`'s HBM.
    public init(sharing other: CompiledGraph, device: Device, store: ParameterStore, planner: ReductionPlanner) throws(GraphError) {
        (timingOnly, graph, fetches, schedule, folded, identities, works, memory) =
            (other.timingOnly, other.graph, other.fetches, other.schedule, other.folded, other.identities, other.works, other.memory)
        self.device = device
        self.store = store
        context = KernelContext(planner: planner)
        (copyStream, inputsCopied, computeDone, collectiveReady) = Self.lanes(on: device)
        for (i, op) in other.ownOps { ownOps[i] = Self.ownKernel(op) }
        recording = other.recording
        allocation = try Self.reserve(memory, on: device)
    }

    /// The copy stream and the step's three events on `device`.
    private static func lanes(on device: Device) -> (NPUDevice.Stream, Event, Event, Event) {
        (device.stream(named: "copy"), device.makeEvent(), device.makeEvent(), device.makeEvent())
    }

    /// A random op with a generator of its own, started afresh from its seeds (nil: not random).
    private static func ownKernel(_ op: any OpDef) -> (any OpDef)? {
        guard let op = op as? Dropout else { return nil }
        return Dropout(keepProb: op.keepProb, kernel: RandomKernel(op.kernel.kind, seeds: op.kernel.seeds))
    }

    /// Reserves the plan's HBM on `device`, or names the largest buffers when it does not fit.
    private static func reserve(_ memory: MemoryPlan, on device: Device) throws(GraphError) -> Allocation {
        let capacity = device.spec.hbmBytes - device.memoryInUse
        let needed = memory.peakBytes + memory.residentBytes
        guard needed <= capacity else {
            let top = memory.largest.prefix(3).map { "\($0.0) \(formatBytes($0.1))" }.joined(separator: ", ")
            throw GraphError("the graph needs \(formatBytes(needed)) of HBM (\(formatBytes(memory.residentBytes)) parameters and inputs, \(formatBytes(memory.peakBytes)) peak of intermediate values) but \(device.label) has \(formatBytes(capacity)) free; largest buffers: \(top)")
        }
        do {
            return try device.allocate(needed, for: "compiled graph")
        } catch {
            throw GraphError(error.description)
        }
    }

    deinit {
        if let allocation { device.free(allocation) }
        device.releaseEvent(inputsCopied)
        device.releaseEvent(computeDone)
        device.releaseEvent(collectiveReady)
        for e in collectiveDone.values { device.releaseEvent(e) }
    }

    /// Ops whose inputs are all constants run once, now (random ops never: they are stateful).
    private func foldConstants() {
        var constant: [Int: [Tensor]] = [:]
        for i in schedule {
            let n = graph.nodes[i]
            switch n.kind {
            case .constant(let t): constant[i] = [t]
            case .op(let op) where !(op is Dropout) && !n.inputs.isEmpty && n.inputs.allSatisfy({ constant[$0.node] != nil }):
                // Folding never draws a reduction order: an op that would is left to run every step.
                let planner = context.planner
                planner.folding = true
                planner.refusedDraw = false
                planner.enter(op: n.name)
                defer { planner.folding = false }
                if let outs = try? op.forward(n.inputs.map { constant[$0.node]![$0.index] }, context), !planner.refusedDraw {
                    constant[i] = outs
                    folded[i] = outs
                }
            default: break
            }
        }
    }

    private func planMemory() -> MemoryPlan {
        // Every output is its own buffer, freed after its last reader (a BatchNorm's saved
        // statistics outlive its normalised output). An op that launches no kernel (Reshape, the
        // cube's view of a float16 operand) is a view of its first input: it owns no HBM and
        // keeps that input's buffer alive.
        var owner: [GraphValue: GraphValue] = [:]
        func root(_ v: GraphValue) -> GraphValue { owner[v] ?? v }
        for i in schedule {
            if case .op(let op) = graph.nodes[i].kind, !op.launchesKernel, folded[i] == nil, let first = graph.nodes[i].inputs.first {
                for k in graph.nodes[i].outputTypes.indices { owner[GraphValue(node: i, index: k)] = root(first) }
            }
        }
        var lastUse: [GraphValue: Int] = [:]
        for (position, i) in schedule.enumerated() { for v in graph.nodes[i].inputs { lastUse[root(v)] = position } }
        for f in fetches { lastUse[root(f)] = schedule.count }
        func bytes(_ v: GraphValue) -> Int64 {
            let t = graph.nodes[v.node].outputTypes[v.index]
            return Int64(t.shape.count * t.dtype.size)
        }
        var inUse: Int64 = 0, peak: Int64 = 0, resident: Int64 = 0
        var sizes: [(String, Int64)] = []
        for (position, i) in schedule.enumerated() {
            let n = graph.nodes[i]
            let size = n.outputTypes.indices.reduce(Int64(0)) { total, k in
                let v = GraphValue(node: i, index: k)
                return owner[v] == nil ? total + bytes(v) : total
            }
            sizes.append((n.name, size))
            switch n.kind {
            case .parameter, .input, .constant: resident += size
            case .op where folded[i] != nil: resident += size
            default:
                // An output nobody reads is freed as soon as the kernel ends.
                inUse += size
                // The kernel's workspace is held while it runs, on top of what is live.
                peak = max(peak, inUse + (works[i]?.workspaceBytes ?? 0))
                for k in n.outputTypes.indices {
                    let v = GraphValue(node: i, index: k)
                    if owner[v] == nil && lastUse[v] == nil { inUse -= bytes(v) }
                }
            }
            // Free the buffers this node was the last reader of.
            for v in Set(n.inputs.map(root)) where lastUse[v] == position {
                if case .op = graph.nodes[v.node].kind, folded[v.node] == nil { inUse -= bytes(v) }
            }
        }
        return MemoryPlan(peakBytes: peak, residentBytes: resident, largest: sizes.sorted { $0.1 > $1.1 })
    }

    /// Runs one step launched by the host (graph mode without sinking): the host pays one graph
    /// launch, the inputs are copied to the card, the fetched values are copied back. Assignments
    /// update the parameter store after the step.
    /// - Throws: `GraphError` for a missing or mistyped feed; `OpError` from a kernel.
    public func step(_ feeds: [String: Tensor]) throws -> [Tensor] {
        device.hostWork("GraphLaunch", "step \(steps)", duration: device.spec.host.graphLaunch)
        let run = try begin(.host(feeds))
        return try run.finish(.host)
    }

    /// Runs `n` steps on the card from a device data queue with one host launch (dataset sink
    /// mode): no host synchronisation between steps; only the last step's fetches are copied to
    /// the host. With `keepHidden`, every step's fetched values are kept on the side — what a card
    /// computes but never shows.
    /// With `refill`, the queue may hold fewer: before each step `refill(remaining)` is called
    /// with the steps left (this one included), so a producer keeps a bounded queue topped up
    /// while the sink runs (it waits for a slot, as MindSpore's data thread does).
    /// - Throws: `GraphError` when the queue holds fewer than `n` batches (without `refill`) or a
    ///   batch does not fit; what `refill` throws.
    public func run(steps n: Int, from queue: DeviceQueue, sink: Int? = nil, keepHidden: Bool = false,
                    refill: ((_ remaining: Int) throws -> Void)? = nil) throws -> SinkResult {
        guard n >= 1 else { throw GraphError("a sink runs at least 1 step, got \(n)") }
        guard refill != nil || queue.count >= n else {
            throw GraphError("the device queue holds \(queue.count) batch\(queue.count == 1 ? "" : "es"); a sink of \(n) steps needs \(n)")
        }
        device.hostWork("SinkLaunch", "sink of \(n) steps", duration: device.spec.host.sinkLaunch)
        var hidden: [[Tensor]] = []
        var last: [Tensor] = []
        for k in 0..<n {
            try refill?(n - k)
            let run = try begin(.queue(queue), sink: sink)
            let fetched = try run.finish(k == n - 1 ? .host : keepHidden ? .kept : .none)
            if keepHidden { hidden.append(fetched) }
            if k == n - 1 { last = fetched }
        }
        return SinkResult(fetched: last, perStep: hidden)
    }

    /// Starts a step: its inputs come from the host (copied now) or from the device queue (the
    /// next batch, as GetNext takes it). Run it with `StepRun.runNext()` node by node, or finish
    /// it at once.
    /// - Throws: `GraphError` for a missing or mistyped feed or an empty queue.
    public func begin(_ feed: StepFeed, sink: Int? = nil) throws -> StepRun {
        let inputs: [String: Tensor]
        let ready: Event?
        switch feed {
        case .host(let feeds):
            inputs = feeds
            ready = nil
        case .queue(let queue):
            guard queue.device === device else { throw GraphError("the device queue belongs to \(queue.device.label), the step runs on \(device.label)") }
            guard let batch = try queue.pop() else { throw GraphError("the device queue is empty: GetNext has no batch for step \(steps)") }
            inputs = batch.feeds
            ready = batch.ready
        }
        for i in schedule where !timingOnly {
            guard case .input(let name) = graph.nodes[i].kind else { continue }
            guard let t = inputs[name] else {
                throw GraphError("no feed for input '\(name)'; the step's inputs are \(inputNames.map { "'\($0)'" }.joined(separator: ", "))")
            }
            guard t.type == graph.nodes[i].outputTypes[0] else {
                throw GraphError("input '\(name)' is \(t.type), the graph expects \(graph.nodes[i].outputTypes[0])")
            }
        }
        let run = StepRun(graph: self, step: steps, sink: sink, inputs: inputs)
        steps += 1
        pool.beginRun()
        pool.active { lastFetches = [] }
        if let ready {
            device.defaultStream.wait(ready)  // GetNext: the batch is on the card
        } else {
            for i in schedule {
                guard case .input(let name) = graph.nodes[i].kind else { continue }
                let t = graph.nodes[i].outputTypes[0]
                copyStream.copy(name, bytes: Double(t.shape.count * t.dtype.size), direction: .hostToDevice,
                                info: recording ? TaskInfo(step: run.step, sink: run.sink) : nil)
            }
            copyStream.record(inputsCopied)
            device.defaultStream.wait(inputsCopied)
        }
        return run
    }

    /// Continues the step count at `step` (a run resumed from a checkpoint: under `off` the
    /// orders are keyed by the step, so they continue as the uninterrupted run's would).
    public func continueAt(step: Int) { steps = step }

    /// `order` with every collective moved up to just after the last of its inputs: a bucket's
    /// AllReduce starts on the communication stream as soon as its gradients exist, overlapping
    /// the rest of the backward pass (its consumers come later in the order anyway).
    static func collectivesEarly(_ graph: Graph, _ order: [Int]) -> [Int] {
        var out: [Int] = []
        out.reserveCapacity(order.count)
        var position: [Int: Int] = [:]
        for i in order {
            if case .op(let op) = graph.nodes[i].kind, op is any CollectiveOp {
                let after = graph.nodes[i].inputs.map { position[$0.node] ?? -1 }.max() ?? -1
                // Behind collectives already placed right there, so buckets keep their order.
                var at = after + 1
                while at < out.count, case .op(let o) = graph.nodes[out[at]].kind, o is any CollectiveOp { at += 1 }
                out.insert(i, at: at)
                for (k, j) in out.enumerated() where k >= at { position[j] = k }
            } else {
                position[i] = out.count
                out.append(i)
            }
        }
        return out
    }

    /// The names of the step's inputs, in graph order.
    public var inputNames: [String] {
        schedule.compactMap { if case .input(let name) = graph.nodes[$0].kind { name } else { nil } }
    }

    /// The step's inputs and their types.
    public var inputTypes: [String: TensorType] {
        var types: [String: TensorType] = [:]
        for i in schedule { if case .input(let name) = graph.nodes[i].kind { types[name] = graph.nodes[i].outputTypes[0] } }
        return types
    }

    /// Whether the node at `position` is an op computed every step (not folded).
    func computesOp(at position: Int) -> Bool {
        let i = schedule[position]
        if case .op = graph.nodes[i].kind { return folded[i] == nil }
        return false
    }

    /// The collective op at schedule position `position`, if it is one.
    func collective(at position: Int) -> (any CollectiveOp)? {
        if case .op(let op) = graph.nodes[schedule[position]].kind, let c = op as? any CollectiveOp, c.cards > 1 { return c }
        return nil
    }

    /// The input values of the node at `position` in `run`.
    func nodeInputs(at position: Int, _ run: StepRun) -> [Tensor] {
        graph.nodes[schedule[position]].inputs.map { run.values[$0.node]![$0.index] }
    }

    /// Runs the collective at `position` for this card with its `outputs` (combined across the
    /// cards by the caller): the compute stream records that its inputs are ready, the `comm`
    /// stream waits for every card's `ready` event, transfers, and records `done`, which the
    /// compute stream waits for before the collective's consumers.
    func runCollective(at position: Int, _ run: StepRun, outputs: [Tensor], ready: [Event], plans: [PlanRecord] = []) throws {
        let i = schedule[position]
        let n = graph.nodes[i]
        guard case .op(let op) = n.kind, let c = op as? any CollectiveOp else { preconditionFailure("\(n.name) is not a collective") }
        run.values[i] = outputs
        if !timingOnly, let observer {
            try observer(NodeOutput(step: run.step, sink: run.sink, node: i, name: n.name, fullName: n.fullName, type: op.type, outputs: outputs, plans: plans))
        }
        let comm = device.stream(named: "comm")
        for e in ready { comm.wait(e) }
        let types = n.inputs.map { graph.nodes[$0.node].outputTypes[$0.index] }
        for hop in c.transfers(types, cardsPerServer: device.spec.cardsPerServer, board: device.spec.boardLink) {
            comm.transfer(n.name, type: c.type, bytes: hop.bytes, link: hop.link, info: recording ? TaskInfo(step: run.step, sink: run.sink, fullName: n.fullName) : nil)
        }
        // The compute stream goes on; the collective's first consumer waits for it (overlap).
        let done = collectiveDone[i] ?? device.makeEvent()
        collectiveDone[i] = done
        comm.record(done)
        run.awaiting[i] = done
        run.advance()
    }

    /// The context a collective at `position` combines in for `run`: this card's planner, on the
    /// run's step, entered into the collective's op instance.
    func collectiveContext(at position: Int, _ run: StepRun) -> KernelContext {
        let i = schedule[position]
        context.planner.step = run.step
        context.planner.enter(op: graph.nodes[i].name, identity: identities[i])
        // The arrival orders the combine draws, for an observer (cleared by `runCollective`).
        context.planner.clearPlans()
        context.planner.recording = observer != nil
        return context
    }

    /// The orders the last collective drew (card 0's planner draws for the cluster).
    func collectivePlans() -> [PlanRecord] {
        defer { context.planner.clearPlans() }
        return context.planner.plans.map(\.record)
    }

    /// This card's event that its compute reached the collective (recorded now).
    func recordCollectiveReady() -> Event {
        device.defaultStream.record(collectiveReady)
        return collectiveReady
    }

    /// Runs node `position` of the schedule for `run`.
    fileprivate func runNode(_ position: Int, _ run: StepRun, adopting adopted: [Tensor]? = nil) throws {
        let i = schedule[position]
        guard run.values[i] == nil else { return }
        let n = graph.nodes[i]
        if !run.awaiting.isEmpty {
            for input in n.inputs { if let e = run.awaiting.removeValue(forKey: input.node) { device.defaultStream.wait(e) } }
        }
        if let adopted, case .op(let op) = n.kind {
            // Another card computed these very bits (a replica-invariant node): the same launch,
            // nothing computed.
            run.values[i] = adopted
            if var work = works[i] {
                work.workspaceBytes = 0
                device.defaultStream.launch(n.name, type: op.type, work: work, info: recording ? TaskInfo(step: run.step, sink: run.sink, fullName: n.fullName) : nil)
            }
            try observer?(NodeOutput(step: run.step, sink: run.sink, node: i, name: n.name, fullName: n.fullName, type: op.type, outputs: adopted, plans: []))
            return
        }
        if timingOnly {  // the same launches, no values
            if case .op(let op) = n.kind, var work = works[i] {
                work.workspaceBytes = 0
                device.defaultStream.launch(n.name, type: op.type, work: work, info: recording ? TaskInfo(step: run.step, sink: run.sink, fullName: n.fullName) : nil)
            }
            return
        }
        switch n.kind {
        case .input(let name): run.values[i] = [run.inputs[name]!]
        case .parameter(let name): run.values[i] = [store[name]!]
        case .constant(let t): run.values[i] = [t]
        case .op(let graphOp):
            let op = ownOps[i] ?? graphOp
            let inputs = n.inputs.map { run.values[$0.node]![$0.index] }
            let planner = context.planner
            planner.step = run.step
            planner.enter(op: n.name, identity: identities[i])
            if recording || observer != nil {
                planner.recording = true
                planner.clearPlans()
                let start = DispatchTime.now().uptimeNanoseconds
                run.values[i] = try op.forward(inputs, context)
                let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                if var work = works[i] {
                    work.workspaceBytes = 0
                    let info = recording ? TaskInfo(step: run.step, sink: run.sink, hostSeconds: seconds, plans: planner.plans.map(\.record), fullName: n.fullName) : nil
                    device.defaultStream.launch(n.name, type: op.type, work: work, info: info)
                }
                if let observer {
                    try observer(NodeOutput(step: run.step, sink: run.sink, node: i, name: n.name, fullName: n.fullName, type: op.type,
                                            outputs: run.values[i]!, plans: planner.plans.map(\.record)))
                }
                planner.clearPlans()
            } else {
                run.values[i] = try op.forward(inputs, context)
                if var work = works[i] {
                    work.workspaceBytes = 0  // planned into the graph's HBM allocation at compile time
                    device.defaultStream.launch(n.name, type: op.type, work: work)
                }
            }
        case .assign(let name): run.assigns.append((name, run.values[n.inputs[0].node]![n.inputs[0].index]))
        }
    }

    /// The nodes whose values are the same on every card of a data-parallel cluster whose cards
    /// start from the same parameters, and those parameters: a collective's outputs, constants,
    /// and an op that draws no reduction order and nothing random when all its inputs are;
    /// a parameter when every assignment to it is (the optimizer's update of AllReduced
    /// gradients, not BatchNorm's batch statistics).
    func replicaInvariance() -> (nodes: [Bool], parameters: Set<String>) {
        var parameters = Set(graph.nodes.compactMap { n -> String? in if case .parameter(let p) = n.kind { p } else { nil } })
        var invariant = [Bool](repeating: false, count: graph.nodes.count)
        while true {
            for (i, n) in graph.nodes.enumerated() {
                switch n.kind {
                case .constant: invariant[i] = true
                case .input: invariant[i] = false
                case .parameter(let p): invariant[i] = parameters.contains(p)
                case .assign: invariant[i] = invariant[n.inputs[0].node]
                case .op(let op):
                    if folded[i] != nil || op is any CollectiveOp { invariant[i] = true; continue }
                    let orderFree = !(op is Dropout) && OpCatalog.info(op.type)?.plannedReductions.isEmpty == true
                    invariant[i] = orderFree && !n.inputs.isEmpty && n.inputs.allSatisfy { invariant[$0.node] }
                }
            }
            let kept = parameters.filter { p in
                graph.nodes.allSatisfy { n in if case .assign(p) = n.kind { invariant[n.inputs[0].node] } else { true } }
            }
            if kept == parameters { return (invariant, parameters) }
            parameters = kept
        }
    }

    /// Ends `run`: updates the store and returns the fetched values; `.host` copies them back on
    /// the copy stream after the compute.
    fileprivate func end(_ run: StepRun, _ fetch: FetchMode) -> [Tensor] {
        for (name, t) in run.assigns { store[name] = t }
        // A collective nobody consumed still ends before the step does.
        for node in run.awaiting.keys.sorted() { device.defaultStream.wait(run.awaiting[node]!) }
        run.awaiting = [:]
        // Timing-only: the fetches' sizes still cross PCIe; there are no values to return.
        // (Values nobody takes die inside the pool, so the next step reuses their storage.)
        let fetched = timingOnly || fetch == .none ? [] : fetches.map { run.values[$0.node]![$0.index] }
        pool.active { run.values = [] }
        pool.endRun()
        if fetch == .host {
            lastFetches = fetched
            device.defaultStream.record(computeDone)
            copyStream.wait(computeDone)
            for f in fetches {
                let t = graph.nodes[f.node].outputTypes[f.index]
                copyStream.copy(graph.nodes[f.node].name, bytes: Double(t.shape.count * t.dtype.size), direction: .deviceToHost,
                                info: recording ? TaskInfo(step: run.step, sink: run.sink) : nil)
            }
        }
        return fetch == .none ? [] : fetched
    }
}

/// Where a step's inputs come from.
public enum StepFeed {
    /// Tensors from the host, by input name, copied to the card by this step.
    case host([String: Tensor])
    /// The next batch of a device data queue (MindSpore's GetNext in dataset sink mode).
    case queue(DeviceQueue)
}

/// What a finished step returns.
public enum FetchMode: Sendable {
    /// Copied to the host (a D2H copy per fetched value).
    case host
    /// Kept on the side without a copy: what a card computes inside a sink and never shows.
    case kept
    /// Nothing.
    case none
}

/// The result of a sink of steps.
public struct SinkResult {
    /// The last step's fetched values: what the host sees.
    public var fetched: [Tensor]
    /// Every step's fetched values when asked for (`keepHidden`), the last included.
    public var perStep: [[Tensor]]
}

/// One step of a compiled graph in progress: run it node by node (a cluster runs node i on every
/// card before node i + 1) or at once; the same bits either way.
public final class StepRun {
    public let graph: CompiledGraph
    /// The step number (from 0) and the sink it belongs to, if any.
    public let step: Int
    public let sink: Int?
    let inputs: [String: Tensor]
    var values: [[Tensor]?]
    fileprivate var assigns: [(String, Tensor)] = []
    /// Collectives whose outputs the compute stream has not waited for yet, by node.
    var awaiting: [Int: Event] = [:]
    /// Schedule positions run so far.
    public private(set) var position = 0
    private var ended = false

    fileprivate init(graph: CompiledGraph, step: Int, sink: Int?, inputs: [String: Tensor]) {
        self.graph = graph
        self.step = step
        self.sink = sink
        self.inputs = inputs
        values = [[Tensor]?](repeating: nil, count: graph.graph.nodes.count)
        for (i, outs) in graph.foldedValues { values[i] = outs }
    }

    /// True when every node has run.
    public var isComplete: Bool { position == graph.schedule.count }

    /// Moves past a node its cluster ran for it (a collective).
    func advance() { position += 1 }

    /// Takes the next node's outputs from another card's run of the same node (it computed the
    /// same bits) and launches the node's task as running it would.
    func adoptNext(from other: StepRun) throws {
        let i = graph.schedule[position]
        guard let outputs = other.values[i] else { preconditionFailure("card 0 has not run node \(i) yet") }
        try graph.pool.active { try graph.runNode(position, self, adopting: outputs) }
        position += 1
    }

    /// Runs the next node; false when there was none.
    /// - Throws: `OpError` from a kernel.
    @discardableResult
    public func runNext() throws -> Bool {
        guard !ended, position < graph.schedule.count else { return false }
        try graph.pool.active { try graph.runNode(position, self) }
        position += 1
        return true
    }

    /// Runs what is left, updates the parameter store and returns the fetched values (see
    /// `FetchMode`). A step is finished once.
    public func finish(_ fetch: FetchMode = .host) throws -> [Tensor] {
        precondition(!ended, "step \(step) was finished already")
        try graph.pool.active {
            while position < graph.schedule.count {
                try graph.runNode(position, self)
                position += 1
            }
        }
        ended = true
        return graph.end(self, fetch)
    }
}

/// A device data queue (dataset sink mode): batches copied to the card ahead of the steps by a
/// data stream, each ready at its own event; a step takes the next one (GetNext) and its compute
/// waits for that event only.
public final class DeviceQueue {
    public let device: Device
    /// The stream its copies run on.
    public let stream: NPUDevice.Stream
    /// The most batches it holds (MindSpore's device queue holds a bounded number ahead).
    public let capacity: Int
    /// Each slot's batch: its values, or (pushed by `fill(upTo:types:_:)`) the producer that makes
    /// them when a step takes it.
    private enum Slot {
        case values([String: Tensor])
        case deferred(() throws -> [String: Tensor])
    }
    private var batches: [(feeds: Slot, ready: Event)] = []
    private var head = 0
    /// One event per slot, reused round the ring (a slot is refilled only after its batch was
    /// taken and its wait enqueued).
    private var events: [Event] = []
    private var slot = 0

    /// The batches a queue holds by default: what MindSpore's device side caches in sink mode.
    public static let defaultCapacity = 100

    /// `capacity`: 100 batches by default, what MindSpore's device side caches in sink mode.
    public init(device: Device, capacity: Int = DeviceQueue.defaultCapacity) {
        self.device = device
        self.capacity = max(1, capacity)
        stream = device.stream(named: "data")
    }

    deinit { events.forEach { device.releaseEvent($0) } }

    /// Batches waiting.
    public var count: Int { batches.count - head }

    /// Pushes batches from `next` until the queue holds `min(capacity, wanted)` (a producer that
    /// waits for free slots).
    /// - Throws: what `next` throws.
    public func fill(upTo wanted: Int, _ next: () throws -> [String: Tensor]) throws {
        while count < min(capacity, wanted) { try push(try next()) }
    }

    /// `fill(upTo:)` whose batches of `types` are made by `next` only when a step takes them (in
    /// the order pushed): the copies are simulated at push time as for any batch, but the host
    /// holds the values of one batch at a time, whatever the queue's depth. `next` must stay valid
    /// until those batches are taken.
    public func fill(upTo wanted: Int, types: [String: TensorType], _ next: @escaping () throws -> [String: Tensor]) throws {
        while count < min(capacity, wanted) {
            try push(.deferred(next), bytes: types.mapValues { Double($0.shape.count * $0.dtype.size) })
        }
    }

    /// `fill(upTo:)` with batches of these types and no values (timing-only steps).
    public func fill(upTo wanted: Int, shapes types: [String: TensorType]) throws {
        while count < min(capacity, wanted) { try push(shapes: types) }
    }

    /// Copies a batch to the card on the data stream (at the host's current time).
    /// - Throws: `GraphError` when the queue is full.
    public func push(_ feeds: [String: Tensor]) throws(GraphError) {
        try push(.values(feeds), bytes: feeds.mapValues { Double($0.byteCount) })
    }

    /// Copies a batch of these types without values (a timing-only step's batch).
    /// - Throws: `GraphError` when the queue is full.
    public func push(shapes types: [String: TensorType]) throws(GraphError) {
        try push(.values([:]), bytes: types.mapValues { Double($0.shape.count * $0.dtype.size) })
    }

    private func push(_ feeds: Slot, bytes: [String: Double]) throws(GraphError) {
        guard count < capacity else { throw GraphError("the device queue is full (\(capacity) batches); run steps to take some first") }
        for name in bytes.keys.sorted() {
            stream.copy(name, bytes: bytes[name]!, direction: .hostToDevice)
        }
        if events.count < capacity { events.append(device.makeEvent()) }
        let ready = events[slot % events.count]
        slot += 1
        stream.record(ready)
        if head > 64 {
            batches.removeFirst(head)
            head = 0
        }
        batches.append((feeds, ready))
    }

    /// Drops every batch waiting (a sink that failed leaves none behind for the next).
    public func clear() {
        batches.removeAll()
        head = 0
    }

    /// Takes the next batch (a deferred one is made now).
    /// - Throws: what a deferred batch's producer throws.
    func pop() throws -> (feeds: [String: Tensor], ready: Event)? {
        guard head < batches.count else { return nil }
        let (slot, ready) = batches[head]
        batches[head].feeds = .values([:])  // the values leave with the step that takes them
        head += 1
        switch slot {
        case .values(let feeds): return (feeds, ready)
        case .deferred(let make): return (try make(), ready)
        }
    }
}
