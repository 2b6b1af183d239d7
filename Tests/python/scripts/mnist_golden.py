# The quick start's data pipeline and a Model.train run, on MNIST-format files this script writes
# (64 images), for a golden recorded from MindSpore 2.10 (tools/ms_oracle/record.py).
import os
import struct
import tempfile

import numpy as np

import mindspore
from mindspore import nn
from mindspore.dataset import MnistDataset, transforms, vision
from mindspore.train import LossMonitor, Model

folder = tempfile.mkdtemp(prefix="npusim-mnist-")
rng = np.random.default_rng(3)
images = rng.integers(0, 256, (64, 28, 28), dtype=np.uint8)
labels = rng.integers(0, 10, 64).astype(np.uint8)
with open(os.path.join(folder, "train-images-idx3-ubyte"), "wb") as f:
    f.write(struct.pack(">IIII", 2051, 64, 28, 28) + images.tobytes())
with open(os.path.join(folder, "train-labels-idx1-ubyte"), "wb") as f:
    f.write(struct.pack(">II", 2049, 64) + labels.tobytes())

mindspore.set_context(mode=mindspore.GRAPH_MODE)
mindspore.set_seed(1)
dataset = MnistDataset(folder)
dataset = dataset.map([vision.Rescale(1.0 / 255.0, 0), vision.Normalize(mean=(0.1307,), std=(0.3081,)), vision.HWC2CHW()], "image")
dataset = dataset.map(transforms.TypeCast(mindspore.int32), "label")
dataset = dataset.batch(16)


class Network(nn.Cell):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.dense_relu_sequential = nn.SequentialCell(nn.Dense(28 * 28, 64), nn.ReLU(), nn.Dense(64, 10))

    def construct(self, x):
        x = self.flatten(x)
        logits = self.dense_relu_sequential(x)
        return logits


net = Network()
model = Model(net, nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean"), nn.SGD(net.trainable_params(), 1e-2))
model.train(3, dataset, callbacks=[LossMonitor(3)])
