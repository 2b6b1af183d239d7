import Foundation
import NPUSim

/// One GEMM of a training step: C[m×n] = op(A)·op(B) over k.
struct StepGEMM {
    var m: Int, n: Int, k: Int, ta: Bool, tb: Bool
}

/// The reference MLP step's GEMMs, unsplit: two forward products, the input gradient of fc2 and
/// the two weight gradients (the input's own gradient is never computed).
let mlpGEMMs = [
    StepGEMM(m: 32, n: 128, k: 784, ta: false, tb: true), StepGEMM(m: 32, n: 10, k: 128, ta: false, tb: true),
    StepGEMM(m: 32, n: 128, k: 10, ta: false, tb: false), StepGEMM(m: 10, n: 128, k: 32, ta: true, tb: false),
    StepGEMM(m: 128, n: 784, k: 32, ta: true, tb: false),
]

/// LeNet5's GEMMs at batch 32: the convolutions as im2col products ([OC × patch]·[patch × N·OH·OW]),
/// the Dense layers as the MLP's, and their gradients (no input gradient of conv1).
let lenetGEMMs = [
    StepGEMM(m: 6, n: 32 * 24 * 24, k: 25, ta: false, tb: false), StepGEMM(m: 16, n: 32 * 8 * 8, k: 150, ta: false, tb: false),
    StepGEMM(m: 32, n: 120, k: 256, ta: false, tb: true), StepGEMM(m: 32, n: 84, k: 120, ta: false, tb: true),
    StepGEMM(m: 32, n: 10, k: 84, ta: false, tb: true),
    StepGEMM(m: 32, n: 84, k: 10, ta: false, tb: false), StepGEMM(m: 10, n: 84, k: 32, ta: true, tb: false),
    StepGEMM(m: 32, n: 120, k: 84, ta: false, tb: false), StepGEMM(m: 84, n: 120, k: 32, ta: true, tb: false),
    StepGEMM(m: 32, n: 256, k: 120, ta: false, tb: false), StepGEMM(m: 120, n: 256, k: 32, ta: true, tb: false),
    StepGEMM(m: 150, n: 32 * 8 * 8, k: 16, ta: true, tb: false), StepGEMM(m: 16, n: 150, k: 32 * 8 * 8, ta: false, tb: true),
    StepGEMM(m: 6, n: 25, k: 32 * 24 * 24, ta: false, tb: true),
]

/// The "gemm-floor" case: a step's GEMMs alone through the same OpenBLAS, the least a step could
/// cost on this host. Timed in rounds interleaved with the graph step's (`stepFigures`), so both
/// see the same machine: this shared VM's two cores change speed from second to second.
final class GemmFloor {
    private let gemms: [StepGEMM]
    private let buffers: [(a: [Float], b: [Float], c: UnsafeMutablePointer<Float>)]

    init(_ gemms: [StepGEMM]) {
        self.gemms = gemms
        buffers = gemms.map { g in
            (a: try! sampleTensor([g.m * g.k]).toArray(of: Float.self), b: try! sampleTensor([g.k * g.n], seed: 2).toArray(of: Float.self),
             c: UnsafeMutablePointer<Float>.allocate(capacity: g.m * g.n))
        }
    }

    deinit { buffers.forEach { $0.c.deallocate() } }

    func run() {
        for (g, buf) in zip(gemms, buffers) {
            buf.a.withUnsafeBufferPointer { a in
                buf.b.withUnsafeBufferPointer { b in
                    BLAS.sgemm(transA: g.ta, transB: g.tb, m: g.m, n: g.n, k: g.k, a: a.baseAddress!, lda: g.ta ? g.m : g.k,
                               b: b.baseAddress!, ldb: g.tb ? g.k : g.n, c: buf.c, ldc: g.n)
                }
            }
        }
    }

    /// `body` with OpenBLAS at its best: every thread the kernels may use, none of their helpers
    /// spinning.
    func atBest<T>(_ body: () throws -> T) rethrows -> T {
        Parallel.rest()
        let saved = BLAS.threads
        BLAS.setThreads(Parallel.threads)
        defer { BLAS.setThreads(saved) }
        return try body()
    }
}

/// The yardsticks' Python, run with the BLAS tuning variables this machine sets for old
/// OpenBLAS builds removed (`OPENBLAS_CORETYPE`, `OPENBLAS_L2_SIZE`: they handicap a current
/// numpy or PyTorch, and a handicapped yardstick flatters us).
let honestEnvironment = ["/usr/bin/env", "-u", "OPENBLAS_CORETYPE", "-u", "OPENBLAS_L2_SIZE"]

