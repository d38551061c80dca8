"""fit's, evaluate's and predict's inputs as batches: arrays checked and cut into batches, or the batches
a Python iterable, an iterator or a tc.utils.PyDataset gives, read epoch by epoch (`Feed`).

For a model with several inputs (outputs) x (y, sample_weight) hold a list of arrays in the model's order
(structures.py); everything else handles both forms alike."""
from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sized
from typing import Any

import numpy as np

from . import loss_functions
from .arguments import finite_number, is_int, number
from .creation import generator
from .structures import by_name, count, input_names, input_shapes, names, one, rows, same_count
from .tensor import Tensor
from .utils import PyDataset


def inputs(model: Any, x: Any, what: str) -> Any:
    """x as an array of the model's float dtype, checked to be non-empty and finite (a list of them in
    input order for a model with several inputs, all with the same number of samples)."""
    keys = input_names(model, x)
    if len(keys) <= 1:
        found = _input(model, one(x, keys, "x", what, "input"), "x", what)
    else:
        found = [_input(model, array, f"x[{key!r}]", what)
                 for key, array in zip(keys, by_name(x, keys, "x", what, "input"), strict=True)]
        same_count({f"x[{key!r}]": array for key, array in zip(keys, found, strict=True)}, what)
    _settle(model, found)
    return found


def _settle(model: Any, x: Any) -> None:
    """Build a model not built yet for the inputs x (which names a subclassed model's inputs and outputs),
    then match compile's per-output arguments to the output names if they waited for them."""
    if not model.built:
        model._check_or_build(input_shapes(x))
    compiled = getattr(model, "compiled_outputs", None)
    if compiled is not None and compiled.pending:
        compiled.settle(model)


def _input(model: Any, x: Any, argument: str, what: str) -> np.ndarray:
    array = loss_functions.as_numbers(x, argument, what)
    if array.ndim == 0 or len(array) == 0:
        raise ValueError(f"{what}: {argument} is empty (shape {array.shape}); it needs at least one sample along "
                         "axis 0")
    weights = model.weights if model.built else []
    dtype = weights[0].dtype if weights else np.dtype(np.float32)
    array = array.astype(dtype, copy=False)
    if not np.isfinite(array).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise ValueError(f"{what}: {argument} contains {array[bad]} at index {bad}; clean or impute the inputs first")
    return array


def _targets(model: Any, y: Any, samples: int, what: str) -> Any:
    """y as one array, or for several outputs a list in output order (None for an output given no targets:
    a dict may leave out the outputs that have no loss, and as in Keras y may hold the targets of just the
    outputs that have a loss, in output order: one array when only one has a loss)."""
    keys = names(model, "output")
    if len(keys) <= 1:
        return _target(one(y, keys, "y", what, "output"), "y", samples, what)
    compiled = getattr(model, "compiled_outputs", None)
    losses_given = compiled.losses if compiled else [None] * len(keys)
    with_loss = [key for key, loss in zip(keys, losses_given, strict=True) if loss is not None]
    if 0 < len(with_loss) < len(keys) and not isinstance(y, Mapping) and not (
            isinstance(y, (list, tuple)) and len(y) == len(keys)):
        parts = list(y) if isinstance(y, (list, tuple)) and len(y) == len(with_loss) and all(
            np.ndim(part) >= 1 for part in y) else [y]
        y = dict(zip(with_loss, parts, strict=True)) if len(parts) == len(with_loss) else y
    found = by_name(y, keys, "y", what, "output", partial=True)
    for key, array, loss in zip(keys, found, losses_given, strict=True):
        if array is None and loss is not None:
            raise ValueError(f"{what}: y gives no targets for the output {key!r}, which has a loss; pass y as a "
                             f"dict or list covering the outputs {keys} (only an output without a loss may be left "
                             "out)")
    return [None if array is None else _target(array, f"y[{key!r}]", samples, what)
            for key, array in zip(keys, found, strict=True)]


def _target(y: Any, argument: str, samples: int, what: str) -> np.ndarray:
    array = loss_functions.as_numbers(y, argument, what)
    if array.ndim == 0 or len(array) != samples:
        raise ValueError(f"{what}: x has {samples} samples but {argument} has "
                         f"{len(array) if array.ndim else 'no axis 0'} (shape {array.shape}); they need one target "
                         "per sample")
    return array


# x, y and the sample weights (None: unweighted); for several inputs (outputs) lists of arrays
Data = tuple[Any, Any, Any]


def arrays(model: Any, x: Any, y: Any, sample_weight: Any, what: str, targets: bool = True) -> Data:
    """x, y and the sample weights as checked arrays (y is None without `targets`: predict)."""
    x = inputs(model, x, what)
    samples = count(x)
    y = _targets(model, y, samples, what) if targets else None
    return x, y, _sample_weights(model, sample_weight, samples, what)


def split(data: Data, validation_split: Any) -> tuple[Data, Data | None]:
    """The training data and the last `validation_split` of x, y and the weights (Keras: before shuffling)."""
    validation_split = number(validation_split, "validation_split", "fit", 0.0, 1.0, high_open=True)
    if not validation_split:
        return data, None
    samples = count(data[0])
    split_at = int(math.floor(samples * (1.0 - validation_split)))
    if split_at == 0 or split_at == samples:
        raise ValueError(f"validation_split={validation_split} of {samples} samples leaves {split_at} for training "
                         f"and {samples - split_at} for validation; both need at least one")
    head, tail = slice(None, split_at), slice(split_at, None)
    return tuple(rows(part, head) for part in data), tuple(rows(part, tail) for part in data)


