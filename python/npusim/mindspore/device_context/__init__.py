"""``mindspore.device_context``: MindSpore 2.10's device tuning calls
(``device_context.ascend.op_precision.precision_mode(...)``,
``device_context.cpu.op_tuning.threads_num(...)``, ``device_context.ascend.device_count()``, …)
are accepted with one notice line each: the simulated card is the run's ``--device``. Queries
answer for the simulated card (one device)."""
import sys

_noticed = set()


class _Namespace:
    """A ``device_context`` path (``ascend.op_precision``): any attribute is a deeper path, and a
    call is accepted with a notice."""

    def __init__(self, path):
        self._path = path

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return _Namespace(f"{self._path}.{name}")

    def __call__(self, *args, **kwargs):
        if self._path.endswith((".device_count", ".is_available")):
            return 1 if self._path.endswith(".device_count") else True
        if self._path not in _noticed:
            _noticed.add(self._path)
            print(f"npusim: mindspore.{self._path}(...) accepted; the simulated card is the run's --device", file=sys.stderr)
        return None

    def __repr__(self):
        return f"<mindspore.{self._path} (accepted by NPUSim)>"


ascend = _Namespace("device_context.ascend")
cpu = _Namespace("device_context.cpu")
gpu = _Namespace("device_context.gpu")

__all__ = ["ascend", "cpu", "gpu"]
