"""Pooling: max and average against PyTorch over drawn geometries, the tie rule, gradgradcheck, global pools."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import require_torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc


def tf_same(size: int, window: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding (independent of the library): the odd pixel goes after."""
    total = max((-(-size // stride) - 1) * stride + window - size, 0)
    return total // 2, total - total // 2


@st.composite
def pool_cases(draw, max_size=14):
    size = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    strides = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    form = draw(st.sampled_from(["valid", "same", "explicit"]))
    if form == "explicit":
        padding = tuple((draw(st.integers(0, k - 1)), draw(st.integers(0, k - 1))) for k in size)
    else:
        padding = form
    hw = []
    for axis, k in enumerate(size):
        low = k - sum(padding[axis]) if form == "explicit" else (1 if form == "same" else k)
        hw.append(draw(st.integers(max(1, low), max(1, low, max_size))))
    return dict(n=draw(st.integers(1, 4)), hw=tuple(hw), channels=draw(st.integers(1, 6)), size=size,
                strides=strides, padding=padding,
                data_format=draw(st.sampled_from(["channels_last", "channels_first"])),
                dtype=draw(st.sampled_from([np.float32, np.float64])), seed=draw(st.integers(0, 2**16)))


def torch_pads(case):
    strides = case["strides"] or case["size"]
    if case["padding"] == "valid":
        return [(0, 0), (0, 0)]
    if case["padding"] == "same":
        return [tf_same(n, k, s) for n, k, s in zip(case["hw"], case["size"], strides)]
    return list(case["padding"])


def torch_pool(torch, kind, x, case):
    """The oracle: PyTorch's NCHW pooling on an explicitly padded input."""
    F = torch.nn.functional
    xt = x if case["data_format"] == "channels_first" else x.permute(0, 3, 1, 2)
    (top, bottom), (left, right) = torch_pads(case)
    strides = case["strides"] or case["size"]
    if kind == "max":
        y = F.max_pool2d(F.pad(xt, (left, right, top, bottom), value=-float("inf")), case["size"], strides)
    else:
        window_sum = F.avg_pool2d(F.pad(xt, (left, right, top, bottom)), case["size"], strides) * np.prod(case["size"])
        if case["padding"] == "same":   # Keras: divide by the number of real pixels in the window
            ones = torch.ones_like(xt[:1, :1])
            count = F.avg_pool2d(F.pad(ones, (left, right, top, bottom)), case["size"], strides) * np.prod(case["size"])
        else:                           # explicit padding counts as zeros (PyTorch's count_include_pad)
            count = float(np.prod(case["size"]))
        y = window_sum / count
    return y if case["data_format"] == "channels_first" else y.permute(0, 2, 3, 1)


def make_input(case):
    rng = np.random.default_rng(case["seed"])
    h, w = case["hw"]
    shape = (case["n"], h, w, case["channels"]) if case["data_format"] == "channels_last" else \
        (case["n"], case["channels"], h, w)
    # a permutation: no ties, so PyTorch's single-winner rule and ours agree
    x = rng.permutation(int(np.prod(shape))).reshape(shape).astype(case["dtype"]) / 7
    return rng, x


@settings(max_examples=40)
@given(pool_cases(), st.sampled_from(["max", "avg"]))
def test_pool_matches_torch(case, kind):
    torch = require_torch()
    rng, x = make_input(case)
    pool = tc.max_pool2d if kind == "max" else tc.avg_pool2d
    ours = tc.Tensor(x, requires_grad=True)
    y = pool(ours, case["size"], case["strides"], case["padding"], case["data_format"])
    theirs = torch.tensor(x, requires_grad=True)
    y_t = torch_pool(torch, kind, theirs, case)
    tol = dict(rtol=1e-5, atol=1e-5) if case["dtype"] == np.float32 else dict(rtol=1e-10, atol=1e-10)
    assert y.shape == tuple(y_t.shape) and y.dtype == case["dtype"]
    np.testing.assert_allclose(y.numpy(), y_t.detach().numpy(), **tol)
    upstream = rng.standard_normal(y.shape).astype(case["dtype"])
    (gx,) = tc.grad(y, [ours], upstream)
    (gx_t,) = torch.autograd.grad(y_t, [theirs], torch.tensor(upstream))
    np.testing.assert_allclose(gx.numpy(), gx_t.numpy(), **tol)


def windows_max_oracle(x, size, strides, padding):
    """Max-pool written with core ops only: every window as a slice, stacked, then Tensor.max."""
    (top, bottom), (left, right) = padding
    xp = x.pad(((0, 0), (top, bottom), (left, right), (0, 0)), value=-np.inf)
    hp, wp = xp.shape[1:3]
    oh, ow = (hp - size[0]) // strides[0] + 1, (wp - size[1]) // strides[1] + 1
    taps = [xp[:, i:i + (oh - 1) * strides[0] + 1:strides[0], j:j + (ow - 1) * strides[1] + 1:strides[1]]
            for i in range(size[0]) for j in range(size[1])]
    return tc.stack(taps, axis=0).max(axis=0)


@settings(max_examples=30)
@given(pool_cases(max_size=8), st.integers(0, 2), st.booleans(), st.booleans())
def test_max_pool_ties_share_the_gradient_like_max(case, levels, nans, infs):
    """With many tied maxima (values from a tiny set, NaNs, -infs), the gradient follows Tensor.max's tie rule.

    A window whose real pixels are all -inf ties among them only: the -inf padding takes no share.
    """
    case["data_format"], case["dtype"] = "channels_last", np.float64
    rng = np.random.default_rng(case["seed"])
    values = rng.integers(-infs, levels + 1 + nans, (case["n"], *case["hw"], case["channels"])).astype(np.float64)
    values[values > levels] = np.nan
    values[values < 0] = -np.inf
    x = tc.Tensor(values, requires_grad=True)
    strides = case["strides"] or case["size"]
    y = tc.max_pool2d(x, case["size"], case["strides"], case["padding"])
    # the oracle pads with -inf too, so its real -infs become the lowest finite value, below every other
    lowest = np.finfo(np.float64).min
    x_ref = tc.Tensor(np.where(values == -np.inf, lowest, values), requires_grad=True)
    y_ref = windows_max_oracle(x_ref, case["size"], strides, torch_pads(case))
    np.testing.assert_array_equal(y.numpy(), np.where(y_ref.numpy() == lowest, -np.inf, y_ref.numpy()))
    upstream = rng.standard_normal(y.shape)
    (gx,), (gx_ref,) = tc.grad(y, [x], upstream), tc.grad(y_ref, [x_ref], upstream)
    np.testing.assert_allclose(gx.numpy(), gx_ref.numpy(), rtol=1e-12, atol=1e-12)


def test_max_pool_of_bools_with_same_padding():
    """Bools pool as logical or; their padding is False, which never wins."""
    x = np.zeros((1, 3, 3, 2), dtype=bool)
    x[0, 2, 2, 1] = True
    y = tc.max_pool2d(x, 2, padding="same")
    assert y.dtype == bool
    np.testing.assert_array_equal(y.numpy()[0, :, :, 1], [[False, False], [False, True]])
    assert not y.numpy()[..., 0].any()


@pytest.mark.parametrize("pool_size, strides", [(2, None), (3, 1)])
def test_a_nan_window_gives_its_gradient_to_the_nan_like_pytorch(pool_size, strides):
    """A NaN is the maximum of its window (as in PyTorch), even beside a tied window elsewhere."""
    torch = require_torch()
    x = np.zeros((1, 3, 6, 1))
    x[0, 0, 0, 0] = x[0, 0, 1, 0] = 1.0        # a tie in the first window
    x[0, 1, 2, 0] = np.nan                     # a NaN in another
    upstream = np.random.default_rng(0).standard_normal(tc.max_pool2d(x, pool_size, strides).shape)
    xt = tc.Tensor(x, requires_grad=True)
    y = tc.max_pool2d(xt, pool_size, strides)
    y.backward(upstream)
    x_torch = torch.tensor(x.transpose(0, 3, 1, 2), requires_grad=True)
    y_torch = torch.nn.functional.max_pool2d(x_torch, pool_size, strides)
    y_torch.backward(torch.tensor(upstream.transpose(0, 3, 1, 2)))
    np.testing.assert_array_equal(y.numpy(), y_torch.detach().numpy().transpose(0, 2, 3, 1))
    grad, grad_torch = xt.grad.numpy(), x_torch.grad.numpy().transpose(0, 2, 3, 1)
    assert grad[0, 1, 2, 0] == grad_torch[0, 1, 2, 0] != 0                   # the NaN takes its windows' gradient
    tie = grad[0, 0, :2, 0]
    np.testing.assert_allclose(tie, grad_torch[0, 0, :2, 0].sum() / 2)      # PyTorch gives a tie to the first


def test_tied_window_splits_equally():
    x = tc.Tensor(np.array([[5.0, 5.0], [1.0, 5.0]]).reshape(1, 2, 2, 1), requires_grad=True)
    tc.max_pool2d(x, 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy().reshape(2, 2), [[1 / 3, 1 / 3], [0, 1 / 3]])


POOL_CASES = [
    ("max", dict(pool_size=2)),
    ("max", dict(pool_size=3, strides=1, padding="same")),
    ("max", dict(pool_size=(2, 3), strides=(1, 2), padding=((1, 0), (0, 2)))),
    ("avg", dict(pool_size=2)),
    ("avg", dict(pool_size=3, strides=2, padding="same")),
    ("avg", dict(pool_size=(3, 2), strides=1, padding=1, data_format="channels_first")),
]


@pytest.mark.parametrize(("kind", "options"), POOL_CASES)
def test_gradcheck_and_gradgradcheck(kind, options):
    rng = np.random.default_rng(1)
    x = tc.Tensor(rng.permutation(2 * 5 * 5 * 2).reshape(2, 5, 5, 2) / 9.0, requires_grad=True)
    pool = tc.max_pool2d if kind == "max" else tc.avg_pool2d
    assert tc.gradcheck(lambda x: pool(x, **options), [x])
    assert tc.gradgradcheck(lambda x: pool(x, **options), [x])


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("keepdims", [False, True])
def test_global_pools(data_format, keepdims):
    rng = np.random.default_rng(2)
    x = tc.Tensor(rng.standard_normal((3, 4, 5, 6)), requires_grad=True)
    axes = (1, 2) if data_format == "channels_last" else (2, 3)
    avg = tc.global_avg_pool2d(x, data_format=data_format, keepdims=keepdims)
    top = tc.global_max_pool2d(x, data_format=data_format, keepdims=keepdims)
    np.testing.assert_allclose(avg.numpy(), x.numpy().mean(axis=axes, keepdims=keepdims))
    np.testing.assert_allclose(top.numpy(), x.numpy().max(axis=axes, keepdims=keepdims))
    assert tc.gradgradcheck(lambda x: tc.global_avg_pool2d(x, data_format, keepdims) * 2, [x])
    assert tc.gradcheck(lambda x: tc.global_max_pool2d(x, data_format, keepdims), [x])


def test_max_pool_equals_global_max_for_the_whole_image():
    x = tc.randn(2, 6, 6, 3)
    np.testing.assert_array_equal(tc.max_pool2d(x, 6).numpy().reshape(2, 3), tc.global_max_pool2d(x).numpy())


def test_pool_errors():
    x = tc.zeros(1, 4, 4, 1)
    with pytest.raises(ValueError, match=r"pool window is 5 high .* padded input is only 4 high"):
        tc.max_pool2d(x, 5)
    with pytest.raises(ValueError, match=r"padding 2/0 .* smaller than the pool window 2"):
        tc.avg_pool2d(x, 2, padding=((2, 0), (0, 0)))
    with pytest.raises(ValueError, match="strides must be at least 1"):
        tc.max_pool2d(x, 2, strides=0)
    with pytest.raises(TypeError, match="pool_size must be an int or a pair"):
        tc.max_pool2d(x, 2.0)
    with pytest.raises(ValueError, match=r"4-D \(N, H, W, C\), got shape \(4, 4\)"):
        tc.max_pool2d(tc.zeros(4, 4), 2)
    with pytest.raises(ValueError, match="data_format"):
        tc.avg_pool2d(x, 2, data_format="NHWC")
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        tc.max_pool2d(x, 2, padding="full")