def validation_arrays(model: Any, validation_data: Any) -> Data:
    """validation_data given as (x_val, y_val) or (x_val, y_val, sample_weight_val)."""
    if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
        got = (f"{type(validation_data).__name__} of length {len(validation_data)}"
               if isinstance(validation_data, (tuple, list)) else type(validation_data).__name__)
        raise ValueError(f"validation_data must be a pair (x_val, y_val), a triple (x_val, y_val, "
                         f"sample_weight_val) or batches (a generator, a list of batch tuples, a PyDataset), got {got}")
    weight = validation_data[2] if len(validation_data) == 3 else None
    return arrays(model, validation_data[0], validation_data[1], weight, "fit(validation_data)")


def _sample_weights(model: Any, sample_weight: Any, samples: int, what: str) -> Any:
    """One array for the loss of every output, or for several outputs a list or dict of arrays by output
    (None or a left-out name: that output unweighted), as in Keras."""
    keys = names(model, "output")
    per_output = len(keys) > 1 and (isinstance(sample_weight, Mapping) or (
        isinstance(sample_weight, (list, tuple)) and len(sample_weight) == len(keys)
        and all(item is None or np.ndim(item) >= 1 for item in sample_weight)))
    if not per_output:
        return _sample_weight(one(sample_weight, keys, "sample_weight", what, "output"), "sample_weight", samples,
                              what)
    found = by_name(sample_weight, keys, "sample_weight", what, "output", partial=True)
    return [_sample_weight(weight, f"sample_weight[{key!r}]", samples, what) for key, weight in zip(keys, found,
                                                                                                    strict=True)]


def _sample_weight(sample_weight: Any, argument: str, samples: int, what: str) -> np.ndarray | None:
    """One weight per sample, (samples,) or (samples, ...); the loss checks that the rest fits its values."""
    if sample_weight is None:
        return None
    weight = loss_functions.as_numbers(sample_weight, argument, what)
    if weight.ndim == 0 or len(weight) != samples:
        raise ValueError(f"{what}: x has {samples} samples but {argument} has shape {weight.shape}; pass one "
                         f"weight per sample, shape ({samples},)")
    if not np.isfinite(weight).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(weight))[0])
        raise ValueError(f"{what}: {argument} holds {weight[bad]} at index {bad}; weights must be finite "
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


def training_weights(data: Data, class_weight: Any) -> Data:
    """The training data with class_weight multiplied into its sample weights (training only, as in Keras)."""
    if class_weight is None:
        return data
    x, y, weight = data
    if isinstance(y, list):
        raise ValueError(f"fit: class_weight is only supported for a model with one output (as in Keras), and this "
                         f"one has {len(y)}; weigh the samples of each output with sample_weight, a dict by output "
                         "name of per-sample weights (e.g. each sample's class weight: weights[y])")
    classes = _class_weights(class_weight, y)
    if weight is None:
        return x, y, classes
    return x, y, weight * classes.reshape((len(y),) + (1,) * (weight.ndim - 1))  # (n,) -> (n, 1, ...)


def _batches(count: int, batch_size: int, order: np.ndarray | None) -> Iterator[Any]:
    """Index per batch: slices in order, or pieces of a permutation."""
    for start in range(0, count, batch_size):
        yield slice(start, start + batch_size) if order is None else order[start:start + batch_size]


# --- batch sources: arrays cut into batches, or the batches a Python iterable yields ----------------

_END = object()  # the end of an iterator (a batch could be anything, even None)


def yields_batches(value: Any) -> bool:
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


class ArrayBatches:
    """Arrays cut into batches of `batch_size`, shuffled afresh on every pass with `shuffle`."""

    one_shot, dataset, kind = False, None, "arrays"

    def __init__(self, data: Data, batch_size: int, shuffle: bool = False) -> None:
        self.data, self.batch_size, self.shuffle = data, batch_size, shuffle
        self.samples = count(data[0])
        self.length = math.ceil(self.samples / batch_size)

    def __iter__(self) -> Iterator[Data]:
        x, y, weight = self.data
        order = generator().permutation(self.samples) if self.shuffle else None
        for index in _batches(self.samples, self.batch_size, order):
            yield rows(x, index), rows(y, index), rows(weight, index)


class UserBatches:
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
            return inputs(self.model, batch[0], where), None, None
        data = arrays(self.model, batch[0], batch[1], batch[2] if len(batch) == 3 else None, where)
        return training_weights(data, self.class_weight)


class Feed:
    """The batches of each epoch (Keras's steps_per_epoch, validation_steps and steps).

    Without `limit`, an epoch is one whole pass over the source. With it, an epoch is the next `limit`
    batches of one running pass: a source that can be read again (arrays, a list, a PyDataset) starts
    over from its first batch when it runs out, while an iterator that runs out ends the run with a
    warning, as in Keras. Without `repeat` (validation, evaluate, predict) an epoch ends at the end of the
    source, with a warning when `limit` asked for more."""

    def __init__(self, source: ArrayBatches | UserBatches, limit: int | None, passes: int, what: str,
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
