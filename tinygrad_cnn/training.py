"""Training, Keras style: `compile_model`, `fit`, `evaluate` and `predict` (callbacks: callbacks.py).

`Sequential.compile/fit/evaluate/predict` call these functions; they work for any model that is a
`Layer` (callable, with `parameters()`, `train()`/`eval()` and `build`).
"""
from __future__ import annotations

import contextlib
import inspect
import itertools
import math
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sized
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
from .utils import PyDataset


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


def _arrays(model: Any, x: Any, y: Any, sample_weight: Any, what: str, targets: bool = True) -> Data:
    """x, y and the sample weights as checked arrays (y is None without `targets`: predict)."""
    x = _inputs(model, x, what)
    y = _targets(y, len(x), what) if targets else None
    return x, y, _sample_weight(sample_weight, len(x), what)


def _split(data: Data, validation_split: Any) -> tuple[Data, Data | None]:
    """The training data and the last `validation_split` of x, y and the weights (Keras: before shuffling)."""
    validation_split = number(validation_split, "validation_split", "fit", 0.0, 1.0, high_open=True)
    if not validation_split:
        return data, None
    x = data[0]
    split_at = int(math.floor(len(x) * (1.0 - validation_split)))
    if split_at == 0 or split_at == len(x):
        raise ValueError(f"validation_split={validation_split} of {len(x)} samples leaves {split_at} for training "
                         f"and {len(x) - split_at} for validation; both need at least one")
    x, y, weight = data
    return ((x[:split_at], y[:split_at], None if weight is None else weight[:split_at]),
            (x[split_at:], y[split_at:], None if weight is None else weight[split_at:]))


def _validation_arrays(model: Any, validation_data: Any) -> Data:
    """validation_data given as (x_val, y_val) or (x_val, y_val, sample_weight_val)."""
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        got = (f"{type(validation_data).__name__} of length {len(validation_data)}"
               if isinstance(validation_data, (tuple, list)) else type(validation_data).__name__)
        raise ValueError(f"validation_data must be a pair (x_val, y_val), a triple (x_val, y_val, "
                         f"sample_weight_val) or batches (a generator, a list of batch tuples, a PyDataset), got {got}")
    weight = validation_data[2] if len(validation_data) == 3 else None
    return _arrays(model, validation_data[0], validation_data[1], weight, "fit(validation_data)")


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


# --- batch sources: arrays cut into batches, or the batches a Python iterable yields ----------------

_END = object()  # the end of an iterator (a batch could be anything, even None)


def _yields_batches(value: Any) -> bool:
    """Whether `value` gives whole batches (a PyDataset, an iterator such as a generator, a list of batch
    tuples, any other iterable) rather than arrays for fit to cut into batches (anything with __array__,
    such as a pandas DataFrame or a torch tensor, is an array)."""
    if isinstance(value, (PyDataset, Iterator)):
        return True
    if isinstance(value, (list, tuple)):
        return bool(value) and all(_is_batch(item) for item in value)
    array_like = isinstance(value, (Tensor, str, bytes, Mapping)) or hasattr(value, "__array__")
    return isinstance(value, Iterable) and not array_like


def _is_batch(item: Any) -> bool:
    """A batch tuple, or a list [x, y] or [x, y, sample_weight] of arrays (what list(torch DataLoader) holds),
    not a sample given as a list of numbers."""
    return isinstance(item, tuple) or (isinstance(item, list) and len(item) in (2, 3)
                                       and all(getattr(part, "ndim", 0) >= 1 for part in item))


class _ArrayBatches:
    """Arrays cut into batches of `batch_size`, shuffled afresh on every pass with `shuffle`."""

    one_shot, dataset, kind = False, None, "arrays"

    def __init__(self, data: Data, batch_size: int, shuffle: bool = False) -> None:
        self.data, self.batch_size, self.shuffle = data, batch_size, shuffle
        self.length = math.ceil(len(data[0]) / batch_size)

    def __iter__(self) -> Iterator[Data]:
        x, y, weight = self.data
        order = generator().permutation(len(x)) if self.shuffle else None
        for index in _batches(len(x), self.batch_size, order):
            yield x[index], None if y is None else y[index], None if weight is None else weight[index]


