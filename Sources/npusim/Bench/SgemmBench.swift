import Foundation
import NPUSim

/// OpenBLAS sgemm through the package next to the same call from a plain C program, square
/// n = 256, 512, 1024, on 1 and 2 threads. Case names: `package-1t-512`, `c-2t-1024`, ...
let sgemmBenchmark = Benchmark(name: "sgemm", summary: "OpenBLAS sgemm via NPUSim vs plain C, GFLOP/s") {
    var figures: [BenchFigure] = []
    let savedThreads = BLAS.threads
    defer { BLAS.setThreads(savedThreads) }
    for n in [256, 512, 1024] {
        let runs = n <= 512 ? 15 : 7
        let rounds = 3
        let flops = 2 * Double(n) * Double(n) * Double(n)
        let a = (0..<n * n).map { Float(($0 * 7) % 13) * 0.25 - 1.5 }
        let b = (0..<n * n).map { Float(($0 * 5) % 11) * 0.125 - 0.5 }
        var c = [Float](repeating: 0, count: n * n)
        for threads in [1, 2] {
            var package: [Double] = [], plainC: [Double] = []
            for _ in 0..<rounds {
                BLAS.setThreads(threads)
                // Warm-up for 0.25 s: after a thread-count change the OS needs a moment to put
                // OpenBLAS's threads on separate cores (the C program does the same).
                let warmUpEnd = DispatchTime.now().uptimeNanoseconds + 250_000_000
                while DispatchTime.now().uptimeNanoseconds < warmUpEnd {
                    BLAS.sgemm(m: n, n: n, k: n, a: a, lda: n, b: b, ldb: n, c: &c, ldc: n)
                }
                for _ in 0..<runs {
                    let s = wallSeconds { BLAS.sgemm(m: n, n: n, k: n, a: a, lda: n, b: b, ldb: n, c: &c, ldc: n) }
                    package.append(flops / s / 1e9)
                }
                // OpenBLAS's worker threads spin for a while after a call; let ours go to sleep so
                // the C program gets both cores.
                Thread.sleep(forTimeInterval: 0.5)
                let lines = try runTool(benchToolPath("npusim-yardstick-sgemm"), ["\(n)", "\(threads)", "\(runs)"])
                plainC += lines.compactMap(Double.init).map { flops / $0 / 1e9 }
            }
            figures.append(BenchFigure(bench: "sgemm", caseName: "package-\(threads)t-\(n)", unit: "GFLOP/s", values: package))
            figures.append(BenchFigure(bench: "sgemm", caseName: "c-\(threads)t-\(n)", unit: "GFLOP/s", values: plainC))
        }
    }
    return figures
}
