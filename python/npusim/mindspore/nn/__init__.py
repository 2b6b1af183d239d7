"""``mindspore.nn``: ``Cell``, ``SequentialCell``, ``Dense``, ``Conv2d``, ``MaxPool2d``,
``AvgPool2d``, ``ReLU``, ``Sigmoid``, ``Flatten``, the losses ``SoftmaxCrossEntropyWithLogits``,
``CrossEntropyLoss`` and ``MSELoss``, ``WithLossCell``, ``TrainOneStepCell`` and the optimizers
``SGD``, ``Momentum`` and ``Adam``. Parameters are drawn at construction with MindSpore 2.10's
initializers and seeds. Called in PyNative a cell runs its ``construct`` with the engine's ops
at once (what MindSpore's cells call); inside ``Model.train`` the engine builds the network from
the cells' layer specs (the training-script format, so a script and its YAML twin give the same
bits)."""
import math

import numpy as np

from . import _tracing
from .. import _pynative, _steps
from ... import _engine
from ...errors import InputError, Unsupported
from ..common import dtype as _dtype
from ..common.initializer import HeUniform, Uniform, initializer
from ..common.seed import _get_seed
from ..common.tensor import Tensor

__all__ = ["Parameter", "Cell", "SequentialCell", "Dense", "Conv2d", "MaxPool2d", "AvgPool2d", "ReLU", "Sigmoid", "Tanh", "Flatten",
           "Dropout", "BatchNorm2d", "LayerNorm", "SoftmaxCrossEntropyWithLogits", "CrossEntropyLoss", "MSELoss", "WithLossCell", "TrainOneStepCell", "Optimizer", "SGD", "Momentum", "Adam"]

class Parameter:
    """A named trainable value (its name is set where the network is built: ``fc1.weight``)."""

    def __init__(self, default_input, name=None, requires_grad=True):
        self.data = default_input if isinstance(default_input, Tensor) else Tensor(default_input)
        self.name = name
        self.requires_grad = requires_grad
        _steps.register(self)

    def asnumpy(self):
        return self.data.asnumpy()

    @property
    def shape(self):
        return self.data.shape

    @property
    def dtype(self):
        return self.data.dtype

    def set_data(self, data):
        self.data = data if isinstance(data, Tensor) else Tensor(data)
        return self

    def __repr__(self):
        return f"Parameter (name={self.name}, shape={tuple(self.shape)}, dtype={self.dtype}, requires_grad={self.requires_grad})"


class Cell:
    """MindSpore's ``nn.Cell``: sub-cells and parameters are its attributes, in assignment order."""

    def __init__(self, auto_prefix=True, flags=None):
        object.__setattr__(self, "_cells", {})
        object.__setattr__(self, "_params", {})
        object.__setattr__(self, "training", False)

    def __setattr__(self, name, value):
        if "_cells" not in self.__dict__:
            Cell.__init__(self)
        if isinstance(value, Cell):
            self._cells[name] = value
        elif isinstance(value, Parameter):
            self._params[name] = value
        object.__setattr__(self, name, value)

    def cells_and_names(self, prefix=""):
        yield prefix, self
        for name, cell in self._cells.items():
            yield from cell.cells_and_names(f"{prefix}.{name}" if prefix else name)

    def name_cells(self):
        return dict(self._cells)

    def cells(self):
        return list(self._cells.values())

    def parameters_and_names(self, prefix=""):
        for cell_prefix, cell in self.cells_and_names(prefix):
            for name, p in cell._params.items():
                yield (f"{cell_prefix}.{name}" if cell_prefix else name), p

    def trainable_params(self):
        out = []
        for name, p in self.parameters_and_names():
            p.name = name
            if p.requires_grad:
                out.append(p)
        return out

    def get_parameters(self):
        return iter(self.trainable_params())

    def parameters_dict(self):
        return dict(self.parameters_and_names())

    def set_train(self, mode=True):
        from .. import _jit
        for _, cell in self.cells_and_names():
            if cell.training != mode:
                _jit.mode_epoch += 1  # graphs are compiled for one mode
            object.__setattr__(cell, "training", mode)
        return self

    def construct(self, *inputs):
        raise Unsupported(f"{type(self).__name__}.construct")

    def __call__(self, *inputs):
        tracer = _tracing.current
        if tracer is not None:
            return tracer.call(self, inputs)
        from .. import _jit, context
        if context.get_context("mode") == context.GRAPH_MODE and not _jit.tracing() and not _pynative.recording():
            # GRAPH_MODE: the cell's construct is compiled on its first call (per input signature).
            graph = self.__dict__.get("_graph_construct")
            if graph is None:
                graph = _jit.JitFunction(self.construct)
                object.__setattr__(self, "_graph_construct", graph)
            return self._call_reporting(graph, inputs)
        return self._call_reporting(self.construct, inputs)

    def _call_reporting(self, construct, inputs):
        try:
            return construct(*inputs)
        except _engine.NpusimError as e:
            if not e.bad_input:
                raise
            shapes = ", ".join(str(list(x.shape)) if hasattr(x, "shape") else repr(x) for x in inputs)
            raise InputError(f"nn.{type(self).__name__} cannot take its input {shapes}: {e}") from None

    def extend_repr(self):
        return ""

    def __repr__(self):
        # MindSpore's Cell.__repr__: one line for a leaf, children indented by two.
        extra = self.extend_repr().split("\n") if self.extend_repr() else []
        children = ["(" + k + "): " + repr(c).replace("\n", "\n  ") for k, c in self._cells.items()]
        lines = extra + children
        text = type(self).__name__ + "("
        if lines:
            text += extra[0] if len(extra) == 1 and not children else "\n  " + "\n  ".join(lines) + "\n"
        return text + ")"

    # The layer spec (training-script format) of a cell the engine has: None for a container.
    def _layer_spec(self):
        raise Unsupported(f"nn.{type(self).__name__} in a network the engine builds")


