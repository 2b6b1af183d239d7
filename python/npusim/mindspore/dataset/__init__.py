"""``mindspore.dataset``: ``NumpySlicesDataset`` and ``GeneratorDataset`` of (data, label)
samples, ``MnistDataset`` and ``Cifar10Dataset`` with ``map`` of the vision transforms the
engine has, ``batch`` and ``repeat``; iterated (``create_tuple_iterator``, ``create_dict_iterator``, ``for``) or given to
``Model.train``. The engine reads them (the random sampler's order is MindSpore's, seeded by
``set_seed``): a file dataset becomes the training-script format's ``dataset:`` section, so the
engine's pipeline (IDX decoding, MindSpore's transforms) reads the files."""
import os
import struct

import numpy as np

from . import transforms, vision

from ... import _engine
from ...errors import Unsupported
from ..common import seed as _seed
from ..common.tensor import Tensor


__all__ = ["NumpySlicesDataset", "GeneratorDataset", "MnistDataset", "Cifar10Dataset", "vision", "transforms"]

class _Iterator:
    """MindSpore's dataset iterator: each pass over it is the next epoch of the pipeline (a new
    iterator starts again at epoch 1, as a new MindSpore pipeline does); ``num_epochs`` passes
    at most (−1: any number)."""

    def __init__(self, dataset, names, num_epochs, output_numpy):
        self._pipeline = dataset._pipeline()
        self._names, self._numpy, self._repeat = names, output_numpy, dataset.repeat_count
        self._batched = dataset.batched
        self._left = num_epochs
        self._epoch, self._pass, self._open = 0, 0, False
        seed = _seed._dataset_seed
        self._seed = int.from_bytes(os.urandom(4), "little") if seed is None else seed

    def __iter__(self):
        return self

    def __next__(self):
        while True:
            if not self._open:
                if self._left == 0:
                    raise StopIteration
                self._epoch += 1
                self._pipeline.start(self._epoch, self._seed)
                self._open = True
            batch = self._pipeline.next()
            if batch is not None:
                values = [t.numpy() if self._numpy else Tensor._from_engine(t) for t in batch]
                if not self._batched:  # an unbatched dataset yields samples, without a batch axis
                    values = [v[0] for v in values]
                return dict(zip(self._names, values)) if self._names else tuple(values)
            self._open = False
            self._pass += 1
            if self._pass % self._repeat == 0:
                if self._left > 0:
                    self._left -= 1
                raise StopIteration


class _Dataset:
    """What MindSpore's datasets share: iteration, ``get_dataset_size``, ``repeat``."""
    repeat_count = 1
    batched = False

    def create_tuple_iterator(self, columns=None, num_epochs=-1, output_numpy=False, do_copy=True):
        """An iterator of (data, label) tuples of Tensors (numpy arrays with ``output_numpy``)."""
        if columns is not None:
            raise Unsupported("create_tuple_iterator(columns=...)")
        return _Iterator(self, None, num_epochs, output_numpy)

    def create_dict_iterator(self, num_epochs=-1, output_numpy=False, do_copy=True):
        """An iterator of {column name: Tensor} dicts."""
        return _Iterator(self, self._columns(), num_epochs, output_numpy)

    def __iter__(self):
        return self.create_tuple_iterator()

    def _shuffle(self, buffer_size):
        if not isinstance(buffer_size, int) or isinstance(buffer_size, bool) or buffer_size < 2:
            raise ValueError(f"Input buffer_size is not within the required interval of [2, 2147483647], got {buffer_size}.")
        if self.batched or self.repeat_count != 1:
            raise Unsupported("shuffle after batch or repeat (of whole batches)", "shuffle before batch")
        if getattr(self, "shuffle_buffer", None) is not None:
            raise Unsupported("two shuffle buffers in one pipeline")
        self.shuffle_buffer = int(buffer_size)
        return self

    def repeat(self, count=None):
        """Each pass reads ``count`` epochs (after ``batch``)."""
        if count is None or count == -1 or count < 1:
            raise Unsupported(f"repeat({count})", "a count of at least 1")
        self.repeat_count = self.repeat_count * int(count)
        return self

    def get_col_names(self):
        return self._columns()


