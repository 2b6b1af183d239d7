"""PyNative through the engine: Tensor arithmetic and printing as MindSpore's, cells called at
once, ``value_and_grad``/``grad`` by the engine's reverse mode, optimizers called with gradients,
dataset iterators with MindSpore's epochs, and the quick start run by plain ``python3``."""
import os
import subprocess
import sys

import numpy as np
import pytest

import npusim.mindspore as ms
from npusim.errors import Unsupported
from npusim.mindspore import nn, ops
from npusim.mindspore.dataset import MnistDataset, NumpySlicesDataset

HERE = os.path.dirname(os.path.abspath(__file__))
MNIST = os.path.join(HERE, "data", "mnist640")


def test_tensor_prints_and_compares_as_mindspore():
    t = ms.Tensor(np.array([[1.0, 3.0], [4.0, 2.0]], np.float32))
    a = t.argmax(1)
    # Strings MindSpore 2.10 prints for the same calls.
    assert repr(a) == "Tensor(shape=[2], dtype=Int64, value= [1, 0])"
    assert str(a) == "[1 0]" and str(a.dtype) == "Int64"
    assert repr(t) == "Tensor(shape=[2, 2], dtype=Float32, value=\n[[ 1.00000000e+00,  3.00000000e+00],\n [ 4.00000000e+00,  2.00000000e+00]])"
    assert repr(ms.Tensor(2.5)) == "Tensor(shape=[], dtype=Float32, value= 2.5)"
    assert ms.Tensor([1, 2]).dtype == ms.int64 and len(t) == 2
    assert (t == t).asnumpy().all() and (t[0] > 2).asnumpy().tolist() == [False, True]


def test_float_arithmetic_runs_as_engine_ops_with_float32_rounding():
    x = np.array([0.1, 1e8, -3.5], np.float32)
    y = np.array([0.2, 1.0, 2.0], np.float32)
    a, b = ms.Tensor(x), ms.Tensor(y)
    for got, want in (((a + b), x + y), ((a - b), x - y), ((a * b), x * y), ((a / b), x / y), (-a, -x), (a * 2, x * np.float32(2))):
        assert got.dtype == ms.float32
        assert got.asnumpy().tobytes() == want.astype(np.float32).tobytes()


def test_grad_of_inputs_and_weights():
    w = nn.Parameter(ms.Tensor(np.array([1.5, -2.0], np.float32)), "w")

    def f(x):
        return (x * x * w).sum()

    x = ms.Tensor(np.array([3.0, 0.5], np.float32))
    assert ms.grad(f)(x).asnumpy().tolist() == [2 * 3.0 * 1.5, 2 * 0.5 * -2.0]
    value, (gx, (gw,)) = ms.value_and_grad(f, 0, [w])(x)
    assert float(value.asnumpy()) == np.float32(9 * 1.5 + 0.25 * -2.0)
    assert gx.asnumpy().tolist() == [9.0, -2.0] and gw.asnumpy().tolist() == [9.0, 0.25]
    unused = nn.Parameter(ms.Tensor(np.ones(3, np.float32)), "unused")
    _, (g_unused,) = ms.value_and_grad(f, None, [unused])(x)
    assert g_unused.asnumpy().tolist() == [0.0, 0.0, 0.0]  # MindSpore gives zeros for a weight the loss ignores
    with pytest.raises(ValueError, match="can not be None at the same time"):
        ms.value_and_grad(f, None, None)


def test_dense_cross_entropy_gradient_matches_the_formula():
    ms.set_seed(3)
    net = nn.Dense(4, 3)
    loss_fn = nn.CrossEntropyLoss()
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    y = np.array([0, 2, 1, 2, 0], np.int32)

    def forward(data, label):
        logits = net(data)
        return loss_fn(logits, label), logits

    (loss, logits), grads = ms.value_and_grad(forward, None, net.trainable_params(), has_aux=True)(ms.Tensor(x), ms.Tensor(y))
    w, b = net.weight.asnumpy().astype(np.float64), net.bias.asnumpy().astype(np.float64)
    z = x @ w.T + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    assert abs(float(loss.asnumpy()) - np.mean(-np.log(p[np.arange(5), y]))) < 1e-6
    assert np.allclose(logits.asnumpy(), z, atol=1e-5)
    d = (p - np.eye(3)[y]) / 5
    assert np.allclose(grads[0].asnumpy(), d.T @ x, atol=1e-6) and np.allclose(grads[1].asnumpy(), d.sum(0), atol=1e-6)


