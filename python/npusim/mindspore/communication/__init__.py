"""``mindspore.communication``: one process drives every simulated card (``--cards N``), so the
script is rank 0 of a group of 1; the engine splits the data among the cards and adds their
gradients with its AllReduce."""
from .management import get_group_size, get_rank, init, release

__all__ = ["init", "release", "get_rank", "get_group_size"]
