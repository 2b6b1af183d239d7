import Foundation
import NPUDevice
import NPURandom
import NPUTensor

/// A data error: a file or sample that does not fit, named by file, sample index and shape.
public struct DataError: Error, Equatable, CustomStringConvertible, CategorizedError {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var category: ErrorCategory { .badInput }
}

/// Where samples come from: `count` samples of (data, label), each of a fixed type.
public protocol DataSource {
    var count: Int { get }
    /// One sample's data and label types.
    var dataType: TensorType { get }
    var labelType: TensorType { get }
    /// Copies sample `index`'s data and label into `data` and `label` (`dataType.shape.count`
    /// and `labelType.shape.count` elements, as raw bytes of their dtypes).
    /// - Throws: `DataError` for a sample the source cannot give (an iterator that ended early).
    func copySample(_ index: Int, data: UnsafeMutableRawPointer, label: UnsafeMutableRawPointer) throws
    /// Whether samples can be read in any order (false: only in order from the first, each epoch,
    /// so no shuffle and no shards: MindSpore's GeneratorDataset over a plain iterable).
    var isRandomAccess: Bool { get }
    /// Every sample's class label, in sample order.
    var classLabels: [Int32] { get }
    /// Where the samples come from, for messages (the label file, or "synthetic data").
    var origin: String { get }
    /// The first sample whose label is not a class of `classes` (0 to classes − 1), or nil.
    func firstLabel(outside classes: Int) -> (index: Int, label: Int32)?
}

extension DataSource {
    public var isRandomAccess: Bool { true }

    public func firstLabel(outside classes: Int) -> (index: Int, label: Int32)? {
        let labels = classLabels
        return labels.firstIndex { $0 < 0 || Int($0) >= classes }.map { ($0, labels[$0]) }
    }
}

/// A source whose samples are held as one data tensor [N, ...] and one label vector [N]: every
/// file format decodes into this.
public protocol StoredSource: DataSource {
    var storage: NpySource.Storage { get }
}

extension StoredSource {
    public var count: Int { storage.labels.shape[0] }
    public var dataType: TensorType { TensorType(.float32, Shape(Array(storage.data.shape.dims.dropFirst()))) }
    public var labelType: TensorType { TensorType(.int32, []) }
    public var classLabels: [Int32] { (try? storage.labels.toArray(of: Int32.self)) ?? [] }
    public func copySample(_ index: Int, data: UnsafeMutableRawPointer, label: UnsafeMutableRawPointer) {
        storage.copySample(index, data: data, label: label, sampleType: dataType)
    }
}

/// A `.npy` pair (MindSpore's NumpySlicesDataset of two arrays): data [N, ...] and labels [N]
/// (int32, or int64 read as int32), sample i being row i of each.
public struct NpySource: StoredSource {
    public let storage: Storage
    public let origin: String
    /// The data [N, ...] (float32) and labels [N] (int32).
    public var data: Tensor { storage.data }
    public var labels: Tensor { storage.labels }

    /// - Throws: `DataError` naming the file for a file that cannot be read, a sample count that
    ///   differs between the files, labels that are not a vector of integers, or data of rank 0.
    public init(data dataPath: String, label labelPath: String) throws {
        let data: Tensor, labels: Tensor
        do { data = try NPY.read(path: dataPath) } catch { throw DataError("\(dataPath): \(error)") }
        do { labels = try NPY.read(path: labelPath) } catch { throw DataError("\(labelPath): \(error)") }
        guard data.shape.rank >= 1 else { throw DataError("\(dataPath): data must have a sample axis first, got shape \(data.shape)") }
        guard labels.shape.rank == 1, labels.dtype == .int32 || labels.dtype == .int64 else {
            throw DataError("\(labelPath): labels must be a vector of int32 or int64 class indices, got \(labels.type)")
        }
        guard labels.shape[0] == data.shape[0] else {
            throw DataError("\(labelPath) has \(labels.shape[0]) labels, \(dataPath) has \(data.shape[0]) samples; they must be equal")
        }
        let float = data.dtype == .float32 ? data : try Tensor(shape: data.shape, values: data.doubles().map { Float($0) })
        let int32 = labels.dtype == .int32 ? labels : try Tensor(shape: labels.shape, values: try labels.toArray(of: Int64.self).map { v -> Int32 in
            guard v >= Int64(Int32.min), v <= Int64(Int32.max) else { throw DataError("\(labelPath): label \(v) does not fit int32") }
            return Int32(v)
        })
        storage = Storage(data: float.contiguous(), labels: int32.contiguous())
        origin = "\(dataPath) and \(labelPath)"
    }

