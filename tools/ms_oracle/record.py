"""Records a test script's golden file from MindSpore 2.10 CPU: a developer tool, outside CI.

    python3 -m venv /tmp/msvenv && /tmp/msvenv/bin/pip install "mindspore==2.10.0" "numpy<2"
    /tmp/msvenv/bin/python tools/ms_oracle/record.py [--seed N] [--name NAME] SCRIPT [-- ARGS...]

runs SCRIPT under the real MindSpore on one CPU thread (``--seed N``: as ``npusim run --seed N``
does, every ``set_seed`` value replaced by N and ``set_seed(N)`` called first) and writes
Tests/python/goldens/<NAME or the script's name>.json (with the script's ARGS, its sys.argv): MindSpore's version, the command, the script's whole output,
the LossMonitor lines and printed evaluations, every step's loss of a ``value_and_grad`` function,
and the name and SHA-256 of every parameter's initial value (taken when ``Model.train`` starts
or the gradient function is first called). Tests/python/test_goldens.py runs the same script on
NPUSim and compares (goldens.py holds the hooks both sides use).
"""
import contextlib
import io
import json
import os
import runpy
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "python"))
import goldens  # noqa: E402


def main():
    args = sys.argv[1:]
    seed = name = None
    while args[:1] in (["--seed"], ["--name"]):
        if args[0] == "--seed":
            seed = int(args[1])
        else:
            name = args[1]
        args = args[2:]
    script, script_args = args[0], [a for a in args[1:] if a != "--"]
    os.environ["OMP_NUM_THREADS"] = "1"
    import mindspore

    mindspore.set_context(device_target="CPU")
    try:
        mindspore.runtime.set_cpu_affinity(False)
    except Exception:
        pass
    if seed is not None:
        original_set_seed = mindspore.set_seed
        original_set_seed(seed)
        mindspore.set_seed = lambda _: original_set_seed(seed)
    out = io.StringIO()
    with goldens.Recorder(mindspore, lambda p: p.name) as recorder, contextlib.redirect_stdout(out):
        sys.argv = [script] + script_args
        runpy.run_path(script, run_name="__main__")
    golden = recorder.golden(out.getvalue())
    where = os.path.relpath(os.path.abspath(script), os.path.join(goldens.SCRIPTS, "..", "..", ".."))
    options = (f"--seed {seed} " if seed is not None else "") + (f"--name {name} " if name else "")
    golden = {"mindspore": mindspore.__version__,
              "command": f"python tools/ms_oracle/record.py {options}{where}" + (" -- " + " ".join(script_args) if script_args else ""),
              "script": os.path.basename(script), "args": script_args, "seed": seed, **golden}
    target = os.path.join(goldens.GOLDENS, (name or os.path.splitext(os.path.basename(script))[0]) + ".json")
    with open(target, "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    print(f"wrote {os.path.normpath(target)}: {len(golden['lines'])} lines, {len(golden['losses'])} losses, "
          f"{len(golden['parameters'])} parameters")


if __name__ == "__main__":
    main()
