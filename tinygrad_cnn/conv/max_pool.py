"""Max pooling: the maximum of every window, its gradient shared equally among tied maxima.

Near any input, max pooling's local linear map is a window sum whose weights are the *share* of
each maximum: 1 / (number of tied maxima) on the maxima of the window, 0 elsewhere, the same rule
as Tensor.max. Its backward is WindowSumAdjoint with those weights (constant: max-pool is piecewise
linear, so its second derivative is zero). The forward pass keeps a bool map of the maxima
rather than the input; the count per window is made in backward, and only when there are ties.

Windows that tile the input (stride = size, no padding: the common case) have a fast path. The
batch is cut into blocks of about a megabyte of images, each taken whole by a free thread; a block
is done in a few NumPy passes over arrays in its cache, with scratch kept between calls: the max
over the window rows (runs of a whole row of windows), then over the columns by a max slid along
that contiguous result, of which every kw-th pixel (np.take) starts a window. This path keeps the
input and a copy of the maxima (as PyTorch keeps the input), not the map: backward remakes the map
of a block by comparing it with its windows' maxima repeated over their columns, and multiplies it
by the widened g straight into gx while the block is in cache (f+b of W4 ~15% faster than keeping
the map from forward). The tie count folds the map the same way, only where a block has ties.
Where a row of windows is long, NumPy's ufunc buffer is cut to it, so that strided passes work in place.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from .. import parallel
from ..function import Function
from ..mode import MODE
from ..tensor import Tensor
from .geometry import Geometry
from .window_sum import WindowSumAdjoint, spread, taps, tile_rows, tile_rows_of_taps, widen
from .windows import pad, workspace

T = TypeVar("T")

BLOCK_BYTES = 1 << 20   # input per block of a tiling max-pool: its scratch stays in cache
LONG_RUN = 1024         # contiguous values in a row of windows from which NumPy's buffer is cut to a row


def _lowest(dtype: np.dtype) -> Any:
    """The value that never wins a max: -inf for floats, False for bools, the smallest integer otherwise."""
    if dtype.kind == "b":
        return False
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


class MaxPool(Function):
    """The maximum of every window; gradient shared equally among tied maxima."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, *, geometry: Geometry) -> np.ndarray:
        keep = ctx.needs_input_grad[0]
        if geometry.tiles:   # keep the input and the maxima; backward remakes the map block by block
            out, ctx.maxima, ctx.nan = _tiled_max(np.ascontiguousarray(x.data), geometry, keep)
            ctx.save_for_backward(x)
            return out
        xp = pad(x.data, geometry, _lowest(x.dtype))
        kh, kw = geometry.kernel
        # separable: the max over window rows first (long contiguous runs), then over columns
        row_max = _max_of([xp[:, geometry.offset(i, 0)[0]] for i in range(kh)])      # (N, OH, Wp, C)
        out = _max_of([row_max[:, :, geometry.offset(0, j)[1]] for j in range(kw)])  # (N, OH, OW, C)
        del row_max
        if keep:   # keep where the maxima are (bool), not the padded input
            ctx.is_max = _maxima(xp, out, geometry)
            maxima = np.count_nonzero(ctx.is_max)
            if out.dtype.kind == "f" and np.isnan(out).any():
                maxima = _give_nan_maxima(ctx.is_max, xp, out, geometry)
            ctx.ties = maxima > out.size   # rare in real data, common after relu
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        geometry = ctx.op_args["geometry"]
        if geometry.tiles:
            (x,) = ctx.saved_tensors
            data = np.ascontiguousarray(x.data)
            if not MODE.grad_enabled:   # first order: map and gradient made together, a block at a time
                return _tiled_spread(g.data, data, ctx.maxima, geometry, ctx.nan)
            is_max, ties = _tiled_maxima(data, ctx.maxima, geometry, ctx.nan)
        else:
            is_max, ties = ctx.is_max, ctx.ties
        if MODE.grad_enabled:   # create_graph: a recorded op with the share as constant weights
            share = is_max.astype(g.dtype)
            weights = share / _count(is_max, geometry, g.dtype) if ties else share
            return WindowSumAdjoint.apply(g, geometry=geometry, weights=weights)
        # first order: share * g = is_max * (g / count), and the float mask can hold the result
        gc = g.data / _count(is_max, geometry, g.dtype) if ties else g.data
        return spread(gc, geometry, is_max.astype(g.dtype), reuse=True)


def _tiled_max(x: np.ndarray, geometry: Geometry, keep: bool) -> tuple[np.ndarray, np.ndarray | None, bool]:
    """Max-pool of windows that tile x (N, H, W, C), split over the batch and done a block at a time.

    Returns the maxima (N, OH, OW, C) and, with `keep`, a copy of them for backward (made while each
    block is in cache: the output itself may be changed in place before backward runs) and whether
    any maximum is NaN.
    """
    n, _, _, c = x.shape
    (oh, ow), kw = geometry.out_hw, geometry.kernel[1]
    out = np.empty((n, oh, ow, c), dtype=x.dtype)
    kept = np.empty_like(out) if keep else None
    floats = x.dtype.kind == "f"

    def kernel(block: slice) -> bool:
        maxima = _fold_tiles(np.maximum, tile_rows(x[block], geometry), kw, out[block], "max_pool")  # (m, OH, OW, C)
        if kept is None:
            return False
        np.copyto(kept[block], maxima)
        return floats and maxima.size > 0 and bool(np.isnan(maxima.max()))   # max keeps NaN: one pass, no array

    nan = any(_over_blocks(n, x.itemsize * x[:1].size, _row_buffered(kernel, ow * kw * c)))
    return out, kept, nan


