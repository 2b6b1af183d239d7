"""``mindspore.Tensor``: values on the host, made when first read (an initializer's tensor draws
its seed then, as MindSpore's does)."""
import numpy as np

from . import dtype as _dtype


class Tensor:
    """A tensor from data (numpy array, list or scalar) and an optional dtype, or from a maker
    called on first read (``initializer``)."""

    def __init__(self, input_data=None, dtype=None, shape=None, _make=None):
        self._make = _make
        self._shape = tuple(shape) if shape is not None else None
        self._dtype = np.dtype(dtype) if dtype is not None else None
        self._value = None
        if _make is None:
            a = np.asarray(input_data)
            if dtype is None and a.dtype == np.float64:
                a = a.astype(np.float32)  # MindSpore makes float data float32
            self._value = a.astype(dtype) if dtype is not None else a

    def _data(self):
        if self._value is None:
            self._value = np.asarray(self._make(), dtype=self._dtype or np.float32)
            self._make = None
        return self._value

    def asnumpy(self):
        """The values (a copy)."""
        return self._data().copy()

    def init_data(self):
        """Makes the values now (an initializer's draw) and returns the tensor."""
        self._data()
        return self

    @property
    def shape(self):
        return self._shape if self._value is None else tuple(self._value.shape)

    @property
    def dtype(self):
        return self._dtype if self._value is None and self._dtype is not None else self._data().dtype

    def __repr__(self):
        return f"Tensor(shape={list(self.shape)}, dtype={_name(self.dtype)}, value=\n{self._data()})"


def _name(d):
    return {_dtype.float32: "Float32", _dtype.float16: "Float16", _dtype.int32: "Int32", _dtype.int64: "Int64", _dtype.bool_: "Bool"}.get(np.dtype(d), str(d))
