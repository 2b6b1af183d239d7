import NPUOps
import NPUTensor

/// One op application recorded for differentiation: value ids of its inputs and outputs.
public struct TapeEntry {
    public var op: any OpDef
    /// The op instance's name (`fc1/MatMul`); its gradient ops are named under `Gradients/<name>`.
    public var name: String
    public var inputs: [Int]
    public var outputs: [Int]

    public init(op: any OpDef, name: String, inputs: [Int], outputs: [Int]) {
        self.op = op
        self.name = name
        self.inputs = inputs
        self.outputs = outputs
    }
}

/// Reverse-mode differentiation over recorded entries, written once for both modes: the
/// gradient ops are applied through `b` (a graph gains nodes; PyNative runs them at once).
/// Gradients of a value used several times are summed with Add, in the order the uses are met
/// walking backwards, so both modes add them identically. The gradient ops of an entry are named
/// in scope `Gradients/<entry name>` in both modes.
/// - Parameters:
///   - value: the builder value of an id; `type`: its type.
///   - seed: the gradient of the loss with respect to itself (ones, or the loss scale).
/// - Returns: the gradient of each `wrt` id (nil if the loss does not depend on it).
public func reverseMode<B: GradBuilder>(_ b: inout B, entries: [TapeEntry], value: (Int) -> B.Value, type: (Int) -> TensorType,
                                        loss: Int, seed: B.Value, wrt: [Int]) throws(OpError) -> [B.Value?] {
    // Which ids depend on a wrt id: only their gradients are needed.
    var needed = Set(wrt)
    for e in entries where e.inputs.contains(where: needed.contains) { needed.formUnion(e.outputs) }
    guard needed.contains(loss) else { return wrt.map { _ in nil } }
    var grads: [Int: B.Value] = [loss: seed]
    for e in entries.reversed() {
        guard e.outputs.contains(where: { grads[$0] != nil }), e.inputs.contains(where: needed.contains) else { continue }
        let outGrads = e.outputs.map { id -> B.Value in
            if let g = grads[id] { return g }
            let t = type(id)
            return b.constant(Tensor(zeros: t.shape, dtype: t.dtype))
        }
        b.pushScope("Gradients/" + e.name)
        defer { b.popScope() }
        let inGrads = try e.op.backward(&b, e.inputs.map(value), e.outputs.map(value), outGrads)
        for (id, g) in zip(e.inputs, inGrads) {
            guard let g, needed.contains(id) else { continue }
            if let existing = grads[id] {
                grads[id] = try b.apply(Add(), [existing, g])[0]
            } else {
                grads[id] = g
            }
        }
    }
    return wrt.map { grads[$0] }
}

extension Graph {
    /// Id of a graph value for `reverseMode`.
    func id(_ v: GraphValue) -> Int { v.node * 64 + v.index }
    func value(_ id: Int) -> GraphValue { GraphValue(node: id / 64, index: id % 64) }

    /// Adds the nodes computing d`loss`/d`wrt` (reverse mode over the ops added so far).
    /// - Throws: `OpError` when `loss` is not a float32 scalar or a backward rule fails.
    public mutating func gradients(of loss: GraphValue, wrt: [GraphValue], lossScale: Float = 1) throws(OpError) -> [GraphValue?] {
        try gradients(of: loss, wrt: wrt, seed: constant(Tensor(scalar: lossScale)))
    }

    /// The same with the loss's gradient `seed`, a float32 scalar value of the graph (a loss
    /// scale that changes from step to step).
    public mutating func gradients(of loss: GraphValue, wrt: [GraphValue], seed: GraphValue) throws(OpError) -> [GraphValue?] {
        guard type(of: seed) == TensorType(.float32, []) else {
            throw OpError("gradients", "the seed must be a float32 scalar, got \(type(of: seed))")
        }
        guard type(of: loss) == TensorType(.float32, []) else {
            throw OpError("gradients", "the loss must be a float32 scalar, got \(type(of: loss)) from \(nodes[loss.node].name)")
        }
        let entries = nodes.enumerated().compactMap { index, node -> TapeEntry? in
            guard case .op(let op) = node.kind else { return nil }
            return TapeEntry(op: op, name: node.name, inputs: node.inputs.map(id), outputs: node.outputTypes.indices.map { index * 64 + $0 })
        }
        let snapshot = self
        let found = try reverseMode(&self, entries: entries, value: snapshot.value, type: { snapshot.type(of: snapshot.value($0)) },
                                    loss: id(loss), seed: seed, wrt: wrt.map(id))
        gradientValues += found.compactMap { $0 }
        return found
    }
}
