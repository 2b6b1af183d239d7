"""The run's training steps, counted wherever they happen (a gradient function's call, a step of
``Model.train``): ``--steps N`` ends the script cleanly after N steps, ``NPUSIM_HOST_LOSSES=N``
(what ``npusim check`` sets) after the host has seen N losses (one per sink in sink mode), and
``--losses FILE`` gets every step's loss (written when the script ends, durably)."""

import itertools
import sys
import weakref

import numpy as np

from .. import _durable, _engine, _options

#: (epoch or None, step, loss, visible) of every step so far, when --losses asks for them.
records = []
#: Every live Parameter with its creation number (npusim check compares their final values).
_order = weakref.WeakKeyDictionary()
_counter = itertools.count()
#: The engine models Model.train ran (their cards are what a profile shows).
models = []
#: Steps run so far, and losses the host saw (fewer in sink mode).
done = 0
seen = 0


class StepLimit(Exception):
    """``--steps N`` reached: the runner ends the script here, successfully."""


def check():
    """Before a step: ends the script when ``--steps`` are done or the host has seen its losses."""
    limit, losses = _options.steps(), _options.host_losses()
    if (limit is not None and done >= limit) or (losses is not None and seen >= losses):
        raise StepLimit()


def steps_left(per_visible):
    """How many more steps may run (None: no limit) when the host sees one loss every
    ``per_visible`` steps."""
    left = []
    if _options.steps() is not None:
        left.append(_options.steps() - done)
    if _options.host_losses() is not None:
        left.append((_options.host_losses() - seen) * per_visible)
    return max(min(left), 0) if left else None


def step_done(loss, epoch=None, step=None, visible=True, count=1):
    """After a step the host saw (``count`` steps run since the last one it saw: a sink's), or
    with ``visible`` False a step a sink hid (already counted by its sink's visible step)."""
    global done, seen
    if visible:
        done += count
        seen += 1
    if _options.losses():
        records.append((epoch, step if step is not None else done, float(loss), visible))


def write_profile():
    """``npusim profile``: the run's cards in the Ascend layout, and what the command prints."""
    folder = _options.profile()
    if not folder:
        return
    from . import _pynative
    cards = len(models) + (_pynative._context is not None)
    if cards == 0:
        print("npusim profile: the script ran nothing on the card", file=sys.stderr)
        return
    text = _engine.write_profile(folder, models, _pynative._context)
    print(f"profile of {done} step{'s' if done != 1 else ''}: {folder}/ASCEND_PROFILER_OUTPUT/, {folder}/timeline.svg")
    print(text)


_trace = None


def trace_parameters(values=None):
    """``NPUSIM_PARAMETER_TRACE=FILE`` (what ``npusim drift`` sets): after each step the host saw,
    the trainable parameters' values (``values``, or every live trainable Parameter's in creation
    order) appended as one record of float32; the file starts with the record's length (uint64)."""
    global _trace
    path = _options.parameter_trace()
    if not path:
        return
    if values is None:
        values = [p.asnumpy() for p, _ in sorted(_order.items(), key=lambda item: item[1]) if p.requires_grad]
    record = np.concatenate([np.asarray(v, dtype=np.float32).ravel() for v in values]) if values else np.zeros(0, np.float32)
    if _trace is None:
        _trace = open(path, "wb")
        _trace.write(np.uint64(record.size).tobytes())
    _trace.write(record.tobytes())
    _trace.flush()


def write_parameters():
    """``NPUSIM_FINAL_PARAMETERS=FILE`` (what ``npusim check`` sets): every live Parameter's
    final value, named ``K:NAME`` by creation order, in a safetensors file."""
    path = _options.final_parameters()
    if not path:
        return
    live = sorted(_order.items(), key=lambda item: item[1])
    _engine.write_checkpoint(path, [(f"{k:06d}:{p.name}", p.asnumpy()) for k, (p, _) in enumerate(live)])


def register(parameter):
    """Called by every new Parameter."""
    _order[parameter] = next(_counter)


def write_losses():
    """Writes --losses' CSV: ``epoch,step,loss`` (``step,loss`` for hand loops, steps counted
    from 1), with ``visible`` when --hidden-steps; a temporary file renamed into place."""
    path = _options.losses()
    if not path:
        return
    hidden = _options.hidden_steps()
    epochs = any(r[0] is not None for r in records)
    rows = ["epoch,step,loss" + (",visible" if hidden else "") if epochs else "step,loss"]
    for epoch, step, loss, visible in records:
        if not visible and not hidden:
            continue
        rows.append((f"{epoch},{step},{loss!r}" if epochs else f"{step},{loss!r}") + ((",true" if visible else ",false") if hidden and epochs else ""))
    _durable.write_text(path, "\n".join(rows) + "\n")