    /// Samples held as one float32 data tensor [N, ...] and one int32 label vector [N].
    public struct Storage {
        public let data: Tensor
        public let labels: Tensor
        func copySample(_ index: Int, data out: UnsafeMutableRawPointer, label: UnsafeMutableRawPointer, sampleType: TensorType) {
            let size = sampleType.shape.count * 4
            data.withUnsafeBytes { out.copyMemory(from: $0.baseAddress! + index * size, byteCount: size) }
            labels.withUnsafeBytes { label.copyMemory(from: $0.baseAddress! + index * 4, byteCount: 4) }
        }
    }
}

/// Seeded synthetic samples for examples, tests and timing-only models: `count` samples of
/// `shape`, values uniform in [−1, 1) from Philox keyed by `seed` and the sample index (or, with
/// `ids`, int32 token ids uniform in [0, ids)), labels `Philox(seed, index) mod classes` — the
/// same sample whatever the order it is read in. A source of at most `valueLimit` values in all is
/// made once, when the source is made (reading a batch is then a copy); a bigger one makes each
/// sample when it is read, so it costs nothing until a batch is drawn (a timing-only run of
/// ImageNet-sized data never draws one).
public struct SyntheticSource: DataSource {
    public let count: Int
    public let shape: Shape
    public let classes: Int
    public let seed: UInt64
    /// Token ids in [0, ids) instead of floats (an embedding's input), or nil.
    public let ids: Int?
    /// Every sample's bytes and label, made at once for a small source (nil: made when read).
    private let made: (data: [UInt32], labels: [Int32])?
    /// Every label (labels come after the sample's values in its stream).
    public var classLabels: [Int32] {
        if let made { return made.labels }
        return (0..<count).map { index in
            var g = PhiloxStream(seed: seed, seed2: UInt64(index))
            for _ in 0..<shape.count { _ = g.next() }
            return Int32(g.next() % UInt32(classes))
        }
    }
    public var origin: String { "synthetic data (seed \(seed))" }

    /// Labels are below `self.classes`, so only a source of more classes than the network's is
    /// read, sample by sample, until a label outside is found (never every sample).
    public func firstLabel(outside classes: Int) -> (index: Int, label: Int32)? {
        guard self.classes > classes else { return nil }
        if let made { return made.labels.firstIndex { Int($0) >= classes }.map { ($0, made.labels[$0]) } }
        for index in 0..<count {
            var g = PhiloxStream(seed: seed, seed2: UInt64(index))
            for _ in 0..<shape.count { _ = g.next() }
            let label = Int32(g.next() % UInt32(self.classes))
            if Int(label) >= classes { return (index, label) }
        }
        return nil
    }

    /// The most values one synthetic sample holds, and the most a source makes at once (128 MiB
    /// of float32).
    public static let valueLimit = 1 << 25

    /// - Throws: `DataError` for a non-positive count, shape, class or id count, or a sample of
    ///   more than `valueLimit` values.
    public init(count: Int, shape: Shape, classes: Int, seed: UInt64, ids: Int? = nil) throws {
        guard count > 0, classes > 0, shape.dims.allSatisfy({ $0 > 0 }), let n = shape.checkedCount, n <= Self.valueLimit,
              ids.map({ $0 > 0 && $0 <= Int(Int32.max) }) ?? true else {
            throw DataError("synthetic data needs a positive count (\(count)), classes (\(classes)) and shape (\(shape)) of at most \(Self.valueLimit) values per sample"
                            + (ids.map { ", and ids (\($0)) in 1...\(Int32.max)" } ?? ""))
        }
        (self.count, self.shape, self.classes, self.seed, self.ids) = (count, shape, classes, seed, ids)
        let (total, overflow) = count.multipliedReportingOverflow(by: n)
        if !overflow && total <= Self.valueLimit {
            var data = [UInt32](repeating: 0, count: total), labels = [Int32](repeating: 0, count: count)
            for index in 0..<count {
                var g = PhiloxStream(seed: seed, seed2: UInt64(index))
                for i in 0..<n { data[index * n + i] = Self.value(g.next(), ids) }
                labels[index] = Int32(g.next() % UInt32(classes))
            }
            made = (data, labels)
        } else {
            made = nil
        }
    }

    public var dataType: TensorType { TensorType(ids == nil ? .float32 : .int32, shape) }
    public var labelType: TensorType { TensorType(.int32, []) }

    /// One value's bits from one draw: an id in [0, ids), or a float uniform in [−1, 1).
    private static func value(_ draw: UInt32, _ ids: Int?) -> UInt32 {
        if let ids { return UInt32(bitPattern: Int32(draw % UInt32(ids))) }
        return (Float(draw >> 8) * 0x1p-23 - 1).bitPattern
    }

