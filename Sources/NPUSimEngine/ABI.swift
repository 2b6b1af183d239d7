import Foundation
import NPUDevice
import NPURandom
import NPUData
import NPUScript
import NPUTensor
import NPUTrain

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
public func npusim_abi_version() -> Int32 { 3 }

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
func guarded(_ body: () throws -> Void) -> Int32 {
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

/// Storage of the tensors the ABI makes and frees, recycled as a PyNative step's are in Swift: a
/// Python loop allocates and drops the same sizes every step, and a fresh large tensor costs its
/// page faults again. Trimmed to one step's demand when a step starts recording; a loop that
/// never records (inference over inputs of changing shapes) keeps at most 512 MiB.
let abiPool = StoragePool(retainLimit: 512 << 20)

func box(_ handle: OpaquePointer?) throws -> TensorBox {
    guard let handle else { throw ABIError(message: "the tensor handle is null") }
    return Unmanaged<TensorBox>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
}

func shape(_ dims: UnsafePointer<Int64>?, _ ndim: Int32) throws -> Shape {
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
        var t = abiPool.active { Tensor(unfilled: s, dtype: type) }
        if need > 0 { t.withUnsafeMutableBytes { $0.baseAddress!.copyMemory(from: data!, byteCount: need) } }
        out.pointee = OpaquePointer(Unmanaged.passRetained(TensorBox(t)).toOpaque())
    }
}

