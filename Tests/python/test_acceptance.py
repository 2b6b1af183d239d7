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
