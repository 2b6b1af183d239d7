import NPUDevice
/// Caller errors on tensors. Messages name the operation, the values and what is valid.
public enum TensorError: Error, Equatable, CustomStringConvertible {
    case countMismatch(shape: Shape, expected: Int, got: Int)
    case invalidReshape(from: Shape, to: Shape)
    case invalidPermutation(rank: Int, permutation: [Int])
    case dtypeMismatch(op: String, expected: DType, got: DType)

    public var description: String {
        switch self {
        case let .countMismatch(shape, expected, got):
            "[Tensor] shape \(shape) holds \(expected) elements, got \(got) values"
        case let .invalidReshape(from, to):
            "[Reshape] cannot reshape \(from) (\(from.count) elements) to \(to) (\(to.count) elements)"
        case let .invalidPermutation(rank, permutation):
            "[Transpose] \(permutation) is not a permutation of 0..<\(rank)"
        case let .dtypeMismatch(op, expected, got):
            "[\(op)] expected a \(expected) tensor, got \(got)"
        }
    }
}

extension TensorError: CategorizedError {
    public var category: ErrorCategory { .badInput }
}
