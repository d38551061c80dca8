"""Array-level window helpers (NumPy in, NumPy out, channels_last): pad, patches (im2col), col2im.

`patch_slabs` gathers every window into a contiguous patch matrix, a slab of images at a time;
`col2im` is the adjoint: it adds per-tap contributions back onto the input grid. Both are plain array functions; the
differentiable ops in conv2d.py and pool.py are built on them.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .geometry import Geometry

SLAB_BYTES = 1 << 20   # work per slab: cache-resident, and small next to the arrays it serves
MAX_SLABS = 16


def pad(x: np.ndarray, geometry: Geometry, value: float = 0.0) -> np.ndarray:
    """x (N, H, W, C) surrounded by `value` as the geometry says, contiguous (a copy only if padded)."""
    if not geometry.is_padded:
        return np.ascontiguousarray(x)
    (top, _), (left, _) = geometry.padding
    (n, h, w, c), (hp, wp) = x.shape, geometry.padded_hw
    out = np.full((n, hp, wp, c), value, dtype=x.dtype)
    out[:, top:top + h, left:left + w] = x
    return out


def crop(xp: np.ndarray, geometry: Geometry) -> np.ndarray:
    """The inverse of `pad`: the input region of a padded (N, Hp, Wp, C) array (a view)."""
    (top, _), (left, _) = geometry.padding
    h, w = geometry.in_hw
    return xp[:, top:top + h, left:left + w]


def windows(xp: np.ndarray, geometry: Geometry, groups: int = 1) -> np.ndarray:
    """A view of every window of the padded xp (N, Hp, Wp, C): (N, OH, OW, groups, kh, kw, C // groups)."""
    n, _, _, c = xp.shape
    s_n, s_h, s_w, s_c = xp.strides
    (oh, ow), (kh, kw) = geometry.out_hw, geometry.kernel
    (sh, sw), (dh, dw) = geometry.strides, geometry.dilation
    shape = (n, oh, ow, groups, kh, kw, c // groups)
    strides = (s_n, sh * s_h, sw * s_w, (c // groups) * s_c, dh * s_h, dw * s_w, s_c)
    return as_strided(xp, shape, strides, writeable=False)


def slabs(n: int, bytes_per_image: int) -> Iterator[slice]:
    """Consecutive slices of a batch of n images, each holding SLAB_BYTES of work or 1/MAX_SLABS of it all.

    Small slabs stay in cache and keep temporaries small; a bounded number of slabs keeps the
    number of BLAS calls (each one a synchronisation of BLAS's threads) bounded for big batches.
    """
    slab_bytes = max(SLAB_BYTES, n * bytes_per_image // MAX_SLABS)
    step = max(1, min(n, slab_bytes // max(1, bytes_per_image)))
    for start in range(0, n, step):
        yield slice(start, min(start + step, n))


def patch_slabs(x: np.ndarray, geometry: Geometry, groups: int = 1) -> Iterator[tuple[slice, np.ndarray]]:
    """For each slab of images of x (N, H, W, C): its slice and its patch matrices (groups, n * OH * OW, Kg).

    Kg = kh * kw * C // groups is ordered (kh, kw, Cg), as the kernel. The patches of one slab fit
    in cache, so they are still there when the GEMM reads them; the padded copy and the patch
    buffer are allocated once and reused by every slab. Copies are arranged so that their inner
    loops are long: a window row (kw * C values) when that is long, else an output row (OW values).
    """
    n, _, _, c = x.shape
    (oh, ow), (kh, kw) = geometry.out_hw, geometry.kernel
    window_row = kw * c if geometry.dilation[1] == 1 else c
    copy = _tap_major if groups == 1 and window_row < min(ow, 16) else _window_major
    buffer = padded = None
    for part in slabs(n, oh * ow * kh * kw * c * x.itemsize):
        if buffer is None:   # sized by the first (largest) slab
            buffer = np.empty((part.stop - part.start) * oh * ow * kh * kw * c, dtype=x.dtype)
        padded = _padded_slab(x[part], geometry, padded, channel_major=copy is _tap_major)
        yield part, copy(padded, geometry, groups, buffer)


def _padded_slab(xs: np.ndarray, geometry: Geometry, previous: np.ndarray | None,
                 channel_major: bool) -> np.ndarray:
    """The slab xs (m, H, W, C) padded with zeros, (m, Hp, Wp, C) or channel-major (C, m, Hp, Wp).

    Without padding it is a view of xs; with padding the previous slab's buffer is reused
    (its border is still zero).
    """
    if channel_major:
        xs = xs.transpose(3, 0, 1, 2)                         # (C, m, H, W), a view
    if not geometry.is_padded:
        return xs
    batch_axis = 1 if channel_major else 0
    m = xs.shape[batch_axis]
    if previous is None:
        shape = (xs.shape[0], m, *geometry.padded_hw) if channel_major else (m, *geometry.padded_hw, xs.shape[3])
        previous = np.zeros(shape, dtype=xs.dtype)
    padded = previous[:, :m] if channel_major else previous[:m]   # the last slab may be smaller
    (top, _), (left, _) = geometry.padding
    h, w = geometry.in_hw
    if channel_major:
        padded[:, :, top:top + h, left:left + w] = xs
    else:
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
    np.copyto(cols, as_strided(xp, cols.shape, (dh * s_h, dw * s_w, s_c, s_n, sh * s_h, sw * s_w), writeable=False))
    # (kh, kw, C, m, OH, OW) -> (K, M) -> its transpose (1, M, K), a view
    return cols.reshape(kh * kw * c, m * oh * ow).T[None]


def col2im(taps: np.ndarray, geometry: Geometry) -> np.ndarray:
    """The adjoint of im2col: sum taps (kh, kw, N, OH, OW, C) onto the input grid (N, H, W, C).

    Tap (i, j) of output (oh, ow) lands on padded row oh * sh + i * dh. Rows of one phase
    (row mod sh) are accumulated in their own contiguous plane, so each tap is a single
    slice-add with long contiguous runs; the phases are interleaved back at the end.
    """
    kh, kw, n, oh, ow, c = taps.shape
    (sh, sw), (dh, dw), (hp, wp) = geometry.strides, geometry.dilation, geometry.padded_hw
    planes = np.zeros((sh, sw, n, -(-hp // sh), -(-wp // sw), c), dtype=taps.dtype)
    for i in range(kh):
        q_h, p_h = divmod(i * dh, sh)
        for j in range(kw):
            q_w, p_w = divmod(j * dw, sw)
            planes[p_h, p_w, :, q_h:q_h + oh, q_w:q_w + ow] += taps[i, j]
    # (sh, sw, N, Ha, Wb, C) -> (N, Ha, sh, Wb, sw, C) -> (N, Ha * sh, Wb * sw, C): row a * sh + p
    _, _, _, ha, wb, _ = planes.shape
    grid = planes.transpose(2, 3, 0, 4, 1, 5).reshape(n, ha * sh, wb * sw, c)
    return crop(grid, geometry)