    public func copySample(_ index: Int, data: UnsafeMutableRawPointer, label: UnsafeMutableRawPointer) {
        let n = shape.count
        if let made {
            made.data.withUnsafeBytes { data.copyMemory(from: $0.baseAddress! + index * n * 4, byteCount: n * 4) }
            label.storeBytes(of: made.labels[index], as: Int32.self)
            return
        }
        var g = PhiloxStream(seed: seed, seed2: UInt64(index))
        let out = data.assumingMemoryBound(to: UInt32.self)
        for i in 0..<n { out[i] = Self.value(g.next(), ids) }
        label.storeBytes(of: Int32(g.next() % UInt32(classes)), as: Int32.self)
    }
}

/// One of MindSpore's dataset transforms, applied to the data column of every sample
/// (`dataset.map(operations, input_columns="image")`).
///
/// The random ones draw as MindSpore 2.10's C++ ops do (measured against MindSpore itself): each
/// op owns a `std::mt19937` seeded with the dataset seed (`set_seed`), plus the worker's index
/// when `num_parallel_workers` > 1 (each worker has its own copy of the op); samples go to the
/// workers in turn, in the order the pipeline reads them, and each epoch's end takes a turn too;
/// an op's stream continues across epochs.
public enum Transform: Equatable, Sendable {
    /// `vision.Rescale(rescale, shift)`: x·rescale + shift, in float32.
    case rescale(Float, Float)
    /// `vision.Normalize(mean, std)` on HWC samples: (x − mean[c]) / std[c] over the last axis.
    case normalize(mean: [Float], std: [Float])
    /// `vision.HWC2CHW()`: [H, W, C] → [C, H, W].
    case hwc2chw
    /// `vision.RandomCrop(size, padding, pad_if_needed, fill_value)` on [H, W] or [H, W, C]
    /// samples: pad by (left, top, right, bottom) with `fill` (one value, or one per channel),
    /// with `padIfNeeded` pad an image still smaller than the crop by the shortfall on both
    /// sides, then crop `height`×`width` at x = U{0, W'−width}, y = U{0, H'−height} (drawn in
    /// that order, `std::uniform_int_distribution` of GCC 9). No draw when the padded image is
    /// exactly the crop.
    case randomCrop(height: Int, width: Int, padding: [Int], padIfNeeded: Bool, fill: [Float])
    /// `vision.RandomHorizontalFlip(prob)`: mirrors the width axis when
    /// `std::bernoulli_distribution(prob)` says so.
    case randomHorizontalFlip(prob: Double)
    /// `vision.Resize((height, width))`, bilinear (MindSpore's default Inter.LINEAR, which is
    /// OpenCV's `cv::resize` INTER_LINEAR) on [H, W] or [H, W, C] samples. `integral`: the
    /// sample is still MindSpore's uint8 image (no Rescale or Normalize before it), resized with
    /// OpenCV's 11-bit fixed-point weights and rounding; else float32 arithmetic.
    case resize(height: Int, width: Int, integral: Bool)

    /// True for the transforms that draw random numbers.
    public var isRandom: Bool {
        switch self {
        case .randomCrop, .randomHorizontalFlip: true
        default: false
        }
    }

    /// The padded [H', W'] a RandomCrop crops from, and where the sample's first row and column
    /// sit in it: the padding, and with `padIfNeeded` the shortfall added on both sides of an
    /// image still smaller than the crop (as MindSpore pads it).
    static func padded(_ s: Shape, _ height: Int, _ width: Int, _ padding: [Int], _ padIfNeeded: Bool) -> (h: Int, w: Int, top: Int, left: Int) {
        var (h, w, top, left) = (s[0] + padding[1] + padding[3], s[1] + padding[0] + padding[2], padding[1], padding[0])
        if padIfNeeded && !(h == height && w == width) {
            if h < height { (top, h) = (top + height - h, h + 2 * (height - h)) }
            if w < width { (left, w) = (left + width - w, w + 2 * (width - w)) }
        }
        return (h, w, top, left)
    }

