"""Window geometry: normalise strides, dilation, padding and data_format; compute output sizes.

Every check raises with the shapes and the arithmetic, so that a bad layer configuration
explains itself (which side is too small, by how much, and what the numbers were).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..arguments import is_int

Pair = tuple[int, int]
Padding = tuple[Pair, Pair]   # ((top, bottom), (left, right))

DATA_FORMATS = ("channels_last", "channels_first")
PADDING_STRINGS = ("valid", "same")


@dataclass(frozen=True)
class Geometry:
    """Where the windows of a sliding-window op (convolution or pooling) fall on an input."""

    in_hw: Pair        # input height and width (unpadded)
    kernel: Pair       # window height and width (undilated)
    strides: Pair
    dilation: Pair
    padding: Padding   # ((top, bottom), (left, right))
    out_hw: Pair

    @property
    def padded_hw(self) -> Pair:
        (top, bottom), (left, right) = self.padding
        return self.in_hw[0] + top + bottom, self.in_hw[1] + left + right

    @property
    def is_padded(self) -> bool:
        return any(self.padding[0]) or any(self.padding[1])

    @property
    def tiles(self) -> bool:
        """True when the windows tile the input: no padding, no overlap, no gaps, no dilation."""
        return self.strides == self.kernel and self.dilation == (1, 1) and not self.is_padded

    def offset(self, i: int, j: int) -> tuple[slice, slice]:
        """Rows and columns of the padded input seen by kernel tap (i, j) across all windows."""
        (sh, sw), (dh, dw), (oh, ow) = self.strides, self.dilation, self.out_hw
        return (slice(i * dh, i * dh + (oh - 1) * sh + 1, sh),
                slice(j * dw, j * dw + (ow - 1) * sw + 1, sw))

    def __repr__(self) -> str:  # compact, for graph labels and error messages
        return (f"Geometry(in={self.in_hw}, kernel={self.kernel}, strides={self.strides}, "
                f"dilation={self.dilation}, padding={self.padding}, out={self.out_hw})")


def pair(value: Any, argument: str, minimum: int = 1) -> Pair:
    """An int or a pair of ints as (height, width), each at least `minimum`."""
    if type(value) is int and value >= minimum:   # the common case, checked in one step
        return value, value
    values = (value, value) if is_int(value) else value
    if not isinstance(values, (tuple, list)) or len(values) != 2 or not all(is_int(v) for v in values):
        raise TypeError(f"{argument} must be an int or a pair of ints (height, width), got {value!r}")
    if min(values) < minimum:
        raise ValueError(f"{argument} must be at least {minimum} in both directions, got {value!r}")
    return int(values[0]), int(values[1])


def check_data_format(data_format: Any) -> str:
    """'channels_last' (N, H, W, C) or 'channels_first' (N, C, H, W), in any case (as Keras), lower-cased."""
    if not isinstance(data_format, str) or data_format.lower() not in DATA_FORMATS:
        raise ValueError(f"data_format must be 'channels_last' (N, H, W, C) or 'channels_first' "
                         f"(N, C, H, W), got {data_format!r}")
    return data_format.lower()


def _is_pair(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and len(value) == 2 and all(is_int(v) for v in value)


def explicit_padding(padding: Any) -> Padding:
    """An int, a pair (vertical, horizontal) or ((top, bottom), (left, right)) as the last form."""
    if is_int(padding) or _is_pair(padding):
        vertical, horizontal = pair(padding, "padding", minimum=0)
        return (vertical, vertical), (horizontal, horizontal)
    if isinstance(padding, (tuple, list)) and len(padding) == 2 and all(is_int(p) or _is_pair(p) for p in padding):
        return pair(padding[0], "padding (top, bottom)", 0), pair(padding[1], "padding (left, right)", 0)
    raise TypeError(f"padding must be 'valid', 'same', an int, a pair of ints (vertical, horizontal) or a pair of "
                    f"pairs of ints ((top, bottom), (left, right)), got {padding!r}")


def same_padding(size: int, window: int, stride: int) -> Pair:
    """TensorFlow's 'same': ceil(size / stride) outputs, the odd pixel of padding after (bottom/right)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


def window_geometry(in_hw: Pair, kernel: Pair, strides: Any, dilation: Any, padding: Any,
                    what: str = "kernel") -> Geometry:
    """Check the arguments of a sliding-window op and compute where its windows fall."""
    strides, dilation = pair(strides, "strides"), pair(dilation, "dilation_rate")
    if min(in_hw) < 1:   # padding alone would make windows of nothing but padding
        raise ValueError(f"the input has no pixels (H={in_hw[0]}, W={in_hw[1]}): a {what} needs an image "
                         "at least 1 high and 1 wide")
    effective = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilation))
    if isinstance(padding, str):
        if padding.lower() not in PADDING_STRINGS:
            raise ValueError(f"padding must be 'valid' or 'same' (or explicit sizes), got {padding!r}")
        if padding.lower() == "same":
            pads = tuple(same_padding(n, e, s) for n, e, s in zip(in_hw, effective, strides))
        else:
            pads = ((0, 0), (0, 0))
    else:
        pads = explicit_padding(padding)
    out = []
    for axis, (n, k, e, s, (before, after)) in enumerate(zip(in_hw, kernel, effective, strides, pads)):
        padded = n + before + after
        if e > padded:
            size, name = ("high", "H") if axis == 0 else ("wide", "W")
            dilated = f" (dilated: {e})" if e != k else ""
            raise ValueError(f"the {what} is {k} {size}{dilated} but the padded input is only "
                             f"{padded} {size} ({name}={n} + padding {before} + {after}); use a smaller "
                             f"{what}, more padding or padding='same'")
        out.append((padded - e) // s + 1)
    return Geometry(tuple(in_hw), tuple(kernel), strides, dilation, pads, tuple(out))


def check_rank(x: Any, argument: str, layout: str) -> None:
    """A 4-D tensor, or a ValueError naming the expected layout."""
    if x.ndim != 4:
        raise ValueError(f"{argument} must be 4-D {layout}, got shape {x.shape} ({x.ndim}-D)")


def spatial_layout(data_format: str) -> str:
    """The layout string used in error messages."""
    return "(N, H, W, C)" if data_format == "channels_last" else "(N, C, H, W)"
