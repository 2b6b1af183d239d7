import NPUDevice
import NPUTensor

/// An op that runs across the cards of a cluster: the executor gathers its inputs from every card,
/// combines them once, gives every card its outputs, and runs the transfer on each card's
/// communication stream.
public protocol CollectiveOp: OpDef {
    /// The number of cards it spans.
    var cards: Int { get }
    /// Every card's outputs from every card's inputs (cards in ordinal order).
    func combine(_ perCard: [[Tensor]]) throws(OpError) -> [[Tensor]]
    /// Bytes each card sends over its link for inputs of these types.
    func linkBytes(_ inputs: [TensorType]) -> Double
}

/// A stand-in AllReduce that proves the executor's plumbing (the cards issue brings the real
/// algorithms): it adds every card's tensor in card order (0 + x₀ + x₁ + …, a fixed order) and
/// divides by the card count when `mean`, so every card gets the same bits. Its link traffic is a
/// ring AllReduce's: 2(N − 1)/N of the tensor per card.
public struct TestAllReduce: CollectiveOp {
    public let cards: Int
    public let mean: Bool
    public init(cards: Int, mean: Bool = true) {
        self.cards = cards
        self.mean = mean
    }
    public var type: String { "TestAllReduce" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 1)
        try expectFloat(inputs, 0, "x")
        guard cards >= 1 else { throw OpError(type, "spans \(cards) cards; a collective spans at least 1") }
        return inputs
    }

    /// On one card (a cluster of 1) the reduction of one contribution; with more cards the
    /// executor calls `combine`.
    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        guard cards == 1 else { throw OpError(type, "spans \(cards) cards; it runs only in a cluster's lockstep step") }
        return try combine([inputs])[0]
    }

    public func combine(_ perCard: [[Tensor]]) throws(OpError) -> [[Tensor]] {
        guard perCard.count == cards else { throw OpError(type, "spans \(cards) cards, got inputs from \(perCard.count)") }
        let n = perCard[0][0].count
        var total = [Float](repeating: 0, count: n)
        for card in perCard {
            let values = try! card[0].toArray(of: Float.self)
            for i in 0..<n { total[i] = total[i] + values[i] }
        }
        if mean { for i in 0..<n { total[i] = total[i] / Float(cards) } }
        let out = try! Tensor(shape: perCard[0][0].shape, values: total)
        return Array(repeating: [out], count: cards)
    }

    public func linkBytes(_ inputs: [TensorType]) -> Double {
        cards > 1 ? 2 * Double(cards - 1) / Double(cards) * Double(inputs[0].shape.count * inputs[0].dtype.size) : 0
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { elementwiseWork(inputs, outputs) }
}
