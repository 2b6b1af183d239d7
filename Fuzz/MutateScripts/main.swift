// Mutated-script fuzzing through the real build: the shipped example scripts with every field at
// its extremes, wrong types, missing and extra keys, corrupt data files, YAML bombs and bad flags,
// each run by the `npusim` binary (`run`, `check`, `drift`, `profile`, two steps) in a child
// process under a memory cap and a time limit. Every outcome is classified: ran, clean error
// (exit 1 or 2 with an `error:` line naming the file, field or flag), unclear error, crash,
// hang, memory blow-up. Findings are kept as reproducers; the summary is what Reliability.md
// records. `make fuzz` runs it after the libFuzzer harnesses.
//
// Usage: MutateScripts NPUSIM EXAMPLES_DIR OUT_DIR [CASES] [SEED] [JOBS]
import Foundation
import Yams

struct Generator {
    var state: UInt64
    mutating func next() -> UInt64 {  // SplitMix64: the same cases for the same seed
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }
    mutating func chance(_ p: Double) -> Bool { Double(next() % 1_000_000) < p * 1_000_000 }
    mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }
}

/// Values every scalar may become: the extremes of numbers, other types, text that is not text.
let extremes = [
    "0", "-1", "1", "0.5", "-0.5", "2", "3", "7", "1e-300", "1e19", "-1e19", "1e308", "9223372036854775807", "9223372036854775808",
    "-9223372036854775808", "4294967296", "2147483648", "4097", "65536", "16777217", "1000000001", ".nan", ".inf", "-.inf",
    "abc", "\"\"", "true", "false", "null", "~", "[]", "{}", "[1, 2]", "[0]", "[-1, -1]", "{a: 1}", "1_000", "0x10", "0o7",
    "\"\\e[2J\"", "\"a\\u0000b\"", "\"../../../../etc/passwd\"", "\"/dev/zero\"", "\"/\"", "\"data\"",
]

/// Keys that are not in any script, and keys that are real somewhere else.
let strangeKeys = ["sed", "\"\\e[31mred\"", "learning_rate", "batch", "epochs", "layers", "seed", "name", "cards", "\"\"", "\"a b\"", "1", "~"]

/// Flags with their extremes (ArgumentParser's and our own ranges).
let flagValues: [(String, [String])] = [
    ("--steps", ["0", "-1", "1", "2", "9223372036854775807", "1e3", "x", "3"]),
    ("--epochs", ["0", "-1", "1", "9223372036854775807", "1000001"]),
    ("--cards", ["0", "-1", "1", "2", "3", "4", "65", "4097", "9223372036854775807"]),
    ("--seed", ["0", "-1", "4294967295", "4294967296", "9223372036854775807", "1.5"]),
    ("--order-seed", ["0", "-1", "4294967296", "7"]),
    ("--sink-size", ["0", "-1", "-2", "1", "3", "1000001", "9223372036854775807"]),
    ("--determinism", ["off", "on", "strict", "maybe", ""]),
    ("--mode", ["graph", "pynative", "eager"]),
    ("--runs", ["-1", "0", "1", "3", "9223372036854775807"]),
    ("--replicas", ["-1", "0", "1", "3", "9223372036854775807"]),
    ("--atol", ["-1", "nan", "inf", "0"]),
    ("--jobs", ["-1", "0", "1", "1000"]),
    ("--device", ["ascend910", "ascend310", "nosuch", "/dev/zero", "/", "data/digits_train_x.npy"]),
]

struct Case {
    var script: String
    var arguments: [String]
    var description: String
}

/// Pre-order list of a node's descendants (itself first).
func count(_ node: Node) -> Int {
    switch node {
    case .mapping(let m): return 1 + m.reduce(0) { $0 + count($1.key) + count($1.value) }
    case .sequence(let s): return 1 + s.reduce(0) { $0 + count($1) }
    default: return 1
    }
}

/// Pre-order indices (as `rewrite` counts) and texts of the scalars in value position.
func valueScalars(_ node: Node) -> [(index: Int, text: String)] {
    var out: [(index: Int, text: String)] = []
    var index = 0
    func walk(_ n: Node, isKey: Bool) {
        let here = index
        index += 1
        switch n {
        case .mapping(let m): for pair in m { walk(pair.key, isKey: true); walk(pair.value, isKey: false) }
        case .sequence(let s): for item in s { walk(item, isKey: false) }
        case .scalar(let scalar): if !isKey { out.append((here, scalar.string)) }
        default: break
        }
    }
    walk(node, isKey: false)
    return out
}

