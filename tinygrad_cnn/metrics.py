"""Metrics for `compile(metrics=[...])`: accuracy in its binary, categorical and sparse forms, top-k accuracy,
precision and recall, the cross-entropies, and the regression and hinge losses (MSE, RMSE, MAE, MAPE, MSLE,
hinge, KL divergence, Poisson, log-cosh, cosine).

A metric is computed on plain arrays (no graph) and averaged over the samples seen since the last
`reset_state()`, or with `sample_weight` their weighted mean, sum(w * value) / sum(w), as in Keras.
The functions return one value per sample, as Keras's do. "accuracy" picks its
form from the shapes, as Keras does: one output -> binary, integer labels with one axis less (or a
trailing axis of 1) -> sparse categorical, one-hot labels -> categorical.
"""
from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import losses
from .arguments import axis_index, finite_number, flag, is_number, positive_int
from .loss_functions import sample_weights
from .mode import no_grad
from .tensor import Tensor


def _array(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _per_sample(values: np.ndarray) -> np.ndarray:
    """Average everything but the batch axis: (N, ...) -> (N,)."""
    return values.reshape(len(values), -1).mean(axis=1) if values.ndim > 1 else values


def binary_accuracy(y_true: Any, y_pred: Any, threshold: float = 0.5) -> np.ndarray:
    """Fraction of outputs on the right side of `threshold`, per sample."""
    y_true, y_pred = _targets(y_true, y_pred, "binary_accuracy"), _array(y_pred)
    return _per_sample(((y_pred > threshold) == (y_true > 0.5)).astype(np.float64))


def categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """1 where the largest prediction is at the one-hot label's position, per sample."""
    y_true, y_pred = _array(y_true), _array(y_pred)
    _same_shape(y_true, y_pred, "categorical_accuracy")
    return _per_sample((y_true.argmax(-1) == y_pred.argmax(-1)).astype(np.float64))


def sparse_categorical_accuracy(y_true: Any, y_pred: Any) -> np.ndarray:
    """1 where the largest prediction is at the integer label, per sample."""
    y_true, y_pred = _labels(y_true, y_pred, "sparse_categorical_accuracy"), _array(y_pred)
    return _per_sample((y_true == y_pred.argmax(-1)).astype(np.float64))


def _labels(y_true: Any, y_pred: Any, name: str) -> np.ndarray:
    """Integer labels of shape y_pred.shape[:-1] (a trailing axis of 1 dropped), as given (not checked)."""
    y_true, y_pred = _array(y_true), _array(y_pred)
    if y_true.shape == y_pred.shape[:-1] + (1,):
        y_true = y_true[..., 0]
    if y_true.shape != y_pred.shape[:-1]:
        raise ValueError(f"{name}: y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}; expected "
                         f"one class index per sample, shape {y_pred.shape[:-1]}")
    return y_true


def top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> np.ndarray:
    """1 where the one-hot label's class is among the k highest predictions, per sample."""
    y_true, y_pred = _array(y_true), _array(y_pred)
    _same_shape(y_true, y_pred, "top_k_categorical_accuracy")
    return _in_top_k(y_true.argmax(-1), y_pred, k)


def sparse_top_k_categorical_accuracy(y_true: Any, y_pred: Any, k: int = 5) -> np.ndarray:
    """1 where the integer label is among the k highest predictions, per sample (a label out of range: 0)."""
    return _in_top_k(_labels(y_true, y_pred, "sparse_top_k_categorical_accuracy"), _array(y_pred), k)


def _in_top_k(labels: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """Whether each label's score is at least the k-th largest score of its row (ties count, as Keras's in_top_k)."""
    classes = y_pred.shape[-1]
    kth = np.partition(y_pred, -min(k, classes), axis=-1)[..., -min(k, classes)]  # (..., C) -> (...)
    labels = labels.astype(np.int64)
    valid = (labels >= 0) & (labels < classes)
    picked = np.take_along_axis(y_pred, np.where(valid, labels, 0)[..., None], -1)[..., 0]  # y_pred[..., label]
    return _per_sample((valid & (picked >= kth)).astype(np.float64))


def mean_squared_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """Mean of (y_true - y_pred)^2 per sample."""
    y_true, y_pred = _targets(y_true, y_pred, "mean_squared_error"), _array(y_pred)
    return _per_sample((y_true - y_pred.astype(np.float64)) ** 2)


def mean_absolute_error(y_true: Any, y_pred: Any) -> np.ndarray:
    """Mean of |y_true - y_pred| per sample."""
    y_true, y_pred = _targets(y_true, y_pred, "mean_absolute_error"), _array(y_pred)
    return _per_sample(np.abs(y_true - y_pred.astype(np.float64)))


def _loss_values(loss: Callable[..., Tensor], y_true: Any, y_pred: Any, dtype: Any = np.float64,
                 **options: Any) -> np.ndarray:
    """A loss's per-sample values, computed in `dtype` without a graph, as float64."""
    with no_grad():
        values = loss(y_true, _array(y_pred).astype(dtype), reduction="none", **options).data
    return _per_sample(values).astype(np.float64, copy=False)


def binary_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0,
                        axis: int = -1) -> np.ndarray:
    """One value per sample of losses.binary_crossentropy."""
    return _loss_values(losses.binary_crossentropy, y_true, y_pred, from_logits=from_logits,
                        label_smoothing=label_smoothing, axis=axis)


def categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0,
                             axis: int = -1) -> np.ndarray:
    """One value per sample of losses.categorical_crossentropy."""
    return _loss_values(losses.categorical_crossentropy, y_true, y_pred, from_logits=from_logits,
                        label_smoothing=label_smoothing, axis=axis)


