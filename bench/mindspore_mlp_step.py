"""MindSpore side of `npusim bench mlp-step` (run by hand, not by CI; MindSpore is ~800 MB):

    python3 -m venv /tmp/msvenv && /tmp/msvenv/bin/pip install mindspore==2.10.0 "numpy<2"
    /tmp/msvenv/bin/python bench/mindspore_mlp_step.py

The reference MLP (Dense 784→128, ReLU, Dense 128→10, sparse softmax cross-entropy mean,
Momentum 0.01/0.9, batch 32, float32) on MindSpore's CPU backend, in GRAPH_MODE and PYNATIVE_MODE:
median host ms per training step (the loss read back every step, as NPUSim's TrainStep does).
Also prints the first initial weights after set_seed(1), which NPUSim reproduces bit for bit.
"""
import statistics
import sys
import time

import numpy as np
import mindspore as ms
from mindspore import Tensor, nn


class MLP(nn.Cell):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Dense(784, 128)
        self.relu = nn.ReLU()
        self.fc2 = nn.Dense(128, 10)

    def construct(self, x):
        return self.fc2(self.relu(self.fc1(x)))


def run(mode):
    ms.set_context(mode=mode, device_target="CPU")
    ms.set_seed(1)
    net = MLP()
    first = {p.name: p.asnumpy().ravel()[:4].astype(np.float32).view(np.uint32).tolist() for p in net.trainable_params()}
    loss = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
    opt = nn.Momentum(net.trainable_params(), 0.01, 0.9)
    step = nn.TrainOneStepCell(nn.WithLossCell(net, loss), opt)
    step.set_train()
    x = Tensor(np.random.rand(32, 784).astype(np.float32))
    y = Tensor((np.arange(32) % 10).astype(np.int32))
    for _ in range(20):
        step(x, y).asnumpy()
    samples = []
    for _ in range(9):
        n = 50
        t0 = time.perf_counter()
        for _ in range(n):
            step(x, y).asnumpy()
        samples.append((time.perf_counter() - t0) / n * 1e3)
    return statistics.median(samples), min(samples), max(samples), first


if __name__ == "__main__":
    for name, mode in [("graph", ms.GRAPH_MODE), ("pynative", ms.PYNATIVE_MODE)]:
        med, lo, hi, first = run(mode)
        print(f"mindspore-{name} ms/step median {med:.3f} min {lo:.3f} max {hi:.3f}")
        if name == "graph":
            for k, v in first.items():
                print(f"initial {k} bits {[hex(b) for b in v]}")
    sys.stdout.flush()
