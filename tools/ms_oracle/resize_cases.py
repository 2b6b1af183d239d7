"""Records MindSpore 2.10's Resize on the MNIST fixture (a developer tool, outside CI):
Tests/python/data/resize_mindspore.npz holds the first 8 test images (in file order) through
Resize((32, 32)) on the uint8 image, and through Rescale then Resize((20, 36)) in float32.
test_datasets.py runs the same pipelines on NPUSim and requires the same bits.

    /tmp/msvenv/bin/python tools/ms_oracle/resize_cases.py
"""
import os

import numpy as np
import mindspore.dataset as ds
import mindspore.dataset.vision as vision

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "python", "data")


def first(pipeline):
    return next(pipeline.batch(8).create_tuple_iterator(output_numpy=True))[0]


mnist = os.path.join(ROOT, "mnist640", "test")
uint8 = first(ds.MnistDataset(mnist, shuffle=False).map(vision.Resize((32, 32)), "image"))
floats = first(ds.MnistDataset(mnist, shuffle=False).map([vision.Rescale(1 / 255, 0), vision.Resize((20, 36))], "image"))
np.savez_compressed(os.path.join(ROOT, "resize_mindspore.npz"), uint8=uint8, float32=floats)
print(uint8.dtype, uint8.shape, floats.dtype, floats.shape)
