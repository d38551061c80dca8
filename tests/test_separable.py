"""DepthwiseConv2D and SeparableConv2D: forward and every gradient against PyTorch's grouped conv2d over drawn
geometries, gradcheck/gradgradcheck, Keras's weights, counts and shapes, configs, model files, errors."""
from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
from conftest import require_torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_conv2d import tf_same, torch_nchw

import tinygrad_cnn as tc
from tinygrad_cnn.layers import DepthwiseConv2D, SeparableConv2D, deserialize, serialize


@pytest.fixture(autouse=True)
def fresh_names():
    tc.clear_session()


@st.composite
def cases(draw):
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(st.sampled_from(["valid", "same"]))
    low = [1 if padding == "same" else (k - 1) * d + 1 for k, d in zip(kernel, dilation)]
    return dict(kind=draw(st.sampled_from(["depthwise", "separable"])), n=draw(st.integers(1, 3)),
                channels=draw(st.integers(1, 4)), multiplier=draw(st.integers(1, 3)), filters=draw(st.integers(1, 4)),
                hw=tuple(draw(st.integers(a, 9)) for a in low), kernel=kernel,
                strides=(draw(st.integers(1, 3)), draw(st.integers(1, 3))), dilation=dilation, padding=padding,
                data_format=draw(st.sampled_from(["channels_last", "channels_first"])),
                dtype=draw(st.sampled_from([np.float32, np.float64])), bias=draw(st.booleans()),
                seed=draw(st.integers(0, 2**16)))


def make_layer(case):
    options = dict(kernel_size=case["kernel"], strides=case["strides"], padding=case["padding"],
                   depth_multiplier=case["multiplier"], data_format=case["data_format"],
                   dilation_rate=case["dilation"], use_bias=case["bias"])
    if case["kind"] == "depthwise":
        return DepthwiseConv2D(**options)
    return SeparableConv2D(case["filters"], **options)


def torch_layer(torch, case, x, depthwise, pointwise=None, bias=None):
    """The oracle: torch's conv2d with groups=C on NCHW, after translating the padding and the kernels."""
    F = torch.nn.functional
    xt = torch_nchw(torch, x, case["data_format"])
    if case["padding"] == "same":
        pads = [tf_same(n, k, s, d) for n, k, s, d in zip(xt.shape[2:], case["kernel"], case["strides"],
                                                           case["dilation"])]
        xt = F.pad(xt, (*pads[1], *pads[0]))
    kh, kw, c, m = depthwise.shape
    # Keras's depthwise (kh, kw, C, M) -> torch (C * M, 1, kh, kw): output channel c * M + m sees channel c
    y = F.conv2d(xt, depthwise.permute(2, 3, 0, 1).reshape(c * m, 1, kh, kw), None if pointwise is not None else bias,
                 stride=case["strides"], dilation=case["dilation"], groups=c)
    if pointwise is not None:   # (1, 1, C * M, filters) -> (filters, C * M, 1, 1)
        y = F.conv2d(y, pointwise.permute(3, 2, 0, 1), bias)
    return y if case["data_format"] == "channels_first" else y.permute(0, 2, 3, 1)


@settings(max_examples=40)
@given(cases())
def test_forward_and_gradients_match_torch(case):
    torch = require_torch()
    rng = np.random.default_rng(case["seed"])
    (h, w), c = case["hw"], case["channels"]
    x = rng.standard_normal((case["n"], h, w, c) if case["data_format"] == "channels_last" else (case["n"], c, h, w))
    layer = make_layer(case).astype(case["dtype"])
    xs = tc.Tensor(x.astype(case["dtype"]), requires_grad=True)
    layer.build((None, *x.shape[1:]))
    layer.set_weights([rng.standard_normal(wt.shape) for wt in layer.weights])
    y = layer(xs)
    upstream = rng.standard_normal(y.shape)
    grads = tc.grad(y, [xs, *layer.weights], upstream.astype(case["dtype"]))
    # torch in float64 (its float32 conv2d sometimes returns stale values on 1 thread: see test_conv_transpose)
    theirs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in [x, *layer.get_weights()]]
    weights = dict(zip(["depthwise", "bias"] if case["kind"] == "depthwise" else
                       ["depthwise", "pointwise", "bias"], theirs[1:]))
    y_t = torch_layer(torch, case, theirs[0], **weights)
    grads_t = torch.autograd.grad(y_t, theirs, torch.tensor(upstream))
    tol = dict(rtol=1e-4, atol=1e-4) if case["dtype"] == np.float32 else dict(rtol=1e-10, atol=1e-10)
    assert y.shape == tuple(y_t.shape) == layer.compute_output_shape((case["n"], *x.shape[1:]))
    assert y.dtype == case["dtype"]
    np.testing.assert_allclose(y.numpy(), y_t.detach().numpy(), **tol)
    for weight, g, g_t in zip(["x", *weights], grads, grads_t):
        np.testing.assert_allclose(g.numpy(), g_t.numpy(), **tol, err_msg=f"gradient wrt {weight}")


