/// Identifies one task enqueued on a device; its record is available after synchronisation.
public struct TaskID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Position in the device's submission order, from 0.
    public let index: Int
    /// The card it was enqueued on (`Device.ordinal`).
    public var device: Int = 0
    public static func < (a: TaskID, b: TaskID) -> Bool { (a.index, a.device) < (b.index, b.device) }
    public var description: String { device == 0 ? "task#\(index)" : "task#\(device).\(index)" }
}

/// An event: recorded on one stream, waited for on others — on the same card or, in a cluster,
/// on another card.
public struct Event: Hashable, Sendable {
    /// The card that made it (`Device.ordinal`).
    public var device: Int = 0
    /// Identifier, unique on its device.
    public let id: Int
    /// The device object that made it (cards of different clusters share ordinals).
    let origin: ObjectIdentifier
}

/// The kind of link a transfer crosses.
public enum LinkType: String, Hashable, Sendable {
    /// Between cards of one server board (HCCS on Ascend boards).
    case onBoard = "hccs"
    /// Between servers (RoCE).
    case interServer = "roce"
    /// Between cards of one server that have no HCCS: peer to peer through the PCIe switch, at the
    /// profile's host-link figures.
    case pcie
}

/// Which way a link transfer goes, seen from the card that runs it.
public enum LinkDirection: String, Hashable, Sendable {
    case send
    case receive
}

/// What a task does.
public enum TaskKind: Hashable, Sendable {
    /// A kernel on the AI cores.
    case kernel(Work)
    /// A copy on the DMA engine.
    case copy(bytes: Double, direction: CopyDirection)
    /// A transfer of `bytes` over an inter-card link, sent or received by this card
    /// (collectives are built from these).
    case transfer(bytes: Double, direction: LinkDirection, link: LinkType)
    /// Marks the point an `Event` reaches; takes no time.
    case eventRecord(Event)
    /// Holds its stream until the event's latest record (at enqueue time) has completed.
    case eventWait(Event)
    /// Work on the host that the stream waits for (the host's time in simulated units).
    case hostCallback(duration: SimTime)

    /// Short label for timelines (`kernel`, `copy H2D`, ...).
    public var label: String {
        switch self {
        case .kernel: "kernel"
        case .copy(_, let direction): "copy \(direction.rawValue)"
        case .transfer: "transfer"
        case .eventRecord(let e): "record e\(e.id)"
        case .eventWait(let e): "wait e\(e.id)"
        case .hostCallback: "host"
        }
    }

    /// The engine this task occupies, or nil for tasks that need none.
    public var engine: Engine? {
        switch self {
        case .kernel(let work): work.unit.engine
        case .copy(_, let direction): direction.engine
        case .transfer(_, let direction, _): direction == .send ? .linkSend : .linkReceive
        case .eventRecord, .eventWait, .hostCallback: nil
        }
    }

    /// Work figures for the profile (zero for tasks without arithmetic).
    public var flops: Double {
        if case .kernel(let work) = self { return work.flops }
        return 0
    }

    public var bytes: Double {
        switch self {
        case .kernel(let work): work.bytes
        case .copy(let bytes, _), .transfer(let bytes, _, _): bytes
        default: 0
        }
    }
}

/// One task as scheduled: the ground truth of the simulated timeline.
public struct TaskRecord: Hashable, Sendable {
    public var id: TaskID
    /// The stream it ran on.
    public var stream: Int
    public var streamName: String
    /// Instance name (`fc1/MatMul`) and op type (`MatMul`).
    public var name: String
    public var type: String
    public var kind: TaskKind
    /// The engine it occupied, if any.
    public var engine: Engine?
    /// Simulated host time at which the host enqueued it: it cannot start earlier.
    public var submitted: SimTime
    /// Simulated start and end.
    public var start: SimTime
    public var end: SimTime
    /// HBM in use on the card while it runs, its workspace included, in bytes.
    public var hbmInUse: Int64 = 0
    /// The card it ran on (`Device.ordinal`).
    public var card: Int = 0
    /// What the executor that launched it recorded (step, sink, host time, reduction plans); nil
    /// when recording is off.
    public var info: TaskInfo?
    /// For an event wait: the event record it waited for (possibly on another card).
    public var dependency: TaskID? = nil

    public var duration: SimTime { end - start }
}

/// What an executor records about one launch, for the profiler.
public struct TaskInfo: Hashable, Sendable {
    /// The training step (counted from 0 by the compiled step) and, in sink mode, the sink.
    public var step: Int?
    public var sink: Int?
    /// Wall-clock seconds the host spent computing the launch's values (not simulated time).
    public var hostSeconds: Double
    /// The reduction plans the launch used, in the order it made them.
    public var plans: [PlanRecord]
    /// The op's full name in MindSpore's scope form (`Default/network-WithLossCell/…/MatMul-op0`),
    /// what the profiler tables and trace name it by; nil: the task's own name.
    public var fullName: String?
    /// The op instances a fused kernel computes (empty: the kernel of one op).
    public var fusedOps: [String]

    public init(step: Int? = nil, sink: Int? = nil, hostSeconds: Double = 0, plans: [PlanRecord] = [], fullName: String? = nil,
                fusedOps: [String] = []) {
        self.fusedOps = fusedOps
        self.step = step
        self.sink = sink
        self.hostSeconds = hostSeconds
        self.plans = plans
        self.fullName = fullName
    }
}

/// One planned reduction as the profile shows it: the site, the policy, the blocks and the order
/// of each output tile.
public struct PlanRecord: Hashable, Sendable {
    /// The site within the op (`splitK`, `sum`, `dgamma`).
    public var site: String
    /// `off`, `on` or `strict`.
    public var policy: String
    /// Reduced elements per block, in block order.
    public var blockSizes: [Int]
    /// Output elements per tile.
    public var tileSize: Int
    /// The block order of every tile, one after another (one order when all tiles share it).
    public var order: [Int32]

    public init(site: String, policy: String, blockSizes: [Int], tileSize: Int, order: [Int32]) {
        self.site = site
        self.policy = policy
        self.blockSizes = blockSizes
        self.tileSize = tileSize
        self.order = order
    }
}

/// Time the host spent driving the card (launching a graph or a sink, dispatching an op, waiting
/// for a synchronisation, a callback): the host lane of the timeline.
public struct HostEvent: Hashable, Sendable {
    /// `GraphLaunch`, `SinkLaunch`, `Dispatch`, `Synchronize`, `Callback`.
    public var type: String
    /// What it was for (`step 3`, `fc1/MatMul`).
    public var name: String
    /// Simulated host time it began at, and how long it took.
    public var start: SimTime
    public var duration: SimTime
}
