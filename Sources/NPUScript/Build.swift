import Foundation
import NPUData
import NPUDevice
import NPUOps
import NPURandom
import NPUTensor
import NPUTrain

/// The classes a script may name, with their arguments (MindSpore's names).
public enum LayerCatalog {
    public static let layers: [String: [String]] = [
        "Dense": ["in_channels", "out_channels", "has_bias"],
        "Conv2d": ["in_channels", "out_channels", "kernel_size", "stride", "pad_mode", "has_bias"],
        "ReLU": [], "Sigmoid": [], "Tanh": [], "GELU": [], "Flatten": [], "Softmax": ["axis"],
        "MaxPool2d": ["kernel_size", "stride", "pad_mode"], "AvgPool2d": ["kernel_size", "stride", "pad_mode"],
        "BatchNorm2d": ["num_features", "eps", "momentum"],
        "Dropout": ["p", "keep_prob", "seed0", "seed1"],
        "LayerNorm": ["normalized_shape", "epsilon"],
        "MultiheadAttention": ["embed_dim", "num_heads", "has_bias", "batch_first"],
        "Embedding": ["vocab_size", "embedding_size"],
        "Slice": ["begin", "size"],
    ]
    /// Ops of two inputs that `network.nodes` may use (a residual add, a gate).
    public static let binary: [String: [String]] = ["Add": [], "Mul": []]
    public static let losses: [String: [String]] = ["SoftmaxCrossEntropyWithLogits": ["sparse", "reduction"], "MSELoss": []]
    /// MindSpore's loss-scale managers and their arguments.
    public static let lossScaleManagers: [String: [String]] = [
        "FixedLossScaleManager": ["loss_scale", "drop_overflow_update"],
        "DynamicLossScaleManager": ["init_loss_scale", "scale_factor", "scale_window"],
    ]

    public static let optimizers: [String: [String]] = [
        "Momentum": ["learning_rate", "momentum"], "SGD": ["learning_rate"],
        "Adam": ["learning_rate", "beta1", "beta2", "eps"], "AdamWeightDecay": ["learning_rate", "beta1", "beta2", "eps", "weight_decay"],
    ]
}

/// Builds a script's pieces from its specs, with MindSpore's defaults; errors point at the layer.
struct Builder {
    let script: Script

    func fail(_ layer: Script.LayerSpec?, _ message: String) -> ScriptError {
        ScriptError(file: script.file, line: layer?.line, column: layer?.column, message: message)
    }

    func number(_ args: [String: Script.Argument], _ key: String, _ what: String, default value: Double?, _ layer: Script.LayerSpec? = nil) throws -> Double {
        switch args[key] {
        case .number(let v)?: return v
        case nil:
            guard let value else { throw fail(layer, "\(what) needs \(key)") }
            return value
        default: throw fail(layer, "\(what).\(key) must be a number")
        }
    }

    /// A number that must satisfy `valid` (MindSpore's validator for the argument), else an error
    /// naming the field, the value and `rule`. NaN never passes.
    func checked(_ args: [String: Script.Argument], _ key: String, _ what: String, default value: Double?, _ layer: Script.LayerSpec? = nil,
                 _ rule: String, _ valid: (Double) -> Bool) throws -> Double {
        let v = try number(args, key, what, default: value, layer)
        guard !v.isNaN, valid(v) else { throw fail(layer, "\(what).\(key) must be \(rule), got \(v)") }
        return v
    }

    /// A whole number in `range` (an axis, an index): never a Double cast that could trap.
    func integer(_ args: [String: Script.Argument], _ key: String, _ what: String, default value: Int, _ range: ClosedRange<Int>, _ layer: Script.LayerSpec) throws -> Int {
        let v = try checked(args, key, what, default: Double(value), layer, "a whole number from \(range.lowerBound) to \(range.upperBound)") {
            $0 == $0.rounded() && $0 >= Double(range.lowerBound) && $0 <= Double(range.upperBound)
        }
        return Int(v)
    }