@pytest.mark.parametrize("kind, options", [
    ("depthwise", dict(kernel_size=(3, 2), depth_multiplier=2, padding="same", strides=2)),
    ("depthwise", dict(kernel_size=2, dilation_rate=(2, 1), data_format="channels_first")),
    ("separable", dict(kernel_size=(2, 3), depth_multiplier=1, padding="same")),
    ("separable", dict(kernel_size=2, depth_multiplier=2, strides=(1, 2), data_format="channels_first")),
])
def test_gradcheck_and_gradgradcheck(kind, options):
    layer = (DepthwiseConv2D(**options) if kind == "depthwise" else SeparableConv2D(2, **options)).double()
    x = tc.Tensor(np.random.default_rng(0).standard_normal((2, 4, 5, 3)), requires_grad=True)
    layer(x)
    names = ["kernel", "bias"] if kind == "depthwise" else ["depthwise_kernel", "pointwise_kernel", "bias"]

    def with_weights(t, *weights):
        for name, weight in zip(names, weights):
            setattr(layer, name, weight)   # gradcheck's float64 copies, so that its perturbations reach the layer
        return layer(t)

    inputs = [x, *(getattr(layer, name) for name in names)]
    assert tc.gradcheck(with_weights, inputs) and tc.gradgradcheck(with_weights, inputs)


def test_keras_weights_counts_and_summary():
    """MobileNet's first depthwise layer (288) and Xception's first separable one (8,768), as Keras prints
    them; with biases and depth_multiplier the counts follow Keras's formulas."""
    model = tc.Sequential([tc.Input((112, 112, 32)), DepthwiseConv2D(3, padding="same", use_bias=False),
                           tc.layers.Conv2D(64, 1), SeparableConv2D(128, 3, padding="same", use_bias=False)])
    depthwise, _, separable = model.layers
    assert depthwise.output_shape == (None, 112, 112, 32) and depthwise.count_params() == 288
    assert separable.output_shape == (None, 112, 112, 128) and separable.count_params() == 8768
    assert [w.name for w in depthwise.weights] == ["depthwise_conv2d/kernel"]
    assert depthwise.depthwise_kernel is depthwise.kernel and depthwise.kernel.shape == (3, 3, 32, 1)
    assert [w.name for w in separable.weights] == ["separable_conv2d/depthwise_kernel",
                                                   "separable_conv2d/pointwise_kernel"]
    assert separable.pointwise_kernel.shape == (1, 1, 64, 128)
    model = tc.Sequential([tc.Input((9, 9, 3)), DepthwiseConv2D((3, 2), depth_multiplier=2, strides=2),
                           SeparableConv2D(8, 3, depth_multiplier=3, activation="relu")])
    depthwise, separable = model.layers
    assert depthwise.output_shape == (None, 4, 4, 6) and depthwise.bias.shape == (6,)
    assert depthwise.count_params() == 3 * 2 * (3 * 2 + 1)
    assert separable.output_shape == (None, 2, 2, 8)
    assert separable.count_params() == 3 * 3 * 6 * 3 + 6 * 3 * 8 + 8
    text = model.summary_str(show_formula=True, show_receptive_field=True)
    assert "3*2*(3*2+1)=42" in text and "3*3*6*3+6*3*8+8=314" in text
    assert "3x2" in text and "7x6" in text   # receptive fields: (3, 2), then 3 more steps of 2 pixels


def test_configs_and_model_files(tmp_path):
    model = tc.Sequential([
        tc.Input((8, 8, 2)), DepthwiseConv2D(3, depth_multiplier=2, padding="same", depthwise_initializer="he_normal"),
        SeparableConv2D(3, 2, strides=2, dilation_rate=1, pointwise_initializer="zeros", bias_initializer="ones")])
    for layer in model.layers:
        entry = json.loads(json.dumps(serialize(layer)))
        copy = deserialize(entry)
        assert type(copy) is type(layer) and copy.get_config() == layer.get_config()
    config = model.layers[1].get_config()
    assert config["depthwise_initializer"] == "glorot_uniform" and config["pointwise_initializer"] == "zeros"
    assert "kernel_initializer" not in config and model.layers[0].get_config()["depthwise_initializer"] == "he_normal"
    x = np.random.default_rng(1).standard_normal((2, 8, 8, 2)).astype(np.float32)
    model.save(tmp_path / "model.npz")
    np.testing.assert_array_equal(tc.load_model(tmp_path / "model.npz").predict(x), model.predict(x))


def test_unknown_sizes_and_channels_first():
    model = tc.Sequential([tc.Input((3, None, None)), DepthwiseConv2D(3, data_format="channels_first"),
                           SeparableConv2D(5, 1, data_format="channels_first")])
    assert model.output_shape == (None, 5, None, None)
    assert model(np.zeros((2, 3, 7, 6), np.float32)).shape == (2, 5, 5, 4)


