"""``mindspore.amp`` so far: the loss-scale managers ``Model`` takes (MindSpore 2.10's
``mindspore/train/loss_scale_manager.py``; the arguments are checked as MindSpore checks them)."""
from ...errors import Unsupported

__all__ = ["LossScaleManager", "FixedLossScaleManager", "DynamicLossScaleManager"]


def _number(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"The argument '{name}' must be a number, but got {type(value).__name__}")
    return value


class LossScaleManager:
    """The loss-scale managers' base class."""

    def _spec(self):
        raise Unsupported(f"{type(self).__name__} as a loss_scale_manager", "FixedLossScaleManager and DynamicLossScaleManager")


class FixedLossScaleManager(LossScaleManager):
    """``FixedLossScaleManager(loss_scale=128.0, drop_overflow_update=True)``."""

    def __init__(self, loss_scale=128.0, drop_overflow_update=True):
        if _number("loss_scale", loss_scale) < 1:
            raise ValueError(f"The argument 'loss_scale' must be >= 1, but got {loss_scale}")
        self._loss_scale, self._drop_overflow_update = loss_scale, bool(drop_overflow_update)

    def get_loss_scale(self):
        return self._loss_scale

    def get_drop_overflow_update(self):
        return self._drop_overflow_update

    def _spec(self):
        return "FixedLossScaleManager", {"loss_scale": float(self._loss_scale), "drop_overflow_update": self._drop_overflow_update}


class DynamicLossScaleManager(LossScaleManager):
    """``DynamicLossScaleManager(init_loss_scale=2**24, scale_factor=2, scale_window=2000)``."""

    def __init__(self, init_loss_scale=2 ** 24, scale_factor=2, scale_window=2000):
        if _number("init_loss_scale", init_loss_scale) < 1.0:
            raise ValueError(f"The argument 'init_loss_scale' must be > 1, but got {init_loss_scale}")
        if isinstance(scale_window, bool) or not isinstance(scale_window, int) or scale_window <= 0:
            raise ValueError(f"For 'DynamicLossScaleManager', the 'scale_window' must be a positive int, but got {scale_window}")
        if _number("scale_factor", scale_factor) <= 0:
            raise ValueError(f"The argument 'scale_factor' must be > 0, but got {scale_factor}")
        if scale_factor != int(scale_factor):
            raise Unsupported(f"DynamicLossScaleManager(scale_factor={scale_factor})", "a whole scale_factor")
        self.loss_scale, self.scale_factor, self.scale_window = init_loss_scale, int(scale_factor), scale_window

    def get_loss_scale(self):
        return self.loss_scale

    def get_drop_overflow_update(self):
        return True

    def _spec(self):
        return "DynamicLossScaleManager", {"init_loss_scale": float(self.loss_scale), "scale_factor": self.scale_factor,
                                           "scale_window": self.scale_window}
