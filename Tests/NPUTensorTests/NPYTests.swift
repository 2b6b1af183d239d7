import Foundation
import Testing
@testable import NPUTensor

/// Fixtures written by numpy itself (Fixtures/make_npy_fixtures.py).
func fixture(_ name: String) -> String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/\(name)").path
}

func bits(_ values: [Float]) -> [UInt32] { values.map(\.bitPattern) }

@Suite struct NPYReadTests {
    @Test func float32MatchesNumpyValues() throws {
        let t = try NPY.read(path: fixture("f4.npy"))
        #expect(t.dtype == .float32)
        #expect(t.shape == [2, 3])
        let expected: [Float] = [1.5, -2.25, 3.0e-8, 65504.0, -0.0, 1.0 / 3.0]
        #expect(bits(try t.toArray(of: Float.self)) == bits(expected))
    }

    @Test func float16MatchesNumpyValues() throws {
        let t = try NPY.read(path: fixture("f2.npy"))
        #expect(t.dtype == .float16 && t.shape == [5])
        // numpy's float16 bit patterns of [0.5, -1, 65504, 2^-14, 0.099975586]
        #expect(try t.toArray(of: Float16.self).map(\.bitPattern) == [0x3800, 0xBC00, 0x7BFF, 0x0400, 0x2E66])
    }

    @Test func integersAndBools() throws {
        let i4 = try NPY.read(path: fixture("i4.npy"))
        #expect(i4.shape == [2, 2])
        #expect(try i4.toArray(of: Int32.self) == [Int32.min, 0, 7, Int32.max])
        let i8 = try NPY.read(path: fixture("i8.npy"))
        #expect(try i8.toArray(of: Int64.self) == [Int64.min, 1, Int64.max])
        let b1 = try NPY.read(path: fixture("b1.npy"))
        #expect(b1.dtype == .bool)
        #expect(try b1.toArray(of: Bool.self) == [true, false, true, true])
    }

    @Test func scalarEmptyAndVersion2() throws {
        let s = try NPY.read(path: fixture("scalar_f4.npy"))
        #expect(s.shape.rank == 0)
        #expect(try s.toArray(of: Float.self) == [2.5])
        let e = try NPY.read(path: fixture("empty_f4.npy"))
        #expect(e.shape == [0, 3] && e.count == 0)
        let v2 = try NPY.read(path: fixture("v2_f4.npy"))
        #expect(v2.shape == [2, 3])
        #expect(try v2.toArray(of: Float.self) == [0, 1, 2, 3, 4, 5])
    }

    /// Our writer produces numpy's exact bytes (header, padding and data) for every dtype.
    @Test(arguments: ["f4.npy", "f2.npy", "i4.npy", "i8.npy", "b1.npy", "scalar_f4.npy", "empty_f4.npy"])
    func encodeIsByteIdenticalToNumpy(name: String) throws {
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixture(name))))
        let tensor = try NPY.decode(original, file: name)
        #expect(NPY.encode(tensor) == original)
    }
}

@Suite struct NPYBadFileTests {
    func rejection(_ name: String) -> NPYError? {
        do {
            _ = try NPY.read(path: fixture(name))
            return nil
        } catch {
            return error
        }
    }

    @Test func truncatedData() {
        let e = rejection("bad_truncated_data.npy")
        #expect(e?.kind == .truncatedData)
        #expect(e?.message == "truncated: shape [2, 3] of <f4 needs 24 data bytes but the file has 19")
        #expect(e?.description.hasPrefix(fixture("bad_truncated_data.npy") + ": ") == true)
    }

    @Test func truncatedHeader() {
        let e = rejection("bad_truncated_header.npy")
        #expect(e?.kind == .truncatedHeader)
        #expect(e?.message == "truncated: the header length field says 118 bytes but only 30 follow")
    }

    @Test func headerLiesAboutTheSize() {
        let e = rejection("bad_extra_data.npy")
        #expect(e?.kind == .sizeMismatch)
        #expect(e?.message == "the header lies about the size: shape [2, 3] of <f4 accounts for 24 data bytes but the file has 32")
    }

    @Test func fortranOrder() {
        let e = rejection("bad_fortran.npy")
        #expect(e?.kind == .fortranOrder)
        #expect(e?.message.hasPrefix("Fortran-order (column-major) arrays are not supported") == true)
    }

    @Test func bigEndian() {
        let e = rejection("bad_big_endian.npy")
        #expect(e?.kind == .bigEndian)
        #expect(e?.message.hasPrefix("big-endian dtype '>f4' is not supported") == true)
        #expect(e?.message.hasSuffix("supported dtypes are <f4 <f2 <i4 <i8 |b1") == true)
    }

