"""``mindspore.dataset`` so far: ``NumpySlicesDataset`` of (data, label) arrays with ``shuffle``
and ``batch``; the engine reads it (the random sampler's order is MindSpore's, seeded by
``set_seed``)."""
import numpy as np

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


def __getattr__(name):
    raise Unsupported(f"mindspore.dataset.{name}")
