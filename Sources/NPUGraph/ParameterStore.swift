import NPUTensor
import NPUOps

/// Named tensors that outlive steps: parameters, optimizer state, moving statistics. A
/// shape-only store (timing-only simulation) holds their types and no values.
public final class ParameterStore {
    public private(set) var values: [String: Tensor] = [:]
    /// Names in creation order (MindSpore's parameter order).
    public private(set) var names: [String] = []
    /// True when parameters are declared by type only (no values are made or kept).
    public let shapeOnly: Bool
    private var declared: [String: TensorType] = [:]

    public init(shapeOnly: Bool = false) { self.shapeOnly = shapeOnly }

    /// Declares parameter `name` of `type` without a value (a shape-only store).
    public func declare(_ name: String, _ type: TensorType) {
        if declared[name] == nil && values[name] == nil { names.append(name) }
        declared[name] = type
    }

    /// The type of parameter `name`, whether it holds a value or was declared.
    public func type(of name: String) -> TensorType? { values[name]?.type ?? declared[name] }

    public subscript(name: String) -> Tensor? {
        get { values[name] }
        set {
            if values[name] == nil, newValue != nil { names.append(name) }
            values[name] = newValue
        }
    }
}
