"""Hypothesis strategies for testing ops: arrays, broadcastable shapes, conv and pool geometries.

This module needs hypothesis (`pip install tinygrad-cnn[dev]`); nothing else in the package does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ..tensor import Tensor

Pair = tuple[int, int]


def shapes(*, min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4) -> st.SearchStrategy:
    """Array shapes, 0-d (scalars) included by default."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def arrays(shape: Any = None, *, low: float = -2.0, high: float = 2.0, min_abs: float = 0.0,
           grid: float | None = None, unique: bool = False, dtype: Any = np.float64,
           **shape_options: Any) -> st.SearchStrategy:
    """Float arrays with values in [low, high]; `min_abs` keeps them away from 0 (kinks, poles).

    `grid` draws multiples of it only: values are then equal (ties) or at least `grid` apart,
    never within a finite-difference step of each other. `shape` is a tuple or a strategy of
    shapes; by default `shapes(**shape_options)`.
    """
    if not low < high:
        raise ValueError(f"arrays: low must be below high, got low={low}, high={high}")
    if grid is not None and not grid > 0:
        raise ValueError(f"arrays: grid must be a positive step (or None), got {grid!r}")
    if np.dtype(dtype).kind != "f":
        raise ValueError(f"arrays: dtype must be a float dtype (gradients need floats), got {np.dtype(dtype)}")
    shape = shapes(**shape_options) if shape is None else shape
    # [low, high] without (-min_abs, min_abs): the negative and the positive part, where not empty
    parts = [(low, min(high, -min_abs)), (max(low, min_abs), high)] if min_abs > 0 else [(low, high)]
    if grid is not None:   # multiples k * grid, k in [ceil(a / grid), floor(b / grid)]
        bounds = [(int(np.ceil(a / grid)), int(np.floor(b / grid))) for a, b in parts]
        choices = [st.integers(a, b).map(lambda k: k * grid) for a, b in bounds if a <= b]
    else:
        choices = [st.floats(a, b, allow_nan=False, allow_infinity=False, width=64) for a, b in parts if a <= b]
    if not choices:
        raise ValueError(f"arrays: no value in [{low}, {high}] has |value| >= min_abs={min_abs}"
                         + (f" and is a multiple of grid={grid}" if grid is not None else "")
                         + "; widen [low, high] or lower min_abs")
    return hnp.arrays(np.dtype(dtype), shape, elements=st.one_of(*choices), unique=unique)


def tensors(shape: Any = None, *, requires_grad: bool = True, **options: Any) -> st.SearchStrategy:
    """Tensors built from `arrays(shape, **options)`; they require grad by default."""
    return arrays(shape, **options).map(lambda a: Tensor(a, requires_grad=requires_grad))


class Inputs(tuple):
    """Several positional inputs drawn together (e.g. arrays whose shapes must fit each other)."""


def broadcastable_arrays(**options: Any) -> st.SearchStrategy:
    """Inputs(a, b): two arrays whose shapes broadcast together; options go to `arrays`."""
    return broadcastable_shapes().flatmap(lambda pair: st.tuples(*(arrays(s, **options) for s in pair))).map(Inputs)


def broadcastable_shapes(*, min_dims: int = 0, max_dims: int = 3, max_side: int = 4) -> st.SearchStrategy:
    """Pairs of shapes that broadcast together (size-1 axes and missing leading axes included)."""
    return hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=min_dims, max_dims=max_dims,
                                             max_side=max_side).map(lambda s: s.input_shapes)


@dataclass(frozen=True)
class ConvGeometry:
    """A valid conv2d configuration (channels_last), drawn by `conv_geometries`."""

    batch: int
    height: int
    width: int
    channels: int
    filters: int
    kernel: Pair
    strides: Pair
    dilation: Pair
    padding: Any        # "valid", "same" or ((top, bottom), (left, right))
    groups: int

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return self.batch, self.height, self.width, self.channels

    @property
    def kernel_shape(self) -> tuple[int, int, int, int]:
        return (*self.kernel, self.channels // self.groups, self.filters)

    @property
    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of tc.conv2d."""
        return dict(strides=self.strides, padding=self.padding, dilation_rate=self.dilation, groups=self.groups)


@dataclass(frozen=True)
class PoolGeometry:
    """A valid pooling configuration (channels_last), drawn by `pool_geometries`."""

    batch: int
    height: int
    width: int
    channels: int
    pool_size: Pair
    strides: Pair
    padding: Any

    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return self.batch, self.height, self.width, self.channels

    @property
    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments of tc.max_pool2d and tc.avg_pool2d."""
        return dict(pool_size=self.pool_size, strides=self.strides, padding=self.padding)


def _pairs(low: int, high: int) -> st.SearchStrategy:
    return st.tuples(st.integers(low, high), st.integers(low, high))


@st.composite
def _side(draw: Any, window: int, pads: Pair, max_extra: int) -> int:
    """An input side long enough for a (dilated) window of `window` with padding `pads`."""
    return draw(st.integers(max(1, window - sum(pads)), max(1, window - sum(pads)) + max_extra))


@st.composite
def conv_geometries(draw: Any, *, max_batch: int = 2, max_channels: int = 3, max_filters: int = 3,
                    max_kernel: int = 3, max_stride: int = 2, max_dilation: int = 2, max_extra: int = 3,
                    grouped: bool = True) -> ConvGeometry:
    """Valid conv2d geometries: kernels, strides, dilation, valid/same/explicit padding, groups."""
    groups = draw(st.integers(1, 2)) if grouped else 1
    channels = groups * draw(st.integers(1, max(1, max_channels // groups)))
    filters = groups * draw(st.integers(1, max(1, max_filters // groups)))
    kernel, strides, dilation = draw(_pairs(1, max_kernel)), draw(_pairs(1, max_stride)), draw(_pairs(1, max_dilation))
    padding = draw(st.one_of(st.just("valid"), st.just("same"), st.tuples(_pairs(0, 2), _pairs(0, 2))))
    pads = padding if isinstance(padding, tuple) else ((0, 0), (0, 0))
    effective = [(k - 1) * d + 1 for k, d in zip(kernel, dilation, strict=True)]
    height = draw(_side(effective[0], pads[0], max_extra))
    width = draw(_side(effective[1], pads[1], max_extra))
    return ConvGeometry(draw(st.integers(1, max_batch)), height, width, channels, filters, kernel, strides,
                        dilation, padding, groups)


@st.composite
def pool_geometries(draw: Any, *, max_batch: int = 2, max_channels: int = 2, max_pool: int = 3,
                    max_stride: int = 3, max_extra: int = 3) -> PoolGeometry:
    """Valid pooling geometries: overlapping or not, valid/same/explicit padding (smaller than the window)."""
    pool_size, strides = draw(_pairs(1, max_pool)), draw(_pairs(1, max_stride))
    explicit = st.tuples(*(st.tuples(st.integers(0, k - 1), st.integers(0, k - 1)) for k in pool_size))
    padding = draw(st.one_of(st.just("valid"), st.just("same"), explicit))
    pads = padding if isinstance(padding, tuple) else ((0, 0), (0, 0))
    height = draw(_side(pool_size[0], pads[0], max_extra))
    width = draw(_side(pool_size[1], pads[1], max_extra))
    return PoolGeometry(draw(st.integers(1, max_batch)), height, width, draw(st.integers(1, max_channels)),
                        pool_size, strides, padding)
