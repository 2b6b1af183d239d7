"""Graph capture by tracing: ``construct`` runs once on symbolic values; each leaf cell it calls
(a layer the engine has) becomes a node of the training-script format's ``nodes:`` network,
named by the cell's attribute path (so its parameters keep MindSpore's names, ``fc1.weight``),
and ``+``/``*`` of two values become ``Add``/``Mul`` nodes. Python control flow on Python values
runs at trace time; reading a symbolic value's number is an error naming the line."""
import inspect
import os

from ...errors import Unsupported

#: The tracer of the network being captured, if any.
current = None


class Symbol:
    """A value of the traced network: the node that computes it."""

    def __init__(self, tracer, name):
        self._tracer, self.name = tracer, name

    def __add__(self, other):
        return self._tracer.binary("Add", self, other)

    def __mul__(self, other):
        return self._tracer.binary("Mul", self, other)

    __radd__, __rmul__ = __add__, __mul__

    def _value(self, *args):
        frame = next((f for f in inspect.stack()[1:] if "npusim" + os.sep not in f.filename), None)
        where = f"{frame.filename}:{frame.lineno}" if frame else "<unknown>"
        raise TraceError(f"{where}: construct depends on a tensor's value — not capturable by tracing; use ops.select, or PYNATIVE_MODE")

    __bool__ = __float__ = __int__ = __index__ = asnumpy = _value


class TraceError(Exception):
    """A construct that tracing cannot capture."""


class Tracer:
    def __init__(self, network):
        self.paths = {id(cell): path for path, cell in network.cells_and_names()}
        self.lines, self.used = [], set()

    def name(self, wanted):
        name, k = wanted, 1
        while name in self.used:
            name, k = f"{wanted}_{k}", k + 1
        self.used.add(name)
        return name

    def call(self, cell, inputs):
        if type(cell)._layer_spec is type(cell).__mro__[-2]._layer_spec and hasattr(cell, "construct"):
            return cell.construct(*inputs)  # a container: its construct calls its cells
        if len(inputs) != 1 or not isinstance(inputs[0], Symbol):
            raise Unsupported(f"{type(cell).__name__} called on {len(inputs)} inputs or on a value that is not the network's")
        path = self.paths.get(id(cell)) or type(cell).__name__.lower()
        if cell._params and path in self.used:
            raise Unsupported(f"the cell '{path}' with parameters called twice (shared weights)")
        name = self.name(path)
        kind, args = cell._layer_spec()
        self.lines.append(f"    - {{name: {name}, {kind}: {_mapping(args)}, input: {inputs[0].name}}}")
        return Symbol(self, name)

    def binary(self, kind, a, b):
        if not isinstance(a, Symbol) or not isinstance(b, Symbol):
            raise Unsupported(f"{kind} of a network value and a constant")
        name = self.name(kind.lower())
        self.lines.append(f"    - {{name: {name}, {kind}: {{}}, inputs: [{a.name}, {b.name}]}}")
        return Symbol(self, name)


def _yaml(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def _mapping(args):
    return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in args.items()) + "}"


def trace(network):
    """The network's `nodes:` lines and its output node."""
    global current
    tracer = Tracer(network)
    current = tracer
    try:
        out = network.construct(Symbol(tracer, "data")) if hasattr(network, "construct") else None
    finally:
        current = None
    if not isinstance(out, Symbol):
        raise Unsupported("a construct that does not return the network's value")
    return tracer.lines, out.name
