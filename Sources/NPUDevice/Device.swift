/// One simulated card: HBM accounting, streams, and the discrete-event scheduler that gives
/// every task a simulated start and end.
///
/// Tasks are enqueued on streams in host order and scheduled at `synchronize()`. A task starts
/// at the latest of: the end of the previous task on its stream, the host's simulated time when
/// it was enqueued, the end of the event record it waits for, and the time its engine is free.
/// Among the stream heads that can start, the earliest start wins (ties: earlier submission), so
/// tasks on different engines overlap and tasks on one engine serialise.
///
/// A device is confined to one thread at a time (it is not `Sendable`).
public final class Device {
    /// The hardware figures.
    public let spec: DeviceSpec
    /// Card number within its cluster, from 0.
    public let ordinal: Int
    /// Turns declared work into simulated time.
    public let costModel: CostModel

    /// The card's streams; stream 0 is the default compute stream.
    public private(set) var streams: [Stream] = []

    // HBM accounting.
    /// Bytes allocated now.
    public private(set) var memoryInUse: Int64 = 0
    /// The largest `memoryInUse` seen.
    public private(set) var peakMemoryInUse: Int64 = 0
    private var allocations: [Int: Allocation] = [:]
    private var nextAllocationID = 0

    // Scheduling state.
    private var queues: [[PendingTask]] = []
    private var queueHeads: [Int] = []
    private var pendingCount = 0
    private var nextTask = 0
    /// Events made so far.
    private(set) var eventCount = 0
    fileprivate(set) var latestRecord: [Int: TaskID] = [:]
    /// End times of scheduled event records that a wait may still need: the latest record of each
    /// event (a wait captures the latest record when it is enqueued).
    fileprivate(set) var recordEnds: [TaskID: SimTime] = [:]
    private var streamReady: [SimTime] = []
    /// When each engine is next free, indexed by `Engine.slot` (an array: hashing an engine hashes its name).
    private var engineFree = [SimTime](repeating: .zero, count: Engine.allCases.count)
    private var scheduled: [TaskRecord?] = []
    private var scheduledBase = 0
    /// What the timeline keeps of scheduled tasks. Bounded by default, so a long run's memory
    /// stays flat; profiling sets `.all` for the steps it records.
    public var timelineMode: TimelineMode = .keepLast(65_536) {
        didSet { trimTimeline() }
    }
    /// Simulated host time: tasks enqueued now cannot start before it.
    public private(set) var hostTime: SimTime = .zero

    /// A card with the given figures and a default stream.
    public init(spec: DeviceSpec, ordinal: Int = 0) {
        self.spec = spec
        self.ordinal = ordinal
        self.costModel = CostModel(spec: spec)
        _ = makeStream(name: "compute")
    }

    /// `ascend910:0`.
    public var label: String { "\(spec.name):\(ordinal)" }

    /// The default compute stream.
    public var defaultStream: Stream { streams[0] }

    /// The stream called `name`, made on first use: executors compiled again and again share
    /// one (no stream is leaked per compile).
    public func stream(named name: String) -> Stream {
        streams.first { $0.name == name } ?? makeStream(name: name)
    }

    /// Forgets an event no task will wait for again (an executor that is done with it).
    public func releaseEvent(_ event: Event) {
        if let id = latestRecord.removeValue(forKey: event.id), pendingCount == 0 { recordEnds[id] = nil }
    }

    /// A new stream; tasks on it are ordered only among themselves and by events.
    public func makeStream(name: String) -> Stream {
        let stream = Stream(device: self, index: streams.count, name: name)
        streams.append(stream)
        queues.append([])
        queueHeads.append(0)
        streamReady.append(hostTime)
        return stream
    }

    /// A new event, not yet recorded.
    public func makeEvent() -> Event {
        defer { eventCount += 1 }
        return Event(device: ordinal, id: eventCount, origin: ObjectIdentifier(self))
    }

    // MARK: HBM

