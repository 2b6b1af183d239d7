import Foundation

/// An error reading a safetensors file: the file, the tensor if one is at fault, what was wrong.
public struct SafetensorsError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The safetensors format (Hugging Face's; what Python's `safetensors` package reads and writes):
/// an 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape and byte
/// range (plus optional `__metadata__` of strings), then the tensors' bytes, little-endian,
/// row-major, back to back.
public enum Safetensors {
    static let dtypes: [DType: String] = [.float32: "F32", .float16: "F16", .int32: "I32", .int64: "I64", .bool: "BOOL"]

    /// The file's bytes for `tensors` (written in name order) and `metadata`.
    public static func encode(_ tensors: [String: Tensor], metadata: [String: String] = [:]) -> [UInt8] {
        var header = "{"
        var offset = 0
        var entries: [String] = []
        if !metadata.isEmpty {
            entries.append("\"__metadata__\":{" + metadata.keys.sorted().map { "\(json($0)):\(json(metadata[$0]!))" }.joined(separator: ",") + "}")
        }
        let names = tensors.keys.sorted()
        for name in names {
            let t = tensors[name]!
            entries.append("\(json(name)):{\"dtype\":\"\(dtypes[t.dtype]!)\",\"shape\":[\(t.shape.dims.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + t.byteCount)]}")
            offset += t.byteCount
        }
        header += entries.joined(separator: ",") + "}"
        // The header is padded with spaces so the data starts 8-byte aligned, as the reference writer does.
        while (8 + header.utf8.count) % 8 != 0 { header += " " }
        var out = [UInt8]()
        out.reserveCapacity(8 + header.utf8.count + offset)
        var length = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
        out.append(contentsOf: header.utf8)
        for name in names { tensors[name]!.withUnsafeBytes { out.append(contentsOf: $0) } }
        return out
    }

    /// The tensors and metadata of a safetensors file's bytes; `file` names it in errors.
    /// - Throws: `SafetensorsError` for a truncated file, a header that is not the format's JSON,
    ///   an unsupported dtype, or byte ranges that do not match the shapes or the file.
    public static func decode(_ bytes: [UInt8], file: String) throws(SafetensorsError) -> (tensors: [String: Tensor], metadata: [String: String]) {
        guard bytes.count >= 8 else { throw SafetensorsError("\(file): truncated: \(bytes.count) bytes, a safetensors file starts with an 8-byte header length") }
        let length = bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard length <= UInt64(bytes.count - 8), length <= 100 << 20 else {
            throw SafetensorsError("\(file): the header claims \(length) bytes, the file has \(bytes.count - 8) after the length")
        }
        let headerEnd = 8 + Int(length)
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd]))
        } catch {
            throw SafetensorsError("\(file): the header is not JSON")
        }
        guard let header = object as? [String: Any] else { throw SafetensorsError("\(file): the header is not a JSON object") }
        var metadata: [String: String] = [:]
        if let m = header["__metadata__"] {
            guard let m = m as? [String: Any] else { throw SafetensorsError("\(file): __metadata__ is not an object of strings") }
            for (k, v) in m {
                guard let s = v as? String else { throw SafetensorsError("\(file): __metadata__ '\(k)' is not a string") }
                metadata[k] = s
            }
        }
        let data = bytes.count - headerEnd
        var tensors: [String: Tensor] = [:]
        var ranges: [(Int, Int, String)] = []
        for (name, value) in header where name != "__metadata__" {
            guard let entry = value as? [String: Any], let code = entry["dtype"] as? String, let shapeList = entry["shape"] as? [Any],
                  let offsets = entry["data_offsets"] as? [Any], offsets.count == 2 else {
                throw SafetensorsError("\(file): tensor '\(name)' needs dtype, shape and data_offsets")
            }
            guard let dtype = dtypes.first(where: { $0.value == code })?.key else {
                throw SafetensorsError("\(file): tensor '\(name)' has dtype \(code); supported are \(dtypes.values.sorted().joined(separator: ", "))")
            }
            let dims = shapeList.compactMap { ($0 as? NSNumber)?.intValue }
            guard dims.count == shapeList.count, dims.count <= 16, dims.allSatisfy({ $0 >= 0 }), let count = Shape(dims).checkedCount else {
                throw SafetensorsError("\(file): tensor '\(name)' has shape \(shapeList), not a list of sizes")
            }
            guard let begin = (offsets[0] as? NSNumber)?.intValue, let end = (offsets[1] as? NSNumber)?.intValue, begin >= 0, begin <= end, end <= data else {
                throw SafetensorsError("\(file): tensor '\(name)' has data_offsets \(offsets) outside the \(data) data bytes")
            }
            guard count.multipliedReportingOverflow(by: dtype.size).partialValue == end - begin, !count.multipliedReportingOverflow(by: dtype.size).overflow else {
                throw SafetensorsError("\(file): tensor '\(name)' is \(dtype)\(Shape(dims)) (\(count) elements) but has \(end - begin) bytes")
            }
            var t = Tensor(zeros: Shape(dims), dtype: dtype)
            t.withUnsafeMutableBytes { dst in
                bytes.withUnsafeBytes { src in
                    if end > begin { dst.baseAddress!.copyMemory(from: src.baseAddress! + headerEnd + begin, byteCount: end - begin) }
                }
            }
            tensors[name] = t
            ranges.append((begin, end, name))
        }
        ranges.sort { $0.0 < $1.0 }
        for (a, b) in zip(ranges, ranges.dropFirst()) where b.0 < a.1 {
            throw SafetensorsError("\(file): tensors '\(a.2)' and '\(b.2)' overlap in the data")
        }
        return (tensors, metadata)
    }

    static func json(_ s: String) -> String {
        let data = try! JSONSerialization.data(withJSONObject: [s], options: [])
        return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
    }
}

