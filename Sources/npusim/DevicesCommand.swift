import ArgumentParser
import Foundation
import NPUSim

struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "List the device profiles and their figures.",
        discussion: "Built-in profiles are listed; PROFILE.yaml files given as arguments are loaded, checked and listed too."
    )

    @Option(name: .long, help: "Also load and list this profile YAML file (repeatable).")
    var profile: [String] = []

    @Flag(name: .long, help: "One JSON object per profile.")
    var json = false

    func run() throws {
        let specs = try DeviceSpec.builtIn + profile.map { try DeviceSpec.load(path: $0) }
        if json {
            for spec in specs { emit(jsonLine(spec)) }
            return
        }
        for (i, spec) in specs.enumerated() {
            if i > 0 { emit("") }
            emit("\(spec.name) — \(spec.summary)")
            for (label, value) in rows(spec) { emit("  \(label.padding(toLength: 22, withPad: " ", startingAt: 0)) \(value)") }
        }
    }

    private func peaks(_ peaks: [Precision: Double]) -> String {
        Precision.allCases.compactMap { p in peaks[p].map { "\(p.rawValue) \(number($0 / 1e12))" } }.joined(separator: ", ")
    }

    private func rows(_ s: DeviceSpec) -> [(String, String)] {
        [
            ("AI cores", "\(s.aiCores)"),
            ("cube peak (TFLOP/s)", peaks(s.cubePeak)),
            ("vector peak (TFLOP/s)", peaks(s.vectorPeak)),
            ("HBM", "\(number(Double(s.hbmBytes) / 1_073_741_824)) GiB at \(number(s.hbmBandwidth / 1e9)) GB/s, \(number(s.hbmEfficiency * 100)) % sustained"),
            ("launch overhead", "\(s.launchOverhead)"),
            ("host link", "\(number(s.hostBandwidth / 1e9)) GB/s, latency \(s.hostLatency)"),
            ("inter-card link", "\(number(s.linkBandwidth / 1e9)) GB/s, latency \(s.linkLatency)"),
            ("reduction block min", "\(s.reductionBlockMin) elements"),
            ("reduction tile", "\(s.reductionTile) output elements"),
            ("cube tile", "\(s.cubeTile)×\(s.cubeTile)"),
            ("sustained", "cube \(number(s.cubeEfficiency * 100)) %, vector \(number(s.vectorEfficiency * 100)) % of peak"),
            ("cube paths", s.cubePaths.map { "L1→L0A \(number($0.l1ToL0a)), L1→L0B \(number($0.l1ToL0b)), L0C→UB \(number($0.l0cToUb)) B/cycle; L0C \($0.l0cBytes >> 10) KiB" } ?? "not modelled"),
            ("host dispatch", "\(number(s.host.dispatch.microseconds)) µs per op"),
            ("graph launch", "\(number(s.host.graphLaunch.microseconds)) µs per step"),
            ("sink launch", "\(number(s.host.sinkLaunch.microseconds)) µs per sink"),
            ("sync round trip", "\(number(s.host.syncRoundTrip.microseconds)) µs"),
            ("host callback", "\(number(s.host.callback.microseconds)) µs"),
            ("cards per server", "\(s.cardsPerServer)"),
            ("board link", s.boardLink == .pcie ? "PCIe (host-link figures)" : "HCCS (link figures)"),
            ("RoCE latency", "\(number(s.interServerLatency.microseconds)) µs"),
            ("RoCE bandwidth", "\(number(s.interServerBandwidth / 1e9)) GB/s per direction"),
        ]
    }

    private func jsonLine(_ s: DeviceSpec) -> String {
        func map(_ peaks: [Precision: Double]) -> [String: Double] {
            Dictionary(uniqueKeysWithValues: peaks.map { ($0.key.rawValue, $0.value / 1e12) })
        }
        var object: [String: Any] = [
            "name": s.name, "summary": s.summary, "ai_cores": s.aiCores,
            "cube_tflops": map(s.cubePeak), "vector_tflops": map(s.vectorPeak),
            "hbm_bytes": s.hbmBytes, "hbm_bandwidth_gbps": s.hbmBandwidth / 1e9, "hbm_efficiency": s.hbmEfficiency,
            "launch_overhead_us": s.launchOverhead.microseconds,
            "host_latency_us": s.hostLatency.microseconds, "host_bandwidth_gbps": s.hostBandwidth / 1e9,
            "link_latency_us": s.linkLatency.microseconds, "link_bandwidth_gbps": s.linkBandwidth / 1e9,
            "reduction_block_min": s.reductionBlockMin, "reduction_tile": s.reductionTile, "cube_tile": s.cubeTile,
            "host_dispatch_us": s.host.dispatch.microseconds, "graph_launch_us": s.host.graphLaunch.microseconds,
            "sink_launch_us": s.host.sinkLaunch.microseconds, "sync_us": s.host.syncRoundTrip.microseconds,
            "callback_us": s.host.callback.microseconds, "cards_per_server": s.cardsPerServer, "board_link": s.boardLink == .pcie ? "pcie" : "hccs",
            "roce_latency_us": s.interServerLatency.microseconds, "roce_bandwidth_gbps": s.interServerBandwidth / 1e9,
            "cube_efficiency": s.cubeEfficiency, "vector_efficiency": s.vectorEfficiency,
        ]
        if let p = s.cubePaths {
            object["l1_to_l0a_rate"] = p.l1ToL0a
            object["l1_to_l0b_rate"] = p.l1ToL0b
            object["l0c_to_ub_rate"] = p.l0cToUb
            object["l0c_kib"] = p.l0cBytes >> 10
        }
        // Every figure is finite (profiles are range-checked), so serialisation cannot fail.
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else {
            preconditionFailure("profile \(s.name) has a figure JSON cannot hold")
        }
        return String(decoding: data, as: UTF8.self)
    }
}

/// A figure without trailing zeros: 256, 1.2, 0.125.
func number(_ x: Double) -> String {
    if x == x.rounded() && abs(x) < 1e15 { return String(Int64(x)) }
    var s = String(format: "%.3f", x)
    while s.hasSuffix("0") { s.removeLast() }
    return s
}