enum Edit { case replace(Node), delete, duplicate, addKey(Node, Node), swapFirst }

/// Applies `edit` to the node at pre-order index `target`.
func rewrite(_ node: Node, _ index: inout Int, _ target: Int, _ edit: Edit) -> [Node] {
    let here = index
    index += 1
    if here == target {
        switch edit {
        case .replace(let n): return [n]
        case .delete: return []
        case .duplicate: return [node, node]
        case .addKey(let k, let v):
            if case .mapping(var m) = node { m[k] = v; return [.mapping(m)] }
            return [node]
        case .swapFirst:
            if case .sequence(let s) = node, s.count > 1 {
                var items = Array(s)
                items.swapAt(0, items.count - 1)
                return [.sequence(Node.Sequence(items, s.tag, s.style))]
            }
            return [node]
        }
    }
    switch node {
    case .mapping(let m):
        var pairs: [(Node, Node)] = []
        for pair in m {
            let keys = rewrite(pair.key, &index, target, edit)
            let values = rewrite(pair.value, &index, target, edit)
            // A deleted key or value deletes the entry; a duplicated key is a duplicate entry.
            guard let value = values.first else { continue }
            for key in keys { pairs.append((key, value)) }
        }
        return [.mapping(Node.Mapping(pairs, m.tag, m.style))]
    case .sequence(let s):
        var items: [Node] = []
        for item in s { items += rewrite(item, &index, target, edit) }
        return [.sequence(Node.Sequence(items, s.tag, s.style))]
    default:
        return [node]
    }
}

func parseScalar(_ text: String) -> Node {
    (try? Yams.compose(yaml: "v: " + text))??.mapping?["v"] ?? Node(text)
}

/// Data files the scripts may point at, good and corrupt (made once in the work folder).
func makeDataFiles(_ dir: String, _ examples: String, _ corpus: String) throws -> [String] {
    let fm = FileManager.default
    try fm.createDirectory(atPath: dir + "/data", withIntermediateDirectories: true)
    for name in try fm.contentsOfDirectory(atPath: examples + "/data") where name.hasSuffix(".npy") {
        if !fm.fileExists(atPath: dir + "/data/" + name) { try fm.copyItem(atPath: examples + "/data/" + name, toPath: dir + "/data/" + name) }
    }
    var files = try fm.contentsOfDirectory(atPath: dir + "/data").filter { $0.hasSuffix(".npy") && !$0.hasPrefix("bad") }.map { "data/" + $0 }
    for kind in ["idx", "csv", "cifar10"] {
        for name in (try? fm.contentsOfDirectory(atPath: corpus + "/" + kind)) ?? [] {
            let target = dir + "/data/" + name
            if !fm.fileExists(atPath: target) { try fm.copyItem(atPath: corpus + "/" + kind + "/" + name, toPath: target) }
            files.append("data/" + name)
        }
    }
    // Corrupt copies: truncated, bytes flipped in the header and the body, a huge shape.
    var rng = Generator(state: 99)
    let originals = files
    for (k, file) in originals.enumerated() {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: dir + "/" + file)))
        guard bytes.count > 16 else { continue }
        var variants: [[UInt8]] = [Array(bytes.prefix(bytes.count / 2)), Array(bytes.prefix(12)), []]
        var flipped = bytes
        for _ in 0..<4 { flipped[rng.below(min(128, flipped.count))] ^= UInt8(1 << rng.below(8)) }
        variants.append(flipped)
        var body = bytes
        for _ in 0..<16 { body[rng.below(body.count)] = UInt8(rng.below(256)) }
        variants.append(body)
        if file.hasSuffix(".npy"), let text = String(bytes: bytes.prefix(128), encoding: .ascii),
           let range = text.range(of: "'shape': (") {
            let head = String(text[..<range.upperBound]) + "4611686018427387904, 4)"
            let header = head.padding(toLength: 127, withPad: " ", startingAt: 0) + "\n"
            variants.append(Array(header.utf8) + Array(bytes.dropFirst(128)))
        }
        for (v, content) in variants.enumerated() {
            let name = "data/bad\(k)_\(v)_" + (file as NSString).lastPathComponent
            try Data(content).write(to: URL(fileURLWithPath: dir + "/" + name))
            files.append(name)
        }
    }
    return files + ["data/missing.npy", "data", "/dev/zero", "/dev/null", "case.yaml"]
}

