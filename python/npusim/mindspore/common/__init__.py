"""``mindspore.common``: dtypes, ``Tensor``, initializers."""
from . import dtype, initializer
from .tensor import Tensor
