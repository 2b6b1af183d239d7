import Foundation
import NPUData
import NPUDevice
import enum NPUGraph.FusionLevel
import NPUOps
import NPUTensor
import NPUTrain
import Yams

/// An error in a training script: file:line:column, the key, what was found and what is valid.
public struct ScriptError: Error, Equatable, CustomStringConvertible, CategorizedError {
    public var file: String
    public var line: Int?
    public var column: Int?
    public var message: String
    public var description: String {
        [file, line.map(String.init), column.map(String.init)].compactMap { $0 }.joined(separator: ":") + ": " + message
    }
    public var category: ErrorCategory { .badInput }
}

/// A training script (Docs/ScriptFormat.md): what a MindSpore graph-mode script says, in
/// MindSpore's class and argument names.
public struct Script {
    /// The file it came from (paths in it are relative to its folder).
    public var file: String
    /// `mindspore.set_seed`; nil: not set.
    public var seed: Int64?
    public var context = Context()
    public var dataset: DatasetSpec
    /// `network.layers` (a SequentialCell), or the layers of `network.nodes` in order.
    public var network: [LayerSpec]
    /// `network.nodes`: each node's inputs by name (`data` is the batch), and the output node;
    /// nil for `layers`.
    public var graph: (inputs: [[String]], output: String)?
    public var loss: LossSpec
    public var optimizer: OptimizerSpec
    /// `loss_scale_manager:` — MindSpore's `Model(loss_scale_manager=...)`; nil: the amp level's
    /// default (a `DynamicLossScaleManager()` under O2).
    public var lossScaleManager: OptimizerSpec?
    public var train = TrainSpec()
    public var eval: EvalSpec?

    /// `eval:` — a held-out dataset and metrics, run after training (and after every epoch with
    /// `eval_per_epoch`).
    public struct EvalSpec {
        public var dataset: DatasetSpec
        public var metrics: [String]
        public var perEpoch: Bool
    }

    /// `context:` — MindSpore's set_context and the simulator's settings.
    public struct Context {
        public var mode = ExecutionMode.graph
        public var device = "ascend910"
        public var cards = 1
        /// `allreduce_algorithm`: ring, mesh or hierarchical; nil: auto (HCCL's choice).
        public var allReduceAlgorithm: String?
        /// `all_reduce_fusion_config`: parameter indices where a new gradient bucket starts.
        public var fusionSplits: [Int]?
        public var determinism = Determinism.off
        /// `allreduce_determinism`: the policy of the collectives (AllReduce, ReduceScatter) when it
        /// is not `determinism` (what HCCL_DETERMINISTIC sets on a card); nil: `determinism`.
        public var allReduceDeterminism: Determinism?
        public var orderSeed: UInt64?
        public var ampLevel = AmpLevel.O0
        /// `kernel_fusion` (none, buffer, graph_kernel) or `graph_kernel: true` (MindSpore's
        /// `enable_graph_kernel`); nil: the device's default.
        public var kernelFusion: FusionLevel?
    }

    /// `dataset:`.
    public struct DatasetSpec {
        public enum Source {
            case npy(data: String, label: String)
            case idx(data: String, label: String)
            case csv(file: String, label: String, header: Bool)
            case cifar10(files: [String])
            case synthetic(count: Int, shape: [Int], classes: Int, seed: UInt64, ids: Int?)
        }
        public var source: Source
        /// `map` transforms of the data column, in order.
        public var transforms: [Transform] = []
        /// `num_parallel_workers`: the map's workers (the random transforms' draws depend on it).
        public var workers = 1
        public var shuffle = false
        public var batchSize = 1
        public var dropRemainder = false
        public var skip = 0
        /// `shuffle_buffer`: MindSpore's `Dataset.shuffle(buffer_size)` after the sampler.
        public var shuffleBuffer: Int?
    }

    /// One layer of `network.layers`: its class and arguments, and its cell name.
    public struct LayerSpec {
        public var type: String
        public var arguments: [String: Argument]
        public var name: String
        /// Where it is in the file, for errors found later (shapes).
        public var line: Int?, column: Int?
    }

    /// An argument value as written.
    public enum Argument: Equatable {
        case number(Double)
        case text(String)
        case flag(Bool)
        case list([Double])

        /// The value as a user wrote it, for messages.
        public var shown: String {
            switch self {
            case .number(let v): v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : "\(v)"
            case .text(let t): "'\(t)'"
            case .flag(let f): "\(f)"
            case .list(let l): "\(l)"
            }
        }
    }

    public struct LossSpec {
        public var type: String
        public var arguments: [String: Argument]
    }

    public struct OptimizerSpec {
        public var type: String
        public var arguments: [String: Argument]
    }

    /// `train:`.
    public struct TrainSpec {
        public var epochs = 1
        public var sink = false
        public var sinkSize = -1
        /// LossMonitor's `per_print_times` (0: never prints); nil: no LossMonitor. A script without
        /// `callbacks:` gets `LossMonitor(1)`.
        public var printEvery: Int? = 1
        /// The callbacks' types in the order listed (the order MindSpore calls them in).
        public var callbackOrder = ["LossMonitor"]
        /// TimeMonitor: a line per epoch with its (simulated) time.
        public var timeMonitor = false
        /// CSVLogger: `epoch,step,loss` of every loss the host saw, written here when training ends.
        public var csvLog: String?
        /// ModelCheckpoint: checkpoints saved while training.
        public var modelCheckpoint: ModelCheckpointSpec?
    }

