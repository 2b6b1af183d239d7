import COpenBLAS
import Foundation
import NPUSim

/// ReduceSum of 16 Mi float32 under each policy (the planner's real path: 32 blocks on the
/// ascend910 profile), next to the best plain-C vectorised sum; GB/s of input read.
let reduceSumBenchmark = Benchmark(name: "reduce-sum", summary: "ReduceSum 16 Mi float32 per policy vs plain C, GB/s") {
    let n = 16 << 20
    let x = (0..<n).map { Float(($0 &* 2_654_435_761) % 1000) * 1e-3 - 0.5 }
    let tensor = try! Tensor(shape: [n], values: x)
    let planners = Determinism.allCases.map { policy in (policy, ReductionPlanner(spec: .ascend910, policy: policy, source: .replay(1))) }
    let op = ReduceSum()
    var values: [Determinism: [Double]] = [:]
    try warmUp { for (_, planner) in planners { _ = try op.forward([tensor], KernelContext(planner: planner)) } }
    for round in 0..<9 {  // interleaved, the order rotating each round, so the ratios hold on a noisy machine
        for k in 0..<planners.count {
            let (policy, planner) = planners[(k + round) % planners.count]
            let s = wallSeconds { _ = try! op.forward([tensor], KernelContext(planner: planner)) }
            values[policy, default: []].append(4 * Double(n) / s / 1e9)
        }
    }
    var figures = Determinism.allCases.map { BenchFigure(bench: "reduce-sum", caseName: $0.rawValue, unit: "GB/s", values: values[$0]!) }
    let c = try runTool(benchToolPath("npusim-yardstick-sum"), ["\(n)", "9"]).compactMap(Double.init).map { 4 * Double(n) / $0 / 1e9 }
    figures.append(BenchFigure(bench: "reduce-sum", caseName: "c-baseline", unit: "GB/s", values: c))
    return figures
}

/// Conv2D forward at LeNet's second convolution and at a ResNet block's 3×3 convolution, next to
/// one OpenBLAS sgemm of the same GEMM size (M = out channels, K = C·KH·KW, N = batch·OH·OW).
/// Both on one OpenBLAS thread: at LeNet's size (0.2 ms) two-thread wake-ups on a shared VM make
/// the yardstick itself swing by 2×.
let conv2dBenchmark = Benchmark(name: "conv2d", summary: "Conv2D forward vs sgemm of the same GEMM size (1 thread), GFLOP/s") {
    let savedThreads = (blas: BLAS.threads, kernels: Parallel.threads)
    BLAS.setThreads(1)
    Parallel.threads = 1
    defer {
        BLAS.setThreads(savedThreads.blas)
        Parallel.threads = savedThreads.kernels
    }
    // LeNet5's second convolution (MindSpore model zoo: 6→16, 5×5, pad_mode valid, on 12×12 after
    // the first pooling of 28×28 inputs, batch 32); a ResNet-50 stage-1 3×3 convolution (same).
    let cases: [(name: String, x: Shape, w: Shape, pad: PadMode)] = [
        ("lenet", [32, 6, 12, 12], [16, 6, 5, 5], .valid),
        ("resnet-block", [8, 64, 56, 56], [64, 64, 3, 3], .same),
    ]
    var figures: [BenchFigure] = []
    let context = KernelContext(planner: ReductionPlanner(spec: .ascend910, policy: .on))  // reused, as PyNative does
    for c in cases {
        let x = sampleTensor(c.x), w = sampleTensor(c.w, seed: 2)
        let op = Conv2D(padMode: c.pad)
        let out = try op.infer([x.type, w.type])[0].shape
        let (m, k, cols) = (c.w[0], c.w[1] * c.w[2] * c.w[3], out[0] * out[2] * out[3])
        let flops = 2 * Double(m * k * cols)
        let a = [Float](repeating: 0.5, count: m * k), b = [Float](repeating: 0.25, count: k * cols)
        var cbuf = [Float](repeating: 0, count: m * cols)
        let runs = c.name == "lenet" ? 21 : 7
        var conv: [Double] = [], gemm: [Double] = []
        _ = try op.forward([x, w], context)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(cols), Int32(k), 1, a, Int32(k), b, Int32(cols), 0, &cbuf, Int32(cols))
        for _ in 0..<runs {
            conv.append(flops / wallSeconds { _ = try! op.forward([x, w], context) } / 1e9)
            gemm.append(flops / wallSeconds {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(cols), Int32(k), 1, a, Int32(k), b, Int32(cols), 0, &cbuf, Int32(cols))
            } / 1e9)
        }
        figures.append(BenchFigure(bench: "conv2d", caseName: c.name, unit: "GFLOP/s", values: conv))
        figures.append(BenchFigure(bench: "conv2d", caseName: "\(c.name)-sgemm-same-size", unit: "GFLOP/s", values: gemm))
    }
    return figures
}

