"""PyTorch side of `npusim bench lenet-step` (run by hand, not by CI; PyTorch is not a dependency):

    python3 -m venv /tmp/torchvenv
    /tmp/torchvenv/bin/pip install torch --index-url https://download.pytorch.org/whl/cpu
    /tmp/torchvenv/bin/python bench/pytorch_lenet_step.py

The same LeNet5 as the benchmark (conv 1→6 5×5 valid without bias, ReLU, max pool 2, conv 6→16,
ReLU, max pool 2, Dense 256→120→84→10 with ReLU), sparse softmax cross-entropy (mean), SGD with
momentum 0.9 (MindSpore's ApplyMomentum update), batch 32, float32, eager mode: median host ms per
training step with the loss read back every step, as NPUSim's TrainStep does.
"""
import statistics
import time

import torch
from torch import nn


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, bias=False), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(6, 16, 5, bias=False), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Flatten(), nn.Linear(256, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def main():
    torch.manual_seed(1)
    net = lenet5()
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.randn(32, 1, 28, 28)
    y = torch.arange(32) % 10

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        return loss.item()

    for _ in range(10):
        step()
    runs = []
    for _ in range(9):
        n = 20
        t = time.perf_counter()
        for _ in range(n):
            step()
        runs.append((time.perf_counter() - t) / n * 1e3)
    print(f"pytorch {torch.__version__} eager, {torch.get_num_threads()} threads: lenet-step median "
          f"{statistics.median(runs):.3f} ms (min {min(runs):.3f}, max {max(runs):.3f})")


if __name__ == "__main__":
    main()
