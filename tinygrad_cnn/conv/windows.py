"""Array-level window helpers (NumPy in, NumPy out, channels_last): pad, patches (im2col), col2im.

`patch_slabs` gathers every window into a contiguous patch matrix, a slab of images at a time;
`col2im` is the adjoint: it adds per-tap contributions back onto the input grid, and `col2im_rows`
adds stretches of input rows (one per kernel row and block of outputs) instead, fewer and longer
adds. All are plain array functions; the differentiable ops in conv2d.py, window_sum.py and
max_pool.py are built on them. Work buffers are kept per thread (`workspace`), so a kernel split over threads reuses its
pages from call to call.
"""
from __future__ import annotations

import math
import threading
from collections.abc import Iterator

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..parallel import Pieces
from .geometry import Geometry

SLAB_BYTES = 2 << 20   # work per slab: near the cache's size, and far more than Python's cost per slab
MIN_SLABS = 4          # so that threads taking slabs from one queue finish close together
MAX_KEPT_BYTES = 64 << 20   # a work buffer larger than this (one huge image's patches) is not kept after the call

_WORKSPACE = threading.local()   # each thread's work buffers, kept from call to call


def workspace(slot: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """This thread's work buffer `slot` as an uninitialised array of `shape`, grown when too small.

    A fresh buffer of a few MB costs a page fault per 4 KiB when first written (milliseconds),
    every call; kept buffers cost nothing. One user per slot and thread at a time, and what is
    in it never leaves that user. A buffer over MAX_KEPT_BYTES is a plain temporary, so that one
    huge call does not leave the thread holding its memory.
    """
    nbytes = math.prod(shape) * np.dtype(dtype).itemsize
    if nbytes > MAX_KEPT_BYTES:
        return np.empty(shape, dtype=dtype)
    buffer = getattr(_WORKSPACE, slot, None)
    if buffer is None or buffer.nbytes < nbytes:
        buffer = np.empty(nbytes, dtype=np.uint8)
        setattr(_WORKSPACE, slot, buffer)
    return np.ndarray(shape, dtype, buffer=buffer)   # the buffer's first nbytes, as `shape`


def pad(x: np.ndarray, geometry: Geometry, value: float = 0.0) -> np.ndarray:
    """x (N, H, W, C) surrounded by `value` as the geometry says, contiguous (a copy only if padded)."""
    if not geometry.is_padded:
        return np.ascontiguousarray(x)
    (top, _), (left, _) = geometry.padding
    (n, h, w, c), (hp, wp) = x.shape, geometry.padded_hw
    out = np.full((n, hp, wp, c), value, dtype=x.dtype)
    out[:, top:top + h, left:left + w] = x
    return out


def strided(a: np.ndarray, shape: tuple[int, ...], strides: tuple[int, ...], writeable: bool = False) -> np.ndarray:
    """A view of a's memory with the given shape and strides (in bytes), as NumPy's as_strided.

    On a contiguous array the view is made directly over its buffer, about 1 us instead of as_strided's 4.
    """
    if not a.flags.c_contiguous:
        return as_strided(a, shape, strides, writeable=writeable)
    view = np.ndarray(shape, a.dtype, buffer=a, strides=strides)
    view.flags.writeable = writeable and a.flags.writeable
    return view


def windows(xp: np.ndarray, geometry: Geometry, groups: int = 1) -> np.ndarray:
    """A view of every window of the padded xp (N, Hp, Wp, C): (N, OH, OW, groups, kh, kw, C // groups)."""
    n, _, _, c = xp.shape
    s_n, s_h, s_w, s_c = xp.strides
    (oh, ow), (kh, kw) = geometry.out_hw, geometry.kernel
    (sh, sw), (dh, dw) = geometry.strides, geometry.dilation
    shape = (n, oh, ow, groups, kh, kw, c // groups)
    strides = (s_n, sh * s_h, sw * s_w, (c // groups) * s_c, dh * s_h, dw * s_w, s_c)
    return strided(xp, shape, strides)


def slabs(n: int, bytes_per_image: int) -> Iterator[slice]:
    """Consecutive slices of a batch of n images, each holding at most about SLAB_BYTES of work (at
    least one image), and at least MIN_SLABS of them when there are enough images.

    Small slabs stay in cache and keep temporaries small whatever the batch size; BLAS runs on
    one thread inside them (see parallel.py), so their number costs no thread synchronisation.
    """
    step = max(1, min(-(-n // MIN_SLABS), SLAB_BYTES // max(1, bytes_per_image)))
    for start in range(0, n, step):
        yield slice(start, min(start + step, n))


def patch_slabs(x: np.ndarray, geometry: Geometry, groups: int,
                slabs: Pieces) -> Iterator[tuple[slice, np.ndarray]]:
    """For each slab of images of x (N, H, W, C) this thread takes from `slabs`: its slice and its
    patch matrices (groups, n * OH * OW, Kg).

    Kg = kh * kw * C // groups is ordered (kh, kw, Cg), as the kernel. The patches of one slab fit
    in cache, so they are still there when the GEMM reads them; the padded copy and the patch
    buffer are this thread's workspace, reused by every slab and every call (a slab's patches are
    valid until the next one is made). Copies are arranged so that their inner loops are long:
    a window row (kw * C values) when that is long, else an output row (OW values).
    """
    _, _, _, c = x.shape
    (oh, ow), (kh, kw) = geometry.out_hw, geometry.kernel
    window_row = kw * c if geometry.dilation[1] == 1 else c
    channel_major = groups == 1 and window_row < min(ow, 16)
    copy = _tap_major if channel_major else _window_major
    buffer = workspace("patches", (slabs.largest * oh * ow * kh * kw * c,), x.dtype)
    padded = _padded_buffer(x, slabs.largest, geometry, channel_major)
    for part in slabs:
        yield part, copy(_padded_slab(x[part], geometry, padded, channel_major), geometry, groups, buffer)


def _padded_buffer(x: np.ndarray, m: int, geometry: Geometry, channel_major: bool) -> np.ndarray | None:
    """Room for m padded images of x (N, H, W, C), zero: (m, Hp, Wp, C) or (C, m, Hp, Wp); None unpadded."""
    if not geometry.is_padded:
        return None
    c = x.shape[3]
    padded = workspace("padded", (c, m, *geometry.padded_hw) if channel_major else (m, *geometry.padded_hw, c),
                       x.dtype)
    padded.fill(0)
    return padded


def _padded_slab(xs: np.ndarray, geometry: Geometry, padded: np.ndarray | None,
                 channel_major: bool) -> np.ndarray:
    """The slab xs (m, H, W, C) padded with zeros, (m, Hp, Wp, C) or channel-major (C, m, Hp, Wp).

    Without padding it is a view of xs; with padding it is written inside the border of the
    zeroed buffer `padded`, which every slab reuses (its border stays zero).
    """
    if channel_major:
        xs = xs.transpose(3, 0, 1, 2)                         # (C, m, H, W), a view
    if padded is None:
        return xs
    (top, _), (left, _) = geometry.padding
    h, w = geometry.in_hw
    if channel_major:
        padded = padded[:, :xs.shape[1]]                      # the last slab may be smaller
        padded[:, :, top:top + h, left:left + w] = xs
    else:
        padded = padded[:xs.shape[0]]
        padded[:, top:top + h, left:left + w] = xs
    return padded


def _window_major(xp: np.ndarray, geometry: Geometry, groups: int, buffer: np.ndarray) -> np.ndarray:
    """Patches (G, M, Kg) of a padded slab (m, Hp, Wp, C), copied window by window (rows of kw * C)."""
    m, _, _, c = xp.shape
    (oh, ow), (kh, kw) = geometry.out_hw, geometry.kernel
    cols = buffer[:m * oh * ow * kh * kw * c].reshape(m, oh, ow, groups, kh, kw, c // groups)
    np.copyto(cols, windows(xp, geometry, groups))
    return cols.reshape(m * oh * ow, groups, -1).transpose(1, 0, 2)


def _tap_major(xp: np.ndarray, geometry: Geometry, groups: int, buffer: np.ndarray) -> np.ndarray:
    """Patches (1, M, K) of a channel-major padded slab (C, m, Hp, Wp), copied tap by tap (rows of OW)."""
    c, m, _, _ = xp.shape
    s_c, s_n, s_h, s_w = xp.strides
    (oh, ow), (kh, kw) = geometry.out_hw, geometry.kernel
    (sh, sw), (dh, dw) = geometry.strides, geometry.dilation
    cols = buffer[:m * oh * ow * kh * kw * c].reshape(kh, kw, c, m, oh, ow)
    # every tap (i, j) of every window as one view (kh, kw, C, m, OH, OW): a single copy
    np.copyto(cols, strided(xp, cols.shape, (dh * s_h, dw * s_w, s_c, s_n, sh * s_h, sw * s_w)))
    # (kh, kw, C, m, OH, OW) -> (K, M) -> its transpose (1, M, K), a view
    return cols.reshape(kh * kw * c, m * oh * ow).T[None]


def col2im(taps: np.ndarray, geometry: Geometry, out: np.ndarray | None = None) -> np.ndarray:
    """The adjoint of im2col: sum taps (kh, kw, N, OH, OW, C) onto the input grid (N, H, W, C).

    Tap (i, j) of output (oh, ow) lands on padded row oh * sh + i * dh. Rows of one phase
    (row mod sh) are accumulated in their own contiguous plane, so each tap is a single
    slice-add with long contiguous runs; each phase is then copied to its rows of `out`
    (a new array when None). With stride 1 and no padding the one plane is `out` itself.
    """
    kh, kw, n, oh, ow, c = taps.shape
    (sh, sw), (dh, dw), (hp, wp) = geometry.strides, geometry.dilation, geometry.padded_hw
    (h, w), ((top, _), (left, _)) = geometry.in_hw, geometry.padding
    out = np.empty((n, h, w, c), dtype=taps.dtype) if out is None else out
    direct = (sh, sw) == (1, 1) and not geometry.is_padded
    if direct:
        out.fill(0)
    # phase (p, q) holds padded rows a * sh + p, columns b * sw + q
    planes = out[None, None] if direct else np.zeros((sh, sw, n, -(-hp // sh), -(-wp // sw), c), dtype=taps.dtype)
    for i in range(kh):
        q_h, p_h = divmod(i * dh, sh)
        for j in range(kw):
            q_w, p_w = divmod(j * dw, sw)
            planes[p_h, p_w, :, q_h:q_h + oh, q_w:q_w + ow] += taps[i, j]
    if direct:
        return out
    for p in range(sh):
        rows = slice((p - top) % sh, h, sh)                   # input rows r with (r + top) % sh == p
        a = (rows.start + top) // sh
        for q in range(sw):
            columns = slice((q - left) % sw, w, sw)
            b = (columns.start + left) // sw
            out[:, rows, columns] = planes[p, q, :, a:a + len(range(h)[rows]), b:b + len(range(w)[columns])]
    return out


def col2im_rows(rows: np.ndarray, geometry: Geometry, out: np.ndarray) -> np.ndarray:
    """Sum rows (OW / B, kh, N, OH, S * C) onto the input grid out (N, H, W, C): kernel row i of block k
    of output row oh (its B outputs reading S columns) adds to padded row oh * sh + i * dh, columns
    from k * B * sw on.

    Blocks q = ceil(S / (B * sw)) apart do not overlap, so each phase k % q of each kernel row is
    one slice-add (kh * q adds in all), its runs S * C values. The adds land in `out` itself when
    it is unpadded and wide enough for the last phase's stride; else in this thread's zeroed grid.
    """
    blocks, kh, n, oh, span = rows.shape
    (sh, sw), (dh, _), (hp, wp) = geometry.strides, geometry.dilation, geometry.padded_hw
    (h, w), ((top, _), (left, _)) = geometry.in_hw, geometry.padding
    c = out.shape[3]
    step = geometry.out_hw[1] // blocks * sw * c                      # from one block's columns to the next's
    q = -(-span // step)
    phases = [(p, len(range(p, blocks, q))) for p in range(min(q, blocks))]   # (first block, blocks in it)
    width = max(wp * c, max((p + count * q) * step for p, count in phases))   # a phase's reshape needs its stride
    direct = not geometry.is_padded and width == wp * c
    grid = out.reshape(n, hp, width) if direct else workspace("grid", (n, hp, width), out.dtype)
    grid.fill(0)
    (s_image, s_row, _), size = grid.strides, grid.itemsize
    # per phase, blocks p, p + q, ...: (kh, N, OH, count, S * C) views of the grid, kernel row i reaching
    # rows i * dh + oh * sh, and the (count, kh, N, OH, S * C) rows to add there, in the same layout
    phase_views = [(strided(grid.reshape(-1)[p * step:], (kh, n, oh, count, span),
                            (dh * s_row, s_image, sh * s_row, q * step * size, size), writeable=True),
                    rows[p::q].transpose(1, 2, 3, 0, 4)) for p, count in phases]
    for i in range(kh):
        for stretches, added in phase_views:
            stretches[i] += added[i]
    if not direct:
        out[...] = grid[..., :wp * c].reshape(n, hp, wp, c)[:, top:top + h, left:left + w]
    return out
