import CZlib

/// An error reading a MindSpore `.ckpt` file: the file, the parameter if one is at fault, what was
/// wrong and what is valid.
public struct MindSporeCheckpointError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// MindSpore's `.ckpt` format, as `mindspore.save_checkpoint` writes it and `load_checkpoint`
/// reads it: the protobuf (proto2) message
///
///     message Checkpoint { message Value { required string tag = 1;
///                                          TensorProto tensor = 2; MapTensorProto maptensor = 3; }
///                          repeated Value value = 1; }
///     message TensorProto { repeated int64 dims = 1; required string tensor_type = 2;
///                           required bytes tensor_content = 3; }
///
/// written as one serialized `Checkpoint` per value (or per slice of a large value: slices of one
/// tag follow each other and their contents are concatenated), optionally followed by the 17-byte
/// trailer `crc_num` + a 10-byte big-endian CRC-32 of everything before it. `tensor_type` is
/// MindSpore's dtype name (`Float32`, `Int32`, ...); contents are little-endian and row-major;
/// `dims` of `[0]` (or none) mean a scalar; type `str` holds a string as numpy's UTF-32 text.
/// The wire format is read here directly (a small reader, fuzzed by `make fuzz`), not generated.
public enum MindSporeCheckpoint {
    /// MindSpore's dtype names for the dtypes NPUSim holds.
    static let names: [DType: String] = [.float32: "Float32", .float16: "Float16", .int32: "Int32", .int64: "Int64", .bool: "Bool"]
    /// MindSpore's other dtype names: recognised, to say which dtype a file holds that NPUSim cannot.
    static let otherNames: Set<String> = ["Int8", "UInt8", "Int16", "UInt16", "UInt32", "UInt64", "Float64", "BFloat16", "Int4"]

    /// A decoded file: tensors in file order, and the string values MindSpore saves beside them.
    public struct Contents {
        public var tensors: [(name: String, tensor: Tensor)]
        public var strings: [String: String]
        public subscript(name: String) -> Tensor? { tensors.first { $0.name == name }?.tensor }
    }

    /// The file's bytes for `tensors`, in the given order, one `Checkpoint` message per tensor, as
    /// MindSpore writes them (no trailer).
    public static func encode(_ tensors: [(name: String, tensor: Tensor)]) -> [UInt8] {
        var out: [UInt8] = []
        for (name, t) in tensors {
            var proto: [UInt8] = []
            for d in t.shape.dims { key(1, 0, &proto); varint(UInt64(d), &proto) }
            bytesField(2, Array(names[t.dtype]!.utf8), &proto)
            var content = [UInt8](repeating: 0, count: t.byteCount)
            content.withUnsafeMutableBytes { dst in t.withUnsafeBytes { src in if !src.isEmpty { dst.copyMemory(from: src) } } }
            bytesField(3, content, &proto)
            var value: [UInt8] = []
            bytesField(1, Array(name.utf8), &value)
            bytesField(2, proto, &value)
            bytesField(1, value, &out)
        }
        return out
    }

