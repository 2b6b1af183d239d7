"""Makes the MindSpore checkpoint fixtures the tests read (run once, with MindSpore 2.10 on CPU).

    python make_fixtures.py   # in this folder; writes the files listed below

- x.npy, y.npy: 8 samples of 4 features and their labels (0/1).
- tiny_init.ckpt: `save_checkpoint(net)` of a freshly initialised net (fc1: Dense 4->3, ReLU,
  fc2: Dense 3->2): weights only.
- tiny-1_2.ckpt: what `ModelCheckpoint` saved after `Model.train` ran 2 steps (batch 4, no
  shuffle, Momentum lr 0.1 momentum 0.9, sparse softmax cross-entropy): parameters, moments,
  global_step, learning_rate, momentum.
- mixed.ckpt / mixed_crc.ckpt: one tensor of each dtype NPUSim holds, a scalar, a string
  (append_dict), the second with `crc_check=True`.
- transformer_init.ckpt: `save_checkpoint(net)` after `set_seed(1)` of the network of
  examples/transformer.yaml (LayerNorm, MultiheadAttention, LayerNorm, three Dense), created in
  its node order: the initial weights that example must start from.
- losses_o2.txt: MindSpore's eight losses of the same run from tiny_init.ckpt under amp_level O2
  (FixedLossScaleManager(1024, drop_overflow_update=False)), 4 epochs.
- expected.safetensors: every tensor of the .ckpt files as numpy read them back, named
  `FILE/NAME`; losses.txt: MindSpore's two training losses (float32, as Python prints them).
"""
import os
import numpy as np
import mindspore as ms
from mindspore import nn, Tensor
from mindspore.train import Model, ModelCheckpoint, CheckpointConfig, Callback
import mindspore.dataset as ds
from safetensors.numpy import save_file

ms.set_context(mode=ms.GRAPH_MODE, device_target="CPU")
ms.set_seed(1)


class Net(nn.Cell):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Dense(4, 3)
        self.relu = nn.ReLU()
        self.fc2 = nn.Dense(3, 2)

    def construct(self, x):
        return self.fc2(self.relu(self.fc1(x)))


class Losses(Callback):
    def __init__(self):
        self.values = []

    def step_end(self, run_context):
        self.values.append(float(run_context.original_args().net_outputs.asnumpy()))


x = (np.arange(32, dtype=np.float32).reshape(8, 4) - 10) / 8
y = np.array([0, 1, 1, 0, 1, 0, 0, 1], dtype=np.int32)
np.save("x.npy", x)
np.save("y.npy", y)

net = Net()
ms.save_checkpoint(net, "tiny_init.ckpt")
data = ds.NumpySlicesDataset({"data": x, "label": y}, shuffle=False).batch(4, drop_remainder=True)
loss = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
opt = nn.Momentum(net.trainable_params(), 0.1, 0.9)
losses = Losses()
for f in os.listdir("."):
    if f.startswith("tiny-"):
        os.remove(f)
ckpt = ModelCheckpoint(prefix="tiny", directory=".", config=CheckpointConfig(save_checkpoint_steps=2, keep_checkpoint_max=1))
Model(net, loss, opt).train(1, data, callbacks=[ckpt, losses], dataset_sink_mode=False)
os.remove("tiny-graph.meta")
with open("losses.txt", "w") as f:
    f.write("\n".join(repr(v) for v in losses.values) + "\n")

# losses_o2.txt: the same network from tiny_init.ckpt under amp_level O2 with a fixed loss
# scale of 1024 (FixedLossScaleManager(1024, drop_overflow_update=False): the only scaling
# MindSpore 2.10 runs on CPU), 4 epochs of the same 2 batches, one loss per step.
from mindspore.amp import FixedLossScaleManager
net = Net()
ms.load_param_into_net(net, ms.load_checkpoint("tiny_init.ckpt"))
losses = Losses()
Model(net, loss, nn.Momentum(net.trainable_params(), 0.1, 0.9, loss_scale=1024.0), amp_level="O2",
      loss_scale_manager=FixedLossScaleManager(1024.0, False)).train(4, data, callbacks=[losses], dataset_sink_mode=False)
with open("losses_o2.txt", "w") as f:
    f.write("\n".join(repr(v) for v in losses.values) + "\n")
# O3 (BatchNorm and LayerNorm in float16 too) and O1 (the white list in float16: Dense, ReLU)
# give the same losses: this network has no norms and only white-listed ops.
for level in ["O1", "O3"]:
    net = Net()
    ms.load_param_into_net(net, ms.load_checkpoint("tiny_init.ckpt"))
    other = Losses()
    Model(net, loss, nn.Momentum(net.trainable_params(), 0.1, 0.9, loss_scale=1024.0), amp_level=level,
          loss_scale_manager=FixedLossScaleManager(1024.0, False)).train(4, data, callbacks=[other], dataset_sink_mode=False)
    assert other.values == losses.values, level

mixed = [
    {"name": "f32", "data": Tensor(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3))},
    {"name": "f16", "data": Tensor(np.array([0.5, -2.25, 65504], dtype=np.float16))},
    {"name": "i32", "data": Tensor(np.array([[1, -2], [3, 2147483647]], dtype=np.int32))},
    {"name": "i64", "data": Tensor(np.array([-(2**40), 7], dtype=np.int64))},
    {"name": "flags", "data": Tensor(np.array([True, False, True]))},
    {"name": "scalar", "data": Tensor(np.float32(3.5))},
]
for name, crc in [("mixed.ckpt", False), ("mixed_crc.ckpt", True)]:
    if os.path.exists(name):
        os.chmod(name, 0o600)
        os.remove(name)
    ms.save_checkpoint(mixed, name, append_dict={"note": "hello"}, crc_check=crc)

ms.set_seed(1)


class Transformer(nn.Cell):
    def __init__(self):
        super().__init__()
        self.norm1 = nn.LayerNorm((8,))
        self.attention = nn.MultiheadAttention(8, 2, batch_first=True)
        self.norm2 = nn.LayerNorm((8,))
        self.ffn_up = nn.Dense(8, 32)
        self.ffn_down = nn.Dense(32, 8)
        self.head = nn.Dense(64, 4)


ms.save_checkpoint(Transformer(), "transformer_init.ckpt")

expected = {}
for file in ["tiny_init.ckpt", "tiny-1_2.ckpt", "mixed.ckpt"]:
    for k, v in ms.load_checkpoint(file).items():
        if isinstance(v, str):
            continue
        expected[file[:-5] + "/" + k] = v.asnumpy().copy()  # keeps 0-d scalars 0-d
save_file(expected, "expected.safetensors")
for f in os.listdir("."):
    if f.endswith(".ckpt"):
        os.chmod(f, 0o644)
