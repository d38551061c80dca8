"""conv2d_transpose and Conv2DTranspose: forward and every gradient against PyTorch's conv_transpose2d over
drawn geometries, the adjoint of conv2d, Keras's output sizes and counts, gradcheck/gradgradcheck, errors."""
from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
from conftest import require_torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from test_conv2d import torch_nchw

import tinygrad_cnn as tc
from tinygrad_cnn.layers import Conv2DTranspose, deserialize, serialize


def keras_length(n: int, k: int, s: int, d: int, padding: str, extra: int | None) -> int:
    """Keras's output length (its deconv_output_length, written here from its documentation)."""
    effective = k + (k - 1) * (d - 1)
    if extra is None:
        return n * s if padding == "same" else n * s + max(effective - s, 0)
    pad = effective // 2 if padding == "same" else 0
    return (n - 1) * s + effective - 2 * pad + extra


def keras_crop(k: int, s: int, d: int, padding: str, extra: int | None) -> int:
    """Rows Keras drops at the top of the full transposed output ((n - 1) * s + k_eff rows, torch's with
    padding 0), from its JAX back end's rule: the dilated input gets `left` rows of padding, at most k_eff - 1."""
    effective = (k - 1) * d + 1
    if padding == "valid":
        return 0
    total = s + effective - 2 if extra is None else effective + effective % 2 - 2 + extra
    left = min(total // 2 + total % 2, effective - 1)
    return effective - 1 - left


@st.composite
def cases(draw, max_size=9):
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    extra = draw(st.one_of(st.none(), st.tuples(*(st.integers(0, s - 1) for s in strides))))
    case = dict(n=draw(st.integers(1, 3)), channels=draw(st.integers(1, 4)), filters=draw(st.integers(1, 4)),
                hw=(draw(st.integers(1, max_size)), draw(st.integers(1, max_size))),
                kernel=(draw(st.integers(1, 4)), draw(st.integers(1, 4))), strides=strides,
                dilation=(draw(st.integers(1, 2)), draw(st.integers(1, 2))),
                padding=draw(st.sampled_from(["valid", "same"])), output_padding=extra,
                data_format=draw(st.sampled_from(["channels_last", "channels_first"])),
                dtype=draw(st.sampled_from([np.float32, np.float64])), bias=draw(st.booleans()),
                seed=draw(st.integers(0, 2**16)))
    assume(min(out_size(case)) >= 1)   # 'same' with an even kernel, output_padding 0 and one pixel: nothing
    return case


def out_size(case) -> tuple[int, int]:
    extras = case["output_padding"] or (None, None)
    return tuple(keras_length(*args, case["padding"], e) for *args, e in
                 zip(case["hw"], case["kernel"], case["strides"], case["dilation"], extras))


def make_inputs(case):
    rng = np.random.default_rng(case["seed"])
    (h, w), c, f, dtype = case["hw"], case["channels"], case["filters"], case["dtype"]
    x = rng.standard_normal((case["n"], h, w, c) if case["data_format"] == "channels_last" else (case["n"], c, h, w))
    kernel = rng.standard_normal((*case["kernel"], f, c))                  # Keras's (kh, kw, filters, in_channels)
    bias = rng.standard_normal(f) if case["bias"] else None
    return rng, [a.astype(dtype) for a in (x, kernel) + ((bias,) if case["bias"] else ())]


def run_ours(case, x, kernel, bias=None):
    return tc.conv2d_transpose(x, kernel, bias, strides=case["strides"], padding=case["padding"],
                               output_padding=case["output_padding"], dilation_rate=case["dilation"],
                               data_format=case["data_format"])


def torch_transpose(torch, case, x, kernel, bias=None):
    """The oracle: torch's conv_transpose2d without padding (the full output), then Keras's window of it."""
    F = torch.nn.functional
    xt = torch_nchw(torch, x, case["data_format"])
    # ours (kh, kw, filters, in_channels) -> torch (in_channels, filters, kh, kw)
    full = F.conv_transpose2d(xt, kernel.permute(3, 2, 0, 1).contiguous(), stride=case["strides"],
                              dilation=case["dilation"])
    (oh, ow), extras = out_size(case), case["output_padding"] or (None, None)
    top, left = (keras_crop(k, s, d, case["padding"], e) for k, s, d, e in
                 zip(case["kernel"], case["strides"], case["dilation"], extras))
    # rows past the full output (output_padding) are zeros: pad, then cut Keras's window
    full = F.pad(full, (0, max(0, left + ow - full.shape[3]), 0, max(0, top + oh - full.shape[2])))
    y = full[:, :, top:top + oh, left:left + ow]
    if bias is not None:
        y = y + bias[:, None, None]
    return y if case["data_format"] == "channels_first" else y.permute(0, 2, 3, 1)


@settings(max_examples=40)
@given(cases())
def test_forward_and_gradients_match_torch(case):
    torch = require_torch()
    rng, arrays = make_inputs(case)
    ours = [tc.Tensor(a, requires_grad=True) for a in arrays]
    y = run_ours(case, *ours)
    # torch in float64 even for our float32: its float32 conv2d (the input gradient here) sometimes returns
    # stale values on 1 thread (torch 2.13, seen for a 5x4 input, a 4x4 kernel and strides (1, 3))
    theirs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    y_t = torch_transpose(torch, case, *theirs)
    tol = dict(rtol=1e-4, atol=1e-4) if case["dtype"] == np.float32 else dict(rtol=1e-10, atol=1e-10)
    assert y.shape == tuple(y_t.shape) and y.dtype == case["dtype"]
    np.testing.assert_allclose(y.numpy(), y_t.detach().numpy(), **tol)
    upstream = rng.standard_normal(y.shape).astype(case["dtype"])
    grads = tc.grad(y, ours, upstream)
    grads_t = torch.autograd.grad(y_t, theirs, torch.tensor(upstream, dtype=torch.float64))
    for name, g, g_t in zip(["x", "kernel", "bias"], grads, grads_t):
        np.testing.assert_allclose(g.numpy(), g_t.numpy(), **tol, err_msg=f"gradient wrt {name}")


@settings(max_examples=12)
@given(cases(max_size=5))
def test_second_order_matches_torch(case):
    """The gradient of <gx, u> + <gw, v> wrt x, kernel and the upstream gradient."""
    torch = require_torch()
    case["dtype"] = np.float64
    rng, (x, kernel, *_) = make_inputs(case)
    upstream = rng.standard_normal(run_ours(case, x, kernel).shape)
    u, v = rng.standard_normal(x.shape), rng.standard_normal(kernel.shape)
    ours = [tc.Tensor(a, requires_grad=True) for a in (x, kernel, upstream)]
    gx, gw = tc.grad(run_ours(case, *ours[:2]), ours[:2], ours[2], create_graph=True)
    second = tc.grad((gx * u).sum() + (gw * v).sum(), ours)
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, kernel, upstream)]
    gx_t, gw_t = torch.autograd.grad(torch_transpose(torch, case, *theirs[:2]), theirs[:2], theirs[2],
                                     create_graph=True)
    second_t = torch.autograd.grad((gx_t * torch.tensor(u)).sum() + (gw_t * torch.tensor(v)).sum(), theirs)
    for name, g, g_t in zip(["x", "kernel", "upstream"], second, second_t):
        np.testing.assert_allclose(g.numpy(), g_t.numpy(), rtol=1e-9, atol=1e-9, err_msg=name)