    @Test func unsupportedDType() {
        let e = rejection("bad_f8.npy")
        #expect(e?.kind == .unsupportedDType)
        #expect(e?.message == "unsupported dtype '<f8'; supported dtypes are <f4 <f2 <i4 <i8 |b1")
    }

    @Test func badMagicAndVersion() {
        #expect(rejection("bad_magic.npy")?.kind == .notNPY)
        let v = rejection("bad_version.npy")
        #expect(v?.kind == .unsupportedVersion)
        #expect(v?.message == "unsupported .npy format version 7.0; readable versions are 1.0, 2.0 and 3.0")
    }

    @Test func missingFile() {
        let e = rejection("no_such_file.npy")
        #expect(e?.kind == .unreadable)
    }

    @Test func malformedHeaderNamesTheProblem() throws {
        var bytes = NPY.encode(try Tensor(shape: [2], values: [Float(1), 2]))
        // Replace 'shape' with 'shope' inside the header.
        let header = Array("shape".utf8), replacement = Array("shope".utf8)
        let at = (0..<bytes.count - 5).first { Array(bytes[$0..<$0 + 5]) == header }!
        bytes.replaceSubrange(at..<at + 5, with: replacement)
        #expect(throws: NPYError.self) { try NPY.decode(bytes, file: "x.npy") }
        do {
            _ = try NPY.decode(bytes, file: "x.npy")
        } catch {
            #expect(error.kind == .malformedHeader)
            #expect(error.message.contains("unexpected key 'shope'"))
        }
    }
}

@Suite struct NPYWriteTests {
    func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("npusim-npy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test(arguments: DType.allCases)
    func roundTripEveryDType(dtype: DType) throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("t.npy").path
        let tensor: Tensor = switch dtype {
        case .float32: try Tensor(shape: [2, 2], values: [Float(1.25), -0.0, .infinity, .leastNonzeroMagnitude])
        case .float16: try Tensor(shape: [3], values: [Float16(0.1), -65504, .leastNonzeroMagnitude])
        case .int32: try Tensor(shape: [1, 3], values: [Int32(-5), 0, .max])
        case .int64: try Tensor(shape: [2], values: [Int64.min, 42])
        case .bool: try Tensor(shape: [2, 1], values: [false, true])
        }
        try NPY.write(tensor, path: path)
        let back = try NPY.read(path: path)
        #expect(back == tensor)
        #expect(back.dtype == dtype && back.shape == tensor.shape)
    }

    @Test func writesTransposedViewsInLogicalOrder() throws {
        let t = try Tensor(shape: [2, 3], values: [Float(0), 1, 2, 3, 4, 5]).transposed([1, 0])
        let back = try NPY.decode(NPY.encode(t), file: "t.npy")
        #expect(back.shape == [3, 2])
        #expect(try back.toArray(of: Float.self) == [0, 3, 1, 4, 2, 5])
    }

    /// Around the 64 KiB limit of version 1.0's length field: the writer switches to 2.0 exactly
    /// when the padded header no longer fits, and the data always starts on a 64-byte boundary.
    @Test func headerLengthAcrossTheVersion1Limit() throws {
        var sawVersion1 = false, sawVersion2 = false
        for rank in stride(from: 21_780, through: 21_860, by: 1) {
            let t = Tensor(zeros: Shape([Int](repeating: 1, count: rank)), dtype: .float32)
            let bytes = NPY.encode(t)
            let v1 = bytes[6] == 1
            let fieldLength = v1 ? Int(bytes[8]) | Int(bytes[9]) << 8
                                 : Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
            let dataStart = (v1 ? 10 : 12) + fieldLength
            #expect(dataStart % 64 == 0)
            #expect(bytes.count - dataStart == 4)
            #expect(v1 == (fieldLength <= 65535))
            #expect(try NPY.decode(bytes, file: "big.npy").shape == t.shape)
            if v1 { sawVersion1 = true } else { sawVersion2 = true }
        }
        #expect(sawVersion1 && sawVersion2)
    }

    @Test func overwriteReplacesAndFailureKeepsOldFile() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("w.npy").path
        try NPY.write(try Tensor(shape: [1], values: [Float(1)]), path: path)
        try NPY.write(try Tensor(shape: [2], values: [Float(2), 3]), path: path)
        #expect(try NPY.read(path: path).toArray(of: Float.self) == [2, 3])
        // No leftover temporary files next to it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["w.npy"])
        let missingDir = dir.appendingPathComponent("no/such/dir/x.npy").path
        #expect(throws: NPYError.self) { try NPY.write(try Tensor(shape: [1], values: [Float(1)]), path: missingDir) }
    }
}
