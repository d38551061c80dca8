"""sample_weight in losses and metrics: Keras 3's reductions, PyTorch as the oracle, bad weights."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import require_torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn import losses, metrics

REDUCTIONS = ["mean", "sum_over_batch_size", "sum", "none", "mean_with_sample_weight"]
WEIGHT_SHAPES = ["(n,)", "(n, 1)", "scalar", "(1,)"]


def problem(kind: str, n: int, c: int, rng: np.random.Generator):
    """(our loss f(x, **kw), PyTorch's per-sample loss g(x), y_pred) for one loss on random data."""
    labels, logits = rng.integers(0, c, n), rng.standard_normal((n, c)) * 3
    onehot, targets = np.eye(c)[labels], rng.random((n, c))
    if kind == "sparse_logits":
        return (lambda x, **kw: losses.SparseCategoricalCrossentropy(from_logits=True, **kw.pop("config", {}))(
            labels, x, **kw)), (lambda t, x: t.nn.functional.cross_entropy(x, t.tensor(labels), reduction="none")), \
            logits
    if kind == "sparse_probs":
        probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        return (lambda x, **kw: losses.SparseCategoricalCrossentropy(**kw.pop("config", {}))(labels, x, **kw)), \
            (lambda t, x: -t.log((x / x.sum(-1, keepdim=True)).clamp(1e-7, 1 - 1e-7))[t.arange(n), labels]), probs
    if kind == "categorical_logits":
        return (lambda x, **kw: losses.CategoricalCrossentropy(from_logits=True, **kw.pop("config", {}))(
            onehot, x, **kw)), (lambda t, x: -(t.tensor(onehot) * t.log_softmax(x, -1)).sum(-1)), logits
    if kind == "binary_logits":
        return (lambda x, **kw: losses.BinaryCrossentropy(from_logits=True, **kw.pop("config", {}))(
            targets, x, **kw)), (lambda t, x: t.nn.functional.binary_cross_entropy_with_logits(
                x, t.tensor(targets), reduction="none").mean(-1)), logits
    return (lambda x, **kw: losses.MeanSquaredError(**kw.pop("config", {}))(targets, x, **kw)), \
        (lambda t, x: ((x - t.tensor(targets)) ** 2).mean(-1)), logits


def weights_of(shape: str, n: int, rng: np.random.Generator):
    """Weights of the named shape: negative, zero and large ones included (Keras refuses none of them)."""
    values = rng.choice([-1.0, 0.0, 0.5, 1.0, 3.0, 10.0], n) + rng.random(n)
    return {"(n,)": values, "(n, 1)": values[:, None], "scalar": float(values[0]), "(1,)": values[:1]}[shape]


def keras_reduce(t, per_sample, weight, reduction: str):
    """Keras 3's reduce_weighted_values, written out for PyTorch tensors (the oracle)."""
    w = t.as_tensor(weight, dtype=per_sample.dtype)
    if w.ndim == 2:  # (n, 1) weights against (n,) losses: the losses gain the trailing axis
        per_sample = per_sample[:, None]
    weighted = per_sample * w
    if reduction == "none":
        return weighted
    if reduction == "sum":
        return weighted.sum()
    if reduction == "mean_with_sample_weight":
        return weighted.sum() / w.sum()
    return weighted.sum() / weighted.numel()  # "mean": by the number of losses, not by the weights


@settings(max_examples=25)
@given(kind=st.sampled_from(["sparse_logits", "sparse_probs", "categorical_logits", "binary_logits", "mse"]),
       n=st.integers(1, 6), c=st.integers(2, 4), seed=st.integers(0, 2**16),
       reduction=st.sampled_from(REDUCTIONS), shape=st.sampled_from(WEIGHT_SHAPES))
def test_weighted_losses_and_their_gradients_match_torch(kind, n, c, seed, reduction, shape):
    torch = require_torch()
    rng = np.random.default_rng(seed)
    ours, theirs, y_pred = problem(kind, n, c, rng)
    weight = weights_of(shape, n, rng)
    if reduction == "mean_with_sample_weight" and abs(np.sum(weight)) < 1e-3:
        weight = np.abs(weight) + 1  # keep clear of Keras's divide-no-NaN at a zero total weight
    x = tc.Tensor(y_pred, requires_grad=True)
    value = ours(x, sample_weight=weight, config={"reduction": reduction})
    xt = torch.tensor(y_pred, requires_grad=True)
    expected = keras_reduce(torch, theirs(torch, xt), weight, "mean" if reduction == "sum_over_batch_size"
                            else reduction)
    assert value.shape == tuple(expected.shape)
    np.testing.assert_allclose(value.data, expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    upstream = rng.standard_normal(value.shape)  # random, not ones, when the loss is not a scalar
    value.backward(tc.Tensor(upstream))
    expected.backward(torch.tensor(upstream))
    np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_mean_divides_by_the_number_of_losses_not_by_the_weights():
    y_pred = np.array([[1.0], [2.0], [3.0]])  # squared errors against 0: 1, 4, 9
    w = np.array([1.0, 0.0, 3.0])  # weighted: 1, 0, 27 (sum 28; the weights sum to 4)
    mse = losses.mean_squared_error

    def value(reduction):
        return mse(np.zeros((3, 1)), y_pred, reduction=reduction, sample_weight=w).data

    assert value("mean") == value("sum_over_batch_size") == np.float64(28) / 3
    assert value("sum") == 28.0
    assert value("mean_with_sample_weight") == 7.0
    np.testing.assert_array_equal(value("none"), [1.0, 0.0, 27.0])
    assert losses.MeanSquaredError(reduction="sum")(np.zeros((3, 1)), y_pred, w).item() == 28.0  # positional
    column = mse(np.zeros((3, 1)), y_pred, reduction=None, sample_weight=w[:, None])  # Keras: reduction=None
    assert column.shape == (3, 1)  # (n, 1) weights give (n, 1) losses, as in Keras
    single = mse(np.zeros((1, 1)), y_pred[:1], reduction="none", sample_weight=2.0)
    assert single.shape == (1,)  # a scalar weight keeps a batch of one a batch (Keras would give a 0-d loss)


def test_scalar_weight_scales_and_zero_weights_give_zero():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((5, 3)), rng.integers(0, 3, 5)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    np.testing.assert_allclose(loss(y, x, sample_weight=2.5).item(), 2.5 * loss(y, x).item(), rtol=1e-12)
    assert loss(y, x, sample_weight=np.ones(5)).item() == loss(y, x).item()
    assert loss(y, x, sample_weight=[True, False, True, True, False]).item() > 0  # a 0/1 mask is numbers too
    # all weights zero under mean_with_sample_weight: 0 and a zero gradient (Keras divides without NaN)
    t = tc.Tensor(x, requires_grad=True)
    zero = losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight")(
        y, t, sample_weight=np.zeros(5))
    zero.backward()
    assert zero.item() == 0.0 and not np.any(t.grad.data)


def test_no_weights_is_the_unweighted_graph():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((6, 4)).astype(np.float32), rng.integers(0, 4, 6)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)
    a, b = tc.Tensor(x, requires_grad=True), tc.Tensor(x, requires_grad=True)
    plain, none = loss(y, a), loss(y, b, sample_weight=None)
    plain.backward()
    none.backward()
    assert plain.dtype == np.float32 and plain.data.tobytes() == none.data.tobytes()
    assert a.grad.data.tobytes() == b.grad.data.tobytes()
    assert type(plain.grad_fn) is type(none.grad_fn)  # no extra multiply by ones
    weighted = loss(y, tc.Tensor(x), sample_weight=np.arange(6))  # integer weights take y_pred's dtype
    assert weighted.dtype == np.float32