    /// MindSpore's `ModelCheckpoint(prefix, directory, config=CheckpointConfig(...))`, with its
    /// defaults: a checkpoint `PREFIX-EPOCH_STEP.FORMAT` every `save_checkpoint_steps` steps the
    /// host sees and at the end, the newest `keep_checkpoint_max` kept.
    public struct ModelCheckpointSpec: Equatable {
        public var prefix = "CKP"
        /// The folder (relative to the script's); nil: the working directory, as MindSpore's default.
        public var directory: String?
        public var saveCheckpointSteps = 1
        public var keepCheckpointMax = 5
        /// `ckpt` (MindSpore's format) or `safetensors`.
        public var format = "ckpt"
    }

    /// The longest script read.
    public static let fileLimit = 1 << 20

    /// Loads a script.
    /// - Throws: `ScriptError` naming the file (and line and column) of what is wrong.
    public static func load(path: String) throws(ScriptError) -> Script {
        let bytes: [UInt8]
        do {
            bytes = try readUserFile(path, what: "training script", limit: fileLimit)
        } catch {
            throw ScriptError(file: path, message: error.message)
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw ScriptError(file: path, message: "is not UTF-8 text; a script is a YAML file") }
        return try parse(yaml: text, file: path)
    }

    /// Parses a script from YAML text; `file` names it in errors and anchors its relative paths.
    public static func parse(yaml: String, file: String) throws(ScriptError) -> Script {
        try Reader(file: file).script(compose(yaml: yaml, file: file))
    }

    /// Parses a `dataset:` section alone (a YAML mapping whose one key is `dataset`), as `parse`
    /// reads a script's: for a front end that iterates a dataset itself.
    public static func parseDataset(yaml: String, file: String) throws(ScriptError) -> DatasetSpec {
        let reader = Reader(file: file), root = try compose(yaml: yaml, file: file)
        guard let section = try reader.mapping(root, "the document", valid: ["dataset"])["dataset"] else {
            throw ScriptError(file: file, message: "the document has no 'dataset' section")
        }
        return try reader.dataset(section)
    }

    /// The YAML document's root node, with errors at their line and column.
    static func compose(yaml: String, file: String) throws(ScriptError) -> Node {
        if let bad = unsupportedYAMLStructure(yaml) { throw ScriptError(file: file, line: bad.line, column: bad.column, message: bad.message) }
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: yaml) else { throw ScriptError(file: file, message: "the script is empty; it needs network, loss and optimizer") }
            root = node
        } catch let error as ScriptError {
            throw error
        } catch let error as YamlError {
            switch error {
            case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _):
                let what = [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: " ")
                throw ScriptError(file: file, line: mark.line, column: mark.column, message: "not valid YAML: \(what)")
            default: throw ScriptError(file: file, message: "not valid YAML: \(error)")
            }
        } catch {
            throw ScriptError(file: file, message: "not valid YAML: \(error)")
        }
        return root
    }
}

/// Reads nodes into a `Script`, with errors at the node's line and column.
struct Reader {
    let file: String

    func error(_ node: Node, _ message: String) -> ScriptError {
        ScriptError(file: file, line: node.mark?.line, column: node.mark?.column, message: message)
    }

    /// The keys of a mapping, checked against `valid` (unknown keys are errors, with a
    /// suggestion for a near miss).
    func mapping(_ node: Node, _ path: String, valid: [String]) throws(ScriptError) -> [String: Node] {
        guard let m = node.mapping else { throw error(node, "\(path) must be a mapping of \(valid.joined(separator: ", ")), got \(describe(node))") }
        var out: [String: Node] = [:]
        for (k, v) in m {
            guard let key = k.string else { throw error(k, "\(path) has a key that is not text") }
            guard valid.contains(key) else { throw error(k, "unknown key '\(key)' in \(path)\(suggestion(key, valid)); valid keys are \(valid.joined(separator: ", "))") }
            guard out[key] == nil else { throw error(k, "\(path).\(key) is given twice") }
            out[key] = v
        }
        return out
    }

    func script(_ root: Node) throws(ScriptError) -> Script {
        let top = try mapping(root, "the script", valid: ["seed", "context", "dataset", "eval", "network", "loss", "optimizer", "loss_scale_manager", "train"])
        // Sections in file order first, so the first error in the file is the one reported.
        if let n = top["context"] { _ = try context(n) }
        let datasetSpec = try top["dataset"].map { n throws(ScriptError) in try dataset(n) }
        let net = try top["network"].map { n throws(ScriptError) in try network(n) }
        let layers = net?.layers
        let lossSpec = try top["loss"].map { n throws(ScriptError) in try loss(n) }
        let optimizerSpec = try top["optimizer"].map { n throws(ScriptError) in try optimizer(n) }
        guard let layers, let lossSpec, let optimizerSpec else {
            let missing = ["network", "loss", "optimizer"].first { top[$0] == nil }!
            throw error(root, "the script has no '\(missing)'; it needs network, loss and optimizer")
        }
        guard let datasetSpec else { throw error(root, "the script has no 'dataset'; give a source (npy: or synthetic:) and a batch size") }
        var s = Script(file: file, seed: nil, dataset: datasetSpec, network: layers, graph: net?.graph, loss: lossSpec, optimizer: optimizerSpec)
        if let n = top["seed"] { s.seed = Int64(try integer(n, "seed", 0...Double(UInt32.max))) }
        if let n = top["context"] { s.context = try context(n) }
        if let n = top["loss_scale_manager"] {
            let (type, args) = try oneClass(n, "loss_scale_manager", LayerCatalog.lossScaleManagers)
            s.lossScaleManager = Script.OptimizerSpec(type: type, arguments: args)
        }
        if let n = top["train"] { s.train = try train(n) }
        if let n = top["eval"] { s.eval = try eval(n) }
        return s
    }

