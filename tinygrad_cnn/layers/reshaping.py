"""Layers that move values without learning: Reshape, Permute, ZeroPadding2D, Cropping2D, UpSampling2D."""
from __future__ import annotations

import math
from typing import Any

from ..arguments import is_int, one_of
from ..conv.geometry import Pair, pair
from ..ops.movement import concatenate, stack
from ..tensor import Tensor
from .base import Layer
from .core import image_data_format
from .receptive_field import UNKNOWN_FIELD, ReceptiveField
from .shapes import Shape, format_shape

Sides = tuple[Pair, Pair]   # ((top, bottom), (left, right))


class Reshape(Layer):
    """(batch, ...) -> (batch, *target_shape); one size of target_shape may be -1 (inferred)."""

    min_ndim = 1

    def __init__(self, target_shape: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        target = (target_shape,) if is_int(target_shape) else target_shape
        if not isinstance(target, (tuple, list)) or not all(is_int(n) for n in target):
            raise TypeError(f"Reshape: target_shape must be a tuple of ints without the batch axis, such as "
                            f"(7, 7, 64) or (-1, 4), got {target_shape!r:.60}")
        if any(n < 1 and n != -1 for n in target) or list(target).count(-1) > 1:
            raise ValueError(f"Reshape: target_shape {tuple(target)} must hold positive sizes and at most one -1 "
                             "(the size inferred from the input)")
        self.target_shape = tuple(int(n) for n in target)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], *self._sizes(input_shape))

    def _sizes(self, input_shape: Shape) -> tuple[int | None, ...]:
        """target_shape with its -1 resolved for this input (None while the input has unknown sizes)."""
        sizes = input_shape[1:]
        if None in sizes:
            return tuple(None if n == -1 else n for n in self.target_shape)
        total, known = math.prod(sizes), math.prod(n for n in self.target_shape if n != -1)
        inferred = -1 in self.target_shape
        if (total % known if inferred else total != known):
            need = (f"a size that divides {total} once -1 is inferred" if inferred
                    else f"sizes whose product is {total}, or -1 for one of them")
            raise ValueError(f"{self._describe()}: cannot reshape inputs of shape {format_shape(input_shape)} "
                             f"({total} value{'s' * (total != 1)} per example) into target_shape {self.target_shape} "
                             f"({known} values{' times the -1' if inferred else ''}); give target_shape {need}")
        return tuple(total // known if n == -1 else n for n in self.target_shape)

    def call(self, x: Tensor, training: bool) -> Tensor:
        # (N, d1, d2, ...) -> (N, *target_shape); the batch size is given, never -1, so that N = 0 works
        return x.reshape(x.shape[0], *self._sizes((None, *x.shape[1:])))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Permute(Layer):
    """The axes after the batch axis in the order `dims`, counted from 1 as in Keras: Permute((2, 1)) turns
    (N, a, b) into (N, b, a), Permute((3, 1, 2)) turns channels_last images into channels_first ones."""

    def __init__(self, dims: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(dims, (tuple, list)) or not dims or not all(is_int(d) for d in dims):
            raise TypeError(f"Permute: dims must be a tuple of ints, the input axes after the batch axis counted "
                            f"from 1, such as (2, 1), got {dims!r:.60}")
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"Permute: dims {tuple(dims)} must hold each of 1 to {len(dims)} once (axis 0, the "
                             "batch axis, stays first and is not listed)")
        self.dims = tuple(int(d) for d in dims)
        self.ndim = len(self.dims) + 1

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def call(self, x: Tensor, training: bool) -> Tensor:
        # (N, d1, ..., dk) -> (N, d_dims[0], ..., d_dims[k-1])
        return x.transpose(0, *self.dims)

    def receptive_field(self, field: ReceptiveField) -> ReceptiveField:
        # a field is per image axis; once the axes move, which is height and which is width is unknown
        return field if self.dims == tuple(range(1, len(self.dims) + 1)) else UNKNOWN_FIELD

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "dims": list(self.dims)}


def two_sided(value: Any, argument: str, owner: str) -> Sides:
    """An int, (vertical, horizontal) or ((top, bottom), (left, right)), as the last form (Keras's rules)."""
    where = f"{owner}: {argument}"
    if is_int(value) or (isinstance(value, (tuple, list)) and all(is_int(v) for v in value)):
        vertical, horizontal = pair(value, where, minimum=0)
        return (vertical, vertical), (horizontal, horizontal)
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{where} must be an int, a pair (vertical, horizontal) or ((top, bottom), (left, right)), "
                        f"got {value!r:.60}")
    return pair(value[0], f"{where} (top, bottom)", 0), pair(value[1], f"{where} (left, right)", 0)


class _Spatial2D(Layer):
    """A layer on (N, H, W, C) images, or (N, C, H, W) with data_format="channels_first"; no weights."""

    ndim = 4

    def __init__(self, data_format: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = image_data_format(data_format, type(self).__name__)

    @property
    def spatial_axes(self) -> Pair:
        """The axes of height and width."""
        return (1, 2) if self.data_format == "channels_last" else (2, 3)

    def _with_sizes(self, shape: Shape, sizes: tuple[Any, Any]) -> Shape:
        """`shape` with new height and width."""
        new = list(shape)
        for axis, size in zip(self.spatial_axes, sizes, strict=True):
            new[axis] = size
        return tuple(new)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format}


