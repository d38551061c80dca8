"""Training, Keras style: `compile_model`, `fit`, `evaluate` and `predict`, the one-batch `train_on_batch`,
`test_on_batch` and `predict_on_batch`, and `metrics_names` (callbacks: callbacks.py).

`Model.compile/fit/evaluate/predict` call these functions; they work for any model that is a `Layer`
(callable, with `parameters()`, `train()`/`eval()` and `build`). A model with several inputs or outputs
names them in `input_names`/`output_names`: the data's structures are in structures.py, the losses and
metrics per output in outputs.py.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from . import batches, optimizers, outputs, structures
from .arguments import flag, is_int, number, positive_int
from .batches import Data, Feed
from .callbacks import Callback, History
from .mode import no_grad
from .progress import ProgressBar
from .tensor import Tensor


class NonFiniteLossError(FloatingPointError, RuntimeError):
    """The loss became NaN or infinite during `fit` (Keras's TerminateOnNaN, as an error)."""


# --- compile ----------------------------------------------------------------------------------

def compile_model(model: Any, optimizer: Any = "rmsprop", loss: Any = None, loss_weights: Any = None,
                  metrics: Any = None, weighted_metrics: Any = None) -> None:
    """Attach an optimizer, losses and metrics to `model` (Keras 3's compile; per output: outputs.py).

    Sets model.optimizer, model.loss (the loss; for several outputs a dict by output name),
    model.compiled_metrics (the metrics as given) and model.compiled_outputs (outputs.Compiled)."""
    compiled = outputs.Compiled(model, loss, loss_weights, metrics, weighted_metrics)
    chosen = optimizers.get(optimizer)
    params = model.parameters() if model.built else []  # none yet, or all frozen: evaluate still works
    if params:
        chosen.bind(params)
    elif chosen.params is not None:  # bound to parameters this model does not have
        raise ValueError(f"this {type(chosen).__name__} is already bound to {len(chosen.params)} parameters of "
                         "another model; give compile a new optimizer (or a name such as 'adam')")
    model.optimizer = chosen  # only when all is valid
    compiled.attach(model)


def _require_compiled(model: Any, what: str) -> None:
    if getattr(model, "optimizer", None) is None or getattr(model, "compiled_outputs", None) is None:
        raise RuntimeError(f"the model must be compiled before {what}(): call model.compile(optimizer='adam', "
                           "loss='sparse_categorical_crossentropy', metrics=['accuracy']) first")


# --- arguments, mode and running values -------------------------------------------------------

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


@contextlib.contextmanager
def _mode(model: Any, training: bool) -> Iterator[None]:
    """Run in training or inference mode, then restore the mode the model had."""
    previous = model.training
    model.train(training)
    try:
        yield
    finally:
        model.train(previous)


def _forward(model: Any, x: Any, y: Any, weight: Any) -> tuple[Tensor, list[float], list[Any], list[np.ndarray]]:
    """One batch through the model: the total loss, each output's loss, and the targets and outputs as
    lists in output order (one entry for a model with one output)."""
    found = structures.flat_outputs(model, model(structures.as_tensors(model, x)))
    targets = y if isinstance(y, list) else [y]
    loss, parts = model.compiled_outputs.loss(model, targets, found, weight)
    return loss, parts, targets, [output.data for output in found]


# --- fit, evaluate, predict ----------------------------------------------------------------------

def fit(model: Any, x: Any, y: Any = None, batch_size: int | None = 32, epochs: int = 1, validation_data: Any = None,
        validation_split: float = 0.0, shuffle: bool = True, verbose: Any = 1, callbacks: Any = None,
        initial_epoch: int = 0, sample_weight: Any = None, class_weight: Any = None, steps_per_epoch: int | None = None,
        validation_steps: int | None = None, validation_freq: Any = 1, validation_batch_size: int | None = None
        ) -> History:
    """Train over (x, y) in batches, epochs `initial_epoch` to `epochs - 1` (Keras: `epochs` is the index
    to stop at, not a count); returns the History (also model.history).

    x may instead give whole batches (x, y) or (x, y, sample_weight): a generator, a list of batch tuples or
    a tc.utils.PyDataset; then y, sample_weight and validation_split are not given and batch_size does not
    apply. `steps_per_epoch` limits the batches per epoch; `validation_freq` validates every n-th epoch (or
    after the epochs, 1-based, in a list). `sample_weight` weighs each sample's loss; `class_weight`
    ({class: weight}) multiplies into it for the training data. The metrics stay unweighted (Keras's `metrics`).
    Validation arrays go in batches of `validation_batch_size` (default: batch_size)."""
    _require_compiled(model, "fit")
    shuffle = flag(shuffle, "shuffle", "fit")
    batch_size = _batch_size(batch_size, "fit")
    validation_batch_size = batch_size if validation_batch_size is None else positive_int(
        validation_batch_size, "validation_batch_size", "fit")
    epochs = positive_int(epochs, "epochs", "fit", minimum=0)
    initial_epoch = _initial_epoch(initial_epoch, epochs)
    verbose = _verbosity(verbose)
    validation_split = number(validation_split, "validation_split", "fit", 0.0, 1.0, high_open=True)
    steps_per_epoch = _steps(steps_per_epoch, "steps_per_epoch", "fit")
    validation_steps = _steps(validation_steps, "validation_steps", "fit")
    validation_freq = _validation_freq(validation_freq)
    if batches.yields_batches(x):
        _refuse_with_batches("fit", x, y=y, sample_weight=sample_weight,
                             validation_split=validation_split or None)
        source, held_out = batches.UserBatches(model, x, "fit", shuffle=shuffle, class_weight=class_weight), None
    else:
        data = batches.arrays(model, x, y, sample_weight, "fit")
        data, held_out = batches.split(data, validation_split if validation_data is None else 0.0)
        data = batches.training_weights(data, class_weight)
        source = batches.ArrayBatches(data, batch_size, shuffle)
    train = Feed(source, steps_per_epoch, epochs - initial_epoch, "fit", "x", "steps_per_epoch")
    validations = sum(_validates(epoch, validation_freq) for epoch in range(initial_epoch, epochs))
    validation = _validation_feed(model, validation_data, held_out, validation_batch_size, validation_steps,
                                  validations)
    if not model.built:  # built by its first batch (batches.inputs)
        train.peek()
    model.optimizer.rebind(model.parameters())  # the trainable weights may have changed since compile
    hooks = _callbacks(callbacks)
    history = next((hook for hook in hooks if isinstance(hook, History)), None)  # Keras returns the one given
    if history is None:
        history = History()
        hooks.append(history)  # last, so that it records what the other callbacks add to the logs (learning_rate)
    _prepare(hooks, model, epochs, train.steps, verbose)  # the training part only, after validation_split
    model.stop_training = False
    _notify(hooks, "on_train_begin", {})
    logs: dict[str, float] = {}
    for epoch in range(initial_epoch, epochs):
        if verbose:
            print(f"Epoch {epoch + 1}/{epochs}", flush=True)
        _notify(hooks, "on_epoch_begin", epoch, {})
        bar = ProgressBar(train.steps, verbose)
        epoch_logs = _train_epoch(model, train, epoch, epochs, bar, hooks)
        if not epoch_logs:  # an iterator ran out before this epoch's first batch (the feed warned)
            break
        logs = epoch_logs
        if validation is not None and _validates(epoch, validation_freq):  # also after a callback stopped training
            logs.update({f"val_{k}": v for k, v in _evaluate(model, validation, None, hooks).items()})
        bar.finish(logs)
        _notify(hooks, "on_epoch_end", epoch, logs)
        if model.stop_training or train.exhausted:
            break
    _notify(hooks, "on_train_end", logs)
    model.history = history
    return history


def _validation_feed(model: Any, validation_data: Any, held_out: Data | None, batch_size: int, steps: int | None,
                     passes: int) -> Feed | None:
    """The validation batches: validation_data (arrays or batches), else the part validation_split held out."""
    if validation_data is not None and batches.yields_batches(validation_data):
        source = batches.UserBatches(model, validation_data, "fit(validation_data)")
    else:
        data = batches.validation_arrays(model, validation_data) if validation_data is not None else held_out
        if data is None:
            return None
        source = batches.ArrayBatches(data, batch_size)
    return Feed(source, steps, passes, "fit", "validation_data", "validation_steps", repeat=False)


def _steps(steps: Any, argument: str, what: str) -> int | None:
    """A number of batches (steps_per_epoch, validation_steps, steps); None: the whole data."""
    return None if steps is None else positive_int(steps, argument, what)


def _validation_freq(value: Any) -> int | frozenset[int]:
    """Keras's validation_freq: validate every n-th epoch, or after the epochs (1-based) in a list."""
    if is_int(value):
        return positive_int(value, "validation_freq", "fit")
    if isinstance(value, (list, tuple, set, range)) and all(is_int(v) and v >= 1 for v in value):
        return frozenset(int(v) for v in value)
    raise TypeError(f"fit: validation_freq must be a positive int (validate every n epochs) or a list of epochs "
                    f"(1-based) after which to validate, got {value!r:.60}")


def _validates(epoch: int, validation_freq: int | frozenset[int]) -> bool:
    """Whether to validate after `epoch` (0-based)."""
    if isinstance(validation_freq, int):
        return (epoch + 1) % validation_freq == 0
    return epoch + 1 in validation_freq


def _refuse_with_batches(what: str, x: Any, **given: Any) -> None:
    """y, sample_weight and validation_split belong inside the batches when x gives whole batches (Keras)."""
    inside = {"y": "yield (x_batch, y_batch)", "sample_weight": "yield (x_batch, y_batch, sample_weight_batch)",
              "validation_split": "pass validation_data= with its own batches, or arrays x and y to split"}
    for argument, value in given.items():
        if value is not None:
            raise ValueError(f"{what}: {argument} cannot be given when x gives whole batches ({type(x).__name__}); "
                             f"{inside[argument]}")


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


def _train_epoch(model: Any, feed: Feed, epoch: int, epochs: int, bar: ProgressBar,
                 hooks: list[Callback]) -> dict[str, float]:
    """One epoch of the feed's batches: forward, loss, backward and an optimizer step per batch.

    A non-finite loss is never applied; the callbacks see it in the batch's logs, and unless one of them
    stops training (TerminateOnNaN) it raises NonFiniteLossError.
    """
    tracker = outputs.Tracker(model.compiled_outputs)
    with _mode(model, True):
        for step, (x, y, weight) in enumerate(feed.epoch()):
            _notify(hooks, "on_train_batch_begin", step, {})
            value, parts, targets, predictions = _step(model, x, y, weight)
            tracker.add(value, parts, targets, predictions, weight)
            logs = tracker.values()
            bar.update(step + 1, logs)
            _notify(hooks, "on_train_batch_end", step, logs)
            if not math.isfinite(value) and not model.stop_training:
                of = f"/{bar.steps}" if bar.steps else ""
                raise NonFiniteLossError(
                    f"the loss became {value} at epoch {epoch + 1}/{epochs}, batch {step + 1}{of}; "
                    "training stopped before this update, so the weights are those of the last finite step. "
                    "Try a lower learning rate, from_logits=True with a loss on logits, or check x and y "
                    "(with tc.callbacks.TerminateOnNaN() in callbacks, fit stops here without an error)")
            if model.stop_training:
                break
    feed.end_epoch()
    return tracker.values()


def _step(model: Any, x: Any, y: Any, weight: Any) -> tuple[float, list[float], list[Any], list[np.ndarray]]:
    """One batch forward and, when its loss is finite, backward and an optimizer step: the loss's value,
    each output's loss, and the targets and outputs (as _forward)."""
    loss, parts, targets, predictions = _forward(model, x, y, weight)
    value, optimizer = float(loss.data), model.optimizer
    if math.isfinite(value) and optimizer.params:  # none when every weight is frozen: Keras reports the loss only
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return value, parts, targets, predictions


def _evaluate(model: Any, feed: Feed, bar: ProgressBar | None, hooks: list[Callback]) -> dict[str, float]:
    """Loss and metrics over one epoch of the feed, in inference mode, recording no graph."""
    tracker = outputs.Tracker(model.compiled_outputs)
    _notify(hooks, "on_test_begin", {})
    with no_grad(), _mode(model, False):
        for step, (x, y, weight) in enumerate(feed.epoch()):
            _notify(hooks, "on_test_batch_begin", step, {})
            loss, parts, targets, predictions = _forward(model, x, y, weight)
            tracker.add(float(loss.data), parts, targets, predictions, weight)
            values = tracker.values()
            if bar is not None:
                bar.update(step + 1, values)
            _notify(hooks, "on_test_batch_end", step, values)
    feed.end_epoch()
    values = tracker.values()
    _notify(hooks, "on_test_end", values)
    return values


def _inference_feed(model: Any, x: Any, y: Any, sample_weight: Any, batch_size: Any, steps: Any, what: str,
                    targets: bool) -> Feed:
    """One pass of evaluate or predict over arrays cut into batches, or over the batches x gives."""
    batch_size, steps = _batch_size(batch_size, what), _steps(steps, "steps", what)
    if batches.yields_batches(x):
        _refuse_with_batches(what, x, y=y, sample_weight=sample_weight)
        return Feed(batches.UserBatches(model, x, what, targets), steps, 1, what, repeat=False)
    data = batches.arrays(model, x, y, sample_weight, what, targets)
    return Feed(batches.ArrayBatches(data, batch_size), steps, 1, what, repeat=False)


def evaluate(model: Any, x: Any, y: Any = None, batch_size: int | None = 32, verbose: Any = 1,
             return_dict: bool = False, callbacks: Any = None, sample_weight: Any = None,
             steps: int | None = None) -> float | list[float] | dict[str, float]:
    """The loss and metrics on (x, y): `[loss, *metrics]`, the loss alone without metrics, or with
    `return_dict` a dict {"loss": ..., "accuracy": ...}. `sample_weight` weighs the loss (not the metrics).
    x may give whole batches instead (as in fit); `steps` limits the batches read."""
    _require_compiled(model, "evaluate")
    verbose, return_dict = _verbosity(verbose), flag(return_dict, "return_dict", "evaluate")
    feed = _inference_feed(model, x, y, sample_weight, batch_size, steps, "evaluate", targets=True)
    hooks = _prepare(_callbacks(callbacks), model, 1, feed.steps, verbose)
    bar = ProgressBar(feed.steps, verbose)
    values = _evaluate(model, feed, bar, hooks)
    bar.finish(values)
    return _results(values, return_dict)


def _results(values: dict[str, float], return_dict: bool) -> float | list[float] | dict[str, float]:
    """Keras's return value of evaluate: the dict, or its values as a list (the loss alone as a float)."""
    if return_dict:
        return values
    results = list(values.values())
    return results if len(results) > 1 else results[0]


def predict(model: Any, x: Any, batch_size: int | None = 32, verbose: Any = 0, callbacks: Any = None,
            steps: int | None = None) -> Any:
    """The model's outputs for x, computed batch by batch in inference mode without a graph: one array, or
    for several outputs a list or dict of arrays (the structure the model returns).
    x may give whole batches instead: x_batch, (x_batch,) or (x_batch, y_batch, ...) (y is not used)."""
    verbose = _verbosity(verbose)
    feed = _inference_feed(model, x, None, None, batch_size, steps, "predict", targets=False)
    hooks = _prepare(_callbacks(callbacks), model, 1, feed.steps, verbose)
    bar = ProgressBar(feed.steps, verbose)
    keys, found, prediction = structures.names(model, "output"), [], None
    _notify(hooks, "on_predict_begin", {})
    with no_grad(), _mode(model, False):
        for step, (x_batch, _, _) in enumerate(feed.epoch()):
            _notify(hooks, "on_predict_batch_begin", step, {})
            prediction = model(structures.as_tensors(model, x_batch))
            found.append([output.data for output in structures.flat_outputs(model, prediction)])
            bar.update(step + 1, {})
            _notify(hooks, "on_predict_batch_end", step, {"outputs": structures.packed(prediction, keys, found[-1])})
    feed.end_epoch()
    bar.finish({})
    _notify(hooks, "on_predict_end", {})
    return structures.packed(prediction, keys, [np.concatenate(parts) for parts in zip(*found, strict=True)])


# --- one batch: Keras's train_on_batch, test_on_batch and predict_on_batch ---------------------------

def train_on_batch(model: Any, x: Any, y: Any = None, sample_weight: Any = None, class_weight: Any = None,
                   return_dict: bool = False) -> float | list[float] | dict[str, float]:
    """One optimizer step on the batch (x, y): that batch's loss and metrics, in evaluate's form (the values
    of this batch alone, as tf.keras's default reset_metrics=True gave them)."""
    _require_compiled(model, "train_on_batch")
    return_dict = flag(return_dict, "return_dict", "train_on_batch")
    x, y, weight = batches.training_weights(batches.arrays(model, x, y, sample_weight, "train_on_batch"),
                                            class_weight)
    model.optimizer.rebind(model.parameters())  # the trainable weights may have changed since compile
    tracker = outputs.Tracker(model.compiled_outputs)
    with _mode(model, True):
        value, parts, targets, predictions = _step(model, x, y, weight)
    if not math.isfinite(value):
        raise NonFiniteLossError(f"train_on_batch: the loss became {value}, so the step was not applied (the "
                                 "weights are unchanged); try a lower learning rate, from_logits=True with a loss on "
                                 "logits, or check x and y")
    tracker.add(value, parts, targets, predictions, weight)
    return _results(tracker.values(), return_dict)


def test_on_batch(model: Any, x: Any, y: Any = None, sample_weight: Any = None,
                  return_dict: bool = False) -> float | list[float] | dict[str, float]:
    """The loss and metrics of the batch (x, y) in inference mode, as evaluate gives them for one batch."""
    _require_compiled(model, "test_on_batch")
    return_dict = flag(return_dict, "return_dict", "test_on_batch")
    data = batches.arrays(model, x, y, sample_weight, "test_on_batch")
    one = Feed(batches.ArrayBatches(data, structures.count(data[0])), None, 1, "test_on_batch", repeat=False)
    return _results(_evaluate(model, one, None, []), return_dict)


def predict_on_batch(model: Any, x: Any) -> Any:
    """The model's outputs for the batch x in inference mode, without a graph (predict in one batch)."""
    x = batches.inputs(model, x, "predict_on_batch")
    return predict(model, x, batch_size=structures.count(x), verbose=0)


def metrics_names(model: Any) -> list[str]:
    """The names of evaluate's values, in its order: "loss", each output's loss, then the metrics (Keras's
    model.metrics_names); [] before compile, or before a subclassed model's first batch names its outputs."""
    compiled = getattr(model, "compiled_outputs", None)
    if compiled is None or compiled.pending:
        return []
    found = [name for names in compiled.metric_names for name in names]
    return ["loss", *compiled.loss_names.values(), *(sorted(found) if compiled.several else found)]