/// One mutated case from a base script.
func makeCase(_ base: (name: String, text: String, node: Node), _ files: [String], _ rng: inout Generator) -> Case {
    var notes: [String] = []
    var text: String
    if rng.chance(0.08) {
        // YAML structure: bombs, deep nesting, aliases as keys, truncation, binary.
        switch rng.below(7) {
        case 0:
            var bomb = "a: &a [x, x, x, x, x, x, x, x]\n"
            for i in 1...12 { bomb += "\(Character(UnicodeScalar(97 + i)!)): &\(Character(UnicodeScalar(97 + i)!)) [*\(Character(UnicodeScalar(96 + i)!)), *\(Character(UnicodeScalar(96 + i)!)), *\(Character(UnicodeScalar(96 + i)!)), *\(Character(UnicodeScalar(96 + i)!))]\n" }
            text = bomb + base.text
            notes.append("alias bomb")
        case 1:
            text = "k: &k [[[[[[[[x]]]]]]]]\n" + (0..<8).map { "k\($0): &k\($0) {*k\($0 == 0 ? "" : String($0 - 1)): *k\($0 == 0 ? "" : String($0 - 1))}" }.joined(separator: "\n") + "\n" + base.text
            notes.append("alias bomb as key")
        case 2:
            text = base.text + "\nextra: " + String(repeating: "[", count: 2000) + String(repeating: "]", count: 2000) + "\n"
            notes.append("deep nesting")
        case 3:
            let cut = rng.below(base.text.utf8.count)
            text = String(decoding: Array(base.text.utf8.prefix(cut)), as: UTF8.self)
            notes.append("truncated at \(cut)")
        case 4:
            var bytes = Array(base.text.utf8)
            for _ in 0..<4 { bytes[rng.below(bytes.count)] = UInt8(rng.below(256)) }
            text = String(decoding: bytes, as: UTF8.self)
            notes.append("bytes changed")
        case 5:
            text = base.text + "\n" + base.text
            notes.append("script twice (duplicate keys)")
        default:
            text = base.text.replacingOccurrences(of: "  ", with: "\t")
            notes.append("tabs")
        }
    } else {
        var node = base.node
        for _ in 0..<(rng.chance(0.7) ? 1 : 2 + rng.below(3)) {
            var total = count(node), target = rng.below(total)
            var index = 0
            let edit: Edit
            let scalars = valueScalars(node)
            if rng.chance(0.6), !scalars.isEmpty {
                // A value near its own (the semantic extremes: 0, −1, off by one, twice, huge).
                let (at, original) = rng.pick(scalars)
                let value: String
                if let x = Double(original) {
                    value = rng.pick(["0", "-1", "1", "\(x + 1)", "\(x - 1)", "\(x * 2)", "\(x / 2)", "\(-x)", "\(x * 1000)", Int(exactly: x.rounded()).map { "\($0 &+ 1)" } ?? "1", rng.pick(extremes)])
                } else {
                    value = rng.pick(extremes)
                }
                node = rewrite(node, &index, at, .replace(parseScalar(value))).first ?? node
                notes.append("\(original) -> \(value) at #\(at)")
                continue
            }
            total = count(node)
            target = rng.below(total)
            switch rng.below(20) {
            case 0: edit = .delete; notes.append("delete #\(target)")
            case 1: edit = .duplicate; notes.append("duplicate #\(target)")
            case 2: edit = .swapFirst; notes.append("swap in #\(target)")
            case 3:
                let k = rng.pick(strangeKeys), v = rng.pick(extremes)
                edit = .addKey(parseScalar(k), parseScalar(v)); notes.append("add \(k): \(v) at #\(target)")
            case 4, 5:
                let f = rng.pick(files)
                edit = .replace(Node(f)); notes.append("#\(target) = \(f)")
            default:
                let v = rng.pick(extremes)
                edit = .replace(parseScalar(v)); notes.append("#\(target) = \(v)")
            }
            node = rewrite(node, &index, target, edit).first ?? node
        }
        text = (try? Yams.serialize(node: node)) ?? base.text
    }
    // The command, two steps, and sometimes flags at their extremes.
    var arguments: [String]
    switch rng.below(20) {
    // check's --steps counts the losses the host sees: sinks of one step keep it to two steps.
    case 0, 1: arguments = ["check", "case.yaml", "--steps", "2", "--runs", "2", "--sink-size", "1"]
    case 2, 3: arguments = ["drift", "case.yaml", "--steps", "2", "--replicas", "2", "--out", "out"]
    case 4, 5, 6: arguments = ["profile", "case.yaml", "--timing-only", "--steps", "2", "--out", "out"]
    case 7: arguments = ["profile", "case.yaml", "--steps", "2", "--out", "out"]
    case 8: arguments = ["run", "case.yaml", "--steps", "2", "--save-checkpoint", rng.pick(["out.ckpt", "out.safetensors", "case.yaml", "data", "nodir/x.ckpt"]), "--quiet"]
    default: arguments = ["run", "case.yaml", "--steps", "2", "--quiet"]
    }
    if rng.chance(0.25) {
        for _ in 0...rng.below(2) {
            let (flag, values) = rng.pick(flagValues)
            let value = rng.pick(values)
            if let i = arguments.firstIndex(of: flag) { arguments[i + 1] = value } else { arguments += [flag, value] }
            notes.append("\(flag) \(value)")
        }
        if rng.chance(0.3) { arguments.append(rng.pick(["--sink", "--no-sink"])) }
    }
    return Case(script: text, arguments: arguments, description: "\(base.name): " + notes.joined(separator: "; "))
}