def test_gradcheck_in_float64_through_y_pred_and_a_weight_that_requires_grad(torch):
    rng = np.random.default_rng(3)
    labels, targets = rng.integers(0, 3, 4), rng.random((4, 3))
    x = tc.Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    w = tc.Tensor(rng.standard_normal(4), requires_grad=True)
    for reduction in ("none", "mean", "mean_with_sample_weight"):
        assert tc.gradcheck(lambda x, w, r=reduction: losses.sparse_categorical_crossentropy(
            labels, x, from_logits=True, reduction=r, sample_weight=w), (x, w))
        assert tc.gradcheck(lambda x, w, r=reduction: losses.binary_crossentropy(
            targets, x, from_logits=True, reduction=r, sample_weight=w.reshape(4, 1)), (x, w))
    assert tc.gradgradcheck(lambda x: losses.categorical_crossentropy(  # second order, constant weights
        np.eye(3)[labels], x, from_logits=True, reduction="none", sample_weight=w.data[:, None]), (x,))
    # a weight Tensor that requires grad gets d loss / d w, as (loss * w).mean() would in PyTorch
    value = losses.sparse_categorical_crossentropy(labels, x, from_logits=True, sample_weight=w)
    value.backward()
    wt = torch.tensor(w.data, requires_grad=True)
    per = torch.nn.functional.cross_entropy(torch.tensor(x.data), torch.tensor(labels), reduction="none")
    (per * wt).mean().backward()
    np.testing.assert_allclose(w.grad.data, wt.grad.numpy(), rtol=1e-12)
    constant = tc.Tensor(w.data)  # a weight without requires_grad is a constant: nothing accumulates on it
    losses.sparse_categorical_crossentropy(labels, x, from_logits=True, sample_weight=constant).backward()
    assert constant.grad is None


