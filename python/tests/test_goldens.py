"""Test scripts against goldens recorded from MindSpore 2.10 CPU (tools/ms_oracle/record.py):
the same LossMonitor lines (steps exactly, losses within 1e-5 relative), the same printed
evaluations (values within 1e-5) and every initial
parameter bit-identical (SHA-256 of its bytes)."""
import ast
import contextlib
import hashlib
import io
import json
import os
import runpy
import sys

import pytest

GOLDENS = os.path.join(os.path.dirname(__file__), "goldens")
SCRIPTS = os.path.join(os.path.dirname(__file__), "scripts")


def run_on_npusim(script):
    from npusim import runner
    from npusim.mindspore.train import Model

    runner.install()
    parameters = []
    original = Model.train

    def recording_train(self, *args, **kwargs):
        if not parameters:
            for name, p in self.network.parameters_and_names():
                parameters.append([name, hashlib.sha256(p.asnumpy().tobytes()).hexdigest()])
        return original(self, *args, **kwargs)

    Model.train = recording_train
    out = io.StringIO()
    argv = sys.argv
    try:
        sys.argv = [script]
        with contextlib.redirect_stdout(out):
            runpy.run_path(script, run_name="__main__")
    finally:
        Model.train = original
        sys.argv = argv
    return [l for l in out.getvalue().splitlines() if l.startswith("epoch: ") or l.startswith("{")], parameters


@pytest.mark.parametrize("name", sorted(f[:-5] for f in os.listdir(GOLDENS) if f.endswith(".json")))
def test_script_matches_mindspores_golden(name):
    with open(os.path.join(GOLDENS, name + ".json")) as f:
        golden = json.load(f)
    assert golden["mindspore"] == "2.10.0"
    lines, parameters = run_on_npusim(os.path.join(SCRIPTS, name + ".py"))
    assert parameters == golden["parameters"]
    assert len(lines) == len(golden["lines"])
    for ours, theirs in zip(lines, golden["lines"]):
        if theirs.startswith("{"):  # a printed evaluation: the same metrics, values within 1e-5
            a, b = ast.literal_eval(ours), ast.literal_eval(theirs)
            assert list(a) == list(b) and all(abs(a[k] - b[k]) <= 1e-5 * max(abs(b[k]), 1e-30) for k in b), (ours, theirs)
            continue
        head, loss = ours.split(", loss is ")
        their_head, their_loss = theirs.split(", loss is ")
        assert head == their_head
        assert abs(float(loss) - float(their_loss)) <= 1e-5 * abs(float(their_loss)), (ours, theirs)
