import Foundation
import NPUDevice
import NPUOps
import NPURandom
import NPUTensor

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
    var folded: [Int: [Tensor]] = [:]
    /// Values computed at compile time (constant folding), by node.
    var foldedValues: [Int: [Tensor]] { folded }
    /// Steps are simulated without values (see `init`).
    public let timingOnly: Bool
    /// Another process computes this card (`CardExchange`): its steps compute no values; when
    /// recording they launch the same kernels, so its timeline is the card's. Not recording, they
    /// launch only their copies and collectives: every card's compute takes the same simulated
    /// time, so the cards computed here reach each collective exactly when all would.
    public var ghost = false
    /// The types of the fetched values.
    var fetchTypes: [TensorType] { fetches.map { graph.nodes[$0.node].outputTypes[$0.index] } }
    /// Records per launch what the profile needs (step, sink, host time, reduction plans) into
    /// the device's timeline; off by default (nothing kept, nothing measured).
    public var recording = false
    /// The step's own random kernels: each Dropout node gets a fresh generator from its seeds, so
    /// a rebuilt graph starts afresh (as MindSpore's does) and two steps built from one network
    /// never share a generator.
    var ownOps: [Int: any OpDef] = [:]
    /// Each op node's order identity (`ReductionPlanner.identity(of:)` of its name), hashed once.
    var identities: [UInt64] = []
    /// Each op node's declared work (its input types are fixed at compile time).
    var works: [Work?] = []
    /// The card's kernels: what each node launches once it has run (fusion, splits, storage
    /// precision; `planKernels`).
    var kernels = KernelPlan(launches: [], groupOf: [])
    /// How the ops became kernels.
    public let kernelOptions: KernelOptions
    let copyStream: NPUDevice.Stream
    /// Recorded every step: the inputs are on the card; the compute that produces the fetches is done.
    let inputsCopied: Event
    let computeDone: Event
    /// Collectives: compute reached one (waited for by every card's comm stream); it is done.
    let collectiveReady: Event
    /// Each collective's completion on the `comm` stream, waited for by its first consumer.
    var collectiveDone: [Int: Event] = [:]
    /// This card's link of the chain that finds when every card reached a collective.
    var collectiveGathered: Event?
    var allocation: Allocation?
    /// Steps begun so far (the next step's number).
    public internal(set) var steps = 0
    /// Called with every op's outputs as the step computes them (numeric steps only), with the
    /// reduction plans its launch used: what `npusim localize` compares. Nil: nothing is done.
    public var observer: ((NodeOutput) throws -> Void)?
    /// Recycles the step's tensors: from the second step on, a step allocates no tensor storage.
    public let pool = StoragePool()
    /// The previous step's fetched tensors, released inside the next step so that they return to
    /// the pool (if the caller has let them go).
    var lastFetches: [Tensor] = []

    /// - Throws: `GraphError` for a graph that does not fit the card's HBM (naming the largest
    ///   buffers) or that reads a parameter the store does not hold.
    /// - Parameter timingOnly: run steps through the streams, scheduler and cost model without
    ///   computing values (same tasks, events and times as a numeric run); parameters need only
    ///   be declared in the store, feeds may be omitted, and steps fetch nothing.
    /// - Parameter kernels: fusion and storage precision of the card's kernels (timing only;
    ///   the values are the same). Default: every op a kernel of its own, float32 storage.
    public init(_ graph: Graph, fetches: [GraphValue], device: Device, store: ParameterStore, planner: ReductionPlanner,
                timingOnly: Bool = false, kernels options: KernelOptions = KernelOptions()) throws(GraphError) {
        self.timingOnly = timingOnly
        kernelOptions = options
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
        kernels = Self.planKernels(graph, schedule: schedule, folded: folded, works: works, fetches: fetches, options: options)
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
        (kernels, kernelOptions) = (other.kernels, other.kernelOptions)
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
    /// The random kernels the step keeps between launches (Dropout's), by node name.
    public var randomKernels: [(name: String, kernel: RandomKernel)] {
        ownOps.keys.sorted().compactMap { i in (ownOps[i] as? Dropout).map { (graph.nodes[i].name, $0.kernel) } }
    }

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
        if let collectiveGathered { device.releaseEvent(collectiveGathered) }
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
        let owner = Self.viewOwners(graph, schedule: schedule, folded: folded)
        func root(_ v: GraphValue) -> GraphValue { owner[v] ?? v }
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

    /// The value each view's outputs alias: an op that launches no kernel (Reshape, the cube's
    /// view of a float16 operand) is a view of its first input's buffer (through views, to the
    /// value that owns it).
    static func viewOwners(_ graph: Graph, schedule: [Int], folded: [Int: [Tensor]]) -> [GraphValue: GraphValue] {
        var owner: [GraphValue: GraphValue] = [:]
        for i in schedule {
            if case .op(let op) = graph.nodes[i].kind, !op.launchesKernel, folded[i] == nil, let first = graph.nodes[i].inputs.first {
                for k in graph.nodes[i].outputTypes.indices { owner[GraphValue(node: i, index: k)] = owner[first] ?? first }
            }
        }
        return owner
    }

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

    /// Whether `run` has computed every fetched value (`fetchedValues`).
    func fetchesComputed(_ run: StepRun) -> Bool {
        fetches.allSatisfy { run.values[$0.node] != nil }
    }

    /// The fetched values `run` has computed, in `fetches` order.
    func fetchedValues(_ run: StepRun) -> [Tensor] {
        fetches.map { run.values[$0.node]![$0.index] }
    }

    /// The input values of the node at `position` in `run`.
    func nodeInputs(at position: Int, _ run: StepRun) -> [Tensor] {
        graph.nodes[schedule[position]].inputs.map { run.values[$0.node]![$0.index] }
    }

    /// Runs the collective at `position` for this card with its `outputs` (combined across the
    /// cards by the caller): the `comm` stream waits for the `ready` events (every card's arrival,
    /// `joinCollective`), transfers, and records `done`, which the compute stream waits for
    /// before the collective's consumers.
    func runCollective(at position: Int, _ run: StepRun, outputs: [Tensor], ready: [Event], plans: [PlanRecord] = []) throws {
        let i = schedule[position]
        let n = graph.nodes[i]
        guard case .op(let op) = n.kind, let c = op as? any CollectiveOp else { preconditionFailure("\(n.name) is not a collective") }
        run.values[i] = outputs
        if !timingOnly && !ghost, let observer {
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

    /// This card's link of the chain that finds when every card has reached the collective: the
    /// `comm` stream waits for this card's compute and for the previous card's link, then records
    /// its own, so the last card's link completes when every card's compute and comm stream
    /// reached the collective — as a collective starts when all its members have entered it. A
    /// chain costs each card three tasks per collective where waiting for every card cost N.
    func joinCollective(after previous: Event?) -> Event {
        device.defaultStream.record(collectiveReady)
        let comm = device.stream(named: "comm")
        comm.wait(collectiveReady)
        if let previous { comm.wait(previous) }
        let link = collectiveGathered ?? device.makeEvent()
        collectiveGathered = link
        comm.record(link)
        return link
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

}
