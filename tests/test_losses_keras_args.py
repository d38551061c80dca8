"""Keras 3's cross-entropy arguments: label_smoothing, axis, ignore_class, name, dtype (PyTorch as the oracle)."""
from __future__ import annotations

import inspect
import os

import numpy as np
import pytest
from conftest import require_torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn import losses

seeds = st.integers(0, 2**16)


def ours_value_and_grad(fn, y_pred: np.ndarray, upstream: np.ndarray):
    """fn(y_pred) and d(sum(upstream * fn)) / d y_pred."""
    x = tc.Tensor(y_pred, requires_grad=True)
    out = fn(x)
    out.backward(tc.Tensor(upstream))
    return out.data, x.grad.data


def torch_value_and_grad(torch, fn, y_pred: np.ndarray, upstream: np.ndarray):
    x = torch.tensor(y_pred, requires_grad=True)
    out = fn(x)
    out.backward(torch.tensor(upstream))
    return out.detach().numpy(), x.grad.numpy()


def assert_same(ours, theirs, tol=1e-9):
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def upstream_for(reduction: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    return rng.normal(size=() if reduction != "none" else shape)


# --- ignore_class: no loss, no gradient, out of the mean ----------------------------------------

@settings(max_examples=25)
@given(n=st.integers(1, 5), c=st.integers(2, 5), extra=st.sampled_from([(), (3,), (2, 3)]), seed=seeds,
       from_logits=st.booleans(), reduction=st.sampled_from(["mean", "sum", "none"]),
       ignore=st.sampled_from([-1, 0, 255]))
def test_ignore_class_matches_torch_ignore_index(n, c, extra, seed, from_logits, reduction, ignore):
    torch = require_torch()
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c) + extra) * 3
    labels = rng.integers(0, c, size=(n,) + extra)
    labels[rng.random(labels.shape) < 0.4] = ignore
    labels.flat[0] = 1 if ignore != 1 else 0  # at least one kept label (an empty mean is tested below)
    up = upstream_for(reduction, labels.shape, rng)
    axis = 1 if extra else -1  # PyTorch's class axis is 1

    def ours(x):
        y_pred = x if from_logits else x.softmax(axis)
        return losses.sparse_categorical_crossentropy(labels, y_pred, from_logits, ignore, axis, reduction)

    def theirs(x):
        logits = x if from_logits else x.softmax(1).log()
        return torch.nn.functional.cross_entropy(logits, torch.tensor(labels), ignore_index=ignore,
                                                 reduction=reduction)
    assert_same(ours_value_and_grad(ours, logits, up), torch_value_and_grad(torch, theirs, logits, up))


@settings(max_examples=20)
@given(n=st.integers(2, 6), c=st.integers(2, 4), seed=seeds, from_logits=st.booleans(),
       reduction=st.sampled_from(["mean", "sum", "none", "mean_with_sample_weight"]),
       column=st.booleans())
def test_ignore_class_with_sample_weight(n, c, seed, from_logits, reduction, column):
    """Keras: mean = sum(w * loss over kept) / kept count; mean_with_sample_weight = ... / sum(w over kept)."""
    torch = require_torch()
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c))
    labels = rng.integers(0, c, size=n)
    labels[rng.random(n) < 0.5] = -1
    labels[0] = 0
    weights = rng.uniform(0.1, 2.0, size=n)
    kept = labels != -1
    up = upstream_for(reduction, (n, 1) if column else (n,), rng)  # Keras: (N, 1) weights give (N, 1) losses

    def ours(x):
        loss = losses.SparseCategoricalCrossentropy(from_logits=from_logits, ignore_class=-1, reduction=reduction)
        return loss(labels, x if from_logits else x.softmax(-1), sample_weight=weights[:, None] if column else weights)

    def theirs(x):
        per = torch.nn.functional.cross_entropy(x, torch.tensor(labels), ignore_index=-1, reduction="none")
        weighted = per * torch.tensor(weights)
        if reduction == "none":
            return weighted.reshape(up.shape)
        divisor = {"mean": kept.sum(), "sum": 1.0, "mean_with_sample_weight": weights[kept].sum()}[reduction]
        return weighted.sum() / divisor
    assert_same(ours_value_and_grad(ours, logits, up), torch_value_and_grad(torch, theirs, logits, up))


