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
/// `batch(batchSize, dropRemainder)`, shuffled by MindSpore's random sampler when `shuffle` is 1.
@_cdecl("npusim_dataset_from_arrays")
public func npusim_dataset_from_arrays(_ data: OpaquePointer?, _ labels: OpaquePointer?, _ batchSize: Int64, _ dropRemainder: Int32,
                                       _ shuffle: Int32, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guarded {
        guard let out else { throw ABIError(message: "the out pointer is null") }
        guard batchSize >= 1, batchSize <= 1 << 31 else { throw ABIError(message: "batch_size must be at least 1, got \(batchSize)") }
        let source = try TensorSource(data: try box(data).tensor, labels: try box(labels).tensor)
        let d = try Dataset(source: source, shuffle: shuffle == 1, batchSize: Int(batchSize), dropRemainder: dropRemainder == 1)
        out.pointee = OpaquePointer(Unmanaged.passRetained(DatasetBox(d)).toOpaque())
    }
}
