"""Keras's image augmentation layers: RandomFlip, RandomTranslation, RandomRotation, RandomZoom, RandomCrop,
RandomContrast, RandomBrightness.

Each draws a new random change per image (RandomCrop: per batch) on every call in training (`fit`,
`layer(x, training=True)`) and is the identity in inference (`predict`, `evaluate`, a plain call), except
RandomCrop, which in inference resizes the largest centered window of the target's shape. Draws come
from the layer's own generator when it has a `seed`, else from the one `tc.manual_seed` seeds. Inputs
are batches (N, H, W, C) (channels_first: (N, C, H, W)) or one image (H, W, C); integer inputs become
float32. The outputs are computed with Tensor ops (gathers, slices, arithmetic), so gradients flow
through to the input, although augmentation normally comes first.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..arguments import finite_number, is_number, one_of, positive_int
from ..creation import generator
from ..ops.composed import where
from ..tensor import Tensor
from .base import Layer
from .core import image_data_format
from .resample import FILL_MODES, INTERPOLATIONS, affine_sample
from .shapes import Shape
from .symbolic import KerasTensor

FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


def factor_range(factor: Any, argument: str, owner: str, low: float, high: float,
                 symmetric: bool = True) -> tuple[float, float]:
    """A number f as (-|f|, |f|) (or (f, f) when not `symmetric`), or a (lower, upper) pair, each in [low, high]."""
    pair = isinstance(factor, (tuple, list))
    values = list(factor) if pair else [factor]
    usage = f"a number or a (lower, upper) pair, each in [{low:g}, {high:g}]"
    if pair and len(values) != 2:
        raise ValueError(f"{owner}: {argument} must be {usage}, got {len(values)} values {factor!r}; "
                         f"e.g. {argument}=0.1 or {argument}=(-0.1, 0.2)")
    for value in values:
        if not is_number(value):
            raise TypeError(f"{owner}: {argument} must be {usage}, got {factor!r:.60}")
        if not low <= value <= high:   # also refuses NaN
            raise ValueError(f"{owner}: {argument} must be {usage}, got {factor!r:.60}; "
                             f"e.g. {argument}={high / 10:g}")
    if pair:
        return (float(min(values)), float(max(values))) if symmetric else (float(values[0]), float(values[1]))
    size = float(values[0])
    return (-abs(size), abs(size)) if symmetric else (size, size)


def as_config(factor: Any) -> Any:
    """A factor for a JSON config: a float, or a list of two floats."""
    return [float(v) for v in factor] if isinstance(factor, (tuple, list)) else float(factor)


def value_range_pair(value_range: Any, owner: str) -> tuple[float, float]:
    """(low, high) of the input's values, from two finite numbers in either order."""
    if not isinstance(value_range, (tuple, list)) or len(value_range) != 2 or not all(
            is_number(v) and math.isfinite(v) for v in value_range) or value_range[0] == value_range[1]:
        raise ValueError(f"{owner}: value_range must be two different finite numbers (low, high), got "
                         f"{value_range!r:.60}; e.g. value_range=(0, 255) or (0, 1) for images scaled to [0, 1]")
    return float(min(value_range)), float(max(value_range))


