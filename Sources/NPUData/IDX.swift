import CZlib
import Foundation
import NPUDevice
import NPUTensor

/// The IDX format of MNIST (LeCun et al.): two zero bytes, a type code, the number of
/// dimensions, each dimension as a big-endian 32-bit size, then the values, big-endian. Files
/// may be gzip-compressed (`.gz`, as MNIST is distributed).
public enum IDX {
    /// The most bytes a (decompressed) IDX file may hold.
    public static let byteLimit = 4 << 30
    /// The most values an IDX file may hold (1 GiB as float32; MNIST's images are 47 M values).
    public static let valueLimit = 1 << 28

    /// The header of an IDX file: element size in bytes, shape, value count and the header's
    /// length; nil while `bytes` is too short to hold it.
    /// - Throws: `DataError` naming the file for a bad magic number, type or rank, or more
    ///   values than `valueLimit` (checked before anything is allocated).
    static func header(_ bytes: [UInt8], file: String) throws -> (size: Int, shape: [Int], count: Int, length: Int)? {
        guard bytes.count >= 4 else { return nil }
        guard bytes[0] == 0, bytes[1] == 0 else {
            throw DataError("\(file): not an IDX file (it starts with \(bytes.prefix(4).map { String($0) }.joined(separator: " ")), IDX starts with 0 0 type rank)")
        }
        let sizes: [UInt8: Int] = [0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8]
        guard let size = sizes[bytes[2]] else {
            throw DataError("\(file): IDX type code 0x\(String(bytes[2], radix: 16)); valid are 08 (ubyte), 09 (byte), 0B (short), 0C (int), 0D (float), 0E (double)")
        }
        let rank = Int(bytes[3])
        guard rank >= 1, rank <= 8 else { throw DataError("\(file): IDX rank \(rank); valid ranks are 1 to 8") }
        guard bytes.count >= 4 + 4 * rank else { return nil }
        var shape: [Int] = []
        for d in 0..<rank {
            let o = 4 + 4 * d
            shape.append(Int(bytes[o]) << 24 | Int(bytes[o + 1]) << 16 | Int(bytes[o + 2]) << 8 | Int(bytes[o + 3]))
        }
        guard let count = Shape(shape).checkedCount, count <= valueLimit else {
            throw DataError("\(file): the IDX header says \(shape): more than \(valueLimit) values, the most NPUSim reads from one file")
        }
        return (size, shape, count, 4 + 4 * rank)
    }

    /// The values of an IDX file's bytes as float32 (images) with their shape, and the element
    /// type code; `file` names it in errors.
    /// - Throws: `DataError` naming the file for a bad magic number, type, shape or length.
    public static func decode(_ bytes: [UInt8], file: String) throws -> (values: [Float], shape: [Int], integer: Bool) {
        guard let (size, shape, count, base) = try header(bytes, file: file) else {
            throw DataError("\(file): the IDX header is truncated (\(bytes.count) bytes)")
        }
        guard count * size == bytes.count - base else {
            throw DataError("\(file): the IDX header says \(shape) values of \(size) byte\(size == 1 ? "" : "s") but the file has \(bytes.count - base) bytes of data (truncated?)")
        }
        var values = [Float](repeating: 0, count: count)
        func word(_ i: Int, _ n: Int) -> UInt64 { (0..<n).reduce(UInt64(0)) { $0 << 8 | UInt64(bytes[base + i * n + $1]) } }
        for i in 0..<count {
            switch bytes[2] {
            case 0x08: values[i] = Float(bytes[base + i])
            case 0x09: values[i] = Float(Int8(bitPattern: bytes[base + i]))
            case 0x0B: values[i] = Float(Int16(truncatingIfNeeded: word(i, 2)))
            case 0x0C: values[i] = Float(Int32(truncatingIfNeeded: word(i, 4)))
            case 0x0D: values[i] = Float(bitPattern: UInt32(word(i, 4)))
            default: values[i] = Float(Double(bitPattern: word(i, 8)))
            }
        }
        return (values, shape, bytes[2] != 0x0D && bytes[2] != 0x0E)
    }