def _map_rows(x: np.ndarray, maxima: np.ndarray, geometry: Geometry, nan: bool, wide: np.ndarray,
              out: np.ndarray) -> bool:
    """The map of the maxima of tiling windows into `out` (bool (m, OH, kh, OW * kw, C), x's layout); True on ties.

    x (m, H, W, C) is compared with its windows' maxima (m, OH, OW, C) repeated over their columns
    (into `wide`). Where a maximum is NaN, the window's NaNs are its maxima (as PyTorch).
    """
    rows = tile_rows(x, geometry)                                           # (m, OH, kh, OW * kw, C)
    widened = widen(maxima, geometry.kernel[1], wide)                       # (m, OH, 1, OW * kw, C)
    np.equal(rows, widened, out=out)
    if nan:
        out |= np.isnan(rows) & np.isnan(widened)
    return np.count_nonzero(out) > maxima.size


def _tiled_maxima(x: np.ndarray, maxima: np.ndarray, geometry: Geometry, nan: bool) -> tuple[np.ndarray, bool]:
    """The map of the maxima as bool (kh, kw, N, OH, OW, C) (a view of an array in x's layout), and whether any tie."""
    n, oh, ow, c = maxima.shape
    kh, kw = geometry.kernel
    rows = np.empty((n, oh, kh, ow * kw, c), dtype=bool)
    ties = _map_rows(x, maxima, geometry, nan, np.empty((n, oh, ow * kw, c), x.dtype), rows)
    return rows.reshape(n, oh, kh, ow, kw, c).transpose(2, 4, 0, 1, 3, 5), ties


def _tiled_spread(g: np.ndarray, x: np.ndarray, maxima: np.ndarray, geometry: Geometry, nan: bool) -> np.ndarray:
    """gx (N, H, W, C) of a tiling max-pool: each output's gradient g (shared among ties) on its maxima.

    Block by block, the map of the maxima is remade from x and multiplied by the widened g into gx.
    """
    n, oh, ow, c = g.shape
    (h, w), (kh, kw) = geometry.in_hw, geometry.kernel
    gx = np.empty((n, h, w, c), dtype=g.dtype)

    def kernel(block: slice) -> None:
        m = block.stop - block.start
        is_max = workspace("max_pool_map", (m, oh, kh, ow * kw, c), bool)
        wide = workspace("max_pool_wide", (m, oh, ow * kw, c), x.dtype)
        gb = g[block]
        if _map_rows(x[block], maxima[block], geometry, nan, wide, is_max):   # ties: each gets its share
            gb = gb / _count_rows(is_max, kw, g.dtype)
        wide_g = workspace("max_pool_wide_g", (m, oh, ow * kw, c), g.dtype)
        np.multiply(is_max, widen(gb, kw, wide_g), out=tile_rows(gx[block], geometry))
        if (h, w) != (oh * kh, ow * kw):
            gx[block, oh * kh:] = 0                                           # rows and columns no window sees
            gx[block, :, ow * kw:] = 0

    _over_blocks(n, gx.itemsize * gx[:1].size, _row_buffered(kernel, ow * kw * c))
    return gx


