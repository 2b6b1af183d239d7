import Foundation
import Yams

/// A device profile file that could not be used.
public struct DeviceSpecError: Error, Equatable, CustomStringConvertible {
    /// The file, as the user named it.
    public var file: String
    /// 1-based line and column of the offending value, when known.
    public var line: Int?
    public var column: Int?
    /// What was wrong and what is valid.
    public var message: String

    public var description: String {
        var place = file
        if let line { place += ":\(line)" }
        if let column { place += ":\(column)" }
        return "\(place): \(message)"
    }
}

extension DeviceSpec {
    /// The YAML fields of a profile file with their units, in the order they are documented.
    public static let fileFields: [(key: String, meaning: String)] = [
        ("name", "profile name"),
        ("base", "built-in profile whose figures the file starts from (optional)"),
        ("summary", "one line saying what the profile models"),
        ("ai_cores", "AI cores (positive integer)"),
        ("cube_tflops", "cube peak per precision, TFLOP/s (map: float16, bfloat16, float32, int8)"),
        ("vector_tflops", "vector peak per precision, TFLOP/s (same keys)"),
        ("hbm_gib", "HBM capacity, GiB"),
        ("hbm_bandwidth_gbps", "HBM bandwidth, GB/s"),
        ("hbm_efficiency", "fraction of the HBM bandwidth a streaming kernel sustains (optional; default 1)"),
        ("launch_overhead_us", "kernel launch overhead, µs"),
        ("host_latency_us", "host↔device copy latency, µs"),
        ("host_bandwidth_gbps", "host↔device bandwidth, GB/s"),
        ("link_latency_us", "inter-card link latency, µs"),
        ("link_bandwidth_gbps", "inter-card link bandwidth per direction, GB/s"),
        ("reduction_block_min", "fewest reduced elements per AI-core block of a split reduction (positive integer)"),
        ("reduction_tile", "output elements one AI core adds atomically; under off each tile has its own order (positive integer)"),
        ("cube_tile", "side of the cube's square output tile, elements (positive integer)"),
        ("host_dispatch_us", "host time to dispatch one op in PyNative mode, µs (optional; default 20)"),
        ("graph_launch_us", "host time to launch one step of a compiled graph, µs (optional; default 60)"),
        ("sink_launch_us", "host time to launch one sink of steps, µs (optional; default 80)"),
        ("sync_us", "host time of a synchronisation round trip, µs (optional; default 15)"),
        ("callback_us", "host time of one callback (a loss line printed), µs (optional; default 5)"),
        ("cards_per_server", "cards on one server board, joined by the on-board links (optional; default 8)"),
        ("board_link", "what joins a server's cards: hccs (the link figures) or pcie (the host-link figures) (optional; default hccs)"),
        ("roce_latency_us", "latency of the links between servers (RoCE), µs (optional; default 10)"),
        ("roce_bandwidth_gbps", "bandwidth of the links between servers per card and direction, GB/s (optional; default 12.5)"),
        ("ub_fusion", "whether graph mode fuses kernels as Ascend's compiler does: true or false (optional; default false)"),
        ("cube_efficiency", "fraction of the cube peak a large product sustains (optional; default 1)"),
        ("vector_efficiency", "fraction of the vector peak a compute-bound vector kernel sustains (optional; default 1)"),
        ("l1_to_l0a_rate", "an AI core's L1 → L0A path, bytes per cycle (optional, with the other three cube paths; default: not modelled)"),
        ("l1_to_l0b_rate", "an AI core's L1 → L0B path, bytes per cycle (optional, as above)"),
        ("l0c_to_ub_rate", "an AI core's L0C → unified buffer path, bytes per cycle (optional, as above)"),
        ("l0c_kib", "an AI core's L0C buffer, KiB (optional, as above)"),
    ]

