"""2-D max and average pooling, and their global forms.

Average pooling is linear: each output is a weighted sum of its window (WindowSum), and its
gradient spreads the upstream gradient back with the same weights (WindowSumAdjoint). The two
are each other's adjoints, so they differentiate into one another to any order.

Max pooling picks the window's maximum; near any input its local linear map is a window sum
whose weights are the *share* of each maximum: 1 / (number of tied maxima) on the maxima of
the window, 0 elsewhere. Tied maxima therefore share the gradient equally, the same rule as
Tensor.max. Its backward is WindowSumAdjoint with those weights (constant: max-pool is piecewise
linear, so its second derivative is zero).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..function import Function
from ..tensor import Tensor
from .geometry import Geometry, check_data_format, check_rank, pair, spatial_layout, window_geometry
from .windows import col2im, pad


def _taps(geometry: Geometry) -> list[tuple[int, int, slice, slice]]:
    """Every kernel tap (i, j) with the rows and columns of the padded input it sees."""
    kh, kw = geometry.kernel
    return [(i, j, *geometry.offset(i, j)) for i in range(kh) for j in range(kw)]


def _window_sum(xp: np.ndarray, geometry: Geometry, weights: np.ndarray) -> np.ndarray:
    """sum over taps of weights[i, j] * window tap (i, j) of xp; weights (kh|1, kw|1, ...) broadcast."""
    per_tap = weights.shape[0] > 1 or weights.shape[1] > 1
    acc = None
    for i, j, rows, cols in _taps(geometry):
        term = xp[:, rows, cols]                              # (N, OH, OW, C)
        if per_tap:
            term = term * weights[i, j]
        if acc is None:
            acc = np.array(term, dtype=np.result_type(term, weights))
        else:
            acc += term
    return acc if per_tap else acc * weights[0, 0]


class WindowSum(Function):
    """y = sum over each window of weights * x; weights broadcast to (kh, kw, N, OH, OW, C)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, *, geometry: Geometry, weights: np.ndarray) -> np.ndarray:
        return _window_sum(pad(x.data, geometry), geometry, weights)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        return WindowSumAdjoint.apply(g, geometry=ctx.op_args["geometry"], weights=ctx.op_args["weights"])


class WindowSumAdjoint(Function):
    """The adjoint of WindowSum: each output's gradient times the weights, added back onto its window."""

    @staticmethod
    def forward(ctx: Any, g: Tensor, *, geometry: Geometry, weights: np.ndarray) -> np.ndarray:
        kh, kw = geometry.kernel
        taps = weights * g.data                              # (kh|1, kw|1, N, OH, OW, C)
        return col2im(np.broadcast_to(taps, (kh, kw, *taps.shape[2:])), geometry)

    @staticmethod
    def backward(ctx: Any, h: Tensor) -> Tensor:
        return WindowSum.apply(h, geometry=ctx.op_args["geometry"], weights=ctx.op_args["weights"])


def _lowest(dtype: np.dtype) -> Any:
    """The value that never wins a max: -inf for floats, the smallest integer otherwise."""
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


