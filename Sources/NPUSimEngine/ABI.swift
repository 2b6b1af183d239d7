import Foundation
import NPUDevice
import NPURandom
import NPUTensor

// The engine's C ABI (libnpusim.so): what the Python package calls through ctypes.
//
// Contract:
// - Every call that can fail returns an `int32_t` status: 0 success, 2 bad input (a caller
//   error: a wrong dtype, shape, name or value), 1 a failed run. On failure
//   `npusim_last_error()` gives the message, a NUL-terminated UTF-8 string valid until the next
//   failing call on the same thread. No Swift trap reaches the caller for a caller error.
// - Objects are opaque handles: made by `*_new` (or returned through an out-parameter), released
//   by `*_free` exactly once. A handle is used by one thread at a time; different handles may be
//   used on different threads at once. The last error is per thread.
// - Buffers the caller passes are read during the call only (data is copied in); buffers the
//   engine fills are the caller's, of the size the call states.
// - `npusim_abi_version()` changes whenever a function's meaning or signature changes.

/// The ABI's version.
@_cdecl("npusim_abi_version")
public func npusim_abi_version() -> Int32 { 1 }

/// The status codes of the ABI.
enum Status: Int32 {
    case ok = 0, runFailed = 1, badInput = 2
}

/// The last error message of each thread (thread-local, so calls on other threads do not race).
private let errorKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key) { free($0) }
    return key
}()

private func setLastError(_ message: String) {
    if let old = pthread_getspecific(errorKey) { free(old) }
    pthread_setspecific(errorKey, strdup(message))
}

/// The message of the last failing call on this thread ("" when none failed).
@_cdecl("npusim_last_error")
public func npusim_last_error() -> UnsafePointer<CChar> {
    if pthread_getspecific(errorKey) == nil { pthread_setspecific(errorKey, strdup("")) }
    return UnsafePointer(pthread_getspecific(errorKey)!.assumingMemoryBound(to: CChar.self))
}

/// Runs `body`, turning a thrown error into a status and the thread's last error.
private func guarded(_ body: () throws -> Void) -> Int32 {
    do {
        try body()
        return Status.ok.rawValue
    } catch let error as any CategorizedError {
        setLastError(error.description)
        return error.category == .badInput ? Status.badInput.rawValue : Status.runFailed.rawValue
    } catch {
        setLastError("\(error)")
        return Status.runFailed.rawValue
    }
}

/// A caller error found at the ABI's edge.
struct ABIError: Error, CategorizedError {
    var message: String
    var description: String { message }
    var category: ErrorCategory { .badInput }
}

// MARK: Tensors

/// The dtype codes of the ABI (numpy's names): 0 float32, 1 float16, 2 int32, 3 int64, 4 bool.
let dtypes: [DType] = [.float32, .float16, .int32, .int64, .bool]

final class TensorBox {
    var tensor: Tensor
    init(_ tensor: Tensor) { self.tensor = tensor }
}

private func box(_ handle: OpaquePointer?) throws -> TensorBox {
    guard let handle else { throw ABIError(message: "the tensor handle is null") }
    return Unmanaged<TensorBox>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
}

private func shape(_ dims: UnsafePointer<Int64>?, _ ndim: Int32) throws -> Shape {
    guard ndim >= 0, ndim <= 32 else { throw ABIError(message: "a tensor has 0 to 32 dimensions, got \(ndim)") }
    guard ndim == 0 || dims != nil else { throw ABIError(message: "the shape pointer is null for \(ndim) dimensions") }
    let values = (0..<Int(ndim)).map { Int(dims![$0]) }
    guard values.allSatisfy({ $0 >= 0 }) else { throw ABIError(message: "a dimension is negative: \(values)") }
    guard Shape(values).checkedCount != nil else { throw ABIError(message: "the shape \(values) has more elements than fit in memory") }
    return Shape(values)
}

