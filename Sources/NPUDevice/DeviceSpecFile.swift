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
        ("launch_overhead_us", "kernel launch overhead, µs"),
        ("host_latency_us", "host↔device copy latency, µs"),
        ("host_bandwidth_gbps", "host↔device bandwidth, GB/s"),
        ("link_latency_us", "inter-card link latency, µs"),
        ("link_bandwidth_gbps", "inter-card link bandwidth per direction, GB/s"),
        ("reduction_block_min", "fewest reduced elements per AI-core block of a split reduction (positive integer)"),
    ]

    /// Loads a profile from a YAML file. With `base:` the file overrides a built-in profile's
    /// figures; without it every field is required.
    /// - Throws: `DeviceSpecError` naming the file, line and field.
    public static func load(path: String) throws -> DeviceSpec {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw DeviceSpecError(file: path, message: "cannot read the device profile: \(error.localizedDescription)")
        }
        return try parse(yaml: text, file: path)
    }

    /// Parses a profile from YAML text; `file` names it in errors.
    public static func parse(yaml: String, file: String) throws -> DeviceSpec {
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
            let required = fileFields.map(\.key).filter { $0 != "base" && $0 != "summary" }
            if let missing = required.first(where: { values[$0] == nil }) {
                throw fieldError(file, root, missing, "is missing; a profile without 'base' needs every field (\(required.joined(separator: ", ")))")
            }
            spec = DeviceSpec.test
            spec.summary = "loaded from \(file)"
        }
        if let n = values["name"] { spec.name = try string(n, "name", file) }
        if let n = values["summary"] { spec.summary = try string(n, "summary", file) }
        if let n = values["ai_cores"] {
            let cores = try positive(n, "ai_cores", file)
            guard cores == cores.rounded(), cores <= 1_000_000 else {
                throw fieldError(file, n, "ai_cores", "expected a whole number of cores, got \(n.string ?? "?")")
            }
            spec.aiCores = Int(cores)
        }
        if let n = values["cube_tflops"] { spec.cubePeak = try peaks(n, "cube_tflops", file) }
        if let n = values["vector_tflops"] { spec.vectorPeak = try peaks(n, "vector_tflops", file) }
        if let n = values["hbm_gib"] {
            let gib = try positive(n, "hbm_gib", file)
            guard gib < 1e9 else { throw fieldError(file, n, "hbm_gib", "expected at most 1e9 GiB, got \(gib)") }
            spec.hbmBytes = Int64((gib * 1_073_741_824).rounded())
        }
        if let n = values["hbm_bandwidth_gbps"] { spec.hbmBandwidth = try positive(n, "hbm_bandwidth_gbps", file) * 1e9 }
        if let n = values["launch_overhead_us"] { spec.launchOverhead = .microseconds(try nonNegative(n, "launch_overhead_us", file)) }
        if let n = values["host_latency_us"] { spec.hostLatency = .microseconds(try nonNegative(n, "host_latency_us", file)) }
        if let n = values["host_bandwidth_gbps"] { spec.hostBandwidth = try positive(n, "host_bandwidth_gbps", file) * 1e9 }
        if let n = values["link_latency_us"] { spec.linkLatency = .microseconds(try nonNegative(n, "link_latency_us", file)) }
        if let n = values["link_bandwidth_gbps"] { spec.linkBandwidth = try positive(n, "link_bandwidth_gbps", file) * 1e9 }
        if let n = values["reduction_block_min"] {
            let v = try positive(n, "reduction_block_min", file)
            guard v == v.rounded(), v <= 1_073_741_824 else {
                throw fieldError(file, n, "reduction_block_min", "expected a whole number of elements, got \(n.string ?? "?")")
            }
            spec.reductionBlockMin = Int(v)
        }
        if spec.vectorPeak[.float32] == nil {
            throw fieldError(file, values["vector_tflops"] ?? root, "vector_tflops", "must give a float32 peak (elementwise ops and reductions run in float32)")
        }
        return spec
    }

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

    private static func positive(_ node: Node, _ field: String, _ file: String) throws -> Double {
        let v = try number(node, field, file)
        guard v > 0 else { throw fieldError(file, node, field, "expected a positive number, got \(node.scalar?.string ?? "?")") }
        return v
    }

    private static func nonNegative(_ node: Node, _ field: String, _ file: String) throws -> Double {
        let v = try number(node, field, file)
        guard v >= 0 else { throw fieldError(file, node, field, "expected zero or a positive number, got \(node.scalar?.string ?? "?")") }
        return v
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
            result[precision] = try positive(value, "\(field).\(name)", file) * 1e12
        }
        return result
    }

    private static func describe(_ node: Node) -> String {
        if let s = node.scalar?.string { return "'\(s)'" }
        return node.mapping != nil ? "a mapping" : "a list"
    }
}
