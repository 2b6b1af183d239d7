"""ctypes bindings of libnpusim.so, the engine's C ABI (Sources/NPUSimEngine/ABI.swift).

Every engine call returns a status (0 ok, 2 bad input, 1 a failed run); a failure raises
``NpusimError`` with the engine's message. Handles are released when their Python object is.
"""
import ctypes
import os
import re

import numpy as np

#: The ABI version these bindings speak.
ABI_VERSION = 3

_DTYPES = [np.float32, np.float16, np.int32, np.int64, np.bool_]


class NpusimError(Exception):
    """An error the engine reported: ``bad_input`` for a caller error, else a failed run."""

    def __init__(self, message, status):
        super().__init__(message)
        self.status = status

    @property
    def bad_input(self):
        return self.status == 2


def library_path():
    """Where libnpusim.so is: ``$NPUSIM_LIBRARY``, else beside this package."""
    return os.environ.get("NPUSIM_LIBRARY") or os.path.join(os.path.dirname(__file__), "libnpusim.so")


def _best_coretype():
    """The OpenBLAS kernels this CPU supports best (what the npusim CLI re-executes itself with)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(re.search(r"^flags\s*:(.*)$", f.read(), re.M).group(1).split())
    except (OSError, AttributeError):
        return None
    if {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"} <= flags:
        return "SkylakeX"
    if {"avx2", "fma"} <= flags:
        return "Haswell"
    return None


#: The C type of a training callback: (user, hook, cur_epoch_num, cur_step_num, batch_num, loss,
#: simulated seconds) -> status.
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_int32, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_double,
                             ctypes.c_double)

#: MindSpore's train hooks, by the code the engine calls them with.
HOOKS = ["on_train_begin", "on_train_epoch_begin", "on_train_step_begin", "on_train_step_end", "on_train_epoch_end", "on_train_end",
         "hidden_step"]


def _load():
    path = library_path()
    if not os.path.exists(path):
        raise ImportError(f"{path} is missing: build it with `make python` (or set NPUSIM_LIBRARY)")
    # OpenBLAS picks its kernels when the library loads, from OPENBLAS_CORETYPE; Debian's build
    # falls back to slow ones on recent CPUs. The CLI re-executes itself to fix that; a library in
    # a Python process must not, so the variable is set here, before loading (never downgraded).
    rank = {"SkylakeX": 3, "Cooperlake": 3, "SapphireRapids": 3, "Haswell": 2, "Zen": 2}
    best = _best_coretype()
    current = os.environ.get("OPENBLAS_CORETYPE")
    if best and rank.get(best, 1) > rank.get(current, 1):
        os.environ["OPENBLAS_CORETYPE"] = best
    saved = os.environ.get("NPUSIM_NO_OPENBLAS_TUNE")
    os.environ["NPUSIM_NO_OPENBLAS_TUNE"] = "1"
    try:
        lib = ctypes.CDLL(path)
    finally:
        if saved is None:
            del os.environ["NPUSIM_NO_OPENBLAS_TUNE"]
        else:
            os.environ["NPUSIM_NO_OPENBLAS_TUNE"] = saved
    i32, i64, ptr, dbl = ctypes.c_int32, ctypes.c_int64, ctypes.c_void_p, ctypes.c_double
    lib.npusim_abi_version.restype = i32
    lib.npusim_last_error.restype = ctypes.c_char_p
    lib.npusim_tensor_new.argtypes = [i32, ctypes.POINTER(i64), i32, ptr, ctypes.c_size_t, ctypes.POINTER(ptr)]
    lib.npusim_tensor_new.restype = i32
    lib.npusim_tensor_free.argtypes = [ptr]
    lib.npusim_tensor_free.restype = None
    lib.npusim_tensor_info.argtypes = [ptr, ctypes.POINTER(i32), ctypes.POINTER(i32), ctypes.POINTER(i64)]
    lib.npusim_tensor_info.restype = i32
    lib.npusim_tensor_read.argtypes = [ptr, ptr, ctypes.c_size_t]
    lib.npusim_tensor_read.restype = i32
    lib.npusim_initializer_fill.argtypes = [ctypes.c_char_p, dbl, dbl, ctypes.c_uint64, ctypes.POINTER(i64), i32, ctypes.POINTER(ptr)]
    lib.npusim_initializer_fill.restype = i32
    lib.npusim_random_op.argtypes = [ctypes.c_char_p, i64, i64, ctypes.POINTER(i64), i32, dbl, dbl, ptr, ctypes.POINTER(ptr)]
    lib.npusim_random_op.restype = i32
    lib.npusim_model_from_script.argtypes = [ctypes.c_char_p, ctypes.c_char_p, i64, i32, ctypes.POINTER(ptr)]
    lib.npusim_model_from_script.restype = i32
    lib.npusim_model_free.argtypes = [ptr]
    lib.npusim_model_free.restype = None
    lib.npusim_model_load_checkpoint.argtypes = [ptr, ctypes.c_char_p]
    lib.npusim_model_load_checkpoint.restype = i32
    lib.npusim_model_parameter.argtypes = [ptr, ctypes.c_char_p, ctypes.POINTER(ptr)]
    lib.npusim_model_parameter.restype = i32
    lib.npusim_model_train.argtypes = [ptr, i64, i32, i64, i64, _CALLBACK, ptr]
    lib.npusim_model_train.restype = i32
    lib.npusim_model_set_parameter.argtypes = [ptr, ctypes.c_char_p, ptr]
    lib.npusim_model_set_parameter.restype = i32
    lib.npusim_model_train_arrays.argtypes = [ptr, ptr, ptr, i64, i32, i32, i64, i64, i32, i64, i64, _CALLBACK, ptr]
    lib.npusim_model_train_arrays.restype = i32
    lib.npusim_model_eval.argtypes = [ptr, ptr, ctypes.POINTER(dbl), i32]
    lib.npusim_model_eval.restype = i32
    lib.npusim_checkpoint_read.argtypes = [ctypes.c_char_p, ctypes.POINTER(ptr)]
    lib.npusim_checkpoint_read.restype = i32
    lib.npusim_checkpoint_count.argtypes = [ptr]
    lib.npusim_checkpoint_count.restype = i32
    lib.npusim_checkpoint_entry.argtypes = [ptr, i32, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ptr)]
    lib.npusim_checkpoint_entry.restype = i32
    lib.npusim_checkpoint_free.argtypes = [ptr]
    lib.npusim_checkpoint_free.restype = None
    lib.npusim_checkpoint_write.argtypes = [ctypes.c_char_p, i32, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ptr)]
    lib.npusim_checkpoint_write.restype = i32
    pp, i32p = ctypes.POINTER(ptr), ctypes.POINTER(i32)
    for name, args in {
        "npusim_eager_new": [ctypes.c_char_p, i32, i64, pp], "npusim_eager_record": [ptr, i32, i64],
        "npusim_eager_op": [ptr, ctypes.c_char_p, ctypes.c_char_p, pp, i32, pp, i32, i32p],
        "npusim_eager_grad": [ptr, ptr, pp, i32, ctypes.c_float, pp], "npusim_eager_sync": [ptr, ctypes.POINTER(dbl)],
        "npusim_dataset_from_yaml": [ctypes.c_char_p, ctypes.c_char_p, pp], "npusim_dataset_from_arrays": [ptr, ptr, i64, i32, i32, i64, pp],
        "npusim_dataset_size": [ptr, ctypes.POINTER(i64)], "npusim_dataset_start": [ptr, i64, ctypes.c_uint32],
        "npusim_dataset_next": [ptr, pp, pp],
    }.items():
        getattr(lib, name).argtypes = args
        getattr(lib, name).restype = i32
    lib.npusim_profile_write.argtypes = [ctypes.c_char_p, pp, i32, ptr, ctypes.POINTER(ctypes.c_void_p)]
    lib.npusim_profile_write.restype = i32
    lib.npusim_string_free.argtypes = [ptr]
    lib.npusim_string_free.restype = None
    lib.npusim_observe_begin.argtypes = [i32, ctypes.c_char_p, ctypes.c_char_p, i64]
    lib.npusim_observe_begin.restype = i32
    lib.npusim_observe_end.argtypes = []
    lib.npusim_observe_end.restype = i32
    lib.npusim_synthetic.argtypes = [i64, ctypes.POINTER(i64), i32, i64, ctypes.c_uint64, pp, pp]
    lib.npusim_synthetic.restype = i32
    lib.npusim_model_add_checkpoint.argtypes = [ptr, ctypes.c_char_p, ctypes.c_char_p, i64, i64, i32]
    lib.npusim_model_add_checkpoint.restype = i32
    i64p = ctypes.POINTER(i64)
    for name, args in {
        "npusim_graph_new": [ptr, pp], "npusim_graph_input": [ptr, ctypes.c_char_p, i32, i64p, i32, i64p],
        "npusim_graph_parameter": [ptr, ctypes.c_char_p, ptr, i64p], "npusim_graph_constant": [ptr, ptr, i64p],
        "npusim_graph_op": [ptr, ctypes.c_char_p, ctypes.c_char_p, i64p, i32, i64p, i32, i32p],
        "npusim_graph_type": [ptr, i64, i32p, i32p, i64p], "npusim_graph_gradients": [ptr, i64, i64p, i32, ctypes.c_float, i64p],
        "npusim_graph_assign": [ptr, ctypes.c_char_p, i64], "npusim_graph_compile": [ptr, i64p, i32],
        "npusim_graph_run": [ptr, pp, i32, pp], "npusim_graph_get_parameter": [ptr, ctypes.c_char_p, pp],
        "npusim_graph_set_parameter": [ptr, ctypes.c_char_p, ptr],
    }.items():
        getattr(lib, name).argtypes = args
        getattr(lib, name).restype = i32
    lib.npusim_graph_free.argtypes = [ptr]
    lib.npusim_graph_free.restype = None
    lib.npusim_op_new.argtypes = [ctypes.c_char_p, ctypes.c_char_p, pp]
    lib.npusim_op_new.restype = i32
    lib.npusim_eager_apply.argtypes = [ptr, ptr, pp, i32, pp, i32, i32p]
    lib.npusim_eager_apply.restype = i32
    for name in ("npusim_eager_free", "npusim_dataset_free", "npusim_op_free"):
        getattr(lib, name).argtypes = [ptr]
        getattr(lib, name).restype = None
    if lib.npusim_abi_version() != ABI_VERSION:
        raise ImportError(f"{path} speaks ABI {lib.npusim_abi_version()}, these bindings {ABI_VERSION}: rebuild with `make python`")
    return lib


_lib = _load()


def _check(status):
    if status != 0:
        raise NpusimError(_lib.npusim_last_error().decode("utf-8", "replace"), status)


def _dims(shape):
    shape = tuple(int(d) for d in shape)
    return (ctypes.c_int64 * max(len(shape), 1))(*shape), len(shape)


def abi_version():
    """The engine's ABI version."""
    return _lib.npusim_abi_version()