    /// Reserves `bytes` of HBM for `what` (a tensor or buffer name).
    /// - Throws: `DeviceError.outOfMemory` naming `what`, its size and the free HBM.
    public func allocate(_ bytes: Int64, for what: String) throws(DeviceError) -> Allocation {
        precondition(bytes >= 0, "allocation size must not be negative")
        let free = spec.hbmBytes - memoryInUse
        guard bytes <= free else {
            throw .outOfMemory(device: label, what: what, requested: bytes, free: free, capacity: spec.hbmBytes)
        }
        let allocation = Allocation(id: nextAllocationID, bytes: bytes, label: what)
        nextAllocationID += 1
        allocations[allocation.id] = allocation
        memoryInUse += bytes
        peakMemoryInUse = max(peakMemoryInUse, memoryInUse)
        return allocation
    }

    /// The first out-of-memory of launches since the last checked synchronisation: an
    /// asynchronous launch that does not fit fails on the card, and the host learns it when it
    /// next synchronises (`checkedSynchronize`).
    public private(set) var pendingError: DeviceError?

    /// Notes the failure of an asynchronous launch (the first one is kept): an out-of-memory, or a
    /// wait for an event no card of this cluster made.
    package func noteFailure(_ error: DeviceError) {
        if pendingError == nil { pendingError = error }
    }

    /// `synchronize()`, then reports an out-of-memory that a launch since the last check hit.
    /// - Throws: `DeviceError.outOfMemory` naming the launch (op instance and what it allocated).
    @discardableResult
    public func checkedSynchronize() throws(DeviceError) -> SimTime {
        let time = synchronize()
        if let error = pendingError {
            pendingError = nil
            throw error
        }
        return time
    }

    /// Reserves `bytes` of HBM for `what` until the returned lease is released (its owner, a
    /// tensor's storage, dies). Leases must be released on the thread that uses the device.
    /// - Throws: `DeviceError.outOfMemory` naming `what`.
    public func lease(_ bytes: Int64, for what: String) throws(DeviceError) -> HBMLease {
        HBMLease(device: self, allocation: try allocate(bytes, for: what))
    }

    /// Returns an allocation's HBM. Freeing twice is a programming error.
    public func free(_ allocation: Allocation) {
        precondition(allocations.removeValue(forKey: allocation.id) != nil, "\(allocation.label) freed twice")
        memoryInUse -= allocation.bytes
    }

    // MARK: Tasks

    func enqueue(_ kind: TaskKind, name: String, type: String, on stream: Stream, info: TaskInfo? = nil) -> TaskID {
        precondition(stream.device === self, "stream \(stream.name) belongs to another device")
        let id = TaskID(index: nextTask, device: ordinal)
        nextTask += 1
        var dependency: TaskID?
        switch kind {
        case .eventRecord(let event):
            if event.origin == ObjectIdentifier(self) {
                latestRecord[event.id] = id
            } else {
                noteFailure(.unknownEvent("\(name) on \(label) records event e\(event.id) of another device; a card records only its own events"))
            }
        case .eventWait(let event):
            // Waiting for an event no card of this cluster made fails (at the next checked
            // synchronisation); the wait itself then orders nothing.
            if let owner = eventOwner(event) {
                dependency = owner.latestRecord[event.id]
            } else {
                noteFailure(.unknownEvent("\(name) on \(label) waits for event e\(event.id) of card \(event.device), which \(cluster == nil ? "is another device (make a Cluster to wait across cards)" : "is not a card of this cluster or never made it")"))
            }
        default: break
        }
        let duration: SimTime = switch kind {
        case .kernel(let work): costModel.kernelTime(work)
        case .copy(let bytes, let direction): costModel.copyTime(bytes: bytes, direction: direction)
        case .transfer(let bytes, _, let link): costModel.linkTime(bytes: bytes, link: link)
        case .hostCallback(let d): d
        case .eventRecord, .eventWait: .zero
        }
        // HBM is accounted in launch order: what is allocated now, plus the kernel's workspace while
        // it runs. A launch that does not fit is reported at the next checked synchronisation.
        var inUse = memoryInUse
        if case .kernel(let work) = kind, work.workspaceBytes > 0 {
            inUse += work.workspaceBytes
            if inUse > spec.hbmBytes {
                noteFailure(.outOfMemory(device: label, what: "\(name) workspace", requested: work.workspaceBytes,
                                             free: max(0, spec.hbmBytes - memoryInUse), capacity: spec.hbmBytes))
            }
            peakMemoryInUse = max(peakMemoryInUse, inUse)
        }
        let sequence = cluster?.nextSequence() ?? id.index
        queues[stream.index].append(PendingTask(id: id, sequence: sequence, hbmInUse: inUse, info: info, kind: kind, name: name, type: type,
                                                duration: duration, dependency: dependency, submitted: hostTime))
        pendingCount += 1
        return id
    }

