"""``mindspore.dataset.vision`` so far: the transforms the engine computes as MindSpore does:
``Rescale``, ``Normalize``, ``HWC2CHW``, ``Resize`` (bilinear), ``RandomCrop``,
``RandomHorizontalFlip``; and ``Inter``."""
import enum

from ...errors import Unsupported


__all__ = ["Inter", "Resize", "Rescale", "Normalize", "HWC2CHW", "RandomHorizontalFlip", "RandomCrop"]

class Inter(enum.Enum):
    """Interpolation modes (the engine has LINEAR, MindSpore's default)."""
    NEAREST = 0
    LINEAR = 1
    BILINEAR = 1
    CUBIC = 2
    BICUBIC = 2
    AREA = 3
    PILCUBIC = 4
    ANTIALIAS = 5


class Resize:
    """``Resize(size, interpolation=Inter.LINEAR)``: ``size`` (height, width), or one number for a
    square image; bilinear as MindSpore (OpenCV) computes it, on the uint8 image until a Rescale
    or Normalize, else in float32."""

    def __init__(self, size, interpolation=Inter.LINEAR):
        if interpolation != Inter.LINEAR:
            raise Unsupported(f"Resize(interpolation={interpolation})", "Inter.LINEAR")
        if isinstance(size, int):
            self.size, self.square = [size, size], True
        else:
            if len(size) != 2:
                raise ValueError(f"Size should be a single integer or a list/tuple (h, w) of length 2, but got {size}.")
            self.size, self.square = [int(size[0]), int(size[1])], False

    def _spec(self):
        return f"Resize: {{size: {self.size}}}"


def _list(values):
    return "[" + ", ".join(repr(float(v)) for v in values) + "]"


class Rescale:
    """``Rescale(rescale, shift)``: x·rescale + shift in float32."""

    def __init__(self, rescale, shift):
        self.rescale, self.shift = float(rescale), float(shift)

    def _spec(self):
        return f"Rescale: {{rescale: {self.rescale!r}, shift: {self.shift!r}}}"


class Normalize:
    """``Normalize(mean, std, is_hwc=True)``: (x − mean[c]) / std[c] over the channels (last axis)."""

    def __init__(self, mean, std, is_hwc=True):
        if not is_hwc:
            raise Unsupported("Normalize(is_hwc=False)")
        self.mean, self.std = list(mean), list(std)

    def _spec(self):
        return f"Normalize: {{mean: {_list(self.mean)}, std: {_list(self.std)}}}"


class HWC2CHW:
    """``HWC2CHW()``: [H, W, C] to [C, H, W]."""

    def _spec(self):
        return "HWC2CHW: {}"


class RandomHorizontalFlip:
    """``RandomHorizontalFlip(prob=0.5)``: mirrors the width axis, drawn as MindSpore's C++ op draws (mt19937 from the dataset seed)."""

    def __init__(self, prob=0.5):
        self.prob = float(prob)

    def _spec(self):
        return f"RandomHorizontalFlip: {{prob: {self.prob!r}}}"


class RandomCrop:
    """``RandomCrop(size, padding=None, pad_if_needed=False, fill_value=0)``: pads (constant), then crops at a position drawn as MindSpore's C++ op draws."""

    def __init__(self, size, padding=None, pad_if_needed=False, fill_value=0, padding_mode=None):
        if padding_mode not in (None, "constant") and str(padding_mode).lower().split(".")[-1] != "constant":
            raise Unsupported("RandomCrop with a padding mode other than CONSTANT")
        self.size, self.padding, self.pad_if_needed, self.fill_value = size, padding, pad_if_needed, fill_value

    def _spec(self):
        parts = [f"size: {list(self.size) if isinstance(self.size, (list, tuple)) else self.size}"]
        if self.padding is not None:
            parts.append(f"padding: {list(self.padding) if isinstance(self.padding, (list, tuple)) else self.padding}")
        parts.append(f"pad_if_needed: {'true' if self.pad_if_needed else 'false'}")
        fill = self.fill_value
        parts.append(f"fill_value: {list(fill) if isinstance(fill, (list, tuple)) else fill}")
        return f"RandomCrop: {{{', '.join(parts)}}}"


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)  # the import system's probes (__path__, __file__)
    raise Unsupported(f"mindspore.dataset.vision.{name}")
