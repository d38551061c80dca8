"""A model's several inputs and outputs, Keras style: what the user gives for each (one array, a list in
the model's order, or a dict by name) as one entry per input or output, and batches of such entries.

A model with one input (output) keeps plain arrays everywhere; a model with several uses lists in the
order of `model.input_names` (`model.output_names`), with None for an output given no target.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .tensor import Tensor


def names(model: Any, kind: str) -> list[str]:
    """The model's input or output names (`kind` "input" or "output"); [] for a model that has none."""
    found = getattr(model, f"{kind}_names", None)
    return [str(name) for name in found] if found else []


def pending(model: Any) -> bool:
    """Whether the model names its inputs and outputs only when first called or built (a subclassed model)."""
    return bool(getattr(model, "_structure_pending", lambda: False)())


def input_names(model: Any, x: Any) -> list[str]:
    """The model's input names; for a subclassed model not built yet, the names the structure of x will give
    it (a list of several arrays: input_0, input_1, ...), as its first call will."""
    if pending(model) and isinstance(x, (list, tuple)) and len(x) > 1 and all(
            getattr(item, "ndim", 0) >= 1 for item in x):
        return [f"input_{i}" for i in range(len(x))]
    return names(model, "input")


def several(model: Any, kind: str) -> bool:
    """Whether the model has more than one input (output)."""
    return len(names(model, kind)) > 1


def describe(value: Any) -> str:
    """A short description of what the user passed: shapes of arrays, keys of dicts, lengths of lists."""
    if isinstance(value, Mapping):
        return "a dict {" + ", ".join(f"{key!r}: {describe(item)}" for key, item in value.items()) + "}"
    if isinstance(value, (list, tuple)) and all(hasattr(item, "shape") for item in value):
        arrays = "array" if len(value) == 1 else "arrays"
        return f"a {type(value).__name__} of {len(value)} {arrays} of shapes {[tuple(i.shape) for i in value]}"
    if hasattr(value, "shape"):
        return f"an array of shape {tuple(value.shape)}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of length {len(value)}"
    return f"a {type(value).__name__}"


def by_name(value: Any, keys: list[str], argument: str, what: str, kind: str, partial: bool = False,
            items: str = "arrays") -> list[Any]:
    """`value` for each of several inputs or outputs named `keys`: a list/tuple in their order or a dict by
    name, as a list in their order. With `partial`, a dict may leave names out (None for them)."""
    if isinstance(value, Mapping):
        unknown = [key for key in value if key not in keys]
        missing = [key for key in keys if key not in value]
        if unknown or (missing and not partial):
            problem = f"has no {kind} named {unknown}" if unknown else f"lacks the {kind}s {missing}"
            raise ValueError(f"{what}: {argument} is a dict with the keys {list(value)}, but the model {problem}; "
                             f"give one entry per {kind}, keyed by the names {keys}")
        return [value.get(key) for key in keys]
    if isinstance(value, (list, tuple)) and len(value) == len(keys):
        return list(value)
    raise ValueError(f"{what}: the model has {len(keys)} {kind}s {keys}, so {argument} must be a list of "
                     f"{len(keys)} {items} in that order or a dict keyed by those names; got {describe(value)}")


def one(value: Any, keys: list[str], argument: str, what: str, kind: str) -> Any:
    """The value for a model with one input or output: also accepted as a dict {name: value} or, as in
    Keras 3, a list or tuple of one array (a list of several is one array's rows, as NumPy reads it)."""
    if isinstance(value, Mapping):
        return by_name(value, keys or [kind], argument, what, kind)[0]
    if isinstance(value, (list, tuple)) and len(value) == 1 and getattr(value[0], "ndim", 0) >= 1:
        return value[0]
    return value


def count(part: Any) -> int:
    """The number of samples in an array or in a list of arrays (all of one length; None entries skipped)."""
    if isinstance(part, list):
        return next(len(item) for item in part if item is not None)
    return len(part)


def rows(part: Any, index: Any) -> Any:
    """The samples `index` (a slice or indices) of an array, of each array of a list, or None."""
    if part is None:
        return None
    if isinstance(part, list):
        return [None if item is None else item[index] for item in part]
    return part[index]


def same_count(arrays: dict[str, np.ndarray | None], what: str) -> int:
    """The common number of samples of the named arrays; an error naming them all when they differ."""
    given = {name: array for name, array in arrays.items() if array is not None}
    counts = {len(array) for array in given.values()}
    if len(counts) > 1:
        shapes = ", ".join(f"{name} {array.shape}" for name, array in given.items())
        raise ValueError(f"{what}: the arrays hold different numbers of samples ({shapes}); every input, target "
                         "and sample_weight array needs one row per sample, the same rows in the same order")
    return counts.pop()


def as_tensors(model: Any, x: Any) -> Any:
    """A batch's inputs as the model takes them: one Tensor, or a list of Tensors in input order (also a
    list of one for a model built for a list of one input)."""
    if not isinstance(x, list) and isinstance(getattr(model, "_input_shape", None), list):
        x = [x]
    if isinstance(x, list):
        return [Tensor._make(item, None) for item in x]
    return Tensor._make(x, None)


def input_shapes(x: Any) -> Any:
    """The shape to build a model with from a batch's inputs: (None, ...) or a list of them."""
    if isinstance(x, list):
        return [(None, *item.shape[1:]) for item in x]
    return (None, *x.shape[1:])


def flat_outputs(model: Any, prediction: Any) -> list[Tensor]:
    """The model's outputs as a list in `output_names` order (one Tensor, a list, or a dict by name)."""
    keys = names(model, "output")
    if isinstance(prediction, Mapping):
        return by_name(prediction, keys or list(prediction), "the model's output", "the model", "output")
    flat = list(prediction) if isinstance(prediction, (list, tuple)) else [prediction]
    if len(keys) > 1 and len(flat) != len(keys):
        raise ValueError(f"the model returned {len(flat)} outputs but has {len(keys)}, output_names {keys}; its call "
                         "must return one per output (a list in that order or a dict by name)")
    return flat


def packed(prediction: Any, keys: list[str], flat: list[np.ndarray]) -> Any:
    """`flat` (one array per output) in the structure of the model's `prediction`: an array, a list or a dict."""
    if isinstance(prediction, Mapping):
        return dict(zip(keys or list(prediction), flat, strict=True))
    if isinstance(prediction, (list, tuple)):
        return list(flat)
    return flat[0]