    func context(_ node: Node) throws(ScriptError) -> Script.Context {
        let m = try mapping(node, "context", valid: ["mode", "device", "cards", "determinism", "order_seed", "amp_level", "seed_semantics",
                                                     "allreduce_algorithm", "all_reduce_fusion_config", "allreduce_determinism",
                                                     "kernel_fusion", "graph_kernel"])
        var c = Script.Context()
        if let n = m["mode"] { c.mode = try choice(n, "context.mode", ["graph", "pynative"]) == "graph" ? .graph : .pynative }
        if let n = m["device"] { c.device = try text(n, "context.device") }
        if let n = m["cards"] { c.cards = try integer(n, "context.cards", 1...4096) }
        if let n = m["allreduce_algorithm"] {
            let a = try choice(n, "context.allreduce_algorithm", ["auto", "ring", "mesh", "hierarchical"])
            c.allReduceAlgorithm = a == "auto" ? nil : a
        }
        if let n = m["all_reduce_fusion_config"] {
            guard let list = n.sequence else { throw error(n, "context.all_reduce_fusion_config must be a list of increasing parameter indices, e.g. [2, 4]") }
            var splits: [Int] = []
            for item in list {
                let k = try integer(item, "context.all_reduce_fusion_config[\(splits.count)]", 1...1e6)
                guard splits.last.map({ k > $0 }) ?? true else { throw error(item, "context.all_reduce_fusion_config must increase, got \(k) after \(splits.last!)") }
                splits.append(k)
            }
            c.fusionSplits = splits
        }
        if let n = m["determinism"] {
            // YAML 1.1 reads bare on/off as booleans; both spellings are accepted.
            let word = n.scalar?.string.lowercased() ?? ""
            let policy = ["true", "yes"].contains(word) ? "on" : ["false", "no"].contains(word) ? "off" : try choice(n, "context.determinism", ["off", "on", "strict"])
            c.determinism = policy == "on" ? .on : policy == "strict" ? .strict : .off
        }
        if let n = m["allreduce_determinism"] {
            let word = n.scalar?.string.lowercased() ?? ""
            let policy = ["true", "yes"].contains(word) ? "on" : ["false", "no"].contains(word) ? "off" : try choice(n, "context.allreduce_determinism", ["off", "on", "strict"])
            c.allReduceDeterminism = Determinism(rawValue: policy)
        }
        if let n = m["order_seed"] { c.orderSeed = UInt64(try integer(n, "context.order_seed", 0...Double(UInt32.max))) }
        if let n = m["kernel_fusion"] {
            c.kernelFusion = FusionLevel(rawValue: try choice(n, "context.kernel_fusion", FusionLevel.allCases.map(\.rawValue)))
        }
        if let n = m["graph_kernel"], try flag(n, "context.graph_kernel") {
            guard c.kernelFusion == nil || c.kernelFusion == .graphKernel else {
                throw error(n, "context.graph_kernel: true contradicts kernel_fusion: \(c.kernelFusion!.rawValue); give one of them")
            }
            c.kernelFusion = .graphKernel
        }
        if let n = m["amp_level"] { c.ampLevel = AmpLevel(rawValue: try choice(n, "context.amp_level", ["O0", "O1", "O2", "O3"]))! }
        if let n = m["seed_semantics"], try choice(n, "context.seed_semantics", ["mindspore", "tensorflow"]) != "mindspore" {
            throw error(n, "context.seed_semantics: tensorflow applies to `npusim seeds` programs only; training scripts use mindspore")
        }
        return c
    }

