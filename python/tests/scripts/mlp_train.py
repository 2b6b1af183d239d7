# The reference MLP in the style of MindSpore's tutorials: a Cell with attributes, Model.train,
# LossMonitor. Its YAML twin is written by the test (same data, same seed).
import sys

import numpy as np

import mindspore
from mindspore import nn
from mindspore.dataset import NumpySlicesDataset
from mindspore.train import LossMonitor, Model

data = np.load(sys.argv[1])
labels = np.load(sys.argv[2])
mindspore.set_seed(1)


class MLP(nn.Cell):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Dense(784, 128)
        self.relu = nn.ReLU()
        self.fc2 = nn.Dense(128, 10)

    def construct(self, x):
        return self.fc2(self.relu(self.fc1(x)))


net = MLP()
loss = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
opt = nn.Momentum(net.trainable_params(), learning_rate=0.01, momentum=0.9)
dataset = NumpySlicesDataset((data, labels), shuffle=True).batch(32, drop_remainder=True)
model = Model(net, loss, opt)
model.train(2, dataset, callbacks=[LossMonitor(3)], dataset_sink_mode=False)