@settings(max_examples=25)
@given(cases())
def test_adjoint_of_conv2d(case):
    """<conv2d(z, k), y> = <z, conv2d_transpose(y, k)> with the same padding string: the kernel needs no
    relayout, Keras's (kh, kw, filters, in_channels) is conv2d's (kh, kw, C, F) from filters to in_channels."""
    case.update(output_padding=None, dtype=np.float64)
    rng, (y, kernel, *_) = make_inputs(case)
    options = dict(strides=case["strides"], padding=case["padding"], dilation_rate=case["dilation"],
                   data_format=case["data_format"])
    transposed = tc.conv2d_transpose(y, kernel, **options).numpy()
    z = rng.standard_normal(transposed.shape)
    convolved = tc.conv2d(z, kernel, **options).numpy()
    assert convolved.shape == y.shape
    np.testing.assert_allclose(np.vdot(convolved, y), np.vdot(z, transposed), rtol=1e-10, atol=1e-10)


SMALL_CASES = [
    dict(strides=1, padding="valid"),
    dict(strides=2, padding="same"),
    dict(strides=(2, 3), padding="same", output_padding=(1, 2), data_format="channels_first"),
    dict(strides=(3, 1), padding="valid", output_padding=(2, 0), dilation_rate=(1, 2)),
    dict(strides=2, padding="valid", dilation_rate=2, data_format="channels_first"),
]


