"""``mindspore.train`` metrics so far: ``Accuracy`` and ``Loss``, computed by the engine's
``Model.eval`` (Accuracy: samples whose largest logit, the first on ties, is the label; Loss:
the batches' mean loss)."""


class Metric:
    _engine_name = None


class Accuracy(Metric):
    _engine_name = "Accuracy"

    def __init__(self, eval_type="classification"):
        self.eval_type = eval_type


class Loss(Metric):
    _engine_name = "Loss"
