"""Makes the random-transform fixtures the tests read (run once, with MindSpore 2.10 on CPU;
num_parallel_workers 2 needs a machine with at least 2 cores).

    python make_fixtures.py   # in this folder

x.npy (16 float32 images 4x5x3), gray.npy (their channel 0) and y.npy (their indices as labels)
go through
  NumpySlicesDataset(shuffle=True) -> map(operations, num_parallel_workers=W) after set_seed(1234),
for two epochs of one iterator, with
  gray: [RandomCrop((3, 3), padding=1), RandomHorizontalFlip(0.5)] on gray.npy,
  rgb:  [RandomCrop((6, 4), padding=[1, 0], pad_if_needed=True, fill_value=(10, 20, 30)),
         RandomHorizontalFlip(0.3)],
and writes what comes out, in order: {case}_w{W}_data.npy and {case}_w{W}_label.npy.
"""
import numpy as np
import mindspore as ms
import mindspore.dataset as ds
import mindspore.dataset.vision as vision

n = 16
x = (np.arange(n * 4 * 5 * 3).reshape(n, 4, 5, 3) * 7 % 251).astype(np.float32)
y = np.arange(n, dtype=np.int32)
np.save("x.npy", x)
np.save("y.npy", y)
cases = {
    "gray": (x[..., :1].copy(), lambda: [vision.RandomCrop((3, 3), padding=1), vision.RandomHorizontalFlip(0.5)]),
    "rgb": (x, lambda: [vision.RandomCrop((6, 4), padding=[1, 0], pad_if_needed=True, fill_value=(10, 20, 30)),
                        vision.RandomHorizontalFlip(0.3)]),
}
np.save("gray.npy", cases["gray"][0])
for name, (images, ops) in cases.items():
    for workers in (1, 2):
        ms.set_seed(1234)
        d = ds.NumpySlicesDataset({"data": images, "label": y}, shuffle=True)
        d = d.map(operations=ops(), input_columns="data", num_parallel_workers=workers)
        data, labels = [], []
        it = d.create_dict_iterator(num_epochs=2, output_numpy=True)
        for _ in range(2):
            for row in it:
                data.append(row["data"])
                labels.append(int(row["label"]))
        np.save(f"{name}_w{workers}_data.npy", np.stack(data).astype(np.float32))
        np.save(f"{name}_w{workers}_label.npy", np.array(labels, dtype=np.int32))