    func whole(_ args: [String: Script.Argument], _ key: String, _ what: String, default value: Int?, _ layer: Script.LayerSpec? = nil) throws -> Int {
        let v = try number(args, key, what, default: value.map(Double.init), layer)
        guard v == v.rounded(), v >= 1, v <= 1e7 else { throw fail(layer, "\(what).\(key) must be a whole number from 1 to 10000000, got \(v)") }
        return Int(v)
    }

    func flag(_ args: [String: Script.Argument], _ key: String, _ what: String, default value: Bool, _ layer: Script.LayerSpec? = nil) throws -> Bool {
        switch args[key] {
        case .flag(let b)?: return b
        case nil: return value
        default: throw fail(layer, "\(what).\(key) must be true or false")
        }
    }

    func word(_ args: [String: Script.Argument], _ key: String, _ what: String, default value: String, valid: [String], _ layer: Script.LayerSpec? = nil) throws -> String {
        switch args[key] {
        case .text(let s)?:
            guard valid.contains(s) else { throw fail(layer, "\(what).\(key) is '\(printable(s))'; valid values are \(valid.joined(separator: ", "))") }
            return s
        case nil: return value
        default: throw fail(layer, "\(what).\(key) must be one of \(valid.joined(separator: ", "))")
        }
    }

    func padMode(_ args: [String: Script.Argument], _ what: String, default value: String, _ layer: Script.LayerSpec) throws -> PadMode {
        try word(args, "pad_mode", what, default: value, valid: ["same", "valid"], layer) == "same" ? .same : .valid
    }

    /// The network: a SequentialCell of `layers`, or the graph of `nodes`; unnamed layers are
    /// named by their index.
    func network(_ ctx: LayerContext) throws -> any Layer {
        let layers = try script.network.map { l -> (any Layer)? in
            if LayerCatalog.binary[l.type] != nil { return nil }
            return try layer(l, ctx)
        }
        guard let graph = script.graph else { return SequentialCell(layers.map { $0! }) }
        return NodeNetwork(layers: layers, binary: script.network.map(\.type), inputs: graph.inputs,
                           names: script.network.map(\.name), output: graph.output)
    }

