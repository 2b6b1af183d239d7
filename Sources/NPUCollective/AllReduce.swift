import NPUDevice
import NPUKernels
import NPUOps
import NPUTensor

/// How an AllReduce moves and adds the cards' contributions (Docs/Collectives.md).
public enum AllReduceAlgorithm: String, CaseIterable, Hashable, Sendable {
    /// Reduce-scatter then all-gather around a ring: chunk c is added along the ring
    /// c+1, c+2, …, c (mod N), then passed on. 2(N − 1) hops of 1/N of the data.
    case ring
    /// Full mesh (an 8-card HCCS board): the owner of chunk c receives every card's chunk at once
    /// and adds them; then everyone gathers. Two phases of (N − 1)/N of the data.
    case mesh
    /// Two levels for clusters of several servers: a mesh inside each server, a ring between the
    /// servers' partial sums, then the results spread inside each server again.
    case hierarchical

    /// What HCCL picks: a mesh on one board, two levels beyond it.
    public static func auto(cards: Int, cardsPerServer: Int) -> AllReduceAlgorithm {
        cards <= max(cardsPerServer, 1) ? .mesh : .hierarchical
    }
}

/// `AllReduce` (sum, with `mean` MindSpore's gradients_mean: divided by the card count) of one or
/// more float32 tensors, fused into one buffer as HCCL fuses a bucket of gradients. Every card
/// gets the same bits. The summation order of each chunk follows the policy of op type
/// `AllReduce`: `on`, the algorithm's fixed order (the same result on the same topology);
/// `off`, an arrival order drawn per chunk from the order source; `strict`, the exact sum rounded
/// once, whatever the algorithm and the card count.
public struct AllReduce: CollectiveOp, Equatable {
    public let cards: Int
    public let algorithm: AllReduceAlgorithm
    public let mean: Bool
    /// Cards per server (the hierarchical algorithm's groups).
    public let cardsPerServer: Int

    /// Under `strict`, for each reduced tensor the op that made it when it can add its terms
    /// exactly (`ExactTerms`), how many inputs it takes and which of its outputs the tensor is:
    /// those inputs follow the reduced tensors among the node's inputs, so every card's terms
    /// are added exactly and rounded once. `scale` is what the tensor is its producer's output
    /// times (a loss scale's power-of-two unscale in between), applied after the rounded sum as
    /// the one-card step applies it.
    public let exact: [(op: any ExactTerms, arity: Int, output: Int, scale: Float)?]

    public init(cards: Int, algorithm: AllReduceAlgorithm, mean: Bool = false, cardsPerServer: Int = 8,
                exact: [(op: any ExactTerms, arity: Int, output: Int, scale: Float)?] = []) {
        self.cards = cards
        self.algorithm = algorithm
        self.mean = mean
        self.cardsPerServer = max(1, cardsPerServer)
        self.exact = exact
    }

    /// What each sum is divided by: the card count for a mean, else 1.
    var divisor: Float { mean ? Float(cards) : 1 }

    /// The number of tensors reduced (the node's other inputs are exact terms).
    func reducedCount(_ inputs: Int) -> Int { exact.isEmpty ? inputs : exact.count }

