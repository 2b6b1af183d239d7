import Foundation
import NPUDevice
import NPUTensor

/// CIFAR-10's binary batches (`data_batch_1.bin` … `test_batch.bin`; MindSpore's
/// Cifar10Dataset): records of one label byte then 3,072 pixel bytes, the red, green and blue
/// 32×32 planes in turn. Samples are HWC [32, 32, 3] of 0…255, as MindSpore yields them (add
/// Rescale and HWC2CHW in `map`).
public struct CIFAR10Source: StoredSource {
    public let storage: NpySource.Storage
    public let origin: String
    static let record = 1 + 3 * 32 * 32

    /// - Throws: `DataError` naming the file for one that cannot be read, a length that is not a
    ///   whole number of records, or a label above 9.
    public init(files: [String]) throws {
        guard !files.isEmpty else { throw DataError("cifar10 needs at least one batch file (data_batch_1.bin, …)") }
        var images: [Float] = [], labels: [Int32] = []
        for file in files {
            let bytes: [UInt8]
            do { bytes = try readUserFile(file, what: "CIFAR-10 batch", limit: 1 << 30) } catch { throw DataError("\(file): \(error.message)") }
            try Self.decode(bytes, file: file, images: &images, labels: &labels)
        }
        storage = NpySource.Storage(data: try Tensor(shape: [labels.count, 32, 32, 3], values: images), labels: try Tensor(shape: [labels.count], values: labels))
        origin = files.count == 1 ? files[0] : "\(files[0]) and \(files.count - 1) more"
    }

    /// Appends the records of one batch file's bytes (HWC images, labels).
    public static func decode(_ bytes: [UInt8], file: String, images: inout [Float], labels: inout [Int32]) throws {
        guard !bytes.isEmpty, bytes.count % record == 0 else {
            throw DataError("\(file): \(bytes.count) bytes is not a whole number of CIFAR-10 records (\(record) bytes each: a label and 3×32×32 pixels)")
        }
        for r in 0..<(bytes.count / record) {
            let base = r * record
            guard bytes[base] <= 9 else { throw DataError("\(file): record \(r) has label \(bytes[base]); CIFAR-10 labels are 0 to 9") }
            labels.append(Int32(bytes[base]))
            for y in 0..<32 { for x in 0..<32 { for c in 0..<3 { images.append(Float(bytes[base + 1 + c * 1024 + y * 32 + x])) } } }
        }
    }

}
