"""Graph mode for hand-written code: ``jit`` (decorator and call) and a Cell called in
GRAPH_MODE. The first call traces the function with symbolic tensors into the engine's graph —
every op the cells and Tensor operators call becomes a node, ``value_and_grad`` adds the
engine's reverse-mode gradient nodes, an optimizer's updates and BatchNorm's moving statistics
become assignments of their Parameters — compiles it once (Sources/NPUSimEngine/GraphABI.swift)
and runs every later call as one step on the simulated card, until the shapes or dtypes of the
arguments (or the cells' train/eval mode) change, which traces and compiles again. Python control
flow on Python values runs at trace time; reading a traced tensor's value stops with the line."""
import functools
import inspect
import os

from .. import _engine
from . import _pynative, _steps
from .common import dtype as _dtype
from .common.tensor import Tensor
from .nn._tracing import TraceError

#: The trace being made, if any.
current = None
#: Bumped by Cell.set_train: a compiled graph is for one train/eval mode of the cells.
mode_epoch = 0


def tracing():
    return current is not None


def _where():
    frame = next((f for f in inspect.stack()[1:] if "npusim" + os.sep not in f.filename), None)
    return f"{frame.filename}:{frame.lineno}" if frame else "<unknown>"


class Tracer:
    """One trace: the engine graph and what the Python values in it are."""

    def __init__(self):
        self.graph = _engine.Graph(_pynative.engine())
        self.parameters = {}  # id(Parameter) -> (Parameter, name, value id, the Tensor it held)
        self.names = set()
        self.loss = None  # the traced loss of a gradient function (a training step)

    def value(self, x):
        """The graph value of an op input: a traced tensor, a Parameter (read from the graph's
        store), or a constant."""
        from .common.tensor import Tensor
        from .nn import Parameter

        if isinstance(x, Traced):
            if x._tracer is not self:
                raise TraceError(f"{_where()}: a traced value from another graph")
            return x._id
        if isinstance(x, Parameter):
            # A Parameter written earlier in the trace reads its new value, as in PyNative.
            return x.data._id if isinstance(x.data, Traced) and x.data._tracer is self else self.parameter(x)
        t = x if isinstance(x, Tensor) else Tensor(x)
        return self.graph.constant(t._engine_tensor())

    def parameter(self, p):
        entry = self.parameters.get(id(p))
        if entry is None:
            if isinstance(p.data, Traced):
                raise TraceError(f"{_where()}: a Parameter assigned in the traced function before it was read")
            name = base = p.name or "parameter"
            k = 1
            while name in self.names:
                name, k = f"{base}_{k}", k + 1
            self.names.add(name)
            entry = (p, name, self.graph.parameter(name, p.data._engine_tensor()), p.data)
            self.parameters[id(p)] = entry
        return entry[2]

    def op(self, op, inputs, attributes):
        type_, attrs = (op.type, op.attributes) if isinstance(op, _engine.Op) else (op, attributes)
        ids = [self.value(x) for x in inputs]
        return [Traced(self, v) for v in self.graph.op(type_, ids, attrs)]

    def finish(self):
        """Assignments: a Parameter whose data is now a traced value is written at the step's end
        (and holds its real value again in Python)."""
        for p, name, _, original in self.parameters.values():
            if isinstance(p.data, Traced):
                self.graph.assign(name, p.data._id)
                p.data = original


class Traced(Tensor):
    """A tensor of a graph being traced: its type is known, its value is not."""

    def __init__(self, tracer, value_id):
        self._tracer, self._id = tracer, value_id
        dtype, shape = tracer.graph.type(value_id)
        self._make, self._shape, self._dtype, self._value, self._engine = None, tuple(shape), dtype, None, None

    @property
    def shape(self):
        return self._shape

    @property
    def dtype(self):
        return _dtype.of(self._dtype)

    def _data(self):
        raise TraceError(f"{_where()}: construct depends on a tensor's value — not capturable by tracing; use ops.select, or PYNATIVE_MODE")

    def _engine_tensor(self):
        self._data()

    def __repr__(self):
        return f"Tensor(shape={list(self._shape)}, dtype={self.dtype}, value=<traced>)"