def test_optimizers_update_in_place_as_mindspores_formulas():
    g = np.array([0.5, -1.0], np.float32)
    p = nn.Parameter(ms.Tensor(np.array([1.0, 2.0], np.float32)), "p")
    nn.SGD([p], learning_rate=0.1)([ms.Tensor(g)])
    assert p.asnumpy().tobytes() == (np.array([1.0, 2.0], np.float32) - np.float32(0.1) * g).tobytes()
    q = nn.Parameter(ms.Tensor(np.zeros(2, np.float32)), "q")
    opt = nn.Momentum([q], learning_rate=0.1, momentum=0.9)
    opt([ms.Tensor(g)])
    opt([ms.Tensor(g)])
    accum = g * np.float32(0.9) + g
    assert np.allclose(q.asnumpy(), -np.float32(0.1) * g - np.float32(0.1) * accum, atol=1e-7)
    r = nn.Parameter(ms.Tensor(np.zeros(2, np.float32)), "r")
    adam = nn.Adam([r], learning_rate=ms.Tensor(np.array([0.01, 0.001], np.float32)))
    adam([ms.Tensor(g)])
    # First Adam step: m = 0.1 g, v = 0.001 g², lr·√(1−β2)/(1−β1) · m/(√v + ε) ≈ lr·sign(g).
    assert np.allclose(r.asnumpy(), -0.01 * np.sign(g), atol=1e-6)
    adam([ms.Tensor(g)])
    assert np.allclose(r.asnumpy(), -0.011 * np.sign(g), atol=1e-5)  # the Tensor rate's second value
    with pytest.raises(ValueError, match="beta1 and beta2"):
        nn.Adam([r], beta1=1.5)


def test_iterators_restart_at_epoch_one_and_continue_into_epoch_two():
    # MindSpore 2.10 (checked): every new iterator gives epoch 1's shuffled order again; one
    # iterator read twice gives epoch 2's.
    ms.set_seed(1)
    d = MnistDataset(os.path.join(MNIST, "test")).batch(64)
    first = [l.asnumpy()[:8].tolist() for _, l in d.create_tuple_iterator()]
    assert first == [[2, 8, 9, 5, 4, 5, 0, 3], [5, 1, 9, 9, 6, 8, 9, 6]]  # MindSpore's, set_seed(1)
    assert [l.asnumpy()[:8].tolist() for _, l in d.create_tuple_iterator()] == first
    it = d.create_tuple_iterator()
    assert [l.asnumpy()[:8].tolist() for _, l in it] == first
    assert [l.asnumpy()[:8].tolist() for _, l in it] != first
    row = next(iter(d.create_dict_iterator()))
    assert sorted(row) == ["image", "label"] and row["image"].shape == (64, 28, 28, 1)
    assert d.get_dataset_size() == 2
    n = NumpySlicesDataset((np.arange(10, dtype=np.float32).reshape(5, 2), np.arange(5)), shuffle=False).batch(2)
    assert [x.asnumpy()[:, 0].tolist() for x, _ in n] == [[0, 2], [4, 6], [8]]


def test_a_cell_that_does_not_fit_its_input_names_the_op():
    net = nn.Dense(4, 3)
    with pytest.raises(Exception, match="MatMul"):
        net(ms.Tensor(np.ones((2, 5), np.float32)))


def test_unsupported_apis_name_themselves():
    with pytest.raises(Unsupported, match="mindspore.nn.GRU"):
        nn.GRU
    with pytest.raises(Unsupported, match="parameter groups"):
        nn.SGD([{"params": []}])


