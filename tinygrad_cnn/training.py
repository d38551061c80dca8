"""Training, Keras style: `compile_model`, `fit`, `evaluate` and `predict` (callbacks: callbacks.py).

`Sequential.compile/fit/evaluate/predict` call these functions; they work for any model that is a
`Layer` (callable, with `parameters()`, `train()`/`eval()` and `build`).
"""
from __future__ import annotations

import contextlib
import inspect
import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from . import losses, optimizers
from . import metrics as metrics_lib
from .arguments import finite_number, flag, is_int, number, positive_int
from .callbacks import Callback, History
from .creation import generator
from .mode import no_grad
from .progress import ProgressBar
from .tensor import Tensor


class NonFiniteLossError(FloatingPointError, RuntimeError):
    """The loss became NaN or infinite during `fit` (Keras's TerminateOnNaN, as an error)."""


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


Data = tuple[np.ndarray, np.ndarray, np.ndarray | None]  # x, y and the sample weights (None: unweighted)


def _split(model: Any, data: Data, validation_data: Any, validation_split: float) -> tuple[Data, Data | None]:
    """The training data and the validation data: `validation_data` ((x, y) or (x, y, sample_weight)), or the
    last `validation_split` of x, y and the weights."""
    validation_split = number(validation_split, "validation_split", "fit", 0.0, 1.0, high_open=True)
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            got = (f"{type(validation_data).__name__} of length {len(validation_data)}"
                   if isinstance(validation_data, (tuple, list)) else type(validation_data).__name__)
            raise ValueError(f"validation_data must be a pair (x_val, y_val) or a triple (x_val, y_val, "
                             f"sample_weight_val), got {got}")
        x_val = _inputs(model, validation_data[0], "fit(validation_data)")
        y_val = _targets(validation_data[1], len(x_val), "fit(validation_data)")
        weight = validation_data[2] if len(validation_data) == 3 else None
        return data, (x_val, y_val, _sample_weight(weight, len(x_val), "fit(validation_data)"))
    if not validation_split:
        return data, None
    x = data[0]
    split_at = int(math.floor(len(x) * (1.0 - validation_split)))  # Keras: the last fraction, before shuffling
    if split_at == 0 or split_at == len(x):
        raise ValueError(f"validation_split={validation_split} of {len(x)} samples leaves {split_at} for training "
                         f"and {len(x) - split_at} for validation; both need at least one")
    x, y, weight = data
    return ((x[:split_at], y[:split_at], None if weight is None else weight[:split_at]),
            (x[split_at:], y[split_at:], None if weight is None else weight[split_at:]))


def _sample_weight(sample_weight: Any, count: int, what: str) -> np.ndarray | None:
    """One weight per sample, (count,) or (count, ...); the loss checks that the rest fits its values."""
    if sample_weight is None:
        return None
    weight = _numbers(sample_weight, "sample_weight", what)
    if weight.ndim == 0 or len(weight) != count:
        raise ValueError(f"{what}: x has {count} samples but sample_weight has shape {weight.shape}; pass one "
                         f"weight per sample, shape ({count},)")
    if not np.isfinite(weight).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(weight))[0])
        raise ValueError(f"{what}: sample_weight holds {weight[bad]} at index {bad}; weights must be finite "
                         "(0 leaves a sample out)")
    return weight


