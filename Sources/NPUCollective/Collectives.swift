import NPUDevice
import NPUKernels
import NPUOps
import NPUTensor

/// `ReduceScatter` (sum): every card's float32 tensor of N·m rows; card k gets rows k·m..<(k+1)·m
/// of the sum. Its chunk is added around the ring (k+1, …, k) under `on`, in an arrival order
/// drawn per chunk under `off`, exactly under `strict`. N − 1 hops of 1/N of the data.
public struct ReduceScatter: CollectiveOp, Equatable {
    public let cards: Int
    public init(cards: Int) { self.cards = cards }
    public var type: String { "ReduceScatter" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 1)
        guard inputs[0].dtype == .float32, inputs[0].shape.rank >= 1 else { throw OpError(type, "takes a float32 tensor of rank ≥ 1, got \(inputs[0])") }
        guard cards >= 1, inputs[0].shape[0] % cards == 0 else {
            throw OpError(type, "the first axis (\(inputs[0].shape[0])) must split evenly over \(cards) cards")
        }
        return [TensorType(.float32, Shape([inputs[0].shape[0] / cards] + inputs[0].shape.dims.dropFirst()))]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        guard cards == 1 else { throw OpError(type, "spans \(cards) cards; it runs only in a cluster's lockstep step") }
        return try combine([inputs], ctx)[0]
    }

    public func combine(_ perCard: [[Tensor]], _ ctx: KernelContext) throws(OpError) -> [[Tensor]] {
        guard perCard.count == cards else { throw OpError(type, "spans \(cards) cards, got inputs from \(perCard.count)") }
        let buffers = AllReduce.rows(perCard)
        defer { withExtendedLifetime(perCard) {} }
        let n = buffers.width
        var total = [Float](repeating: 0, count: n)
        if ctx.planner.policy(for: type) == .strict || cards == 1 {
            AllReduce.exactSum(buffers, into: &total)
        } else {
            let orders = ctx.planner.collectiveOrders(op: type, site: "ring", contributions: cards, chunks: cards)
            for c in 0..<cards {
                let order = orders.map { o in o[(c * cards)..<((c + 1) * cards)].map(Int.init) } ?? (1...cards).map { (c + $0) % cards }
                AllReduce.add(buffers, order: order, AllReduce.chunk(c, of: cards, n), into: &total)
            }
        }
        let shape = Shape([perCard[0][0].shape[0] / cards] + perCard[0][0].shape.dims.dropFirst())
        return (0..<cards).map { k in [try! Tensor(shape: shape, values: Array(total[AllReduce.chunk(k, of: cards, n)]))] }
    }

    public func transfers(_ inputs: [TensorType], cardsPerServer: Int, board: LinkType) -> [LinkHop] {
        let bytes = Double(inputs[0].shape.count * inputs[0].dtype.size)
        return Array(repeating: LinkHop(bytes: bytes / Double(cards), link: cards > cardsPerServer ? .interServer : board), count: max(0, cards - 1))
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { elementwiseWork(inputs, inputs) }
}

/// `AllGather`: every card's tensor concatenated along the first axis, in card order, on every
/// card (no arithmetic: the same bits under every policy). N − 1 hops of one card's data.
public struct AllGather: CollectiveOp, Equatable {
    public let cards: Int
    public init(cards: Int) { self.cards = cards }
    public var type: String { "AllGather" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 1)
        guard inputs[0].shape.rank >= 1, cards >= 1 else { throw OpError(type, "takes a tensor of rank ≥ 1, got \(inputs[0])") }
        return [TensorType(inputs[0].dtype, Shape([inputs[0].shape[0] * cards] + inputs[0].shape.dims.dropFirst()))]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        guard cards == 1 else { throw OpError(type, "spans \(cards) cards; it runs only in a cluster's lockstep step") }
        return inputs
    }

    public func combine(_ perCard: [[Tensor]], _ ctx: KernelContext) throws(OpError) -> [[Tensor]] {
        guard perCard.count == cards else { throw OpError(type, "spans \(cards) cards, got inputs from \(perCard.count)") }
        let first = perCard[0][0]
        var out = Tensor(unfilled: Shape([first.shape[0] * cards] + first.shape.dims.dropFirst()), dtype: first.dtype)
        let size = first.byteCount
        out.withUnsafeMutableBytes { dst in
            for (k, card) in perCard.enumerated() {
                card[0].withUnsafeBytes { src in if size > 0 { (dst.baseAddress! + k * size).copyMemory(from: src.baseAddress!, byteCount: size) } }
            }
        }
        return Array(repeating: [out], count: cards)
    }

    public func transfers(_ inputs: [TensorType], cardsPerServer: Int, board: LinkType) -> [LinkHop] {
        let bytes = Double(inputs[0].shape.count * inputs[0].dtype.size)
        return Array(repeating: LinkHop(bytes: bytes, link: cards > cardsPerServer ? .interServer : board), count: max(0, cards - 1))
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { elementwiseWork(outputs, outputs, flopsPerElement: 0) }
}

/// `Broadcast` from card `root`: every card gets the root's tensor (MindSpore broadcasts the
/// initial parameters this way). A binary tree: ⌈log₂ N⌉ hops of the whole tensor.
public struct Broadcast: CollectiveOp, Equatable {
    public let cards: Int
    public let root: Int
    public init(cards: Int, root: Int = 0) {
        self.cards = cards
        self.root = root
    }
    public var type: String { "Broadcast" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 1)
        guard (0..<max(cards, 1)).contains(root) else { throw OpError(type, "root \(root) is not one of the \(cards) cards") }
        return inputs
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        guard cards == 1 else { throw OpError(type, "spans \(cards) cards; it runs only in a cluster's lockstep step") }
        return inputs
    }

    public func combine(_ perCard: [[Tensor]], _ ctx: KernelContext) throws(OpError) -> [[Tensor]] {
        guard perCard.count == cards else { throw OpError(type, "spans \(cards) cards, got inputs from \(perCard.count)") }
        return Array(repeating: [perCard[root][0]], count: cards)
    }

    public func transfers(_ inputs: [TensorType], cardsPerServer: Int, board: LinkType) -> [LinkHop] {
        let bytes = Double(inputs[0].shape.count * inputs[0].dtype.size)
        var hops = 0
        while 1 << hops < cards { hops += 1 }
        return Array(repeating: LinkHop(bytes: bytes, link: cards > cardsPerServer ? .interServer : board), count: hops)
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { elementwiseWork(inputs, outputs, flopsPerElement: 0) }
}

/// A collective for the `ops` listing: what it does, the sites whose summation order the policy
/// sets, and whether `off` makes it nondeterministic.
public struct CollectiveInfo: Sendable {
    public var type: String
    public var summary: String
    public var orderSites: [String]
    public var nondeterministicUnderOff: Bool { !orderSites.isEmpty }
}

/// The collectives of NPUCollective.
public let collectiveCatalog: [CollectiveInfo] = [
    CollectiveInfo(type: "AllReduce", summary: "sum (or mean) of every card's tensors on every card: ring, mesh or hierarchical",
                   orderSites: ["ring", "mesh", "hierarchical.server", "hierarchical.ring"]),
    CollectiveInfo(type: "ReduceScatter", summary: "sum of every card's tensor, card k keeping its 1/N of the first axis", orderSites: ["ring"]),
    CollectiveInfo(type: "AllGather", summary: "every card's tensor concatenated along the first axis, on every card", orderSites: []),
    CollectiveInfo(type: "Broadcast", summary: "the root card's tensor on every card", orderSites: []),
]
