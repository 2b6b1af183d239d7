"""``mindspore.dataset`` so far: ``NumpySlicesDataset`` of (data, label) arrays, and
``MnistDataset`` with ``map`` of the vision transforms the engine has, ``shuffle`` and ``batch``.
The engine reads them (the random sampler's order is MindSpore's, seeded by ``set_seed``): a file
dataset becomes the training-script format's ``dataset:`` section, so the engine's pipeline (IDX
decoding, MindSpore's transforms) reads the files."""
import os
import struct

import numpy as np

from . import transforms, vision

from ...errors import Unsupported


class NumpySlicesDataset:
    """``NumpySlicesDataset(data, column_names=None, shuffle=True)`` over a (data, label) tuple
    or a dict of two columns."""

    def __init__(self, data, column_names=None, num_samples=None, num_parallel_workers=1, shuffle=None, sampler=None,
                 num_shards=None, shard_id=None):
        if num_shards is not None or sampler is not None or num_samples is not None:
            raise Unsupported("NumpySlicesDataset with num_samples, a sampler or shards")
        columns = list(data.values()) if isinstance(data, dict) else list(data)
        if len(columns) != 2:
            raise Unsupported(f"NumpySlicesDataset of {len(columns)} columns", "two: data and label")
        self.data = np.asarray(columns[0], dtype=np.float32)
        self.labels = np.asarray(columns[1]).astype(np.int32)
        self.shuffle_flag = True if shuffle is None else bool(shuffle)
        self.batch_size, self.drop_remainder = 1, False

    def batch(self, batch_size, drop_remainder=False, num_parallel_workers=None):
        self.batch_size, self.drop_remainder = int(batch_size), bool(drop_remainder)
        return self

    def get_dataset_size(self):
        n = len(self.labels)
        return n // self.batch_size if self.drop_remainder else -(-n // self.batch_size)

    def _arrays(self):
        return self.data, self.labels, self.batch_size, self.drop_remainder, self.shuffle_flag


class MnistDataset:
    """``MnistDataset(dataset_dir, usage=None, num_samples=None, num_parallel_workers=None,
    shuffle=None)``: MNIST's IDX files in ``dataset_dir`` (``train-…`` for usage 'train' or None,
    ``t10k-…`` for 'test'); samples HWC [28, 28, 1] of 0…255 and their labels, as MindSpore yields
    them."""

    def __init__(self, dataset_dir, usage=None, num_samples=None, num_parallel_workers=None, shuffle=None, sampler=None,
                 num_shards=None, shard_id=None):
        if num_samples is not None or sampler is not None or num_shards is not None:
            raise Unsupported("MnistDataset with num_samples, a sampler or shards")
        prefix = {None: "train", "train": "train", "test": "t10k"}.get(usage)
        if prefix is None:
            raise Unsupported(f"MnistDataset(usage={usage!r})", "'train' or 'test'")
        self.images = _find(dataset_dir, f"{prefix}-images-idx3-ubyte")
        self.labels_file = _find(dataset_dir, f"{prefix}-labels-idx1-ubyte")
        with open(self.labels_file, "rb") as f:
            magic, self.count = struct.unpack(">II", f.read(8))
        self.shuffle_flag = True if shuffle is None else bool(shuffle)
        self.operations = []
        self.batch_size, self.drop_remainder = 1, False
        self.workers = 1

    def map(self, operations, input_columns=None, output_columns=None, num_parallel_workers=None, **kwargs):
        operations = operations if isinstance(operations, (list, tuple)) else [operations]
        column = input_columns[0] if isinstance(input_columns, (list, tuple)) else input_columns
        if column == "label":
            # The engine's labels are int32 class indices already: only a cast to an integer type is one.
            if not all(isinstance(o, transforms.TypeCast) and np.dtype(o.data_type).kind in "iu" for o in operations):
                raise Unsupported("map on the label column other than TypeCast to an integer type")
            return self
        if column not in (None, "image"):
            raise Unsupported(f"map on the column {column!r}", "'image' or 'label'")
        for o in operations:
            if not hasattr(o, "_spec"):
                raise Unsupported(f"the transform {type(o).__name__}")
            self.operations.append(o._spec())
        if num_parallel_workers:
            self.workers = int(num_parallel_workers)
        return self

    def shuffle(self, buffer_size):
        self.shuffle_flag = True
        return self

    def batch(self, batch_size, drop_remainder=False, num_parallel_workers=None):
        self.batch_size, self.drop_remainder = int(batch_size), bool(drop_remainder)
        return self

    def get_dataset_size(self):
        return self.count // self.batch_size if self.drop_remainder else -(-self.count // self.batch_size)

    def _spec(self):
        """The training-script format's `dataset:` section."""
        ops = [o for o in self.operations if o is not None]
        lines = ["dataset:", f"  source: {{idx: {{data: \"{self.images}\", label: \"{self.labels_file}\"}}}}",
                 f"  shuffle: {'true' if self.shuffle_flag else 'false'}",
                 f"  batch: {{batch_size: {self.batch_size}, drop_remainder: {'true' if self.drop_remainder else 'false'}}}"]
        if ops:
            lines.append(f"  num_parallel_workers: {self.workers}")
            lines.append(f"  map: [{{operations: [{', '.join('{' + o + '}' for o in ops)}], input_columns: data}}]")
        return lines


def _find(folder, name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.exists(path):
            return os.path.abspath(path)
    raise ValueError(f"The file {os.path.join(folder, name)} does not exist or permission denied!")


def __getattr__(name):
    raise Unsupported(f"mindspore.dataset.{name}")
