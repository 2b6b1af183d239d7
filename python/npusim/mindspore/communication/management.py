"""``mindspore.communication.management``: ``init`` is accepted with a notice; the script is
rank 0 of 1 (the engine simulates ``--cards N`` itself, sharding the data and running AllReduce)."""
import sys

__all__ = ["init", "release", "get_rank", "get_group_size"]
_noticed = False


def init(backend_name=None):
    """Accepted with one notice line: collectives run on the simulated cards (``--cards``)."""
    global _noticed
    if not _noticed:
        _noticed = True
        print("npusim: communication.init() accepted; the run's --cards simulates the cards in this process", file=sys.stderr)


def release():
    """Accepted."""


def get_rank(group=None):
    """0: this process drives every simulated card."""
    return 0


def get_group_size(group=None):
    """1: the engine shards the data among ``--cards`` itself."""
    return 1


def __getattr__(name):
    from ...errors import Unsupported
    if name.startswith("__"):
        raise AttributeError(name)
    raise Unsupported(f"mindspore.communication.management.{name}")
