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
    with pytest.raises(Unsupported, match="map after batch"):
        MnistDataset(MNIST).batch(4).map(vision.HWC2CHW(), "image")
    with pytest.raises(Unsupported, match="Inter"):
        vision.Resize((4, 4), interpolation=vision.Inter.NEAREST)


def test_repeat_reads_further_epochs_in_one_pass():
    ms.set_seed(1)
    d = MnistDataset(MNIST).batch(64)
    one = [l.asnumpy()[:4].tolist() for _, l in d.create_tuple_iterator()]
    d2 = MnistDataset(MNIST).batch(64).repeat(2)
    two = [l.asnumpy()[:4].tolist() for _, l in d2.create_tuple_iterator()]
    # MindSpore 2.10's, set_seed(1): epoch 1's order then epoch 2's.
    assert two == [[2, 8, 9, 5], [5, 1, 9, 9], [5, 9, 8, 7], [9, 5, 8, 6]] and two[:2] == one and d2.get_dataset_size() == 4


def test_cifar10_and_generator_datasets_read_as_mindspore(tmp_path):
    # CIFAR-10 batches of 10,000 records (the size MindSpore reads) with labels and pixels from a
    # fixed generator; the expected values are MindSpore 2.10's for the same files and calls.
    from npusim.mindspore.dataset import Cifar10Dataset, GeneratorDataset
    rng = np.random.default_rng(9)
    for name in ("data_batch_1.bin", "data_batch_2.bin", "test_batch.bin"):
        records = np.zeros((10000, 3073), np.uint8)
        records[:, 0] = rng.integers(0, 10, 10000)
        records[:, 1:] = rng.integers(0, 256, (10000, 3072))
        records.tofile(tmp_path / name)
    ms.set_seed(5)
    seen = {}
    for usage in ("train", "test", "all"):
        d = Cifar10Dataset(str(tmp_path), usage=usage, shuffle=False)
        labels = [int(l) for _, (_, l) in zip(range(14), d.create_tuple_iterator(output_numpy=True))]
        seen[usage] = (d.get_dataset_size(), [int(x) for x in labels])
    assert seen == {"train": (20000, [4, 8, 9, 2, 1, 6, 6, 7, 6, 7, 9, 9, 9, 8]), "test": (10000, [7, 4, 0, 1, 9, 1, 3, 4, 8, 9, 9, 7, 9, 2]),
                    "all": (30000, [4, 8, 9, 2, 1, 6, 6, 7, 6, 7, 9, 9, 9, 8])}
    d = Cifar10Dataset(str(tmp_path), usage="train").map([vision.Resize((16, 16)), vision.Rescale(1 / 255, 0), vision.HWC2CHW()], "image").batch(8)
    img, label = next(iter(d.create_tuple_iterator(output_numpy=True)))
    assert img.shape == (8, 3, 16, 16) and label.tolist() == [5, 2, 4, 4, 5, 9, 6, 6]
    assert float(img[0, 1, 2, 3]) == 0.364705890417099 and float(img.sum()) == 3067.9140625

    class Source:
        def __getitem__(self, i):
            return np.arange(40, dtype=np.float32).reshape(10, 4)[i], np.arange(10)[i] % 3

        def __len__(self):
            return 10

    g = GeneratorDataset(Source(), column_names=["data", "label"]).batch(4)
    assert [l.tolist() for _, l in g.create_tuple_iterator(output_numpy=True)] == [[0, 2, 2, 2], [1, 0, 1, 1], [0, 0]]

    def gen():
        for i in range(5):
            yield np.full(3, i, np.float32), np.array(i % 2)

    g = GeneratorDataset(gen, ["data", "label"]).batch(2)
    assert [x[:, 0].tolist() for x, _ in g.create_tuple_iterator(output_numpy=True)] == [[0.0, 1.0], [2.0, 3.0], [4.0]]
    with pytest.raises(ValueError, match="not random-accessible"):
        GeneratorDataset(gen, ["data", "label"], shuffle=True)


def test_a_shuffle_buffer_gives_mindspores_order():
    # MindSpore 2.10's labels for the same pipelines (set_seed(1)): a buffer of 10 over the file
    # order, its second epoch (the buffer's engine continues), a buffer larger than the data, and a
    # buffer after the random sampler.
    ms.set_seed(1)
    d = MnistDataset(MNIST, shuffle=False).shuffle(10)
    it = d.create_tuple_iterator(output_numpy=True)
    assert [int(l) for _, l in it][:16] == [8, 7, 6, 2, 5, 1, 8, 9, 4, 4, 7, 6, 5, 6, 8, 2]
    assert [int(l) for _, l in it][:16] == [2, 5, 9, 2, 4, 8, 8, 8, 5, 9, 2, 4, 6, 6, 2, 2]
    big = MnistDataset(MNIST, shuffle=False).shuffle(1000)
    assert [int(l) for _, l in big.create_tuple_iterator(output_numpy=True)][:16] == [9, 8, 2, 4, 7, 4, 2, 5, 8, 6, 7, 3, 7, 9, 5, 1]
    both = MnistDataset(MNIST).shuffle(7)
    assert [int(l) for _, l in both.create_tuple_iterator(output_numpy=True)][:16] == [9, 0, 4, 5, 3, 2, 2, 9, 3, 7, 2, 8, 1, 5, 3, 2]
    with pytest.raises(ValueError, match="buffer_size"):
        MnistDataset(MNIST).shuffle(1)
    with pytest.raises(Unsupported, match="shuffle after batch"):
        MnistDataset(MNIST).batch(4).shuffle(10)
