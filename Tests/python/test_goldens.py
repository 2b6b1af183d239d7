"""Test scripts against goldens recorded from MindSpore 2.10 CPU (tools/ms_oracle/record.py):
every initial parameter bit-identical (SHA-256 of its bytes); the same LossMonitor lines (steps
exactly, losses within 1e-5 relative) and printed evaluations (values within 1e-5); a gradient
function's losses within 1e-5 relative for the first 20 steps and 1e-4 for all; and the script's
whole output the same, numbers within 1e-4 relative or one unit of their last printed digit."""
import ast
import contextlib
import io
import json
import os
import re
import runpy
import sys

import pytest

from goldens import GOLDENS, SCRIPTS, Recorder

NUMBER = re.compile(r"-?\d+\.\d+(?:e[-+]?\d+)?|-?\d+")


def run_on_npusim(script, seed, tmp_path, args=()):
    from npusim import runner
    import npusim.mindspore as ms
    from npusim.mindspore.common import seed as seed_rules

    runner.install()
    out = io.StringIO()
    argv, cwd = sys.argv, os.getcwd()
    try:
        sys.argv = [script, *args]
        os.chdir(tmp_path)  # what a script saves lands here
        if seed is not None:
            seed_rules.override(seed)
        with Recorder(ms, lambda p: p.name) as recorder, contextlib.redirect_stdout(out):
            runpy.run_path(script, run_name="__main__")
    finally:
        seed_rules._override = None
        sys.argv = argv
        os.chdir(cwd)
    return recorder.golden(out.getvalue())


def same_numbers(ours, theirs, rel=1e-4):
    """Lines equal but for numbers, which agree within ``rel`` or one unit of the last digit."""
    if NUMBER.sub("#", ours) != NUMBER.sub("#", theirs):
        return False
    for a, b in zip(NUMBER.findall(ours), NUMBER.findall(theirs)):
        if "." not in b:  # counts and indices: exact
            if a != b:
                return False
            continue
        digits = len(b.split(".")[1].split("e")[0]) if "." in b else 0
        unit = 10.0 ** -digits * (10.0 ** int(b.split("e")[1]) if "e" in b else 1)
        if abs(float(a) - float(b)) > max(rel * abs(float(b)), unit * 1.0001):
            return False
    return True


@pytest.mark.parametrize("name", sorted(f[:-5] for f in os.listdir(GOLDENS) if f.endswith(".json")))
def test_script_matches_mindspores_golden(name, tmp_path):
    with open(os.path.join(GOLDENS, name + ".json")) as f:
        golden = json.load(f)
    assert golden["mindspore"] == "2.10.0"
    ours = run_on_npusim(os.path.join(SCRIPTS, golden.get("script", name + ".py")), golden.get("seed"), tmp_path, golden.get("args", []))
    assert ours["parameters"] == golden["parameters"]
    assert len(ours["lines"]) == len(golden["lines"])
    for mine, theirs in zip(ours["lines"], golden["lines"]):
        if theirs.startswith("{"):  # a printed evaluation: the same metrics, values within 1e-5
            a, b = ast.literal_eval(mine), ast.literal_eval(theirs)
            assert list(a) == list(b) and all(abs(a[k] - b[k]) <= 1e-5 * max(abs(b[k]), 1e-30) for k in b), (mine, theirs)
            continue
        head, loss = mine.split(", loss is ")
        their_head, their_loss = theirs.split(", loss is ")
        assert head == their_head
        assert abs(float(loss) - float(their_loss)) <= 1e-5 * abs(float(their_loss)), (mine, theirs)
    losses = golden.get("losses", [])
    assert len(ours["losses"]) == len(losses)
    for step, (a, b) in enumerate(zip(ours["losses"], losses)):
        assert abs(a - b) <= (1e-5 if step < 20 else 1e-4) * abs(b), (step, a, b)
    if "stdout" in golden:
        assert len(ours["stdout"]) == len(golden["stdout"]), "\n".join(ours["stdout"])
        for mine, theirs in zip(ours["stdout"], golden["stdout"]):
            if theirs.startswith("Train epoch time:"):  # TimeMonitor: the simulated card's time, not MindSpore CPU's
                assert NUMBER.sub("#", mine) == NUMBER.sub("#", theirs), (mine, theirs)
                continue
            assert same_numbers(mine, theirs), (mine, theirs)


def test_same_numbers_tolerates_only_rounding():
    assert same_numbers("loss: 2.318924  [  0/  8]", "loss: 2.318923  [  0/  8]")
    assert not same_numbers("loss: 2.319523  [  0/  8]", "loss: 2.318923  [  0/  8]")
    assert not same_numbers("loss: 2.318923  [  1/  8]", "loss: 2.318923  [  0/  8]")
    assert not same_numbers("Accuracy: 9.4%", "Accuracy: 9.6%")
