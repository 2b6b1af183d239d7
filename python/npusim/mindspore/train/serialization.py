"""``save_checkpoint``, ``load_checkpoint``, ``load_param_into_net``: MindSpore's ``.ckpt``
format, written and read by the engine (the bytes MindSpore writes; durable saves)."""
import os

import numpy as np

from ... import _engine
from ..common.tensor import Tensor


def save_checkpoint(save_obj, ckpt_file_name, **kwargs):
    """Saves a Cell's parameters (or a list of {'name':…, 'data':…}) to ``ckpt_file_name``
    (``.ckpt`` appended when missing, as MindSpore does)."""
    from ..nn import Cell, Parameter

    if kwargs:
        from ...errors import Unsupported
        raise Unsupported(f"save_checkpoint({', '.join(kwargs)}=...)")
    if isinstance(save_obj, Cell):
        entries = [(name, p.asnumpy()) for name, p in save_obj.parameters_and_names()]
    else:
        entries = [(e["name"], e["data"].asnumpy() if hasattr(e["data"], "asnumpy") else np.asarray(e["data"])) for e in save_obj]
    path = os.fspath(ckpt_file_name)
    if not path.endswith(".ckpt"):
        path += ".ckpt"
    _engine.write_checkpoint(path, entries)


def load_checkpoint(ckpt_file_name, net=None, **kwargs):
    """The checkpoint's values as {name: Parameter}; loaded into ``net`` too when given."""
    from ..nn import Parameter

    params = {name: Parameter(Tensor(value), name) for name, value in _engine.read_checkpoint(ckpt_file_name)}
    if net is not None:
        load_param_into_net(net, params)
    return params


def load_param_into_net(net, parameter_dict, strict_load=False):
    """Sets the network's parameters from ``parameter_dict``; returns (the network's names not
    loaded, the dict's names not used), as MindSpore 2.x does."""
    loaded, not_loaded = set(), []
    for name, p in net.parameters_and_names():
        if name in parameter_dict:
            value = parameter_dict[name].asnumpy()
            if tuple(value.shape) != tuple(p.shape):
                raise RuntimeError(f"For 'load_param_into_net', {name} in the argument 'net' should have the same shape as "
                                   f"{name} in the argument 'parameter_dict'. But got its shape {tuple(p.shape)} in the argument "
                                   f"'net' and shape {tuple(value.shape)} in the argument 'parameter_dict'.")
            p.data = Tensor(value.astype(np.float32))
            loaded.add(name)
        else:
            not_loaded.append(name)
    return not_loaded, [k for k in parameter_dict if k not in loaded]
