"""The engine's ``Model.train`` driven from Python (``npusim_model_train``): MindSpore's hooks in
MindSpore's order reach a Python callback, a request to stop stops, an exception comes back, and a
run from MindSpore's own initial weights follows MindSpore 2.10's losses (the fixtures MindSpore
wrote: Tests/NPUScriptTests/Fixtures/mindspore)."""
import os

import numpy as np
import pytest

from npusim._engine import ScriptModel

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "NPUScriptTests", "Fixtures", "mindspore")
TINY = os.path.join(FIXTURES, "tiny.yaml")


def tiny():
    with open(TINY) as f:
        return ScriptModel(f.read(), file=os.path.abspath(TINY))


def test_training_from_mindspores_weights_follows_mindspores_losses():
    model = tiny()
    model.load_checkpoint(os.path.join(FIXTURES, "tiny_init.ckpt"))
    calls = []
    model.train(callback=lambda hook, epoch, step, batch_num, loss: calls.append((hook, epoch, step, batch_num, loss)) and False)
    assert [c[0] for c in calls] == ["on_train_begin", "on_train_epoch_begin", "on_train_step_begin", "on_train_step_end",
                                     "on_train_step_begin", "on_train_step_end", "on_train_epoch_end", "on_train_end"]
    losses = [c[4] for c in calls if c[0] == "on_train_step_end"]
    with open(os.path.join(FIXTURES, "losses.txt")) as f:
        theirs = [float(line) for line in f if line.strip()]
    assert len(losses) == 2 and [c[2] for c in calls if c[0] == "on_train_step_end"] == [1, 2]
    for ours, m in zip(losses, theirs):
        assert abs(ours - m) <= 1e-6 * abs(m)


def test_a_callback_stops_training_or_raises():
    model = tiny()
    steps = []

    def stop_after_one(hook, epoch, step, batch_num, loss):
        if hook == "on_train_step_end":
            steps.append(step)
            return True
        return False

    model.train(epochs=5, callback=stop_after_one)
    assert steps == [1]
    w = model.parameter("fc1.weight")
    assert w.shape == (3, 4) and w.dtype == np.float32

    def broken(hook, epoch, step, batch_num, loss):
        if hook == "on_train_step_end":
            raise KeyError("from the callback")
        return False

    with pytest.raises(KeyError, match="from the callback"):
        model.train(callback=broken)
