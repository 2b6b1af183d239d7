"""NPUSim from Python: the simulated card's engine (libnpusim.so) through ctypes.

``npusim.mindspore`` is MindSpore's API on the simulated card (growing: Docs/Python.md);
the names here are the engine's C ABI as Python calls: tensors, MindSpore's initializers.
"""
from ._engine import ABI_VERSION, NpusimError, Tensor, abi_version, initializer_fill, library_path
from .errors import Unsupported

__all__ = ["ABI_VERSION", "NpusimError", "Tensor", "Unsupported", "abi_version", "initializer_fill", "library_path"]
