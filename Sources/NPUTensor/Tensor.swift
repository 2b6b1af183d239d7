import Foundation
import NPUKernels
import Synchronization

/// Bytes behind one or more tensors (views share it). 64-byte aligned, zero-filled.
///
/// Storage of 1 MiB or more is mapped directly from the OS, 2 MiB-aligned and marked for
/// transparent huge pages: it arrives zeroed (no fill pass) and faults in 2 MiB at a time instead
/// of 4 KiB, which halves the cost of producing a large fresh tensor.
public final class TensorStorage: @unchecked Sendable {
    /// Start of the bytes.
    public let pointer: UnsafeMutableRawPointer
    /// Size in bytes.
    public let byteCount: Int
    /// The mapping to return to the OS, for mapped storage.
    let mapping: (start: UnsafeMutableRawPointer, length: Int)?
    /// What this storage holds on a simulated card (a PyNative output's HBM reservation), released
    /// with the storage: device memory lives exactly as long as the tensor that needs it.
    package var deviceLease: AnyObject?

    static let mapThreshold = 1 << 20
    static let hugePage = 2 << 20

    /// Zero-filled storage of `byteCount` bytes.
    public convenience init(byteCount: Int) { self.init(byteCount: byteCount, zeroed: true) }

    /// Storage of `byteCount` bytes; with `zeroed: false` small storage is left unfilled (for
    /// kernels that write every byte). While a `StoragePool` is active on this thread, storage of
    /// a size the pool holds is reused instead of allocated.
    public init(byteCount: Int, zeroed: Bool) {
        precondition(byteCount >= 0)
        self.byteCount = byteCount
        if let pool = StoragePool.current, let reused = pool.take(byteCount) {
            pointer = reused.pointer
            mapping = reused.mapping
            if zeroed { pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1)) }
            return
        }
        if byteCount >= Self.mapThreshold, let mapped = Self.mapZeroed(byteCount) {
            pointer = mapped.aligned
            mapping = (mapped.start, mapped.length)
        } else {
            pointer = UnsafeMutableRawPointer.allocate(byteCount: max(byteCount, 1), alignment: 64)
            if zeroed { pointer.initializeMemory(as: UInt8.self, repeating: 0, count: max(byteCount, 1)) }
            mapping = nil
        }
    }

    /// Anonymous zeroed memory, the usable part 2 MiB-aligned and advised for huge pages.
    private static func mapZeroed(_ bytes: Int) -> (start: UnsafeMutableRawPointer, length: Int, aligned: UnsafeMutableRawPointer)? {
        let length = bytes + hugePage
        guard let start = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              start != MAP_FAILED else { return nil }
        let address = Int(bitPattern: start)
        let aligned = UnsafeMutableRawPointer(bitPattern: (address + hugePage - 1) & ~(hugePage - 1))!
        #if os(Linux)
        _ = madvise(aligned, bytes, MADV_HUGEPAGE)
        #endif
        return (start, length, aligned)
    }

    deinit {
        if let pool = StoragePool.current {
            pool.put(byteCount, pointer: pointer, mapping: mapping)
        } else {
            Self.release(pointer, mapping)
        }
    }

    static func release(_ pointer: UnsafeMutableRawPointer, _ mapping: (start: UnsafeMutableRawPointer, length: Int)?) {
        if let mapping {
            munmap(mapping.start, mapping.length)
        } else {
            pointer.deallocate()
        }
    }
}

/// Recycles tensor storage by size: while active on a thread (`run`, `active`), storage that dies
/// there is kept here, and new storage of a size it holds reuses it. A compiled training step runs
/// inside one, so from the second step on its tensors allocate no memory. After each run the pool
/// keeps, per size, at most as many buffers as that run asked for: what the next step reuses.
///
/// A pool may be active on several threads at once (the C ABI's tensors die on whichever thread
/// the caller frees them): its lists are behind a lock.
public final class StoragePool: Sendable {
    typealias Buffer = (pointer: UnsafeMutableRawPointer, mapping: (start: UnsafeMutableRawPointer, length: Int)?)
    private struct Lists: @unchecked Sendable {  // raw pointers to storage nobody else holds
        var free: [Int: [Buffer]] = [:]
        /// Buffers of each size asked for during the current run.
        var demand: [Int: Int] = [:]
        var fresh = 0
        /// Bytes in `free`.
        var retained = 0
    }
    private let lists = Mutex(Lists())
    /// At most this many bytes are kept for reuse; storage that would exceed it is released.
    public let retainLimit: Int

