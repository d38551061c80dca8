"""Window sums: the linear map of average pooling and its adjoint, and the views of tiling windows.

Average pooling is linear: each output is a weighted sum of its window (WindowSum), and its
gradient spreads the upstream gradient back with the same weights (WindowSumAdjoint). The two
are each other's adjoints, so they differentiate into one another to any order. Max pooling's
backward is a WindowSumAdjoint too, with the share of each maximum as its weights.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..function import Function
from ..ops.elementwise import select
from ..tensor import Tensor
from .geometry import Geometry
from .windows import col2im, pad


def taps(geometry: Geometry) -> list[tuple[int, int, slice, slice]]:
    """Every kernel tap (i, j) with the rows and columns of the padded input it sees."""
    kh, kw = geometry.kernel
    return [(i, j, *geometry.offset(i, j)) for i in range(kh) for j in range(kw)]


def window_sum(xp: np.ndarray, geometry: Geometry, weights: np.ndarray) -> np.ndarray:
    """sum over taps of weights[i, j] * window tap (i, j) of xp; weights (kh|1, kw|1, ...) broadcast."""
    per_tap = weights.shape[0] > 1 or weights.shape[1] > 1
    acc = None
    for i, j, rows, cols in taps(geometry):
        term = xp[:, rows, cols]                              # (N, OH, OW, C)
        if per_tap:   # a tap of weight 0 adds 0, not 0 * term (NaN at an infinite or NaN term)
            term = select(term, weights[i, j] != 0) * weights[i, j]
        if acc is None:
            acc = np.array(term, dtype=np.result_type(term, weights))
        else:
            acc += term
    return acc if per_tap else np.multiply(acc, weights[0, 0], out=acc)   # acc is ours: scaled in place


class WindowSum(Function):
    """y = sum over each window of weights * x; weights broadcast to (kh, kw, N, OH, OW, C)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, *, geometry: Geometry, weights: np.ndarray) -> np.ndarray:
        return window_sum(pad(x.data, geometry), geometry, weights)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        return WindowSumAdjoint.apply(g, geometry=ctx.op_args["geometry"], weights=ctx.op_args["weights"])


class WindowSumAdjoint(Function):
    """The adjoint of WindowSum: each output's gradient times the weights, added back onto its window."""

    @staticmethod
    def forward(ctx: Any, g: Tensor, *, geometry: Geometry, weights: np.ndarray) -> np.ndarray:
        return spread(g.data, geometry, weights)

    @staticmethod
    def backward(ctx: Any, h: Tensor) -> Tensor:
        return WindowSum.apply(h, geometry=ctx.op_args["geometry"], weights=ctx.op_args["weights"])


def spread(g: np.ndarray, geometry: Geometry, weights: np.ndarray) -> np.ndarray:
    """gx (N, H, W, C): every output's gradient g times the weights, added back onto its window.

    Bool weights select g where they hold. A tap of weight 0 or False gets 0, not 0 * g (NaN where g is
    infinite or NaN), as PyTorch's max pooling gives the pixels that are no maximum.
    """
    kh, kw = geometry.kernel
    n, oh, ow, c = g.shape
    h, w = geometry.in_hw
    if geometry.tiles and weights.shape[:2] == (1, 1):       # the same weight for every tap of tiling windows
        gx = np.zeros((n, h, w, c), dtype=np.result_type(g, weights))
        tile_rows(gx, geometry)[...] = widen(g * weights[0, 0], kw)
        return gx
    if weights.dtype == bool:
        weighted = select(g, weights)                        # (kh, kw, N, OH, OW, C)
    elif weights.shape[:2] != (1, 1):                        # per tap: some are 0
        weighted = select(g, weights != 0) * weights
    else:
        weighted = weights * g                               # (1, 1, N, OH, OW, C)
    if not geometry.tiles:
        with np.errstate(invalid="ignore"):   # inf + -inf from two windows is NaN, as in PyTorch, and no warning
            return col2im(np.broadcast_to(weighted, (kh, kw, *weighted.shape[2:])), geometry)
    # the windows tile the input: every input pixel gets one term, no sums
    rows = tile_rows_of_taps(weighted)                       # (N, OH, kh, OW * kw, C)
    if (h, w) == (oh * kh, ow * kw):
        return rows.reshape(n, h, w, c)
    gx = np.zeros((n, h, w, c), dtype=weighted.dtype)
    tile_rows(gx, geometry)[...] = rows
    return gx


def tile_rows(x: np.ndarray, geometry: Geometry) -> np.ndarray:
    """The tiles of x (N, H, W, C) as a view (N, OH, kh, OW * kw, C): window rows of whole image rows.

    Operations on this view have long contiguous inner loops (OW * kw * C), unlike the 6-D tile view.
    """
    (oh, ow), (kh, kw) = geometry.out_hw, geometry.kernel
    n, _, _, c = x.shape
    return x[:, :oh * kh, :ow * kw].reshape(n, oh, kh, ow * kw, c, copy=False)


def tile_rows_of_taps(per_tap: np.ndarray) -> np.ndarray:
    """Per-tap values (kh, kw, N, OH, OW, C) in the layout of `tile_rows` (N, OH, kh, OW * kw, C)."""
    kh, kw, n, oh, ow, c = per_tap.shape
    return per_tap.transpose(2, 3, 0, 4, 1, 5).reshape(n, oh, kh, ow * kw, c)


def widen(a: np.ndarray, kw: int, out: np.ndarray | None = None) -> np.ndarray:
    """Each output (N, OH, OW, C) repeated over its window's columns: (N, OH, 1, OW * kw, C), into `out` if given."""
    n, oh, ow, c = a.shape
    if c != 1:   # np.take copies each pixel's C values as one chunk, and lets go of the GIL (np.repeat keeps it)
        return a.take(np.arange(ow).repeat(kw), axis=2, out=out, mode="clip")[:, :, None]
    # one value a pixel (channels_first): 2x faster by columns
    wide = np.empty((n, oh, ow, kw, 1), dtype=a.dtype) if out is None else out.reshape(n, oh, ow, kw, 1)
    for j in range(kw):
        wide[:, :, :, j] = a
    return wide.reshape(n, oh, 1, ow * kw, 1)