class SequentialCell(Cell):
    """Cells applied in order; children named by their index."""

    def __init__(self, *args):
        super().__init__()
        cells = args[0] if len(args) == 1 and isinstance(args[0], (list, tuple)) else args
        for k, c in enumerate(cells):
            setattr(self, str(k), c)

    def construct(self, x):
        for c in self._cells.values():
            x = c(x)
        return x

    def __getitem__(self, index):
        return list(self._cells.values())[index]

    def __len__(self):
        return len(self._cells)


class Dense(Cell):
    """``nn.Dense(in_channels, out_channels, weight_init=None, bias_init=None, has_bias=True)``:
    weight HeUniform(√5), bias Uniform(1/√in_channels) by default, drawn now, weight first;
    ``x·Wᵀ + b`` (MatMul with transpose_b, BiasAdd)."""

    def __init__(self, in_channels, out_channels, weight_init=None, bias_init=None, has_bias=True, activation=None, dtype=None):
        super().__init__()
        if activation is not None:
            raise Unsupported("nn.Dense(activation=...)")
        self.in_channels, self.out_channels, self.has_bias = int(in_channels), int(out_channels), bool(has_bias)
        w = initializer(weight_init if weight_init is not None else HeUniform(math.sqrt(5)), [out_channels, in_channels])
        self.weight = Parameter(w.init_data(), "weight")
        if has_bias:
            b = initializer(bias_init if bias_init is not None else Uniform(1 / math.sqrt(in_channels)), [out_channels])
            self.bias = Parameter(b.init_data(), "bias")

    def construct(self, x):
        shape = x.shape
        if len(shape) != 2:
            x = _pynative.run1("Reshape", [x], shape=[int(np.prod(shape[:-1])), shape[-1]])
        x = _pynative.run1("MatMul", [x, self.weight], transpose_b=True)
        if self.has_bias:
            x = _pynative.run1("BiasAdd", [x, self.bias])
        if len(shape) != 2:
            x = _pynative.run1("Reshape", [x], shape=[*shape[:-1], self.out_channels])
        return x

    def extend_repr(self):
        return f"input_channels={self.in_channels}, output_channels={self.out_channels}" + (f", has_bias={self.has_bias}" if self.has_bias else "")

    def _layer_spec(self):
        return "Dense", {"in_channels": self.in_channels, "out_channels": self.out_channels, "has_bias": self.has_bias}