enum Outcome: String, CaseIterable { case ran, cleanError = "clean error", unclearError = "unclear error", crash, hang, memory = "memory blow-up" }

/// Whether an error line says where: the script, a data file, a flag, a device or a folder
/// (or is `check`'s verdict, exit 1: its answer, not an error).
func isClear(_ line: String) -> Bool {
    guard line.hasPrefix("error: "), !line.contains("NSCocoaErrorDomain"), !line.contains("Optional("), !line.contains("Swift."),
          !line.contains("\u{1B}") else { return false }
    if line.hasPrefix("error: not reproducible: ") { return true }
    return ["case.yaml", "data/", "--", "/dev/", "out", ".npy", ".idx", ".csv", ".bin", "device", "card"].contains { line.contains($0) }
}

final class Tally: @unchecked Sendable {
    let lock = NSLock()
    var counts: [Outcome: Int] = [:]
    var kept: [Outcome: Int] = [:]
    var done = 0
}

func runCase(_ c: Case, npusim: String, work: String, seconds: Double, memoryMB: Int) -> (Outcome, String) {
    let fm = FileManager.default
    try? fm.removeItem(atPath: work + "/out")
    try? fm.removeItem(atPath: work + "/out.ckpt")
    try? fm.removeItem(atPath: work + "/out.safetensors")
    try? c.script.write(toFile: work + "/case.yaml", atomically: false, encoding: .utf8)
    let process = Process()
    // prlimit caps the child's address space: an allocation past it fails inside npusim.
    process.executableURL = URL(fileURLWithPath: "/usr/bin/prlimit")
    process.arguments = ["--as=\(memoryMB << 20)", "--", npusim] + c.arguments
    process.currentDirectoryURL = URL(fileURLWithPath: work)
    var environment = ProcessInfo.processInfo.environment
    environment["OPENBLAS_NUM_THREADS"] = "1"
    process.environment = environment
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = FileHandle.nullDevice
    let finished = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in finished.signal() }
    do { try process.run() } catch { return (.crash, "cannot start: \(error)") }
    try? errors.fileHandleForWriting.close()
    final class Box: @unchecked Sendable { var data = Data() }
    let collected = Box()
    let readDone = DispatchSemaphore(value: 0)
    DispatchQueue.global().async {
        collected.data = errors.fileHandleForReading.readDataToEndOfFile()
        try? errors.fileHandleForReading.close()  // a pipe per case: never leak its descriptors
        readDone.signal()
    }
    if finished.wait(timeout: .now() + seconds) == .timedOut {
        kill(process.processIdentifier, SIGKILL)
        finished.wait()
        readDone.wait()
        return (.hang, "timed out after \(seconds) s")
    }
    readDone.wait()
    let err = String(decoding: collected.data, as: UTF8.self)
    // The error from its `error:` line on (a message may span lines; usage follows flag errors).
    let message = err.range(of: "error: ").map { String(err[$0.lowerBound...]) } ?? err
    if process.terminationReason == .uncaughtSignal {
        let memory = err.contains("failed to allocate") || err.contains("Cannot allocate") || err.contains("out of memory") || err.contains("std::bad_alloc")
        // The message and the first frames (the top of the report), then its end.
        return (memory ? .memory : .crash, String(err.prefix(4000)) + (err.count > 6000 ? "\n...\n" + String(err.suffix(2000)) : ""))
    }
    switch process.terminationStatus {
    case 0: return (.ran, "")
    case 1, 2: return (isClear(message) ? .cleanError : .unclearError, message)
    default: return (.unclearError, "exit \(process.terminationStatus): \(message)")
    }
}