def _class_weights(class_weight: Any, y: np.ndarray) -> np.ndarray:
    """Keras's class_weight as a weight per sample: its class's weight (1 for a class it does not list).
    The class is the label, or the arg max of a one-hot row."""
    if not isinstance(class_weight, Mapping):
        raise TypeError(f"fit: class_weight must be a dict from class index to weight, such as {{0: 1.0, 1: 5.0}}, "
                        f"got {type(class_weight).__name__} {class_weight!r:.40}")
    if y.ndim > 2:
        raise ValueError(f"fit: class_weight needs one class per sample (y of shape (n,) or one-hot (n, classes)), "
                         f"got y of shape {y.shape}; pass sample_weight instead")
    labels = y if y.ndim == 1 else y.argmax(axis=1) if y.shape[1] > 1 else y[:, 0]
    labels = np.round(labels).astype(np.int64)
    weights = np.ones(len(y))
    for label, weight in class_weight.items():
        if not is_int(label):
            raise TypeError(f"fit: class_weight's keys must be class indices (ints), got {label!r:.40}")
        weights[labels == label] = finite_number(weight, f"class_weight[{label}]", "fit")
    return weights


def _training_weights(data: Data, class_weight: Any) -> Data:
    """The training data with class_weight multiplied into its sample weights (training only, as in Keras)."""
    if class_weight is None:
        return data
    x, y, weight = data
    classes = _class_weights(class_weight, y)
    if weight is None:
        return x, y, classes
    return x, y, weight * classes.reshape((len(y),) + (1,) * (weight.ndim - 1))  # (n,) -> (n, 1, ...)


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


def _loss_value(model: Any, y: np.ndarray, prediction: Tensor, weight: np.ndarray | None) -> Tensor:
    loss = model.loss(y, prediction) if weight is None else model.loss(y, prediction, sample_weight=weight)
    if not isinstance(loss, Tensor):
        raise TypeError(f"the loss {model.loss!r} returned {type(loss).__name__}; it must return a Tensor "
                        "built from y_pred so that it can be differentiated")
    loss = loss if loss.ndim == 0 else loss.mean()
    for penalty in model.losses:  # the regularizers' penalties (Keras: in the loss fit differentiates and logs)
        loss = loss + (penalty.sum() if isinstance(penalty, Tensor) and penalty.ndim else penalty)  # Keras sums
    return loss


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
        validation_split: float = 0.0, shuffle: bool = True, verbose: Any = 1, callbacks: Any = None,
        initial_epoch: int = 0, sample_weight: Any = None, class_weight: Any = None) -> History:
    """Train over (x, y) in batches, epochs `initial_epoch` to `epochs - 1` (Keras: `epochs` is the index
    to stop at, not a count); returns the History (also model.history).

    `sample_weight` weighs each sample's loss; `class_weight` ({class: weight}) multiplies into it for the
    training data. The metrics stay unweighted (Keras's `metrics`)."""
    _require_compiled(model, "fit")
    x = _inputs(model, x, "fit")
    y = _targets(y, len(x), "fit")
    data = (x, y, _sample_weight(sample_weight, len(x), "fit"))
    shuffle = flag(shuffle, "shuffle", "fit")
    batch_size = _batch_size(batch_size, "fit")
    epochs = positive_int(epochs, "epochs", "fit", minimum=0)
    initial_epoch = _initial_epoch(initial_epoch, epochs)
    verbose = _verbosity(verbose)
    data, validation = _split(model, data, validation_data, validation_split)
    data = _training_weights(data, class_weight)
    if data[2] is not None or (validation is not None and validation[2] is not None):
        _require_weighable_loss(model, "fit")
    if not model.built:
        model.build((None, *x.shape[1:]))
    model.optimizer.rebind(model.parameters())  # the trainable weights may have changed since compile
    hooks = _callbacks(callbacks)
    history = next((hook for hook in hooks if isinstance(hook, History)), None)  # Keras returns the one given
    if history is None:
        history = History()
        hooks.append(history)  # last, so that it records what the other callbacks add to the logs (learning_rate)
    steps = math.ceil(len(data[0]) / batch_size)  # the training part only, after validation_split
    _prepare(hooks, model, epochs, steps, verbose)
    model.stop_training = False
    _notify(hooks, "on_train_begin", {})
    logs: dict[str, float] = {}
    for epoch in range(initial_epoch, epochs):
        if verbose:
            print(f"Epoch {epoch + 1}/{epochs}", flush=True)
        _notify(hooks, "on_epoch_begin", epoch, {})
        bar = ProgressBar(steps, verbose)
        logs = _train_epoch(model, data, batch_size, shuffle, epoch, epochs, bar, hooks)
        if validation is not None:  # as in Keras, also after a callback stopped training mid-epoch
            logs.update({f"val_{k}": v for k, v in _evaluate(model, validation, batch_size, None, hooks).items()})
        bar.finish(logs)
        _notify(hooks, "on_epoch_end", epoch, logs)
        if model.stop_training:
            break
    _notify(hooks, "on_train_end", logs)
    model.history = history
    return history


