"""MindSpore's API on NPUSim's simulated card: ``import npusim.mindspore as mindspore``.

What exists so far: ``set_seed``/``get_seed`` (numpy's global generator seeded as MindSpore seeds
it), the dtypes, ``Tensor``, and ``common.initializer`` with MindSpore 2.10's values bit for bit.
Anything else raises ``npusim.Unsupported`` naming the API and your file:line.
"""
import numpy as np

from ..errors import Unsupported
from .common import dtype
from .common.dtype import bool_, float16, float32, int32, int64
from .common.tensor import Tensor
from . import common

__version__ = "2.10.0"

_GLOBAL_SEED = None
#: The dataset seed (``mindspore.dataset.config.set_seed``), which ``set_seed`` sets too.
_DATASET_SEED = None


def set_seed(seed):
    """MindSpore's ``set_seed``: seeds numpy's global generator (initializers draw from it), the
    dataset seed and the op seeds' global seed; resets the op-seed counters."""
    global _GLOBAL_SEED, _DATASET_SEED
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError("The argument 'seed' must be type of int, but got {}.".format(type(seed)))
    if seed < 0:
        raise ValueError(f"For 'global_seed', the 'seed' must be >= 0, but got {seed}.")
    np.random.seed(seed)
    _DATASET_SEED = seed
    _GLOBAL_SEED = seed


def get_seed():
    """The global seed ``set_seed`` set, or None."""
    return _GLOBAL_SEED


def __getattr__(name):
    raise Unsupported(f"mindspore.{name}")