class Tensor:
    """An engine tensor: made from a numpy array (copied in), read back with ``numpy()``."""

    def __init__(self, array=None, _handle=None):
        if _handle is not None:
            self._handle = _handle
            return
        a = np.asarray(array)
        if not a.flags.c_contiguous:
            a = a.copy(order="C")  # (ascontiguousarray would make a 0-d array 1-d)
        if a.dtype.type not in _DTYPES:
            raise TypeError(f"dtype {a.dtype} is not one of float32, float16, int32, int64, bool")
        dims, n = _dims(a.shape)
        out = ctypes.c_void_p()
        _check(_lib.npusim_tensor_new(_DTYPES.index(a.dtype.type), dims, n, a.ctypes.data_as(ctypes.c_void_p), a.nbytes, ctypes.byref(out)))
        self._handle = out

    def __del__(self):
        handle = getattr(self, "_handle", None)
        if handle and _lib is not None:
            _lib.npusim_tensor_free(handle)
            self._handle = None

    def _info(self):
        dtype, ndim, dims = ctypes.c_int32(), ctypes.c_int32(), (ctypes.c_int64 * 32)()
        _check(_lib.npusim_tensor_info(self._handle, ctypes.byref(dtype), ctypes.byref(ndim), dims))
        return _DTYPES[dtype.value], tuple(dims[k] for k in range(ndim.value))

    @property
    def dtype(self):
        return np.dtype(self._info()[0])

    @property
    def shape(self):
        return self._info()[1]

    def numpy(self):
        """The values, as a new numpy array."""
        dtype, shape = self._info()
        out = np.empty(shape, dtype=dtype)
        _check(_lib.npusim_tensor_read(self._handle, out.ctypes.data_as(ctypes.c_void_p), out.nbytes))
        return out


