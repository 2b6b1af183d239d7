import Foundation
import NPUMPI
import NPUSim

/// `mpirun -n ranks` with this npusim, Open MPI told it may run as root and oversubscribe,
/// `environment` set on every rank.
func mpirunCommand(ranks: Int, environment: [String: String]) throws -> (path: String, arguments: [String], environment: [String: String]) {
    let path = ProcessInfo.processInfo.environment["PATH"]?.split(separator: ":").map { "\($0)/mpirun" }
        .first { FileManager.default.isExecutableFile(atPath: $0) }
    guard let path else { throw CLIError(message: "mpirun is not installed: `make setup` installs Debian's openmpi-bin", code: 1) }
    var env = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    if geteuid() == 0 { (env["OMPI_ALLOW_RUN_AS_ROOT"], env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"]) = ("1", "1") }
    let binary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
    return (path, ["-n", "\(ranks)", "--oversubscribe"] + environment.keys.sorted().flatMap { ["-x", $0] } + [binary], env)
}

/// Runs `npusim arguments` (under mpirun with `ranks` > 1) and returns its standard output.
func npusimOutput(_ arguments: [String], ranks: Int, environment: [String: String]) throws -> String {
    try npusimOutputs([arguments], ranks: ranks, environment: environment)[0]
}

/// Runs every command line at once (each under mpirun with `ranks` > 1) and returns their
/// standard outputs, in order.
func npusimOutputs(_ commands: [[String]], ranks: Int, environment: [String: String]) throws -> [String] {
    let started = try commands.map { arguments in
        let process = Process()
        if ranks > 1 {
            let c = try mpirunCommand(ranks: ranks, environment: environment)
            process.executableURL = URL(fileURLWithPath: c.path)
            process.arguments = c.arguments + arguments
            process.environment = c.environment
        } else {
            process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        return (process, out, err, arguments)
    }
    // --quiet --json print a line or two: no pipe fills while another is read to its end.
    return try started.map { process, out, err, arguments in
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let diagnostics = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CLIError(message: "npusim \(arguments.joined(separator: " ")) on \(ranks) rank(s) failed: \(diagnostics.suffix(600))", code: 1)
        }
        return text
    }
}

/// `ranks`: LeNet-5 on the digits (examples/lenet.yaml without its evaluations) on 8 cards with
/// real numerics, host seconds per step on one process and on 2 MPI ranks, one thread each
/// (issue 25: ≤ 0.6×). A step's time is the difference of a 1,010-step and a 10-step run over
/// 1,000, so start-up and compilation drop out and a second of steps averages this VM's jitter.
/// The host's own yardstick, in the same rounds: two 1-process runs of 4 cards at once, each a
/// rank's share of the computing without MPI. On a host whose cores slow each other (shared
/// caches, SMT siblings, a busy hypervisor) that pair is slower than half the 8-card run, and no
/// split over 2 processes can beat it.
let ranksBenchmark = Benchmark(
    name: "ranks",
    summary: "LeNet on 8 cards, real numerics: host ms per step on 1 process and on 2 MPI ranks × 1 thread"
) {
    let example = [benchToolPath("../../examples/lenet.yaml"), "examples/lenet.yaml"].first { FileManager.default.fileExists(atPath: $0) }
    guard let example else { throw CLIError(message: "ranks: run it from the repository (examples/lenet.yaml)", code: 1) }
    // The example without its evaluation after each epoch (not a step), its data by full path.
    let folder = URL(fileURLWithPath: example).deletingLastPathComponent().path
    var text = try String(contentsOfFile: example, encoding: .utf8).replacingOccurrences(of: "data/", with: folder + "/data/")
    if let start = text.range(of: "\neval:"), let end = text.range(of: "\nnetwork:") { text.removeSubrange(start.lowerBound..<end.lowerBound) }
    let lenet = FileManager.default.temporaryDirectory.appendingPathComponent("npusim-ranks-\(getpid()).yaml").path
    try text.write(toFile: lenet, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(atPath: lenet) }
    let oneThread = ["OPENBLAS_NUM_THREADS": "1"]
    /// Host seconds of `steps` steps on `cards` cards: one run (on `ranks` ranks), or the mean of
    /// `together` 1-process runs at once.
    func seconds(_ steps: Int, cards: Int = 8, ranks: Int = 1, together: Int = 1) throws -> Double {
        let command = ["run", lenet, "--cards", "\(cards)", "--steps", "\(steps)", "--json", "--quiet"]
        let outs = try npusimOutputs(Array(repeating: command, count: together), ranks: ranks, environment: oneThread)
        let all = try outs.map { out in
            guard let line = out.split(separator: "\n").last, let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let s = o["host_seconds"] as? Double else { throw CLIError(message: "ranks: no summary in \(out.suffix(200))", code: 1) }
            return s
        }
        return all.reduce(0, +) / Double(all.count)
    }
    func perStep(cards: Int = 8, ranks: Int = 1, together: Int = 1) throws -> Double {
        (try seconds(1010, cards: cards, ranks: ranks, together: together) - seconds(10, cards: cards, ranks: ranks, together: together)) / 1000 * 1e3
    }
    var one: [Double] = [], two: [Double] = [], halves: [Double] = []
    for _ in 0..<3 {  // interleaved
        one.append(try perStep())
        two.append(try perStep(ranks: 2))
        halves.append(try perStep(cards: 4, together: 2))
    }
    var ratio = BenchFigure(bench: "ranks", caseName: "2-ranks/1-process", unit: "ratio", values: zip(two, one).map { $0 / $1 })
    ratio.notes = ["target ≤ 0.6 (issue 25); each rank 1 thread, the 1-process run 1 thread"]
    var floor = BenchFigure(bench: "ranks", caseName: "2-halves-at-once/1-process", unit: "ratio", values: zip(halves, one).map { $0 / $1 })
    floor.notes = ["this host's floor for any 2-process split (0.5 where its cores do not slow each other)"]
    var overhead = BenchFigure(bench: "ranks", caseName: "2-ranks/2-halves-at-once", unit: "ratio", values: zip(two, halves).map { $0 / $1 })
    overhead.notes = ["what the ranks add to their computing: ghost cards' timelines, the exchange each step, the combine of all 8 cards"]
    return [BenchFigure(bench: "ranks", caseName: "lenet-8cards-1-process", unit: "ms/step", values: one),
            BenchFigure(bench: "ranks", caseName: "lenet-8cards-2-ranks", unit: "ms/step", values: two),
            BenchFigure(bench: "ranks", caseName: "lenet-4cards-2-processes-at-once", unit: "ms/step", values: halves),
            ratio, floor, overhead]
        + (try exchangeFigures())
}

/// The cost of one exchange between 2 ranks on this host by the bytes each rank sends (an
/// all-gather: each receives the other's): `npusim bench exchange` under mpirun -n 2 measures it.
func exchangeFigures() throws -> [BenchFigure] {
    if let ranks, ranks.size > 1 {
        var figures: [BenchFigure] = []
        for kib in [4, 64, 1024, 16 * 1024] {
            // As a collective's buffers go: copied in, sent, received, copied out.
            let bytes = [UInt8](repeating: 1, count: kib * 1024)
            var out = [UInt8](repeating: 0, count: kib * 1024 * ranks.size)
            let rounds = max(4, min(400, 64 * 1024 / kib))
            func once() throws {
                try ranks.exchange(sending: bytes.count, fill: { dst in bytes.withUnsafeBytes { dst.copyMemory(from: $0) } }, what: "a benchmark exchange") { parts in
                    out.withUnsafeMutableBytes { dst in
                        var at = 0
                        for p in parts {
                            (dst.baseAddress! + at).copyMemory(from: p.baseAddress!, byteCount: p.count)
                            at += p.count
                        }
                    }
                }
            }
            for _ in 0..<3 { try once() }
            var values: [Double] = []
            for _ in 0..<5 {
                let start = DispatchTime.now().uptimeNanoseconds
                for _ in 0..<rounds { try once() }
                values.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e3 / Double(rounds))
            }
            var f = BenchFigure(bench: "exchange", caseName: "2-ranks-\(kib >= 1024 ? "\(kib / 1024)MiB" : "\(kib)KiB")", unit: "µs", values: values)
            f.notes = [String(format: "%.2f GB/s received per rank", Double(kib * 1024) / (f.median * 1e-6) / 1e9)]
            figures.append(f)
        }
        return figures
    }
    let out = try npusimOutput(["bench", "exchange", "--json"], ranks: 2, environment: ["OPENBLAS_NUM_THREADS": "1"])
    return try out.split(separator: "\n").map { line in
        guard let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let name = o["case"] as? String,
              let median = o["median"] as? Double, let lo = o["min"] as? Double, let hi = o["max"] as? Double else {
            throw CLIError(message: "exchange: unreadable figure \(line)", code: 1)
        }
        var f = BenchFigure(bench: "exchange", caseName: name, unit: "µs", values: [lo, median, hi])
        f.notes = (o["notes"] as? [String]) ?? []
        return f
    }
}

let exchangeBenchmark = Benchmark(
    name: "exchange",
    summary: "one all-gather between 2 MPI ranks on this host (µs) by the bytes each rank sends"
) { try exchangeFigures() }
