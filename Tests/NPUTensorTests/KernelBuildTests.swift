import Testing
import NPUKernels

/// The C kernels' floating-point rules hold without compiler flags (Kernels/npu_build.h): a
/// multiply followed by an add is rounded twice, never fused, in every vector-width clone.
@Suite struct KernelBuildTests {
    @Test func triadDoesNotFuseMultiplyAdd() {
        // s·c = 1 + 2^-11 + 2^-24 exactly, 1 + 2^-11 once rounded; b cancels the rounded product.
        let s: Float = 1 + 0x1p-12, n = 67  // several vector widths and a tail
        let c = [Float](repeating: 1 + 0x1p-12, count: n), b = [Float](repeating: -(1 + 0x1p-11), count: n)
        var a = [Float](repeating: .nan, count: n)
        npu_triad_f32(&a, b, c, s, n)
        #expect(a.allSatisfy { $0.bitPattern == Float(0).bitPattern }, "a fused multiply-add would give 2^-24")
    }
}