def initializer_fill(name, shape, seed, a=float("nan"), b=float("nan")):
    """MindSpore's initializer ``name`` over ``shape``, drawn from Philox with ``seed`` (the seed
    MindSpore draws from numpy's global generator); ``a``, ``b`` its parameters (NaN: defaults)."""
    dims, n = _dims(shape)
    out = ctypes.c_void_p()
    _check(_lib.npusim_initializer_fill(name.encode(), float(a), float(b), int(seed), dims, n, ctypes.byref(out)))
    return Tensor(_handle=out)


def random_op(name, seed, seed2, shape=(), a=float("nan"), b=float("nan"), input=None):
    """One PyNative call of MindSpore's random op ``name`` with the seed pair (``seed``,
    ``seed2``) MindSpore's seed rules gave it; ``input`` (a Tensor) for ``dropout``."""
    dims, n = _dims(shape)
    out = ctypes.c_void_p()
    _check(_lib.npusim_random_op(name.encode(), int(seed), int(seed2), dims, n, float(a), float(b),
                                 input._handle if input is not None else None, ctypes.byref(out)))
    return Tensor(_handle=out)


def observe_begin(mode, path, reference=None, index=0):
    """Observes every op launch of this process (``npusim localize``): ``mode`` "record",
    "compare" (with replay A's ``reference``) or "capture" (launch ``index``)."""
    _check(_lib.npusim_observe_begin(["record", "compare", "capture"].index(mode), os.fspath(path).encode(),
                                     os.fspath(reference).encode() if reference else None, int(index)))


