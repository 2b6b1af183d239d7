import NPUDevice
import NPUTensor

/// A program of MindSpore-style random calls that cannot be parsed or run.
public struct SeedProgramError: Error, Equatable, CustomStringConvertible {
    /// 1-based column in the program text.
    public var column: Int
    public var message: String
    public var description: String { "column \(column): \(message)" }
}

/// A value in a call's argument list.
public indirect enum SeedValue: Equatable, Sendable {
    case int(Int64)
    case float(Double)
    case string(String)
    case list([SeedValue])
    case none
    case bool(Bool)
}

/// One call of a seed program, as written.
public struct SeedCall: Equatable, Sendable {
    public var name: String
    public var positional: [SeedValue]
    public var keywords: [(String, SeedValue)]
    /// The call's source text and its 1-based column.
    public var text: String
    public var column: Int

    public static func == (a: SeedCall, b: SeedCall) -> Bool {
        a.name == b.name && a.positional == b.positional && a.text == b.text && a.column == b.column
            && a.keywords.map(\.0) == b.keywords.map(\.0) && a.keywords.map(\.1) == b.keywords.map(\.1)
    }
}

/// The values a call produced.
public enum SeedValues: Equatable, Sendable {
    case float32([Float])
    case float64([Double])
    case int([Int])
    case nothing
}

/// What one call did: the seeds it used, why, and its values (per step in graph mode).
public struct SeedCallResult: Equatable, Sendable {
    public var call: String
    public var name: String
    /// The (seed, seed2) pair of a random op; the numpy seed of an initializer; the seed of
    /// `set_seed` and `shuffle`.
    public var seed: Int64?
    public var seed2: Int64?
    /// GetSeed(seed, seed2) for random ops.
    public var kernelSeed: UInt64?
    /// Graph mode: the step (from 1) these values belong to.
    public var step: Int?
    public var values: SeedValues
    /// The rule that applied, in words.
    public var explanation: String
}

/// A MindSpore-style random program: `set_seed(1234); uniform([1,4], 1.0, 2.0); ...`, evaluated
/// with MindSpore's names, argument order and defaults.
public struct SeedProgram {
    public var calls: [SeedCall]

    /// The calls a program may use, with their parameters in order (a `?` marks a default).
    public static let signatures: [(name: String, params: [String])] = [
        ("set_seed", ["seed"]),
        ("uniform", ["shape", "minval", "maxval", "seed?"]),
        ("standard_normal", ["shape", "seed?"]),
        ("normal", ["shape", "mean", "stddev", "seed?"]),
        ("rand", ["shape", "seed?"]),
        ("randn", ["shape", "seed?"]),
        ("initializer", ["name", "shape"]),
        ("dropout", ["shape", "p?", "seed?"]),
        ("shuffle", ["n", "epochs?"]),
        ("numpy_normal", ["shape"]),
        ("numpy_uniform", ["shape"]),
    ]

    /// Parses `text`: calls separated by `;` or new lines.
    public init(_ text: String) throws(SeedProgramError) {
        var parser = SeedParser(text)
        calls = try parser.program()
        guard !calls.isEmpty else { throw SeedProgramError(column: 1, message: "the program has no calls; calls are \(Self.callNames)") }
    }

    static var callNames: String { signatures.map(\.name).joined(separator: ", ") }

    /// The most values one run of a program may produce, over all its calls and steps (64 MiB of
    /// float32): a program asking for more is refused before anything is allocated.
    public static let valueLimit = 1 << 24

    /// Refuses a program whose calls would produce more than `limit` values in `steps` steps
    /// (random calls produce their shape every step in graph mode; host calls once).
    func checkValueBudget(steps: Int, limit: Int = SeedProgram.valueLimit) throws(SeedProgramError) {
        var total = 0
        for call in calls {
            let args = try bind(call)
            var count: Int
            if let op = try randomOp(call, args) {
                count = op.shape.count * steps
            } else {
                switch call.name {
                case "initializer", "numpy_normal", "numpy_uniform": count = try shape(call, args["shape"]).count
                case "shuffle":
                    let n = try integer(call, "n", args["n"]), epochs = args["epochs"] == nil ? 1 : try integer(call, "epochs", args["epochs"])
                    count = n < 0 || epochs < 1 ? 0 : Int(min(n, 1 << 40)) * Int(min(epochs, 1 << 20))
                default: count = 0
                }
            }
            total += count
            guard total <= limit else {
                throw SeedProgramError(column: call.column, message: "\(call.name): the program would produce \(total) values by this call (\(steps) step\(steps == 1 ? "" : "s")); at most \(limit) values per run")
            }
        }
    }

