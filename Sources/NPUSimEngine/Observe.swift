import Foundation
import NPUDevice
import NPUGraph
import NPUOps
import NPUTensor
import NPUTrain

// `npusim localize train.py`: every op launch of a script's process (its models' compiled
// steps, its jit graphs, its PyNative ops) observed in execution order. Replay A records a
// fingerprint of each launch's outputs; replay B compares its own with them and keeps the first
// launch that differs; replay A runs again and keeps that launch. The CLI compares the two kept
// launches as `Localization` does for a YAML script.

/// One observed launch.
struct Launch {
    var step: Int
    var sink: Int?
    var card: Int
    var name: String
    var fullName: String
    var type: String
    var outputs: [Tensor]
    var plans: [PlanRecord]
}

/// The process's observation, while one is set.
final class Observation: @unchecked Sendable {
    enum Mode {
        /// Record every launch's fingerprints.
        case record
        /// Compare with replay A's fingerprints; keep the first launch that differs.
        case compare([[UInt64]])
        /// Keep launch number `index` (from 0).
        case capture(Int)
    }

    nonisolated(unsafe) static var current: Observation?

    let mode: Mode
    let path: String
    private let lock = NSLock()
    private(set) var count = 0
    var fingerprints: [[UInt64]] = []
    var kept: (position: Int, output: Int, launch: Launch)?

    init(mode: Mode, path: String) { (self.mode, self.path) = (mode, path) }

    func observe(_ launch: @autoclosure () -> Launch) {
        lock.withLock {
            defer { count += 1 }
            guard kept == nil else { return }
            switch mode {
            case .record:
                fingerprints.append(launch().outputs.map(Self.fingerprint))
            case .compare(let reference):
                guard count < reference.count else { return }
                let l = launch(), mine = l.outputs.map(Self.fingerprint)
                if let k = mine.indices.first(where: { $0 >= reference[count].count || mine[$0] != reference[count][$0] })
                    ?? (mine.count != reference[count].count ? 0 : nil) {
                    kept = (count, k, Self.copied(l))
                }
            case .capture(let index):
                if count == index { kept = (count, 0, Self.copied(launch())) }
            }
        }
    }

    /// Copies that outlive the step's storage pool.
    static func copied(_ l: Launch) -> Launch {
        var c = l
        c.outputs = l.outputs.map { $0.contiguous() }
        return c
    }

    func observe(card: Int, _ out: NodeOutput) {
        observe(Launch(step: out.step, sink: out.sink, card: card, name: out.name, fullName: out.fullName, type: out.type, outputs: out.outputs,
                       plans: out.plans))
    }

    /// A 64-bit fingerprint (FNV-1a over the type and bytes).
    static func fingerprint(_ t: Tensor) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(t.count) ^ (UInt64(t.dtype.size) << 56)
        t.contiguous().withUnsafeBytes { raw in
            for byte in raw { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        }
        return h
    }

    /// Writes the result: replay A's fingerprints (one line per launch, hex, comma-separated), or
    /// the kept launch as a JSON line `PATH` and its outputs `PATH.safetensors`.
    func write() throws {
        if case .record = mode {
            let text = fingerprints.map { $0.map { String($0, radix: 16) }.joined(separator: ",") }.joined(separator: "\n")
            try writeDurably(Array((text + "\n").utf8), to: path)
            return
        }
        guard let kept else {
            try writeDurably(Array("{\"launches\":\(count)}\n".utf8), to: path)
            return
        }
        let l = kept.launch
        func escaped(_ s: String) -> String { s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") }
        let plans = l.plans.map { p in
            "{\"site\":\"\(escaped(p.site))\",\"policy\":\"\(p.policy)\",\"blocks\":\(p.blockSizes.count),\"order\":[\(p.order.prefix(4096).map(String.init).joined(separator: ","))]}"
        }
        let line = "{\"launches\":\(count),\"position\":\(kept.position),\"output\":\(kept.output),\"step\":\(l.step),\"sink\":\(l.sink.map(String.init) ?? "null"),"
            + "\"card\":\(l.card),\"name\":\"\(escaped(l.name))\",\"full_name\":\"\(escaped(l.fullName))\",\"type\":\"\(escaped(l.type))\",\"plans\":[\(plans.joined(separator: ","))]}"
        try writeDurably(Array((line + "\n").utf8), to: path)
        try Checkpoint.write(l.outputs.enumerated().map { ("output\($0.offset)", $0.element) }, to: path + ".safetensors")
    }
}

/// Starts observing every op launch of the process: `mode` 0 records fingerprints into `path`;
/// 1 compares with the fingerprints in `reference` and keeps the first launch that differs; 2 keeps
/// launch number `index`. Models, graphs and PyNative contexts made from now on are observed.
@_cdecl("npusim_observe_begin")
public func npusim_observe_begin(_ mode: Int32, _ path: UnsafePointer<CChar>?, _ reference: UnsafePointer<CChar>?, _ index: Int64) -> Int32 {
    guarded {
        guard let path else { throw ABIError(message: "the path is null") }
        let m: Observation.Mode
        switch mode {
        case 0: m = .record
        case 1:
            guard let reference else { throw ABIError(message: "the reference path is null") }
            let file = String(cString: reference)
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw ABIError(message: "cannot read \(file)") }
            let prints = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map { line in
                line.split(separator: ",").compactMap { UInt64($0, radix: 16) }
            }
            m = .compare(prints)
        case 2:
            guard index >= 0 else { throw ABIError(message: "the launch index must be ≥ 0, got \(index)") }
            m = .capture(Int(index))
        default: throw ABIError(message: "observation mode \(mode) is not 0 (record), 1 (compare) or 2 (capture)")
        }
        Observation.current = Observation(mode: m, path: String(cString: path))
    }
}

/// Ends the observation and writes its result (`Observation.write`).
@_cdecl("npusim_observe_end")
public func npusim_observe_end() -> Int32 {
    guarded {
        guard let o = Observation.current else { throw ABIError(message: "no observation was begun") }
        Observation.current = nil
        try o.write()
    }
}
