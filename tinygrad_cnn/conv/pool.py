"""2-D max and average pooling, and their global forms: the public functions (Keras conventions).

They check the arguments, view channels_first input as channels_last without a copy, and apply
MaxPool (max_pool.py) or WindowSum (window_sum.py) on the windows' geometry.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor
from .geometry import Geometry, check_data_format, check_rank, pair, spatial_layout, window_geometry
from .max_pool import MaxPool
from .window_sum import WindowSum, window_sum
from .windows import pad


def _pool_geometry(x: Tensor, pool_size: Any, strides: Any, padding: Any) -> Geometry:
    size = pair(pool_size, "pool_size")
    strides = pool_size if strides is None else strides   # as given (checked just now): an int passes quickest
    geometry = window_geometry(x.shape[1:3], size, strides, 1, padding, "pool window")
    for (before, after), k, side in zip(geometry.padding, size, ("top/bottom", "left/right")):
        if max(before, after) >= k:
            raise ValueError(f"padding {before}/{after} ({side}) must be smaller than the pool window {k}, "
                             f"or a window would see only padding (pool_size={size}, padding={padding!r})")
    return geometry


def _checked(x: Any, data_format: Any) -> tuple[Tensor, str]:
    """x as a 4-D Tensor, and data_format lower-cased."""
    data_format = check_data_format(data_format)
    x = x if isinstance(x, Tensor) else Tensor(x)
    check_rank(x, "x", spatial_layout(data_format))
    return x, data_format


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
    x, data_format = _checked(x, data_format)
    xc = _channels_last(x, data_format)
    geometry = _pool_geometry(xc, pool_size, strides, padding)
    return _restore(MaxPool.apply(xc, geometry=geometry), x, data_format)


def avg_pool2d(x: Any, pool_size: Any, strides: Any = None, padding: Any = "valid",
               data_format: str = "channels_last") -> Tensor:
    """The mean of each window; 'same' padding is left out of the mean (Keras), explicit padding counts as zeros."""
    x, data_format = _checked(x, data_format)
    xc = _channels_last(x, data_format)
    geometry = _pool_geometry(xc, pool_size, strides, padding)
    kh, kw = geometry.kernel
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)   # the mean of integers is a float
    if isinstance(padding, str) and padding.lower() == "same":
        # count the real pixels in each window: the window sum of an all-ones image
        ones = np.ones((1, *geometry.in_hw, 1), dtype=dtype)
        counts = window_sum(pad(ones, geometry), geometry, np.ones((1,) * 6, dtype=dtype))
        weights = (1 / counts)[None, None].astype(dtype)      # (1, 1, 1, OH, OW, 1)
    else:
        weights = np.full((1,) * 6, 1 / (kh * kw), dtype=dtype)
    return _restore(WindowSum.apply(xc, geometry=geometry, weights=weights), x, data_format)


def _spatial_axes(x: Any, data_format: str) -> tuple[Tensor, tuple[int, int]]:
    x, data_format = _checked(x, data_format)
    return x, ((1, 2) if data_format == "channels_last" else (2, 3))


def global_avg_pool2d(x: Any, data_format: str = "channels_last", keepdims: bool = False) -> Tensor:
    """The mean over height and width: (N, C), or (N, 1, 1, C) / (N, C, 1, 1) with keepdims."""
    x, axes = _spatial_axes(x, data_format)
    return x.mean(axis=axes, keepdims=keepdims)


def global_max_pool2d(x: Any, data_format: str = "channels_last", keepdims: bool = False) -> Tensor:
    """The max over height and width; tied maxima share the gradient equally (as Tensor.max)."""
    x, axes = _spatial_axes(x, data_format)
    return x.max(axis=axes, keepdims=keepdims)
