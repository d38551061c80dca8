"""Ops composed from the primitives (no backward of their own: the primitives' gradients compose)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..arguments import is_int, number
from ..function import check_broadcast
from ..tensor import Tensor
from .elementwise import Clip, Maximum, Minimum, Where
from .reduce import normalize_axis


def _first_tensor(a: Any, b: Any) -> Tensor | None:
    """The operand whose dtype a plain number or list among (a, b) takes."""
    return a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else None


def _tensor(x: Any, like: Tensor | None = None) -> Tensor:
    """`x` as a Tensor; a plain number or list takes the dtype of `like` when it is a float one, or an integer one
    and x an int in its range (tc.maximum(int32 tensor, 1) is int32, as in NumPy and PyTorch)."""
    if isinstance(x, Tensor):
        return x
    dtype = None
    if like is not None and not isinstance(x, np.ndarray):
        kind = like.dtype.kind
        if kind == "f" or kind in "iu" and is_int(x) and np.iinfo(like.dtype).min <= x <= np.iinfo(like.dtype).max:
            dtype = like.dtype
    return Tensor(x, dtype=dtype)


def mean(a: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
    """Average over `axis`."""
    axes = normalize_axis(axis, a.ndim)
    count = math.prod([a.shape[i] for i in axes])
    if count == 0:
        raise ValueError(f"mean over axis {axis} of a tensor of shape {a.shape}: no elements to average")
    return a.sum(axes, keepdims) / count


def var(a: Tensor, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """Variance over `axis`, dividing by N - ddof (NumPy's convention, ddof=0)."""
    if not is_int(ddof):
        raise TypeError(f"var/std: ddof must be an int (0: divide by N, 1: by N - 1), got {type(ddof).__name__} "
                        f"{ddof!r:.40}")
    axes = normalize_axis(axis, a.ndim)
    count = math.prod([a.shape[i] for i in axes])
    if count - ddof <= 0:
        raise ValueError(f"var with ddof={ddof} needs more than {ddof} elements, got {count} "
                         f"(shape {a.shape}, axis {axis})")
    centered = a - a.mean(axes, keepdims=True)
    return (centered * centered).sum(axes, keepdims) / (count - ddof)


def std(a: Tensor, axis: Any = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
    """sqrt(var): where the variance is 0 the gradient is 0, as in PyTorch (d sqrt(v) = 1 / (2 sqrt(v)) is
    infinite there, and would meet the variance's zero gradient as inf * 0 = NaN)."""
    v = var(a, axis, keepdims, ddof)
    flat = v.data == 0
    if not flat.any():
        return v.sqrt()
    # sqrt only of the non-zero variances (1 stands in for 0), then 0 put back: no inf in either order
    return where(flat, 0, where(flat, 1, v).sqrt())


def _shifted(a: Tensor, axes: tuple[int, ...], finite: bool = False) -> tuple[Tensor, np.ndarray]:
    """(a - m, m) with m the max over `axes`, held constant: exp(a - m) cannot overflow. Integers and bools are
    taken as float32 (an unsigned a - m would wrap around). Where the max is -inf, m is 0 (a - m stays -inf, not
    NaN); where it is +inf, m is the max of the group's finite values with `finite` (logsumexp: its gradient is 0 at
    them, as PyTorch's), else inf (softmax of such a group is NaN throughout, as PyTorch's)."""
    if a.dtype.kind != "f":
        a = a.astype(np.float32)
    if not a.size:
        return a, np.zeros((), a.dtype)
    shift = np.max(a.data, axis=axes, keepdims=True)
    if finite and np.isposinf(shift).any():
        shift = np.max(np.where(np.isfinite(a.data), a.data, -np.inf), axis=axes, keepdims=True)
    shift = np.where(shift == -np.inf, 0, shift)
    return a - shift, shift


def logsumexp(a: Tensor, axis: Any = None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(a))), stable for large values: the max is taken out first."""
    axes = normalize_axis(axis, a.ndim)
    shifted, shift = _shifted(a, axes, finite=True)
    out = shifted.exp().sum(axes, keepdims=True).log() + shift
    return out if keepdims else out.squeeze(axes)


def log_softmax(a: Tensor, axis: int = -1) -> Tensor:
    """(a - m) - log(sum(exp(a - m))): log-probabilities, precise for large logits (even in float32)."""
    axes = normalize_axis(axis, a.ndim)
    shifted, _ = _shifted(a, axes)
    return shifted - shifted.exp().sum(axes, keepdims=True).log()


def softmax(a: Tensor, axis: int = -1) -> Tensor:
    """exp(a - m) / sum(exp(a - m)) along `axis`, stable for large logits."""
    e = _shifted(a, normalize_axis(axis, a.ndim))[0].exp()
    return e / e.sum(axis, keepdims=True)


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Elements of `a` where `condition` is true, else of `b` (broadcasting)."""
    condition = np.array(condition.data if isinstance(condition, Tensor) else condition)   # a copy: backward uses it
    if condition.dtype != np.bool_:
        raise TypeError(f"where: condition must be bool, got dtype {condition.dtype}; compare first (x > 0)")
    like = _first_tensor(a, b)
    return Where.apply(_tensor(a, like), _tensor(b, like), condition=condition)


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise max; ties share the gradient equally."""
    like = _first_tensor(a, b)
    return Maximum.apply(_tensor(a, like), _tensor(b, like))


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise min; ties share the gradient equally."""
    like = _first_tensor(a, b)
    return Minimum.apply(_tensor(a, like), _tensor(b, like))


def clip(a: Tensor, low: Any = None, high: Any = None) -> Tensor:
    """min(max(a, low), high), as torch.clamp: the gradient goes to `a` where low <= a <= high (bounds included),
    else to the bound that won (tensor bounds get gradients); see `Clip` for NaN and low > high."""
    if low is None and high is None:
        raise ValueError("clip needs at least one of min and max")
    bounds = [None if bound is None else _tensor(bound, a) for bound in (low, high)]
    if any(bound is not None and bound.ndim for bound in bounds):   # a clear error names clip, not its op
        check_broadcast("clip", (a, *bounds), {})
    return Clip.apply(a, *bounds)


def leaky_relu(a: Tensor, negative_slope: float = 0.01) -> Tensor:
    """a where a > 0, else negative_slope * a (derivative at 0: negative_slope)."""
    negative_slope = number(negative_slope, "negative_slope", "leaky_relu", -math.inf, math.inf)
    return Where.apply(a, a * negative_slope, condition=a.data > 0)