    /// Storage created fresh (not reused) while this pool was active.
    public var freshAllocations: Int { lists.withLock { $0.fresh } }

    /// Bytes held for reuse now.
    public var retainedBytes: Int { lists.withLock { $0.retained } }

    /// A pool that keeps at most `retainLimit` bytes between uses (unlimited by default: a
    /// compiled step's pool is trimmed to its step's demand after every step anyway).
    public init(retainLimit: Int = .max) { self.retainLimit = retainLimit }

    private static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()

    /// The pool active on this thread, if any.
    static var current: StoragePool? {
        guard let raw = pthread_getspecific(key) else { return nil }
        return Unmanaged<StoragePool>.fromOpaque(raw).takeUnretainedValue()
    }

    /// Runs `body` with this pool active on the current thread, then trims what it keeps to
    /// what `body` asked for.
    public func run<R>(_ body: () throws -> R) rethrows -> R {
        beginRun()
        defer { endRun() }
        return try active(body)
    }

    /// Starts a run that is executed in pieces (`active`), ended by `endRun()`: a step resumed
    /// node by node, interleaved with other cards' steps on the same thread.
    public func beginRun() { lists.withLock { $0.demand.removeAll(keepingCapacity: true) } }

    /// Runs `body` with this pool active on the current thread (storage made or dropped in it
    /// comes from and returns to the pool).
    public func active<R>(_ body: () throws -> R) rethrows -> R {
        let previous = pthread_getspecific(Self.key)
        pthread_setspecific(Self.key, Unmanaged.passUnretained(self).toOpaque())
        defer { pthread_setspecific(Self.key, previous) }
        return try body()
    }

    /// Ends a run: keeps per size at most what the run asked for.
    public func endRun() {
        let surplus = lists.withLock { l -> [Buffer] in
            var surplus: [Buffer] = []
            for (bytes, buffers) in l.free {
                let keep = l.demand[bytes] ?? 0
                guard buffers.count > keep else { continue }
                surplus += buffers[keep...]
                l.retained -= bytes * (buffers.count - keep)
                l.free[bytes] = keep == 0 ? nil : Array(buffers[..<keep])
            }
            return surplus
        }
        for b in surplus { TensorStorage.release(b.pointer, b.mapping) }
    }

    func take(_ bytes: Int) -> Buffer? {
        lists.withLock { l in
            l.demand[bytes, default: 0] += 1
            if let b = l.free[bytes]?.popLast() {
                l.retained -= bytes
                return b
            }
            l.fresh += 1
            return nil
        }
    }

    func put(_ bytes: Int, pointer: UnsafeMutableRawPointer, mapping: (start: UnsafeMutableRawPointer, length: Int)?) {
        let kept = lists.withLock { l in
            guard bytes <= retainLimit - l.retained else { return false }
            l.retained += bytes
            l.free[bytes, default: []].append((pointer, mapping))
            return true
        }
        if !kept { TensorStorage.release(pointer, mapping) }
    }

    deinit {
        lists.withLock { l in for buffers in l.free.values { for b in buffers { TensorStorage.release(b.pointer, b.mapping) } } }
    }
}

/// An n-dimensional array with value semantics. Reshape of a contiguous tensor and transpose
/// are views that share storage; writing to a shared tensor copies it first.
///
/// `@unchecked Sendable`: storage is only written after a uniqueness check (copy on write).
public struct Tensor: @unchecked Sendable, CustomStringConvertible {
    public let dtype: DType
    public let shape: Shape
    /// Distance between neighbours along each dimension, in elements.
    public let strides: [Int]
    /// Position of element [0, 0, ...] in the storage, in elements.
    public let offset: Int
    public private(set) var storage: TensorStorage