@pytest.mark.parametrize("reduction", ["mean", "mean_with_sample_weight", "sum"])
def test_every_label_ignored_gives_zero_not_nan(reduction):
    logits = tc.Tensor(np.random.default_rng(0).normal(size=(3, 4)), requires_grad=True)
    loss = losses.sparse_categorical_crossentropy([7, 7, 7], logits, True, 7, reduction=reduction)
    loss.backward()
    assert loss.item() == 0.0 and not logits.grad.data.any()


def test_ignore_class_inside_the_valid_range_drops_only_that_class():
    logits = np.random.default_rng(1).normal(size=(4, 3))
    labels = np.array([0, 2, 1, 2])
    dropped = losses.sparse_categorical_crossentropy(labels, logits, True, ignore_class=2, reduction="none").data
    full = losses.sparse_categorical_crossentropy(labels, logits, True, reduction="none").data
    np.testing.assert_array_equal(dropped, np.where(labels == 2, 0.0, full))
    mean = losses.SparseCategoricalCrossentropy(True, 2)(labels, logits).item()
    assert mean == pytest.approx(full[[0, 2]].mean(), rel=1e-12)


def test_fit_with_ignore_class_skips_padding_labels():
    """A segmentation-style model: labels 255 (void) change neither the loss nor the weights' gradients."""
    rng = np.random.default_rng(2)
    x = rng.normal(size=(8, 5)).astype(np.float32)
    y = rng.integers(0, 3, size=8)
    padded = np.where(rng.random(8) < 0.5, 255, y)
    padded[0] = y[0]
    kept = padded != 255
    tc.manual_seed(0)
    model = tc.Sequential([tc.layers.Input((5,)), tc.layers.Dense(3)])
    model.compile("sgd", losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255))
    expected = losses.sparse_categorical_crossentropy(y[kept], model.predict(x[kept], verbose=0), True).item()
    assert model.evaluate(x, padded, verbose=0) == pytest.approx(expected, rel=1e-5)


# --- label_smoothing and axis -----------------------------------------------------------------

@settings(max_examples=25)
@given(n=st.integers(1, 5), c=st.integers(2, 5), extra=st.sampled_from([(), (3,)]), seed=seeds,
       smoothing=st.sampled_from([0.0, 0.1, 0.35, 1.0]), from_logits=st.booleans(),
       reduction=st.sampled_from(["mean", "sum", "none"]), soft=st.booleans())
def test_categorical_label_smoothing_matches_torch(n, c, extra, seed, smoothing, from_logits, reduction, soft):
    """y (1 - s) + s / C over the class axis: PyTorch's cross_entropy(label_smoothing=) on class-probability targets."""
    torch = require_torch()
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c) + extra) * 2
    targets = rng.dirichlet(np.ones(c), size=(n,) + extra) if soft else np.eye(c)[rng.integers(0, c, (n,) + extra)]
    targets = np.moveaxis(targets, -1, 1)  # (N, ..., C) -> (N, C, ...): the class axis 1
    axis = 1 if extra else -1
    up = upstream_for(reduction, (n,) + extra, rng)

    def ours(x):
        y_pred = x if from_logits else x.softmax(axis)
        return losses.categorical_crossentropy(targets, y_pred, from_logits, smoothing, axis, reduction)

    def theirs(x):
        logits = x if from_logits else x.softmax(1).log()
        return torch.nn.functional.cross_entropy(logits, torch.tensor(targets), label_smoothing=smoothing,
                                                 reduction=reduction)
    assert_same(ours_value_and_grad(ours, logits, up), torch_value_and_grad(torch, theirs, logits, up))


