"""MindSpore's dtypes (``mindspore.float32``…): each prints as MindSpore prints it (``Float32``)
and converts to its numpy dtype (``np.dtype(mindspore.float32)``)."""
import numpy as np


__all__ = ["Type", "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool_", "float_", "half", "single", "double", "int_"]

class Type:
    """A MindSpore dtype: ``str`` is MindSpore's name; ``dtype`` the numpy dtype it holds."""

    def __init__(self, name, numpy_type):
        self.name, self.dtype = name, np.dtype(numpy_type)

    def __repr__(self):
        return self.name

    __str__ = __repr__

    def __eq__(self, other):
        if isinstance(other, Type):
            return self.dtype == other.dtype
        try:
            return self.dtype == np.dtype(other)
        except TypeError:
            return False

    def __hash__(self):
        return hash(self.dtype)


float16 = Type("Float16", np.float16)
float32 = Type("Float32", np.float32)
float64 = Type("Float64", np.float64)
int8 = Type("Int8", np.int8)
int16 = Type("Int16", np.int16)
int32 = Type("Int32", np.int32)
int64 = Type("Int64", np.int64)
uint8 = Type("UInt8", np.uint8)
bool_ = Type("Bool", np.bool_)
float_, half, single, double, int_ = float32, float16, float32, float64, int64

_BY_NUMPY = {t.dtype: t for t in (float16, float32, float64, int8, int16, int32, int64, uint8, bool_)}


def of(numpy_dtype):
    """The MindSpore dtype of a numpy dtype."""
    return _BY_NUMPY.get(np.dtype(numpy_dtype)) or Type(str(np.dtype(numpy_dtype)), numpy_dtype)