def _flatten(value, out):
    """The traced tensors in a (nested tuple/list of) output, and a rebuilder."""
    if isinstance(value, Traced):
        out.append(value._id)
        k = len(out) - 1
        return lambda fetched: fetched[k]
    if isinstance(value, (tuple, list)):
        parts = [_flatten(v, out) for v in value]
        kind = type(value)
        return lambda fetched: kind(p(fetched) for p in parts)
    return lambda fetched: value


class Compiled:
    """One traced and compiled graph of a function for one signature of its arguments."""

    def __init__(self, fn, args):
        from .common.tensor import Tensor

        global current
        if current is not None:
            raise TraceError(f"{_where()}: a jit function called inside another (nested graphs)")
        tracer = Tracer()
        self.positions = [k for k, a in enumerate(args) if isinstance(a, Tensor)]
        traced_args = list(args)
        for k in self.positions:
            a = args[k]
            traced_args[k] = Traced(tracer, tracer.graph.input(f"input{k}", a.dtype, a.shape))
        current = tracer
        try:
            out = fn(*traced_args)
            tracer.finish()
        finally:
            current = None
            for p, _, _, original in tracer.parameters.values():
                if isinstance(p.data, Traced):
                    p.data = original
        fetches = []
        self.rebuild = _flatten(out, fetches)
        self.training = tracer.loss is not None
        if self.training:
            fetches.append(tracer.loss)
        self.tracer = tracer
        self.graph = tracer.graph
        self.graph.compile(fetches)
        # What Python's Parameters held when they entered the graph: a changed one is sent again.
        self.synced = {id(p): (p, name, p.data) for p, name, _, _ in tracer.parameters.values()}

    def __call__(self, args):
        from .common.tensor import Tensor

        for p, name, held in self.synced.values():
            if p.data is not held:
                self.graph.set_parameter(name, p.data._engine_tensor())
        if self.training:
            _steps.check()
        fetched = self.graph.run([args[k]._engine_tensor() for k in self.positions])
        tensors = [Tensor._from_engine(t) for t in fetched]
        # The graph's assignments updated its store: Python's Parameters read the new values.
        for key, (p, name, _) in self.synced.items():
            p.data = Tensor._from_engine(self.graph.get_parameter(name))
            self.synced[key] = (p, name, p.data)
        if self.training:
            loss = tensors.pop()
            _steps.step_done(loss.asnumpy() if _steps._options.losses() else 0.0)
            _steps.trace_parameters()
        return self.rebuild(tensors)


def _signature(args):
    from .common.tensor import Tensor

    key = [mode_epoch]
    for a in args:
        if isinstance(a, Tensor):
            key.append(("tensor", tuple(a.shape), str(a.dtype)))
        else:
            try:
                hash(a)
                key.append(("value", a))
            except TypeError:
                key.append(("object", id(a)))
    return tuple(key)


class JitFunction:
    """``jit(fn)``: traced and compiled on the first call of each argument signature."""

    def __init__(self, fn):
        self.fn = fn
        self.graphs = {}
        functools.update_wrapper(self, fn)

    def __call__(self, *args):
        from .common.tensor import Tensor

        if tracing() or _pynative.recording():
            return self.fn(*args)  # inside a trace or a PyNative gradient: part of the outer program
        args = tuple(Tensor(a) if not isinstance(a, (Tensor, int, float, str, bool, type(None))) and hasattr(a, "__array__") else a
                     for a in args)
        key = _signature(args)
        graph = self.graphs.get(key)
        if graph is None:
            graph = self.graphs[key] = Compiled(self.fn, args)
        return graph(args)

    def __get__(self, instance, owner):
        if instance is None:
            return self
        bound = instance.__dict__.get("_jit_bound_" + self.fn.__name__)
        if bound is None:
            bound = JitFunction(self.fn.__get__(instance, owner))
            instance.__dict__["_jit_bound_" + self.fn.__name__] = bound
        return bound


def jit(function=None, *args, **kwargs):
    """``mindspore.jit``, as a decorator (``@jit``, ``@jit(...)``) or a call (``jit(fn)``): the
    function runs as a compiled graph on the simulated card (options are accepted; NPUSim has one
    graph compiler)."""
    if function is None:
        return lambda f: JitFunction(f)
    return JitFunction(function)
