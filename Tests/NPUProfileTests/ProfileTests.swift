import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import NPUDevice
@testable import NPUProfile
import NPUScript

/// The reference MLP as a script: 320 synthetic samples, batch 32.
/// `mlpScript` with every op a kernel of its own: what tests of per-op names and times read.
let unfusedScript = mlpScript.replacingOccurrences(of: "order_seed: 3}", with: "order_seed: 3, kernel_fusion: none}")

let mlpScript = """
seed: 1
context: {mode: graph, device: ascend910, determinism: "off", order_seed: 3}
dataset:
  source: {synthetic: {count: 320, shape: [784], classes: 10, seed: 7}}
  batch: {batch_size: 32, drop_remainder: true}
network:
  layers:
    - Dense: {in_channels: 784, out_channels: 128, name: fc1}
    - ReLU: {}
    - Dense: {in_channels: 128, out_channels: 10, name: fc2}
loss: {SoftmaxCrossEntropyWithLogits: {sparse: true, reduction: mean}}
optimizer: {Momentum: {learning_rate: 0.01, momentum: 0.9}}
train: {epochs: 1}
"""

func profile(cards: Int = 1, steps: Int = 3, sink: Bool = false, sinkSize: Int? = nil, epochs: Int? = nil, yaml: String = mlpScript) throws -> Profile {
    var options = RunOptions()
    options.epochs = epochs
    options.cards = cards
    options.steps = steps
    options.sink = sink
    options.sinkSize = sinkSize
    options.record = true
    return Profile(devices: try ScriptRunner.run(try Script.parse(yaml: yaml, file: "/tmp/p.yaml"), options).devices)
}

