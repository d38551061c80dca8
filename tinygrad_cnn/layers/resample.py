"""Sampling images at the points of an affine map (rotations, shifts, zooms, resizes), with Keras's fill modes.

The image is first extended to every integer pixel position by the fill mode (for a row a b c d):
reflect `d c b a | a b c d | d c b a`, wrap `a b c d | a b c d | a b c d`, nearest `a a a a | a b c d |
d d d d`, constant `k k k k | a b c d | k k k k`; the extended image is then read at each sampled point,
by its nearest pixel or bilinearly from the four around it. Reading is a gather of input pixels, so the
gradient flows back to the input (scattered by the same weights).
"""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("nearest", "bilinear")


def extended_index(i: np.ndarray, n: int, fill_mode: str) -> np.ndarray:
    """The pixel (0..n-1) that the extended image holds at integer positions `i`; -1 where the fill value is."""
    if fill_mode == "reflect":   # period 2n: the row, then the row reversed (the edge pixel repeats)
        j = np.mod(i, 2 * n)
        return np.where(j < n, j, 2 * n - 1 - j)
    if fill_mode == "wrap":
        return np.mod(i, n)
    if fill_mode == "nearest":
        return np.clip(i, 0, n - 1)
    return np.where((i >= 0) & (i < n), i, -1)


def affine_sample(x: Tensor, matrices: np.ndarray, out_size: tuple[int, int], interpolation: str,
                  fill_mode: str, fill_value: float) -> Tensor:
    """Images x (N, H, W, C) read at the points of an affine map per image: output pixel (row i, column j)
    of image n is the input at column, row = matrices[n] @ (j, i, 1) (matrices: (N, 2, 3))."""
    n, height, width, channels = x.shape
    rows, cols = np.mgrid[0:out_size[0], 0:out_size[1]].astype(np.float64)   # each (h, w)
    m = np.asarray(matrices, np.float64)[:, :, :, None, None]                  # (N, 2, 3, 1, 1)
    xs = m[:, 0, 0] * cols + m[:, 0, 1] * rows + m[:, 0, 2]                     # (N, h, w) input columns
    ys = m[:, 1, 0] * cols + m[:, 1, 1] * rows + m[:, 1, 2]                     # (N, h, w) input rows
    if interpolation == "nearest":
        corners = [(np.rint(ys), np.rint(xs), np.ones_like(xs))]
    else:   # bilinear: the four pixels around each point, weighted by the distances to the opposite ones
        y0, x0 = np.floor(ys), np.floor(xs)
        dy, dx = ys - y0, xs - x0
        corners = [(y0, x0, (1 - dy) * (1 - dx)), (y0, x0 + 1, (1 - dy) * dx),
                   (y0 + 1, x0, dy * (1 - dx)), (y0 + 1, x0 + 1, dy * dx)]
    pixels = x.reshape(n * height * width, channels)                            # (N*H*W, C)
    first = np.arange(n)[:, None, None] * (height * width)                      # (N, 1, 1) image offsets
    out, filled = None, np.zeros(xs.shape)
    for row, col, weight in corners:
        row = extended_index(row.astype(np.int64), height, fill_mode)
        col = extended_index(col.astype(np.int64), width, fill_mode)
        inside = (row >= 0) & (col >= 0)
        index = (first + np.where(inside, row * width + col, 0)).reshape(-1)     # (N*h*w,) flat pixel numbers
        term = pixels[index] * (weight * inside).reshape(-1, 1).astype(x.dtype)
        out = term if out is None else out + term
        filled += weight * ~inside
    if fill_mode == "constant" and fill_value != 0:   # the share of each point that falls outside the image
        out = out + (filled.reshape(-1, 1) * fill_value).astype(x.dtype)
    return out.reshape(n, out_size[0], out_size[1], channels)
