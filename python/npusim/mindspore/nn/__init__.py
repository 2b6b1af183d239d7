"""``mindspore.nn`` so far: ``Cell``, ``SequentialCell``, ``Dense``, ``ReLU``, ``Flatten``,
``SoftmaxCrossEntropyWithLogits``, ``Momentum``, ``SGD``. Parameters are drawn at construction
with MindSpore 2.10's initializers and seeds; the network runs in the engine (``train.Model``),
which builds it from the cells' layer specs (the training-script format, so a script and its
YAML twin give the same bits)."""
import math

from . import _tracing
from ...errors import Unsupported
from ..common.initializer import HeUniform, Uniform, initializer


class Parameter:
    """A named trainable value (its name is set where the network is built: ``fc1.weight``)."""

    def __init__(self, default_input, name=None, requires_grad=True):
        self.data = default_input
        self.name = name
        self.requires_grad = requires_grad

    def asnumpy(self):
        return self.data.asnumpy()

    @property
    def shape(self):
        return self.data.shape


class Cell:
    """MindSpore's ``nn.Cell``: sub-cells and parameters are its attributes, in assignment order."""

    def __init__(self, auto_prefix=True):
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

    def set_train(self, mode=True):
        for _, cell in self.cells_and_names():
            object.__setattr__(cell, "training", mode)
        return self

    def construct(self, *inputs):
        raise Unsupported(f"{type(self).__name__}.construct")

    def __call__(self, *inputs):
        tracer = _tracing.current
        if tracer is not None:
            return tracer.call(self, inputs)
        raise Unsupported(f"calling {type(self).__name__} eagerly (PyNative forward)", "train it with Model.train")

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


class Dense(Cell):
    """``nn.Dense(in_channels, out_channels, weight_init=None, bias_init=None, has_bias=True)``:
    weight HeUniform(√5), bias Uniform(1/√in_channels) by default, drawn now, weight first."""

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
        shape = [out_channels, in_channels, kernel_size, kernel_size]
        w = initializer(weight_init if weight_init is not None else HeUniform(math.sqrt(5)), shape)
        self.weight = Parameter(w.init_data(), "weight")
        if has_bias:
            fan_in = in_channels * kernel_size * kernel_size
            b = initializer(bias_init if bias_init is not None else Uniform(1 / math.sqrt(fan_in)), [out_channels])
            self.bias = Parameter(b.init_data(), "bias")

    def _layer_spec(self):
        return "Conv2d", {"in_channels": self.in_channels, "out_channels": self.out_channels, "kernel_size": self.kernel_size,
                          "stride": self.stride, "pad_mode": self.pad_mode, "has_bias": self.has_bias}


class MaxPool2d(Cell):
    def __init__(self, kernel_size=1, stride=1, pad_mode="valid", data_format="NCHW"):
        super().__init__()
        if not isinstance(kernel_size, int) or not isinstance(stride, int) or data_format != "NCHW":
            raise Unsupported(f"nn.{type(self).__name__} with non-square kernels or strides, or NHWC")
        self.kernel_size, self.stride, self.pad_mode = kernel_size, stride, pad_mode

    def _layer_spec(self):
        return type(self).__name__, {"kernel_size": self.kernel_size, "stride": self.stride, "pad_mode": self.pad_mode}


class AvgPool2d(MaxPool2d):
    pass


class ReLU(Cell):
    def _layer_spec(self):
        return "ReLU", {}


class Flatten(Cell):
    def _layer_spec(self):
        return "Flatten", {}


class SoftmaxCrossEntropyWithLogits(Cell):
    def __init__(self, sparse=False, reduction="none"):
        super().__init__()
        self.sparse, self.reduction = sparse, reduction

    def _loss_spec(self):
        return "SoftmaxCrossEntropyWithLogits", {"sparse": self.sparse, "reduction": self.reduction}


class Optimizer:
    def __init__(self, params, learning_rate):
        self.parameters = list(params)
        if not isinstance(learning_rate, (int, float)):
            raise Unsupported("an optimizer with a Tensor or schedule learning rate")
        self.learning_rate = float(learning_rate)


class Momentum(Optimizer):
    def __init__(self, params, learning_rate, momentum, weight_decay=0.0, loss_scale=1.0, use_nesterov=False):
        super().__init__(params, learning_rate)
        if weight_decay or use_nesterov or loss_scale != 1.0:
            raise Unsupported("nn.Momentum with weight_decay, use_nesterov or loss_scale")
        self.momentum = float(momentum)

    def _optimizer_spec(self):
        return "Momentum", {"learning_rate": self.learning_rate, "momentum": self.momentum}


class SGD(Optimizer):
    def __init__(self, params, learning_rate=0.1, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, loss_scale=1.0):
        super().__init__(params, learning_rate)
        if momentum or dampening or weight_decay or nesterov or loss_scale != 1.0:
            raise Unsupported("nn.SGD with momentum, dampening, weight_decay, nesterov or loss_scale (use nn.Momentum)")

    def _optimizer_spec(self):
        return "SGD", {"learning_rate": self.learning_rate}


def __getattr__(name):
    raise Unsupported(f"mindspore.nn.{name}")
