"""Makes the synthetic sequence task examples/transformer.yaml trains on. Run once; the outputs
are committed:

    python3 examples/data/make_sequences.py

Each sample is a sequence of 8 steps of 8 features: Gaussian noise (sigma 0.5) with a fixed marker
pattern (+-1.5) added at one step p; the label is p // 2 (which quarter of the sequence holds the
marker, 4 classes). Finding the marker needs every step, so the task exercises attention.
numpy RandomState(0); 512 training and 128 held-out samples; data float16 [N, 8, 8], labels
int32 [N].
"""
import os

import numpy as np

rs = np.random.RandomState(0)
steps, features = 8, 8
marker = np.where(np.arange(features) % 2 == 0, 1.5, -1.5)
out = os.path.dirname(os.path.abspath(__file__))
for name, count in [("train", 512), ("test", 128)]:
    x = rs.normal(0.0, 0.5, size=(count, steps, features))
    p = rs.randint(0, steps, size=count)
    x[np.arange(count), p] += marker
    np.save(os.path.join(out, f"sequences_{name}_x.npy"), x.astype(np.float16))
    np.save(os.path.join(out, f"sequences_{name}_y.npy"), (p // 2).astype(np.int32))
