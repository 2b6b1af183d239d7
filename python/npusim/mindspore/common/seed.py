"""MindSpore's seed rules (the behaviour of ``mindspore/common/seed.py``, as Docs/Randomness.md
states it and the oracle's vectors check): a global seed from ``set_seed`` and, per random
kernel and op seed, a counter that advances by K = 533697028 at each call."""
import numpy as np

_DEFAULT_GRAPH_SEED = 87654321
_COUNTER_STEP = 533697028
_MAX_INT32 = 2147483647

_global_seed = None
_dataset_seed = None
_counters = {}
#: `npusim run --seed N`: replaces every set_seed value.
_override = None


def override(seed):
    """``--seed N``: every ``set_seed`` call uses N instead, and N is set now (so a script that
    never calls ``set_seed`` runs as if it called ``set_seed(N)`` first)."""
    global _override
    _override = None
    set_seed(seed)
    _override = seed


def set_seed(seed):
    """MindSpore's ``set_seed``: seeds numpy's global generator (initializers draw from it), the
    dataset seed and the global seed, and resets every op-seed counter."""
    global _global_seed, _dataset_seed
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError("The argument 'seed' must be type of int, but got {}.".format(type(seed)))
    if seed < 0:
        raise ValueError(f"For 'global_seed', the 'seed' must be >= 0, but got {seed}.")
    if _override is not None:
        seed = _override
    np.random.seed(seed)
    _dataset_seed = seed
    _counters.clear()
    _global_seed = seed


def get_seed():
    """The global seed ``set_seed`` set, or None."""
    return _global_seed


def _get_seed(op_seed, kernel_name):
    """The (seed, seed2) of one call of a random kernel; advances its counter."""
    if op_seed is not None and (not isinstance(op_seed, int) or op_seed < 0):
        raise ValueError(f"For '{kernel_name}', the 'seed' must be a non-negative int or None, but got {op_seed}.")
    g = 0 if _global_seed is None else (_DEFAULT_GRAPH_SEED if _global_seed == 0 else _global_seed)
    o = op_seed or 0
    if g == 0 and o == 0:
        return 0, 0
    key = (kernel_name, o)
    t = _counters.get(key, o)
    _counters[key] = t + _COUNTER_STEP
    return g % _MAX_INT32, t % _MAX_INT32