class Augmentation(Layer):
    """The common part: a batch of images in, the same shape out; random only in training."""

    keeps_shape = True
    ndim = 4

    def __init__(self, seed: int | None, data_format: str | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.seed = None if seed is None else positive_int(seed, "seed", owner, minimum=0)
        self._generator = None if seed is None else np.random.default_rng(seed)
        self.data_format = image_data_format(data_format, owner)

    def _rng(self) -> np.random.Generator:
        return self._generator if self._generator is not None else generator()

    def __call__(self, inputs: Any, training: bool | None = None) -> Tensor:
        """As Layer's; one image (H, W, C) (channels_first: (C, H, W)) is changed as a batch of one, as in Keras."""
        if isinstance(inputs, KerasTensor):   # a functional model's symbolic tensor (batch axis included)
            return super().__call__(inputs, training)
        x = self._as_tensor(inputs)
        if x.ndim == 3:
            return super().__call__(x[None], training)[0]   # (H, W, C) -> (1, H, W, C) -> back
        return super().__call__(x, training)

    def call(self, x: Tensor, training: bool) -> Tensor:
        return self._channels_last(x, lambda images: self._augment(images, self._rng())) if training else x

    def _channels_last(self, x: Tensor, change: Callable[[Tensor], Tensor]) -> Tensor:
        """change(images) on the batch as (N, H, W, C), returned in the layer's data_format."""
        if self.data_format == "channels_last":
            return change(x)
        return change(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)   # (N, C, H, W) -> (N, H, W, C) and back

    def _augment(self, x: Tensor, rng: np.random.Generator) -> Tensor:
        """The random change of a channels_last batch (subclasses define it)."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed, "data_format": self.data_format}


class RandomFlip(Augmentation):
    """In training, flips each image left-right ("horizontal"), top-bottom ("vertical") or both, each
    direction with probability 1/2 drawn separately per image and direction; identity in inference."""

    def __init__(self, mode: str = "horizontal_and_vertical", seed: int | None = None,
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(seed, data_format, **kwargs)
        self.mode = one_of(mode, FLIP_MODES, "mode", "RandomFlip")

    def _augment(self, x: Tensor, rng: np.random.Generator) -> Tensor:
        for axis, direction in ((2, "horizontal"), (1, "vertical")):
            if direction in self.mode:
                flip = rng.random(x.shape[0]) < 0.5                      # one draw per image
                reverse = (slice(None),) * axis + (slice(None, None, -1),)
                x = where(flip[:, None, None, None], x[reverse], x)
        return x

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


class AffineAugmentation(Augmentation):
    """Rotations, shifts and zooms: each image resampled at an affine map of its pixel grid (see resample.py)."""

    def __init__(self, fill_mode: str, interpolation: str, seed: int | None, fill_value: float,
                 data_format: str | None, **kwargs: Any) -> None:
        super().__init__(seed, data_format, **kwargs)
        owner = type(self).__name__
        self.fill_mode = one_of(fill_mode, FILL_MODES, "fill_mode", owner)
        self.interpolation = one_of(interpolation, INTERPOLATIONS, "interpolation", owner)
        self.fill_value = finite_number(fill_value, "fill_value", owner)

    def _augment(self, x: Tensor, rng: np.random.Generator) -> Tensor:
        n, height, width, _ = x.shape
        matrices = self._matrices(n, height, width, rng)
        return affine_sample(x, matrices, (height, width), self.interpolation, self.fill_mode, self.fill_value)

    def _matrices(self, n: int, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        """(n, 2, 3): for each image, the map from an output pixel (column, row, 1) to the input point it reads."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "fill_mode": self.fill_mode, "interpolation": self.interpolation,
                "fill_value": self.fill_value}


def _matrices(xx: np.ndarray, xy: np.ndarray, x0: np.ndarray, yx: np.ndarray, yy: np.ndarray,
              y0: np.ndarray) -> np.ndarray:
    """(n, 2, 3) affine maps [[xx, xy, x0], [yx, yy, y0]] from per-image coefficients (each (n,))."""
    return np.stack([np.stack([xx, xy, x0], -1), np.stack([yx, yy, y0], -1)], 1)