    func layer(_ l: Script.LayerSpec, _ ctx: LayerContext) throws -> any Layer {
        try { () throws -> any Layer in
            let a = l.arguments, what = "\(l.type) '\(l.name)'"
            switch l.type {
            case "Dense":
                return try Dense(whole(a, "in_channels", what, default: nil, l), whole(a, "out_channels", what, default: nil, l),
                                 hasBias: flag(a, "has_bias", what, default: true, l), name: l.name, ctx)
            case "Conv2d":
                return try Conv2d(whole(a, "in_channels", what, default: nil, l), whole(a, "out_channels", what, default: nil, l),
                                  kernel: whole(a, "kernel_size", what, default: nil, l), stride: whole(a, "stride", what, default: 1, l),
                                  padMode: padMode(a, what, default: "same", l), hasBias: flag(a, "has_bias", what, default: false, l), name: l.name, ctx)
            case "ReLU": return OpLayer.relu()
            case "Sigmoid": return OpLayer.sigmoid()
            case "Tanh": return OpLayer.tanh()
            case "GELU": return OpLayer.gelu()
            case "Softmax": return OpLayer.softmax(axis: try integer(a, "axis", what, default: -1, -8...7, l))
            case "Flatten": return Flatten()
            case "MaxPool2d", "AvgPool2d":
                let k = try whole(a, "kernel_size", what, default: 1, l), s = try whole(a, "stride", what, default: 1, l)
                let p = try padMode(a, what, default: "valid", l)
                return l.type == "MaxPool2d" ? OpLayer.maxPool2d(kernel: k, stride: s, padMode: p) : OpLayer.avgPool2d(kernel: k, stride: s, padMode: p)
            case "BatchNorm2d":
                // MindSpore's _BatchNorm: momentum in [0, 1]; ops.BatchNorm: epsilon in (0, 1].
                return try BatchNorm2d(whole(a, "num_features", what, default: nil, l),
                                       epsilon: Float(checked(a, "eps", what, default: 1e-5, l, "in (0, 1]") { $0 > 0 && $0 <= 1 }),
                                       momentum: checked(a, "momentum", what, default: 0.9, l, "in [0, 1]") { $0 >= 0 && $0 <= 1 }, name: l.name, ctx)
            case "Dropout":
                let p = try a["keep_prob"] != nil ? 1 - number(a, "keep_prob", what, default: nil, l) : number(a, "p", what, default: 0.5, l)
                guard p >= 0, p < 1 else { throw fail(l, "\(what): p must be in [0, 1), got \(p)") }
                var seeds: SeedPair?
                if a["seed0"] != nil || a["seed1"] != nil {
                    // The seeds MindSpore's nn.Dropout drew at construction (the Python front end's).
                    let s0 = try number(a, "seed0", what, default: nil, l), s1 = try number(a, "seed1", what, default: nil, l)
                    guard [s0, s1].allSatisfy({ $0 >= 0 && $0 <= Double(Int32.max) && $0 == $0.rounded() }) else {
                        throw fail(l, "\(what): seed0 and seed1 must be whole numbers from 0 to 2147483647, got \(s0) and \(s1)")
                    }
                    seeds = SeedPair(seed: Int64(s0), seed2: Int64(s1), rule: s0 == 0 && s1 == 0 ? .entropy : .bothSeeds(call: 1))
                }
                return try DropoutLayer(p: p, seeds: seeds, ctx)
            case "LayerNorm":
                guard case .list(let dims)? = a["normalized_shape"], !dims.isEmpty, dims.count <= 8,
                      dims.allSatisfy({ $0 >= 1 && $0 <= 1e7 && $0 == $0.rounded() }) else {
                    throw fail(l, "\(what) needs normalized_shape, a list of 1 to 8 whole numbers from 1 to 10000000")
                }
                guard let count = Shape(dims.map { Int($0) }).checkedCount, count <= 1 << 28 else {
                    throw fail(l, "\(what): normalized_shape \(dims.map { Int($0) }) has more than 268435456 elements (gamma and beta would need \(String(format: "%.3g", dims.reduce(8, *))) bytes)")
                }
                // A non-positive epsilon divides by zero where a feature is constant (NaN losses).
                let epsilon = try checked(a, "epsilon", what, default: 1e-7, l, "above 0") { $0 > 0 }
                return try LayerNormLayer(dims.map { Int($0) }, epsilon: Float(epsilon), name: l.name, ctx)
            case "MultiheadAttention":
                guard try flag(a, "batch_first", what, default: false, l) else {
                    throw fail(l, "\(what): batches are [batch, sequence, embed_dim] here; set batch_first: true (MindSpore's default false means [sequence, batch, embed_dim])")
                }
                return try MultiheadAttentionLayer(embedDim: whole(a, "embed_dim", what, default: nil, l), numHeads: whole(a, "num_heads", what, default: nil, l),
                                                   hasBias: flag(a, "has_bias", what, default: true, l), name: l.name, ctx)
            case "Embedding":
                return try Embedding(whole(a, "vocab_size", what, default: nil, l), whole(a, "embedding_size", what, default: nil, l), name: l.name, ctx)
            case "Slice":
                // ops.Slice(x, begin, size) with constant begin and size; size −1 runs to the end.
                guard case .list(let begin)? = a["begin"], case .list(let size)? = a["size"], begin.count == size.count, !begin.isEmpty,
                      begin.allSatisfy({ $0 >= 0 && $0 <= 1e9 && $0 == $0.rounded() }), size.allSatisfy({ $0 >= -1 && $0 <= 1e9 && $0 == $0.rounded() }) else {
                    throw fail(l, "\(what) needs begin (whole numbers ≥ 0) and size (whole numbers, −1 for \"to the end\"), lists of one entry per axis")
                }
                return OpLayer(Slice(begin: begin.map { Int($0) }, size: size.map { Int($0) }), cell: nil)
            default: throw fail(l, "unknown layer '\(l.type)'")
            }
        }()
    }

