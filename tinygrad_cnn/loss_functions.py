"""The losses as functions, Keras style: `loss(y_true, y_pred, ..., reduction="mean", sample_weight=None)`
-> a Tensor (by default the mean over the batch), and the argument checks they share.

With `from_logits=False` probabilities are clipped to [EPSILON, 1 - EPSILON] as Keras does, so that a
confident wrong answer costs log(1e7) ~ 16 instead of infinity.

`sample_weight` multiplies the per-sample losses before the reduction, as in Keras 3: "mean" (alias
"sum_over_batch_size") then divides the weighted sum by the number of losses, not by the sum of the
weights; "mean_with_sample_weight" divides by the sum of the weights.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .arguments import axis_index, finite_number, is_int, one_of
from .function import Function
from .mode import MODE
from .tensor import Tensor

EPSILON = 1e-7  # Keras's backend epsilon
REDUCTIONS = ("mean", "sum", "none", "mean_with_sample_weight")


# --- checking the arguments -------------------------------------------------------------------

def as_array(value: Any, argument: str, owner: str) -> np.ndarray:
    """`value` as an array (a Tensor's data, an array or a rectangular nested list), not None."""
    if isinstance(value, Tensor):
        return value.data
    if value is None:
        raise TypeError(f"{owner}: {argument} is None; pass an array with one entry per sample")
    try:
        return np.asarray(value)
    except ValueError as e:  # a ragged nested list
        raise ValueError(f"{owner}: {argument} must be rectangular (every sample the same shape): {e}") from None


def as_numbers(value: Any, argument: str, owner: str) -> np.ndarray:
    """`value` as an array of numbers (bools, ints or floats), as `as_array` reads it."""
    array = as_array(value, argument, owner)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{owner}: {argument} must be numbers, got an array of dtype {array.dtype}")
    return array


def _predictions(y_pred: Any, loss: str) -> Tensor:
    y_pred = y_pred if isinstance(y_pred, Tensor) else Tensor(y_pred)
    if y_pred.dtype.kind != "f":
        raise TypeError(f"{loss}: y_pred must be floating point (the model's output), got dtype {y_pred.dtype}")
    if y_pred.ndim == 0 or y_pred.shape[0] == 0:
        raise ValueError(f"{loss}: empty batch: y_pred has shape {y_pred.shape}; a loss needs at least one sample")
    return y_pred


def _dense_targets(y_true: Any, y_pred: Tensor, loss: str, low: float | None, high: float | None) -> Tensor:
    """y_true as a constant of y_pred's shape and dtype; (N,) is accepted for (N, 1) predictions, and
    (N, 1) for (N,) (Keras squeezes or expands the trailing axis of 1)."""
    data = as_array(y_true, "y_true", loss)
    if data.dtype.kind not in "biuf":
        raise TypeError(f"{loss}: y_true must be numbers, got dtype {data.dtype}")
    if data.shape != y_pred.shape:
        if data.shape + (1,) == y_pred.shape:
            data = data[..., None]  # (N,) labels for (N, 1) outputs, as Keras allows
        elif data.shape == y_pred.shape + (1,):
            data = data[..., 0]  # (N, 1) labels for (N,) outputs
        else:
            labels = y_pred.ndim > 1 and data.shape in (y_pred.shape[:-1], y_pred.shape[:-1] + (1,))
            hint = (f"; these look like integer class labels: use sparse_categorical_crossentropy, or one-hot "
                    f"them with tc.utils.to_categorical(y, {y_pred.shape[-1]})") if labels else ""
            raise ValueError(f"{loss}: y_true has shape {data.shape} but y_pred has shape {y_pred.shape}; "
                             f"they must match (one target per model output){hint}")
    data = data.astype(y_pred.dtype, copy=False)
    if np.isnan(data).any():
        index = tuple(int(i) for i in np.argwhere(np.isnan(data))[0])
        raise ValueError(f"{loss}: y_true contains NaN at index {index}; "
                         "clean the labels first")
    if low is not None and data.size and (data.min() < low or data.max() > high):
        raise ValueError(f"{loss}: y_true must lie in [{low}, {high}] (probabilities or 0/1 labels), got values "
                         f"from {data.min():g} to {data.max():g}")
    if isinstance(y_true, Tensor) and y_true.requires_grad and y_true.dtype == y_pred.dtype:
        return y_true.reshape(y_pred.shape)  # a differentiable target stays in the graph
    return Tensor._make(data, None)


def _sparse_labels(y_true: Any, y_pred: Tensor, loss: str,
                   ignore_class: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(integer class indices of shape y_pred.shape[:-1], the mask of the labels other than `ignore_class`
    or None); a trailing axis of size 1 is dropped, and ignored labels become class 0."""
    labels = as_array(y_true, "y_true", loss)
    if y_pred.ndim < 2:
        raise ValueError(f"{loss}: y_pred must have a class axis, shape (batch, classes), got {y_pred.shape}")
    classes = y_pred.shape[-1]
    if labels.dtype.kind == "f" and not np.isfinite(labels).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(labels))[0])
        raise ValueError(f"{loss}: y_true holds {labels[bad]} at index {bad}; labels must be integer class "
                         f"indices in [0, {classes - 1}]: drop or fix the samples with missing labels")
    if labels.dtype.kind not in "iub":
        hint = " (these look like one-hot rows: use categorical_crossentropy, or y.argmax(-1))" \
            if labels.shape == y_pred.shape else " (convert them: y.astype(int))"
        raise TypeError(f"{loss}: y_true must be integer class indices, got dtype {labels.dtype}{hint}")
    if labels.shape == y_pred.shape[:-1] + (1,):
        labels = labels[..., 0]
    if labels.shape != y_pred.shape[:-1]:
        raise ValueError(f"{loss}: y_true has shape {labels.shape} but y_pred has shape {y_pred.shape}; "
                         f"expected one class index per sample, shape {y_pred.shape[:-1]}")
    valid = None
    if ignore_class is not None:
        valid = labels != ignore_class
        labels = np.where(valid, labels, 0)  # any class will do: its loss is dropped
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        bad = labels[(labels < 0) | (labels >= classes)][0]
        ignore = "" if ignore_class is not None else " (or pass ignore_class= to drop a padding label)"
        raise IndexError(f"{loss}: label {bad} is out of range for {classes} classes (valid: 0 to {classes - 1})"
                         + ignore)
    return labels.astype(np.intp, copy=False), valid


def sample_weights(sample_weight: Any, values_shape: tuple[int, ...], owner: str,
                   average_extra_axes: bool = False) -> tuple[np.ndarray, tuple[int, ...]]:
    """`sample_weight` checked and matched to values of shape `values_shape`: (weights, values' new shape).

    Keras's rank rule: when the ranks differ by one and the longer shape ends in 1, that axis is added
    to the (batch,) side or dropped from the other. The weights must then broadcast to the values
    without enlarging them; with `average_extra_axes` (Keras's metrics) only to the values' leading
    axes, as the values are averaged over the axes the weights lack.
    """
    weight = as_array(sample_weight, "sample_weight", owner)
    if weight.dtype.kind not in "biuf":
        raise TypeError(f"{owner}: sample_weight must be numbers (one weight per sample), got dtype {weight.dtype}")
    if weight.dtype.kind == "f" and not np.isfinite(weight).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(weight))[0])
        raise ValueError(f"{owner}: sample_weight holds {weight[bad]} at index {bad}; weights must be finite "
                         "numbers (0 drops a sample)")
    shape = tuple(values_shape)
    if weight.ndim and len(shape) == weight.ndim + 1 and shape[-1] == 1:  # (Keras makes a batch of 1 0-d here)
        weight, shape = (weight[:, None], shape) if weight.ndim == 1 else (weight, shape[:-1])
    elif weight.ndim == len(shape) + 1 and weight.shape[-1] == 1:
        weight, shape = (weight, shape + (1,)) if len(shape) == 1 else (weight[..., 0], shape)
    target = shape[:weight.ndim] if average_extra_axes and len(shape) > weight.ndim else shape
    if weight.ndim > len(target) or any(w not in (1, t) for w, t in zip(weight.shape[::-1], target[::-1])):
        what = "the metric's per-sample values" if average_extra_axes else "the per-sample losses"
        batch = shape[0] if shape else 1
        fix = f"shape ({batch},) or ({batch}, 1), or a scalar" if len(target) == 1 \
            else f"shape ({batch}, 1), a scalar, or weights that broadcast to {target}"
        raise ValueError(f"{owner}: sample_weight has shape {weight.shape} but {what} have shape "
                         f"{tuple(values_shape)}; pass one weight per sample: {fix}")
    return weight, shape


def _weigh(values: Tensor, sample_weight: Any, loss: str) -> tuple[Tensor, Tensor]:
    """(values * weights, weights): a weight Tensor that requires grad stays in the graph, as y_true does."""
    weight, shape = sample_weights(sample_weight, values.shape, loss)
    values = values.reshape(shape) if shape != values.shape else values  # Keras's trailing axis of 1
    if isinstance(sample_weight, Tensor) and sample_weight.requires_grad:
        w = sample_weight.astype(values.dtype).reshape(weight.shape)
    else:
        w = Tensor._make(weight.astype(values.dtype, copy=False), None)
    return values * w, w


def _reduce(per_sample: Tensor, reduction: str, sample_weight: Any = None, loss: str = "loss",
            valid: np.ndarray | None = None) -> Tensor:
    """`reduction` of the weighted per-sample losses; `valid` (a bool mask of their shape) drops the
    others from the loss and from the count the mean divides by, as Keras's masks do."""
    reduction = _check_reduction(reduction)
    weight = None
    if valid is not None:
        weight = Tensor._make(valid.astype(per_sample.dtype), None)
        per_sample = per_sample * weight  # a dropped target: no loss, no gradient
    if sample_weight is not None:
        per_sample, w = _weigh(per_sample, sample_weight, loss)
        weight = w if weight is None else w * weight.reshape(per_sample.shape)  # the mask as _weigh shaped it
    if reduction == "mean_with_sample_weight" and weight is not None:
        total = weight.sum()
        return per_sample.sum() / total if total.data != 0 else per_sample.sum() * 0  # Keras: 0, not NaN
    if reduction in ("mean", "mean_with_sample_weight"):
        if valid is None:
            return per_sample.mean()
        count = int(valid.sum())  # the mean over the kept targets only
        return per_sample.sum() / count if count else per_sample.sum() * 0
    if reduction == "sum":
        return per_sample.sum()
    return per_sample


def _check_reduction(reduction: str | None) -> str:
    reduction = "none" if reduction is None else reduction  # Keras takes None for no reduction
    reduction = "mean" if reduction == "sum_over_batch_size" else reduction  # Keras's name for the mean
    return one_of(reduction, REDUCTIONS, "reduction", "loss")


# --- the fused sparse cross-entropy ----------------------------------------------------------

class SparseCrossEntropyWithLogits(Function):
    """-log_softmax(logits)[label] per sample, in one op (the training hot path)."""

    @staticmethod
    def forward(ctx: Any, logits: Tensor, *, labels: np.ndarray) -> np.ndarray:
        ctx.save_for_backward(logits)
        shifted = logits.data - logits.data.max(axis=-1, keepdims=True)
        exp = np.exp(shifted)
        total = exp.sum(axis=-1, keepdims=True)
        ctx.probs = exp / total  # softmax, kept for backward
        rows = shifted.reshape(-1, shifted.shape[-1])  # (..., C) -> (samples, C), a view
        picked = rows[np.arange(len(rows)), labels.ravel()].reshape(labels.shape)  # shifted[..., label]
        return np.log(total[..., 0]) - picked  # -log softmax[label] = log sum exp - shifted[label]

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        # d/dlogits of -log softmax(logits)[label] = softmax(logits) - onehot(label)
        (logits,) = ctx.saved_tensors
        labels = ctx.op_args["labels"]
        if MODE.grad_enabled:  # create_graph: build the gradient from Tensor ops, differentiable again
            onehot = (labels[..., None] == np.arange(logits.shape[-1])).astype(logits.dtype)
            return (logits.softmax(-1) - onehot) * g.unsqueeze(-1)
        grad = np.multiply(ctx.probs, g.data[..., None], order="C")  # C order: even for transposed logits
        rows = grad.reshape(-1, grad.shape[-1])  # (..., C) -> (samples, C), a view (so the write lands)
        rows[np.arange(len(rows)), labels.ravel()] -= g.data.ravel()
        return Tensor._make(grad, None)


# --- the losses as functions -------------------------------------------------------------------

def _over_outputs(elementwise: Tensor) -> Tensor:
    """The mean over every axis but the batch axis: (N, ...) -> (N,), one loss per sample."""
    return elementwise.mean(axis=tuple(range(1, elementwise.ndim))) if elementwise.ndim > 1 else elementwise


def mean_squared_error(y_true: Any, y_pred: Any, reduction: str = "mean", sample_weight: Any = None) -> Tensor:
    """mean((y_true - y_pred)^2): over outputs per sample, then `reduction` over the batch."""
    y_pred = _predictions(y_pred, "mean_squared_error")
    diff = _dense_targets(y_true, y_pred, "mean_squared_error", None, None) - y_pred
    return _reduce(_over_outputs(diff * diff), reduction, sample_weight, "mean_squared_error")


def binary_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0,
                        axis: int = -1, reduction: str = "mean", sample_weight: Any = None) -> Tensor:
    """-(y log p + (1 - y) log(1 - p)), averaged over outputs per sample, then over the batch.

    `label_smoothing` s moves each target towards 1/2: y (1 - s) + s / 2. `axis` (Keras's output axis,
    not the batch axis) is checked; every axis after the batch axis is averaged, one loss per sample.
    """
    y_pred = _predictions(y_pred, "binary_crossentropy")
    if y_pred.ndim > 1 or not (is_int(axis) and axis == -1):  # (N,): one output per sample, axis -1 is fine
        _class_axis(axis, y_pred, "binary_crossentropy")
    y = _smoothed(_dense_targets(y_true, y_pred, "binary_crossentropy", 0.0, 1.0), label_smoothing, 2,
                  "binary_crossentropy")
    if from_logits:
        # stable form: max(x, 0) - x y + log(1 + exp(-|x|)), never exp of a positive number
        x = y_pred
        elementwise = x.relu() - x * y + ((-x.abs()).exp() + 1).log()
    else:
        p = y_pred.clip(EPSILON, 1 - EPSILON)
        elementwise = -(y * p.log() + (1 - y) * (1 - p).log())
    return _reduce(_over_outputs(elementwise), reduction, sample_weight, "binary_crossentropy")


def categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False, label_smoothing: float = 0.0,
                             axis: int = -1, reduction: str = "mean", sample_weight: Any = None) -> Tensor:
    """-sum(y_true * log softmax) over the class axis `axis` for one-hot (or soft) targets.

    `label_smoothing` s spreads s of each target's mass evenly over the C classes: y (1 - s) + s / C.
    """
    y_pred = _predictions(y_pred, "categorical_crossentropy")
    axis = _class_axis(axis, y_pred, "categorical_crossentropy")
    y = _smoothed(_dense_targets(y_true, y_pred, "categorical_crossentropy", 0.0, 1.0), label_smoothing,
                  y_pred.shape[axis], "categorical_crossentropy")
    if from_logits:
        log_probs = y_pred.log_softmax(axis)
    else:  # probabilities: renormalise and clip as Keras does
        log_probs = (y_pred / y_pred.sum(axis, keepdims=True)).clip(EPSILON, 1 - EPSILON).log()
    return _reduce(-(y * log_probs).sum(axis), reduction, sample_weight, "categorical_crossentropy")


def sparse_categorical_crossentropy(y_true: Any, y_pred: Any, from_logits: bool = False,
                                    ignore_class: int | None = None, axis: int = -1, reduction: str = "mean",
                                    sample_weight: Any = None) -> Tensor:
    """-log p[label] for integer labels of shape (batch,) and predictions (batch, classes).

    Labels equal to `ignore_class` (a padding or "void" label) get no loss and no gradient and are left
    out of the mean, as in Keras (PyTorch's ignore_index). `axis` is the class axis of y_pred.
    """
    y_pred = _predictions(y_pred, "sparse_categorical_crossentropy")
    axis = _class_axis(axis, y_pred, "sparse_categorical_crossentropy")
    if axis != y_pred.ndim - 1:  # (N, C, d...) -> (N, d..., C): the class axis last
        y_pred = y_pred.permute(*(a for a in range(y_pred.ndim) if a != axis), axis)
    ignore_class = _ignore_class(ignore_class, "sparse_categorical_crossentropy")
    labels, valid = _sparse_labels(y_true, y_pred, "sparse_categorical_crossentropy", ignore_class)
    if from_logits:
        per_sample = SparseCrossEntropyWithLogits.apply(y_pred, labels=labels)
    else:
        probs = (y_pred / y_pred.sum(-1, keepdims=True)).clip(EPSILON, 1 - EPSILON)
        picked = probs[tuple(np.indices(labels.shape, sparse=True)) + (labels,)]  # p[..., label]
        per_sample = -picked.log()
    return _reduce(per_sample, reduction, sample_weight, "sparse_categorical_crossentropy", valid)


def _class_axis(axis: Any, y_pred: Tensor, loss: str) -> int:
    """`axis` as a non-negative axis of y_pred after the batch axis (the batch axis is no feature axis)."""
    if type(axis) is int and axis == -1 and y_pred.ndim > 1:  # the default, quickly (fit's every step)
        return y_pred.ndim - 1
    axis = axis_index(axis, "axis", loss)
    if not -y_pred.ndim <= axis < y_pred.ndim or axis % y_pred.ndim == 0:
        fix = f"pass an axis from 1 to {y_pred.ndim - 1} (or -1 for the last), not the batch axis 0" \
            if y_pred.ndim > 1 else "y_pred has no axis after the batch axis: give it shape (batch, outputs)"
        raise ValueError(f"{loss}: axis {axis} is not a feature axis of y_pred with shape {y_pred.shape}; {fix}")
    return axis % y_pred.ndim


def _ignore_class(value: Any, owner: str) -> int | None:
    """`ignore_class`: None, or the int label whose targets are dropped."""
    if value is not None and not is_int(value):
        raise TypeError(f"{owner}: ignore_class must be an int label (such as -1 or 255) or None, got "
                        f"{type(value).__name__} {value!r:.40}")
    return None if value is None else int(value)


def _smoothed(y: Tensor, label_smoothing: Any, classes: int, loss: str) -> Tensor:
    """Targets moved towards the uniform 1 / classes by `label_smoothing` in [0, 1]: y (1 - s) + s / classes."""
    s = finite_number(label_smoothing, "label_smoothing", loss, 0.0, 1.0)
    return y * (1 - s) + s / classes if s else y


def _pair(y_true: Any, y_pred: Any, loss: str) -> tuple[Tensor, Tensor]:
    """(targets, predictions): predictions floating with a batch, targets of their shape and dtype."""
    y_pred = _predictions(y_pred, loss)
    return _dense_targets(y_true, y_pred, loss, None, None), y_pred


def mean_absolute_error(y_true: Any, y_pred: Any, reduction: str = "mean", sample_weight: Any = None) -> Tensor:
    """mean(|y_true - y_pred|) over outputs per sample (PyTorch's l1_loss), then `reduction`."""
    y, y_pred = _pair(y_true, y_pred, "mean_absolute_error")
    return _reduce(_over_outputs((y - y_pred).abs()), reduction, sample_weight, "mean_absolute_error")


def mean_absolute_percentage_error(y_true: Any, y_pred: Any, reduction: str = "mean",
                                   sample_weight: Any = None) -> Tensor:
    """100 * mean(|y_true - y_pred| / max(|y_true|, EPSILON)) over outputs per sample, then `reduction`."""
    y, y_pred = _pair(y_true, y_pred, "mean_absolute_percentage_error")
    ratio = (y - y_pred).abs() / y.abs().maximum(EPSILON)
    return _reduce(_over_outputs(ratio) * 100, reduction, sample_weight, "mean_absolute_percentage_error")


def mean_squared_logarithmic_error(y_true: Any, y_pred: Any, reduction: str = "mean",
                                   sample_weight: Any = None) -> Tensor:
    """mean((log(1 + y_pred) - log(1 + y_true))^2), both clipped below at EPSILON, over outputs per sample."""
    y, y_pred = _pair(y_true, y_pred, "mean_squared_logarithmic_error")
    diff = (y_pred.maximum(EPSILON) + 1).log() - (y.maximum(EPSILON) + 1).log()
    return _reduce(_over_outputs(diff * diff), reduction, sample_weight, "mean_squared_logarithmic_error")


def huber(y_true: Any, y_pred: Any, delta: float = 1.0, reduction: str = "mean", sample_weight: Any = None) -> Tensor:
    """x^2 / 2 for |x| <= delta, delta (|x| - delta / 2) beyond (x = y_pred - y_true), averaged over outputs."""
    delta = _positive(delta, "delta", "huber")
    y, y_pred = _pair(y_true, y_pred, "huber")
    size = (y_pred - y).abs()
    inner = size.minimum(delta)  # |x| up to delta: quadratic there, then linear with slope delta
    return _reduce(_over_outputs(inner * inner * 0.5 + (size - inner) * delta), reduction, sample_weight, "huber")


def _hinge_margins(y_true: Any, y_pred: Any, loss: str) -> Tensor:
    """max(1 - y_true * y_pred, 0), with 0/1 labels read as -1/1 as Keras does (when every label is 0 or 1)."""
    y, y_pred = _pair(y_true, y_pred, loss)
    if np.isin(y.data, (0, 1)).all():
        y = y * 2 - 1
    return (1 - y * y_pred).relu()


def hinge(y_true: Any, y_pred: Any, reduction: str = "mean", sample_weight: Any = None) -> Tensor:
    """mean(max(1 - y_true * y_pred, 0)) over outputs per sample; labels -1/1 (or 0/1), then `reduction`."""
    return _reduce(_over_outputs(_hinge_margins(y_true, y_pred, "hinge")), reduction, sample_weight, "hinge")


def squared_hinge(y_true: Any, y_pred: Any, reduction: str = "mean", sample_weight: Any = None) -> Tensor:
    """mean(max(1 - y_true * y_pred, 0)^2) over outputs per sample; labels -1/1 (or 0/1), then `reduction`."""
    margins = _hinge_margins(y_true, y_pred, "squared_hinge")
    return _reduce(_over_outputs(margins * margins), reduction, sample_weight, "squared_hinge")


def categorical_hinge(y_true: Any, y_pred: Any, reduction: str = "mean", sample_weight: Any = None) -> Tensor:
    """max(max((1 - y) * y_pred) - sum(y * y_pred) + 1, 0) over the class axis, for one-hot y."""
    y, y_pred = _pair(y_true, y_pred, "categorical_hinge")
    positive = (y * y_pred).sum(-1)  # the true class's score
    negative = ((1 - y) * y_pred).max(-1)  # the best wrong class's score
    return _reduce((negative - positive + 1).relu(), reduction, sample_weight, "categorical_hinge")


def kl_divergence(y_true: Any, y_pred: Any, reduction: str = "mean", sample_weight: Any = None) -> Tensor:
    """sum(y_true * log(y_true / y_pred)) over the last axis, both clipped to [EPSILON, 1] (probabilities)."""
    y, y_pred = _pair(y_true, y_pred, "kl_divergence")
    y, p = y.clip(EPSILON, 1), y_pred.clip(EPSILON, 1)
    return _reduce((y * (y.log() - p.log())).sum(-1), reduction, sample_weight, "kl_divergence")


def poisson(y_true: Any, y_pred: Any, reduction: str = "mean", sample_weight: Any = None) -> Tensor:
    """mean(y_pred - y_true * log(y_pred + EPSILON)) over outputs per sample (y_pred a positive rate)."""
    y, y_pred = _pair(y_true, y_pred, "poisson")
    return _reduce(_over_outputs(y_pred - y * (y_pred + EPSILON).log()), reduction, sample_weight, "poisson")


def log_cosh(y_true: Any, y_pred: Any, reduction: str = "mean", sample_weight: Any = None) -> Tensor:
    """mean(log(cosh(y_pred - y_true))) over outputs per sample, without overflow for large errors."""
    y, y_pred = _pair(y_true, y_pred, "log_cosh")
    a = (y_pred - y).abs()
    # log cosh x = |x| + log(1 + e^(-2|x|)) - log 2: no overflow, and its derivative, sign(x) tanh(|x|) = tanh(x),
    # is 0 at a perfect prediction (abs's derivative at 0 is 0; x + softplus(-2x) gave relu's kink there, 1)
    return _reduce(_over_outputs(a + ((-2 * a).exp() + 1).log() - float(np.log(2.0))), reduction, sample_weight,
                   "log_cosh")


def cosine_similarity(y_true: Any, y_pred: Any, axis: int = -1, reduction: str = "mean",
                      sample_weight: Any = None) -> Tensor:
    """-sum(unit(y_true) * unit(y_pred)) along `axis`, unit(v) = v / sqrt(max(|v|^2, 1e-12)): -1 is best."""
    y, y_pred = _pair(y_true, y_pred, "cosine_similarity")
    axis = _class_axis(axis, y_pred, "cosine_similarity")

    def unit(v: Tensor) -> Tensor:
        return v / (v * v).sum(axis, keepdims=True).maximum(1e-12).sqrt()  # 1e-12: a zero vector stays zero

    return _reduce(-(unit(y) * unit(y_pred)).sum(axis), reduction, sample_weight, "cosine_similarity")


def _positive(value: Any, argument: str, owner: str) -> float:
    value = finite_number(value, argument, owner)
    if value <= 0:
        raise ValueError(f"{owner}: {argument} must be positive, got {value}")
    return value
