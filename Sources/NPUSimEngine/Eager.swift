import Foundation
import NPUDevice
import NPUGraph
import NPUOps
import NPURandom
import NPUTensor

// PyNative through the ABI: ops run at once on a simulated card, recorded on a tape while a
// gradient function runs (MindSpore's `value_and_grad`), differentiated by the engine's reverse
// mode. Tensors are the ABI's tensor handles.

/// A PyNative context: one simulated card, its reduction planner, and the tape of the gradient
/// function being run (if any).
final class EagerBox {
    let context: PyNative
    let tape: Tape
    /// While recording: the tape value of each tensor handle the function has used or made. The
    /// boxes are kept so their identities stay unique until the recording ends.
    var recorded: [ObjectIdentifier: TapeValue]?
    var kept: [TensorBox] = []

    init(_ context: PyNative) {
        self.context = context
        tape = Tape(context: context)
    }

    func value(_ b: TensorBox) -> TapeValue {
        if let v = recorded?[ObjectIdentifier(b)] { return v }
        let v = tape.watch(b.tensor)
        recorded?[ObjectIdentifier(b)] = v
        kept.append(b)
        return v
    }
}

private func eager(_ handle: OpaquePointer?) throws -> EagerBox {
    guard let handle else { throw ABIError(message: "the PyNative context handle is null") }
    return Unmanaged<EagerBox>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
}

/// A PyNative context on a simulated `device` (a built-in profile's name) with the reduction
/// policy `determinism` (0 off, 1 on, 2 strict) and `orderSeed` (≥ 0 replays that order stream;
/// −1 OS entropy, as a card).
@_cdecl("npusim_eager_new")
public func npusim_eager_new(_ device: UnsafePointer<CChar>?, _ determinism: Int32, _ orderSeed: Int64,
                             _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guarded {
        guard let device, let out else { throw ABIError(message: "the device name or out pointer is null") }
        let name = String(cString: device)
        guard let spec = DeviceSpec.builtIn(named: name) else {
            throw ABIError(message: "no built-in device '\(name)'; built-in devices are \(DeviceSpec.builtIn.map(\.name).joined(separator: ", "))")
        }
        let policies: [Determinism] = [.off, .on, .strict]
        guard policies.indices.contains(Int(determinism)) else { throw ABIError(message: "determinism code \(determinism) is not 0 (off), 1 (on) or 2 (strict)") }
        let context = PyNative(device: Device(spec: spec), determinism: policies[Int(determinism)],
                               orderSource: orderSeed >= 0 ? .replay(UInt64(orderSeed)) : .entropy)
        out.pointee = OpaquePointer(Unmanaged.passRetained(EagerBox(context)).toOpaque())
    }
}

/// Releases a PyNative context.
@_cdecl("npusim_eager_free")
public func npusim_eager_free(_ handle: OpaquePointer?) {
    guard let handle else { return }
    abiPool.active { Unmanaged<EagerBox>.fromOpaque(UnsafeRawPointer(handle)).release() }
    abiPool.beginRun()
    abiPool.endRun()  // returns what the pool holds to the OS
}

/// Starts (`on` 1) or ends (0) recording a gradient function. Starting begins step `step` (op
/// names count afresh; reduction orders are keyed by the step) and an empty tape; ending forgets
/// the tape.
@_cdecl("npusim_eager_record")
public func npusim_eager_record(_ handle: OpaquePointer?, _ on: Int32, _ step: Int64) -> Int32 {
    guarded {
        let e = try eager(handle)
        abiPool.active {
            e.tape.reset()
            e.kept.removeAll()
        }
        if on == 1 {
            guard step >= 0 else { throw ABIError(message: "the step must be ≥ 0, got \(step)") }
            abiPool.endRun()  // keeps what the last step asked for
            abiPool.beginRun()
            e.context.beginStep(Int(step))
            e.recorded = [:]
        } else {
            e.recorded = nil
        }
    }
}

/// Runs op `type` (an op of `npusim ops`) with the attributes `attributes` (a JSON object, see
/// `makeOp`) on `count` input tensors now; its outputs (at most `room`) become new tensor
/// handles in `outputs`, their number in `produced`. While recording, the op is on the tape.
@_cdecl("npusim_eager_op")
public func npusim_eager_op(_ handle: OpaquePointer?, _ type: UnsafePointer<CChar>?, _ attributes: UnsafePointer<CChar>?,
                            _ inputs: UnsafePointer<OpaquePointer?>?, _ count: Int32, _ outputs: UnsafeMutablePointer<OpaquePointer?>?,
                            _ room: Int32, _ produced: UnsafeMutablePointer<Int32>?) -> Int32 {
    guarded {
        guard let type else { throw ABIError(message: "the op type is null") }
        let op = try makeOp(String(cString: type), attributes.map { String(cString: $0) } ?? "{}")
        try abiPool.active { try apply(op, try eager(handle), inputs, count, outputs, room, produced) }
    }
}

