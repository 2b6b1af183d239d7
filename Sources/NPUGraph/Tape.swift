import NPUOps
import NPUTensor

/// A tensor PyNative training tracks: its value and its id on the tape.
public struct TapeValue {
    public let id: Int
    public let tensor: Tensor
}

/// PyNative training: ops run at once through a `PyNative` context and are recorded, so that
/// `gradients` can differentiate them with the same reverse mode graph mode uses. The gradient
/// ops are named and ordered exactly as graph mode's gradient nodes; only those the requested
/// gradients need are run (graph mode removes the others as dead code).
public final class Tape {
    public let context: PyNative
    private(set) var entries: [TapeEntry] = []
    /// The tracked tensors since the last reset: id `base + i` is `tensors[i]` (ids keep growing
    /// across resets, so a stale id never names a new tensor).
    private var tensors: [Tensor] = []
    private var base = 0

    public init(context: PyNative) { self.context = context }

    /// Starts tracking `tensor` (a parameter or an input).
    public func watch(_ tensor: Tensor) -> TapeValue {
        tensors.append(tensor)
        return TapeValue(id: base + tensors.count - 1, tensor: tensor)
    }

    /// Runs `op` now and records it, named `name` (by default the next name for its type).
    public func run(_ op: any OpDef, _ inputs: [TapeValue], name: String? = nil) throws(OpError) -> [TapeValue] {
        let name = name ?? context.namer.name(op.type)
        let outputs = try context.run(op, inputs.map(\.tensor), name: name).map(watch)
        entries.append(TapeEntry(op: op, name: name, inputs: inputs.map(\.id), outputs: outputs.map(\.id)))
        return outputs
    }

    /// d`loss`/d`wrt`, computed eagerly: the gradient ops are recorded first, then the ones the
    /// requested gradients depend on run in order.
    public func gradients(of loss: TapeValue, wrt: [TapeValue], lossScale: Float = 1) throws(OpError) -> [Tensor?] {
        guard loss.tensor.type == TensorType(.float32, []) else {
            throw OpError("gradients", "the loss must be a float32 scalar, got \(loss.tensor.type)")
        }
        var builder = DeferredBuilder(context: context)
        let seed = builder.constant(Tensor(scalar: lossScale))
        let ids = tensors.map { builder.constant($0) }  // tape id − base → builder value
        let base = base
        let grads = try reverseMode(&builder, entries: entries, value: { ids[$0 - base] }, type: { self.tensors[$0 - base].type },
                                    loss: loss.id, seed: seed, wrt: wrt.map(\.id))
        return try builder.evaluate(grads)
    }

    /// Forgets the recorded ops (a new step).
    public func reset() {
        entries.removeAll(keepingCapacity: true)
        base += tensors.count
        tensors.removeAll(keepingCapacity: true)
    }
}

/// Records gradient ops with their names (given now, in the order graph mode adds its gradient
/// nodes), and runs only those that the values asked for depend on.
struct DeferredBuilder: GradBuilder {
    struct Pending {
        var op: any OpDef
        var name: String
        var inputs: [Int]
        var outputs: [Int]
    }

    let context: PyNative
    private var types: [TensorType] = []
    /// Value i's tensor once known (constants at once, op outputs when evaluated).
    private var known: [Tensor?] = []
    private var pending: [Pending] = []

    init(context: PyNative) { self.context = context }

    mutating func apply(_ op: any OpDef, _ inputs: [Int]) throws(OpError) -> [Int] {
        let outTypes = try op.infer(inputs.map { types[$0] })
        let outputs = Array(types.count..<(types.count + outTypes.count))
        types += outTypes
        known += repeatElement(nil, count: outTypes.count)
        pending.append(Pending(op: op, name: context.namer.name(op.type), inputs: inputs, outputs: outputs))
        return outputs
    }

    func type(of value: Int) -> TensorType { types[value] }

    mutating func constant(_ tensor: Tensor) -> Int {
        known.append(tensor)
        types.append(tensor.type)
        return types.count - 1
    }

    mutating func pushScope(_ name: String) { context.namer.push(name) }
    mutating func popScope() { context.namer.pop() }

    /// Runs the recorded ops that `values` depend on, in recording order; returns their tensors.
    mutating func evaluate(_ values: [Int?]) throws(OpError) -> [Tensor?] {
        var needed = [Bool](repeating: false, count: types.count)
        for v in values { if let v { needed[v] = true } }
        var live = [Bool](repeating: false, count: pending.count)
        for (i, p) in pending.enumerated().reversed() where p.outputs.contains(where: { needed[$0] }) {
            live[i] = true
            for input in p.inputs { needed[input] = true }
        }
        for (i, p) in pending.enumerated() where live[i] {
            let outs = try context.run(p.op, p.inputs.map { known[$0]! }, name: p.name)
            for (id, t) in zip(p.outputs, outs) { known[id] = t }
        }
        return values.map { $0.map { known[$0]! } }
    }
}
