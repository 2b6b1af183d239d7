"""Graph mode for hand-written code: ``jit`` and Cells called in GRAPH_MODE trace into the
engine's graph, compile once per argument signature and run as steps — with PyNative's bits
under ``on``, the card's graph-mode timing, and a traced value's read named by its line."""
import os
import subprocess
import sys

import numpy as np
import pytest

import npusim.mindspore as ms
from npusim.mindspore import _pynative, nn, Tensor


def training(use_jit, optimizer="momentum", batches=(16, 16, 16)):
    ms.set_seed(1)
    net = nn.SequentialCell(nn.Flatten(), nn.Dense(784, 64), nn.ReLU(), nn.Dense(64, 10))
    loss_fn = nn.CrossEntropyLoss()
    params = net.trainable_params()
    opt = {"momentum": lambda: nn.Momentum(params, 1e-2, 0.9), "sgd": lambda: nn.SGD(params, 1e-2),
           "adam": lambda: nn.Adam(params, 1e-3)}[optimizer]()

    def forward(x, y):
        logits = net(x)
        return loss_fn(logits, y), logits

    grad_fn = ms.value_and_grad(forward, None, opt.parameters, has_aux=True)

    def step(x, y):
        (loss, _), grads = grad_fn(x, y)
        opt(grads)
        return loss

    if use_jit:
        step = ms.jit(step)
    rng = np.random.default_rng(0)
    losses = []
    for b in batches:
        x = Tensor(rng.standard_normal((b, 1, 28, 28)).astype(np.float32))
        y = Tensor((np.arange(b) % 10).astype(np.int32))
        losses.append(step(x, y).asnumpy().tobytes())
    return losses, net, step


@pytest.fixture(autouse=True)
def deterministic(monkeypatch):
    monkeypatch.setenv("NPUSIM_DETERMINISM", "on")
    monkeypatch.setattr(_pynative, "_context", None)  # a fresh card with the policy


@pytest.mark.parametrize("optimizer", ["momentum", "sgd", "adam"])
def test_a_jit_training_step_gives_pynatives_bits_under_on(optimizer):
    eager, eager_net, _ = training(False, optimizer)
    graph, graph_net, step = training(True, optimizer)
    assert graph == eager
    # The graph's updates reached the Python Parameters.
    for (name, a), (_, b) in zip(eager_net.parameters_and_names(), graph_net.parameters_and_names()):
        assert a.asnumpy().tobytes() == b.asnumpy().tobytes(), name
    assert len(step.graphs) == 1  # compiled once


def test_a_new_shape_compiles_again_and_keeps_the_bits():
    eager, _, _ = training(False, batches=(16, 8, 16))
    graph, _, step = training(True, batches=(16, 8, 16))
    assert graph == eager and len(step.graphs) == 2


def test_a_graph_step_costs_the_card_less_host_time_than_pynative():
    ms.set_seed(1)
    net = nn.SequentialCell(nn.Dense(32, 32), nn.ReLU(), nn.Dense(32, 4))
    x = Tensor(np.ones((8, 32), np.float32))
    card = _pynative.engine()
    compiled = ms.jit(lambda t: net(t))
    compiled(x).asnumpy()  # traced and compiled
    t0 = card.sync()
    for _ in range(5):
        net(x).asnumpy()
    t1 = card.sync()
    for _ in range(5):
        compiled(x).asnumpy()
    t2 = card.sync()
    # PyNative pays a dispatch per op; a graph step one launch.
    assert (t2 - t1) < (t1 - t0)


def test_graph_mode_compiles_a_cells_construct_per_train_mode():
    ms.set_context(mode=ms.GRAPH_MODE)
    try:
        ms.set_seed(2)
        net = nn.SequentialCell(nn.Dense(6, 6), nn.Dropout(p=0.5))
        x = Tensor(np.ones((4, 6), np.float32))
        net.set_train(False)
        ms.set_context(mode=ms.PYNATIVE_MODE)
        want = net(x).asnumpy()
        ms.set_context(mode=ms.GRAPH_MODE)
        assert net(x).asnumpy().tobytes() == want.tobytes()  # inference: Dropout off
        net.set_train(True)
        dropped = net(x).asnumpy()
        assert (dropped == 0).any() and len(net._graph_construct.graphs) == 2
    finally:
        ms.set_context(mode=ms.PYNATIVE_MODE)


def test_reading_a_traced_value_names_the_line(tmp_path):
    script = tmp_path / "branchy.py"
    script.write_text("import numpy as np\nimport mindspore as ms\nfrom mindspore import nn\n\nnet = nn.Dense(4, 2)\n\n\n"
                      "@ms.jit\ndef f(x):\n    y = net(x)\n    if y.sum() > 0:\n        return y\n    return -y\n\n\n"
                      "print(f(ms.Tensor(np.ones((2, 4), np.float32))))\n")
    r = subprocess.run([sys.executable, "-m", "npusim.runner", str(script)], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr == (f"error: {script}:11: construct depends on a tensor's value — not capturable by tracing; "
                        "use ops.select, or PYNATIVE_MODE\n")


def test_steps_count_jit_training_steps(tmp_path):
    script = tmp_path / "loop.py"
    script.write_text(
        "import numpy as np\nimport mindspore as ms\nfrom mindspore import nn\nms.set_seed(1)\nnet = nn.Dense(4, 3)\n"
        "opt = nn.SGD(net.trainable_params(), 0.1)\nloss_fn = nn.CrossEntropyLoss()\n"
        "grad_fn = ms.value_and_grad(lambda x, y: loss_fn(net(x), y), None, opt.parameters)\n"
        "@ms.jit\ndef step(x, y):\n    loss, g = grad_fn(x, y)\n    opt(g)\n    return loss\n"
        "x, y = ms.Tensor(np.ones((5, 4), np.float32)), ms.Tensor(np.arange(5).astype(np.int32) % 3)\n"
        "for k in range(10):\n    print('step', k, step(x, y))\n")
    r = subprocess.run([sys.executable, "-m", "npusim.runner", "--steps", "4", "--losses", str(tmp_path / "l.csv"), str(script)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("step ") == 4
    rows = (tmp_path / "l.csv").read_text().splitlines()
    assert rows[0] == "step,loss" and len(rows) == 5


def test_select_comparisons_and_argmax_run_on_the_card_and_trace():
    from npusim.mindspore import ops
    x = Tensor(np.array([[1.0, -2.0, 3.0], [3.0, 0.5, 3.0]], np.float32))

    def clipped(t):
        return ops.select(t > 1.0, t * 2.0, ops.zeros_like(t))

    want = np.where(x.asnumpy() > 1, x.asnumpy() * 2, 0).astype(np.float32)
    assert clipped(x).asnumpy().tobytes() == want.tobytes()
    assert ms.jit(clipped)(x).asnumpy().tobytes() == want.tobytes()  # traced: a data-dependent choice without a branch
    assert x.argmax(1).asnumpy().tolist() == [2, 0] and x.argmax(1).dtype == ms.int64  # the first on ties, as numpy
    assert x.argmax().asnumpy().tolist() == 2
    assert ms.jit(lambda t: t.argmax(1))(x).asnumpy().tolist() == [2, 0]
    assert (x == 3.0).asnumpy().tolist() == [[False, False, True], [True, False, True]]
    # The gradient of select goes to the branch taken.
    g = ms.grad(lambda t: ops.sum(ops.select(t > 1.0, t * t, t)))(x)
    assert g.asnumpy().tolist() == [[1.0, 1.0, 6.0], [6.0, 1.0, 6.0]]
