"""Losses: values and gradients against PyTorch, stability, second order, Keras names and bad labels."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import require_torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn import losses

batches = st.integers(1, 6)
widths = st.integers(2, 5)


def value_and_grad(fn, y_pred: np.ndarray, upstream: np.ndarray | None = None):
    """Our loss value and d loss / d y_pred (times a random upstream when the loss is not a scalar)."""
    x = tc.Tensor(y_pred, requires_grad=True)
    out = fn(x)
    out.backward(None if upstream is None else tc.Tensor(upstream))
    return out.data, x.grad.data


def torch_value_and_grad(torch, fn, y_pred: np.ndarray, upstream: np.ndarray | None = None):
    x = torch.tensor(y_pred, requires_grad=True)
    out = fn(x)
    out.backward(None if upstream is None else torch.tensor(upstream))
    return out.detach().numpy(), x.grad.numpy()


def assert_same(ours, theirs, tol=1e-10):
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@settings(max_examples=20)
@given(n=batches, c=widths, seed=st.integers(0, 2**16), scale=st.sampled_from([1.0, 30.0, 300.0]),
       reduction=st.sampled_from(["mean", "sum", "none"]))
def test_sparse_categorical_from_logits_matches_torch(n, c, seed, scale, reduction):
    torch = require_torch()
    rng = np.random.default_rng(seed)
    logits, labels = rng.standard_normal((n, c)) * scale, rng.integers(0, c, n)
    upstream = rng.standard_normal(n) if reduction == "none" else None
    ours = value_and_grad(lambda x: losses.sparse_categorical_crossentropy(labels, x, from_logits=True,
                                                                          reduction=reduction), logits, upstream)
    theirs = torch_value_and_grad(torch, lambda x: torch.nn.functional.cross_entropy(
        x, torch.tensor(labels), reduction=reduction), logits, upstream)
    assert np.all(np.isfinite(ours[0]))
    assert_same(ours, theirs, 1e-9)


@settings(max_examples=20)
@given(n=batches, c=widths, seed=st.integers(0, 2**16))
def test_sparse_and_categorical_from_probabilities_match_torch(n, c, seed):
    torch = require_torch()
    rng = np.random.default_rng(seed)
    logits, labels = rng.standard_normal((n, c)), rng.integers(0, c, n)
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    onehot = np.eye(c)[labels]

    def reference(x):  # what Keras does: renormalise, clip to [1e-7, 1 - 1e-7], -log p[label]
        p = (x / x.sum(1, keepdim=True)).clamp(1e-7, 1 - 1e-7)
        return torch.nn.functional.nll_loss(p.log(), torch.tensor(labels))

    theirs = torch_value_and_grad(torch, reference, probs)
    assert_same(value_and_grad(lambda x: losses.SparseCategoricalCrossentropy()(labels, x), probs), theirs)
    assert_same(value_and_grad(lambda x: losses.CategoricalCrossentropy()(onehot, x), probs), theirs)


@settings(max_examples=20)
@given(n=batches, c=widths, seed=st.integers(0, 2**16), scale=st.sampled_from([1.0, 100.0]))
def test_categorical_from_logits_with_soft_targets_matches_torch(n, c, seed, scale):
    torch = require_torch()
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, c)) * scale
    targets = rng.dirichlet(np.ones(c), n)
    ours = value_and_grad(lambda x: losses.categorical_crossentropy(targets, x, from_logits=True), logits)
    theirs = torch_value_and_grad(torch, lambda x: torch.nn.functional.cross_entropy(x, torch.tensor(targets)),
                                  logits)
    assert_same(ours, theirs, 1e-9)


@settings(max_examples=20)
@given(n=batches, k=st.integers(1, 3), seed=st.integers(0, 2**16), scale=st.sampled_from([1.0, 50.0, 800.0]))
def test_binary_crossentropy_matches_torch(n, k, seed, scale):
    torch = require_torch()
    rng = np.random.default_rng(seed)
    logits, targets = rng.standard_normal((n, k)) * scale, rng.random((n, k))
    ours = value_and_grad(lambda x: losses.BinaryCrossentropy(from_logits=True)(targets, x), logits)
    theirs = torch_value_and_grad(torch, lambda x: torch.nn.functional.binary_cross_entropy_with_logits(
        x, torch.tensor(targets)), logits)
    assert np.isfinite(ours[0])
    assert_same(ours, theirs, 1e-9)
    probs = 1 / (1 + np.exp(-logits / scale))
    ours = value_and_grad(lambda x: losses.binary_crossentropy(targets, x), probs)
    theirs = torch_value_and_grad(torch, lambda x: torch.nn.functional.binary_cross_entropy(
        x.clamp(1e-7, 1 - 1e-7), torch.tensor(targets)), probs)
    assert_same(ours, theirs)


@settings(max_examples=20)
@given(n=batches, k=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_mean_squared_error_matches_torch(n, k, seed):
    torch = require_torch()
    rng = np.random.default_rng(seed)
    pred, target = rng.standard_normal((n, k)), rng.standard_normal((n, k))
    theirs = torch_value_and_grad(torch, lambda x: torch.nn.functional.mse_loss(x, torch.tensor(target)), pred)
    for loss in (losses.mse, losses.MeanSquaredError(), losses.get("mean_squared_error")):
        assert_same(value_and_grad(lambda x, loss=loss: loss(target, x), pred), theirs)


def test_per_sample_reduction_shapes_and_column_labels():
    logits = np.random.default_rng(0).standard_normal((4, 3))
    none = losses.sparse_categorical_crossentropy([0, 1, 2, 0], logits, from_logits=True, reduction="none")
    column = losses.sparse_categorical_crossentropy(np.array([[0], [1], [2], [0]]), logits, from_logits=True)
    assert none.shape == (4,)
    np.testing.assert_allclose(column.item(), none.data.mean())
    assert losses.mse(np.zeros(4), np.ones((4, 1), np.float32)).item() == 1.0  # (N,) targets, (N, 1) outputs


def test_extreme_logits_stay_finite():
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]])
    for loss in (losses.SparseCategoricalCrossentropy(from_logits=True),):
        value, grad = value_and_grad(lambda x, loss=loss: loss(np.array([1, 1]), x), logits)
        assert np.isfinite(value) and np.all(np.isfinite(grad))
        np.testing.assert_allclose(value, 1e4)  # one sample is 2e4 wrong, the other right
    value, grad = value_and_grad(lambda x: losses.binary_crossentropy(np.ones((2, 3)), x, from_logits=True), logits)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    value, _ = value_and_grad(lambda x: losses.binary_crossentropy(np.ones((1, 2)), x), np.array([[0.0, 1.0]]))
    np.testing.assert_allclose(value, -np.log(1e-7) / 2)  # clipped like Keras, not infinite


def loss_fns(labels, onehot, targets):
    return [
        lambda x: losses.sparse_categorical_crossentropy(labels, x, from_logits=True, reduction="none"),
        lambda x: losses.sparse_categorical_crossentropy(labels, x.softmax(-1), reduction="none"),
        lambda x: losses.categorical_crossentropy(onehot, x, from_logits=True, reduction="none"),
        lambda x: losses.binary_crossentropy(targets, x, from_logits=True, reduction="none"),
        lambda x: losses.binary_crossentropy(targets, x.sigmoid(), reduction="none"),
        lambda x: losses.mean_squared_error(targets, x, reduction="none"),
    ]


@pytest.mark.parametrize("index", range(6))
def test_first_and_second_derivatives_by_finite_differences(index):
    rng = np.random.default_rng(index)
    labels = rng.integers(0, 3, 4)
    fn = loss_fns(labels, np.eye(3)[labels], rng.random((4, 3)))[index]
    x = tc.Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    assert tc.gradcheck(fn, (x,))
    assert tc.gradgradcheck(fn, (x,))


def test_get_accepts_keras_names_instances_and_callables():
    assert isinstance(losses.get("mse"), losses.MeanSquaredError)
    assert isinstance(losses.get("binary_crossentropy"), losses.BinaryCrossentropy)
    assert isinstance(losses.get("categorical_crossentropy"), losses.CategoricalCrossentropy)
    assert isinstance(losses.get("sparse_categorical_crossentropy"), losses.SparseCategoricalCrossentropy)
    assert isinstance(losses.get("SparseCategoricalCrossentropy"), losses.SparseCategoricalCrossentropy)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    assert losses.get(loss) is loss

    def custom(y_true, y_pred):
        return (y_pred ** 2).mean()
    assert losses.get(custom) is custom
    rebuilt = losses.get(losses.serialize(loss))
    assert isinstance(rebuilt, losses.SparseCategoricalCrossentropy) and rebuilt.from_logits
    with pytest.raises(ValueError, match="unknown loss 'hinge_loss'.*sparse_categorical_crossentropy"):
        losses.get("hinge_loss")
    with pytest.raises(TypeError, match="a loss must be"):
        losses.get(None)


@pytest.mark.parametrize("call, error, message", [
    (lambda: losses.sparse_categorical_crossentropy([0, 3], np.zeros((2, 3)), True), IndexError,
     "label 3 is out of range for 3 classes"),
    (lambda: losses.sparse_categorical_crossentropy([-1, 0], np.zeros((2, 3)), True), IndexError,
     "label -1 is out of range"),
    (lambda: losses.sparse_categorical_crossentropy([0.0, 1.0], np.zeros((2, 3)), True), TypeError,
     "integer class indices, got dtype float64"),
    (lambda: losses.sparse_categorical_crossentropy(np.eye(3)[:2], np.zeros((2, 3)), True), TypeError,
     "one-hot rows: use categorical_crossentropy"),
    (lambda: losses.sparse_categorical_crossentropy([0, 1, 2], np.zeros((2, 3)), True), ValueError,
     r"y_true has shape \(3,\) but y_pred has shape \(2, 3\)"),
    (lambda: losses.sparse_categorical_crossentropy(np.zeros(0, int), np.zeros((0, 3)), True), ValueError,
     "empty batch"),
    (lambda: losses.categorical_crossentropy([[0, 1.0]], np.zeros((1, 3))), ValueError,
     r"y_true has shape \(1, 2\) but y_pred has shape \(1, 3\)"),
    (lambda: losses.binary_crossentropy([[np.nan]], np.zeros((1, 1))), ValueError,
     r"y_true contains NaN at index \(0, 0\); clean"),
    (lambda: losses.sparse_categorical_crossentropy([0, np.nan], np.zeros((2, 3))), ValueError,
     r"y_true holds nan at index \(1,\)"),
    (lambda: losses.binary_crossentropy([[2.0]], np.zeros((1, 1))), ValueError, r"must lie in \[0.0, 1.0\]"),
    (lambda: losses.mse([[1.0]], np.zeros((1, 1), int)), TypeError, "y_pred must be floating point"),
    (lambda: losses.mse([[1.0]], np.zeros((1, 1)), reduction="avg"), ValueError, "reduction must be one of"),
    (lambda: losses.mse([[1.0, 2.0], [1.0]], np.zeros((2, 2))), ValueError,
     r"mean_squared_error: y_true must be rectangular \(every sample the same shape\)"),
    (lambda: losses.sparse_categorical_crossentropy([[1], [1, 2]], np.zeros((2, 3))), ValueError,
     "sparse_categorical_crossentropy: y_true must be rectangular"),
    (lambda: losses.categorical_crossentropy(None, np.zeros((2, 3))), TypeError,
     "categorical_crossentropy: y_true is None"),
])
def test_bad_inputs_raise_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
