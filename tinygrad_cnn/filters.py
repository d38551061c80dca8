"""Hand-designed 3x3 filters (edge detectors, blurs) as arrays that load into a Conv2D with `set_weights`.

Conv2D computes a cross-correlation (no kernel flip), so a filter responds to the pattern it looks like:
`sobel_vertical` is positive on the left column and negative on the right, and gives large values
where the image gets darker from left to right, i.e. on vertical edges.

    layer = tc.layers.Conv2D(2, 3, use_bias=False)
    layer.build((None, 28, 28, 1))
    layer.set_weights([tc.filters.kernel(tc.filters.sobel_vertical(), tc.filters.sobel_horizontal())])
"""
from __future__ import annotations

from types import MappingProxyType

import numpy as np


def sobel_vertical() -> np.ndarray:
    """Responds to vertical edges (a change from left to right), smoothing along the edge."""
    return np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], np.float32)


def sobel_horizontal() -> np.ndarray:
    """Responds to horizontal edges (a change from top to bottom): the transpose of `sobel_vertical`."""
    return sobel_vertical().T.copy()


def prewitt_vertical() -> np.ndarray:
    """Vertical edges, all rows weighted equally."""
    return np.array([[1, 0, -1], [1, 0, -1], [1, 0, -1]], np.float32)


def prewitt_horizontal() -> np.ndarray:
    """Horizontal edges, all columns weighted equally."""
    return prewitt_vertical().T.copy()


def laplacian() -> np.ndarray:
    """The discrete Laplacian (4 neighbours): zero on flat and linear regions, large at edges and corners."""
    return np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], np.float32)


def laplacian_diagonal() -> np.ndarray:
    """The Laplacian with the diagonal neighbours too (8 neighbours)."""
    return np.array([[1, 1, 1], [1, -8, 1], [1, 1, 1]], np.float32)


def sharpen() -> np.ndarray:
    """The identity minus the Laplacian: boosts edges, keeps flat regions."""
    return np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], np.float32)


def box_blur() -> np.ndarray:
    """The mean of the 3x3 neighbourhood."""
    return np.full((3, 3), 1 / 9, np.float32)


def gaussian_blur() -> np.ndarray:
    """A 3x3 binomial approximation of a Gaussian: (1, 2, 1) outer (1, 2, 1) / 16."""
    row = np.array([1, 2, 1], np.float32)
    return np.outer(row, row) / 16


def identity() -> np.ndarray:
    """Passes the image through unchanged."""
    out = np.zeros((3, 3), np.float32)
    out[1, 1] = 1
    return out


FILTERS = MappingProxyType({f.__name__: f for f in (
    sobel_vertical, sobel_horizontal, prewitt_vertical, prewitt_horizontal, laplacian, laplacian_diagonal,
    sharpen, box_blur, gaussian_blur, identity)})


def get(name: str) -> np.ndarray:
    """A filter by name, e.g. get("sobel_vertical")."""
    if not isinstance(name, str) or name not in FILTERS:
        raise ValueError(f"unknown filter {name!r}; known filters: {', '.join(FILTERS)}")
    return FILTERS[name]()


def kernel(*filters: np.ndarray, in_channels: int = 1) -> np.ndarray:
    """Stack 2-D filters into a Conv2D kernel (kh, kw, in_channels, len(filters)); with several input
    channels each filter is applied to their sum (the same filter on every channel)."""
    if not filters:
        raise ValueError("kernel needs at least one filter, e.g. kernel(sobel_vertical())")
    if isinstance(in_channels, bool) or not isinstance(in_channels, (int, np.integer)) or in_channels < 1:
        raise ValueError(f"in_channels must be a positive int, got {in_channels!r}")
    arrays = [np.asarray(f, np.float32) for f in filters]
    for i, f in enumerate(arrays):
        if f.ndim != 2 or f.shape != arrays[0].shape:
            raise ValueError(f"filter {i} has shape {f.shape}; all filters must be 2-D with one shape "
                             f"(the first is {arrays[0].shape})")
    # (n, kh, kw) -> (kh, kw, 1, n) -> (kh, kw, in_channels, n)
    stacked = np.stack(arrays, axis=-1)[:, :, None, :]
    return np.repeat(stacked, in_channels, axis=2)
