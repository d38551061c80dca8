"""Pooling layers: a window's maximum or average (MaxPooling2D, AveragePooling2D) or the whole map's (Global*)."""
from __future__ import annotations

from typing import Any

from ..arguments import flag, one_of
from ..conv import avg_pool2d, global_avg_pool2d, global_max_pool2d, max_pool2d
from ..conv.geometry import PADDING_STRINGS, pair
from ..tensor import Tensor
from .base import Layer
from .conv import window_output_shape
from .core import image_data_format
from .receptive_field import WHOLE_INPUT, ReceptiveField
from .shapes import Shape


class _Pooling2D(Layer):
    """A `pool_size` window moved by `strides` (default: the window size); no weights."""

    ndim = 4
    pool: Any  # the functional op, set by each subclass

    def __init__(self, pool_size: Any = (2, 2), strides: Any = None, padding: str = "valid",
                 data_format: str | None = None, name: str | None = None, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)   # name fifth, as in Keras 3's pooling layers
        owner = type(self).__name__
        self.pool_size = pair(pool_size, f"{owner}: pool_size")
        self.strides = self.pool_size if strides is None else pair(strides, f"{owner}: strides")
        self.padding = one_of(padding, PADDING_STRINGS, "padding", owner)
        self.data_format = image_data_format(data_format, owner)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        channels = input_shape[-1 if self.data_format == "channels_last" else 1]
        return window_output_shape(self, input_shape, self.pool_size, channels, self.strides, self.padding,
                                   (1, 1), self.data_format, "pool window")

    def call(self, x: Tensor, training: bool) -> Tensor:
        return self.pool(x, self.pool_size, strides=self.strides, padding=self.padding,
                         data_format=self.data_format)

    def receptive_field(self, field: ReceptiveField) -> ReceptiveField:
        return field.through(self.pool_size, self.strides)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding, "data_format": self.data_format}


class MaxPooling2D(_Pooling2D):
    """The maximum of each window."""

    pool = staticmethod(max_pool2d)


class AveragePooling2D(_Pooling2D):
    """The mean of each window."""

    pool = staticmethod(avg_pool2d)


class _GlobalPooling2D(Layer):
    """One value per channel over the whole feature map: (N, H, W, C) -> (N, C) (or (N, 1, 1, C) with keepdims)."""

    ndim = 4
    pool: Any  # the functional op, set by each subclass

    def __init__(self, data_format: str | None = None, keepdims: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = image_data_format(data_format, type(self).__name__)
        self.keepdims = flag(keepdims, "keepdims", type(self).__name__)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        channels_last = self.data_format == "channels_last"
        if not self.keepdims:
            return input_shape[0], input_shape[-1 if channels_last else 1]
        return (input_shape[0], 1, 1, input_shape[3]) if channels_last else (*input_shape[:2], 1, 1)

    def call(self, x: Tensor, training: bool) -> Tensor:
        return self.pool(x, data_format=self.data_format, keepdims=self.keepdims)

    def receptive_field(self, field: ReceptiveField) -> ReceptiveField:
        return WHOLE_INPUT

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling2D(_GlobalPooling2D):
    """The mean of each channel."""

    pool = staticmethod(global_avg_pool2d)


class GlobalMaxPooling2D(_GlobalPooling2D):
    """The maximum of each channel."""

    pool = staticmethod(global_max_pool2d)