    /// The sample shape after the transform.
    /// - Throws: `DataError` naming the transform and the shape it cannot take.
    public func outputShape(_ s: Shape) throws -> Shape {
        switch self {
        case .rescale: return s
        case .normalize(let mean, let std):
            guard s.rank >= 1, mean.count == s.dims.last!, std.count == mean.count else {
                throw DataError("Normalize has \(mean.count) means and \(std.count) stds; samples of \(s) need \(s.dims.last ?? 0) of each (channels last, HWC)")
            }
            return s
        case .hwc2chw:
            guard s.rank == 3 else { throw DataError("HWC2CHW takes samples of [H, W, C], got \(s)") }
            return Shape([s[2], s[0], s[1]])
        case .randomCrop(let height, let width, let padding, let padIfNeeded, let fill):
            guard s.rank == 2 || s.rank == 3 else { throw DataError("RandomCrop takes samples of [H, W] or [H, W, C], got \(s)") }
            guard padding[0] < 3 * s[1], padding[2] < 3 * s[1], padding[1] < 3 * s[0], padding[3] < 3 * s[0] else {
                throw DataError("RandomCrop padding \(padding) (left, top, right, bottom) is three times the size of samples of \(s) or more; MindSpore refuses it")
            }
            guard fill.count == 1 || fill.count == (s.rank == 3 ? s[2] : 1) else {
                throw DataError("RandomCrop fill_value has \(fill.count) values; samples of \(s) take one, or one per channel")
            }
            let (h, w, _, _) = Self.padded(s, height, width, padding, padIfNeeded)
            guard h >= height, w >= width else {
                throw DataError("RandomCrop size [\(height), \(width)] is larger than the padded samples [\(h), \(w)] (samples of \(s)); pad more or set pad_if_needed: true")
            }
            return Shape([height, width] + (s.rank == 3 ? [s[2]] : []))
        case .randomHorizontalFlip:
            guard s.rank == 2 || s.rank == 3 else { throw DataError("RandomHorizontalFlip takes samples of [H, W] or [H, W, C], got \(s)") }
            return s
        case .resize(let height, let width, _):
            guard s.rank == 2 || s.rank == 3 else { throw DataError("Resize takes samples of [H, W] or [H, W, C], got \(s)") }
            return Shape([height, width] + (s.rank == 3 ? [s[2]] : []))
        }
    }

    /// Applies the transform to one sample of `shape` in place (`values`, row-major); a random
    /// transform draws from `g`.
    func apply(_ values: inout [Float], _ shape: Shape, _ g: inout MT19937) {
        switch self {
        case .rescale(let scale, let shift):
            for i in values.indices { values[i] = values[i] * scale + shift }
        case .normalize(let mean, let std):
            let c = mean.count
            for i in values.indices { values[i] = (values[i] - mean[i % c]) / std[i % c] }
        case .hwc2chw:
            let (h, w, c) = (shape[0], shape[1], shape[2])
            var out = values
            for y in 0..<h { for x in 0..<w { for k in 0..<c { out[(k * h + y) * w + x] = values[(y * w + x) * c + k] } } }
            values = out
        case .randomCrop(let height, let width, let padding, let padIfNeeded, let fill):
            let (h, w, c) = (shape[0], shape[1], shape.rank == 3 ? shape[2] : 1)
            let (ph, pw, top, left) = Self.padded(shape, height, width, padding, padIfNeeded)
            var x = 0, y = 0
            if !(ph == height && pw == width) {
                x = Int(uniformIntGCC9(&g, 0, UInt64(pw - width)))
                y = Int(uniformIntGCC9(&g, 0, UInt64(ph - height)))
            }
            var out = [Float](repeating: 0, count: height * width * c)
            for r in 0..<height {
                for q in 0..<width {
                    let sy = y + r - top, sx = x + q - left
                    for k in 0..<c {
                        out[(r * width + q) * c + k] = (0..<h).contains(sy) && (0..<w).contains(sx)
                            ? values[(sy * w + sx) * c + k] : fill[fill.count == 1 ? 0 : k]
                    }
                }
            }
            values = out
        case .randomHorizontalFlip(let prob):
            guard bernoulliGCC(&g, prob) else { return }
            let (h, w, c) = (shape[0], shape[1], shape.rank == 3 ? shape[2] : 1)
            let source = values
            for r in 0..<h { for q in 0..<w { for k in 0..<c { values[(r * w + q) * c + k] = source[(r * w + (w - 1 - q)) * c + k] } } }
        case .resize(let height, let width, let integral):
            values = Self.resizeLinear(values, shape[0], shape[1], shape.rank == 3 ? shape[2] : 1, height, width, integral: integral)
        }
    }

