"""Data NPUSim makes for examples and tests (not MindSpore's API)."""
from . import _engine


def synthetic(count, shape, classes, seed=0):
    """``count`` samples of ``shape`` in ``classes`` classes drawn from ``seed``: the data of the
    training-script format's ``synthetic`` source, as numpy arrays (float32 data, int32 labels),
    so a Python script and its YAML twin train on the same values."""
    return _engine.synthetic(count, shape, classes, seed)
