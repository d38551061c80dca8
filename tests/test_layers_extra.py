"""Reshape, Rescaling, ZeroPadding2D, Cropping2D, UpSampling2D, LeakyReLU, ELU, PReLU, SpatialDropout2D:
forward and gradients against PyTorch, finite differences, Keras's shapes and names, configs, files, errors."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import require_torch
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn.layers import (
    ELU,
    Conv2D,
    Cropping2D,
    Dense,
    LeakyReLU,
    MaxPooling2D,
    PReLU,
    Rescaling,
    Reshape,
    SpatialDropout2D,
    UpSampling2D,
    ZeroPadding2D,
    deserialize,
    serialize,
)

seeds = st.integers(0, 2**32 - 1)
formats = st.sampled_from(["channels_last", "channels_first"])
sides = st.one_of(st.integers(0, 3), st.tuples(st.integers(0, 3), st.integers(0, 3)),
                  st.tuples(st.tuples(st.integers(0, 3), st.integers(0, 3)),
                            st.tuples(st.integers(0, 3), st.integers(0, 3))))


@pytest.fixture(autouse=True)
def fresh_names():
    """Default names (reshape, reshape_1, ...) start afresh in every test."""
    tc.clear_session()


def image(seed: int, n: int, h: int, w: int, c: int, data_format: str) -> np.ndarray:
    shape = (n, h, w, c) if data_format == "channels_last" else (n, c, h, w)
    return np.random.default_rng(seed).standard_normal(shape)


def as_nchw(x: np.ndarray, data_format: str) -> np.ndarray:
    return x if data_format == "channels_first" else x.transpose(0, 3, 1, 2)


def from_nchw(x: np.ndarray, data_format: str) -> np.ndarray:
    return x if data_format == "channels_first" else x.transpose(0, 2, 3, 1)


def check_against_torch(layer, x: np.ndarray, torch_fn, seed: int, data_format: str | None = None) -> None:
    """layer(x) and its input gradient (for a random upstream gradient) equal torch_fn's, in float64.

    With `data_format`, torch_fn works on NCHW images and the layer on `data_format` ones."""
    torch = require_torch()
    xt = tc.Tensor(x, requires_grad=True)
    y = layer(xt)
    g = np.random.default_rng(seed + 1).standard_normal(y.shape)
    y.backward(g)
    to, back = ((as_nchw, from_nchw) if data_format else (lambda a, _: a, lambda a, _: a))
    xr = torch.tensor(to(x, data_format), requires_grad=True)
    yr = torch_fn(xr)
    yr.backward(torch.tensor(to(g, data_format)))
    np.testing.assert_allclose(y.numpy(), back(yr.detach().numpy(), data_format), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xt.grad.numpy(), back(xr.grad.numpy(), data_format), rtol=1e-12, atol=1e-12)


def torch_sides(padding) -> tuple[int, int, int, int]:
    """((top, bottom), (left, right)) as torch.nn.functional.pad's (left, right, top, bottom)."""
    layer = ZeroPadding2D(padding)
    (top, bottom), (left, right) = layer.padding
    return left, right, top, bottom


# --- Reshape ---

@settings(max_examples=25)
@given(n=st.integers(0, 3), factors=st.lists(st.integers(1, 4), min_size=1, max_size=4), seed=seeds,
       infer=st.booleans(), data=st.data())