/// A new tensor of `dtype` and `shape` (`ndim` dimensions) with `data`'s values: contiguous,
/// row-major, `bytes` bytes (the element count times the dtype's size).
@_cdecl("npusim_tensor_new")
public func npusim_tensor_new(_ dtype: Int32, _ dims: UnsafePointer<Int64>?, _ ndim: Int32, _ data: UnsafeRawPointer?, _ bytes: Int,
                              _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guarded {
        guard let out else { throw ABIError(message: "the out pointer is null") }
        guard dtypes.indices.contains(Int(dtype)) else { throw ABIError(message: "dtype code \(dtype) is not one of 0 (float32), 1 (float16), 2 (int32), 3 (int64), 4 (bool)") }
        let s = try shape(dims, ndim), type = dtypes[Int(dtype)]
        let need = s.count * type.size
        guard bytes == need else { throw ABIError(message: "a \(type)\(s) tensor has \(need) bytes, the buffer has \(bytes)") }
        guard need == 0 || data != nil else { throw ABIError(message: "the data pointer is null") }
        var t = Tensor(unfilled: s, dtype: type)
        if need > 0 { t.withUnsafeMutableBytes { $0.baseAddress!.copyMemory(from: data!, byteCount: need) } }
        out.pointee = OpaquePointer(Unmanaged.passRetained(TensorBox(t)).toOpaque())
    }
}

/// Releases a tensor handle.
@_cdecl("npusim_tensor_free")
public func npusim_tensor_free(_ handle: OpaquePointer?) {
    guard let handle else { return }
    Unmanaged<TensorBox>.fromOpaque(UnsafeRawPointer(handle)).release()
}

/// The tensor's dtype code and dimensions: `ndim` receives the rank, `dims` (room for 32) the sizes.
@_cdecl("npusim_tensor_info")
public func npusim_tensor_info(_ handle: OpaquePointer?, _ dtype: UnsafeMutablePointer<Int32>?, _ ndim: UnsafeMutablePointer<Int32>?,
                               _ dims: UnsafeMutablePointer<Int64>?) -> Int32 {
    guarded {
        let t = try box(handle).tensor
        guard let dtype, let ndim, let dims else { throw ABIError(message: "an out pointer is null") }
        dtype.pointee = Int32(dtypes.firstIndex(of: t.dtype)!)
        ndim.pointee = Int32(t.shape.rank)
        for (k, d) in t.shape.dims.enumerated() { dims[k] = Int64(d) }
    }
}

/// Copies the tensor's values (contiguous, row-major) into `out`, which has `bytes` bytes.
@_cdecl("npusim_tensor_read")
public func npusim_tensor_read(_ handle: OpaquePointer?, _ out: UnsafeMutableRawPointer?, _ bytes: Int) -> Int32 {
    guarded {
        let t = try box(handle).tensor.contiguous()
        guard bytes == t.byteCount else { throw ABIError(message: "the tensor has \(t.byteCount) bytes, the buffer \(bytes)") }
        guard bytes == 0 || out != nil else { throw ABIError(message: "the out pointer is null") }
        if bytes > 0 { t.withUnsafeBytes { out!.copyMemory(from: $0.baseAddress!, byteCount: bytes) } }
    }
}

// MARK: Initializers

/// MindSpore's initializer `name` (as `mindspore.common.initializer` spells it) with its
/// parameters `a` and `b` (NaN: MindSpore's default): `normal` (sigma, mean), `uniform` (scale),
/// `truncatednormal` (sigma, mean; bounds ±2), `xavier_uniform`/`xavier_normal` (gain),
/// `he_uniform`/`he_normal` (negative slope), `zeros`, `ones`, `constant` (value).
func initializer(_ name: String, _ a: Double, _ b: Double) throws -> Initializer {
    func or(_ x: Double, _ d: Double) -> Double { x.isNaN ? d : x }
    if name.lowercased() == "constant" { return .constant(or(a, 0)) }
    switch try Initializer(name: name) {
    case .normal: return .normal(sigma: or(a, 0.01), mean: or(b, 0))
    case .uniform: return .uniform(scale: or(a, 0.07))
    case .truncatedNormal: return .truncatedNormal(sigma: or(a, 0.01), mean: or(b, 0))
    case .xavierUniform: return .xavierUniform(gain: or(a, 1))
    case .xavierNormal: return .xavierNormal(gain: or(a, 1))
    case .heUniform: return .heUniform(negativeSlope: or(a, 0))
    case .heNormal: return .heNormal(negativeSlope: or(a, 0))
    case let other: return other
    }
}

