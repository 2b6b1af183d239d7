import Foundation
import Testing
@testable import NPUTensor

/// Inputs that trapped in shape arithmetic before (Issue: harden the engine).
@Suite struct ShapeHardeningTests {
    @Test func checkedCountCatchesOverflowOfTheCountAndOfTheStrides() {
        #expect(Shape([2, 3]).checkedCount == 6)
        #expect(Shape([]).checkedCount == 1)
        #expect(Shape([1 << 24, 1 << 24, 1 << 24]).checkedCount == nil)
        // Empty, but its strides overflow: refused too.
        #expect(Shape([0, 1 << 24, 1 << 24, 1 << 24]).checkedCount == nil)
        #expect(Shape([0, 5]).checkedCount == 0)
        #expect(Shape([4, 5]).count(atMost: 19) == nil && Shape([4, 5]).count(atMost: 20) == 20)
    }

    @Test func npyHeaderWithAHugeEmptyShapeIsRefused() {
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4611686018427387904, 4), }"
        header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
        let bytes = NPY.magic + [1, 0] + withUnsafeBytes(of: UInt16(header.utf8.count).littleEndian, Array.init) + Array(header.utf8)
        #expect(throws: NPYError(file: "huge.npy", kind: .malformedHeader,
                                 message: "shape [0, 4611686018427387904, 4] is too large: its non-zero dimensions multiply to more than \(Int.max / 4) elements")) {
            try NPY.decode(bytes, file: "huge.npy")
        }
    }

    @Test func npyFromDevicesAndDirectoriesNamesTheProblem() {
        #expect(throws: NPYError(file: "/tmp", kind: .unreadable, message: "is a directory, not a .npy file")) { try NPY.read(path: "/tmp") }
        #expect(throws: NPYError(file: "/dev/null", kind: .notNPY, message: "not a .npy file: it does not start with the magic string \\x93NUMPY")) {
            try NPY.read(path: "/dev/null")
        }
    }
}
