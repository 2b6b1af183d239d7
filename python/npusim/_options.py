"""The run's NPUSim switches: ``npusim run train.py``'s flags, passed to the script's process as
environment variables (so they reach a script however it imports the shim). A flag wins over
the script's own call (``set_context``, ``Model.train``'s arguments), which wins over the default.

``NPUSIM_MODE`` (graph/pynative), ``NPUSIM_DETERMINISM`` (off/on/strict), ``NPUSIM_ORDER_SEED``
(a number; ``entropy``: a fresh draw), ``NPUSIM_DEVICE``, ``NPUSIM_CARDS``, ``NPUSIM_EPOCHS``,
``NPUSIM_SINK`` (1/0), ``NPUSIM_SINK_SIZE``, ``NPUSIM_STEPS``, ``NPUSIM_LOSSES`` (a CSV file),
``NPUSIM_HIDDEN_STEPS`` (1: the losses a sink hides too)."""
import os


def _get(name, convert=str):
    value = os.environ.get(name)
    return None if value in (None, "") else convert(value)


def mode():
    return _get("NPUSIM_MODE")


def determinism():
    return _get("NPUSIM_DETERMINISM")


def order_seed():
    """The replayed order stream's seed, or None (OS entropy)."""
    value = _get("NPUSIM_ORDER_SEED")
    return None if value in (None, "entropy") else int(value)


def device():
    return _get("NPUSIM_DEVICE") or "ascend910"


def hccl_determinism():
    """The collectives' policy from HCCL_DETERMINISTIC (true: on, strict: strict, false: off), or
    None: they follow the run's policy."""
    value = (os.environ.get("HCCL_DETERMINISTIC") or "").strip().lower()
    if not value:
        return None
    policies = {"true": "on", "1": "on", "on": "on", "strict": "strict", "false": "off", "0": "off", "off": "off"}
    if value not in policies:
        from .errors import InputError
        raise InputError(f"HCCL_DETERMINISTIC must be true, false or strict, got {value!r}")
    return policies[value]


def cards():
    return _get("NPUSIM_CARDS", int)


def epochs():
    return _get("NPUSIM_EPOCHS", int)


def sink():
    value = _get("NPUSIM_SINK")
    return None if value is None else value == "1"


def sink_size():
    return _get("NPUSIM_SINK_SIZE", int)


def steps():
    return _get("NPUSIM_STEPS", int)


def host_losses():
    return _get("NPUSIM_HOST_LOSSES", int)


def profile():
    """The folder ``npusim profile`` writes into, or None."""
    return _get("NPUSIM_PROFILE")


def parameter_trace():
    return _get("NPUSIM_PARAMETER_TRACE")


def final_parameters():
    return _get("NPUSIM_FINAL_PARAMETERS")


def losses():
    return _get("NPUSIM_LOSSES")


def hidden_steps():
    return _get("NPUSIM_HIDDEN_STEPS") == "1"
