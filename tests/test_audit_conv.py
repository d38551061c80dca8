"""Acceptance audit of conv2d and pooling: integer inputs, lists and scalars, and the argument errors."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import require_torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_conv2d import conv_cases, make_inputs, run_ours, torch_conv
from test_pool import pool_cases, torch_pool

import tinygrad_cnn as tc


@settings(max_examples=20)
@given(conv_cases(max_size=9))
def test_integer_images_convolve_exactly(case):
    """Integer x and kernel give the exact integer result; a float kernel and bias make it float32."""
    torch = require_torch()
    rng, x, kernel, bias = make_inputs(case)
    xi, ki = rng.integers(-9, 10, x.shape), rng.integers(-3, 4, kernel.shape)

    def oracle(x, kernel, bias):   # PyTorch in float64, exact for these small integers
        as_t = [None if a is None else torch.tensor(a, dtype=torch.float64) for a in (x, kernel, bias)]
        return torch_conv(torch, *as_t, case).numpy()
    exact = run_ours(xi, ki, None, case)
    assert exact.dtype == np.int64
    np.testing.assert_array_equal(exact.numpy(), oracle(xi, ki, None))
    pixels = (xi + 9).astype(np.uint8)                                         # an 8-bit image
    ours = run_ours(pixels, ki.astype(np.float32), bias, case)                 # bias: the case's dtype or None
    assert ours.dtype == (np.float32 if bias is None else bias.dtype)
    np.testing.assert_allclose(ours.numpy(), oracle(pixels, ki, bias), rtol=1e-5, atol=1e-3)


def test_integer_input_gradient_of_the_kernel_matches_torch(torch):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (3, 9, 8, 2)).astype(np.uint8)
    kernel = tc.Tensor(rng.standard_normal((3, 2, 2, 4)).astype(np.float32), requires_grad=True)
    y = tc.conv2d(pixels, kernel, strides=2, padding="same")
    upstream = rng.standard_normal(y.shape).astype(np.float32)
    (grad,) = tc.grad(y, [kernel], upstream)
    k_t = torch.tensor(kernel.numpy(), requires_grad=True)
    x_t = torch.nn.functional.pad(torch.tensor(pixels, dtype=torch.float32).permute(0, 3, 1, 2), (0, 1, 1, 1))
    y_t = torch.nn.functional.conv2d(x_t, k_t.permute(3, 2, 0, 1).contiguous(), stride=2).permute(0, 2, 3, 1)
    (grad_t,) = torch.autograd.grad(y_t, [k_t], torch.tensor(upstream))
    assert y.dtype == grad.dtype == np.float32
    np.testing.assert_allclose(grad.numpy(), grad_t.numpy(), rtol=1e-4, atol=1e-2)


@pytest.mark.parametrize("kernel", [[[[[0.5]]]], 0.5])
def test_float_lists_are_not_truncated_by_an_integer_input(kernel):
    """A kernel or bias given as Python floats keeps its fractions when x holds integers."""
    x = np.arange(9).reshape(1, 3, 3, 1)
    kernel = np.reshape(kernel, (1, 1, 1, 1)).tolist()
    y = tc.conv2d(x, kernel, [0.25])
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), x * 0.5 + 0.25)


def test_a_float_bias_array_with_integer_x_and_kernel_makes_the_output_float():
    x, kernel = np.ones((1, 3, 3, 1), dtype=np.int64), np.ones((2, 2, 1, 2), dtype=np.int32)
    y = tc.conv2d(x, kernel, np.array([0.5, -1.5], dtype=np.float32))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.numpy()[0, :, :, 0], 4.5)
    np.testing.assert_array_equal(y.numpy()[0, :, :, 1], 2.5)


@pytest.mark.parametrize("kernel_shape", [(0, 3, 1, 2), (3, 0, 1, 2), (3, 3, 0, 2), (3, 3, 1, 0)])
def test_an_empty_kernel_is_an_error(kernel_shape):
    """An empty axis gave an output larger than the input (0 rows) or failed in backward (0 channels or filters)."""
    x = tc.zeros(1, 5, 5, kernel_shape[2], requires_grad=True)
    kernel = tc.zeros(*kernel_shape, requires_grad=True)
    shape = str(kernel_shape).replace("(", r"\(").replace(")", r"\)")
    with pytest.raises(ValueError, match=rf"the kernel {shape} is empty: its height {kernel_shape[0]}, width "
                                         rf"{kernel_shape[1]}, in_channels // groups {kernel_shape[2]} and filters "
                                         rf"{kernel_shape[3]} must all be at least 1"):
        tc.conv2d(x, kernel)


@pytest.mark.parametrize(("arguments", "name"), [((None, np.ones((1, 1, 1, 1))), "x"),
                                                 ((np.ones((1, 3, 3, 1)), None), "kernel"),
                                                 ((np.ones((1, 3, 3, 1)), np.ones((1, 1, 1, 1)), "0"), "bias"),
                                                 ((np.ones((1, 3, 3, 1)), [[[[1.0]]], [[[1.0, 2.0]]]]), "kernel")])
def test_values_that_are_not_numbers_name_their_argument(arguments, name):
    with pytest.raises((TypeError, ValueError), match=rf"^{name} must be a Tensor or an array of numbers"):
        tc.conv2d(*arguments)


@settings(max_examples=20)
@given(pool_cases(max_size=9), st.sampled_from(["max", "avg"]), st.sampled_from([np.int64, np.int8, np.uint8]))
def test_integer_images_pool_like_their_float_values(case, kind, dtype):
    """max_pool2d keeps the integer dtype (padding never wins, even against the dtype's least value);
    avg_pool2d gives float32 means."""
    torch = require_torch()
    info = np.iinfo(dtype)
    rng = np.random.default_rng(case["seed"])
    h, w = case["hw"]
    shape = (case["n"], h, w, case["channels"]) if case["data_format"] == "channels_last" else \
        (case["n"], case["channels"], h, w)
    x = rng.integers(max(info.min, -100), min(info.max, 100), shape, endpoint=True).astype(dtype)
    x.flat[0] = info.min
    fn = tc.max_pool2d if kind == "max" else tc.avg_pool2d
    y = fn(x, case["size"], case["strides"], case["padding"], case["data_format"])
    expected = torch_pool(torch, kind, torch.tensor(x.astype(np.float64)), case).numpy()
    if kind == "max":
        assert y.dtype == dtype
        np.testing.assert_array_equal(y.numpy(), expected)
    else:
        assert y.dtype == np.float32
        np.testing.assert_allclose(y.numpy(), expected, rtol=1e-6, atol=1e-4)


CONV_FORMS = [  # each list: spellings of one geometry that must give the same result
    [dict(strides=2), dict(strides=(2, 2)), dict(strides=[2, 2]), dict(strides=np.int64(2))],
    [dict(padding=1), dict(padding=(1, 1)), dict(padding=((1, 1), (1, 1))), dict(padding=[[1, 1], [1, 1]])],
    [dict(padding="same"), dict(padding="SAME"), dict(padding=((1, 1), (1, 1)))],
    [dict(padding="valid"), dict(padding="Valid"), dict(padding=0), dict()],
    [dict(dilation_rate=2, padding="same"), dict(dilation_rate=(2, 2), padding=((2, 2), (2, 2)))],
]


@pytest.mark.parametrize("forms", CONV_FORMS)
def test_every_spelling_of_a_conv_geometry_agrees(forms):
    rng = np.random.default_rng(4)
    x, kernel = rng.standard_normal((2, 7, 6, 3)), rng.standard_normal((3, 3, 3, 2))
    results = [tc.conv2d(x, kernel, **form).numpy() for form in forms]
    for form, result in zip(forms[1:], results[1:]):
        np.testing.assert_array_equal(result, results[0], err_msg=str(form))


@pytest.mark.parametrize("pool", [tc.max_pool2d, tc.avg_pool2d])
def test_every_spelling_of_a_pool_geometry_agrees(pool):
    x = np.random.default_rng(5).standard_normal((2, 7, 6, 3))
    forms = [lambda: pool(x, 2), lambda: pool(x, (2, 2), (2, 2)), lambda: pool(x, [2, 2], None, "VALID"),
             lambda: pool(x=x, pool_size=np.int64(2), strides=2, padding="valid", data_format="channels_last"),
             lambda: pool(x.transpose(0, 3, 1, 2), 2, data_format="channels_first").transpose(0, 2, 3, 1)]
    results = [form().numpy() for form in forms]
    for result in results[1:]:
        np.testing.assert_array_equal(result, results[0])


def test_max_pool_of_the_whole_image_has_global_max_pools_gradient():
    """The tie rule is Tensor.max's: whole-image windows share gradients exactly as global_max_pool2d."""
    rng = np.random.default_rng(6)
    x = tc.Tensor(rng.integers(0, 3, (3, 4, 5, 2)).astype(np.float64), requires_grad=True)   # many ties
    upstream = rng.standard_normal((3, 2))
    (pooled,) = tc.grad(tc.max_pool2d(x, (4, 5)).reshape(3, 2), [x], upstream)
    (global_,) = tc.grad(tc.global_max_pool2d(x), [x], upstream)
    np.testing.assert_allclose(pooled.numpy(), global_.numpy(), rtol=1e-15, atol=0)


@pytest.mark.parametrize("spelling", ["CHANNELS_FIRST", "Channels_First"])
def test_data_format_in_any_case_as_keras(spelling):
    """Keras lower-cases data_format; the functional ops do too, with the same results."""
    rng = np.random.default_rng(7)
    x, kernel = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((3, 3, 3, 2))
    ops = [lambda f: tc.conv2d(x, kernel, data_format=f), lambda f: tc.max_pool2d(x, 2, data_format=f),
           lambda f: tc.avg_pool2d(x, 2, padding="same", data_format=f),
           lambda f: tc.global_avg_pool2d(x, f), lambda f: tc.global_max_pool2d(x, f, keepdims=True)]
    for op in ops:
        np.testing.assert_array_equal(op(spelling).numpy(), op("channels_first").numpy())
    with pytest.raises(ValueError, match="data_format must be 'channels_last'.*got 'nchw'"):
        tc.conv2d(x, kernel, data_format="nchw")
