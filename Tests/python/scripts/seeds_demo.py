# A script in the style of MindSpore's tutorials: seeds, weights and noise, printed.
import sys

import mindspore
from mindspore import ops
from mindspore.common.initializer import Normal, initializer

mindspore.set_seed(1)
weight = initializer(Normal(0.02), [2, 3], mindspore.float32)
noise = ops.uniform((4,), 0.0, 1.0, seed=2)
print("argv", sys.argv[1:])
print("weight", weight.asnumpy().tobytes().hex())
print("noise", noise.asnumpy().tobytes().hex())
print("module", mindspore.__name__)