class ZeroPadding2D(_Spatial2D):
    """Zeros around each image: `padding` rows above and below, columns left and right."""

    def __init__(self, padding: Any = (1, 1), data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(data_format, **kwargs)
        self.padding = two_sided(padding, "padding", "ZeroPadding2D")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        sizes = tuple(None if input_shape[a] is None else input_shape[a] + sum(p)
                      for a, p in zip(self.spatial_axes, self.padding, strict=True))
        return self._with_sizes(input_shape, sizes)

    def call(self, x: Tensor, training: bool) -> Tensor:
        widths = [(0, 0)] * 4
        for axis, sides in zip(self.spatial_axes, self.padding, strict=True):
            widths[axis] = sides
        return x.pad(widths)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "padding": [list(p) for p in self.padding]}


class Cropping2D(_Spatial2D):
    """Drops `cropping` rows at the top and bottom, columns at the left and right of each image."""

    def __init__(self, cropping: Any = ((0, 0), (0, 0)), data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(data_format, **kwargs)
        self.cropping = two_sided(cropping, "cropping", "Cropping2D")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        sizes = []
        for axis, crop, what in zip(self.spatial_axes, self.cropping, ("height", "width"), strict=True):
            size = input_shape[axis]
            if size is not None and sum(crop) >= size:
                raise ValueError(f"{self._describe()}: cropping {crop[0]} + {crop[1]} from a {what} of {size} "
                                 f"(input {format_shape(input_shape)}) leaves nothing; crop less than {size} in all")
            sizes.append(None if size is None else size - sum(crop))
        return self._with_sizes(input_shape, tuple(sizes))

    def call(self, x: Tensor, training: bool) -> Tensor:
        self.compute_output_shape(x.shape)   # an input smaller than the one the layer was built for
        index: list[slice] = [slice(None)] * 4
        for axis, (before, after) in zip(self.spatial_axes, self.cropping, strict=True):
            index[axis] = slice(before, x.shape[axis] - after)
        return x[tuple(index)]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "cropping": [list(c) for c in self.cropping]}


def _nearest(x: Tensor, axis: int, factor: int) -> Tensor:
    """(..., n, ...) -> (..., n, factor, ...): each value repeated."""
    y = x.unsqueeze(axis + 1)
    return y.broadcast_to(*y.shape[:axis + 1], factor, *y.shape[axis + 2:])


def _bilinear(x: Tensor, axis: int, factor: int) -> Tensor:
    """(..., n, ...) -> (..., n, factor, ...): linear interpolation with half-pixel centres, as PyTorch's
    align_corners=False: output j sits at input coordinate (j + 0.5) / factor - 0.5, edges repeated."""
    n = x.shape[axis]

    def rows(start: int, stop: int) -> Tensor:
        return x[(slice(None),) * axis + (slice(start, stop),)]

    before = concatenate([rows(0, 1), rows(0, n - 1)], axis)   # x[max(i - 1, 0)]
    after = concatenate([rows(1, n), rows(n - 1, n)], axis)     # x[min(i + 1, n - 1)]
    phases = []
    for p in range(factor):
        offset = (p + 0.5) / factor - 0.5   # of output p from its source value, in input pixels
        neighbour = before if offset < 0 else after
        phases.append(x if offset == 0 else x * (1 - abs(offset)) + neighbour * abs(offset))
    return stack(phases, axis + 1)


INTERPOLATIONS = {"nearest": _nearest, "bilinear": _bilinear}


class UpSampling2D(_Spatial2D):
    """Each image made `size` times higher and wider: values repeated ("nearest") or interpolated ("bilinear")."""

    def __init__(self, size: Any = (2, 2), data_format: str | None = None, interpolation: str = "nearest",
                 **kwargs: Any) -> None:
        super().__init__(data_format, **kwargs)
        self.size = pair(size, "UpSampling2D: size")
        self.interpolation = one_of(interpolation, INTERPOLATIONS, "interpolation", "UpSampling2D")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        sizes = tuple(None if input_shape[a] is None else input_shape[a] * s
                      for a, s in zip(self.spatial_axes, self.size, strict=True))
        return self._with_sizes(input_shape, sizes)

    def call(self, x: Tensor, training: bool) -> Tensor:
        resize = INTERPOLATIONS[self.interpolation]
        for axis, factor in zip(self.spatial_axes, self.size, strict=True):
            if factor > 1:
                shape = x.shape
                # (..., n, factor, ...) -> (..., n * factor, ...)
                x = resize(x, axis, factor).reshape(*shape[:axis], shape[axis] * factor, *shape[axis + 1:])
        return x

    def receptive_field(self, field: ReceptiveField) -> ReceptiveField:
        return field.upsampled(self.size, self.interpolation == "bilinear")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": list(self.size), "interpolation": self.interpolation}