    /// Runs the program in PyNative order on `state`: each random call takes its seeds when it runs.
    /// `valueLimit`: the most values the run may produce (a smaller budget for fuzzing).
    public func runPyNative(state: SeedState, valueLimit: Int = SeedProgram.valueLimit) throws(SeedProgramError) -> [SeedCallResult] {
        try checkValueBudget(steps: 1, limit: valueLimit)
        var results: [SeedCallResult] = []
        for call in calls {
            let args = try bind(call)
            if let op = try randomOp(call, args) {
                let r: RandomResult, seed = try optionalSeed(call, args)
                do { r = try op.run(seed: seed, state: state) } catch { throw SeedProgramError(column: call.column, message: String(describing: error)) }
                results.append(SeedCallResult(call: call.text, name: call.name, seed: r.seeds.seed, seed2: r.seeds.seed2,
                                              kernelSeed: r.engineSeed, values: .float32(try! r.tensor.toArray(of: Float.self)),
                                              explanation: Self.explain(r.seeds, kernel: op.kernelName, mode: "PyNative")))
            } else {
                results.append(try host(call, args, state: state))
            }
        }
        return results
    }

    /// Builds the program as one graph (random calls become call sites that take their seeds now;
    /// host calls run in order while building) and runs `steps` steps.
    public func runGraph(state: SeedState, steps: Int, valueLimit: Int = SeedProgram.valueLimit) throws(SeedProgramError) -> [SeedCallResult] {
        precondition(steps >= 1)
        try checkValueBudget(steps: steps, limit: valueLimit)
        let graph = RandomGraph()
        var built: [(index: Int, result: SeedCallResult?)] = []  // host results, or graph site
        var siteCalls: [SeedCall] = []
        for call in calls {
            let args = try bind(call)
            if let op = try randomOp(call, args) {
                let seed = try optionalSeed(call, args)
                do { try graph.add(op, seed: seed, state: state) } catch { throw SeedProgramError(column: call.column, message: String(describing: error)) }
                built.append((siteCalls.count, nil))
                siteCalls.append(call)
            } else {
                built.append((-1, try host(call, args, state: state)))
            }
        }
        var outputs: [[Tensor]] = []
        for _ in 0..<steps {
            do { outputs.append(try graph.step()) } catch { throw SeedProgramError(column: 1, message: String(describing: error)) }
        }
        var results: [SeedCallResult] = []
        for entry in built {
            if let host = entry.result {
                results.append(host)
                continue
            }
            let site = graph.sites[entry.index], call = siteCalls[entry.index]
            for step in 0..<steps {
                results.append(SeedCallResult(call: call.text, name: call.name, seed: site.kernel.seeds.seed, seed2: site.kernel.seeds.seed2,
                                              kernelSeed: site.kernel.engineSeed, step: step + 1,
                                              values: .float32(try! outputs[step][entry.index].toArray(of: Float.self)),
                                              explanation: Self.explain(site.kernel.seeds, kernel: site.op.kernelName, mode: "graph")
                                                + (step == 0 ? "" : " Step \(step + 1) continues the call site's kernel stream.")))
            }
        }
        return results
    }

