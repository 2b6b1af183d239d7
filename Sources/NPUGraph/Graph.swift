import NPUDevice
import NPUOps
import NPUTensor

/// One value in a graph: output `index` of node `node`.
public struct GraphValue: Hashable, Sendable, CustomStringConvertible {
    public let node: Int
    public let index: Int
    public init(node: Int, index: Int) { (self.node, self.index) = (node, index) }
    public var description: String { "%\(node):\(index)" }
}

/// What a node is.
public enum NodeKind: @unchecked Sendable {
    /// Fed each step (a batch of data, labels).
    case input(String)
    /// A trainable or state tensor read from the parameter store each step.
    case parameter(String)
    /// A fixed tensor.
    case constant(Tensor)
    /// A catalogue op applied to other values.
    case op(any OpDef)
    /// Writes its input into the parameter store after the step (optimizer updates, BatchNorm's
    /// moving statistics); no outputs.
    case assign(String)
}

/// A node: its kind, inputs, output types and a name for messages (`fc1/MatMul`).
public struct Node: @unchecked Sendable {
    public var kind: NodeKind
    public var inputs: [GraphValue]
    public var outputTypes: [TensorType]
    public var name: String
    /// MindSpore's full scope name, for the profiler (`Default/network-WithLossCell/_backbone-
    /// SequentialCell/fc1-Dense/MatMul-op0`; gradients under `Gradients/…/gradMatMul/`).
    public var fullName: String = ""
}

/// A graph error: shapes or dtypes that do not fit, named by node.
public struct GraphError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A dataflow graph of catalogue ops, built in program order (each node's inputs come before it).
/// `Graph` is a `GradBuilder`, so backward rules and layers build into it exactly as they run in
/// PyNative mode. Shape and dtype errors are reported when a node is added, with its name.
public struct Graph: GradBuilder {
    public private(set) var nodes: [Node] = []
    /// Names nodes: ops within their layer's scope (`fc1/MatMul`), as PyNative names its launches.
    public private(set) var namer = OpNamer()
    /// Each parameter's type by name (the first node reading it), so `assign` checks in O(1).
    private var parameterTypes: [String: TensorType] = [:]
    /// The cells entered for full names (`network-WithLossCell`), outermost first.
    private var cells: [String] = []
    /// Each op's full scope (without the op) and type by its name, for its gradients' full names.
    private var scopes: [String: (scope: String, type: String)] = [:]
    /// Ops named so far: MindSpore numbers a graph's ops `-op0`, `-op1`, ….
    private var opCount = 0
    /// The gradients `gradients(of:wrt:)` returned: float32 master values under mixed precision
    /// (the kernel planner keeps them, and what is computed from them alone, in float32).
    public internal(set) var gradientValues: [GraphValue] = []

    public init() {}

    func nodeName(_ base: String) -> String {
        (namer.scope + [base]).joined(separator: "/")
    }

    public mutating func pushScope(_ name: String) { namer.push(name) }
    public mutating func popScope() { namer.pop() }
    public mutating func pushCell(_ attribute: String, _ cell: String) { cells.append(attribute + "-" + cell) }
    public mutating func popCell() { cells.removeLast() }

    /// The full name of an op of `type` added now: under `Default/` and the cells entered, or for
    /// an op of a gradient (scope `Gradients/<op>`) under `Gradients/`, that op's scope and
    /// `grad<Type>`, as MindSpore's graphs name them.
    private mutating func fullName(_ type: String, named name: String) -> String {
        defer { opCount += 1 }
        let scope: String
        if let outer = namer.scope.first, outer.hasPrefix("Gradients/"), let forward = scopes[String(outer.dropFirst("Gradients/".count))] {
            scope = "Gradients/" + forward.scope + "/grad" + forward.type
        } else {
            scope = (["Default"] + cells).joined(separator: "/")
            scopes[name] = (scope, type)
        }
        return scope + "/" + type + "-op\(opCount)"
    }

    mutating func add(_ kind: NodeKind, _ inputs: [GraphValue], _ types: [TensorType], base: String) -> [GraphValue] {
        // Parameters and inputs have global names; ops are named within their layer's scope.
        let name: String
        switch kind {
        case .parameter, .input: name = namer.name(base, scoped: false)
        default: name = namer.name(base)
        }
        if case .parameter(let p) = kind, parameterTypes[p] == nil { parameterTypes[p] = types[0] }
        var node = Node(kind: kind, inputs: inputs, outputTypes: types, name: name)
        if case .op(let op) = kind { node.fullName = fullName(op.type, named: name) }
        nodes.append(node)
        return types.indices.map { GraphValue(node: nodes.count - 1, index: $0) }
    }

    /// A value fed every step.
    public mutating func input(_ name: String, _ type: TensorType) -> GraphValue {
        add(.input(name), [], [type], base: name)[0]
    }

    /// A tensor read from the parameter store every step.
    public mutating func parameter(_ name: String, _ type: TensorType) -> GraphValue {
        add(.parameter(name), [], [type], base: name)[0]
    }

    public mutating func constant(_ tensor: Tensor) -> GraphValue {
        add(.constant(tensor), [], [tensor.type], base: "Const")[0]
    }

    /// Stores `value` into parameter `name` at the end of the step; with `when`, a bool scalar,
    /// only if it is true (a loss-scaled step drops its update on an overflow).
    /// - Throws: `GraphError` if there is no parameter of that name and type, or `when` is not a
    ///   bool scalar.
    public mutating func assign(_ name: String, _ value: GraphValue, when condition: GraphValue? = nil) throws(GraphError) {
        guard parameterTypes[name] == type(of: value) else {
            throw GraphError("assign to '\(name)': no parameter of type \(type(of: value)) with that name")
        }
        if let condition, type(of: condition) != TensorType(.bool, []) {
            throw GraphError("assign to '\(name)': the condition must be a bool scalar, got \(type(of: condition))")
        }
        _ = add(.assign(name), [value] + (condition.map { [$0] } ?? []), [], base: "Assign")
    }

    public func type(of value: GraphValue) -> TensorType { nodes[value.node].outputTypes[value.index] }

    /// Adds `op` applied to `inputs`, inferring its output types now.
    /// - Throws: `OpError` whose op field names the node (`fc1/MatMul`) and the shapes involved.
    public mutating func apply(_ op: any OpDef, _ inputs: [GraphValue]) throws(OpError) -> [GraphValue] {
        let types: [TensorType]
        do {
            types = try op.infer(inputs.map { type(of: $0) })
        } catch {
            throw OpError(nodeName(op.type), "\(error.message) (inputs \(inputs.map { "\(nodes[$0.node].name) \(type(of: $0))" }.joined(separator: ", ")))")
        }
        return add(.op(op), inputs, types, base: op.type)
    }
}

extension GraphError: CategorizedError {
    public var category: ErrorCategory { .badInput }
}
