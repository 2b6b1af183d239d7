"""``mindspore.train`` metrics so far: ``Accuracy`` and ``Loss``, computed by the engine's
``Model.eval`` (Accuracy: samples whose largest logit, the first on ties, is the label; Loss:
the batches' mean loss)."""


__all__ = ["Metric", "Accuracy", "Loss"]

class Metric:
    """The base of the metrics ``Model.eval`` computes in the engine."""

    _engine_name = None


class Accuracy(Metric):
    """``Accuracy()``: the share of samples whose largest logit (the first on ties) is the label."""

    _engine_name = "Accuracy"

    def __init__(self, eval_type="classification"):
        self.eval_type = eval_type


class Loss(Metric):
    """``Loss()``: the mean of the batches' losses."""

    _engine_name = "Loss"