@settings(max_examples=25)
@given(n=st.integers(1, 5), d=st.integers(1, 4), seed=seeds, smoothing=st.sampled_from([0.0, 0.2, 1.0]),
       from_logits=st.booleans(), reduction=st.sampled_from(["mean", "sum", "none"]))
def test_binary_label_smoothing_matches_torch(n, d, seed, smoothing, from_logits, reduction):
    """y (1 - s) + s / 2: PyTorch's binary_cross_entropy(_with_logits) on the smoothed targets."""
    torch = require_torch()
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, d)) * 3
    targets = rng.integers(0, 2, size=(n, d)).astype(float)
    smoothed = torch.tensor(targets * (1 - smoothing) + smoothing / 2)
    up = upstream_for(reduction, (n,), rng)

    def ours(x):
        y_pred = x if from_logits else x.sigmoid()
        return losses.BinaryCrossentropy(from_logits, smoothing, reduction=reduction)(targets, y_pred)

    def theirs(x):
        per = (torch.nn.functional.binary_cross_entropy_with_logits(x, smoothed, reduction="none") if from_logits
               else torch.nn.functional.binary_cross_entropy(x.sigmoid(), smoothed, reduction="none")).mean(-1)
        return {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    assert_same(ours_value_and_grad(ours, logits, up), torch_value_and_grad(torch, theirs, logits, up))


def test_binary_axis_is_checked_and_every_output_axis_averaged():
    rng = np.random.default_rng(3)
    y_pred, y_true = rng.uniform(0.1, 0.9, (2, 3, 4)), rng.integers(0, 2, (2, 3, 4))
    first = losses.binary_crossentropy(y_true, y_pred, axis=1, reduction="none").data
    np.testing.assert_allclose(first, losses.binary_crossentropy(y_true, y_pred, reduction="none").data)
    assert first.shape == (2,)
    with pytest.raises(ValueError, match=r"axis 3 is not a feature axis of y_pred with shape \(2, 3, 4\)"):
        losses.binary_crossentropy(y_true, y_pred, axis=3)
    flat = losses.binary_crossentropy([1, 0], [0.8, 0.3], reduction="none").data  # (N,): one output per sample
    np.testing.assert_allclose(flat, -np.log([0.8, 0.7]), rtol=1e-6)  # lists are float32
    with pytest.raises(ValueError, match=r"shape \(2,\); y_pred has no axis after the batch axis"):
        losses.binary_crossentropy([1, 0], [0.8, 0.3], axis=0)


def test_gradcheck_float64():
    rng = np.random.default_rng(4)
    logits = tc.Tensor(rng.normal(size=(3, 4, 2)), requires_grad=True)
    labels = np.array([[0, -1], [3, 2], [-1, -1]])
    onehot = np.moveaxis(np.eye(4)[[[0, 1], [3, 2], [2, 2]]], -1, 1)  # (3, 2, 4) -> (3, 4, 2)
    weights = rng.uniform(0.5, 1.5, size=(3, 1))
    assert tc.gradcheck(lambda x: losses.sparse_categorical_crossentropy(
        labels, x, True, -1, 1, "mean_with_sample_weight", weights), (logits,))
    assert tc.gradcheck(lambda x: losses.categorical_crossentropy(onehot, x.softmax(1), False, 0.3, 1), (logits,))
    assert tc.gradcheck(lambda x: losses.binary_crossentropy(onehot, x, True, 0.4, reduction="none"), (logits,))
    assert tc.gradgradcheck(lambda x: losses.categorical_crossentropy(onehot, x, True, 0.3, 1), (logits,))


# --- signatures, names, configs, model files --------------------------------------------------

@pytest.mark.parametrize("target, expected", [
    (losses.BinaryCrossentropy, ["from_logits", "label_smoothing", "axis", "reduction", "name", "dtype"]),
    (losses.CategoricalCrossentropy, ["from_logits", "label_smoothing", "axis", "reduction", "name", "dtype"]),
    (losses.SparseCategoricalCrossentropy, ["from_logits", "ignore_class", "reduction", "name", "dtype"]),
    (losses.Loss, ["name", "reduction", "dtype"]),  # Keras's base class: name first (a loss of your own)
    (losses.MeanSquaredError, ["reduction", "name", "dtype"]),  # the built-in ones: reduction first
    (losses.Huber, ["delta", "reduction", "name", "dtype"]),
    (losses.binary_crossentropy, ["y_true", "y_pred", "from_logits", "label_smoothing", "axis"]),
    (losses.categorical_crossentropy, ["y_true", "y_pred", "from_logits", "label_smoothing", "axis"]),
    (losses.sparse_categorical_crossentropy, ["y_true", "y_pred", "from_logits", "ignore_class", "axis"]),
])
def test_keras_positional_order_and_defaults(target, expected):
    parameters = list(inspect.signature(target).parameters.values())
    assert [p.name for p in parameters][:len(expected)] == expected
    defaults = {"from_logits": False, "label_smoothing": 0.0, "axis": -1, "ignore_class": None, "dtype": None}
    assert all(p.default == defaults[p.name] for p in parameters if p.name in defaults)


KERAS_NAMES = {
    losses.MeanSquaredError: "mean_squared_error", losses.MeanAbsoluteError: "mean_absolute_error",
    losses.MeanAbsolutePercentageError: "mean_absolute_percentage_error",
    losses.MeanSquaredLogarithmicError: "mean_squared_logarithmic_error", losses.Huber: "huber_loss",
    losses.LogCosh: "log_cosh", losses.Hinge: "hinge", losses.SquaredHinge: "squared_hinge",
    losses.CategoricalHinge: "categorical_hinge", losses.KLDivergence: "kl_divergence", losses.Poisson: "poisson",
    losses.CosineSimilarity: "cosine_similarity", losses.BinaryCrossentropy: "binary_crossentropy",
    losses.CategoricalCrossentropy: "categorical_crossentropy",
    losses.SparseCategoricalCrossentropy: "sparse_categorical_crossentropy",
}


@pytest.mark.parametrize("cls", list(KERAS_NAMES))
def test_every_loss_has_keras_default_name_a_custom_name_and_keeps_it_in_its_config(cls):
    assert cls().name == KERAS_NAMES[cls] and cls().get_config()["name"] == KERAS_NAMES[cls]
    named = cls(name="my_loss", dtype="float64")
    config = named.get_config()
    assert config["name"] == "my_loss" and config["dtype"] == "float64"
    again = cls.from_config(config)
    assert type(again) is cls and again.get_config() == config
    assert losses.get(losses.serialize(named)).get_config() == config
    old = {key: value for key, value in cls().get_config().items() if key != "name"}  # a file of an older version
    assert cls.from_config(old).name == KERAS_NAMES[cls]


def test_a_loss_of_your_own_takes_its_name_first_as_in_keras():
    class Scaled(losses.Loss):
        def call(self, y_true, y_pred):
            return ((y_pred - y_true) * 2).sum(-1)

    loss = Scaled("scaled", "sum")
    assert loss.name == "scaled" and loss.reduction == "sum" and Scaled().name == "loss"
    assert loss([[1.0, 2.0]], [[2.0, 2.5]]).item() == 3.0


def test_the_configured_arguments_survive_a_model_file(tmp_path):
    model = tc.Sequential([tc.layers.Input((3,)), tc.layers.Dense(4)])
    model.compile("sgd", losses.CategoricalCrossentropy(True, 0.1, name="smooth_cce"))
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = tc.load_model(path).compiled_outputs.losses[0]
    assert loaded.get_config() == model.compiled_outputs.losses[0].get_config()
    assert loaded.name == "smooth_cce" and loaded.label_smoothing == 0.1
    sparse = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=255)
    assert losses.get(losses.serialize(sparse)).ignore_class == 255