def test_sequence_losses_take_per_sample_or_per_step_weights(torch):
    rng = np.random.default_rng(4)
    logits, labels = rng.standard_normal((3, 5, 4)), rng.integers(0, 4, (3, 5))
    per_step = torch.nn.functional.cross_entropy(torch.tensor(logits).permute(0, 2, 1), torch.tensor(labels),
                                                 reduction="none")  # (3, 5)
    for weight in (rng.random((3, 1)), rng.random((3, 5))):
        ours = losses.sparse_categorical_crossentropy(labels, logits, from_logits=True, sample_weight=weight)
        np.testing.assert_allclose(ours.item(), (per_step * torch.tensor(weight)).mean().item(), rtol=1e-12)
    with pytest.raises(ValueError, match=r"per-sample losses have shape \(3, 5\); pass one weight per sample: "
                                         r"shape \(3, 1\), a scalar, or weights that broadcast to \(3, 5\)"):
        losses.sparse_categorical_crossentropy(labels, logits, from_logits=True, sample_weight=np.ones(3))


@pytest.mark.parametrize("weight, error, message", [
    (np.ones(3), ValueError, r"mean_squared_error: sample_weight has shape \(3,\) but the per-sample losses have "
                             r"shape \(4,\); pass one weight per sample: shape \(4,\) or \(4, 1\), or a scalar"),
    (np.ones((4, 2)), ValueError, r"sample_weight has shape \(4, 2\) but the per-sample losses have shape \(4,\)"),
    (np.ones((4, 1, 1)), ValueError, r"sample_weight has shape \(4, 1, 1\)"),
    ([1.0, np.nan, 1.0, 1.0], ValueError, r"sample_weight holds nan at index \(1,\); weights must be finite"),
    ([1.0, 1.0, np.inf, 1.0], ValueError, r"sample_weight holds inf at index \(2,\)"),
    (["a", "b", "c", "d"], TypeError, "mean_squared_error: sample_weight must be numbers.*got dtype <U1"),
    ([1j, 1, 1, 1], TypeError, "sample_weight must be numbers"),
    ([None, 1, 1, 1], TypeError, "sample_weight must be numbers.*object"),
    ([[1.0], [1.0, 2.0], [1.0], [1.0]], ValueError, "sample_weight must be rectangular"),
])
def test_bad_loss_weights_raise_clear_errors(weight, error, message):
    with pytest.raises(error, match=message):
        losses.MeanSquaredError()(np.zeros((4, 2)), np.zeros((4, 2)), sample_weight=weight)


