"""``mindspore.dataset.transforms`` so far: ``TypeCast`` (to float32 on the image column — the
engine's samples are float32 already — or to an integer type on the label column)."""
import numpy as np

from ...errors import Unsupported


__all__ = ["TypeCast"]

class TypeCast:
    """``TypeCast(data_type)``: to float32 on the image column, to an integer type on the label column (the engine's labels are int32)."""

    def __init__(self, data_type):
        self.data_type = np.dtype(data_type) if not hasattr(data_type, "kind") else data_type

    def _spec(self):
        if np.dtype(self.data_type) != np.float32:
            raise Unsupported(f"TypeCast to {self.data_type} on the image column", "float32")
        return "TypeCast: {data_type: float32}"


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)  # the import system's probes (__path__, __file__)
    raise Unsupported(f"mindspore.dataset.transforms.{name}")