/// The trace event format's rules, checked strictly: every event's required fields by phase,
/// numeric microsecond times, flows that start and finish once each, and no two complete events
/// of one lane that overlap.
func validate(_ bytes: [UInt8]) throws -> [[String: Any]] {
    let object = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
    let events = try #require(object?["traceEvents"] as? [[String: Any]])
    var flows: [Int: [String]] = [:]
    var lanes: [String: [(Double, Double)]] = [:]
    for e in events {
        let ph = try #require(e["ph"] as? String, "an event without ph: \(e)")
        #expect(e["name"] is String && e["pid"] is Int, "\(e)")
        switch ph {
        case "M": #expect(e["args"] is [String: Any])
        case "X":
            let ts = try #require(e["ts"] as? Double), dur = try #require(e["dur"] as? Double)
            #expect(e["tid"] is Int && ts >= 0 && dur >= 0, "\(e)")
            lanes["\(e["pid"]!)/\(e["tid"]!)", default: []].append((ts, ts + dur))
        case "i": #expect(e["ts"] is Double && ["g", "p", "t"].contains(e["s"] as? String ?? "t"), "\(e)")
        case "C": #expect(e["ts"] is Double && e["args"] is [String: Any], "\(e)")
        case "s", "f":
            #expect(e["ts"] is Double && e["tid"] is Int && e["cat"] is String, "\(e)")
            flows[try #require(e["id"] as? Int), default: []].append(ph)
        default: Issue.record("unknown phase \(ph)")
        }
    }
    for (id, phases) in flows { #expect(phases.sorted() == ["f", "s"], "flow \(id): \(phases)") }
    for (lane, spans) in lanes {
        let sorted = spans.sorted { $0.0 < $1.0 }
        for (a, b) in zip(sorted, sorted.dropFirst()) { #expect(b.0 >= a.1 - 1e-9, "lane \(lane): \(a) overlaps \(b)") }
    }
    return events
}

@Suite struct ProfileTests {
    @Test func theTraceFollowsTheFormatsRulesWithFlowsCountersAndStepMarks() throws {
        let p = try profile(cards: 2)
        let events = try validate(ChromeTrace.encode(p.devices))
        #expect(events.contains { $0["ph"] as? String == "s" }, "no flow arrows for event waits")
        #expect(events.contains { $0["ph"] as? String == "C" && $0["name"] as? String == "HBM in use" })
        #expect(events.filter { $0["ph"] as? String == "i" && $0["pid"] as? Int == 0 }.count == 3, "one step mark per step")
        let names = events.filter { $0["name"] as? String == "thread_name" }.compactMap { ($0["args"] as? [String: Any])?["name"] as? String }
        #expect(Set(names).isSuperset(of: ["host", "compute", "copy", "comm"]))
    }

    /// The tables add up: per type, op_statistic's totals are kernel_details' durations; every
    /// step's parts fill its window.
    @Test func theTablesAddUp() throws {
        let p = try profile(cards: 2)
        let rows = p.kernelDetails().split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false) }
        #expect(!rows.isEmpty && rows.allSatisfy { $0.count == 11 })
        var byType: [String: Double] = [:]
        for r in rows where r[0] == "0" { byType[String(r[6]), default: 0] += Double(r[9])! }
        let stats = p.opStatistics().filter { $0.device == 0 }
        for s in stats { #expect(abs(s.total.microseconds - byType[s.type]!) < 1e-3 * Double(s.count), "\(s.type)") }
        #expect(abs(stats.reduce(0) { $0 + $1.ratio } - 100) < 1e-6)
        for s in p.steps() {
            #expect(s.computing + s.communicationNotOverlapped + s.free == s.length, "card \(s.device) step \(s.step)")
            #expect(s.overlapped + s.communicationNotOverlapped == s.communication)
        }
        #expect(p.steps().map(\.step) == [0, 1, 2, 0, 1, 2])
    }

    /// Sink mode: one launch and one synchronisation per sink; without sinking, one per step (and
    /// one more when training ends).
    @Test func aSinkIsOneHostRoundTripAndAStepWithoutOneIsOne() throws {
        let plain = try profile(steps: 6), sunk = try profile(steps: 6, sink: true, sinkSize: 3, epochs: 2)  // an epoch is one sink
        func count(_ p: Profile, _ type: String) -> Int { p.devices[0].hostEvents.filter { $0.type == type }.count }
        #expect(count(plain, "GraphLaunch") == 6 && count(plain, "Synchronize") == 7 && count(plain, "SinkLaunch") == 0)
        #expect(count(sunk, "SinkLaunch") == 2 && count(sunk, "GraphLaunch") == 0 && count(sunk, "Synchronize") == 3)
    }

    /// Timing-only runs sink too: one launch and one synchronisation per sink, and every task at
    /// the time the numeric sink run gives it, on one card and on two.
    @Test(arguments: [1, 2])
    func aTimingOnlySinkMatchesTheNumericSink(cards: Int) throws {
        var o = RunOptions()
        (o.steps, o.sink, o.sinkSize, o.cards, o.epochs, o.record) = (4, true, 2, cards, 2, true)
        let script = try Script.parse(yaml: mlpScript.replacingOccurrences(of: "determinism: \"off\", order_seed: 3", with: "determinism: \"on\""), file: "/tmp/p.yaml")
        let numeric = try ScriptRunner.run(script, o).devices, timing = try ScriptRunner.simulate(script, o, steps: 4).devices
        func count(_ d: Device, _ type: String) -> Int { d.hostEvents.filter { $0.type == type }.count }
        #expect(count(timing[0], "SinkLaunch") == 2 && count(timing[0], "GraphLaunch") == 0)
        for k in 0..<cards {
            func lanes(_ d: Device) -> [String] { d.timeline.filter { $0.duration > .zero }.map { "\($0.streamName) \($0.name) \($0.start) \($0.end)" } }
            let (t, n) = (lanes(timing[k]), lanes(numeric[k]))
            #expect(t == n && !t.isEmpty, "card \(k): first difference \(zip(t, n).first { $0 != $1 }.map { "\($0) / \($1)" } ?? "\(t.count) / \(n.count) tasks")")
            // The same host work (a loss line per sink on card 0); the numeric run synchronises
            // once more when it ends.
            #expect(timing[k].hostEvents.map(\.type) + ["Synchronize"] == numeric[k].hostEvents.map(\.type), "card \(k)")
        }
    }

    /// Every card of a timing-only cluster but card 0 (whose host prints the loss lines) is alike,
    /// so simulating some of its cards gives each of them the timeline it has in the whole
    /// cluster, and every other card the same tables: 24 cards over three servers (the
    /// hierarchical AllReduce, a bucket per layer) against cards 0, 5 and 17 of them; and card 0
    /// alone asked for simulates card 1 too.
    @Test func someCardsOfAnAlikeClusterHaveTheWholeClustersTimelines() throws {
        let yaml = mlpScript.replacingOccurrences(of: "order_seed: 3}", with: "order_seed: 3, all_reduce_fusion_config: [2]}")
            .replacingOccurrences(of: "count: 320", with: "count: 1536")
        let script = try Script.parse(yaml: yaml, file: "/tmp/p.yaml")
        var o = RunOptions()
        o.cards = 24
        let whole = try ScriptRunner.simulate(script, o, steps: 3), some = try ScriptRunner.simulate(script, o, steps: 3, simulating: [5, 17])
        #expect(whole.devices.count == 24 && some.devices.map(\.ordinal) == [0, 5, 17] && some.cards == 24)
        #expect(whole.simulatedTime == some.simulatedTime && whole.samples == some.samples)
        func lanes(_ d: Device) -> [String] { d.timeline.map { "\($0.streamName) \($0.name) \($0.start) \($0.end)" } }
        for (k, d) in zip([0, 5, 17], some.devices) {
            #expect(lanes(d) == lanes(whole.devices[k]) && d.timeline.contains { $0.type == "AllReduce" && $0.duration > .zero }, "card \(k)")
        }
        let all = Profile(devices: whole.devices), part = Profile(devices: some.devices, cards: 24)
        #expect(part.opStatistic() == all.opStatistic() && part.stepTraceTime() == all.stepTraceTime(),
                "\(zip(part.stepTraceTime().split(separator: "\n"), all.stepTraceTime().split(separator: "\n")).filter { $0 != $1 }.prefix(3))")
        #expect(part.stepTraceTime().split(separator: "\n").count == 1 + 24 * 3)
        let first = try ScriptRunner.simulate(script, o, steps: 3, simulating: [0])
        #expect(first.devices.map(\.ordinal) == [0, 1] && Profile(devices: first.devices, cards: 24).stepTraceTime() == all.stepTraceTime())
    }

    /// 4 cards with a bucket per layer: the first bucket's AllReduce runs on the comm stream while
    /// the backward pass still computes, and the step breakdown counts the overlap.
    @Test func fourCardsOverlapTheAllReduceWithTheBackwardPass() throws {
        let yaml = mlpScript.replacingOccurrences(of: "order_seed: 3}", with: "order_seed: 3, all_reduce_fusion_config: [2]}")
        let p = try profile(cards: 4, yaml: yaml)
        let d = p.devices[0]
        let comm = d.timeline.filter { $0.type == "AllReduce" && $0.duration > .zero }
        let compute = d.timeline.filter { if case .kernel = $0.kind { true } else { false } }
        #expect(comm.contains { c in compute.contains { $0.start < c.end && c.start < $0.end } })
        #expect(p.steps().filter { $0.device == 0 }.allSatisfy { $0.overlapped > .zero })
    }

    @Test func theTimelineIsAnSVGWithALanePerStreamAndTheHost() throws {
        let p = try profile(cards: 2)
        let svg = TimelineSVG.render(p.devices, steps: 2)
        let parser = XMLParser(data: Data(svg.utf8))
        #expect(parser.parse(), "timeline.svg is not well-formed XML")
        for lane in ["NPU 0 host", "NPU 0 compute", "NPU 0 copy", "NPU 1 comm"] { #expect(svg.contains(">\(lane)</text>"), "\(lane)") }
        // The title names the steps drawn, each step line its step, and the axis ticks fall on
        // round values, the last label ending at its tick (issue 23: the title always said "the
        // first 3 steps", ticks fell on fifths of the span and the last label was cut off).
        #expect(svg.contains("NPUSim timeline: steps 0–1, simulated time in µs") && svg.contains(">step 0</text>") && svg.contains(">step 1</text>"), "\(svg.prefix(400))")
        // Tick labels: (x, anchor, value).
        func ticks(_ svg: String) -> [(Double, String, Double)] {
            svg.components(separatedBy: "<text x=\"").dropFirst().compactMap { piece in
                let x = Double(piece.prefix { $0 != "\"" }), anchor = piece.components(separatedBy: "text-anchor=\"").dropFirst().first?.prefix { $0 != "\"" }
                let label = piece.drop { $0 != ">" }.dropFirst().prefix { $0 != "<" }
                guard let x, let anchor, label.hasSuffix(" µs"), let value = Double(label.dropLast(3)) else { return nil }
                return (x, String(anchor), value)
            }
        }
        let axis = ticks(svg), spacing = axis.count > 1 ? axis[1].2 - axis[0].2 : 0
        #expect(axis.count >= 6 && axis.count <= 13 && axis[0].2 == 0 && [1.0, 2, 5, 10, 20, 50, 100, 200, 500].contains(spacing), "\(axis)")
        #expect(axis.enumerated().allSatisfy { $0.element.2 == Double($0.offset) * spacing }, "\(axis)")
        let three = TimelineSVG.render(p.devices, steps: 3)
        #expect(three.contains("steps 0–2"))
        for svg in [svg, three] { #expect(ticks(svg).allSatisfy { ($0.1 == "end") == ($0.0 > 1140) }, "\(ticks(svg))") }
        #expect(TimelineSVG.axis(.microseconds(419_000)) == ("ms", 1_000, 50_000) && TimelineSVG.axis(.microseconds(730)) == ("µs", 1, 100))
        #expect(TimelineSVG.axis(.microseconds(12_000_000)) == ("s", 1_000_000, 2_000_000) && TimelineSVG.label(0.25) == "0.25" && TimelineSVG.label(150) == "150")
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("npusim-profile-\(getpid())")
        defer { try? FileManager.default.removeItem(at: dir) }
        try p.write(to: dir.path)
        for f in ["ASCEND_PROFILER_OUTPUT/trace_view.json", "ASCEND_PROFILER_OUTPUT/kernel_details.csv", "ASCEND_PROFILER_OUTPUT/op_statistic.csv",
                  "ASCEND_PROFILER_OUTPUT/step_trace_time.csv", "ASCEND_PROFILER_OUTPUT/reductions.csv", "timeline.svg"] {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent(f).path), "\(f)")
        }
        let reductions = try String(contentsOf: dir.appendingPathComponent("ASCEND_PROFILER_OUTPUT/reductions.csv"), encoding: .utf8)
        #expect(reductions.hasPrefix("Device_id,Step ID,Name,Type,Site,Policy,Blocks,Block Sizes,Tile Size,Tiles,Order\n") && reductions.contains(",off,"))
    }
}

/// The trace of one small run, event by event (name, pid, tid, ts, dur of the complete events,
/// parsed, not bytes), against a golden copy: a change to the cost model, the scheduler or the
/// executor's launches shows here. Regenerate it with NPUSIM_UPDATE_GOLDEN=1 after a change that
/// is meant (and say why in the commit).
@Suite struct GoldenTraceTests {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/golden_trace.json")

    @Test func aTwoCardStepMatchesTheGoldenTrace() throws {
        let yaml = unfusedScript.replacingOccurrences(of: "determinism: \"off\", order_seed: 3", with: "determinism: \"on\"")
        let p = try profile(cards: 2, steps: 2, yaml: yaml)
        let events = try validate(ChromeTrace.encode(p.devices)).filter { $0["ph"] as? String == "X" }.map { e -> [String: Any] in
            ["name": e["name"]!, "pid": e["pid"]!, "tid": e["tid"]!, "ts": e["ts"]!, "dur": e["dur"]!]
        }
        if ProcessInfo.processInfo.environment["NPUSIM_UPDATE_GOLDEN"] != nil {
            try JSONSerialization.data(withJSONObject: events, options: [.prettyPrinted, .sortedKeys]).write(to: Self.golden)
        }
        let golden = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: Self.golden)) as? [[String: Any]])
        #expect(events.count == golden.count, "\(events.count) complete events, the golden trace has \(golden.count)")
        for (k, (a, b)) in zip(events, golden).enumerated() {
            let same = a["name"] as? String == b["name"] as? String && a["pid"] as? Int == b["pid"] as? Int && a["tid"] as? Int == b["tid"] as? Int
                && abs((a["ts"] as? Double ?? -1) - (b["ts"] as? Double ?? -2)) < 1e-9 && abs((a["dur"] as? Double ?? -1) - (b["dur"] as? Double ?? -2)) < 1e-9
            #expect(same, "event \(k): \(a) differs from the golden \(b)")
            if !same { break }
        }
    }
}