    /// Advances the host's simulated clock (host work between launches).
    public func advanceHost(by duration: SimTime) {
        precondition(duration >= .zero, "host time cannot go back")
        hostTime += duration
    }

    /// Host work of `type` (`GraphLaunch`, `Dispatch`, ...): the host's clock moves by `duration`
    /// and, unless the timeline is off, the host lane records it.
    public func hostWork(_ type: String, _ name: @autoclosure () -> String, duration: SimTime) {
        if timelineMode != .off {
            hostEvents.append(HostEvent(type: type, name: name(), start: hostTime, duration: duration))
            trimHostEvents()
        }
        advanceHost(by: duration)
    }

    /// The host lane: what the host spent driving the card, bounded as the timeline is.
    public private(set) var hostEvents: [HostEvent] = []

    private func trimHostEvents() {
        guard case .keepLast(let n) = timelineMode, hostEvents.count > 2 * max(n, 1) else { return }
        hostEvents.removeFirst(hostEvents.count - n)
    }

    /// The cluster this card belongs to, if any (set by `Cluster`).
    public fileprivate(set) weak var cluster: Cluster?

    /// Joins `cluster` (before any task is enqueued).
    func join(_ cluster: Cluster) {
        precondition(nextTask == 0, "\(label) joins a cluster before its first task")
        self.cluster = cluster
    }

    /// The device that made `event`: this one, or a card of the same cluster.
    fileprivate func eventOwner(_ event: Event) -> Device? {
        // Card k is usually the cluster's k-th device: looked up there first, then searched.
        let owner = event.origin == ObjectIdentifier(self) ? self : cluster.flatMap { c in
            c.devices.indices.contains(event.device) && ObjectIdentifier(c.devices[event.device]) == event.origin
                ? c.devices[event.device] : c.devices.first { ObjectIdentifier($0) == event.origin }
        }
        guard let owner, event.id < owner.eventCount else { return nil }
        return owner
    }

    /// Schedules every enqueued task, waits (in simulated time) until all have finished, and
    /// returns that time plus the synchronisation round trip (`spec.host.syncRoundTrip`): the
    /// host's clock moves to it. In a cluster every card's pending tasks are scheduled together
    /// (a card may wait for another's event); the host waits for this card's streams.
    @discardableResult
    public func synchronize() -> SimTime {
        if let cluster { Device.schedule(cluster.devices) } else { schedulePending() }
        let end = streamReady.max() ?? hostTime
        hostTime = max(hostTime, end)
        hostWork("Synchronize", "synchronize", duration: spec.host.syncRoundTrip)
        return hostTime
    }

    /// A host callback named `name` (LossMonitor printing a line): the host's clock moves by
    /// `spec.host.callback`.
    public func hostCallback(_ name: String) {
        hostWork("Callback", name, duration: spec.host.callback)
    }

    /// The record of a scheduled task, or nil if it is not scheduled yet (or was cleared).
    public func record(of id: TaskID) -> TaskRecord? {
        let i = id.index - scheduledBase
        return i >= 0 && i < scheduled.count ? scheduled[i] : nil
    }

