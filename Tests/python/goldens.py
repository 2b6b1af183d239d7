"""What a golden holds, recorded the same way from MindSpore (tools/ms_oracle/record.py) and from
NPUSim (test_goldens.py): the script's output, its LossMonitor lines and printed evaluations,
every step's loss of its ``value_and_grad`` functions, and the SHA-256 of every initial
parameter (when ``Model.train`` starts or a gradient function is first called)."""
import hashlib
import os

GOLDENS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "goldens")
SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scripts")


class Recorder:
    """Hooks ``Model.train`` and ``value_and_grad`` of a MindSpore module (the real one or
    NPUSim's) while in a ``with`` block; ``name(p)`` gives a parameter's name."""

    def __init__(self, ms, name):
        self.ms, self.name = ms, name
        self.parameters, self.losses = [], []

    def _hash(self, params):
        if not self.parameters:
            for p in params:
                self.parameters.append([self.name(p), hashlib.sha256(p.asnumpy().tobytes()).hexdigest()])

    def __enter__(self):
        from importlib import import_module

        train = import_module(self.ms.__name__ + ".train")
        self._model, self._train, self._vag = train.Model, train.Model.train, self.ms.value_and_grad
        recorder = self

        def recording_train(model, *args, **kwargs):
            network = getattr(model, "_network", None) or model.network
            recorder._hash(network.trainable_params())
            return recorder._train(model, *args, **kwargs)

        def recording_value_and_grad(fn, grad_position=0, weights=None, has_aux=False, *rest, **kwargs):
            inner = recorder._vag(fn, grad_position, weights, has_aux, *rest, **kwargs)
            params = list(weights.trainable_params() if hasattr(weights, "trainable_params") else (weights or []))

            def wrapper(*args):
                recorder._hash(params)
                out, grads = inner(*args)
                loss = out[0] if isinstance(out, tuple) else out
                recorder.losses.append(float(loss.asnumpy()))
                return out, grads

            return wrapper

        self._model.train = recording_train
        self.ms.value_and_grad = recording_value_and_grad
        return self

    def __exit__(self, *exc):
        self._model.train = self._train
        self.ms.value_and_grad = self._vag
        return False

    def golden(self, output):
        """The golden's recorded fields, from the script's ``output``."""
        lines = [l for l in output.splitlines() if l.startswith("epoch: ") or l.startswith("{")]
        return {"lines": lines, "losses": self.losses, "parameters": self.parameters, "stdout": output.splitlines()}
