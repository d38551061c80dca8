"""Session 7 audit of conv2d and pooling: integer sums that wrapped, empty images, padding messages, dtypes."""
from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import require_torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_pool import make_input, pool_cases, torch_pool

import tinygrad_cnn as tc

NARROW = [np.bool_, np.uint8, np.int8, np.uint16, np.int16, np.int32, np.uint32]


def extreme_values(rng: np.random.Generator, dtype: type, shape: tuple[int, ...]) -> np.ndarray:
    """Values of `dtype` drawn from its whole range (its largest ones included), so that sums overflow it."""
    if dtype is np.bool_:
        return rng.random(shape) < 0.7
    info = np.iinfo(dtype)
    return rng.choice([info.min, info.max, 0, 1, info.max // 3], shape).astype(dtype)


@settings(max_examples=20)
@given(st.sampled_from(NARROW), st.sampled_from(NARROW), st.sampled_from(["valid", "same", 1]),
       st.integers(1, 2), st.sampled_from(["channels_last", "channels_first"]), st.integers(0, 2**16))
def test_narrow_integers_convolve_without_wrapping_around(x_dtype, k_dtype, padding, strides, data_format, seed):
    """bool and integer types under 64 bits add their products in int64 (uint8 x uint8 wrapped: 9 * 255 -> 247)."""
    rng = np.random.default_rng(seed)
    shape = (2, 5, 4, 3) if data_format == "channels_last" else (2, 3, 5, 4)
    x, kernel = extreme_values(rng, x_dtype, shape), extreme_values(rng, k_dtype, (3, 2, 3, 2))
    options = dict(strides=strides, padding=padding, data_format=data_format)
    y = tc.conv2d(x, kernel, **options)
    exact = tc.conv2d(x.astype(np.int64), kernel.astype(np.int64), **options)   # int64 is exact here
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y.numpy(), exact.numpy())
    kernel_t = kernel.transpose(0, 1, 3, 2)                                       # (kh, kw, filters, in_channels)
    back = tc.conv2d_transpose(x, kernel_t, strides=strides, padding=padding if padding != 1 else "valid",
                               data_format=data_format)
    back_exact = tc.conv2d_transpose(x.astype(np.int64), kernel_t.astype(np.int64), strides=strides,
                                     padding=padding if padding != 1 else "valid", data_format=data_format)
    assert back.dtype == np.int64
    np.testing.assert_array_equal(back.numpy(), back_exact.numpy())


def test_an_8_bit_image_with_an_8_bit_kernel():
    image = np.full((1, 4, 4, 1), 255, np.uint8)
    y = tc.conv2d(image, np.ones((3, 3, 1, 1), np.uint8), np.ones(1, np.int8))
    assert y.dtype == np.int64 and (y.numpy() == 9 * 255 + 1).all()


EMPTY = [
    ("conv2d", lambda x: tc.conv2d(x, np.ones((3, 3, 1, 2)), padding=2)),
    ("conv2d", lambda x: tc.conv2d(x, np.ones((3, 3, 1, 2)), padding="same")),
    ("max_pool2d", lambda x: tc.max_pool2d(x, 3, 1, padding=2)),   # was -inf everywhere: the padding won
    ("max_pool2d", lambda x: tc.max_pool2d(x, 2, padding="same")),
    ("avg_pool2d", lambda x: tc.avg_pool2d(x, 3, 1, padding=((2, 2), (0, 0)))),
]


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("name, op", EMPTY)
def test_an_image_without_pixels_is_refused(name, op, data_format):
    """As PyTorch does: padding alone would make windows of nothing but padding (max-pool gave -inf)."""
    x = np.zeros((1, 0, 5, 1))
    if data_format == "channels_first":
        x = x.transpose(0, 3, 1, 2)

    def run(x):
        return op(x) if data_format == "channels_last" else op(tc.Tensor(x).transpose(0, 2, 3, 1))
    with pytest.raises(ValueError, match=r"the input has no pixels \(H=0, W=5\): a (kernel|pool window) needs "
                                         r"an image at least 1 high and 1 wide"):
        run(x)


@pytest.mark.parametrize("padding", [(1, 1, 1, 1), (1, 1, 1), ((1,), (1, 1)), ((1, 1), (1, 1), (0, 0)),
                                     (1.0, 1), ((1, 1), (1.5, 1)), []])
@pytest.mark.parametrize("op", [lambda x, padding: tc.conv2d(x, np.ones((2, 2, 1, 1)), padding=padding),
                                lambda x, padding: tc.max_pool2d(x, 2, padding=padding)])
def test_padding_of_no_known_form_gets_every_form_in_the_message(op, padding):
    """(1, 1, 1, 1) (PyTorch's F.pad) was told only 'an int or a pair of ints (height, width)'."""
    message = ("padding must be 'valid', 'same', an int, a pair of ints (vertical, horizontal) or a pair of pairs "
               f"of ints ((top, bottom), (left, right)), got {padding!r}")
    with pytest.raises(TypeError) as error:
        op(np.ones((1, 5, 5, 1)), padding)
    assert str(error.value) == message


@pytest.mark.parametrize("padding, pads", [(((1, -1), (0, 0)), "(top, bottom)"), (((0, 0), (-2, 1)), "(left, right)")])
def test_negative_padding_names_its_side(padding, pads):
    with pytest.raises(ValueError, match=re.escape(f"padding {pads} must be at least 0 in both directions")):
        tc.conv2d(np.ones((1, 5, 5, 1)), np.ones((2, 2, 1, 1)), padding=padding)


def test_mixed_float_types_promote_and_each_gradient_keeps_its_inputs_type():
    """float32 x with a float64 kernel: NumPy's promotion (float64), as docs/convolution.md says."""
    rng = np.random.default_rng(0)
    x = tc.Tensor(rng.standard_normal((2, 6, 5, 3)).astype(np.float32), requires_grad=True)
    kernel = tc.Tensor(rng.standard_normal((3, 3, 3, 4)), requires_grad=True)
    bias = tc.Tensor(rng.standard_normal(4).astype(np.float32), requires_grad=True)
    y = tc.conv2d(x, kernel, bias, strides=2, padding="same")
    exact = tc.conv2d(x.numpy().astype(np.float64), kernel.numpy(), bias.numpy().astype(np.float64), strides=2,
                      padding="same")
    assert y.dtype == np.float64
    np.testing.assert_allclose(y.numpy(), exact.numpy(), rtol=1e-12, atol=1e-12)
    grads = tc.grad(y, [x, kernel, bias], rng.standard_normal(y.shape))
    assert [g.dtype for g in grads] == [np.float32, np.float64, np.float32]


@settings(max_examples=15)
@given(st.integers(1, 3), st.integers(2, 3), st.integers(1, 2), st.integers(1, 4), st.integers(0, 2**16))
def test_one_channel_and_one_output_column_in_float32(n, stride, dilation, filters, seed):
    """A geometry where PyTorch 2.13's float32 conv2d (oneDNN) returns garbage: one channel whose stride is
    not H * W (an NHWC array permuted to NCHW), stride (1, s > 1) and a 1-column output. Ours against its
    float64 result (which is right) on 1 and 2 threads."""
    torch = require_torch()
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 14, 4, 1)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 1, filters)).astype(np.float32)
    x_t = torch.tensor(x, dtype=torch.float64).permute(0, 3, 1, 2)
    k_t = torch.tensor(kernel, dtype=torch.float64).permute(3, 2, 0, 1)
    y_t = torch.nn.functional.conv2d(x_t, k_t, stride=(1, stride), dilation=(dilation, 1)).permute(0, 2, 3, 1)
    assert y_t.shape[2] == 1
    before = tc.get_num_threads()
    try:
        for threads in (1, 2):
            tc.set_num_threads(threads)
            y = tc.conv2d(x, kernel, strides=(1, stride), dilation_rate=(dilation, 1))
            assert y.dtype == np.float32
            np.testing.assert_allclose(y.numpy(), y_t.numpy(), rtol=1e-5, atol=1e-5)
    finally:
        tc.set_num_threads(before)


