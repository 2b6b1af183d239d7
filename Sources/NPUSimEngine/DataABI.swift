import NPUData
import NPUScript
import NPUTensor

// Datasets through the ABI: a front end iterates the engine's pipeline (its sources, MindSpore's
// random sampler and transforms) batch by batch, as MindSpore's dataset iterators do.

/// A dataset and the epoch being read.
final class DatasetBox {
    var dataset: Dataset
    var reading: Dataset.EpochBatches?
    init(_ dataset: Dataset) { self.dataset = dataset }
}

private func dataset(_ handle: OpaquePointer?) throws -> DatasetBox {
    guard let handle else { throw ABIError(message: "the dataset handle is null") }
    return Unmanaged<DatasetBox>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
}

/// A dataset from a training script's `dataset:` section (`yaml`: a mapping whose one key is
/// `dataset`; Docs/ScriptFormat.md), `file` naming it in errors.
@_cdecl("npusim_dataset_from_yaml")
public func npusim_dataset_from_yaml(_ yaml: UnsafePointer<CChar>?, _ file: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guarded {
        guard let yaml, let file, let out else { throw ABIError(message: "the text, file or out pointer is null") }
        let spec = try Script.parseDataset(yaml: String(cString: yaml), file: String(cString: file))
        let d = try spec.make()
        out.pointee = OpaquePointer(Unmanaged.passRetained(DatasetBox(d)).toOpaque())
    }
}

/// Releases a dataset handle.
@_cdecl("npusim_dataset_free")
public func npusim_dataset_free(_ handle: OpaquePointer?) {
    guard let handle else { return }
    Unmanaged<DatasetBox>.fromOpaque(UnsafeRawPointer(handle)).release()
}

/// Batches per epoch (MindSpore's `get_dataset_size`).
@_cdecl("npusim_dataset_size")
public func npusim_dataset_size(_ handle: OpaquePointer?, _ out: UnsafeMutablePointer<Int64>?) -> Int32 {
    guarded {
        guard let out else { throw ABIError(message: "the out pointer is null") }
        out.pointee = Int64(try dataset(handle).dataset.batchesPerEpoch)
    }
}

/// Starts reading epoch `epoch` (from 1) with the dataset seed `seed` (MindSpore's
/// `ds.config` seed, which `set_seed` sets; the random sampler and random transforms draw from it).
@_cdecl("npusim_dataset_start")
public func npusim_dataset_start(_ handle: OpaquePointer?, _ epoch: Int64, _ seed: UInt32) -> Int32 {
    guarded {
        let d = try dataset(handle)
        guard epoch >= 1, epoch <= 1 << 40 else { throw ABIError(message: "the epoch must be ≥ 1, got \(epoch)") }
        d.reading = d.dataset.epochBatches(epoch: Int(epoch), shuffleSeed: seed)
    }
}

/// The epoch's next batch: new handles for its data and labels, or nulls after the last batch.
@_cdecl("npusim_dataset_next")
public func npusim_dataset_next(_ handle: OpaquePointer?, _ data: UnsafeMutablePointer<OpaquePointer?>?,
                                _ labels: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guarded {
        let d = try dataset(handle)
        guard let data, let labels else { throw ABIError(message: "an out pointer is null") }
        guard d.reading != nil else { throw ABIError(message: "no epoch is being read (npusim_dataset_start)") }
        if let b = try d.reading!.nextBatch() {
            data.pointee = OpaquePointer(Unmanaged.passRetained(TensorBox(b.data)).toOpaque())
            labels.pointee = OpaquePointer(Unmanaged.passRetained(TensorBox(b.label)).toOpaque())
        } else {
            (data.pointee, labels.pointee) = (nil, nil)
            d.reading = nil
        }
    }
}

/// A dataset of the arrays `data` [N, ...] (float32) and `labels` [N] (int32):
/// `batch(batchSize, dropRemainder)`, shuffled by MindSpore's random sampler when `shuffle` is 1,
/// and through a shuffle buffer of `shuffleBuffer` rows (MindSpore's `Dataset.shuffle`) when ≥ 2.
@_cdecl("npusim_dataset_from_arrays")
public func npusim_dataset_from_arrays(_ data: OpaquePointer?, _ labels: OpaquePointer?, _ batchSize: Int64, _ dropRemainder: Int32,
                                       _ shuffle: Int32, _ shuffleBuffer: Int64, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guarded {
        guard let out else { throw ABIError(message: "the out pointer is null") }
        guard batchSize >= 1, batchSize <= 1 << 31 else { throw ABIError(message: "batch_size must be at least 1, got \(batchSize)") }
        let source = try TensorSource(data: try box(data).tensor, labels: try box(labels).tensor)
        var d = try Dataset(source: source, shuffle: shuffle == 1, batchSize: Int(batchSize), dropRemainder: dropRemainder == 1)
        d.shuffleBuffer = try buffer(shuffleBuffer)
        out.pointee = OpaquePointer(Unmanaged.passRetained(DatasetBox(d)).toOpaque())
    }
}

/// The samples of the training-script format's `synthetic` source (`count` samples of `shape`
/// from `classes` classes, drawn from `seed`): new tensors `data` [count, shape...] (float32)
/// and `labels` [count] (int32), the values `npusim run` trains a script's synthetic data on.
@_cdecl("npusim_synthetic")
public func npusim_synthetic(_ count: Int64, _ dims: UnsafePointer<Int64>?, _ ndim: Int32, _ classes: Int64, _ seed: UInt64,
                             _ data: UnsafeMutablePointer<OpaquePointer?>?, _ labels: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guarded {
        guard let data, let labels else { throw ABIError(message: "an out pointer is null") }
        guard (1...10_000_000).contains(count), (1...1_000_000).contains(classes) else {
            throw ABIError(message: "count must be 1 to 10000000 and classes 1 to 1000000, got \(count) and \(classes)")
        }
        let s = try shape(dims, ndim)
        let source = try SyntheticSource(count: Int(count), shape: s, classes: Int(classes), seed: seed)
        guard let total = Shape([Int(count)] + s.dims).checkedCount, total <= 1 << 31 else {
            throw ABIError(message: "\(count) samples of \(s) are more than 2^31 values")
        }
        var x = Tensor(unfilled: Shape([Int(count)] + s.dims)), y = Tensor(unfilled: Shape([Int(count)]), dtype: .int32)
        let sample = s.count * 4
        x.withUnsafeMutableBytes { xs in
            y.withUnsafeMutableBytes { ys in
                for i in 0..<Int(count) { source.copySample(i, data: xs.baseAddress! + i * sample, label: ys.baseAddress! + i * 4) }
            }
        }
        data.pointee = OpaquePointer(Unmanaged.passRetained(TensorBox(x)).toOpaque())
        labels.pointee = OpaquePointer(Unmanaged.passRetained(TensorBox(y)).toOpaque())
    }
}

/// A shuffle buffer size from the ABI: 0 none, else at least 2 (MindSpore's rule).
func buffer(_ size: Int64) throws -> Int? {
    guard size != 0 else { return nil }
    guard size >= 2, size <= Int64(Int32.max) else { throw ABIError(message: "the shuffle buffer size must be greater than 1, got \(size)") }
    return Int(size)
}
