import NPUDevice
import NPUOps
import NPUTensor

/// The cards of one cluster split between processes (MPI ranks, `npusim run` under `mpirun`):
/// this process computes a contiguous block of the cards and holds the others as ghosts, whose
/// kernels launch (so every card's timeline is simulated everywhere) but whose values live in
/// the process that computes them. At a collective every process hands over its cards' inputs
/// and every process combines all of them in the planned order, so each card's bits are the
/// one-process run's.
public protocol CardExchange: AnyObject, Sendable {
    /// The cards this process computes.
    var localCards: Range<Int> { get }
    /// An all-gather: this process sends `count` bytes, which `fill` writes; `read` then sees
    /// every process's bytes in the order of their card blocks (views valid only inside `read`).
    /// `what` names the exchange (the collective and step) in errors.
    /// - Throws: when the exchange fails or a process stopped; what `read` throws.
    func exchange(sending count: Int, fill: (UnsafeMutableRawBufferPointer) -> Void, what: String,
                  read: ([UnsafeRawBufferPointer]) throws -> Void) throws
}

extension CardExchange {
    /// Every process's `bytes`, in the order of their card blocks.
    public func allGather(_ bytes: [UInt8], what: String) throws -> [[UInt8]] {
        var parts: [[UInt8]] = []
        try exchange(sending: bytes.count, fill: { out in bytes.withUnsafeBytes { if $0.count > 0 { out.copyMemory(from: $0) } } }, what: what) { views in
            parts = views.map { [UInt8]($0) }
        }
        return parts
    }

    /// Every card's tensors of the given types from this process's cards' `local` (in card
    /// order): the others' arrive as raw bytes, their types known from the program. One copy
    /// each way: tensors into the exchange's buffer, received bytes into new tensors (this
    /// process's own cards keep their tensors).
    func gather(_ local: [[Tensor]], types: [TensorType], cards: Int, what: String) throws -> [[Tensor]] {
        let flat = local.flatMap { $0 }
        let perCard = types.reduce(0) { $0 + $1.shape.count * $1.dtype.size }
        if perCard == 0 {
            try exchange(sending: 0, fill: { _ in }, what: what) { _ in }
            return Array(repeating: types.map { Tensor(zeros: $0.shape, dtype: $0.dtype) }, count: cards)
        }
        var all: [[Tensor]] = []
        try exchange(sending: flat.reduce(0) { $0 + $1.byteCount }, fill: { out in
            var at = 0
            for t in flat {
                t.withUnsafeBytes { src in
                    if src.count > 0 { (out.baseAddress! + at).copyMemory(from: src.baseAddress!, byteCount: src.count) }
                    at += src.count
                }
            }
        }, what: what) { parts in
            for part in parts {
                guard part.count % perCard == 0 else {
                    throw GraphError("\(what): a process sent \(part.count) bytes, not a whole number of cards of \(perCard) bytes")
                }
                var at = 0
                for _ in 0..<part.count / perCard {
                    // This process's own cards: their tensors as they are, not copies of the bytes sent.
                    let card = all.count
                    if localCards.contains(card), card - localCards.lowerBound < local.count {
                        all.append(local[card - localCards.lowerBound])
                        at += perCard
                        continue
                    }
                    all.append(types.map { type in
                        var t = Tensor(unfilled: type.shape, dtype: type.dtype)
                        let n = type.shape.count * type.dtype.size
                        t.withUnsafeMutableBytes { dst in dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: part[at..<at + n])) }
                        at += n
                        return t
                    })
                }
            }
        }
        guard all.count == cards else { throw GraphError("\(what): the processes hold \(all.count) cards, the cluster has \(cards)") }
        return all
    }
}