    /// The valid range of each numeric field, in the file's units.
    public static let fieldRanges: [String: ClosedRange<Double>] = [
        "ai_cores": 1...65_536,
        "cube_tflops": 1e-6...1e6, "vector_tflops": 1e-6...1e6,
        "hbm_gib": 0.001...1_048_576,
        "hbm_bandwidth_gbps": 0.001...1e6, "hbm_efficiency": 0.01...1, "host_bandwidth_gbps": 0.001...1e6, "link_bandwidth_gbps": 0.001...1e6,
        "launch_overhead_us": 0...1e6, "host_latency_us": 0...1e6, "link_latency_us": 0...1e6,
        "reduction_block_min": 1...1_048_576, "reduction_tile": 1...1_048_576, "cube_tile": 1...1024,
        "host_dispatch_us": 0...1e6, "graph_launch_us": 0...1e6, "sink_launch_us": 0...1e6, "sync_us": 0...1e6, "callback_us": 0...1e6,
        "cards_per_server": 1...1024, "roce_latency_us": 0...1e6, "roce_bandwidth_gbps": 0.001...1e6,
        "cube_efficiency": 0.01...1, "vector_efficiency": 0.01...1,
        "l1_to_l0a_rate": 1...1e6, "l1_to_l0b_rate": 1...1e6, "l0c_to_ub_rate": 1...1e6, "l0c_kib": 1...1_048_576,
    ]

    /// The longest profile file read.
    public static let fileLimit = 1 << 20

    /// Loads a profile from a YAML file. With `base:` the file overrides a built-in profile's
    /// figures; without it every field is required.
    /// - Throws: `DeviceSpecError` naming the file, line and field.
    public static func load(path: String) throws -> DeviceSpec {
        let bytes: [UInt8]
        do {
            bytes = try readUserFile(path, what: "device profile", limit: fileLimit)
        } catch {
            throw DeviceSpecError(file: path, message: error.message)
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw DeviceSpecError(file: path, message: "is not UTF-8 text; a device profile is a YAML file")
        }
        return try parse(yaml: text, file: path)
    }