/// Python that prints "# blas ..." naming the OpenBLAS numpy (or PyTorch) loaded: its kernel
/// (core), version and threads, read from the library itself as threadpoolctl does.
let blasProbe = """
def _blas_line():
    import ctypes
    paths = []
    for line in open('/proc/self/maps'):
        f = line.split()
        if len(f) >= 6 and 'openblas' in f[-1].lower() and f[-1] not in paths: paths.append(f[-1])
    out = []
    for path in paths:
        lib = ctypes.CDLL(path)
        for prefix in ('scipy_openblas', 'openblas'):
            for suffix in ('64_', ''):
                core, config, threads = (getattr(lib, prefix + '_get_' + n + suffix, None) for n in ('corename', 'config', 'num_threads'))
                if core and config and threads:
                    core.restype = config.restype = ctypes.c_char_p
                    out.append('%s, kernel %s, %d threads' % (config().decode().split('  ')[0], core().decode(), threads()))
                    break
            else: continue
            break
    print('# blas ' + ('; '.join(out) or 'not OpenBLAS (or not loaded)'))
"""

/// Our threads asleep before a yardstick runs: the helpers told to rest, then verified by this
/// process's CPU time over 200 ms of sleep (OpenBLAS's own threads spin a while after a call).
/// False when they did not settle within 2 s.
func quietThreads() -> Bool {
    Parallel.rest()
    func cpu() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
    }
    for _ in 0..<10 {
        let before = cpu()
        usleep(200_000)
        if cpu() - before < 0.01 { return true }
    }
    return false
}

/// The "numpy" cases: a hand-written numpy training step of the same net (python3 in the same
/// run), with numpy's default BLAS threads and with one, and "numpy-gemm-floor" (and its
/// one-thread twin), the step's GEMMs alone through numpy — each with our threads verified asleep
/// and the BLAS tuning variables removed (a multi-thread figure slower than its twin is marked
/// contended). On a CPU with AVX-512 and AVX2 the one-thread cases run once more on numpy's AVX2
/// kernels ("-avx2"), as they may be numpy's faster choice. Nil, after a message, without numpy.
func numpyStep(_ bench: String, script body: String, gemms: [StepGEMM]) -> PythonYardstick? {
    let shapes = gemms.map { "(\($0.m), \($0.n), \($0.k), \($0.ta ? "True" : "False"), \($0.tb ? "True" : "False"))" }.joined(separator: ", ")
    let script = """
    import sys, time, numpy as np
    \(blasProbe)
    \(body)
    if sys.argv[1] == 'floor':
        rng2 = np.random.default_rng(2)
        G = [(rng2.standard_normal((k, m) if ta else (m, k), dtype=np.float32), rng2.standard_normal((n, k) if tb else (k, n), dtype=np.float32), ta, tb)
             for m, n, k, ta, tb in [\(shapes)]]
        def step():
            for a, b, ta, tb in G: (a.T if ta else a) @ (b.T if tb else b)
    _blas_line()
    \(timingLoop)
    """
    var cases: [YardstickCase] = [("numpy", nil, ["step"], []), ("numpy-1thread", "1", ["step"], []), ("numpy-gemm-floor", nil, ["floor"], []),
                                  ("numpy-gemm-floor-1thread", "1", ["floor"], [])]
    if BLAS.cpuSupportsAVX512Kernels {
        // numpy's OpenBLAS picks its AVX-512 kernels here, which are not always its fastest: on
        // Zen 4 its AVX2 (Haswell) kernels run these small products about 20 % faster. The
        // yardstick is numpy at its best, so both are timed.
        cases += [("numpy-1thread-avx2", "1", ["step"], ["OPENBLAS_CORETYPE=Haswell"]),
                  ("numpy-gemm-floor-1thread-avx2", "1", ["floor"], ["OPENBLAS_CORETYPE=Haswell"])]
    }
    guard (try? runTool("/usr/bin/env", ["python3", "-c", "import numpy"])) != nil else {
        FileHandle.standardError.write(Data("npusim bench \(bench): numpy yardstick skipped; install numpy for python3 to compare\n".utf8))
        return nil
    }
    return PythonYardstick(bench: bench, python: "python3", script: script, cases: cases)
}

