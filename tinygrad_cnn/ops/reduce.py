"""Reduction primitives: sum, max and min over axes."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..function import Function
from ..mode import MODE
from ..tensor import Tensor
from .elementwise import route


def normalize_axis(axis: Any, ndim: int, argument: str = "axis") -> tuple[int, ...]:
    """`axis` (int, tuple or None) as a sorted tuple of non-negative axes, checked against `ndim`."""
    if axis is None:
        return tuple(range(ndim))
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    result = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool):
            raise TypeError(f"{argument} must be an int, a tuple of ints or None, got {axis!r}")
        if not -max(ndim, 1) <= a < max(ndim, 1):  # a 0-d tensor accepts 0 and -1, as in PyTorch
            raise IndexError(f"{argument}={a} is out of range for a tensor with {ndim} dimensions "
                             f"(valid: {-max(ndim, 1)} to {max(ndim, 1) - 1})")
        result.append(int(a) % max(ndim, 1))
    if len(set(result)) != len(result):
        raise ValueError(f"{argument}={axis!r} repeats an axis")
    return tuple(sorted(result)) if ndim else ()


def kept_shape(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    """The shape after reducing `axes` with keepdims=True."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Function):
    @staticmethod
    def forward(ctx: Any, a: Tensor, *, axis: tuple[int, ...], keepdims: bool) -> np.ndarray:
        ctx.in_shape, ctx.axis, ctx.keepdims = a.shape, axis, keepdims
        return np.sum(a.data, axis=axis, keepdims=keepdims)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Any:
        if MODE.plain_backward:   # the same views of the array, without ops
            gs = g.data if ctx.keepdims else g.data.reshape(kept_shape(ctx.in_shape, ctx.axis))
            return gs if gs.shape == ctx.in_shape else np.broadcast_to(gs, ctx.in_shape)
        if not ctx.keepdims:
            g = g.reshape(kept_shape(ctx.in_shape, ctx.axis))
        return g.broadcast_to(ctx.in_shape)


class Max(Function):
    """Max over axes. Tie rule: tied maxima share the gradient equally (as torch.amax)."""

    reduce = staticmethod(np.max)   # Min swaps it

    @staticmethod
    def forward(ctx: Any, a: Tensor, *, axis: tuple[int, ...], keepdims: bool) -> np.ndarray:
        if a.size == 0 and any(a.shape[i] == 0 for i in axis):   # reducing an empty axis: no value to take
            raise ValueError(f"max/min of an empty tensor of shape {a.shape} over axis {axis}: no value")
        out = ctx.reduce(a.data, axis=axis, keepdims=True)
        ctx.keepdims, ctx.axis, ctx.in_shape = keepdims, axis, a.shape
        if ctx.needs_input_grad[0]:
            winners = a.data == out
            if out.dtype.kind in "fc" and np.isnan(out).any():   # a NaN maximum: its NaNs win (as PyTorch)
                winners |= np.isnan(a.data) & np.isnan(out)
            # the tied maxima of a reduction group share its gradient: 1 / their number each
            ctx.winners, ctx.count = winners, np.sum(winners, axis=axis, keepdims=True, dtype=a.dtype)
        return out if keepdims else np.squeeze(out, axis=axis)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        if not ctx.keepdims:
            g = g.reshape(kept_shape(ctx.in_shape, ctx.axis))
        return route(g / ctx.count, ctx.winners)   # to the winners alone: 0 * inf elsewhere would be NaN


class Min(Max):
    """Min over axes, by Max's rules: tied minima share the gradient, a NaN minimum's NaNs take it."""

    reduce = staticmethod(np.min)