    /// Parses a profile from YAML text; `file` names it in errors.
    public static func parse(yaml: String, file: String) throws -> DeviceSpec {
        if let bad = unsupportedYAMLStructure(yaml) { throw DeviceSpecError(file: file, line: bad.line, column: bad.column, message: bad.message) }
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: yaml) else {
                throw DeviceSpecError(file: file, message: "the device profile is empty; expected a mapping with the fields \(fieldList)")
            }
            root = node
        } catch let error as DeviceSpecError {
            throw error
        } catch let error as YamlError {
            throw yamlError(error, file: file)
        } catch {
            throw DeviceSpecError(file: file, message: "not valid YAML: \(error)")
        }
        guard let mapping = root.mapping else {
            throw fieldError(file, root, nil, "the device profile must be a mapping of fields (\(fieldList))")
        }
        var values: [String: Node] = [:]
        for (keyNode, value) in mapping {
            guard let key = keyNode.string, fileFields.contains(where: { $0.key == key }) else {
                throw fieldError(file, keyNode, nil, "unknown field '\(keyNode.string ?? "?")'; valid fields are \(fieldList)")
            }
            values[key] = value
        }
        var spec: DeviceSpec
        if let baseNode = values["base"] {
            let baseName = try string(baseNode, "base", file)
            guard let base = builtIn(named: baseName) else {
                throw fieldError(file, baseNode, "base", "no built-in profile '\(baseName)'; built-in profiles are \(builtIn.map(\.name).joined(separator: ", "))")
            }
            spec = base
            spec.summary = "based on \(base.name)"
        } else {
            let optional = Set(["base", "summary", "reduction_tile", "cube_tile", "host_dispatch_us", "graph_launch_us", "sink_launch_us",
                                 "sync_us", "callback_us", "cards_per_server", "roce_latency_us", "roce_bandwidth_gbps", "board_link", "hbm_efficiency",
                                 "ub_fusion", "cube_efficiency", "vector_efficiency"] + cubePathFields)
            let required = fileFields.map(\.key).filter { !optional.contains($0) }
            if let missing = required.first(where: { values[$0] == nil }) {
                throw fieldError(file, root, missing, "is missing; a profile without 'base' needs every field (\(required.joined(separator: ", ")))")
            }
            spec = DeviceSpec.test
            spec.summary = "loaded from \(file)"
            // The optional fields' documented defaults, not the test profile's figures.
            spec.reductionTile = 256
            spec.cubeTile = 16
            spec.host = .ascend
            spec.cardsPerServer = 8
            spec.boardLink = .onBoard
            spec.interServerLatency = .microseconds(10)
            spec.interServerBandwidth = 12.5e9
            spec.hbmEfficiency = 1
            spec.ubFusion = false
            spec.cubeEfficiency = 1
            spec.vectorEfficiency = 1
            spec.cubePaths = nil
        }
        if let n = values["name"] {
            let name = try string(n, "name", file)
            let allowed = name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "._+-".unicodeScalars.contains($0)) }
            guard allowed, name.count <= 64 else {
                throw fieldError(file, n, "name", "must be at most 64 letters, digits, '.', '_', '+' or '-', got '\(printable(name))'")
            }
            spec.name = name
        }
        if let n = values["summary"] {
            let summary = try string(n, "summary", file)
            guard summary.count <= 200, printable(summary) == summary else {
                throw fieldError(file, n, "summary", "must be one line of at most 200 printable characters, got '\(printable(String(summary.prefix(200))))'")
            }
            spec.summary = summary
        }
        if let n = values["ai_cores"] { spec.aiCores = try whole(n, "ai_cores", file) }
        if let n = values["cube_tflops"] { spec.cubePeak = try peaks(n, "cube_tflops", file) }
        if let n = values["vector_tflops"] { spec.vectorPeak = try peaks(n, "vector_tflops", file) }
        if let n = values["hbm_gib"] { spec.hbmBytes = Int64((try ranged(n, "hbm_gib", file) * 1_073_741_824).rounded()) }
        if let n = values["hbm_bandwidth_gbps"] { spec.hbmBandwidth = try ranged(n, "hbm_bandwidth_gbps", file) * 1e9 }
        if let n = values["hbm_efficiency"] { spec.hbmEfficiency = try ranged(n, "hbm_efficiency", file) }
        if let n = values["launch_overhead_us"] { spec.launchOverhead = .microseconds(try ranged(n, "launch_overhead_us", file)) }
        if let n = values["host_latency_us"] { spec.hostLatency = .microseconds(try ranged(n, "host_latency_us", file)) }
        if let n = values["host_bandwidth_gbps"] { spec.hostBandwidth = try ranged(n, "host_bandwidth_gbps", file) * 1e9 }
        if let n = values["link_latency_us"] { spec.linkLatency = .microseconds(try ranged(n, "link_latency_us", file)) }
        if let n = values["link_bandwidth_gbps"] { spec.linkBandwidth = try ranged(n, "link_bandwidth_gbps", file) * 1e9 }
        if let n = values["reduction_block_min"] { spec.reductionBlockMin = try whole(n, "reduction_block_min", file) }
        if let n = values["reduction_tile"] { spec.reductionTile = try whole(n, "reduction_tile", file) }
        if let n = values["cube_tile"] { spec.cubeTile = try whole(n, "cube_tile", file) }
        if let n = values["host_dispatch_us"] { spec.host.dispatch = .microseconds(try ranged(n, "host_dispatch_us", file)) }
        if let n = values["graph_launch_us"] { spec.host.graphLaunch = .microseconds(try ranged(n, "graph_launch_us", file)) }
        if let n = values["sink_launch_us"] { spec.host.sinkLaunch = .microseconds(try ranged(n, "sink_launch_us", file)) }
        if let n = values["sync_us"] { spec.host.syncRoundTrip = .microseconds(try ranged(n, "sync_us", file)) }
        if let n = values["callback_us"] { spec.host.callback = .microseconds(try ranged(n, "callback_us", file)) }
        if let n = values["cards_per_server"] { spec.cardsPerServer = try whole(n, "cards_per_server", file) }
        if let n = values["board_link"] {
            switch try string(n, "board_link", file) {
            case "hccs": spec.boardLink = .onBoard
            case "pcie": spec.boardLink = .pcie
            case let other: throw fieldError(file, n, "board_link", "is '\(printable(other))'; valid values are hccs, pcie")
            }
        }
        if let n = values["ub_fusion"] {
            switch try string(n, "ub_fusion", file) {
            case "true": spec.ubFusion = true
            case "false": spec.ubFusion = false
            case let other: throw fieldError(file, n, "ub_fusion", "is '\(printable(other))'; valid values are true, false")
            }
        }
        if let n = values["cube_efficiency"] { spec.cubeEfficiency = try ranged(n, "cube_efficiency", file) }
        if let n = values["vector_efficiency"] { spec.vectorEfficiency = try ranged(n, "vector_efficiency", file) }
        let pathNodes = cubePathFields.compactMap { key in values[key].map { (key, $0) } }
        if !pathNodes.isEmpty {
            var paths = spec.cubePaths
            if paths == nil {
                guard pathNodes.count == cubePathFields.count else {
                    let missing = cubePathFields.filter { values[$0] == nil }
                    throw fieldError(file, pathNodes[0].1, pathNodes[0].0, "needs the other cube paths too (missing: \(missing.joined(separator: ", "))); give all of \(cubePathFields.joined(separator: ", ")) or none")
                }
                paths = CubePaths(l1ToL0a: 1, l1ToL0b: 1, l0cToUb: 1, l0cBytes: 1)
            }
            for (key, node) in pathNodes {
                switch key {
                case "l1_to_l0a_rate": paths!.l1ToL0a = try ranged(node, key, file)
                case "l1_to_l0b_rate": paths!.l1ToL0b = try ranged(node, key, file)
                case "l0c_to_ub_rate": paths!.l0cToUb = try ranged(node, key, file)
                default: paths!.l0cBytes = Int((try ranged(node, key, file) * 1024).rounded())
                }
            }
            spec.cubePaths = paths
        }
        if let n = values["roce_latency_us"] { spec.interServerLatency = .microseconds(try ranged(n, "roce_latency_us", file)) }
        if let n = values["roce_bandwidth_gbps"] { spec.interServerBandwidth = try ranged(n, "roce_bandwidth_gbps", file) * 1e9 }
        if spec.vectorPeak[.float32] == nil {
            throw fieldError(file, values["vector_tflops"] ?? root, "vector_tflops", "must give a float32 peak (elementwise ops and reductions run in float32)")
        }
        return spec
    }

    /// The four figures of `CubePaths`: given all together, or over a base that has them.
    private static let cubePathFields = ["l1_to_l0a_rate", "l1_to_l0b_rate", "l0c_to_ub_rate", "l0c_kib"]

    private static var fieldList: String { fileFields.map(\.key).joined(separator: ", ") }

    private static func fieldError(_ file: String, _ node: Node, _ field: String?, _ message: String) -> DeviceSpecError {
        let mark = node.mark
        let text = field.map { "field '\($0)' \(message)" } ?? message
        return DeviceSpecError(file: file, line: mark.map { $0.line }, column: mark.map { $0.column }, message: text)
    }

    private static func yamlError(_ error: YamlError, file: String) -> DeviceSpecError {
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _):
            let what = [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ")
            return DeviceSpecError(file: file, line: mark.line, column: mark.column, message: "not valid YAML: \(what)")
        default:
            return DeviceSpecError(file: file, message: "not valid YAML: \(error)")
        }
    }

    private static func string(_ node: Node, _ field: String, _ file: String) throws -> String {
        guard let s = node.scalar?.string, !s.isEmpty else {
            throw fieldError(file, node, field, "expected a non-empty text value")
        }
        return s
    }

    private static func number(_ node: Node, _ field: String, _ file: String) throws -> Double {
        guard let s = node.scalar?.string, let v = Double(s.replacingOccurrences(of: "_", with: "")), v.isFinite else {
            throw fieldError(file, node, field, "expected a number, got \(describe(node))")
        }
        return v
    }

    /// A number within the field's range (`fieldRanges`; `field` may be `cube_tflops.float16`).
    private static func ranged(_ node: Node, _ field: String, _ file: String) throws -> Double {
        let v = try number(node, field, file)
        let range = fieldRanges[String(field.prefix { $0 != "." })]!
        guard range.contains(v) else {
            throw fieldError(file, node, field, "is \(node.scalar?.string ?? "?"); valid values are \(figure(range.lowerBound)) to \(figure(range.upperBound))")
        }
        return v
    }

    /// A whole number within the field's range.
    private static func whole(_ node: Node, _ field: String, _ file: String) throws -> Int {
        let v = try ranged(node, field, file)
        guard v == v.rounded() else { throw fieldError(file, node, field, "expected a whole number, got \(node.scalar?.string ?? "?")") }
        return Int(v)
    }

    private static func figure(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e7 ? String(Int(v)) : "\(v)"
    }

    private static func peaks(_ node: Node, _ field: String, _ file: String) throws -> [Precision: Double] {
        let valid = Precision.allCases.map(\.rawValue).joined(separator: ", ")
        guard let mapping = node.mapping else {
            throw fieldError(file, node, field, "expected a map from precision (\(valid)) to TFLOP/s, got \(describe(node))")
        }
        var result: [Precision: Double] = [:]
        for (key, value) in mapping {
            guard let name = key.string, let precision = Precision(rawValue: name) else {
                throw fieldError(file, key, field, "has unknown precision '\(key.string ?? "?")'; valid precisions are \(valid)")
            }
            result[precision] = try ranged(value, "\(field).\(name)", file) * 1e12
        }
        return result
    }

    private static func describe(_ node: Node) -> String {
        if let s = node.scalar?.string { return "'\(s)'" }
        return node.mapping != nil ? "a mapping" : "a list"
    }
}
