"""Checks for user arguments: each error names the owner (layer, function), the argument, the value and the fix."""
from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np


def is_int(value: Any) -> bool:
    """A Python or NumPy integer, not a bool."""
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def positive_int(value: Any, argument: str, owner: str, minimum: int = 1) -> int:
    """`value` as an int >= minimum (1 by default: a positive int)."""
    kind = "a positive int" if minimum == 1 else f"an int >= {minimum}"
    if not is_int(value):
        raise TypeError(f"{owner}: {argument} must be {kind}, got {type(value).__name__} {value!r:.40}")
    if value < minimum:
        raise ValueError(f"{owner}: {argument} must be {kind}{' (at least 1)' if minimum == 1 else ''}, got {value}")
    return int(value)


def flag(value: Any, argument: str, owner: str) -> bool:
    """`value` as a bool: True or False only (a string such as "False" would silently be true)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: {argument} must be True or False, got {value!r:.40}")
    return bool(value)


def one_of(value: Any, options: Iterable[str], argument: str, owner: str) -> str:
    """`value` lower-cased, when it is one of `options`."""
    options = tuple(options)
    if not isinstance(value, str) or value.lower() not in options:
        raise ValueError(f"{owner}: {argument} must be one of {', '.join(repr(o) for o in options)}, got {value!r}")
    return value.lower()


def number(value: Any, argument: str, owner: str, low: float, high: float, high_open: bool = False) -> float:
    """A real number in [low, high] (or [low, high) with `high_open`)."""
    _check_real(value, argument, owner)
    if not (low <= value < high if high_open else low <= value <= high):
        interval = f"[{low}, {high})" if high_open else f"[{low}, {high}]"
        what = f"{value} (not a number)" if value != value else value   # NaN is the one value unequal to itself
        raise ValueError(f"{owner}: {argument} must be in {interval}, got {what}")
    return float(value)


def finite_number(value: Any, argument: str, owner: str, low: float = -math.inf, high: float = math.inf) -> float:
    """A real number in [low, high] that is neither infinite nor NaN."""
    _check_real(value, argument, owner)
    if not math.isfinite(value):
        raise ValueError(f"{owner}: {argument} must be a finite number, got {value}")
    return number(value, argument, owner, low, high)


def is_number(value: Any) -> bool:
    """A Python or NumPy real number, not a bool."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _check_real(value: Any, argument: str, owner: str) -> None:
    if not is_number(value):
        raise TypeError(f"{owner}: {argument} must be a number, got {type(value).__name__} {value!r:.40}")


def axis_index(value: Any, argument: str, owner: str) -> int:
    """An int axis (negative counts from the end)."""
    if not is_int(value):
        raise TypeError(f"{owner}: {argument} must be an int axis, got {type(value).__name__} {value!r:.40}")
    return int(value)
