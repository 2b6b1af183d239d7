import NPUDevice
import NPUOps
import NPURandom
import NPUTensor

/// Named tensors that outlive steps: parameters, optimizer state, moving statistics.
public final class ParameterStore {
    public private(set) var values: [String: Tensor] = [:]
    /// Names in creation order (MindSpore's parameter order).
    public private(set) var names: [String] = []

    public init() {}

    public subscript(name: String) -> Tensor? {
        get { values[name] }
        set {
            if values[name] == nil, newValue != nil { names.append(name) }
            values[name] = newValue
        }
    }
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
    /// The step's own random kernels: each Dropout node gets a fresh generator from its seeds, so
    /// a rebuilt graph starts afresh (as MindSpore's does) and two steps built from one network
    /// never share a generator.
    private var ownOps: [Int: any OpDef] = [:]
    /// Each op node's order identity (`ReductionPlanner.identity(of:)` of its name), hashed once.
    private var identities: [UInt64] = []
    /// Each op node's declared work (its input types are fixed at compile time).
    private var works: [Work?] = []
    private let copyStream: Stream
    /// Recorded every step: the inputs are on the card; the compute that produces the fetches is done.
    private let inputsCopied: Event
    private let computeDone: Event
    private var allocation: Allocation?
    /// Steps run so far.
    public private(set) var steps = 0
    /// Recycles the step's tensors: from the second step on, a step allocates no tensor storage.
    public let pool = StoragePool()
    /// The previous step's fetched tensors, released inside the next step so that they return to
    /// the pool (if the caller has let them go).
    private var lastFetches: [Tensor] = []

    /// - Throws: `GraphError` for a graph that does not fit the card's HBM (naming the largest
    ///   buffers) or that reads a parameter the store does not hold.
    public init(_ graph: Graph, fetches: [GraphValue], device: Device, store: ParameterStore, planner: ReductionPlanner) throws(GraphError) {
        self.graph = graph
        self.device = device
        self.store = store
        self.fetches = fetches
        context = KernelContext(planner: planner)
        copyStream = device.stream(named: "copy")
        inputsCopied = device.makeEvent()
        computeDone = device.makeEvent()
        memory = MemoryPlan(peakBytes: 0, residentBytes: 0, largest: [])
        // Dead-code removal: what the fetches and the assignments need.
        var live = Set(fetches.map(\.node))
        for (i, n) in graph.nodes.enumerated() { if case .assign = n.kind { live.insert(i) } }
        for i in graph.nodes.indices.reversed() where live.contains(i) { live.formUnion(graph.nodes[i].inputs.map(\.node)) }
        schedule = graph.nodes.indices.filter(live.contains)
        for i in schedule {
            if case .parameter(let name) = graph.nodes[i].kind {
                guard let t = store[name] else { throw GraphError("\(graph.nodes[i].name): parameter '\(name)' is not in the parameter store") }
                guard t.type == graph.nodes[i].outputTypes[0] else {
                    throw GraphError("\(graph.nodes[i].name): parameter '\(name)' is \(t.type) in the store, the graph expects \(graph.nodes[i].outputTypes[0])")
                }
            }
        }
        identities = [UInt64](repeating: 0, count: graph.nodes.count)
        for i in schedule {
            guard case .op(let op) = graph.nodes[i].kind else { continue }
            identities[i] = ReductionPlanner.identity(of: graph.nodes[i].name)
            if let op = op as? Dropout {
                ownOps[i] = Dropout(keepProb: op.keepProb, kernel: RandomKernel(op.kernel.kind, seeds: op.kernel.seeds))
            }
        }
        foldConstants()
        works = graph.nodes.map { n in
            guard case .op(let op) = n.kind, op.launchesKernel else { return nil }
            return op.work(n.inputs.map { graph.nodes[$0.node].outputTypes[$0.index] }, n.outputTypes)
        }
        memory = planMemory()
        let capacity = device.spec.hbmBytes - device.memoryInUse
        let needed = memory.peakBytes + memory.residentBytes
        guard needed <= capacity else {
            let top = memory.largest.prefix(3).map { "\($0.0) \(formatBytes($0.1))" }.joined(separator: ", ")
            throw GraphError("the graph needs \(formatBytes(needed)) of HBM (\(formatBytes(memory.residentBytes)) parameters and inputs, \(formatBytes(memory.peakBytes)) peak of intermediate values) but \(device.label) has \(formatBytes(capacity)) free; largest buffers: \(top)")
        }
        do {
            allocation = try device.allocate(needed, for: "compiled graph")
        } catch {
            throw GraphError(error.description)
        }
    }

