"""What `compile` attaches per model output, Keras 3's way: a loss (or none), its weight in the total,
metrics (unweighted) and weighted metrics (weighted by sample_weight and class_weight), and the running
values of one pass of fit or evaluate (`Tracker`).

The logged names follow Keras 3: "loss" is the weighted sum of the outputs' losses plus the regularizers'
penalties; with several losses each output's own (unweighted) loss is "<output>_loss"; a metric of an
output of a model with several outputs is "<output>_<metric>"; a weighted metric named like a metric
becomes "weighted_<metric>". One output keeps the plain names ("loss", "accuracy").
"""
from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import losses
from . import metrics as metrics_lib
from .arguments import finite_number, is_number
from .loss_functions import _reduce
from .structures import by_name, names, pending
from .tensor import Tensor

_METRICS_HINT = ("loss_weights are numbers that scale each output's loss (Keras 3's order: optimizer, loss, "
                 "loss_weights, metrics): pass the metrics as metrics=..., e.g. compile('adam', 'mse', "
                 "metrics=['mae'])")


class Compiled:
    """The per-output losses, loss weights and metrics of a compiled model (model.compiled_outputs)."""

    def __init__(self, model: Any, loss: Any, loss_weights: Any, metrics: Any, weighted_metrics: Any) -> None:
        self.given = (loss, loss_weights, metrics, weighted_metrics)
        # a subclassed model not called yet names its outputs on its first batch: per-output arguments
        # (lists and dicts) wait for the names (settle); anything else is checked now as for one output
        self.pending = pending(model)
        per_output = _nested(loss) or isinstance(loss_weights, (list, tuple)) \
            or any(isinstance(value, Mapping) for value in (loss_weights, metrics, weighted_metrics))
        if self.pending and per_output:
            items = [] if loss is None else list(loss.values() if isinstance(loss, Mapping) else loss) \
                if _nested(loss) else [loss]
            _checked_losses(loss, items)  # a wrong name shows now; settle orders the losses by output
            self.keys: list[str] = []
            return
        self._match(model)

    def settle(self, model: Any) -> None:
        """Match compile's arguments to the output names a subclassed model got from its first call."""
        self.pending = False
        try:
            self._match(model)
        except (TypeError, ValueError) as e:
            raise type(e)(f"{e} (compile's arguments are matched to the outputs of a subclassed model when its "
                          f"first batch names them: {names(model, 'output')})") from None
        self.attach(model)

    def attach(self, model: Any) -> None:
        """Set model.compiled_outputs, model.loss (for several outputs a dict by output name) and
        model.compiled_metrics (the metrics as given)."""
        model.compiled_outputs = self
        loss, _, metrics, _ = self.given
        if not self.keys:  # waiting for the output names
            model.loss, model.compiled_metrics = loss, metrics
        elif self.several:
            model.loss = {key: fn for key, fn in zip(self.keys, self.losses, strict=True) if fn is not None}
            model.compiled_metrics = metrics
        else:
            model.loss, model.compiled_metrics = self.losses[0], self.metrics[0]

    def _match(self, model: Any) -> None:
        """The per-output losses, weights, metrics and logged names for the model's output names."""
        loss, loss_weights, metrics, weighted_metrics = self.given
        keys = names(model, "output")
        self.several = len(keys) > 1
        self.keys = keys if self.several else keys[:1] or ["output"]  # a plain Layer has no output_names
        count = len(keys) if self.several else 1
        self.losses = self._losses(loss, count)
        self.weighs = [fn is not None and _takes_sample_weight(fn) for fn in self.losses]
        self.weights = self._weights(loss_weights, count)
        self.metrics = self._metrics(metrics, count, "metrics")
        self.weighted = self._metrics(weighted_metrics, count, "weighted_metrics")
        with_loss = [i for i, fn in enumerate(self.losses) if fn is not None]
        self.loss_names = {i: f"{self.keys[i]}_loss" for i in with_loss} if len(with_loss) > 1 else {}
        self.metric_names = self._metric_names()

    # --- compile's arguments ---------------------------------------------------------------------

    def _per_output(self, value: Any, argument: str) -> list[Any]:
        """A list/tuple in output order or a dict by output name, as one entry per output (None: not given)."""
        return by_name(value, self.keys, argument, "compile", "output", isinstance(value, Mapping), "entries")

    def _losses(self, loss: Any, count: int) -> list[Any]:
        if loss is None:
            raise ValueError("compile needs a loss, e.g. loss='sparse_categorical_crossentropy' for integer labels "
                             "or tc.losses.SparseCategoricalCrossentropy(from_logits=True) for a model ending in "
                             "logits" + (f"; for several outputs one loss for all, a list or a dict by output name "
                                         f"{self.keys}" if self.several else ""))
        return _checked_losses(loss, self._per_output(loss, "loss") if _nested(loss) else [loss] * count)

    def _weights(self, loss_weights: Any, count: int) -> list[float]:
        if loss_weights is None:
            return [1.0] * count
        if isinstance(loss_weights, str) or (isinstance(loss_weights, (list, tuple)) and any(
                isinstance(item, (str, list)) for item in loss_weights)):
            raise TypeError(f"compile: loss_weights={loss_weights!r:.60} holds names; {_METRICS_HINT}")
        if not self.several and isinstance(loss_weights, (list, tuple, Mapping)) and len(loss_weights) == 1:
            loss_weights = next(iter(loss_weights.values() if isinstance(loss_weights, Mapping) else loss_weights))
        if is_number(loss_weights) and not self.several:
            return [finite_number(loss_weights, "loss_weights", "compile")]
        if not isinstance(loss_weights, (list, tuple, Mapping)):
            raise TypeError(f"compile: loss_weights must be a number (one output), a list in output order or a "
                            f"dict by output name {self.keys}, got {loss_weights!r:.60}")
        chosen = self._per_output(loss_weights, "loss_weights")
        return [1.0 if w is None else finite_number(w, f"loss_weights[{key!r}]", "compile")
                for key, w in zip(self.keys, chosen, strict=True)]

    def _metrics(self, metrics: Any, count: int, argument: str) -> list[list[Any]]:
        """Keras 3's forms: one metric or a list for one output; for several outputs a list with one metric
        (or list) per output, a dict by output name, or a list of another length for every output."""
        if metrics is None:
            return [[] for _ in range(count)]
        if isinstance(metrics, Mapping) or (self.several and isinstance(metrics, (list, tuple)) and (
                len(metrics) == count or any(isinstance(m, (list, tuple)) for m in metrics))):
            chosen = self._per_output(metrics, argument)
        elif isinstance(metrics, (list, tuple)):
            chosen = [list(metrics)] * count
        else:
            chosen = [metrics] * count
        lists = [[] if item is None else list(item) if isinstance(item, (list, tuple)) else [item] for item in chosen]
        for item in (m for sub in lists for m in sub):
            if isinstance(item, (list, tuple, Mapping)):
                raise TypeError(f"compile: {argument}={metrics!r:.80} nests too deeply; give each output a metric "
                                "or a list of metrics")
        return lists

    def _metric_names(self) -> list[list[str]]:
        """The logged name of each metric, then of each weighted metric, per output (fails on a clash)."""
        taken = {"loss", *self.loss_names.values()}
        found = []
        for i, (plain, weighted) in enumerate(zip(self.metrics, self.weighted, strict=True)):
            prefix = f"{self.keys[i]}_" if self.several else ""
            output_names = []
            for argument, identifier in [("metrics", m) for m in plain] + [("weighted_metrics", m) for m in weighted]:
                name = prefix + _metric_name(identifier)
                if name in taken and argument == "weighted_metrics":  # Keras: a weighted twin of a metric
                    name = prefix + "weighted_" + _metric_name(identifier)
                if name in taken:
                    given = getattr(self, "metrics" if argument == "metrics" else "weighted")
                    raise ValueError(f"compile: two values would be named {name!r} in the logs ({argument} "
                                     f"{given if self.several else given[0]}); list each metric once, or give a "
                                     "Metric its own name=")
                taken.add(name)
                output_names.append(name)
            found.append(output_names)
        return found

    # --- the loss of a batch -------------------------------------------------------------------------

    def loss(self, model: Any, y: list[Any], outputs: list[Tensor], weight: Any) -> tuple[Tensor, list[float]]:
        """The total loss to differentiate (the weighted sum of the outputs' losses and the regularizers'
        penalties) and each output's own loss value (those with a loss, in output order)."""
        total, parts = None, []
        for i, fn in enumerate(self.losses):
            if fn is None:
                continue
            value = _output_loss(fn, y[i], outputs[i], weight[i] if isinstance(weight, list) else weight,
                                 self.weighs[i])
            parts.append(float(value.data))
            value = value * self.weights[i] if self.weights[i] != 1.0 else value
            total = value if total is None else total + value
        for penalty in model.losses:  # the regularizers' penalties (Keras: in the loss fit differentiates and logs)
            total = total + (penalty.sum() if isinstance(penalty, Tensor) and penalty.ndim else penalty)  # Keras sums
        return total, parts

    def from_logits(self, index: int) -> bool:
        """Whether output `index`'s loss reads logits (the threshold of its binary accuracy)."""
        return bool(getattr(self.losses[index], "from_logits", False))


