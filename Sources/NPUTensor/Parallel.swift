import NPUKernels

/// Runs independent tasks on the calling thread and the C kernels' helper threads
/// (Kernels/parallel.c). NPUSim shares the host's cores itself: a split-K GEMM computes its
/// block partials on several threads at once, each through a one-thread OpenBLAS call.
public enum Parallel {
    /// Threads kernels use: OpenBLAS's thread count when first asked (it honours
    /// `OPENBLAS_NUM_THREADS`), unless set. Set it before computing: a drift study once changed
    /// it and OpenBLAS's count while other threads computed, which corrupted their results.
    public static var threads: Int {
        get { npu_parallel_threads() }
        set { npu_parallel_set_threads(max(1, newValue)) }
    }

    /// Hands the host's threads to NPUSim's kernels: `threads` keeps OpenBLAS's thread count and
    /// OpenBLAS runs each call on one thread (its own threads, spinning between calls, would
    /// otherwise compete with the kernels' helpers for the same cores). Every reduction planner
    /// does this when created, the CLI at start-up; later calls change nothing.
    public static func takeHostThreads() { _ = handOver }

    /// Done once per process: OpenBLAS's own threading changes its bits (it splits a product
    /// differently on 1 and on 2 threads), so one-thread calls keep results independent of the host.
    private static let handOver: Void = {
        let budget = threads
        BLAS.setThreads(1)
        threads = budget
    }()

    /// Sends the helper threads to sleep now instead of after their usual 0.1 s of waiting for
    /// the next job (benchmarks do before timing a yardstick on the same cores).
    public static func rest() { npu_parallel_rest() }

    /// Calls `body(t)` for every t in 0..<tasks, possibly concurrently, and returns when all have
    /// run. Tasks must write disjoint memory; which thread runs one never changes a result.
    public static func forEach(_ tasks: Int, threads: Int = Parallel.threads, _ body: (Int) -> Void) {
        guard tasks > 1, threads > 1 else {
            for t in 0..<max(tasks, 0) { body(t) }
            return
        }
        withoutActuallyEscaping(body) { body in
            var task = body
            withUnsafeMutablePointer(to: &task) { pointer in
                npu_parallel_for(tasks, threads, { context, t, _ in
                    context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(t)
                }, pointer)
            }
        }
    }

    /// Calls `body` on contiguous chunks covering 0..<count, one per thread, each bound a multiple
    /// of `align`; a single chunk when `count` is under `minimum` (not worth waking a thread).
    public static func forEachChunk(_ count: Int, minimum: Int, align: Int = 16, threads: Int = Parallel.threads,
                                    _ body: (Range<Int>) -> Void) {
        let threads = count >= minimum ? threads : 1
        guard threads > 1 else {
            if count > 0 { body(0..<count) }
            return
        }
        let units = (count + align - 1) / align, parts = min(threads, units)
        forEach(parts, threads: threads) { t in
            let lo = min(count, t * units / parts * align), hi = min(count, (t + 1) * units / parts * align)
            if lo < hi { body(lo..<hi) }
        }
    }
}
