import Foundation
import Testing
import NPUData
import NPUTensor
@testable import NPUTrain

/// A generator-style source (read in order, a new iterator each epoch) trains as a stored source
/// of the same samples does, and refuses what needs random access.
@Suite struct IteratedSourceTests {
    static let samples: [(data: [Float], label: Int32)] = (0..<40).map { (i: Int) -> (data: [Float], label: Int32) in
        let values: [Float] = (0..<16).map { (k: Int) -> Float in Float(sin(Double(i * 16 + k))) }
        return (values, Int32(i % 4))
    }

    final class Opened: @unchecked Sendable { var count = 0 }

    static func iterated(_ opened: Opened? = nil, stopAfter: Int = 40) throws -> IteratedSource {
        try IteratedSource(count: 40, shape: [16], origin: "the test generator") {
            opened?.count += 1
            var i = 0
            return AnyIterator {
                defer { i += 1 }
                return i < min(stopAfter, samples.count) ? samples[i] : nil
            }
        }
    }

    static func stored() throws -> Dataset {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("npusim-iterated-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let x = dir.appendingPathComponent("x.npy").path, y = dir.appendingPathComponent("y.npy").path
        try NPY.write(try Tensor(shape: [40, 16], values: samples.flatMap(\.data)), path: x)
        try NPY.write(try Tensor(shape: [40], values: samples.map(\.label)), path: y)
        return try Dataset(source: try NpySource(data: x, label: y), batchSize: 8, dropRemainder: true)
    }

    static func losses(_ data: Dataset) throws -> [UInt32] {
        let (model, _) = try ModelTests.model()
        let recorder = LossRecorder()
        try model.train(epochs: 3, dataset: data, callbacks: [recorder])
        return recorder.records.map(\.loss.bitPattern)
    }

    @Test func trainsAsTheSameSamplesStoredDo() throws {
        let opened = Opened()
        var data = try Dataset(source: try Self.iterated(opened), batchSize: 8, dropRemainder: true)
        data.seed = 5
        let fromIterator = try Self.losses(data)
        let fromFiles = try Self.losses(try Self.stored())
        #expect(fromIterator.count == 15 && fromIterator == fromFiles)
        #expect(opened.count == 3)  // one iterator per epoch, each read once from its start
    }

    @Test func shuffleAndShardsAreRefusedAndAnEarlyEndIsNamed() throws {
        let source = try Self.iterated()
        #expect(throws: DataError.self) { _ = try Dataset(source: source, shuffle: true, batchSize: 8) }
        #expect(throws: DataError.self) { _ = try Dataset(source: source, batchSize: 8, numShards: 2, shardID: 0) }
        let short = try Dataset(source: try Self.iterated(stopAfter: 30), batchSize: 8, dropRemainder: true)
        #expect(throws: DataError("the test generator ended after 30 samples; it was said to give 40 per epoch")) {
            try Self.losses(short)
        }
    }
}
