import Foundation
import NPUDevice

/// A profile of recorded cards: the Ascend profiler's tables (`kernel_details.csv`,
/// `op_statistic.csv`, `step_trace_time.csv`), NPUSim's `reductions.csv`, the trace
/// (`trace_view.json`) and `timeline.svg`, all from the devices' timelines and host lanes
/// (Docs/Profiling.md says what every column means and where its definition comes from).
public struct Profile {
    /// The simulated cards: `op_statistic.csv` and `step_trace_time.csv` have rows for all of
    /// them, and for every other card of `cards`.
    public let devices: [Device]
    /// The cluster's cards, ordinals 0..<cards: `devices.count`, or more when only some cards of
    /// a timing-only cluster were simulated — every card but card 0 is alike, so the others'
    /// table rows are the first simulated card's but card 0's, under their own ordinal.
    public let cards: Int
    /// The cards whose every task is written (`trace_view.json`, `kernel_details.csv`,
    /// `reductions.csv`, `timeline.svg`): all of them by default; a subset keeps a big cluster's
    /// profile to the size of a few cards.
    public let detailed: [Device]

    /// A profile of `devices`, with per-task files for the cards whose ordinals are in
    /// `detailCards` (nil: every card).
    /// `cards` is the cluster's size when `devices` are some of its alike cards (nil: these are all).
    public init(devices: [Device], detailCards: Set<Int>? = nil, cards: Int? = nil) {
        self.devices = devices
        self.cards = max(cards ?? devices.count, devices.count)
        detailed = detailCards.map { cards in devices.filter { cards.contains($0.ordinal) } } ?? devices
    }

    /// Rows of a per-card table for every card: a simulated card's own, else those of the first
    /// simulated card other than card 0, with the card's ordinal.
    func everyCard<Row>(_ rows: (Device) -> [Row], _ relabel: (inout Row, Int) -> Void) -> [Row] {
        guard cards > devices.count, let first = devices.first(where: { $0.ordinal != 0 }) ?? devices.first else { return devices.flatMap(rows) }
        let byOrdinal = Dictionary(devices.map { ($0.ordinal, $0) }, uniquingKeysWith: { a, _ in a })
        let shared = rows(first)
        return (0..<cards).flatMap { k in
            byOrdinal[k].map(rows) ?? shared.map { var row = $0; relabel(&row, k); return row }
        }
    }

    /// The tasks a table lists: kernels, copies and link transfers (not event records and waits,
    /// not host callbacks), card by card in submission order.
    var tasks: [TaskRecord] { devices.flatMap(Self.tasks) }

    /// One card's listed tasks.
    static func tasks(of d: Device) -> [TaskRecord] {
        d.timeline.filter { t in
            switch t.kind {
            case .kernel, .copy, .transfer: true
            default: false
            }
        }
    }

    /// The Ascend profiler's `Accelerator Core` (msprof's `Task Type`) of a task.
    static func core(_ t: TaskRecord) -> String {
        switch t.kind {
        case .kernel(let work): work.unit == .cube ? "AI_CORE" : "AI_VECTOR_CORE"
        case .copy: "MEMCPY_ASYNC"
        case .transfer: "HCCL"
        default: "OTHER"
        }
    }

    /// Microseconds with three decimals, exactly (times are whole nanoseconds): `%.3f` without
    /// the cost of formatting a float.
    static func us(_ t: SimTime) -> String {
        let ns = t.nanoseconds, magnitude = ns.magnitude
        let fraction = String(magnitude % 1000)
        return (ns < 0 ? "-" : "") + String(magnitude / 1000) + "." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }
    static func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" }) ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    /// `kernel_details.csv`: one row per task of the detailed cards.
    public func kernelDetails() -> String {
        var out = "Device_id,Step ID,Model ID,Task ID,Stream ID,Name,Type,Accelerator Core,Start Time(us),Duration(us),Wait Time(us)\n"
        for d in detailed {
            var lastEnd: [Int: SimTime] = [:]
            for t in d.timeline {
                defer { lastEnd[t.stream] = t.end }
                switch t.kind {
                case .kernel, .copy, .transfer: break
                default: continue
                }
                let wait = lastEnd[t.stream].map { max(.zero, t.start - $0) } ?? .zero
                let step = t.info?.step.map(String.init) ?? ""
                out += "\(d.ordinal),\(step),0,\(t.id.index),\(t.stream),\(Self.csvField(t.info?.fullName ?? t.name)),\(Self.csvField(t.type)),\(Self.core(t)),"
                out += "\(Self.us(t.start)),\(Self.us(t.duration)),\(Self.us(wait))\n"
            }
        }
        return out
    }