    /// Runs the program under TensorFlow's seed rules (`seed_semantics: tensorflow`): eager
    /// calls, or in graph mode one traced function called `steps` times. Only set_seed and the
    /// random ops have TensorFlow counterparts.
    public func runTensorFlow(state: TFSeedState, graph: Bool, steps: Int) throws(SeedProgramError) -> [SeedCallResult] {
        precondition(steps >= 1)
        try checkValueBudget(steps: graph ? steps : 1)
        var results: [SeedCallResult] = []
        var function: TFGraph?
        var sites: [(call: SeedCall, node: Int, transform: (Float) -> Float)] = []
        func flush() {
            guard let f = function else { return }
            var outputs: [[Tensor]] = []
            for _ in 0..<steps { outputs.append(f.call()) }
            for site in sites {
                let seeds = f.nodes[site.node].seeds
                for step in 0..<steps {
                    let values = try! RandomOp.map(outputs[step][site.node], site.transform).toArray(of: Float.self)
                    results.append(SeedCallResult(call: site.call.text, name: site.call.name, seed: seeds?.0, seed2: seeds?.1, step: step + 1,
                                                  values: .float32(values), explanation: Self.explainTF(seeds, graph: true)))
                }
            }
            function = nil
            sites = []
        }
        for call in calls {
            let args = try bind(call)
            if call.name == "set_seed" {
                flush()
                let s = try integer(call, "seed", args["seed"])
                do { try state.setSeed(s) } catch { throw SeedProgramError(column: call.column, message: String(describing: error)) }
                results.append(SeedCallResult(call: call.text, name: call.name, seed: s, values: .nothing,
                                              explanation: "tf.random.set_seed(\(s)): the global seed is \(s); the op counter and every cached kernel are reset."))
                continue
            }
            guard let op = try randomOp(call, args), case let (tfOp?, transform) = Self.tensorflowOp(op) else {
                throw SeedProgramError(column: call.column, message: "\(call.name) has no TensorFlow counterpart; with --semantics tensorflow the calls are set_seed, uniform, rand, standard_normal, randn, normal")
            }
            do { try op.validate() } catch { throw SeedProgramError(column: call.column, message: error.description) }
            let seed = try optionalSeed(call, args)
            if graph {
                if function == nil { function = state.traceFunction() }
                sites.append((call, function!.add(tfOp, seed: seed), transform))
            } else {
                let (tensor, seeds) = state.runWithSeeds(tfOp, seed: seed)
                let values = try! RandomOp.map(tensor, transform).toArray(of: Float.self)
                results.append(SeedCallResult(call: call.text, name: call.name, seed: seeds?.0, seed2: seeds?.1,
                                              values: .float32(values), explanation: Self.explainTF(seeds, graph: false)))
            }
        }
        flush()
        return results
    }

    static func tensorflowOp(_ op: RandomOp) -> (TFRandomOp?, (Float) -> Float) {
        switch op {
        case let .uniform(shape, minval, maxval):
            let range = maxval - minval
            return (.uniform(shape), { $0 * range + minval })
        case let .rand(shape): return (.uniform(shape), { $0 })
        case let .standardNormal(shape), let .randn(shape): return (.normal(shape), { $0 })
        case let .normal(shape, mean, stddev): return (.normal(shape), { $0 * stddev + mean })
        case .dropout: return (nil, { $0 })
        }
    }

    static func explainTF(_ seeds: (Int64, Int64)?, graph: Bool) -> String {
        guard let (s, s2) = seeds else {
            return "TensorFlow: neither a global nor an op seed: a random seed, different on every call and every run."
        }
        let place = graph ? "this call site of the traced function (its own kernel; calls of the function continue it)"
                          : "this eager call (the kernel for these seeds is cached: a repeated call continues it)"
        if s == TFSeedState.defaultGraphSeed {
            return "TensorFlow: op seed only: the default graph seed 87654321 with op seed \(s2), for \(place)."
        }
        return "TensorFlow: global seed \(s) with op seed \(s2) (the op's own seed, or the \(graph ? "graph's" : "eager") op counter), for \(place)."
    }

    // MARK: Binding arguments

    typealias Args = [String: SeedValue]