/// An op kept between calls (`npusim_eager_apply`): a random op's kernel continues its stream
/// from call to call, as the primitive a MindSpore cell made at construction does.
final class OpBox {
    let op: any OpDef
    init(_ op: any OpDef) { self.op = op }
}

/// A new op handle: `type` and `attributes` as `npusim_eager_op` takes them.
@_cdecl("npusim_op_new")
public func npusim_op_new(_ type: UnsafePointer<CChar>?, _ attributes: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guarded {
        guard let type, let out else { throw ABIError(message: "the op type or out pointer is null") }
        let op = try makeOp(String(cString: type), attributes.map { String(cString: $0) } ?? "{}")
        out.pointee = OpaquePointer(Unmanaged.passRetained(OpBox(op)).toOpaque())
    }
}

/// Releases an op handle.
@_cdecl("npusim_op_free")
public func npusim_op_free(_ handle: OpaquePointer?) {
    guard let handle else { return }
    Unmanaged<OpBox>.fromOpaque(UnsafeRawPointer(handle)).release()
}

/// `npusim_eager_op` with an op handle.
@_cdecl("npusim_eager_apply")
public func npusim_eager_apply(_ handle: OpaquePointer?, _ op: OpaquePointer?, _ inputs: UnsafePointer<OpaquePointer?>?, _ count: Int32,
                               _ outputs: UnsafeMutablePointer<OpaquePointer?>?, _ room: Int32, _ produced: UnsafeMutablePointer<Int32>?) -> Int32 {
    guarded {
        guard let op else { throw ABIError(message: "the op handle is null") }
        let held = Unmanaged<OpBox>.fromOpaque(UnsafeRawPointer(op)).takeUnretainedValue().op
        try abiPool.active { try apply(held, try eager(handle), inputs, count, outputs, room, produced) }
    }
}

/// Runs `op` in the PyNative context (on the tape while recording); new handles for its outputs.
private func apply(_ op: any OpDef, _ e: EagerBox, _ inputs: UnsafePointer<OpaquePointer?>?, _ count: Int32,
                   _ outputs: UnsafeMutablePointer<OpaquePointer?>?, _ room: Int32, _ produced: UnsafeMutablePointer<Int32>?) throws {
    guard let outputs, let produced, count >= 0, count == 0 || inputs != nil else {
        throw ABIError(message: "the inputs, outputs or count pointer is null")
    }
    let boxes = try (0..<Int(count)).map { try box(inputs![$0]) }
    let made: [TensorBox]
    let name = e.context.namer.name(op.type)
    if e.recorded != nil {
        let outs = try e.tape.run(op, boxes.map(e.value), name: name)
        made = outs.map { TensorBox($0.tensor) }
        for (b, v) in zip(made, outs) {
            e.recorded![ObjectIdentifier(b)] = v
            e.kept.append(b)
        }
    } else {
        made = try e.context.run(op, boxes.map(\.tensor), name: name).map(TensorBox.init)
    }
    if let o = Observation.current, op.launchesKernel {
        o.observe(Launch(step: e.context.planner.step, sink: nil, card: 0, name: name, fullName: name, type: op.type, outputs: made.map(\.tensor),
                         plans: []))
    }
    guard made.count <= Int(room) else { throw ABIError(message: "\(op.type) has \(made.count) outputs; room for \(room)") }
    for (k, b) in made.enumerated() { outputs[k] = OpaquePointer(Unmanaged.passRetained(b).toOpaque()) }
    produced.pointee = Int32(made.count)
}

/// The gradients of the recorded float32 scalar `loss` with respect to the `count` tensors
/// `wrt` (new handles in `grads`; a tensor the loss does not depend on gets zeros), scaled by
/// `sens` (MindSpore's sens_param; 1 normally). Computed eagerly by the engine's reverse mode.
@_cdecl("npusim_eager_grad")
public func npusim_eager_grad(_ handle: OpaquePointer?, _ loss: OpaquePointer?, _ wrt: UnsafePointer<OpaquePointer?>?, _ count: Int32,
                              _ sens: Float, _ grads: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guarded {
        let e = try eager(handle)
        guard let recorded = e.recorded else { throw ABIError(message: "gradients need a recorded function (npusim_eager_record)") }
        guard count >= 0, count == 0 || (wrt != nil && grads != nil) else { throw ABIError(message: "the wrt or grads pointer is null") }
        let l = try box(loss)
        guard let lossValue = recorded[ObjectIdentifier(l)] else {
            throw ABIError(message: "the loss was not computed by the recorded function")
        }
        let targets = try (0..<Int(count)).map { try box(wrt![$0]) }
        let onTape = targets.map { recorded[ObjectIdentifier($0)] }
        let found = try abiPool.active { try e.tape.gradients(of: lossValue, wrt: onTape.compactMap { $0 }, lossScale: sens) }
        var next = found.makeIterator()
        for (k, (t, v)) in zip(targets, onTape).enumerated() {
            let g = v != nil ? next.next()! : nil
            grads![k] = OpaquePointer(Unmanaged.passRetained(TensorBox(g ?? Tensor(zeros: t.tensor.shape, dtype: t.tensor.dtype))).toOpaque())
        }
    }
}