def observe_end():
    """Ends the observation and writes its result."""
    _check(_lib.npusim_observe_end())


def synthetic(count, shape, classes, seed=0):
    """The training-script format's synthetic source: (data float32 [count, *shape], labels int32 [count])."""
    dims, n = _dims(shape)
    d, l = ctypes.c_void_p(), ctypes.c_void_p()
    _check(_lib.npusim_synthetic(int(count), dims, n, int(classes), int(seed), ctypes.byref(d), ctypes.byref(l)))
    return Tensor(_handle=d).numpy(), Tensor(_handle=l).numpy()


def write_profile(folder, models=(), eager=None):
    """Writes the profile of the models' cards (made with ``record=True``) and of the PyNative
    context into ``folder`` in the Ascend layout; returns what ``npusim profile`` prints of it."""
    handles = (ctypes.c_void_p * max(len(models), 1))(*[m._handle for m in models])
    text = ctypes.c_void_p()
    _check(_lib.npusim_profile_write(os.fspath(folder).encode(), handles, len(models), eager._handle if eager is not None else None,
                                     ctypes.byref(text)))
    try:
        return ctypes.string_at(text.value).decode()
    finally:
        _lib.npusim_string_free(text)


def read_checkpoint(path):
    """The (name, numpy array) pairs of a checkpoint: MindSpore's ``.ckpt`` or safetensors."""
    handle = ctypes.c_void_p()
    _check(_lib.npusim_checkpoint_read(os.fspath(path).encode(), ctypes.byref(handle)))
    try:
        out = []
        for k in range(_lib.npusim_checkpoint_count(handle)):
            name, t = ctypes.c_char_p(), ctypes.c_void_p()
            _check(_lib.npusim_checkpoint_entry(handle, k, ctypes.byref(name), ctypes.byref(t)))
            out.append((name.value.decode(), Tensor(_handle=t).numpy()))
        return out
    finally:
        _lib.npusim_checkpoint_free(handle)


def write_checkpoint(path, entries):
    """Writes (name, array) pairs durably: MindSpore's ``.ckpt`` for a ``.ckpt`` name, else safetensors."""
    tensors = [Tensor(np.asarray(a)) for _, a in entries]  # alive until the call returns
    names = (ctypes.c_char_p * max(len(entries), 1))(*[n.encode() for n, _ in entries])
    handles = (ctypes.c_void_p * max(len(entries), 1))(*[t._handle for t in tensors])
    _check(_lib.npusim_checkpoint_write(os.fspath(path).encode(), len(entries), names, handles))


