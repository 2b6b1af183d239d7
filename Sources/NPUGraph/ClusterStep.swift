import NPUDevice
import NPUOps
import NPUTensor

/// One compiled step per card of a cluster, run in lockstep: node i on every card before node
/// i + 1. A collective node gathers its inputs from every card, combines them once and gives each
/// card its outputs; its transfer runs on each card's `comm` stream after every card's compute
/// reached it (cross-card event waits), overlapping whatever compute does not depend on it.
public final class ClusterStep {
    public let cluster: Cluster
    /// The cards' compiled steps, in card order.
    public let graphs: [CompiledGraph]

    /// Set when other processes compute some of the cards (`CardExchange`): the cards outside
    /// `localCards` are ghosts here.
    public let exchange: (any CardExchange)?
    /// The cards this process computes, and the first of them, which computes the nodes every
    /// card computes alike.
    private var local: Range<Int> { exchange?.localCards ?? 0..<graphs.count }
    private var lead: Int { local.lowerBound }

    /// - Parameter exchange: set when other processes compute the cards outside its
    ///   `localCards`; those graphs become ghosts here.
    /// - Throws: `GraphError` unless there is one graph per card, on that card, all with the same
    ///   schedule (the same program), and `exchange`'s cards are some of them.
    public init(cluster: Cluster, graphs: [CompiledGraph], exchange: (any CardExchange)? = nil) throws(GraphError) {
        guard graphs.count == cluster.devices.count else {
            throw GraphError("a cluster step needs one compiled graph per card: \(cluster.devices.count) cards, \(graphs.count) graphs")
        }
        for (k, g) in graphs.enumerated() {
            guard g.device === cluster.devices[k] else { throw GraphError("graph \(k) runs on \(g.device.label), not on card \(k) of the cluster") }
            guard g.timingOnly == graphs[0].timingOnly,
                  g.schedule.map({ g.graph.nodes[$0].name }) == graphs[0].schedule.map({ graphs[0].graph.nodes[$0].name }) else {
                throw GraphError("card \(k)'s graph differs from card 0's: every card must run the same program")
            }
        }
        self.cluster = cluster
        self.graphs = graphs
        self.exchange = exchange
        if let exchange {
            guard !exchange.localCards.isEmpty, exchange.localCards.clamped(to: 0..<graphs.count) == exchange.localCards else {
                throw GraphError("this process computes cards \(exchange.localCards) of a cluster of \(graphs.count)")
            }
            for (k, g) in graphs.enumerated() { g.ghost = !exchange.localCards.contains(k) }
        }
        if graphs.count > 1 && !graphs[0].timingOnly { (invariant, invariantParameters) = graphs[0].replicaInvariance() }
    }

    /// Nodes every card computes the same bits for (card 0 computes them, the others adopt its
    /// outputs and still run the tasks), and the parameters they keep identical.
    private var invariant: [Bool] = []
    private var invariantParameters: Set<String> = []

    /// Makes every card hold card 0's tensor of each replica-invariant parameter (one copy in
    /// memory, as identical bits); false when some card's value differs (a card loaded or set
    /// on its own), and then every card computes everything this step.
    private func shareInvariantParameters() -> Bool {
        guard !invariantParameters.isEmpty else { return false }
        for name in invariantParameters {
            guard let mine = graphs[lead].store[name] else { return false }
            for g in graphs[local].dropFirst() {
                guard let theirs = g.store[name] else { return false }
                if theirs.sharesStorage(with: mine) { continue }
                guard theirs.hasSameBits(as: mine) else { return false }
                g.store[name] = mine
            }
        }
        return true
    }

    /// One host-launched step on every card: card k's inputs are `feeds[k]` (its shard). Returns
    /// every card's fetched values.
    /// - Throws: `GraphError` for feeds that do not fit; `OpError` from a kernel or a collective.
    public func step(_ feeds: [[String: Tensor]]) throws -> [[Tensor]] {
        guard feeds.count == graphs.count else { throw GraphError("\(graphs.count) cards need \(graphs.count) feeds (one shard each), got \(feeds.count)") }
        for g in graphs { g.device.hostWork("GraphLaunch", "step \(g.steps)", duration: g.device.spec.host.graphLaunch) }
        let runs = try zip(graphs, feeds).map { g, f in try g.begin(.host(f)) }
        let early = try lockstep(runs, fetch: .host)
        return try fetched(try runs.map { try $0.finish(.host) }, .host, early: early)
    }