def _nested(loss: Any) -> bool:
    """Whether compile's loss gives one entry per output (a list or a dict by name, not a loss's config)."""
    return isinstance(loss, (list, tuple)) or (isinstance(loss, Mapping) and "class_name" not in loss)


def _checked_losses(loss: Any, chosen: list[Any]) -> list[Any]:
    """The losses `chosen` per output (None: no loss), at least one given; a wrong name fails here."""
    if all(item is None for item in chosen):
        raise ValueError(f"compile: loss={loss!r:.80} gives no output a loss; give at least one")
    return [None if item is None else losses.get(item) for item in chosen]


def _metric_name(identifier: Any) -> str:
    """The name a metric logs under ("accuracy" stays as written; it is resolved on the first batch)."""
    if isinstance(identifier, str) and identifier.lower() in metrics_lib.ACCURACY_NAMES:
        return identifier
    return metrics_lib.get(identifier).name


def _takes_sample_weight(fn: Any) -> bool:
    """Whether the loss takes sample_weight= (True when Python cannot read its signature: the call decides)."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.name == "sample_weight" or p.kind is p.VAR_KEYWORD for p in parameters)


def _output_loss(fn: Any, y: np.ndarray, prediction: Tensor, weight: np.ndarray | None, weighs: bool) -> Tensor:
    """One output's loss, a scalar; a function without sample_weight= is weighed here, as Keras's loss
    wrapper does, from the per-sample losses it returns."""
    loss = fn(y, prediction, sample_weight=weight) if weight is not None and weighs else fn(y, prediction)
    if not isinstance(loss, Tensor):
        raise TypeError(f"the loss {fn!r} returned {type(loss).__name__}; it must return a Tensor "
                        "built from y_pred so that it can be differentiated")
    if weight is not None and not weighs:
        if loss.ndim == 0:
            raise TypeError(f"sample_weight and class_weight need a loss that takes sample_weight=, or one that "
                            f"returns one loss per sample (shape (batch,)) to be weighed; {fn!r:.60} returned a "
                            "scalar: return the per-sample losses, or add a sample_weight=None parameter")
        return _reduce(loss, "mean", weight, getattr(fn, "__name__", "loss"))
    return loss if loss.ndim == 0 else loss.mean()


class Tracker:
    """The running loss, per-output losses and metrics of one pass; the metrics are made on the first batch
    (Keras's "accuracy" takes its form from the shapes)."""

    def __init__(self, compiled: Compiled) -> None:
        self.compiled = compiled
        self.loss_total, self.part_totals, self.count = 0.0, [0.0] * len(compiled.loss_names), 0
        self.metrics: list[tuple[int, metrics_lib.Metric, bool]] | None = None  # (output, metric, weighted)

    def _make_metrics(self, y: list[np.ndarray], outputs: list[np.ndarray]) -> None:
        compiled, self.metrics = self.compiled, []
        for i, (plain, weighted) in enumerate(zip(compiled.metrics, compiled.weighted, strict=True)):
            if (plain or weighted) and y[i] is None:
                raise ValueError(f"the output {compiled.keys[i]!r} has metrics but no targets were given for it; "
                                 "pass its y, or leave its metrics out")
            for k, (identifier, name) in enumerate(zip(plain + weighted, compiled.metric_names[i], strict=True)):
                metric = metrics_lib.get(identifier, y[i].shape, outputs[i].shape, compiled.from_logits(i))
                metric.name = name
                self.metrics.append((i, metric, k >= len(plain)))

    def add(self, loss: float, parts: list[float], y: list[Any], outputs: list[np.ndarray], weight: Any) -> None:
        """Add one batch: its total loss, its outputs' losses, targets, predictions and sample weights."""
        if self.metrics is None:
            self._make_metrics(y, outputs)
        size = len(outputs[0])
        self.loss_total += loss * size
        self.count += size
        if self.compiled.loss_names:
            self.part_totals = [total + part * size for total, part in zip(self.part_totals, parts, strict=True)]
        for i, metric, weighted in self.metrics:
            w = (weight[i] if isinstance(weight, list) else weight) if weighted else None
            metric.update_state(y[i], outputs[i], w)

    def values(self) -> dict[str, float]:
        """The averages so far ({} before the first batch), in Keras 3's order: "loss", each output's loss,
        then the metrics (in compile order for one output, by name for several)."""
        if not self.count:
            return {}
        values = {"loss": self.loss_total / self.count}
        values.update({name: total / self.count
                       for name, total in zip(self.compiled.loss_names.values(), self.part_totals, strict=True)})
        found = {metric.name: metric.result() for _, metric, _ in self.metrics or ()}
        values.update(sorted(found.items()) if self.compiled.several else found)
        return values
