import Foundation
import Testing
import NPUKernels
@testable import NPUTensor

@Suite struct TensorTests {
    @Test func shapesAndStrides() {
        let s: Shape = [2, 3, 4]
        #expect(s.count == 24 && s.rank == 3)
        #expect(s.contiguousStrides == [12, 4, 1])
        #expect(Shape([]).count == 1)
        #expect(s.description == "[2, 3, 4]")
    }

    @Test func valuesMustMatchTheShape() {
        #expect(throws: TensorError.countMismatch(shape: [2, 2], expected: 4, got: 3)) {
            try Tensor(shape: [2, 2], values: [Float(1), 2, 3])
        }
        #expect(TensorError.countMismatch(shape: [2, 2], expected: 4, got: 3).description
            == "[Tensor] shape [2, 2] holds 4 elements, got 3 values")
    }

    @Test func transposeIsAViewWithPermutedValues() throws {
        let t = try Tensor(shape: [2, 3], values: [Int32(0), 1, 2, 3, 4, 5])
        let tt = try t.transposed([1, 0])
        #expect(tt.storage === t.storage)
        #expect(!tt.isContiguous)
        #expect(tt.shape == [3, 2])
        #expect(try tt.toArray(of: Int32.self) == [0, 3, 1, 4, 2, 5])
        #expect(throws: TensorError.invalidPermutation(rank: 2, permutation: [0, 0])) { try t.transposed([0, 0]) }
    }

    @Test func reshapeIsAViewWhenContiguousAndACopyOtherwise() throws {
        let t = try Tensor(shape: [2, 3], values: [Float(0), 1, 2, 3, 4, 5])
        let r = try t.reshaped([3, -1])
        #expect(r.shape == [3, 2] && r.storage === t.storage)
        let tr = try t.transposed([1, 0]).reshaped([6])
        #expect(tr.storage !== t.storage)
        #expect(try tr.toArray(of: Float.self) == [0, 3, 1, 4, 2, 5])
        #expect(throws: TensorError.invalidReshape(from: [2, 3], to: [4])) { try t.reshaped([4]) }
        #expect(TensorError.invalidReshape(from: [2, 3], to: [4]).description
            == "[Reshape] cannot reshape [2, 3] (6 elements) to [4] (4 elements)")
    }

    @Test func writingToASharedTensorCopiesFirst() throws {
        let original = try Tensor(shape: [3], values: [Float(1), 2, 3])
        var copy = original
        copy.withUnsafeMutableBytes { $0.storeBytes(of: Float(9), toByteOffset: 0, as: Float.self) }
        #expect(try original.toArray(of: Float.self) == [1, 2, 3])
        #expect(try copy.toArray(of: Float.self) == [9, 2, 3])
    }

    @Test func toArrayChecksTheElementType() throws {
        let t = try Tensor(shape: [1], values: [Int64(3)])
        #expect(throws: TensorError.dtypeMismatch(op: "toArray", expected: .int64, got: .float32)) {
            try t.toArray(of: Float.self)
        }
    }

    @Test func largeStorageIsMappedAlignedAndZeroed() throws {
        let big = Tensor(zeros: [3 << 18], dtype: .float32)  // 3 MiB: mapped
        #expect(big.storage.mapping != nil)
        #expect(Int(bitPattern: big.storage.pointer) % (2 << 20) == 0)
        #expect(big.doubles().allSatisfy { $0 == 0 })
        var written = big
        written.withUnsafeMutableBytes { $0.storeBytes(of: Float(7), toByteOffset: big.byteCount - 4, as: Float.self) }
        #expect(try written.toArray(of: Float.self).last == 7)
        #expect(try big.toArray(of: Float.self).last == 0)  // copy on write left the original alone
        let small = Tensor(zeros: [16], dtype: .float32)
        #expect(small.storage.mapping == nil && small.doubles().allSatisfy { $0 == 0 })
    }

    /// Strided copies for every element size (1, 2, 4, 8 bytes), rank 3, non-unit inner stride.
    /// The C ABI frees tensors on whatever thread its caller uses, so one pool is active on several
    /// threads at once. Each thread makes and drops 1 KiB and 2 MiB (mapped) tensors, keeping one
    /// of each alive: with the lists unlocked, concurrent takes and puts corrupt them (a buffer
    /// handed out twice shows as another thread's marker, or the process crashes).
    @Test func onePoolServesManyThreadsAtOnce() async throws {
        let pool = StoragePool()
        let threads = 4, rounds = 2_000
        let clashes = await withTaskGroup(of: Int.self) { group in
            for k in 0..<threads {
                group.addTask {
                    pool.active {
                        var clashes = 0
                        for r in 0..<rounds {
                            let bytes = r % 8 == 0 ? 2 << 20 : 1024
                            let s = TensorStorage(byteCount: bytes, zeroed: false)
                            let marker = UInt64(k << 32 | r)
                            s.pointer.storeBytes(of: marker, as: UInt64.self)
                            s.pointer.storeBytes(of: marker, toByteOffset: bytes - 8, as: UInt64.self)
                            for _ in 0..<50 { _ = s.pointer.load(as: UInt8.self) }  // widens the window
                            if s.pointer.load(as: UInt64.self) != marker || s.pointer.load(fromByteOffset: bytes - 8, as: UInt64.self) != marker {
                                clashes += 1
                            }
                        }
                        return clashes
                    }
                }
            }
            return await group.reduce(0, +)
        }
        #expect(clashes == 0)
        // Every buffer went back: at most one per size per thread was alive at a time.
        #expect(pool.retainedBytes <= threads * ((2 << 20) + 1024))
        #expect(pool.retainedBytes >= (2 << 20) + 1024)
        #expect(pool.freshAllocations <= 2 * threads)
        pool.beginRun()
        pool.endRun()
        #expect(pool.retainedBytes == 0)
    }

    /// A pool with a retain limit releases what would exceed it: storage of sizes a loop never
    /// asks for again cannot pile up.
    @Test func aPoolKeepsNoMoreThanItsLimit() {
        let pool = StoragePool(retainLimit: 10_000)
        pool.active {
            var held = (0..<5).map { TensorStorage(byteCount: 3_000 + $0, zeroed: false) }
            held.removeAll()  // 15,010 bytes die; three fit under the limit
        }
        #expect(pool.retainedBytes == 3_000 + 3_001 + 3_002)
        #expect(pool.freshAllocations == 5)
        pool.active { _ = TensorStorage(byteCount: 3_001, zeroed: false) }  // reused, then kept again
        #expect(pool.freshAllocations == 5 && pool.retainedBytes == 9_003)
        pool.beginRun()
        pool.endRun()
        #expect(pool.retainedBytes == 0)
    }

    @Test func transposedCopiesOfEveryDType() throws {
        let values = (0..<24).map { $0 }
        let expected = (0..<24).map { k -> Int in
            let (i, j, l) = (k / 6, (k / 2) % 3, k % 2)  // output [4, 3, 2] from input [2, 3, 4] with perm [2, 1, 0]
            return l * 12 + j * 4 + i
        }
        let perm = [2, 1, 0]
        #expect(try Tensor(shape: [2, 3, 4], values: values.map { Int64($0) }).transposed(perm).contiguous().toArray(of: Int64.self) == expected.map { Int64($0) })
        #expect(try Tensor(shape: [2, 3, 4], values: values.map { Int32($0) }).transposed(perm).contiguous().toArray(of: Int32.self) == expected.map { Int32($0) })
        #expect(try Tensor(shape: [2, 3, 4], values: values.map { Float16(Float($0)) }).transposed(perm).contiguous().toArray(of: Float16.self) == expected.map { Float16(Float($0)) })
        #expect(try Tensor(shape: [2, 3, 4], values: values.map { $0 % 3 == 0 }).transposed(perm).contiguous().toArray(of: Bool.self) == expected.map { $0 % 3 == 0 })
        // A view of a view whose innermost stride is 1 (whole-run copies).
        let t = try Tensor(shape: [2, 3, 4], values: values.map { Float($0) }).transposed([1, 0, 2])
        #expect(try t.contiguous().toArray(of: Float.self) == [0, 1, 2, 3, 12, 13, 14, 15, 4, 5, 6, 7, 16, 17, 18, 19, 8, 9, 10, 11, 20, 21, 22, 23])
    }

    @Test func float16StoresBitsExactly() throws {
        let values: [Float16] = [.pi, -.ulpOfOne, .greatestFiniteMagnitude, .leastNonzeroMagnitude]
        let t = try Tensor(shape: [4], values: values)
        #expect(t.byteCount == 8)
        #expect(try t.toArray(of: Float16.self).map(\.bitPattern) == values.map(\.bitPattern))
    }
}

