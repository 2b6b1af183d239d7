"""MindSpore's dtypes, as numpy dtypes (what ``Tensor.dtype`` compares with)."""
import numpy as np

float32 = np.dtype(np.float32)
float16 = np.dtype(np.float16)
int32 = np.dtype(np.int32)
int64 = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)