    /// OpenCV's INTER_LINEAR resize (imgproc/resize.cpp, as MindSpore 2.10's Resize runs it;
    /// checked bit for bit against it): source coordinate (d + ½)·scale − ½ in float32; columns
    /// clamped at the borders (weight 1 on the edge pixel), rows not (the row index is clamped,
    /// the weights stay). uint8 images: weights rounded to 11 bits, the horizontal pass in
    /// integers, the vertical as OpenCV's vector kernel ((b₀·(r₀>>4))>>16 + (b₁·(r₁>>4))>>16 + 2)>>2.
    static func resizeLinear(_ src: [Float], _ h: Int, _ w: Int, _ c: Int, _ oh: Int, _ ow: Int, integral: Bool) -> [Float] {
        func weights(_ out: Int, _ size: Int, clamp: Bool) -> [(index: Int, a0: Float, a1: Float)] {
            let scale = Double(size) / Double(out)
            return (0..<out).map { d in
                var f = Float((Double(d) + 0.5) * scale - 0.5)
                var i = Int(f.rounded(.down))
                f -= Float(i)
                if clamp && i < 0 { (f, i) = (0, 0) }
                if clamp && i >= size - 1 { (f, i) = (0, size - 1) }
                return (i, 1 - f, f)
            }
        }
        let rows = weights(oh, h, clamp: false), cols = weights(ow, w, clamp: true)
        func clampRow(_ r: Int) -> Int { min(max(r, 0), h - 1) }
        var out = [Float](repeating: 0, count: oh * ow * c)
        if integral {
            func q(_ x: Float) -> Int { Int((x * 2048).rounded(.toNearestOrEven)) }
            let xs = cols.map { (min($0.index, w - 1), min($0.index + 1, w - 1), q($0.a0), q($0.a1)) }
            func horizontal(_ r: Int) -> [Int] {
                let base = clampRow(r) * w * c
                var row = [Int](repeating: 0, count: ow * c)
                for (d, (x0, x1, a0, a1)) in xs.enumerated() {
                    for k in 0..<c { row[d * c + k] = Int(src[base + x0 * c + k]) * a0 + Int(src[base + x1 * c + k]) * a1 }
                }
                return row
            }
            for (d, r) in rows.enumerated() {
                let (b0, b1) = (q(r.a0), q(r.a1))
                let top = horizontal(r.index), bottom = horizontal(r.index + 1)
                for j in 0..<(ow * c) {
                    let v = (((b0 * (top[j] >> 4)) >> 16) + ((b1 * (bottom[j] >> 4)) >> 16) + 2) >> 2
                    out[d * ow * c + j] = Float(min(max(v, 0), 255))
                }
            }
        } else {
            func horizontal(_ r: Int) -> [Float] {
                let base = clampRow(r) * w * c
                var row = [Float](repeating: 0, count: ow * c)
                for (d, x) in cols.enumerated() {
                    let x0 = min(x.index, w - 1), x1 = min(x.index + 1, w - 1)
                    for k in 0..<c { row[d * c + k] = src[base + x0 * c + k] * x.a0 + src[base + x1 * c + k] * x.a1 }
                }
                return row
            }
            for (d, r) in rows.enumerated() {
                let top = horizontal(r.index), bottom = horizontal(r.index + 1)
                for j in 0..<(ow * c) { out[d * ow * c + j] = top[j] * r.a0 + bottom[j] * r.a1 }
            }
        }
        return out
    }
}

/// The buffer shuffle's engine of one pipeline and the epoch it reads next.
final class BufferShuffleState: @unchecked Sendable {
    let lock = NSLock()
    var rng = MT19937_64(seed: 0)
    var seed: UInt32?
    var nextEpoch = 1
}

/// The random sampler's last order: epoch e's order is epoch e − 1's shuffled once more, so reading
/// epochs in turn costs one shuffle each instead of e (a long run over a small dataset was
/// quadratic in its epochs).
final class SamplerOrderState: @unchecked Sendable {
    let lock = NSLock()
    var key: (seed: UInt32, count: Int, epoch: Int)?
    var order: [UInt32] = []
}

/// The random transforms' generators of one pipeline: one mt19937 per (transform, worker), the
/// worker whose turn is next, and the epoch the pipeline reads next.
final class AugmentationState: @unchecked Sendable {
    var generators: [[MT19937]] = []
    var turn = 0
    var nextEpoch = 1
    var seed: UInt32?
}

/// A batch of stacked samples: data [batch, ...], labels [batch].
public struct Batch {
    public var data: Tensor
    public var label: Tensor
    /// The samples it holds (their indices in the source), in order.
    public var indices: [Int]
}

/// MindSpore's dataset pipeline for training: a source, the random sampler's shuffle (seeded
/// from the dataset seed), `batch(batch_size, drop_remainder)`, `skip(n)` batches, and sharding
/// (`num_shards`, `shard_id`: shard k takes every num_shards-th sample of the shuffled order).
public struct Dataset {
    public let source: any DataSource
    public var shuffle: Bool
    public var batchSize: Int
    public var dropRemainder: Bool
    public var skip: Int
    public var numShards: Int
    public var shardID: Int
    /// Transforms of the data column, in order.
    public var transforms: [Transform] = []
    /// `num_parallel_workers` of the map: the random transforms' draws depend on it (Transform).
    public var numParallelWorkers = 1
    /// The dataset seed the random sampler and random transforms draw from (MindSpore's
    /// `ds.config.set_seed`, which `set_seed` sets); nil: drawn from OS entropy when a training
    /// run starts reading, as MindSpore does while no seed is set.
    public var seed: UInt32?
    /// How many batches a training run makes ahead on a thread of its own (MindSpore's
    /// `prefetch_size`, 16 by default).
    public var prefetchSize = Prefetcher.defaultCapacity
    /// MindSpore's `Dataset.shuffle(buffer_size)` after the sampler: samples pass through a buffer
    /// of this many and leave from a slot `mt19937_64() % filled` (MindSpore's ShuffleOp, seeded
    /// with the dataset seed, its engine continuing from epoch to epoch); nil: no buffer.
    public var shuffleBuffer: Int?
    let bufferShuffle = BufferShuffleState()
    let samplerOrder = SamplerOrderState()
    let augmentation = AugmentationState()

