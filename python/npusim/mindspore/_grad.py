"""``mindspore.value_and_grad`` and ``mindspore.grad`` in PyNative: the function runs once with
its ops recorded on the engine's tape; the engine's reverse mode (the one graph mode uses) gives
the gradients of its first output."""
from . import _pynative, _steps
from ..errors import Unsupported
from .common.tensor import Tensor


def _positions(grad_position, count):
    if grad_position is None:
        return None
    positions = (grad_position,) if isinstance(grad_position, int) else tuple(grad_position)
    for p in positions:
        if not isinstance(p, int) or not 0 <= p < count:
            raise ValueError(f"For 'value_and_grad', the 'grad_position' must be in [0, {count}), but got {grad_position}.")
    return positions


def _weights(weights):
    if weights is None:
        return None
    if hasattr(weights, "trainable_params"):
        return weights.trainable_params()
    if hasattr(weights, "data") and not isinstance(weights, (list, tuple)):
        return [weights]
    return list(weights)


def _traced(fn, positions, params, has_aux, sens, args):
    """Inside a graph being traced: the gradient nodes of the engine's reverse mode."""
    from . import _jit
    tracer = _jit.current
    out = fn(*args)
    if has_aux and not isinstance(out, tuple):
        raise ValueError("For 'value_and_grad', with 'has_aux' True the function must return a tuple (loss, aux...)")
    loss = out[0] if isinstance(out, tuple) else out
    if not isinstance(loss, _jit.Traced):
        raise TypeError("For 'value_and_grad', the function's first output must be a Tensor computed from its inputs or weights.")
    targets = []
    for p in positions or ():
        if not isinstance(args[p], _jit.Traced):
            raise TypeError(f"For 'value_and_grad', input {p} is not a Tensor.")
        targets.append(args[p]._id)
    targets += [tracer.parameter(p) for p in params or ()]
    grads = [_jit.Traced(tracer, g) for g in tracer.graph.gradients(loss._id, targets, sens)]
    tracer.loss = loss._id
    return out, grads


def _run(fn, grad_position, weights, has_aux, sens, args):
    from . import _jit
    if _jit.tracing():
        positions, params = _positions(grad_position, len(args)), _weights(weights)
        out, grads = _traced(fn, positions, params, has_aux, sens, args)
        return _shape_result(out, grads, grad_position, positions, params)
    if _pynative.recording():
        raise Unsupported("a gradient function called inside another (higher-order gradients)")
    positions = _positions(grad_position, len(args))
    params = _weights(weights)
    inputs = [a if isinstance(a, Tensor) else Tensor(a) for a in args]
    _steps.check()
    _pynative.record()
    try:
        out = fn(*inputs)
        if has_aux and not isinstance(out, tuple):
            raise ValueError("For 'value_and_grad', with 'has_aux' True the function must return a tuple (loss, aux...)")
        loss = out[0] if isinstance(out, tuple) else out
        if not isinstance(loss, Tensor):
            raise TypeError(f"For 'value_and_grad', the function's first output must be a Tensor, but got {type(loss).__name__}.")
        targets = [inputs[p] for p in positions or ()] + [p.data for p in params or ()]
        grads = _pynative.engine().grad(loss._engine_tensor(), [t._engine_tensor() for t in targets], sens)
    finally:
        _pynative.stop()
    grads = [Tensor._from_engine(g) for g in grads]
    _steps.step_done(loss.asnumpy() if _steps._options.losses() else 0.0)
    return _shape_result(out, grads, grad_position, positions, params)


def _shape_result(out, grads, grad_position, positions, params):
    """(outputs, gradients) as MindSpore shapes them: the inputs' (one or a tuple), the weights'
    (a tuple), or both."""
    n = len(positions or ())
    input_grads = None if positions is None else (grads[0] if isinstance(grad_position, int) else tuple(grads[:n]))
    weight_grads = None if params is None else tuple(grads[n:])
    if input_grads is not None and weight_grads is not None:
        return out, (input_grads, weight_grads)
    return out, (weight_grads if input_grads is None else input_grads)


def value_and_grad(fn, grad_position=0, weights=None, has_aux=False, return_ids=False, sens=1.0):
    """``value_and_grad(fn, grad_position=0, weights=None, has_aux=False)``: a function giving
    ``(fn's outputs, gradients)`` — of the inputs at ``grad_position`` (None: none), of
    ``weights`` (Parameters, or a Cell's trainable ones), or ``(inputs', weights')`` for both; the
    gradient of the first output (the rest are auxiliary when ``has_aux``)."""
    if grad_position is None and weights is None:
        raise ValueError("For 'value_and_grad', 'grad_position' and 'weights' can not be None at the same time.")
    if return_ids:
        raise Unsupported("value_and_grad(return_ids=True)")

    def wrapper(*args):
        return _run(fn, grad_position, weights, has_aux, sens, args)

    return wrapper


def grad(fn, grad_position=0, weights=None, has_aux=False, return_ids=False):
    """``grad(fn, grad_position=0, weights=None, has_aux=False)``: ``value_and_grad``'s
    gradients alone (with ``has_aux``: ``(gradients, aux)``)."""
    inner = value_and_grad(fn, grad_position, weights, has_aux, return_ids)

    def wrapper(*args):
        out, grads = inner(*args)
        if has_aux:
            return grads, out[1:] if len(out) > 2 else out[1]
        return grads

    return wrapper
