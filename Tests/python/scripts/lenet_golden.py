# LeNet-5 as MindSpore's model zoo writes it (a relu and a pool reused in construct, Normal(0.02)
# dense weights, valid convolutions), on images it makes itself, for a golden recorded from
# MindSpore 2.10 (tools/ms_oracle/record.py).
import numpy as np

import mindspore
from mindspore import nn
from mindspore.common.initializer import Normal
from mindspore.dataset import NumpySlicesDataset
from mindspore.train import LossMonitor, Model

rng = np.random.default_rng(11)
images = rng.random((96, 1, 32, 32)).astype(np.float32)
labels = rng.integers(0, 10, 96).astype(np.int32)
mindspore.set_context(mode=mindspore.GRAPH_MODE)
mindspore.set_seed(1)


class LeNet5(nn.Cell):
    def __init__(self, num_class=10, num_channel=1):
        super(LeNet5, self).__init__()
        self.conv1 = nn.Conv2d(num_channel, 6, 5, pad_mode="valid")
        self.conv2 = nn.Conv2d(6, 16, 5, pad_mode="valid")
        self.fc1 = nn.Dense(16 * 5 * 5, 120, weight_init=Normal(0.02))
        self.fc2 = nn.Dense(120, 84, weight_init=Normal(0.02))
        self.fc3 = nn.Dense(84, num_class, weight_init=Normal(0.02))
        self.relu = nn.ReLU()
        self.max_pool2d = nn.MaxPool2d(kernel_size=2, stride=2)
        self.flatten = nn.Flatten()

    def construct(self, x):
        x = self.max_pool2d(self.relu(self.conv1(x)))
        x = self.max_pool2d(self.relu(self.conv2(x)))
        x = self.flatten(x)
        x = self.relu(self.fc1(x))
        x = self.relu(self.fc2(x))
        x = self.fc3(x)
        return x


net = LeNet5()
loss = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
opt = nn.Momentum(net.trainable_params(), learning_rate=0.01, momentum=0.9)
dataset = NumpySlicesDataset((images, labels), shuffle=True).batch(16, drop_remainder=True)
model = Model(net, loss, opt)
model.train(2, dataset, callbacks=[LossMonitor(4)], dataset_sink_mode=False)