/// The model zoo's scripts profile on shapes alone, on the published per-card batch sizes, and
/// land near MindSpore's published Ascend 910 throughput (Docs/Profiling.md states the error).
@Suite struct ModelZooTests {
    static let zoo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples/zoo").standardized

    /// `band`: the allowed ratio to the published figure. ResNet-50 meets issue 23's ±15 %;
    /// BERT-Large is held to a factor of two until its remaining error is explained
    /// (Profiling.md: the sourced efficiency model leaves it about 80 % too fast).
    @Test(arguments: [("resnet50.yaml", 256, 2115.0, 0.85...1.15), ("bert_large.yaml", 96, 269.0, 0.5...2.0)])
    func aZooModelFitsTheCardAndLandsNearThePublishedThroughput(file: String, batch: Int, published: Double, band: ClosedRange<Double>) throws {
        let script = try Script.load(path: Self.zoo.appendingPathComponent(file).path)
        // ResNet-50 at batch 256 needed 41 GiB of a 32 GiB card while a view and a BatchNorm's
        // saved statistics held whole buffers alive; it fits now, as on the card.
        let run = try ScriptRunner.simulate(script, steps: 2)
        #expect(run.samples == 2 * batch)
        let again = try ScriptRunner.simulate(script, steps: 2)
        #expect(run.simulatedTime == again.simulatedTime)
        // The recorded errors (Profiling.md): ResNet-50 +5.4 %, BERT-Large +77 %.
        #expect(band.contains(run.samplesPerSecond / published), "\(run.samplesPerSecond) samples/s against \(published)")
    }
}

