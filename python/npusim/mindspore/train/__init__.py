"""``mindspore.train`` so far: ``Model.train`` (the engine's Model: MindSpore 2.10's loop),
``Callback``, ``RunContext``, ``LossMonitor``."""
import sys

import numpy as np

from ... import _engine, _options
from .. import _pynative, _steps
from ...errors import InputError, Unsupported
from .. import context
from ..common import seed as seed_rules
from ..common.tensor import Tensor
from .callback import CheckpointConfig, Callback, LossMonitor, ModelCheckpoint, RunContext, TimeMonitor, _CallbackParams
from .metrics import Accuracy, Loss, Metric
from ..profiler import Profiler
from .serialization import load_checkpoint, load_param_into_net, save_checkpoint
from ..amp import DynamicLossScaleManager, FixedLossScaleManager, LossScaleManager


from ..nn._tracing import _mapping, _yaml, trace


__all__ = ["Model", "Callback", "RunContext", "LossMonitor", "TimeMonitor", "ModelCheckpoint", "CheckpointConfig", "Accuracy", "Loss", "Metric", "load_checkpoint", "load_param_into_net", "save_checkpoint", "DynamicLossScaleManager", "FixedLossScaleManager", "LossScaleManager"]

class Model:
    """``Model(network, loss_fn, optimizer, metrics=None, amp_level="O0", loss_scale_manager=None)``:
    ``train`` runs the engine's ``Model.train`` (the network built from the cells' layer specs, the
    parameters the cells drew); ``amp_level`` O0, O1, O2 or O3 (O2 with MindSpore's dynamic
    loss scale unless a manager is given)."""

    def __init__(self, network, loss_fn=None, optimizer=None, metrics=None, eval_network=None, amp_level="O0", loss_scale_manager=None, **kwargs):
        if loss_fn is None or optimizer is None:
            raise Unsupported("Model without loss_fn or optimizer")
        if eval_network is not None or kwargs:
            raise Unsupported("Model with eval_network or other options")
        if amp_level not in ("O0", "O1", "O2", "O3"):
            raise Unsupported(f"Model(amp_level={amp_level!r})", "amp_level O0, O1, O2 and O3 so far")
        from ..amp import LossScaleManager
        if loss_scale_manager is not None and not isinstance(loss_scale_manager, LossScaleManager):
            raise TypeError(f"The argument 'loss_scale_manager' must be a LossScaleManager, but got {type(loss_scale_manager).__name__}")
        self.network, self.loss_fn, self.optimizer = network, loss_fn, optimizer
        self._amp_level, self._loss_scale_manager = amp_level, loss_scale_manager
        # The metrics by the names eval reports them under, each the engine's metric name.
        if metrics is None:
            self._metrics = {}
        elif isinstance(metrics, dict):
            self._metrics = {k: m._engine_name for k, m in metrics.items()}
        else:
            names = {"accuracy": "Accuracy", "acc": "Accuracy", "loss": "Loss"}
            unknown = [m for m in metrics if str(m).lower() not in names]
            if unknown:
                raise Unsupported(f"metrics {unknown}", "Accuracy and Loss so far")
            self._metrics = {m: names[str(m).lower()] for m in metrics}
        self._engine = None

    def _script(self, dataset):
        loss_kind, loss_args = self.loss_fn._loss_spec()
        opt_kind, opt_args = self.optimizer._optimizer_spec()
        seed = seed_rules.get_seed()
        nodes, output = trace(self.network)
        mode = "graph" if context.get_context("mode") == context.GRAPH_MODE else "pynative"
        determinism = _pynative.determinism()
        extra = "".join(f", {k}: {v}" for k, v in (("order_seed", _options.order_seed()), ("cards", _options.cards()),
                                                      ("allreduce_determinism", _options.hccl_determinism())) if v is not None)
        if hasattr(dataset, "_spec"):
            section = dataset._spec()  # a file dataset: the engine's pipeline reads it
        else:
            # Arrays: the section only sizes the step; training reads the arrays given.
            section = ["dataset:",
                       f"  source: {{synthetic: {{count: {len(dataset.labels)}, shape: {list(dataset.data.shape[1:])}, classes: {int(dataset.labels.max()) + 1}}}}}",
                       f"  batch: {{batch_size: {dataset.batch_size}, drop_remainder: {_yaml(dataset.drop_remainder)}}}"]
        return "\n".join([
            f"seed: {seed}" if seed is not None else "",
            f'context: {{mode: {mode}, device: "{_options.device()}", determinism: "{determinism}", amp_level: {self._amp_level}{extra}}}',

            *section,
            "network:",
            "  nodes:",
            *nodes,
            f"  output: {output}",
            f"loss: {{{loss_kind}: {_mapping(loss_args)}}}",
            f"optimizer: {{{opt_kind}: {_mapping(opt_args)}}}",
            *self._loss_scale_section(),
            *self._eval_section(section),
            "train: {epochs: 1}",
            "",
        ])

    def _loss_scale_section(self):
        if self._loss_scale_manager is None:
            return []
        kind, args = self._loss_scale_manager._spec()
        return [f"loss_scale_manager: {{{kind}: {_mapping(args)}}}"]

    def _eval_section(self, dataset_section):
        """The script's `eval:`: the metrics, over the training data's section (eval reads its own)."""
        if not self._metrics:
            return []
        return ["eval:", *["  " + line for line in dataset_section],
                f"  metrics: [{', '.join(sorted(set(self._metrics.values())))}]"]

    def eval(self, valid_dataset, callbacks=None, dataset_sink_mode=False):
        """``Model.eval``: the metrics by their names, computed by the engine's Model.eval on the
        trained (or, before training, the initial) parameters."""
        if not self._metrics:
            raise ValueError("For Model.eval, the model argument 'metrics' can not be None or empty, you should set the argument 'metrics' for model.")
        if callbacks:
            raise Unsupported("Model.eval with callbacks")
        if self._engine is None:
            self._engine = _engine.ScriptModel(self._script(valid_dataset), file="<model>")
            for name, p in self.network.parameters_and_names():
                self._engine.set_parameter(name, p.asnumpy())
        order = sorted(set(self._metrics.values()))
        values = self._engine.eval(valid_dataset._pipeline(), len(order))
        by_name = dict(zip(order, values))
        return {k: by_name[v] for k, v in self._metrics.items()}

    def train(self, epoch, train_dataset, callbacks=None, dataset_sink_mode=False, sink_size=-1, initial_epoch=0):
        if initial_epoch:
            raise Unsupported("Model.train(initial_epoch=...)")
        callbacks = [] if callbacks is None else (list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks])
        # npusim run's flags win over the script's arguments.
        epoch = _options.epochs() or epoch
        dataset_sink_mode = dataset_sink_mode if _options.sink() is None else _options.sink()
        sink_size = sink_size if _options.sink_size() is None else _options.sink_size()
        _steps.check()
        try:
            engine = _engine.ScriptModel(self._script(train_dataset), file="<model>", keep_hidden=_options.hidden_steps(),
                                         record=_options.profile() is not None or Profiler.recording())
            _steps.models.append(engine)  # what a profile shows
        except _engine.NpusimError as e:
            if not e.bad_input:
                raise
            raise InputError(f"Model.train: the network cannot be built for this dataset: {e}") from None
        for name, p in self.network.parameters_and_names():
            engine.set_parameter(name, p.asnumpy())
        for c in callbacks:
            if isinstance(c, ModelCheckpoint):  # the engine saves what MindSpore's callback saves
                engine.add_checkpoint(c.prefix, c.directory, c.config.save_checkpoint_steps, c.config.keep_checkpoint_max, c.config.format)
        callbacks = [c for c in callbacks if not isinstance(c, ModelCheckpoint)]
        params = _CallbackParams(self, train_dataset, epoch, dataset_sink_mode, sink_size)
        run = RunContext(params)

        def hook(name, cur_epoch, cur_step, batch_num, loss):
            if name == "hidden_step":  # a step a sink hid: its number in the epoch is cur_step here
                _steps.step_done(loss, cur_epoch, cur_step, visible=False)
                return False
            if name == "on_train_step_end":
                _steps.step_done(loss, cur_epoch, (cur_step - 1) % batch_num + 1 if batch_num > 0 else cur_step,
                                 count=cur_step - last[0])
                last[0] = cur_step
                if _options.parameter_trace():
                    _steps.trace_parameters([engine.parameter(n) for n, p in self.network.parameters_and_names() if p.requires_grad])
            params.cur_epoch_num, params.cur_step_num, params.batch_num = cur_epoch, cur_step, batch_num
            params.simulated_seconds = engine.simulated_seconds
            params.net_outputs = None if np.isnan(loss) and name != "on_train_step_end" else loss
            for c in callbacks:
                getattr(c, name)(run)
            return run.get_stop_requested()

        last = [0]  # cur_step_num at the last step end the host saw
        arrays = None if hasattr(train_dataset, "_spec") else train_dataset._arrays()
        per_sink = 1
        if dataset_sink_mode:
            per_sink = sink_size if sink_size not in (-1, None) else train_dataset.get_dataset_size()
        left = _steps.steps_left(per_sink)
        try:
            engine.train(epochs=epoch, callback=hook, sink=dataset_sink_mode, sink_size=sink_size if sink_size != -1 else 0, arrays=arrays,
                         max_steps=left if left is not None else 0)
        finally:
            # The network's Parameters hold the trained values, as MindSpore's do after train, and
            # the optimizer's state Parameters theirs (the engine names them alike: moments.fc1.weight).
            for name, p in self.network.parameters_and_names():
                p.data = Tensor(engine.parameter(name))
            for attribute in ("moments", "moment1", "moment2", "_powers"):
                for p in getattr(self.optimizer, attribute, []):
                    try:
                        p.data = Tensor(engine.parameter(p.name))
                    except _engine.NpusimError:
                        pass  # a state the engine's optimizer does not keep
            self._engine = engine
        _steps.check()  # --steps reached: the script ends here