    func loss() throws -> any Loss {
        let a = script.loss.arguments
        switch script.loss.type {
        case "MSELoss": return MSELoss()
        default:
            let reduction = try word(a, "reduction", "loss.SoftmaxCrossEntropyWithLogits", default: "none", valid: ["mean", "sum", "none"])
            guard reduction != "none" else {
                throw fail(nil, "loss.SoftmaxCrossEntropyWithLogits: reduction 'none' (MindSpore's default) gives one loss per sample; training needs reduction: mean or sum")
            }
            return SoftmaxCrossEntropyLoss(sparse: try flag(a, "sparse", "loss.SoftmaxCrossEntropyWithLogits", default: false),
                                           reduction: reduction == "mean" ? .mean : .sum)
        }
    }

    func optimizer(_ parameters: [Parameter], _ ctx: LayerContext) throws -> any Optimizer {
        let a = script.optimizer.arguments, what = "optimizer.\(script.optimizer.type)"
        guard !parameters.filter(\.requiresGrad).isEmpty else {
            throw fail(nil, "\(what): the network has no trainable parameters (MindSpore's optimizers refuse an empty parameter list)")
        }
        // MindSpore 2.10's validators: Optimizer._preprocess_single_lr, check_non_negative_float(learning_rate);
        // Momentum, momentum ≥ 0.0; adam._check_param_value, beta1 and beta2 in (0, 1) and eps > 0;
        // AdamWeightDecay, weight_decay ≥ 0 (nn/optim/optimizer.py, momentum.py, adam.py).
        func lr(_ fallback: Double?) throws -> Float { Float(try checked(a, "learning_rate", what, default: fallback, nil, "at least 0") { $0 >= 0 && $0.isFinite }) }
        func beta(_ key: String, _ fallback: Double) throws -> Float { Float(try checked(a, key, what, default: fallback, nil, "in (0, 1)") { $0 > 0 && $0 < 1 }) }
        func eps(_ fallback: Double) throws -> Float { Float(try checked(a, "eps", what, default: fallback, nil, "above 0") { $0 > 0 && $0.isFinite }) }
        switch script.optimizer.type {
        case "Momentum":
            return try Momentum(parameters, learningRate: lr(nil),
                                momentum: Float(checked(a, "momentum", what, default: nil, nil, "at least 0.0") { $0 >= 0 && $0.isFinite }), ctx)
        case "SGD": return SGD(parameters, learningRate: try lr(0.1))
        case "Adam":
            return try Adam(parameters, learningRate: lr(1e-3), beta1: beta("beta1", 0.9), beta2: beta("beta2", 0.999), epsilon: eps(1e-8), ctx)
        default:
            return try AdamWeightDecay(parameters, learningRate: lr(1e-3), beta1: beta("beta1", 0.9), beta2: beta("beta2", 0.999), epsilon: eps(1e-6),
                                       weightDecay: Float(checked(a, "weight_decay", what, default: 0, nil, "at least 0") { $0 >= 0 && $0.isFinite }), ctx)
        }
    }