def test_reshape_matches_torch(n, factors, seed, infer, data):
    """Any regrouping of one example's values, with or without a -1, as torch's reshape (batch axis kept)."""
    in_shape = tuple(data.draw(st.permutations(factors)))
    target = list(data.draw(st.permutations(factors)))
    if infer:
        target[data.draw(st.integers(0, len(target) - 1))] = -1
    layer = Reshape(tuple(target))
    x = np.random.default_rng(seed).standard_normal((n, *in_shape))
    expected = (None, *(math.prod(factors) // -math.prod(target) if s == -1 else s for s in target))
    assert layer.compute_output_shape((None, *in_shape)) == expected
    # torch cannot infer a -1 when n = 0 (ambiguous there); the layer can, since it never reshapes the batch axis
    check_against_torch(layer, x, lambda t: t.reshape(n, *target) if n else t.reshape(0, *expected[1:]), seed)
    assert layer(x).shape == (n, *expected[1:])


def test_reshape_keras_examples_and_unknown_sizes():
    """Keras's documented examples: (None, 12) -> (3, 4) and (-1, 2, 2) -> (None, 3, 2, 2)."""
    assert Reshape((3, 4)).compute_output_shape((None, 12)) == (None, 3, 4)
    assert Reshape((-1, 2, 2)).compute_output_shape((None, 12)) == (None, 3, 2, 2)
    assert Reshape((-1, 4)).compute_output_shape((None, None, 4)) == (None, None, 4)
    assert Reshape(6).compute_output_shape((None, 2, 3)) == (None, 6)


def test_reshape_gradcheck():
    layer = Reshape((3, -1))
    x = tc.Tensor(np.random.default_rng(0).standard_normal((2, 2, 3)), requires_grad=True)
    assert tc.gradcheck(lambda t: layer(t) * layer(t), [x])


@pytest.mark.parametrize("target, error, match", [
    ((5, 2), ValueError, r"inputs of shape \(None, 12\).*12 values per example.*target_shape \(5, 2\).*10 values"),
    ((-1, 5), ValueError, r"target_shape \(-1, 5\).*divides 12"),
])
def test_reshape_size_mismatch_names_both_shapes(target, error, match):
    with pytest.raises(error, match=match):
        Reshape(target)(np.zeros((4, 12), np.float32))
    with pytest.raises(error, match=match):
        tc.Sequential([tc.Input((12,)), Reshape(target)])


def test_reshape_checks_every_call():
    layer = Reshape((2, 3))
    layer(np.zeros((1, 6), np.float32))
    with pytest.raises(ValueError, match=r"shape \(None, 8\).*target_shape \(2, 3\)"):
        layer(np.zeros((1, 8), np.float32))


@pytest.mark.parametrize("target, error, match", [
    ("3, 4", TypeError, "Reshape: target_shape must be a tuple of ints"),
    ((3.0, 4), TypeError, "Reshape: target_shape must be a tuple of ints"),
    ((-1, -1), ValueError, r"at most one -1"),
    ((0, 4), ValueError, r"positive sizes"),
    ((-2, 4), ValueError, r"positive sizes"),
])
def test_reshape_bad_target_shape(target, error, match):
    with pytest.raises(error, match=match):
        Reshape(target)


# --- Rescaling ---

@settings(max_examples=15)
@given(seed=seeds, scale=st.floats(-3, 3), offset=st.floats(-3, 3))
def test_rescaling_matches_torch(seed, scale, offset):
    x = np.random.default_rng(seed).standard_normal((2, 3, 4))
    check_against_torch(Rescaling(scale, offset), x, lambda t: t * scale + offset, seed)


def test_rescaling_pixels_become_float32_in_every_mode():
    """Keras's staple: uint8 pixels 0..255 to [0, 1] (or [-1, 1]) as float32, in training and inference."""
    pixels = np.array([[0, 51, 255]], np.uint8)
    for training in (False, True):
        y = Rescaling(1.0 / 255)(pixels, training=training)
        assert y.dtype == np.float32
        np.testing.assert_allclose(y.numpy(), [[0.0, 0.2, 1.0]], rtol=1e-6)
    np.testing.assert_allclose(Rescaling(1 / 127.5, offset=-1)(pixels).numpy(), [[-1.0, -0.6, 1.0]], rtol=1e-6)


@pytest.mark.parametrize("arguments, error, match", [
    (("0.5",), TypeError, "Rescaling: scale must be a number, got str"),
    ((True,), TypeError, "Rescaling: scale must be a number"),
    ((math.inf,), ValueError, "Rescaling: scale must be a finite number, got inf"),
    ((1.0, math.nan), ValueError, "Rescaling: offset must be"),
])
def test_rescaling_bad_arguments(arguments, error, match):
    with pytest.raises(error, match=match):
        Rescaling(*arguments)


# --- ZeroPadding2D and Cropping2D ---

@settings(max_examples=25)
@given(seed=seeds, padding=sides, data_format=formats, h=st.integers(1, 4), w=st.integers(1, 4))
def test_zero_padding_matches_torch_pad(seed, padding, data_format, h, w):
    torch = require_torch()
    x = image(seed, 2, h, w, 3, data_format)
    layer = ZeroPadding2D(padding, data_format=data_format)
    check_against_torch(layer, x, lambda t: torch.nn.functional.pad(t, torch_sides(padding)), seed, data_format)
    (top, bottom), (left, right) = layer.padding
    shape = (None, h, w, 3) if data_format == "channels_last" else (None, 3, h, w)
    out = (h + top + bottom, w + left + right)
    assert layer.compute_output_shape(shape) == ((None, *out, 3) if data_format == "channels_last" else
                                                 (None, 3, *out))


@settings(max_examples=25)
@given(seed=seeds, cropping=sides, data_format=formats, extra=st.tuples(st.integers(1, 3), st.integers(1, 3)))
def test_cropping_matches_torch_negative_pad(seed, cropping, data_format, extra):
    """Cropping is padding by negative amounts in torch.nn.functional.pad."""
    torch = require_torch()
    (top, bottom), (left, right) = ZeroPadding2D(cropping).padding
    h, w = top + bottom + extra[0], left + right + extra[1]
    x = image(seed, 2, h, w, 3, data_format)
    layer = Cropping2D(cropping, data_format=data_format)
    crop = tuple(-c for c in torch_sides(cropping))
    check_against_torch(layer, x, lambda t: torch.nn.functional.pad(t, crop), seed, data_format)
    assert layer.compute_output_shape((None, h, w, 3) if data_format == "channels_last" else (None, 3, h, w)) == (
        (None, *extra, 3) if data_format == "channels_last" else (None, 3, *extra))


def test_padding_and_cropping_keras_shapes_and_unknown_sizes():
    """Keras's examples: ZeroPadding2D(1) on (None, 28, 28, 3) and Cropping2D(((2, 2), (4, 4))) on (2, 28, 28, 3)."""
    assert ZeroPadding2D().compute_output_shape((None, 28, 28, 3)) == (None, 30, 30, 3)
    assert ZeroPadding2D(((1, 0), (2, 3))).compute_output_shape((None, None, 5, 3)) == (None, None, 10, 3)
    assert Cropping2D(((2, 2), (4, 4)))(np.zeros((2, 28, 28, 3))).shape == (2, 24, 20, 3)
    assert Cropping2D(1, data_format="channels_first").compute_output_shape((None, 3, None, 5)) == (None, 3, None, 3)
    assert Cropping2D().compute_output_shape((None, 4, 4, 1)) == (None, 4, 4, 1)


def test_padding_and_cropping_gradcheck():
    x = tc.Tensor(np.random.default_rng(1).standard_normal((1, 4, 3, 2)), requires_grad=True)
    pad, crop = ZeroPadding2D(((1, 0), (0, 2))), Cropping2D(((0, 1), (1, 0)))
    assert tc.gradcheck(lambda t: crop(pad(t) * pad(t)), [x])


def test_cropping_too_much_is_refused_at_build_and_on_a_later_call():
    layer = Cropping2D(((2, 2), (0, 0)))
    with pytest.raises(ValueError, match=r"Cropping2D 'cropping2d': cropping 2 \+ 2 from a height of 4 \(input "
                                         r"\(None, 4, 9, 1\)\) leaves nothing"):
        tc.Sequential([tc.Input((4, 9, 1)), layer])
    layer = Cropping2D(((0, 0), (1, 1)))
    layer(np.zeros((1, 5, 5, 1)))
    with pytest.raises(ValueError, match=r"cropping 1 \+ 1 from a width of 2"):
        layer(np.zeros((1, 5, 2, 1)))


@pytest.mark.parametrize("cls", [ZeroPadding2D, Cropping2D])
@pytest.mark.parametrize("value, error, match", [
    (-1, ValueError, r"{0}: {1} must be at least 0 in both directions, got -1"),
    ((1, 2, 3), TypeError, r"{0}: {1} must be an int or a pair of ints"),
    (((1, -2), (0, 0)), ValueError, r"{0}: {1} \(top, bottom\) must be at least 0"),
    (((1, 2), "a"), TypeError, r"{0}: {1} \(left, right\) must be an int or a pair"),
    ("same", TypeError, r"{0}: {1} must be an int, a pair \(vertical, horizontal\) or \(\(top, bottom\)"),
    (1.5, TypeError, r"{0}: {1} must be an int"),
])
def test_padding_and_cropping_bad_sizes(cls, value, error, match):
    argument = "padding" if cls is ZeroPadding2D else "cropping"
    with pytest.raises(error, match=match.format(cls.__name__, argument)):
        cls(value)


@pytest.mark.parametrize("cls", [ZeroPadding2D, Cropping2D, UpSampling2D, SpatialDropout2D])
def test_image_layers_data_format(cls):
    """data_format=None is channels_last (Keras's default); other strings are refused; 4-D input only."""
    make = (lambda **k: cls(0.5, **k)) if cls is SpatialDropout2D else cls
    assert make().data_format == "channels_last" and make(data_format="Channels_First").data_format == "channels_first"
    with pytest.raises(ValueError, match=f"{cls.__name__}: data_format must be one of 'channels_last', "
                                         "'channels_first', got 'NHWC'"):
        make(data_format="NHWC")
    with pytest.raises(ValueError, match=rf"{cls.__name__} .* expects 4-D input.*got shape \(1, 5, 5\)"):
        make()(np.zeros((1, 5, 5), np.float32))


# --- UpSampling2D ---

@settings(max_examples=25)
@given(seed=seeds, size=st.one_of(st.integers(1, 3), st.tuples(st.integers(1, 3), st.integers(1, 3))),
       data_format=formats, interpolation=st.sampled_from(["nearest", "bilinear"]), h=st.integers(1, 4),
       w=st.integers(1, 4))
def test_upsampling_matches_torch(seed, size, data_format, interpolation, h, w):
    """nearest as torch.nn.Upsample(mode="nearest"); bilinear as interpolate(mode="bilinear", align_corners=False)."""
    torch = require_torch()
    x = image(seed, 2, h, w, 3, data_format)
    layer = UpSampling2D(size, data_format=data_format, interpolation=interpolation)
    factors = layer.size
    if interpolation == "nearest":
        def oracle(t):
            return torch.nn.Upsample(scale_factor=factors, mode="nearest")(t)
    else:
        def oracle(t):
            return torch.nn.functional.interpolate(t, scale_factor=factors, mode="bilinear", align_corners=False)
    check_against_torch(layer, x, oracle, seed, data_format)
    out = (h * factors[0], w * factors[1])
    assert layer.compute_output_shape((None, h, w, 3) if data_format == "channels_last" else (None, 3, h, w)) == (
        (None, *out, 3) if data_format == "channels_last" else (None, 3, *out))


def test_upsampling_keras_example_and_gradcheck():
    """Keras's example: size=(1, 2) repeats each column of a (2, 2, 1, 3) input."""
    x = np.arange(12).reshape(2, 2, 1, 3)
    np.testing.assert_array_equal(UpSampling2D((1, 2))(x).numpy(), np.repeat(x, 2, axis=2))
    assert UpSampling2D().compute_output_shape((None, None, 7, 2)) == (None, None, 14, 2)
    for interpolation in ("nearest", "bilinear"):
        layer = UpSampling2D((2, 3), interpolation=interpolation)
        t = tc.Tensor(np.random.default_rng(2).standard_normal((1, 2, 3, 2)), requires_grad=True)
        assert tc.gradcheck(lambda v, layer=layer: layer(v) * layer(v), [t])


@pytest.mark.parametrize("arguments, error, match", [
    ({"interpolation": "bicubic"}, ValueError, "UpSampling2D: interpolation must be one of 'nearest', 'bilinear', "
                                               "got 'bicubic'"),
    ({"size": 0}, ValueError, r"UpSampling2D: size must be at least 1 in both directions, got 0"),
    ({"size": (2, 2, 2)}, TypeError, r"UpSampling2D: size must be an int or a pair of ints"),
    ({"size": 1.5}, TypeError, r"UpSampling2D: size must be an int or a pair of ints"),
])
def test_upsampling_bad_arguments(arguments, error, match):
    with pytest.raises(error, match=match):
        UpSampling2D(**arguments)


def test_receptive_fields_through_padding_cropping_and_upsampling():
    """Padding and cropping keep the field; upsampling divides the jump (bilinear also reads one neighbour)."""
    def fields(*layers):
        text = tc.Sequential([tc.Input((32, 32, 1)), *layers]).summary_str(show_receptive_field=True)
        return [line.split()[-1] for line in text.splitlines() if "(" in line and "Layer" not in line]

    assert fields(Conv2D(1, 3), ZeroPadding2D(2), Cropping2D(1), MaxPooling2D(), UpSampling2D(), Conv2D(1, 3)) == [
        "3x3", "3x3", "3x3", "4x4", "4x4", "6x6"]
    # after an upsampling by 2 the jump is 1/2 pixel: a 2-wide window sees 1.5 pixels, shown rounded up
    assert fields(UpSampling2D(), Conv2D(1, 2), Conv2D(1, 3)) == ["1x1", "2x2", "3x3"]
    assert fields(MaxPooling2D(), UpSampling2D(interpolation="bilinear")) == ["2x2", "4x4"]
    # a factor of 1 leaves its axis as it is: no neighbour is read there
    assert fields(MaxPooling2D(), UpSampling2D((1, 2), interpolation="bilinear")) == ["2x2", "2x4"]


def footprint_layer(kind: str, size: int, stride: int):
    """One layer of a drawn stack, with positive weights (no cancellation hides an input)."""
    if kind == "conv":
        return Conv2D(1, size, strides=stride, kernel_initializer="ones")
    if kind == "pool":
        return tc.layers.AveragePooling2D(size, strides=stride)
    if kind == "transpose":
        return tc.layers.Conv2DTranspose(1, size, strides=stride, kernel_initializer="ones")
    return UpSampling2D((stride + 1, stride), interpolation=kind)


@settings(max_examples=15, deadline=None)
@given(stack=st.lists(st.tuples(st.sampled_from(["conv", "pool", "transpose", "nearest", "bilinear"]),
                                st.integers(1, 3), st.integers(1, 2)), min_size=1, max_size=3))
@example(stack=[("pool", 2, 2), ("nearest", 1, 1), ("conv", 2, 1)])      # 4x3 rows (factor 2 x 1), not 3x2
@example(stack=[("pool", 2, 2), ("transpose", 3, 2), ("conv", 2, 1)])    # 4x4, not 5x5
@example(stack=[("pool", 2, 2), ("bilinear", 1, 1), ("conv", 2, 1)])
@example(stack=[("bilinear", 1, 1), ("bilinear", 1, 2), ("transpose", 1, 2)])  # 3 rows, every 12th output
@example(stack=[("conv", 2, 1), ("transpose", 1, 2)])   # the middle column in a gap: measured 0x0
def test_receptive_field_is_the_widest_gradient_footprint(stack):
    """Through strides, upsamplings and transposed convolutions, the summary's field is the widest input
    region one output's gradient reaches, over outputs away from the edges (there windows repeat only
    every few outputs, so it is not the size-and-jump rule: pooling by 2, upsampling by 2, a 2-wide
    window sees 4 pixels, not 3)."""
    model = tc.Sequential([tc.Input((24, 24, 1)), *(footprint_layer(*layer) for layer in stack)])
    x = tc.Tensor(np.ones((1, 24, 24, 1)), requires_grad=True)
    y = model(x)
    height, width = y.shape[1:3]
    # outputs repeat their pattern of windows every `period` outputs: the product of the upsampling factors
    # and transposed strides (8 outputs missed the 3-pixel windows of a 12-output period)
    periods = [math.prod(stride + 1 if kind in ("nearest", "bilinear") and axis == 0 else stride
                         for kind, _, stride in stack if kind in ("nearest", "bilinear", "transpose"))
               for axis in (0, 1)]
    assume(min(height - 2 * periods[0], width - 2 * periods[1]) >= 8)
    widest = [0, 0]
    for axis, n in enumerate((height, width)):
        for o in range(n // 2 - periods[axis], n // 2 + periods[axis]):   # two periods around the middle
            # the other coordinate over one period: some columns (rows) sit in a gap between a transposed
            # convolution's windows, where no output sees any input (the middle one alone measured 0x0)
            across = (width, height)[axis] // 2
            for other in range(across, across + periods[1 - axis]):
                x.grad = None
                index = (0, o, other, 0) if axis == 0 else (0, other, o, 0)
                y[index].backward(retain_graph=True)
                seen = np.nonzero(x.grad.data[0, :, :, 0].any(axis=1 - axis))[0]
                if seen.size:   # else this output sits in a gap
                    widest[axis] = max(widest[axis], seen.max() - seen.min() + 1)
                    break
    text = model.summary_str(show_receptive_field=True)
    assert text.splitlines()[-6].split()[-1] == f"{widest[0]}x{widest[1]}"


# --- LeakyReLU, ELU, PReLU ---

values = st.lists(st.sampled_from([-2.5, -1.0, -1e-3, 0.0, 1e-3, 0.5, 3.0]) | st.floats(-5, 5), min_size=1,
                  max_size=12)


@settings(max_examples=25)
@given(x=values, slope=st.floats(0, 2), seed=seeds)
def test_leaky_relu_matches_torch(x, slope, seed):
    torch = require_torch()
    check_against_torch(LeakyReLU(slope), np.array([x]),
                        lambda t: torch.nn.functional.leaky_relu(t, negative_slope=slope), seed)


@settings(max_examples=25)
@given(x=values, alpha=st.floats(0, 2), seed=seeds)
def test_elu_matches_torch(x, alpha, seed):
    torch = require_torch()
    check_against_torch(ELU(alpha), np.array([x]), lambda t: torch.nn.functional.elu(t, alpha=alpha), seed)


def test_leaky_relu_keras_default_and_keras2_name():
    """Keras 3's default slope is 0.3 ([-3, -1, 0, 2] -> [-0.9, -0.3, 0, 2]); Keras 2's `alpha` still works."""
    np.testing.assert_allclose(LeakyReLU()(np.array([[-3.0, -1.0, 0.0, 2.0]])).numpy(), [[-0.9, -0.3, 0.0, 2.0]])
    with pytest.warns(DeprecationWarning, match="alpha is Keras 2's name; use negative_slope"):
        layer = LeakyReLU(alpha=0.1)
    assert layer.negative_slope == 0.1 and layer.get_config()["negative_slope"] == 0.1
    with pytest.raises(ValueError, match=r"LeakyReLU: negative_slope must be in \[0, inf\], got -0.1"):
        LeakyReLU(-0.1)
    with pytest.raises(ValueError, match=r"LeakyReLU: negative_slope must be a finite number, got inf"):
        LeakyReLU(math.inf)
    with pytest.raises(ValueError, match=r"ELU: alpha must be a finite number, got -inf"):
        ELU(-math.inf)
    with pytest.raises(TypeError, match="LeakyReLU: negative_slope must be a number, got str"):
        LeakyReLU("0.3")
    with pytest.raises(TypeError, match="ELU: alpha must be a number"):
        ELU(None)


def test_activation_layers_second_order():
    x = tc.Tensor(np.array([[-1.3, -0.2, 0.4, 2.0]]), requires_grad=True)
    assert tc.gradgradcheck(lambda t: ELU(0.7)(t) * t, [x])
    assert tc.gradcheck(lambda t: LeakyReLU(0.2)(t) * t, [x])


@settings(max_examples=15)
@given(seed=seeds, h=st.integers(1, 3), w=st.integers(1, 3), c=st.integers(1, 4))
def test_prelu_per_channel_matches_torch(seed, h, w, c):
    """PReLU(shared_axes=[1, 2]) on NHWC is torch's PReLU(C) on NCHW: gradients for x and alpha too."""
    torch = require_torch()
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, h, w, c))
    x[0, 0, 0, 0] = 0.0   # the kink: both take the negative side's slope there
    layer = PReLU(alpha_initializer="zeros", shared_axes=[1, 2]).double()
    layer.build((None, h, w, c))
    alpha = rng.uniform(-0.5, 0.5, c)
    layer.set_weights([alpha.reshape(1, 1, c)])
    module = torch.nn.PReLU(c).double()
    with torch.no_grad():
        module.weight.copy_(torch.tensor(alpha))
    check_against_torch(layer, x, module, seed, "channels_last")
    np.testing.assert_allclose(layer.alpha.grad.numpy().reshape(c), module.weight.grad.numpy(), rtol=1e-12,
                               atol=1e-12)


def test_prelu_weights_keras_counts_and_gradcheck():
    """Keras's counts: one slope per value ((26, 26, 8): 5,408), or per channel with shared_axes=[1, 2] (8)."""
    assert tc.Sequential([tc.Input((26, 26, 8)), PReLU()]).count_params() == 5408
    model = tc.Sequential([tc.Input((None, None, 8)), PReLU(shared_axes=[1, 2])])
    assert model.count_params() == 8 and model.layers[0].alpha.shape == (1, 1, 8)
    layer = PReLU(alpha_initializer="ones", shared_axes=1).double()
    x = tc.Tensor(np.random.default_rng(3).standard_normal((2, 3, 2)), requires_grad=True)
    layer(x)
    assert layer.alpha.shape == (1, 2)

    def with_alpha(t, a):
        layer.alpha = a   # gradcheck's float64 copy, so that its perturbations reach the layer
        return layer(t) * t

    assert tc.gradcheck(with_alpha, [x, layer.alpha]) and tc.gradgradcheck(with_alpha, [x, layer.alpha])
    with pytest.raises(ValueError, match=r"PReLU 'p_re_lu_\d': shared_axes \[0\] must be axes 1 to 3"):
        tc.Sequential([tc.Input((2, 2, 2)), PReLU(shared_axes=0)])
    with pytest.raises(ValueError, match=r"needs known sizes for the axes that are not shared"):
        tc.Sequential([tc.Input((None, 2)), PReLU()])
    with pytest.raises(TypeError, match=r"PReLU: shared_axes must be None, an int or a list of ints"):
        PReLU(shared_axes="1")


# --- SpatialDropout2D ---

@settings(max_examples=10)
@given(seed=st.integers(0, 2**31), rate=st.sampled_from([0.1, 0.3, 0.5, 0.8]), data_format=formats)
def test_spatial_dropout_drops_whole_maps_like_torch_dropout2d(seed, rate, data_format):
    """Training: each (example, channel) map is all zero or all x / (1 - rate), a fraction `rate` of them
    (within 5 standard deviations) as in torch's Dropout2d; the gradient is the same mask; eval: identity."""
    torch = require_torch()
    n, c = 40, 50
    x = image(seed, n, 3, 2, c, data_format) + 10.0   # no zeros of its own
    layer = SpatialDropout2D(rate, data_format=data_format)
    tc.manual_seed(seed)
    xt = tc.Tensor(x, requires_grad=True)
    y = layer(xt, training=True)
    tc.manual_seed(seed)
    np.testing.assert_array_equal(layer(x, training=True).numpy(), y.numpy())   # reproducible
    g = np.random.default_rng(seed).standard_normal(x.shape)
    y.backward(g)
    torch.manual_seed(seed)
    reference = as_nchw(torch.nn.Dropout2d(rate)(torch.tensor(as_nchw(x, data_format))).numpy(), "channels_first")
    for out in (from_nchw(as_nchw(y.numpy(), data_format), "channels_first"), reference):
        ratio = out / as_nchw(x, data_format)                       # (N, C, H, W)
        kept = np.isclose(ratio, 1 / (1 - rate), rtol=1e-12)
        dropped = ratio == 0
        assert (kept | dropped).all() and (dropped.all(axis=(2, 3)) | kept.all(axis=(2, 3))).all()
        fraction = dropped[:, :, 0, 0].mean()
        assert abs(fraction - rate) < 5 * math.sqrt(rate * (1 - rate) / (n * c))
    np.testing.assert_allclose(xt.grad.numpy(), g * y.numpy() / x, rtol=1e-9)
    assert layer(xt) is xt and layer(xt, training=False) is xt


def test_spatial_dropout_seed_mode_and_errors():
    x = np.ones((4, 2, 2, 8))
    first = SpatialDropout2D(0.5, seed=7)(x, training=True).numpy()
    np.testing.assert_array_equal(SpatialDropout2D(0.5, seed=7)(x, training=True).numpy(), first)
    layer = SpatialDropout2D(0.5).train()
    assert (layer(x).numpy() != x).any() and (layer.eval()(x).numpy() == x).all()
    with pytest.raises(ValueError, match=r"SpatialDropout2D: rate must be in \[0.0, 1.0\), got 1"):
        SpatialDropout2D(1)
    with pytest.raises(TypeError, match="SpatialDropout2D: seed must be an int >= 0"):
        SpatialDropout2D(0.5, seed="7")


# --- configs, summary, files, training ---

EVERY_LAYER = [
    lambda: Reshape((-1, 4)), lambda: Rescaling(1 / 127.5, offset=-1), lambda: ZeroPadding2D(((1, 2), (0, 3))),
    lambda: Cropping2D(1, data_format="channels_first"), lambda: UpSampling2D((2, 3), interpolation="bilinear"),
    lambda: LeakyReLU(0.1), lambda: ELU(0.5), lambda: PReLU("ones", shared_axes=[1, 2]),
    lambda: SpatialDropout2D(0.25, data_format="channels_first", seed=3),
]


@pytest.mark.parametrize("make", EVERY_LAYER)
def test_config_round_trip(make):
    """serialize -> JSON -> deserialize rebuilds an equal layer (same config, same output)."""
    layer = make()
    entry = json.loads(json.dumps(serialize(layer)))
    copy = deserialize(entry)
    assert type(copy) is type(layer) and copy.get_config() == layer.get_config()
    x = np.random.default_rng(0).standard_normal((2, 4, 4, 4)).astype(np.float32)
    np.testing.assert_array_equal(copy(x).numpy(), layer(x).numpy())


def keras_cnn() -> tc.Sequential:
    return tc.Sequential([
        tc.Input((28, 28, 1)), Rescaling(1.0 / 255), Conv2D(8, 3, activation="relu"), ZeroPadding2D(),
        MaxPooling2D(), UpSampling2D(), Cropping2D(((1, 1), (2, 2))), LeakyReLU(),
        SpatialDropout2D(0.2), Reshape((-1, 8)), Dense(10)])


def test_summary_rows_match_keras():
    """Keras 3 prints these names, shapes and counts for the same model."""
    rows = {line.split()[0]: line.split()[1:] for line in keras_cnn().summary_str().splitlines()
            if line.split() and line.split()[0][0].islower()}
    assert rows["rescaling"] == ["(Rescaling)", "(None,", "28,", "28,", "1)", "0"]
    assert rows["conv2d"] == ["(Conv2D)", "(None,", "26,", "26,", "8)", "80"]
    assert rows["zero_padding2d"] == ["(ZeroPadding2D)", "(None,", "28,", "28,", "8)", "0"]
    assert rows["up_sampling2d"] == ["(UpSampling2D)", "(None,", "28,", "28,", "8)", "0"]
    assert rows["cropping2d"] == ["(Cropping2D)", "(None,", "26,", "24,", "8)", "0"]
    assert rows["leaky_re_lu"] == ["(LeakyReLU)", "(None,", "26,", "24,", "8)", "0"]
    assert rows["spatial_dropout2d"] == ["(SpatialDropout2D)", "(None,", "26,", "24,", "8)", "0"]
    assert rows["reshape"] == ["(Reshape)", "(None,", "624,", "8)", "0"]
    assert rows["dense"] == ["(Dense)", "(None,", "624,", "10)", "90"]


def test_save_and_load_model_using_the_new_layers(tmp_path):
    x = np.random.default_rng(4).integers(0, 256, (3, 28, 28, 1)).astype(np.float32)
    model = tc.Sequential([
        tc.Input((28, 28, 1)), Rescaling(1 / 127.5, offset=-1), Conv2D(4, 3), ZeroPadding2D(((0, 1), (2, 0))),
        MaxPooling2D(), UpSampling2D((2, 1), interpolation="bilinear", data_format="channels_first"),
        Cropping2D(((1, 0), (0, 1))), LeakyReLU(0.1), SpatialDropout2D(0.2, seed=1), PReLU(shared_axes=[1, 2]),
        ELU(0.5), Reshape((-1, 4)), Dense(3)])
    model.save(tmp_path / "model.npz")
    loaded = tc.load_model(tmp_path / "model.npz")
    assert [type(a) for a in loaded.layers] == [type(b) for b in model.layers]
    assert [a.get_config() for a in loaded.layers] == [b.get_config() for b in model.layers]
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))