@Suite struct BLASTests {
    @Test func sgemmKnownAnswer() {
        // [[1,2,3],[4,5,6]] · [[7,8],[9,10],[11,12]] = [[58,64],[139,154]]
        let a: [Float] = [1, 2, 3, 4, 5, 6], b: [Float] = [7, 8, 9, 10, 11, 12]
        var c = [Float](repeating: -1, count: 4)
        BLAS.sgemm(m: 2, n: 2, k: 3, a: a, lda: 3, b: b, ldb: 2, c: &c, ldc: 2)
        #expect(c == [58, 64, 139, 154])
        // Aᵀ·A with A = [[1,2,3],[4,5,6]] stored row-major (transA reads it transposed).
        var g = [Float](repeating: -1, count: 9)
        BLAS.sgemm(transA: true, m: 3, n: 3, k: 2, a: a, lda: 3, b: a, ldb: 3, c: &g, ldc: 3)
        #expect(g == [17, 22, 27, 22, 29, 36, 27, 36, 45])
    }

    /// The start-up tuning left OpenBLAS on the best kernels this CPU supports.
    @Test func openBLASUsesTheBestKernelsTheCPUSupports() {
        guard ProcessInfo.processInfo.environment["NPUSIM_NO_OPENBLAS_TUNE"] != "1" else { return }
        #expect(npu_openblas_wanted_coretype() == nil, "OpenBLAS runs \(BLAS.coreName) kernels on a CPU that supports better")
    }
}
