"""Converts the UCI optical handwritten digits (as bundled with scikit-learn) into the .npy files
the examples train on. Run once; the outputs are committed:

    python3 -m pip download scikit-learn --no-deps -d /tmp/skl   # or use an installed scikit-learn
    python3 examples/data/make_digits.py [path/to/digits.csv.gz]

digits.csv.gz: 1,797 rows of 64 pixel counts (0..16, an 8×8 image) and the digit. A fixed random
permutation (numpy RandomState(0)) puts 1,437 rows (80 %) in the training set and 360 in the
held-out set (the file's last rows come from other writers than its first: a split by position
would test on another population). Images are scaled to [0, 1]
and stored as float16 (k/16 is exact in float16), shape [N, 1, 8, 8]; labels as int32 [N].
"""
import glob
import gzip
import os
import sys
import zipfile

import numpy as np


def find_csv():
    if len(sys.argv) > 1:
        return open(sys.argv[1], "rb").read()
    try:
        import sklearn  # noqa: F401
        path = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "data", "digits.csv.gz")
        return open(path, "rb").read()
    except ImportError:
        wheels = glob.glob("/tmp/skl/scikit_learn-*.whl")
        if not wheels:
            sys.exit("give the path of digits.csv.gz, install scikit-learn, or download its wheel to /tmp/skl")
        return zipfile.ZipFile(wheels[0]).read("sklearn/datasets/data/digits.csv.gz")


def main():
    rows = np.loadtxt(gzip.decompress(find_csv()).decode().splitlines(), delimiter=",")
    assert rows.shape == (1797, 65), rows.shape
    rows = rows[np.random.RandomState(0).permutation(len(rows))]
    images = (rows[:, :64] / 16.0).astype(np.float16).reshape(-1, 1, 8, 8)
    labels = rows[:, 64].astype(np.int32)
    here = os.path.dirname(os.path.abspath(__file__))
    split = 1437
    np.save(os.path.join(here, "digits_train_x.npy"), images[:split])
    np.save(os.path.join(here, "digits_train_y.npy"), labels[:split])
    np.save(os.path.join(here, "digits_test_x.npy"), images[split:])
    np.save(os.path.join(here, "digits_test_y.npy"), labels[split:])
    print("train", images[:split].shape, "test", images[split:].shape)


if __name__ == "__main__":
    main()