    /// A file's bytes, gunzipped when they are gzip (1f 8b), at most `byteLimit` after
    /// decompression.
    /// - Throws: `DataError` naming the file.
    public static func read(_ path: String) throws -> [UInt8] {
        let raw: [UInt8]
        do { raw = try readUserFile(path, what: "IDX file", limit: byteLimit) } catch { throw DataError("\(path): \(error.message)") }
        guard raw.count >= 2, raw[0] == 0x1f, raw[1] == 0x8b else { return raw }
        // The header, once decompressed, bounds the rest: a bomb stops at its first megabyte.
        return try gunzip(raw, file: path) { prefix in try header(prefix, file: path).map { $0.length + $0.count * $0.size } }
    }

    /// `gunzip` with a 64 MiB output limit, for the fuzz harness (a decompression bomb must be
    /// refused quickly).
    public static func gunzipForFuzzing(_ data: [UInt8]) throws -> [UInt8] { try gunzip(data, file: "fuzz.gz", limit: 64 << 20) }

    /// Decompresses gzip data with zlib, refusing more than `limit` bytes of output, or more
    /// than `expected` says once it can tell from what is decompressed (nil: not yet); the
    /// output is allocated once at that size.
    static func gunzip(_ data: [UInt8], file: String, limit: Int = byteLimit, expected: ([UInt8]) throws -> Int? = { _ in nil }) throws -> [UInt8] {
        var limit = limit, known = false
        var stream = z_stream()
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw DataError("\(file): cannot start gzip decompression")
        }
        defer { inflateEnd(&stream) }
        var out = [UInt8](), chunk = [UInt8](repeating: 0, count: 1 << 20)
        var status: Int32 = Z_OK
        try data.withUnsafeBufferPointer { input in
            stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
            stream.avail_in = uInt(input.count)
            repeat {
                try chunk.withUnsafeMutableBufferPointer { buffer in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = uInt(buffer.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    guard status == Z_OK || status == Z_STREAM_END else {
                        throw DataError("\(file): the gzip data is damaged (zlib status \(status)) after \(out.count) bytes")
                    }
                    out.append(contentsOf: buffer.prefix(buffer.count - Int(stream.avail_out)))
                }
                if !known, let total = try expected(out) {
                    known = true
                    guard total <= limit else { throw DataError("\(file): its header says \(total) bytes, more than \(limit)") }
                    limit = total
                    out.reserveCapacity(total)
                }
                guard out.count <= limit else { throw DataError("\(file): decompresses to more than \(limit) bytes\(known ? ", more than its header says" : "")") }
                if status != Z_STREAM_END && stream.avail_in == 0 && stream.avail_out != 0 {
                    throw DataError("\(file): the gzip data is truncated after \(out.count) bytes")
                }
            } while status != Z_STREAM_END
        }
        return out
    }
}

/// An IDX pair (MindSpore's MnistDataset): images [N, H, W] become samples [H, W, 1] (HWC, as
/// MindSpore yields them; add HWC2CHW in `map`), values as float32 0…255; labels [N] integers.
public struct IDXSource: StoredSource {
    public let storage: NpySource.Storage
    public let origin: String

    /// - Throws: `DataError` naming the file for a file that cannot be read or decoded, labels that
    ///   are not integers, or sample counts that differ.
    public init(data dataPath: String, label labelPath: String) throws {
        let images = try IDX.decode(try IDX.read(dataPath), file: dataPath)
        let labels = try IDX.decode(try IDX.read(labelPath), file: labelPath)
        guard labels.shape.count == 1, labels.integer else { throw DataError("\(labelPath): labels must be a vector of integers, got shape \(labels.shape)") }
        guard labels.shape[0] == images.shape[0] else {
            throw DataError("\(labelPath) has \(labels.shape[0]) labels, \(dataPath) has \(images.shape[0]) images; they must be equal")
        }
        let sample = images.shape.count == 3 ? Array(images.shape.dropFirst()) + [1] : Array(images.shape.dropFirst())
        storage = NpySource.Storage(data: try Tensor(shape: Shape([images.shape[0]] + sample), values: images.values),
                                   labels: try Tensor(shape: [labels.shape[0]], values: labels.values.map { Int32($0) }))
        origin = "\(dataPath) and \(labelPath)"
    }

}
