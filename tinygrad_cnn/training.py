"""Training, Keras style: `compile_model`, `fit`, `evaluate`, `predict`, `History` and callbacks.

`Sequential.compile/fit/evaluate/predict` call these functions; they work for any model that is a
`Layer` (callable, with `parameters()`, `train()`/`eval()` and `build`).
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from . import losses, optimizers
from . import metrics as metrics_lib
from .arguments import flag, number, positive_int
from .creation import generator
from .mode import no_grad
from .progress import ProgressBar
from .tensor import Tensor


class NonFiniteLossError(FloatingPointError, RuntimeError):
    """The loss became NaN or infinite during `fit` (Keras's TerminateOnNaN, as an error)."""


class Callback:
    """Hooks called by `fit`; subclass and override the ones you need. `self.model` is the model."""

    model: Any = None
    params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def on_train_begin(self, logs: dict[str, float] | None = None) -> None:
        """Before the first epoch."""

    def on_train_end(self, logs: dict[str, float] | None = None) -> None:
        """After the last epoch."""

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        """Before epoch `epoch` (0-based)."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        """After epoch `epoch`, with its loss, metrics and validation values; set model.stop_training to stop."""

    def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
        """After each training batch, with the running values of the epoch."""


class History(Callback):
    """What `fit` returns: `.history` maps "loss", "accuracy", "val_loss", ... to one value per epoch."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self.epoch.append(epoch)
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(value)

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


# --- compile ----------------------------------------------------------------------------------

def compile_model(model: Any, optimizer: Any = "rmsprop", loss: Any = None, metrics: Any = None) -> None:
    """Attach an optimizer, a loss and metrics to `model` (sets model.optimizer, .loss, .compiled_metrics)."""
    if loss is None:
        raise ValueError("compile needs a loss, e.g. loss='sparse_categorical_crossentropy' for integer labels "
                         "or tc.losses.SparseCategoricalCrossentropy(from_logits=True) for a model ending in logits")
    metric_list = [metrics] if isinstance(metrics, str) else list(metrics or [])
    names = ["loss"]  # each value needs its own name in the logs and the history
    for identifier in metric_list:  # fail now on unknown names ("accuracy" is resolved on the first batch)
        accuracy = isinstance(identifier, str) and identifier.lower() in metrics_lib.ACCURACY_NAMES
        name = identifier if accuracy else metrics_lib.get(identifier).name
        if name in names:
            raise ValueError(f"compile: two values would be named {name!r} in the logs (metrics {metric_list}); "
                             "list each metric once, or give a Metric its own name=")
        names.append(name)
    chosen, loss_fn = optimizers.get(optimizer), losses.get(loss)
    params = model.parameters() if model.built else []  # none yet, or all frozen: evaluate still works
    if params:
        chosen.bind(params)
    elif chosen.params is not None:  # bound to parameters this model does not have
        raise ValueError(f"this {type(chosen).__name__} is already bound to {len(chosen.params)} parameters of "
                         "another model; give compile a new optimizer (or a name such as 'adam')")
    model.optimizer, model.loss, model.compiled_metrics = chosen, loss_fn, metric_list  # only when all is valid


def _require_compiled(model: Any, what: str) -> None:
    if getattr(model, "optimizer", None) is None or getattr(model, "loss", None) is None:
        raise RuntimeError(f"the model must be compiled before {what}(): call model.compile(optimizer='adam', "
                           "loss='sparse_categorical_crossentropy', metrics=['accuracy']) first")


# --- data ---------------------------------------------------------------------------------------

def _numbers(value: Any, argument: str, what: str) -> np.ndarray:
    """x or y as an array of numbers (a Tensor's data, an array or a rectangular nested list)."""
    array = losses.as_array(value, argument, what)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"{what}: {argument} must be numbers, got an array of dtype {array.dtype}")
    return array


def _inputs(model: Any, x: Any, what: str) -> np.ndarray:
    """x as an array of the model's float dtype, checked to be non-empty and finite."""
    array = _numbers(x, "x", what)
    if array.ndim == 0 or len(array) == 0:
        raise ValueError(f"{what}: x is empty (shape {array.shape}); it needs at least one sample along axis 0")
    weights = model.weights if model.built else []
    dtype = weights[0].dtype if weights else np.dtype(np.float32)
    array = array.astype(dtype, copy=False)
    if not np.isfinite(array).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise ValueError(f"{what}: x contains {array[bad]} at index {bad}; clean or impute the inputs first")
    return array


def _targets(y: Any, count: int, what: str) -> np.ndarray:
    array = _numbers(y, "y", what)
    if array.ndim == 0 or len(array) != count:
        raise ValueError(f"{what}: x has {count} samples but y has {len(array) if array.ndim else 'no axis 0'} "
                         f"(shape {array.shape}); they need one target per sample")
    return array


