import Foundation
import Testing
@testable import NPUData
import NPUTensor

/// Batches made ahead on a thread: the same batches in the same order, at most the capacity
/// waiting, an error in its turn, and a cancel that stops the producer.
@Suite struct PrefetchTests {
    static func batch(_ i: Int) -> Batch {
        Batch(data: try! Tensor(shape: [1], values: [Float(i)]), label: try! Tensor(shape: [1], values: [Int32(i)]), indices: [i])
    }

    final class Counter: @unchecked Sendable {
        let lock = NSLock()
        var made = 0
    }

    @Test func batchesComeOutInOrderWithTheProducersBits() throws {
        let data = try Dataset(source: try SyntheticSource(count: 64, shape: [3, 4], classes: 5, seed: 9), shuffle: true, batchSize: 5)
        let inline = try data.batches(epoch: 2, shuffleSeed: 11)
        var batches = data.epochBatches(epoch: 2, shuffleSeed: 11)
        let ahead = Prefetcher(capacity: 3) { try batches.nextBatch() }
        var got: [Batch] = []
        while let b = try ahead.next() { got.append(b) }
        #expect(got.count == inline.count && got.count == 13)
        #expect(zip(got, inline).allSatisfy { $0.indices == $1.indices && (try! $0.data.toArray(of: Float.self)) == (try! $1.data.toArray(of: Float.self)) })
        #expect(try ahead.next() == nil)
    }

    @Test func atMostTheCapacityIsMadeAheadAndCancelStopsTheProducer() throws {
        let counter = Counter()
        let ahead = Prefetcher(capacity: 4) {
            counter.lock.lock()
            defer { counter.lock.unlock() }
            counter.made += 1
            return Self.batch(counter.made)
        }
        _ = try ahead.next()
        func made() -> Int {
            counter.lock.lock()
            defer { counter.lock.unlock() }
            return counter.made
        }
        // One taken and four waiting (however slow the host), then the producer waits: at most one
        // more is being made when the buffer is full.
        let deadline = Date().addingTimeInterval(10)
        while made() < 5 && Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
        Thread.sleep(forTimeInterval: 0.05)
        #expect(made() >= 5 && made() <= 6)
        ahead.cancel()
        let after = made()
        Thread.sleep(forTimeInterval: 0.02)
        #expect(made() == after)
    }

    @Test func anErrorArrivesInItsTurn() throws {
        var i = 0
        let ahead = Prefetcher(capacity: 8) {
            i += 1
            if i == 3 { throw DataError("sample 3 is broken") }
            return Self.batch(i)
        }
        #expect(try ahead.next()?.indices == [1])
        #expect(try ahead.next()?.indices == [2])
        #expect(throws: DataError("sample 3 is broken")) { _ = try ahead.next() }
        #expect(try ahead.next() == nil)
    }
}
