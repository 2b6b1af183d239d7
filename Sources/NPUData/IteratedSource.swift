import NPUTensor

/// Samples from an iterator, read in order (MindSpore's `GeneratorDataset` over an iterable
/// without `__getitem__`): each epoch starts a new iterator and reads it from its first sample,
/// so nothing but the sample being read is held. Without random access it cannot be shuffled or
/// sharded (Dataset refuses both, as MindSpore needs `__getitem__` for them). Samples are float32
/// data of `shape` and an int32 label; `count` is the samples per epoch (MindSpore's dataset size).
///
/// Reading is sequential: a sample before the one read last starts the iterator again. One
/// reader at a time (a training run's prefetch thread).
public final class IteratedSource: DataSource, @unchecked Sendable {
    public let count: Int
    public let dataType: TensorType
    public var labelType: TensorType { TensorType(.int32, []) }
    public let origin: String
    public var isRandomAccess: Bool { false }
    private let makeIterator: () -> AnyIterator<(data: [Float], label: Int32)>
    private var iterator: AnyIterator<(data: [Float], label: Int32)>?
    /// The index of the sample the iterator gives next.
    private var position = 0

    /// - Parameters:
    ///   - makeIterator: a new iterator over one epoch's samples, from the first.
    /// - Throws: `DataError` for a count below 1 or a shape without values.
    public init(count: Int, shape: Shape, origin: String = "a generator",
                makeIterator: @escaping () -> AnyIterator<(data: [Float], label: Int32)>) throws {
        guard count >= 1, shape.dims.allSatisfy({ $0 > 0 }) else {
            throw DataError("\(origin): a generator source needs at least 1 sample (got \(count)) of a shape with values (got \(shape))")
        }
        (self.count, self.dataType, self.origin, self.makeIterator) = (count, TensorType(.float32, shape), origin, makeIterator)
    }

    /// Every label: one pass over a new iterator.
    public var classLabels: [Int32] {
        let it = makeIterator()
        return (0..<count).compactMap { _ in it.next()?.label }
    }

    /// Labels are checked by the loss when their batch runs (finding one here would read an
    /// epoch).
    public func firstLabel(outside classes: Int) -> (index: Int, label: Int32)? { nil }

    public func copySample(_ index: Int, data: UnsafeMutableRawPointer, label: UnsafeMutableRawPointer) throws {
        if iterator == nil || index < position {
            iterator = makeIterator()
            position = 0
        }
        while position <= index {
            guard let sample = iterator!.next() else {
                iterator = nil
                throw DataError("\(origin) ended after \(position) samples; it was said to give \(count) per epoch")
            }
            position += 1
            guard position > index else { continue }
            let n = dataType.shape.count
            guard sample.data.count == n else {
                throw DataError("\(origin): sample \(index) has \(sample.data.count) values; samples of \(dataType.shape) have \(n)")
            }
            sample.data.withUnsafeBytes { data.copyMemory(from: $0.baseAddress!, byteCount: n * 4) }
            label.storeBytes(of: sample.label, as: Int32.self)
        }
    }
}