    /// Every scheduled task since the last `clearTimeline()`, in submission order.
    public var timeline: [TaskRecord] { scheduled.compactMap { $0 } }

    /// Changes every scheduled record in place (`CardExchange` gives a ghost card's records what
    /// the process that computed the card recorded).
    public func amendTimeline(_ body: (inout TaskRecord) -> Void) {
        for i in scheduled.indices where scheduled[i] != nil { body(&scheduled[i]!) }
    }

    /// Forgets scheduled records.
    public func clearTimeline() {
        hostEvents.removeAll(keepingCapacity: true)
        schedulePending()
        scheduledBase += scheduled.count
        scheduled.removeAll(keepingCapacity: true)
    }

    /// Drops records beyond what `timelineMode` keeps (amortised: a ring of at most twice the limit).
    private func trimTimeline() {
        let keep: Int
        switch timelineMode {
        case .all: return
        case .off: keep = 0
        case .keepLast(let n): keep = max(0, n)
        }
        guard scheduled.count > 2 * keep || (keep == 0 && !scheduled.isEmpty) else { return }
        let drop = scheduled.count - keep
        scheduled.removeFirst(drop)
        scheduledBase += drop
    }

    private func schedulePending() {
        if let cluster { Device.schedule(cluster.devices) } else { Device.schedule([self]) }
    }

    /// The discrete-event list scheduler over every stream of `devices` (one card, or a cluster's
    /// cards with cross-card event waits): repeatedly places the stream head that can start
    /// earliest (ties: earlier submission).
    static func schedule(_ devices: [Device]) {
        guard devices.contains(where: { $0.pendingCount > 0 }) else { return }
        for d in devices {
            // One slot per task submitted since, appended one by one: `append(contentsOf:)` of a
            // repeated nil cost about twice as much a slot (callgrind).
            for _ in 0..<(d.nextTask - d.scheduledBase - d.scheduled.count) { d.scheduled.append(nil) }
        }
        var pending = devices.reduce(0) { $0 + $1.pendingCount }
        // The stream heads in a min-heap by (earliest start, submission). Placing a task changes
        // only its own card's heads (streams, engines) and the heads waiting for the event it
        // records, so only those are evaluated again and pushed anew; an entry whose head was
        // evaluated since is stale (its version is old) and skipped when it surfaces.
        let byOrdinal = devices.count == 1 ? [:] : Dictionary(devices.map { ($0.ordinal, $0) }, uniquingKeysWith: { a, _ in a })
        var version: [[Int]] = devices.map { d in Array(repeating: 0, count: d.queues.count) }
        var heads = HeadHeap()
        var blockedOn: [TaskID: [(Int, Int)]] = [:]
        func evaluate(_ k: Int, _ s: Int) {
            version[k][s] += 1
            let d = devices[k]
            guard d.queueHeads[s] < d.queues[s].count else { return }
            let task = d.queues[s][d.queueHeads[s]]
            var start = max(d.streamReady[s], task.submitted)
            if let dep = task.dependency {
                let owner = dep.device == d.ordinal ? d : byOrdinal[dep.device]!
                guard let done = owner.recordEnds[dep] else {  // its record is not scheduled yet
                    blockedOn[dep, default: []].append((k, s))
                    return
                }
                start = max(start, done)
            }
            if let engine = task.kind.engine { start = max(start, d.engineFree[engine.slot]) }
            heads.push(HeadHeap.Entry(start: start, sequence: task.sequence, card: k, stream: s, version: version[k][s]))
        }
        for k in devices.indices where devices[k].pendingCount > 0 {
            for s in devices[k].queues.indices { evaluate(k, s) }
        }
        while pending > 0 {
            guard let best = heads.pop() else {
                preconditionFailure("scheduler deadlock: every stream head waits for an unscheduled event")
            }
            let (k, s) = (best.card, best.stream)
            guard best.version == version[k][s] else { continue }
            let d = devices[k], head = d.queues[s][d.queueHeads[s]]
            d.place(stream: s, start: best.start)
            pending -= 1
            // Placing a task moves its stream's ready time and its engine's free time, and
            // nothing else: only its stream's next head and the heads that wait for the same
            // engine can start at another time now (and those waiting for the event it records).
            evaluate(k, s)
            if let engine = head.kind.engine {
                for t in d.queues.indices where t != s && d.queueHeads[t] < d.queues[t].count && d.queues[t][d.queueHeads[t]].kind.engine == engine {
                    evaluate(k, t)
                }
            }
            if let waiting = blockedOn.removeValue(forKey: head.id) {
                for (j, t) in waiting { evaluate(j, t) }
            }
        }
        for d in devices {
            for s in d.queues.indices {
                d.queues[s].removeAll(keepingCapacity: true)
                d.queueHeads[s] = 0
            }
            d.trimTimeline()
        }
        // Nothing is pending: only the latest record of each event can still be waited for.
        for d in devices where d.recordEnds.count > d.latestRecord.count {
            let live = Set(d.latestRecord.values)
            d.recordEnds = d.recordEnds.filter { live.contains($0.key) }
        }
    }

