"""The Python front end's acceptance runs (what ``npusim run train.py`` does, through the runner
it calls): LeNet in the zoo's style trained by Model.train in graph mode, PyNative and sink mode
with the same bits under ``on``; ``--steps``; errors as one line naming the script's line."""
import csv
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.join(HERE, "scripts")


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "npusim.runner", *args], capture_output=True, text=True, cwd=cwd)


def losses(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_lenet_graph_pynative_and_sink_give_the_same_bits_under_on(tmp_path):
    lenet = os.path.join(SCRIPTS, "lenet_zoo.py")
    graph = run("--determinism", "on", "--losses", str(tmp_path / "graph.csv"), lenet, "--", "--ckpt_path", str(tmp_path / "ckpt"))
    assert graph.returncode == 0, graph.stderr
    pynative = run("--determinism", "on", "--mode", "pynative", "--losses", str(tmp_path / "pynative.csv"), lenet, "--", "--ckpt_path",
                   str(tmp_path / "ckpt-pynative"))
    assert pynative.returncode == 0, pynative.stderr
    sink = run("--determinism", "on", "--losses", str(tmp_path / "sink.csv"), "--hidden-steps", lenet, "--",
               "--dataset_sink_mode", "True", "--sink_size", "5", "--ckpt_path", str(tmp_path / "ckpt-sink"))
    assert sink.returncode == 0, sink.stderr
    g, p, s = losses(tmp_path / "graph.csv"), losses(tmp_path / "pynative.csv"), losses(tmp_path / "sink.csv")
    assert len(g) == 32 and [r["loss"] for r in p] == [r["loss"] for r in g]
    # Sink size 5, two epochs: two sinks of five steps, the first ten steps' bits; the host saw
    # each sink's last loss, which LossMonitor printed as MindSpore does on a card.
    assert [r["loss"] for r in s] == [r["loss"] for r in g[:10]]
    assert [r["visible"] for r in s] == ["false"] * 4 + ["true"] + ["false"] * 4 + ["true"]
    lines = [l for l in sink.stdout.splitlines() if l.startswith("epoch:")]
    assert lines == [f"epoch: 1 step: 5, loss is {float(g[4]['loss'])!r}", f"epoch: 2 step: 5, loss is {float(g[9]['loss'])!r}"]
    # ModelCheckpoint(save_checkpoint_steps=8, keep_checkpoint_max=3): what MindSpore 2.10 CPU left.
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["checkpoint_lenet-1_16.ckpt", "checkpoint_lenet-2_16.ckpt", "checkpoint_lenet-2_8.ckpt"]


def test_steps_end_the_script_cleanly_after_n(tmp_path):
    r = run("--seed", "1", "--steps", "3", "--losses", str(tmp_path / "l.csv"), os.path.join(SCRIPTS, "quickstart.py"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert [row["step"] for row in losses(tmp_path / "l.csv")] == ["1", "2", "3"]
    assert "Test:" not in r.stdout and "Done!" not in r.stdout


def test_an_input_that_does_not_fit_names_the_cell_the_shapes_and_the_line(tmp_path):
    (tmp_path / "eager.py").write_text(
        "import numpy as np\nimport mindspore\nfrom mindspore import nn\n\n\nclass Net(nn.Cell):\n    def __init__(self):\n"
        "        super().__init__()\n        self.flatten = nn.Flatten()\n        self.fc = nn.Dense(10, 2)\n\n    def construct(self, x):\n"
        "        x = self.flatten(x)\n        return self.fc(x)\n\n\nprint(Net()(mindspore.Tensor(np.zeros((4, 3, 3), np.float32))))\n")
    r = run(str(tmp_path / "eager.py"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1
    assert r.stderr.startswith(f"error: {tmp_path / 'eager.py'}:14: nn.Dense cannot take its input [4, 9]: [MatMul] inner dimensions differ")
    (tmp_path / "graph.py").write_text(
        "import numpy as np\nimport mindspore\nfrom mindspore import nn\nfrom mindspore.dataset import NumpySlicesDataset\n"
        "from mindspore.train import Model\n\nmindspore.set_context(mode=mindspore.GRAPH_MODE)\n"
        "data = NumpySlicesDataset((np.zeros((8, 9), np.float32), np.zeros(8, np.int32))).batch(4)\n"
        "net = nn.SequentialCell(nn.Dense(10, 2))\n"
        "model = Model(net, nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction='mean'), nn.SGD(net.trainable_params()))\n"
        "model.train(1, data)\n")
    r = run(str(tmp_path / "graph.py"))
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1
    assert r.stderr.startswith(f"error: {tmp_path / 'graph.py'}:11: Model.train: the network cannot be built")
    assert "float32[4, 9]" in r.stderr and "0.weight float32[2, 10]" in r.stderr


def test_the_python_mlp_is_the_yaml_mlps_twin(tmp_path):
    # examples/mlp.py and examples/mlp.yaml: the same 30 losses, bit for bit, under on.
    from npusim import _engine

    root = os.path.join(HERE, "..", "..", "examples")
    r = run("--epochs", "3", "--losses", str(tmp_path / "py.csv"), os.path.join(root, "mlp.py"))
    assert r.returncode == 0, r.stderr
    with open(os.path.join(root, "mlp.yaml")) as f:
        model = _engine.ScriptModel(f.read(), file=os.path.join(root, "mlp.yaml"))
    seen = []
    model.train(epochs=3, callback=lambda hook, epoch, step, batch_num, loss: seen.append(loss) if hook == "on_train_step_end" else None)
    assert len(seen) == 30 and [float(row["loss"]) for row in losses(tmp_path / "py.csv")] == seen


def test_an_order_seed_replays_one_nondeterministic_run(tmp_path):
    # Under off (the script sets no determinism): --order-seed 7 twice gives the same bits, 7
    # and 8 different ones (each run's reduction orders drawn from its seed).
    lenet = os.path.join(SCRIPTS, "lenet_zoo.py")
    runs = {}
    for name, seed in (("a", "7"), ("b", "7"), ("c", "8")):
        r = run("--order-seed", seed, "--steps", "10", "--losses", str(tmp_path / f"{name}.csv"), lenet, "--", "--ckpt_path", str(tmp_path / name))
        assert r.returncode == 0, r.stderr
        runs[name] = [row["loss"] for row in losses(tmp_path / f"{name}.csv")]
    assert len(runs["a"]) == 10 and runs["a"] == runs["b"] and runs["a"] != runs["c"]


def test_profiler_in_a_script_writes_the_ascend_layout(tmp_path):
    (tmp_path / "prof.py").write_text(
        "import numpy as np\nimport mindspore\nfrom mindspore import nn\nfrom mindspore.profiler import Profiler\n"
        "profiler = Profiler(output_path='out')\nnet = nn.Dense(4, 3)\nfor _ in range(3):\n"
        "    net(mindspore.Tensor(np.ones((2, 4), np.float32)))\nprofiler.analyse()\n")
    r = run(str(tmp_path / "prof.py"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out" / "ASCEND_PROFILER_OUTPUT"
    assert sorted(os.listdir(out)) == ["kernel_details.csv", "op_statistic.csv", "reductions.csv", "step_trace_time.csv", "trace_view.json"]
    with open(out / "op_statistic.csv") as f:
        rows = {row["OP Type"]: row for row in csv.DictReader(f)}
    assert rows["MatMul"]["Count"] == "3" and rows["BiasAdd"]["Count"] == "3"


def test_hccl_deterministic_sets_the_collectives_policy(tmp_path, monkeypatch):
    # Four cards under on: HCCL_DETERMINISTIC=strict makes the AllReduce exact, which changes
    # the trained bits; a value HCCL does not know is an error.
    lenet = os.path.join(SCRIPTS, "lenet_zoo.py")
    final = {}
    for hccl in ("", "strict"):
        monkeypatch.setenv("HCCL_DETERMINISTIC", hccl)
        path = tmp_path / f"final-{hccl or 'unset'}.safetensors"
        r = run("--determinism", "on", "--cards", "4", "--steps", "8", "--final-parameters", str(path), lenet, "--", "--ckpt_path", str(tmp_path / "c"))
        assert r.returncode == 0, r.stderr
        from npusim import _engine
        final[hccl] = dict(_engine.read_checkpoint(path))
    assert final[""].keys() == final["strict"].keys()
    assert any((final[""][k] != final["strict"][k]).any() for k in final[""])
    # The optimizer's moments came back from the engine too.
    assert any(k.split(":")[1].startswith("moments.") and final[""][k].any() for k in final[""])
    monkeypatch.setenv("HCCL_DETERMINISTIC", "maybe")
    r = run("--steps", "1", lenet, "--", "--ckpt_path", str(tmp_path / "c"))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    line = next(k for k, text in enumerate(open(lenet), 1) if text.startswith("model.train("))
    assert r.stderr.startswith(f"error: {lenet}:{line}: HCCL_DETERMINISTIC must be true, false or strict, got 'maybe'")


AMP_SCRIPT = """import sys
import numpy as np
import mindspore
from mindspore import nn
from mindspore.amp import DynamicLossScaleManager, FixedLossScaleManager
from mindspore.dataset import NumpySlicesDataset
from mindspore.train import Model

mindspore.set_seed(1)
mindspore.set_context(mode=mindspore.GRAPH_MODE)
rng = np.random.default_rng(0)
data = NumpySlicesDataset((rng.standard_normal((64, 16)).astype(np.float32), rng.integers(0, 4, 64).astype(np.int32))).batch(8)
net = nn.SequentialCell(nn.Dense(16, 32), nn.ReLU(), nn.Dense(32, 4))
managers = {"none": None, "dynamic": DynamicLossScaleManager(128, 2, 2), "fixed": FixedLossScaleManager(1024, False)}
model = Model(net, nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction='mean'), nn.Momentum(net.trainable_params(), 0.1, 0.9),
              amp_level=sys.argv[1], loss_scale_manager=managers[sys.argv[2]])
model.train(1, data)
"""


def test_model_takes_amp_level_and_a_loss_scale_manager(tmp_path):
    """``Model(amp_level="O2")`` uses MindSpore's default ``DynamicLossScaleManager()``, whose
    2^24 overflows the float16 gradients: the first steps update nothing, so their losses repeat
    (the batches differ only from step to step in data; one pass over the same 8 batches shows
    the loss of batch 1 is the loss of an untrained network). A manager with a small scale
    trains from the first step; ``O0`` with a fixed scale of 1024 gives O0's bits (the scale is
    a power of two: exact)."""
    script = tmp_path / "amp.py"
    script.write_text(AMP_SCRIPT)

    def train(*args):
        out = tmp_path / ("-".join(args) + ".csv")
        r = run("--determinism", "on", "--losses", str(out), str(script), "--", *args)
        assert r.returncode == 0, r.stderr
        return [float(row["loss"]) for row in losses(out)]

    plain_o0, fixed_o0 = train("O0", "none"), train("O0", "fixed")
    assert len(plain_o0) == 8 and fixed_o0 == plain_o0
    o2, small = train("O2", "none"), train("O2", "dynamic")
    # Untrained losses in O2 (every update dropped) equal the losses of an untrained network,
    # which O0's first step also shows; a trained step's loss differs from its untrained value.
    assert abs(o2[0] - plain_o0[0]) < 1e-3 and small[0] == o2[0]
    assert small[1] != o2[1] and abs(small[1] - plain_o0[1]) < 0.05
    bad = tmp_path / "bad.py"
    bad.write_text("from mindspore.amp import DynamicLossScaleManager\nDynamicLossScaleManager(scale_window=0)\n")
    r = run(str(bad))
    assert r.returncode != 0 and "'scale_window' must be a positive int, but got 0" in r.stderr