    /// The tensors and strings of a `.ckpt` file's bytes; `file` names it in errors.
    /// - Throws: `MindSporeCheckpointError` for bytes that are not the format (truncated, damaged,
    ///   encrypted), a CRC trailer that does not match, a dtype NPUSim does not hold, a MapParameter,
    ///   or contents whose size does not match the dims.
    public static func decode(_ bytes: [UInt8], file: String) throws(MindSporeCheckpointError) -> Contents {
        var body = bytes[...]
        let trailer = Array("crc_num".utf8)
        if bytes.count >= 17, Array(bytes[(bytes.count - 17)..<(bytes.count - 10)]) == trailer {
            body = bytes[..<(bytes.count - 17)]
            let stored = bytes[(bytes.count - 10)...].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let computed = body.withUnsafeBufferPointer { p in
                UInt64(p.isEmpty ? 0 : crc32(0, p.baseAddress, uInt(p.count)))
            }
            guard stored == computed else {
                throw MindSporeCheckpointError("\(file): the CRC-32 at the end (\(stored)) does not match the contents (\(computed)); the file is damaged")
            }
        }
        var values: [(tag: String, dims: [Int], type: String, content: ArraySlice<UInt8>)] = []
        var reader = Reader(bytes: body, file: file)
        while !reader.atEnd {
            let (field, wire) = try reader.key("Checkpoint")
            guard field == 1, wire == 2 else { try reader.skip(wire, "Checkpoint"); continue }
            var value = try reader.message("Checkpoint.value")
            var tag: String?, tensor: ArraySlice<UInt8>?
            while !value.atEnd {
                let (f, w) = try value.key("Checkpoint.Value")
                switch (f, w) {
                case (1, 2): tag = try value.string("Checkpoint.Value.tag")
                case (2, 2): tensor = try value.bytes("Checkpoint.Value.tensor")
                case (3, 2):
                    throw MindSporeCheckpointError("\(file): '\(tag ?? "?")' is a MapParameter (maptensor); NPUSim reads tensors only")
                default: try value.skip(w, "Checkpoint.Value")
                }
            }
            guard let tag else { throw MindSporeCheckpointError("\(file): value \(values.count) has no tag (a required field); the file is damaged or not a MindSpore checkpoint") }
            guard let tensor else { throw MindSporeCheckpointError("\(file): '\(tag)' has no tensor") }
            var proto = Reader(bytes: tensor, file: file)
            var dims: [Int] = [], type: String?, content: ArraySlice<UInt8>?
            while !proto.atEnd {
                let (f, w) = try proto.key("TensorProto")
                switch (f, w) {
                case (1, 0): dims.append(try proto.dim(tag))
                case (1, 2):
                    var packed = try proto.message("TensorProto.dims")
                    while !packed.atEnd { dims.append(try packed.dim(tag)) }
                case (2, 2): type = try proto.string("TensorProto.tensor_type")
                case (3, 2): content = try proto.bytes("TensorProto.tensor_content")
                default: try proto.skip(w, "TensorProto")
                }
                guard dims.count <= 16 else { throw MindSporeCheckpointError("\(file): '\(tag)' has more than 16 dims") }
            }
            guard let type, let content else { throw MindSporeCheckpointError("\(file): '\(tag)' lacks tensor_type or tensor_content (required fields)") }
            values.append((tag, dims, type, content))
        }

        // Slices of one tag follow each other; their contents are concatenated.
        var contents = Contents(tensors: [], strings: [:])
        var seen: Set<String> = []
        var k = 0
        while k < values.count {
            let first = values[k]
            var data = Array(first.content)
            k += 1
            while k < values.count, values[k].tag == first.tag {
                guard values[k].type == first.type else {
                    throw MindSporeCheckpointError("\(file): the slices of '\(first.tag)' have types \(first.type) and \(values[k].type)")
                }
                data += values[k].content
                k += 1
            }
            guard seen.insert(first.tag).inserted else { throw MindSporeCheckpointError("\(file): '\(first.tag)' appears twice") }
            if first.type == "str" {
                contents.strings[first.tag] = utf32Text(data)
                continue
            }
            guard let dtype = names.first(where: { $0.value == first.type })?.key else {
                let valid = names.values.sorted().joined(separator: ", ")
                if otherNames.contains(first.type) {
                    throw MindSporeCheckpointError("\(file): '\(first.tag)' is \(first.type); NPUSim holds \(valid)")
                }
                throw MindSporeCheckpointError("\(file): '\(first.tag)' has tensor_type '\(first.type.prefix(40))', not a MindSpore dtype NPUSim holds (\(valid))")
            }
            let shape = Shape(first.dims == [0] ? [] : first.dims)
            guard let count = shape.checkedCount, !count.multipliedReportingOverflow(by: dtype.size).overflow,
                  count * dtype.size == data.count else {
                throw MindSporeCheckpointError("\(file): '\(first.tag)' is \(first.type) with dims \(first.dims) but has \(data.count) bytes of content")
            }
            var t = Tensor(zeros: shape, dtype: dtype)
            t.withUnsafeMutableBytes { dst in data.withUnsafeBytes { src in if !src.isEmpty { dst.copyMemory(from: src) } } }
            contents.tensors.append((first.tag, t))
        }
        return contents
    }