def test_negative_weights_are_accepted_as_in_keras():
    value = losses.mse(np.zeros((2, 1)), np.ones((2, 1)), sample_weight=[-1.0, 3.0])
    assert value.item() == 1.0  # (-1 + 3) / 2


# --- metrics -----------------------------------------------------------------------------------

def metric_problem(name: str, n: int, rng: np.random.Generator):
    """(a Metric, y_true, y_pred, the per-sample values computed here) for one metric."""
    logits, labels = rng.standard_normal((n, 3)), rng.integers(0, 3, n)
    if name == "sparse":
        return metrics.SparseCategoricalAccuracy(), labels, logits, (logits.argmax(1) == labels) * 1.0
    if name == "categorical":
        return metrics.CategoricalAccuracy(), np.eye(3)[labels], logits, (logits.argmax(1) == labels) * 1.0
    if name == "binary":
        y = rng.integers(0, 2, (n, 2))
        return metrics.BinaryAccuracy(), y, logits[:, :2], ((logits[:, :2] > 0.5) == y).mean(1)
    if name == "mae":
        return metrics.MeanAbsoluteError(), logits * 0.5, logits, np.abs(logits * 0.5).mean(1)
    return metrics.get(lambda y_true, y_pred: (y_pred.max(1) - y_true.max(1))), logits * 0, logits, logits.max(1)


@settings(max_examples=25)
@given(name=st.sampled_from(["sparse", "categorical", "binary", "mae", "function"]),
       sizes=st.lists(st.integers(1, 6), min_size=1, max_size=3), seed=st.integers(0, 2**16),
       column=st.booleans())
def test_weighted_metrics_are_sum_of_w_times_value_over_sum_of_w(name, sizes, seed, column):
    rng = np.random.default_rng(seed)
    metric, total, count = None, 0.0, 0.0
    for n in sizes:
        fresh, y_true, y_pred, values = metric_problem(name, n, rng)
        metric = metric or fresh
        w = rng.random(n) + 0.1
        metric.update_state(y_true, y_pred, sample_weight=w[:, None] if column else w)
        total, count = total + (w * values).sum(), count + w.sum()
    np.testing.assert_allclose(metric.result(), total / count, rtol=1e-12)


def test_metric_weights_keras_semantics():
    # the examples of Keras's docs for these metrics: 0.3 and 0.5
    m = metrics.SparseCategoricalAccuracy()
    m.update_state([[2], [1]], [[0.1, 0.6, 0.3], [0.05, 0.95, 0]], sample_weight=[0.7, 0.3])
    assert m.result() == pytest.approx(0.3)
    binary = metrics.BinaryAccuracy()
    assert binary([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], sample_weight=[1, 0, 0, 1]) == 0.5
    # a scalar weight counts the batch's mean once, with that weight, whatever the batch size (Keras)
    acc = metrics.SparseCategoricalAccuracy()
    acc.update_state([0, 0, 0, 0], np.eye(3)[[0, 0, 0, 1]], sample_weight=2.0)  # mean 0.75, weight 2
    acc.update_state([0], np.eye(3)[[1]], sample_weight=1.0)  # mean 0, weight 1
    assert acc.result() == pytest.approx(1.5 / 3)
    # weights of ones, and no weights, give the same running mean
    a, b = metrics.CategoricalAccuracy(), metrics.CategoricalAccuracy()
    a.update_state(np.eye(3), np.eye(3)[[0, 2, 1]])
    b.update_state(np.eye(3), np.eye(3)[[0, 2, 1]], np.ones(3))
    assert a.result() == b.result() == pytest.approx(1 / 3)
    # negative weights are allowed (Keras has no check); a zero total weight gives NaN, as no samples do
    c = metrics.MeanSquaredError()
    c.update_state(np.zeros((2, 1)), [[1.0], [2.0]], sample_weight=[-1.0, 1.0])
    assert c.count == 0.0 and np.isnan(c.result())


