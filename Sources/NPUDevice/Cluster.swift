/// N cards driven together: one event space (a card may wait for another card's event) and one
/// scheduler over every card's streams. Each card keeps its own streams, engines, HBM and host
/// clock; links between cards are full duplex (each card has a send and a receive engine).
public final class Cluster {
    /// The cards, ordinals 0 ..< count.
    public let devices: [Device]
    private var sequence = 0

    /// `cards` cards of profile `spec`.
    /// - Throws: `DeviceError.badCluster` for a card count outside 1...maxTimingOnlyCards.
    public convenience init(spec: DeviceSpec, cards: Int) throws(DeviceError) {
        guard (1...Self.maxTimingOnlyCards).contains(cards) else {
            throw .badCluster("a cluster has 1 to \(Self.maxTimingOnlyCards) cards (\(Self.maxCards) with real numerics), got \(cards)")
        }
        try self.init(spec: spec, ordinals: Array(0..<cards))
    }

    /// Some cards of a bigger cluster, by ordinal: what a timing-only run simulates of a cluster
    /// whose cards are all alike (every card runs the same step on a shard of the same shape, so
    /// each card's timeline is every card's; the collectives are costed for the whole cluster).
    /// - Throws: `DeviceError.badCluster` for no ordinals, a repeated one or one outside
    ///   0..<maxTimingOnlyCards.
    public init(spec: DeviceSpec, ordinals: [Int]) throws(DeviceError) {
        guard !ordinals.isEmpty, Set(ordinals).count == ordinals.count, ordinals.allSatisfy({ (0..<Self.maxTimingOnlyCards).contains($0) }) else {
            throw .badCluster("a cluster simulates 1 to \(Self.maxTimingOnlyCards) distinct cards with ordinals below \(Self.maxTimingOnlyCards), got \(ordinals)")
        }
        devices = ordinals.map { Device(spec: spec, ordinal: $0) }
        for d in devices { d.join(self) }
    }

    /// The most cards one host simulates with real numerics.
    public static let maxCards = 64
    /// The most cards one host simulates on shapes alone (timing-only).
    public static let maxTimingOnlyCards = 4096

    /// Schedules every card's pending tasks together and moves every card's host clock to the end
    /// of its own work plus a round trip; returns the latest of them.
    @discardableResult
    public func synchronize() -> SimTime {
        devices.map { $0.synchronize() }.max() ?? .zero
    }

    /// The next submission number across the cluster.
    func nextSequence() -> Int {
        defer { sequence += 1 }
        return sequence
    }
}