/// PyTorch's eager LeNet-5 step, the same net, loss and update as `lenet-step` (with a `pytorch`
/// case at torch's default threads and `pytorch-1thread`), run by `NPUSIM_TORCH_PYTHON` (else
/// python3) with the BLAS tuning variables removed; skipped with how to install torch when absent.
func pytorchLeNetStep(_ bench: String) -> PythonYardstick? {
    let python = ProcessInfo.processInfo.environment["NPUSIM_TORCH_PYTHON"] ?? "python3"
    guard (try? runTool("/usr/bin/env", [python, "-c", "import torch"])) != nil else {
        FileHandle.standardError.write(Data("""
        npusim bench \(bench): the PyTorch yardstick is skipped: \(python) cannot import torch. Install it outside the repository:
          python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch --index-url https://download.pytorch.org/whl/cpu
          NPUSIM_TORCH_PYTHON=/tmp/torchvenv/bin/python npusim bench \(bench)

        """.utf8))
        return nil
    }
    let script = """
    import time, torch
    from torch import nn
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(1, 6, 5, bias=False), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Conv2d(6, 16, 5, bias=False), nn.ReLU(),
                        nn.MaxPool2d(2, 2), nn.Flatten(), nn.Linear(256, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(32, 1, 28, 28); y = torch.arange(32) % 10
    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y); loss.backward(); opt.step()
        return loss.item()
    # torch's own BLAS (its wheel's build settings), not the OpenBLAS numpy may have mapped.
    blas = [f.split('=', 1)[1] for f in torch.__config__.show().replace(',', ' ').split() if f.startswith('BLAS_INFO=')]
    print('# torch %s eager, %d threads, BLAS %s, oneDNN %s' % (torch.__version__, torch.get_num_threads(), blas[0] if blas else 'unknown',
                                                           'on' if torch.backends.mkldnn.is_available() else 'off'))
    \(timingLoop)
    """
    return PythonYardstick(bench: bench, python: python, script: script, cases: [("pytorch", nil, [], []), ("pytorch-1thread", "1", [], [])])
}

/// The timing loop every Python yardstick ends with: 10 warm-up steps, then
/// `NPUSIM_YARDSTICK_RUNS` (9 unless set) figures of 20 steps each, in ms per step.
let timingLoop = """
import os
for _ in range(10): step()
for _ in range(int(os.environ.get('NPUSIM_YARDSTICK_RUNS', '9'))):
    t = time.perf_counter()
    for _ in range(20): step()
    print((time.perf_counter() - t) / 20 * 1e3)
"""

/// One case of a Python yardstick: its name, its BLAS threads (nil: the library's default), the
/// script's arguments, and environment settings of its own (`NAME=value`).
typealias YardstickCase = (name: String, threads: String?, arguments: [String], settings: [String])

/// A Python yardstick: `script` run once per case (`threads` nil: the library's default;
/// arguments after the script), with our threads verified asleep and the BLAS tuning variables
/// removed. `stepFigures` runs it once in each of its rounds, between the step's own cases, so a
/// ratio to it compares figures from the same stretch of this host's time.
struct PythonYardstick {
    var bench: String
    var python: String
    var script: String
    var cases: [YardstickCase]

    /// One round: each case's `runs` figures (ms per step) and its "# " lines (plus a note when our
    /// threads were not idle). Nil (after a message) when a case fails.
    func round(runs: Int) -> [(name: String, values: [Double], notes: [String])]? {
        var out: [(name: String, values: [Double], notes: [String])] = []
        for (caseName, threads, arguments, settings) in cases {
            let idle = quietThreads()  // the cores to the yardstick alone
            let environment = honestEnvironment + ["NPUSIM_YARDSTICK_RUNS=\(runs)"]
                + (threads.map { ["OMP_NUM_THREADS=\($0)", "OPENBLAS_NUM_THREADS=\($0)", "MKL_NUM_THREADS=\($0)"] } ?? []) + settings
            do {
                let lines = try runTool(environment[0], Array(environment.dropFirst()) + [python, "-c", script] + arguments)
                let values = lines.compactMap(Double.init)
                guard !values.isEmpty else { throw CLIError(message: "no figures printed", code: 1) }
                out.append((caseName, values, lines.filter { $0.hasPrefix("# ") }.map { String($0.dropFirst(2)) } + (idle ? [] : ["our threads were not idle"])))
            } catch {
                FileHandle.standardError.write(Data("npusim bench \(bench): the \(caseName) yardstick failed: \(error)\n".utf8))
                return nil
            }
        }
        return out
    }