@pytest.mark.parametrize("weight, error, message", [
    (np.ones(3), ValueError, r"SparseCategoricalAccuracy: sample_weight has shape \(3,\) but the metric's "
                             r"per-sample values have shape \(2,\); pass one weight per sample: shape \(2,\) or "
                             r"\(2, 1\), or a scalar"),
    (np.ones((2, 3)), ValueError, r"sample_weight has shape \(2, 3\)"),
    ([np.nan, 1.0], ValueError, r"SparseCategoricalAccuracy: sample_weight holds nan at index \(0,\)"),
    (["x", "y"], TypeError, "SparseCategoricalAccuracy: sample_weight must be numbers"),
])
def test_bad_metric_weights_raise_clear_errors_and_change_nothing(weight, error, message):
    metric = metrics.SparseCategoricalAccuracy()
    metric.update_state([0, 1], np.eye(3)[:2])
    with pytest.raises(error, match=message):
        metric.update_state([0, 1], np.eye(3)[:2], sample_weight=weight)
    assert (metric.total, metric.count) == (2.0, 2)


class SquaredError(losses.Loss):
    """A loss written Keras's way: `call` gives the per-sample losses, the base class weighs and reduces."""

    def __init__(self, reduction="mean"):
        super().__init__(reduction=reduction, name="squared_error")

    def call(self, y_true, y_pred):
        return ((y_true - y_pred) ** 2).mean(axis=-1)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", WEIGHT_SHAPES + [None])
def test_a_loss_of_ones_own_is_weighed_and_reduced_as_the_built_in_ones(reduction, shape):
    rng = np.random.default_rng(7)
    y_true, y_pred = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    weight = None if shape is None else weights_of(shape, 5, rng)
    mine, built_in = tc.Tensor(y_pred, requires_grad=True), tc.Tensor(y_pred, requires_grad=True)
    ours = SquaredError(reduction)(y_true, mine, sample_weight=weight)
    expected = losses.MeanSquaredError(reduction)(y_true, built_in, sample_weight=weight)
    np.testing.assert_allclose(ours.data, expected.data, rtol=1e-12)
    upstream = rng.standard_normal(ours.shape)
    ours.backward(tc.Tensor(upstream))
    expected.backward(tc.Tensor(upstream))
    np.testing.assert_allclose(mine.grad.data, built_in.grad.data, rtol=1e-12)
    assert SquaredError().name == "squared_error"


def test_a_loss_of_ones_own_trains_with_weights_and_is_saved_uncompiled(tmp_path):
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((12, 3)).astype(np.float32), rng.standard_normal((12, 2)).astype(np.float32)
    for loss in (SquaredError(), type("MyMSE", (losses.MeanSquaredError,), {})()):  # call, or a built-in's subclass
        tc.manual_seed(0)
        model = tc.Sequential([tc.Input((3,)), tc.layers.Dense(2)])
        model.compile("sgd", loss)
        model.fit(x, y, sample_weight=rng.random(12), epochs=1, verbose=0)
        with pytest.warns(UserWarning, match="custom callable.*saved uncompiled"):
            model.save(tmp_path / "m.npz")  # a file cannot name it: it used to write a file load_model refused
        assert getattr(tc.load_model(tmp_path / "m.npz"), "optimizer", None) is None
    with pytest.raises(NotImplementedError, match="Loss must define call"):
        losses.Loss()(y, tc.Tensor(y))
    with pytest.raises(TypeError, match="must be numbers"):
        SquaredError()(np.array([["a", "b"]]), tc.Tensor(np.ones((1, 2))))
