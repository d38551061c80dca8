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

SLAB_BYTES = 1 << 20   # patches per slab: about the size of a core's L2 cache


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


def patch_slabs(x: np.ndarray, geometry: Geometry, groups: int = 1,
                slab_bytes: int = SLAB_BYTES) -> Iterator[tuple[slice, np.ndarray]]:
    """For each slab of images of x (N, H, W, C): (its slice, its patches (n * OH * OW, groups, kh * kw * Cg)).

    The patches of one slab fit in cache, so they are still there when the GEMM reads them;
    the padded copy and the patch buffer are allocated once and reused by every slab.
    """
    n, h, w, c = x.shape
    (oh, ow), (kh, kw), (hp, wp) = geometry.out_hw, geometry.kernel, geometry.padded_hw
    cg = c // groups
    step = max(1, slab_bytes // (oh * ow * kh * kw * c * x.itemsize))
    step = min(step, n)
    xp = np.zeros((step, hp, wp, c), dtype=x.dtype) if geometry.is_padded else None  # borders stay 0
    cols = np.empty((step * oh * ow, groups, kh * kw * cg), dtype=x.dtype)
    for start in range(0, n, step):
        part = slice(start, min(start + step, n))
        m = part.stop - part.start
        if xp is not None:
            crop(xp[:m], geometry)[...] = x[part]
        source = xp[:m] if xp is not None else x[part]
        # (m, OH, OW, G, kh, kw, Cg) windows -> contiguous rows of the patch matrix
        np.copyto(cols[:m * oh * ow].reshape(m, oh, ow, groups, kh, kw, cg), windows(source, geometry, groups))
        yield part, cols[:m * oh * ow]


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