class RandomTranslation(AffineAugmentation):
    """In training, shifts each image by a random fraction of its height (positive: down) and width
    (positive: right), drawn from [-f, f] for a number f or [lower, upper] for a pair (each in [-1, 1])."""

    def __init__(self, height_factor: Any, width_factor: Any, fill_mode: str = "reflect",
                 interpolation: str = "bilinear", seed: int | None = None, fill_value: float = 0.0,
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self._height = factor_range(height_factor, "height_factor", "RandomTranslation", -1, 1)
        self._width = factor_range(width_factor, "width_factor", "RandomTranslation", -1, 1)
        self.height_factor, self.width_factor = as_config(height_factor), as_config(width_factor)

    def _matrices(self, n: int, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        down = rng.uniform(*self._height, n) * height
        right = rng.uniform(*self._width, n) * width
        one, zero = np.ones(n), np.zeros(n)
        return _matrices(one, zero, -right, zero, one, -down)   # output (j, i) reads input (j - right, i - down)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomRotation(AffineAugmentation):
    """In training, rotates each image about its center by a random fraction of a full turn (positive:
    counter-clockwise), drawn from [-f, f] for a number f or [lower, upper] for a pair (each in [-1, 1])."""

    def __init__(self, factor: Any, fill_mode: str = "reflect", interpolation: str = "bilinear",
                 seed: int | None = None, fill_value: float = 0.0, data_format: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self._range = factor_range(factor, "factor", "RandomRotation", -1, 1)
        self.factor = as_config(factor)

    def _matrices(self, n: int, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        angle = rng.uniform(*self._range, n) * 2 * math.pi
        cos, sin = np.cos(angle), np.sin(angle)
        cx, cy = (width - 1) / 2, (height - 1) / 2
        # rows point down, so reading the input at the point turned by +angle about the center shows it
        # turned the other way: counter-clockwise on screen
        return _matrices(cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor}


class RandomZoom(AffineAugmentation):
    """In training, zooms each image about its center: a factor z drawn from [-f, f] (number f) or
    [lower, upper] (pair, each in [-1, 1]) makes the image (1 + z) times smaller, so positive z zooms out
    and negative z zooms in; `width_factor=None` zooms both axes by the height's draw (keeps the aspect)."""

    def __init__(self, height_factor: Any, width_factor: Any = None, fill_mode: str = "reflect",
                 interpolation: str = "bilinear", seed: int | None = None, fill_value: float = 0.0,
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(fill_mode, interpolation, seed, fill_value, data_format, **kwargs)
        self._height = factor_range(height_factor, "height_factor", "RandomZoom", -1, 1)
        self._width = None if width_factor is None else factor_range(width_factor, "width_factor", "RandomZoom", -1, 1)
        self.height_factor = as_config(height_factor)
        self.width_factor = None if width_factor is None else as_config(width_factor)

    def _matrices(self, n: int, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        zy = 1 + rng.uniform(*self._height, n)
        zx = zy if self._width is None else 1 + rng.uniform(*self._width, n)
        cx, cy = (width - 1) / 2, (height - 1) / 2
        zero = np.zeros(n)
        return _matrices(zx, zero, cx * (1 - zx), zero, zy, cy * (1 - zy))   # output (j, i) reads c + z * (p - c)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "height_factor": self.height_factor, "width_factor": self.width_factor}


class RandomCrop(Augmentation):
    """Crops to (height, width): in training at a random place, the same for the whole batch; in inference
    (and when the input is smaller than the target) the largest centered window of the target's aspect
    ratio, resized bilinearly to (height, width)."""

    def __init__(self, height: int, width: int, seed: int | None = None, data_format: str | None = None,
                 name: str | None = None, **kwargs: Any) -> None:
        super().__init__(seed, data_format, name=name, **kwargs)   # name fifth, as in Keras 3
        self.height = positive_int(height, "height", "RandomCrop")
        self.width = positive_int(width, "width", "RandomCrop")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        rows, cols = (1, 2) if self.data_format == "channels_last" else (2, 3)
        shape = list(input_shape)
        shape[rows], shape[cols] = self.height, self.width
        return tuple(shape)

    def call(self, x: Tensor, training: bool) -> Tensor:
        return self._channels_last(x, lambda images: self._crop(images, training))

    def _crop(self, x: Tensor, training: bool) -> Tensor:
        n, height, width, _ = x.shape
        if training and height >= self.height and width >= self.width:
            rng = self._rng()
            top, left = int(rng.integers(height - self.height + 1)), int(rng.integers(width - self.width + 1))
            return x[:, top:top + self.height, left:left + self.width]
        # the largest centered window with the target's aspect ratio (at least one pixel)
        rows = max(min(height, width * self.height // self.width), 1)
        cols = max(min(width, height * self.width // self.height), 1)
        top, left = (height - rows) // 2, (width - cols) // 2
        window = x[:, top:top + rows, left:left + cols]
        if (rows, cols) == (self.height, self.width):
            return window
        # resized with half-pixel centres: output pixel i reads the window at (i + 1/2) * scale - 1/2
        sy, sx = rows / self.height, cols / self.width
        matrices = np.broadcast_to(np.array([[sx, 0, (sx - 1) / 2], [0, sy, (sy - 1) / 2]]), (n, 2, 3))
        return affine_sample(window, matrices, (self.height, self.width), "bilinear", "nearest", 0.0)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "height": self.height, "width": self.width}


class RandomContrast(Augmentation):
    """In training, moves each image's values away from (or towards) each channel's mean over the image:
    (x - mean) * c + mean with c drawn per image from [1 - f, 1 + f] for a number f, or [1 - lower,
    1 + upper] for a pair (each in [0, 1]), then clipped to value_range; identity in inference."""

    def __init__(self, factor: Any, value_range: Any = (0, 255), seed: int | None = None, *,
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(seed, data_format, **kwargs)
        self._range = factor_range(factor, "factor", "RandomContrast", 0, 1, symmetric=False)
        self.factor = as_config(factor)
        self.value_range = value_range_pair(value_range, "RandomContrast")

    def _augment(self, x: Tensor, rng: np.random.Generator) -> Tensor:
        lower, upper = self._range
        contrast = rng.uniform(1 - lower, 1 + upper, (x.shape[0], 1, 1, 1)).astype(x.dtype)   # one per image
        mean = x.mean(axis=(1, 2), keepdims=True)                                             # (N, 1, 1, C)
        return ((x - mean) * contrast + mean).clip(*self.value_range)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor, "value_range": list(self.value_range)}


class RandomBrightness(Augmentation):
    """In training, adds to each image d * (high - low) of its value_range (low, high), d drawn per image
    from [-f, f] for a number f or [lower, upper] for a pair (each in [-1, 1]), then clips to value_range;
    identity in inference."""

    def __init__(self, factor: Any, value_range: Any = (0, 255), seed: int | None = None, *,
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(seed, data_format, **kwargs)
        self._range = factor_range(factor, "factor", "RandomBrightness", -1, 1)
        self.factor = as_config(factor)
        self.value_range = value_range_pair(value_range, "RandomBrightness")

    def _augment(self, x: Tensor, rng: np.random.Generator) -> Tensor:
        low, high = self.value_range
        delta = rng.uniform(*self._range, (x.shape[0], 1, 1, 1)) * (high - low)   # one per image
        return (x + delta.astype(x.dtype)).clip(low, high)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor, "value_range": list(self.value_range)}
