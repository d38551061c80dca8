"""Shapes with their batch axis, as layers take them (None for an unknown size): checking and printing."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

Shape = tuple[int | None, ...]


def batch_shape(shape: Any, owner: str) -> Shape:
    """A shape with its batch axis, as a tuple of ints (None for unknown sizes)."""
    if isinstance(shape, (int, np.integer)) or not isinstance(shape, (tuple, list)):
        raise TypeError(f"{owner}: an input shape must be a tuple such as (None, 28, 28, 1), got {shape!r}")
    for n in shape:
        if n is not None and (isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0):
            raise ValueError(f"{owner}: input shape {tuple(shape)} must hold non-negative ints or None")
    return tuple(None if n is None else int(n) for n in shape)


def batch_shapes(shape: Any, owner: str) -> Any:
    """One shape (a tuple or list of sizes), or a list/tuple or dict of shapes for a layer called on several
    inputs (Keras's build takes the structure), each checked by `batch_shape`; several come as a list or dict."""
    if isinstance(shape, Mapping):
        return {key: batch_shape(one, owner) for key, one in shape.items()}
    if isinstance(shape, (list, tuple)) and shape and all(isinstance(one, (list, tuple)) for one in shape):
        return [batch_shape(one, owner) for one in shape]
    return batch_shape(shape, owner)


def _without_batch(shape: Any) -> Any:
    """(None, *shape[1:]): the shape a layer is built for; for each shape of a list or dict of them."""
    if isinstance(shape, list):
        return [_without_batch(one) for one in shape]
    if isinstance(shape, Mapping):
        return {key: _without_batch(one) for key, one in shape.items()}
    return (None,) + tuple(shape[1:]) if len(shape) else tuple(shape)


def format_shape(shape: Shape) -> str:
    """(None, 254, 254, 8) as Keras prints it."""
    return "(" + ", ".join("None" if n is None else str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"