/// The MLP's two large products (Dense 784→128 at batch 32) as a training step runs them through
/// MatMul: the forward X·Wᵀ (32×784 by 128×784 transposed) and the weight gradient dYᵀ·X (32×128
/// transposed by 32×784). Under `strict` every output is the correctly rounded exact dot product,
/// which needs the products in double; `dgemm` is OpenBLAS's double product of the same size on
/// operands already in double — the arithmetic a strict product cannot do without — and `on` the
/// float product the other policies run. One thread each (a shared VM's wake-ups swing two-thread
/// figures of 0.1 ms calls), then `strict` on the kernels' threads; GFLOP/s, and strict's time
/// over dgemm's round by round.
let strictProductBenchmark = Benchmark(name: "strict-product", summary: "the MLP's strict products vs OpenBLAS dgemm of the same size, GFLOP/s") {
    let savedThreads = (blas: BLAS.threads, kernels: Parallel.threads)
    BLAS.setThreads(1)
    defer {
        BLAS.setThreads(savedThreads.blas)
        Parallel.threads = savedThreads.kernels
    }
    let cases: [(name: String, a: Shape, b: Shape, op: MatMul, m: Int, n: Int, k: Int)] = [
        ("forward", [32, 784], [128, 784], MatMul(transposeB: true), 32, 128, 784),
        ("weight-gradient", [32, 128], [32, 784], MatMul(transposeA: true, splitK: .always), 128, 784, 32),  // split over the batch, as a step does
    ]
    let strict = KernelContext(planner: ReductionPlanner(spec: .ascend910, policy: .strict))
    let on = KernelContext(planner: ReductionPlanner(spec: .ascend910, policy: .on))
    var figures: [BenchFigure] = []
    for c in cases {
        let a = sampleTensor(c.a), b = sampleTensor(c.b, seed: 2)
        let flops = 2 * Double(c.m * c.n * c.k)
        // dgemm's operands laid out as op(A) and op(B) row-major, so it runs no transpose.
        let da = [Double](repeating: 0.5, count: c.m * c.k), db = [Double](repeating: 0.25, count: c.k * c.n)
        var dc = [Double](repeating: 0, count: c.m * c.n)
        func dgemm() {
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(c.m), Int32(c.n), Int32(c.k), 1, da, Int32(c.k), db, Int32(c.n), 0, &dc, Int32(c.n))
        }
        var runs: [String: [Double]] = [:], ratio: [Double] = []
        let repeats = 20
        func rate(_ body: () -> Void) -> Double { flops * Double(repeats) / wallSeconds { for _ in 0..<repeats { body() } } / 1e9 }
        for round in 0..<7 {
            Parallel.threads = 1
            if round == 0 { warmUp { _ = try! c.op.forward([a, b], strict); _ = try! c.op.forward([a, b], on); dgemm() } }
            let s = rate { _ = try! c.op.forward([a, b], strict) }, d = rate(dgemm)
            runs["strict", default: []].append(s)
            runs["dgemm", default: []].append(d)
            runs["on", default: []].append(rate { _ = try! c.op.forward([a, b], on) })
            ratio.append(d / s)
            Parallel.threads = savedThreads.kernels
            warmUp(seconds: 0.05) { _ = try! c.op.forward([a, b], strict) }  // the helpers slept through the one-thread cases
            runs["strict-threads", default: []].append(rate { _ = try! c.op.forward([a, b], strict) })
        }
        for name in ["strict", "dgemm", "on", "strict-threads"] {
            figures.append(BenchFigure(bench: "strict-product", caseName: "\(c.name)-\(name)", unit: "GFLOP/s", values: runs[name]!))
        }
        figures.append(BenchFigure(bench: "strict-product", caseName: "\(c.name) strict/dgemm", unit: "ratio", values: ratio))
    }
    return figures
}
