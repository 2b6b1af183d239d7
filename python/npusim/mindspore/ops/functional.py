"""``mindspore.ops``' functional ops and primitives, each the engine's op of that name (a
kernel on the simulated card in PyNative, a node when traced)."""
import numpy as np

from .. import _pynative
from ..common import dtype as _dtype
from ..common.tensor import Tensor, _operand

_CODES = {np.dtype(np.float32): 0, np.dtype(np.float16): 1, np.dtype(np.int32): 2, np.dtype(np.int64): 3, np.dtype(np.bool_): 4}


def _t(x, like=None):
    if isinstance(x, Tensor):
        return x
    if hasattr(x, "data") and isinstance(x.data, Tensor):  # a Parameter
        return x.data
    return _operand(x, like) if like is not None else Tensor(x)


def _axes(axis):
    return [] if axis is None or axis == () else ([int(axis)] if isinstance(axis, (int, np.integer)) else [int(a) for a in axis])


def _unary(op):
    def f(input):
        return _pynative.run1(op, [_t(input)])
    f.__doc__ = f"The engine's {op}, elementwise."
    return f


def _binary(op):
    def f(input, other):
        a = _t(input) if isinstance(input, Tensor) or hasattr(input, "data") else None
        b = _t(other) if isinstance(other, Tensor) or hasattr(other, "data") else None
        a = a if a is not None else _t(input, b)
        b = b if b is not None else _t(other, a)
        return _pynative.run1(op, [a, b])
    f.__doc__ = f"The engine's {op} of two tensors (or a tensor and a number, which takes the tensor's dtype), broadcasting."
    return f


relu, sigmoid, tanh, gelu = _unary("ReLU"), _unary("Sigmoid"), _unary("Tanh"), _unary("GeLU")
exp, log, sqrt, rsqrt, neg = _unary("Exp"), _unary("Log"), _unary("Sqrt"), _unary("Rsqrt"), _unary("Neg")
add, sub, mul, div, pow, maximum, minimum = (_binary(o) for o in ("Add", "Sub", "Mul", "Div", "Pow", "Maximum", "Minimum"))
gt, ge, lt, le, eq, ne = (_binary(o) for o in ("Greater", "GreaterEqual", "Less", "LessEqual", "Equal", "NotEqual"))
greater, greater_equal, less, less_equal, equal, not_equal = gt, ge, lt, le, eq, ne


def square(input):
    """x·x."""
    x = _t(input)
    return _pynative.run1("Mul", [x, x])


def matmul(input, other):
    """Matrix product (batched for rank > 2)."""
    a, b = _t(input), _t(other)
    return _pynative.run1("MatMul" if len(a.shape) == 2 and len(b.shape) == 2 else "BatchMatMul", [a, b])


def reshape(input, shape):
    """The same values in ``shape`` (one −1 inferred)."""
    x = _t(input)
    return _pynative.run1("Reshape", [x], shape=list(np.empty(x.shape, dtype=np.uint8).reshape(tuple(shape)).shape))


def flatten(input, order="C", *, start_dim=1, end_dim=-1):
    """[N, …] to [N, rest]."""
    x = _t(input)
    return reshape(x, (x.shape[0], -1)) if len(x.shape) > 1 else x


def transpose(input, input_perm):
    """Axes permuted."""
    return _pynative.run1("Transpose", [_t(input)], perm=[int(p) for p in input_perm])


permute = transpose


def expand_dims(input, axis):
    """A new axis of size 1 at ``axis``."""
    x = _t(input)
    shape = list(x.shape)
    shape.insert(axis if axis >= 0 else len(shape) + 1 + axis, 1)
    return reshape(x, shape)


def squeeze(input, axis=None):
    """Axes of size 1 removed (``axis``, or all)."""
    x = _t(input)
    return reshape(x, np.squeeze(np.empty(x.shape, dtype=np.uint8), axis=axis).shape)


def cast(input, dtype):
    """Elements converted to ``dtype``."""
    return _pynative.run1("Cast", [_t(input)], dtype=_CODES[np.dtype(dtype)])


def sum(input, dim=None, keepdim=False, *, dtype=None):
    """The sum over ``dim`` (all axes by default)."""
    return _pynative.run1("ReduceSum", [_t(input)], axis=_axes(dim), keep_dims=bool(keepdim))