def _initial_epoch(initial_epoch: Any, epochs: int) -> int:
    initial_epoch = positive_int(initial_epoch, "initial_epoch", "fit", minimum=0)
    if initial_epoch > epochs:
        raise ValueError(f"fit: initial_epoch={initial_epoch} is after epochs={epochs}; as in Keras, epochs is the "
                         "index to stop at, not a count: to train 3 more epochs from epoch "
                         f"{initial_epoch}, pass initial_epoch={initial_epoch}, epochs={initial_epoch + 3}")
    return initial_epoch


def _callbacks(callbacks: Any) -> list[Callback]:
    found = [callbacks] if isinstance(callbacks, Callback) else list(callbacks or [])
    for i, hook in enumerate(found):
        if not isinstance(hook, Callback):
            raise TypeError(f"callbacks[{i}] is a {type(hook).__name__}; callbacks must subclass "
                            "tc.callbacks.Callback (for plain functions use tc.callbacks.LambdaCallback)")
    return found


def _prepare(hooks: list[Callback], model: Any, epochs: int, steps: int, verbose: int) -> list[Callback]:
    """Give each callback the model and Keras's params."""
    for hook in hooks:
        hook.set_model(model)
        hook.set_params({"epochs": epochs, "steps": steps, "verbose": verbose})
    return hooks


def _notify(hooks: list[Callback], event: str, *args: Any) -> None:
    """Call the hook named `event` (e.g. "on_epoch_end") of every callback, in order."""
    for hook in hooks:
        getattr(hook, event)(*args)


def _require_weighable_loss(model: Any, what: str) -> None:
    """A custom loss function must take sample_weight= when weights are given."""
    try:
        parameters = inspect.signature(model.loss).parameters.values()
    except (TypeError, ValueError):  # no signature to read: let the call decide
        return
    if not any(p.name == "sample_weight" or p.kind is p.VAR_KEYWORD for p in parameters):
        raise TypeError(f"{what}: sample_weight and class_weight need a loss that takes sample_weight=, and "
                        f"{model.loss!r:.60} does not; use a tc.losses loss or add a sample_weight=None parameter")


def _train_epoch(model: Any, data: Data, batch_size: int, shuffle: bool, epoch: int, epochs: int,
                 bar: ProgressBar, hooks: list[Callback]) -> dict[str, float]:
    """One pass over the training data: forward, loss, backward and an optimizer step per batch.

    A non-finite loss is never applied; the callbacks see it in the batch's logs, and unless one of them
    stops training (TerminateOnNaN) it raises NonFiniteLossError.
    """
    (x, y, weight), tracker, optimizer = data, _Tracker(model), model.optimizer
    order = generator().permutation(len(x)) if shuffle else None
    with _mode(model, True):
        for step, index in enumerate(_batches(len(x), batch_size, order)):
            _notify(hooks, "on_train_batch_begin", step, {})
            y_batch = y[index]
            prediction = model(Tensor._make(x[index], None))
            loss = _loss_value(model, y_batch, prediction, None if weight is None else weight[index])
            value = float(loss.data)
            finite = math.isfinite(value)
            if finite:
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            tracker.add(value, y_batch, prediction.data)
            logs = tracker.values()
            bar.update(step + 1, logs)
            _notify(hooks, "on_train_batch_end", step, logs)
            if not finite and not model.stop_training:
                raise NonFiniteLossError(
                    f"the loss became {value} at epoch {epoch + 1}/{epochs}, batch {step + 1}/{bar.steps}; "
                    "training stopped before this update, so the weights are those of the last finite step. "
                    "Try a lower learning rate, from_logits=True with a loss on logits, or check x and y "
                    "(with tc.callbacks.TerminateOnNaN() in callbacks, fit stops here without an error)")
            if model.stop_training:
                break
    return tracker.values()


