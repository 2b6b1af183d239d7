"""A MindSpore-style training script run by ``npusim.runner`` against its YAML twin through
``npusim_model_train``: the same initial parameters (drawn in Python with MindSpore's seeds,
in the engine from the script) and the same LossMonitor lines, bit for bit."""
import os
import subprocess
import sys

import numpy as np

from npusim._engine import ScriptModel

SCRIPTS = os.path.join(os.path.dirname(__file__), "scripts")

TWIN = """seed: 1
context: {mode: graph, device: ascend910, determinism: "on"}
dataset:
  source: {npy: {data: x.npy, label: y.npy}}
  shuffle: true
  batch: {batch_size: 32, drop_remainder: true}
network:
  layers:
    - Dense: {in_channels: 784, out_channels: 128, name: fc1}
    - ReLU: {}
    - Dense: {in_channels: 128, out_channels: 10, name: fc2}
loss: {SoftmaxCrossEntropyWithLogits: {sparse: true, reduction: mean}}
optimizer: {Momentum: {learning_rate: 0.01, momentum: 0.9}}
train: {epochs: 3}
"""


def test_a_python_training_script_matches_its_yaml_twin(tmp_path):
    # mlp_golden.py makes its data with default_rng(5); the twin reads the same arrays.
    rng = np.random.default_rng(5)
    np.save(tmp_path / "x.npy", rng.standard_normal((160, 784)).astype(np.float32))
    np.save(tmp_path / "y.npy", rng.integers(0, 10, 160).astype(np.int32))
    r = subprocess.run([sys.executable, "-m", "npusim.runner", os.path.join(SCRIPTS, "mlp_golden.py")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    lines = [l for l in r.stdout.splitlines() if l.startswith("epoch: ")]
    assert r.stdout.splitlines()[-1].startswith("{'Accuracy': ")  # print(model.eval(dataset))
    # 5 batches per epoch, per_print_times 2: global steps 2, 4, 6, ... (MindSpore's counter).
    heads = ["epoch: 1 step: 2", "epoch: 1 step: 4", "epoch: 2 step: 1", "epoch: 2 step: 3", "epoch: 2 step: 5", "epoch: 3 step: 2", "epoch: 3 step: 4"]
    assert [l.split(", loss is ")[0] for l in lines] == heads
    twin = ScriptModel(TWIN, file=str(tmp_path / "twin.yaml"))
    losses = {}
    twin.train(callback=lambda hook, e, s, b, loss: losses.__setitem__(s, loss) if hook == "on_train_step_end" else None)
    assert lines == [f"{h}, loss is {losses[step]!r}" for h, step in zip(heads, [2, 4, 6, 8, 10, 12, 14])]


def test_cells_draw_the_engines_initial_parameters_and_set_parameter_replaces_them(tmp_path):
    import npusim.mindspore as mindspore
    from npusim.mindspore import nn

    np.save(tmp_path / "x.npy", np.zeros((32, 784), np.float32))
    np.save(tmp_path / "y.npy", np.zeros(32, np.int32))
    twin = ScriptModel(TWIN, file=str(tmp_path / "twin.yaml"))
    mindspore.set_seed(1)
    fc1, fc2 = nn.Dense(784, 128), nn.Dense(128, 10)
    for name, p in [("fc1.weight", fc1.weight), ("fc1.bias", fc1.bias), ("fc2.weight", fc2.weight), ("fc2.bias", fc2.bias)]:
        assert twin.parameter(name).tobytes() == p.asnumpy().tobytes(), name
    twin.set_parameter("fc2.bias", np.arange(10, dtype=np.float32))
    assert twin.parameter("fc2.bias").tolist() == list(range(10))


def test_after_train_the_cells_hold_the_trained_parameters():
    import npusim.mindspore as mindspore
    from npusim.mindspore import nn
    from npusim.mindspore.dataset import NumpySlicesDataset
    from npusim.mindspore.train import Model

    mindspore.set_seed(2)
    net = nn.SequentialCell([nn.Dense(4, 3), nn.ReLU(), nn.Dense(3, 2)])
    before = net._cells["0"].weight.asnumpy().copy()
    rng = np.random.default_rng(1)
    data = NumpySlicesDataset((rng.standard_normal((16, 4)).astype(np.float32), rng.integers(0, 2, 16).astype(np.int32)), shuffle=False).batch(4)
    model = Model(net, nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean"), nn.SGD(net.trainable_params(), 0.5))
    model.train(2, data)
    after = net._cells["0"].weight.asnumpy()
    assert not np.array_equal(before, after)
    assert after.tobytes() == model._engine.parameter("0.weight").tobytes()


def test_time_monitor_prints_mindspores_line_with_the_cards_time(capsys):
    import npusim.mindspore as mindspore
    from npusim.mindspore import nn
    from npusim.mindspore.dataset import NumpySlicesDataset
    from npusim.mindspore.train import Model, TimeMonitor

    mindspore.set_seed(2)
    net = nn.SequentialCell([nn.Dense(4, 3), nn.ReLU(), nn.Dense(3, 2)])
    rng = np.random.default_rng(1)
    data = NumpySlicesDataset((rng.standard_normal((16, 4)).astype(np.float32), rng.integers(0, 2, 16).astype(np.int32))).batch(4)
    Model(net, nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean"), nn.SGD(net.trainable_params(), 0.1)).train(2, data, callbacks=[TimeMonitor()])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(l.startswith("Train epoch time: ") and " ms, per step time: " in l for l in lines)
    epoch_ms = [float(l.split()[3]) for l in lines]
    step_ms = [float(l.split()[8]) for l in lines]
    # Four steps an epoch, on the simulated card: positive times, a quarter per step.
    assert all(t > 0 for t in epoch_ms) and all(abs(e / 4 - s) < 0.002 for e, s in zip(epoch_ms, step_ms))
