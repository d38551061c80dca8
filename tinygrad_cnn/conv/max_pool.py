"""Max pooling: the maximum of every window, its gradient shared equally among tied maxima.

Near any input, max pooling's local linear map is a window sum whose weights are the *share* of
each maximum: 1 / (number of tied maxima) on the maxima of the window, 0 elsewhere, the same rule
as Tensor.max. Its backward is WindowSumAdjoint with those weights (constant: max-pool is piecewise
linear, so its second derivative is zero). The forward pass keeps a map of the maxima (bool, or the
compiled kernel's bits) rather than the input; the count per window is made in backward, and only when
there are ties.

Windows that tile the input (stride = size, no padding: the common case) have a fast path. The
batch is cut into blocks of about a megabyte of images, each taken whole by a free thread; a block
is done in a few NumPy passes over arrays in its cache, with scratch kept between calls: the max
over the window rows (runs of a whole row of windows), then over the columns by a max slid along
that contiguous result, of which every kw-th pixel (np.take) starts a window; the map of the maxima
by comparing the block with its windows' maxima repeated over their columns. The tie count folds
the bool map the same way. Backward selects the widened g by the map, into gx (a selection, not a product
with a 0/1 map: an infinite or NaN g stays on the maxima, as in PyTorch).
Where a row of windows is long, NumPy's ufunc buffer is cut to it, so that strided passes work in place.

float32 pooling of 8 channels or more goes instead to the optional compiled kernel (_max_pool.c, built
at install when a C compiler is there), one pass each way, blocks of images on several threads: the
maxima and a uint32 per output value whose bit i * kw + j marks tap (i, j) as a maximum. Its results
are those of the NumPy passes (tests/test_max_pool_compiled.py holds them to it), except the sign of a
maximum of zero, which follows PyTorch's.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from .. import parallel
from ..function import Function
from ..mode import MODE
from ..ops.elementwise import select
from ..tensor import Tensor
from .geometry import Geometry
from .window_sum import WindowSumAdjoint, spread, taps, tile_rows, tile_rows_of_taps, widen
from .windows import pad, workspace

try:   # the optional compiled kernels (_max_pool.c, built at install); NumPy does the same work without them
    from . import _max_pool as compiled
except ImportError:
    compiled = None

T = TypeVar("T")

BLOCK_BYTES = 1 << 20   # input per block of a tiling max-pool: its scratch stays in cache
# The compiled kernel vectorizes along the channels: below 8 NumPy is faster. 2x2 max-pool f+b of 2M float32
# values as 32 x 32 images, 2 threads, best of 20: 1 channel 14.7 ms against NumPy's 2.6, 4 channels 2.7 against
# 2.3, 6 channels 4.6 against 2.6, 8 channels 1.0 against 2.2, 16 channels 0.72 against 2.2.
COMPILED_MIN_CHANNELS = 8
COMPILED_MAX_TAPS = 32  # the most pixels a window of the compiled kernel has: the bits of a uint32 (MAX_TAPS in the C)
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
        keep = ctx.needs_input_grad[0]   # keep where the maxima are (a bool or a bit map), not the input
        ctx.bits = None
        if _compiled_fits(x.data, geometry):
            out, bits = _compiled_max(np.ascontiguousarray(x.data), geometry, keep)
            ctx.bits = bits if keep else None
            return out
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
        geometry, bits = ctx.op_args["geometry"], ctx.bits
        if bits is not None and not MODE.grad_enabled:
            return _compiled_spread(np.ascontiguousarray(g.data), bits, geometry)
        if bits is not None:   # create_graph after the compiled forward: its map as the bool one
            ctx.is_max, ctx.ties = _unpack(bits, geometry), bool((bits & (bits - 1)).any())
        is_max = ctx.is_max
        if MODE.grad_enabled:   # create_graph: a recorded op with the share as constant weights
            share = is_max.astype(g.dtype)
            weights = share / _count(is_max, geometry, g.dtype) if ctx.ties else share
            return WindowSumAdjoint.apply(g, geometry=geometry, weights=weights)
        if geometry.tiles:
            return _tiledspread(g.data, is_max, geometry, ctx.ties)
        # first order: share * g = (g / count) where is_max holds, else 0
        gc = g.data / _count(is_max, geometry, g.dtype) if ctx.ties else g.data
        return spread(gc, geometry, is_max)


def _compiled_fits(x: np.ndarray, geometry: Geometry) -> bool:
    """Whether the compiled kernel takes this pooling: built, float32, enough channels, few enough taps."""
    return (compiled is not None and x.dtype == np.float32 and x.shape[3] >= COMPILED_MIN_CHANNELS
            and geometry.kernel[0] * geometry.kernel[1] <= COMPILED_MAX_TAPS)


def _windows(x_shape: tuple[int, ...], geometry: Geometry, block: slice) -> tuple[int, ...]:
    """The compiled kernel's description of the windows over images `block` of x (N, H, W, C)."""
    (h, w), (oh, ow), (kh, kw) = geometry.in_hw, geometry.out_hw, geometry.kernel
    (sh, sw), (dh, dw), ((top, _), (left, _)) = geometry.strides, geometry.dilation, geometry.padding
    return block.start, block.stop, h, w, x_shape[3], oh, ow, kh, kw, sh, sw, dh, dw, top, left


