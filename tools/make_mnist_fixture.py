"""Writes the small MNIST-format fixture the Python acceptance scripts train on
(Tests/python/data/mnist640: 512 training and 128 test images, uncompressed IDX as MindSpore's
MnistDataset reads them). The digits are generated, not MNIST's: each class is a fixed stroke
pattern, shifted and noised per image, so a network learns it and the test accuracy means
something. Run once; the output is committed."""
import os
import struct
import sys

import numpy as np


def images(rng, count):
    templates = rng.random((10, 7, 7)) > 0.6
    labels = rng.integers(0, 10, count).astype(np.uint8)
    out = np.zeros((count, 28, 28), dtype=np.uint8)
    for k, c in enumerate(labels):
        big = np.kron(templates[c], np.ones((3, 3))) * rng.integers(160, 256)
        dy, dx = rng.integers(0, 8, 2)
        out[k, dy:dy + 21, dx:dx + 21] = big
        noise = rng.random((28, 28)) < 0.05
        out[k][noise] = rng.integers(0, 256, noise.sum())
    return out, labels


def write(folder, prefix, data, labels):
    with open(os.path.join(folder, f"{prefix}-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">IIII", 2051, len(data), 28, 28) + data.tobytes())
    with open(os.path.join(folder, f"{prefix}-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 2049, len(labels)) + labels.tobytes())


if __name__ == "__main__":
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "Tests", "python", "data", "mnist640")
    rng = np.random.default_rng(640)
    data, labels = images(rng, 640)
    for usage, prefix, part in (("train", "train", slice(0, 512)), ("test", "t10k", slice(512, 640))):
        folder = os.path.join(root, usage)
        os.makedirs(folder, exist_ok=True)
        write(folder, prefix, data[part], labels[part])