/// Waits, in simulated time, for the card's work so far (a value read by the host) and gives
/// the host's simulated time in seconds.
/// - Fails when a launch since the last read did not fit in HBM.
@_cdecl("npusim_eager_sync")
public func npusim_eager_sync(_ handle: OpaquePointer?, _ seconds: UnsafeMutablePointer<Double>?) -> Int32 {
    guarded {
        let e = try eager(handle)
        _ = try e.context.device.checkedSynchronize()
        seconds?.pointee = e.context.device.hostTime.seconds
    }
}

/// An op from its type and JSON attributes (MindSpore's primitive attribute names):
/// `MatMul`/`BatchMatMul` (transpose_a, transpose_b), `Reshape`/`BroadcastTo` (shape),
/// `Transpose` (perm), `Cast` (dtype: an ABI dtype code), `ReduceSum`/`ReduceMean`/`ReduceMax`
/// (axis: list, keep_dims), `Softmax`/`LogSoftmax` (axis), `SoftmaxCrossEntropyWithLogits` (sparse,
/// reduction), `OneHot` (depth, on_value, off_value), `Conv2D` (stride, pad_mode, pad: [t, b, l,
/// r], dilation), `MaxPool2D`/`AvgPool2D` (kernel_size, strides, pad_mode), `Slice` (begin, size),
/// `Concat` (axis), `BatchNorm` (is_training, epsilon), `LayerNorm` (begin_norm_axis, epsilon),
/// `Dropout` (keep_prob, seed0, seed1: a kernel of its own, whose stream continues across the
/// calls of one op handle, `npusim_op_new`), and
/// the optimizer updates `ApplyMomentum` and `ApplyAdam`, and the elementwise ops without
/// attributes.
func makeOp(_ type: String, _ json: String) throws -> any OpDef {
    guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)), let a = object as? [String: Any] else {
        throw ABIError(message: "\(type): the attributes are not a JSON object: \(json)")
    }
    func int(_ key: String, _ fallback: Int? = nil) throws -> Int {
        if let n = a[key] as? NSNumber, let v = Int(exactly: n.doubleValue) { return v }
        if a[key] == nil, let fallback { return fallback }
        throw ABIError(message: "\(type): attribute \(key) must be a whole number, got \(a[key].map { "\($0)" } ?? "nothing")")
    }
    func ints(_ key: String, _ fallback: [Int]? = nil) throws -> [Int] {
        if let n = a[key] as? NSNumber, let v = Int(exactly: n.doubleValue) { return [v] }
        if let list = a[key] as? [NSNumber] {
            let values = list.compactMap { Int(exactly: $0.doubleValue) }
            if values.count == list.count { return values }
        }
        if a[key] == nil, let fallback { return fallback }
        throw ABIError(message: "\(type): attribute \(key) must be a list of whole numbers, got \(a[key].map { "\($0)" } ?? "nothing")")
    }
    func bool(_ key: String, _ fallback: Bool = false) -> Bool { (a[key] as? NSNumber)?.boolValue ?? fallback }
    func float(_ key: String, _ fallback: Float) -> Float { (a[key] as? NSNumber)?.floatValue ?? fallback }
    func pair(_ key: String, _ fallback: Int) throws -> (Int, Int) {
        let v = try ints(key, [fallback])
        guard v.count == 1 || v.count == 2 || v.count == 4, v.allSatisfy({ $0 >= 1 }) else {
            throw ABIError(message: "\(type): attribute \(key) must be one or two whole numbers ≥ 1, got \(v)")
        }
        return v.count == 4 ? (v[2], v[3]) : (v[0], v.count == 2 ? v[1] : v[0])
    }
    func padMode() throws -> PadMode {
        switch (a["pad_mode"] as? String ?? "valid").lowercased() {
        case "same": return .same
        case "valid": return .valid
        case "pad":
            let p = try ints("pad", [0])
            guard p.allSatisfy({ $0 >= 0 }), p.count == 1 || p.count == 4 else { throw ABIError(message: "\(type): pad must be one or four whole numbers ≥ 0, got \(p)") }
            return p.count == 1 ? .pad(top: p[0], bottom: p[0], left: p[0], right: p[0]) : .pad(top: p[0], bottom: p[1], left: p[2], right: p[3])
        case let other: throw ABIError(message: "\(type): pad_mode '\(other)' is not same, valid or pad")
        }
    }
    switch type {
    case "Add": return Add()
    case "Sub": return Sub()
    case "Mul": return Mul()
    case "Div": return Div()
    case "Pow": return Pow()
    case "Maximum": return Maximum()
    case "Minimum": return Minimum()
    case "Neg": return Neg()
    case "Exp": return Exp()
    case "Log": return Log()
    case "Sqrt": return Sqrt()
    case "Rsqrt": return Rsqrt()
    case "ReLU": return ReLU()
    case "Sigmoid": return Sigmoid()
    case "Tanh": return Tanh()
    case "GeLU": return GeLU()
    case "BiasAdd": return BiasAdd()
    case "MatMul": return MatMul(transposeA: bool("transpose_a"), transposeB: bool("transpose_b"))
    case "BatchMatMul": return BatchMatMul(transposeA: bool("transpose_a"), transposeB: bool("transpose_b"))
    case "Reshape": return Reshape(shape: try ints("shape"))
    case "BroadcastTo": return BroadcastTo(shape: try ints("shape"))
    case "Transpose": return Transpose(perm: try ints("perm"))
    case "Cast":
        let code = try int("dtype")
        guard dtypes.indices.contains(code) else { throw ABIError(message: "Cast: dtype code \(code) is not 0…4") }
        return Cast(to: dtypes[code])
    case "ReduceSum": return ReduceSum(axes: try ints("axis", []), keepDims: bool("keep_dims"))
    case "ReduceMean": return ReduceMean(axes: try ints("axis", []), keepDims: bool("keep_dims"))
    case "ReduceMax": return ReduceMax(axes: try ints("axis", []), keepDims: bool("keep_dims"))
    case "Softmax": return Softmax(axis: try int("axis", -1))
    case "LogSoftmax": return LogSoftmax(axis: try int("axis", -1))
    case "SoftmaxCrossEntropyWithLogits":
        guard let reduction = LossReduction(rawValue: a["reduction"] as? String ?? "mean") else {
            throw ABIError(message: "SoftmaxCrossEntropyWithLogits: reduction must be mean, sum or none")
        }
        return SoftmaxCrossEntropyWithLogits(sparse: bool("sparse"), reduction: reduction)
    case "OneHot": return OneHot(depth: try int("depth"), on: float("on_value", 1), off: float("off_value", 0))
    case "Conv2D": return Conv2D(stride: try pair("stride", 1), padMode: try padMode(), dilation: try pair("dilation", 1))
    case "MaxPool2D": return MaxPool2D(kernel: try pair("kernel_size", 1), stride: try pair("strides", 1), padMode: try padMode())
    case "AvgPool2D": return AvgPool2D(kernel: try pair("kernel_size", 1), stride: try pair("strides", 1), padMode: try padMode())
    case "Slice": return Slice(begin: try ints("begin"), size: try ints("size"))
    case "Concat": return Concat(axis: try int("axis", 0))
    case "BatchNorm": return BatchNorm(isTraining: bool("is_training"), epsilon: float("epsilon", 1e-5))
    case "LayerNorm": return LayerNorm(beginNormAxis: try int("begin_norm_axis", -1), epsilon: float("epsilon", 1e-7))
    case "Dropout":
        let keep = float("keep_prob", 0.5), s0 = try int("seed0", 0), s1 = try int("seed1", 0)
        guard keep > 0, keep <= 1 else { throw ABIError(message: "Dropout: keep_prob must be in (0, 1], got \(keep)") }
        guard s0 >= 0, s1 >= 0 else { throw ABIError(message: "Dropout: seeds must be non-negative, got (\(s0), \(s1))") }
        let pair = SeedPair(seed: Int64(s0), seed2: Int64(s1), rule: s0 == 0 && s1 == 0 ? .entropy : .bothSeeds(call: 1))
        return Dropout(keepProb: keep, kernel: RandomKernel(.dropout, seeds: pair))
    case "Greater", "GreaterEqual", "Less", "LessEqual", "Equal", "NotEqual": return Compare(Compare.Kind(rawValue: type)!)
    case "Select": return Select()
    case "Argmax": return ArgMax(axis: try int("axis", -1))
    case "ApplyMomentum": return ApplyMomentum()
    case "ApplyAdam": return ApplyAdam()
    default:
        throw ABIError(message: "no op '\(type)' in PyNative; the engine's ops are listed by `npusim ops`")
    }
}
