"""``mindspore.Tensor``: a value on the host (numpy) or on the simulated card (an engine tensor
that PyNative ops made), each made from the other when first needed. Arithmetic on float tensors,
comparisons and ``argmax`` run as the engine's ops (kernels on the simulated card, nodes when
traced); indexing and integer arithmetic are computed on the host."""
import numbers

import numpy as np

from . import dtype as _dtype


class Tensor:
    """A tensor from data (numpy array, list or scalar) and an optional dtype, or from a maker
    called on first read (``initializer``). Python floats make float32, ints int64, as in
    MindSpore."""

    def __init__(self, input_data=None, dtype=None, shape=None, init=None, _make=None):
        self._make = _make
        self._shape = tuple(shape) if shape is not None else None
        self._dtype = np.dtype(dtype) if dtype is not None else None
        self._value = None
        self._engine = None
        if _make is None:
            if isinstance(input_data, Tensor):
                input_data = input_data._data()
            a = np.asarray(input_data)
            if dtype is None and a.dtype == np.float64:
                a = a.astype(np.float32)  # MindSpore makes float data float32
            self._value = a.astype(np.dtype(dtype)) if dtype is not None else a

    @classmethod
    def _from_engine(cls, t):
        out = cls.__new__(cls)
        out._make, out._shape, out._dtype, out._value, out._engine = None, None, None, None, t
        return out

    def _data(self):
        if self._value is None:
            if self._engine is not None:
                from .. import _pynative
                _pynative.sync()
                self._value = self._engine.numpy()
            else:
                self._value = np.asarray(self._make(), dtype=self._dtype or np.float32)
                self._make = None
        return self._value

    def _engine_tensor(self):
        if self._engine is None:
            from ... import _engine
            a = self._data()
            if a.dtype == np.float64:
                a = a.astype(np.float32)
            elif a.dtype in (np.uint8, np.int8, np.int16, np.uint16, np.uint32):
                a = a.astype(np.int32)
            self._engine = _engine.Tensor(a)
        return self._engine

    def asnumpy(self):
        """The values (a copy)."""
        return self._data().copy()

    def numpy(self):
        return self.asnumpy()

    def init_data(self):
        """Makes the values now (an initializer's draw) and returns the tensor."""
        self._data()
        return self

    @property
    def shape(self):
        if self._value is None and self._engine is not None:
            return tuple(self._engine.shape)
        return self._shape if self._value is None else tuple(self._value.shape)

    @property
    def dtype(self):
        if self._value is None and self._engine is not None:
            return _dtype.of(self._engine.dtype)
        return _dtype.of(self._dtype if self._value is None and self._dtype is not None else self._data().dtype)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __str__(self):
        return str(self._data())

    def __repr__(self):
        a = self._data()
        if a.dtype.kind == "f":
            body = np.array2string(a, separator=", ", formatter={"float_kind": lambda x: f"{x: .8e}"}) if a.ndim else str(a)
        else:
            body = np.array2string(a, separator=", ") if a.ndim else str(a)
        return f"Tensor(shape={list(a.shape)}, dtype={self.dtype}, value={chr(10) if a.ndim > 1 else ' '}{body})"

    # Host reads of the value.
    def __bool__(self):
        return bool(self._data())

    def __float__(self):
        return float(self._data())

    def __int__(self):
        return int(self._data())

    def __index__(self):
        return int(self._data())

    def item(self):
        return self._data().item()

    def tolist(self):
        return self._data().tolist()

    def __array__(self, dtype=None, copy=None):
        a = self._data()
        return a.astype(dtype) if dtype is not None else a

    # Arithmetic: engine ops for float32 operands (kernels on the card), numpy otherwise.
    def _binary(self, other, op, fallback, reflected=False):
        a, b = (other, self) if reflected else (self, other)
        ta, tb = _operand(a, self), _operand(b, self)
        if ta.dtype == _dtype.float32 and tb.dtype == _dtype.float32:
            from .. import _pynative
            return _pynative.run1(op, [ta, tb])
        return Tensor(fallback(ta._data(), tb._data()))

    def __add__(self, other):
        return self._binary(other, "Add", np.add)

    def __radd__(self, other):
        return self._binary(other, "Add", np.add, True)

    def __sub__(self, other):
        return self._binary(other, "Sub", np.subtract)

    def __rsub__(self, other):
        return self._binary(other, "Sub", np.subtract, True)

    def __mul__(self, other):
        return self._binary(other, "Mul", np.multiply)

    def __rmul__(self, other):
        return self._binary(other, "Mul", np.multiply, True)

    def __truediv__(self, other):
        return self._binary(other, "Div", np.true_divide)

    def __rtruediv__(self, other):
        return self._binary(other, "Div", np.true_divide, True)

    def __pow__(self, other):
        return self._binary(other, "Pow", np.power)

    def __neg__(self):
        if self.dtype == _dtype.float32:
            from .. import _pynative
            return _pynative.run1("Neg", [self])
        return Tensor(-self._data())

    def __abs__(self):
        return Tensor(np.abs(self._data()))

    # Comparisons: engine ops for two tensors of one numeric dtype, else on the host.
    def _compare(self, other, op, f):
        o = _operand(other, self)
        if o.dtype == self.dtype and np.dtype(self.dtype).kind in "fiu" and np.dtype(self.dtype).itemsize >= 4:
            from .. import _pynative
            return _pynative.run1(op, [self, o])
        return Tensor(f(self._data(), o._data()))

    def __eq__(self, other):
        return self._compare(other, "Equal", np.equal)

    def __ne__(self, other):
        return self._compare(other, "NotEqual", np.not_equal)

    def __lt__(self, other):
        return self._compare(other, "Less", np.less)

    def __le__(self, other):
        return self._compare(other, "LessEqual", np.less_equal)

    def __gt__(self, other):
        return self._compare(other, "Greater", np.greater)

    def __ge__(self, other):
        return self._compare(other, "GreaterEqual", np.greater_equal)

    __hash__ = object.__hash__

    def __getitem__(self, index):
        return Tensor(np.asarray(self._data()[_index(index)]))

    def argmax(self, axis=None, keepdims=False):
        """Indices of the largest values, the first on ties (Int64, as MindSpore's
        ``Tensor.argmax``): the engine's Argmax and a Cast."""
        from .. import _pynative
        x = self if axis is not None else _pynative.run1("Reshape", [self], shape=[self.size])
        out = _pynative.run1("Argmax", [x], axis=int(axis) if axis is not None else 0)
        out = _pynative.run1("Cast", [out], dtype=3)
        if keepdims:
            shape = [1] * len(self.shape) if axis is None else [1 if k == axis % len(self.shape) else d for k, d in enumerate(self.shape)]
            out = _pynative.run1("Reshape", [out], shape=shape)
        return out

    def argmin(self, axis=None, keepdims=False):
        return Tensor(np.argmin(self._data(), axis=axis, keepdims=keepdims).astype(np.int64))

    def sum(self, axis=None, keepdims=False):
        return _reduce(self, "ReduceSum", np.sum, axis, keepdims)

    def mean(self, axis=None, keep_dims=False):
        return _reduce(self, "ReduceMean", np.mean, axis, keep_dims)

    def max(self, axis=None, keepdims=False):
        return _reduce(self, "ReduceMax", np.max, axis, keepdims)

    def astype(self, dtype):
        return Tensor(self._data().astype(np.dtype(dtype)))

    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (list, tuple)) else shape
        from .. import _pynative
        return _pynative.run1("Reshape", [self], shape=list(np.empty(self.shape, dtype=np.uint8).reshape(shape).shape))

    def squeeze(self, axis=None):
        return Tensor(np.squeeze(self._data(), axis=axis))

    def expand_dims(self, axis):
        return Tensor(np.expand_dims(self._data(), axis))


def _operand(x, like):
    """``x`` as a Tensor to combine with ``like``: a Python number takes ``like``'s dtype."""
    if isinstance(x, Tensor):
        return x
    if hasattr(x, "data") and isinstance(getattr(x, "data"), Tensor):  # a Parameter
        return x.data
    if isinstance(x, numbers.Number) and not isinstance(x, bool) and np.dtype(like.dtype).kind in "fiu":
        if np.dtype(like.dtype).kind == "f" or float(x) == int(x):
            return Tensor(np.asarray(x, dtype=np.dtype(like.dtype)))
    return Tensor(x)


def _index(index):
    if isinstance(index, Tensor):
        return index._data()
    if isinstance(index, tuple):
        return tuple(i._data() if isinstance(i, Tensor) else i for i in index)
    return index


def _reduce(t, op, fallback, axis, keepdims):
    if t.dtype == _dtype.float32:
        from .. import _pynative
        axes = [] if axis is None else ([axis] if isinstance(axis, int) else list(axis))
        return _pynative.run1(op, [t], axis=axes, keep_dims=bool(keepdims))
    return Tensor(np.asarray(fallback(t._data(), axis=None if axis is None else axis, keepdims=keepdims)))
