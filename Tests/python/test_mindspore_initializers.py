"""``npusim.mindspore``'s seeds and initializers against MindSpore 2.10: the oracle's vectors
(Tests/NPURandomTests/Fixtures/rng_vectors.json, recorded from MindSpore) through MindSpore's
own calls, and the moment an initializer draws its seed (measured on MindSpore 2.10 CPU: when
its tensor is first read, not when ``initializer()`` returns)."""
import json
import os
import struct

import numpy as np
import pytest

import npusim
import npusim.mindspore as mindspore
from npusim.mindspore.common.initializer import HeUniform, Normal, initializer

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "NPURandomTests", "Fixtures", "rng_vectors.json")


def bits(a):
    return [format(struct.unpack("<I", struct.pack("<f", v))[0], "08x") for v in np.asarray(a, dtype=np.float32).ravel()]


def test_set_seed_then_initializers_give_mindspores_bits():
    with open(FIXTURE) as f:
        results = json.load(f)["pynative"]["initializers"]["results"]
    assert results[0]["call"] == "set_seed(1)"
    mindspore.set_seed(1)
    checked = 0
    for r in results[1:]:
        call = r["call"]
        shape = [int(d) for d in call[call.index("[") + 1:call.index("]")].split(",")]
        if call.startswith("numpy_"):
            (np.random.uniform if "uniform" in call else np.random.normal)(size=shape)
            continue
        name = call[call.index('"') + 1:call.rindex('"')]
        t = initializer(name, shape, mindspore.float32)
        assert t.shape == tuple(shape) and t.dtype == mindspore.float32
        assert bits(t.asnumpy()) == r["f32"], call
        checked += 1
    assert checked >= 8


def test_the_seed_is_drawn_when_the_tensor_is_first_read():
    mindspore.set_seed(1)
    eager = initializer(Normal(), [2, 2]).asnumpy()
    mindspore.set_seed(1)
    lazy = initializer(Normal(), [2, 2])
    np.random.randint(1, 2**63)  # a draw between initializer() and the first read
    read = lazy.asnumpy()
    mindspore.set_seed(1)
    np.random.randint(1, 2**63)
    after = initializer(Normal(), [2, 2]).asnumpy()
    assert bits(read) != bits(eager) and bits(read) == bits(after)
    assert bits(lazy.asnumpy()) == bits(read)  # read once: the values stay


def test_errors_name_the_api_and_the_callers_line():
    with pytest.raises(npusim.Unsupported) as e:
        HeUniform(mode="fan_out")
    assert "test_mindspore_initializers.py:" in str(e.value) and "HeUniform(mode='fan_out'" in str(e.value)
    with pytest.raises(npusim.Unsupported, match=r"mindspore\.nonexistent_api is not supported"):
        mindspore.nonexistent_api
    with pytest.raises(ValueError, match="'gaussian' was not found"):
        initializer("gaussian", [2])
    with pytest.raises(TypeError):
        mindspore.set_seed(1.5)
    with pytest.raises(ValueError):
        mindspore.set_seed(-1)