def sparse_categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                                    ignore_class: int | None = None, axis: int = -1) -> np.ndarray:
    """One value per sample of losses.sparse_categorical_crossentropy (an ignored label counts 0)."""
    return _loss_values(losses.sparse_categorical_crossentropy, y_true, y_pred, from_logits=from_logits,
                        ignore_class=ignore_class, axis=axis)


def _from_loss(loss: Callable[..., Tensor]) -> Callable[[Any, Any], np.ndarray]:
    """A metric function from a loss function."""
    def per_sample(y_true: Any, y_pred: Any) -> np.ndarray:
        return _loss_values(loss, y_true, y_pred)

    per_sample.__name__ = per_sample.__qualname__ = loss.__name__
    per_sample.__doc__ = f"One value per sample of losses.{loss.__name__}."
    return per_sample


mean_absolute_percentage_error = _from_loss(losses.mean_absolute_percentage_error)
mean_squared_logarithmic_error = _from_loss(losses.mean_squared_logarithmic_error)
hinge = _from_loss(losses.hinge)
squared_hinge = _from_loss(losses.squared_hinge)
categorical_hinge = _from_loss(losses.categorical_hinge)
kl_divergence = _from_loss(losses.kl_divergence)
poisson = _from_loss(losses.poisson)
log_cosh = _from_loss(losses.log_cosh)


def _targets(y_true: Any, y_pred: Any, name: str) -> np.ndarray:
    """y_true with y_pred's shape; (N,) targets are accepted for (N, 1) outputs and (N, 1) for (N,) (the
    losses' rule)."""
    y_true, y_pred = _array(y_true), _array(y_pred)
    if y_true.shape != y_pred.shape and y_true.shape + (1,) == y_pred.shape:
        y_true = y_true[..., None]
    elif y_true.shape != y_pred.shape and y_true.shape == y_pred.shape + (1,):
        y_true = y_true[..., 0]
    _same_shape(y_true, y_pred, name)
    return y_true


def _same_shape(y_true: np.ndarray, y_pred: np.ndarray, name: str) -> None:
    if y_true.shape != y_pred.shape:
        labels = y_pred.ndim > 1 and y_true.shape in (y_pred.shape[:-1], y_pred.shape[:-1] + (1,))
        hint = ("; these look like integer class labels: use the sparse_ form of the metric (or 'accuracy', "
                "which picks it from the shapes)") if labels else ""
        raise ValueError(f"{name}: y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}; "
                         f"they must match{hint}")