    init(dtype: DType, shape: Shape, strides: [Int], offset: Int, storage: TensorStorage) {
        self.dtype = dtype
        self.shape = shape
        self.strides = strides
        self.offset = offset
        self.storage = storage
    }

    /// A tensor of zeros (false for bool).
    public init(zeros shape: Shape, dtype: DType = .float32) {
        self.init(dtype: dtype, shape: shape, strides: shape.contiguousStrides, offset: 0,
                  storage: TensorStorage(byteCount: shape.count * dtype.size))
    }

    /// A tensor whose contents are undefined until written: for kernels that write every element.
    public init(unfilled shape: Shape, dtype: DType = .float32) {
        self.init(dtype: dtype, shape: shape, strides: shape.contiguousStrides, offset: 0,
                  storage: TensorStorage(byteCount: shape.count * dtype.size, zeroed: false))
    }

    /// A tensor holding `values` in row-major order.
    /// - Throws: `TensorError.countMismatch` if `values.count != shape.count`.
    public init<T: TensorScalar>(shape: Shape, values: [T]) throws(TensorError) {
        guard values.count == shape.count else {
            throw .countMismatch(shape: shape, expected: shape.count, got: values.count)
        }
        self.init(zeros: shape, dtype: T.dtype)
        values.withUnsafeBytes { storage.pointer.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }

    /// A rank-0 tensor.
    public init<T: TensorScalar>(scalar: T) {
        try! self.init(shape: [], values: [scalar])
    }

    /// Number of elements.
    public var count: Int { shape.count }

    /// Bytes the elements take when contiguous.
    public var byteCount: Int { shape.count * dtype.size }

    /// True when the elements lie in row-major order without gaps.
    public var isContiguous: Bool {
        var expected = 1
        for i in shape.dims.indices.reversed() where shape.dims[i] != 1 {
            if strides[i] != expected { return false }
            expected *= shape.dims[i]
        }
        return true
    }

    /// Storage offsets of every element in row-major order.
    func elementOffsets() -> [Int] {
        var offsets = [Int]()
        offsets.reserveCapacity(count)
        guard count > 0 else { return offsets }
        var index = [Int](repeating: 0, count: shape.rank)
        var position = offset
        for _ in 0..<count {
            offsets.append(position)
            var d = shape.rank - 1
            while d >= 0 {
                index[d] += 1
                position += strides[d]
                if index[d] < shape.dims[d] { break }
                position -= strides[d] * shape.dims[d]
                index[d] = 0
                d -= 1
            }
        }
        return offsets
    }

    /// A contiguous tensor with the same elements (self when already contiguous from offset 0).
    public func contiguous() -> Tensor {
        if isContiguous && offset == 0 && storage.byteCount == byteCount { return self }
        let result = Tensor(unfilled: shape, dtype: dtype)
        let size = dtype.size
        if isContiguous {
            result.storage.pointer.copyMemory(from: storage.pointer + offset * size, byteCount: byteCount)
        } else if shape.rank <= 16 {
            npu_strided_copy(result.storage.pointer, storage.pointer + offset * size, size, Int32(shape.rank), shape.dims, strides)
        } else {
            for (i, o) in elementOffsets().enumerated() {
                (result.storage.pointer + i * size).copyMemory(from: storage.pointer + o * size, byteCount: size)
            }
        }
        return result
    }

    /// The elements in row-major order.
    /// - Throws: `TensorError.dtypeMismatch` if `T` is not this tensor's element type.
    public func toArray<T: TensorScalar>(of type: T.Type = T.self) throws(TensorError) -> [T] {
        guard T.dtype == dtype else { throw .dtypeMismatch(op: "toArray", expected: dtype, got: T.dtype) }
        let c = contiguous()
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            UnsafeMutableRawPointer(buffer.baseAddress!).copyMemory(from: c.storage.pointer, byteCount: c.byteCount)
            initialized = count
        }
    }