    /// The cases' figures from their rounds' values (notes once each); a case slower than its
    /// "-1thread" twin is marked contended.
    static func figures(_ bench: String, rounds: [[(name: String, values: [Double], notes: [String])]]) -> [BenchFigure] {
        guard let first = rounds.first else { return [] }
        var figures = first.indices.map { c in
            var figure = BenchFigure(bench: bench, caseName: first[c].name, unit: "ms/step", values: rounds.flatMap { $0[c].values })
            figure.notes = rounds.flatMap { $0[c].notes }.reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
            return figure
        }
        for k in figures.indices {
            if let twin = figures.first(where: { $0.caseName == figures[k].caseName + "-1thread" }), figures[k].median > twin.median { figures[k].contended = true }
        }
        return figures
    }
}

/// How much faster numpy's 1024×1024 float32 GEMM runs on its default BLAS threads than on one
/// (the best of five timings each, run as every Python yardstick is: our threads verified asleep,
/// the BLAS tuning variables removed): whether the host's cores were free at the time. Nil without
/// numpy or when the probe fails (it says why).
func coreScaling() -> (speedup: Double, threads: Int)? {
    let script = """
    import time, numpy as np
    \(blasProbe)
    _blas_line()
    a = np.ones((1024, 1024), np.float32)
    def step(): a @ a
    \(timingLoop)
    """
    let probe = PythonYardstick(bench: "core-scaling", python: "python3", script: script, cases: [("one", "1", [], []), ("default", nil, [], [])])
    guard (try? runTool("/usr/bin/env", ["python3", "-c", "import numpy"])) != nil, let cases = probe.round(runs: 5),
          let one = cases[0].values.min(), let all = cases[1].values.min(), all > 0 else { return nil }
    // "blas OpenBLAS 0.3.31, kernel SkylakeX, 2 threads": the default run's thread count.
    let threads = cases[1].notes.first(where: { $0.hasPrefix("blas ") })
        .flatMap { $0.components(separatedBy: " threads").first?.split(separator: " ").last }.flatMap { Int($0) } ?? 1
    return (one / all, threads)
}

/// What a contended mark means on this host, from `coreScaling`'s figure taken right after: a
/// large GEMM that scales (at least 0.8 × its threads, counting up to 4) shows the cores were free,
/// so the yardstick's extra threads cost more than they give at its sizes; one that does not shows
/// the host was busy.
func contentionNote(speedup: Double, threads: Int) -> String {
    let scaled = speedup >= 0.8 * Double(min(max(threads, 1), 4))
    return String(format: "numpy's 1024² GEMM just after ran %.2f× faster on %d threads than on 1: ", speedup, threads)
        + (scaled ? "the cores were free, so at these sizes the extra threads cost more than they give"
                  : "the host's cores were busy")
}

/// Marks each contended figure with `contentionNote` (the probe runs only when one is).
func explainContention(_ figures: inout [BenchFigure], probe: () -> (speedup: Double, threads: Int)? = coreScaling) {
    guard figures.contains(where: \.contended), let scaling = probe() else { return }
    for k in figures.indices where figures[k].contended {
        figures[k].notes.append(contentionNote(speedup: scaling.speedup, threads: scaling.threads))
    }
}

/// Ratios of the graph step's median to each yardstick's (`graph/<case>`), never to a contended
/// one.
func yardstickRatios(_ bench: String, _ figures: [BenchFigure], against cases: [String]) -> [BenchFigure] {
    guard let graph = figures.first(where: { $0.caseName == "graph" }) else { return [] }
    return cases.compactMap { name in
        guard let y = figures.first(where: { $0.caseName == name && !$0.contended }), y.median > 0 else { return nil }
        return BenchFigure(bench: bench, caseName: "graph/" + name, unit: "ratio", values: [graph.median / y.median])
    }
}

/// The reference MLP's step in numpy: Dense weights [out, in] as MindSpore's, ReLU, sparse
/// softmax cross-entropy (mean), backward by hand, Momentum 0.01/0.9 (ApplyMomentum's formula).
let numpyMLPStep = """
rng = np.random.default_rng(1)
B = 32
x = rng.standard_normal((B, 784), dtype=np.float32); y = np.arange(B) % 10
P = [rng.standard_normal((128, 784), dtype=np.float32) * np.float32(0.01), np.zeros(128, np.float32),
     rng.standard_normal((10, 128), dtype=np.float32) * np.float32(0.01), np.zeros(10, np.float32)]
M = [np.zeros_like(p) for p in P]
lr, mu = np.float32(0.01), np.float32(0.9)
def step():
    h = x @ P[0].T + P[1]; r = np.maximum(h, 0); z = r @ P[2].T + P[3]
    zm = z - z.max(axis=1, keepdims=True); e = np.exp(zm); s = e.sum(axis=1, keepdims=True)
    loss = float(np.mean(np.log(s[:, 0]) - zm[np.arange(B), y]))
    dz = e / s; dz[np.arange(B), y] -= 1; dz *= np.float32(1.0 / B)
    dh = (dz @ P[2]) * (h > 0)
    for p, m, g in zip(P, M, [dh.T @ x, dh.sum(0), dz.T @ r, dz.sum(0)]):
        m *= mu; m += g; p -= lr * m
    return loss
"""

