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
    fileprivate var tensors: [Tensor] = []
    fileprivate var base = 0

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
    ///
    /// While a step records the same ops as the last step that asked for gradients (same ops,
    /// names, types and wiring, and the op namer in the same state), the gradient program built
    /// then is run again instead of being built anew, as MindSpore's PyNative `GradExecutor`
    /// reuses an already-run top cell's gradient graph: the same ops with the same names run, so
    /// the values and the card's timeline are those of a fresh build.
    public func gradients(of loss: TapeValue, wrt: [TapeValue], lossScale: Float = 1) throws(OpError) -> [Tensor?] {
        guard loss.tensor.type == TensorType(.float32, []) else {
            throw OpError("gradients", "the loss must be a float32 scalar, got \(loss.tensor.type)")
        }
        let seed = Tensor(scalar: lossScale)
        if let program, program.matches(self, loss: loss.id, wrt: wrt) {
            gradientProgramReuses += 1
            var builder = program.builder
            builder.bind(seed: seed, tensors: tensors)
            context.namer = program.namerAfter
            return try builder.evaluate(program.grads)
        }
        let namerBefore = context.namer
        var builder = DeferredBuilder(context: context)
        _ = builder.constant(seed)  // value 0
        let ids = tensors.map { builder.constant($0) }  // tape id − base → builder value 1 + (id − base)
        let base = base
        let grads = try reverseMode(&builder, entries: entries, value: { ids[$0 - base] }, type: { self.tensors[$0 - base].type },
                                    loss: loss.id, seed: 0, wrt: wrt.map(\.id))
        program = GradientProgram(entries: entries, base: base, types: tensors.map(\.type), loss: loss.id - base,
                                  wrt: wrt.map { $0.id - base }, namerBefore: namerBefore, namerAfter: context.namer,
                                  builder: builder.unbound(tensors: tensors.count), grads: grads)
        return try builder.evaluate(grads)
    }

    /// How many `gradients` calls ran the last gradient program again instead of building one.
    private(set) var gradientProgramReuses = 0
    /// The gradient program `gradients` built last, and what it was built for.
    private var program: GradientProgram?

    /// Forgets the recorded ops (a new step).
    public func reset() {
        entries.removeAll(keepingCapacity: true)
        base += tensors.count
        tensors.removeAll(keepingCapacity: true)
    }
}

/// A gradient program and the recording it was built for (ids relative to the tape's base).
private struct GradientProgram {
    let entries: [TapeEntry]
    let base: Int
    let types: [TensorType]
    let loss: Int
    let wrt: [Int]
    let namerBefore: OpNamer
    let namerAfter: OpNamer
    /// The recorded gradient ops, with no tensor of the tape bound.
    let builder: DeferredBuilder
    let grads: [Int?]

    /// Whether `tape` recorded what this program was built for: the same ops (`OpDef.isSame(as:)`) with the
    /// same names, inputs and outputs, tensors of the same types, and the namer in the same state.
    func matches(_ tape: Tape, loss: Int, wrt: [TapeValue]) -> Bool {
        let offset = tape.base
        guard entries.count == tape.entries.count, types.count == tape.tensors.count, self.loss == loss - offset,
              self.wrt.count == wrt.count, zip(self.wrt, wrt).allSatisfy({ $0 == $1.id - offset }) else { return false }
        for (old, new) in zip(entries, tape.entries) {
            guard old.inputs.count == new.inputs.count, old.outputs.count == new.outputs.count,
                  zip(old.inputs, new.inputs).allSatisfy({ $0 - base == $1 - offset }),
                  zip(old.outputs, new.outputs).allSatisfy({ $0 - base == $1 - offset }),
                  old.name == new.name, old.op.isSame(as: new.op) else { return false }
        }
        return zip(types, tape.tensors).allSatisfy { $0 == $1.type } && namerBefore == tape.context.namer
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

    /// This builder with values 0 ... `tensors` (the seed and the tape's tensors) unbound, so that
    /// a kept program holds no step's tensors.
    func unbound(tensors: Int) -> DeferredBuilder {
        var copy = self
        for v in 0...tensors { copy.known[v] = nil }
        return copy
    }

    /// Binds value 0 to `seed` and values 1 ... to the tape's `tensors`.
    mutating func bind(seed: Tensor, tensors: [Tensor]) {
        known[0] = seed
        for (i, t) in tensors.enumerated() { known[1 + i] = t }
    }

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
