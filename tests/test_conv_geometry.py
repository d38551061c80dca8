"""Window geometry: output sizes, 'same' placement, the tutorial's shapes, and the error messages."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_cnn as tc


@given(st.integers(1, 40), st.integers(1, 6), st.integers(1, 4), st.integers(1, 3), st.integers(0, 3))
def test_output_sizes_follow_the_formulas(size, kernel, stride, dilation, pad):
    x = tc.zeros(1, size, 3, 1)
    k = tc.zeros(kernel, 1, 1, 2)
    effective = (kernel - 1) * dilation + 1
    same = tc.conv2d(x, k, strides=(stride, 1), dilation_rate=(dilation, 1), padding="same")
    assert same.shape == (1, -(-size // stride), 3, 2)
    if size + 2 * pad >= effective:
        explicit = tc.conv2d(x, k, strides=(stride, 1), dilation_rate=(dilation, 1), padding=(pad, 0))
        assert explicit.shape[1] == (size + 2 * pad - effective) // stride + 1
    else:
        with pytest.raises(ValueError, match=f"the kernel is {kernel} high"):
            tc.conv2d(x, k, strides=(stride, 1), dilation_rate=(dilation, 1), padding=(pad, 0))


def test_same_padding_puts_the_odd_pixel_at_the_bottom_right():
    # a 2x2 window sum over a 3x3 image: 'same' pads one row below and one column right (TensorFlow)
    x = tc.Tensor(np.arange(1.0, 10.0).reshape(1, 3, 3, 1))
    y = tc.conv2d(x, tc.ones(2, 2, 1, 1), padding="same").numpy()[0, :, :, 0]
    image = np.arange(1.0, 10.0).reshape(3, 3)
    padded = np.pad(image, ((0, 1), (0, 1)))
    expected = [[padded[i:i + 2, j:j + 2].sum() for j in range(3)] for i in range(3)]
    np.testing.assert_array_equal(y, expected)
    assert y[2, 2] == 9.0   # the bottom-right window holds only the last pixel


def test_same_padding_with_stride_and_dilation():
    # H=8, k=3 dilated by 2 (5 wide), stride 3: 3 outputs, 3 * 2 + 5 - 8 = 3 padding rows: 1 above, 2 below
    x = tc.Tensor(np.arange(64.0).reshape(1, 8, 8, 1))
    kernel = np.zeros((3, 3, 1, 1))
    kernel[0, 0] = 1.0   # picks the window's top-left tap
    y = tc.conv2d(x, kernel, strides=3, dilation_rate=2, padding="same").numpy()[0, :, :, 0]
    padded = np.pad(np.arange(64.0).reshape(8, 8), ((1, 2), (1, 2)))
    np.testing.assert_array_equal(y, padded[0:7:3, 0:7:3])


def test_padding_forms_agree():
    x, k = tc.randn(2, 6, 5, 3), tc.randn(3, 3, 3, 4)
    a = tc.conv2d(x, k, padding=1).numpy()
    np.testing.assert_array_equal(a, tc.conv2d(x, k, padding=(1, 1)).numpy())
    np.testing.assert_array_equal(a, tc.conv2d(x, k, padding=((1, 1), (1, 1))).numpy())
    np.testing.assert_array_equal(a, tc.conv2d(x, k, padding="same").numpy())
    np.testing.assert_array_equal(tc.conv2d(x, k).numpy(), tc.conv2d(x, k, padding=0).numpy())


def test_the_tutorials_shapes():
    image = tc.randn(1, 7, 7, 1)
    kernel = tc.randn(3, 3, 1, 1)
    assert tc.conv2d(image, kernel).shape == (1, 5, 5, 1)                 # valid: 7 - 3 + 1
    assert tc.conv2d(image, kernel, padding="same").shape == (1, 7, 7, 1)
    assert tc.conv2d(tc.randn(1, 8, 8, 1), kernel, strides=2, padding="same").shape == (1, 4, 4, 1)  # halves
    # the Keras model: 256x256x1, 8 filters 3x3 -> (254, 254, 8) and 8 x (1 x 3 x 3 + 1) = 80 parameters
    big = tc.zeros(1, 256, 256, 1)
    kernel8, bias8 = tc.zeros(3, 3, 1, 8), tc.zeros(8)
    assert tc.conv2d(big, kernel8, bias8).shape == (1, 254, 254, 8)
    assert kernel8.size + bias8.size == 8 * (1 * 3 * 3 + 1) == 80
    # stacking: 8 5x5 stride 3, then 4 3x3 stride 3, then 2 3x3 stride 2
    h = tc.conv2d(big, tc.zeros(5, 5, 1, 8), strides=3)
    assert h.shape == (1, 84, 84, 8)
    h = tc.conv2d(h, tc.zeros(3, 3, 8, 4), strides=3)
    assert h.shape == (1, 28, 28, 4)
    assert tc.conv2d(h, tc.zeros(3, 3, 4, 2), strides=2).shape == (1, 13, 13, 2)
    assert tc.conv2d(big, tc.zeros(5, 5, 1, 8), strides=3, padding="same").shape == (1, 86, 86, 8)
    assert tc.max_pool2d(tc.zeros(1, 9, 9, 2), (3, 3), strides=(3, 3), padding="valid").shape == (1, 3, 3, 2)


def test_channels_first_matches_channels_last():
    x, k, b = tc.randn(2, 7, 6, 4), tc.randn(3, 2, 2, 6), tc.randn(6)
    last = tc.conv2d(x, k, b, strides=2, padding="same", groups=2)
    first = tc.conv2d(x.transpose(0, 3, 1, 2), k, b, strides=2, padding="same", groups=2, data_format="channels_first")
    np.testing.assert_allclose(first.numpy(), last.numpy().transpose(0, 3, 1, 2), rtol=1e-6)


ERRORS = [
    # (x shape, kernel shape, keyword arguments, exception, message pattern)
    ((1, 3, 3, 1), (7, 7, 1, 1), dict(padding=1), ValueError,
     r"the kernel is 7 high but the padded input is only 5 high \(H=3 \+ padding 1 \+ 1\)"),
    ((1, 9, 4, 1), (3, 3, 1, 1), dict(dilation_rate=2), ValueError,
     r"the kernel is 3 wide \(dilated: 5\) but the padded input is only 4 wide \(W=4 \+ padding 0 \+ 0\)"),
    ((1, 5, 5, 1), (3, 3, 1, 1), dict(strides=0), ValueError, r"strides must be at least 1 .* got 0"),
    ((1, 5, 5, 1), (3, 3, 1, 1), dict(dilation_rate=(1, 0)), ValueError, r"dilation_rate must be at least 1"),
    ((1, 5, 5, 3), (3, 3, 2, 4), {}, ValueError, r"the input has 3 channels but the kernel \(3, 3, 2, 4\) expects 2"),
    ((1, 5, 5, 4), (3, 3, 2, 3), dict(groups=2), ValueError, r"groups=2 must divide .* filters \(3\)"),
    ((1, 5, 5, 3), (3, 3, 1, 4), dict(groups=2), ValueError, r"groups=2 must divide both the input channels \(3\)"),
    ((5, 5, 3), (3, 3, 3, 4), {}, ValueError, r"x must be 4-D \(N, H, W, C\), got shape \(5, 5, 3\)"),
    ((1, 3, 5, 5), (3, 3, 3), dict(data_format="channels_first"), ValueError, r"kernel must be 4-D"),
    ((1, 5, 5, 1), (3, 3, 1, 1), dict(padding="full"), ValueError, r"padding must be 'valid' or 'same'"),
    ((1, 5, 5, 1), (3, 3, 1, 1), dict(data_format="NHWC"), ValueError, r"data_format must be 'channels_last'"),
    ((1, 5, 5, 1), (3, 3, 1, 2), dict(bias=np.zeros(3)), ValueError,
     r"bias must have shape \(filters,\) = \(2,\), got \(3,\)"),
    ((1, 5, 5, 1), (3, 3, 1, 1), dict(strides=1.5), TypeError, r"strides must be an int or a pair of ints"),
    ((1, 5, 5, 1), (3, 3, 1, 1), dict(padding=(1.0, 2)), TypeError, r"padding .*ints"),
    ((1, 5, 5, 1), (3, 3, 1, 1), dict(padding=-1), ValueError, r"padding must be at least 0"),
    ((1, 5, 5, 2), (3, 3, 1, 2), dict(groups=2.0), TypeError, r"groups must be a positive int, got float"),
    ((1, 5, 5, 2), (3, 3, 1, 2), dict(groups=0), ValueError, r"groups must be a positive int \(at least 1\), got 0"),
]


@pytest.mark.parametrize(("x_shape", "kernel_shape", "options", "error", "pattern"), ERRORS)
def test_errors_name_the_shapes_and_the_arithmetic(x_shape, kernel_shape, options, error, pattern):
    options = dict(options)
    bias = options.pop("bias", None)
    with pytest.raises(error, match=pattern):
        tc.conv2d(tc.zeros(*x_shape), tc.zeros(*kernel_shape), bias, **options)