/// A new float32 tensor of `shape` filled by MindSpore's initializer `name` (parameters `a`,
/// `b`; see `initializer`) drawn with Philox from `seed`: the seed MindSpore's initializer draws
/// from numpy's global generator (`_numpy_seed()`), which the caller draws with the real numpy,
/// at the moment MindSpore does. The values are MindSpore's, bit for bit.
@_cdecl("npusim_initializer_fill")
public func npusim_initializer_fill(_ name: UnsafePointer<CChar>?, _ a: Double, _ b: Double, _ seed: UInt64,
                                    _ dims: UnsafePointer<Int64>?, _ ndim: Int32, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guarded {
        guard let name, let out else { throw ABIError(message: "the name or out pointer is null") }
        let s = try shape(dims, ndim)
        let t = try initializer(String(cString: name), a, b).make(s, seed: seed)
        out.pointee = OpaquePointer(Unmanaged.passRetained(TensorBox(t)).toOpaque())
    }
}

// MARK: Random ops

/// One PyNative call of MindSpore's functional random op `name` with the seed pair
/// (`seed`, `seed2`) MindSpore's `_get_seed` gave it (the caller keeps MindSpore's seed
/// bookkeeping, as `mindspore/common/seed.py` does): a new kernel, launched once, values bit for
/// bit MindSpore CPU's. `name` and its parameters:
/// `uniform` (a = minval, b = maxval), `rand`, `standard_normal`, `randn`, `normal` (a = mean,
/// b = stddev), `dropout` (a = p; `input` the tensor dropped, float32; nil: ones of `dims`).
/// (0, 0) seeds the kernel from OS entropy, as MindSpore does.
@_cdecl("npusim_random_op")
public func npusim_random_op(_ name: UnsafePointer<CChar>?, _ seed: Int64, _ seed2: Int64, _ dims: UnsafePointer<Int64>?, _ ndim: Int32,
                             _ a: Double, _ b: Double, _ input: OpaquePointer?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guarded {
        guard let name, let out else { throw ABIError(message: "the name or out pointer is null") }
        let x = try input.map { try box($0).tensor }
        let s = try x?.shape ?? shape(dims, ndim)
        let op: RandomOp
        switch String(cString: name) {
        case "uniform": op = .uniform(s, minval: Float(a), maxval: Float(b))
        case "rand": op = .rand(s)
        case "standard_normal": op = .standardNormal(s)
        case "randn": op = .randn(s)
        case "normal": op = .normal(s, mean: Float(a), stddev: Float(b))
        case "dropout": op = .dropout(s, p: a)
        case let other:
            throw ABIError(message: "unknown random op '\(other)'; valid ops are uniform, rand, standard_normal, randn, normal, dropout")
        }
        try op.validate()
        guard seed >= 0, seed2 >= 0 else { throw ABIError(message: "seeds must be non-negative, got (\(seed), \(seed2))") }
        let pair = SeedPair(seed: seed, seed2: seed2, rule: seed == 0 && seed2 == 0 ? .entropy : .bothSeeds(call: 1))
        let t = try op.launch(on: RandomKernel(op.kind, seeds: pair), input: x)
        out.pointee = OpaquePointer(Unmanaged.passRetained(TensorBox(t)).toOpaque())
    }
}
