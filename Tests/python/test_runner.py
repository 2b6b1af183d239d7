"""``python -m npusim.runner`` (what ``npusim run train.py`` calls): the script's own
``import mindspore`` gets the shim, its ``sys.argv``, ``--seed``, and one-line errors."""
import os
import subprocess
import sys

import numpy as np

import npusim.mindspore as mindspore
from npusim.mindspore import ops
from npusim.mindspore.common.initializer import Normal, initializer

SCRIPTS = os.path.join(os.path.dirname(__file__), "scripts")


def run(*args):
    return subprocess.run([sys.executable, "-m", "npusim.runner", *args], capture_output=True, text=True)


def expected(seed):
    mindspore.set_seed(seed)
    w = initializer(Normal(0.02), [2, 3], mindspore.float32).asnumpy().tobytes().hex()
    n = ops.uniform((4,), 0.0, 1.0, seed=2).asnumpy().tobytes().hex()
    return w, n


def test_a_script_imports_the_shim_with_its_own_argv():
    r = run(os.path.join(SCRIPTS, "seeds_demo.py"), "--", "--lr", "0.1")
    assert r.returncode == 0, r.stderr
    lines = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    assert lines["argv"] == "['--lr', '0.1']" and lines["module"] == "npusim.mindspore"
    w, n = expected(1)
    assert lines["weight"] == w and lines["noise"] == n


def test_seed_replaces_the_scripts_set_seed():
    r = run("--seed", "7", os.path.join(SCRIPTS, "seeds_demo.py"))
    assert r.returncode == 0, r.stderr
    lines = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    w, n = expected(7)
    assert lines["weight"] == w and lines["noise"] == n
    assert lines["weight"] != expected(1)[0]


def test_an_unsupported_api_is_one_line_naming_it_and_the_line():
    script = os.path.join(SCRIPTS, "unsupported_api.py")
    r = run(script)
    assert r.returncode == 2
    assert r.stderr == f"error: {script}:4: mindspore.jit_class_that_does_not_exist is not supported by NPUSim\n"
    missing = run(os.path.join(SCRIPTS, "nope.py"))
    assert missing.returncode == 2 and "no such file" in missing.stderr


def test_a_data_dependent_branch_in_construct_names_its_line():
    script = os.path.join(SCRIPTS, "data_dependent_if.py")
    r = run(script)
    assert r.returncode == 2
    assert r.stderr == (f"error: {script}:15: construct depends on a tensor's value — not capturable by tracing; "
                        "use ops.select, or PYNATIVE_MODE\n")
