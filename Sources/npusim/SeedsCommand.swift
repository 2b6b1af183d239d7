import ArgumentParser
import Foundation
import NPUSim

struct SeedsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seeds",
        abstract: "The seed playground: MindSpore-style random calls, their seeds and values.",
        subcommands: [SeedsRun.self, SeedsExplain.self]
    )
}

/// Options shared by `seeds run` and `seeds explain`.
struct SeedProgramOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("The program: calls separated by ';' or new lines.",
                                 discussion: "Calls: set_seed(s), uniform(shape, minval, maxval, seed=None), standard_normal(shape, seed=None), normal(shape, mean, stddev, seed=None), rand(shape, seed=None), randn(shape, seed=None), initializer(name, shape), dropout(shape, p=0.5, seed=None), shuffle(n, epochs=1), numpy_normal(shape), numpy_uniform(shape)."))
    var program: String

    @Option(name: .long, help: "pynative: seeds taken at every call; graph: random calls are call sites of one graph built once and run --steps times.")
    var mode: ExecutionModeOption = .pynative

    @Option(name: .long, help: "Steps to run in graph mode.")
    var steps = 1

    @Option(name: .long, help: "Seed rules: mindspore (as measured on MindSpore 2.10) or tensorflow (TensorFlow's rules; behaviour, not bits).")
    var semantics: SeedSemanticsOption = .mindspore

    func evaluate() throws -> [SeedCallResult] {
        guard steps >= 1, steps <= 1000 else { throw CLIError(message: "--steps must be from 1 to 1000, got \(steps)") }
        do throws(SeedProgramError) {
            let parsed = try SeedProgram(program)
            if semantics == .tensorflow {
                return try parsed.runTensorFlow(state: TFSeedState(), graph: mode == .graph, steps: steps)
            }
            let state = SeedState()
            return mode == .graph ? try parsed.runGraph(state: state, steps: steps) : try parsed.runPyNative(state: state)
        } catch {
            // At most 80 characters of the program around the column, and a caret under it.
            let text = Array(program.replacingOccurrences(of: "\n", with: " ").map { $0.isASCII && ($0.asciiValue! < 32 || $0.asciiValue! == 127) ? " " : $0 })
            let lo = max(0, min(error.column - 1 - 40, text.count - 80)), hi = min(text.count, lo + 80)
            let excerpt = (lo > 0 ? "…" : "") + String(text[lo..<hi]) + (hi < text.count ? "…" : "")
            let caret = String(repeating: " ", count: max(0, error.column - 1 - lo) + (lo > 0 ? 1 : 0)) + "^"
            throw CLIError(message: "program \(error)\n  \(excerpt)\n  \(caret)")
        }
    }
}

enum SeedSemanticsOption: String, ExpressibleByArgument, CaseIterable {
    case mindspore
    case tensorflow
}

enum ExecutionModeOption: String, ExpressibleByArgument, CaseIterable {
    case pynative
    case graph
}

struct SeedsRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Evaluate a program of random calls and print each call's seeds and values."
    )

    @OptionGroup var options: SeedProgramOptions

    @Flag(name: .long, help: "Print [{\"call\", \"seed\", \"seed2\", \"values\"}] with float32 values in shortest round-trip form.")
    var json = false

    func run() throws {
        let results = try options.evaluate()
        if json {
            emit(seedResultsJSON(results))
            return
        }
        for r in results {
            var head = r.call
            if let step = r.step { head += "  [step \(step)]" }
            if let seed = r.seed, let seed2 = r.seed2 {
                head += "  seeds (\(seed), \(seed2))"
                if let k = r.kernelSeed { head += " → kernel seed \(k)" }
            } else if let seed = r.seed, r.name != "set_seed" {
                head += "  seed \(r.name == "initializer" ? String(UInt64(bitPattern: seed)) : String(seed))"
            }
            emit(head)
            if r.values != .nothing { emit("    " + valuesText(r.values)) }
        }
    }
}

struct SeedsExplain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Evaluate a program and say, for each call, which seed rule applied."
    )

    @OptionGroup var options: SeedProgramOptions

    func run() throws {
        for (i, r) in try options.evaluate().enumerated() {
            if i > 0 { emit("") }
            emit("\(r.call)\(r.step.map { "  [step \($0)]" } ?? "")")
            emit("  " + r.explanation)
            if let seed = r.seed, let seed2 = r.seed2, let k = r.kernelSeed {
                emit("  seeds (\(seed), \(seed2)); GetSeed → \(k)\(seed == 0 && seed2 == 0 ? " (OS entropy)" : "")")
            }
            if r.values != .nothing { emit("  values: " + valuesText(r.values)) }
        }
    }
}

/// Values in shortest round-trip form: `[1.2345678, -0.5]`.
/// With `json`, NaN and infinities are written as the strings "NaN", "Infinity" and "-Infinity"
/// (JSON has no literal for them).
func valuesText(_ values: SeedValues, json: Bool = false) -> String {
    func jsonText<F: BinaryFloatingPoint & LosslessStringConvertible>(_ x: F) -> String {
        if x.isNaN { return "\"NaN\"" }
        if x.isInfinite { return x < 0 ? "\"-Infinity\"" : "\"Infinity\"" }
        return "\(x)"
    }
    switch values {
    case .float32(let v): return "[" + v.map { json ? jsonText($0) : "\($0)" }.joined(separator: ", ") + "]"
    case .float64(let v): return "[" + v.map { json ? jsonText($0) : "\($0)" }.joined(separator: ", ") + "]"
    case .int(let v): return "[" + v.map(String.init).joined(separator: ", ") + "]"
    case .nothing: return "[]"
    }
}

/// The JSON array CLI.md specifies; float32 values keep their shortest float32 form.
func seedResultsJSON(_ results: [SeedCallResult]) -> String {
    let quote = ChromeTrace.quoted
    let objects = results.map { r -> String in
        var fields = ["\"call\": \(quote(r.call))"]
        if r.name == "initializer", let s = r.seed {
            fields.append("\"seed\": \(UInt64(bitPattern: s))")
        } else {
            fields.append("\"seed\": \(r.seed.map(String.init) ?? "null")")
        }
        fields.append("\"seed2\": \(r.seed2.map(String.init) ?? "null")")
        if let k = r.kernelSeed { fields.append("\"kernel_seed\": \(k)") }
        if let step = r.step { fields.append("\"step\": \(step)") }
        fields.append("\"values\": \(valuesText(r.values, json: true))")
        return "{" + fields.joined(separator: ", ") + "}"
    }
    return "[" + objects.joined(separator: ",\n ") + "]"
}