def test_errors():
    with pytest.raises(ValueError, match=r"DepthwiseConv2D: depth_multiplier must be a positive int"):
        DepthwiseConv2D(3, depth_multiplier=0)
    with pytest.raises(ValueError, match=r"SeparableConv2D: padding must be one of 'valid', 'same'"):
        SeparableConv2D(4, 3, padding="full")
    with pytest.raises(TypeError, match=r"SeparableConv2D: filters must be a positive int"):
        SeparableConv2D(None, 3)
    with pytest.raises(ValueError, match=r"DepthwiseConv2D: data_format must be one of"):
        DepthwiseConv2D(3, data_format="NHWC")
    with pytest.raises(ValueError, match=r"DepthwiseConv2D 'dw' on input \(None, 2, 5, 3\): the kernel is 3 high "
                                         r"but the padded input is only 2 high"):
        tc.Sequential([tc.Input((2, 5, 3)), DepthwiseConv2D(3, name="dw")])
    with pytest.raises(ValueError, match=r"needs a known, positive number of channels, got None"):
        tc.Sequential([tc.Input((5, 5, None)), SeparableConv2D(2, 3)])
    layer = SeparableConv2D(2, 3)
    layer(np.zeros((1, 5, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"axis 3 must have size 3, not 4"):
        layer(np.zeros((1, 5, 5, 4), np.float32))



@pytest.mark.parametrize("cls", [DepthwiseConv2D, SeparableConv2D])
@pytest.mark.parametrize("argument, value, error", [
    ("depthwise_regularizer", "l3", ValueError), ("depthwise_initializer", "nope", ValueError),
    ("bias_initializer", "nope", ValueError), ("activation", "relu7", ValueError), ("activation", 3, TypeError)])
def test_errors_name_the_argument_the_user_gave(cls, argument, value, error):
    """The depthwise kernel's arguments are named as the user wrote them (not KernelLayer's kernel_...)."""
    layer_args = (2, 3) if cls is SeparableConv2D else (3,)
    with pytest.raises(error, match=rf"^{cls.__name__}: {argument}: "):
        cls(*layer_args, **{argument: value})
    if cls is SeparableConv2D:
        with pytest.raises(ValueError, match=r"^SeparableConv2D: pointwise_initializer: unknown initializer"):
            cls(*layer_args, pointwise_initializer="nope")


def test_keras_argument_order():
    """Keras 3's positions (name, dtype, ... in **kwargs, last)."""
    assert list(inspect.signature(DepthwiseConv2D).parameters) == [
        "kernel_size", "strides", "padding", "depth_multiplier", "data_format", "dilation_rate", "activation",
        "use_bias", "depthwise_initializer", "bias_initializer", "depthwise_regularizer", "bias_regularizer",
        "activity_regularizer", "depthwise_constraint", "bias_constraint", "kwargs"]
    assert list(inspect.signature(SeparableConv2D).parameters) == [
        "filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "depth_multiplier",
        "activation", "use_bias", "depthwise_initializer", "pointwise_initializer", "bias_initializer",
        "depthwise_regularizer", "pointwise_regularizer", "bias_regularizer", "activity_regularizer",
        "depthwise_constraint", "pointwise_constraint", "bias_constraint", "kwargs"]


def test_regularizers_reach_losses_and_configs():
    """Each weight's penalty is in `losses` (Keras 3's L1/L2 formulas), and configs keep the regularizers."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 5, 5, 2)).astype(np.float32)
    layer = SeparableConv2D(3, 3, depthwise_regularizer=tc.regularizers.L2(0.1), pointwise_regularizer="l1",
                            bias_regularizer=tc.regularizers.L1(0.5), activity_regularizer=tc.regularizers.L2(0.2),
                            bias_initializer="ones")
    y = layer(x)
    penalties = [p.item() for p in layer.losses]
    expected = [0.2 * (y.numpy() ** 2).sum(), 0.1 * (layer.depthwise_kernel.numpy() ** 2).sum(),
                0.01 * np.abs(layer.pointwise_kernel.numpy()).sum(), 0.5 * 3]
    np.testing.assert_allclose(penalties, expected, rtol=1e-5)
    depthwise = DepthwiseConv2D(2, depthwise_regularizer="l2")
    depthwise(x)
    np.testing.assert_allclose(depthwise.losses[0].item(), 0.01 * (depthwise.kernel.numpy() ** 2).sum(), rtol=1e-5)
    for made in (layer, depthwise):
        copy = deserialize(json.loads(json.dumps(serialize(made))))
        assert copy.get_config() == made.get_config() and "kernel_regularizer" not in made.get_config()
    assert layer.get_config()["pointwise_regularizer"] == serialize_regularizer("l1")
    with pytest.raises(ValueError, match=r"SeparableConv2D: pointwise_regularizer"):
        SeparableConv2D(2, 3, pointwise_regularizer="l3")


def serialize_regularizer(name: str):
    return tc.regularizers.serialize(tc.regularizers.get(name))