def mean(input, axis=None, keep_dims=False):
    """The mean over ``axis`` (all axes by default)."""
    return _pynative.run1("ReduceMean", [_t(input)], axis=_axes(axis), keep_dims=bool(keep_dims))


def amax(input, axis=None, keepdims=False):
    """The largest value over ``axis``."""
    return _pynative.run1("ReduceMax", [_t(input)], axis=_axes(axis), keep_dims=bool(keepdims))


def softmax(input, axis=-1):
    """Softmax along ``axis``."""
    return _pynative.run1("Softmax", [_t(input)], axis=int(axis))


def log_softmax(logits, axis=-1):
    """Log-softmax along ``axis``."""
    return _pynative.run1("LogSoftmax", [_t(logits)], axis=int(axis))


def argmax(input, dim=None, keepdim=False):
    """Indices of the largest values (the first on ties), Int64 as MindSpore's."""
    return _t(input).argmax(dim, keepdim)


def select(cond, input, other):
    """``input`` where ``cond``, else ``other`` (the traceable way to branch on values)."""
    x = _t(input) if not isinstance(input, (int, float)) else None
    y = _t(other) if not isinstance(other, (int, float)) else None
    x = x if x is not None else Tensor(np.float32(input))
    y = y if y is not None else Tensor(np.float32(other))
    return _pynative.run1("Select", [_t(cond), x, y])


def concat(tensors, axis=0):
    """Tensors joined along ``axis``."""
    return _pynative.run1("Concat", [_t(t) for t in tensors], axis=int(axis))


cat = concat


def broadcast_to(input, shape):
    """The tensor broadcast to ``shape``."""
    return _pynative.run1("BroadcastTo", [_t(input)], shape=[int(d) for d in shape])


def one_hot(indices, depth, on_value=1.0, off_value=0.0, axis=-1):
    """One-hot rows of ``depth`` for integer indices."""
    return _pynative.run1("OneHot", [_t(indices)], depth=int(depth), on_value=float(_scalar(on_value)), off_value=float(_scalar(off_value)))


def _scalar(x):
    return float(x.asnumpy()) if isinstance(x, Tensor) else float(x)


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """``ops.cross_entropy`` on logits and class indices (or probabilities)."""
    from ..nn import CrossEntropyLoss
    return CrossEntropyLoss(weight, ignore_index, reduction, label_smoothing)(input, target)


def mse_loss(input, target, reduction="mean"):
    """``nn.MSELoss(reduction)`` of the two."""
    from ..nn import MSELoss
    return MSELoss(reduction)(input, target)


def zeros(size, dtype=None):
    """A tensor of zeros (float32 by default)."""
    return Tensor(np.zeros(tuple(size) if not isinstance(size, int) else (size,), np.dtype(dtype) if dtype is not None else np.float32))


def ones(size, dtype=None):
    """A tensor of ones (float32 by default)."""
    return Tensor(np.ones(tuple(size) if not isinstance(size, int) else (size,), np.dtype(dtype) if dtype is not None else np.float32))


def zeros_like(input, *, dtype=None):
    """Zeros of the input's shape and dtype."""
    x = _t(input)
    return zeros(x.shape, dtype or x.dtype)


def ones_like(input, *, dtype=None):
    """Ones of the input's shape and dtype."""
    x = _t(input)
    return ones(x.shape, dtype or x.dtype)


class Primitive:
    """A MindSpore primitive (``ops.ReLU()``, ``ops.MatMul(transpose_b=True)``): called on
    tensors, the engine's op of its name."""
    _op = None

    def __init__(self, **attributes):
        self._attributes = attributes

    def __call__(self, *inputs):
        return _pynative.run1(self._op, [_t(x) for x in inputs], **self._attributes)


def _primitive(name, op, doc, **defaults):
    def __init__(self, *args, **kwargs):
        names = list(defaults)
        values = dict(defaults)
        values.update(zip(names, args))
        values.update(kwargs)
        Primitive.__init__(self, **values)
    return type(name, (Primitive,), {"_op": op, "__init__": __init__, "__doc__": doc})


