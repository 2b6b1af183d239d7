"""``mindspore.set_context``/``get_context`` and ``mindspore.context``: what a script sets that
NPUSim acts on (``mode``, ``deterministic``), and MindSpore 2.10's device-selection and tuning
settings, accepted with one notice line each (the simulated card is ``--device``)."""
import sys

from .. import _options
from ..errors import Unsupported

__all__ = ["GRAPH_MODE", "PYNATIVE_MODE", "set_context", "get_context", "set_device"]

GRAPH_MODE = 0
PYNATIVE_MODE = 1

#: MindSpore's defaults (2.10: PYNATIVE_MODE, deterministic OFF).
_settings = {"mode": PYNATIVE_MODE, "deterministic": "OFF", "device_target": "Ascend", "device_id": 0}

# Accepted and noted: device selection and tuning a simulated card has no use for.
_NOTED = {"device_target", "device_id", "save_graphs", "save_graphs_path", "max_call_depth", "enable_graph_kernel",
          "graph_kernel_flags", "max_device_memory", "mempool_block_size", "variable_memory_max_size", "runtime_num_threads",
          "inter_op_parallel_num", "memory_optimize_level", "jit_config", "ascend_config", "op_timeout", "pynative_synchronize",
          "enable_compile_cache", "compile_cache_path", "print_file_path", "env_config_path", "precompile_only",
          "enable_reduce_precision", "check_bprop", "jit_level", "device_context"}
_noticed = set()


def _notice(key, value):
    if key not in _noticed:
        _noticed.add(key)
        print(f"npusim: set_context({key}={value!r}) accepted; the simulated card is the run's --device", file=sys.stderr)


def set_context(**kwargs):
    """MindSpore's ``set_context``: ``mode`` (GRAPH_MODE or PYNATIVE_MODE) and ``deterministic``
    ("ON" or "OFF": the reduction-order policy ``on``/``off``) act; device selection and tuning
    are accepted with a notice; anything else raises ``npusim.Unsupported``."""
    for key, value in kwargs.items():
        if key == "mode":
            if value not in (GRAPH_MODE, PYNATIVE_MODE):
                raise ValueError(f"For 'context.set_context', the argument 'mode' should be context.GRAPH_MODE (0) or context.PYNATIVE_MODE (1), but got {value}.")
        elif key == "deterministic":
            if value not in ("ON", "OFF"):
                raise ValueError(f"For 'context.set_context', the argument 'deterministic' should be 'ON' or 'OFF', but got {value!r}.")
        elif key in _NOTED:
            _notice(key, value)
        else:
            raise Unsupported(f"set_context({key}=...)")
        _settings[key] = value


def get_context(attr_key):
    """The value ``set_context`` set (or MindSpore's default)."""
    if attr_key not in _settings:
        raise Unsupported(f"get_context({attr_key!r})")
    if attr_key == "mode" and _options.mode():
        return GRAPH_MODE if _options.mode() == "graph" else PYNATIVE_MODE  # --mode wins
    return _settings[attr_key]


def set_device(device_target, device_id=None):
    """MindSpore 2.10's ``set_device``: accepted with a notice (the simulated card is --device)."""
    _notice("device_target", device_target)
    _settings["device_target"] = device_target
    if device_id is not None:
        _settings["device_id"] = device_id