def _verbosity(verbose: Any) -> int:
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):  # True and False count as 1 and 0, as in Keras
        raise ValueError(f"verbose must be 0 (silent), 1 (progress bar), 2 (one line per epoch) or 'auto', "
                         f"got {verbose!r}")
    return int(verbose)


def _batch_size(batch_size: Any, what: str) -> int:
    """The batch size; None means Keras's default, 32."""
    return 32 if batch_size is None else positive_int(batch_size, "batch_size", what)


def _split(model: Any, x: np.ndarray, y: np.ndarray, validation_data: Any,
           validation_split: float) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """Training arrays and the validation pair: `validation_data`, or the last `validation_split` of x, y."""
    validation_split = number(validation_split, "validation_split", "fit", 0.0, 1.0, high_open=True)
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError("validation_data must be a pair (x_val, y_val), got "
                             f"{type(validation_data).__name__} of length {len(validation_data)}"
                             if isinstance(validation_data, (tuple, list)) else
                             f"validation_data must be a pair (x_val, y_val), got {type(validation_data).__name__}")
        x_val = _inputs(model, validation_data[0], "fit(validation_data)")
        return x, y, (x_val, _targets(validation_data[1], len(x_val), "fit(validation_data)"))
    if not validation_split:
        return x, y, None
    split_at = int(math.floor(len(x) * (1.0 - validation_split)))  # Keras: the last fraction, before shuffling
    if split_at == 0 or split_at == len(x):
        raise ValueError(f"validation_split={validation_split} of {len(x)} samples leaves {split_at} for training "
                         f"and {len(x) - split_at} for validation; both need at least one")
    return x[:split_at], y[:split_at], (x[split_at:], y[split_at:])


@contextlib.contextmanager
def _mode(model: Any, training: bool) -> Iterator[None]:
    """Run in training or inference mode, then restore the mode the model had."""
    previous = model.training
    model.train(training)
    try:
        yield
    finally:
        model.train(previous)


def _batches(count: int, batch_size: int, order: np.ndarray | None) -> Iterator[Any]:
    """Index per batch: slices in order, or pieces of a permutation."""
    for start in range(0, count, batch_size):
        yield slice(start, start + batch_size) if order is None else order[start:start + batch_size]


def _loss_value(model: Any, y: np.ndarray, prediction: Tensor) -> Tensor:
    loss = model.loss(y, prediction)
    if not isinstance(loss, Tensor):
        raise TypeError(f"the loss {model.loss!r} returned {type(loss).__name__}; it must return a Tensor "
                        "built from y_pred so that it can be differentiated")
    return loss if loss.ndim == 0 else loss.mean()


