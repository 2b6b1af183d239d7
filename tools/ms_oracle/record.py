"""Records a test script's golden file from MindSpore 2.10 CPU: a developer tool, outside CI.

    python3 -m venv /tmp/msvenv && /tmp/msvenv/bin/pip install "mindspore==2.10.0" "numpy<2"
    /tmp/msvenv/bin/python tools/ms_oracle/record.py python/tests/scripts/mlp_golden.py

runs SCRIPT under the real MindSpore on one CPU thread and writes
python/tests/goldens/<script>.json: MindSpore's version, the command, the LossMonitor lines
and printed evaluations, and the name and SHA-256 of every parameter's initial value (taken when
Model.train starts). python/tests/test_goldens.py runs the same script on NPUSim and compares.
"""
import contextlib
import hashlib
import io
import json
import os
import runpy
import sys


def main():
    script = sys.argv[1]
    import mindspore
    from mindspore.train import Model

    mindspore.set_context(device_target="CPU")
    try:
        mindspore.runtime.set_cpu_affinity(False)
    except Exception:
        pass
    os.environ["OMP_NUM_THREADS"] = "1"
    parameters = []
    original = Model.train

    def recording_train(self, *args, **kwargs):
        if not parameters:
            for p in self._network.trainable_params():
                parameters.append([p.name, hashlib.sha256(p.asnumpy().tobytes()).hexdigest()])
        return original(self, *args, **kwargs)

    Model.train = recording_train
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        sys.argv = [script]
        runpy.run_path(script, run_name="__main__")
    # LossMonitor's lines and printed evaluations (`print(model.eval(...))`: a dict).
    lines = [line for line in out.getvalue().splitlines() if line.startswith("epoch: ") or line.startswith("{")]
    golden = {"mindspore": mindspore.__version__, "command": f"python tools/ms_oracle/record.py {script}",
              "lines": lines, "parameters": parameters}
    target = os.path.join(os.path.dirname(__file__), "..", "..", "python", "tests", "goldens",
                          os.path.splitext(os.path.basename(script))[0] + ".json")
    with open(target, "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")
    print(f"wrote {os.path.normpath(target)}: {len(lines)} lines, {len(parameters)} parameters")


if __name__ == "__main__":
    main()