@pytest.mark.parametrize("options", SMALL_CASES)
def test_gradcheck_and_gradgradcheck(options):
    rng = np.random.default_rng(0)
    shape = (2, 2, 3, 3) if options.get("data_format") == "channels_first" else (2, 3, 3, 2)
    inputs = [tc.Tensor(rng.standard_normal(s), requires_grad=True) for s in (shape, (3, 2, 3, 2), (3,))]

    def fn(x, kernel, bias):
        return tc.conv2d_transpose(x, kernel, bias, **options)
    assert tc.gradcheck(fn, inputs) and tc.gradgradcheck(fn, inputs)


def test_keras_output_sizes():
    """Keras's documented example, and its formula for 5 pixels, kernel 3, stride 2 in every mode."""
    x = tc.Tensor(np.random.default_rng(0).random((4, 10, 8, 128)))
    assert Conv2DTranspose(32, 2, 2, activation="relu")(x).shape == (4, 20, 16, 32)
    kernel = tc.ones(3, 3, 1, 1)
    for padding, extra, size in [("valid", None, 11), ("same", None, 10), ("valid", 1, 12), ("same", 0, 9),
                                 ("same", 1, 10)]:
        y = tc.conv2d_transpose(tc.ones(1, 5, 5, 1), kernel, strides=2, padding=padding, output_padding=extra)
        assert y.shape == (1, size, size, 1) and size == keras_length(5, 3, 2, 1, padding, extra)


def test_layer_weights_counts_summary_and_config(tmp_path):
    """Keras's weights kernel (kh, kw, filters, C) and bias (filters,): filters * (C * kh * kw + 1)."""
    tc.clear_session()
    model = tc.Sequential([tc.Input((7, 7, 16)), Conv2DTranspose(8, 3, strides=2, padding="same", output_padding=1),
                           Conv2DTranspose(3, (2, 4), data_format="channels_last", use_bias=False)])
    first, second = model.layers
    assert [w.name for w in model.weights] == ["conv2d_transpose/kernel", "conv2d_transpose/bias",
                                               "conv2d_transpose_1/kernel"]
    assert first.kernel.shape == (3, 3, 8, 16) and first.count_params() == 8 * (16 * 9 + 1) == 1160
    assert second.output_shape == (None, 15, 17, 3) and second.count_params() == 3 * 8 * 2 * 4
    text = model.summary_str(show_formula=True, show_receptive_field=True)
    assert "8*(16*3*3+1)=1160" in text and "3*(8*2*4)=192" in text
    # a 3x3 kernel at stride 2 reaches 2 input pixels from even outputs, 1 from odd ones; the next (2, 4)
    # kernel gathers 2 and 4 neighbouring outputs of it: inputs m - 1, m (high) and m - 1 .. m + 1 (wide)
    assert str(second.receptive_field(first.receptive_field(tc.layers.ReceptiveField()))) == "2x3"
    entry = json.loads(json.dumps(serialize(first)))
    copy = deserialize(entry)
    assert copy.get_config() == first.get_config() and copy.output_padding == (1, 1)
    x = np.random.default_rng(1).standard_normal((2, 7, 7, 16)).astype(np.float32)
    model.save(tmp_path / "model.npz")
    np.testing.assert_array_equal(tc.load_model(tmp_path / "model.npz").predict(x), model.predict(x))


def test_layer_channels_first_and_unknown_sizes():
    layer = Conv2DTranspose(2, 3, strides=2, data_format="channels_first")
    model = tc.Sequential([tc.Input((4, None, 5)), layer])
    assert model.output_shape == (None, 2, None, 11) and layer.kernel.shape == (3, 3, 2, 4)
    x = np.random.default_rng(2).standard_normal((1, 4, 3, 5))
    expected = tc.conv2d_transpose(x, layer.kernel, layer.bias, strides=2, data_format="channels_first")
    np.testing.assert_allclose(model(x).numpy(), expected.numpy(), rtol=1e-6)


def test_gradient_nodes_thread_counts_and_empty_batch():
    x = tc.randn(3, 6, 5, 4)
    kernel = tc.randn(3, 3, 2, 4, requires_grad=True)
    y = tc.conv2d_transpose(x, kernel, strides=2, padding="same")
    assert type(y.grad_fn).__name__ == "ConvTranspose" and y.grad_fn.needs_input_grad == (False, True)
    before = tc.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            tc.set_num_threads(threads)
            inputs = [tc.Tensor(x.numpy(), requires_grad=True), tc.Tensor(kernel.numpy(), requires_grad=True)]
            out = tc.conv2d_transpose(*inputs, strides=2, padding="same")
            results.append([out.numpy()] + [g.numpy() for g in tc.grad(out, inputs, np.sin(out.numpy()))])
    finally:
        tc.set_num_threads(before)
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)
    empty = tc.zeros(0, 4, 4, 4, requires_grad=True)
    out = tc.conv2d_transpose(empty, kernel, strides=2)
    out.sum().backward()
    assert out.shape == (0, 9, 9, 2) and empty.grad.shape == empty.shape