    func bind(_ call: SeedCall) throws(SeedProgramError) -> Args {
        guard let signature = Self.signatures.first(where: { $0.name == call.name }) else {
            throw SeedProgramError(column: call.column, message: "unknown call '\(call.name)'; calls are \(Self.callNames)")
        }
        let params = signature.params.map { $0.hasSuffix("?") ? String($0.dropLast()) : $0 }
        let usage = "\(call.name)(\(signature.params.map { $0.hasSuffix("?") ? String($0.dropLast()) + "=…" : $0 }.joined(separator: ", ")))"
        var args: Args = [:]
        // rand(2, 3) and randn(2, 3) take sizes as separate integers, like ops.rand(*size).
        var positional = call.positional
        if ["rand", "randn"].contains(call.name), positional.count > 1, positional.allSatisfy({ if case .int = $0 { true } else { false } }) {
            positional = [.list(positional)]
        }
        guard positional.count <= params.count else {
            throw SeedProgramError(column: call.column, message: "\(call.name) takes at most \(params.count) arguments, got \(positional.count); usage: \(usage)")
        }
        for (i, v) in positional.enumerated() { args[params[i]] = v }
        for (key, value) in call.keywords {
            guard params.contains(key) else {
                throw SeedProgramError(column: call.column, message: "\(call.name) has no argument '\(key)'; usage: \(usage)")
            }
            guard args[key] == nil else {
                throw SeedProgramError(column: call.column, message: "\(call.name) got '\(key)' twice; usage: \(usage)")
            }
            args[key] = value
        }
        for p in signature.params where !p.hasSuffix("?") && args[p] == nil {
            throw SeedProgramError(column: call.column, message: "\(call.name) is missing '\(p)'; usage: \(usage)")
        }
        return args
    }

    func shape(_ call: SeedCall, _ v: SeedValue?) throws(SeedProgramError) -> Shape {
        let dims: [SeedValue]
        switch v {
        case .list(let items)?: dims = items
        case .int?: dims = [v!]
        default: throw SeedProgramError(column: call.column, message: "\(call.name): shape must be a list of non-negative integers such as [2, 3]")
        }
        var result: [Int] = []
        for d in dims {
            guard case .int(let n) = d, n >= 0, n <= 1 << 24 else {
                throw SeedProgramError(column: call.column, message: "\(call.name): shape must be a list of non-negative integers (each at most 16777216) such as [2, 3]")
            }
            result.append(Int(n))
        }
        // The product of the non-zero dimensions bounds the strides too ([0, 2^24, 2^24] is empty
        // but its strides overflow).
        guard Shape(result.filter { $0 != 0 }).count(atMost: 1 << 24) != nil else {
            throw SeedProgramError(column: call.column, message: "\(call.name): shape \(result) is too large: its non-zero dimensions multiply to more than 16777216")
        }
        return Shape(result)
    }

    func number(_ call: SeedCall, _ name: String, _ v: SeedValue?) throws(SeedProgramError) -> Double {
        switch v {
        case .int(let i)?: return Double(i)
        case .float(let f)?: return f
        default: throw SeedProgramError(column: call.column, message: "\(call.name): '\(name)' must be a number")
        }
    }

    func integer(_ call: SeedCall, _ name: String, _ v: SeedValue?) throws(SeedProgramError) -> Int64 {
        guard case .int(let i)? = v else { throw SeedProgramError(column: call.column, message: "\(call.name): '\(name)' must be an integer") }
        return i
    }

    func optionalSeed(_ call: SeedCall, _ args: Args) throws(SeedProgramError) -> Int64? {
        switch args["seed"] {
        case nil, .none?: return nil
        case .int(let s)?:
            guard s >= 0 else { throw SeedProgramError(column: call.column, message: "\(call.name): seed must be a non-negative integer or None, got \(s)") }
            return s
        default: throw SeedProgramError(column: call.column, message: "\(call.name): seed must be a non-negative integer or None")
        }
    }

    func randomOp(_ call: SeedCall, _ args: Args) throws(SeedProgramError) -> RandomOp? {
        switch call.name {
        case "uniform":
            return .uniform(try shape(call, args["shape"]), minval: Float(try number(call, "minval", args["minval"])),
                            maxval: Float(try number(call, "maxval", args["maxval"])))
        case "standard_normal": return .standardNormal(try shape(call, args["shape"]))
        case "normal":
            return .normal(try shape(call, args["shape"]), mean: Float(try number(call, "mean", args["mean"])),
                           stddev: Float(try number(call, "stddev", args["stddev"])))
        case "rand": return .rand(try shape(call, args["shape"]))
        case "randn": return .randn(try shape(call, args["shape"]))
        case "dropout": return .dropout(try shape(call, args["shape"]), p: args["p"] == nil ? 0.5 : try number(call, "p", args["p"]))
        default: return nil
        }
    }