class _UserBatches:
    """The batches a Python iterable, an iterator or a PyDataset gives, each checked as it comes.

    A PyDataset is read by index (in a new order each pass with `shuffle`), anything else by iterating it.
    Batches are (x, y) or (x, y, sample_weight); without `targets` (predict) also x alone or (x,)."""

    def __init__(self, model: Any, source: Any, what: str, targets: bool = True, shuffle: bool = False,
                 class_weight: Any = None) -> None:
        self.model, self.source, self.what, self.targets = model, source, what, targets
        self.dataset = source if isinstance(source, PyDataset) else None
        self.kind = type(source).__name__
        self.length = (source.num_batches if self.dataset is not None
                       else len(source) if isinstance(source, Sized) else None)  # batches per pass (None: unknown)
        self.one_shot = isinstance(source, Iterator)  # an iterator can be read only once
        self.shuffle, self.class_weight = shuffle and self.length is not None, class_weight

    def __iter__(self) -> Iterator[Data]:
        if self.dataset is None:
            batches = iter(self.source)
        else:
            indices = (itertools.count() if self.length is None else
                       generator().permutation(self.length) if self.shuffle else range(self.length))
            batches = (self.dataset[int(i)] for i in indices)
        for step, batch in enumerate(batches):
            yield self._checked(batch, step)

    def _checked(self, batch: Any, step: int) -> Data:
        where = f"{self.what} (batch {step} of {type(self.source).__name__})"
        if isinstance(batch, list):
            batch = tuple(batch)
        if not self.targets and not isinstance(batch, tuple):
            batch = (batch,)  # predict: x alone
        sizes = (2, 3) if self.targets else (1, 2, 3)
        if not isinstance(batch, tuple) or len(batch) not in sizes:
            got = f"a tuple of length {len(batch)}" if isinstance(batch, tuple) else f"a {type(batch).__name__}"
            raise ValueError(f"{where}: each batch must be a tuple (x, y) or (x, y, sample_weight)"
                             f"{'' if self.targets else ', or x alone'}; got {got}")
        if not self.targets:
            return _inputs(self.model, batch[0], where), None, None
        data = _arrays(self.model, batch[0], batch[1], batch[2] if len(batch) == 3 else None, where)
        data = _training_weights(data, self.class_weight)
        if data[2] is not None:
            _require_weighable_loss(self.model, where)
        return data