/// LeNet5's step in numpy: convolutions as im2col products (sliding windows), 2×2 max pools by
/// reshaping, the rest as the MLP's.
let numpyLeNetStep = """
from numpy.lib.stride_tricks import sliding_window_view as windows
rng = np.random.default_rng(1)
B = 32
x = rng.standard_normal((B, 1, 28, 28), dtype=np.float32); y = np.arange(B) % 10
def w(*s): return rng.standard_normal(s, dtype=np.float32) * np.float32(0.1)
P = [w(6, 1, 5, 5), w(16, 6, 5, 5), w(120, 256), np.zeros(120, np.float32), w(84, 120), np.zeros(84, np.float32),
     w(10, 84), np.zeros(10, np.float32)]
M = [np.zeros_like(p) for p in P]
lr, mu = np.float32(0.01), np.float32(0.9)
def conv(x, W):
    n, c, h, wd = x.shape; o, _, k, _ = W.shape
    cols = windows(x, (k, k), axis=(2, 3)).transpose(0, 2, 3, 1, 4, 5).reshape(-1, c * k * k)
    return (cols @ W.reshape(o, -1).T).reshape(n, h - k + 1, wd - k + 1, o).transpose(0, 3, 1, 2), cols
def conv_back(dy, cols, W, xshape, need_dx):
    n, o, oh, ow = dy.shape; k = W.shape[2]
    d = dy.transpose(0, 2, 3, 1).reshape(-1, o)
    dW = (d.T @ cols).reshape(W.shape)
    if not need_dx: return dW, None
    dcols = (d @ W.reshape(o, -1)).reshape(n, oh, ow, xshape[1], k, k)
    dx = np.zeros(xshape, np.float32)
    for i in range(k):
        for j in range(k):
            dx[:, :, i:i + oh, j:j + ow] += dcols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return dW, dx
def pool(x):
    n, c, h, wd = x.shape
    r = x.reshape(n, c, h // 2, 2, wd // 2, 2); m = r.max(axis=(3, 5))
    return m, (r == m[:, :, :, None, :, None])
def step():
    c1, cols1 = conv(x, P[0]); r1 = np.maximum(c1, 0); p1, m1 = pool(r1)
    c2, cols2 = conv(p1, P[1]); r2 = np.maximum(c2, 0); p2, m2 = pool(r2)
    f = p2.reshape(B, -1)
    h1 = f @ P[2].T + P[3]; a1 = np.maximum(h1, 0); h2 = a1 @ P[4].T + P[5]; a2 = np.maximum(h2, 0); z = a2 @ P[6].T + P[7]
    zm = z - z.max(axis=1, keepdims=True); e = np.exp(zm); s = e.sum(axis=1, keepdims=True)
    loss = float(np.mean(np.log(s[:, 0]) - zm[np.arange(B), y]))
    dz = e / s; dz[np.arange(B), y] -= 1; dz *= np.float32(1.0 / B)
    da2 = (dz @ P[6]) * (h2 > 0); da1 = (da2 @ P[4]) * (h1 > 0); df = da1 @ P[2]
    dr2 = (m2 * df.reshape(p2.shape)[:, :, :, None, :, None]).reshape(r2.shape) * (c2 > 0)
    g1, dp1 = conv_back(dr2, cols2, P[1], p1.shape, True)
    dr1 = (m1 * dp1[:, :, :, None, :, None]).reshape(r1.shape) * (c1 > 0)
    g0, _ = conv_back(dr1, cols1, P[0], x.shape, False)
    for p, m, g in zip(P, M, [g0, g1, da1.T @ f, da1.sum(0), da2.T @ a1, da2.sum(0), dz.T @ a2, dz.sum(0)]):
        m *= mu; m += g; p -= lr * m
    return loss
"""
