"""2-D max and average pooling, and their global forms.

Average pooling is linear: each output is a weighted sum of its window (WindowSum), and its
gradient spreads the upstream gradient back with the same weights (WindowSumAdjoint). The two
are each other's adjoints, so they differentiate into one another to any order.

Max pooling picks the window's maximum; near any input its local linear map is a window sum
whose weights are the *share* of each maximum: 1 / (number of tied maxima) on the maxima of
the window, 0 elsewhere. Tied maxima therefore share the gradient equally, the same rule as
Tensor.max. Its backward is WindowSumAdjoint with those weights (constant: max-pool is piecewise
linear, so its second derivative is zero). The forward pass keeps a bool map of the maxima
rather than the input; the count per window is made in backward, and only when there are ties.

Windows that tile the input (stride = size, no padding: the common case) have a fast path. The
batch is cut into blocks of about a megabyte of images, each taken whole by a free thread; a block
is done in a few NumPy passes over arrays in its cache, with scratch kept between calls: the max
over the window rows (runs of a whole row of windows), then over the columns by a max slid along
that contiguous result, of which every kw-th pixel (np.take) starts a window; the map of the maxima
by comparing the block with its windows' maxima repeated over their columns. The tie count folds
the bool map the same way. Backward writes the map into gx and multiplies it by the widened g.
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
from .geometry import Geometry, check_data_format, check_rank, pair, spatial_layout, window_geometry
from .windows import col2im, pad, workspace

T = TypeVar("T")

BLOCK_BYTES = 1 << 20   # input per block of a tiling max-pool: its scratch stays in cache
LONG_RUN = 1024         # contiguous values in a row of windows from which NumPy's buffer is cut to a row


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
        return _spread(g.data, geometry, weights)

    @staticmethod
    def backward(ctx: Any, h: Tensor) -> Tensor:
        return WindowSum.apply(h, geometry=ctx.op_args["geometry"], weights=ctx.op_args["weights"])


def _spread(g: np.ndarray, geometry: Geometry, weights: np.ndarray, reuse: bool = False) -> np.ndarray:
    """gx (N, H, W, C): every output's gradient g times the weights, added back onto its window.

    With `reuse` the weights are not needed afterwards and their memory may hold the result.
    """
    kh, kw = geometry.kernel
    if not geometry.tiles:
        full = reuse and weights.shape[:2] == (kh, kw)       # per-tap weights we may overwrite
        taps = np.multiply(weights, g, out=weights) if full else weights * g   # (kh|1, kw|1, N, OH, OW, C)
        return col2im(np.broadcast_to(taps, (kh, kw, *taps.shape[2:])), geometry)
    # the windows tile the input: every input pixel gets one term, no sums
    n, oh, ow, c = g.shape
    h, w = geometry.in_hw
    if weights.shape[:2] == (1, 1):                          # the same weight for every tap
        gx = np.zeros((n, h, w, c), dtype=np.result_type(g, weights))
        _tile_rows(gx, geometry)[...] = _widen(g * weights[0, 0], kw)
        return gx
    rows = _tile_rows_of_taps(weights)                        # (N, OH, kh, OW * kw, C)
    if (h, w) == (oh * kh, ow * kw) and (reuse or not np.shares_memory(rows, weights)):
        np.multiply(rows, _widen(g, kw), out=rows)            # in place: no fresh input-sized array
        return rows.reshape(n, h, w, c)
    gx = np.zeros((n, h, w, c), dtype=np.result_type(g, weights))
    np.multiply(rows, _widen(g, kw), out=_tile_rows(gx, geometry))
    return gx


def _tile_rows(x: np.ndarray, geometry: Geometry) -> np.ndarray:
    """The tiles of x (N, H, W, C) as a view (N, OH, kh, OW * kw, C): window rows of whole image rows.

    Operations on this view have long contiguous inner loops (OW * kw * C), unlike the 6-D tile view.
    """
    (oh, ow), (kh, kw) = geometry.out_hw, geometry.kernel
    n, _, _, c = x.shape
    return x[:, :oh * kh, :ow * kw].reshape(n, oh, kh, ow * kw, c, copy=False)


def _tile_rows_of_taps(taps: np.ndarray) -> np.ndarray:
    """Per-tap values (kh, kw, N, OH, OW, C) in the layout of `_tile_rows` (N, OH, kh, OW * kw, C)."""
    kh, kw, n, oh, ow, c = taps.shape
    return taps.transpose(2, 3, 0, 4, 1, 5).reshape(n, oh, kh, ow * kw, c)


def _widen(a: np.ndarray, kw: int, out: np.ndarray | None = None) -> np.ndarray:
    """Each output (N, OH, OW, C) repeated over its window's columns: (N, OH, 1, OW * kw, C), into `out` if given."""
    n, oh, ow, c = a.shape
    if c > 1:   # np.take copies each pixel's C values as one chunk, and lets go of the GIL (np.repeat keeps it)
        return a.take(np.arange(ow).repeat(kw), axis=2, out=out, mode="clip")[:, :, None]
    # one value a pixel (channels_first): 2x faster by columns
    wide = np.empty((n, oh, ow, kw, 1), dtype=a.dtype) if out is None else out.reshape(n, oh, ow, kw, 1)
    for j in range(kw):
        wide[:, :, :, j] = a
    return wide.reshape(n, oh, 1, ow * kw, 1)


