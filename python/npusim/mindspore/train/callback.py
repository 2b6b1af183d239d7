"""``mindspore.train.callback``: ``Callback`` with MindSpore 2.10's hooks (the ``on_train_*``
hooks call the older names), ``RunContext`` and ``LossMonitor`` (MindSpore's rule: a line once
``per_print_times`` steps have passed, counted globally; NaN or Inf stops training)."""
import math
import sys

import numpy as np


__all__ = ["Callback", "RunContext", "LossMonitor", "TimeMonitor", "ModelCheckpoint", "CheckpointConfig"]

class _CallbackParams:
    """``cb_params``: attribute access, MindSpore's field names."""

    def __init__(self, model, dataset, epochs, sink, sink_size):
        self.train_network = model.network
        self.network = model.network
        self.loss_fn = model.loss_fn
        self.optimizer = model.optimizer
        self.train_dataset = dataset
        self.epoch_num = epochs
        self.dataset_sink_mode = bool(sink)
        self.sink_size = sink_size
        self.mode = "train"
        self.cur_epoch_num = 0
        self.cur_step_num = 0
        self.batch_num = 0
        self.net_outputs = None
        #: NPUSim's: card 0's simulated host time in seconds at this hook.
        self.simulated_seconds = 0.0

    def get(self, key, default=None):
        return getattr(self, key, default)


class RunContext:
    """``RunContext``: ``original_args()`` gives ``cb_params``; ``request_stop()`` ends training after the current step (or sink)."""

    def __init__(self, original_args):
        self._original_args = original_args
        self._stop_requested = False

    def original_args(self):
        return self._original_args

    def request_stop(self):
        self._stop_requested = True

    def get_stop_requested(self):
        return self._stop_requested


class Callback:
    """``Callback``: MindSpore 2.10's hooks (``on_train_begin`` … ``on_train_end``), which call the older names (``begin``, ``step_end``, …) by default."""

    def begin(self, run_context): pass
    def epoch_begin(self, run_context): pass
    def epoch_end(self, run_context): pass
    def step_begin(self, run_context): pass
    def step_end(self, run_context): pass
    def end(self, run_context): pass
    def on_train_begin(self, run_context): self.begin(run_context)
    def on_train_epoch_begin(self, run_context): self.epoch_begin(run_context)
    def on_train_epoch_end(self, run_context): self.epoch_end(run_context)
    def on_train_step_begin(self, run_context): self.step_begin(run_context)
    def on_train_step_end(self, run_context): self.step_end(run_context)
    def on_train_end(self, run_context): self.end(run_context)


class LossMonitor(Callback):
    """Prints ``epoch: E step: S, loss is L`` once ``per_print_times`` steps have passed since the
    last line (0: never); a NaN or infinite loss stops training with MindSpore's ValueError."""

    def __init__(self, per_print_times=1):
        if not isinstance(per_print_times, int) or isinstance(per_print_times, bool) or per_print_times < 0:
            raise ValueError(f"For 'LossMonitor', the 'per_print_times' must be int and >= 0, but got {per_print_times}.")
        self._per_print_times = per_print_times
        self._last_print_time = 0

    def step_end(self, run_context):
        p = run_context.original_args()
        loss = p.net_outputs
        step = (p.cur_step_num - 1) % p.batch_num + 1
        if isinstance(loss, float) and (math.isnan(loss) or math.isinf(loss)):
            raise ValueError(f"In epoch: {p.cur_epoch_num} step: {step}, loss is NAN or INF, training process cannot continue, terminating training.")
        if self._per_print_times != 0 and p.cur_step_num <= self._last_print_time:
            while p.cur_step_num <= self._last_print_time:
                self._last_print_time -= max(self._per_print_times, p.batch_num if p.dataset_sink_mode else 1)
        if self._per_print_times != 0 and p.cur_step_num - self._last_print_time >= self._per_print_times:
            self._last_print_time = p.cur_step_num
            print(f"epoch: {p.cur_epoch_num} step: {step}, loss is {loss}", flush=True)


class TimeMonitor(Callback):
    """MindSpore 2.10's TimeMonitor: after each epoch ``Train epoch time: T ms, per step time: S
    ms``, S = T / batch_num, with the card's simulated time (NPUSim measures the card, not the
    host's wall clock)."""

    def __init__(self, data_size=None, data_time=False):
        if data_time:
            from ...errors import Unsupported
            raise Unsupported("TimeMonitor(data_time=True)")
        self.data_size = data_size
        self._start = 0.0

    def epoch_begin(self, run_context):
        self._start = run_context.original_args().simulated_seconds

    def epoch_end(self, run_context):
        p = run_context.original_args()
        ms = (p.simulated_seconds - self._start) * 1000
        steps = p.batch_num if isinstance(p.batch_num, int) and p.batch_num > 0 else self.data_size
        if not isinstance(steps, int) or steps <= 0:
            raise ValueError(f"For 'TimeMonitor', the 'data_size' must be a positive int, but got {steps}.")
        print("{} epoch time: {:5.3f} ms, per step time: {:5.3f} ms".format(p.mode.title(), ms, ms / steps), flush=True)


class CheckpointConfig:
    """``CheckpointConfig(save_checkpoint_steps=1, save_checkpoint_seconds=0,
    keep_checkpoint_max=5, ...)``: how often ``ModelCheckpoint`` saves and how many it keeps;
    ``format`` 'ckpt' or 'safetensors'."""

    def __init__(self, save_checkpoint_steps=1, save_checkpoint_seconds=0, keep_checkpoint_max=5, keep_checkpoint_per_n_minutes=0,
                 integrated_save=True, async_save=False, saved_network=None, append_info=None, enc_key=None, enc_mode="AES-GCM",
                 exception_save=False, crc_check=False, remove_redundancy=False, format="ckpt", **kwargs):
        from ...errors import Unsupported
        for name, value in (("save_checkpoint_steps", save_checkpoint_steps), ("keep_checkpoint_max", keep_checkpoint_max)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"For 'CheckpointConfig', the '{name}' must be int and >= 0, but got {value}.")
        if save_checkpoint_seconds or keep_checkpoint_per_n_minutes or saved_network is not None or append_info or enc_key or kwargs:
            raise Unsupported("CheckpointConfig with time-based saving, saved_network, append_info or encryption")
        if format not in ("ckpt", "safetensors"):
            raise ValueError(f"For 'CheckpointConfig', the 'format' must be 'ckpt' or 'safetensors', but got {format}.")
        self.save_checkpoint_steps = save_checkpoint_steps or 1
        self.keep_checkpoint_max = keep_checkpoint_max or 1
        self.format = format


class ModelCheckpoint(Callback):
    """``ModelCheckpoint(prefix='CKP', directory=None, config=None)``: saves
    ``PREFIX-EPOCH_STEP.ckpt`` (parameters and optimizer state, MindSpore's format) as MindSpore's
    callback does; inside ``Model.train`` the engine saves them."""

    def __init__(self, prefix="CKP", directory=None, config=None):
        if not isinstance(prefix, str) or not prefix or "/" in prefix:
            raise ValueError(f"For 'ModelCheckpoint', the argument 'prefix' for checkpoint file name is invalid, '{prefix}' is given.")
        self.prefix, self.directory = prefix, directory
        self.config = config if config is not None else CheckpointConfig()
