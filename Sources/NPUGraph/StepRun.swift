import Foundation
import NPUDevice
import NPUOps
import NPURandom
import NPUTensor

// The executor: a compiled graph's steps, launched by the host or from a device queue, run node
// by node as tasks on the card's streams.

extension CompiledGraph {
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
        for i in schedule where !timingOnly && !ghost {
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

    /// Runs node `position` of the schedule for `run`.
    func runNode(_ position: Int, _ run: StepRun, adopting adopted: [Tensor]? = nil) throws {
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
            launchKernels(after: i, run)
            try observer?(NodeOutput(step: run.step, sink: run.sink, node: i, name: n.name, fullName: n.fullName, type: op.type, outputs: adopted, plans: []))
            return
        }
        if timingOnly || ghost {  // the same launches, no values
            // A ghost's kernels are those of the cards computed here, alike in time: they are
            // launched only for a profile or trace, which shows every card's.
            if case .op = n.kind, !ghost || recording { launchKernels(after: i, run) }
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
                if recording, let g = kernels.groupOf[i] {
                    run.groupSeconds[g, default: 0] += seconds
                    run.groupPlans[g, default: []] += planner.plans.map(\.record)
                }
                launchKernels(after: i, run)
                if let observer {
                    try observer(NodeOutput(step: run.step, sink: run.sink, node: i, name: n.name, fullName: n.fullName, type: op.type,
                                            outputs: run.values[i]!, plans: planner.plans.map(\.record)))
                }
                planner.clearPlans()
            } else {
                run.values[i] = try op.forward(inputs, context)
                launchKernels(after: i, run)
            }
        case .assign(let name):
            // A conditional assignment happens only when its condition (a bool scalar) holds.
            if n.inputs.count < 2 || run.values[n.inputs[1].node]![n.inputs[1].index].doubles()[0] != 0 {
                run.assigns.append((name, run.values[n.inputs[0].node]![n.inputs[0].index]))
            }
        }
    }

    /// Launches the kernels planned after node `i` (none while a fused kernel waits for its
    /// last member). Workspaces are in the graph's HBM allocation, planned at compile time.
    private func launchKernels(after i: Int, _ run: StepRun) {
        for k in kernels.launches[i] {
            var work = k.work
            work.workspaceBytes = 0
            var info: TaskInfo?
            if recording {
                info = TaskInfo(step: run.step, sink: run.sink, hostSeconds: run.groupSeconds.removeValue(forKey: k.group) ?? 0,
                                plans: run.groupPlans.removeValue(forKey: k.group) ?? [], fullName: k.fullName ?? graph.nodes[i].fullName,
                                fusedOps: k.fusedOps)
            }
            device.defaultStream.launch(k.name, type: k.type, work: work, info: info)
        }
    }

    /// Ends `run`: updates the store and returns the fetched values; `.host` copies them back on
    /// the copy stream after the compute.
    func end(_ run: StepRun, _ fetch: FetchMode) -> [Tensor] {
        for (name, t) in run.assigns { store[name] = t }
        // A collective nobody consumed still ends before the step does.
        for node in run.awaiting.keys.sorted() { device.defaultStream.wait(run.awaiting[node]!) }
        run.awaiting = [:]
        // Timing-only: the fetches' sizes still cross PCIe; there are no values to return.
        // (Values nobody takes die inside the pool, so the next step reuses their storage.)
        let fetched = timingOnly || ghost || fetch == .none ? [] : fetches.map { run.values[$0.node]![$0.index] }
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
    /// Host seconds and reduction plans of kernels whose launch waits for a later member, by group.
    var groupSeconds: [Int: Double] = [:]
    var groupPlans: [Int: [PlanRecord]] = [:]
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
