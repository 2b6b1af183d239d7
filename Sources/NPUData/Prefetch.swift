import Foundation

/// Batches made ahead on a thread of their own, at most `capacity` waiting (MindSpore's
/// `prefetch_size`, 16 by default: `mindspore.dataset.config.get_prefetch_size()`). The producer
/// is called on that thread only, one batch after another, so batches come out in the order it
/// makes them and with the same bits as made inline.
public final class Prefetcher: @unchecked Sendable {
    /// MindSpore's default prefetch size.
    public static let defaultCapacity = 16

    public let capacity: Int
    private let condition = NSCondition()
    /// Made batches; a taken one is set to nil at once, so the host holds only those waiting.
    private var buffer: [Result<Batch, Error>?] = []
    private var head = 0
    private var finished = false
    private var cancelled = false
    private var running = true
    private var thread: Thread?

    /// Starts making batches with `produce` (nil: no more) on a new thread.
    public init(capacity: Int = Prefetcher.defaultCapacity, produce: @escaping () throws -> Batch?) {
        self.capacity = max(1, capacity)
        // The producer's state is used by the producer's thread alone until `cancel` or the end.
        final class Producer: @unchecked Sendable {
            let make: () throws -> Batch?
            init(_ make: @escaping () throws -> Batch?) { self.make = make }
        }
        let producer = Producer(produce)
        let thread = Thread { [unowned self] in self.work(producer.make) }
        thread.stackSize = 4 << 20
        self.thread = thread
        thread.start()
    }

    deinit { cancel() }

    private func work(_ produce: () throws -> Batch?) {
        while true {
            condition.lock()
            while buffer.count - head >= capacity && !cancelled { condition.wait() }
            let stop = cancelled
            condition.unlock()
            if stop { break }
            // A producer's error ends the stream after the batches before it.
            var done = false
            let made: Result<Batch, Error>
            do {
                guard let b = try produce() else { break }
                made = .success(b)
            } catch {
                made = .failure(error)
                done = true
            }
            condition.lock()
            buffer.append(made)
            condition.broadcast()
            condition.unlock()
            if done { break }
        }
        condition.lock()
        finished = true
        running = false
        condition.broadcast()
        condition.unlock()
    }

    /// The next batch, waiting for the producer if none is ready; nil at the end.
    /// - Throws: what the producer threw, in its turn.
    public func next() throws -> Batch? {
        condition.lock()
        defer { condition.unlock() }
        while head == buffer.count && !finished { condition.wait() }
        guard head < buffer.count, let result = buffer[head] else { return nil }
        buffer[head] = nil
        head += 1
        if head > 64 {
            buffer.removeFirst(head)
            head = 0
        }
        condition.broadcast()
        return try result.get()
    }

    /// Stops the producer after the batch it is making and waits until it has stopped: what it
    /// shares (the dataset's transform state) is the caller's again.
    public func cancel() {
        condition.lock()
        cancelled = true
        condition.broadcast()
        while running { condition.wait() }
        condition.unlock()
    }
}