    /// One row of `op_statistic.csv`.
    public struct OpStatistic: Equatable {
        public var device: Int
        public var type: String
        public var core: String
        public var count: Int
        public var total: SimTime
        public var min: SimTime
        public var max: SimTime
        /// Share of the card's total task time, in %.
        public var ratio: Double
    }

    /// Per card, op type and core: count, total, min, average and max time, and the share of the
    /// card's task time — largest total first.
    public func opStatistics() -> [OpStatistic] { everyCard(Self.opStatistics) { $0.device = $1 } }

    /// One card's rows of `op_statistic.csv`, largest total first.
    static func opStatistics(of d: Device) -> [OpStatistic] {
        var rows: [OpStatistic] = []
        do {
            var byKey: [String: OpStatistic] = [:], order: [String] = []
            var all = SimTime.zero
            for t in Self.tasks(of: d) {
                let key = t.type + "|" + Self.core(t)
                all = all + t.duration
                if var s = byKey[key] {
                    s.count += 1
                    s.total = s.total + t.duration
                    s.min = Swift.min(s.min, t.duration)
                    s.max = Swift.max(s.max, t.duration)
                    byKey[key] = s
                } else {
                    byKey[key] = OpStatistic(device: d.ordinal, type: t.type, core: Self.core(t), count: 1, total: t.duration, min: t.duration, max: t.duration, ratio: 0)
                    order.append(key)
                }
            }
            var card = order.map { byKey[$0]! }
            for k in card.indices { card[k].ratio = all > .zero ? card[k].total.seconds / all.seconds * 100 : 0 }
            rows += card.sorted { ($0.total, $1.type) > ($1.total, $0.type) }
        }
        return rows
    }

    /// `op_statistic.csv`.
    public func opStatistic() -> String {
        var out = "Device_id,OP Type,Core Type,Count,Total Time(us),Min Time(us),Avg Time(us),Max Time(us),Ratio(%)\n"
        for s in opStatistics() {
            let avg = SimTime.microseconds(s.total.microseconds / Double(s.count))
            out += "\(s.device),\(Self.csvField(s.type)),\(s.core),\(s.count),\(Self.us(s.total)),\(Self.us(s.min)),\(Self.us(avg)),\(Self.us(s.max)),\(String(format: "%.3f", s.ratio))\n"
        }
        return out
    }

    /// One card's step: its window and what filled it.
    public struct StepBreakdown: Equatable {
        public var device: Int
        public var step: Int
        /// From the end of the card's previous step (or its first launch) to the end of this
        /// step's last task.
        public var start: SimTime
        public var end: SimTime
        /// Kernels running (the union of their intervals).
        public var computing: SimTime
        /// Link transfers running.
        public var communication: SimTime
        /// Communication while no kernel ran.
        public var communicationNotOverlapped: SimTime
        /// Neither kernels nor transfers.
        public var free: SimTime
        /// The host's own work (launches, synchronisations, callbacks) inside the window.
        public var host: SimTime
        public var overlapped: SimTime { communication - communicationNotOverlapped }
        public var length: SimTime { end - start }
    }

    /// Union length of intervals.
    static func union(_ intervals: [(SimTime, SimTime)]) -> SimTime {
        var total = SimTime.zero, current: (SimTime, SimTime)?
        for (a, b) in intervals.sorted(by: { $0.0 < $1.0 }) where b > a {
            if let c = current, a <= c.1 {
                current = (c.0, max(c.1, b))
            } else {
                if let c = current { total = total + (c.1 - c.0) }
                current = (a, b)
            }
        }
        if let c = current { total = total + (c.1 - c.0) }
        return total
    }

