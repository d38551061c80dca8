"""Batched matmul (NumPy semantics: 1-D operands, broadcast batch axes) against PyTorch."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from oracle import check_op, randn, seeds

import tinygrad_cnn as tc


@st.composite
def matmul_shapes(draw: st.DrawFn) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(..., m, k) @ (..., k, n) with broadcasting batch axes; either side may be a 1-D vector (k,)."""
    m, k, n = (draw(st.integers(1, 3)) for _ in range(3))
    batch_a, batch_b = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3)).input_shapes
    left = (k,) if draw(st.booleans()) else (*batch_a, m, k)
    right = (k,) if draw(st.booleans()) else (*batch_b, k, n)
    return left, right


@settings(max_examples=30)
@given(pair=matmul_shapes(), seed=seeds)
def test_matmul(pair, seed):
    a, b = randn(seed, *pair)
    check_op(lambda x, y: x @ y, a, b, seed=seed)


def test_array_on_the_left_and_lists():
    a = np.arange(6.0).reshape(2, 3)
    x = tc.Tensor(np.ones((3, 2)), requires_grad=True)
    y = a @ x
    assert isinstance(y, tc.Tensor) and y.requires_grad
    np.testing.assert_allclose(y.data, a @ np.ones((3, 2)))
    np.testing.assert_allclose((x @ [1.0, 2.0]).data, [3.0, 3.0, 3.0])


def test_gradient_of_shared_weight_sums_over_the_batch():
    w = tc.Tensor(np.eye(2), requires_grad=True)
    (tc.ones(5, 3, 2) @ w).sum().backward()
    np.testing.assert_array_equal(w.grad.data, np.full((2, 2), 15.0))


@pytest.mark.parametrize("left, right, message", [
    ((2, 3), (2, 3), r"\(2, 3\) @ \(2, 3\) do not fit.*\(3\) must equal the second-to-last axis of the right \(2\)"),
    ((3,), (2,), r"must equal the only axis"),
    ((2, 2, 3), (3, 3, 1), "batch axes must broadcast"),
    ((), (3,), "at least 1-D"),
])
def test_shape_mismatch_is_a_clear_error(left, right, message):
    with pytest.raises(ValueError, match=message):
        tc.ones(left) @ tc.ones(right)


def _product_and_grads(a: np.ndarray, b: np.ndarray, upstream: np.ndarray) -> list[np.ndarray]:
    ta, tb = tc.Tensor(a, requires_grad=True), tc.Tensor(b, requires_grad=True)
    y = ta @ tb
    y.backward(upstream)
    return [y.numpy(), ta.grad.numpy(), tb.grad.numpy()]


@pytest.mark.parametrize("shape_a, shape_b", [((7, 5), (5, 3)), ((2, 7, 5), (5, 3)), ((7, 5), (4, 5, 3)),
                                              ((3, 1, 6, 4), (2, 4, 5)), ((1, 4), (4, 2)), ((0, 4), (4, 2))])
@pytest.mark.parametrize("threads", [2, 3])
def test_a_product_split_over_threads_equals_one_numpy_matmul(shape_a, shape_b, threads, monkeypatch):
    """The rows of a product split between threads (forced on small arrays): the same product and gradients."""
    from tinygrad_cnn import parallel
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(shape_a), rng.standard_normal(shape_b)
    upstream = rng.standard_normal(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + (a.shape[-2], b.shape[-1]))
    expected = _product_and_grads(a, b, upstream)      # small: one np.matmul each
    monkeypatch.setattr(parallel, "MIN_BYTES_PER_THREAD", 1)
    before = tc.get_num_threads()
    tc.set_num_threads(threads)
    try:
        split = _product_and_grads(a, b, upstream)
    finally:
        tc.set_num_threads(before)
    for got, want in zip(split, expected):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
