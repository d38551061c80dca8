"""Conv2D: a bank of learned filters slid over the image (Keras's layer on top of `tc.conv.conv2d`)."""
from __future__ import annotations

from typing import Any

from ..arguments import one_of, positive_int
from ..conv import conv2d
from ..conv.geometry import PADDING_STRINGS, pair, window_geometry
from ..tensor import Tensor
from .base import Layer
from .core import KernelLayer, image_data_format
from .receptive_field import ReceptiveField
from .shapes import Shape, format_shape


def window_output_shape(layer: Layer, input_shape: Shape, window: tuple[int, int], channels: int | None,
                        strides: tuple[int, int], padding: str, dilation: tuple[int, int], data_format: str,
                        what: str) -> Shape:
    """The output shape of a sliding window over (N, H, W, C) or (N, C, H, W); unknown sizes stay None."""
    channels_last = data_format == "channels_last"
    in_hw = input_shape[1:3] if channels_last else input_shape[2:4]
    out_hw: tuple[int | None, ...] = (None, None)
    if in_hw != (None, None):
        # the axes are independent: an unknown size stands in as one window's extent, and its output stays None
        extents = [(k - 1) * d + 1 for k, d in zip(window, dilation)]
        try:
            geometry = window_geometry(tuple(e if n is None else n for n, e in zip(in_hw, extents)), window,
                                       strides, dilation, padding, what)
        except ValueError as e:
            raise ValueError(f"{layer._describe()} on input {format_shape(input_shape)}: {e}") from None
        out_hw = tuple(None if n is None else size for n, size in zip(in_hw, geometry.out_hw))
    return (input_shape[0], *out_hw, channels) if channels_last else (input_shape[0], channels, *out_hw)


def known_channels(layer: Layer, input_shape: Shape, axis: int) -> int:
    """The number of input channels the weights are made for: known and positive, or a ValueError."""
    channels = input_shape[axis]
    if not channels:
        raise ValueError(f"{layer._describe()}: the input {format_shape(input_shape)} ({layer.data_format}) "
                         f"needs a known, positive number of channels, got {channels}")
    return channels


def window_arguments(owner: str, kernel_size: Any, strides: Any, padding: Any,
                     dilation_rate: Any) -> tuple[tuple[int, int], tuple[int, int], str, tuple[int, int]]:
    """A convolution layer's kernel_size, strides, padding and dilation_rate, checked; errors name `owner`."""
    return (pair(kernel_size, f"{owner}: kernel_size"), pair(strides, f"{owner}: strides"),
            one_of(padding, PADDING_STRINGS, "padding", owner), pair(dilation_rate, f"{owner}: dilation_rate"))


class Conv2D(KernelLayer):
    """`filters` kernels of `kernel_size` over (N, H, W, C) images (or (N, C, H, W) with channels_first).

    Weights: kernel (kh, kw, C // groups, filters) and bias (filters,), so the layer has
    filters * (C // groups * kh * kw + 1) parameters.
    """

    ndim = 4

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1), padding: str = "valid",
                 data_format: str | None = None, dilation_rate: Any = (1, 1), groups: int = 1,
                 activation: Any = None, use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 bias_initializer: Any = "zeros", kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, kernel_constraint: Any = None, bias_constraint: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                         bias_regularizer, kernel_constraint, bias_constraint,
                         activity_regularizer=activity_regularizer, **kwargs)
        self.filters = positive_int(filters, "filters", "Conv2D")
        self.kernel_size, self.strides, self.padding, self.dilation_rate = window_arguments(
            "Conv2D", kernel_size, strides, padding, dilation_rate)
        self.groups = positive_int(groups, "groups", "Conv2D")
        if self.filters % self.groups:
            raise ValueError(f"Conv2D: filters ({self.filters}) must be divisible by groups ({self.groups})")
        self.data_format = image_data_format(data_format, "Conv2D")

    @property
    def channel_axis(self) -> int:
        return -1 if self.data_format == "channels_last" else 1

    def _create_weights(self, input_shape: Shape) -> None:
        channels = input_shape[self.channel_axis]
        if not channels or channels % self.groups:
            raise ValueError(f"{self._describe()}: the input {format_shape(input_shape)} ({self.data_format}) has "
                             f"{channels} channels, which must be positive and divisible by groups ({self.groups})")
        self._add_kernel_and_bias((*self.kernel_size, channels // self.groups, self.filters))  # (kh, kw, C/g, F)

    def _fixed_axes(self) -> tuple[int, ...]:
        return (self.channel_axis,)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return window_output_shape(self, input_shape, self.kernel_size, self.filters, self.strides,
                                   self.padding, self.dilation_rate, self.data_format, "kernel")

    def call(self, x: Tensor, training: bool) -> Tensor:
        y = conv2d(x, self.kernel, self.bias, strides=self.strides, padding=self.padding,
                   dilation_rate=self.dilation_rate, groups=self.groups, data_format=self.data_format)
        return self.activation(y)

    def param_formula(self) -> str:
        kh, kw = self.kernel_size
        window = f"{self.input_shape[self.channel_axis] // self.groups}*{kh}*{kw}"
        return f"{self.filters}*({window}{'+1' if self.use_bias else ''})={self.count_params()}"

    def receptive_field(self, field: ReceptiveField) -> ReceptiveField:
        return field.through(self.kernel_size, self.strides, self.dilation_rate)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding, "dilation_rate": list(self.dilation_rate),
                "groups": self.groups, "data_format": self.data_format}
