import ArgumentParser
import Foundation
import NPUSim

/// One reported figure of one benchmark case.
struct BenchFigure {
    var bench: String
    var caseName: String
    var unit: String
    var median: Double
    var min: Double
    var max: Double
    /// What the case ran on (a yardstick's BLAS kernel and threads), and any doubt about it.
    var notes: [String] = []
    /// A multi-thread yardstick slower than its one-thread self: the machine was contended, and
    /// no ratio is taken against it.
    var contended = false

    /// Figures from per-run values (higher is better units, e.g. GFLOP/s).
    init(bench: String, caseName: String, unit: String, values: [Double]) {
        precondition(!values.isEmpty)
        let sorted = values.sorted()
        let mid = sorted.count / 2
        self.bench = bench
        self.caseName = caseName
        self.unit = unit
        median = sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
        min = sorted.first!
        max = sorted.last!
    }

    var json: String {
        func f(_ x: Double) -> String { String(format: "%.4g", x) }
        let notes = self.notes.map { "\"" + $0.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\"" }.joined(separator: ", ")
        return "{\"bench\": \"\(bench)\", \"case\": \"\(caseName)\", \"unit\": \"\(unit)\", \"median\": \(f(median)), \"min\": \(f(min)), \"max\": \(f(max))"
            + ", \"contended\": \(contended), \"notes\": [\(notes)]}"
    }
}

/// A benchmark: runs its cases after a warm-up, several times each, interleaved so that ratios
/// between cases hold on a noisy machine.
struct Benchmark: Sendable {
    var name: String
    var summary: String
    var run: @Sendable () throws -> [BenchFigure]
}

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run performance benchmarks (median and min–max of several runs).",
        discussion: "Benchmarks: " + BenchCommand.all.map { "\($0.name) (\($0.summary))" }.joined(separator: "; ")
    )

    static let all: [Benchmark] = [sgemmBenchmark, membwBenchmark, rngBenchmark, reduceSumBenchmark, conv2dBenchmark, strictProductBenchmark, mlpStepBenchmark, lenetStepBenchmark, quickstartStepBenchmark, allReduceBenchmark, timingOnlyBenchmark, traceWriteBenchmark, startupBenchmark, streamBenchmark, soakBenchmark, ranksBenchmark, exchangeBenchmark]

    @Argument(help: "Benchmarks to run (default: all).")
    var names: [String] = []

    @Flag(name: .long, help: "One JSON object per line and figure.")
    var json = false

    func run() throws {
        let known = Set(Self.all.map(\.name))
        if let unknown = names.first(where: { !known.contains($0) }) {
            throw CLIError(message: "unknown benchmark '\(unknown)'; benchmarks are \(Self.all.map(\.name).joined(separator: ", "))")
        }
        let selected = names.isEmpty ? Self.all : Self.all.filter { names.contains($0.name) }
        if !json {
            emit("OpenBLAS kernels: \(BLAS.coreName)\(BLAS.wasTuned ? " (selected by NPUSim at start-up)" : ""); host cores: \(ProcessInfo.processInfo.activeProcessorCount)")
            emit("bench            case                                 unit          median         min         max")
        }
        for benchmark in selected {
            for figure in try benchmark.run() {
                if json {
                    emit(figure.json)
                } else {
                    func f(_ x: Double) -> String { String(format: "%11.2f", x) }
                    emit((figure.bench + " ").padding(toLength: max(17, figure.bench.count + 1), withPad: " ", startingAt: 0)
                        + (figure.caseName + " ").padding(toLength: max(37, figure.caseName.count + 1), withPad: " ", startingAt: 0)
                        + (figure.unit + " ").padding(toLength: max(11, figure.unit.count + 1), withPad: " ", startingAt: 0)
                        + f(figure.median) + " " + f(figure.min) + " " + f(figure.max)
                        + (figure.contended ? "  CONTENDED (slower than its one-thread self: no ratio taken)" : ""))
                    for note in figure.notes { emit("                 " + note) }
                }
            }
        }
    }
}

/// Host wall-clock seconds taken by `body`.
/// Runs `body` over and over for `seconds`: two-thread work needs about 0.25 s after its threads
/// wake before the OS has put them on separate cores (until then they can share one).
func warmUp(seconds: Double = 0.25, _ body: () throws -> Void) rethrows {
    let end = DispatchTime.now().uptimeNanoseconds + UInt64(seconds * 1e9)
    repeat { try body() } while DispatchTime.now().uptimeNanoseconds < end
}

func wallSeconds(_ body: () -> Void) -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

/// A plain-C yardstick program of the package (`npusim-yardstick-sgemm`, `npusim-yardstick-sum`):
/// in `NPUSIM_BENCH_TOOLS` when set, else next to this npusim (the build puts products together).
func benchToolPath(_ name: String) -> String {
    let dir = ProcessInfo.processInfo.environment["NPUSIM_BENCH_TOOLS"]
        ?? (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")).map { ($0 as NSString).deletingLastPathComponent }
        ?? Bundle.main.executableURL?.deletingLastPathComponent().path ?? "."
    return (dir as NSString).appendingPathComponent(name)
}

/// Runs a yardstick program and returns its standard output lines.
func runTool(_ path: String, _ arguments: [String]) throws -> [String] {
    guard FileManager.default.isExecutableFile(atPath: path) else {
        let name = (path as NSString).lastPathComponent
        throw CLIError(message: "the yardstick \(path) is not built; `make build` builds it with npusim (or: swift build -c release --product \(name))", code: 1)
    }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    let diagnostics = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw CLIError(message: "\(path) \(arguments.joined(separator: " ")) failed with status \(process.terminationStatus): \(diagnostics)", code: 1)
    }
    return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
}