extension CardExchange {
    /// Gives every ghost card's recorded tasks what the process that computed the card recorded:
    /// the host's wall time and the reduction plans of each launch (the timelines themselves are
    /// simulated alike everywhere). Every process calls it at the same point.
    /// - Throws: what the exchange throws; `GraphError` when the processes' timelines differ.
    public func shareRecordings(_ devices: [Device]) throws {
        var w = ByteWriter()
        for k in localCards {
            let timeline = devices[k].timeline
            w.int(timeline.count)
            for record in timeline {
                guard let info = record.info else { w.int(-1); continue }
                w.int(info.plans.count)
                w.int(Int(info.hostSeconds.bitPattern))
                for p in info.plans {
                    w.string(p.site)
                    w.string(p.policy)
                    w.ints(p.blockSizes)
                    w.int(p.tileSize)
                    w.ints(p.order.map(Int.init))
                }
            }
        }
        let parts = try allGather(w.bytes, what: "the recorded plans for the profile")
        var card = 0
        for part in parts {
            var r = ByteReader(bytes: part)
            while !r.atEnd {
                guard card < devices.count else { throw GraphError("the processes recorded more cards than the cluster has") }
                let count = try r.int()
                var recordings: [(Double, [PlanRecord])?] = []
                for _ in 0..<max(0, count) {
                    let plans = try r.int()
                    guard plans >= 0 else { recordings.append(nil); continue }
                    let seconds = Double(bitPattern: UInt64(bitPattern: Int64(try r.int())))
                    var list: [PlanRecord] = []
                    for _ in 0..<plans {
                        list.append(PlanRecord(site: try r.string(), policy: try r.string(), blockSizes: try r.ints(), tileSize: try r.int(),
                                               order: try r.ints().map { Int32(truncatingIfNeeded: $0) }))
                    }
                    recordings.append((seconds, list))
                }
                if !localCards.contains(card) {
                    guard recordings.count == devices[card].timeline.count else {
                        throw GraphError("card \(card)'s timeline has \(devices[card].timeline.count) tasks here and \(recordings.count) where it was computed")
                    }
                    var i = 0
                    devices[card].amendTimeline { record in
                        defer { i += 1 }
                        guard let (seconds, plans) = recordings[i] else { return }
                        record.info?.hostSeconds = seconds
                        record.info?.plans = plans
                    }
                }
                card += 1
            }
        }
    }
}

/// Little-endian 64-bit integers, length-prefixed strings and byte runs: what processes exchange
/// about their cards and runs.
public struct ByteWriter {
    public private(set) var bytes: [UInt8] = []
    public init() {}
    public mutating func int(_ v: Int) { withUnsafeBytes(of: Int64(v).littleEndian) { bytes += $0 } }
    public mutating func ints(_ v: [Int]) {
        int(v.count)
        for x in v { int(x) }
    }
    public mutating func string(_ s: String) {
        int(s.utf8.count)
        bytes += s.utf8
    }
    public mutating func blob(_ b: [UInt8]) {
        int(b.count)
        bytes += b
    }
}

/// Reads what `ByteWriter` wrote; every read is bounds-checked (`GraphError` past the end).
public struct ByteReader {
    public let bytes: [UInt8]
    var at = 0
    public init(bytes: [UInt8]) { self.bytes = bytes }
    public var atEnd: Bool { at >= bytes.count }
    public mutating func int() throws -> Int {
        guard at + 8 <= bytes.count else { throw GraphError("a process sent a cut recording") }
        defer { at += 8 }
        return Int(Int64(littleEndian: bytes[at..<at + 8].withUnsafeBytes { $0.loadUnaligned(as: Int64.self) }))
    }
    public mutating func ints() throws -> [Int] {
        let n = try int()
        guard n >= 0, n <= (bytes.count - at) / 8 else { throw GraphError("a process sent a cut recording") }
        return try (0..<n).map { _ in try int() }
    }
    public mutating func string() throws -> String {
        let n = try int()
        guard n >= 0, n <= bytes.count - at else { throw GraphError("a process sent a cut recording") }
        defer { at += n }
        return String(decoding: bytes[at..<at + n], as: UTF8.self)
    }
    public mutating func blob() throws -> [UInt8] {
        let n = try int()
        guard n >= 0, n <= bytes.count - at else { throw GraphError("a process sent a cut recording") }
        defer { at += n }
        return Array(bytes[at..<at + n])
    }
}
