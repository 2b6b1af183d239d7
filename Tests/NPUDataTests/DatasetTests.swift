import Foundation
import Testing
import NPUOps
import NPURandom
import NPUTensor
@testable import NPUData

@Suite struct DatasetTests {
    func tempFile(_ name: String) -> String { FileManager.default.temporaryDirectory.appendingPathComponent("npusim-\(getpid())-\(name)").path }

    /// Ten samples on four cards: every shard ⌈10/4⌉ = 3, the last ones padded from the start of the
    /// order (MindSpore's DistributedSampler, even_dist: position 4·c + k mod 10).
    @Test func unevenShardsArePaddedAsMindSporesDistributedSampler() throws {
        let source = try SyntheticSource(count: 10, shape: [2], classes: 2, seed: 1)
        let shards = try (0..<4).map { try Dataset(source: source, batchSize: 3, numShards: 4, shardID: $0) }
        #expect(try shards.map { try $0.batches(epoch: 1, shuffleSeed: 0).flatMap(\.indices) } == [[0, 4, 8], [1, 5, 9], [2, 6, 0], [3, 7, 1]])
        #expect(shards.allSatisfy { $0.shardSamples == 3 && $0.batchesPerEpoch == 1 })
    }

    /// Epoch e's order continues from the order held (one shuffle per epoch read in turn, not e):
    /// whatever the epochs are read in — in turn, again, backwards, skipping, another seed — each
    /// is the random sampler's order computed afresh.
    @Test func samplerOrdersContinuedFromTheLastEpochAreTheSamplersOrders() throws {
        let source = try SyntheticSource(count: 37, shape: [1], classes: 2, seed: 1)
        let d = try Dataset(source: source, shuffle: true, batchSize: 5)
        for (epoch, seed) in [(1, 9), (2, 9), (3, 9), (3, 9), (2, 9), (6, 9), (7, 9), (7, 4), (8, 9), (40, 9)] as [(Int, UInt32)] {
            #expect(d.order(epoch: epoch, shuffleSeed: seed) == randomSamplerOrder(count: 37, seed: seed, epoch: epoch),
                    "epoch \(epoch), seed \(seed)")
        }
        // Epochs reshuffle: the 40th is not the first.
        #expect(d.order(epoch: 40, shuffleSeed: 9) != d.order(epoch: 1, shuffleSeed: 9))
    }

    @Test func npyPairsBatchInOrderAndShuffleInTheRandomSamplersOrder() throws {
        let (dp, lp) = (tempFile("x.npy"), tempFile("y.npy"))
        defer { try? FileManager.default.removeItem(atPath: dp); try? FileManager.default.removeItem(atPath: lp) }
        try NPY.write(try Tensor(shape: [10, 2], values: (0..<20).map { Float($0) }), path: dp)
        try NPY.write(try Tensor(shape: [10], values: (0..<10).map { Int64($0 % 3) }), path: lp)
        let source = try NpySource(data: dp, label: lp)
        #expect(source.count == 10 && source.dataType == TensorType(.float32, [2]) && source.labelType == TensorType(.int32, []))
        let plain = try Dataset(source: source, batchSize: 4, dropRemainder: true)
        let batches = try plain.batches(epoch: 1, shuffleSeed: 1234)
        #expect(batches.count == 2 && plain.batchesPerEpoch == 2)
        #expect(try batches[1].data.toArray(of: Float.self) == (8..<16).map { Float($0) })
        #expect(try batches[1].label.toArray(of: Int32.self) == [1, 2, 0, 1])
        // MindSpore's random sampler with seed 1234 over 10 samples (the reference page's example).
        let shuffled = try Dataset(source: source, shuffle: true, batchSize: 10)
        #expect(try shuffled.batches(epoch: 1, shuffleSeed: 1234)[0].indices == [5, 3, 0, 8, 2, 7, 1, 6, 4, 9])
        let skipping = try Dataset(source: source, batchSize: 3, skip: 1)
        #expect(try skipping.batches(epoch: 1, shuffleSeed: 0).map(\.indices.count) == [3, 3, 1])
        #expect(try skipping.batches(epoch: 2, shuffleSeed: 0).count == 4)
        let shard = try Dataset(source: source, batchSize: 5, numShards: 2, shardID: 1)
        #expect(try shard.batches(epoch: 1, shuffleSeed: 0)[0].indices == [1, 3, 5, 7, 9])
    }

    @Test func badFilesAreNamed() throws {
        let (dp, lp) = (tempFile("a.npy"), tempFile("b.npy"))
        defer { try? FileManager.default.removeItem(atPath: dp); try? FileManager.default.removeItem(atPath: lp) }
        try NPY.write(Tensor(zeros: [10, 2]), path: dp)
        try NPY.write(try Tensor(shape: [9], values: (0..<9).map { Int32($0) }), path: lp)
        #expect(throws: DataError("\(lp) has 9 labels, \(dp) has 10 samples; they must be equal")) { try NpySource(data: dp, label: lp) }
        try NPY.write(Tensor(zeros: [10]), path: lp)
        #expect(throws: DataError("\(lp): labels must be a vector of int32 or int64 class indices, got float32[10]")) { try NpySource(data: dp, label: lp) }
        #expect(throws: DataError.self) { try NpySource(data: "/no/such.npy", label: lp) }
        #expect(throws: DataError("batch_size must be at least 1, got 0")) { try Dataset(source: try SyntheticSource(count: 2, shape: [1], classes: 2, seed: 0), batchSize: 0) }
    }

    @Test func syntheticSamplesDependOnlyOnSeedAndIndex() throws {
        let a = try SyntheticSource(count: 100, shape: [3], classes: 5, seed: 7)
        let d1 = try Dataset(source: a, shuffle: true, batchSize: 100).batches(epoch: 1, shuffleSeed: 3)[0]
        let d2 = try Dataset(source: a, batchSize: 100).batches(epoch: 1, shuffleSeed: 0)[0]
        let x1 = try d1.data.toArray(of: Float.self), x2 = try d2.data.toArray(of: Float.self)
        for (k, i) in d1.indices.enumerated() { #expect(Array(x1[(3 * k)..<(3 * k + 3)]) == Array(x2[(3 * i)..<(3 * i + 3)])) }
        let labels = try d2.label.toArray(of: Int32.self)
        #expect(x1.allSatisfy { $0 >= -1 && $0 < 1 } && Set(labels).isSubset(of: [0, 1, 2, 3, 4]))
    }

    @Test func syntheticTokenIdsAreInt32InRangeAndKeepTheLabels() throws {
        let ids = try SyntheticSource(count: 50, shape: [16], classes: 2, seed: 4, ids: 7)
        let floats = try SyntheticSource(count: 50, shape: [16], classes: 2, seed: 4)
        let batch = try Dataset(source: ids, batchSize: 50).batches(epoch: 1, shuffleSeed: 0)[0]
        #expect(batch.data.type == TensorType(.int32, [50, 16]))
        let values = try batch.data.toArray(of: Int32.self)
        #expect(values.allSatisfy { (0..<7).contains($0) } && Set(values).count == 7)
        // The labels are the draw after the sample's values, whatever the values' kind.
        #expect(try batch.label.toArray(of: Int32.self) == floats.classLabels && ids.classLabels == floats.classLabels)
        // A small source is made at once, a big one sample by sample as it is read: the same samples.
        let small = try SyntheticSource(count: 8, shape: [64], classes: 5, seed: 9, ids: 1000)
        let big = try SyntheticSource(count: 1 << 20, shape: [64], classes: 5, seed: 9, ids: 1000)  // 2^26 values: made when read
        let a = try Dataset(source: small, batchSize: 8).batches(epoch: 1, shuffleSeed: 0)[0]
        let b = try Dataset(source: big, batchSize: 8).stackRaw(Array(0..<8))
        #expect(try a.data.toArray(of: Int32.self) == b.data.toArray(of: Int32.self) && a.label.toArray(of: Int32.self) == b.label.toArray(of: Int32.self))
        let eager = try SyntheticSource(count: 3, shape: [5], classes: 2, seed: 1), lazy = try SyntheticSource(count: 1 << 23, shape: [5], classes: 2, seed: 1)
        #expect(try Dataset(source: eager, batchSize: 3).stackRaw([0, 1, 2]).data.toArray(of: Float.self)
                == Dataset(source: lazy, batchSize: 3).stackRaw([0, 1, 2]).data.toArray(of: Float.self))
        // A sample of 2^25 + 1 values is refused; a big count is not (samples are made when read).
        #expect(throws: DataError.self) { try SyntheticSource(count: 1, shape: [(1 << 25) + 1], classes: 2, seed: 0) }
        _ = try SyntheticSource(count: 1_000_000, shape: [3, 224, 224], classes: 1000, seed: 0)
        // Float transforms refuse token ids.
        var d = try Dataset(source: ids, batchSize: 10)
        d.transforms = [.rescale(2, 0)]
        #expect(throws: DataError("the transforms in map take float data; synthetic data (seed 4) gives int32 samples")) { try d.sampleType() }
    }
}