    /// Every card's steps (tasks the executor recorded with a step), in order.
    public func steps() -> [StepBreakdown] { everyCard(Self.steps) { $0.device = $1 } }

    /// One card's steps: each window from the end of the previous step to the end of this
    /// step's last task, and what filled it (one pass over the card's timeline per step kind,
    /// not per step: a big cluster's profile is millions of tasks).
    static func steps(of d: Device) -> [StepBreakdown] {
        let timeline = d.timeline
        var ends: [Int: SimTime] = [:]
        var first: SimTime?
        var kernels: [(SimTime, SimTime)] = [], links: [(SimTime, SimTime)] = []
        for t in timeline {
            if let step = t.info?.step {
                ends[step] = max(ends[step] ?? t.end, t.end)
                if first == nil { first = t.start }
            }
            switch t.kind {
            case .kernel: kernels.append((t.start, t.end))
            case .transfer: links.append((t.start, t.end))
            default: break
            }
        }
        kernels.sort { $0.0 < $1.0 }
        links.sort { $0.0 < $1.0 }
        let host = d.hostEvents.sorted { $0.start < $1.start }
        var previousEnd = (host.first?.start).map { min($0, first ?? $0) } ?? first ?? .zero
        var rows: [StepBreakdown] = []
        for step in ends.keys.sorted() {
            let end = ends[step]!
            let window = (previousEnd, end)
            // Intervals clipped to the window (a task may start in one step and end in the next).
            func clipped(_ list: [(SimTime, SimTime)]) -> [(SimTime, SimTime)] {
                var out: [(SimTime, SimTime)] = []
                var lo = 0, hi = list.count
                while lo < hi { let mid = (lo + hi) / 2; if list[mid].0 < window.1 { lo = mid + 1 } else { hi = mid } }
                for k in 0..<lo where list[k].1 > window.0 { out.append((max(list[k].0, window.0), min(list[k].1, window.1))) }
                return out
            }
            let k = clipped(kernels), l = clipped(links)
            let computing = Self.union(k), communication = Self.union(l), busy = Self.union(k + l)
            let inside = host.map { e in max(SimTime.zero, min(e.start + e.duration, end) - max(e.start, previousEnd)) }.reduce(SimTime.zero, +)
            rows.append(StepBreakdown(device: d.ordinal, step: step, start: previousEnd, end: end, computing: computing,
                                      communication: communication, communicationNotOverlapped: busy - computing,
                                      free: (end - previousEnd) - busy, host: inside))
            previousEnd = end
        }
        return rows
    }

    /// `step_trace_time.csv` (the Ascend profiler's columns; Stage and Bubble, which belong to
    /// pipeline parallelism, are 0; Preparing is the time before the card's first step).
    public func stepTraceTime() -> String {
        var out = "Device_id,Step,Computing,Communication(Not Overlapped),Overlapped,Communication,Free,Stage,Bubble,Communication(Not Overlapped and Exclude Receive),Preparing\n"
        var seen: Set<Int> = []
        for s in steps() {
            let preparing = seen.insert(s.device).inserted ? s.start : .zero
            out += "\(s.device),\(s.step),\(Self.us(s.computing)),\(Self.us(s.communicationNotOverlapped)),\(Self.us(s.overlapped)),\(Self.us(s.communication)),"
            out += "\(Self.us(s.free)),0,0,\(Self.us(s.communicationNotOverlapped)),\(Self.us(preparing))\n"
        }
        return out
    }

    /// NPUSim's `reductions.csv`: every planned reduction the recorder kept on the detailed cards.
    public func reductions() -> String {
        var out = "Device_id,Step ID,Name,Type,Site,Policy,Blocks,Block Sizes,Tile Size,Tiles,Order\n"
        for d in detailed {
            for t in d.timeline {
                guard let info = t.info else { continue }
                for p in info.plans {
                    let blocks = p.blockSizes.count
                    let tiles = blocks > 0 ? max(1, p.order.count / blocks) : 0
                    out += "\(d.ordinal),\(info.step.map(String.init) ?? ""),\(Self.csvField(info.fullName ?? t.name)),\(Self.csvField(t.type)),\(Self.csvField(p.site)),\(p.policy),\(blocks),"
                    out += "\(p.blockSizes.map(String.init).joined(separator: ";")),\(p.tileSize),\(tiles),\(p.order.prefix(blocks).map(String.init).joined(separator: ";"))\n"
                }
            }
        }
        return out
    }

