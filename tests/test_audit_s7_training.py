"""Session 7's audit of Keras training (fit/evaluate/predict, losses, metrics, callbacks): each test failed
on the code before its fix."""
from __future__ import annotations

import inspect
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn import layers, losses, metrics, optimizers, training


def data(n=12, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    return rng.standard_normal((n, 4)).astype(np.float32), y


def dense_model(loss, units=3, seed=0, metric_list=None):
    tc.manual_seed(seed)
    model = tc.Sequential([tc.Input((4,)), layers.Dense(units)])
    model.compile(optimizers.SGD(learning_rate=0.05), loss, metrics=metric_list)
    return model


# --- metrics take Keras 3's dtype argument, in Keras's order -----------------------------------------

@pytest.mark.parametrize("cls, order", [
    (metrics.MeanSquaredError, ["name", "dtype"]),
    (metrics.SparseCategoricalAccuracy, ["name", "dtype"]),
    (metrics.CategoricalAccuracy, ["name", "dtype"]),
    (metrics.MeanAbsoluteError, ["name", "dtype"]),
    (metrics.BinaryAccuracy, ["name", "dtype", "threshold"]),
    (metrics.CosineSimilarity, ["name", "dtype", "axis"]),
])
def test_metrics_take_name_and_dtype_first_as_in_keras(cls, order):
    assert list(inspect.signature(cls).parameters)[:len(order)] == order
    metric = cls("m", "float32")
    assert metric.name == "m" and metric.dtype == "float32"
    assert metric.get_config()["dtype"] == "float32"
    assert cls.from_config(metric.get_config()).get_config() == metric.get_config()
    with pytest.raises(ValueError, match="dtype must be a float dtype"):
        cls(dtype="int32")


@settings(max_examples=20)
@given(st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_a_metric_dtype_rounds_the_predictions_to_it(n, seed):
    rng = np.random.default_rng(seed)
    y_true, y_pred = rng.standard_normal((n, 3)), rng.standard_normal((n, 3)) * (1 + 1e-7)
    rounded = y_pred.astype(np.float32).astype(np.float64)
    got = metrics.MeanSquaredError(dtype="float32")(y_true, y_pred)
    assert got == pytest.approx(((y_true - rounded) ** 2).mean(), rel=1e-12)
    binary = metrics.BinaryAccuracy("acc", None, 0.25)  # Keras's positional order
    assert binary.threshold == 0.25


# --- a plain loss function is weighed from its per-sample losses, as Keras's wrapper does --------------

def per_sample_mse(y_true, y_pred):
    diff = y_pred - tc.Tensor(np.asarray(y_true, dtype=y_pred.dtype).reshape(y_pred.shape))
    return (diff * diff).mean(axis=-1)


@settings(max_examples=15)
@given(st.lists(st.floats(0.0, 3.0), min_size=12, max_size=12), st.integers(1, 12))
def test_a_loss_function_without_sample_weight_is_weighed_like_a_builtin(weights, batch_size):
    x, _ = data()
    y = np.random.default_rng(1).standard_normal((12, 3)).astype(np.float32)
    w = np.array(weights)
    builtin, plain = dense_model("mse"), dense_model(per_sample_mse)
    expected = builtin.evaluate(x, y, sample_weight=w, batch_size=batch_size, verbose=0)
    assert plain.evaluate(x, y, sample_weight=w, batch_size=batch_size, verbose=0) == pytest.approx(expected,
                                                                                                    rel=1e-5)
    builtin.fit(x, y, sample_weight=w, batch_size=batch_size, shuffle=False, verbose=0)
    plain.fit(x, y, sample_weight=w, batch_size=batch_size, shuffle=False, verbose=0)
    for a, b in zip(builtin.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_a_loss_function_returning_a_scalar_cannot_be_weighed():
    x, y = data()
    model = dense_model(lambda y_true, y_pred: losses.sparse_categorical_crossentropy(y_true, y_pred,
                                                                                       from_logits=True))
    before = model.get_weights()
    with pytest.raises(TypeError, match=r"returns one loss per sample \(shape \(batch,\)\).*returned a scalar"):
        model.fit(x, y, class_weight={0: 2.0}, verbose=0)
    for a, b in zip(before, model.get_weights(), strict=True):  # refused before any update
        np.testing.assert_array_equal(a, b)


# --- (N, 1) targets for (N,) predictions, as Keras squeezes them ----------------------------------------

@settings(max_examples=20)
@given(st.integers(1, 8), st.integers(0, 2**31 - 1))
def test_column_targets_for_flat_predictions(n, seed):
    rng = np.random.default_rng(seed)
    y, p = rng.integers(0, 2, n).astype(np.float64), rng.uniform(0.05, 0.95, n)
    for loss in (losses.mean_squared_error, losses.binary_crossentropy, losses.mean_absolute_error):
        assert float(loss(y[:, None], p).data) == pytest.approx(float(loss(y, p).data), rel=1e-12)
    for metric in (metrics.MeanSquaredError, metrics.BinaryAccuracy):
        assert metric()(y[:, None], p) == pytest.approx(metric()(y, p), rel=1e-12)


# --- Keras's one-batch methods and metrics_names (training functions; Model's methods hand over to them) --

def two_outputs(seed=0):
    tc.manual_seed(seed)
    image = tc.Input((4,), name="image")
    hidden = layers.Dense(5, activation="tanh")(image)
    model = tc.Model(image, {"digit": layers.Dense(3, name="digit")(hidden),
                             "parity": layers.Dense(1, activation="sigmoid", name="parity")(hidden)})
    model.compile(optimizers.SGD(learning_rate=0.1),
                  {"digit": losses.SparseCategoricalCrossentropy(from_logits=True), "parity": "binary_crossentropy"},
                  metrics={"digit": ["accuracy"], "parity": ["mae", "accuracy"]})
    return model


@settings(max_examples=10)
@given(st.integers(1, 12), st.booleans(), st.integers(0, 2**31 - 1))
def test_train_on_batch_is_one_full_batch_epoch_of_fit(n, weighted, seed):
    x, y = data(n, seed)
    weights = np.random.default_rng(seed).uniform(0, 2, n) if weighted else None
    stepped, fitted = dense_model(losses.SparseCategoricalCrossentropy(from_logits=True), metric_list=["accuracy"]), \
        dense_model(losses.SparseCategoricalCrossentropy(from_logits=True), metric_list=["accuracy"])
    got = training.train_on_batch(stepped, x, y, sample_weight=weights, class_weight={1: 3.0}, return_dict=True)
    history = fitted.fit(x, y, batch_size=n, shuffle=False, verbose=0, sample_weight=weights, class_weight={1: 3.0})
    assert got == {key: values[0] for key, values in history.history.items()}
    for a, b in zip(stepped.get_weights(), fitted.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    x_test = x[::-1].copy()
    assert training.test_on_batch(stepped, x_test, y, return_dict=True) == \
        stepped.evaluate(x_test, y, batch_size=n, verbose=0, return_dict=True)
    np.testing.assert_array_equal(training.predict_on_batch(stepped, x_test), stepped.predict(x_test, batch_size=n))


def test_train_on_batch_never_applies_a_non_finite_step():
    x, y = data()
    model = dense_model("mse")
    before = model.get_weights()
    with pytest.raises(tc.training.NonFiniteLossError, match="train_on_batch: the loss became inf"):
        training.train_on_batch(model, x, np.full((12, 3), np.inf, np.float32))
    for a, b in zip(before, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(RuntimeError, match="compiled before train_on_batch"):
        training.train_on_batch(tc.Sequential([layers.Dense(2)]), x, y)
    with pytest.raises(TypeError, match="return_dict must be True or False"):
        training.test_on_batch(model, x, np.zeros((12, 3)), return_dict="yes")


def test_metrics_names_follow_evaluates_order():
    x, y = data()
    one = dense_model(losses.SparseCategoricalCrossentropy(from_logits=True), metric_list=["accuracy", "mae"])
    assert training.metrics_names(one) == ["loss", "accuracy", "mae"]
    assert training.metrics_names(tc.Sequential([layers.Dense(2)])) == []
    model = two_outputs()
    targets = {"digit": y, "parity": (y % 2)[:, None].astype(np.float32)}
    names = training.metrics_names(model)
    assert names == list(model.evaluate(x, targets, verbose=0, return_dict=True))
    assert names[:3] == ["loss", "digit_loss", "parity_loss"] and len(names) == 6
    values = training.train_on_batch(model, x, targets)
    assert isinstance(values, list) and len(values) == len(names)


# --- datasets: clear errors for bad arguments ------------------------------------------------------------

@pytest.mark.parametrize("kwargs, error, message", [
    ({"test_fraction": "0.2"}, TypeError, "train_test_split: test_fraction must be a number strictly between 0 and 1"),
    ({"test_fraction": True}, TypeError, "test_fraction must be a number"),
    ({"seed": "a"}, TypeError, "train_test_split: seed must be an int >= 0, got str 'a'"),
    ({"seed": 1.5}, TypeError, "train_test_split: seed must be an int >= 0"),
    ({"seed": -1}, ValueError, "train_test_split: seed must be an int >= 0"),
])
def test_train_test_split_refuses_bad_arguments_clearly(kwargs, error, message):
    with pytest.raises(error, match=message):
        tc.datasets.train_test_split(np.zeros((10, 2)), np.zeros(10), **kwargs)


def test_load_idx_of_a_directory_says_so(tmp_path):
    with pytest.raises(IsADirectoryError, match="load_idx: .* is a directory; pass one IDX file"):
        tc.datasets.load_idx(tmp_path)


# --- the progress bar: a small value does not read as zero --------------------------------------------

@settings(max_examples=30)
@given(st.floats(-1e-3, 1e-3, allow_nan=False).filter(lambda v: v != 0))
def test_the_progress_line_shows_a_small_value_in_exponent_form_as_keras(value):
    from tinygrad_cnn.progress import format_values
    shown = format_values({"loss": value, "accuracy": 0.5})
    assert shown == f" - loss: {value:.4e} - accuracy: 0.5000"
    assert float(shown.split(": ")[1].split(" ")[0]) == pytest.approx(value, rel=1e-3)


def test_fit_prints_a_tiny_loss_readably(capsys):
    x = np.zeros((4, 4), np.float32)
    model = dense_model("mse", units=1)
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    model.fit(x, np.full((4, 1), 1e-3, np.float32), batch_size=4, verbose=2)
    assert "loss: 1.0000e-06" in capsys.readouterr().out


@pytest.mark.parametrize("loss", ["categorical_crossentropy", "binary_crossentropy", "mse"])
@pytest.mark.parametrize("column", [False, True])
def test_integer_labels_for_a_dense_loss_name_the_fix(loss, column):
    x, y = data(5)
    model = dense_model(loss)
    with pytest.raises(ValueError, match=r"look like integer class labels: use sparse_categorical_crossentropy, "
                                         r"or one-hot them with tc.utils.to_categorical\(y, 3\)"):
        model.fit(x, y[:, None] if column else y, verbose=0)
    with pytest.raises(ValueError, match=r"they must match \(one target per model output\)$"):
        model.fit(x, np.zeros((5, 2)), verbose=0)  # no hint for targets of another width


@pytest.mark.parametrize("name", ["SparseCategoricalAccuracy", "BinaryAccuracy", "MeanSquaredError", "KLDivergence",
                                  "LogCoshError", "log_cosh_error", "CosineSimilarity", "BinaryCrossentropy"])
def test_metrics_by_keras_class_name(name):
    metric = metrics.get(name)
    assert type(metric).__name__ == name or name == "log_cosh_error"
    assert metric.name == name  # logged under the name given, as Keras's compile does
    x, y = data()
    model = dense_model(losses.SparseCategoricalCrossentropy(from_logits=True),
                        metric_list=["SparseCategoricalAccuracy"])
    assert list(model.fit(x, y, verbose=0).history) == ["loss", "SparseCategoricalAccuracy"]
    with pytest.raises(ValueError, match="unknown metric 'Precison'.*or a class name such as"):
        metrics.get("Precison")


# --- Keras's top-k accuracies, precision, recall and RMSE (missing before) -------------------------------

@settings(max_examples=25)
@given(st.integers(1, 9), st.integers(2, 6), st.integers(1, 7), st.integers(0, 2**31 - 1))
def test_top_k_accuracies_against_a_sort(n, classes, k, seed):
    rng = np.random.default_rng(seed)
    scores, labels = rng.integers(0, 4, (n, classes)).astype(np.float64), rng.integers(0, classes, n)  # with ties
    # the label is in the top k when fewer than k scores beat it (ties count in, as Keras's in_top_k)
    expected = np.mean([(scores[i] > scores[i, labels[i]]).sum() < k for i in range(n)])
    assert metrics.SparseTopKCategoricalAccuracy(k)(labels, scores) == pytest.approx(expected)
    assert metrics.SparseTopKCategoricalAccuracy(k)(labels[:, None], scores) == pytest.approx(expected)
    assert metrics.TopKCategoricalAccuracy(k=k)(np.eye(classes)[labels], scores) == pytest.approx(expected)
    assert metrics.get("sparse_top_k_categorical_accuracy").k == 5  # Keras's default
    out_of_range = metrics.SparseTopKCategoricalAccuracy(k)(np.full(n, classes), scores)
    assert out_of_range == 0.0


@settings(max_examples=25)
@given(st.integers(1, 12), st.integers(1, 4), st.floats(0.0, 1.0), st.booleans(), st.integers(0, 2**31 - 1))
def test_precision_and_recall_against_counts(n, columns, threshold, weighted, seed):
    rng = np.random.default_rng(seed)
    y, p = rng.integers(0, 2, (n, columns)), rng.random((n, columns))
    w = rng.uniform(0, 2, n) if weighted else np.ones(n)
    called, positive, weights = p > threshold, y != 0, np.broadcast_to(w[:, None], (n, columns))

    def share(hits, among):
        return (weights * (hits & among)).sum() / (weights * among).sum() if (weights * among).sum() else 0.0

    sample_weight = w if weighted else None
    precision, recall = metrics.Precision(threshold), metrics.Recall(thresholds=threshold)
    assert precision(y, p, sample_weight=sample_weight) == pytest.approx(share(positive, called))
    assert recall(y, p, sample_weight=sample_weight) == pytest.approx(share(called, positive))
    column = columns - 1
    assert metrics.Recall(class_id=column)(y, p, sample_weight) == pytest.approx(share(
        (p > 0.5)[:, column:], positive[:, column:]))
    best = p == p.max(axis=1, keepdims=True)
    assert metrics.Precision(top_k=1)(y, p, sample_weight) == pytest.approx(share(positive, best))


def test_precision_recall_arguments_and_fit():
    assert list(inspect.signature(metrics.Precision).parameters) == ["thresholds", "top_k", "class_id", "name",
                                                                     "dtype"]
    assert metrics.Precision()([[0], [0]], [[0.1], [0.2]]) == 0.0  # nothing called positive: 0, as Keras
    for kwargs, error in [({"thresholds": [0.5, 0.7]}, TypeError), ({"thresholds": 1.5}, ValueError),
                          ({"top_k": 0}, ValueError), ({"class_id": -1}, ValueError)]:
        with pytest.raises(error, match="Precision: "):
            metrics.Precision(**kwargs)
    with pytest.raises(ValueError, match=r"Recall: class_id=5 is not a column of y_pred with shape \(2, 3\)"):
        metrics.Recall(class_id=5)(np.zeros((2, 3)), np.zeros((2, 3)))
    x, y = data()
    model = dense_model("binary_crossentropy", units=1, metric_list=["precision", metrics.Recall(name="rec"),
                                                                     "root_mean_squared_error"])
    history = model.fit(x, (y > 0).astype(np.float32), verbose=0).history
    assert list(history) == ["loss", "precision", "rec", "root_mean_squared_error"]


@settings(max_examples=20)
@given(st.integers(1, 8), st.integers(1, 3), st.integers(0, 2**31 - 1))
def test_root_mean_squared_error_over_batches(n, batches, seed):
    rng = np.random.default_rng(seed)
    metric, errors = metrics.RootMeanSquaredError(), []
    for _ in range(batches):
        y, p = rng.standard_normal((n, 2)), rng.standard_normal((n, 2))
        metric.update_state(y, p)
        errors.append((y - p) ** 2)
    assert metric.result() == pytest.approx(np.sqrt(np.mean(errors)))


@pytest.mark.parametrize("seconds, shown", [(2.4, "2s/step"), (1.0, "1s/step"), (0.0123, "12ms/step"),
                                            (0.001, "1ms/step"), (0.00035, "350us/step"), (0.0, "0us/step")])
def test_the_time_per_step_uses_keras_units(seconds, shown):
    from tinygrad_cnn.progress import format_per_step
    assert format_per_step(seconds) == shown


def test_a_fast_step_does_not_print_as_zero_ms(capsys):
    x, y = data(64)
    dense_model(losses.SparseCategoricalCrossentropy(from_logits=True)).fit(x, y, batch_size=64, verbose=2)
    line = capsys.readouterr().out.splitlines()[1]
    assert re.search(r"^1/1 - 0s [1-9][0-9]*(us|ms)/step - loss: ", line), line


@pytest.mark.parametrize("metric", [metrics.CategoricalAccuracy(), metrics.TopKCategoricalAccuracy(2)])
def test_integer_labels_for_a_one_hot_metric_name_the_fix(metric):
    with pytest.raises(ValueError, match="look like integer class labels: use the sparse_ form of the metric"):
        metric([1, 0], [[0.9, 0.1, 0.0], [0.2, 0.8, 0.0]])
    with pytest.raises(ValueError, match="they must match$"):
        metric(np.zeros((2, 2)), [[0.9, 0.1, 0.0], [0.2, 0.8, 0.0]])