/// MindSpore's deterministic vision transforms on the data column.
@Suite struct TransformTests {
    @Test func rescaleNormalizeAndHWC2CHWGiveTheDefinedValues() throws {
        // One 2×2 image with 3 channels, HWC: pixel p, channel c holds 10p + c.
        let values: [Float] = (0..<4).flatMap { p in (0..<3).map { c in Float(10 * p + c) } }
        let dir = FileManager.default.temporaryDirectory
        let (x, y) = (dir.appendingPathComponent("t-x-\(getpid()).npy").path, dir.appendingPathComponent("t-y-\(getpid()).npy").path)
        defer { try? FileManager.default.removeItem(atPath: x); try? FileManager.default.removeItem(atPath: y) }
        try NPY.write(try Tensor(shape: [1, 2, 2, 3], values: values), path: x)
        try NPY.write(try Tensor(shape: [1], values: [Int32(0)]), path: y)
        var d = try Dataset(source: try NpySource(data: x, label: y), batchSize: 1)
        d.transforms = [.rescale(0.5, 1), .normalize(mean: [1, 2, 3], std: [1, 2, 4]), .hwc2chw]
        #expect(try d.sampleType() == TensorType(.float32, [3, 2, 2]))
        let out = try d.batches(epoch: 1, shuffleSeed: 0)[0].data
        #expect(out.shape == [1, 3, 2, 2])
        let got = try out.toArray(of: Float.self)
        for c in 0..<3 {
            for p in 0..<4 {
                let v = (Float(10 * p + c) * 0.5 + 1 - [1, 2, 3][c]) / [1, 2, 4][c]
                #expect(got[c * 4 + p] == v, "channel \(c) pixel \(p)")
            }
        }
        d.transforms = [.hwc2chw, .normalize(mean: [1, 2, 3], std: [1, 1, 1])]  // channels are no longer last
        #expect(throws: DataError.self) { _ = try d.sampleType() }
    }
}