    func dataset(_ node: Node) throws(ScriptError) -> Script.DatasetSpec {
        let m = try mapping(node, "dataset", valid: ["source", "shuffle", "shuffle_buffer", "num_parallel_workers", "map", "batch", "skip", "num_shards", "shard_id"])
        guard let sourceNode = m["source"] else { throw error(node, "dataset has no 'source'; valid sources are npy, idx, csv, cifar10, synthetic") }
        let sources = try mapping(sourceNode, "dataset.source", valid: ["npy", "synthetic", "idx", "cifar10", "csv"])
        guard sources.count == 1, let (kind, spec) = sources.first else { throw error(sourceNode, "dataset.source names exactly one source, got \(sources.count)") }
        let source: Script.DatasetSpec.Source
        switch kind {
        case "npy":
            let f = try mapping(spec, "dataset.source.npy", valid: ["data", "label"])
            guard let d = f["data"], let l = f["label"] else { throw error(spec, "dataset.source.npy needs data and label (.npy files)") }
            source = .npy(data: try path(d, "dataset.source.npy.data"), label: try path(l, "dataset.source.npy.label"))
        case "idx":
            let f = try mapping(spec, "dataset.source.idx", valid: ["data", "label"])
            guard let d = f["data"], let l = f["label"] else { throw error(spec, "dataset.source.idx needs data and label (IDX files, gzipped or not)") }
            source = .idx(data: try path(d, "dataset.source.idx.data"), label: try path(l, "dataset.source.idx.label"))
        case "csv":
            let f = try mapping(spec, "dataset.source.csv", valid: ["file", "label", "header"])
            guard let p = f["file"], let l = f["label"] else { throw error(spec, "dataset.source.csv needs file and label (the label column's name or index)") }
            source = .csv(file: try path(p, "dataset.source.csv.file"), label: try text(l, "dataset.source.csv.label"),
                          header: try f["header"].map { n throws(ScriptError) in try flag(n, "dataset.source.csv.header") } ?? true)
        case "cifar10":
            let f = try mapping(spec, "dataset.source.cifar10", valid: ["files"])
            guard let list = f["files"]?.sequence, !list.isEmpty else { throw error(spec, "dataset.source.cifar10 needs files: a list of binary batch files") }
            var files: [String] = []
            for item in list { files.append(try path(item, "dataset.source.cifar10.files")) }
            source = .cifar10(files: files)
        case "synthetic":
            let f = try mapping(spec, "dataset.source.synthetic", valid: ["count", "shape", "classes", "seed", "ids"])
            guard let c = f["count"], let sh = f["shape"], let k = f["classes"] else {
                throw error(spec, "dataset.source.synthetic needs count, shape and classes (seed is optional)")
            }
            source = .synthetic(count: try integer(c, "dataset.source.synthetic.count", 1...1e7), shape: try shape(sh, "dataset.source.synthetic.shape"),
                                classes: try integer(k, "dataset.source.synthetic.classes", 1...1e6),
                                seed: UInt64(try f["seed"].map { n throws(ScriptError) in try integer(n, "dataset.source.synthetic.seed", 0...Double(UInt32.max)) } ?? 0),
                                ids: try f["ids"].map { n throws(ScriptError) in try integer(n, "dataset.source.synthetic.ids", 1...Double(Int32.max)) })
        default:
            throw error(spec, "dataset.source.\(kind) is not supported yet; supported sources are npy, idx, csv, cifar10, synthetic")
        }
        var d = Script.DatasetSpec(source: source)
        if let n = m["shuffle"] { d.shuffle = try flag(n, "dataset.shuffle") }
        if let n = m["num_parallel_workers"] { d.workers = try integer(n, "dataset.num_parallel_workers", 1...64) }
        if let n = m["map"] {
            let images: Bool
            switch source { case .idx, .cifar10: images = true; default: images = false }
            d.transforms = try transforms(n, uint8Images: images)
        }
        if let n = m["num_shards"] ?? m["shard_id"] { throw error(n, "sharding is set by context.cards; do not give num_shards or shard_id") }
        if let n = m["batch"] {
            let b = try mapping(n, "dataset.batch", valid: ["batch_size", "drop_remainder"])
            if let s = b["batch_size"] { d.batchSize = try integer(s, "dataset.batch.batch_size", 1...1e6) }
            if let r = b["drop_remainder"] { d.dropRemainder = try flag(r, "dataset.batch.drop_remainder") }
        }
        if let n = m["skip"] { d.skip = try integer(n, "dataset.skip", 0...1e9) }
        if let n = m["shuffle_buffer"] {
            d.shuffleBuffer = try integer(n, "dataset.shuffle_buffer", 2...Double(Int32.max))
            // MindSpore's random transforms draw in the order rows reach them: before the buffer.
            if d.transforms.contains(where: \.isRandom) {
                throw error(n, "dataset.shuffle_buffer with random transforms (RandomCrop, RandomHorizontalFlip) is not supported: they would draw in another order than MindSpore's")
            }
        }
        return d
    }

    func eval(_ node: Node) throws(ScriptError) -> Script.EvalSpec {
        let m = try mapping(node, "eval", valid: ["dataset", "metrics", "eval_per_epoch"])
        guard let d = m["dataset"] else { throw error(node, "eval needs a dataset (the same keys as dataset)") }
        var metrics = ["Accuracy"]
        if let n = m["metrics"] {
            guard let list = n.sequence, !list.isEmpty else { throw error(n, "eval.metrics must be a list, e.g. [Accuracy, Loss]") }
            metrics = []
            for item in list { metrics.append(try choice(item, "eval.metrics", ["Accuracy", "Loss"])) }
        }
        return Script.EvalSpec(dataset: try dataset(d), metrics: metrics, perEpoch: try m["eval_per_epoch"].map { n throws(ScriptError) in try flag(n, "eval.eval_per_epoch") } ?? false)
    }

