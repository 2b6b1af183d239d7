import Foundation
import NPUSim

/// LeNet5 as MindSpore's model zoo defines it, for 28×28 inputs: conv 1→6 5×5 valid, ReLU, max
/// pool 2, conv 6→16 5×5 valid, ReLU, max pool 2, Flatten, Dense 256→120→84→10 with ReLU.
func lenet5(_ ctx: LayerContext) throws -> SequentialCell {
    SequentialCell([
        try Conv2d(1, 6, kernel: 5, padMode: .valid, name: "conv1", ctx), OpLayer.relu(), OpLayer.maxPool2d(kernel: 2, stride: 2),
        try Conv2d(6, 16, kernel: 5, padMode: .valid, name: "conv2", ctx), OpLayer.relu(), OpLayer.maxPool2d(kernel: 2, stride: 2),
        Flatten(), try Dense(256, 120, name: "fc1", ctx), OpLayer.relu(), try Dense(120, 84, name: "fc2", ctx), OpLayer.relu(),
        try Dense(84, 10, name: "fc3", ctx),
    ])
}

/// Host ms per training step of `network` in each mode under each policy (cases `graph`,
/// `graph-on`, `graph-strict`, …: `off` is unsuffixed), Momentum 0.01/0.9, sparse CE mean; and
/// `<mode>-strict/<mode>-on` and `pynative/graph` (per policy) where both ran. Every case is timed
/// in each of three rounds, one after another (with `floor`, the graph step's GEMMs alone as the
/// `gemm-floor` case too, and each Python yardstick's cases, three figures a round), so a ratio
/// compares figures taken on the same machine: this shared VM's two cores change speed from second
/// to second. A ratio's figures are its rounds' ratios.
func stepFigures(_ bench: String, input: Shape, modes: [ExecutionMode], recording: Bool = false, floor: [StepGEMM]? = nil,
                 yardsticks: [PythonYardstick] = [], policies: [Determinism] = [.off],
                 network: (LayerContext) throws -> SequentialCell) throws -> [BenchFigure] {
    let x = sampleTensor(input), y = try Tensor(shape: [input[0]], values: (0..<input[0]).map { Int32($0 % 10) })
    var cases: [(name: String, run: () throws -> Void)] = []
    for mode in modes {
        for policy in policies {
            let seeds = SeedState()
            try seeds.setSeed(1)
            let ctx = LayerContext(store: ParameterStore(), seeds: seeds)
            let net = try network(ctx)
            let opt = try Momentum(net.parameters, learningRate: 0.01, momentum: 0.9, ctx)
            let step = try TrainStep(model: NetworkWithLoss(network: net, loss: SoftmaxCrossEntropyLoss()),
                                     inputs: ["data": TensorType(.float32, input), "label": TensorType(.int32, [input[0]])],
                                     optimizer: opt, mode: mode, device: Device(spec: .ascend910), store: ctx.store,
                                     configuration: StepConfiguration(determinism: policy, recording: recording))
            let name = mode.rawValue + (policy == .off ? "" : "-" + policy.rawValue) + (recording ? "-recording" : "")
            cases.append((name, { _ = try step(x, y) }))
        }
    }
    let yardstick = floor.map(GemmFloor.init)
    let n = 20
    var ms = [[Double]](repeating: [], count: cases.count), floorMS: [Double] = []
    // Each yardstick's rounds; nil once one of its rounds failed (it said why).
    var yardstickRounds: [[[(name: String, values: [Double], notes: [String])]]?] = yardsticks.map { _ in [] }
    // Three rounds; in each, every case gets 0.25 s of warm-up (enough for the other side's threads
    // to have gone to sleep and these to have settled on their cores) and three timed runs.
    for _ in 0..<3 {
        for (c, timed) in cases.enumerated() {
            try warmUp(timed.run)
            for _ in 0..<3 { ms[c].append(try wallSecondsThrowing { for _ in 0..<n { try timed.run() } } / Double(n) * 1e3) }
        }
        if let yardstick {
            yardstick.atBest {
                warmUp(yardstick.run)
                for _ in 0..<3 { floorMS.append(wallSeconds { for _ in 0..<n { yardstick.run() } } / Double(n) * 1e3) }
            }
        }
        for (y, python) in yardsticks.enumerated() where yardstickRounds[y] != nil {
            yardstickRounds[y] = python.round(runs: 3).map { yardstickRounds[y]! + [$0] }
        }
    }
    var figures = cases.indices.map { BenchFigure(bench: bench, caseName: cases[$0].name, unit: "ms/step", values: ms[$0]) }
    if yardstick != nil { figures.append(BenchFigure(bench: bench, caseName: "gemm-floor", unit: "ms/step", values: floorMS)) }
    for rounds in yardstickRounds.compactMap({ $0 }) { figures += PythonYardstick.figures(bench, rounds: rounds) }
    explainContention(&figures)
    // Ratios round by round (the median of a round's three runs each).
    func median(_ v: [Double]) -> Double { BenchFigure(bench: bench, caseName: "", unit: "", values: v).median }
    func ratio(_ name: String, _ over: String, _ under: String) {
        guard let a = cases.firstIndex(where: { $0.name == over }), let b = cases.firstIndex(where: { $0.name == under }) else { return }
        let rounds = (0..<3).map { r in median(Array(ms[a][(3 * r)..<(3 * r + 3)])) / median(Array(ms[b][(3 * r)..<(3 * r + 3)])) }
        figures.append(BenchFigure(bench: bench, caseName: name, unit: "ratio", values: rounds))
    }
    for mode in modes { ratio("\(mode.rawValue)-strict/\(mode.rawValue)-on", mode.rawValue + "-strict", mode.rawValue + "-on") }
    for policy in policies {
        let suffix = policy == .off ? "" : "-" + policy.rawValue
        ratio("pynative\(suffix)/graph\(suffix)", "pynative" + suffix, "graph" + suffix)
    }
    return figures
}

