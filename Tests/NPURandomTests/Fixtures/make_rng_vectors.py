"""Writes rng_vectors.json, the known answers of NPURandomTests, from the MindSpore oracle.

Run from this folder with the shared reference beside the repository:
    python3 make_rng_vectors.py        (needs numpy; imports ../shared/reference/ms_rng_ref.py)

Each program is written as NPUSim's seed-program text and evaluated here with the oracle under
MindSpore 2.10's seed rules (reference page, section 1). float32 values are stored as 8-hex-digit
bit patterns, float64 as 16; the Swift tests compare bits.
"""
import json
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "../../../../shared/reference"))
import ms_rng_ref as ref  # noqa: E402

K = 533697028
MAXINT32 = 2**31 - 1


def f32bits(values):
    return ["%08x" % int(np.float32(v).view(np.uint32)) for v in values]


def f64bits(values):
    return ["%016x" % int(np.float64(v).view(np.uint64)) for v in values]


class State:
    """mindspore/common/seed.py as measured (reference section 1)."""

    def __init__(self):
        self.g = None
        self.numpy = None
        self.dataset = 5489
        self.counters = {}

    def set_seed(self, s):
        self.numpy = ref.NumpyLegacy(s)
        self.dataset = s
        self.counters = {}
        self.g = s

    def op_seeds(self, kernel, op_seed):
        g = 0 if self.g is None else (87654321 if self.g == 0 else self.g)
        o = op_seed or 0
        if g == 0 and o == 0:
            raise ValueError("entropy: not reproducible, not a fixture")
        t = self.counters.setdefault((kernel, o), o)
        self.counters[(kernel, o)] = t + K
        return g % MAXINT32, t % MAXINT32


def fans(shape):
    if len(shape) == 2:
        return shape[1], shape[0]
    rf = int(np.prod(shape[2:]))
    return shape[1] * rf, shape[0] * rf


def initializer(name, shape, seed):
    """mindspore.common.initializer: bounds in Python double, then the pybind kernels."""
    if name == "normal":
        return ref.init_normal(seed, shape, 0.0, 0.01)
    if name == "uniform":
        return ref.init_uniform(seed, shape, -0.07, 0.07)
    if name == "xavier_uniform":
        fi, fo = fans(shape)
        b = 1 * math.sqrt(6.0 / (fi + fo))
        return ref.init_uniform(seed, shape, -b, b)
    if name == "xavier_normal":
        fi, fo = fans(shape)
        return ref.init_normal(seed, shape, 0, 1 * math.sqrt(2.0 / float(fi + fo)))
    gain = math.sqrt(2.0 / (1 + 0 ** 2))  # leaky_relu, negative_slope 0
    if name == "he_uniform":
        std = gain / math.sqrt(fans(shape)[0])
        b = math.sqrt(3.0) * std
        return ref.init_uniform(seed, shape, -b, b)
    if name == "he_normal":
        return ref.init_normal(seed, shape, 0, gain / math.sqrt(fans(shape)[0]))
    if name == "truncatednormal":
        return ref.init_truncated_normal(seed, shape, -2.0, 2.0, 0.0, 0.01)
    raise ValueError(name)


def sampler_order(n, seed, epochs):
    order = list(range(n))
    out = []
    for e in range(epochs):
        ref.std_shuffle_gcc9(order, ref.StdMT19937(seed + e))
        out += order
    return out


def random_values(kind, args, s1, s2, launches):
    n = int(np.prod(args["shape"]))
    if kind in ("uniform", "rand"):
        outs = ref.cpu_uniform_real(s1, s2, n, launches)
        if kind == "uniform":
            a, b = np.float32(args["minval"]), np.float32(args["maxval"])
            outs = [(o * np.float32(b - a) + a).astype(np.float32) for o in outs]
        return outs
    if kind in ("standard_normal", "randn", "normal"):
        outs = ref.cpu_standard_normal(s1, s2, n, launches)
        if kind == "normal":
            outs = [(o * np.float32(args["stddev"]) + np.float32(args["mean"])).astype(np.float32) for o in outs]
        return outs
    if kind == "dropout":
        kp = np.float32(1 - args.get("p", 0.5))
        scale = np.float32(1.0) / kp
        return [(np.ones(n, np.float32) * m * scale).astype(np.float32) for m in ref.cpu_dropout_mask(s1, s2, kp, n, launches)]
    raise ValueError(kind)