class Conv2d(Cell):
    """``nn.Conv2d(in_channels, out_channels, kernel_size, stride=1, pad_mode='same', ...,
    has_bias=False, weight_init=None, bias_init=None)``: weight HeUniform(√5) and bias
    Uniform(1/√fan_in) by default, drawn now, weight first."""

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, pad_mode="same", padding=0, dilation=1, group=1,
                 has_bias=False, weight_init=None, bias_init=None, data_format="NCHW", dtype=None):
        super().__init__()
        if padding or dilation != 1 or group != 1 or data_format != "NCHW" or not isinstance(kernel_size, int) or not isinstance(stride, int):
            raise Unsupported("nn.Conv2d with padding, dilation, group, NHWC or non-square kernels and strides")
        self.in_channels, self.out_channels, self.kernel_size = int(in_channels), int(out_channels), int(kernel_size)
        self.stride, self.pad_mode, self.has_bias = int(stride), pad_mode, bool(has_bias)
        self.weight_init = weight_init if weight_init is not None else HeUniform(math.sqrt(5))
        self.bias_init = bias_init
        shape = [out_channels, in_channels, kernel_size, kernel_size]
        self.weight = Parameter(initializer(self.weight_init, shape).init_data(), "weight")
        if has_bias:
            fan_in = in_channels * kernel_size * kernel_size
            b = initializer(bias_init if bias_init is not None else Uniform(1 / math.sqrt(fan_in)), [out_channels])
            self.bias = Parameter(b.init_data(), "bias")

    def construct(self, x):
        x = _pynative.run1("Conv2D", [x, self.weight], stride=self.stride, pad_mode=self.pad_mode)
        if self.has_bias:
            x = _pynative.run1("BiasAdd", [x, self.bias])
        return x

    def extend_repr(self):
        k, st = (self.kernel_size, self.kernel_size), (self.stride, self.stride)
        return (f"input_channels={self.in_channels}, output_channels={self.out_channels}, kernel_size={k}, stride={st}, "
                f"pad_mode={self.pad_mode}, padding=0, dilation=(1, 1), group=1, has_bias={self.has_bias}, "
                f"weight_init={self.weight_init}, bias_init={self.bias_init}, format=NCHW")

    def _layer_spec(self):
        return "Conv2d", {"in_channels": self.in_channels, "out_channels": self.out_channels, "kernel_size": self.kernel_size,
                          "stride": self.stride, "pad_mode": self.pad_mode, "has_bias": self.has_bias}


class MaxPool2d(Cell):
    """``nn.MaxPool2d(kernel_size=1, stride=1, pad_mode='valid')``."""
    _op = "MaxPool2D"

    def __init__(self, kernel_size=1, stride=1, pad_mode="valid", data_format="NCHW"):
        super().__init__()
        if not isinstance(kernel_size, int) or not isinstance(stride, int) or data_format != "NCHW":
            raise Unsupported(f"nn.{type(self).__name__} with non-square kernels or strides, or NHWC")
        self.kernel_size, self.stride, self.pad_mode = kernel_size, stride, pad_mode.upper()

    def construct(self, x):
        return _pynative.run1(self._op, [x], kernel_size=self.kernel_size, strides=self.stride, pad_mode=self.pad_mode)

    def extend_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, pad_mode={self.pad_mode}"

    def _layer_spec(self):
        return type(self).__name__, {"kernel_size": self.kernel_size, "stride": self.stride, "pad_mode": self.pad_mode.lower()}


class AvgPool2d(MaxPool2d):
    """``nn.AvgPool2d(kernel_size=1, stride=1, pad_mode='valid')``."""
    _op = "AvgPool2D"


class _Activation(Cell):
    _op = None

    def construct(self, x):
        return _pynative.run1(self._op, [x])

    def _layer_spec(self):
        return type(self).__name__, {}


class ReLU(_Activation):
    """``nn.ReLU()``: max(x, 0)."""
    _op = "ReLU"


class Sigmoid(_Activation):
    """``nn.Sigmoid()``: 1/(1 + e⁻ˣ)."""
    _op = "Sigmoid"


class Tanh(_Activation):
    """``nn.Tanh()``."""
    _op = "Tanh"


class Flatten(Cell):
    """``nn.Flatten()``: [N, …] to [N, rest]."""

    def __init__(self, start_dim=1, end_dim=-1):
        super().__init__()
        if start_dim != 1 or end_dim != -1:
            raise Unsupported("nn.Flatten with start_dim or end_dim")

    def construct(self, x):
        shape = x.shape
        return _pynative.run1("Reshape", [x], shape=[shape[0], int(np.prod(shape[1:], dtype=np.int64))])

    def _layer_spec(self):
        return "Flatten", {}


