"""PyNative execution: every op a script calls outside a traced graph runs at once in the
engine's PyNative context (one simulated card, its reduction policy and order stream), and a
gradient function (``value_and_grad``) is recorded on the engine's tape and differentiated by
its reverse mode — the ops, kernels and bits of the engine's own PyNative mode.

The run's switches come from ``npusim run``'s flags (environment ``NPUSIM_DEVICE``,
``NPUSIM_DETERMINISM``, ``NPUSIM_ORDER_SEED``), which win over ``set_context(deterministic=...)``."""
import json
import os

from .. import _engine, _options
from . import context

_context = None
#: Gradient functions run so far: the step that keys the recorded ops' reduction orders.
_steps = 0


def engine():
    """The PyNative context, made on first use with the run's device and reduction policy."""
    global _context
    if _context is None:
        _context = _engine.Eager(device=_options.device(), determinism=determinism(), order_seed=_options.order_seed())
    return _context


def determinism():
    """The reduction policy: --determinism, else set_context(deterministic="ON") → on, else off."""
    return _options.determinism() or ("on" if context.get_context("deterministic") == "ON" else "off")


def op(type, **attributes):
    """An engine op kept between calls (``run`` takes it in place of a name)."""
    return _engine.Op(type, json.dumps(attributes))


def run(op, inputs, **attributes):
    """Runs engine op ``op`` (a name, or an ``op(...)``) on MindSpore Tensors now; its outputs as
    Tensors."""
    from .common.tensor import Tensor
    from . import _jit

    if _jit.current is not None:  # a graph being traced: the op becomes a node
        return _jit.current.op(op, inputs, json.dumps(attributes) if attributes else "{}")
    outs = engine().op(op, [_as_tensor(x)._engine_tensor() for x in inputs], json.dumps(attributes) if attributes else "{}")
    return [Tensor._from_engine(t) for t in outs]


def run1(op, inputs, **attributes):
    """``run`` of an op with one output."""
    return run(op, inputs, **attributes)[0]


def _as_tensor(x):
    from .common.tensor import Tensor
    from .nn import Parameter

    if isinstance(x, Parameter):
        return x.data
    if isinstance(x, Tensor):
        return x
    return Tensor(x)


def sync():
    """The host reads a value: waits (in simulated time) for the card."""
    if _context is not None:
        _context.sync()


_recording = False


def recording():
    """Whether a gradient function is being recorded."""
    return _recording


def record():
    """Starts recording a gradient function (a new step)."""
    global _steps, _recording
    engine().record(_steps)
    _steps += 1
    _recording = True


def stop():
    global _recording
    _recording = False
    engine().stop()
