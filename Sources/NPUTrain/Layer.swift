import NPUDevice
import NPUGraph
import NPUOps
import NPURandom
import NPUTensor

/// A named tensor of a network: its value lives in a `ParameterStore`.
public struct Parameter: Hashable, Sendable {
    /// MindSpore's name (`fc1.weight`).
    public let name: String
    public let type: TensorType
    /// False for state that is not trained (BatchNorm's moving statistics).
    public let requiresGrad: Bool

    /// A parameter whose value `store[name]` holds (make it with `LayerContext.parameter`, which
    /// also creates the value).
    public init(name: String, type: TensorType, requiresGrad: Bool = true) {
        self.name = name
        self.type = type
        self.requiresGrad = requiresGrad
    }
}

/// MindSpore's automatic mixed precision levels.
public enum AmpLevel: String, Sendable, CaseIterable {
    /// Everything in float32.
    case O0
    /// The white list in float16 — products (Dense, Conv2d, MatMul, BatchMatMul) and ReLU, each
    /// rounding its inputs and its result — everything else in float32; no loss scale
    /// (`mindspore.amp.get_white_list`, `_config_level["O1"]`).
    case O1
    /// The network in float16 (products accumulate in float32), BatchNorm and LayerNorm in
    /// float32, the loss and the master weights in float32; MindSpore's dynamic loss scale.
    case O2
    /// The network in float16, BatchNorm and LayerNorm too; the loss and the master weights in
    /// float32; no loss scale (`amp.py`, `_config_level["O3"]`).
    case O3

    /// Whether the network computes in float16 (O2 and O3).
    public var float16Network: Bool { self == .O2 || self == .O3 }
}

/// Where a network runs: a graph being built, or PyNative on a tape. Layers are written once
/// against this protocol.
public protocol ModelBuilder: GradBuilder {
    /// The mixed-precision level layers compute at.
    var ampLevel: AmpLevel { get }
    /// The value of a parameter for this step.
    /// - Throws: `TrainError` when the parameter store does not hold it (PyNative reads it now;
    ///   graph mode checks when compiling).
    mutating func read(_ p: Parameter) throws -> Value
    /// True while training (Dropout drops, BatchNorm uses batch statistics).
    var isTraining: Bool { get }
    /// Gives a parameter a new value at the end of the step.
    mutating func write(_ p: Parameter, _ value: Value) throws
    /// Ops compute in float16 (a cell `to_float(float16)` under MindSpore's O2): every float32
    /// value an op takes or gives is rounded to float16, and so, in the backward, is every
    /// gradient flowing back through those roundings.
    var halfPrecision: Bool { get set }
    /// `v` rounded to float16 (a float32 value; others as they are), once however often asked.
    /// `launches`: the card runs the cast (a value that reaches float16 code from outside: the
    /// input, a parameter, a float32 cell's output); false for an op's own result, which the
    /// card writes in float16 already.
    mutating func halfRounded(_ v: Value, launches: Bool) throws(OpError) -> Value
}

/// A layer (MindSpore's Cell): parameters created at construction, in order, and a forward
/// written with catalogue ops.
public protocol Layer: AnyObject {
    /// Every parameter of the layer and its children, in construction order.
    var parameters: [Parameter] { get }
    /// The forward computation.
    func callAsFunction<B: ModelBuilder>(_ b: inout B, _ x: B.Value) throws -> B.Value
    /// MindSpore's class of this cell (`Dense`, `ReLU`), for the profiler's full op names; nil
    /// for an op that is not a cell (`ops.Slice`).
    var cellClass: String? { get }
    /// Whether the layer enters its own cell scope (it has a name); a container enters one for
    /// a layer that does not, named by its index or node.
    var namesItself: Bool { get }
}

extension Layer {
    public var cellClass: String? { "Cell" }
    public var namesItself: Bool { false }

    /// Calls the layer inside the cell `name` when it does not enter its own.
    public func called<B: ModelBuilder>(as name: String, _ b: inout B, _ x: B.Value) throws -> B.Value {
        guard !namesItself, let cell = cellClass else { return try self(&b, x) }
        return try b.inCell(name, cell) { b in try self(&b, x) }
    }
}

/// What layers need while being constructed: the store for initial values, MindSpore's seed
/// state for initializers and Dropout, and the name prefix.
public struct LayerContext {
    public let store: ParameterStore
    public let seeds: SeedState

    public init(store: ParameterStore, seeds: SeedState) {
        self.store = store
        self.seeds = seeds
    }