    /// Places the head task of stream `s` at `start`.
    private func place(stream s: Int, start: SimTime) {
        let task = queues[s][queueHeads[s]]
        queueHeads[s] += 1
        pendingCount -= 1
        let end = start + task.duration
        streamReady[s] = end
        let engine = task.kind.engine
        if let engine { engineFree[engine.slot] = end }
        if case .eventRecord = task.kind { recordEnds[task.id] = end }
        scheduled[task.id.index - scheduledBase] = TaskRecord(
            id: task.id, stream: s, streamName: streams[s].name, name: task.name, type: task.type,
            kind: task.kind, engine: engine, submitted: task.submitted, start: start, end: end, hbmInUse: task.hbmInUse,
            card: ordinal, info: task.info, dependency: task.dependency)
    }
}

/// HBM held for as long as this object lives (see `Device.lease`).
public final class HBMLease {
    public let device: Device
    public let allocation: Allocation
    init(device: Device, allocation: Allocation) {
        self.device = device
        self.allocation = allocation
    }
    deinit { device.free(allocation) }
}

/// A reservation of HBM on one device.
public struct Allocation: Hashable, Sendable {
    public let id: Int
    /// Size in bytes.
    public let bytes: Int64
    /// What it holds, for error messages and memory reports.
    public let label: String
}

/// A binary min-heap of stream heads ordered by earliest start, then submission (the scheduler's
/// tie-break).
struct HeadHeap {
    struct Entry {
        var start: SimTime
        var sequence: Int
        var card: Int
        var stream: Int
        var version: Int
        func precedes(_ other: Entry) -> Bool { start < other.start || (start == other.start && sequence < other.sequence) }
    }
    private var items: [Entry] = []

    mutating func push(_ e: Entry) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i].precedes(items[parent]) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> Entry? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count && items[l].precedes(items[m]) { m = l }
                if r < items.count && items[r].precedes(items[m]) { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return top
    }
}

struct PendingTask {
    let id: TaskID
    /// Submission order across the cluster (ties between equal start times go to the earlier).
    let sequence: Int
    let hbmInUse: Int64
    let info: TaskInfo?
    let kind: TaskKind
    let name: String
    let type: String
    let duration: SimTime
    let dependency: TaskID?
    let submitted: SimTime
}

/// What a device's timeline keeps of the tasks it schedules.
public enum TimelineMode: Hashable, Sendable {
    /// Nothing: `timeline` is empty and `record(of:)` answers nil.
    case off
    /// Every record until `clearTimeline()` (profiling a bounded number of steps).
    case all
    /// The last `n` records at least (up to 2n are held between trims).
    case keepLast(Int)
}
