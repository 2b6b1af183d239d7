import Foundation
import Testing
import NPURandom
import NPUTensor
@testable import NPUData

/// RandomCrop and RandomHorizontalFlip give MindSpore 2.10's images bit for bit: fixtures written by
/// MindSpore itself (Fixtures/transforms/make_fixtures.py) through a shuffled pipeline, two epochs,
/// with one worker and with two.
@Suite struct RandomTransformTests {
    static func fixture(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/transforms/\(name)").path
    }

    static let cases: [(name: String, images: String, transforms: [Transform])] = [
        ("gray", "gray.npy", [.randomCrop(height: 3, width: 3, padding: [1, 1, 1, 1], padIfNeeded: false, fill: [0]), .randomHorizontalFlip(prob: 0.5)]),
        ("rgb", "x.npy", [.randomCrop(height: 6, width: 4, padding: [1, 0, 1, 0], padIfNeeded: true, fill: [10, 20, 30]), .randomHorizontalFlip(prob: 0.3)]),
    ]

    @Test(arguments: [0, 1], [1, 2])
    func imagesAreMindSporesBitForBit(caseIndex: Int, workers: Int) throws {
        let c = Self.cases[caseIndex]
        var dataset = try Dataset(source: try NpySource(data: Self.fixture(c.images), label: Self.fixture("y.npy")), shuffle: true, batchSize: 16)
        dataset.transforms = c.transforms
        dataset.numParallelWorkers = workers
        let batches = try dataset.batches(epoch: 1, shuffleSeed: 1234) + dataset.batches(epoch: 2, shuffleSeed: 1234)
        let expected = try NPY.read(path: Self.fixture("\(c.name)_w\(workers)_data.npy"))
        let labels = try NPY.read(path: Self.fixture("\(c.name)_w\(workers)_label.npy")).toArray(of: Int32.self)
        #expect(batches.flatMap(\.indices).map(Int32.init) == labels)
        #expect(try batches[0].data.shape == Shape([16] + Array(expected.shape.dims.dropFirst())))
        let ours = try batches.flatMap { try $0.data.toArray(of: Float.self) }.map(\.bitPattern)
        #expect(ours == (try expected.toArray(of: Float.self)).map(\.bitPattern))
    }

    @Test func aResumedPipelineDrawsAsTheUninterruptedOne() throws {
        var dataset = try Dataset(source: try NpySource(data: Self.fixture("gray.npy"), label: Self.fixture("y.npy")), shuffle: true, batchSize: 8)
        dataset.transforms = Self.cases[0].transforms
        dataset.numParallelWorkers = 2
        let straight = try (1...3).flatMap { try dataset.batches(epoch: $0, shuffleSeed: 7) }
        // Asking for epoch 3 first replays epochs 1 and 2 (their samples still drew), as a resumed run needs.
        var fresh = try Dataset(source: dataset.source, shuffle: true, batchSize: 8)
        fresh.transforms = dataset.transforms
        fresh.numParallelWorkers = 2
        let third = try fresh.batches(epoch: 3, shuffleSeed: 7)
        #expect(try third.map { try $0.data.toArray(of: Float.self) } == straight.suffix(2).map { try $0.data.toArray(of: Float.self) })
    }

    @Test func shapesTheCropCannotTakeAreNamed() throws {
        #expect(throws: DataError("RandomCrop size [7, 7] is larger than the padded samples [6, 7] (samples of [4, 5, 1]); pad more or set pad_if_needed: true")) {
            try Transform.randomCrop(height: 7, width: 7, padding: [1, 1, 1, 1], padIfNeeded: false, fill: [0]).outputShape([4, 5, 1])
        }
        #expect(try Transform.randomCrop(height: 7, width: 7, padding: [1, 1, 1, 1], padIfNeeded: true, fill: [0]).outputShape([4, 5, 1]) == [7, 7, 1])
        #expect(throws: DataError.self) { try Transform.randomHorizontalFlip(prob: 0.5).outputShape([5]) }
    }

    @Test func canonicalAndBernoulliAreLibstdcxxs() {
        // std::mt19937(1234): bernoulli_distribution(0.5) gives 1 0 0 0 0 1 1 0 (measured in MindSpore's flips).
        var g = MT19937(seed: 1234)
        #expect((0..<8).map { _ in bernoulliGCC(&g, 0.5) ? 1 : 0 } == [1, 0, 0, 0, 0, 1, 1, 0])
        var h = MT19937(seed: 5489)
        let a = UInt64(h.next()), b = UInt64(h.next())
        var k = MT19937(seed: 5489)
        #expect(canonicalDouble(&k) == (Double(a) + Double(b) * 4294967296) / 18446744073709551616)
    }
}