    /// One sample's data type after the transforms.
    /// - Throws: `DataError` for a transform that cannot take the shape it gets.
    public func sampleType() throws -> TensorType {
        var shape = source.dataType.shape
        if !transforms.isEmpty && source.dataType.dtype != .float32 {
            throw DataError("the transforms in map take float data; \(source.origin) gives \(source.dataType.dtype) samples")
        }
        for t in transforms { shape = try t.outputShape(shape) }
        return TensorType(source.dataType.dtype, shape)
    }

    /// - Throws: `DataError` for a batch size, skip or shard that cannot be.
    public init(source: any DataSource, shuffle: Bool = false, batchSize: Int = 1, dropRemainder: Bool = false, skip: Int = 0,
                numShards: Int = 1, shardID: Int = 0) throws {
        guard batchSize >= 1 else { throw DataError("batch_size must be at least 1, got \(batchSize)") }
        guard source.count <= 1 << 32 else { throw DataError("\(source.origin) has \(source.count) samples; a dataset holds at most 4294967296") }
        guard source.isRandomAccess || (!shuffle && numShards == 1) else {
            throw DataError("\(source.origin) is read in order only (an iterator, as MindSpore's GeneratorDataset over an iterable): it cannot be shuffled or sharded; give a source with random access")
        }
        guard skip >= 0 else { throw DataError("skip must be at least 0, got \(skip)") }
        guard numShards >= 1, (0..<numShards).contains(shardID) else {
            throw DataError("shard_id must be in 0..<num_shards (\(numShards)), got \(shardID)")
        }
        (self.source, self.shuffle, self.batchSize, self.dropRemainder, self.skip) = (source, shuffle, batchSize, dropRemainder, skip)
        (self.numShards, self.shardID) = (numShards, shardID)
    }

    /// The same pipeline reading shard `shardID` of `numShards` (MindSpore's distributed
    /// sampler: shard k takes every numShards-th sample of the shuffled order).
    /// - Throws: `DataError` for a shard that cannot be.
    public func shard(_ shardID: Int, of numShards: Int) throws -> Dataset {
        var d = try Dataset(source: source, shuffle: shuffle, batchSize: batchSize, dropRemainder: dropRemainder, skip: skip,
                            numShards: numShards, shardID: shardID)
        d.transforms = transforms
        d.numParallelWorkers = numParallelWorkers
        d.seed = seed
        d.prefetchSize = prefetchSize
        d.shuffleBuffer = shuffleBuffer
        return d
    }

    /// Samples of this shard per epoch.
    /// Every shard the same, ⌈count / numShards⌉ (MindSpore's DistributedSampler with even_dist:
    /// the last shards are padded from the start of the order, distributed_sampler.cc).
    public var shardSamples: Int { numShards == 1 ? source.count : (source.count + numShards - 1) / numShards }

    /// Batches per epoch (after `skip`, which applies to the first epoch only).
    public var batchesPerEpoch: Int {
        dropRemainder ? shardSamples / batchSize : (shardSamples + batchSize - 1) / batchSize
    }

    /// The sample order of `epoch` (from 1): the random sampler's under `shuffle` with the
    /// dataset's seed, else 0, 1, 2, …; then this shard's share.
    public func order(epoch: Int, shuffleSeed: UInt32) -> [Int] {
        compactOrder(epoch: epoch, shuffleSeed: shuffleSeed).map(Int.init)
    }

    /// `order` as 32-bit indices: what an epoch's batches hold while they are read (the one
    /// structure of a run that grows with the dataset, as MindSpore's sampler's ids do).
    func compactOrder(epoch: Int, shuffleSeed: UInt32) -> [UInt32] {
        let sharded = compactSamplerOrder(epoch: epoch, shuffleSeed: shuffleSeed)
        guard let size = shuffleBuffer else { return sharded }
        // The buffer's engine continues across the epochs of one pipeline: replay the earlier ones
        // unless the last epoch read was the one before this.
        let state = bufferShuffle
        return state.lock.withLock {
            if state.seed != shuffleSeed || state.nextEpoch != epoch {
                state.rng = MT19937_64(seed: UInt64(shuffleSeed))
                state.seed = shuffleSeed
                for e in 1..<max(epoch, 1) { _ = Self.bufferShuffled(compactSamplerOrder(epoch: e, shuffleSeed: shuffleSeed), size, &state.rng) }
            }
            state.nextEpoch = epoch + 1
            return Self.bufferShuffled(sharded, size, &state.rng)
        }
    }

