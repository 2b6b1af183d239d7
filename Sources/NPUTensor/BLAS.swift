import COpenBLAS
import Foundation
import NPUKernels

/// The system OpenBLAS. At start-up NPUSim makes sure OpenBLAS uses the best kernels this CPU
/// supports (see Kernels/openblas_tune.c); `coreName` tells which it uses.
public enum BLAS {
    /// The kernel family OpenBLAS chose (`SkylakeX`, `Haswell`, ...).
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// OpenBLAS's build configuration (`OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64`).
    public static var config: String { String(cString: openblas_get_config()).trimmingCharacters(in: .whitespaces) }

    /// What the bits of `on` and `off` depend on besides the script and the order seed: the BLAS
    /// kernel family (each orders a GEMM's additions its own way) and the C library's libm
    /// (exp, log, tanh...). `strict` sums are exact, but the values they sum still come from
    /// these. Printed in run summaries and written into output files.
    public static var numerics: String {
        "OpenBLAS \(version) with \(coreName) kernels, glibc \(String(cString: npu_libc_version())) libm"
    }

    /// OpenBLAS's version (`0.3.21`), from its configuration string.
    public static var version: String {
        let words = config.split(separator: " ")
        return words.count > 1 && words[0] == "OpenBLAS" ? String(words[1]) : "unknown"
    }

    /// True when this CPU's OpenBLAS kernels write a small product straight into C (the direct
    /// and small-matrix paths of its AVX-512 family: SkylakeX, Cooperlake, SapphireRapids; on
    /// the MLP's weight-gradient bands each output is a chain of fused multiply-adds from +0 over K
    /// ascending, as a test checks). Other families (Haswell, Zen, ...) zero C first
    /// (`sgemm_beta`) and add their packed product to it: slower on small products, and their
    /// outputs are not always that chain.
    public static let writesSmallProductsDirectly = npu_openblas_avx512_kernels() != 0

    /// True when the CPU supports OpenBLAS's AVX-512 kernels (and its AVX2 ones), whichever this
    /// process's OpenBLAS runs.
    public static let cpuSupportsAVX512Kernels = npu_cpu_supports_avx512_kernels() != 0

    /// True if NPUSim re-executed the process to give OpenBLAS better kernels.
    public static var wasTuned: Bool { npu_openblas_was_tuned() != 0 }

    /// Sets OpenBLAS's thread count (process-wide).
    public static func setThreads(_ n: Int) {
        precondition(n > 0)
        openblas_set_num_threads(Int32(n))
    }

    /// OpenBLAS's current thread count.
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// C = alpha·op(A)·op(B) + beta·C on row-major float32 matrices (C is m×n, the reduced
    /// extent is k). Leading dimensions are the row lengths of the stored matrices.
    public static func sgemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// C = op(A)·op(B) (alpha 1, beta 0) with the host's cores: a product of at least
    /// `panelProducts` multiply-adds is computed as fixed panels of C — `panelRows` rows, or
    /// `panelColumns` columns when C is wider than tall — one one-thread OpenBLAS call each, shared
    /// by the kernels' threads (`Parallel`); a smaller one is one call. The panels depend only on
    /// the shape, so the bits do not depend on the thread count.
    public static func sgemmShared(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        guard Double(m) * Double(n) * Double(k) >= Double(panelProducts) else {
            sgemm(transA: transA, transB: transB, m: m, n: n, k: k, a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc)
            return
        }
        // Panels on several threads only while OpenBLAS runs one thread per call (NPUSim's setting).
        let threads = BLAS.threads == 1 ? Parallel.threads : 1
        if n >= m {
            Parallel.forEach((n + panelColumns - 1) / panelColumns, threads: threads) { p in
                let j = p * panelColumns, w = min(panelColumns, n - j)
                sgemm(transA: transA, transB: transB, m: m, n: w, k: k, a: a, lda: lda, b: transB ? b + j * ldb : b + j, ldb: ldb,
                      c: c + j, ldc: ldc)
            }
        } else {
            Parallel.forEach((m + panelRows - 1) / panelRows, threads: threads) { p in
                let i = p * panelRows, h = min(panelRows, m - i)
                sgemm(transA: transA, transB: transB, m: h, n: n, k: k, a: transA ? a + i : a + i * lda, lda: lda, b: b, ldb: ldb,
                      c: c + i * ldc, ldc: ldc)
            }
        }
    }

    /// Products from this many multiply-adds up are computed in panels by `sgemmShared`.
    public static let panelProducts = 1 << 22
    public static let panelRows = 256
    public static let panelColumns = 2048
}
