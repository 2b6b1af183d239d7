/// A tensor's element type and shape, what shape inference works on.
public struct TensorType: Hashable, Sendable, CustomStringConvertible {
    public var dtype: DType
    public var shape: Shape

    public init(_ dtype: DType, _ shape: Shape) {
        self.dtype = dtype
        self.shape = shape
    }

    public var description: String { "\(dtype)\(shape)" }
}

extension Tensor {
    /// This tensor's type.
    public var type: TensorType { TensorType(dtype, shape) }
}
