"""Keras 3's cross-entropy metrics: from_logits, label_smoothing, axis, name, dtype; computed by the loss
functions (checked against them and against PyTorch), configs, model files, and every bad argument."""
from __future__ import annotations

import inspect

import numpy as np
import pytest
from conftest import require_torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn import losses, metrics

seeds = st.integers(0, 2**16)
KERAS_ORDER = {
    metrics.BinaryCrossentropy: ["name", "dtype", "from_logits", "label_smoothing"],
    metrics.CategoricalCrossentropy: ["name", "dtype", "from_logits", "label_smoothing", "axis"],
    metrics.SparseCategoricalCrossentropy: ["name", "dtype", "from_logits", "axis"],
}


def softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def two_batches(metric, y_true, y_pred, weight):
    """The metric fed the data in two batches (the state must carry the weighted mean across them)."""
    half = max(1, len(y_pred) // 2)
    for part in (slice(0, half), slice(half, None)):
        if len(y_pred[part]):
            metric.update_state(y_true[part], y_pred[part], None if weight is None else weight[part])
    return metric.result()


def weighted_mean(values: np.ndarray, weight: np.ndarray | None) -> float:
    values = values.reshape(len(values), -1).mean(axis=1)  # per sample
    return float(values.mean()) if weight is None else float((values * weight).sum() / weight.sum())


@pytest.mark.parametrize("cls", list(KERAS_ORDER))
def test_keras_positional_order_defaults_and_names(cls):
    parameters = inspect.signature(cls).parameters
    assert list(parameters) == KERAS_ORDER[cls]
    metric = cls()
    assert metric.name == cls.default_name and metric.dtype is None and metric.from_logits is False
    assert metrics.get(cls.default_name).get_config() == metric.get_config()
    positional = cls("mine", "float32", True, *([0.25] if "label_smoothing" in parameters else [1]))
    assert positional.name == "mine" and positional.dtype == "float32" and positional.from_logits is True


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 6), c=st.integers(2, 5), extra=st.sampled_from([(), (3,)]), seed=seeds,
       from_logits=st.booleans(), smoothing=st.sampled_from([0.0, 0.1, 0.5]), weighted=st.booleans())
def test_categorical_matches_torch_cross_entropy_label_smoothing(n, c, extra, seed, from_logits, smoothing,
                                                                weighted):
    torch = require_torch()
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c) + extra) * 2
    labels = rng.integers(0, c, size=(n,) + extra)
    axis = 1 if extra else -1  # channels-first (N, C, d) as PyTorch has it
    onehot = np.moveaxis(np.eye(c)[labels], -1, 1)  # (N, d..., C) -> (N, C, d...)
    weight = rng.uniform(0.1, 2.0, size=n) if weighted else None
    metric = metrics.CategoricalCrossentropy(from_logits=from_logits, label_smoothing=smoothing, axis=axis)
    result = two_batches(metric, onehot, logits if from_logits else softmax(logits, 1), weight)
    theirs = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(labels), reduction="none",
                                               label_smoothing=smoothing).numpy()
    np.testing.assert_allclose(result, weighted_mean(theirs, weight), rtol=1e-7)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 6), c=st.integers(2, 5), extra=st.sampled_from([(), (2, 3)]), seed=seeds,
       from_logits=st.booleans(), weighted=st.booleans())
def test_sparse_matches_torch_cross_entropy_with_class_axis(n, c, extra, seed, from_logits, weighted):
    torch = require_torch()
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c) + extra) * 2
    labels = rng.integers(0, c, size=(n,) + extra)
    weight = rng.uniform(0.1, 2.0, size=n) if weighted else None
    metric = metrics.SparseCategoricalCrossentropy(from_logits=from_logits, axis=1)
    result = two_batches(metric, labels, logits if from_logits else softmax(logits, 1), weight)
    theirs = torch.nn.functional.cross_entropy(torch.tensor(logits), torch.tensor(labels), reduction="none").numpy()
    np.testing.assert_allclose(result, weighted_mean(theirs, weight), rtol=1e-7)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 6), outputs=st.integers(1, 4), seed=seeds, from_logits=st.booleans(),
       smoothing=st.sampled_from([0.0, 0.2, 1.0]), weighted=st.booleans())
