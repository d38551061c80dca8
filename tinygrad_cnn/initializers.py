"""Weight initializers with Keras's names and fan conventions, drawn from the generator `tc.manual_seed` seeds."""
from __future__ import annotations

import math
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import numpy as np

from .creation import checked_shape, generator

Initializer = Callable[[tuple[int, ...], Any], np.ndarray]

# Keras draws "normal" variance-scaling weights from a normal truncated at two standard deviations,
# whose standard deviation is this fraction of the untruncated one; dividing by it restores the variance.
_TRUNCATED_STD = 0.87962566103423978


def compute_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out): Dense kernels (in, out); conv kernels (kh, kw, in_ch / groups, filters) scale both
    by the window size kh * kw, as Keras does."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    window = math.prod(shape[:-2])
    return shape[-2] * window, shape[-1] * window


def truncated_normal(shape: tuple[int, ...], stddev: float, dtype: Any = np.float32) -> np.ndarray:
    """Normal samples with standard deviation `stddev`, redrawing every sample beyond two deviations."""
    rng = generator()
    z = rng.standard_normal(checked_shape((shape,), "initializer"))
    outside = np.abs(z) > 2
    while outside.any():
        z[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(z) > 2
    return (z * stddev).astype(dtype)


def variance_scaling(shape: tuple[int, ...], scale: float, mode: str, distribution: str,
                     dtype: Any = np.float32) -> np.ndarray:
    """Weights of variance scale / n, n = fan_in, fan_out or their mean (`mode`); uniform or truncated normal."""
    shape = checked_shape((shape,), "initializer")
    fan_in, fan_out = compute_fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    variance = scale / max(1.0, n)
    if distribution == "uniform":  # U(-l, l) has variance l^2 / 3
        limit = math.sqrt(3 * variance)
        return generator().uniform(-limit, limit, shape).astype(dtype)
    return truncated_normal(shape, math.sqrt(variance) / _TRUNCATED_STD, dtype)


def glorot_uniform(shape: tuple[int, ...], dtype: Any = np.float32) -> np.ndarray:
    """U(-l, l) with l = sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio, 2010)."""
    return variance_scaling(shape, 1.0, "fan_avg", "uniform", dtype)


def glorot_normal(shape: tuple[int, ...], dtype: Any = np.float32) -> np.ndarray:
    """Truncated normal of variance 2 / (fan_in + fan_out)."""
    return variance_scaling(shape, 1.0, "fan_avg", "truncated_normal", dtype)


def he_uniform(shape: tuple[int, ...], dtype: Any = np.float32) -> np.ndarray:
    """U(-l, l) with l = sqrt(6 / fan_in) (He et al., 2015), for ReLU networks."""
    return variance_scaling(shape, 2.0, "fan_in", "uniform", dtype)


def he_normal(shape: tuple[int, ...], dtype: Any = np.float32) -> np.ndarray:
    """Truncated normal of variance 2 / fan_in."""
    return variance_scaling(shape, 2.0, "fan_in", "truncated_normal", dtype)


def zeros(shape: tuple[int, ...], dtype: Any = np.float32) -> np.ndarray:
    """All zeros."""
    return np.zeros(checked_shape((shape,), "initializer"), dtype)


def ones(shape: tuple[int, ...], dtype: Any = np.float32) -> np.ndarray:
    """All ones."""
    return np.ones(checked_shape((shape,), "initializer"), dtype)


INITIALIZERS: MappingProxyType[str, Initializer] = MappingProxyType({
    "glorot_uniform": glorot_uniform, "glorot_normal": glorot_normal, "he_uniform": he_uniform,
    "he_normal": he_normal, "zeros": zeros, "ones": ones,
})


def get(identifier: Any) -> Initializer:
    """The initializer for a name or a callable `(shape, dtype) -> ndarray` (returned as is)."""
    if isinstance(identifier, str):
        if identifier.lower() not in INITIALIZERS:
            raise ValueError(f"unknown initializer {identifier!r}; known names: {', '.join(INITIALIZERS)} "
                             "(or pass a callable (shape, dtype) -> ndarray)")
        return INITIALIZERS[identifier.lower()]
    if callable(identifier):
        return identifier
    raise TypeError(f"an initializer must be a name such as 'glorot_uniform' or a callable (shape, dtype) -> "
                    f"ndarray, got {type(identifier).__name__}: {identifier!r:.60}")