    /// Calls that run on the host: set_seed, initializer, shuffle, numpy_*.
    func host(_ call: SeedCall, _ args: Args, state: SeedState) throws(SeedProgramError) -> SeedCallResult {
        var r = SeedCallResult(call: call.text, name: call.name, values: .nothing, explanation: "")
        switch call.name {
        case "set_seed":
            let s = try integer(call, "seed", args["seed"])
            do { try state.setSeed(s) } catch { throw SeedProgramError(column: call.column, message: String(describing: error)) }
            r.seed = s
            r.explanation = "set_seed(\(s)): numpy's global generator and the dataset seed are seeded with \(s), every op-seed counter is reset, and the global seed is \(s)"
                + (s == 0 ? " (random ops use the default graph seed 87654321 in its place)." : ".")
        case "initializer":
            guard case .string(let name)? = args["name"] else {
                throw SeedProgramError(column: call.column, message: "initializer: name must be a string such as \"normal\"; valid names are \(Initializer.names.joined(separator: ", "))")
            }
            let shape = try shape(call, args["shape"])
            do {
                let initializer = try Initializer(name: name)
                let seed = initializer.isRandom ? state.initializerSeed() : 0
                r.values = .float32(try initializer.make(shape, seed: seed).toArray(of: Float.self))
                if initializer.isRandom {
                    r.seed = Int64(bitPattern: seed)
                    r.explanation = "initializer(\"\(name)\"): drew seed \(seed) from numpy's global generator (randint(1, 2**63)); values from MindSpore's Philox stream with that seed."
                        + (state.globalSeed == nil ? " No set_seed yet: numpy's generator was seeded from OS entropy, so this differs on every run." : "")
                } else {
                    r.explanation = "initializer(\"\(name)\"): constant, draws no seed."
                }
            } catch {
                throw SeedProgramError(column: call.column, message: String(describing: error))
            }
        case "shuffle":
            let n = try integer(call, "n", args["n"])
            let epochs = args["epochs"] == nil ? 1 : try integer(call, "epochs", args["epochs"])
            guard n >= 0, n <= 1 << 24 else { throw SeedProgramError(column: call.column, message: "shuffle: n must be from 0 to 16777216, got \(n)") }
            guard epochs >= 1, epochs <= 1000 else { throw SeedProgramError(column: call.column, message: "shuffle: epochs must be from 1 to 1000, got \(epochs)") }
            let (seed, entropy) = state.shuffleSeed()
            var order: [Int] = []
            for e in 1...Int(epochs) { order += randomSamplerOrder(count: Int(n), seed: seed, epoch: e) }
            r.values = .int(order)
            r.seed = entropy ? nil : Int64(seed)
            r.explanation = entropy
                ? "shuffle(\(n)): the dataset seed is 5489 (never set, or set to 5489), which MindSpore replaces with OS entropy: the order differs on every run."
                : "shuffle(\(n)): the random sampler's order for epoch 1\(epochs > 1 ? " to \(epochs)" : "") with dataset seed \(seed) (epoch e uses mt19937(seed + e − 1) on the previous order)."
        case "numpy_normal", "numpy_uniform":
            let shape = try shape(call, args["shape"])
            let normal = call.name == "numpy_normal"
            r.values = .float64((0..<shape.count).map { _ in normal ? state.numpy.normal() : state.numpy.uniform() })
            r.explanation = "\(normal ? "numpy.random.normal" : "numpy.random.uniform")(size=\(shape)): numpy's global generator"
                + (state.globalSeed == nil ? ", seeded from OS entropy (no set_seed yet)." : ", which set_seed(\(state.globalSeed!)) seeded.")
        default:
            preconditionFailure("unhandled call \(call.name)")
        }
        return r
    }

