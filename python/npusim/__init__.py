"""NPUSim from Python: the simulated card's engine (libnpusim.so) through ctypes.

``npusim.engine`` is the engine's C ABI as Python calls: tensors, MindSpore's initializers.
The MindSpore front end (``npusim.mindspore``) is built on it.
"""
from ._engine import ABI_VERSION, NpusimError, Tensor, abi_version, initializer_fill, library_path

__all__ = ["ABI_VERSION", "NpusimError", "Tensor", "abi_version", "initializer_fill", "library_path"]
