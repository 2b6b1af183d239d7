import Foundation
import NPUSim

/// 16 Mi float32 uniforms (UniformReal: mt19937 + generate_canonical<double>) and normals
/// (StandardNormal: minstd_rand0 + Marsaglia polar), in Mvalues/s, next to numpy's own generator
/// (numpy.random.default_rng, float32) and its legacy MT19937 RandomState measured by python3 in
/// the same run. numpy is a yardstick for speed, not a bit reference.
let rngBenchmark = Benchmark(name: "rng", summary: "random values, NPUSim kernels vs numpy, Mvalues/s") {
    let n = 16 << 20
    let shape: Shape = [n]
    var uniform: [Double] = [], normal: [Double] = []
    let uniformKernel = RandomKernel(.uniformReal, seeds: SeedPair(seed: 1, seed2: 2, rule: .bothSeeds(call: 1)))
    let normalKernel = RandomKernel(.standardNormal, seeds: SeedPair(seed: 1, seed2: 2, rule: .bothSeeds(call: 1)))
    _ = uniformKernel.uniform(shape)
    _ = normalKernel.standardNormal(shape)
    for _ in 0..<5 {
        uniform.append(Double(n) / wallSeconds { _ = uniformKernel.uniform(shape) } / 1e6)
        normal.append(Double(n) / wallSeconds { _ = normalKernel.standardNormal(shape) } / 1e6)
    }
    var figures = [
        BenchFigure(bench: "rng", caseName: "uniform", unit: "Mvalues/s", values: uniform),
        BenchFigure(bench: "rng", caseName: "normal", unit: "Mvalues/s", values: normal),
    ]
    // numpy in the same run; absent numpy is reported, not fatal.
    let script = """
    import time, numpy as np
    n = \(n)
    g = np.random.default_rng(1); rs = np.random.RandomState(1)
    cases = [("numpy-uniform", lambda: g.random(n, dtype=np.float32)),
             ("numpy-normal", lambda: g.standard_normal(n, dtype=np.float32)),
             ("numpy-legacy-uniform", lambda: rs.random_sample(n).astype(np.float32)),
             ("numpy-legacy-normal", lambda: rs.standard_normal(n).astype(np.float32))]
    for name, f in cases:
        f()
        for _ in range(5):
            t0 = time.perf_counter(); f(); print(name, n / (time.perf_counter() - t0) / 1e6)
    """
    let lines: [String]
    do {
        lines = try runTool("/usr/bin/env", ["python3", "-c", script])
    } catch {
        FileHandle.standardError.write(Data("npusim bench rng: numpy yardstick unavailable (\(error)); install python3-numpy to compare\n".utf8))
        return figures
    }
    var byCase: [String: [Double]] = [:]
    for line in lines {
        let parts = line.split(separator: " ")
        if parts.count == 2, let v = Double(parts[1]) { byCase[String(parts[0]), default: []].append(v) }
    }
    for name in ["numpy-uniform", "numpy-normal", "numpy-legacy-uniform", "numpy-legacy-normal"] {
        if let values = byCase[name] { figures.append(BenchFigure(bench: "rng", caseName: name, unit: "Mvalues/s", values: values)) }
    }
    return figures
}