@Suite struct ProfileFormatTests {
    /// The tables' microseconds are printf's `%.3f` of the whole nanoseconds, computed without it.
    @Test func microsecondsAreExactlyPrintfsThreeDecimals() {
        for ns: Int64 in [0, 1, 9, 10, 999, 1000, 1001, 123_456_789, -1, -1500, 86_400_000_000_000] {
            #expect(Profile.us(SimTime(nanoseconds: ns)) == String(format: "%.3f", Double(ns) / 1000), "\(ns) ns")
        }
    }
}

@Suite struct FullNameTests {
    /// Every op of the reference MLP is named in MindSpore's scope form: the WithLossCell's
    /// backbone and loss, each layer as `attribute-Class` (index-named when it has no name), the
    /// gradients under `Gradients/…/grad<Op>/`, the optimizer's updates under `optimizer-Momentum`.
    @Test func kernelDetailsNameOpsAsMindSporesProfilerDoes() throws {
        let p = try profile(steps: 1, yaml: unfusedScript)
        let rows = p.kernelDetails().split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let names = rows.map { $0[5] }
        let net = "Default/network-WithLossCell/_backbone-SequentialCell"
        for expected in ["\(net)/fc1-Dense/MatMul-op0", "\(net)/fc1-Dense/BiasAdd-op1", "\(net)/1-ReLU/ReLU-op2",
                         "Default/network-WithLossCell/_loss_fn-SoftmaxCrossEntropyWithLogits/SoftmaxCrossEntropyWithLogits-op5",
                         "Gradients/\(net)/fc2-Dense/gradMatMul/MatMul-op8", "Gradients/\(net)/1-ReLU/gradReLU/ReluGrad-op10",
                         "Default/optimizer-Momentum/ApplyMomentum-op14"] {
            #expect(names.contains(expected), "\(expected) in \(names)")
        }
        // Every kernel has a full name, and each is unique within the step.
        let kernels = rows.filter { $0[7].hasPrefix("AI_") }.map { $0[5] }
        #expect(kernels.allSatisfy { $0.hasPrefix("Default/") || $0.hasPrefix("Gradients/Default/") } && Set(kernels).count == kernels.count)
    }