/// Releases a tensor handle.
@_cdecl("npusim_tensor_free")
public func npusim_tensor_free(_ handle: OpaquePointer?) {
    guard let handle else { return }
    abiPool.active { Unmanaged<TensorBox>.fromOpaque(UnsafeRawPointer(handle)).release() }
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

// MARK: Models

/// A script's model made ready to train (`ScriptRunner.prepare`).
final class ModelBox {
    let script: Script
    var prepared: ScriptRunner.Prepared
    /// Engine callbacks the front end asked for (`ModelCheckpoint`), before its own.
    var callbacks: [any Callback] = []
    init(_ script: Script, _ prepared: ScriptRunner.Prepared) { (self.script, self.prepared) = (script, prepared) }
}

private func model(_ handle: OpaquePointer?) throws -> ModelBox {
    guard let handle else { throw ABIError(message: "the model handle is null") }
    return Unmanaged<ModelBox>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
}

/// A model from a training script's text (`yaml`, Docs/ScriptFormat.md; `file` the path its
/// relative data paths are resolved against, and the name errors give), built as `npusim run`
/// builds it. `seed` ≥ 0 replaces the script's seed; −1 keeps it. `flags`: bit 0 keeps the
/// per-step losses a sink hides (the callback's hook 6), bit 1 records every task for a profile
/// (`npusim_profile_write`).
@_cdecl("npusim_model_from_script")
public func npusim_model_from_script(_ yaml: UnsafePointer<CChar>?, _ file: UnsafePointer<CChar>?, _ seed: Int64, _ flags: Int32,
                                     _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guarded {
        guard let yaml, let file, let out else { throw ABIError(message: "the script, file or out pointer is null") }
        let script = try Script.parse(yaml: String(cString: yaml), file: String(cString: file))
        var options = RunOptions()
        if seed >= 0 { options.seed = seed }
        options.record = flags & 2 != 0
        if let o = Observation.current { options.observer = { card, out in o.observe(card: card, out) } }
        let prepared = try ScriptRunner.prepare(script, options, keepHidden: flags & 1 != 0)
        out.pointee = OpaquePointer(Unmanaged.passRetained(ModelBox(script, prepared)).toOpaque())
    }
}

/// Releases a model handle.
@_cdecl("npusim_model_free")
public func npusim_model_free(_ handle: OpaquePointer?) {
    guard let handle else { return }
    Unmanaged<ModelBox>.fromOpaque(UnsafeRawPointer(handle)).release()
}

/// Loads a checkpoint (MindSpore's `.ckpt` or safetensors) into the model's parameters on every
/// card, as `load_checkpoint` + `load_param_into_net` would.
@_cdecl("npusim_model_load_checkpoint")
public func npusim_model_load_checkpoint(_ handle: OpaquePointer?, _ path: UnsafePointer<CChar>?) -> Int32 {
    guarded {
        let m = try model(handle)
        guard let path else { throw ABIError(message: "the path is null") }
        let names = Set(m.prepared.parameterNames)
        for (k, store) in m.prepared.model.stores.enumerated() {
            let loaded = try Checkpoint.load(String(cString: path), into: store, network: names)
            if k == 0 { m.prepared.model.restoreRandomStates(loaded.randomStates) }
        }
    }
}

/// A new tensor with the current value of parameter `name` (card 0's).
@_cdecl("npusim_model_parameter")
public func npusim_model_parameter(_ handle: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guarded {
        let m = try model(handle)
        guard let name, let out else { throw ABIError(message: "the name or out pointer is null") }
        let key = String(cString: name)
        guard let t = m.prepared.model.store[key] else {
            throw ABIError(message: "no parameter '\(key)'; the model's are \(m.prepared.parameterNames.joined(separator: ", "))")
        }
        out.pointee = OpaquePointer(Unmanaged.passRetained(TensorBox(t)).toOpaque())
    }
}

/// A callback of `npusim_model_train`: `hook` 0 on_train_begin, 1 on_train_epoch_begin, 2
/// on_train_step_begin, 3 on_train_step_end, 4 on_train_epoch_end, 5 on_train_end, with
/// `cb_params`' cur_epoch_num, cur_step_num, batch_num, the loss (NaN before the first step) and
/// card 0's simulated host time in seconds (what NPUSim's TimeMonitor measures). Hook 6 (with a
/// model that keeps hidden losses) comes before on_train_step_end for each step a sink hid, with
/// that step's number in its epoch in place of cur_step_num.
/// Returns 0 to go on, 1 to request a stop (`run_context.request_stop()`), −1 for an error the
/// caller keeps (training stops; the call returns 1 with "a callback failed").
public typealias ModelCallback = @convention(c) (UnsafeMutableRawPointer?, Int32, Int64, Int64, Int64, Double, Double) -> Int32

/// Bridges `Model.train`'s hooks to a C callback.
final class CallbackBridge: Callback {
    let function: ModelCallback
    let user: UnsafeMutableRawPointer?
    init(_ function: @escaping ModelCallback, _ user: UnsafeMutableRawPointer?) { (self.function, self.user) = (function, user) }
    func call(_ hook: Int32, _ run: RunContext) throws {
        let p = run.cbParams
        if hook == 3 {
            let last = p.curStepInEpoch, hidden = p.hiddenLosses
            for (k, h) in hidden.enumerated() {
                _ = function(user, 6, Int64(p.curEpochNum), Int64(last - hidden.count + k), Int64(p.batchNum), Double(h.loss), p.device.hostTime.seconds)
            }
        }
        let status = function(user, hook, Int64(p.curEpochNum), Int64(p.curStepNum), Int64(p.batchNum), p.loss.map(Double.init) ?? .nan,
                              p.device.hostTime.seconds)
        if status == 1 { run.requestStop() }
        if status < 0 { throw CallbackError("a callback failed at \(["on_train_begin", "on_train_epoch_begin", "on_train_step_begin", "on_train_step_end", "on_train_epoch_end", "on_train_end"][Int(hook)])") }
    }
    func onTrainBegin(_ run: RunContext) throws { try call(0, run) }
    func onTrainEpochBegin(_ run: RunContext) throws { try call(1, run) }
    func onTrainStepBegin(_ run: RunContext) throws { try call(2, run) }
    func onTrainStepEnd(_ run: RunContext) throws { try call(3, run) }
    func onTrainEpochEnd(_ run: RunContext) throws { try call(4, run) }
    func onTrainEnd(_ run: RunContext) throws { try call(5, run) }
}

/// `Model.train(epochs, dataset, callbacks, dataset_sink_mode, sink_size)` on the script's
/// dataset: `epochs` ≤ 0 takes the script's; `sink` −1 the script's, 0 no, 1 yes; `sinkSize` 0
/// the script's; `maxSteps` > 0 ends training after that many steps (`--steps`). The callback
/// (may be null) sees every hook, in MindSpore's order.
@_cdecl("npusim_model_train")
public func npusim_model_train(_ handle: OpaquePointer?, _ epochs: Int64, _ sink: Int32, _ sinkSize: Int64, _ maxSteps: Int64,
                               _ callback: ModelCallback?, _ user: UnsafeMutableRawPointer?) -> Int32 {
    guarded {
        let m = try model(handle)
        try train(m, on: m.prepared.dataset, epochs, sink, sinkSize, defaultSinkSize: m.prepared.sinkSize,
                  initialStep: m.prepared.resumed, maxSteps: maxSteps, callback, user)
    }
}

/// Sets parameter `name` on every card to `value` (an initial value another front end drew).
@_cdecl("npusim_model_set_parameter")
public func npusim_model_set_parameter(_ handle: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ value: OpaquePointer?) -> Int32 {
    guarded {
        let m = try model(handle)
        guard let name else { throw ABIError(message: "the name is null") }
        let key = String(cString: name), t = try box(value).tensor
        guard let want = m.prepared.model.store.type(of: key) else {
            throw ABIError(message: "no parameter '\(key)'; the model's are \(m.prepared.parameterNames.joined(separator: ", "))")
        }
        guard t.type == want else { throw ABIError(message: "parameter '\(key)' is \(want), the value given is \(t.type)") }
        for store in m.prepared.model.stores { store[key] = t }
    }
}

/// `npusim_model_train` on a dataset of the arrays `data` [N, ...] (float32) and `labels` [N]
/// (int32) instead of the script's: `batch(batchSize, dropRemainder)`, shuffled with the dataset
/// seed when `shuffle` is 1 (and through a buffer of `shuffleBuffer` rows when ≥ 2, as
/// `npusim_dataset_from_arrays`). The batches must have the type the model was built for.
@_cdecl("npusim_model_train_arrays")
public func npusim_model_train_arrays(_ handle: OpaquePointer?, _ data: OpaquePointer?, _ labels: OpaquePointer?, _ batchSize: Int64,
                                      _ dropRemainder: Int32, _ shuffle: Int32, _ shuffleBuffer: Int64, _ epochs: Int64, _ sink: Int32,
                                      _ sinkSize: Int64, _ maxSteps: Int64, _ callback: ModelCallback?, _ user: UnsafeMutableRawPointer?) -> Int32 {
    guarded {
        let m = try model(handle)
        let p = m.prepared
        guard batchSize >= 1 else { throw ABIError(message: "batch_size must be at least 1, got \(batchSize)") }
        let source = try TensorSource(data: try box(data).tensor, labels: try box(labels).tensor)
        var dataset = try Dataset(source: source, shuffle: shuffle == 1, batchSize: Int(batchSize), dropRemainder: dropRemainder == 1)
        dataset.seed = p.dataset.seed
        dataset.shuffleBuffer = try buffer(shuffleBuffer)
        try train(m, on: dataset, epochs, sink, sinkSize, defaultSinkSize: -1, initialStep: 0, maxSteps: maxSteps, callback, user)
    }
}

/// `Model.train` for the ABI's train calls: `epochs` ≤ 0 the script's, `sink` −1 the script's,
/// `sinkSize` 0 `defaultSinkSize`; the C callback (if any) at every hook.
private func train(_ m: ModelBox, on dataset: Dataset, _ epochs: Int64, _ sink: Int32, _ sinkSize: Int64, defaultSinkSize: Int,
                   initialStep: Int, maxSteps: Int64, _ callback: ModelCallback?, _ user: UnsafeMutableRawPointer?) throws {
    let p = m.prepared
    let callbacks: [any Callback] = m.callbacks + (callback.map { [CallbackBridge($0, user)] } ?? [])
    try p.model.train(epochs: epochs > 0 ? Int(epochs) : p.epochs, dataset: dataset, callbacks: callbacks,
                      datasetSinkMode: sink < 0 ? p.sink : sink == 1, sinkSize: sinkSize != 0 ? Int(sinkSize) : defaultSinkSize,
                      initialStep: initialStep, maxSteps: maxSteps > 0 ? Int(maxSteps) : nil)
}

/// `Model.eval` on a dataset (`npusim_dataset_*`): the model's metrics (the script's
/// `eval.metrics`) in order, into `values` (room for `count`).
@_cdecl("npusim_model_eval")
public func npusim_model_eval(_ handle: OpaquePointer?, _ dataset: OpaquePointer?, _ values: UnsafeMutablePointer<Double>?, _ count: Int32) -> Int32 {
    guarded {
        let m = try model(handle)
        guard let dataset else { throw ABIError(message: "the dataset handle is null") }
        let d = Unmanaged<DatasetBox>.fromOpaque(UnsafeRawPointer(dataset)).takeUnretainedValue().dataset
        let results = try m.prepared.model.eval(d)
        guard let values, Int(count) >= results.count else { throw ABIError(message: "the model has \(results.count) metrics; the buffer has room for \(count)") }
        for (k, r) in results.enumerated() { values[k] = r.value }
    }
}

/// Adds MindSpore's `ModelCheckpoint(prefix, directory, CheckpointConfig(save_checkpoint_steps,
/// keep_checkpoint_max, format))` to the model's training callbacks (`directory` null: the
/// working directory; `format` 0 `.ckpt`, 1 safetensors): the engine saves the parameters and
/// the optimizer's state as MindSpore's does.
@_cdecl("npusim_model_add_checkpoint")
public func npusim_model_add_checkpoint(_ handle: OpaquePointer?, _ prefix: UnsafePointer<CChar>?, _ directory: UnsafePointer<CChar>?,
                                        _ saveSteps: Int64, _ keepMax: Int64, _ format: Int32) -> Int32 {
    guarded {
        let m = try model(handle)
        guard let prefix else { throw ABIError(message: "the prefix is null") }
        guard saveSteps >= 1, keepMax >= 1 else {
            throw ABIError(message: "save_checkpoint_steps and keep_checkpoint_max must be at least 1, got \(saveSteps) and \(keepMax)")
        }
        let config = CheckpointConfig(saveCheckpointSteps: Int(min(saveSteps, 1 << 40)), keepCheckpointMax: Int(min(keepMax, 1 << 20)),
                                      format: format == 1 ? .safetensors : .mindspore)
        m.callbacks.append(try ModelCheckpoint(prefix: String(cString: prefix), directory: directory.map { String(cString: $0) }, config: config))
    }
}

// MARK: Checkpoints

/// The named tensors of a checkpoint file, in file order.
final class CheckpointBox {
    let entries: [(name: String, tensor: Tensor)]
    let names: [UnsafeMutablePointer<CChar>]
    init(_ entries: [(name: String, tensor: Tensor)]) {
        self.entries = entries
        names = entries.map { strdup($0.name)! }
    }
    deinit { names.forEach { free($0) } }
}

/// Reads a checkpoint: MindSpore's `.ckpt` (`mindspore.load_checkpoint`'s format) or, for any
/// other name, safetensors (names sorted).
@_cdecl("npusim_checkpoint_read")
public func npusim_checkpoint_read(_ path: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guarded {
        guard let path, let out else { throw ABIError(message: "the path or out pointer is null") }
        let entries = try Checkpoint.read(String(cString: path))
        out.pointee = OpaquePointer(Unmanaged.passRetained(CheckpointBox(entries)).toOpaque())
    }
}

/// The number of tensors in a checkpoint read by `npusim_checkpoint_read`.
@_cdecl("npusim_checkpoint_count")
public func npusim_checkpoint_count(_ handle: OpaquePointer?) -> Int32 {
    guard let handle else { return 0 }
    return Int32(Unmanaged<CheckpointBox>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue().entries.count)
}

/// Entry `index`: its name (valid while the checkpoint handle is) and a new tensor handle.
@_cdecl("npusim_checkpoint_entry")
public func npusim_checkpoint_entry(_ handle: OpaquePointer?, _ index: Int32, _ name: UnsafeMutablePointer<UnsafePointer<CChar>?>?,
                                    _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guarded {
        guard let handle, let name, let out else { throw ABIError(message: "a handle or out pointer is null") }
        let c = Unmanaged<CheckpointBox>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
        guard c.entries.indices.contains(Int(index)) else { throw ABIError(message: "entry \(index) of \(c.entries.count)") }
        name.pointee = UnsafePointer(c.names[Int(index)])
        out.pointee = OpaquePointer(Unmanaged.passRetained(TensorBox(c.entries[Int(index)].tensor)).toOpaque())
    }
}

/// Releases a checkpoint handle.
@_cdecl("npusim_checkpoint_free")
public func npusim_checkpoint_free(_ handle: OpaquePointer?) {
    guard let handle else { return }
    Unmanaged<CheckpointBox>.fromOpaque(UnsafeRawPointer(handle)).release()
}

/// Writes `count` named tensors to `path` durably (a temporary file, fsync, rename): MindSpore's
/// `.ckpt` format (`mindspore.save_checkpoint`'s), in the order given, or safetensors for any
/// other name.
@_cdecl("npusim_checkpoint_write")
public func npusim_checkpoint_write(_ path: UnsafePointer<CChar>?, _ count: Int32, _ names: UnsafePointer<UnsafePointer<CChar>?>?,
                                    _ tensors: UnsafePointer<OpaquePointer?>?) -> Int32 {
    guarded {
        guard let path, count >= 0, count == 0 || (names != nil && tensors != nil) else { throw ABIError(message: "the path, names or tensors are null") }
        var entries: [(name: String, tensor: Tensor)] = []
        for k in 0..<Int(count) {
            guard let n = names![k] else { throw ABIError(message: "name \(k) is null") }
            entries.append((String(cString: n), try box(tensors![k]).tensor))
        }
        try Checkpoint.write(entries, to: String(cString: path))
    }
}
