"""Conv2DTranspose: learned upsampling, the transposed convolution (Keras's layer on `tc.conv2d_transpose`)."""
from __future__ import annotations

from typing import Any

from ..arguments import positive_int
from ..conv import conv2d_transpose
from ..conv.conv_transpose import check_output_padding, transposed_size
from ..tensor import Tensor
from .conv import known_channels, window_arguments
from .core import KernelLayer, image_data_format
from .receptive_field import ReceptiveField
from .shapes import Shape, format_shape


class Conv2DTranspose(KernelLayer):
    """`filters` kernels of `kernel_size` spread from each pixel of (N, H, W, C) images over a larger output
    (strides apart): the transpose of Conv2D, e.g. to upsample in a decoder.

    Weights: kernel (kh, kw, filters, C) and bias (filters,): filters * (C * kh * kw + 1) parameters.
    The arguments come in Keras 3's order, the constraints after the regularizers; output_padding, which
    Keras 3 takes as a keyword only (tf.keras had it fifth), comes after them.
    """

    ndim = 4

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1), padding: str = "valid",
                 data_format: str | None = None, dilation_rate: Any = (1, 1), activation: Any = None,
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None, activity_regularizer: Any = None,
                 kernel_constraint: Any = None, bias_constraint: Any = None, *, output_padding: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                         bias_regularizer, kernel_constraint, bias_constraint,
                         activity_regularizer=activity_regularizer, **kwargs)
        self.filters = positive_int(filters, "filters", "Conv2DTranspose")
        self.kernel_size, self.strides, self.padding, self.dilation_rate = window_arguments(
            "Conv2DTranspose", kernel_size, strides, padding, dilation_rate)
        self.output_padding = check_output_padding(output_padding, self.strides, "Conv2DTranspose: ")
        self.data_format = image_data_format(data_format, "Conv2DTranspose")

    @property
    def channel_axis(self) -> int:
        return -1 if self.data_format == "channels_last" else 1

    def _create_weights(self, input_shape: Shape) -> None:
        channels = known_channels(self, input_shape, self.channel_axis)
        self.kernel = self.add_weight("kernel", (*self.kernel_size, self.filters, channels),  # (kh, kw, F, C)
                                      self.kernel_initializer, regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def _fixed_axes(self) -> tuple[int, ...]:
        return (self.channel_axis,)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        channels_last = self.data_format == "channels_last"
        extras = self.output_padding or (None, None)
        out_hw = []
        for axis, n in enumerate(input_shape[1:3] if channels_last else input_shape[2:4]):
            try:
                out_hw.append(None if n is None else transposed_size(
                    n, self.kernel_size[axis], self.strides[axis], self.dilation_rate[axis], self.padding,
                    extras[axis], axis))
            except ValueError as e:
                raise ValueError(f"{self._describe()} on input {format_shape(input_shape)}: {e}") from None
        n = input_shape[0]
        return (n, *out_hw, self.filters) if channels_last else (n, self.filters, *out_hw)

    def call(self, x: Tensor, training: bool) -> Tensor:
        y = conv2d_transpose(x, self.kernel, self.bias, strides=self.strides, padding=self.padding,
                             output_padding=self.output_padding, dilation_rate=self.dilation_rate,
                             data_format=self.data_format)
        return self.activation(y)

    def param_formula(self) -> str:
        (kh, kw), channels = self.kernel_size, self.input_shape[self.channel_axis]
        return f"{self.filters}*({channels}*{kh}*{kw}{'+1' if self.use_bias else ''})={self.count_params()}"

    def receptive_field(self, field: ReceptiveField) -> ReceptiveField:
        return field.transposed(self.kernel_size, self.strides, self.dilation_rate)

    def get_config(self) -> dict[str, Any]:
        output_padding = None if self.output_padding is None else list(self.output_padding)
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding, "output_padding": output_padding,
                "data_format": self.data_format, "dilation_rate": list(self.dilation_rate)}