class Dropout(Cell):
    """``nn.Dropout(keep_prob=None, p=None)``: zeroes each value with probability ``p`` (0.5 by
    default) and scales the rest by 1/(1 − p) while training; its kernel takes its seeds now, at
    construction (MindSpore's ``_get_graph_seed(0, 'dropout')``), and continues one stream from
    call to call."""

    def __init__(self, keep_prob=None, p=None, dtype=None):
        super().__init__()
        if p is None:
            p = 0.5 if keep_prob is None else 1.0 - keep_prob
        if not 0 <= p < 1:
            raise ValueError(f"For 'Dropout', the 'p' must be a number in range [0, 1), but got {p}.")
        self.p = float(p)
        self.seed0, self.seed1 = _get_seed(0, "dropout")
        self._op = _pynative.op("Dropout", keep_prob=1.0 - self.p, seed0=self.seed0, seed1=self.seed1) if self.p > 0 else None

    def construct(self, x):
        if not self.training or self._op is None:
            return x
        return _pynative.run(self._op, [x])[0]

    def extend_repr(self):
        return f"p={self.p}"

    def _layer_spec(self):
        return "Dropout", {"p": self.p, "seed0": self.seed0, "seed1": self.seed1}


class BatchNorm2d(Cell):
    """``nn.BatchNorm2d(num_features, eps=1e-5, momentum=0.9)``: gamma ones, beta zeros, moving
    mean zeros, moving variance ones. Training normalises with the batch's statistics and updates
    moving = moving·momentum + batch·(1 − momentum) (the variance's batch value unbiased, as
    MindSpore 2.10 does); inference uses the moving statistics."""

    def __init__(self, num_features, eps=1e-5, momentum=0.9, affine=True, gamma_init="ones", beta_init="zeros",
                 moving_mean_init="zeros", moving_var_init="ones", use_batch_statistics=None, data_format="NCHW", dtype=None):
        super().__init__()
        if not affine or use_batch_statistics is not None or data_format != "NCHW" or \
                (gamma_init, beta_init, moving_mean_init, moving_var_init) != ("ones", "zeros", "zeros", "ones"):
            raise Unsupported("nn.BatchNorm2d with affine=False, use_batch_statistics, NHWC or other initial values")
        if not 0 <= momentum <= 1:
            raise ValueError(f"For 'BatchNorm2d', the 'momentum' must be in range [0, 1], but got {momentum}.")
        if eps <= 0:
            raise ValueError(f"For 'BatchNorm2d', the 'eps' must be greater than 0, but got {eps}.")
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), float(momentum)
        n = self.num_features
        self.gamma = Parameter(Tensor(np.ones(n, np.float32)), "gamma")
        self.beta = Parameter(Tensor(np.zeros(n, np.float32)), "beta")
        self.moving_mean = Parameter(Tensor(np.zeros(n, np.float32)), "mean", requires_grad=False)
        self.moving_variance = Parameter(Tensor(np.ones(n, np.float32)), "variance", requires_grad=False)

    def construct(self, x):
        out = _pynative.run("BatchNorm", [x, self.gamma, self.beta, self.moving_mean, self.moving_variance],
                            is_training=self.training, epsilon=self.eps)
        if self.training:
            # As the engine's layer (and MindSpore): the op keeps float32(1 − momentum).
            factor = np.float32(1.0 - self.momentum)
            shape = x.shape
            count = int(np.prod(shape)) // shape[1]
            keep, take = Tensor(np.float32(1) - factor), Tensor(factor)
            unbiased = _pynative.run1("Mul", [out[2], Tensor(np.float32(count / max(count - 1, 1)))])
            self.moving_mean.data = _pynative.run1("Add", [_pynative.run1("Mul", [self.moving_mean, keep]), _pynative.run1("Mul", [out[1], take])])
            self.moving_variance.data = _pynative.run1("Add", [_pynative.run1("Mul", [self.moving_variance, keep]), _pynative.run1("Mul", [unbiased, take])])
        return out[0]

    def extend_repr(self):
        return (f"num_features={self.num_features}, eps={self.eps}, momentum={self.momentum}, gamma={self.gamma!r}, beta={self.beta!r}, "
                f"moving_mean={self.moving_mean!r}, moving_variance={self.moving_variance!r}")

    def _layer_spec(self):
        return "BatchNorm2d", {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum}


