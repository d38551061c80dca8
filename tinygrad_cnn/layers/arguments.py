"""Checks for layer constructor arguments: each error names the layer, the argument, the value and the fix."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def positive_int(value: Any, argument: str, owner: str) -> int:
    """`value` as an int >= 1."""
    if not _is_int(value):
        raise TypeError(f"{owner}: {argument} must be a positive int, got {type(value).__name__} {value!r:.40}")
    if value < 1:
        raise ValueError(f"{owner}: {argument} must be a positive int (at least 1), got {value}")
    return int(value)


def one_of(value: Any, options: Iterable[str], argument: str, owner: str) -> str:
    """`value` lower-cased, when it is one of `options`."""
    options = tuple(options)
    if not isinstance(value, str) or value.lower() not in options:
        raise ValueError(f"{owner}: {argument} must be one of {', '.join(repr(o) for o in options)}, got {value!r}")
    return value.lower()


def number(value: Any, argument: str, owner: str, low: float, high: float, high_open: bool = False) -> float:
    """A real number in [low, high] (or [low, high) with `high_open`)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{owner}: {argument} must be a number, got {type(value).__name__} {value!r:.40}")
    if not (low <= value < high if high_open else low <= value <= high):
        interval = f"[{low}, {high})" if high_open else f"[{low}, {high}]"
        raise ValueError(f"{owner}: {argument} must be in {interval}, got {value}")
    return float(value)


def axis_index(value: Any, argument: str, owner: str) -> int:
    """An int axis (negative counts from the end)."""
    if not _is_int(value):
        raise TypeError(f"{owner}: {argument} must be an int axis, got {type(value).__name__} {value!r:.40}")
    return int(value)
