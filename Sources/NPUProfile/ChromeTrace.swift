import Foundation
import NPUDevice

/// The Chrome trace event format (what chrome://tracing and Perfetto open) of cards' timelines,
/// laid out as the Ascend profiler's `trace_view.json`: one process per card (pid = card, named
/// "NPU k"), one thread per stream (tid = stream index + 1, named by the stream) and the host lane
/// (tid 0, "host"). Every kept task is a complete event ("X") at its simulated start, duration in
/// microseconds (its type is the category), with its engine, work and, when the executor
/// recorded them, its step,
/// sink and reduction plans in `args` (each plan's order cut to its first 64 entries;
/// `order_length` says how many it has). Event waits are flow arrows ("s" at the record's end, "f"
/// at the wait) across streams and cards; HBM in use is a counter track ("C"); graph and sink
/// launches are instant events ("i") marking step and sink boundaries.
public enum ChromeTrace {
    /// The trace's JSON bytes for `devices` (what each device's `timeline` and `hostEvents` keep).
    public static func encode(_ devices: [Device]) -> [UInt8] {
        var all: [UInt8] = []
        encode(devices, chunkBytes: .max) { all = $0 }
        return all
    }

    /// Writes the trace of `devices` to `path` durably (a temporary file in the same folder,
    /// flushed, then renamed), encoding and writing at once: each 16 MiB the encoder fills goes
    /// to a writer thread while it encodes the next.
    /// - Throws: `ProfileError` naming the file and the system's reason.
    public static func write(_ devices: [Device], to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil), let handle = FileHandle(forWritingAtPath: temporary.path) else {
            throw ProfileError("cannot write \(path): cannot create \(temporary.path) (does the folder exist and is it writable?)")
        }
        final class Writer: @unchecked Sendable {
            let handle: FileHandle
            var failure: Error?
            init(_ handle: FileHandle) { self.handle = handle }
        }
        let writer = Writer(handle)
        let queue = DispatchQueue(label: "npusim.trace-writer")
        let inFlight = DispatchSemaphore(value: 3)  // at most three chunks waiting: bounded memory
        encode(devices, chunkBytes: 16 << 20) { chunk in
            inFlight.wait()
            queue.async {
                defer { inFlight.signal() }
                guard writer.failure == nil else { return }
                do {
                    try chunk.withUnsafeBytes { raw in
                        guard let base = raw.baseAddress else { return }
                        try writer.handle.write(contentsOf: Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: raw.count, deallocator: .none))
                    }
                } catch {
                    writer.failure = error
                }
            }
        }
        queue.sync {}
        do {
            if let failure = writer.failure { throw failure }
            try handle.synchronize()
            try handle.close()
            guard rename(temporary.path, path) == 0 else { throw ProfileError(String(cString: strerror(errno))) }
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(at: temporary)
            throw ProfileError("cannot write \(path): \(error.localizedDescription)")
        }
    }

    /// Encodes the trace, handing `flush` each piece of at least `chunkBytes` bytes as it fills
    /// (and the rest at the end): the pieces in order are the trace.
    static func encode(_ devices: [Device], chunkBytes: Int, flush: ([UInt8]) -> Void) {
        let timelines = devices.map(\.timeline)  // built once: each call assembles the records anew
        var records: [TaskID: TaskRecord] = [:]
        for timeline in timelines {
            for t in timeline { if case .eventRecord = t.kind { records[t.id] = t } }
        }
        var j = JSONBytes()
        // About 320 bytes per event and up to three events per task (its counter and flow arrows);
        // untouched capacity costs no memory, a reallocation copies everything written so far.
        j.bytes.reserveCapacity(min(chunkBytes, timelines.reduce(0) { $0 + $1.count } * 640) + 4096)
        j.raw("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n")
        var first = true
        func next() {
            if j.bytes.count >= chunkBytes {
                flush(j.bytes)
                j.bytes = []
                j.bytes.reserveCapacity(chunkBytes + 4096)
            }
            if !first { j.raw(",\n") }
            first = false
        }
        var flow = 0
        for (device, timeline) in zip(devices, timelines) {
            let pid = device.ordinal
            next(); j.raw("{\"ph\":\"M\",\"pid\":"); j.int(pid); j.raw(",\"name\":\"process_name\",\"args\":{\"name\":\"NPU "); j.int(pid); j.raw("\"}}")
            next(); j.raw("{\"ph\":\"M\",\"pid\":"); j.int(pid); j.raw(",\"name\":\"process_sort_index\",\"args\":{\"sort_index\":"); j.int(pid); j.raw("}}")
            next(); j.raw("{\"ph\":\"M\",\"pid\":"); j.int(pid); j.raw(",\"tid\":0,\"name\":\"thread_name\",\"args\":{\"name\":\"host\"}}")
            for stream in device.streams {
                next(); j.raw("{\"ph\":\"M\",\"pid\":"); j.int(pid); j.raw(",\"tid\":"); j.int(stream.index + 1)
                j.raw(",\"name\":\"thread_name\",\"args\":{\"name\":"); j.string(stream.name); j.raw("}}")
            }
            for e in device.hostEvents {
                next(); j.raw("{\"ph\":\"X\",\"pid\":"); j.int(pid); j.raw(",\"tid\":0,\"name\":"); j.string(e.name)
                j.raw(",\"cat\":"); j.string(e.type); j.raw(",\"ts\":"); j.micros(e.start); j.raw(",\"dur\":"); j.micros(e.duration); j.raw("}")
                if e.type == "GraphLaunch" || e.type == "SinkLaunch" {
                    next(); j.raw("{\"ph\":\"i\",\"pid\":"); j.int(pid); j.raw(",\"tid\":0,\"s\":\"p\",\"name\":")
                    j.string(e.type == "SinkLaunch" ? "sink: " + e.name : e.name); j.raw(",\"ts\":"); j.micros(e.start); j.raw("}")
                }
            }
            var hbm: Int64 = -1
            for t in timeline {
                next(); j.raw("{\"ph\":\"X\",\"pid\":"); j.int(pid); j.raw(",\"tid\":"); j.int(t.stream + 1); j.raw(",\"name\":"); j.string(t.info?.fullName ?? t.name)
                j.raw(",\"cat\":"); j.string(t.type); j.raw(",\"ts\":"); j.micros(t.start); j.raw(",\"dur\":"); j.micros(t.duration)
                j.raw(",\"args\":{"); args(t, &j); j.raw("}}")
                if t.hbmInUse != hbm {
                    hbm = t.hbmInUse
                    next(); j.raw("{\"ph\":\"C\",\"pid\":"); j.int(pid); j.raw(",\"name\":\"HBM in use\",\"ts\":"); j.micros(t.start)
                    j.raw(",\"args\":{\"MiB\":"); j.number(Double(hbm) / 1_048_576); j.raw("}}")
                }
                // A wait's arrow from the record it waited for (kept in the timeline).
                if case .eventWait = t.kind, let dep = t.dependency, let r = records[dep] {
                    flow += 1
                    next(); j.raw("{\"ph\":\"s\",\"id\":"); j.int(flow); j.raw(",\"pid\":"); j.int(r.card); j.raw(",\"tid\":"); j.int(r.stream + 1)
                    j.raw(",\"name\":\"event\",\"cat\":\"event\",\"ts\":"); j.micros(r.end); j.raw("}")
                    next(); j.raw("{\"ph\":\"f\",\"bp\":\"e\",\"id\":"); j.int(flow); j.raw(",\"pid\":"); j.int(pid); j.raw(",\"tid\":"); j.int(t.stream + 1)
                    j.raw(",\"name\":\"event\",\"cat\":\"event\",\"ts\":"); j.micros(t.end); j.raw("}")
                }
            }
        }
        j.raw("\n]}\n")
        flush(j.bytes)
    }

    /// A task's `args`.
    static func args(_ t: TaskRecord, _ j: inout JSONBytes) {
        j.raw("\"submitted_us\":"); j.micros(t.submitted)
        if t.info?.fullName != nil { j.raw(",\"op\":"); j.string(t.name) }
        j.raw(",\"hbm_bytes\":"); j.int(t.hbmInUse)
        if let engine = t.engine { j.raw(",\"engine\":"); j.string(engine.rawValue) }
        if t.kind.flops > 0 { j.raw(",\"flops\":"); j.number(t.kind.flops) }
        if t.kind.bytes > 0 { j.raw(",\"bytes\":"); j.number(t.kind.bytes) }
        guard let info = t.info else { return }
        if let step = info.step { j.raw(",\"step\":"); j.int(step) }
        if let sink = info.sink { j.raw(",\"sink\":"); j.int(sink) }
        if info.hostSeconds > 0 { j.raw(",\"host_wall_us\":"); j.number((info.hostSeconds * 1e9).rounded() / 1e3) }
        if !info.fusedOps.isEmpty {
            j.raw(",\"fused_ops\":[")
            for (k, op) in info.fusedOps.enumerated() {
                if k > 0 { j.raw(",") }
                j.string(op)
            }
            j.raw("]")
        }
        guard !info.plans.isEmpty else { return }
        j.raw(",\"reduction_plans\":[")
        for (k, p) in info.plans.enumerated() {
            if k > 0 { j.raw(",") }
            j.raw("{\"site\":"); j.string(p.site); j.raw(",\"policy\":"); j.string(p.policy)
            j.raw(",\"blocks\":"); j.int(p.blockSizes.count); j.raw(",\"tile\":"); j.int(p.tileSize)
            j.raw(",\"order_length\":"); j.int(p.order.count); j.raw(",\"order\":[")
            for (i, o) in p.order.prefix(64).enumerated() {
                if i > 0 { j.raw(",") }
                j.int(Int(o))
            }
            j.raw("]}")
        }
        j.raw("]")
    }

    /// `s` as a JSON string literal (quotes, backslashes and control characters escaped).
    public static func quoted(_ s: String) -> String {
        var j = JSONBytes()
        j.string(s)
        return String(decoding: j.bytes, as: UTF8.self)
    }
}