/// MNIST's IDX files, gzipped or not: images become HWC samples [H, W, 1] as MindSpore's
/// MnistDataset yields them; damaged files are named.
@Suite struct IDXTests {
    func idx(_ type: UInt8, _ shape: [Int], _ payload: [UInt8]) -> [UInt8] {
        [0, 0, type, UInt8(shape.count)] + shape.flatMap { d in [24, 16, 8, 0].map { UInt8((d >> $0) & 0xFF) } } + payload
    }

    @Test func imagesAndLabelsLoadGzippedOrNot() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("npusim-idx-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let images = dir.appendingPathComponent("img"), labels = dir.appendingPathComponent("lab")
        try Data(idx(0x08, [3, 2, 2], (0..<12).map { UInt8($0 * 20) })).write(to: images)
        try Data(idx(0x08, [3], [7, 0, 9])).write(to: labels)
        // gzip the labels (as MNIST ships) with the system's gzip.
        let gz = Process()
        gz.executableURL = URL(fileURLWithPath: "/bin/gzip")
        gz.arguments = ["-f", labels.path]
        try gz.run()
        gz.waitUntilExit()
        let source = try IDXSource(data: images.path, label: labels.path + ".gz")
        #expect(source.count == 3 && source.dataType == TensorType(.float32, [2, 2, 1]) && source.classLabels == [7, 0, 9])
        let batch = try Dataset(source: source, batchSize: 3).batches(epoch: 1, shuffleSeed: 0)[0]
        #expect(try batch.data.toArray(of: Float.self) == (0..<12).map { Float($0 * 20) })
        // Truncated data, a bad magic number and damaged gzip are named.
        #expect(throws: DataError.self) { try IDX.decode(idx(0x08, [3, 2, 2], [1, 2, 3]), file: "t") }
        #expect(throws: DataError("m: not an IDX file (it starts with 1 2 3 4, IDX starts with 0 0 type rank)")) { try IDX.decode([1, 2, 3, 4, 5], file: "m") }
        let compressed = try Data(contentsOf: URL(fileURLWithPath: labels.path + ".gz"))
        #expect(throws: DataError.self) { try IDX.gunzip(Array(compressed.prefix(compressed.count - 12)), file: "z") }
    }
}

