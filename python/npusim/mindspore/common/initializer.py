"""``mindspore.common.initializer``: MindSpore 2.10's initializers, their values bit for bit.

Each random initializer draws its Philox seed from numpy's global generator
(``np.random.randint(1, 2**63)``, MindSpore's ``_numpy_seed``) when its tensor is first read, and
the engine fills the values with MindSpore's algorithm (libnpusim's ``npusim_initializer_fill``).
"""
import numbers

import numpy as np

from ... import _engine
from ...errors import Unsupported
from .tensor import Tensor

__all__ = ["Initializer", "Normal", "Uniform", "TruncatedNormal", "XavierUniform", "XavierNormal", "HeUniform", "HeNormal", "Zero", "One", "Constant", "initializer"]

_NAN = float("nan")


class Initializer:
    """The base of MindSpore's initializers: called on a shape, it gives float32 values."""

    _name = None

    def _params(self):
        return _NAN, _NAN

    def _random(self):
        return True

    def __call__(self, shape):
        shape = tuple(int(d) for d in shape)
        seed = int(np.random.randint(1, 2**63)) if self._random() else 0
        a, b = self._params()
        return _engine.initializer_fill(self._name, shape, seed, a, b).numpy()


class Normal(Initializer):
    """``Normal(sigma=0.01, mean=0.0)``: N(mean, sigma²) from MindSpore's Philox, bit for bit."""

    _name = "normal"

    def __init__(self, sigma=0.01, mean=0.0):
        self.sigma, self.mean = sigma, mean

    def _params(self):
        return float(self.sigma), float(self.mean)


class Uniform(Initializer):
    """``Uniform(scale=0.07)``: U(−scale, scale)."""

    _name = "uniform"

    def __init__(self, scale=0.07):
        self.scale = scale

    def _params(self):
        return float(self.scale), _NAN


class TruncatedNormal(Initializer):
    """``TruncatedNormal(sigma=0.01, mean=0.0)``: N(mean, sigma²) redrawn outside ±2 (bounds other than (−2, 2) unsupported)."""

    _name = "truncatednormal"

    def __init__(self, sigma=0.01, mean=0.0, a=-2.0, b=2.0):
        if (a, b) != (-2.0, 2.0):
            raise Unsupported("TruncatedNormal with bounds other than (-2, 2)")
        self.sigma, self.mean = sigma, mean

    def _params(self):
        return float(self.sigma), float(self.mean)


class XavierUniform(Initializer):
    """``XavierUniform(gain=1)``: U(−b, b), b = gain·√(6/(fan_in + fan_out))."""

    _name = "xavier_uniform"

    def __init__(self, gain=1):
        self.gain = gain

    def _params(self):
        return float(self.gain), _NAN


class XavierNormal(XavierUniform):
    """``XavierNormal(gain=1)``: N(0, gain²·2/(fan_in + fan_out))."""

    _name = "xavier_normal"


class HeUniform(Initializer):
    """``HeUniform(negative_slope=0)``: U(−b, b), b = √(6/((1 + slope²)·fan_in)) (fan_in, leaky_relu)."""

    _name = "he_uniform"

    def __init__(self, negative_slope=0, mode="fan_in", nonlinearity="leaky_relu"):
        if (mode, nonlinearity) != ("fan_in", "leaky_relu"):
            raise Unsupported(f"{type(self).__name__}(mode={mode!r}, nonlinearity={nonlinearity!r})", "fan_in and leaky_relu so far")
        self.negative_slope = negative_slope

    def _params(self):
        return float(self.negative_slope), _NAN


class HeNormal(HeUniform):
    """``HeNormal(negative_slope=0)``: N(0, 2/((1 + slope²)·fan_in)) (fan_in, leaky_relu)."""

    _name = "he_normal"


class Zero(Initializer):
    """``Zero()``: zeros."""

    _name = "zeros"

    def _random(self):
        return False


class One(Zero):
    """``One()``: ones."""

    _name = "ones"


class Constant(Zero):
    """``Constant(value)``: every value ``value``."""

    _name = "constant"

    def __init__(self, value):
        self.value = value

    def _params(self):
        return float(self.value), _NAN


_ALIASES = {"normal": Normal, "uniform": Uniform, "truncatednormal": TruncatedNormal, "truncated_normal": TruncatedNormal,
            "xavier_uniform": XavierUniform, "xavieruniform": XavierUniform, "xavier_normal": XavierNormal,
            "xaviernormal": XavierNormal, "he_uniform": HeUniform, "heuniform": HeUniform, "he_normal": HeNormal,
            "henormal": HeNormal, "zeros": Zero, "zero": Zero, "ones": One, "one": One}


def initializer(init, shape=None, dtype=np.float32):
    """MindSpore's ``initializer(init, shape, dtype)``: a tensor made when first read. ``init`` is
    an ``Initializer``, a name (``'normal'``, ``'xavier_uniform'``, ...), a number or a Tensor."""
    if isinstance(init, Tensor):
        return init
    if isinstance(init, str):
        if init.lower() not in _ALIASES:
            raise ValueError(f"The class corresponding to '{init}' was not found; valid names are {', '.join(sorted(set(_ALIASES)))}")
        init = _ALIASES[init.lower()]()
    elif isinstance(init, numbers.Number) and not isinstance(init, bool):
        init = Constant(init)
    if not isinstance(init, Initializer):
        raise TypeError(f"init must be an Initializer, a name, a number or a Tensor, got {type(init).__name__}")
    if shape is None:
        raise ValueError("initializer needs a shape")
    shape = (int(shape),) if isinstance(shape, numbers.Integral) else tuple(int(d) for d in shape)
    return Tensor(shape=shape, dtype=dtype, _make=lambda: init(shape))
