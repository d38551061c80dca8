"""Transposed convolution (Keras's Conv2DTranspose): the adjoint of conv2d with respect to its input.

conv2d with a kernel w maps an image of size (OH, OW) to (H, W); its input gradient A_w^T maps
(H, W) back to (OH, OW). conv2d_transpose(x, w) is that map applied to x: each input pixel
spreads its values, weighted by the kernel, over a window of the output, and the windows of
neighbouring pixels lie `strides` apart. So it is ConvInputGrad of conv2d.py under its own name,
and its gradients are conv2d's other two ops: d/dx = conv2d(h, w), d/dw = the kernel gradient.
The kernel is (kh, kw, filters, in_channels), Keras's layout, which is exactly the kernel
(kh, kw, C, F) of that conv2d from `filters` channels to `in_channels`: no relayout.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..tensor import Tensor
from .conv2d import ConvInputGrad, bias_operand, conv_operands
from .geometry import Geometry, Pair, check_data_format, pair

SIDES = (("high", "H"), ("wide", "W"))


class ConvTranspose(ConvInputGrad):
    """A_w^T x for channels_last x (N, H, W, in_channels), w (kh, kw, filters, in_channels).

    `padding` and `output_padding` are conv2d_transpose's own, kept for drawing (the geometry alone is
    that of the conv2d it reverses, which several argument sets can give).
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor, w: Tensor, *, geometry: Geometry, groups: int, in_shape: tuple[int, ...],
                padding: str, output_padding: Pair | None) -> np.ndarray:
        return ConvInputGrad.forward(ctx, x, w, geometry=geometry, groups=groups, in_shape=in_shape)


def transposed_size(n: int, k: int, s: int, d: int, padding: str, extra: int | None, axis: int = 0) -> int:
    """Keras's output length of a transposed convolution along one axis (deconv_output_length).

    Without output_padding: n * s for 'same', n * s + max(k_eff - s, 0) for 'valid'. With it:
    (n - 1) * s + k_eff + extra for 'valid', and for 'same' the same less 2 * (k_eff // 2), the
    padding a 'same' window takes, that is (n - 1) * s + k_eff % 2 + extra (0 is refused).
    """
    effective = (k - 1) * d + 1
    if extra is None:
        return n * s + (max(effective - s, 0) if padding == "valid" else 0)
    out = (n - 1) * s + (effective if padding == "valid" else effective % 2) + extra
    if out < 1:
        size, name = SIDES[axis]
        raise ValueError(f"the output would be {out} {size}: ({name}={n} - 1) * stride {s} + the kernel's "
                         f"{effective} % 2 + output_padding {extra} = {out} with padding='same'; use "
                         f"output_padding=None{', a larger one (below the stride)' if s > 1 else ''} "
                         "or padding='valid'")
    return out


def check_output_padding(output_padding: Any, strides: tuple[int, int], owner: str = "") -> Pair | None:
    """None, or an int or pair of ints >= 0 each smaller than its stride (Keras's rule), as a pair."""
    if output_padding is None:
        return None
    extras = pair(output_padding, f"{owner}output_padding", minimum=0)
    if extras[0] >= strides[0] or extras[1] >= strides[1]:
        raise ValueError(f"{owner}output_padding {extras} must be smaller than strides {strides} in both "
                         "directions (the extra rows and columns would otherwise fit another input pixel)")
    return extras


def transpose_geometry(in_hw: tuple[int, int], kernel: tuple[int, int], strides: Any, dilation: Any,
                       padding: str, output_padding: Any = None) -> Geometry:
    """The geometry of the conv2d whose input gradient the transposed convolution is: its windows fall
    on the transposed convolution's output (`in_hw` of the result) and there is one per input pixel.

    The windows of n inputs span (n - 1) * s + k_eff output pixels; when that is more than the
    output size, the excess is padding, split as TensorFlow's 'same' does (the odd pixel at the
    bottom/right); when it is less, the last output rows get no window (output_padding).
    """
    strides, dilation = pair(strides, "strides"), pair(dilation, "dilation_rate")
    extras = check_output_padding(output_padding, strides) or (None, None)
    out_hw, pads = [], []
    for axis, (n, k, s, d, extra) in enumerate(zip(in_hw, kernel, strides, dilation, extras)):
        out = transposed_size(n, k, s, d, padding, extra, axis)
        total = max((n - 1) * s + (k - 1) * d + 1 - out, 0)
        out_hw.append(out)
        pads.append((total // 2, total - total // 2))
    return Geometry(tuple(out_hw), tuple(kernel), strides, dilation, tuple(pads), tuple(in_hw))


def _check_padding(padding: Any) -> str:
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same' (as Keras's Conv2DTranspose), got {padding!r}; "
                         "for other output sizes use output_padding, or crop the output")
    return padding.lower()


def conv2d_transpose(x: Any, kernel: Any, bias: Any = None, *, strides: Any = 1, padding: str = "valid",
                     output_padding: Any = None, dilation_rate: Any = 1,
                     data_format: str = "channels_last") -> Tensor:
    """Transposed 2-D convolution with Keras conventions; kernel (kh, kw, filters, in_channels)."""
    data_format = check_data_format(data_format)
    x, kernel = conv_operands(x, kernel, data_format, ("filters", "in_channels"))
    n, h, w, channels = x.shape
    kh, kw, filters, in_channels = kernel.shape
    if channels != in_channels:
        raise ValueError(f"the input has {channels} channels but the kernel {kernel.shape} expects {in_channels}; "
                         "a transposed convolution's kernel is (kh, kw, filters, in_channels)")
    if min(h, w) < 1:
        raise ValueError(f"x {x.shape} (as channels_last) has no pixels: its height and width must be at least 1")
    padding = _check_padding(padding)
    geometry = transpose_geometry((h, w), (kh, kw), strides, dilation_rate, padding, output_padding)
    bias = bias_operand(bias, filters, x)
    y = ConvTranspose.apply(x, kernel, geometry=geometry, groups=1, in_shape=(n, *geometry.in_hw, filters),
                            padding=padding, output_padding=check_output_padding(output_padding, geometry.strides))
    if bias is not None:
        y = y + bias   # (filters,) broadcast over (N, OH, OW, filters)
    return y.transpose(0, 3, 1, 2) if data_format == "channels_first" else y