class ScriptModel:
    """A model the engine builds from a training script's text (Docs/ScriptFormat.md), trained by
    the engine's ``Model.train`` with a Python callback at every hook."""

    def __init__(self, yaml_text, file="<script>", seed=None, keep_hidden=False, record=False):
        out = ctypes.c_void_p()
        flags = (1 if keep_hidden else 0) | (2 if record else 0)
        _check(_lib.npusim_model_from_script(yaml_text.encode(), file.encode(), -1 if seed is None else int(seed), flags, ctypes.byref(out)))
        self._handle = out

    def __del__(self):
        handle = getattr(self, "_handle", None)
        if handle and _lib is not None:
            _lib.npusim_model_free(handle)
            self._handle = None

    def add_checkpoint(self, prefix, directory, save_steps, keep_max, format="ckpt"):
        """Adds MindSpore's ModelCheckpoint (saved by the engine) to the training callbacks."""
        _check(_lib.npusim_model_add_checkpoint(self._handle, prefix.encode(), None if directory is None else os.fspath(directory).encode(),
                                                int(save_steps), int(keep_max), 1 if format == "safetensors" else 0))

    def load_checkpoint(self, path):
        """Loads a MindSpore ``.ckpt`` (or safetensors) into the parameters."""
        _check(_lib.npusim_model_load_checkpoint(self._handle, os.fspath(path).encode()))

    def parameter(self, name):
        """A parameter's current value (a numpy array)."""
        out = ctypes.c_void_p()
        _check(_lib.npusim_model_parameter(self._handle, name.encode(), ctypes.byref(out)))
        return Tensor(_handle=out).numpy()

    def set_parameter(self, name, value):
        """Sets a parameter on every card (float32 array of its shape)."""
        value = Tensor(np.asarray(value, dtype=np.float32))  # alive until the call returns
        _check(_lib.npusim_model_set_parameter(self._handle, name.encode(), value._handle))

    def train(self, epochs=0, callback=None, sink=None, sink_size=0, arrays=None, max_steps=0):
        """``Model.train``: ``callback(hook, cur_epoch_num, cur_step_num, batch_num, loss)`` is
        called at every hook (names in ``HOOKS``); it returns True to request a stop. An exception
        it raises stops training and is raised here; ``simulated_seconds`` is card 0's simulated
        host time at the hook. ``arrays`` = (data, labels, batch_size,
        drop_remainder, shuffle) trains on those instead of the script's dataset; ``max_steps`` > 0
        ends training after that many steps. With ``keep_hidden``, hook ``hidden_step`` reports each
        step a sink hid (its step number in the epoch in place of cur_step_num) before
        on_train_step_end."""
        failure = []

        def bridge(user, hook, epoch, step, batch_num, loss, seconds):
            self.simulated_seconds = seconds
            try:
                return 1 if callback(HOOKS[hook], epoch, step, batch_num, loss) else 0
            except BaseException as e:  # re-raised below, after the engine has stopped
                failure.append(e)
                return -1

        function = _CALLBACK(bridge) if callback is not None else _CALLBACK()
        sink_code = -1 if sink is None else int(bool(sink))
        if arrays is None:
            status = _lib.npusim_model_train(self._handle, int(epochs), sink_code, int(sink_size), int(max_steps), function, None)
        else:
            # arrays: (data, labels, batch_size, drop_remainder, shuffle, shuffle buffer or None); the
            # tensors live through the call.
            data, labels, batch_size, drop_remainder, shuffle, buffer = arrays
            d, l = Tensor(np.asarray(data, dtype=np.float32)), Tensor(np.asarray(labels, dtype=np.int32))
            status = _lib.npusim_model_train_arrays(self._handle, d._handle, l._handle, int(batch_size), int(bool(drop_remainder)),
                                                    int(bool(shuffle)), int(buffer or 0), int(epochs), sink_code, int(sink_size), int(max_steps), function, None)
        if failure:
            raise failure[0]
        _check(status)

    def eval(self, dataset, count):
        """``Model.eval`` on an engine ``Dataset``: the script's metrics, in order (``count`` of them)."""
        out = (ctypes.c_double * count)()
        _check(_lib.npusim_model_eval(self._handle, dataset._handle, out, count))
        return list(out)