def test_binary_matches_torch_on_smoothed_targets(n, outputs, seed, from_logits, smoothing, weighted):
    torch = require_torch()
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, outputs)) * 2
    targets = rng.integers(0, 2, size=(n, outputs)).astype(np.float64)
    weight = rng.uniform(0.1, 2.0, size=n) if weighted else None
    metric = metrics.BinaryCrossentropy(from_logits=from_logits, label_smoothing=smoothing)
    result = two_batches(metric, targets, logits if from_logits else 1 / (1 + np.exp(-logits)), weight)
    smoothed = torch.tensor(targets * (1 - smoothing) + smoothing / 2)
    theirs = torch.nn.functional.binary_cross_entropy_with_logits(torch.tensor(logits), smoothed,
                                                                  reduction="none").numpy()
    np.testing.assert_allclose(result, weighted_mean(theirs, weight), rtol=1e-6)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 6), c=st.integers(2, 4), seed=seeds, from_logits=st.booleans(),
       smoothing=st.sampled_from([0.0, 0.3]))
def test_metrics_are_the_loss_functions_weighted_mean(n, c, seed, from_logits, smoothing):
    """The metric of one batch is the loss with Keras's mean_with_sample_weight reduction (no second formula)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, c))
    y_pred = logits if from_logits else softmax(logits, -1)
    labels = rng.integers(0, c, size=n)
    weight = rng.uniform(0.1, 2.0, size=n)
    cases = [(metrics.CategoricalCrossentropy(from_logits=from_logits, label_smoothing=smoothing),
              losses.categorical_crossentropy, np.eye(c)[labels], {"label_smoothing": smoothing}),
             (metrics.SparseCategoricalCrossentropy(from_logits=from_logits),
              losses.sparse_categorical_crossentropy, labels, {}),
             (metrics.BinaryCrossentropy(from_logits=from_logits, label_smoothing=smoothing),
              losses.binary_crossentropy, np.eye(c)[labels], {"label_smoothing": smoothing})]
    for metric, loss, y_true, options in cases:
        expected = loss(y_true, y_pred, from_logits=from_logits, reduction="mean_with_sample_weight",
                        sample_weight=weight, **options)
        np.testing.assert_allclose(metric(y_true, y_pred, sample_weight=weight), float(expected.data), rtol=1e-12)
        function = getattr(metrics, loss.__name__)(y_true, y_pred, from_logits=from_logits, **options)
        np.testing.assert_allclose(function, loss(y_true, y_pred, from_logits=from_logits, reduction="none",
                                                  **options).data, rtol=1e-12)


def test_keras_docstring_figures():
    """Keras's documented results for BinaryCrossentropy, with and without sample_weight."""
    metric = metrics.BinaryCrossentropy()
    y_true, y_pred = [[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]
    assert metric(y_true, y_pred) == pytest.approx(0.81492424, abs=1e-6)
    metric.reset_state()
    assert metric(y_true, y_pred, sample_weight=[1, 0]) == pytest.approx(0.9162905, abs=1e-6)


def test_dtype_is_the_dtype_computed_in():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(8, 5)).astype(np.float64) * 3
    labels = rng.integers(0, 5, size=8)
    exact = metrics.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    single = metrics.SparseCategoricalCrossentropy(from_logits=True, dtype="float32")(labels, logits)
    assert single != exact and single == pytest.approx(exact, rel=1e-6)  # rounded to float32, not float64


@pytest.mark.parametrize("metric", [metrics.BinaryCrossentropy("b", "float32", True, 0.2),
                                    metrics.CategoricalCrossentropy(label_smoothing=0.1, axis=1),
                                    metrics.SparseCategoricalCrossentropy(from_logits=True, axis=-1),
                                    metrics.BinaryAccuracy(threshold=0.3), metrics.CosineSimilarity(axis=1)])
def test_config_round_trip(metric):
    config = metric.get_config()
    rebuilt = type(metric).from_config(config)
    assert type(rebuilt) is type(metric) and rebuilt.get_config() == config
    from_file = metrics.get(metrics.serialize(metric))
    assert type(from_file) is type(metric) and from_file.get_config() == config


def test_older_configs_without_the_new_keys_load_with_defaults():
    metric = metrics.get({"class_name": "CategoricalCrossentropy", "config": {"name": "cce"}})
    assert metric.get_config() == {"name": "cce", "dtype": None, "from_logits": False, "label_smoothing": 0.0,
                                   "axis": -1}
    assert metrics.get({"class_name": "BinaryCrossentropy"}).name == "binary_crossentropy"