    /// The script's loss-scale manager, checked as MindSpore 2.10 checks it
    /// (`mindspore/train/loss_scale_manager.py`: loss_scale ≥ 1, init_loss_scale ≥ 1,
    /// scale_factor > 0, scale_window a positive integer); nil when the script gives none.
    func lossScaleManager() throws -> (any LossScaleManager)? {
        guard let spec = script.lossScaleManager else { return nil }
        let a = spec.arguments, what = "loss_scale_manager.\(spec.type)"
        if spec.type == "FixedLossScaleManager" {
            let scale = try checked(a, "loss_scale", what, default: 128, nil, "at least 1 (and a float32)") { $0 >= 1 && $0 <= Double(Float.greatestFiniteMagnitude) }
            return FixedLossScaleManager(lossScale: Float(scale), dropOverflowUpdate: try flag(a, "drop_overflow_update", what, default: true))
        }
        let start = try checked(a, "init_loss_scale", what, default: 16_777_216, nil, "at least 1 (and a float32)") { $0 >= 1 && $0 <= Double(Float.greatestFiniteMagnitude) }
        let factor = try checked(a, "scale_factor", what, default: 2, nil, "a whole number above 0") { $0 > 0 && $0 == $0.rounded() && $0 <= 1e7 }
        let window = try checked(a, "scale_window", what, default: 2000, nil, "a whole number from 1 to 2147483647") { $0 >= 1 && $0 == $0.rounded() && $0 <= 2_147_483_647 }
        return DynamicLossScaleManager(initLossScale: Float(start), scaleFactor: Int(factor), scaleWindow: Int(window))
    }

    func dataset(_ spec: Script.DatasetSpec? = nil) throws -> Dataset { try (spec ?? script.dataset).make() }
}

extension Script.DatasetSpec {
    /// The dataset this section describes: its source opened, its batching and transforms set.
    /// - Throws: `DataError` (or the source's error) for a file that cannot be read or a
    ///   transform that cannot take the samples.
    public func make() throws -> Dataset {
        let d = self
        let source: any DataSource
        switch d.source {
        case .npy(let data, let label): source = try NpySource(data: data, label: label)
        case .idx(let data, let label): source = try IDXSource(data: data, label: label)
        case .csv(let file, let label, let header): source = try CSVSource(path: file, labelColumn: label, header: header)
        case .cifar10(let files): source = try CIFAR10Source(files: files)
        case .synthetic(let count, let shape, let classes, let seed, let ids): source = try SyntheticSource(count: count, shape: Shape(shape), classes: classes, seed: seed, ids: ids)
        }
        var dataset = try Dataset(source: source, shuffle: d.shuffle, batchSize: d.batchSize, dropRemainder: d.dropRemainder, skip: d.skip)
        dataset.transforms = d.transforms
        dataset.shuffleBuffer = d.shuffleBuffer
        dataset.numParallelWorkers = d.workers
        _ = try dataset.sampleType()
        return dataset
    }
}

/// A network written as `nodes:`: each node a layer or a two-input op applied to named earlier
/// values (`data` is the batch), the output node's value being the logits.
final class NodeNetwork: Layer {
    /// A network of nodes has no MindSpore class; its cell is named as a user's `Net` would be.
    var cellClass: String? { "Net" }
    let layers: [(any Layer)?]
    let types: [String]
    let inputs: [[String]]
    let names: [String]
    let output: String

    init(layers: [(any Layer)?], binary types: [String], inputs: [[String]], names: [String], output: String) {
        (self.layers, self.types, self.inputs, self.names, self.output) = (layers, types, inputs, names, output)
    }

    var parameters: [Parameter] { layers.flatMap { $0?.parameters ?? [] } }

    func callAsFunction<B: ModelBuilder>(_ b: inout B, _ x: B.Value) throws -> B.Value {
        var values: [String: B.Value] = ["data": x]
        for (k, layer) in layers.enumerated() {
            let args = inputs[k].map { values[$0]! }
            if let layer {
                values[names[k]] = try layer.called(as: names[k], &b, args[0])
            } else {
                let op: any OpDef = types[k] == "Add" ? Add() : Mul()
                values[names[k]] = try b.scoped(names[k]) { b in try b.op(op, args) }
            }
        }
        return values[output]!
    }
}
