"""Datasets in Python read by the engine's pipeline: Resize as MindSpore 2.10 computes it (bits
recorded by tools/ms_oracle/resize_cases.py), and pipelines NPUSim cannot reproduce refused."""
import os

import numpy as np
import pytest

import npusim.mindspore as ms
from npusim.errors import Unsupported
from npusim.mindspore.dataset import MnistDataset, NumpySlicesDataset, vision

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
MNIST = os.path.join(DATA, "mnist640", "test")


def first(pipeline):
    return next(pipeline.batch(8).create_tuple_iterator(output_numpy=True))[0]


def test_resize_gives_mindspores_bits_on_uint8_and_float_images():
    want = np.load(os.path.join(DATA, "resize_mindspore.npz"))
    uint8 = first(MnistDataset(MNIST, shuffle=False).map(vision.Resize((32, 32)), "image"))
    assert uint8.shape == (8, 32, 32, 1) and np.array_equal(uint8, want["uint8"].astype(np.float32))
    floats = first(MnistDataset(MNIST, shuffle=False).map([vision.Rescale(1 / 255, 0), vision.Resize((20, 36))], "image"))
    assert floats.tobytes() == want["float32"].tobytes()


def test_pipelines_npusim_would_get_wrong_are_refused():
    with pytest.raises(Unsupported, match="shuffle buffer"):
        MnistDataset(MNIST).shuffle(10000)
    with pytest.raises(Unsupported, match="map after batch"):
        MnistDataset(MNIST).batch(4).map(vision.HWC2CHW(), "image")
    with pytest.raises(Unsupported, match="Inter"):
        vision.Resize((4, 4), interpolation=vision.Inter.NEAREST)
    with pytest.raises(Unsupported, match="shuffle buffer"):
        NumpySlicesDataset((np.zeros((4, 2), np.float32), np.zeros(4))).shuffle(4)


def test_repeat_reads_further_epochs_in_one_pass():
    ms.set_seed(1)
    d = MnistDataset(MNIST).batch(64)
    one = [l.asnumpy()[:4].tolist() for _, l in d.create_tuple_iterator()]
    d2 = MnistDataset(MNIST).batch(64).repeat(2)
    two = [l.asnumpy()[:4].tolist() for _, l in d2.create_tuple_iterator()]
    # MindSpore 2.10's, set_seed(1): epoch 1's order then epoch 2's.
    assert two == [[2, 8, 9, 5], [5, 1, 9, 9], [5, 9, 8, 7], [9, 5, 8, 6]] and two[:2] == one and d2.get_dataset_size() == 4