class Op:
    """An engine op kept between calls (a random op's kernel continues its stream), as the
    primitive a MindSpore cell makes at construction."""

    def __init__(self, type, attributes="{}"):
        out = ctypes.c_void_p()
        _check(_lib.npusim_op_new(type.encode(), attributes.encode(), ctypes.byref(out)))
        self._handle = out
        self.type, self.attributes = type, attributes

    def __del__(self):
        handle = getattr(self, "_handle", None)
        if handle and _lib is not None:
            _lib.npusim_op_free(handle)
            self._handle = None


class Eager:
    """A PyNative context: ops run at once on a simulated card (``device`` a built-in profile,
    ``determinism`` "off"/"on"/"strict", ``order_seed`` None for OS entropy); a gradient function
    is recorded between ``record(step)`` and ``stop()``."""

    def __init__(self, device="ascend910", determinism="off", order_seed=None):
        out = ctypes.c_void_p()
        _check(_lib.npusim_eager_new(device.encode(), ["off", "on", "strict"].index(determinism),
                                     -1 if order_seed is None else int(order_seed), ctypes.byref(out)))
        self._handle = out

    def __del__(self):
        handle = getattr(self, "_handle", None)
        if handle and _lib is not None:
            _lib.npusim_eager_free(handle)
            self._handle = None

    def op(self, type, inputs, attributes="{}"):
        """Runs op ``type`` (a name, or an ``Op`` kept between calls) on the engine Tensors
        ``inputs``; its outputs as engine Tensors."""
        n = len(inputs)
        handles = (ctypes.c_void_p * max(n, 1))(*[t._handle for t in inputs])
        outs, produced = (ctypes.c_void_p * 4)(), ctypes.c_int32()
        if isinstance(type, Op):
            _check(_lib.npusim_eager_apply(self._handle, type._handle, handles, n, outs, 4, ctypes.byref(produced)))
        else:
            _check(_lib.npusim_eager_op(self._handle, type.encode(), attributes.encode(), handles, n, outs, 4, ctypes.byref(produced)))
        return [Tensor(_handle=ctypes.c_void_p(outs[k])) for k in range(produced.value)]

    def record(self, step):
        """Starts recording a gradient function as step ``step``."""
        _check(_lib.npusim_eager_record(self._handle, 1, int(step)))

    def stop(self):
        """Ends the recording (its tape is forgotten)."""
        _check(_lib.npusim_eager_record(self._handle, 0, 0))

    def grad(self, loss, wrt, sens=1.0):
        """d``loss``/d``wrt`` (engine Tensors) of the recorded function; zeros where it does not depend."""
        n = len(wrt)
        handles = (ctypes.c_void_p * max(n, 1))(*[t._handle for t in wrt])
        outs = (ctypes.c_void_p * max(n, 1))()
        _check(_lib.npusim_eager_grad(self._handle, loss._handle, handles, n, float(sens), outs))
        return [Tensor(_handle=ctypes.c_void_p(outs[k])) for k in range(n)]

    def sync(self):
        """Waits (in simulated time) for the card; the host's simulated time in seconds."""
        seconds = ctypes.c_double()
        _check(_lib.npusim_eager_sync(self._handle, ctypes.byref(seconds)))
        return seconds.value


def _ids(values):
    return (ctypes.c_int64 * max(len(values), 1))(*[int(v) for v in values])