    /// The sampler's order of this shard, before any buffer.
    private func compactSamplerOrder(epoch: Int, shuffleSeed: UInt32) -> [UInt32] {
        guard shuffle else { return shardOf((0..<source.count).map { UInt32(truncatingIfNeeded: $0) }) }
        let state = samplerOrder, count = source.count
        let all = state.lock.withLock {
            if let key = state.key, key.seed == shuffleSeed, key.count == count, key.epoch <= epoch, key.epoch >= 1 {
                // Continue from the order held: the shuffles of the epochs after it.
                for e in (key.epoch + 1)..<(epoch + 1) {
                    var g = MT19937(seed: shuffleSeed &+ UInt32(truncatingIfNeeded: e - 1))
                    shuffleGCC9(&state.order, &g)
                }
            } else {
                state.order = randomSamplerOrder(count: count, seed: shuffleSeed, epoch: epoch, as: UInt32.self)
            }
            state.key = (shuffleSeed, count, epoch)
            return state.order
        }
        return shardOf(all)
    }

    /// This shard's part of the order: positions numShards·c + shardID (mod count) for c below
    /// ⌈count / numShards⌉, as MindSpore's DistributedSampler takes them (GetNextSample).
    func shardOf(_ all: [UInt32]) -> [UInt32] {
        guard numShards > 1, !all.isEmpty else { return all }
        return (0..<shardSamples).map { all[(numShards * $0 + shardID) % all.count] }
    }

    /// MindSpore's ShuffleOp over one epoch: fill the buffer, then repeatedly send the row at a
    /// random slot, move the last row into it and refill the last slot from the input; once the
    /// input is spent, drain.
    static func bufferShuffled(_ input: [UInt32], _ size: Int, _ rng: inout MT19937_64) -> [UInt32] {
        var buffer = Array(input.prefix(size)), next = buffer.count, out: [UInt32] = []
        out.reserveCapacity(input.count)
        var last = buffer.count - 1
        while last >= 0 {
            let slot = Int(rng.next() % UInt64(last + 1))
            out.append(buffer[slot])
            buffer[slot] = buffer[last]
            if next < input.count {
                buffer[last] = input[next]
                next += 1
            } else {
                last -= 1
            }
        }
        return out
    }

    /// The batches of `epoch` in order (the first epoch without its `skip` first batches).
    /// With random transforms, epochs are read in order, each continuing the transforms'
    /// streams (reading epoch 1 again starts a new pipeline, as a new iterator does); the
    /// dataset seed `shuffleSeed` seeds them.
    /// - Throws: `DataError` for a sample the source cannot give.
    public func batches(epoch: Int, shuffleSeed: UInt32) throws -> [Batch] {
        var batches = epochBatches(epoch: epoch, shuffleSeed: shuffleSeed), out: [Batch] = []
        while let b = try batches.nextBatch() { out.append(b) }
        return out
    }

    /// The batches of `epoch` (from 1) as `batches(epoch:shuffleSeed:)` gives them, made one at a
    /// time as they are read: only the epoch's sample order is held, never its batches.
    public func epochBatches(epoch: Int, shuffleSeed: UInt32) -> EpochBatches {
        let order = compactOrder(epoch: epoch, shuffleSeed: shuffleSeed)
        let state = augmentation
        let random = transforms.contains(where: \.isRandom)
        if random && (epoch == 1 || state.seed != shuffleSeed || state.nextEpoch != epoch) {
            // A new pipeline: worker w's copy of each op is seeded with seed + w; epochs
            // skipped over still draw (their samples pass the transforms unseen).
            state.seed = shuffleSeed
            state.generators = transforms.map { _ in (0..<numParallelWorkers).map { MT19937(seed: shuffleSeed &+ UInt32($0)) } }
            state.turn = 0
            state.nextEpoch = 1
            while state.nextEpoch < epoch {
                var spare = MT19937(seed: 0)
                // Only the draws matter here; a sample the source cannot give fails when its epoch is read.
                for i in self.order(epoch: state.nextEpoch, shuffleSeed: shuffleSeed) { _ = try? transformed(i, &spare) }
                endEpoch()
            }
        }
        return EpochBatches(dataset: self, order: order, skip: epoch == 1 ? skip : 0, random: random)
    }

