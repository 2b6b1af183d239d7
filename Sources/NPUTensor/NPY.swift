import Foundation
import NPUDevice

/// A `.npy` file that cannot be read, or a tensor that cannot be written.
public struct NPYError: Error, Equatable, CustomStringConvertible {
    /// What kind of problem, for callers that branch on it.
    public enum Kind: String, Sendable {
        case unreadable, notNPY, unsupportedVersion, truncatedHeader, malformedHeader
        case fortranOrder, bigEndian, unsupportedDType, truncatedData, sizeMismatch, unwritable
    }

    public var file: String
    public var kind: Kind
    /// What was wrong and what is valid.
    public var message: String

    public var description: String { "\(file): \(message)" }
}

extension NPYError: CategorizedError {
    public var category: ErrorCategory { kind == .unwritable ? .runFailed : .badInput }
}

/// NumPy's `.npy` format (versions 1.0, 2.0 and 3.0; little-endian `<f4 <f2 <i4 <i8 |b1`, C order).
public enum NPY {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

    /// The descr strings we read and write.
    static let descriptors: [(descr: String, dtype: DType)] = [
        ("<f4", .float32), ("<f2", .float16), ("<i4", .int32), ("<i8", .int64), ("|b1", .bool),
    ]

    static var validDescriptors: String { descriptors.map(\.descr).joined(separator: " ") }

    /// The largest `.npy` file read (16 GiB).
    public static let fileLimit = 16 << 30

    /// Reads a tensor from a `.npy` file.
    /// - Throws: `NPYError` naming the file and the problem.
    public static func read(path: String) throws(NPYError) -> Tensor {
        let bytes: [UInt8]
        do {
            bytes = try readUserFile(path, what: ".npy", limit: fileLimit)
        } catch {
            throw NPYError(file: path, kind: .unreadable, message: error.message)
        }
        return try decode(bytes, file: path)
    }

    /// Writes `tensor` to `path` durably (`writeDurably`: a temporary file renamed into place,
    /// file and folder flushed), so an existing file is never left half-written. Uses format 1.0
    /// unless the header needs 2.0.
    public static func write(_ tensor: Tensor, path: String) throws(NPYError) {
        do {
            try writeDurably(encode(tensor), to: path)
        } catch {
            throw NPYError(file: path, kind: .unwritable, message: "cannot write the file: \(error.message)")
        }
    }

    /// The bytes of a `.npy` file holding `tensor`.
    public static func encode(_ tensor: Tensor) -> [UInt8] {
        let descr = descriptors.first { $0.dtype == tensor.dtype }!.descr
        let dims = tensor.shape.dims.map(String.init)
        let shapeText = dims.count == 1 ? "(\(dims[0]),)" : "(" + dims.joined(separator: ", ") + ")"
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        // Pad with spaces and a newline so the data starts on a 64-byte boundary, as numpy does;
        // version 1.0 stores the padded length in 16 bits, 2.0 in 32.
        func padding(_ preamble: Int) -> Int { (64 - (preamble + header.utf8.count + 1) % 64) % 64 }
        let version1 = header.utf8.count + padding(10) + 1 <= Int(UInt16.max)
        header += String(repeating: " ", count: padding(version1 ? 10 : 12)) + "\n"
        var bytes = magic
        if version1 {
            bytes += [1, 0]
            bytes += withUnsafeBytes(of: UInt16(header.utf8.count).littleEndian, Array.init)
        } else {
            bytes += [2, 0]
            bytes += withUnsafeBytes(of: UInt32(header.utf8.count).littleEndian, Array.init)
        }
        bytes += Array(header.utf8)
        tensor.withUnsafeBytes { bytes += $0 }
        return bytes
    }