    /// Every card's fetches: the ghosts' from the processes that computed them, gathered with a
    /// collective (`early`) or, when a fetch was computed after the last one, now.
    private func fetched(_ values: [[Tensor]], _ mode: FetchMode, early: [[Tensor]]?) throws -> [[Tensor]] {
        guard let exchange, mode != .none else { return values }
        if let early { return values.indices.map { graphs[$0].ghost ? early[$0] : values[$0] } }
        return try exchange.gather(Array(values[local]), types: graphs[lead].fetchTypes, cards: graphs.count,
                                   what: "the exchange of the fetched values of step \(graphs[lead].steps)")
    }

    /// Every card's device data queue (made on first use).
    private var queues: [DeviceQueue] = []
    /// Sinks run so far.
    public private(set) var sinks = 0

    /// Dataset sink mode on every card: `batches[k]` are card k's batches, one per step, pushed to
    /// its device data queue; one sink launch per card, then the steps run from the queues in
    /// lockstep with no host synchronisation between them. Returns every card's fetches of the
    /// last step and, with `keepHidden`, of every step (the values a sink hides, kept on the side).
    /// - Throws: `GraphError` for batches that do not fit; `OpError` from a kernel or a collective.
    public func sink(_ batches: [[[String: Tensor]]], keepHidden: Bool = false) throws -> (last: [[Tensor]], perStep: [[[Tensor]]]) {
        guard batches.count == graphs.count, let n = batches.first?.count, n > 0, batches.allSatisfy({ $0.count == n }) else {
            throw GraphError("a sink on \(graphs.count) cards needs the same number (at least 1) of batches for every card")
        }
        var taken = Array(repeating: 0, count: graphs.count)
        return try sink(steps: n, keepHidden: keepHidden) { k in
            defer { taken[k] += 1 }
            return batches[k][taken[k]]
        }
    }

    /// Dataset sink mode on every card with batches drawn as the queues have room: `next(k)` gives
    /// card k's next batch. Each card's queue holds at most its capacity, so a sink of any length
    /// holds at most that many batches per card.
    /// - Throws: `GraphError` for batches that do not fit; `OpError`; what `next` throws.
    public func sink(steps n: Int, keepHidden: Bool = false, next: (Int) throws -> [String: Tensor]) throws -> (last: [[Tensor]], perStep: [[[Tensor]]]) {
        guard n > 0 else { throw GraphError("a sink runs at least 1 step, got \(n)") }
        // Batches are made as steps take them: the host holds one per card at a time.
        let types = graphs[0].inputTypes
        return try withoutActuallyEscaping(next) { next in
            do {
                return try sink(steps: n, keepHidden: keepHidden) { k, q, wanted in try q.fill(upTo: wanted, types: types) { try next(k) } }
            } catch {
                queues.forEach { $0.clear() }
                throw error
            }
        }
    }

    /// A sink of `n` timing-only steps on every card: batches of `types` go through each card's
    /// queue (copies without values).
    public func simulateSink(steps n: Int, types: [String: TensorType]) throws {
        guard n > 0 else { throw GraphError("a sink runs at least 1 step, got \(n)") }
        _ = try sink(steps: n, keepHidden: false) { _, q, wanted in try q.fill(upTo: wanted, shapes: types) }
    }