    /// The rule that gave a random op its seeds, in words.
    public static func explain(_ seeds: SeedPair, kernel: String, mode: String) -> String {
        let k = "K = 533697028"
        let how = mode == "graph" ? "taken once when the graph was built" : "taken at this call"
        switch seeds.rule {
        case .entropy:
            return "\(kernel): no global seed and no op seed: seeds (0, 0), so the kernel takes OS entropy and differs on every run (\(mode))."
        case .truncatedToEntropy:
            return "\(kernel): the global seed and the counter both reduce to 0 modulo 2^31−1: seeds (0, 0), OS entropy, random on every run (\(mode))."
        case .globalSeed(let n):
            return "\(kernel): global seed only: seeds \(seeds), \(how); seed2 is call \(n) of \(kernel)'s op-seed counter since set_seed (0 + \(n - 1)·K, \(k)), so repeated calls differ but a rerun repeats them."
        case .opSeedOnly(let n):
            return "\(kernel): op seed only: global seed 0, seed2 = op seed + \(n - 1)·K (\(k)): \(seeds), \(how). Deterministic across runs, as MindSpore measures, although its docstring says otherwise."
        case .bothSeeds(let n):
            return "\(kernel): global and op seed: seeds \(seeds), \(how); seed2 is the op seed plus \(n - 1)·K (\(k)) for call \(n) since set_seed."
        case .defaultGraphSeed(let n):
            return "\(kernel): set_seed(0): the default graph seed 87654321 stands in for 0; seeds \(seeds), \(how) (call \(n) of the counter)."
        }
    }
}

/// Recursive-descent parser for seed programs.
struct SeedParser {
    let chars: [Character]
    var i = 0
    /// Lists nested now: at most `maxDepth` (a shape needs one).
    var depth = 0
    static let maxDepth = 16

    init(_ text: String) { chars = Array(text) }

    var column: Int { i + 1 }

    func error(_ message: String, at position: Int? = nil) -> SeedProgramError {
        SeedProgramError(column: (position ?? i) + 1, message: message)
    }

    mutating func skipSpace(newlines: Bool = true) {
        while i < chars.count, chars[i] == " " || chars[i] == "\t" || (newlines && (chars[i] == "\n" || chars[i] == "\r")) { i += 1 }
    }

    mutating func program() throws(SeedProgramError) -> [SeedCall] {
        var calls: [SeedCall] = []
        while true {
            while i < chars.count, chars[i] == ";" || chars[i].isWhitespace { i += 1 }
            if i >= chars.count { return calls }
            calls.append(try call())
            skipSpace(newlines: false)
            if i < chars.count, chars[i] != ";" && chars[i] != "\n" && chars[i] != "\r" {
                throw error("expected ';' or a new line between calls, found '\(chars[i])'")
            }
        }
    }

    mutating func identifier() -> String {
        var s = ""
        while i < chars.count, chars[i].isLetter || chars[i].isNumber || chars[i] == "_" || chars[i] == "." {
            s.append(chars[i])
            i += 1
        }
        return s
    }

    mutating func call() throws(SeedProgramError) -> SeedCall {
        let start = i
        var name = identifier()
        guard !name.isEmpty else { throw error("expected a call such as uniform([2], 0.0, 1.0), found '\(chars[i])'") }
        // Accept MindSpore-qualified spellings (ops.uniform, ms.set_seed, np.random.normal).
        for prefix in ["mindspore.", "ms.", "ops.", "np.random.", "numpy.random."] where name.hasPrefix(prefix) {
            let bare = String(name.dropFirst(prefix.count))
            name = prefix.contains("random") ? "numpy_" + bare : bare
        }
        skipSpace()
        guard i < chars.count, chars[i] == "(" else { throw error("expected '(' after '\(name)'") }
        i += 1
        var positional: [SeedValue] = [], keywords: [(String, SeedValue)] = []
        skipSpace()
        if i < chars.count, chars[i] == ")" {
            i += 1
        } else {
            while true {
                skipSpace()
                let save = i
                let word = identifier()
                skipSpace()
                if !word.isEmpty, i < chars.count, chars[i] == "=" {
                    i += 1
                    keywords.append((word, try value()))
                } else {
                    i = save
                    guard keywords.isEmpty else { throw error("a positional argument cannot follow a keyword argument") }
                    positional.append(try value())
                }
                skipSpace()
                guard i < chars.count else { throw error("unclosed '(' of \(name)", at: start) }
                if chars[i] == "," { i += 1; continue }
                if chars[i] == ")" { i += 1; break }
                throw error("expected ',' or ')' in the arguments of \(name), found '\(chars[i])'")
            }
        }
        guard SeedProgram.signatures.contains(where: { $0.name == name }) else {
            throw error("unknown call '\(name)'; calls are \(SeedProgram.callNames)", at: start)
        }
        return SeedCall(name: name, positional: positional, keywords: keywords, text: String(chars[start..<i]), column: start + 1)
    }