    /// Creates parameter `name` with `initializer` (drawing its numpy seed now, in construction order).
    /// - Throws: `TrainError` if the store holds that name already; the initializer's error for a
    ///   shape it cannot fill.
    /// In a shape-only store the parameter is declared by its type and no value is made.
    public func parameter(_ name: String, _ shape: Shape, _ initializer: Initializer, requiresGrad: Bool = true) throws -> Parameter {
        guard store.type(of: name) == nil else { throw TrainError("parameter '\(name)' exists already; give the layer another name") }
        if store.shapeOnly {
            guard shape.checkedCount != nil else { throw TrainError("parameter '\(name)' has shape \(shape), too many elements") }
            store.declare(name, TensorType(.float32, shape))
        } else {
            store[name] = try initializer.make(shape, state: seeds)
        }
        return Parameter(name: name, type: TensorType(.float32, shape), requiresGrad: requiresGrad)
    }
}

/// A training-side error (names, shapes, configuration).
public struct TrainError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

// MARK: The two builders

/// Graph mode: layers add nodes; parameters are parameter nodes; writes become assignments.
public struct GraphModel: ModelBuilder {
    public var graph = Graph()
    public var isTraining: Bool
    public var ampLevel: AmpLevel
    private var reads: [String: GraphValue] = [:]

    public init(isTraining: Bool, ampLevel: AmpLevel = .O0) {
        self.isTraining = isTraining
        self.ampLevel = ampLevel
    }

    public var halfPrecision = false
    /// Values already rounded to float16 (a value is rounded once, however many ops read it).
    private var halves: Set<GraphValue> = []

    public mutating func apply(_ op: any OpDef, _ inputs: [GraphValue]) throws(OpError) -> [GraphValue] {
        guard halfPrecision, !(op is Cast) else { return try graph.apply(op, inputs) }
        var rounded: [GraphValue] = []
        for v in inputs { rounded.append(try halfRounded(v, launches: true)) }
        var outs: [GraphValue] = []
        for v in try graph.apply(op, rounded) { outs.append(try halfRounded(v, launches: false)) }
        return outs
    }

    /// Through a float16 value, as the card stores it.
    public mutating func halfRounded(_ v: GraphValue, launches: Bool) throws(OpError) -> GraphValue {
        guard graph.type(of: v).dtype == .float32, !halves.contains(v) else { return v }
        let r = try graph.apply(Cast(to: .float32, cubeOperand: true), [try graph.apply(Cast(to: .float16, cubeOperand: !launches), [v])[0]])[0]
        halves.insert(r)
        return r
    }
    public func type(of value: GraphValue) -> TensorType { graph.type(of: value) }
    public mutating func constant(_ tensor: Tensor) -> GraphValue { graph.constant(tensor) }

    public mutating func read(_ p: Parameter) -> GraphValue {
        if let v = reads[p.name] { return v }
        let v = graph.parameter(p.name, p.type)
        reads[p.name] = v
        return v
    }

    /// While set, writes happen only when this bool scalar is true (a loss-scaled step's
    /// optimizer, whose update an overflow drops).
    public var updateCondition: GraphValue?

    public mutating func write(_ p: Parameter, _ value: GraphValue) throws {
        _ = read(p)
        try graph.assign(p.name, value, when: updateCondition)
    }

    public mutating func pushScope(_ name: String) { graph.pushScope(name) }
    public mutating func popScope() { graph.popScope() }
    public mutating func pushCell(_ attribute: String, _ cell: String) { graph.pushCell(attribute, cell) }
    public mutating func popCell() { graph.popCell() }
}

/// PyNative mode: ops run at once on a tape; writes are applied to the store after the step.
public struct TapeModel: ModelBuilder {
    public let tape: Tape
    public let store: ParameterStore
    public var isTraining: Bool
    public var ampLevel: AmpLevel
    private(set) var reads: [String: TapeValue] = [:]
    public private(set) var writes: [(String, Tensor)] = []

    public init(tape: Tape, store: ParameterStore, isTraining: Bool, ampLevel: AmpLevel = .O0) {
        self.tape = tape
        self.store = store
        self.isTraining = isTraining
        self.ampLevel = ampLevel
    }

    public var halfPrecision = false
    /// Ids of values already rounded to float16.
    private var halves: Set<Int> = []