    /// The elements as Double, row-major (for reports and reference checks).
    public func doubles() -> [Double] {
        let c = contiguous()
        let p = c.storage.pointer
        return (0..<count).map { i in
            switch dtype {
            case .float32: Double(p.load(fromByteOffset: i * 4, as: Float.self))
            case .float16: Double(p.load(fromByteOffset: i * 2, as: Float16.self))
            case .int32: Double(p.load(fromByteOffset: i * 4, as: Int32.self))
            case .int64: Double(p.load(fromByteOffset: i * 8, as: Int64.self))
            case .bool: p.load(fromByteOffset: i, as: UInt8.self) != 0 ? 1 : 0
            }
        }
    }

    /// The same elements with another shape of equal count: a view when contiguous, else a copy.
    /// One dimension may be -1 (inferred).
    public func reshaped(_ newDims: [Int]) throws(TensorError) -> Tensor {
        var dims = newDims
        let known = dims.filter { $0 != -1 }.reduce(1, *)
        let inferred = dims.indices.filter { dims[$0] == -1 }
        if inferred.count == 1, known > 0, count % known == 0 { dims[inferred[0]] = count / known }
        guard dims.allSatisfy({ $0 >= 0 }), dims.reduce(1, *) == count else {
            throw .invalidReshape(from: shape, to: Shape(newDims.map { max($0, 0) }))
        }
        let target = Shape(dims)
        let base = isContiguous ? self : contiguous()
        return Tensor(dtype: dtype, shape: target, strides: target.contiguousStrides, offset: base.offset, storage: base.storage)
    }

    /// Dimensions reordered by `permutation` (a view: no copy).
    public func transposed(_ permutation: [Int]) throws(TensorError) -> Tensor {
        guard permutation.count == shape.rank, Set(permutation) == Set(0..<shape.rank) else {
            throw .invalidPermutation(rank: shape.rank, permutation: permutation)
        }
        return Tensor(dtype: dtype, shape: Shape(permutation.map { shape.dims[$0] }),
                      strides: permutation.map { strides[$0] }, offset: offset, storage: storage)
    }

    /// Whether `other` is this very tensor: the same storage, layout and type (so the same bits,
    /// without reading them).
    public func sharesStorage(with other: Tensor) -> Bool {
        storage === other.storage && offset == other.offset && strides == other.strides && shape == other.shape && dtype == other.dtype
    }

    /// Whether `other` has this type and shape and the same bytes, element for element.
    public func hasSameBits(as other: Tensor) -> Bool {
        guard dtype == other.dtype, shape == other.shape else { return false }
        return withUnsafeBytes { a in other.withUnsafeBytes { b in a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0) } }
    }

    /// Read access to the contiguous elements (copies first if this is a strided view).
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let c = contiguous()
        return try body(UnsafeRawBufferPointer(start: c.storage.pointer + c.offset * dtype.size, count: byteCount))
    }

    /// Write access to the elements; makes the storage unique and contiguous first.
    public mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        if !isContiguous || offset != 0 || storage.byteCount != byteCount || !isKnownUniquelyReferenced(&storage) {
            let copy = Tensor(zeros: shape, dtype: dtype)
            let source = contiguous()
            copy.storage.pointer.copyMemory(from: source.storage.pointer + source.offset * dtype.size, byteCount: byteCount)
            self = copy
        }
        return try body(UnsafeMutableRawBufferPointer(start: storage.pointer, count: byteCount))
    }

    public var description: String {
        let values = doubles()
        let shown = values.prefix(8).map { dtype.isFloatingPoint ? "\($0)" : "\(Int64($0))" }.joined(separator: ", ")
        return "Tensor(\(dtype), \(shape), [\(shown)\(values.count > 8 ? ", …" : "")])"
    }
}

extension Tensor: Equatable {
    /// Same dtype, shape and element bits (views compare by their elements).
    public static func == (a: Tensor, b: Tensor) -> Bool {
        guard a.dtype == b.dtype, a.shape == b.shape else { return false }
        return a.withUnsafeBytes { x in b.withUnsafeBytes { y in x.elementsEqual(y) } }
    }
}
