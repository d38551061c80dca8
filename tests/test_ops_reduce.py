"""Reductions and the softmax family against PyTorch and finite differences."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import require_torch
from hypothesis import given, settings
from hypothesis import strategies as st
from oracle import axes, check_op, randn, seeds, shapes, torch_dims

import tinygrad_cnn as tc

REDUCTIONS = {  # name: PyTorch's op for (tensor, dims, keepdim)
    "sum": lambda t, dims, keep: t.sum(dim=dims, keepdim=keep),
    "mean": lambda t, dims, keep: t.mean(dim=dims, keepdim=keep),
    "var": lambda t, dims, keep: t.var(dim=dims, keepdim=keep, correction=0),
    "max": lambda t, dims, keep: t.amax(dim=dims, keepdim=keep),
    "min": lambda t, dims, keep: t.amin(dim=dims, keepdim=keep),
    "logsumexp": lambda t, dims, keep: t.logsumexp(dim=dims, keepdim=keep),
}


@st.composite
def shape_and_axis(draw: st.DrawFn) -> tuple[tuple[int, ...], object]:
    shape = draw(shapes)
    return shape, draw(axes(len(shape)))


@pytest.mark.parametrize("name", REDUCTIONS)
@settings(max_examples=15)
@given(case=shape_and_axis(), keepdims=st.booleans(), seed=seeds)
def test_reduction(name, case, keepdims, seed):
    shape, axis = case
    (x,) = randn(seed, shape)
    dims = torch_dims(axis, len(shape))
    check_op(lambda a: getattr(a, name)(axis=axis, keepdims=keepdims), x,
             torch_op=lambda t: REDUCTIONS[name](t, dims, keepdims), seed=seed)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@settings(max_examples=15)
@given(shape=shapes, data=st.data(), seed=seeds)
def test_softmax_family(name, shape, data, seed):
    axis = data.draw(st.integers(-max(len(shape), 1), max(len(shape), 1) - 1), label="axis")
    (x,) = randn(seed, shape)
    check_op(lambda a: getattr(a, name)(axis=axis), x,
             torch_op=lambda t: getattr(t, name)(dim=axis), seed=seed)


def test_softmax_default_axis_is_last():
    x = tc.randn(2, 3)
    np.testing.assert_allclose(x.softmax().data.sum(axis=-1), [1, 1], rtol=1e-6)


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "logsumexp"])
@pytest.mark.parametrize("dtype, tolerance", [(np.float32, 1e-5), (np.float64, 1e-10)])
def test_softmax_family_is_stable_for_large_logits(name, dtype, tolerance):
    """Logits of +-1000 overflow a naive exp; the reference is PyTorch in float64."""
    torch = require_torch()
    logits = np.array([[1000.0, 999.0, -1000.0], [-1000.0, -1001.0, -999.0]])
    x = tc.Tensor(logits.astype(dtype), requires_grad=True)
    y = getattr(x, name)(axis=-1)
    upstream = np.random.default_rng(0).standard_normal(y.shape)
    y.backward(upstream)
    t = torch.tensor(logits, requires_grad=True)
    expected = getattr(t, name)(dim=-1)
    expected.backward(torch.tensor(upstream))
    np.testing.assert_allclose(y.data, expected.detach().numpy(), rtol=tolerance, atol=tolerance)
    np.testing.assert_allclose(x.grad.data, t.grad.numpy(), rtol=tolerance, atol=tolerance)


def test_logsumexp_of_all_minus_infinity_is_minus_infinity():
    x = tc.Tensor([[-np.inf, -np.inf], [0.0, -np.inf]])
    np.testing.assert_array_equal(x.logsumexp(axis=1).data, [-np.inf, 0.0])


@pytest.mark.parametrize("axis", [(0, 0), (1, -1), 2, -3, 1.0])
def test_bad_axis_is_a_clear_error(axis):
    with pytest.raises((IndexError, ValueError, TypeError), match="axis"):
        tc.ones(2, 3).sum(axis=axis)


@pytest.mark.parametrize("call, message", [
    (lambda: tc.zeros(0, 3).mean(axis=0), "no elements"),
    (lambda: tc.zeros(0, 3).max(axis=0), "no value"),
    (lambda: tc.zeros(1).var(ddof=1), "ddof=1"),
])
def test_reducing_nothing_is_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_var_with_ddof_matches_numpy():
    x = np.random.default_rng(0).standard_normal((4, 5))
    np.testing.assert_allclose(tc.Tensor(x).var(axis=1, ddof=1).data, x.var(axis=1, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(tc.Tensor(x).std(axis=0).data, x.std(axis=0), rtol=1e-12)


@pytest.mark.parametrize("axis", [None, 1])
def test_a_nan_maximum_gives_its_gradient_to_the_nans_like_pytorch(axis):
    """max over values with NaNs is NaN, and the NaNs share its gradient (torch.max's even split)."""
    torch = require_torch()
    x = np.array([[np.nan, 1.0, np.nan, 0.5], [2.0, 3.0, 3.0, 1.0]])
    upstream = np.random.default_rng(0).standard_normal(() if axis is None else (2,))
    xt = tc.Tensor(x, requires_grad=True)
    xt.max(axis=axis).backward(tc.Tensor(upstream))
    x_torch = torch.tensor(x, requires_grad=True)
    y_torch = torch.max(x_torch) if axis is None else torch.amax(x_torch, dim=axis)
    y_torch.backward(torch.tensor(upstream))
    if axis is None:   # the whole tensor: both frameworks split evenly among the NaNs
        np.testing.assert_allclose(xt.grad.numpy(), x_torch.grad.numpy())
    else:              # per row: ours splits among the NaNs (row 0) and the tied 3s (row 1)
        np.testing.assert_allclose(xt.grad.numpy(), [[upstream[0] / 2, 0, upstream[0] / 2, 0],
                                                     [0, upstream[1] / 2, upstream[1] / 2, 0]])
