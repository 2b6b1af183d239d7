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
