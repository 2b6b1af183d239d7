"""``mindspore.dataset.vision`` so far: the transforms the engine computes as MindSpore does:
``Rescale``, ``Normalize``, ``HWC2CHW``, ``RandomCrop``, ``RandomHorizontalFlip``."""
from ...errors import Unsupported


def _list(values):
    return "[" + ", ".join(repr(float(v)) for v in values) + "]"


class Rescale:
    def __init__(self, rescale, shift):
        self.rescale, self.shift = float(rescale), float(shift)

    def _spec(self):
        return f"Rescale: {{rescale: {self.rescale!r}, shift: {self.shift!r}}}"


class Normalize:
    def __init__(self, mean, std, is_hwc=True):
        if not is_hwc:
            raise Unsupported("Normalize(is_hwc=False)")
        self.mean, self.std = list(mean), list(std)

    def _spec(self):
        return f"Normalize: {{mean: {_list(self.mean)}, std: {_list(self.std)}}}"


class HWC2CHW:
    def _spec(self):
        return "HWC2CHW: {}"


class RandomHorizontalFlip:
    def __init__(self, prob=0.5):
        self.prob = float(prob)

    def _spec(self):
        return f"RandomHorizontalFlip: {{prob: {self.prob!r}}}"


class RandomCrop:
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
    raise Unsupported(f"mindspore.dataset.vision.{name}")