class Metric:
    """A running mean of a per-sample function: `update_state`, `result`, `reset_state`.

    `dtype` (Keras's; a float dtype, or None) is the dtype the predictions are cast to before the per-sample
    values are computed (the cross-entropies also compute in it); the running sums are float64."""

    def __init__(self, name: str | None = None, dtype: Any = None) -> None:
        owner = type(self).__name__
        self.name = losses._check_name(name, owner, self.default_name) or self.default_name
        self.dtype = None if dtype is None else losses._float_dtype(dtype, owner)
        self.reset_state()

    default_name = "metric"
    per_sample: Any = None  # the function giving one value per sample; subclasses set it

    def compute(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        """One value per sample."""
        if self.per_sample is None:
            raise NotImplementedError(f"{type(self).__name__} must set per_sample or define compute")
        return self.per_sample(y_true, y_pred)

    def reset_state(self) -> None:
        """Forget every sample seen."""
        self.total, self.count = 0.0, 0

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add one batch, each sample counted `sample_weight` times (once without)."""
        y_pred = _array(y_pred)
        values = self.compute(_array(y_true), y_pred if self.dtype is None else y_pred.astype(self.dtype))
        if sample_weight is None:
            self.total += float(values.sum())
            self.count += values.size
            return
        total, count = _weighted_sums(values, sample_weight, type(self).__name__)
        self.total += total
        self.count += count

    def result(self) -> float:
        """The mean over the samples seen (NaN before any, or when their weights sum to 0)."""
        return self.total / self.count if self.count else float("nan")

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
        """Add one batch and return the running result (as a Keras metric does)."""
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (JSON-friendly), as Keras's get_config."""
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        """The metric `get_config` described; a missing argument (an older file) takes its default."""
        if not isinstance(config, dict):
            raise TypeError(f"{cls.__name__}.from_config: config must be a dict such as get_config() returns, "
                            f"got {type(config).__name__}")
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


def _weighted_sums(values: np.ndarray, sample_weight: Any, metric: str) -> tuple[float, float]:
    """(sum of w * value, sum of w) over a batch, Keras's way: values are averaged over the axes the
    weights lack, and both over any axes after the batch axis (so a scalar weight counts a batch once)."""
    weight, shape = sample_weights(sample_weight, values.shape, metric, average_extra_axes=True)
    values = values.reshape(shape)  # Keras's trailing axis of 1, added or dropped
    if values.ndim > weight.ndim:
        values = values.mean(axis=tuple(range(weight.ndim, values.ndim)))
    weight = np.broadcast_to(weight, values.shape).astype(np.float64)
    # (N, ...) -> (N,): each sample's mean, of the weighted values and of the weights
    return float(_per_sample(values * weight).sum()), float(_per_sample(weight).sum())


class BinaryAccuracy(Metric):
    """How often outputs above `threshold` match labels above 0.5."""

    default_name = "binary_accuracy"

    def __init__(self, name: str | None = None, dtype: Any = None, threshold: float = 0.5) -> None:
        super().__init__(name, dtype)
        self.threshold = finite_number(threshold, "threshold", type(self).__name__)

    def compute(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        return binary_accuracy(y_true, y_pred, self.threshold)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "threshold": self.threshold}


class CategoricalAccuracy(Metric):
    """How often the arg max of the prediction is the one-hot label."""

    default_name = "categorical_accuracy"
    per_sample = staticmethod(categorical_accuracy)


class SparseCategoricalAccuracy(Metric):
    """How often the arg max of the prediction is the integer label."""

    default_name = "sparse_categorical_accuracy"
    per_sample = staticmethod(sparse_categorical_accuracy)


class _TopK(Metric):
    """How often the label is among the `k` highest predictions; Keras's (k, name, dtype) order."""

    def __init__(self, k: int = 5, name: str | None = None, dtype: Any = None) -> None:
        self.k = positive_int(k, "k", type(self).__name__)
        super().__init__(name, dtype)

    def compute(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        return self.per_sample(y_true, y_pred, self.k)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "k": self.k}


class TopKCategoricalAccuracy(_TopK):
    """How often the one-hot label's class is among the `k` highest predictions."""

    default_name = "top_k_categorical_accuracy"
    per_sample = staticmethod(top_k_categorical_accuracy)


class SparseTopKCategoricalAccuracy(_TopK):
    """How often the integer label is among the `k` highest predictions."""

    default_name = "sparse_top_k_categorical_accuracy"
    per_sample = staticmethod(sparse_top_k_categorical_accuracy)


class MeanSquaredError(Metric):
    """Mean squared error."""

    default_name = "mean_squared_error"
    per_sample = staticmethod(mean_squared_error)


class RootMeanSquaredError(Metric):
    """Square root of the (weighted) mean squared error over the samples seen."""

    default_name = "root_mean_squared_error"
    per_sample = staticmethod(mean_squared_error)

    def result(self) -> float:
        return math.sqrt(super().result())


class MeanAbsoluteError(Metric):
    """Mean absolute error."""

    default_name = "mean_absolute_error"
    per_sample = staticmethod(mean_absolute_error)


class MeanAbsolutePercentageError(Metric):
    """Mean absolute error in percent of the targets."""

    default_name = "mean_absolute_percentage_error"
    per_sample = staticmethod(mean_absolute_percentage_error)


class MeanSquaredLogarithmicError(Metric):
    """Mean squared difference of log(1 + value)."""

    default_name = "mean_squared_logarithmic_error"
    per_sample = staticmethod(mean_squared_logarithmic_error)


class Hinge(Metric):
    """Hinge loss of -1/1 (or 0/1) labels against scores."""

    default_name = "hinge"
    per_sample = staticmethod(hinge)


class SquaredHinge(Metric):
    """Squared hinge loss of -1/1 (or 0/1) labels against scores."""

    default_name = "squared_hinge"
    per_sample = staticmethod(squared_hinge)


class CategoricalHinge(Metric):
    """Hinge loss of one-hot labels."""

    default_name = "categorical_hinge"
    per_sample = staticmethod(categorical_hinge)


class KLDivergence(Metric):
    """Kullback-Leibler divergence of the predictions from the targets."""

    default_name = "kl_divergence"
    per_sample = staticmethod(kl_divergence)


class Poisson(Metric):
    """Poisson negative log-likelihood (up to a constant) of counts given predicted rates."""

    default_name = "poisson"
    per_sample = staticmethod(poisson)


class LogCoshError(Metric):
    """Mean of log(cosh(error))."""

    default_name = "logcosh"
    per_sample = staticmethod(log_cosh)


class CosineSimilarity(Metric):
    """Cosine similarity of targets and predictions along `axis` (1 when the directions agree)."""

    default_name = "cosine_similarity"

    def __init__(self, name: str | None = None, dtype: Any = None, axis: int = -1) -> None:
        self.axis = losses.CosineSimilarity(axis).axis  # checked as the loss checks it
        super().__init__(name, dtype)

    def compute(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        return -_loss_values(losses.cosine_similarity, y_true, y_pred, axis=self.axis)  # the loss is -cos

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class _Confusion(Metric):
    """Precision or recall of yes/no decisions: an output is positive above `thresholds` (one number in [0, 1];
    0.5 by default) or, with `top_k`, among its row's k highest (and above `thresholds` if given); a label is
    positive when non-zero. `class_id` watches one class (column) only. Keras's argument order."""

    def __init__(self, thresholds: float | None = None, top_k: int | None = None, class_id: int | None = None,
                 name: str | None = None, dtype: Any = None) -> None:
        owner = type(self).__name__
        if thresholds is not None and not is_number(thresholds):
            raise TypeError(f"{owner}: thresholds must be one number in [0, 1] (or None for 0.5), got "
                            f"{thresholds!r:.40}; for several thresholds make one metric per threshold")
        self.thresholds = None if thresholds is None else finite_number(thresholds, "thresholds", owner, 0.0, 1.0)
        self.top_k = None if top_k is None else positive_int(top_k, "top_k", owner)
        self.class_id = None if class_id is None else positive_int(class_id, "class_id", owner, minimum=0)
        super().__init__(name, dtype)

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add one batch: the positives it finds among the decisions this metric counts (each `sample_weight`
        times)."""
        owner = type(self).__name__
        y_pred = _array(y_pred) if self.dtype is None else _array(y_pred).astype(self.dtype)
        actual, scores = _targets(y_true, y_pred, owner) != 0, y_pred
        threshold = 0.5 if self.thresholds is None and self.top_k is None else self.thresholds
        predicted = np.ones(scores.shape, bool) if threshold is None else scores > threshold
        if self.top_k is not None:
            k = min(self.top_k, scores.shape[-1])
            predicted &= scores >= np.partition(scores, -k, axis=-1)[..., -k:-k + 1 or None]  # the k-th largest
        if self.class_id is not None:
            if scores.ndim < 2 or self.class_id >= scores.shape[-1]:
                raise ValueError(f"{owner}: class_id={self.class_id} is not a column of y_pred with shape "
                                 f"{scores.shape}; pass a class index below {scores.shape[-1]}")
            predicted, actual = predicted[..., self.class_id], actual[..., self.class_id]
        hits, among = self.counted(actual, predicted)
        weight = np.ones(among.shape) if sample_weight is None else _broadcast_weight(sample_weight, among, owner)
        self.total += float((weight * (hits & among)).sum())
        self.count += float((weight * among).sum())

    def counted(self, actual: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(what counts as a hit, among which decisions); subclasses choose."""
        raise NotImplementedError

    def result(self) -> float:
        """The share of hits; 0 before any decision counted, as in Keras."""
        return self.total / self.count if self.count else 0.0

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "thresholds": self.thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


def _broadcast_weight(sample_weight: Any, values: np.ndarray, owner: str) -> np.ndarray:
    """`sample_weight` checked and broadcast to the decisions' shape: (batch,) weights weigh each sample's row."""
    weight, shape = sample_weights(sample_weight, values.shape, owner, average_extra_axes=True)
    weight = weight.reshape(weight.shape + (1,) * (len(shape) - weight.ndim))  # (N,) -> (N, 1, ...)
    return np.broadcast_to(weight, shape).reshape(values.shape)


class Precision(_Confusion):
    """Of the outputs called positive, the share whose label is positive: TP / (TP + FP)."""

    default_name = "precision"

    def counted(self, actual: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return actual, predicted


class Recall(_Confusion):
    """Of the positive labels, the share whose output is called positive: TP / (TP + FN)."""

    default_name = "recall"

    def counted(self, actual: np.ndarray, predicted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return predicted, actual


class _Crossentropy(Metric):
    """A cross-entropy loss's mean as a metric: Keras's (name, dtype, from_logits, ...) order; `dtype` (a
    float dtype, or None for float64) is the dtype the values are computed in."""

    function: Any = None  # the metric function; subclasses set it
    options: tuple[str, ...] = ()  # the arguments passed on to it

    def __init__(self, name: str | None, dtype: Any, from_logits: Any, label_smoothing: Any = 0.0,
                 axis: Any = -1) -> None:
        owner = type(self).__name__
        self.from_logits = flag(from_logits, "from_logits", owner)
        if "label_smoothing" in self.options:
            self.label_smoothing = finite_number(label_smoothing, "label_smoothing", owner, 0.0, 1.0)
        if "axis" in self.options:
            self.axis = axis_index(axis, "axis", owner)
            if self.axis == 0:
                raise ValueError(f"{owner}: axis 0 is the batch axis; pass the class axis (-1, the default, or 1 "
                                 "for channels-first outputs)")
        super().__init__(name, dtype)

    def compute(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        options = {option: getattr(self, option) for option in self.options}
        return _loss_values(getattr(losses, self.default_name), y_true, y_pred, self.dtype or np.float64,
                            **options)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **{o: getattr(self, o) for o in self.options}}


class BinaryCrossentropy(_Crossentropy):
    """Mean binary cross-entropy of 0/1 (or soft) targets, `label_smoothing` moving them towards 1/2."""

    default_name = "binary_crossentropy"
    options = ("from_logits", "label_smoothing")

    def __init__(self, name: str | None = None, dtype: Any = None, from_logits: bool = False,
                 label_smoothing: float = 0.0) -> None:
        super().__init__(name, dtype, from_logits, label_smoothing)


class CategoricalCrossentropy(_Crossentropy):
    """Mean cross-entropy of one-hot (or soft) targets along `axis`, `label_smoothing` moving them towards 1/C."""

    default_name = "categorical_crossentropy"
    options = ("from_logits", "label_smoothing", "axis")

    def __init__(self, name: str | None = None, dtype: Any = None, from_logits: bool = False,
                 label_smoothing: float = 0.0, axis: int = -1) -> None:
        super().__init__(name, dtype, from_logits, label_smoothing, axis)


class SparseCategoricalCrossentropy(_Crossentropy):
    """Mean cross-entropy of integer class labels against the class axis `axis` of the predictions."""

    default_name = "sparse_categorical_crossentropy"
    options = ("from_logits", "axis")

    def __init__(self, name: str | None = None, dtype: Any = None, from_logits: bool = False,
                 axis: int = -1) -> None:
        super().__init__(name, dtype, from_logits, axis=axis)


_BY_NAME: dict[str, type[Metric]] = {
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy, "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy, "precision": Precision, "recall": Recall,
    "root_mean_squared_error": RootMeanSquaredError, "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError, "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "mape": MeanAbsolutePercentageError, "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError, "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "hinge": Hinge, "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge,
    "kl_divergence": KLDivergence, "kld": KLDivergence, "poisson": Poisson, "logcosh": LogCoshError,
    "log_cosh": LogCoshError, "log_cosh_error": LogCoshError, "cosine_similarity": CosineSimilarity,
    "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}
ACCURACY_NAMES = ("accuracy", "acc")
_CLASSES: dict[str, type[Metric]] = {cls.__name__: cls for cls in _BY_NAME.values()}
_BY_CLASS_NAME = {name.lower(): cls for name, cls in _CLASSES.items()}  # Keras takes the class names too


def accuracy_for(y_true_shape: tuple[int, ...], y_pred_shape: tuple[int, ...], from_logits: bool = False,
                 name: str = "accuracy") -> Metric:
    """Keras's choice for "accuracy": binary for one output, sparse for integer labels, else categorical.

    For a binary output the threshold is 0.5 on probabilities, 0 on logits (`from_logits`).
    """
    if y_pred_shape and y_pred_shape[-1] == 1:
        return BinaryAccuracy(name, threshold=0.0 if from_logits else 0.5)
    sparse = len(y_true_shape) < len(y_pred_shape) or (len(y_true_shape) > 1 and y_true_shape[-1] == 1)
    return SparseCategoricalAccuracy(name) if sparse else CategoricalAccuracy(name)


def get(identifier: Any, y_true_shape: tuple[int, ...] | None = None, y_pred_shape: tuple[int, ...] | None = None,
        from_logits: bool = False) -> Metric:
    """A fresh Metric from a name, a Metric or its class (copied, state reset) or a function f(y_true, y_pred).

    "accuracy"/"acc" need the shapes of the labels and predictions to pick their form.
    """
    if isinstance(identifier, Metric):
        metric = copy.copy(identifier)
        metric.reset_state()
        return metric
    if isinstance(identifier, type) and issubclass(identifier, Metric):  # the class, as Keras also takes it
        return identifier()
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in ACCURACY_NAMES:
            if y_true_shape is None or y_pred_shape is None:
                raise ValueError("'accuracy' depends on the shapes of the labels and predictions; pass "
                                 "y_true_shape and y_pred_shape, or name the form: 'sparse_categorical_accuracy', "
                                 "'categorical_accuracy' or 'binary_accuracy'")
            return accuracy_for(tuple(y_true_shape), tuple(y_pred_shape), from_logits, identifier)
        cls = _BY_NAME.get(key) or _BY_CLASS_NAME.get(key)
        if cls is not None:
            return cls(name=identifier)
        raise ValueError(f"unknown metric {identifier!r}; known: {', '.join(ACCURACY_NAMES + tuple(_BY_NAME))}, "
                         "or a class name such as 'SparseCategoricalAccuracy'")
    if isinstance(identifier, dict) and "class_name" in identifier:  # what `serialize` wrote
        cls = _CLASSES.get(str(identifier["class_name"]))
        if cls is None:
            raise ValueError(f"unknown metric class {identifier['class_name']!r}; known: {', '.join(_CLASSES)}")
        return cls.from_config(identifier.get("config", {}))
    if callable(identifier):
        return FunctionMetric(identifier)
    raise TypeError(f"a metric must be a name such as 'accuracy', a Metric or a function f(y_true, y_pred), "
                    f"got {identifier!r}")


def serialize(metric: Metric) -> dict[str, Any] | None:
    """{"class_name", "config"} for a built-in Metric (`get` rebuilds it); None for anything else."""
    if isinstance(metric, Metric) and _CLASSES.get(type(metric).__name__) is type(metric):
        return {"class_name": type(metric).__name__, "config": metric.get_config()}
    return None


class FunctionMetric(Metric):
    """A user function f(y_true, y_pred) -> per-sample values (or one value per batch), averaged."""

    def __init__(self, function: Any, name: str | None = None, dtype: Any = None) -> None:
        self.function = function
        super().__init__(name or getattr(function, "__name__", "metric"), dtype)

    def compute(self, y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
        values = _array(self.function(y_true, y_pred))
        if values.ndim == 0:  # one value for the batch: weigh it by the batch size
            return np.full(len(y_pred), float(values))
        return values.astype(np.float64, copy=False)