/// Writes `bytes` to `path` so that an interrupted write never damages what was there: a temporary
/// file in the same folder (`.NAME.tmp-PID`), flushed to the disk (fsync), renamed into place, and
/// the folder flushed too, so the rename itself survives a crash. Temporaries that processes no
/// longer alive left in the folder (a write killed half-way) are removed first.
/// - Throws: `SafetensorsError` naming the path and the system's reason.
public func writeDurably(_ bytes: [UInt8], to path: String) throws(SafetensorsError) {
    let url = URL(fileURLWithPath: path)
    let folder = url.deletingLastPathComponent()
    removeStaleTemporaries(in: folder.path)
    let temporary = folder.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
    guard FileManager.default.createFile(atPath: temporary.path, contents: nil), let handle = FileHandle(forWritingAtPath: temporary.path) else {
        throw SafetensorsError("\(path): cannot create \(temporary.path) (does the folder exist and is it writable?)")
    }
    do {
        try handle.write(contentsOf: Data(bytes))
        try handle.synchronize()
        try handle.close()
        guard rename(temporary.path, path) == 0 else { throw SafetensorsError("rename failed: \(String(cString: strerror(errno)))") }
    } catch {
        try? FileManager.default.removeItem(at: temporary)
        throw SafetensorsError("\(path): cannot write: \(error)")
    }
    let fd = open(folder.path, O_RDONLY)
    if fd >= 0 {
        _ = fsync(fd)
        close(fd)
    }
}

/// Removes `.NAME.tmp-PID` files in `folder` whose process is gone (what a killed durable write
/// leaves); those of live processes (a write in progress) stay.
public func removeStaleTemporaries(in folder: String) {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
    for name in names where name.hasPrefix(".") {
        guard let marker = name.range(of: ".tmp-", options: .backwards), let pid = Int32(name[marker.upperBound...]), pid > 0 else { continue }
        if kill(pid, 0) != 0 && errno == ESRCH {
            try? FileManager.default.removeItem(atPath: folder + "/" + name)
        }
    }
}