class LayerNorm(Cell):
    """``nn.LayerNorm(normalized_shape, begin_norm_axis=-1, begin_params_axis=-1, epsilon=1e-7)``
    over the last ``len(normalized_shape)`` axes: gamma ones, beta zeros."""

    def __init__(self, normalized_shape, begin_norm_axis=-1, begin_params_axis=-1, gamma_init="ones", beta_init="zeros", epsilon=1e-7,
                 dtype=None):
        super().__init__()
        if not isinstance(normalized_shape, (list, tuple)) or not normalized_shape or any(int(d) < 1 for d in normalized_shape):
            raise TypeError(f"For 'LayerNorm', the type of 'normalized_shape' must be tuple[int] or list[int], but got {normalized_shape}.")
        k = len(normalized_shape)
        if (begin_norm_axis, begin_params_axis) not in ((-k, -k), (-1, -1)) or (k > 1 and begin_norm_axis == -1):
            raise Unsupported("nn.LayerNorm with begin_norm_axis or begin_params_axis other than -len(normalized_shape)")
        if (gamma_init, beta_init) != ("ones", "zeros"):
            raise Unsupported("nn.LayerNorm with other initial values")
        if epsilon <= 0:
            raise ValueError(f"For 'LayerNorm', the 'epsilon' must be greater than 0, but got {epsilon}.")
        self.normalized_shape, self.epsilon = tuple(int(d) for d in normalized_shape), float(epsilon)
        self.begin_norm_axis = self.begin_params_axis = -k
        self.gamma = Parameter(Tensor(np.ones(self.normalized_shape, np.float32)), "gamma")
        self.beta = Parameter(Tensor(np.zeros(self.normalized_shape, np.float32)), "beta")

    def construct(self, x):
        return _pynative.run("LayerNorm", [x, self.gamma, self.beta], begin_norm_axis=self.begin_norm_axis, epsilon=self.epsilon)[0]

    def extend_repr(self):
        return (f"normalized_shape={self.normalized_shape}, begin_norm_axis={self.begin_norm_axis}, "
                f"begin_params_axis={self.begin_params_axis}, gamma{self.gamma!r}, beta={self.beta!r}")

    def _layer_spec(self):
        return "LayerNorm", {"normalized_shape": list(self.normalized_shape), "epsilon": self.epsilon}


def _cross_entropy(logits, labels, reduction, what):
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"For '{what}', the 'reduction' must be in ['mean', 'sum', 'none'], but got {reduction}.")
    sparse = np.dtype(labels.dtype).kind in "iu"
    if sparse and labels.dtype != _dtype.int32:
        labels = Tensor(labels.asnumpy().astype(np.int32))
    return _pynative.run1("SoftmaxCrossEntropyWithLogits", [logits, labels], sparse=sparse, reduction=reduction)


class SoftmaxCrossEntropyWithLogits(Cell):
    """``nn.SoftmaxCrossEntropyWithLogits(sparse=False, reduction='none')``."""

    def __init__(self, sparse=False, reduction="none"):
        super().__init__()
        self.sparse, self.reduction = sparse, reduction

    def construct(self, logits, labels):
        if not self.sparse and np.dtype(labels.dtype).kind in "iu":
            raise Unsupported("SoftmaxCrossEntropyWithLogits(sparse=False) with class-index labels (use sparse=True)")
        return _cross_entropy(logits, labels, self.reduction, "SoftmaxCrossEntropyWithLogits")

    def _loss_spec(self):
        return "SoftmaxCrossEntropyWithLogits", {"sparse": self.sparse, "reduction": self.reduction}


class CrossEntropyLoss(Cell):
    """``nn.CrossEntropyLoss(weight=None, ignore_index=-100, reduction='mean', label_smoothing=0.0)``
    on logits [N, C] and class indices [N] (or class probabilities [N, C]): log-softmax and the
    negative log-likelihood, as ``ops.cross_entropy``."""

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__()
        if weight is not None or label_smoothing:
            raise Unsupported("nn.CrossEntropyLoss with weight or label_smoothing")
        self.reduction, self.ignore_index = reduction, ignore_index

    def construct(self, logits, labels):
        from .. import _jit
        # (A traced label's value is unknown: a label outside the classes fails in the kernel.)
        if np.dtype(labels.dtype).kind in "iu" and not isinstance(labels, _jit.Traced) and (labels.asnumpy() == self.ignore_index).any():
            raise Unsupported("nn.CrossEntropyLoss with labels equal to ignore_index")
        return _cross_entropy(logits, labels, self.reduction, "CrossEntropyLoss")

    def _loss_spec(self):
        if self.reduction == "none":
            raise Unsupported("CrossEntropyLoss(reduction='none') in Model.train", "reduction='mean' or 'sum'")
        return "SoftmaxCrossEntropyWithLogits", {"sparse": True, "reduction": self.reduction}