let lenetStepBenchmark = Benchmark(name: "lenet-step", summary: "LeNet5 training step (28×28, batch 32), host ms/step") {
    let python = [numpyStep("lenet-step", script: numpyLeNetStep, gemms: lenetGEMMs), pytorchLeNetStep("lenet-step")].compactMap { $0 }
    let figures = try stepFigures("lenet-step", input: [32, 1, 28, 28], modes: ExecutionMode.allCases, floor: lenetGEMMs,
                                  yardsticks: python, policies: [.off, .on, .strict], network: lenet5)
    return figures + yardstickRatios("lenet-step", figures, against: ["pytorch", "pytorch-1thread", "numpy", "numpy-1thread", "numpy-1thread-avx2", "gemm-floor", "numpy-gemm-floor", "numpy-gemm-floor-1thread", "numpy-gemm-floor-1thread-avx2"])
}

/// The reference MLP of the graph-mode issue: Dense 784→128, ReLU, Dense 128→10, sparse softmax
/// cross-entropy (mean), Momentum lr 0.01 / 0.9, batch 32, float32. Host time per training step.
let mlpStepBenchmark = Benchmark(name: "mlp-step", summary: "reference MLP training step, host ms/step") {
    let numpy = numpyStep("mlp-step", script: numpyMLPStep, gemms: mlpGEMMs)
    let figures = try stepFigures("mlp-step", input: [32, 784], modes: ExecutionMode.allCases, floor: mlpGEMMs, yardsticks: numpy.map { [$0] } ?? [],
                                  policies: [.off, .on, .strict]) { ctx in
        SequentialCell([try Dense(784, 128, name: "fc1", ctx), OpLayer.relu(), try Dense(128, 10, name: "fc2", ctx)])
    } + (try stepFigures("mlp-step", input: [32, 784], modes: [.graph], recording: true) { ctx in
        SequentialCell([try Dense(784, 128, name: "fc1", ctx), OpLayer.relu(), try Dense(128, 10, name: "fc2", ctx)])
    }) + (try modelTrainFigures()) + (try pythonFigures("mlp-step", "python-model-train", script: pythonModelTrainScript))
    return figures + yardstickRatios("mlp-step", figures, against: ["numpy", "numpy-1thread", "numpy-1thread-avx2", "gemm-floor", "numpy-gemm-floor", "numpy-gemm-floor-1thread", "numpy-gemm-floor-1thread-avx2"])
}