def _lowest(dtype: np.dtype) -> Any:
    """The value that never wins a max: -inf for floats, False for bools, the smallest integer otherwise."""
    if dtype.kind == "b":
        return False
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


class MaxPool(Function):
    """The maximum of every window; gradient shared equally among tied maxima."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, *, geometry: Geometry) -> np.ndarray:
        keep = ctx.needs_input_grad[0]   # keep where the maxima are (bool), not the input
        if geometry.tiles:
            out, ctx.is_max, maxima = _tiled_max(np.ascontiguousarray(x.data), geometry, keep)
        else:
            xp = pad(x.data, geometry, _lowest(x.dtype))
            kh, kw = geometry.kernel
            # separable: the max over window rows first (long contiguous runs), then over columns
            row_max = _max_of([xp[:, geometry.offset(i, 0)[0]] for i in range(kh)])      # (N, OH, Wp, C)
            out = _max_of([row_max[:, :, geometry.offset(0, j)[1]] for j in range(kw)])  # (N, OH, OW, C)
            del row_max
            ctx.is_max = _maxima(xp, out, geometry) if keep else None
            maxima = np.count_nonzero(ctx.is_max) if keep else 0
        if keep and out.dtype.kind == "f" and np.isnan(out).any():
            maxima = _give_nan_maxima(ctx.is_max, x.data if geometry.tiles else xp, out, geometry)
        ctx.ties = maxima > out.size   # rare in real data, common after relu
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        geometry, is_max = ctx.op_args["geometry"], ctx.is_max
        if MODE.grad_enabled:   # create_graph: a recorded op with the share as constant weights
            share = is_max.astype(g.dtype)
            weights = share / _count(is_max, geometry, g.dtype) if ctx.ties else share
            return WindowSumAdjoint.apply(g, geometry=geometry, weights=weights)
        if geometry.tiles:
            return _tiled_spread(g.data, is_max, geometry, ctx.ties)
        # first order: share * g = is_max * (g / count), and the float mask can hold the result
        gc = g.data / _count(is_max, geometry, g.dtype) if ctx.ties else g.data
        return _spread(gc, geometry, is_max.astype(g.dtype), reuse=True)


def _tiled_max(x: np.ndarray, geometry: Geometry, keep_maxima: bool) -> tuple[np.ndarray, Any, int]:
    """Max-pool of windows that tile x (N, H, W, C), split over the batch and done a block at a time.

    Returns the maxima (N, OH, OW, C), where they are (bool (kh, kw, N, OH, OW, C), a view of
    an array in x's layout, or None without `keep_maxima`) and how many there are.
    """
    n, _, _, c = x.shape
    (oh, ow), (kh, kw) = geometry.out_hw, geometry.kernel
    out = np.empty((n, oh, ow, c), dtype=x.dtype)
    is_max = np.empty((n, oh, kh, ow * kw, c), dtype=bool) if keep_maxima else None
    image_bytes = x.itemsize * x[:1].size

    def kernel(block: slice) -> int:
        rows = _tile_rows(x[block], geometry)                                 # (m, OH, kh, OW * kw, C)
        _fold_tiles(np.maximum, rows, kw, out[block], "max_pool")             # (m, OH, OW, C)
        if is_max is None:
            return 0
        wide = workspace("max_pool_wide", (block.stop - block.start, oh, ow * kw, c), x.dtype)
        np.equal(rows, _widen(out[block], kw, wide), out=is_max[block])
        return np.count_nonzero(is_max[block])

    maxima = sum(_over_blocks(n, image_bytes, _row_buffered(kernel, ow * kw * c)))
    if is_max is None:
        return out, None, 0
    return out, is_max.reshape(n, oh, kh, ow, kw, c).transpose(2, 4, 0, 1, 3, 5), maxima


def _tiled_spread(g: np.ndarray, is_max: np.ndarray, geometry: Geometry, ties: bool) -> np.ndarray:
    """gx (N, H, W, C) of a tiling max-pool: each output's gradient g (shared among ties) on its maxima."""
    n, oh, ow, c = g.shape
    (h, w), (kh, kw) = geometry.in_hw, geometry.kernel
    gx = np.empty((n, h, w, c), dtype=g.dtype)
    image_bytes = gx.itemsize * gx[:1].size

    def kernel(block: slice) -> None:
        share = is_max[:, :, block]                                           # (kh, kw, m, OH, OW, C)
        gb = g[block] / _count(share, geometry, g.dtype) if ties else g[block]
        target = _tile_rows(gx[block], geometry)                              # (m, OH, kh, OW * kw, C)
        np.copyto(target, _tile_rows_of_taps(share))
        wide = workspace("max_pool_wide", (block.stop - block.start, oh, ow * kw, c), g.dtype)
        np.multiply(target, _widen(gb, kw, wide), out=target)
        if (h, w) != (oh * kh, ow * kw):
            gx[block, oh * kh:] = 0                                           # rows and columns no window sees
            gx[block, :, ow * kw:] = 0

    _over_blocks(n, image_bytes, _row_buffered(kernel, ow * kw * c))
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
    for i, j, rows, cols in _taps(geometry):
        np.equal(xp[:, rows, cols], out, out=is_max[i, j])
    if geometry.is_padded and (out == _lowest(out.dtype)).any():
        real = pad(np.ones((1, *geometry.in_hw, 1), dtype=bool), geometry, False)   # (1, Hp, Wp, 1)
        for i, j, rows, cols in _taps(geometry):
            is_max[i, j] &= real[:, rows, cols]
    return is_max


def _give_nan_maxima(is_max: np.ndarray, xp: np.ndarray, out: np.ndarray, geometry: Geometry) -> int:
    """A window whose maximum is NaN has its NaNs as maxima (as PyTorch): mark them; the new number of maxima.

    NaN equals nothing, so without this such a window would have no maximum and get no gradient.
    """
    nan_out = np.isnan(out)
    for i, j, rows, cols in _taps(geometry):
        is_max[i, j] |= np.isnan(xp[:, rows, cols]) & nan_out
    return np.count_nonzero(is_max)


def _count(is_max: np.ndarray, geometry: Geometry, dtype: np.dtype) -> np.ndarray:
    """The number of maxima of every window (N, OH, OW, C): uint8 for tiling windows of up to 255 pixels, else dtype."""
    kh, kw = geometry.kernel
    if not geometry.tiles or kh * kw > 255:
        return is_max.sum(axis=(0, 1), dtype=dtype)
    rows = _tile_rows_of_taps(is_max).view(np.uint8)          # (N, OH, kh, OW * kw, C), a view
    n, oh, _, width, c = rows.shape
    return _fold_tiles(np.add, rows, kw, np.empty((n, oh, width // kw, c), np.uint8), "max_pool_count")


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


# --- public functions ---

def _pool_geometry(x: Tensor, pool_size: Any, strides: Any, padding: Any) -> Geometry:
    size = pair(pool_size, "pool_size")
    strides = pool_size if strides is None else strides   # as given (checked just now): an int passes quickest
    geometry = window_geometry(x.shape[1:3], size, strides, 1, padding, "pool window")
    for (before, after), k, side in zip(geometry.padding, size, ("top/bottom", "left/right")):
        if max(before, after) >= k:
            raise ValueError(f"padding {before}/{after} ({side}) must be smaller than the pool window {k}, "
                             f"or a window would see only padding (pool_size={size}, padding={padding!r})")
    return geometry


def _checked(x: Any, data_format: str) -> Tensor:
    check_data_format(data_format)
    x = x if isinstance(x, Tensor) else Tensor(x)
    check_rank(x, "x", spatial_layout(data_format))
    return x


def _channels_last(x: Tensor, data_format: str) -> Tensor:
    """x as channels_last. Pooling treats every channel alone, so (N, C, H, W) is (N * C, H, W, 1): no copy."""
    if data_format == "channels_first":
        n, c, h, w = x.shape
        return x.reshape(n * c, h, w, 1)
    return x


def _restore(y: Tensor, x: Tensor, data_format: str) -> Tensor:
    """The pooled (N * C, OH, OW, 1) back as (N, C, OH, OW) for channels_first input x."""
    return y.reshape(*x.shape[:2], *y.shape[1:3]) if data_format == "channels_first" else y


def max_pool2d(x: Any, pool_size: Any, strides: Any = None, padding: Any = "valid",
               data_format: str = "channels_last") -> Tensor:
    """The maximum of each window; 'same' and explicit padding never win (padded with -inf)."""
    x = _checked(x, data_format)
    xc = _channels_last(x, data_format)
    geometry = _pool_geometry(xc, pool_size, strides, padding)
    return _restore(MaxPool.apply(xc, geometry=geometry), x, data_format)


def avg_pool2d(x: Any, pool_size: Any, strides: Any = None, padding: Any = "valid",
               data_format: str = "channels_last") -> Tensor:
    """The mean of each window; 'same' padding is left out of the mean (Keras), explicit padding counts as zeros."""
    x = _checked(x, data_format)
    xc = _channels_last(x, data_format)
    geometry = _pool_geometry(xc, pool_size, strides, padding)
    kh, kw = geometry.kernel
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)   # the mean of integers is a float
    if isinstance(padding, str) and padding.lower() == "same":
        # count the real pixels in each window: the window sum of an all-ones image
        ones = np.ones((1, *geometry.in_hw, 1), dtype=dtype)
        counts = _window_sum(pad(ones, geometry), geometry, np.ones((1,) * 6, dtype=dtype))
        weights = (1 / counts)[None, None].astype(dtype)      # (1, 1, 1, OH, OW, 1)
    else:
        weights = np.full((1,) * 6, 1 / (kh * kw), dtype=dtype)
    return _restore(WindowSum.apply(xc, geometry=geometry, weights=weights), x, data_format)


def _spatial_axes(x: Any, data_format: str) -> tuple[Tensor, tuple[int, int]]:
    x = _checked(x, data_format)
    return x, ((1, 2) if data_format == "channels_last" else (2, 3))


def global_avg_pool2d(x: Any, data_format: str = "channels_last", keepdims: bool = False) -> Tensor:
    """The mean over height and width: (N, C), or (N, 1, 1, C) / (N, C, 1, 1) with keepdims."""
    x, axes = _spatial_axes(x, data_format)
    return x.mean(axis=axes, keepdims=keepdims)


def global_max_pool2d(x: Any, data_format: str = "channels_last", keepdims: bool = False) -> Tensor:
    """The max over height and width; tied maxima share the gradient equally (as Tensor.max)."""
    x, axes = _spatial_axes(x, data_format)
    return x.max(axis=axes, keepdims=keepdims)