    /// `map: [{operations: [{Rescale: {rescale, shift}}, …], input_columns: data}]`: MindSpore's
    /// vision transforms on the data column. `uint8Images`: the source gives uint8 images (MNIST,
    /// CIFAR-10), which stay uint8 until a Rescale or Normalize (what Resize computes on).
    func transforms(_ node: Node, uint8Images: Bool) throws(ScriptError) -> [Transform] {
        var integral = uint8Images
        guard let list = node.sequence else { throw error(node, "dataset.map must be a list of {operations: [...], input_columns: data}") }
        var out: [Transform] = []
        for (i, item) in list.enumerated() {
            let path = "dataset.map[\(i)]"
            let m = try mapping(item, path, valid: ["operations", "input_columns"])
            if let c = m["input_columns"] {
                let column = c.sequence?.first?.string ?? c.string ?? ""
                guard ["data", "image"].contains(column) else {
                    throw error(c, "\(path).input_columns is '\(column)'; transforms apply to the data column (data or image)")
                }
            }
            guard let ops = m["operations"]?.sequence else { throw error(item, "\(path) needs operations: a list of transforms") }
            for op in ops {
                let (type, args) = try oneClass(op, "\(path).operations", ["Rescale": ["rescale", "shift"], "Normalize": ["mean", "std", "is_hwc"],
                                                                             "HWC2CHW": [], "TypeCast": ["data_type"],
                                                                             "RandomCrop": ["size", "padding", "pad_if_needed", "fill_value", "padding_mode"],
                                                                             "RandomHorizontalFlip": ["prob"], "Resize": ["size", "interpolation"]])
                func num(_ k: String) throws(ScriptError) -> Float {
                    guard case .number(let v)? = args[k] else { throw error(op, "\(type) needs \(k), a number") }
                    return Float(v)
                }
                func list(_ k: String) throws(ScriptError) -> [Float] {
                    guard case .list(let v)? = args[k], !v.isEmpty else { throw error(op, "\(type) needs \(k), a list of numbers") }
                    return v.map { Float($0) }
                }
                switch type {
                case "Rescale":
                    out.append(.rescale(try num("rescale"), try num("shift")))
                    integral = false
                case "Resize":
                    if let i = args["interpolation"], case .text(let t) = i, !["linear", "bilinear", "Inter.LINEAR"].contains(t) {
                        throw error(op, "Resize interpolation '\(t)' is not supported; linear (MindSpore's default) is")
                    }
                    guard case .list(let size)? = args["size"], size.count == 2, size.allSatisfy({ $0 >= 1 && $0 <= 16384 && $0 == $0.rounded() }) else {
                        throw error(op, "Resize needs size: [height, width], whole numbers from 1 to 16384")
                    }
                    out.append(.resize(height: Int(size[0]), width: Int(size[1]), integral: integral))
                case "Normalize":
                    integral = false
                    if case .flag(false)? = args["is_hwc"] { throw error(op, "Normalize with is_hwc false is not supported; put HWC2CHW after Normalize") }
                    let std = try list("std")
                    guard std.allSatisfy({ $0 != 0 }) else { throw error(op, "Normalize std must not be 0") }
                    out.append(.normalize(mean: try list("mean"), std: std))
                case "HWC2CHW": out.append(.hwc2chw)
                case "RandomCrop": out.append(try randomCrop(op, args))
                case "RandomHorizontalFlip":
                    var prob = 0.5
                    if let a = args["prob"] {
                        guard case .number(let p) = a, (0...1).contains(p) else { throw error(op, "RandomHorizontalFlip prob must be a number from 0 to 1") }
                        prob = p
                    }
                    out.append(.randomHorizontalFlip(prob: prob))
                default:
                    guard case .text(let t)? = args["data_type"], ["float32", "mstype.float32"].contains(t) else {
                        throw error(op, "TypeCast of the data column supports data_type float32 (batches are float32)")
                    }
                    integral = false
                }
            }
        }
        return out
    }

    /// `RandomCrop(size, padding=None, pad_if_needed=False, fill_value=0, padding_mode=Border.CONSTANT)`.
    func randomCrop(_ op: Node, _ args: [String: Script.Argument]) throws(ScriptError) -> Transform {
        func sizes(_ k: String, _ counts: [Int], _ what: String) throws(ScriptError) -> [Int]? {
            guard let a = args[k] else { return nil }
            let v: [Double]
            switch a {
            case .number(let x): v = [x]
            case .list(let xs): v = xs
            default: v = []
            }
            guard counts.contains(v.count), v.allSatisfy({ $0 >= 0 && $0 <= 1e6 && $0 == $0.rounded() }) else {
                throw error(op, "RandomCrop \(k) must be \(what)")
            }
            return v.map { Int($0) }
        }
        guard let size = try sizes("size", [1, 2], "a whole number or [height, width]"), size.allSatisfy({ $0 > 0 }) else {
            throw error(op, "RandomCrop needs size: a whole number above 0 or [height, width]")
        }
        var padding = try sizes("padding", [1, 2, 4], "a whole number, [left/right, top/bottom] or [left, top, right, bottom]") ?? [0]
        if padding.count == 1 { padding = Array(repeating: padding[0], count: 4) }
        if padding.count == 2 { padding = [padding[0], padding[1], padding[0], padding[1]] }
        var padIfNeeded = false
        if let a = args["pad_if_needed"] {
            guard case .flag(let b) = a else { throw error(op, "RandomCrop pad_if_needed must be true or false") }
            padIfNeeded = b
        }
        var fill: [Float] = [0]
        if let a = args["fill_value"] {
            switch a {
            case .number(let x): fill = [Float(x)]
            case .list(let xs) where xs.count == 3: fill = xs.map { Float($0) }
            default: throw error(op, "RandomCrop fill_value must be a number or [r, g, b]")
            }
        }
        if case .text(let mode)? = args["padding_mode"], !["CONSTANT", "Border.CONSTANT"].contains(mode) {
            throw error(op, "RandomCrop padding_mode '\(printable(mode))' is not supported; NPUSim pads with Border.CONSTANT (fill_value)")
        }
        return .randomCrop(height: size[0], width: size.count == 2 ? size[1] : size[0], padding: padding, padIfNeeded: padIfNeeded, fill: fill)
    }