    /// On an Ascend profile graph mode fuses as the card's compiler does: Dense's MatMul, BiasAdd
    /// and the ReLU after it are one kernel, named FusionOp_ and its ops' types in the first op's
    /// scope, its ops listed in the trace's args; the gradient of the ReLU joins the product
    /// that reads it no more (it is read by two), and the optimizer's ApplyMomentum stays one.
    @Test func fusedKernelsCarryTheirOpsNames() throws {
        let p = try profile(steps: 1)
        let rows = p.kernelDetails().split(separator: "\n").dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let names = rows.map { $0[5] }, types = rows.map { $0[6] }
        let net = "Default/network-WithLossCell/_backbone-SequentialCell"
        #expect(names.contains("\(net)/fc1-Dense/FusionOp_MatMul_BiasAdd_ReLU"), "\(names)")
        #expect(types.contains("FusionOp_MatMul_BiasAdd_ReLU") && types.contains("FusionOp_MatMul_BiasAdd"), "\(types)")
        #expect(!types.contains("ReLU") && !types.contains("BiasAdd"), "\(types)")
        #expect(types.filter { $0 == "ApplyMomentum" }.count == 4)
        let events = try validate(ChromeTrace.encode(p.devices)).filter { $0["ph"] as? String == "X" }
        let fused = try #require(events.first { $0["name"] as? String == "\(net)/fc1-Dense/FusionOp_MatMul_BiasAdd_ReLU" })
        let args = try #require(fused["args"] as? [String: Any])
        #expect(args["fused_ops"] as? [String] == ["fc1/MatMul", "fc1/BiasAdd", "ReLU"], "\(args)")
        #expect(args["engine"] as? String == "cube")
        // One kernel where there were three: fewer tasks, and a shorter step on the card.
        let unfused = try profile(steps: 1, yaml: unfusedScript)
        let kernels = { (p: Profile) in p.devices[0].timeline.filter { if case .kernel = $0.kind { true } else { false } } }
        #expect(kernels(p).count < kernels(unfused).count)
        let busy = { (p: Profile) in kernels(p).reduce(SimTime.zero) { $0 + $1.duration } }
        #expect(busy(p) < busy(unfused), "fused \(busy(p)), unfused \(busy(unfused))")
    }

