import numpy as np

import mindspore
from mindspore import nn
from mindspore.dataset import NumpySlicesDataset
from mindspore.train import Model


class Branchy(nn.Cell):
    def __init__(self):
        super().__init__()
        self.fc = nn.Dense(4, 2)

    def construct(self, x):
        if x:
            return self.fc(x)
        return x


data = NumpySlicesDataset((np.zeros((8, 4), np.float32), np.zeros(8, np.int32))).batch(4)
net = Branchy()
Model(net, nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean"), nn.SGD(net.trainable_params())).train(1, data)