ERRORS = [
    (dict(x=(1, 3, 3, 2), kernel=(3, 3, 4, 5)), r"the input has 2 channels but the kernel \(3, 3, 4, 5\) expects 5"),
    (dict(kernel=(3, 3, 4)), r"kernel must be 4-D \(kh, kw, filters, in_channels\), got shape \(3, 3, 4\)"),
    (dict(kernel=(0, 3, 4, 2)), r"the kernel \(0, 3, 4, 2\) is empty"),
    (dict(x=(3, 3, 2)), r"x must be 4-D \(N, H, W, C\), got shape \(3, 3, 2\)"),
    (dict(x=(1, 0, 3, 2)), r"has no pixels"),
    (dict(strides=2, output_padding=2), r"output_padding \(2, 2\) must be smaller than strides \(2, 2\)"),
    (dict(output_padding=-1), r"output_padding must be at least 0"),
    (dict(padding="full"), r"padding must be 'valid' or 'same' \(as Keras's Conv2DTranspose\), got 'full'"),
    (dict(padding=1), r"padding must be 'valid' or 'same'.*got 1"),
    (dict(strides=0), r"strides must be at least 1"),
    (dict(dilation_rate=(1, 0)), r"dilation_rate must be at least 1"),
    (dict(data_format="NHWC"), r"data_format must be 'channels_last'"),
    (dict(bias=(3,)), r"bias must have shape \(filters,\) = \(4,\), got \(3,\)"),
    (dict(x=(1, 1, 3, 2), kernel=(2, 2, 4, 2), padding="same", output_padding=0),
     r"the output would be 0 high: \(H=1 - 1\) \* stride 1 \+ the kernel's 2 % 2 \+ output_padding 0 = 0"),
]


@pytest.mark.parametrize("arguments, match", ERRORS)
def test_errors_name_the_shapes(arguments, match):
    arguments = {"x": (1, 3, 3, 2), "kernel": (3, 3, 4, 2), **arguments}
    x, kernel = tc.ones(*arguments.pop("x")), tc.ones(*arguments.pop("kernel"))
    if "bias" in arguments:
        arguments["bias"] = tc.ones(*arguments["bias"])
    with pytest.raises(ValueError, match=match):
        tc.conv2d_transpose(x, kernel, **arguments)


def test_layer_errors():
    with pytest.raises(ValueError, match=r"Conv2DTranspose: output_padding \(1, 1\) must be smaller than strides"):
        Conv2DTranspose(4, 3, output_padding=1)
    with pytest.raises(ValueError, match=r"Conv2DTranspose: padding must be one of 'valid', 'same'"):
        Conv2DTranspose(4, 3, padding="causal")
    with pytest.raises(TypeError, match=r"Conv2DTranspose: filters must be a positive int"):
        Conv2DTranspose(2.0, 3)
    with pytest.raises(ValueError, match=r"Conv2DTranspose 'up' on input \(None, 1, 4, 3\): the output would be 0"):
        tc.Sequential([tc.Input((1, 4, 3)), Conv2DTranspose(2, 2, padding="same", output_padding=0, name="up")])


def test_keras_argument_order_and_regularizers():
    """Keras 3's positions (it takes output_padding as a keyword only; name, dtype, ... in **kwargs, last)."""
    assert list(inspect.signature(Conv2DTranspose).parameters) == [
        "filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "activation", "use_bias",
        "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer", "activity_regularizer",
        "kernel_constraint", "bias_constraint", "output_padding", "kwargs"]
    # Keras 3's fifth and sixth positional arguments
    layer = Conv2DTranspose(2, 3, 2, "same", "channels_first", 1)
    assert layer.data_format == "channels_first" and layer(np.ones((1, 4, 3, 3), np.float32)).shape == (1, 2, 6, 6)
    layer = Conv2DTranspose(2, 3, strides=2, kernel_regularizer=tc.regularizers.L2(0.1), bias_regularizer="l1",
                            bias_initializer="ones")
    layer(np.ones((1, 3, 3, 4), np.float32))
    np.testing.assert_allclose([p.item() for p in layer.losses],
                               [0.1 * (layer.kernel.numpy() ** 2).sum(), 0.01 * 2], rtol=1e-5)
    copy = deserialize(json.loads(json.dumps(serialize(layer))))
    assert copy.get_config() == layer.get_config() and copy.kernel_regularizer.get_config() == {"l2": 0.1}
