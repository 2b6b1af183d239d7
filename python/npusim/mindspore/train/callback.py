"""``mindspore.train.callback``: ``Callback`` with MindSpore 2.10's hooks (the ``on_train_*``
hooks call the older names), ``RunContext`` and ``LossMonitor`` (MindSpore's rule: a line once
``per_print_times`` steps have passed, counted globally; NaN or Inf stops training)."""
import math
import sys

import numpy as np


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
