"""DepthwiseConv2D and SeparableConv2D: convolutions that filter each input channel on its own.

A depthwise convolution gives every input channel its own `depth_multiplier` filters, which see that
channel alone: conv2d with groups = C. A separable convolution follows it with a pointwise (1x1)
convolution that mixes the channels, far fewer weights than a full convolution of the same window.
"""
from __future__ import annotations

from typing import Any

from .. import constraints, initializers, regularizers
from ..arguments import positive_int
from ..conv import conv2d
from ..tensor import Tensor
from .conv import known_channels, window_arguments, window_output_shape
from .core import KernelLayer, image_data_format, layer_argument, layer_regularizer
from .receptive_field import ReceptiveField
from .shapes import Shape


class _Depthwise(KernelLayer):
    """The depthwise step both layers share; KernelLayer's kernel initializer, regularizer and constraint are the
    depthwise ones."""

    ndim = 4

    def __init__(self, kernel_size: Any, strides: Any, padding: str, depth_multiplier: int, data_format: str | None,
                 dilation_rate: Any, activation: Any, use_bias: bool, depthwise_initializer: Any,
                 bias_initializer: Any, depthwise_regularizer: Any, bias_regularizer: Any, depthwise_constraint: Any,
                 bias_constraint: Any, **kwargs: Any) -> None:
        owner = type(self).__name__
        super().__init__(activation, use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer,
                         bias_regularizer, depthwise_constraint, bias_constraint, kernel="depthwise", **kwargs)
        self.kernel_size, self.strides, self.padding, self.dilation_rate = window_arguments(
            owner, kernel_size, strides, padding, dilation_rate)
        self.depth_multiplier = positive_int(depth_multiplier, "depth_multiplier", owner)
        self.data_format = image_data_format(data_format, owner)

    @property
    def depthwise_initializer(self) -> Any:
        return self.kernel_initializer

    @property
    def depthwise_regularizer(self) -> Any:
        return self.kernel_regularizer

    @property
    def depthwise_constraint(self) -> Any:
        return self.kernel_constraint

    @property
    def channel_axis(self) -> int:
        return -1 if self.data_format == "channels_last" else 1

    def _add_depthwise_kernel(self, name: str, channels: int) -> Tensor:
        return self.add_weight(name, (*self.kernel_size, channels, self.depth_multiplier), self.kernel_initializer,
                               regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)

    def _fixed_axes(self) -> tuple[int, ...]:
        return (self.channel_axis,)

    def _window_shape(self, input_shape: Shape, channels: int | None) -> Shape:
        return window_output_shape(self, input_shape, self.kernel_size, channels, self.strides, self.padding,
                                   self.dilation_rate, self.data_format, "kernel")

    def _depthwise(self, x: Tensor, kernel: Tensor, bias: Tensor | None) -> Tensor:
        """Each channel c through its own filters c * M ... c * M + M - 1: conv2d with groups = C."""
        kh, kw, channels, multiplier = kernel.shape
        # (kh, kw, C, M) -> (kh, kw, 1, C * M): filter c * M + m is the kernel of group (channel) c
        grouped = kernel.reshape(kh, kw, 1, channels * multiplier)
        return conv2d(x, grouped, bias, strides=self.strides, padding=self.padding, dilation_rate=self.dilation_rate,
                      groups=channels, data_format=self.data_format)

    def receptive_field(self, field: ReceptiveField) -> ReceptiveField:
        return field.through(self.kernel_size, self.strides, self.dilation_rate)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["depthwise_initializer"] = config.pop("kernel_initializer")
        config["depthwise_regularizer"] = config.pop("kernel_regularizer")
        config["depthwise_constraint"] = config.pop("kernel_constraint")
        return {**config, "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, "depth_multiplier": self.depth_multiplier, "data_format": self.data_format,
                "dilation_rate": list(self.dilation_rate)}


