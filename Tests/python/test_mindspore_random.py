"""``npusim.mindspore``'s seed rules and random ops against MindSpore 2.10: the oracle's programs
(Tests/NPURandomTests/Fixtures/rng_vectors.json, recorded from MindSpore) replayed through
MindSpore's own calls — every call's seed pair and every value's bits."""
import json
import os
import re
import struct

import numpy as np
import pytest

import npusim
import npusim.mindspore as mindspore
from npusim.mindspore import ops
from npusim.mindspore.common import seed as seed_rules
from npusim.mindspore.common.initializer import initializer

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "NPURandomTests", "Fixtures", "rng_vectors.json")


def bits(a):
    return [format(struct.unpack("<I", struct.pack("<f", v))[0], "08x") for v in np.asarray(a, dtype=np.float32).ravel()]


def parse(call):
    """`name([shape], numbers..., key=value)` of the oracle's program language."""
    name = call[:call.index("(")]
    inside = call[call.index("(") + 1:call.rindex(")")]
    shape = None
    m = re.search(r"\[([0-9, ]*)\]", inside)
    if m:
        shape = tuple(int(d) for d in m.group(1).split(",") if d.strip())
        inside = inside[:m.start()] + inside[m.end():]
    args, kwargs = [], {}
    for part in [p.strip() for p in inside.split(",") if p.strip()]:
        if "=" in part:
            k, v = part.split("=")
            kwargs[k.strip()] = float(v) if "." in v else int(v)
        elif part.startswith('"'):
            args.append(part.strip('"'))
        else:
            args.append(float(part) if "." in part else int(part))
    return name, shape, args, kwargs


@pytest.mark.parametrize("program", ["distributions", "op_seed_only", "seed_zero", "reset", "cli_example"])
def test_programs_replay_mindspores_seeds_and_values(program):
    with open(FIXTURE) as f:
        results = json.load(f)["pynative"][program]["results"]
    # A program runs in a fresh process: no global seed, no counters.
    seed_rules._global_seed = None
    seed_rules._counters.clear()
    checked = 0
    for r in results:
        name, shape, args, kwargs = parse(r["call"])
        if name == "set_seed":
            mindspore.set_seed(args[0])
            continue
        if name in ("numpy_normal", "numpy_uniform"):
            (np.random.normal if name == "numpy_normal" else np.random.uniform)(size=shape)
            continue
        if name == "shuffle":
            continue  # the dataset sampler: not in the front end yet
        if name == "initializer":
            out = initializer(args[0], shape).asnumpy()
        else:
            seeds_before = dict(seed_rules._counters)
            expected = seed_rules._get_seed(kwargs.get("seed"), name)
            seed_rules._counters.clear()
            seed_rules._counters.update(seeds_before)
            assert list(expected) == [r["seed"], r["seed2"]], r["call"]
            if name == "uniform":
                out = ops.uniform(shape, args[0], args[1], seed=kwargs.get("seed"))
            elif name == "normal":
                out = ops.normal(shape, args[0], args[1], seed=kwargs.get("seed"))
            elif name == "dropout":
                out = ops.dropout(mindspore.Tensor(np.ones(shape, np.float32)), p=kwargs.get("p", 0.5), seed=kwargs.get("seed"))
            else:
                out = getattr(ops, name)(shape, seed=kwargs.get("seed"))
            out = out.asnumpy()
        assert bits(out) == r["f32"], r["call"]
        checked += 1
    assert checked >= 2


def test_bad_seeds_and_arguments_are_named():
    with pytest.raises(ValueError, match="'uniform', the 'seed' must be a non-negative int"):
        ops.uniform((2,), 0.0, 1.0, seed=-1)
    with pytest.raises(npusim.NpusimError, match="minval 2.0 must not exceed maxval 1.0"):
        ops.uniform((2,), 2.0, 1.0, seed=1)
    with pytest.raises(npusim.Unsupported, match=r"mindspore\.ops\.nonexistent"):
        ops.nonexistent