def _evaluate(model: Any, data: Data, batch_size: int, bar: ProgressBar | None,
              hooks: list[Callback]) -> dict[str, float]:
    """Loss and metrics over (x, y) in inference mode, recording no graph."""
    (x, y, weight), tracker = data, _Tracker(model)
    _notify(hooks, "on_test_begin", {})
    with no_grad(), _mode(model, False):
        for step, index in enumerate(_batches(len(x), batch_size, None)):
            _notify(hooks, "on_test_batch_begin", step, {})
            prediction = model(Tensor._make(x[index], None))
            loss = _loss_value(model, y[index], prediction, None if weight is None else weight[index])
            tracker.add(float(loss.data), y[index], prediction.data)
            values = tracker.values()
            if bar is not None:
                bar.update(step + 1, values)
            _notify(hooks, "on_test_batch_end", step, values)
    values = tracker.values()
    _notify(hooks, "on_test_end", values)
    return values


def evaluate(model: Any, x: Any, y: Any, batch_size: int | None = 32, verbose: Any = 1, return_dict: bool = False,
             callbacks: Any = None, sample_weight: Any = None) -> float | list[float] | dict[str, float]:
    """The loss and metrics on (x, y): `[loss, *metrics]`, the loss alone without metrics, or with
    `return_dict` a dict {"loss": ..., "accuracy": ...}. `sample_weight` weighs the loss (not the metrics)."""
    _require_compiled(model, "evaluate")
    x = _inputs(model, x, "evaluate")
    y = _targets(y, len(x), "evaluate")
    weight = _sample_weight(sample_weight, len(x), "evaluate")
    if weight is not None:
        _require_weighable_loss(model, "evaluate")
    batch_size, verbose = _batch_size(batch_size, "evaluate"), _verbosity(verbose)
    return_dict = flag(return_dict, "return_dict", "evaluate")
    steps = math.ceil(len(x) / batch_size)
    hooks = _prepare(_callbacks(callbacks), model, 1, steps, verbose)
    bar = ProgressBar(steps, verbose)
    values = _evaluate(model, (x, y, weight), batch_size, bar, hooks)
    bar.finish(values)
    if return_dict:
        return values
    results = list(values.values())
    return results if len(results) > 1 else results[0]


def predict(model: Any, x: Any, batch_size: int | None = 32, verbose: Any = 0, callbacks: Any = None) -> np.ndarray:
    """The model's outputs for x as one array, computed batch by batch in inference mode without a graph."""
    x = _inputs(model, x, "predict")
    batch_size, verbose = _batch_size(batch_size, "predict"), _verbosity(verbose)
    steps = math.ceil(len(x) / batch_size)
    hooks = _prepare(_callbacks(callbacks), model, 1, steps, verbose)
    bar = ProgressBar(steps, verbose)
    outputs = []
    _notify(hooks, "on_predict_begin", {})
    with no_grad(), _mode(model, False):
        for step, index in enumerate(_batches(len(x), batch_size, None)):
            _notify(hooks, "on_predict_batch_begin", step, {})
            outputs.append(model(Tensor._make(x[index], None)).data)
            bar.update(step + 1, {})
            _notify(hooks, "on_predict_batch_end", step, {"outputs": outputs[-1]})
    bar.finish({})
    _notify(hooks, "on_predict_end", {})
    return np.concatenate(outputs)
