import Foundation
import NPUDevice
import NPUOps
import NPURandom
import NPUTensor

/// A device data queue (dataset sink mode): batches copied to the card ahead of the steps by a
/// data stream, each ready at its own event; a step takes the next one (GetNext) and its compute
/// waits for that event only.
public final class DeviceQueue {
    public let device: Device
    /// The stream its copies run on.
    public let stream: NPUDevice.Stream
    /// The most batches it holds (MindSpore's device queue holds a bounded number ahead).
    public let capacity: Int
    /// Each slot's batch: its values, or (pushed by `fill(upTo:types:_:)`) the producer that makes
    /// them when a step takes it.
    private enum Slot {
        case values([String: Tensor])
        case deferred(() throws -> [String: Tensor])
    }
    private var batches: [(feeds: Slot, ready: Event)] = []
    private var head = 0
    /// One event per slot, reused round the ring (a slot is refilled only after its batch was
    /// taken and its wait enqueued).
    private var events: [Event] = []
    private var slot = 0

    /// The batches a queue holds by default: what MindSpore's device side caches in sink mode.
    public static let defaultCapacity = 100

    /// `capacity`: 100 batches by default, what MindSpore's device side caches in sink mode.
    public init(device: Device, capacity: Int = DeviceQueue.defaultCapacity) {
        self.device = device
        self.capacity = max(1, capacity)
        stream = device.stream(named: "data")
    }

    deinit { events.forEach { device.releaseEvent($0) } }

    /// Batches waiting.
    public var count: Int { batches.count - head }

    /// Pushes batches of `types` until the queue holds `min(capacity, wanted)` (a producer that
    /// waits for free slots), made by `next` only when a step takes them (in the order pushed): the copies are simulated at push time as for any batch, but the host
    /// holds the values of one batch at a time, whatever the queue's depth. `next` must stay valid
    /// until those batches are taken.
    public func fill(upTo wanted: Int, types: [String: TensorType], _ next: @escaping () throws -> [String: Tensor]) throws {
        while count < min(capacity, wanted) {
            try push(.deferred(next), bytes: types.mapValues { Double($0.shape.count * $0.dtype.size) })
        }
    }

    /// `fill(upTo:types:_:)` with batches of no values (timing-only steps).
    public func fill(upTo wanted: Int, shapes types: [String: TensorType]) throws {
        while count < min(capacity, wanted) { try push(shapes: types) }
    }

    /// Copies a batch to the card on the data stream (at the host's current time).
    /// - Throws: `GraphError` when the queue is full.
    public func push(_ feeds: [String: Tensor]) throws(GraphError) {
        try push(.values(feeds), bytes: feeds.mapValues { Double($0.byteCount) })
    }

    /// Copies a batch of these types without values (a timing-only step's batch).
    /// - Throws: `GraphError` when the queue is full.
    public func push(shapes types: [String: TensorType]) throws(GraphError) {
        try push(.values([:]), bytes: types.mapValues { Double($0.shape.count * $0.dtype.size) })
    }

    private func push(_ feeds: Slot, bytes: [String: Double]) throws(GraphError) {
        guard count < capacity else { throw GraphError("the device queue is full (\(capacity) batches); run steps to take some first") }
        for name in bytes.keys.sorted() {
            stream.copy(name, bytes: bytes[name]!, direction: .hostToDevice)
        }
        if events.count < capacity { events.append(device.makeEvent()) }
        let ready = events[slot % events.count]
        slot += 1
        stream.record(ready)
        if head > 64 {
            batches.removeFirst(head)
            head = 0
        }
        batches.append((feeds, ready))
    }

    /// Drops every batch waiting (a sink that failed leaves none behind for the next).
    public func clear() {
        batches.removeAll()
        head = 0
    }

    /// Takes the next batch (a deferred one is made now).
    /// - Throws: what a deferred batch's producer throws.
    func pop() throws -> (feeds: [String: Tensor], ready: Event)? {
        guard head < batches.count else { return nil }
        let (slot, ready) = batches[head]
        batches[head].feeds = .values([:])  // the values leave with the step that takes them
        head += 1
        switch slot {
        case .values(let feeds): return (feeds, ready)
        case .deferred(let make): return (try make(), ready)
        }
    }
}
