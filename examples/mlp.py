# The reference MLP (Dense 784→128, ReLU, Dense 128→10) as a MindSpore graph-mode script writes
# it: the twin of examples/mlp.yaml, on the same synthetic data (NPUSim's), with the same bits.
# Run it: npusim run examples/mlp.py
import mindspore
from mindspore import nn
from mindspore.dataset import NumpySlicesDataset
from mindspore.train import LossMonitor, Model

from npusim.data import synthetic

mindspore.set_seed(1)
mindspore.set_context(mode=mindspore.GRAPH_MODE, deterministic="ON")

images, labels = synthetic(count=320, shape=[784], classes=10, seed=7)
dataset = NumpySlicesDataset((images, labels), column_names=["data", "label"], shuffle=True)
dataset = dataset.batch(32, drop_remainder=True)


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
optimizer = nn.Momentum(net.trainable_params(), learning_rate=0.01, momentum=0.9)
model = Model(net, loss, optimizer)
model.train(2, dataset, callbacks=[LossMonitor(5)], dataset_sink_mode=False)
