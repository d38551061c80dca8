"""Keras's utilities: `to_categorical`, `normalize`, `PyDataset` (a dataset of batches for fit),
`set_random_seed` and `plot_model`."""
from __future__ import annotations

import os
import random
from typing import Any

import numpy as np

from .arguments import axis_index, flag, is_int, positive_int
from .creation import manual_seed
from .loss_functions import as_numbers


def set_random_seed(seed: int) -> None:
    """Seed Python's `random`, NumPy's global generator and ours (`tc.manual_seed`), as Keras's does."""
    if not is_int(seed) or not 0 <= seed < 2**32:
        raise (ValueError if is_int(seed) else TypeError)(
            f"set_random_seed: seed must be an int in [0, 2**32), got {type(seed).__name__} {seed!r:.40}; "
            "e.g. set_random_seed(42)")
    random.seed(int(seed))
    np.random.seed(int(seed))
    manual_seed(int(seed))


def plot_model(model: Any, to_file: str | os.PathLike[str] | None = "model.png", show_shapes: bool = False,
               show_dtype: bool = False, show_layer_names: bool = False, rankdir: str = "TB",
               expand_nested: bool = False, dpi: float | None = 200, show_layer_activations: bool = False,
               show_trainable: bool = False, **options: Any) -> Any:
    """Keras's keras.utils.plot_model, with its defaults: draw the model, one node per layer, to `to_file`.

    Returns the graphviz graph; `options` are tc.viz.plot_model's others (input_shape, direction, splines...).
    """
    from .viz import plot_model as draw  # utils is below viz: this Keras name reaches up lazily, as models' does
    return draw(model, to_file, show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                rankdir=rankdir, expand_nested=expand_nested, dpi=dpi, show_layer_activations=show_layer_activations,
                show_trainable=show_trainable, **options)


def to_categorical(x: Any, num_classes: int | None = None) -> np.ndarray:
    """Integer class labels of any shape as one-hot float32 rows, the class axis last (Keras's to_categorical).

    A trailing axis of size 1 is dropped first, as in Keras: labels of shape (n, 1) give (n, num_classes).
    `num_classes` defaults to the largest label + 1.
    """
    labels = as_numbers(x, "x", "to_categorical")
    if labels.dtype.kind == "f":
        whole = np.isfinite(labels) & (labels == np.round(labels))
        if not whole.all():
            bad = tuple(int(i) for i in np.argwhere(~whole)[0])
            raise ValueError(f"to_categorical: x must hold integer class labels, got {labels[bad]} at index {bad}")
    labels = labels.astype(np.int64)
    shape = labels.shape[:-1] if labels.ndim > 1 and labels.shape[-1] == 1 else labels.shape
    flat = labels.reshape(-1)  # (...) -> (count,)
    if flat.size and flat.min() < 0:
        at = tuple(int(i) for i in np.unravel_index(flat.argmin(), labels.shape))
        raise ValueError(f"to_categorical: class labels must be >= 0, got {flat.min()} at index {at}; map other "
                         "labels to 0..n-1 first, e.g. with np.unique(x, return_inverse=True)[1]")
    if num_classes is None:
        if not flat.size:
            raise ValueError(f"to_categorical: x is empty (shape {labels.shape}), so num_classes cannot be inferred; "
                             "pass num_classes=")
        num_classes = int(flat.max()) + 1
    num_classes = positive_int(num_classes, "num_classes", "to_categorical")
    if flat.size and flat.max() >= num_classes:
        raise ValueError(f"to_categorical: label {flat.max()} is out of range for num_classes={num_classes} "
                         f"(labels run from 0 to {num_classes - 1}); pass num_classes={flat.max() + 1} or more")
    one_hot = np.zeros((flat.size, num_classes), dtype=np.float32)
    one_hot[np.arange(flat.size), flat] = 1.0
    return one_hot.reshape(shape + (num_classes,))  # (count, classes) -> (..., classes)


def normalize(x: Any, axis: int = -1, order: int = 2) -> np.ndarray:
    """x divided by its L-`order` norm along `axis` (Keras's normalize); a vector of zeros stays zero.

    Floating x keeps its dtype; integers give float32."""
    array = as_numbers(x, "x", "normalize")
    if not is_int(order) or order < 1:
        raise ValueError(f"normalize: order must be an int >= 1 (2 for the L2 norm), got {order!r}")
    axis = axis_index(axis, "axis", "normalize")
    if not -array.ndim <= axis < array.ndim:
        raise ValueError(f"normalize: axis {axis} is out of range for x of shape {array.shape} "
                         f"(valid: {-array.ndim} to {array.ndim - 1})")
    array = array if array.dtype.kind == "f" else array.astype(np.float32)
    norm = np.linalg.norm(array, ord=order, axis=axis, keepdims=True)  # the shape of x with 1 along axis
    return array / np.where(norm == 0, 1, norm).astype(array.dtype)


class PyDataset:
    """Keras's PyDataset: a dataset of whole batches that fit, evaluate and predict read by index.

    Subclass it and define `__len__` (batches per epoch) and `__getitem__(index)`, which returns the batch
    `index` as (x, y) or (x, y, sample_weight) (or x alone for predict). fit calls `on_epoch_begin()` and
    `on_epoch_end()` around every epoch; with `shuffle=True` it reads the batches in a new order each epoch.
    A dataset without an end returns None from `num_batches` (then fit needs steps_per_epoch).

    `workers`, `use_multiprocessing` and `max_queue_size` are Keras's settings, kept for code written for
    Keras; here batches are read one after the other in the calling thread.
    """

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size: int = 10) -> None:
        self.workers = positive_int(workers, "workers", type(self).__name__)
        self.use_multiprocessing = flag(use_multiprocessing, "use_multiprocessing", type(self).__name__)
        self.max_queue_size = positive_int(max_queue_size, "max_queue_size", type(self).__name__)

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__ (the number of batches per epoch), "
                                  "or num_batches returning None for a dataset without an end")

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index), returning batch index as "
                                  "(x, y) or (x, y, sample_weight)")

    @property
    def num_batches(self) -> int | None:
        """Batches per epoch: len(self); None for a dataset without an end."""
        return len(self)

    def on_epoch_begin(self) -> None:
        """Called before each epoch (override to prepare it)."""

    def on_epoch_end(self) -> None:
        """Called after each epoch (override, e.g. to reshuffle the samples)."""