ReLU = _primitive("ReLU", "ReLU", "``ops.ReLU()``: max(x, 0).")
Sigmoid = _primitive("Sigmoid", "Sigmoid", "``ops.Sigmoid()``.")
Tanh = _primitive("Tanh", "Tanh", "``ops.Tanh()``.")
Exp = _primitive("Exp", "Exp", "``ops.Exp()``.")
Log = _primitive("Log", "Log", "``ops.Log()``.")
Sqrt = _primitive("Sqrt", "Sqrt", "``ops.Sqrt()``.")
Add = _primitive("Add", "Add", "``ops.Add()``.")
Sub = _primitive("Sub", "Sub", "``ops.Sub()``.")
Mul = _primitive("Mul", "Mul", "``ops.Mul()``.")
Div = _primitive("Div", "Div", "``ops.Div()``.")
MatMul = _primitive("MatMul", "MatMul", "``ops.MatMul(transpose_a=False, transpose_b=False)``.", transpose_a=False, transpose_b=False)
BatchMatMul = _primitive("BatchMatMul", "BatchMatMul", "``ops.BatchMatMul(transpose_a=False, transpose_b=False)``.",
                         transpose_a=False, transpose_b=False)
BiasAdd = _primitive("BiasAdd", "BiasAdd", "``ops.BiasAdd()``: x + b over the channel axis.")
Softmax = _primitive("Softmax", "Softmax", "``ops.Softmax(axis=-1)``.", axis=-1)
LogSoftmax = _primitive("LogSoftmax", "LogSoftmax", "``ops.LogSoftmax(axis=-1)``.", axis=-1)


class Reshape(Primitive):
    """``ops.Reshape()(x, shape)``."""

    def __call__(self, x, shape):
        return reshape(x, shape)


class Transpose(Primitive):
    """``ops.Transpose()(x, perm)``."""

    def __call__(self, x, perm):
        return transpose(x, perm)


class Cast(Primitive):
    """``ops.Cast()(x, dtype)``."""

    def __call__(self, x, dtype):
        return cast(x, dtype)


class _Reduce(Primitive):
    def __init__(self, keep_dims=False):
        super().__init__()
        self.keep_dims = keep_dims

    def __call__(self, x, axis=()):
        return _pynative.run1(self._op, [_t(x)], axis=_axes(axis), keep_dims=bool(self.keep_dims))


class ReduceSum(_Reduce):
    """``ops.ReduceSum(keep_dims=False)(x, axis=())``."""
    _op = "ReduceSum"


class ReduceMean(_Reduce):
    """``ops.ReduceMean(keep_dims=False)(x, axis=())``."""
    _op = "ReduceMean"


class ReduceMax(_Reduce):
    """``ops.ReduceMax(keep_dims=False)(x, axis=())``."""
    _op = "ReduceMax"


class Argmax(Primitive):
    """``ops.Argmax(axis=-1, output_type=mstype.int32)``."""

    def __init__(self, axis=-1, output_type=_dtype.int32):
        super().__init__()
        self.axis, self.output_type = axis, output_type

    def __call__(self, x):
        return cast(_pynative.run1("Argmax", [_t(x)], axis=int(self.axis)), self.output_type)


class Select(Primitive):
    """``ops.Select()(cond, x, y)``."""

    def __call__(self, cond, x, y):
        return select(cond, x, y)


FUNCTIONS = ["relu", "sigmoid", "tanh", "gelu", "exp", "log", "sqrt", "rsqrt", "neg", "add", "sub", "mul", "div", "pow", "maximum",
             "minimum", "gt", "ge", "lt", "le", "eq", "ne", "greater", "greater_equal", "less", "less_equal", "equal", "not_equal",
             "square", "matmul", "reshape", "flatten", "transpose", "permute", "expand_dims", "squeeze", "cast", "sum", "mean", "amax",
             "softmax", "log_softmax", "argmax", "select", "concat", "cat", "broadcast_to", "one_hot", "cross_entropy", "mse_loss",
             "zeros", "ones", "zeros_like", "ones_like", "ReLU", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Add", "Sub", "Mul", "Div",
             "MatMul", "BatchMatMul", "BiasAdd", "Softmax", "LogSoftmax", "Reshape", "Transpose", "Cast", "ReduceSum", "ReduceMean",
             "ReduceMax", "Argmax", "Select"]
__all__ = FUNCTIONS