    /// `fill(k, queue, wanted)` tops card k's queue up to `wanted` batches (at most its capacity):
    /// before the launch, and before each step with the steps left.
    private func sink(steps n: Int, keepHidden: Bool, fill given: (Int, DeviceQueue, Int) throws -> Void) throws -> (last: [[Tensor]], perStep: [[[Tensor]]]) {
        if queues.isEmpty { queues = graphs.map { DeviceQueue(device: $0.device) } }
        // A ghost's queue takes batches of shapes alone: their values are another process's.
        let types = graphs[0].inputTypes
        func fill(_ k: Int, _ q: DeviceQueue, _ wanted: Int) throws {
            if graphs[k].ghost { try q.fill(upTo: wanted, shapes: types) } else { try given(k, q, wanted) }
        }
        for (k, q) in queues.enumerated() { try fill(k, q, n) }
        for g in graphs { g.device.hostWork("SinkLaunch", "sink of \(n) steps", duration: g.device.spec.host.sinkLaunch) }
        defer { sinks += 1 }
        var hidden: [[[Tensor]]] = [], last: [[Tensor]] = []
        for step in 0..<n {
            for (k, q) in queues.enumerated() { try fill(k, q, n - step) }
            let runs = try zip(graphs, queues).map { g, q in try g.begin(.queue(q), sink: sinks) }
            let mode: FetchMode = step == n - 1 ? .host : keepHidden ? .kept : .none
            let early = try lockstep(runs, fetch: mode)
            let fetched = try fetched(try runs.map { try $0.finish(mode) }, mode, early: early)
            if keepHidden { hidden.append(fetched) }
            if step == n - 1 { last = fetched }
        }
        return (last, hidden)
    }

    /// Node i on every card before node i + 1; a collective combines every card's inputs once.
    /// Split across processes, the first collective after the fetches (`fetch` ≠ `.none`) are
    /// computed carries them too: one exchange per step instead of two. Returns every card's
    /// fetches when it did.
    private func lockstep(_ runs: [StepRun], fetch: FetchMode) throws -> [[Tensor]]? {
        let share = shareInvariantParameters()
        var early: [[Tensor]]?
        for position in 0..<graphs[0].schedule.count {
            if share && invariant[graphs[0].schedule[position]] && graphs[0].computesOp(at: position) && graphs[0].collective(at: position) == nil {
                try runs[lead].runNext()
                for (k, r) in runs.enumerated() where k != lead {
                    if graphs[k].ghost { try r.runNext() } else { try r.adoptNext(from: runs[lead]) }
                }
                continue
            }
            if let op = graphs[0].collective(at: position) {
                // Timing-only steps carry no values: only the transfers are simulated.
                var outputs: [[Tensor]] = Array(repeating: [], count: graphs.count)
                if !graphs[0].timingOnly {
                    var inputs = zip(graphs, runs).map { g, r in g.ghost ? [] : g.nodeInputs(at: position, r) }
                    if let exchange {
                        let node = graphs[lead].graph.nodes[graphs[lead].schedule[position]]
                        var types = node.inputs.map { graphs[lead].graph.nodes[$0.node].outputTypes[$0.index] }
                        var sent = Array(inputs[local])
                        // Every process decides alike: the schedule is the same everywhere.
                        let carries = early == nil && fetch != .none && graphs[lead].fetchesComputed(runs[lead])
                        if carries {
                            types += graphs[lead].fetchTypes
                            sent = zip(sent, local).map { $0 + graphs[$1].fetchedValues(runs[$1]) }
                        }
                        let all = try exchange.gather(sent, types: types, cards: graphs.count,
                                                      what: "\(op.type) '\(node.name)' of step \(runs[lead].step + 1)")
                        inputs = carries ? all.map { Array($0.prefix(node.inputs.count)) } : all
                        if carries { early = all.map { Array($0.dropFirst(node.inputs.count)) } }
                    }
                    outputs = try op.combine(inputs, graphs[0].collectiveContext(at: position, runs[0]))
                }
                for k in outputs.indices where graphs[k].ghost { outputs[k] = [] }
                var gathered: Event?
                for g in graphs { gathered = g.joinCollective(after: gathered) }
                let plans = graphs[0].timingOnly ? [] : graphs[0].collectivePlans()
                for (k, g) in graphs.enumerated() { try g.runCollective(at: position, runs[k], outputs: outputs[k], ready: [gathered!], plans: plans) }
            } else {
                for r in runs { try r.runNext() }
            }
        }
        return early
    }
}
