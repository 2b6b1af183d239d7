"""``mindspore.ops``: the functional random ops (PyNative), with MindSpore 2.10's seeds and
values bit for bit (``uniform``, ``rand``, ``standard_normal``, ``randn``, ``normal``,
``dropout``); the functional ops and primitives of ``functional.py``; ``value_and_grad``,
``grad``."""
import numbers

import numpy as np

from ... import _engine
from ...errors import Unsupported
from ..common.seed import _get_seed
from ..common.tensor import Tensor


from .functional import *  # noqa: F401,F403
from .functional import FUNCTIONS
from .._grad import grad, value_and_grad

__all__ = ["uniform", "rand", "standard_normal", "randn", "normal", "dropout", "grad", "value_and_grad"] + FUNCTIONS

def _shape(shape):
    if isinstance(shape, numbers.Integral):
        return (int(shape),)
    return tuple(int(d) for d in shape)


def _scalar(x):
    return float(x.asnumpy()) if isinstance(x, Tensor) else float(x)


def _call(name, kernel, shape, seed, a=float("nan"), b=float("nan"), input=None):
    s, s2 = _get_seed(seed, kernel)
    engine_input = _engine.Tensor(input.asnumpy().astype(np.float32)) if input is not None else None
    return Tensor(_engine.random_op(name, s, s2, shape, a, b, engine_input).numpy())


def uniform(shape, minval, maxval, seed=None, dtype=None):
    """Values uniform in [minval, maxval) (UniformReal, then ``u·(max−min)+min`` in float32)."""
    return _call("uniform", "uniform", _shape(shape), seed, _scalar(minval), _scalar(maxval))


def rand(*size, dtype=None, seed=None):
    """Values uniform in [0, 1)."""
    return _call("rand", "rand", _shape(size[0] if len(size) == 1 and not isinstance(size[0], numbers.Integral) else size), seed)


def standard_normal(shape, seed=None):
    """Standard normal values (StandardNormal)."""
    return _call("standard_normal", "standard_normal", _shape(shape), seed)


def randn(*size, dtype=None, seed=None):
    """Standard normal values."""
    return _call("randn", "randn", _shape(size[0] if len(size) == 1 and not isinstance(size[0], numbers.Integral) else size), seed)


def normal(shape, mean, stddev, seed=None):
    """Normal values: StandardNormal, then ``z·stddev+mean`` in float32."""
    return _call("normal", "normal", _shape(shape), seed, _scalar(mean), _scalar(stddev))


def dropout(input, p=0.5, training=True, seed=None):
    """Zeroes each value with probability ``p`` and scales the rest by ``1/(1−p)``."""
    if not training:
        return input
    return _call("dropout", "dropout", (), seed, float(p), input=input if isinstance(input, Tensor) else Tensor(input))


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)  # the import system's probes (__path__, __file__)
    raise Unsupported(f"mindspore.ops.{name}")