    func network(_ node: Node) throws(ScriptError) -> (layers: [Script.LayerSpec], graph: (inputs: [[String]], output: String)?) {
        let m = try mapping(node, "network", valid: ["layers", "nodes", "output"])
        if let n = m["nodes"] {
            guard m["layers"] == nil else { throw error(node, "network has both layers and nodes; give one") }
            return try nodes(n, output: m["output"], at: node)
        }
        if let o = m["output"] { throw error(o, "network.output goes with nodes:, not layers:") }
        guard let layers = m["layers"]?.sequence, !layers.isEmpty else { throw error(node, "network needs layers: a list of at least one layer") }
        var out: [Script.LayerSpec] = []
        for (i, item) in layers.enumerated() {
            let path = "network.layers[\(i)]"
            guard let entry = item.mapping, entry.count == 1, let (k, v) = entry.first, let type = k.string else {
                throw error(item, "\(path) must be one layer: {ClassName: {arguments}}")
            }
            guard let spec = LayerCatalog.layers[type] else {
                throw error(k, "unknown layer '\(type)' in \(path)\(suggestion(type, Array(LayerCatalog.layers.keys))); layers are \(LayerCatalog.layers.keys.sorted().joined(separator: ", "))")
            }
            var args = try arguments(v, path + "." + type, valid: spec + ["name"])
            var name = String(i)
            if let given = args["name"] {
                // The cell's attribute name: its parameters are named after it (fc1.weight).
                guard case .text(let n) = given, !n.isEmpty, n.unicodeScalars.allSatisfy({ !$0.properties.isWhitespace && $0.value >= 0x20 && $0.value != 0x7F }) else {
                    throw error(v, "\(path).\(type).name must be a word without spaces or control characters (a cell name like fc1), got \(given.shown)")
                }
                name = n
            }
            args["name"] = nil
            out.append(Script.LayerSpec(type: type, arguments: args, name: name, line: k.mark?.line, column: k.mark?.column))
        }
        return (out, nil)
    }

    /// `network.nodes`: `{name: n, Class: {arguments}, input: x}` or `inputs: [x, y]` for the
    /// ops that take two (`Add`, `Mul`); inputs name earlier nodes or `data`.
    func nodes(_ node: Node, output: Node?, at network: Node) throws(ScriptError) -> (layers: [Script.LayerSpec], graph: (inputs: [[String]], output: String)?) {
        guard let list = node.sequence, !list.isEmpty else { throw error(node, "network.nodes must be a list of at least one node") }
        let classes = Array(LayerCatalog.layers.keys) + Array(LayerCatalog.binary.keys)
        var layers: [Script.LayerSpec] = [], inputs: [[String]] = [], defined: Set<String> = ["data"]
        for (i, item) in list.enumerated() {
            let path = "network.nodes[\(i)]"
            guard let entry = item.mapping else { throw error(item, "\(path) must be a mapping: {name: n, Class: {arguments}, input: x}") }
            var name: String?, sources: [String]?, layer: (String, Node, Node)?
            for (k, v) in entry {
                guard let key = k.string else { throw error(k, "\(path) has a key that is not text") }
                switch key {
                case "name": name = try text(v, "\(path).name")
                case "input": sources = [try text(v, "\(path).input")]
                case "inputs":
                    guard let seq = v.sequence, !seq.isEmpty else { throw error(v, "\(path).inputs must be a list of node names") }
                    var names: [String] = []
                    for s in seq { names.append(try text(s, "\(path).inputs")) }
                    sources = names
                default:
                    guard classes.contains(key) else {
                        throw error(k, "unknown layer or key '\(key)' in \(path)\(suggestion(key, classes + ["name", "input", "inputs"])); a node has name, input or inputs, and one of \(classes.sorted().joined(separator: ", "))")
                    }
                    guard layer == nil else { throw error(k, "\(path) names two classes; a node is one layer or op") }
                    layer = (key, k, v)
                }
            }
            guard let name, let sources, let (type, k, v) = layer else { throw error(item, "\(path) needs name, one class and input (or inputs)") }
            guard !defined.contains(name) else { throw error(item, "\(path): the name '\(name)' is used already") }
            for s in sources where !defined.contains(s) {
                throw error(item, "\(path) reads '\(s)', which is not 'data' or an earlier node\(suggestion(s, Array(defined)))")
            }
            let arity = LayerCatalog.binary[type] != nil ? 2 : 1
            guard sources.count == arity else { throw error(item, "\(path): \(type) takes \(arity) input\(arity == 1 ? "" : "s"), got \(sources.count)") }
            let valid = LayerCatalog.layers[type] ?? LayerCatalog.binary[type]!
            let args = try arguments(v, "\(path).\(type)", valid: valid)
            layers.append(Script.LayerSpec(type: type, arguments: args, name: name, line: k.mark?.line, column: k.mark?.column))
            inputs.append(sources)
            defined.insert(name)
        }
        guard let output else { throw error(network, "network.nodes needs output: the name of the node whose value is the logits") }
        let out = try text(output, "network.output")
        guard defined.contains(out), out != "data" else { throw error(output, "network.output '\(out)' is not a node\(suggestion(out, Array(defined)))") }
        return (layers, (inputs, out))
    }

