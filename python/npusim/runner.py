"""Runs a user's MindSpore script on NPUSim: ``npusim run train.py [flags] [-- script args]``
(which calls ``python -m npusim.runner``). Every ``import mindspore[.x]`` resolves to
``npusim.mindspore[.x]``, also where a real MindSpore is installed; the script runs as
``__main__`` with its own ``sys.argv``. An API NPUSim lacks stops the run with one line naming it
and the script's file:line (exit 2), never a traceback.
"""
import argparse
import importlib
import importlib.abc
import importlib.util
import os
import runpy
import sys

from .errors import Unsupported


class MindSporeAlias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Resolves ``mindspore`` and its submodules to ``npusim.mindspore``'s."""

    def find_spec(self, fullname, path, target=None):
        if fullname == "mindspore" or fullname.startswith("mindspore."):
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        try:
            return importlib.import_module("npusim." + spec.name)
        except ModuleNotFoundError as e:
            if e.name and e.name.startswith("npusim.mindspore"):
                raise Unsupported(f"module {spec.name}") from None
            raise

    def exec_module(self, module):
        pass


def install():
    """Puts the alias first on the import path (before any installed MindSpore)."""
    if not any(isinstance(f, MindSporeAlias) for f in sys.meta_path):
        sys.meta_path.insert(0, MindSporeAlias())
    for name in [n for n in sys.modules if n == "mindspore" or n.startswith("mindspore.")]:
        del sys.modules[name]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="npusim run", description="Run a MindSpore script on the simulated card.")
    parser.add_argument("script")
    parser.add_argument("--seed", type=int, help="replaces every set_seed value, or calls set_seed(N) first")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    script = options.script
    if not os.path.isfile(script):
        print(f"error: {script}: no such file (the training script was not found)", file=sys.stderr)
        return 2
    install()
    from .mindspore.common import seed as seed_rules

    if options.seed is not None:
        seed_rules.override(options.seed)
    script_args = options.args[1:] if options.args[:1] == ["--"] else options.args
    sys.argv = [script] + script_args
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    from .mindspore.nn._tracing import TraceError

    try:
        runpy.run_path(script, run_name="__main__")
    except (Unsupported, TraceError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
