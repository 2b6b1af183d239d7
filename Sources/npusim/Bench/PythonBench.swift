import Foundation
import NPUSim

// The Python front end's speed, against the Swift library doing the same work in the same run:
// the reference MLP through Model.train from Python (`mlp-step` python-model-train, against
// model-train), the quick start's PyNative loop (`quickstart-step`, python-pynative against the
// Swift pynative step of the same network), and `npusim run quickstart.py --steps 1` to its
// first loss (`startup` python-run-to-first-loss).

/// The venv's python, or nil (with a message) where `make python` has not made it or its engine
/// (`make test` makes the venv alone: its package loads the debug engine it is pointed at).
func benchPython(_ bench: String) -> String? {
    guard let python = try? RunCommand.pythonEnvironment(), (try? runTool(python, ["-c", "import npusim"])) != nil else {
        FileHandle.standardError.write(Data("npusim bench \(bench): the Python cases need `make python` (the package and its engine); skipped\n".utf8))
        return nil
    }
    return python
}

/// Figures a Python script prints, one per line.
func pythonFigures(_ bench: String, _ caseName: String, script: String) throws -> [BenchFigure] {
    guard let python = benchPython(bench) else { return [] }
    Parallel.rest()  // the cores to the Python process alone
    let values = try runTool(python, ["-c", script]).compactMap(Double.init)
    guard !values.isEmpty else { throw CLIError(message: "npusim bench \(bench): the \(caseName) case printed no figures", code: 1) }
    return [BenchFigure(bench: bench, caseName: caseName, unit: "ms/step", values: values)]
}

/// `mlp-step`'s python-model-train: model-train's measurement (the difference between an 11-epoch
/// and a 1-epoch Model.train, over the 1,000 steps between them) from a Python script.
let pythonModelTrainScript = """
import contextlib, io, time
import npusim.mindspore as ms
from npusim.mindspore import nn
from npusim.mindspore.dataset import NumpySlicesDataset
from npusim.mindspore.train import LossMonitor, Model
from npusim.data import synthetic
ms.set_seed(1)
ms.set_context(mode=ms.GRAPH_MODE)
x, y = synthetic(3200, [784], 10, 7)
class MLP(nn.Cell):
    def __init__(self):
        super().__init__()
        self.fc1, self.relu, self.fc2 = nn.Dense(784, 128), nn.ReLU(), nn.Dense(128, 10)
    def construct(self, x):
        return self.fc2(self.relu(self.fc1(x)))
def seconds(epochs):
    net = MLP()
    model = Model(net, nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean"), nn.Momentum(net.trainable_params(), 0.01, 0.9))
    data = NumpySlicesDataset((x, y), shuffle=False).batch(32, drop_remainder=True)
    with contextlib.redirect_stdout(io.StringIO()):
        t = time.perf_counter()
        model.train(epochs, data, callbacks=[LossMonitor(100)])
        return time.perf_counter() - t
seconds(1)
for _ in range(5):
    short, long = seconds(1), seconds(11)
    print((long - short) / 1000 * 1e3)
"""

/// The quick start's network and step (Dense 784→512→512→10 with ReLU, CrossEntropyLoss, SGD
/// 1e-2, batch 64) in PyNative from Python: value_and_grad, then optimizer(grads).
let pythonQuickstartScript = """
import time
import numpy as np
import npusim.mindspore as ms
from npusim.mindspore import nn
ms.set_seed(1)
net = nn.SequentialCell(nn.Flatten(), nn.Dense(784, 512), nn.ReLU(), nn.Dense(512, 512), nn.ReLU(), nn.Dense(512, 10))
loss_fn = nn.CrossEntropyLoss()
optimizer = nn.SGD(net.trainable_params(), 1e-2)
def forward(data, label):
    logits = net(data)
    return loss_fn(logits, label), logits
grad_fn = ms.value_and_grad(forward, None, optimizer.parameters, has_aux=True)
x = ms.Tensor(np.random.default_rng(1).standard_normal((64, 1, 28, 28)).astype(np.float32))
y = ms.Tensor((np.arange(64) % 10).astype(np.int32))
def step():
    (loss, _), grads = grad_fn(x, y)
    optimizer(grads)
    return float(loss.asnumpy())
for _ in range(10): step()
for _ in range(9):
    t = time.perf_counter()
    for _ in range(20): step()
    print((time.perf_counter() - t) / 20 * 1e3)
"""

/// The quick start's step in the Swift library's PyNative mode (the yardstick of python-pynative).
func quickstartSwiftFigures() throws -> [BenchFigure] {
    let seeds = SeedState()
    try seeds.setSeed(1)
    let ctx = LayerContext(store: ParameterStore(), seeds: seeds)
    let net = SequentialCell([Flatten(), try Dense(784, 512, name: "d0", ctx), OpLayer.relu(), try Dense(512, 512, name: "d2", ctx), OpLayer.relu(),
                              try Dense(512, 10, name: "d4", ctx)])
    let step = try TrainStep(model: NetworkWithLoss(network: net, loss: SoftmaxCrossEntropyLoss()),
                             inputs: ["data": TensorType(.float32, [64, 1, 28, 28]), "label": TensorType(.int32, [64])],
                             optimizer: SGD(net.parameters, learningRate: 0.01), mode: .pynative, device: Device(spec: .ascend910),
                             store: ctx.store, configuration: StepConfiguration(determinism: .off))
    let x = sampleTensor([64, 1, 28, 28]), y = try Tensor(shape: [64], values: (0..<64).map { Int32($0 % 10) })
    var ms: [Double] = []
    for _ in 0..<3 {
        try warmUp { _ = try step(x, y) }
        for _ in 0..<3 { ms.append(wallSeconds { for _ in 0..<20 { _ = try! step(x, y) } } / 20 * 1e3) }
    }
    return [BenchFigure(bench: "quickstart-step", caseName: "pynative", unit: "ms/step", values: ms)]
}

let quickstartStepBenchmark = Benchmark(name: "quickstart-step", summary: "the quick start's PyNative training step (batch 64): Swift and Python, host ms/step") {
    try quickstartSwiftFigures() + (try pythonFigures("quickstart-step", "python-pynative", script: pythonQuickstartScript))
}

/// `startup`'s python case: `npusim run Tests/python/scripts/quickstart.py --steps 1` to its first
/// loss line (a new process each time).
func pythonStartupFigures() throws -> [BenchFigure] {
    let script = URL(fileURLWithPath: "Tests/python/scripts/quickstart.py").path
    guard FileManager.default.fileExists(atPath: script), benchPython("startup") != nil else { return [] }
    let seconds = try secondsToOutput(["run", script, "--steps", "1", "--seed", "1"], containing: "loss: ",
                                      environment: ["QUICKSTART_OUT": FileManager.default.temporaryDirectory.path])
    return [BenchFigure(bench: "startup", caseName: "python-run-to-first-loss", unit: "s", values: seconds)]
}
