"""conv2d: forward and every gradient against PyTorch over drawn geometries; gradcheck/gradgradcheck."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import require_torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn.conv.geometry import window_geometry


def tf_same(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding (written here independently of the library): odd pixel after."""
    effective = (kernel - 1) * dilation + 1
    total = max((-(-size // stride) - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


@st.composite
def conv_cases(draw, max_size=14):
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    channels = groups * draw(st.integers(1, 6 // groups))
    filters = groups * draw(st.integers(1, 6 // groups))
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    form = draw(st.sampled_from(["valid", "same", "int", "pair", "pairs"]))
    pads = {"valid": ((0, 0), (0, 0)), "same": None,
            "int": ((p := draw(st.integers(0, 2)), p), (p, p)),
            "pair": ((v := draw(st.integers(0, 2)), v), (h := draw(st.integers(0, 2)), h)),
            "pairs": tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(2))}[form]
    padding = {"valid": "valid", "same": "same", "int": None, "pair": None, "pairs": pads}[form]
    if form == "int":
        padding = pads[0][0]
    elif form == "pair":
        padding = (pads[0][0], pads[1][0])
    sizes = []
    for axis, k in enumerate((kh, kw)):
        effective = (k - 1) * dilation[axis] + 1
        low = 1 if pads is None else max(1, effective - sum(pads[axis]))
        sizes.append(draw(st.integers(low, max(low, max_size))))
    return dict(n=draw(st.integers(1, 4)), hw=tuple(sizes), channels=channels, filters=filters,
                kernel=(kh, kw), strides=strides, dilation=dilation, padding=padding, groups=groups,
                bias=draw(st.booleans()), data_format=draw(st.sampled_from(["channels_last", "channels_first"])),
                dtype=draw(st.sampled_from([np.float32, np.float64])), seed=draw(st.integers(0, 2**16)))


def torch_nchw(torch, x, data_format):
    """x as a PyTorch NCHW tensor with NCHW strides.

    A permuted NHWC tensor with one channel counts as contiguous but keeps its odd channel stride, and
    PyTorch 2.13's float32 conv2d then returns garbage for some strides and dilations (values up to 1e37):
    the clone gives it ordinary strides.
    """
    if data_format == "channels_first":
        return x
    return x.permute(0, 3, 1, 2).clone(memory_format=torch.contiguous_format)   # (N, H, W, C) -> (N, C, H, W)


def torch_conv(torch, x, w, b, case):
    """The oracle: PyTorch's NCHW conv2d after translating our layout and padding."""
    F = torch.nn.functional
    xt = torch_nchw(torch, x, case["data_format"])
    padding = case["padding"]
    if padding == "same":
        pads = [tf_same(n, k, s, d) for n, k, s, d in zip(xt.shape[2:], case["kernel"], case["strides"],
                                                           case["dilation"])]
    elif padding == "valid":
        pads = [(0, 0), (0, 0)]
    elif isinstance(padding, int):
        pads = [(padding, padding)] * 2
    elif isinstance(padding[0], int):
        pads = [(padding[0], padding[0]), (padding[1], padding[1])]
    else:
        pads = padding
    xt = F.pad(xt, (*pads[1], *pads[0]))
    # our kernel (kh, kw, C // groups, F) -> torch (F, C // groups, kh, kw)
    y = F.conv2d(xt, w.permute(3, 2, 0, 1).contiguous(), b, stride=case["strides"], dilation=case["dilation"],
                 groups=case["groups"])
    return y if case["data_format"] == "channels_first" else y.permute(0, 2, 3, 1)


def make_inputs(case):
    rng = np.random.default_rng(case["seed"])
    h, w = case["hw"]
    shape = (case["n"], h, w, case["channels"])
    if case["data_format"] == "channels_first":
        shape = (case["n"], case["channels"], h, w)
    dtype = case["dtype"]
    x = rng.standard_normal(shape).astype(dtype)
    kernel = rng.standard_normal((*case["kernel"], case["channels"] // case["groups"], case["filters"])).astype(dtype)
    bias = rng.standard_normal(case["filters"]).astype(dtype) if case["bias"] else None
    return rng, x, kernel, bias


def run_ours(x, kernel, bias, case):
    return tc.conv2d(x, kernel, bias, strides=case["strides"], padding=case["padding"],
                     dilation_rate=case["dilation"], groups=case["groups"], data_format=case["data_format"])


@settings(max_examples=40)
@given(conv_cases())
def test_forward_and_gradients_match_torch(case):
    torch = require_torch()
    rng, x, kernel, bias = make_inputs(case)
    arrays = [x, kernel] + ([bias] if bias is not None else [])
    ours = [tc.Tensor(a, requires_grad=True) for a in arrays]
    y = run_ours(*ours, *([None] if bias is None else []), case)
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    y_t = torch_conv(torch, *theirs, *([None] if bias is None else []), case)
    tol = dict(rtol=1e-4, atol=1e-4) if case["dtype"] == np.float32 else dict(rtol=1e-10, atol=1e-10)
    assert y.shape == tuple(y_t.shape) and y.dtype == case["dtype"]
    np.testing.assert_allclose(y.numpy(), y_t.detach().numpy(), **tol)
    upstream = rng.standard_normal(y.shape).astype(case["dtype"])
    grads = tc.grad(y, ours, upstream)
    grads_t = torch.autograd.grad(y_t, theirs, torch.tensor(upstream))
    for name, g, g_t in zip(["x", "kernel", "bias"], grads, grads_t):
        assert g.shape == tuple(g_t.shape), name
        np.testing.assert_allclose(g.numpy(), g_t.numpy(), **tol, err_msg=f"gradient wrt {name}")


@settings(max_examples=15)
@given(conv_cases(max_size=6))
def test_second_order_matches_torch(case):
    """The gradient of <gx, u> + <gw, v> wrt x, kernel and upstream: the double-backward family."""
    torch = require_torch()
    case["dtype"] = np.float64
    rng, x, kernel, _ = make_inputs(case)
    y_shape = tuple(run_ours(x, kernel, None, case).shape)
    upstream = rng.standard_normal(y_shape)
    u, v = rng.standard_normal(x.shape), rng.standard_normal(kernel.shape)
    ours = [tc.Tensor(a, requires_grad=True) for a in (x, kernel, upstream)]
    gx, gw = tc.grad(run_ours(ours[0], ours[1], None, case), ours[:2], ours[2], create_graph=True)
    second = tc.grad((gx * u).sum() + (gw * v).sum(), ours)
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, kernel, upstream)]
    gx_t, gw_t = torch.autograd.grad(torch_conv(torch, theirs[0], theirs[1], None, case), theirs[:2],
                                     theirs[2], create_graph=True)
    second_t = torch.autograd.grad((gx_t * torch.tensor(u)).sum() + (gw_t * torch.tensor(v)).sum(), theirs)
    for name, g, g_t in zip(["x", "kernel", "upstream"], second, second_t):
        np.testing.assert_allclose(g.numpy(), g_t.numpy(), rtol=1e-9, atol=1e-9, err_msg=name)


SMALL_CASES = [
    dict(strides=1, padding="valid", dilation_rate=1, groups=1, data_format="channels_last"),
    dict(strides=2, padding="same", dilation_rate=1, groups=1, data_format="channels_last"),
    dict(strides=(1, 2), padding=((1, 0), (2, 1)), dilation_rate=(2, 1), groups=2, data_format="channels_last"),
    dict(strides=1, padding=1, dilation_rate=2, groups=1, data_format="channels_first"),
    dict(strides=3, padding="same", dilation_rate=1, groups=2, data_format="channels_first"),
]


def small_conv_case(options: dict, batch: int, seed: int) -> tuple:
    """(fn, (x, kernel, bias)) of a small float64 conv with `options`: 4 channels, 2 filters of 3x2."""
    rng = np.random.default_rng(seed)
    shape = (batch, 5, 4, 4) if options["data_format"] == "channels_last" else (batch, 4, 5, 4)
    x = tc.Tensor(rng.standard_normal(shape), requires_grad=True)
    kernel = tc.Tensor(rng.standard_normal((3, 2, 4 // options["groups"], 2)), requires_grad=True)
    bias = tc.Tensor(rng.standard_normal(2), requires_grad=True)

    def fn(x, kernel, bias):
        return tc.conv2d(x, kernel, bias, **options)
    return fn, (x, kernel, bias)


@pytest.mark.parametrize("options", SMALL_CASES)
def test_gradcheck_and_gradgradcheck(options):
    fn, inputs = small_conv_case(options, batch=2, seed=0)
    assert tc.gradcheck(fn, inputs)
    assert tc.gradgradcheck(fn, inputs)


def test_only_needed_gradients_are_computed():
    x = tc.randn(2, 6, 6, 3)                          # data: no gradient wanted
    kernel = tc.randn(3, 3, 3, 4, requires_grad=True)
    y = tc.conv2d(x, kernel, padding="same")
    assert y.grad_fn.needs_input_grad == (False, True, False)
    y.sum().backward()
    assert x.grad is None and kernel.grad.shape == kernel.shape


def test_kernel_dtype_follows_input_for_lists():
    y = tc.conv2d(tc.ones(1, 3, 3, 1, dtype=np.float64), [[[[1.0]]]])
    assert y.dtype == np.float64 and np.allclose(y.numpy(), 1.0)


def test_empty_batch():
    x = tc.zeros(0, 5, 5, 2, requires_grad=True)
    kernel = tc.randn(3, 3, 2, 4, requires_grad=True)
    y = tc.conv2d(x, kernel, padding="same")
    y.sum().backward()
    assert y.shape == (0, 5, 5, 4) and x.grad.shape == x.shape
    np.testing.assert_array_equal(kernel.grad.numpy(), 0)


@pytest.mark.parametrize("options", SMALL_CASES)
def test_slabs_give_the_same_result(monkeypatch, options):
    """Slabs of two images (the last one smaller) against the whole batch in one slab."""
    import importlib
    windows, conv_module = (importlib.import_module(f"tinygrad_cnn.conv.{name}") for name in ("windows", "conv2d"))
    rng = np.random.default_rng(3)
    shape = (5, 7, 6, 4) if options["data_format"] == "channels_last" else (5, 4, 7, 6)
    arrays = [rng.standard_normal(shape), rng.standard_normal((3, 2, 4 // options["groups"], 2)),
              rng.standard_normal(2)]

    def run():
        inputs = [tc.Tensor(a, requires_grad=True) for a in arrays]
        y = tc.conv2d(*inputs, **options)
        return [y.numpy()] + [g.numpy() for g in tc.grad(y, inputs, np.cos(y.numpy()))]
    whole = run()
    def pairs(n, bytes_per_image):
        return (slice(start, min(start + 2, n)) for start in range(0, n, 2))
    monkeypatch.setattr(windows, "slabs", pairs)
    monkeypatch.setattr(conv_module, "slabs", pairs)
    for ours, reference in zip(run(), whole):
        np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("options", SMALL_CASES + [dict(strides=2, padding="valid", dilation_rate=1, groups=1,
                                                       data_format="channels_last")])
def test_input_gradient_by_blocks_equals_tap_by_tap(monkeypatch, options):
    """The ways of making the input gradient (tap by tap, or by blocks of outputs of a row, up to whole
    rows) agree, to second order."""
    import importlib
    conv_module = importlib.import_module("tinygrad_cnn.conv.conv2d")
    rng = np.random.default_rng(4)
    shape = (3, 9, 9, 4) if options["data_format"] == "channels_last" else (3, 4, 9, 9)
    arrays = [rng.standard_normal(shape), rng.standard_normal((3, 2, 4 // options["groups"], 2))]

    def run():
        inputs = [tc.Tensor(a, requires_grad=True) for a in arrays]
        y = tc.conv2d(*inputs, **options)
        gx, gw = tc.grad(y, inputs, tc.Tensor(np.cos(y.numpy())), create_graph=True)
        return [gx.numpy()] + [g.numpy() for g in tc.grad((gx * gx).sum() + (gw * gw).sum(), inputs)]
    geometry = window_geometry((9, 9), (3, 2), options["strides"], options["dilation_rate"], options["padding"])
    blocks, results = [], []
    for limit in (0, 1.5, 3, 10**6):   # never by blocks, then blocks up to whole rows (where groups allow)
        monkeypatch.setattr(conv_module, "ROW_SPAN_LIMIT", limit)
        blocks.append(conv_module._row_block(np.zeros(1), geometry, 4, options["groups"]))
        results.append(run())
    assert blocks[0] == 1 and (options["groups"] > 1 or blocks[-1] == geometry.out_hw[1])   # 1 to OW
    for other in results[1:]:
        for ours, reference in zip(other, results[0]):
            np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_non_finite_upstream_gradient_stays_in_its_windows(bad):
    """A NaN or inf of g reaches only the inputs of its window, as in PyTorch (the row kernel's zeros
    would otherwise carry it along the whole row)."""
    x = tc.Tensor(np.ones((2, 8, 8, 2), dtype=np.float32), requires_grad=True)
    kernel = tc.Tensor(np.full((3, 3, 2, 3), 0.5, dtype=np.float32))
    upstream = np.ones((2, 6, 6, 3), dtype=np.float32)
    upstream[1, 2, 3, 1] = bad
    (gx,) = tc.grad(tc.conv2d(x, kernel), [x], upstream)
    expected = np.zeros(x.shape, dtype=bool)
    expected[1, 2:5, 3:6] = True
    np.testing.assert_array_equal(~np.isfinite(gx.numpy()), expected)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_a_non_finite_input_stays_in_its_windows(bad):
    """A NaN or inf of x reaches only the outputs whose windows hold it."""
    x = np.ones((2, 12, 12, 1), dtype=np.float32)
    x[1, 6, 7, 0] = bad
    y = tc.conv2d(x, np.full((5, 5, 1, 8), 0.5, dtype=np.float32))
    expected = np.zeros(y.shape, dtype=bool)
    expected[1, 2:7, 3:8] = True
    np.testing.assert_array_equal(~np.isfinite(y.numpy()), expected)


@pytest.mark.parametrize("contiguous", [True, False])
def test_strided_views_match_as_strided(contiguous):
    """windows.strided builds NumPy's as_strided view (read-only unless asked), from a contiguous array or not."""
    from numpy.lib.stride_tricks import as_strided

    from tinygrad_cnn.conv.windows import strided
    base = np.arange(2 * 7 * 6 * 3, dtype=np.float32).reshape(2, 7, 6, 3)
    a = base if contiguous else base.transpose(3, 0, 1, 2)
    shape, steps = (2, 3, 3, 2), (a.strides[0], a.strides[1], a.strides[2] * 2, a.strides[3])
    view = strided(a, shape, steps)
    np.testing.assert_array_equal(view, as_strided(a, shape, steps))
    assert not view.flags.writeable and np.shares_memory(view, a)
    writeable = strided(a, shape, steps, writeable=True)
    writeable[0, 0, 0, 0] = -1.0
    assert a[0, 0, 0, 0] == -1.0