class DepthwiseConv2D(_Depthwise):
    """`depth_multiplier` filters of `kernel_size` per input channel, each seeing only its channel
    (N, H, W, C) -> (N, H', W', C * depth_multiplier); output channel c * M + m is filter m of channel c.

    Weights (Keras 3's names): kernel (kh, kw, C, M) and bias (C * M,): C * M * (kh * kw + 1) parameters.
    """

    def __init__(self, kernel_size: Any, strides: Any = (1, 1), padding: str = "valid", depth_multiplier: int = 1,
                 data_format: str | None = None, dilation_rate: Any = (1, 1), activation: Any = None,
                 use_bias: bool = True, depthwise_initializer: Any = "glorot_uniform",
                 bias_initializer: Any = "zeros", depthwise_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, depthwise_constraint: Any = None, bias_constraint: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, activation,
                         use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer, bias_regularizer,
                         depthwise_constraint, bias_constraint, activity_regularizer=activity_regularizer, **kwargs)

    @property
    def depthwise_kernel(self) -> Tensor | None:
        """The kernel under tf.keras 2's name."""
        return self.kernel

    def _create_weights(self, input_shape: Shape) -> None:
        channels = known_channels(self, input_shape, self.channel_axis)
        self.kernel = self._add_depthwise_kernel("kernel", channels)
        if self.use_bias:
            self.bias = self.add_weight("bias", (channels * self.depth_multiplier,), self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        channels = input_shape[self.channel_axis]
        return self._window_shape(input_shape, None if channels is None else channels * self.depth_multiplier)

    def call(self, x: Tensor, training: bool) -> Tensor:
        return self.activation(self._depthwise(x, self.kernel, self.bias))

    def param_formula(self) -> str:
        (kh, kw), channels = self.kernel_size, self.input_shape[self.channel_axis]
        window = f"{kh}*{kw}{'+1' if self.use_bias else ''}"
        return f"{channels}*{self.depth_multiplier}*({window})={self.count_params()}"


class SeparableConv2D(_Depthwise):
    """A depthwise convolution (depth_multiplier filters of kernel_size per channel) followed by a pointwise
    1x1 convolution to `filters` channels, then the bias and the activation.

    Weights: depthwise_kernel (kh, kw, C, M), pointwise_kernel (1, 1, C * M, filters), bias (filters,):
    kh * kw * C * M + C * M * filters + filters parameters.
    """

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1), padding: str = "valid",
                 data_format: str | None = None, dilation_rate: Any = (1, 1), depth_multiplier: int = 1,
                 activation: Any = None, use_bias: bool = True, depthwise_initializer: Any = "glorot_uniform",
                 pointwise_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 depthwise_regularizer: Any = None, pointwise_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, depthwise_constraint: Any = None, pointwise_constraint: Any = None,
                 bias_constraint: Any = None, **kwargs: Any) -> None:
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format, dilation_rate, activation,
                         use_bias, depthwise_initializer, bias_initializer, depthwise_regularizer, bias_regularizer,
                         depthwise_constraint, bias_constraint, activity_regularizer=activity_regularizer, **kwargs)
        self.filters = positive_int(filters, "filters", "SeparableConv2D")
        self.pointwise_initializer = layer_argument(initializers.get, pointwise_initializer, "pointwise_initializer",
                                                    "SeparableConv2D")
        self.pointwise_regularizer = layer_regularizer(pointwise_regularizer, "pointwise_regularizer",
                                                       "SeparableConv2D")
        self.pointwise_constraint = layer_argument(constraints.get, pointwise_constraint, "pointwise_constraint",
                                                   "SeparableConv2D")
        self.depthwise_kernel: Tensor | None = None
        self.pointwise_kernel: Tensor | None = None

    def _create_weights(self, input_shape: Shape) -> None:
        channels = known_channels(self, input_shape, self.channel_axis)
        self.depthwise_kernel = self._add_depthwise_kernel("depthwise_kernel", channels)
        self.pointwise_kernel = self.add_weight("pointwise_kernel", (1, 1, channels * self.depth_multiplier,
                                                                     self.filters), self.pointwise_initializer,
                                                regularizer=self.pointwise_regularizer,
                                                constraint=self.pointwise_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return self._window_shape(input_shape, self.filters)

    def call(self, x: Tensor, training: bool) -> Tensor:
        y = self._depthwise(x, self.depthwise_kernel, None)
        # the pointwise step: (N, H', W', C * M) through a 1x1 kernel (1, 1, C * M, filters)
        y = conv2d(y, self.pointwise_kernel, self.bias, data_format=self.data_format)
        return self.activation(y)

    def param_formula(self) -> str:
        (kh, kw), channels, m = self.kernel_size, self.input_shape[self.channel_axis], self.depth_multiplier
        bias = f"+{self.filters}" if self.use_bias else ""
        return f"{kh}*{kw}*{channels}*{m}+{channels}*{m}*{self.filters}{bias}={self.count_params()}"

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters,
                "pointwise_initializer": initializers.config_entry(self.pointwise_initializer),
                "pointwise_regularizer": regularizers.serialize(self.pointwise_regularizer),
                "pointwise_constraint": constraints.serialize(self.pointwise_constraint)}