class Graph:
    """A graph being traced (then compiled and run as steps) on the PyNative context ``eager``'s
    card. Values are integer ids."""

    def __init__(self, eager):
        out = ctypes.c_void_p()
        _check(_lib.npusim_graph_new(eager._handle, ctypes.byref(out)))
        self._handle = out

    def __del__(self):
        handle = getattr(self, "_handle", None)
        if handle and _lib is not None:
            _lib.npusim_graph_free(handle)
            self._handle = None

    def input(self, name, dtype, shape):
        dims, n = _dims(shape)
        out = ctypes.c_int64()
        _check(_lib.npusim_graph_input(self._handle, name.encode(), _DTYPES.index(np.dtype(dtype).type), dims, n, ctypes.byref(out)))
        return out.value

    def parameter(self, name, value):
        out = ctypes.c_int64()
        _check(_lib.npusim_graph_parameter(self._handle, name.encode(), value._handle, ctypes.byref(out)))
        return out.value

    def constant(self, value):
        out = ctypes.c_int64()
        _check(_lib.npusim_graph_constant(self._handle, value._handle, ctypes.byref(out)))
        return out.value

    def op(self, type, inputs, attributes="{}"):
        outs, produced = (ctypes.c_int64 * 4)(), ctypes.c_int32()
        _check(_lib.npusim_graph_op(self._handle, type.encode(), attributes.encode(), _ids(inputs), len(inputs), outs, 4, ctypes.byref(produced)))
        return [outs[k] for k in range(produced.value)]

    def type(self, value):
        """(numpy dtype, shape) of a value."""
        dtype, ndim, dims = ctypes.c_int32(), ctypes.c_int32(), (ctypes.c_int64 * 32)()
        _check(_lib.npusim_graph_type(self._handle, int(value), ctypes.byref(dtype), ctypes.byref(ndim), dims))
        return np.dtype(_DTYPES[dtype.value]), tuple(dims[k] for k in range(ndim.value))

    def gradients(self, loss, wrt, sens=1.0):
        out = (ctypes.c_int64 * max(len(wrt), 1))()
        _check(_lib.npusim_graph_gradients(self._handle, int(loss), _ids(wrt), len(wrt), float(sens), out))
        return [out[k] for k in range(len(wrt))]

    def assign(self, name, value):
        _check(_lib.npusim_graph_assign(self._handle, name.encode(), int(value)))

    def compile(self, fetches):
        self.fetch_count = len(fetches)
        _check(_lib.npusim_graph_compile(self._handle, _ids(fetches), len(fetches)))

    def run(self, feeds):
        """One step: the feeds (engine Tensors, in input order); the fetched engine Tensors."""
        handles = (ctypes.c_void_p * max(len(feeds), 1))(*[t._handle for t in feeds])
        outs = (ctypes.c_void_p * max(self.fetch_count, 1))()
        _check(_lib.npusim_graph_run(self._handle, handles, len(feeds), outs))
        return [Tensor(_handle=ctypes.c_void_p(outs[k])) for k in range(self.fetch_count)]

    def get_parameter(self, name):
        out = ctypes.c_void_p()
        _check(_lib.npusim_graph_get_parameter(self._handle, name.encode(), ctypes.byref(out)))
        return Tensor(_handle=out)

    def set_parameter(self, name, value):
        _check(_lib.npusim_graph_set_parameter(self._handle, name.encode(), value._handle))


class Dataset:
    """The engine's data pipeline, read batch by batch: from a ``dataset:`` section (``yaml``)
    or from arrays (``arrays`` = data, labels, batch_size, drop_remainder, shuffle, shuffle buffer
    or None)."""

    def __init__(self, yaml=None, file="<dataset>", arrays=None):
        out = ctypes.c_void_p()
        if arrays is not None:
            data, labels, batch_size, drop_remainder, shuffle, buffer = arrays
            d, l = Tensor(np.asarray(data, dtype=np.float32)), Tensor(np.asarray(labels, dtype=np.int32))
            _check(_lib.npusim_dataset_from_arrays(d._handle, l._handle, int(batch_size), int(bool(drop_remainder)), int(bool(shuffle)),
                                                   int(buffer or 0), ctypes.byref(out)))
        else:
            _check(_lib.npusim_dataset_from_yaml(yaml.encode(), file.encode(), ctypes.byref(out)))
        self._handle = out

    def __del__(self):
        handle = getattr(self, "_handle", None)
        if handle and _lib is not None:
            _lib.npusim_dataset_free(handle)
            self._handle = None

    def size(self):
        """Batches per epoch."""
        n = ctypes.c_int64()
        _check(_lib.npusim_dataset_size(self._handle, ctypes.byref(n)))
        return n.value

    def start(self, epoch, seed):
        """Starts reading ``epoch`` (from 1) with the dataset seed ``seed``."""
        _check(_lib.npusim_dataset_start(self._handle, int(epoch), int(seed) & 0xFFFFFFFF))

    def next(self):
        """The next (data, labels) engine Tensors, or None after the epoch's last batch."""
        d, l = ctypes.c_void_p(), ctypes.c_void_p()
        _check(_lib.npusim_dataset_next(self._handle, ctypes.byref(d), ctypes.byref(l)))
        if not d.value:
            return None
        return Tensor(_handle=d), Tensor(_handle=l)
