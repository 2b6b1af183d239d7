"""Writes the .npy fixtures of NPUTensorTests with numpy itself.

Run from this folder:  python3 make_npy_fixtures.py   (numpy 2.x; the files are committed)
Good files must decode to the values below; bad files must be rejected with a named problem.
"""
import io
import numpy as np

def save(name, arr, version=None):
    buf = io.BytesIO()
    if version is None:
        np.save(buf, arr)
    else:
        np.lib.format.write_array(buf, arr, version=version)
    data = buf.getvalue()
    with open(name, "wb") as f:
        f.write(data)
    return data

# Good files: one per dtype, values chosen to exercise signs, fractions and extremes.
save("f4.npy", np.array([[1.5, -2.25, 3.0e-8], [65504.0, -0.0, 1.0 / 3.0]], dtype="<f4"))
save("f2.npy", np.array([0.5, -1.0, 65504.0, 6.1035156e-05, 0.099975586], dtype="<f2"))
save("i4.npy", np.array([[-2147483648, 0], [7, 2147483647]], dtype="<i4"))
save("i8.npy", np.array([-9223372036854775808, 1, 9223372036854775807], dtype="<i8"))
save("b1.npy", np.array([True, False, True, True], dtype="|b1"))
save("scalar_f4.npy", np.array(2.5, dtype="<f4"))
save("empty_f4.npy", np.zeros((0, 3), dtype="<f4"))
save("v2_f4.npy", np.arange(6, dtype="<f4").reshape(2, 3), version=(2, 0))

# Bad files.
good = open("f4.npy", "rb").read()
open("bad_truncated_data.npy", "wb").write(good[:-5])
open("bad_truncated_header.npy", "wb").write(good[:40])
open("bad_extra_data.npy", "wb").write(good + b"\x00" * 8)
save("bad_fortran.npy", np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3)))
save("bad_big_endian.npy", np.arange(3, dtype=">f4"))
save("bad_f8.npy", np.arange(3, dtype="<f8"))
open("bad_magic.npy", "wb").write(b"PK\x03\x04" + good[4:])
open("bad_version.npy", "wb").write(good[:6] + b"\x07\x00" + good[8:])
