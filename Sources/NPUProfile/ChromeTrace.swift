import NPUDevice

/// The Chrome trace event format (what chrome://tracing and Perfetto open) of cards' timelines,
/// laid out as the Ascend profiler's `trace_view.json`: one process per card (pid = card, named
/// "NPU k"), one thread per stream (tid = stream index + 1, named by the stream) and the host lane
/// (tid 0, "host"). Every kept task is a complete event ("X") at its simulated start, duration in
/// microseconds, with its type, engine, work and, when the executor recorded them, its step,
/// sink and reduction plans in `args` (each plan's order cut to its first 64 entries;
/// `order_length` says how many it has). Event waits are flow arrows ("s" at the record's end, "f"
/// at the wait) across streams and cards; HBM in use is a counter track ("C"); graph and sink
/// launches are instant events ("i") marking step and sink boundaries.
public enum ChromeTrace {
    /// The trace's JSON bytes for `devices` (what each device's `timeline` and `hostEvents` keep).
    public static func encode(_ devices: [Device]) -> [UInt8] {
        var events: [String] = []
        var records: [TaskID: TaskRecord] = [:]
        for device in devices {
            for t in device.timeline { if case .eventRecord = t.kind { records[t.id] = t } }
        }
        var flow = 0
        for device in devices {
            let pid = device.ordinal
            events.append(#"{"ph":"M","pid":\#(pid),"name":"process_name","args":{"name":"NPU \#(pid)"}}"#)
            events.append(#"{"ph":"M","pid":\#(pid),"name":"process_sort_index","args":{"sort_index":\#(pid)}}"#)
            events.append(#"{"ph":"M","pid":\#(pid),"tid":0,"name":"thread_name","args":{"name":"host"}}"#)
            for stream in device.streams {
                events.append(#"{"ph":"M","pid":\#(pid),"tid":\#(stream.index + 1),"name":"thread_name","args":{"name":\#(quoted(stream.name))}}"#)
            }
            for e in device.hostEvents {
                events.append(#"{"ph":"X","pid":\#(pid),"tid":0,"name":\#(quoted(e.name)),"cat":\#(quoted(e.type)),"ts":\#(number(e.start.microseconds)),"dur":\#(number(e.duration.microseconds))}"#)
                if e.type == "GraphLaunch" || e.type == "SinkLaunch" {
                    events.append(#"{"ph":"i","pid":\#(pid),"tid":0,"s":"p","name":\#(quoted(e.type == "SinkLaunch" ? "sink: " + e.name : e.name)),"ts":\#(number(e.start.microseconds))}"#)
                }
            }
            var hbm: Int64 = -1
            for t in device.timeline {
                events.append(#"{"ph":"X","pid":\#(pid),"tid":\#(t.stream + 1),"name":\#(quoted(t.name)),"cat":\#(quoted(t.type)),"ts":\#(number(t.start.microseconds)),"dur":\#(number(t.duration.microseconds)),"args":{\#(args(t))}}"#)
                if t.hbmInUse != hbm {
                    hbm = t.hbmInUse
                    events.append(#"{"ph":"C","pid":\#(pid),"name":"HBM in use","ts":\#(number(t.start.microseconds)),"args":{"MiB":\#(number(Double(hbm) / 1_048_576))}}"#)
                }
                // A wait's arrow from the record it waited for (kept in the timeline).
                if case .eventWait = t.kind, let dep = t.dependency, let r = records[dep] {
                    flow += 1
                    events.append(#"{"ph":"s","id":\#(flow),"pid":\#(r.card),"tid":\#(r.stream + 1),"name":"event","cat":"event","ts":\#(number(r.end.microseconds))}"#)
                    events.append(#"{"ph":"f","bp":"e","id":\#(flow),"pid":\#(pid),"tid":\#(t.stream + 1),"name":"event","cat":"event","ts":\#(number(t.end.microseconds))}"#)
                }
            }
        }
        return Array(("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n" + events.joined(separator: ",\n") + "\n]}\n").utf8)
    }

    /// A task's `args`.
    static func args(_ t: TaskRecord) -> String {
        var args = [#""type":\#(quoted(t.type))"#, #""submitted_us":\#(number(t.submitted.microseconds))"#, #""hbm_bytes":\#(t.hbmInUse)"#]
        if let engine = t.engine { args.append(#""engine":\#(quoted(engine.rawValue))"#) }
        if t.kind.flops > 0 { args.append(#""flops":\#(number(t.kind.flops))"#) }
        if t.kind.bytes > 0 { args.append(#""bytes":\#(number(t.kind.bytes))"#) }
        if let info = t.info {
            if let step = info.step { args.append(#""step":\#(step)"#) }
            if let sink = info.sink { args.append(#""sink":\#(sink)"#) }
            if info.hostSeconds > 0 { args.append(#""host_wall_us":\#(number(info.hostSeconds * 1e6))"#) }
            if !info.plans.isEmpty {
                let plans = info.plans.map { p in
                    #"{"site":\#(quoted(p.site)),"policy":\#(quoted(p.policy)),"blocks":\#(p.blockSizes.count),"tile":\#(p.tileSize),"order_length":\#(p.order.count),"order":[\#(p.order.prefix(64).map(String.init).joined(separator: ","))]}"#
                }
                args.append(#""reduction_plans":[\#(plans.joined(separator: ","))]"#)
            }
        }
        return args.joined(separator: ",")
    }

    /// `s` as a JSON string literal (quotes, backslashes and control characters escaped).
    public static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case _ where u.value < 0x20:
                let hex = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(u)
            }
        }
        return out + "\""
    }

    /// A JSON number (finite; integers without a fraction).
    static func number(_ x: Double) -> String {
        guard x.isFinite else { return "0" }
        return x == x.rounded() && abs(x) < 1e15 ? String(Int64(x)) : String(x)
    }
}