    func loss(_ node: Node) throws(ScriptError) -> Script.LossSpec {
        let (type, args) = try oneClass(node, "loss", LayerCatalog.losses)
        return Script.LossSpec(type: type, arguments: args)
    }

    func optimizer(_ node: Node) throws(ScriptError) -> Script.OptimizerSpec {
        let (type, args) = try oneClass(node, "optimizer", LayerCatalog.optimizers)
        return Script.OptimizerSpec(type: type, arguments: args)
    }

    func oneClass(_ node: Node, _ path: String, _ catalog: [String: [String]]) throws(ScriptError) -> (String, [String: Script.Argument]) {
        guard let entry = node.mapping, entry.count == 1, let (k, v) = entry.first, let type = k.string else {
            throw error(node, "\(path) must be one class: {ClassName: {arguments}}; classes are \(catalog.keys.sorted().joined(separator: ", "))")
        }
        guard let valid = catalog[type] else {
            throw error(k, "unknown \(path) '\(type)'\(suggestion(type, Array(catalog.keys))); valid are \(catalog.keys.sorted().joined(separator: ", "))")
        }
        return (type, try arguments(v, "\(path).\(type)", valid: valid))
    }

    func arguments(_ node: Node, _ path: String, valid: [String]) throws(ScriptError) -> [String: Script.Argument] {
        if node.scalar?.string == "" || node.null != nil { return [:] }
        let m = try mapping(node, path, valid: valid)
        var out: [String: Script.Argument] = [:]
        for (key, value) in m {
            if let seq = value.sequence {
                var list: [Double] = []
                for item in seq { list.append(try number(item, "\(path).\(key)")) }
                out[key] = .list(list)
            } else if let s = value.scalar?.string {
                if let b = Bool(s.lowercased()) { out[key] = .flag(b) } else if let d = Double(s.replacingOccurrences(of: "_", with: "")), d.isFinite {
                    out[key] = .number(d)
                } else { out[key] = .text(s) }
            } else {
                throw error(value, "\(path).\(key) must be a number, a word or a list, got \(describe(value))")
            }
        }
        return out
    }

    func train(_ node: Node) throws(ScriptError) -> Script.TrainSpec {
        let m = try mapping(node, "train", valid: ["epochs", "dataset_sink_mode", "sink_size", "callbacks"])
        var t = Script.TrainSpec()
        if let n = m["epochs"] { t.epochs = try integer(n, "train.epochs", 1...1e6) }
        if let n = m["dataset_sink_mode"] { t.sink = try flag(n, "train.dataset_sink_mode") }
        if let n = m["sink_size"] {
            t.sinkSize = try integer(n, "train.sink_size", -1...1e6)
            if t.sinkSize == 0 { throw error(n, "train.sink_size is 0; valid values are -1 (the whole epoch) or a positive number of steps") }
        }
        if let n = m["callbacks"] {
            guard let list = n.sequence else { throw error(n, "train.callbacks must be a list, e.g. [LossMonitor: {per_print_times: 1}]") }
            t.printEvery = nil
            t.callbackOrder = []
            for item in list {
                if let entry = item.mapping, entry.count == 1, entry.first?.key.string == "ModelCheckpoint" {
                    t.modelCheckpoint = try modelCheckpoint(entry.first!.value)
                    t.callbackOrder.append("ModelCheckpoint")
                    continue
                }
                let (type, args) = try oneClass(item, "train.callbacks", ["LossMonitor": ["per_print_times"], "TimeMonitor": ["data_size"],
                                                                           "CSVLogger": ["path"], "ModelCheckpoint": []])
                if type == "TimeMonitor" { t.timeMonitor = true }
                if type == "CSVLogger" {
                    guard case .text(let p)? = args["path"], !p.isEmpty else { throw error(item, "CSVLogger needs path: the CSV file to write") }
                    t.csvLog = p.hasPrefix("/") ? p : URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent(p).standardized.path
                }
                if t.callbackOrder.contains(type) { throw error(item, "train.callbacks lists \(type) twice; list each callback once") }
                t.callbackOrder.append(type)
                if type == "LossMonitor" {
                    t.printEvery = 1
                    if let k = args["per_print_times"] {
                        // MindSpore: `Validator.check_non_negative_int(per_print_times)`.
                        guard case .number(let v) = k, v >= 0, v <= 1e9, v == v.rounded() else {
                            throw error(item, "LossMonitor per_print_times must be a whole number from 0 (never print) to 1000000000, got \(k.shown)")
                        }
                        t.printEvery = Int(v)
                    }
                }
            }
        }
        return t
    }