class MSELoss(Cell):
    """``nn.MSELoss(reduction='mean')``: the mean (or sum) of (x − y)²."""

    def __init__(self, reduction="mean"):
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"For 'MSELoss', the 'reduction' must be in ['mean', 'sum', 'none'], but got {reduction}.")
        self.reduction = reduction

    def construct(self, logits, labels):
        d = _pynative.run1("Sub", [logits, labels])
        x = _pynative.run1("Mul", [d, d])
        if self.reduction == "none":
            return x
        return _pynative.run1("ReduceMean" if self.reduction == "mean" else "ReduceSum", [x], axis=[], keep_dims=False)

    def _loss_spec(self):
        if self.reduction != "mean":
            raise Unsupported(f"MSELoss(reduction={self.reduction!r}) in Model.train", "reduction='mean'")
        return "MSELoss", {}


class WithLossCell(Cell):
    """``nn.WithLossCell(backbone, loss_fn)``: ``loss_fn(backbone(data), label)``."""

    def __init__(self, backbone, loss_fn):
        super().__init__()
        self._backbone, self._loss_fn = backbone, loss_fn

    def construct(self, data, label):
        return self._loss_fn(self._backbone(data), label)


class TrainOneStepCell(Cell):
    """``nn.TrainOneStepCell(network, optimizer, sens=None)``: one call is one training step
    (the loss, its gradients with respect to the optimizer's parameters, the update); returns
    the loss."""

    def __init__(self, network, optimizer, sens=None):
        super().__init__()
        from .._grad import value_and_grad
        self.network, self.optimizer = network, optimizer
        self.sens = 1.0 if sens is None else float(sens)
        self._grad = value_and_grad(network, None, optimizer.parameters, sens=self.sens)

    def construct(self, *inputs):
        loss, grads = self._grad(*inputs)
        self.optimizer(grads)
        return loss


class Optimizer(Cell):
    """An optimizer: ``optimizer(grads)`` updates its parameters in place (PyNative) and
    returns True; ``learning_rate`` a float or a 1-D Tensor (one rate per step, the last kept)."""

    def __init__(self, learning_rate, parameters, weight_decay=0.0, loss_scale=1.0):
        super().__init__()
        if any(isinstance(p, dict) for p in parameters):
            raise Unsupported("optimizer parameter groups (dicts)")
        object.__setattr__(self, "parameters", list(parameters))
        if isinstance(learning_rate, Tensor):
            rates = learning_rate.asnumpy().astype(np.float32).reshape(-1)
            if learning_rate.ndim > 1 or rates.size == 0:
                raise ValueError("For 'Optimizer', the dim of Tensor type 'learning_rate' should be 0 or 1, "
                                 f"but got {learning_rate.ndim}.")
            self._rates = rates
        elif isinstance(learning_rate, (int, float)) and not isinstance(learning_rate, bool):
            if learning_rate < 0:
                raise ValueError(f"For 'Optimizer', the argument 'learning_rate' must be >= 0, but got {learning_rate}.")
            self._rates = np.array([learning_rate], dtype=np.float32)
        else:
            raise Unsupported(f"an optimizer learning_rate of type {type(learning_rate).__name__}", "a float or a Tensor")
        self.learning_rate = float(self._rates[0])
        self.global_step = 0
        if weight_decay or loss_scale != 1.0:
            raise Unsupported(f"nn.{type(self).__name__} with weight_decay or loss_scale")

    def _lr(self):
        return Tensor(np.float32(self._rates[min(self.global_step, len(self._rates) - 1)]))

    def __call__(self, gradients):
        grads = list(gradients)
        if len(grads) != len(self.parameters):
            raise ValueError(f"For '{type(self).__name__}', got {len(grads)} gradients for {len(self.parameters)} parameters.")
        lr = self._lr()
        self._apply(lr, grads)
        self.global_step += 1
        from .. import _jit
        if not _jit.tracing():
            _steps.trace_parameters()  # a hand loop's step ends with its update (npusim drift)
        return True

    def _script_rate(self):
        if len(self._rates) > 1:
            raise Unsupported("a per-step Tensor learning rate in Model.train", "a float, or a hand loop with value_and_grad")
        return self.learning_rate