class _Feed:
    """The batches of each epoch (Keras's steps_per_epoch, validation_steps and steps).

    Without `limit`, an epoch is one whole pass over the source. With it, an epoch is the next `limit`
    batches of one running pass: a source that can be read again (arrays, a list, a PyDataset) starts
    over from its first batch when it runs out, while an iterator that runs out ends the run with a
    warning, as in Keras. Without `repeat` (validation, evaluate, predict) an epoch ends at the end of the
    source, with a warning when `limit` asked for more."""

    def __init__(self, source: _ArrayBatches | _UserBatches, limit: int | None, passes: int, what: str,
                 argument: str = "x", steps_argument: str = "steps", repeat: bool = True) -> None:
        self.source, self.limit, self.what, self.argument, self.repeat = source, limit, what, argument, repeat
        self.steps_argument = steps_argument
        if source.one_shot and limit is None and passes > 1:
            raise ValueError(f"{what}: {argument} is an iterator ({type(source.source).__name__}), which yields "
                             f"its batches only once, and it is read {passes} times (once per epoch); pass "
                             f"{steps_argument}= (batches per epoch) with an iterator that never ends, or pass "
                             "batches that can be read again: a list of batch tuples or a tc.utils.PyDataset")
        self.steps = limit if limit is not None else source.length  # per epoch (None: unknown until the end)
        self.running: Iterator[Data] | None = None
        self.total = 0  # batches read so far
        self.exhausted = False  # an iterator ran out

    def epoch(self) -> Iterator[Data]:
        """The batches of one epoch (call end_epoch after it)."""
        if self.source.dataset is not None:
            self.source.dataset.on_epoch_begin()
        count = 0
        while not self.exhausted and (self.limit is None or count < self.limit):  # an iterator that ran out stays out
            fresh = self.running is None
            if fresh:
                self.running = iter(self.source)
            batch = next(self.running, _END)
            if batch is not _END:
                count, self.total = count + 1, self.total + 1
                yield batch
                continue
            self.running = None
            if self.limit is None and not fresh:
                return  # the end of one whole pass
            if fresh or self.source.one_shot:
                self._ran_out()
                return
            if not self.repeat and count:  # (an epoch that found the source at its end starts it again)
                warnings.warn(f"{self.what}: {self.argument} ended after {count} of the {self.steps_argument}="
                              f"{self.limit} batches of this pass; each batch is read once a pass "
                              f"({self.steps_argument}=None reads them all)", stacklevel=3)
                return
            # a source that can be read again: go on from its first batch

    def end_epoch(self) -> None:
        if self.source.dataset is not None:
            self.source.dataset.on_epoch_end()

    def peek(self) -> Data:
        """The first batch, read ahead (to build the model from its shape); the first epoch still starts with it."""
        self.running = self.running if self.running is not None else iter(self.source)
        first = next(self.running, _END)
        if first is _END:
            self._ran_out()
        self.running = itertools.chain((first,), self.running)
        return first

    def _ran_out(self) -> None:
        if not self.total:
            raise ValueError(f"{self.what}: {self.argument} ({self.source.kind}) gave no batches; "
                             "it is empty, or an iterator that was already read to its end")
        self.exhausted = True
        stops = ("validation stops here (the later epochs get no val_ values)" if self.argument == "validation_data"
                 else "the run stops here")
        warnings.warn(f"{self.what}: {self.argument} ran out of data after {self.total} batches, so {stops}. An "
                      "iterator (a generator) yields its batches once: make it loop forever, give at least steps "
                      "x epochs batches, or pass a list of batch tuples or a tc.utils.PyDataset, which can be read "
                      "again", stacklevel=4)


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
        """The averages so far ({} before the first batch)."""
        if not self.count:
            return {}
        values = {"loss": self.loss_total / self.count}
        values.update({m.name: m.result() for m in self.metrics or ()})
        return values


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
    if _yields_batches(x):
        _refuse_with_batches("fit", x, y=y, sample_weight=sample_weight,
                             validation_split=validation_split or None)
        source, held_out = _UserBatches(model, x, "fit", shuffle=shuffle, class_weight=class_weight), None
    else:
        data = _arrays(model, x, y, sample_weight, "fit")
        data, held_out = _split(data, validation_split if validation_data is None else 0.0)
        data = _training_weights(data, class_weight)
        if data[2] is not None:
            _require_weighable_loss(model, "fit")
        source = _ArrayBatches(data, batch_size, shuffle)
    train = _Feed(source, steps_per_epoch, epochs - initial_epoch, "fit", "x", "steps_per_epoch")
    validations = sum(_validates(epoch, validation_freq) for epoch in range(initial_epoch, epochs))
    validation = _validation_feed(model, validation_data, held_out, validation_batch_size, validation_steps,
                                  validations)
    if not model.built:
        model.build((None, *(data[0] if isinstance(source, _ArrayBatches) else train.peek()[0]).shape[1:]))
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
                     passes: int) -> _Feed | None:
    """The validation batches: validation_data (arrays or batches), else the part validation_split held out."""
    if validation_data is not None and _yields_batches(validation_data):
        source = _UserBatches(model, validation_data, "fit(validation_data)")
    else:
        data = _validation_arrays(model, validation_data) if validation_data is not None else held_out
        if data is None:
            return None
        if data[2] is not None:
            _require_weighable_loss(model, "fit(validation_data)")
        source = _ArrayBatches(data, batch_size)
    return _Feed(source, steps, passes, "fit", "validation_data", "validation_steps", repeat=False)


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


def _require_weighable_loss(model: Any, what: str) -> None:
    """A custom loss function must take sample_weight= when weights are given."""
    try:
        parameters = inspect.signature(model.loss).parameters.values()
    except (TypeError, ValueError):  # no signature to read: let the call decide
        return
    if not any(p.name == "sample_weight" or p.kind is p.VAR_KEYWORD for p in parameters):
        raise TypeError(f"{what}: sample_weight and class_weight need a loss that takes sample_weight=, and "
                        f"{model.loss!r:.60} does not; use a tc.losses loss or add a sample_weight=None parameter")