    /// numpy's `U` text: UTF-32LE code points, padded with zeros.
    static func utf32Text(_ data: [UInt8]) -> String {
        var scalars = String.UnicodeScalarView()
        var i = 0
        while i + 4 <= data.count {
            let v = UInt32(data[i]) | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2]) << 16 | UInt32(data[i + 3]) << 24
            if v == 0 { break }
            scalars.append(Unicode.Scalar(v) ?? "\u{FFFD}")
            i += 4
        }
        return String(scalars)
    }

    static func key(_ field: Int, _ wire: Int, _ out: inout [UInt8]) { varint(UInt64(field << 3 | wire), &out) }
    static func varint(_ v: UInt64, _ out: inout [UInt8]) {
        var v = v
        while v >= 0x80 { out.append(UInt8(v & 0x7F) | 0x80); v >>= 7 }
        out.append(UInt8(v))
    }
    static func bytesField(_ field: Int, _ bytes: [UInt8], _ out: inout [UInt8]) {
        key(field, 2, &out)
        varint(UInt64(bytes.count), &out)
        out += bytes
    }

    /// A bounds-checked reader of protobuf wire data.
    struct Reader {
        var bytes: ArraySlice<UInt8>
        let file: String
        var atEnd: Bool { bytes.isEmpty }

        func damaged(_ what: String, _ why: String) -> MindSporeCheckpointError {
            MindSporeCheckpointError("\(file): not a readable MindSpore checkpoint: \(why) in \(what) (the file is truncated, damaged, encrypted or not a .ckpt)")
        }
        mutating func varint(_ what: String) throws(MindSporeCheckpointError) -> UInt64 {
            var v: UInt64 = 0, shift: UInt64 = 0
            while let b = bytes.first {
                bytes = bytes.dropFirst()
                guard shift < 64 else { throw damaged(what, "a varint longer than 10 bytes") }
                v |= UInt64(b & 0x7F) << shift
                if b & 0x80 == 0 { return v }
                shift += 7
            }
            throw damaged(what, "the data ends inside a varint")
        }
        mutating func key(_ what: String) throws(MindSporeCheckpointError) -> (Int, Int) {
            let k = try varint(what)
            guard k >> 3 > 0, k >> 3 < 1 << 29 else { throw damaged(what, "field number \(k >> 3)") }
            return (Int(k >> 3), Int(k & 7))
        }
        mutating func bytes(_ what: String) throws(MindSporeCheckpointError) -> ArraySlice<UInt8> {
            let n = try varint(what)
            guard n <= UInt64(bytes.count) else { throw damaged(what, "a field of \(n) bytes where \(bytes.count) remain") }
            let out = bytes.prefix(Int(n))
            bytes = bytes.dropFirst(Int(n))
            return out
        }
        mutating func message(_ what: String) throws(MindSporeCheckpointError) -> Reader {
            Reader(bytes: try bytes(what), file: file)
        }
        mutating func string(_ what: String) throws(MindSporeCheckpointError) -> String {
            let b = try bytes(what)
            guard let s = String(validating: b, as: UTF8.self) else { throw damaged(what, "text that is not UTF-8") }
            return s
        }
        mutating func dim(_ tag: String) throws(MindSporeCheckpointError) -> Int {
            let v = try varint("TensorProto.dims")
            guard v <= UInt64(Int32.max) else {
                throw MindSporeCheckpointError("\(file): '\(tag)' has a dim of \(Int64(bitPattern: v)); dims are sizes from 0 to \(Int32.max)")
            }
            return Int(v)
        }
        mutating func skip(_ wire: Int, _ what: String) throws(MindSporeCheckpointError) {
            switch wire {
            case 0: _ = try varint(what)
            case 1, 5:
                let n = wire == 1 ? 8 : 4
                guard bytes.count >= n else { throw damaged(what, "the data ends inside a fixed-size field") }
                bytes = bytes.dropFirst(n)
            case 2: _ = try bytes(what)
            default: throw damaged(what, "wire type \(wire)")
            }
        }
    }
}
