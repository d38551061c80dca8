"""Elementwise ops against PyTorch and finite differences, over drawn shapes and broadcasting pairs."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import require_torch
from hypothesis import given, settings
from hypothesis.extra import numpy as hnp
from oracle import broadcast_pairs, check_op, compare_with_torch, randn, seeds, shapes

import tinygrad_cnn as tc


def _nonzero(x: np.ndarray) -> np.ndarray:
    """Keep the sign, move |x| to at least 0.5 (a safe denominator)."""
    return np.where(x < 0, -1.0, 1.0) * (np.abs(x) + 0.5)


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}


@pytest.mark.parametrize("name", BINARY)
@settings(max_examples=15)
@given(pair=broadcast_pairs, seed=seeds)
def test_binary_broadcasting(name, pair, seed):
    a, b = randn(seed, *pair)
    check_op(BINARY[name], a, _nonzero(b), seed=seed)


@settings(max_examples=15)
@given(pair=broadcast_pairs, seed=seeds)
def test_pow_of_two_tensors(pair, seed):
    base, exponent = randn(seed, *pair)
    check_op(lambda a, b: a ** b, np.abs(base) + 0.5, exponent, seed=seed)


@pytest.mark.parametrize("exponent", [2, 3, -1, 0.5, -1.5])
@settings(max_examples=8)
@given(shape=shapes, seed=seeds)
def test_pow_by_constant(exponent, shape, seed):
    (x,) = randn(seed, shape, low=0.5)  # fractional powers need a positive base
    check_op(lambda a: a ** exponent, x, seed=seed)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pow_at_zero_matches_pytorch(dtype):
    """0^b: d/da is 0 for b == 0 and d/db is 0 for b >= 0 (PyTorch's limits), never NaN."""
    base, exponent = np.array([0.0, 0.0, 0.0, 1.5, 0.0]), np.array([0.0, 2.0, 1.0, 0.0, 3.5])
    compare_with_torch(lambda a, b: a ** b, (base, exponent), lambda a, b: a ** b, dtype)
    compare_with_torch(lambda a: a ** 0, (base,), lambda a: a ** 0, dtype)


@pytest.mark.parametrize("op", [lambda a: 2.0 - a, lambda a: 3.0 / a, lambda a: 1.5 ** a, lambda a: 2 * a + 1],
                         ids=["rsub", "rtruediv", "rpow", "rmul-radd"])
@settings(max_examples=8)
@given(shape=shapes, seed=seeds)
def test_number_on_the_left(op, shape, seed):
    (x,) = randn(seed, shape, low=0.5)
    check_op(op, x, seed=seed)


UNARY = {  # name: (our op, PyTorch's op, lowest input or None for any real)
    "neg": (lambda a: -a, lambda a: -a, None),
    "abs": (lambda a: a.abs(), lambda a: a.abs(), None),
    "exp": (lambda a: a.exp(), lambda a: a.exp(), None),
    "log": (lambda a: a.log(), lambda a: a.log(), 0.1),
    "sqrt": (lambda a: a.sqrt(), lambda a: a.sqrt(), 0.1),
    "tanh": (lambda a: a.tanh(), lambda a: a.tanh(), None),
    "sigmoid": (lambda a: a.sigmoid(), lambda a: a.sigmoid(), None),
    "relu": (lambda a: a.relu(), lambda a: a.relu(), None),
    "leaky_relu": (lambda a: a.leaky_relu(0.1), lambda a: require_torch().nn.functional.leaky_relu(a, 0.1), None),
    "clip": (lambda a: a.clip(-0.5, 0.7), lambda a: a.clamp(-0.5, 0.7), None),
    "clip_min_only": (lambda a: a.clip(min=0.2), lambda a: a.clamp(min=0.2), None),
}


@pytest.mark.parametrize("name", UNARY)
@settings(max_examples=12)
@given(shape=shapes, seed=seeds)
def test_unary(name, shape, seed):
    op, torch_op, low = UNARY[name]
    (x,) = randn(seed, shape, low=low)
    check_op(op, x, torch_op=torch_op, seed=seed)


def test_builtin_abs_is_the_method():
    x = tc.Tensor([-2.0, 3.0])
    np.testing.assert_array_equal(abs(x).data, [2.0, 3.0])


@settings(max_examples=10)
@given(shape=shapes, seed=seeds)
def test_sigmoid_saturates_without_overflow(shape, seed):
    (x,) = randn(seed, shape)
    big = tc.Tensor(x * 1000, requires_grad=True)
    y = big.sigmoid()
    y.backward(tc.ones_like(y))
    assert np.isfinite(y.data).all() and np.isfinite(big.grad.data).all()


@pytest.mark.parametrize("name", ["maximum", "minimum"])
@settings(max_examples=15)
@given(pair=broadcast_pairs, seed=seeds)
def test_maximum_minimum(name, pair, seed):
    a, b = randn(seed, *pair)
    check_op(getattr(tc, name), a, b, torch_op=lambda x, y: getattr(x.__class__, name)(x, y), seed=seed)


@settings(max_examples=15)
@given(shapes3=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3), seed=seeds)
def test_where(shapes3, seed):
    torch = require_torch()
    cond_shape, a_shape, b_shape = shapes3.input_shapes
    condition = np.random.default_rng(seed).random(cond_shape) < 0.5
    a, b = randn(seed, a_shape, b_shape)
    check_op(lambda x, y: tc.where(tc.Tensor(condition), x, y), a, b,
             torch_op=lambda x, y: torch.where(torch.tensor(condition), x, y), seed=seed)


@settings(max_examples=10)
@given(pair=broadcast_pairs, seed=seeds)
def test_clip_with_tensor_bounds(pair, seed):
    x, low = randn(seed, *pair)
    check_op(lambda a, lo: a.clip(lo, lo + 1.0), x, low,
             torch_op=lambda a, lo: a.clamp(lo, lo + 1.0), seed=seed)


@pytest.mark.parametrize("number", [2, 2.5, True])
def test_python_numbers_keep_float32(number):
    x = tc.ones(3)
    for y in (x + number, number * x, x / number, x ** number, number - x):
        assert y.dtype == np.float32


def test_float64_wins_over_float32():
    assert (tc.ones(2) + tc.ones(2, dtype="float64")).dtype == np.float64


@pytest.mark.parametrize("op", [lambda a: a + "x", lambda a: a * object(), lambda a: a @ 2.0])
def test_bad_operand_is_a_clear_error(op):
    with pytest.raises((TypeError, ValueError), match="(operand|matmul)"):
        op(tc.ones(2, 2))


def test_where_needs_a_bool_condition():
    with pytest.raises(TypeError, match="condition must be bool"):
        tc.where(tc.ones(2), tc.ones(2), tc.zeros(2))


def test_clip_needs_a_bound():
    with pytest.raises(ValueError, match="at least one"):
        tc.ones(2).clip()
