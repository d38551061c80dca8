"""Tensor creation, and the one random generator (`manual_seed`)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .arguments import is_int
from .tensor import Tensor, _shape_args, as_dtype, to_array

_GENERATOR = [np.random.default_rng()]


def manual_seed(seed: int) -> None:
    """Seed the generator behind rand, randn, initializers, dropout and shuffling."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"manual_seed: seed must be a non-negative int, got {type(seed).__name__} {seed!r:.40}")
    if seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative int, got {seed}; use a seed >= 0")
    _GENERATOR[0] = np.random.default_rng(seed)


def generator() -> np.random.Generator:
    """The current random generator."""
    return _GENERATOR[0]


def _float(dtype: Any, name: str) -> np.dtype:
    """`dtype` checked, float32 when None."""
    return np.dtype(np.float32) if dtype is None else as_dtype(dtype, "dtype", name)


def _random_dtype(dtype: Any, name: str) -> np.dtype:
    """A floating dtype for random samples (an integer one would silently truncate them to zeros)."""
    result = _float(dtype, name)
    if result.kind != "f":
        raise TypeError(f"{name}: dtype must be a floating type (float32 or float64), got {result}; "
                        "draw floats and convert, or use tc.arange / np.random.integers for integers")
    return result


def checked_shape(shape: tuple[Any, ...], name: str) -> tuple[int, ...]:
    """The sizes given as f(2, 3) or f((2, 3)), each a non-negative int, or a ValueError naming `name`."""
    shape = _shape_args(shape)
    if not all(is_int(n) and n >= 0 for n in shape):
        raise ValueError(f"{name}: sizes must be non-negative ints, got {shape}")
    return tuple(int(n) for n in shape)


def _check_numbers(name: str, **values: Any) -> None:
    for argument, value in values.items():
        if not isinstance(value, (int, float, np.number, np.bool_)):
            raise TypeError(f"{name}: {argument} must be a number, got {type(value).__name__} {value!r:.40}")


def full(shape: Any, fill_value: float, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of `shape` filled with `fill_value`; without dtype, the fill value's as in PyTorch and
    tc.Tensor(fill_value): int64 for an int, bool for a bool, float32 for a float."""
    shape = checked_shape((shape,) if isinstance(shape, (int, np.integer)) else (tuple(shape),), "full")
    _check_numbers("full", fill_value=fill_value)
    dtype = to_array(fill_value).dtype if dtype is None else as_dtype(dtype, "dtype", "full")
    return Tensor(np.full(shape, fill_value, dtype=dtype), requires_grad=requires_grad)


def zeros(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros: zeros(2, 3) or zeros((2, 3))."""
    return Tensor(np.zeros(checked_shape(shape, "zeros"), _float(dtype, "zeros")), requires_grad=requires_grad)


def ones(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones: ones(2, 3) or ones((2, 3))."""
    return Tensor(np.ones(checked_shape(shape, "ones"), _float(dtype, "ones")), requires_grad=requires_grad)


def arange(start: float, stop: float | None = None, step: float = 1, dtype: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Evenly spaced values in [start, stop), as np.arange (integers stay int64, floats are float32)."""
    _check_numbers("arange", start=start, stop=0 if stop is None else stop, step=step)
    if step == 0:
        raise ValueError(f"arange: step must not be zero (start={start}, stop={stop})")
    values = np.arange(start, stop, step) if stop is not None else np.arange(start)
    if dtype is None:
        dtype = np.float32 if values.dtype.kind == "f" else None
    else:
        dtype = as_dtype(dtype, "dtype", "arange")
    return Tensor(values, dtype=dtype, requires_grad=requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """The identity matrix (n x m)."""
    checked_shape((n,) if m is None else (n, m), "eye")
    return Tensor(np.eye(n, m, dtype=_float(dtype, "eye")), requires_grad=requires_grad)


def rand(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1)."""
    data = generator().random(checked_shape(shape, "rand")).astype(_random_dtype(dtype, "rand"))
    return Tensor(data, requires_grad=requires_grad)


def randn(*shape: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples."""
    data = generator().standard_normal(checked_shape(shape, "randn")).astype(_random_dtype(dtype, "randn"))
    return Tensor(data, requires_grad=requires_grad)


def _like(maker: Any, t: Any, dtype: Any, requires_grad: bool) -> Tensor:
    t = t if isinstance(t, Tensor) else Tensor(t)   # arrays and lists too, as in NumPy
    return maker(t.shape, dtype=t.dtype if dtype is None else dtype, requires_grad=requires_grad)


def zeros_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _like(zeros, t, dtype, requires_grad)


def ones_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _like(ones, t, dtype, requires_grad)


def rand_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _like(rand, t, dtype, requires_grad)


def randn_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _like(randn, t, dtype, requires_grad)


def full_like(t: Tensor, fill_value: float, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _like(lambda shape, **kw: full(shape, fill_value, **kw), t, dtype, requires_grad)