def run(program, mode="pynative", steps=1):
    st = State()
    results = []
    sites = []
    for text, name, args in program:
        if name == "set_seed":
            st.set_seed(args["seed"])
            results.append({"call": text, "seed": args["seed"]})
        elif name == "initializer":
            s = st.numpy.randint_1_2p63()
            vals = initializer(args["name"], args["shape"], s).ravel()
            results.append({"call": text, "seed": s, "f32": f32bits(vals)})
        elif name == "shuffle":
            results.append({"call": text, "seed": st.dataset, "int": sampler_order(args["n"], st.dataset, args.get("epochs", 1))})
        elif name in ("numpy_normal", "numpy_uniform"):
            n = int(np.prod(args["shape"]))
            f = st.numpy.normal if name == "numpy_normal" else (lambda: st.numpy.next_double())
            results.append({"call": text, "f64": f64bits([f() for _ in range(n)])})
        else:
            s1, s2 = st.op_seeds(name, args.get("seed"))
            outs = random_values(name, args, s1, s2, steps if mode == "graph" else 1)
            if mode == "graph":
                for step, o in enumerate(outs):
                    results.append({"call": text, "seed": s1, "seed2": s2, "step": step + 1, "f32": f32bits(o)})
            else:
                results.append({"call": text, "seed": s1, "seed2": s2, "f32": f32bits(outs[0])})
    return results


def call(fn, text_args, **args):
    return ("%s(%s)" % (fn, text_args), fn, args)


PROGRAMS = {
    "cli_example": [
        call("set_seed", "1234", seed=1234),
        call("uniform", "[1,4], 1.0, 2.0", shape=[1, 4], minval=1.0, maxval=2.0),
        call("uniform", "[1,4], 1.0, 2.0, seed=2", shape=[1, 4], minval=1.0, maxval=2.0, seed=2),
        call("standard_normal", "[2,2]", shape=[2, 2]),
        call("initializer", '"normal", [2,2]', name="normal", shape=[2, 2]),
        call("dropout", "[6], p=0.5", shape=[6], p=0.5),
        call("shuffle", "10", n=10),
        call("numpy_normal", "[1]", shape=[1]),
    ],
    "initializers": [
        call("set_seed", "1", seed=1),
        call("initializer", '"normal", [3,4]', name="normal", shape=[3, 4]),
        call("initializer", '"uniform", [5]', name="uniform", shape=[5]),
        call("initializer", '"xavier_uniform", [4,3]', name="xavier_uniform", shape=[4, 3]),
        call("initializer", '"xavier_normal", [4,3,2,2]', name="xavier_normal", shape=[4, 3, 2, 2]),
        call("initializer", '"he_uniform", [6,5]', name="he_uniform", shape=[6, 5]),
        call("initializer", '"he_normal", [8,3,3,3]', name="he_normal", shape=[8, 3, 3, 3]),
        call("initializer", '"truncatednormal", [300]', name="truncatednormal", shape=[300]),
        call("numpy_uniform", "[3]", shape=[3]),
        call("numpy_normal", "[3]", shape=[3]),
        call("initializer", '"normal", [7]', name="normal", shape=[7]),
    ],
    "distributions": [
        call("set_seed", "42", seed=42),
        call("standard_normal", "[1000]", shape=[1000]),
        call("normal", "[7], 0.5, 2.0, seed=3", shape=[7], mean=0.5, stddev=2.0, seed=3),
        call("rand", "[3,2]", shape=[3, 2]),
        call("randn", "[5], seed=9", shape=[5], seed=9),
        call("uniform", "[2000], -3.0, 5.0", shape=[2000], minval=-3.0, maxval=5.0),
        call("dropout", "[100], p=0.3", shape=[100], p=0.3),
        call("dropout", "[100], p=0.3", shape=[100], p=0.3),
        call("standard_normal", "[3]", shape=[3]),
    ],
    "op_seed_only": [
        call("uniform", "[3], 0.0, 1.0, seed=5", shape=[3], minval=0.0, maxval=1.0, seed=5),
        call("uniform", "[3], 0.0, 1.0, seed=5", shape=[3], minval=0.0, maxval=1.0, seed=5),
        call("standard_normal", "[4], seed=5", shape=[4], seed=5),
    ],
    "seed_zero": [
        call("set_seed", "0", seed=0),
        call("uniform", "[4], 0.0, 1.0", shape=[4], minval=0.0, maxval=1.0),
        call("standard_normal", "[4], seed=1", shape=[4], seed=1),
        call("shuffle", "5", n=5),
    ],
    "reset": [
        call("set_seed", "1234", seed=1234),
        call("numpy_normal", "[1]", shape=[1]),
        call("uniform", "[1,4], 1.0, 2.0, seed=2", shape=[1, 4], minval=1.0, maxval=2.0, seed=2),
        call("set_seed", "1234", seed=1234),
        call("numpy_normal", "[1]", shape=[1]),
        call("uniform", "[1,4], 1.0, 2.0, seed=2", shape=[1, 4], minval=1.0, maxval=2.0, seed=2),
    ],
    "shuffles": [
        call("set_seed", "1234", seed=1234),
        call("shuffle", "10, epochs=3", n=10, epochs=3),
        call("shuffle", "7", n=7),
        call("shuffle", "1", n=1),
        call("shuffle", "1000", n=1000),
        call("shuffle", "70000", n=70000),
    ],
}

