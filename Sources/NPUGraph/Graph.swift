import NPUDevice
import NPUOps
import NPUTensor

/// One value in a graph: output `index` of node `node`.
public struct GraphValue: Hashable, Sendable, CustomStringConvertible {
    public let node: Int
    public let index: Int
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

    public init() {}

    func nodeName(_ base: String) -> String {
        (namer.scope + [base]).joined(separator: "/")
    }

    public mutating func pushScope(_ name: String) { namer.push(name) }
    public mutating func popScope() { namer.pop() }

    mutating func add(_ kind: NodeKind, _ inputs: [GraphValue], _ types: [TensorType], base: String) -> [GraphValue] {
        // Parameters and inputs have global names; ops are named within their layer's scope.
        let name: String
        switch kind {
        case .parameter, .input: name = namer.name(base, scoped: false)
        default: name = namer.name(base)
        }
        if case .parameter(let p) = kind, parameterTypes[p] == nil { parameterTypes[p] = types[0] }
        nodes.append(Node(kind: kind, inputs: inputs, outputTypes: types, name: name))
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

    /// Stores `value` into parameter `name` at the end of the step.
    /// - Throws: `GraphError` if there is no parameter of that name and type.
    public mutating func assign(_ name: String, _ value: GraphValue) throws(GraphError) {
        guard parameterTypes[name] == type(of: value) else {
            throw GraphError("assign to '\(name)': no parameter of type \(type(of: value)) with that name")
        }
        _ = add(.assign(name), [value], [], base: "Assign")
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