class MaxPool(Function):
    """The maximum of every window; gradient shared equally among tied maxima."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, *, geometry: Geometry) -> np.ndarray:
        xp = pad(x.data, geometry, _lowest(x.dtype))
        kh, kw = geometry.kernel
        # separable: the max over window rows first (long contiguous runs), then over columns
        rows = [geometry.offset(i, 0)[0] for i in range(kh)]
        cols = [geometry.offset(0, j)[1] for j in range(kw)]
        row_max = np.array(xp[:, rows[0]])                    # (N, OH, Wp, C)
        for r in rows[1:]:
            np.maximum(row_max, xp[:, r], out=row_max)
        out = np.array(row_max[:, :, cols[0]])                # (N, OH, OW, C)
        for c in cols[1:]:
            np.maximum(out, row_max[:, :, c], out=out)
        if ctx.needs_input_grad[0]:
            ctx.xp, ctx.out = xp, out
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        geometry = ctx.op_args["geometry"]
        kh, kw = geometry.kernel
        share = np.empty((kh, kw, *ctx.out.shape), dtype=g.dtype)
        for i, j, rows, cols in _taps(geometry):
            np.equal(ctx.xp[:, rows, cols], ctx.out, out=share[i, j])
        share /= share.sum(axis=(0, 1))                       # 1 / (tied maxima) on each maximum
        return WindowSumAdjoint.apply(g, geometry=geometry, weights=share)


# --- public functions ---

def _pool_geometry(x: Tensor, pool_size: Any, strides: Any, padding: Any) -> Geometry:
    size = pair(pool_size, "pool_size")
    strides = size if strides is None else strides
    geometry = window_geometry(x.shape[1:3], size, strides, 1, padding, "pool window")
    for (before, after), k, side in zip(geometry.padding, size, ("top/bottom", "left/right")):
        if max(before, after) >= k:
            raise ValueError(f"padding {before}/{after} ({side}) must be smaller than the pool window {k}, "
                             f"or a window would see only padding (pool_size={size}, padding={padding!r})")
    return geometry


def _channels_last(x: Any, data_format: str) -> Tensor:
    check_data_format(data_format)
    x = x if isinstance(x, Tensor) else Tensor(x)
    check_rank(x, "x", spatial_layout(data_format))
    return x.transpose(0, 2, 3, 1) if data_format == "channels_first" else x


def _restore(y: Tensor, data_format: str) -> Tensor:
    return y.transpose(0, 3, 1, 2) if data_format == "channels_first" else y


def max_pool2d(x: Any, pool_size: Any, strides: Any = None, padding: Any = "valid",
               data_format: str = "channels_last") -> Tensor:
    """The maximum of each window; 'same' and explicit padding never win (padded with -inf)."""
    x = _channels_last(x, data_format)
    geometry = _pool_geometry(x, pool_size, strides, padding)
    return _restore(MaxPool.apply(x, geometry=geometry), data_format)


def avg_pool2d(x: Any, pool_size: Any, strides: Any = None, padding: Any = "valid",
               data_format: str = "channels_last") -> Tensor:
    """The mean of each window; 'same' padding is left out of the mean (Keras), explicit padding counts as zeros."""
    x = _channels_last(x, data_format)
    geometry = _pool_geometry(x, pool_size, strides, padding)
    kh, kw = geometry.kernel
    if isinstance(padding, str) and padding.lower() == "same":
        # count the real pixels in each window: the window sum of an all-ones image
        ones = np.ones((1, *geometry.in_hw, 1), dtype=x.dtype)
        counts = _window_sum(pad(ones, geometry), geometry, np.ones((1,) * 6, dtype=x.dtype))
        weights = (1 / counts)[None, None].astype(x.dtype)    # (1, 1, 1, OH, OW, 1)
    else:
        weights = np.full((1,) * 6, 1 / (kh * kw), dtype=x.dtype)
    return _restore(WindowSum.apply(x, geometry=geometry, weights=weights), data_format)


def _spatial_axes(x: Any, data_format: str) -> tuple[Tensor, tuple[int, int]]:
    check_data_format(data_format)
    x = x if isinstance(x, Tensor) else Tensor(x)
    check_rank(x, "x", spatial_layout(data_format))
    return x, ((1, 2) if data_format == "channels_last" else (2, 3))


def global_avg_pool2d(x: Any, data_format: str = "channels_last", keepdims: bool = False) -> Tensor:
    """The mean over height and width: (N, C), or (N, 1, 1, C) / (N, C, 1, 1) with keepdims."""
    x, axes = _spatial_axes(x, data_format)
    return x.mean(axis=axes, keepdims=keepdims)


def global_max_pool2d(x: Any, data_format: str = "channels_last", keepdims: bool = False) -> Tensor:
    """The max over height and width; tied maxima share the gradient equally (as Tensor.max)."""
    x, axes = _spatial_axes(x, data_format)
    return x.max(axis=axes, keepdims=keepdims)