def test_small_model_fits_for_one_epoch():
    """Rescaling -> Conv2D -> ZeroPadding2D -> MaxPooling2D -> UpSampling2D -> Cropping2D -> Reshape -> Dense
    trains: the loss is finite and falls over one epoch of a separable task."""
    tc.manual_seed(0)
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 64)
    x = rng.integers(0, 60, (64, 8, 8, 1)) + 180 * labels[:, None, None, None]   # class 1 is bright
    model = tc.Sequential([
        tc.Input((8, 8, 1)), Rescaling(1.0 / 255), Conv2D(4, 3, padding="same", activation="relu"),
        ZeroPadding2D(1), MaxPooling2D(), UpSampling2D(), Cropping2D(1), Reshape((-1,)), Dense(2)])
    model.compile(optimizer="adam", loss=tc.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = model.evaluate(x, labels, verbose=0, return_dict=True)["loss"]
    history = model.fit(x, labels, batch_size=8, epochs=1, verbose=0, shuffle=False).history
    after = model.evaluate(x, labels, verbose=0, return_dict=True)["loss"]
    assert len(history["loss"]) == 1 and math.isfinite(history["loss"][0]) and after < before


def test_drawn_elu_keeps_its_zero_inside_its_layer():
    """elu's 0 (a 0-d tensor inside `where`) is part of the ELU layer (and of a Conv2D with activation='elu'),
    not an extra input '()' drawn outside it; the input image stays outside."""
    model = tc.Sequential([tc.Input((4, 4, 2)), ELU(0.5), Conv2D(2, 3, activation="elu")])
    collapsed = tc.viz.plot_model(model, None).source
    labels = [line for line in collapsed.splitlines() if "box3d" in line]
    assert len(labels) == 2 and all(label.count("\\nin ") == 1 for label in labels), labels
    expanded = tc.draw_graph(model(np.ones((1, 4, 4, 2), np.float32)), collapse=False).source
    outside = [line for line in expanded.splitlines() if line.startswith("\tc") and "[label" in line]  # top level
    assert [line for line in outside if "()" in line] == [] and len(outside) == 1   # the image only


def test_prelu_summary_formula_shows_the_shared_axes():
    model = tc.Sequential([tc.Input((5, 6, 3)), PReLU(shared_axes=[1, 2]), PReLU()])
    rows = [line.split() for line in model.summary_str(show_formula=True).splitlines() if "(PReLU)" in line]
    assert [row[-1] for row in rows] == ["1*1*3=3", "5*6*3=90"]


def test_prelu_alpha_regularizer_in_keras_position():
    """Keras 3's PReLU(alpha_initializer, alpha_regularizer, ..., shared_axes): the penalty of alpha is in
    losses, the config keeps it, a bad one names the argument."""
    layer = PReLU("ones", tc.regularizers.L2(0.1), shared_axes=[1, 2])
    layer(np.ones((2, 3, 3, 4), np.float32))
    assert layer.alpha.shape == (1, 1, 4)
    np.testing.assert_allclose([p.item() for p in layer.losses], [0.1 * 4], rtol=1e-6)
    copy = deserialize(json.loads(json.dumps(serialize(layer))))
    assert copy.get_config() == layer.get_config() and copy.alpha_regularizer.get_config() == {"l2": 0.1}
    with pytest.raises(ValueError, match="PReLU: alpha_regularizer: unknown regularizer 'l3'"):
        PReLU(alpha_regularizer="l3")


def test_gradcheck_catalog_has_an_elu_row():
    """`tinygrad-cnn gradcheck --op elu` checks the ELU layer's function (alpha 0.5: a kink at 0)."""
    from tinygrad_cnn.testing.op_catalog import find
    op, rng = find("elu"), np.random.default_rng(0)
    assert op.has_kinks
    for _ in range(3):
        inputs = op.inputs(rng)
        assert tc.gradcheck(op.fn, inputs) and tc.gradgradcheck(op.fn, inputs)
        np.testing.assert_allclose(op.fn(*inputs).numpy(), ELU(0.5)(inputs[0].numpy()).numpy())