def test_dtype_is_the_dtype_the_loss_computes_in():
    x = tc.Tensor(np.random.default_rng(5).normal(size=(4, 3)).astype(np.float32), requires_grad=True)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, dtype="float64")([0, 1, 2, 0], x)
    assert loss.dtype == np.float64
    loss.backward()
    assert x.grad.dtype == np.float32
    expected = losses.sparse_categorical_crossentropy([0, 1, 2, 0], x.data.astype(np.float64), True).item()
    assert loss.item() == expected


@pytest.mark.parametrize("call, error, message", [
    (lambda: losses.CategoricalCrossentropy(label_smoothing=1.5), ValueError,
     r"label_smoothing must be in \[0.0, 1.0\]"),
    (lambda: losses.BinaryCrossentropy(label_smoothing=-0.1), ValueError, r"label_smoothing must be in \[0.0, 1.0\]"),
    (lambda: losses.BinaryCrossentropy(label_smoothing=float("nan")), ValueError, "label_smoothing must be a finite"),
    (lambda: losses.BinaryCrossentropy(label_smoothing="0.1"), TypeError, "label_smoothing must be a number"),
    (lambda: losses.CategoricalCrossentropy(label_smoothing=True), TypeError, "label_smoothing must be a number"),
    (lambda: losses.categorical_crossentropy([[0, 1.0]], np.ones((1, 2)), False, 2.0), ValueError,
     r"categorical_crossentropy: label_smoothing must be in \[0.0, 1.0\], got 2.0"),
    (lambda: losses.CategoricalCrossentropy(axis=1.0), TypeError, "axis must be an int axis, got float"),
    (lambda: losses.categorical_crossentropy([[0, 1.0]], np.ones((1, 2)), axis=2), ValueError,
     r"axis 2 is not a feature axis of y_pred with shape \(1, 2\); pass an axis from 1 to 1"),
    (lambda: losses.CategoricalCrossentropy(axis=0)([[0, 1.0]], np.ones((1, 2))), ValueError,
     "not the batch axis 0"),
    (lambda: losses.sparse_categorical_crossentropy([0], np.ones((1, 2)), axis=-3), ValueError,
     "axis -3 is not a feature axis"),
    (lambda: losses.SparseCategoricalCrossentropy(ignore_class=1.5), TypeError,
     "ignore_class must be an int label .* got float 1.5"),
    (lambda: losses.sparse_categorical_crossentropy([0], np.ones((1, 2)), ignore_class="255"), TypeError,
     "ignore_class must be an int label"),
    (lambda: losses.sparse_categorical_crossentropy([0, 5], np.ones((2, 2)), ignore_class=-1), IndexError,
     r"label 5 is out of range for 2 classes"),
    (lambda: losses.sparse_categorical_crossentropy([0, 5], np.ones((2, 2))), IndexError, "pass ignore_class="),
    (lambda: losses.MeanSquaredError(name=3), TypeError, "name must be a non-empty str .* got 3"),
    (lambda: losses.Huber(name=""), TypeError, "name must be a non-empty str"),
    (lambda: losses.BinaryCrossentropy(dtype="int32"), ValueError, "dtype must be a float dtype .* got 'int32'"),
    (lambda: losses.MeanSquaredError(dtype="wat"), ValueError, "dtype must be a float dtype"),
])
def test_bad_arguments_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_fused_sparse_gradient_of_transposed_logits(torch):
    """The fused op's backward writes the -1 of the one-hot into C-ordered memory, whatever the logits' layout."""
    rng = np.random.default_rng(6)
    logits, labels, up = rng.normal(size=(2, 4, 3)), rng.integers(0, 4, size=(2, 3)), rng.normal(size=(2, 3))
    ours = ours_value_and_grad(lambda x: losses.sparse_categorical_crossentropy(
        labels, x.permute(0, 2, 1), True, reduction="none"), logits, up)  # (N, C, d) -> (N, d, C)
    theirs = torch_value_and_grad(torch, lambda x: torch.nn.functional.cross_entropy(
        x, torch.tensor(labels), reduction="none"), logits, up)
    assert_same(ours, theirs)