def _state(prefix, parameters):
    """An optimizer's state, one zeros Parameter per parameter (``moments.fc1.weight``), as
    MindSpore's optimizers keep it."""
    return [Parameter(Tensor(np.zeros(p.shape, np.float32)), f"{prefix}.{p.name}", requires_grad=False) for p in parameters]


class SGD(Optimizer):
    """``nn.SGD(params, learning_rate=0.1)`` (no momentum): p ← p − lr·g."""

    def __init__(self, params, learning_rate=0.1, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, loss_scale=1.0):
        super().__init__(learning_rate, list(params), weight_decay, loss_scale)
        if momentum or dampening or nesterov:
            raise Unsupported("nn.SGD with momentum, dampening or nesterov (use nn.Momentum)")

    def _apply(self, lr, grads):
        for p, g in zip(self.parameters, grads):
            p.data = _pynative.run1("Sub", [p, _pynative.run1("Mul", [lr, g])])

    def _optimizer_spec(self):
        return "SGD", {"learning_rate": self._script_rate()}


class Momentum(Optimizer):
    """``nn.Momentum(params, learning_rate, momentum)``: accum ← accum·momentum + g;
    p ← p − lr·accum (ApplyMomentum)."""

    def __init__(self, params, learning_rate, momentum, weight_decay=0.0, loss_scale=1.0, use_nesterov=False):
        super().__init__(learning_rate, list(params), weight_decay, loss_scale)
        if use_nesterov:
            raise Unsupported("nn.Momentum with use_nesterov")
        if momentum < 0:
            raise ValueError(f"For 'Momentum', the argument 'momentum' must be at least 0.0, but got {momentum}")
        self.momentum = float(momentum)
        object.__setattr__(self, "moments", _state("moments", self.parameters))

    def _apply(self, lr, grads):
        mu = Tensor(np.float32(self.momentum))
        for k, (p, g) in enumerate(zip(self.parameters, grads)):
            p.data, self.moments[k].data = _pynative.run("ApplyMomentum", [p, self.moments[k], lr, g, mu])

    def _optimizer_spec(self):
        return "Momentum", {"learning_rate": self._script_rate(), "momentum": self.momentum}


class Adam(Optimizer):
    """``nn.Adam(params, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8)``: the β powers
    advance first, then ApplyAdam per parameter."""

    def __init__(self, params, learning_rate=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, use_locking=False, use_nesterov=False,
                 weight_decay=0.0, loss_scale=1.0, use_amsgrad=False):
        super().__init__(learning_rate, list(params), weight_decay, loss_scale)
        if use_nesterov or use_amsgrad:
            raise Unsupported("nn.Adam with use_nesterov or use_amsgrad")
        if not 0 < beta1 < 1 or not 0 < beta2 < 1:
            raise ValueError(f"For 'Adam', beta1 and beta2 must be in (0.0, 1.0), but got {beta1} and {beta2}.")
        if eps <= 0:
            raise ValueError(f"For 'Adam', the argument 'eps' must be greater than 0, but got {eps}.")
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        object.__setattr__(self, "moment1", _state("moment1", self.parameters))
        object.__setattr__(self, "moment2", _state("moment2", self.parameters))
        object.__setattr__(self, "_powers", [Parameter(Tensor(np.float32(1)), "beta1_power", requires_grad=False),
                                             Parameter(Tensor(np.float32(1)), "beta2_power", requires_grad=False)])

    def _apply(self, lr, grads):
        b1, b2, eps = (Tensor(np.float32(v)) for v in (self.beta1, self.beta2, self.eps))
        self._powers[0].data = _pynative.run1("Mul", [self._powers[0], b1])
        self._powers[1].data = _pynative.run1("Mul", [self._powers[1], b2])
        for k, (p, g) in enumerate(zip(self.parameters, grads)):
            p.data, self.moment1[k].data, self.moment2[k].data = _pynative.run(
                "ApplyAdam", [p, self.moment1[k], self.moment2[k], self._powers[0], self._powers[1], lr, b1, b2, eps, g])

    def _optimizer_spec(self):
        return "Adam", {"learning_rate": self._script_rate(), "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)  # the import system's probes (__path__, __file__)
    raise Unsupported(f"mindspore.nn.{name}")