def _compiled_max(x: np.ndarray, geometry: Geometry, keep_maxima: bool) -> tuple[np.ndarray, np.ndarray]:
    """Max-pool of float32 x (N, H, W, C, contiguous) by the compiled kernel, a block of images at a time.

    Returns the maxima (N, OH, OW, C) and where they are: uint32 of the same shape, bit i * kw + j
    set where tap (i, j) is a maximum (without `keep_maxima`, this thread's scratch, which the next
    call overwrites).
    """
    n, c = x.shape[0], x.shape[3]
    out = np.empty((n, *geometry.out_hw, c), dtype=np.float32)
    bits = np.empty(out.shape, np.uint32) if keep_maxima else workspace("max_pool_bits", out.shape, np.uint32)
    _over_blocks(n, x[:1].nbytes, lambda block: compiled.forward(x, out, bits, _windows(x.shape, geometry, block)))
    return out, bits


def _compiled_spread(g: np.ndarray, bits: np.ndarray, geometry: Geometry) -> np.ndarray:
    """gx (N, H, W, C) by the compiled kernel: each window's gradient g (contiguous) shared among its maxima `bits`."""
    n, c = g.shape[0], g.shape[3]
    gx = np.empty((n, *geometry.in_hw, c), dtype=np.float32)
    _over_blocks(n, gx[:1].nbytes,
                 lambda block: compiled.backward(bits, g, gx, _windows(gx.shape, geometry, block), geometry.tiles))
    return gx


def _unpack(bits: np.ndarray, geometry: Geometry) -> np.ndarray:
    """The compiled kernel's map of the maxima as bool (kh, kw, N, OH, OW, C): bit i * kw + j is tap (i, j)."""
    kh, kw = geometry.kernel
    tap_bit = np.arange(kh * kw, dtype=np.uint32).reshape(kh, kw, 1, 1, 1, 1)   # (kh, kw, 1, 1, 1, 1)
    return (bits >> tap_bit) & 1 == 1                                           # (kh, kw, N, OH, OW, C)


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
        rows = tile_rows(x[block], geometry)                                 # (m, OH, kh, OW * kw, C)
        _fold_tiles(np.maximum, rows, kw, out[block], "max_pool")             # (m, OH, OW, C)
        if is_max is None:
            return 0
        wide = workspace("max_pool_wide", (block.stop - block.start, oh, ow * kw, c), x.dtype)
        np.equal(rows, widen(out[block], kw, wide), out=is_max[block])
        return np.count_nonzero(is_max[block])

    maxima = sum(_over_blocks(n, image_bytes, _row_buffered(kernel, ow * kw * c)))
    if is_max is None:
        return out, None, 0
    return out, is_max.reshape(n, oh, kh, ow, kw, c).transpose(2, 4, 0, 1, 3, 5), maxima


def _tiledspread(g: np.ndarray, is_max: np.ndarray, geometry: Geometry, ties: bool) -> np.ndarray:
    """gx (N, H, W, C) of a tiling max-pool: each output's gradient g (shared among ties) on its maxima."""
    n, oh, ow, c = g.shape
    (h, w), (kh, kw) = geometry.in_hw, geometry.kernel
    gx = np.empty((n, h, w, c), dtype=g.dtype)
    image_bytes = gx.itemsize * gx[:1].size

    def kernel(block: slice) -> None:
        share = is_max[:, :, block]                                           # (kh, kw, m, OH, OW, C)
        gb = g[block] / _count(share, geometry, g.dtype) if ties else g[block]
        target = tile_rows(gx[block], geometry)                              # (m, OH, kh, OW * kw, C)
        wide = workspace("max_pool_wide", (block.stop - block.start, oh, ow * kw, c), g.dtype)
        select(widen(gb, kw, wide), tile_rows_of_taps(share), out=target)   # (m, OH, 1, OW * kw, C) on the maxima
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
    """The number of maxima of every window (N, OH, OW, C): uint8 for tiling windows of up to 255 pixels, else dtype."""
    kh, kw = geometry.kernel
    if not geometry.tiles or kh * kw > 255:
        return is_max.sum(axis=(0, 1), dtype=dtype)
    rows = tile_rows_of_taps(is_max).view(np.uint8)          # (N, OH, kh, OW * kw, C), a view
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