    /// Parses the bytes of a `.npy` file; `file` names it in errors.
    public static func decode(_ bytes: [UInt8], file: String) throws(NPYError) -> Tensor {
        func fail(_ kind: NPYError.Kind, _ message: String) -> NPYError {
            NPYError(file: file, kind: kind, message: message)
        }
        guard bytes.count >= 8, Array(bytes[0..<6]) == magic else {
            throw fail(.notNPY, "not a .npy file: it does not start with the magic string \\x93NUMPY")
        }
        let major = bytes[6], minor = bytes[7]
        guard [1, 2, 3].contains(major), minor == 0 else {
            throw fail(.unsupportedVersion, "unsupported .npy format version \(major).\(minor); readable versions are 1.0, 2.0 and 3.0")
        }
        let lengthSize = major == 1 ? 2 : 4
        guard bytes.count >= 8 + lengthSize else {
            throw fail(.truncatedHeader, "truncated: the file ends inside the header length field (\(bytes.count) bytes)")
        }
        var headerLength = 0
        for i in 0..<lengthSize { headerLength |= Int(bytes[8 + i]) << (8 * i) }
        let dataStart = 8 + lengthSize + headerLength
        guard dataStart <= bytes.count else {
            throw fail(.truncatedHeader, "truncated: the header length field says \(headerLength) bytes but only \(bytes.count - 8 - lengthSize) follow")
        }
        guard let header = String(bytes: bytes[(8 + lengthSize)..<dataStart], encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw fail(.malformedHeader, "malformed header: not valid text")
        }
        let fields: HeaderFields
        do throws(HeaderParseError) {
            var parser = HeaderParser(text: header)
            fields = try parser.parse()
        } catch {
            throw fail(.malformedHeader, "malformed header \(header.trimmingCharacters(in: .whitespacesAndNewlines)): \(error.message)")
        }
        guard !fields.fortranOrder else {
            throw fail(.fortranOrder, "Fortran-order (column-major) arrays are not supported; save it in C order (numpy.ascontiguousarray)")
        }
        guard let dtype = descriptors.first(where: { $0.descr == fields.descr })?.dtype else {
            if fields.descr.hasPrefix(">") {
                throw fail(.bigEndian, "big-endian dtype '\(fields.descr)' is not supported; save it little-endian (arr.astype(arr.dtype.newbyteorder('<'))); supported dtypes are \(validDescriptors)")
            }
            throw fail(.unsupportedDType, "unsupported dtype '\(fields.descr)'; supported dtypes are \(validDescriptors)")
        }
        let shape = Shape(fields.shape)
        // The non-zero dimensions bound the strides too: (0, 2^62, 4) holds nothing but cannot be indexed.
        let nonZero = Shape(shape.dims.filter { $0 != 0 }).checkedCount
        let (bytesNonZero, bytesOverflow) = (nonZero ?? 0).multipliedReportingOverflow(by: dtype.size)
        let overflow = nonZero == nil || bytesOverflow
        let expected = shape.dims.contains(0) ? 0 : bytesNonZero
        guard !overflow || !shape.dims.contains(0) else {
            throw fail(.malformedHeader, "shape \(shape) is too large: its non-zero dimensions multiply to more than \(Int.max / dtype.size) elements")
        }
        let actual = bytes.count - dataStart
        guard !overflow, expected <= actual else {
            throw fail(.truncatedData, "truncated: shape \(shape) of \(fields.descr) needs \(overflow ? "more than \(Int.max)" : "\(expected)") data bytes but the file has \(actual)")
        }
        guard expected == actual else {
            throw fail(.sizeMismatch, "the header lies about the size: shape \(shape) of \(fields.descr) accounts for \(expected) data bytes but the file has \(actual)")
        }
        let tensor = Tensor(zeros: shape, dtype: dtype)
        bytes.withUnsafeBytes { raw in
            tensor.storage.pointer.copyMemory(from: raw.baseAddress! + dataStart, byteCount: expected)
        }
        if dtype == .bool {  // numpy writes 0/1; normalise any other byte to 1
            let p = tensor.storage.pointer.assumingMemoryBound(to: UInt8.self)
            for i in 0..<shape.count where p[i] > 1 { p[i] = 1 }
        }
        return tensor
    }
}

struct HeaderFields {
    var descr: String
    var fortranOrder: Bool
    var shape: [Int]
}

struct HeaderParseError: Error {
    let message: String
}

/// Parses the Python dict literal of a `.npy` header: exactly the keys descr, fortran_order, shape.
struct HeaderParser {
    let chars: [Character]
    var i = 0

    init(text: String) { chars = Array(text) }

    mutating func parse() throws(HeaderParseError) -> HeaderFields {
        var descr: String?, fortran: Bool?, shape: [Int]?
        try expect("{")
        while true {
            skipSpace()
            if peek == "}" { i += 1; break }
            let key = try stringLiteral()
            try expect(":")
            switch key {
            case "descr": descr = try stringLiteral()
            case "fortran_order": fortran = try boolLiteral()
            case "shape": shape = try tuple()
            default: throw HeaderParseError(message: "unexpected key '\(key)' (a .npy header has descr, fortran_order and shape)")
            }
            skipSpace()
            if peek == "," { i += 1; continue }
            try expect("}")
            break
        }
        guard let descr, let fortran, let shape else {
            let missing = [("descr", descr == nil), ("fortran_order", fortran == nil), ("shape", shape == nil)]
                .filter(\.1).map(\.0).joined(separator: ", ")
            throw HeaderParseError(message: "missing key \(missing)")
        }
        return HeaderFields(descr: descr, fortranOrder: fortran, shape: shape)
    }

    var peek: Character? { i < chars.count ? chars[i] : nil }

    mutating func skipSpace() { while let c = peek, c.isWhitespace { i += 1 } }

    mutating func expect(_ c: Character) throws(HeaderParseError) {
        skipSpace()
        guard peek == c else { throw HeaderParseError(message: "expected '\(c)' at character \(i + 1)") }
        i += 1
    }

    mutating func stringLiteral() throws(HeaderParseError) -> String {
        skipSpace()
        guard let quote = peek, quote == "'" || quote == "\"" else {
            throw HeaderParseError(message: "expected a quoted string at character \(i + 1)")
        }
        i += 1
        var s = ""
        while let c = peek, c != quote { s.append(c); i += 1 }
        guard peek == quote else { throw HeaderParseError(message: "unterminated string") }
        i += 1
        return s
    }

    mutating func boolLiteral() throws(HeaderParseError) -> Bool {
        skipSpace()
        for (word, value) in [("True", true), ("False", false)] where String(chars[i..<min(i + word.count, chars.count)]) == word {
            i += word.count
            return value
        }
        throw HeaderParseError(message: "expected True or False at character \(i + 1)")
    }

    mutating func tuple() throws(HeaderParseError) -> [Int] {
        try expect("(")
        var dims: [Int] = []
        while true {
            skipSpace()
            if peek == ")" { i += 1; return dims }
            var digits = ""
            while let c = peek, c.isASCII, c.isNumber { digits.append(c); i += 1 }
            guard let d = Int(digits) else { throw HeaderParseError(message: "expected a non-negative dimension at character \(i + 1)") }
            dims.append(d)
            skipSpace()
            if peek == "," { i += 1 } else if peek != ")" {
                throw HeaderParseError(message: "expected ',' or ')' in the shape at character \(i + 1)")
            }
        }
    }
}