    public var type: String { "AllReduce" }
    public static func == (a: Self, b: Self) -> Bool {
        guard a.cards == b.cards, a.algorithm == b.algorithm, a.mean == b.mean, a.cardsPerServer == b.cardsPerServer,
              a.exact.count == b.exact.count else { return false }
        return zip(a.exact, b.exact).allSatisfy { x, y in
            guard let x, let y else { return x == nil && y == nil }
            return x.op.isSame(as: y.op) && x.arity == y.arity && x.output == y.output && x.scale == y.scale
        }
    }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        guard !inputs.isEmpty else { throw OpError(type, "takes at least 1 tensor, got 0") }
        let t = reducedCount(inputs.count)
        guard inputs.count == t + exact.reduce(0, { $0 + ($1?.arity ?? 0) }) else {
            throw OpError(type, "takes \(t) tensors and their exact terms' inputs, got \(inputs.count) inputs")
        }
        for k in 0..<t where inputs[k].dtype != .float32 {
            throw OpError(type, "input \(k) is \(inputs[k]); AllReduce adds float32 tensors")
        }
        guard cards >= 1 else { throw OpError(type, "spans \(cards) cards; a collective spans at least 1") }
        return Array(inputs.prefix(t))
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        guard cards == 1 else { throw OpError(type, "spans \(cards) cards; it runs only in a cluster's lockstep step") }
        return try combine([inputs], ctx)[0]
    }

    public func combine(_ all: [[Tensor]], _ ctx: KernelContext) throws(OpError) -> [[Tensor]] {
        guard all.count == cards else { throw OpError(type, "spans \(cards) cards, got inputs from \(all.count)") }
        let perCard = all.map { Array($0.prefix(reducedCount($0.count))) }
        let n = perCard[0].reduce(0) { $0 + $1.count }
        guard perCard.allSatisfy({ $0.reduce(0) { $0 + $1.count } == n }) else { throw OpError(type, "the cards' tensors differ in size") }
        let rows = Self.rows(perCard)
        defer { withExtendedLifetime(perCard) {} }
        let policy = ctx.planner.policy(for: type)
        if policy != .strict && cards > 1 {
            // The ordered sums go straight into the output tensors, one segment each.
            let outputs = perCard[0].map { Tensor(unfilled: $0.shape, dtype: .float32) }
            var out = Out(segments: []), start = 0
            for t in outputs {
                out.segments.append((start, t.count, t.storage.pointer.assumingMemoryBound(to: Float.self)))
                start += t.count
            }
            switch algorithm {
            case .ring: ring(rows, out, ctx.planner)
            case .mesh: mesh(rows, out, ctx.planner)
            case .hierarchical: hierarchical(rows, out, ctx.planner)
            }
            return withExtendedLifetime(outputs) { Array(repeating: outputs, count: cards) }
        }
        var total = [Float](repeating: 0, count: n)
        Self.exactSum(rows, into: &total, divisor: divisor)
        if !exact.isEmpty { addExactTerms(all, into: &total) }
        // The buffer back into the tensors' shapes.
        var outputs: [Tensor] = []
        var offset = 0
        for t in perCard[0] {
            var out = Tensor(unfilled: t.shape, dtype: .float32)
            out.withUnsafeMutableBytes { dst in total.withUnsafeBytes { src in
                if t.count > 0 { dst.baseAddress!.copyMemory(from: src.baseAddress! + offset * 4, byteCount: t.count * 4) }
            } }
            outputs.append(out)
            offset += t.count
        }
        return Array(repeating: outputs, count: cards)
    }

    /// Replaces the exact sums of rounded tensors by the exact sums of their terms, for the
    /// tensors whose producers gave them: every card's terms into one accumulator per element,
    /// rounded once.
    func addExactTerms(_ all: [[Tensor]], into total: inout [Float]) {
        let t = exact.count
        var offset = 0, input = t
        for (k, slot) in exact.enumerated() {
            let count = all[0][k].count
            defer { offset += count }
            guard let (op, arity, output, scale) = slot else { continue }
            defer { input += arity }
            let acc = UnsafeMutablePointer<npu_exact>.allocate(capacity: max(count, 1))
            defer { acc.deallocate() }
            for e in 0..<count { npu_exact_init(acc + e) }
            // Every card's terms, or (if one card's cannot) the rounded tensors' exact sum stays.
            guard all.allSatisfy({ op.addExactTerms(Array($0[input..<(input + arity)]), output: output, into: acc) }) else { continue }
            for e in 0..<count { total[offset + e] = npu_exact_round_f32(acc + e) / divisor * scale }
        }
    }

    /// Every card's tensors as one row of `n` elements each (a fused bucket), read in place:
    /// segment j is tensor j on every card. The tensors must outlive the rows.
    static func rows(_ perCard: [[Tensor]]) -> Rows {
        var segments: [Rows.Segment] = [], start = 0
        var keep: [Tensor] = []
        for j in perCard[0].indices {
            let pointers = perCard.map { card -> UnsafePointer<Float>? in
                var t = card[j]
                if !t.isContiguous { t = t.contiguous(); keep.append(t) }  // a strided view: read a copy
                return UnsafePointer((t.storage.pointer + t.offset * 4).assumingMemoryBound(to: Float.self))
            }
            segments.append(Rows.Segment(start: start, length: perCard[0][j].count, rows: pointers))
            start += perCard[0][j].count
        }
        return Rows(count: perCard.count, width: start, segments: segments, keep: keep)
    }

    /// Contributions, one row per card, each `width` elements laid out in segments.
    struct Rows {
        struct Segment {
            /// Elements [start, start + length) of every row, row r's at rows[r][0..<length].
            var start: Int
            var length: Int
            var rows: [UnsafePointer<Float>?]
        }
        var count: Int
        var width: Int
        var segments: [Segment]
        /// Copies the pointers read from (kept alive with the rows).
        var keep: [Tensor] = []
    }

    /// Chunk c of `count` chunks over `n` elements.
    static func chunk(_ c: Int, of count: Int, _ n: Int) -> Range<Int> { (c * n / count)..<((c + 1) * n / count) }

    /// Where sums go: elements [start, start + length) at pointer[0..<length], per segment.
    struct Out {
        var segments: [(start: Int, length: Int, pointer: UnsafeMutablePointer<Float>)]
    }

    /// The contributions in `order`, left to right (the first as it is), for each element of
    /// `range`, written to `out` (whose segments may split the elements differently).
    static func add(_ rows: Rows, order: [Int], _ range: Range<Int>, into out: Out, divisor: Float = 1) {
        guard !order.isEmpty, !range.isEmpty else { return }
        let o = order.map(Int32.init)
        for s in rows.segments {
            for d in out.segments {
                let lo = max(range.lowerBound, s.start, d.start), hi = min(range.upperBound, s.start + s.length, d.start + d.length)
                guard lo < hi else { continue }
                if d.start == s.start {
                    s.rows.withUnsafeBufferPointer { r in npu_sum_ptrs_ordered_f32(d.pointer, r.baseAddress!, o, o.count, lo - s.start, hi - s.start, divisor) }
                } else {
                    let shifted = s.rows.map { $0.map { $0 + (lo - s.start) } }
                    shifted.withUnsafeBufferPointer { r in npu_sum_ptrs_ordered_f32(d.pointer + (lo - d.start), r.baseAddress!, o, o.count, 0, hi - lo, divisor) }
                }
            }
        }
    }

    /// `add` into one buffer of every element.
    static func add(_ rows: Rows, order: [Int], _ range: Range<Int>, into total: inout [Float], divisor: Float = 1) {
        let n = total.count
        total.withUnsafeMutableBufferPointer { t in
            guard let base = t.baseAddress else { return }
            add(rows, order: order, range, into: Out(segments: [(0, n, base)]), divisor: divisor)
        }
    }

    /// The exact sum of every contribution, rounded once (the `strict` result).
    static func exactSum(_ rows: Rows, into total: inout [Float], divisor: Float = 1) {
        guard rows.width > 0 else { return }
        // Segment by segment, every card's buffer read in place.
        total.withUnsafeMutableBufferPointer { t in
            for s in rows.segments where s.length > 0 {
                s.rows.withUnsafeBufferPointer { p in npu_exact_sum_rows_f32(t.baseAddress! + s.start, p.baseAddress!, rows.count, s.length, divisor) }
            }
        }
    }

    func ring(_ buffers: Rows, _ total: Out, _ planner: ReductionPlanner) {
        let n = buffers.width
        let orders = planner.collectiveOrders(op: type, site: "ring", contributions: cards, chunks: cards)
        for c in 0..<cards {
            let order = orders.map { o in o[(c * cards)..<((c + 1) * cards)].map(Int.init) } ?? (1...cards).map { (c + $0) % cards }
            Self.add(buffers, order: order, Self.chunk(c, of: cards, n), into: total, divisor: divisor)
        }
    }

    func mesh(_ buffers: Rows, _ total: Out, _ planner: ReductionPlanner) {
        let n = buffers.width
        let orders = planner.collectiveOrders(op: type, site: "mesh", contributions: cards, chunks: cards)
        for c in 0..<cards {
            // The owner's own chunk first, then what arrives, in rank order under `on`.
            let order = orders.map { o in o[(c * cards)..<((c + 1) * cards)].map(Int.init) } ?? [c] + (0..<cards).filter { $0 != c }
            Self.add(buffers, order: order, Self.chunk(c, of: cards, n), into: total, divisor: divisor)
        }
    }

    func hierarchical(_ buffers: Rows, _ total: Out, _ planner: ReductionPlanner) {
        let n = buffers.width, s = min(cardsPerServer, cards)
        let servers = (cards + s - 1) / s
        let members = (0..<servers).map { g in Array((g * s)..<min(cards, (g + 1) * s)) }
        // Level 1: each server's mesh sums its cards for chunk j (owned by local rank j).
        let intra = planner.collectiveOrders(op: type, site: "hierarchical.server", contributions: s, chunks: servers * s)
        let partials = UnsafeMutablePointer<Float>.allocate(capacity: max(servers * n, 1))
        defer { partials.deallocate() }
        let partial = Rows(count: servers, width: n, segments: [Rows.Segment(start: 0, length: n, rows: (0..<servers).map { Optional(UnsafePointer(partials + $0 * n)) })])
        for g in 0..<servers {
            let sums = Out(segments: [(0, n, partials + g * n)])  // every chunk j is written
            let local = members[g]
            for j in 0..<s {
                let range = Self.chunk(j, of: s, n)
                let order: [Int]
                if let intra {
                    order = intra[((g * s + j) * s)..<((g * s + j + 1) * s)].map(Int.init).filter { $0 < local.count }.map { local[$0] }
                } else {
                    order = ([j] + (0..<local.count).filter { $0 != j }).filter { $0 < local.count }.map { local[$0] }
                }
                Self.add(buffers, order: order, range, into: sums)
            }
        }
        // Level 2: a ring between the servers over each sub-chunk of the server chunks.
        let inter = planner.collectiveOrders(op: type, site: "hierarchical.ring", contributions: servers, chunks: s * servers)
        for j in 0..<s {
            let range = Self.chunk(j, of: s, n)
            for c in 0..<servers {
                let sub = (range.lowerBound + c * range.count / servers)..<(range.lowerBound + (c + 1) * range.count / servers)
                let k = j * servers + c
                let order = inter.map { o in o[(k * servers)..<((k + 1) * servers)].map(Int.init) } ?? (1...servers).map { (c + $0) % servers }
                Self.add(partial, order: order, sub, into: total, divisor: divisor)
            }
        }
    }

    public func transfers(_ inputs: [TensorType], cardsPerServer: Int, board: LinkType) -> [LinkHop] {
        let bytes = Double(inputs.prefix(reducedCount(inputs.count)).reduce(0) { $0 + $1.shape.count * $1.dtype.size })
        guard cards > 1 else { return [] }
        let n = Double(cards)
        switch algorithm {
        case .ring:
            let link: LinkType = cards > cardsPerServer ? .interServer : board
            return Array(repeating: LinkHop(bytes: bytes / n, link: link), count: 2 * (cards - 1))
        case .mesh:
            let link: LinkType = cards > cardsPerServer ? .interServer : board
            return Array(repeating: LinkHop(bytes: bytes * (n - 1) / n, link: link), count: 2)
        case .hierarchical:
            let s = min(self.cardsPerServer, cards), servers = (cards + s - 1) / s
            let local = LinkHop(bytes: bytes * Double(s - 1) / Double(s), link: board)
            let ring = Array(repeating: LinkHop(bytes: bytes / Double(s * servers), link: .interServer), count: 2 * (servers - 1))
            return [local] + ring + [local]
        }
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { elementwiseWork(outputs, outputs) }
}
