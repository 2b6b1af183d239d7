"""MindSpore's API on NPUSim's simulated card: ``import npusim.mindspore as mindspore``.

What exists so far (Docs/Python.md): ``set_seed``/``get_seed`` with MindSpore's seed rules, the
dtypes, ``Tensor``, ``common.initializer`` and the functional random ops of ``ops``, with
MindSpore 2.10's values bit for bit; ``nn`` (Dense, ReLU, Flatten, SequentialCell, the
cross-entropy loss, Momentum, SGD), ``dataset.NumpySlicesDataset`` and ``Model.train`` with
``LossMonitor`` and Python callbacks, run by the engine's Model. Anything else raises ``npusim.Unsupported`` naming the API
and your file:line.
"""
from ..errors import Unsupported
from . import amp, common, context, dataset, device_context, nn, ops, train
from .context import GRAPH_MODE, PYNATIVE_MODE, get_context, set_context, set_device
from .common import dtype
from .common.dtype import bool_, float16, float32, int32, int64
from .common.seed import get_seed, set_seed
from .common.tensor import Tensor
from ._grad import grad, value_and_grad
from ._jit import jit
from .train import Model, load_checkpoint, load_param_into_net, save_checkpoint
from .amp import DynamicLossScaleManager, FixedLossScaleManager, LossScaleManager
from .profiler import Profiler

__version__ = "2.10.0"


__all__ = ["GRAPH_MODE", "PYNATIVE_MODE", "get_context", "set_context", "set_device", "dtype", "bool_", "float16", "float32", "int32", "int64", "get_seed", "set_seed", "Tensor", "grad", "value_and_grad", "jit", "Model", "DynamicLossScaleManager", "FixedLossScaleManager", "LossScaleManager", "load_checkpoint", "load_param_into_net", "save_checkpoint", "Profiler"]

def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)  # the import system's probes (__path__, __file__)
    raise Unsupported(f"mindspore.{name}")