    /// The batches of one epoch, stacked (and transformed) one at a time as they are read by
    /// `nextBatch()`.
    public struct EpochBatches {
        let dataset: Dataset
        let order: [UInt32]
        var start = 0
        var skip: Int
        let random: Bool
        var ended = false

        init(dataset: Dataset, order: [UInt32], skip: Int, random: Bool) {
            (self.dataset, self.order, self.skip, self.random) = (dataset, order, skip, random)
        }

        /// The next batch; nil after the last.
        /// - Throws: `DataError` for a sample the source cannot give.
        public mutating func nextBatch() throws -> Batch? {
            while start < order.count {
                let end = Swift.min(order.count, start + dataset.batchSize)
                if end - start < dataset.batchSize && dataset.dropRemainder { break }
                let batch = try dataset.stack(order[start..<end].map(Int.init))
                start = end
                if skip > 0 {
                    skip -= 1
                    continue
                }
                return batch
            }
            // The epoch's end takes a worker's turn once, when the last batch has been read.
            if random && !ended { dataset.endEpoch() }
            ended = true
            return nil
        }
    }

    /// The end-of-epoch marker takes a worker's turn.
    func endEpoch() {
        augmentation.turn = (augmentation.turn + 1) % max(numParallelWorkers, 1)
        augmentation.nextEpoch += 1
    }

    /// Sample `index` through the transforms, the random ones drawing from the generators of
    /// the worker whose turn it is.
    /// `spare` serves the transforms that draw nothing.
    func transformed(_ index: Int, _ spare: inout MT19937) throws -> [Float] {
        var sample = try stackRaw([index]).data.toArray(of: Float.self)
        var shape = source.dataType.shape
        let state = augmentation
        let random = !state.generators.isEmpty
        let worker = state.turn
        if random { state.turn = (state.turn + 1) % max(numParallelWorkers, 1) }
        for (k, t) in transforms.enumerated() {
            if random && t.isRandom { t.apply(&sample, shape, &state.generators[k][worker]) } else { t.apply(&sample, shape, &spare) }
            shape = (try? t.outputShape(shape)) ?? shape
        }
        return sample
    }

    /// The samples `indices` stacked into one batch.
    func stack(_ indices: [Int]) throws -> Batch {
        let raw = try stackRaw(indices)
        guard !transforms.isEmpty, let outShape = try? sampleType().shape else { return raw }
        // Each sample through the transforms (shapes were checked by `sampleType`).
        var out: [Float] = []
        out.reserveCapacity(indices.count * outShape.count)
        var spare = MT19937(seed: 0)
        for i in indices { out += try transformed(i, &spare) }
        return Batch(data: try! Tensor(shape: Shape([indices.count] + outShape.dims), values: out), label: raw.label, indices: indices)
    }

    /// The samples `indices` stacked as the source gives them.
    func stackRaw(_ indices: [Int]) throws -> Batch {
        let d = source.dataType, l = source.labelType
        var data = Tensor(unfilled: Shape([indices.count] + d.shape.dims), dtype: d.dtype)
        var label = Tensor(unfilled: Shape([indices.count] + l.shape.dims), dtype: l.dtype)
        let ds = d.shape.count * d.dtype.size, ls = l.shape.count * l.dtype.size
        try data.withUnsafeMutableBytes { dp in
            try label.withUnsafeMutableBytes { lp in
                for (k, i) in indices.enumerated() { try source.copySample(i, data: dp.baseAddress! + k * ds, label: lp.baseAddress! + k * ls) }
            }
        }
        return Batch(data: data, label: label, indices: indices)
    }
}

/// Samples held in memory as tensors: data [N, ...] (float32) and labels [N] (int32) — MindSpore's
/// `NumpySlicesDataset` of two arrays handed over by another front end.
public struct TensorSource: StoredSource {
    public let storage: NpySource.Storage
    public let origin: String

    /// - Throws: `DataError` for data that is not float32 with a sample axis, labels that are not
    ///   an int32 vector, or counts that differ.
    public init(data: Tensor, labels: Tensor, origin: String = "the arrays given") throws {
        guard data.dtype == .float32, data.shape.rank >= 1 else { throw DataError("\(origin): data must be float32 with a sample axis first, got \(data.type)") }
        guard labels.dtype == .int32, labels.shape.rank == 1 else { throw DataError("\(origin): labels must be an int32 vector, got \(labels.type)") }
        guard labels.shape[0] == data.shape[0] else {
            throw DataError("\(origin): \(data.shape[0]) samples of data and \(labels.shape[0]) labels; they must be equal")
        }
        storage = NpySource.Storage(data: data.contiguous(), labels: labels.contiguous())
        self.origin = origin
    }
}
