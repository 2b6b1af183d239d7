# The reference MLP as a MindSpore user writes it (Cell with attributes, Model.train, LossMonitor),
# on data it makes itself, for a golden recorded from MindSpore 2.10 (tools/ms_oracle/record.py).
import numpy as np

import mindspore
from mindspore import nn
from mindspore.dataset import NumpySlicesDataset
from mindspore.train import Accuracy, Loss, LossMonitor, Model

rng = np.random.default_rng(5)  # independent of numpy's global generator, which set_seed seeds
data = rng.standard_normal((160, 784)).astype(np.float32)
labels = rng.integers(0, 10, 160).astype(np.int32)
mindspore.set_context(deterministic="ON")  # bit-identical runs: the YAML twin test relies on it
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
model = Model(net, loss, opt, metrics={"Accuracy": Accuracy(), "Loss": Loss()})
model.train(3, dataset, callbacks=[LossMonitor(2)], dataset_sink_mode=False)
print(model.eval(dataset))
