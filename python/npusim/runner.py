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

from .errors import InputError, Unsupported


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


#: The flags that reach the script's process as environment variables (npusim/_options.py).
FLAGS = {"mode": "NPUSIM_MODE", "determinism": "NPUSIM_DETERMINISM", "order_seed": "NPUSIM_ORDER_SEED", "device": "NPUSIM_DEVICE",
         "cards": "NPUSIM_CARDS", "epochs": "NPUSIM_EPOCHS", "steps": "NPUSIM_STEPS", "sink_size": "NPUSIM_SINK_SIZE",
         "losses": "NPUSIM_LOSSES", "host_losses": "NPUSIM_HOST_LOSSES", "profile": "NPUSIM_PROFILE",
         "final_parameters": "NPUSIM_FINAL_PARAMETERS", "parameter_trace": "NPUSIM_PARAMETER_TRACE"}


def positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def order_seed(text):
    if text == "entropy":
        return text
    value = int(text)
    if not 0 <= value <= 0xFFFFFFFF:
        raise argparse.ArgumentTypeError(f"must be 0 to 4294967295 or 'entropy', got {text}")
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(prog="npusim run", description="Run a MindSpore script on the simulated card.")
    parser.add_argument("script")
    parser.add_argument("--seed", type=int, help="replaces every set_seed value, or calls set_seed(N) first")
    parser.add_argument("--mode", choices=["graph", "pynative"], help="overrides set_context(mode=...)")
    parser.add_argument("--determinism", choices=["off", "on", "strict"], help="overrides set_context(deterministic=...)")
    parser.add_argument("--order-seed", type=order_seed, help="replays one order stream under off")
    parser.add_argument("--device", help="the simulated card: a built-in profile")
    parser.add_argument("--cards", type=positive, help="data-parallel cards for Model.train")
    parser.add_argument("--epochs", type=positive, help="overrides Model.train's epochs")
    parser.add_argument("--steps", type=positive, help="ends the script cleanly after N training steps")
    parser.add_argument("--sink", dest="sink", action="store_true", default=None, help="dataset sink mode for Model.train")
    parser.add_argument("--no-sink", dest="sink", action="store_false")
    parser.add_argument("--sink-size", type=int, help="steps per sink (-1: an epoch)")
    parser.add_argument("--losses", help="write every step's loss to this CSV file")
    parser.add_argument("--hidden-steps", action="store_true", help="with --losses: the steps a sink hides too")
    parser.add_argument("--host-losses", type=positive, help="ends the script once the host has seen N losses (npusim check)")
    parser.add_argument("--parameter-trace", help="append the trainable parameters after every step to this file (npusim drift)")
    parser.add_argument("--observe", help="record:PATH, compare:PATH:REFERENCE or capture:PATH:INDEX — every op launch (npusim localize)")
    parser.add_argument("--final-parameters", help="write every Parameter's final value here (safetensors; npusim check)")
    parser.add_argument("--profile", help="write the run's profile (Ascend layout) into this folder (npusim profile)")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    script = options.script
    if not os.path.isfile(script):
        print(f"error: {script}: no such file (the training script was not found)", file=sys.stderr)
        return 2
    if options.hidden_steps and not options.losses:
        print("error: --hidden-steps needs --losses FILE.csv", file=sys.stderr)
        return 2
    if options.losses:
        folder = os.path.dirname(os.path.abspath(options.losses))
        if not os.path.isdir(folder):
            print(f"error: --losses {options.losses}: the folder {folder} does not exist", file=sys.stderr)
            return 2
    for flag, variable in FLAGS.items():
        value = getattr(options, flag)
        if value is not None:
            os.environ[variable] = str(value)
    if options.sink is not None:
        os.environ["NPUSIM_SINK"] = "1" if options.sink else "0"
    if options.hidden_steps:
        os.environ["NPUSIM_HIDDEN_STEPS"] = "1"
    install()
    from . import _engine
    if options.observe:
        mode, path, *rest = options.observe.split(":")
        _engine.observe_begin(mode, path, reference=rest[0] if mode == "compare" else None, index=int(rest[0]) if mode == "capture" else 0)
    from .mindspore.common import seed as seed_rules

    if options.seed is not None:
        seed_rules.override(options.seed)
    script_args = options.args[1:] if options.args[:1] == ["--"] else options.args
    sys.argv = [script] + script_args
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    from .mindspore.nn._tracing import TraceError
    from .mindspore import _steps

    try:
        runpy.run_path(script, run_name="__main__")
    except _steps.StepLimit:
        pass  # --steps N: the script ends cleanly after N steps
    except BrokenPipeError:
        # The reader of the output went away (`| head`): stop quietly, as a shell tool does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except (Unsupported, TraceError, InputError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        _steps.write_losses()
        if options.observe:
            _engine.observe_end()
    _steps.write_parameters()
    _steps.write_profile()
    return 0


if __name__ == "__main__":
    sys.exit(main())
