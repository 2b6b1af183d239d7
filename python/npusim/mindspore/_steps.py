"""The run's training steps, counted wherever they happen (a gradient function's call, a step of
``Model.train``): ``--steps N`` ends the script cleanly after N, and ``--losses FILE`` gets every
step's loss (written when the script ends, durably)."""
import os
import tempfile

from .. import _options

#: (epoch or None, step, loss, visible) of every step so far, when --losses asks for them.
records = []
done = 0


class StepLimit(Exception):
    """``--steps N`` reached: the runner ends the script here, successfully."""


def check():
    """Before a step: ends the script when ``--steps`` are done."""
    limit = _options.steps()
    if limit is not None and done >= limit:
        raise StepLimit()


def step_done(loss, epoch=None, step=None, visible=True):
    """After a step (``visible`` False: a step a sink hid, which is not counted again)."""
    global done
    if visible:
        done += 1
    if _options.losses():
        records.append((epoch, step if step is not None else done, float(loss), visible))


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
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".losses-")
    try:
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(rows) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