    deinit {
        if let allocation { device.free(allocation) }
        device.releaseEvent(inputsCopied)
        device.releaseEvent(computeDone)
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
        var lastUse: [Int: Int] = [:]
        for (position, i) in schedule.enumerated() { for v in graph.nodes[i].inputs { lastUse[v.node] = position } }
        for f in fetches { lastUse[f.node] = schedule.count }
        var inUse: Int64 = 0, peak: Int64 = 0, resident: Int64 = 0
        var sizes: [(String, Int64)] = []
        for (position, i) in schedule.enumerated() {
            let n = graph.nodes[i]
            let bytes = n.outputTypes.reduce(Int64(0)) { $0 + Int64($1.shape.count * $1.dtype.size) }
            sizes.append((n.name, bytes))
            switch n.kind {
            case .parameter, .input, .constant: resident += bytes
            case .op where folded[i] != nil: resident += bytes
            default:
                inUse += bytes
                // The kernel's workspace is held while it runs, on top of what is live.
                peak = max(peak, inUse + (works[i]?.workspaceBytes ?? 0))
            }
            // Free what this node was the last reader of.
            for v in Set(n.inputs.map(\.node)) where lastUse[v] == position {
                if case .op = graph.nodes[v].kind, folded[v] == nil {
                    inUse -= graph.nodes[v].outputTypes.reduce(Int64(0)) { $0 + Int64($1.shape.count * $1.dtype.size) }
                }
            }
        }
        return MemoryPlan(peakBytes: peak, residentBytes: resident, largest: sizes.sorted { $0.1 > $1.1 })
    }

    /// Runs one step: `feeds` gives each input by name; returns the fetched values. Assignments
    /// update the parameter store after the step.
    /// - Throws: `GraphError` for a missing or mistyped feed; `OpError` from a kernel.
    public func step(_ feeds: [String: Tensor]) throws -> [Tensor] {
        try pool.run { try runStep(feeds) }
    }

    private func runStep(_ feeds: [String: Tensor]) throws -> [Tensor] {
        lastFetches = []
        var values = [[Tensor]?](repeating: nil, count: graph.nodes.count)
        for (i, outs) in folded { values[i] = outs }
        var assigns: [(String, Tensor)] = []
        var copied = false
        context.planner.step = steps
        for i in schedule where values[i] == nil {
            let n = graph.nodes[i]
            switch n.kind {
            case .input(let name):
                guard let t = feeds[name] else { throw GraphError("no feed for input '\(name)'") }
                guard t.type == n.outputTypes[0] else { throw GraphError("input '\(name)' is \(t.type), the graph expects \(n.outputTypes[0])") }
                copyStream.copy(name, bytes: Double(t.byteCount), direction: .hostToDevice)
                copied = true
                values[i] = [t]
            case .parameter(let name): values[i] = [store[name]!]
            case .constant(let t): values[i] = [t]
            case .op(let graphOp):
                let op = ownOps[i] ?? graphOp
                if copied {  // compute waits for this step's input copies
                    copyStream.record(inputsCopied)
                    device.defaultStream.wait(inputsCopied)
                    copied = false
                }
                let inputs = n.inputs.map { values[$0.node]![$0.index] }
                context.planner.enter(op: n.name, identity: identities[i])
                values[i] = try op.forward(inputs, context)
                if var work = works[i] {
                    work.workspaceBytes = 0  // planned into the graph's HBM allocation at compile time
                    device.defaultStream.launch(n.name, type: op.type, work: work)
                }
            case .assign(let name): assigns.append((name, values[n.inputs[0].node]![n.inputs[0].index]))
            }
        }
        for (name, t) in assigns { store[name] = t }
        steps += 1
        lastFetches = fetches.map { values[$0.node]![$0.index] }
        // The host reads the fetched values back: D2H copies on the copy stream after compute.
        device.defaultStream.record(computeDone)
        copyStream.wait(computeDone)
        for (f, t) in zip(fetches, lastFetches) {
            copyStream.copy(graph.nodes[f.node].name, bytes: Double(t.byteCount), direction: .deviceToHost)
        }
        return lastFetches
    }
}
