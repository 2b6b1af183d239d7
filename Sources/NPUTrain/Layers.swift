import NPUOps
import NPURandom
import NPUTensor

/// `nn.Dense(in, out, has_bias=True)`: y = x·Wᵀ + b, weight [out, in] HeUniform(√5), bias
/// Uniform(1/√in) (MindSpore's defaults), created weight first.
public final class Dense: Layer {
    public var cellClass: String? { "Dense" }
    public var namesItself: Bool { true }
    public let name: String
    public let weight: Parameter
    public let bias: Parameter?

    public init(_ inChannels: Int, _ outChannels: Int, hasBias: Bool = true, name: String, _ ctx: LayerContext) throws {
        self.name = name
        let defaults = Initializer.denseDefaults(inChannels: inChannels)
        weight = try ctx.parameter("\(name).weight", [outChannels, inChannels], defaults.weight)
        bias = hasBias ? try ctx.parameter("\(name).bias", [outChannels], defaults.bias) : nil
    }

    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    /// x [..., in] → [..., out]; inputs of more than two axes are matrices of rows, as
    /// MindSpore's Dense takes them.
    public func callAsFunction<B: ModelBuilder>(_ b: inout B, _ x: B.Value) throws -> B.Value {
        let shape = b.type(of: x).shape
        return try b.scoped(name, cell: "Dense") { b in
            let rows = shape.rank > 2 ? try b.apply(Reshape(shape: [-1, shape.dims.last!]), [x])[0] : x
            let y = try b.product(MatMul(transposeB: true, precision: b.cubePrecision), [rows, b.read(weight)], bias: bias.map { try b.read($0) })
            return shape.rank > 2 ? try b.apply(Reshape(shape: shape.dims.dropLast() + [weight.type.shape[0]]), [y])[0] : y
        }
    }
}

/// `nn.Conv2d(in, out, kernel, stride, pad_mode, has_bias=False)`: weight [out, in, k, k]
/// HeUniform(√5); bias Uniform(1/√fan_in) when present.
public final class Conv2d: Layer {
    public var cellClass: String? { "Conv2d" }
    public var namesItself: Bool { true }
    public let name: String
    public let weight: Parameter
    public let bias: Parameter?
    public let op: Conv2D

    public init(_ inChannels: Int, _ outChannels: Int, kernel: Int, stride: Int = 1, padMode: PadMode = .same, hasBias: Bool = false,
                name: String, _ ctx: LayerContext) throws {
        self.name = name
        let shape: Shape = [outChannels, inChannels, kernel, kernel]
        let defaults = try Initializer.conv2dDefaults(weightShape: shape)
        weight = try ctx.parameter("\(name).weight", shape, defaults.weight)
        bias = hasBias ? try ctx.parameter("\(name).bias", [outChannels], defaults.bias) : nil
        op = Conv2D(stride: (stride, stride), padMode: padMode)
    }

    public var parameters: [Parameter] { [weight] + (bias.map { [$0] } ?? []) }

    public func callAsFunction<B: ModelBuilder>(_ b: inout B, _ x: B.Value) throws -> B.Value {
        try b.scoped(name, cell: "Conv2d") { b in
            let conv = Conv2D(stride: op.stride, padMode: op.padMode, dilation: op.dilation, precision: b.cubePrecision)
            return try b.product(conv, [x, b.read(weight)], bias: bias.map { try b.read($0) })
        }
    }
}

/// A parameterless layer applying one op (`nn.ReLU`, `nn.Sigmoid`, `nn.Tanh`, `nn.GELU`,
/// `nn.Softmax`, `nn.MaxPool2d`, `nn.AvgPool2d`).
public final class OpLayer: Layer {
    public let op: any OpDef
    public let cellClass: String?
    /// `cell`: MindSpore's class of the cell (nil: the op is not a cell, as `ops.Slice`).
    public init(_ op: any OpDef, cell: String?) {
        self.op = op
        cellClass = cell
    }
    public convenience init(_ op: any OpDef) {
        let cells = ["ReLU": "ReLU", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "GeLU": "GELU", "Softmax": "Softmax", "MaxPool2D": "MaxPool2d", "AvgPool2D": "AvgPool2d"]
        self.init(op, cell: cells[op.type])
    }
    public var parameters: [Parameter] { [] }
    public func callAsFunction<B: ModelBuilder>(_ b: inout B, _ x: B.Value) throws -> B.Value {
        // O1's white list holds ReLU (and PReLU) among the non-products.
        try b.computing(half: b.halfPrecision || (b.ampLevel == .O1 && op is ReLU)) { b in try b.apply(op, [x])[0] }
    }

    public static func relu() -> OpLayer { OpLayer(ReLU()) }
    public static func sigmoid() -> OpLayer { OpLayer(Sigmoid()) }
    public static func tanh() -> OpLayer { OpLayer(Tanh()) }
    public static func gelu() -> OpLayer { OpLayer(GeLU()) }
    public static func softmax(axis: Int = -1) -> OpLayer { OpLayer(Softmax(axis: axis)) }
    public static func maxPool2d(kernel: Int, stride: Int, padMode: PadMode = .valid) -> OpLayer {
        OpLayer(MaxPool2D(kernel: (kernel, kernel), stride: (stride, stride), padMode: padMode))
    }
    public static func avgPool2d(kernel: Int, stride: Int, padMode: PadMode = .valid) -> OpLayer {
        OpLayer(AvgPool2D(kernel: (kernel, kernel), stride: (stride, stride), padMode: padMode))
    }
}

/// `nn.Flatten`: [N, ...] → [N, rest].
public final class Flatten: Layer {
    public init() {}
    public var parameters: [Parameter] { [] }
    public var cellClass: String? { "Flatten" }
    public func callAsFunction<B: ModelBuilder>(_ b: inout B, _ x: B.Value) throws -> B.Value {
        let shape = b.type(of: x).shape
        return try b.apply(Reshape(shape: [shape[0], -1]), [x])[0]
    }
}

/// `nn.SequentialCell`: children applied in order.
public final class SequentialCell: Layer {
    public let layers: [any Layer]
    public init(_ layers: [any Layer]) { self.layers = layers }
    public var parameters: [Parameter] { layers.flatMap(\.parameters) }
    public var cellClass: String? { "SequentialCell" }
    public func callAsFunction<B: ModelBuilder>(_ b: inout B, _ x: B.Value) throws -> B.Value {
        var y = x
        for (k, layer) in layers.enumerated() { y = try layer.called(as: String(k), &b, y) }
        return y
    }
}
