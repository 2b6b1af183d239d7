"""The engine's C ABI through the Python bindings: tensors round-trip, errors are exceptions with
the engine's message, and MindSpore's initializers give MindSpore 2.10's bits from the seed
MindSpore draws from numpy (the oracle's vectors in Tests/NPURandomTests/Fixtures)."""
import json
import os
import struct

import numpy as np
import pytest

import npusim

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "NPURandomTests", "Fixtures", "rng_vectors.json")


def test_abi_version_matches_the_bindings():
    assert npusim.abi_version() == npusim.ABI_VERSION == 3


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.int32, np.int64, np.bool_])
def test_tensors_round_trip_bit_for_bit(dtype):
    a = (np.arange(24).reshape(2, 3, 4) * 0.37).astype(dtype)
    t = npusim.Tensor(a)
    assert t.shape == (2, 3, 4) and t.dtype == np.dtype(dtype)
    b = t.numpy()
    assert b.dtype == a.dtype and b.tobytes() == a.tobytes()
    # A strided view is copied in as its values.
    assert npusim.Tensor(a[:, ::2, 1]).numpy().tobytes() == np.ascontiguousarray(a[:, ::2, 1]).tobytes()
    assert npusim.Tensor(np.array(3, dtype=dtype)).shape == ()


def test_caller_errors_raise_with_the_engines_message():
    with pytest.raises(TypeError):
        npusim.Tensor(np.zeros(3, dtype=np.complex64))
    with pytest.raises(npusim.NpusimError) as e:
        npusim.initializer_fill("gaussian", (2, 2), seed=1)
    assert e.value.bad_input and "unknown initializer 'gaussian'" in str(e.value) and "xavier_uniform" in str(e.value)
    with pytest.raises(npusim.NpusimError, match="a dimension is negative"):
        npusim.initializer_fill("normal", (2, -1), seed=1)


def test_initializers_give_mindspores_bits_from_the_seed_mindspore_draws():
    with open(FIXTURE) as f:
        results = json.load(f)["pynative"]["initializers"]["results"]
    calls = [r for r in results if r["call"].startswith("initializer(")]
    assert len(calls) >= 8
    # set_seed(1) seeds numpy's global generator; each initializer then draws its Philox seed
    # with numpy (MindSpore's _numpy_seed: randint(1, 2**63)) — the real numpy, as the front end will.
    np.random.seed(1)
    for r in results[1:]:
        call = r["call"]
        if call.startswith("numpy_uniform") or call.startswith("numpy_normal"):
            n = int(call[call.index("[") + 1:call.index("]")])
            (np.random.uniform if "uniform" in call else np.random.normal)(size=n)
            continue
        name = call[call.index('"') + 1:call.rindex('"')]
        shape = tuple(int(d) for d in call[call.index("[") + 1:call.index("]")].split(","))
        seed = np.random.randint(1, 2**63)
        assert seed == r["seed"], call
        values = npusim.initializer_fill(name, shape, seed).numpy()
        bits = [format(struct.unpack("<I", struct.pack("<f", v))[0], "08x") for v in values.ravel()]
        assert bits == r["f32"], call


def test_the_link_check_refuses_a_library_that_needs_the_swift_runtime():
    # `make python` runs tools/check_engine_links.py on the library it ships (linked with the
    # Swift runtime inside). `make test` tests the debug engine `swift test` built, which loads
    # the toolchain's runtime: the check must refuse it and name the runtime.
    import subprocess
    import sys

    check = os.path.join(os.path.dirname(__file__), "..", "..", "tools", "check_engine_links.py")
    library = npusim.library_path()
    out = subprocess.run(["ldd", library], capture_output=True, text=True, check=True).stdout
    result = subprocess.run([sys.executable, check, library], capture_output=True, text=True)
    if "libswiftCore" in out:
        assert result.returncode == 1 and "libswiftCore" in result.stderr and "make python" in result.stderr
    else:
        assert (result.returncode, result.stderr) == (0, "")
