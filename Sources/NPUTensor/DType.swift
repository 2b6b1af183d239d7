/// Element types of tensors. float16 is a storage format: arithmetic on it runs in float32.
public enum DType: String, CaseIterable, Hashable, Sendable, CustomStringConvertible {
    case float32
    case float16
    case int32
    case int64
    case bool

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .float32, .int32: 4
        case .float16: 2
        case .int64: 8
        case .bool: 1
        }
    }

    /// True for float32 and float16.
    public var isFloatingPoint: Bool { self == .float32 || self == .float16 }

    public var description: String { rawValue }
}

/// Swift types that can be a tensor's elements.
public protocol TensorScalar: Sendable {
    static var dtype: DType { get }
}

extension Float: TensorScalar {
    public static var dtype: DType { .float32 }
}

extension Float16: TensorScalar {
    public static var dtype: DType { .float16 }
}

extension Int32: TensorScalar {
    public static var dtype: DType { .int32 }
}

extension Int64: TensorScalar {
    public static var dtype: DType { .int64 }
}

extension Bool: TensorScalar {
    public static var dtype: DType { .bool }
}