    /// A network of nodes: a node's layer is its cell (`conv1-Conv2d`), an op node sits in the
    /// network's own scope.
    @Test func nodeNetworksNameTheirCellsByNode() throws {
        let yaml = unfusedScript.replacingOccurrences(of: """
          layers:
            - Dense: {in_channels: 784, out_channels: 128, name: fc1}
            - ReLU: {}
            - Dense: {in_channels: 128, out_channels: 10, name: fc2}
        """, with: """
          nodes:
            - {name: a, Dense: {in_channels: 784, out_channels: 10}, input: data}
            - {name: act, ReLU: {}, input: a}
            - {name: sum, Add: {}, inputs: [a, act]}
          output: sum
        """)
        #expect(yaml != mlpScript)
        let names = Set(try profile(steps: 1, yaml: yaml).kernelDetails().split(separator: "\n").map { String($0.split(separator: ",")[5]) })
        let net = "Default/network-WithLossCell/_backbone-Net"
        for expected in ["\(net)/a-Dense/MatMul-op0", "\(net)/act-ReLU/ReLU-op2", "\(net)/Add-op3"] { #expect(names.contains(expected), "\(expected)") }
    }
}


@Suite struct TraceWriteTests {
    /// The trace written while it is encoded, in pieces, is byte for byte the trace encoded at once.
    @Test func writingInPiecesGivesTheSameBytes() throws {
        let p = try profile(cards: 2, steps: 2)
        let whole = ChromeTrace.encode(p.devices)
        var pieces: [[UInt8]] = []
        ChromeTrace.encode(p.devices, chunkBytes: 1000) { pieces.append($0) }
        #expect(pieces.count > 10 && pieces.dropLast().allSatisfy { $0.count >= 1000 } && Array(pieces.joined()) == whole)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("npusim-trace-\(getpid()).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try ChromeTrace.write(p.devices, to: path)
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: path))) == whole)
        #expect(throws: ProfileError.self) { try ChromeTrace.write(p.devices, to: "/proc/no-such-dir/trace.json") }
    }
}
