import NPUDevice
import NPUTensor

/// A caller error in an op: wrong shapes, dtypes or attributes. The message names the op, what
/// was wrong, the actual values and what is valid (`[Conv2D] input has 3 channels, weight expects 1`).
public struct OpError: Error, Equatable, CustomStringConvertible {
    public var op: String
    public var message: String

    public init(_ op: String, _ message: String) {
        self.op = op
        self.message = message
    }

    public var description: String { "[\(op)] \(message)" }
}

/// Builds gradient computations from catalogue ops. PyNative evaluates each call at once; graph
/// mode adds nodes. Backward rules are written once, against this protocol.
public protocol GradBuilder {
    associatedtype Value
    /// Applies `op` to `inputs`, returning its outputs.
    mutating func apply(_ op: any OpDef, _ inputs: [Value]) throws(OpError) -> [Value]
    /// The type of a value.
    func type(of value: Value) -> TensorType
    /// A constant.
    mutating func constant(_ tensor: Tensor) -> Value
    /// Appends `name` to the scope that names the ops applied from now on (`fc1` → `fc1/MatMul`).
    mutating func pushScope(_ name: String)
    /// Removes the innermost scope.
    mutating func popScope()
    /// Enters a cell for the profiler's full names only (`network-WithLossCell`): `attribute` is
    /// the cell's attribute name in its parent, `cell` its class. Op names (identities) do not
    /// change. Builders that keep no full names ignore it.
    mutating func pushCell(_ attribute: String, _ cell: String)
    /// Leaves the innermost cell entered with `pushCell`.
    mutating func popCell()
}

extension GradBuilder {
    public mutating func pushCell(_ attribute: String, _ cell: String) {}
    public mutating func popCell() {}

    /// Runs `body` with `name` appended to the names of the ops it applies.
    public mutating func scoped<R>(_ name: String, _ body: (inout Self) throws -> R) rethrows -> R {
        pushScope(name)
        defer { popScope() }
        return try body(&self)
    }

    /// Runs `body` inside cell `name` of class `cell`: its ops are named `name/Type` and their
    /// full names run through `name-cell` (MindSpore's scope, `fc1-Dense`).
    public mutating func scoped<R>(_ name: String, cell: String, _ body: (inout Self) throws -> R) rethrows -> R {
        pushScope(name)
        pushCell(name, cell)
        defer {
            popCell()
            popScope()
        }
        return try body(&self)
    }

    /// Runs `body` inside a cell that adds to the full names only (a wrapper such as
    /// `network-WithLossCell` whose ops keep their names).
    public mutating func inCell<R>(_ attribute: String, _ cell: String, _ body: (inout Self) throws -> R) rethrows -> R {
        pushCell(attribute, cell)
        defer { popCell() }
        return try body(&self)
    }
}

/// Names op instances the same way in every execution mode: `scope/Type`, and `scope/Type-N` for
/// the N-th repeat of a name. The name is an op's stable identity in the program: graph nodes and
/// PyNative launches of the same op get the same name, and it keys the op's reduction orders.
public struct OpNamer: Sendable, Equatable {
    /// The scopes ops are named in now, outermost first.
    public private(set) var scope: [String] = []
    private var counters: [String: Int] = [:]

    public init() {}

    public mutating func push(_ name: String) { scope.append(name) }
    public mutating func pop() { scope.removeLast() }

    /// A fresh name for `base` (scoped: prefixed with the current scope).
    public mutating func name(_ base: String, scoped: Bool = true) -> String {
        var name = scoped && !scope.isEmpty ? scope.joined(separator: "/") + "/" + base : base
        if let n = counters[name] {
            counters[name] = n + 1
            name += "-\(n + 1)"
        } else {
            counters[name] = 0
        }
        return name
    }

    /// Forgets the names given (a new step of a program run op by op).
    public mutating func reset() {
        scope.removeAll(keepingCapacity: true)
        counters.removeAll(keepingCapacity: true)
    }
}