func main() throws {
    let arguments = CommandLine.arguments
    guard arguments.count >= 4 else {
        FileHandle.standardError.write(Data("usage: MutateScripts NPUSIM EXAMPLES_DIR OUT_DIR [CASES] [SEED] [JOBS]\n".utf8))
        exit(2)
    }
    let npusim = URL(fileURLWithPath: arguments[1]).standardized.path, examples = URL(fileURLWithPath: arguments[2]).standardized.path
    let out = URL(fileURLWithPath: arguments[3]).standardized.path
    let cases = arguments.count > 4 ? Int(arguments[4]) ?? 100_000 : 100_000
    let seed = arguments.count > 5 ? UInt64(arguments[5]) ?? 1 : 1
    let jobs = arguments.count > 6 ? Int(arguments[6]) ?? 2 : 2
    let corpus = examples + "/../Fuzz/Corpus"

    var bases: [(name: String, text: String, node: Node)] = []
    for dir in [examples, corpus + "/script"] {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: dir))?.sorted() ?? [] where name.hasSuffix(".yaml") {
            let text = try String(contentsOfFile: dir + "/" + name, encoding: .utf8)
            if let node = try Yams.compose(yaml: text) { bases.append((name, text, node)) }
        }
    }
    try FileManager.default.createDirectory(atPath: out + "/findings", withIntermediateDirectories: true)
    var files: [String] = []
    for j in 0..<jobs {
        let work = out + "/work\(j)"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        files = try makeDataFiles(work, examples, corpus)
        try FileManager.default.createDirectory(atPath: work + "/data/dir", withIntermediateDirectories: true)
    }
    let tally = Tally()
    // Every case's outcome, a line each: case, outcome, command, mutation, first line of the error.
    _ = FileManager.default.createFile(atPath: out + "/cases.tsv", contents: nil)
    let log = FileHandle(forWritingAtPath: out + "/cases.tsv")!
    let started = Date()
    struct Inputs: @unchecked Sendable { let files: [String]; let bases: [(name: String, text: String, node: Node)] }
    let inputs = Inputs(files: files, bases: bases)
    DispatchQueue.concurrentPerform(iterations: jobs) { j in
        let work = out + "/work\(j)"
        var i = j
        while i < cases {
            var rng = Generator(state: seed &* 1_000_003 &+ UInt64(i))
            let c = makeCase(inputs.bases[rng.below(inputs.bases.count)], inputs.files, &rng)
            let (outcome, detail) = runCase(c, npusim: npusim, work: work, seconds: 30, memoryMB: 4096)
            let first = detail.split(separator: "\n").first.map(String.init) ?? ""
            let record = "\(i)\t\(outcome.rawValue)\t\(c.arguments.joined(separator: " "))\t\(c.description)\t\(first.prefix(400))\n"
            tally.lock.lock()
            log.write(Data(record.utf8))
            tally.counts[outcome, default: 0] += 1
            tally.done += 1
            var keep = false
            if outcome != .ran && outcome != .cleanError && tally.kept[outcome, default: 0] < 40 {
                tally.kept[outcome, default: 0] += 1
                keep = true
            }
            if tally.done % 1000 == 0 {
                let line = Outcome.allCases.map { "\($0.rawValue) \(tally.counts[$0, default: 0])" }.joined(separator: ", ")
                FileHandle.standardOutput.write(Data("mutate: \(tally.done) cases, \(Int(Date().timeIntervalSince(started))) s: \(line)\n".utf8))
            }
            tally.lock.unlock()
            if keep {
                let dir = out + "/findings/\(outcome.rawValue.replacingOccurrences(of: " ", with: "-"))-\(i)"
                try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                try? c.script.write(toFile: dir + "/case.yaml", atomically: true, encoding: .utf8)
                try? ("npusim " + c.arguments.joined(separator: " ") + "\n# " + c.description + "\n" + detail + "\n").write(toFile: dir + "/README", atomically: true, encoding: .utf8)
            }
            i += jobs
        }
    }
    let line = Outcome.allCases.map { "\($0.rawValue) \(tally.counts[$0, default: 0])" }.joined(separator: ", ")
    print("mutate: \(cases) cases (seed \(seed)) in \(Int(Date().timeIntervalSince(started))) s: \(line); findings in \(out)/findings")
    let bad = [Outcome.crash, .hang, .memory, .unclearError].reduce(0) { $0 + tally.counts[$1, default: 0] }
    exit(bad == 0 ? 0 : 1)

}

try main()