GRAPH_PROGRAMS = {
    "graph_steps": [
        call("set_seed", "1234", seed=1234),
        call("uniform", "[1,4], 1.0, 2.0", shape=[1, 4], minval=1.0, maxval=2.0),
        call("uniform", "[1,4], 1.0, 2.0", shape=[1, 4], minval=1.0, maxval=2.0),
        call("standard_normal", "[5]", shape=[5]),
        call("normal", "[3], 1.0, 0.5, seed=4", shape=[3], mean=1.0, stddev=0.5, seed=4),
        call("dropout", "[8], p=0.25", shape=[8], p=0.25),
    ],
}


def known_answers():
    rs = np.random.RandomState(1234)
    kat = {
        "philox": [
            {"counter": ["%08x" % x for x in c], "key": ["%08x" % x for x in k], "out": ["%08x" % x for x in ref.philox4x32_10(c, k)]}
            for c, k in [([0, 0, 0, 0], [0, 0]), ([ref.M32] * 4, [ref.M32] * 2),
                         ([0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344], [0xA4093822, 0x299F31D0])]
        ],
        "get_seed": [{"seed": s, "seed2": s2, "value": str(ref.kernel_get_seed(s, s2))}
                     for s, s2 in [(1234, 0), (1234, 533697028), (1234, 2), (0, 2), (5, 7)]],
        "numpy": {
            # from numpy itself, not the oracle
            "state_1234_first5": [int(x) for x in np.random.RandomState(1234).get_state()[1][:5]],
            "raw_u32_1234_first8": [int(x) for x in np.random.RandomState(1234).randint(0, 2**32, size=8, dtype=np.uint64)],
            "randint_1_2p63_after_1234": str(int(rs.randint(1, 2**63, dtype=np.int64))),
            "random_sample_7": f64bits(np.random.RandomState(7).random_sample(5)),
            "standard_normal_7": f64bits(np.random.RandomState(7).standard_normal(5)),
        },
    }
    return kat


def main():
    out = {"known_answers": known_answers(), "pynative": {}, "graph": {}}
    for name, prog in PROGRAMS.items():
        out["pynative"][name] = {"program": "; ".join(t for t, _, _ in prog), "results": run(prog)}
    for name, prog in GRAPH_PROGRAMS.items():
        out["graph"][name] = {"program": "; ".join(t for t, _, _ in prog), "steps": 3, "results": run(prog, "graph", 3)}
    with open(os.path.join(HERE, "rng_vectors.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