/// One op of the catalogue: its name, shape/dtype inference, forward kernel, backward written
/// with other ops, and the work it declares for the cost model.
public protocol OpDef: Sendable, CustomStringConvertible {
    /// MindSpore's op type name (`MatMul`, `ReduceSum`).
    var type: String { get }
    /// Checks the inputs and returns the output types.
    func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType]
    /// Computes the outputs for inputs that `infer` accepted.
    func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor]
    /// The planned reductions one launch makes, by shape (what a fixed or exact order costs on the
    /// card; `ReductionPlanner.charged`). The default: a cube product that splits its depth.
    func reductionSites(_ inputs: [TensorType], _ outputs: [TensorType]) -> [ReductionSite]
    /// Gradients with respect to each input (nil: none), from the gradients of the outputs.
    func backward<B: GradBuilder>(_ b: inout B, _ inputs: [B.Value], _ outputs: [B.Value], _ grads: [B.Value]) throws(OpError) -> [B.Value?]
    /// The work one launch does (flops, HBM bytes, unit).
    func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work
    /// False for ops the card runs no kernel for: shape-only ops (Reshape, a view in MindSpore's
    /// graph) and the float16 → float32 widening of a cube operand, which exists only in the
    /// simulation (the cube reads float16 itself). Executors launch no task for them.
    var launchesKernel: Bool { get }
    /// Whether `other` is the same op: of this type and equal (the same parameters, so the same
    /// outputs, gradient rule and work for the same inputs). Every op type is `Equatable`, which
    /// gives it this. (A requirement last in the list rather than `Equatable` as a base protocol:
    /// the witness tables of code built before it keep their layout.)
    func isSame(as other: any OpDef) -> Bool
}

extension OpDef where Self: Equatable {
    public func isSame(as other: any OpDef) -> Bool { (other as? Self).map { $0 == self } ?? false }
}

extension OpDef {
    public var description: String { type }
    public var launchesKernel: Bool { true }

    public func backward<B: GradBuilder>(_ b: inout B, _ inputs: [B.Value], _ outputs: [B.Value], _ grads: [B.Value]) throws(OpError) -> [B.Value?] {
        throw OpError(type, "has no backward")
    }

    /// Elementwise work: `flopsPerElement` per output element, every input and output read or
    /// written once.
    public func elementwiseWork(_ inputs: [TensorType], _ outputs: [TensorType], flopsPerElement: Double = 1) -> Work {
        let bytes = (inputs + outputs).reduce(0) { $0 + Double($1.shape.count * $1.dtype.size) }
        let n = outputs.first?.shape.count ?? 0
        return Work(flops: Double(n) * flopsPerElement, bytes: bytes, unit: .vector, tiling: .elements(n))
    }

    /// Bytes per element of an operand in `precision`.
    func operandSize(_ precision: Precision) -> Double { precision == .float32 ? 4 : precision == .int8 ? 1 : 2 }

    /// The work of a cube product: `batch` products of [m × k]·[k × n], operands read at
    /// `precision` (2 bytes in float16), the float32 result written; `splitK` as the op may split.
    func cubeWork(batch: Int, m: Int, k: Int, n: Int, precision: Precision, splitK: Int) -> Work {
        let c = Double(batch), operand = operandSize(precision)
        return Work(flops: 2 * c * Double(m) * Double(k) * Double(n), bytes: c * (operand * Double(m * k + k * n) + 4 * Double(m * n)),
                    unit: .cube, precision: precision, tiling: .matrix(batch: batch, rows: m, columns: n, splitK: splitK, depth: k))
    }

    /// Checks the input count.
    public func expectInputs(_ inputs: [TensorType], _ count: Int) throws(OpError) {
        guard inputs.count == count else { throw OpError(type, "takes \(count) input\(count == 1 ? "" : "s"), got \(inputs.count)") }
    }

    /// Checks that input `index` is float32.
    public func expectFloat(_ inputs: [TensorType], _ index: Int, _ name: String) throws(OpError) {
        guard inputs[index].dtype == .float32 else {
            throw OpError(type, "\(name) must be float32, got \(inputs[index].dtype) (cast it first)")
        }
    }
}

/// One planned reduction of a launch: `extent` terms added into each of `outputs` outputs.
public struct ReductionSite: Hashable, Sendable {
    public var extent: Int
    public var outputs: Int
    /// A product that splits its depth only when its [rows × columns] output has fewer cube tiles
    /// than the card has cores (`SplitK.auto`); nil: the reduction always splits.
    public var autoOutput: [Int]?
    public init(extent: Int, outputs: Int, autoOutput: [Int]? = nil) {
        self.extent = extent
        self.outputs = outputs
        self.autoOutput = autoOutput
    }
}

/// The reduction site of a product [m×k]·[k×n] (`batch` of them) that splits K as `split` says.
func productSites(batch: Int, m: Int, k: Int, n: Int, split: SplitK) -> [ReductionSite] {
    guard split != .never, k > 1, m > 0, n > 0 else { return [] }
    return [ReductionSite(extent: k, outputs: batch * m * n, autoOutput: split == .auto ? [m, n] : nil)]
}