@pytest.mark.parametrize("make, error, words", [
    (lambda: metrics.BinaryCrossentropy(from_logits="yes"), TypeError, "from_logits"),
    (lambda: metrics.BinaryCrossentropy(label_smoothing=1.5), ValueError, "label_smoothing"),
    (lambda: metrics.CategoricalCrossentropy(label_smoothing=float("nan")), ValueError, "label_smoothing"),
    (lambda: metrics.CategoricalCrossentropy(label_smoothing="0.1"), TypeError, "label_smoothing"),
    (lambda: metrics.CategoricalCrossentropy(axis=0), ValueError, "batch axis"),
    (lambda: metrics.SparseCategoricalCrossentropy(axis=1.0), TypeError, "axis"),
    (lambda: metrics.SparseCategoricalCrossentropy(dtype="int32"), ValueError, "dtype"),
    (lambda: metrics.SparseCategoricalCrossentropy(name=3), TypeError, "name"),
    (lambda: metrics.MeanSquaredError(name=3), TypeError, "name must be a non-empty str"),
    (lambda: metrics.CosineSimilarity(name=""), TypeError, "name must be a non-empty str"),
    (lambda: metrics.BinaryAccuracy(threshold="0.5"), TypeError, "threshold"),
    (lambda: metrics.BinaryAccuracy(threshold=float("nan")), ValueError, "threshold"),
    (lambda: metrics.BinaryCrossentropy(axis=-1), TypeError, "axis"),  # Keras's binary metric has no axis
    (lambda: metrics.get({"class_name": "Nope", "config": {}}), ValueError, "unknown metric class"),
    (lambda: metrics.CategoricalCrossentropy.from_config(["name"]), TypeError, "config must be a dict"),
    (lambda: metrics.CategoricalCrossentropy(axis=2)(np.eye(3), np.eye(3)), ValueError, "axis 2"),
    (lambda: metrics.SparseCategoricalCrossentropy()([0.5, 1.0], np.eye(2)), TypeError, "integer class"),
])
def test_bad_arguments_are_clear_errors(make, error, words):
    with pytest.raises(error, match=words):
        make()


def test_compile_fit_evaluate_and_model_file(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(48, 4)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[(x[:, 0] > 0).astype(int) + (x[:, 1] > 0.5).astype(int)]
    tc.manual_seed(0)
    model = tc.Sequential([tc.Input((4,)), tc.layers.Dense(3)])
    loss = losses.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1)
    metric = metrics.CategoricalCrossentropy(name="smoothed_ce", from_logits=True, label_smoothing=0.1)
    model.compile("adam", loss, metrics=[metric, metrics.CategoricalCrossentropy(from_logits=True)])
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0).history
    assert set(history) == {"loss", "smoothed_ce", "categorical_crossentropy"}
    logs = model.evaluate(x, y, batch_size=48, verbose=0, return_dict=True)
    assert logs["smoothed_ce"] == pytest.approx(logs["loss"], rel=1e-5)  # the same cross-entropy, no regularizer
    assert logs["categorical_crossentropy"] < logs["smoothed_ce"]  # smoothing towards 1/C costs extra
    model.save(tmp_path / "m.npz")
    loaded = tc.load_model(tmp_path / "m.npz")
    assert [m.get_config() for m in loaded.compiled_metrics] == [metric.get_config(),
                                                                 model.compiled_metrics[1].get_config()]
    assert loaded.evaluate(x, y, batch_size=48, verbose=0, return_dict=True) == pytest.approx(logs)


def test_a_model_with_two_outputs_keeps_its_metrics_settings_in_its_file(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(12, 4)).astype(np.float32)
    y = {"cls": np.eye(3, dtype=np.float32)[rng.integers(0, 3, 12)],
         "flag": rng.integers(0, 2, (12, 1)).astype(np.float32)}
    tc.manual_seed(0)
    inputs = tc.Input((4,))
    model = tc.Model(inputs, {"cls": tc.layers.Dense(3)(inputs), "flag": tc.layers.Dense(1)(inputs)})
    cce = metrics.CategoricalCrossentropy(from_logits=True, label_smoothing=0.2)
    bce = metrics.BinaryCrossentropy(from_logits=True, label_smoothing=0.1)
    model.compile("sgd", {"cls": losses.CategoricalCrossentropy(from_logits=True), "flag": "mse"},
                  metrics={"cls": [cce, "mae"]}, weighted_metrics={"flag": [bce]})
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    model.save(tmp_path / "m.npz")
    loaded = tc.load_model(tmp_path / "m.npz")
    assert loaded.evaluate(x, y, verbose=0, return_dict=True) == pytest.approx(logs)
    expected = metrics.get(cce)(y["cls"], np.asarray(model.predict(x, verbose=0)["cls"]))
    assert logs["cls_categorical_crossentropy"] == pytest.approx(expected, rel=1e-5)  # the smoothing is kept
