import NPUDevice
import NPUTensor

/// An op that runs across the cards of a cluster: the executor gathers its inputs from every card,
/// combines them once, gives every card its outputs, and runs the transfer on each card's
/// communication stream.
public protocol CollectiveOp: OpDef {
    /// The number of cards it spans.
    var cards: Int { get }
    /// Every card's outputs from every card's inputs (cards in ordinal order). `ctx.planner` gives
    /// the policy and, under `off`, the summation orders (keyed like every reduction's: by the
    /// order seed, the op instance, the site and the step).
    func combine(_ perCard: [[Tensor]], _ ctx: KernelContext) throws(OpError) -> [[Tensor]]
    /// The link transfers one card makes for inputs of these types, in order: one entry per hop,
    /// its bytes and the link it crosses (`cardsPerServer` cards share a board joined by `board`;
    /// servers are joined by RoCE).
    func transfers(_ inputs: [TensorType], cardsPerServer: Int, board: LinkType) -> [LinkHop]
}

/// One hop of a collective on one card's link.
public struct LinkHop: Hashable, Sendable {
    public var bytes: Double
    public var link: LinkType
    public init(bytes: Double, link: LinkType) {
        self.bytes = bytes
        self.link = link
    }
}
