import NPUOps
import NPUTensor

/// A tensor PyNative training tracks: its value and its id on the tape.
public struct TapeValue {
    public let id: Int
    public let tensor: Tensor
}

/// PyNative training: ops run at once through a `PyNative` context and are recorded, so that
/// `gradients` can differentiate them with the same reverse mode graph mode uses (gradient ops
/// run eagerly, in the same order as the gradient nodes of a graph).
public final class Tape {
    public let context: PyNative
    private(set) var entries: [TapeEntry] = []
    private var tensors: [Int: Tensor] = [:]
    private var nextID = 0

    public init(context: PyNative) { self.context = context }

    /// Starts tracking `tensor` (a parameter or an input).
    public func watch(_ tensor: Tensor) -> TapeValue {
        defer { nextID += 1 }
        tensors[nextID] = tensor
        return TapeValue(id: nextID, tensor: tensor)
    }

    /// Runs `op` now and records it.
    public func run(_ op: any OpDef, _ inputs: [TapeValue]) throws(OpError) -> [TapeValue] {
        let outputs = try context.run(op, inputs.map(\.tensor)).map(watch)
        entries.append(TapeEntry(op: op, inputs: inputs.map(\.id), outputs: outputs.map(\.id)))
        return outputs
    }

    /// d`loss`/d`wrt`, computed eagerly.
    public func gradients(of loss: TapeValue, wrt: [TapeValue], lossScale: Float = 1) throws(OpError) -> [Tensor?] {
        guard loss.tensor.type == TensorType(.float32, []) else {
            throw OpError("gradients", "the loss must be a float32 scalar, got \(loss.tensor.type)")
        }
        var builder = TapeBuilder(tape: self)
        let seed = builder.constant(Tensor(scalar: lossScale))
        let tensors = self.tensors
        return try reverseMode(&builder, entries: entries, value: { TapeValue(id: $0, tensor: tensors[$0]!) },
                               type: { tensors[$0]!.type }, loss: loss.id, seed: seed, wrt: wrt.map(\.id)).map { $0?.tensor }
    }

    /// Forgets the recorded ops (a new step).
    public func reset() {
        entries.removeAll(keepingCapacity: true)
        tensors.removeAll(keepingCapacity: true)
    }
}

/// The gradient builder of a tape: gradient ops run at once and are not recorded.
struct TapeBuilder: GradBuilder {
    let tape: Tape

    mutating func apply(_ op: any OpDef, _ inputs: [TapeValue]) throws(OpError) -> [TapeValue] {
        try tape.context.run(op, inputs.map(\.tensor)).map { tape.watch($0) }
    }

    func type(of value: TapeValue) -> TensorType { value.tensor.type }

    mutating func constant(_ tensor: Tensor) -> TapeValue { tape.watch(tensor) }
}