extension IDXTests {
    /// A small gzipped file whose header asks for more than the value limit, or whose data runs
    /// past its header, stops at once (issue 22: a 2 MB bomb decompressed to 4 GiB and took
    /// 10.5 GB before its error).
    @Test func aDecompressionBombStopsAtItsHeader() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("npusim-idxbomb-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        func gzipped(_ name: String, _ bytes: [UInt8]) throws -> String {
            let url = dir.appendingPathComponent(name)
            try Data(bytes).write(to: url)
            let gz = Process()
            gz.executableURL = URL(fileURLWithPath: "/bin/gzip")
            gz.arguments = ["-f", url.path]
            try gz.run()
            gz.waitUntilExit()
            return url.path + ".gz"
        }
        // 2^30 values declared (over the 2^28 limit), 64 MiB of zeros following.
        let huge = try gzipped("huge", idx(0x08, [1 << 30], []) + [UInt8](repeating: 0, count: 64 << 20))
        #expect(throws: DataError("\(huge): the IDX header says [1073741824]: more than 268435456 values, the most NPUSim reads from one file")) { try IDX.read(huge) }
        // 1,000 values declared, 64 MiB following: refused after the first megabyte, not at 4 GiB.
        let long = try gzipped("long", idx(0x08, [1000], []) + [UInt8](repeating: 0, count: 64 << 20))
        #expect(throws: DataError("\(long): decompresses to more than 1008 bytes, more than its header says")) { try IDX.read(long) }
    }
}

/// Tabular data: a label column and feature columns; every bad cell named by line and column.
@Suite struct CSVTests {
    @Test func rowsBecomeSamplesAndBadCellsAreNamed() throws {
        let s = try CSVSource(text: "a,class,b\n1.5,2,-3\n\n0,0,7e1\n", file: "t.csv", labelColumn: "class")
        #expect(s.count == 2 && s.dataType == TensorType(.float32, [2]) && s.classLabels == [2, 0])
        let batch = try Dataset(source: s, batchSize: 2).batches(epoch: 1, shuffleSeed: 0)[0]
        #expect(try batch.data.toArray(of: Float.self) == [1.5, -3, 0, 70])
        let noHeader = try CSVSource(text: "1,2\n3,4\n", file: "n.csv", labelColumn: "0", header: false)
        #expect(noHeader.classLabels == [1, 3])
        #expect(throws: DataError("t.csv:3: column 3 (b) is 'x', not a number")) { try CSVSource(text: "a,class,b\n1,2,3\n4,5,x\n", file: "t.csv", labelColumn: "class") }
        #expect(throws: DataError("t.csv:2: 2 columns; the file has 3")) { try CSVSource(text: "a,class,b\n1,2\n", file: "t.csv", labelColumn: "class") }
        #expect(throws: DataError("t.csv:2: label 2.5 is not a whole number")) { try CSVSource(text: "a,class\n1,2.5\n", file: "t.csv", labelColumn: "class") }
        #expect(throws: DataError("t.csv: no label column 'label'; give a header name (a, class) or an index from 0 to 1")) {
            try CSVSource(text: "a,class\n1,2\n", file: "t.csv", labelColumn: "label")
        }
    }
}

/// CIFAR-10's binary records: CHW planes in the file become HWC samples; bad lengths and labels
/// are named.
@Suite struct CIFAR10Tests {
    @Test func recordsBecomeHWCSamples() throws {
        // Two records: labels 3 and 9; pixel value = (plane·7 + position) mod 256.
        var bytes: [UInt8] = []
        for label in [3, 9] as [UInt8] {
            bytes.append(label)
            for c in 0..<3 { for p in 0..<1024 { bytes.append(UInt8((c * 7 + p + Int(label)) % 256)) } }
        }
        var images: [Float] = [], labels: [Int32] = []
        try CIFAR10Source.decode(bytes, file: "b.bin", images: &images, labels: &labels)
        #expect(labels == [3, 9] && images.count == 2 * 3072)
        // Record 1, pixel (y 2, x 5), channel 1 (green): plane 1, position 2·32 + 5.
        #expect(images[3072 + (2 * 32 + 5) * 3 + 1] == Float((7 + 69 + 9) % 256))
        #expect(throws: DataError("b.bin: 3072 bytes is not a whole number of CIFAR-10 records (3073 bytes each: a label and 3×32×32 pixels)")) {
            try CIFAR10Source.decode(Array(bytes.prefix(3072)), file: "b.bin", images: &images, labels: &labels)
        }
        bytes[0] = 10
        #expect(throws: DataError("b.bin: record 0 has label 10; CIFAR-10 labels are 0 to 9")) {
            try CIFAR10Source.decode(bytes, file: "b.bin", images: &images, labels: &labels)
        }
    }
}