    func modelCheckpoint(_ node: Node) throws(ScriptError) -> Script.ModelCheckpointSpec {
        var spec = Script.ModelCheckpointSpec()
        if node.scalar?.string == "" || node.null != nil { return spec }
        let path = "train.callbacks.ModelCheckpoint"
        let m = try mapping(node, path, valid: ["prefix", "directory", "config"])
        if let n = m["prefix"] {
            spec.prefix = try text(n, "\(path).prefix")
            guard !spec.prefix.contains("/") else { throw error(n, "\(path).prefix is '\(printable(spec.prefix))'; a prefix is a file name without '/'") }
        }
        if let n = m["directory"] {
            let d = try text(n, "\(path).directory")
            spec.directory = d.hasPrefix("/") ? d : URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent(d).standardized.path
        }
        if let n = m["config"], n.null == nil {
            let c = try mapping(n, "\(path).config", valid: ["save_checkpoint_steps", "keep_checkpoint_max", "format"])
            if let v = c["save_checkpoint_steps"] { spec.saveCheckpointSteps = try integer(v, "\(path).config.save_checkpoint_steps", 1...1e9) }
            if let v = c["keep_checkpoint_max"] { spec.keepCheckpointMax = try integer(v, "\(path).config.keep_checkpoint_max", 1...1e6) }
            if let v = c["format"] { spec.format = try choice(v, "\(path).config.format", ["ckpt", "safetensors"]) }
        }
        return spec
    }

    // MARK: scalars

    func text(_ node: Node, _ path: String) throws(ScriptError) -> String {
        guard let s = node.scalar?.string, !s.isEmpty else { throw error(node, "\(path) must be a non-empty word, got \(describe(node))") }
        return s
    }

    func choice(_ node: Node, _ path: String, _ valid: [String]) throws(ScriptError) -> String {
        let s = try text(node, path)
        guard valid.contains(s) else { throw error(node, "\(path) is '\(printable(s))'\(suggestion(s, valid)); valid values are \(valid.joined(separator: ", "))") }
        return s
    }

    func flag(_ node: Node, _ path: String) throws(ScriptError) -> Bool {
        guard let s = node.scalar?.string.lowercased(), let b = ["true": true, "false": false, "yes": true, "no": false, "on": true, "off": false][s] else {
            throw error(node, "\(path) must be true or false, got \(describe(node))")
        }
        return b
    }

    func number(_ node: Node, _ path: String) throws(ScriptError) -> Double {
        guard let s = node.scalar?.string, let v = Double(s.replacingOccurrences(of: "_", with: "")), v.isFinite else {
            throw error(node, "\(path) must be a number, got \(describe(node))")
        }
        return v
    }

    func integer(_ node: Node, _ path: String, _ range: ClosedRange<Double>) throws(ScriptError) -> Int {
        let v = try number(node, path)
        guard v == v.rounded(), range.contains(v) else {
            throw error(node, "\(path) is \(node.scalar?.string ?? "?"); valid values are whole numbers from \(Int(range.lowerBound)) to \(Int(range.upperBound))")
        }
        return Int(v)
    }

    func shape(_ node: Node, _ path: String) throws(ScriptError) -> [Int] {
        guard let seq = node.sequence, !seq.isEmpty, seq.count <= 8 else { throw error(node, "\(path) must be a list of 1 to 8 dimensions, e.g. [784]") }
        var dims: [Int] = []
        for d in seq { dims.append(try integer(d, path, 1...1e7)) }
        guard Shape(dims).checkedCount.map({ $0 <= 1 << 24 }) ?? false else { throw error(node, "\(path) \(dims) has more than 2^24 elements per sample") }
        return dims
    }

    /// A file path, relative to the script's folder.
    func path(_ node: Node, _ key: String) throws(ScriptError) -> String {
        let p = try text(node, key)
        if p.hasPrefix("/") { return p }
        return URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent(p).standardized.path
    }

    func describe(_ node: Node) -> String {
        if let s = node.scalar?.string { return "'\(printable(String(s.prefix(40))))'" }
        if node.mapping != nil { return "a mapping" }
        if node.sequence != nil { return "a list" }
        return "nothing"
    }
}

/// " (did you mean 'x'?)" for the valid word nearest to `word` when it is close.
func suggestion(_ word: String, _ valid: [String]) -> String {
    func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.lowercased()), b = Array(b.lowercased())
        if a.isEmpty || b.isEmpty { return max(a.count, b.count) }
        var row = Array(0...b.count)
        for i in 1...a.count {
            var previous = row[0]
            row[0] = i
            for j in 1...b.count {
                let current = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
                previous = current
            }
        }
        return row[b.count]
    }
    guard word.count <= 64, let best = valid.sorted().min(by: { distance(word, $0) < distance(word, $1) }),
          distance(word, best) <= max(2, best.count / 3), distance(word, best) < word.count else { return "" }
    return " (did you mean '\(best)'?)"
}