class _Tracker:
    """The running loss and metrics of one pass; metrics are resolved on the first batch (Keras's "accuracy")."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.loss_total, self.count = 0.0, 0
        self.metrics: list[metrics_lib.Metric] | None = None

    def add(self, loss: float, y: np.ndarray, prediction: np.ndarray) -> None:
        if self.metrics is None:
            from_logits = getattr(self.model.loss, "from_logits", False)
            self.metrics = [metrics_lib.get(m, y.shape, prediction.shape, from_logits)
                            for m in self.model.compiled_metrics]
        self.loss_total += loss * len(prediction)
        self.count += len(prediction)
        for metric in self.metrics:
            metric.update_state(y, prediction)

    def values(self) -> dict[str, float]:
        values = {"loss": self.loss_total / self.count}
        values.update({m.name: m.result() for m in self.metrics or ()})
        return values


# --- fit, evaluate, predict ----------------------------------------------------------------------

def fit(model: Any, x: Any, y: Any, batch_size: int | None = 32, epochs: int = 1, validation_data: Any = None,
        validation_split: float = 0.0, shuffle: bool = True, verbose: Any = 1, callbacks: Any = None) -> History:
    """Train for `epochs` passes over (x, y) in batches; returns the History (also model.history)."""
    _require_compiled(model, "fit")
    x = _inputs(model, x, "fit")
    y = _targets(y, len(x), "fit")
    shuffle = flag(shuffle, "shuffle", "fit")
    batch_size = _batch_size(batch_size, "fit")
    epochs = positive_int(epochs, "epochs", "fit", minimum=0)
    verbose = _verbosity(verbose)
    x, y, validation = _split(model, x, y, validation_data, validation_split)
    if not model.built:
        model.build((None, *x.shape[1:]))
    model.optimizer.rebind(model.parameters())  # the trainable weights may have changed since compile
    history = History()
    hooks = [history, *_callbacks(callbacks)]
    steps = math.ceil(len(x) / batch_size)
    for hook in hooks:
        hook.set_model(model)
        hook.params = {"epochs": epochs, "steps": steps, "verbose": verbose}
        hook.on_train_begin()
    model.stop_training = False
    for epoch in range(epochs):
        if verbose:
            print(f"Epoch {epoch + 1}/{epochs}", flush=True)
        for hook in hooks:
            hook.on_epoch_begin(epoch)
        bar = ProgressBar(steps, verbose)
        logs = _train_epoch(model, x, y, batch_size, shuffle, epoch, epochs, bar, hooks)
        if validation is not None:
            logs.update({f"val_{k}": v for k, v in _evaluate(model, *validation, batch_size, None).items()})
        bar.finish(logs)
        for hook in hooks:
            hook.on_epoch_end(epoch, logs)
        if model.stop_training:
            break
    for hook in hooks:
        hook.on_train_end()
    model.history = history
    return history


def _callbacks(callbacks: Any) -> list[Callback]:
    found = [callbacks] if isinstance(callbacks, Callback) else list(callbacks or [])
    for i, hook in enumerate(found):
        if not isinstance(hook, Callback):
            raise TypeError(f"callbacks[{i}] is a {type(hook).__name__}; callbacks must subclass "
                            "tc.training.Callback")
    return found


def _train_epoch(model: Any, x: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool, epoch: int,
                 epochs: int, bar: ProgressBar, hooks: list[Callback]) -> dict[str, float]:
    """One pass over the training data: forward, loss, backward and an optimizer step per batch."""
    tracker, optimizer = _Tracker(model), model.optimizer
    order = generator().permutation(len(x)) if shuffle else None
    with _mode(model, True):
        for step, index in enumerate(_batches(len(x), batch_size, order)):
            y_batch = y[index]
            prediction = model(Tensor._make(x[index], None))
            loss = _loss_value(model, y_batch, prediction)
            value = float(loss.data)
            if not math.isfinite(value):
                raise NonFiniteLossError(
                    f"the loss became {value} at epoch {epoch + 1}/{epochs}, batch {step + 1}/{bar.steps}; "
                    "training stopped before this update, so the weights are those of the last finite step. "
                    "Try a lower learning rate, from_logits=True with a loss on logits, or check x and y")
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            tracker.add(value, y_batch, prediction.data)
            logs = tracker.values()
            bar.update(step + 1, logs)
            for hook in hooks:
                hook.on_train_batch_end(step, logs)
    return tracker.values()


def _evaluate(model: Any, x: np.ndarray, y: np.ndarray, batch_size: int, bar: ProgressBar | None) -> dict[str, float]:
    """Loss and metrics over (x, y) in inference mode, recording no graph."""
    tracker = _Tracker(model)
    with no_grad(), _mode(model, False):
        for step, index in enumerate(_batches(len(x), batch_size, None)):
            prediction = model(Tensor._make(x[index], None))
            tracker.add(float(_loss_value(model, y[index], prediction).data), y[index], prediction.data)
            if bar is not None:
                bar.update(step + 1, tracker.values())
    return tracker.values()


def evaluate(model: Any, x: Any, y: Any, batch_size: int | None = 32, verbose: Any = 1,
             return_dict: bool = False) -> float | list[float] | dict[str, float]:
    """The loss and metrics on (x, y): `[loss, *metrics]`, the loss alone without metrics, or with
    `return_dict` a dict {"loss": ..., "accuracy": ...}."""
    _require_compiled(model, "evaluate")
    x = _inputs(model, x, "evaluate")
    y = _targets(y, len(x), "evaluate")
    batch_size, verbose = _batch_size(batch_size, "evaluate"), _verbosity(verbose)
    return_dict = flag(return_dict, "return_dict", "evaluate")
    bar = ProgressBar(math.ceil(len(x) / batch_size), verbose)
    values = _evaluate(model, x, y, batch_size, bar)
    bar.finish(values)
    if return_dict:
        return values
    results = list(values.values())
    return results if len(results) > 1 else results[0]


def predict(model: Any, x: Any, batch_size: int | None = 32, verbose: Any = 0) -> np.ndarray:
    """The model's outputs for x as one array, computed batch by batch in inference mode without a graph."""
    x = _inputs(model, x, "predict")
    batch_size, verbose = _batch_size(batch_size, "predict"), _verbosity(verbose)
    bar = ProgressBar(math.ceil(len(x) / batch_size), verbose)
    outputs = []
    with no_grad(), _mode(model, False):
        for step, index in enumerate(_batches(len(x), batch_size, None)):
            outputs.append(model(Tensor._make(x[index], None)).data)
            bar.update(step + 1, {})
    bar.finish({})
    return np.concatenate(outputs)