    mutating func value() throws(SeedProgramError) -> SeedValue {
        skipSpace()
        guard i < chars.count else { throw error("expected a value, found the end of the program") }
        let c = chars[i]
        if c == "[" || c == "(" {
            let close: Character = c == "[" ? "]" : ")"
            let open = i
            guard depth < Self.maxDepth else { throw error("lists nested more than \(Self.maxDepth) deep") }
            depth += 1
            defer { depth -= 1 }
            i += 1
            var items: [SeedValue] = []
            skipSpace()
            if i < chars.count, chars[i] == close { i += 1; return .list(items) }
            while true {
                items.append(try value())
                skipSpace()
                guard i < chars.count else { throw error("unclosed '\(c)'") }
                if chars[i] == "," {
                    i += 1
                    skipSpace()
                    if i < chars.count, chars[i] == close { i += 1; return .list(items) }
                    continue
                }
                if chars[i] == close { i += 1; return .list(items) }
                throw error("expected ',' or '\(close)' to close the '\(c)' at column \(open + 1), found '\(chars[i])'")
            }
        }
        if c == "\"" || c == "'" {
            i += 1
            var s = ""
            while i < chars.count, chars[i] != c { s.append(chars[i]); i += 1 }
            guard i < chars.count else { throw error("unterminated string") }
            i += 1
            return .string(s)
        }
        let start = i
        let text = word()
        switch text {
        case "None": return .none
        case "True": return .bool(true)
        case "False": return .bool(false)
        default: break
        }
        if var total = integerTerm(text) {
            // Integer sums such as 2**31 - 1.
            while true {
                let save = i
                skipSpace(newlines: false)
                guard i < chars.count, chars[i] == "+" || chars[i] == "-" else { i = save; break }
                let negative = chars[i] == "-"
                i += 1
                skipSpace(newlines: false)
                guard let term = integerTerm(word()) else { throw error("expected an integer after '\(negative ? "-" : "+")'") }
                let (v, overflow) = negative ? total.subtractingReportingOverflow(term) : total.addingReportingOverflow(term)
                guard !overflow else { throw error("integer out of range", at: start) }
                total = v
            }
            return .int(total)
        }
        if let v = Double(text.replacingOccurrences(of: "_", with: "")), v.isFinite { return .float(v) }
        throw error("expected a number, a string, a list, or None, found '\(text.isEmpty ? String(c) : text)'", at: start)
    }

    /// Letters, digits and the characters of a number (`1e-3`, `2**31`, `-0.5`).
    mutating func word() -> String {
        var text = ""
        while i < chars.count {
            let ch = chars[i]
            let signInExponent = (ch == "-" || ch == "+") && (text.isEmpty || text.last == "e" || text.last == "E")
            guard ch.isLetter || ch.isNumber || ch == "." || ch == "_" || ch == "*" || signInExponent else { break }
            text.append(ch)
            i += 1
        }
        return text
    }

    /// An integer literal or an integer power (`2**31`); nil if `text` is neither.
    func integerTerm(_ text: String) -> Int64? {
        let cleaned = text.replacingOccurrences(of: "_", with: "")
        if let p = cleaned.range(of: "**") {
            guard let base = Int64(cleaned[..<p.lowerBound]), let exp = Int64(cleaned[p.upperBound...]), exp >= 0 else { return nil }
            // 0, 1 and -1 never overflow: answer them at once (any other base overflows within 64 steps).
            switch base {
            case 0: return exp == 0 ? 1 : 0
            case 1: return 1
            case -1: return exp % 2 == 0 ? 1 : -1
            default: break
            }
            var v: Int64 = 1
            for _ in 0..<exp {
                let (next, overflow) = v.multipliedReportingOverflow(by: base)
                if overflow { return nil }
                v = next
            }
            return v
        }
        return Int64(cleaned)
    }
}

extension SeedProgramError: CategorizedError {
    public var category: ErrorCategory { .badInput }
}