class NumpySlicesDataset(_Dataset):
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
        self.column_names = list(column_names) if column_names else (list(data) if isinstance(data, dict) else ["column_0", "column_1"])
        self.shuffle_flag = True if shuffle is None else bool(shuffle)
        self.batch_size, self.drop_remainder = 1, False

    def batch(self, batch_size, drop_remainder=False, num_parallel_workers=None):
        self.batch_size, self.drop_remainder, self.batched = int(batch_size), bool(drop_remainder), True
        return self

    def get_dataset_size(self):
        n = len(self.labels)
        return (n // self.batch_size if self.drop_remainder else -(-n // self.batch_size)) * self.repeat_count

    def shuffle(self, buffer_size):
        """MindSpore's ``shuffle(buffer_size)``: rows pass through a buffer of ``buffer_size`` and
        leave from random slots (its engine seeded by the dataset seed, continuing from epoch to
        epoch), after the dataset's own sampler."""
        return self._shuffle(buffer_size)

    def _columns(self):
        return self.column_names

    def _pipeline(self):
        return _engine.Dataset(arrays=self._arrays())

    def _arrays(self):
        return self.data, self.labels, self.batch_size, self.drop_remainder, self.shuffle_flag, getattr(self, "shuffle_buffer", None)


class _FileDataset(_Dataset):
    """A dataset of files the engine reads (MindSpore's C++ source ops): ``map`` of the
    transforms the engine has on the image column, ``batch``, iteration, Model.train. It becomes
    the training-script format's ``dataset:`` section."""

    def _setup(self, count, shuffle):
        self.count = count
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
        if self.batch_size != 1 or self.repeat_count != 1:
            raise Unsupported("map after batch or repeat (on whole batches)", "map before batch")
        for o in operations:
            if not hasattr(o, "_spec"):
                raise Unsupported(f"the transform {type(o).__name__}")
            self.operations.append(o._spec())
        if num_parallel_workers:
            self.workers = int(num_parallel_workers)
        return self

    def shuffle(self, buffer_size):
        """MindSpore's ``shuffle(buffer_size)``: rows pass through a buffer of ``buffer_size`` and
        leave from random slots (its engine seeded by the dataset seed, continuing from epoch to
        epoch), after the dataset's own sampler."""
        return self._shuffle(buffer_size)

    def batch(self, batch_size, drop_remainder=False, num_parallel_workers=None):
        self.batch_size, self.drop_remainder, self.batched = int(batch_size), bool(drop_remainder), True
        return self

    def get_dataset_size(self):
        return (self.count // self.batch_size if self.drop_remainder else -(-self.count // self.batch_size)) * self.repeat_count

    def _columns(self):
        return ["image", "label"]

    def _pipeline(self):
        return _engine.Dataset(yaml="\n".join(self._spec()) + "\n", file=self._file)

    def _spec(self):
        """The training-script format's `dataset:` section."""
        ops = [o for o in self.operations if o is not None]
        lines = ["dataset:", f"  source: {self._source()}",
                 f"  shuffle: {'true' if self.shuffle_flag else 'false'}",
                 f"  batch: {{batch_size: {self.batch_size}, drop_remainder: {'true' if self.drop_remainder else 'false'}}}"]
        if getattr(self, "shuffle_buffer", None) is not None:
            lines.append(f"  shuffle_buffer: {self.shuffle_buffer}")
        if ops:
            lines.append(f"  num_parallel_workers: {self.workers}")
            lines.append(f"  map: [{{operations: [{', '.join('{' + o + '}' for o in ops)}], input_columns: data}}]")
        return lines


def _no_sampling(what, num_samples, sampler, num_shards):
    if num_samples is not None or sampler is not None or num_shards is not None:
        raise Unsupported(f"{what} with num_samples, a sampler or shards", "the engine shards by --cards")


class MnistDataset(_FileDataset):
    """``MnistDataset(dataset_dir, usage=None, num_samples=None, num_parallel_workers=None,
    shuffle=None)``: MNIST's IDX files in ``dataset_dir`` (``train-…`` for usage 'train', ``t10k-…``
    for 'test', whichever is there for None/'all'); samples HWC [28, 28, 1] of 0…255 and their
    labels, as MindSpore yields them."""

    def __init__(self, dataset_dir, usage=None, num_samples=None, num_parallel_workers=None, shuffle=None, sampler=None,
                 num_shards=None, shard_id=None):
        _no_sampling("MnistDataset", num_samples, sampler, num_shards)
        if usage in (None, "all"):
            # MindSpore's 'all' reads the training files then the test files, whichever are there.
            present = [p for p in ("train", "t10k") if _exists(dataset_dir, f"{p}-labels-idx1-ubyte")]
            if len(present) == 2:
                raise Unsupported("MnistDataset(usage='all') over a folder with both training and test files", "usage='train' or 'test'")
            prefix = present[0] if present else "train"
        else:
            prefix = {"train": "train", "test": "t10k"}.get(usage)
            if prefix is None:
                raise ValueError(f"usage is not within the valid set of ['train', 'test', 'all'], but got {usage!r}.")
        self.images = _find(dataset_dir, f"{prefix}-images-idx3-ubyte")
        self.labels_file = _find(dataset_dir, f"{prefix}-labels-idx1-ubyte")
        with open(self.labels_file, "rb") as f:
            _, count = struct.unpack(">II", f.read(8))
        self._file = self.images
        self._setup(count, shuffle)

    def _source(self):
        return f"{{idx: {{data: \"{self.images}\", label: \"{self.labels_file}\"}}}}"


class Cifar10Dataset(_FileDataset):
    """``Cifar10Dataset(dataset_dir, usage=None, num_samples=None, num_parallel_workers=None,
    shuffle=None)``: CIFAR-10's binary batches in ``dataset_dir`` (``data_batch_1.bin`` …
    ``data_batch_5.bin`` for usage 'train', ``test_batch.bin`` for 'test', both for None/'all',
    in that order); samples HWC [32, 32, 3] of 0…255 and their labels, as MindSpore yields them."""

    RECORD = 1 + 32 * 32 * 3

    def __init__(self, dataset_dir, usage=None, num_samples=None, num_parallel_workers=None, shuffle=None, sampler=None,
                 num_shards=None, shard_id=None):
        _no_sampling("Cifar10Dataset", num_samples, sampler, num_shards)
        if usage not in (None, "train", "test", "all"):
            raise ValueError(f"usage is not within the valid set of ['train', 'test', 'all'], but got {usage!r}.")
        names = sorted(n for n in os.listdir(dataset_dir) if n.startswith("data_batch_") and n.endswith(".bin")) if usage != "test" else []
        if usage in ("test", "all", None) and os.path.exists(os.path.join(dataset_dir, "test_batch.bin")):
            names.append("test_batch.bin")
        if not names:
            raise ValueError(f"Invalid file, no .bin files found under {dataset_dir} for usage {usage or 'all'!r}.")
        self.files = [os.path.abspath(os.path.join(dataset_dir, n)) for n in names]
        count = 0
        for path in self.files:
            size = os.path.getsize(path)
            if size % self.RECORD:
                raise ValueError(f"{path}: {size} bytes is not a whole number of CIFAR-10 records ({self.RECORD} bytes each)")
            count += size // self.RECORD
        self._file = self.files[0]
        self._setup(count, shuffle)

    def _source(self):
        return "{cifar10: {files: [" + ", ".join(f'"{f}"' for f in self.files) + "]}}"


class GeneratorDataset(NumpySlicesDataset):
    """``GeneratorDataset(source, column_names=None, shuffle=None, ...)`` of two columns (data,
    label): ``source`` random-accessible (``__getitem__`` and ``__len__``; shuffled by MindSpore's
    random sampler unless ``shuffle=False``), a generator function or an iterable (read in order).
    Its samples are read when the dataset is first used — iterated or trained on — so a source
    that draws from numpy's generator draws after the network's initializers, as in MindSpore —
    and kept for later epochs."""

    def __init__(self, source, column_names=None, column_types=None, schema=None, num_samples=None, num_parallel_workers=1,
                 shuffle=None, sampler=None, num_shards=None, shard_id=None, python_multiprocessing=True, max_rowsize=None):
        _no_sampling("GeneratorDataset", num_samples, sampler, num_shards)
        random_access = hasattr(source, "__getitem__") and hasattr(source, "__len__")
        if shuffle and not random_access:
            raise ValueError("shuffle is not supported when the source of GeneratorDataset is not random-accessible.")
        self._source_object, self._random_access = source, random_access
        names = [column_names] if isinstance(column_names, str) else list(column_names or [])
        if names and len(names) != 2:
            raise Unsupported(f"GeneratorDataset of {len(names)} columns", "two: data and label")
        self.column_names = names or ["column_0", "column_1"]
        self.shuffle_flag = random_access if shuffle is None else bool(shuffle)
        self.batch_size, self.drop_remainder = 1, False
        self._arrays_read = None

    def _read(self):
        if self._arrays_read is None:
            s = self._source_object
            rows = [s[i] for i in range(len(s))] if self._random_access else list(s() if callable(s) and not hasattr(s, "__iter__") else s)
            if not rows:
                raise ValueError("GeneratorDataset: the source gave no samples")
            if any(not isinstance(r, (tuple, list)) or len(r) != 2 for r in rows[:1]):
                raise Unsupported("GeneratorDataset rows other than (data, label) pairs")
            data = np.stack([np.asarray(r[0], dtype=np.float32) for r in rows])
            labels = np.asarray([np.asarray(r[1]).reshape(()) for r in rows]).astype(np.int32)
            self._arrays_read = (data, labels)
        return self._arrays_read

    @property
    def data(self):
        return self._read()[0]

    @property
    def labels(self):
        return self._read()[1]


def _exists(folder, name):
    return any(os.path.exists(os.path.join(folder, c)) for c in (name, name + ".gz"))


def _find(folder, name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.exists(path):
            return os.path.abspath(path)
    raise ValueError(f"The file {os.path.join(folder, name)} does not exist or permission denied!")


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)  # the import system's probes (__path__, __file__)
    raise Unsupported(f"mindspore.dataset.{name}")