def test_the_quick_start_by_plain_python_gives_the_runners_bits(tmp_path):
    # The same file with `import npusim.mindspore as mindspore`, run by plain python (no import
    # hook), and by the runner: bit-identical losses (under `on`, so orders are fixed).
    source = open(os.path.join(HERE, "scripts", "quickstart.py")).read()
    assert "import mindspore\n" in source
    plain = source.replace("import mindspore\n", "import npusim.mindspore as mindspore\nmindspore.set_seed(1)\n")
    plain = plain.replace("from mindspore", "from npusim.mindspore")
    plain = plain.replace('os.path.dirname(os.path.abspath(__file__)), ".."', f'"{HERE}"')
    (tmp_path / "plain.py").write_text(plain)
    probe = ("import sys, runpy; sys.path.insert(0, {here!r}); import goldens; {hook}\n"
             "import importlib; m = importlib.import_module('npusim.mindspore')\n"
             "with goldens.Recorder(m, lambda p: p.name) as r: runpy.run_path({script!r}, run_name='__main__')\n"
             "print('LOSSES', [float(x).hex() for x in r.losses])")
    env = dict(os.environ, NPUSIM_DETERMINISM="on", QUICKSTART_OUT=str(tmp_path))
    runs = []
    for hook, script in (("", str(tmp_path / "plain.py")),
                         ("from npusim import runner; runner.install(); from npusim.mindspore.common import seed; seed.override(1)",
                          os.path.join(HERE, "scripts", "quickstart.py"))):
        r = subprocess.run([sys.executable, "-c", probe.format(here=HERE, hook=hook, script=script)], capture_output=True, text=True,
                           env=env, cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        runs.append(next(l for l in r.stdout.splitlines() if l.startswith("LOSSES")))
    assert runs[0] == runs[1] and len(eval(runs[0][7:])) == 24


def test_a_steady_training_loop_reuses_its_tensor_memory():
    """The ABI's tensors recycle their storage as the Swift PyNative step does. Before, every step
    mapped its large tensors (gradients, updated weights) afresh: about 1,950 page faults a step on
    this network, against under 20 with the pool."""
    import resource

    ms.set_seed(1)
    net = nn.SequentialCell(nn.Flatten(), nn.Dense(784, 512), nn.ReLU(), nn.Dense(512, 512), nn.ReLU(), nn.Dense(512, 10))
    loss_fn = nn.CrossEntropyLoss()
    optimizer = nn.SGD(net.trainable_params(), 1e-2)

    def forward(data, label):
        return loss_fn(net(data), label)

    grad_fn = ms.value_and_grad(forward, None, optimizer.parameters)
    x = ms.Tensor(np.random.default_rng(1).standard_normal((64, 1, 28, 28)).astype(np.float32))
    y = ms.Tensor((np.arange(64) % 10).astype(np.int32))
    losses = []

    def step():
        loss, grads = grad_fn(x, y)
        optimizer(grads)
        losses.append(float(loss.asnumpy()))

    for _ in range(3):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        step()
    per_step = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10
    assert per_step < 200, f"{per_step} page faults a step"
    assert losses[-1] < losses[0]  # recycled storage still trains


def test_dropout_batchnorm_and_layernorm_cells_give_mindspores_values():
    # Recorded from MindSpore 2.10 CPU (PyNative) with the same calls: the masks bit for bit
    # (the kernel takes its seeds at construction and continues its stream), the norms within
    # float32 rounding.
    ms.set_seed(1)
    d = nn.Dropout(p=0.3)
    d.set_train()
    x = ms.Tensor(np.ones((4, 16), np.float32))
    a, b = d(x).asnumpy(), d(x).asnumpy()
    assert (a != 0).astype(int).ravel().tolist()[:32] == [1, 1, 0, 0, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    assert (b != 0).astype(int).ravel().tolist()[:16] == [0, 1, 1, 1, 1, 0, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1]
    assert a.max() == np.float32(1 / 0.7)
    d.set_train(False)
    assert d(x) is x
    bn = nn.BatchNorm2d(3)
    bn.set_train()
    rng = np.random.default_rng(0)
    inp = ms.Tensor(rng.standard_normal((4, 3, 5, 5)).astype(np.float32))
    y = bn(inp).asnumpy()
    assert np.allclose(y.ravel()[:4], [0.1934387981891632, -0.05420540273189545, 0.6877880692481995, 0.17343199253082275], atol=1e-6)
    assert np.allclose(bn.moving_mean.asnumpy(), [-0.007566883694380522, 0.003553845454007387, -0.006732039153575897], atol=1e-8)
    # (Under off, MindSpore's default, the batch variance's reduction order varies: the last bit may.)
    assert np.allclose(bn.moving_variance.asnumpy(), [1.0094934701919556, 0.9964647889137268, 1.0071929693222046], rtol=3e-7, atol=0)
    bn.set_train(False)
    assert np.allclose(bn(inp).asnumpy().ravel()[:3], [0.13266818225383759, -0.12395039200782776, 0.644932210445404], atol=1e-7)
    ln = nn.LayerNorm((5,))
    out = ln(ms.Tensor(rng.standard_normal((2, 5)).astype(np.float32))).asnumpy().ravel()[:5]
    assert np.allclose(out, [0.7917577028274536, 0.4773622453212738, 0.433642715215683, -1.9710907936096191, 0.26832813024520874], atol=1e-6)
    assert [name for name, _ in nn.SequentialCell(nn.BatchNorm2d(2)).parameters_and_names()] == \
        ["0.gamma", "0.beta", "0.moving_mean", "0.moving_variance"]