def _train_epoch(model: Any, feed: _Feed, epoch: int, epochs: int, bar: ProgressBar,
                 hooks: list[Callback]) -> dict[str, float]:
    """One epoch of the feed's batches: forward, loss, backward and an optimizer step per batch.

    A non-finite loss is never applied; the callbacks see it in the batch's logs, and unless one of them
    stops training (TerminateOnNaN) it raises NonFiniteLossError.
    """
    tracker, optimizer = _Tracker(model), model.optimizer
    with _mode(model, True):
        for step, (x, y, weight) in enumerate(feed.epoch()):
            _notify(hooks, "on_train_batch_begin", step, {})
            prediction = model(Tensor._make(x, None))
            loss = _loss_value(model, y, prediction, weight)
            value = float(loss.data)
            finite = math.isfinite(value)
            if finite:
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            tracker.add(value, y, prediction.data)
            logs = tracker.values()
            bar.update(step + 1, logs)
            _notify(hooks, "on_train_batch_end", step, logs)
            if not finite and not model.stop_training:
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


def _evaluate(model: Any, feed: _Feed, bar: ProgressBar | None, hooks: list[Callback]) -> dict[str, float]:
    """Loss and metrics over one epoch of the feed, in inference mode, recording no graph."""
    tracker = _Tracker(model)
    _notify(hooks, "on_test_begin", {})
    with no_grad(), _mode(model, False):
        for step, (x, y, weight) in enumerate(feed.epoch()):
            _notify(hooks, "on_test_batch_begin", step, {})
            prediction = model(Tensor._make(x, None))
            loss = _loss_value(model, y, prediction, weight)
            tracker.add(float(loss.data), y, prediction.data)
            values = tracker.values()
            if bar is not None:
                bar.update(step + 1, values)
            _notify(hooks, "on_test_batch_end", step, values)
    feed.end_epoch()
    values = tracker.values()
    _notify(hooks, "on_test_end", values)
    return values


def _inference_feed(model: Any, x: Any, y: Any, sample_weight: Any, batch_size: Any, steps: Any, what: str,
                    targets: bool) -> _Feed:
    """One pass of evaluate or predict over arrays cut into batches, or over the batches x gives."""
    batch_size, steps = _batch_size(batch_size, what), _steps(steps, "steps", what)
    if _yields_batches(x):
        _refuse_with_batches(what, x, y=y, sample_weight=sample_weight)
        return _Feed(_UserBatches(model, x, what, targets), steps, 1, what, repeat=False)
    data = _arrays(model, x, y, sample_weight, what, targets)
    if data[2] is not None:
        _require_weighable_loss(model, what)
    return _Feed(_ArrayBatches(data, batch_size), steps, 1, what, repeat=False)


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
    if return_dict:
        return values
    results = list(values.values())
    return results if len(results) > 1 else results[0]


def predict(model: Any, x: Any, batch_size: int | None = 32, verbose: Any = 0, callbacks: Any = None,
            steps: int | None = None) -> np.ndarray:
    """The model's outputs for x as one array, computed batch by batch in inference mode without a graph.
    x may give whole batches instead: x_batch, (x_batch,) or (x_batch, y_batch, ...) (y is not used)."""
    verbose = _verbosity(verbose)
    feed = _inference_feed(model, x, None, None, batch_size, steps, "predict", targets=False)
    hooks = _prepare(_callbacks(callbacks), model, 1, feed.steps, verbose)
    bar = ProgressBar(feed.steps, verbose)
    outputs = []
    _notify(hooks, "on_predict_begin", {})
    with no_grad(), _mode(model, False):
        for step, (x_batch, _, _) in enumerate(feed.epoch()):
            _notify(hooks, "on_predict_batch_begin", step, {})
            outputs.append(model(Tensor._make(x_batch, None)).data)
            bar.update(step + 1, {})
            _notify(hooks, "on_predict_batch_end", step, {"outputs": outputs[-1]})
    feed.end_epoch()
    bar.finish({})
    _notify(hooks, "on_predict_end", {})
    return np.concatenate(outputs)
