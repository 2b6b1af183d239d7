"""Records MindSpore 2.10's LossMonitor lines for the cases NPUSim's LossMonitorTests derive by hand.

A developer check, outside CI (MindSpore is never installed by the Makefile):

    python3 -m venv /tmp/msvenv && /tmp/msvenv/bin/pip install "mindspore==2.10.0" "numpy<2"
    /tmp/msvenv/bin/python tools/ms_oracle/loss_monitor_cases.py

Non-sink cases run MindSpore's own Model.train on CPU. MindSpore on CPU runs sink mode as non-sink
(model.py, Model._train), so the sink cases drive MindSpore's LossMonitor with the counters its
_train_dataset_sink_process sets on a card: cur_step_num grows by the sink size, batch_num is the
sink size, one step_end per sink. Each case prints its lines with the loss replaced by 'L' (the
numbers differ from NPUSim's network; the steps and epochs are the contract).
"""
import contextlib
import io
import re

import numpy as np
import mindspore as ms
from mindspore import nn
from mindspore.train import LossMonitor, Model, RunContext
from mindspore.train.callback._callback import InternalCallbackParam


def dataset(batches=7, batch=4):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batches * batch, 16)).astype(np.float32)
    y = rng.integers(0, 4, batches * batch).astype(np.int32)
    return ms.dataset.NumpySlicesDataset({"data": x, "label": y}, shuffle=False).batch(batch, drop_remainder=True)


def train(per_print, epochs, lr=0.01):
    ms.set_seed(1)
    net = nn.SequentialCell([nn.Dense(16, 8), nn.ReLU(), nn.Dense(8, 4)])
    loss = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
    model = Model(net, loss, nn.Momentum(net.trainable_params(), lr, 0.9))
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            model.train(epochs, dataset(), callbacks=[LossMonitor(per_print)], dataset_sink_mode=False)
        error = None
    except ValueError as e:
        error = str(e)
    return [re.sub(r"loss is .*", "loss is L", l) for l in out.getvalue().splitlines()], error


def sink(per_print, epochs, sink_size, dataset_size=7):
    """LossMonitor as a card's sink loop calls it (model.py, _train_dataset_sink_process)."""
    monitor = LossMonitor(per_print)
    params = InternalCallbackParam()
    params.cur_step_num = 0
    params.batch_num = sink_size if sink_size > 0 else dataset_size
    params.dataset_sink_mode = True
    params.net_outputs = ms.Tensor(np.float32(1.0))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for epoch in range(epochs):
            params.cur_epoch_num = epoch + 1
            params.cur_step_num += params.batch_num
            monitor.step_end(RunContext(params))
    return [re.sub(r"loss is .*", "loss is L", l) for l in out.getvalue().splitlines()]


if __name__ == "__main__":
    print(f"MindSpore {ms.__version__}")
    print("7 batches, per_print_times 5, 3 epochs:", train(5, 3)[0])
    print("per_print_times 0:", train(0, 2)[0])
    print("sink_size 5, per_print_times 3, 3 epochs:", sink(3, 3, 5))
    print("sink_size 3, per_print_times 4, 4 epochs:", sink(4, 4, 3))
    print("sink_size -1, per_print_times 1, 2 epochs:", sink(1, 2, -1))
    print("lr 1e30 (a loss that becomes NaN or Inf):", train(1, 2, lr=1e30))