    public mutating func apply(_ op: any OpDef, _ inputs: [TapeValue]) throws(OpError) -> [TapeValue] {
        guard halfPrecision, !(op is Cast) else { return try tape.run(op, inputs) }
        var rounded: [TapeValue] = []
        for v in inputs { rounded.append(try halfRounded(v, launches: true)) }
        var outs: [TapeValue] = []
        for v in try tape.run(op, rounded) { outs.append(try halfRounded(v, launches: false)) }
        return outs
    }

    public mutating func halfRounded(_ v: TapeValue, launches: Bool) throws(OpError) -> TapeValue {
        guard v.tensor.dtype == .float32, !halves.contains(v.id) else { return v }
        let r = try tape.run(Cast(to: .float32, cubeOperand: true), [try tape.run(Cast(to: .float16, cubeOperand: !launches), [v])[0]])[0]
        halves.insert(r.id)
        return r
    }
    public func type(of value: TapeValue) -> TensorType { value.tensor.type }
    public mutating func constant(_ tensor: Tensor) -> TapeValue { tape.watch(tensor) }

    public mutating func read(_ p: Parameter) throws -> TapeValue {
        if let v = reads[p.name] { return v }
        guard let value = store[p.name] else {
            throw TrainError("parameter '\(p.name)' is not in the parameter store (was the layer built with another store?)")
        }
        guard value.type == p.type else {
            throw TrainError("parameter '\(p.name)' is \(value.type) in the store, the layer expects \(p.type)")
        }
        let v = tape.watch(value)
        reads[p.name] = v
        return v
    }

    public mutating func write(_ p: Parameter, _ value: TapeValue) throws { writes.append((p.name, value.tensor)) }

    public mutating func pushScope(_ name: String) { tape.context.namer.push(name) }
    public mutating func popScope() { tape.context.namer.pop() }
}

extension ModelBuilder {
    /// A cube-op input at the current precision: under O2 rounded to float16 (the cube reads
    /// float16 and accumulates in float32); under O0, or where every input is rounded already
    /// (`halfPrecision`), unchanged.
    public mutating func cubeInput(_ v: Value) throws -> Value {
        guard ampLevel.float16Network, !halfPrecision else { return v }
        return try apply(Cast(to: .float32, cubeOperand: true), [try apply(Cast(to: .float16), [v])[0]])[0]
    }

    /// The precision cube ops compute in at the current level: float16 under O2.
    public var cubePrecision: Precision { ampLevel == .O0 ? .float32 : .float16 }

    /// A cube product (`op` on `inputs`) and its bias. Under float16 compute the bias is added to
    /// the float32 accumulator and the sum rounded once, as the card writes a product's float16
    /// result (MindSpore fuses MatMul and BiasAdd: `ir_fusion/matmul_biasadd_fusion.cc`; MindSpore
    /// 2.10's O2 on CPU gives the same bits); otherwise the inputs are cube inputs (`cubeInput`).
    public mutating func product(_ op: any OpDef, _ inputs: [Value], bias: Value?) throws -> Value {
        // O1's white list: a product computes in float16 wherever it is.
        guard halfPrecision || ampLevel == .O1 else {
            var y = try apply(op, try inputs.map { try cubeInput($0) })[0]
            if let bias { y = try apply(BiasAdd(), [y, bias])[0] }
            return y
        }
        var rounded: [Value] = []
        for v in inputs { rounded.append(try halfRounded(v, launches: true)) }
        let b16 = try bias.map { v throws(OpError) in try halfRounded(v, launches: true) }
        let y = try computing(half: false) { b in
            let p = try b.apply(op, rounded)[0]
            return try b16.map { try b.apply(BiasAdd(), [p, $0])[0] } ?? p
        }
        return try halfRounded(y, launches: false)
    }

    /// The network's forward at the amp level's precision: under O2 and O3 the backbone computes
    /// in float16 (`amp.py`, `_auto_mixed_precision_process`: the backbone `to_float(float16)`),
    /// its output a float32 tensor of float16 values, as training and evaluation both see it.
    public mutating func backbone(_ network: any Layer, _ x: Value) throws -> Value {
        try computing(half: ampLevel.float16Network) { b in try network(&b, x) }
    }

    /// Runs `body` with ops in float16 (`on`) or float32, as MindSpore's `to_float` sets a cell.
    public mutating func computing<R>(half on: Bool, _ body: (inout Self) throws -> R) rethrows -> R {
        let saved = halfPrecision
        halfPrecision = on
        defer { halfPrecision = saved }
        return try body(&self)
    }
}

extension TrainError: CategorizedError {
    public var category: ErrorCategory { .badInput }
}