extension OpDef {
    public func reductionSites(_ inputs: [TensorType], _ outputs: [TensorType]) -> [ReductionSite] {
        guard case .matrix(let batch, let rows, let columns, let splitK, _)? = work(inputs, outputs).tiling, splitK > 1 else { return [] }
        return [ReductionSite(extent: splitK, outputs: batch * rows * columns)]
    }
}

/// What a kernel sees besides its inputs: the reduction planner (with the policy for this op) and
/// scratch memory that outlives the launch.
public struct KernelContext {
    public let planner: ReductionPlanner
    public let workspace: Workspace

    public init(planner: ReductionPlanner, workspace: Workspace = Workspace()) {
        self.planner = planner
        self.workspace = workspace
    }
}

/// Scratch float buffers reused from launch to launch (im2col columns, GEMM products): a kernel
/// asks for a size and gets memory that is already mapped, so steady-state launches neither
/// allocate nor page-fault. One executor uses it at a time.
public final class Workspace: @unchecked Sendable {
    private var buffers: [TensorStorage] = []

    public init() {}

    /// Buffer `slot` with room for at least `count` floats (contents undefined). Large buffers are
    /// mapped with huge pages (see `TensorStorage`).
    public func floats(_ count: Int, slot: Int = 0) -> UnsafeMutablePointer<Float> {
        while buffers.count <= slot { buffers.append(TensorStorage(byteCount: 4)) }
        if buffers[slot].byteCount < count * 4 { buffers[slot] = TensorStorage(byteCount: count * 4) }
        return buffers[slot].pointer.assumingMemoryBound(to: Float.self)
    }
}

/// A test sample of an op: inputs, a naive double-precision reference of the forward, and the
/// inputs to check by finite differences.
public struct OpSample: @unchecked Sendable {
    public var op: any OpDef
    public var inputs: [Tensor]
    /// Forward in double from the inputs' values (row-major), one array per output.
    public var reference: ([[Double]]) -> [[Double]]
    /// Inputs whose gradients are checked against central differences of `reference`.
    public var gradientInputs: [Int]
    /// Outputs that take part in the gradient check (others are statistics for the backward).
    public var gradientOutputs: [Int]
    /// Relative tolerance of the forward comparison.
    public var tolerance: Double

    public init(_ op: any OpDef, _ inputs: [Tensor], gradientInputs: [Int]? = nil, gradientOutputs: [Int] = [0],
                tolerance: Double = 1e-5, reference: @escaping ([[Double]]) -> [[Double]]) {
        self.op = op
        self.inputs = inputs
        self.reference = reference
        self.gradientInputs = gradientInputs ?? inputs.indices.filter { inputs[$0].dtype == .float32 }
        self.gradientOutputs = gradientOutputs
        self.tolerance = tolerance
    }
}

/// A catalogue entry: what `npusim ops` lists and what the catalogue tests run.
public struct OpInfo: Sendable {
    /// MindSpore's op type name.
    public var type: String
    /// One line.
    public var summary: String
    /// True if the op has a backward rule (gradient ops themselves have none).
    public var hasBackward: Bool
    /// The reductions of this op that go through the reduction planner (`sum`, `dgamma`, ...).
    public var plannedReductions: [String]
    /// Planned reductions its backward runs through other ops (`ReduceSum/sum`, ...).
    public var backwardReductions: [String]
    /// A sample for the tests.
    public var sample: @Sendable () -> OpSample

    public init(type: String, summary: String, hasBackward: Bool, plannedReductions: [String], backwardReductions: [String] = [],
                sample: @escaping @Sendable () -> OpSample) {
        self.type = type
        self.summary = summary
        self.hasBackward = hasBackward
        self.plannedReductions = plannedReductions
        self.backwardReductions = backwardReductions
        self.sample = sample
    }

    /// Nondeterministic under `off`: a planned reduction in its forward (given enough elements to
    /// split across cores).
    public var nondeterministicUnderOff: Bool { !plannedReductions.isEmpty }
}

/// Deterministic sample data: values in [-1, 1) from a fixed linear congruential sequence.
public func sampleTensor(_ shape: Shape, seed: UInt64 = 1, scale: Float = 1, offset: Float = 0) -> Tensor {
    var state = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    let values = (0..<shape.count).map { _ -> Float in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return (Float(state >> 40) / Float(1 << 24) * 2 - 1) * scale + offset
    }
    return try! Tensor(shape: shape, values: values)
}

extension OpError: CategorizedError {
    public var category: ErrorCategory { .badInput }
}