def _row_buffered(kernel: Callable[[slice], T], run: int) -> Callable[[slice], T]:
    """The kernel, run with NumPy's ufunc buffer (8192 values) cut to within `run` when a row of windows
    is LONG_RUN values or more.

    A ufunc whose operands are strided, in contiguous runs shorter than its buffer, copies them through
    the buffer; a buffer no longer than a run lets it work on them where they are (W4's rows of 1024
    values: its max-pool f+b 1.85 -> 1.66 ms). Shorter runs go faster copied.
    """
    if not LONG_RUN <= run < np.getbufsize():
        return kernel

    def cut(block: slice) -> T:
        size = np.setbufsize(run // 16 * 16)   # this thread's setting (NumPy keeps it per thread)
        try:
            return kernel(block)
        finally:
            np.setbufsize(size)
    return cut


def _over_blocks(n: int, image_bytes: int, kernel: Callable[[slice], T]) -> list[T]:
    """kernel(block) for consecutive blocks of about BLOCK_BYTES of the n images; results in no set order.

    Each block goes whole to whichever thread is free (parallel.over_pieces). A block is long enough
    to pay for a thread's wake-up and its GIL handoffs, so two blocks already go to two threads (the
    general rule of 2 MB a thread is for work cut finer): a 2.4 MB pool 0.78 -> 0.68 ms on two threads,
    and 4 blocks of a 4.4 MB pool take 0.84 ms where 8 took 1.1.
    """
    blocks = parallel.equal_slices(n, round(n * image_bytes / BLOCK_BYTES))
    if len(blocks) == 1:   # one block: run here (no BLAS in these kernels, so nothing to hold)
        return [kernel(blocks[0])]

    def thread(pieces: parallel.Pieces) -> list[T]:
        return [kernel(block) for block in pieces]
    return [result for results in parallel.over_pieces(blocks, min(parallel.get_num_threads(), len(blocks)), thread)
            for result in results]


def _max_of(views: list[np.ndarray], out: np.ndarray | None = None) -> np.ndarray:
    """The elementwise maximum of equally shaped arrays (into `out` if given)."""
    return _fold(np.maximum, views, out)


def _fold(ufunc: np.ufunc, views: list[np.ndarray], out: np.ndarray | None = None) -> np.ndarray:
    """ufunc folded over the views, pairwise, into `out` (a new array if None)."""
    if len(views) == 1:
        out = np.empty_like(views[0]) if out is None else out
        np.copyto(out, views[0])
        return out
    out = ufunc(views[0], views[1], out=out)
    for view in views[2:]:
        ufunc(out, view, out=out)
    return out


def _maxima(xp: np.ndarray, out: np.ndarray, geometry: Geometry) -> np.ndarray:
    """Bool (kh, kw, N, OH, OW, C): where each window's maximum out is; several where it ties.

    Padding is never a maximum, not even beside real pixels that equal the padding value (-inf).
    """
    kh, kw = geometry.kernel
    is_max = np.empty((kh, kw, *out.shape), dtype=bool)
    for i, j, rows, cols in taps(geometry):
        np.equal(xp[:, rows, cols], out, out=is_max[i, j])
    if geometry.is_padded and (out == _lowest(out.dtype)).any():
        real = pad(np.ones((1, *geometry.in_hw, 1), dtype=bool), geometry, False)   # (1, Hp, Wp, 1)
        for i, j, rows, cols in taps(geometry):
            is_max[i, j] &= real[:, rows, cols]
    return is_max


def _give_nan_maxima(is_max: np.ndarray, xp: np.ndarray, out: np.ndarray, geometry: Geometry) -> int:
    """A window whose maximum is NaN has its NaNs as maxima (as PyTorch): mark them; the new number of maxima.

    NaN equals nothing, so without this such a window would have no maximum and get no gradient.
    """
    nan_out = np.isnan(out)
    for i, j, rows, cols in taps(geometry):
        is_max[i, j] |= np.isnan(xp[:, rows, cols]) & nan_out
    return np.count_nonzero(is_max)


def _count(is_max: np.ndarray, geometry: Geometry, dtype: np.dtype) -> np.ndarray:
    """The number of maxima of every window (N, OH, OW, C) from the map (kh, kw, N, OH, OW, C)."""
    kh, kw = geometry.kernel
    if not geometry.tiles:
        return is_max.sum(axis=(0, 1), dtype=dtype)
    return _count_rows(tile_rows_of_taps(is_max), kw, dtype)   # (N, OH, kh, OW * kw, C), a view


def _count_rows(rows: np.ndarray, kw: int, dtype: np.dtype) -> np.ndarray:
    """The number of maxima of every tiling window (N, OH, OW, C) from the map in x's layout (N, OH, kh, OW * kw, C).

    uint8 for windows of up to 255 pixels (folded as the maxima are), else dtype.
    """
    n, oh, kh, width, c = rows.shape
    if kh * kw > 255:
        return rows.reshape(n, oh, kh, width // kw, kw, c).sum(axis=(2, 4), dtype=dtype)
    return _fold_tiles(np.add, rows.view(np.uint8), kw, np.empty((n, oh, width // kw, c), np.uint8), "max_pool_count")


def _fold_tiles(ufunc: np.ufunc, rows: np.ndarray, kw: int, out: np.ndarray, slot: str) -> np.ndarray:
    """ufunc folded over every window of the tiles `rows` (m, OH, kh, OW * kw, C), into out (m, OH, OW, C).

    The window rows first (runs of OW * kw * C values), then the columns: the fold of kw neighbouring
    pixels slid along that contiguous result (NumPy runs a contiguous pass several times faster than
    one with runs of C values), of which every kw-th pixel starts a window. Scratch: this thread's `slot`.
    """
    m, oh, kh, width, c = rows.shape
    across = workspace(slot, (m, oh, width, c), out.dtype)
    _fold(ufunc, [rows[:, :, i] for i in range(kh)], out=across)           # (m, OH, OW * kw, C)
    if kw > 1:
        flat = across.reshape(-1)
        length = max(flat.size - (kw - 1) * c, 0)      # the last window starts kw - 1 pixels before the end
        slid = workspace(slot + "_slid", flat.shape, out.dtype)
        _fold(ufunc, [flat[j * c:j * c + length] for j in range(kw)], out=slid[:length])
        across = slid.reshape(across.shape)
    return across.take(np.arange(0, width, kw), axis=2, out=out, mode="clip")
