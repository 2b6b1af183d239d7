"""``save_checkpoint``/``load_checkpoint``/``load_param_into_net`` against MindSpore's own files
(Tests/NPUScriptTests/Fixtures/mindspore, written by MindSpore 2.10)."""
import os

import numpy as np
import pytest

import npusim
import npusim.mindspore as mindspore
from npusim.mindspore import nn

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "NPUScriptTests", "Fixtures", "mindspore")


class Tiny(nn.Cell):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Dense(4, 3)
        self.relu = nn.ReLU()
        self.fc2 = nn.Dense(3, 2)

    def construct(self, x):
        return self.fc2(self.relu(self.fc1(x)))


def test_mindspores_file_loads_and_saves_back_to_the_same_bytes(tmp_path):
    params = mindspore.load_checkpoint(os.path.join(FIXTURES, "tiny_init.ckpt"))
    assert list(params)[:4] == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    net = Tiny()
    not_loaded, unused = mindspore.load_param_into_net(net, params)
    assert not_loaded == [] and set(unused) <= {"global_step", "learning_rate", "momentum"} | {k for k in params if k.startswith("moments.")}
    assert net.fc1.weight.asnumpy().tobytes() == params["fc1.weight"].asnumpy().tobytes()
    # Saving every entry of MindSpore's file gives MindSpore's bytes.
    out = tmp_path / "again"
    mindspore.save_checkpoint([{"name": k, "data": v.data} for k, v in params.items()], str(out))
    with open(os.path.join(FIXTURES, "tiny_init.ckpt"), "rb") as a, open(str(out) + ".ckpt", "rb") as b:
        assert a.read() == b.read()


def test_a_saved_network_loads_into_another_and_mismatches_are_named(tmp_path):
    mindspore.set_seed(4)
    net = Tiny()
    mindspore.save_checkpoint(net, str(tmp_path / "net.ckpt"))
    other = Tiny()
    mindspore.load_checkpoint(str(tmp_path / "net.ckpt"), net=other)
    for (n, a), (_, b) in zip(net.parameters_and_names(), other.parameters_and_names()):
        assert a.asnumpy().tobytes() == b.asnumpy().tobytes(), n
    wrong = nn.SequentialCell([nn.Dense(5, 3)])
    with pytest.raises(RuntimeError, match="should have the same shape"):
        mindspore.load_param_into_net(wrong, {"0.weight": net.fc1.weight})
    with pytest.raises(npusim.NpusimError, match="no such file"):
        mindspore.load_checkpoint(str(tmp_path / "missing.ckpt"))