    /// What `npusim profile` prints of card 0: its ten costliest op types (count, total, mean,
    /// share) and the mean step's breakdown (computing, communication, idle, host), one line each.
    public func summaryLines() -> [String] {
        func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s + " " : s.padding(toLength: w, withPad: " ", startingAt: 0) }
        var lines = ["", "top ops (card 0)                  count    total µs   avg µs   share"]
        guard let card0 = devices.first else { return lines }
        for s in Self.opStatistics(of: card0).prefix(10) {
            lines.append(pad("\(s.type) [\(s.core)]", 32) + String(format: "%7d %11.1f %8.2f %6.1f %%", s.count, s.total.microseconds, s.total.microseconds / Double(s.count), s.ratio))
        }
        let steps = Self.steps(of: card0)
        if !steps.isEmpty {
            func mean(_ f: (StepBreakdown) -> SimTime) -> Double { steps.reduce(0.0) { $0 + f($1).microseconds } / Double(steps.count) }
            let length = mean(\.length)
            lines.append("")
            lines.append("step (card 0, mean of \(steps.count))     µs      share")
            for (name, value) in [("computing", mean(\.computing)), ("communication", mean(\.communication)),
                                  ("  overlapped with computing", mean(\.overlapped)), ("  not overlapped", mean(\.communicationNotOverlapped)),
                                  ("free (idle)", mean(\.free)), ("host (launch, sync, callbacks)", mean(\.host))] {
                lines.append(pad(name, 32) + String(format: "%9.1f %7.1f %%", value, length > 0 ? value / length * 100 : 0))
            }
            lines.append(pad("step", 32) + String(format: "%9.1f", length))
        }
        return lines
    }

    /// Writes `DIR/ASCEND_PROFILER_OUTPUT/` (trace_view.json, kernel_details.csv,
    /// op_statistic.csv, step_trace_time.csv, reductions.csv) and `DIR/timeline.svg`, each file
    /// written durably; the per-task files hold the detailed cards, the tables every card.
    /// - Throws: `ProfileError` naming the file that could not be written.
    public func write(to dir: String, timelineSteps: Int = 3) throws {
        let out = URL(fileURLWithPath: dir).appendingPathComponent("ASCEND_PROFILER_OUTPUT")
        do { try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true) } catch {
            throw ProfileError("cannot create \(out.path): \(error.localizedDescription)")
        }
        try ChromeTrace.write(detailed, to: out.appendingPathComponent("trace_view.json").path)
        let files: [(URL, [UInt8])] = [
            (out.appendingPathComponent("kernel_details.csv"), Array(kernelDetails().utf8)),
            (out.appendingPathComponent("op_statistic.csv"), Array(opStatistic().utf8)),
            (out.appendingPathComponent("step_trace_time.csv"), Array(stepTraceTime().utf8)),
            (out.appendingPathComponent("reductions.csv"), Array(reductions().utf8)),
            (URL(fileURLWithPath: dir).appendingPathComponent("timeline.svg"), Array(TimelineSVG.render(detailed, steps: timelineSteps).utf8)),
        ]
        for (url, bytes) in files { try writeBytes(bytes, to: url.path) }
    }
}

/// Writes `bytes` to `path` atomically (a temporary file, then a rename), without copying them
/// first (a trace can be hundreds of MB).
/// - Throws: `ProfileError` naming the file.
public func writeBytes(_ bytes: [UInt8], to path: String) throws {
    do {
        try bytes.withUnsafeBytes { raw in
            let data = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!), count: raw.count, deallocator: .none)
            try data.write(to: URL(fileURLWithPath: path), options: .atomic)
        }
    } catch {
        throw ProfileError("cannot write \(path): \(error.localizedDescription)")
    }
}

/// A profile that could not be written: the file and the system's reason.
public struct ProfileError: Error, CustomStringConvertible, Equatable, CategorizedError {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var category: ErrorCategory { .runFailed }
}