@settings(max_examples=20)
@given(pool_cases(max_size=9), st.sampled_from(["max", "avg"]))
def test_pool_second_order_matches_torch(case, kind):
    """The gradient of <gx, u> wrt x and the upstream gradient (a double-backward), against PyTorch."""
    torch = require_torch()
    case["dtype"] = np.float64
    rng, x = make_input(case)                                   # a permutation: no ties
    pool = tc.max_pool2d if kind == "max" else tc.avg_pool2d
    y_shape = pool(x, case["size"], case["strides"], case["padding"], case["data_format"]).shape
    upstream, u = rng.standard_normal(y_shape), rng.standard_normal(x.shape)
    ours = [tc.Tensor(a, requires_grad=True) for a in (x, upstream)]
    y = pool(ours[0], case["size"], case["strides"], case["padding"], case["data_format"])
    (gx,) = tc.grad(y, [ours[0]], ours[1], create_graph=True)
    second = tc.grad((gx * u).sum(), ours, allow_unused=True)
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, upstream)]
    (gx_t,) = torch.autograd.grad(torch_pool(torch, kind, theirs[0], case), [theirs[0]], theirs[1],
                                  create_graph=True)
    second_t = torch.autograd.grad((gx_t * torch.tensor(u)).sum(), theirs, allow_unused=True)
    for name, g, g_t in zip(["x", "upstream"], second, second_t):
        expected = np.zeros(ours[name == "upstream"].shape) if g_t is None else g_t.numpy()
        got = np.zeros(expected.shape) if g is None else g.numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10, err_msg=name)
