"""fit(sample_weight=, class_weight=) and evaluate(sample_weight=), Keras's semantics: weights scale each
sample's loss, class_weight multiplies in for the training data only, validation_split splits the weights,
the metrics stay unweighted."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import layers, losses, optimizers


def data(n=12, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    return rng.standard_normal((n, 4)).astype(np.float32) + np.eye(3, 4, dtype=np.float32)[y], y


def make_model(lr=0.05, loss="sparse_categorical_crossentropy", seed=0):
    tc.manual_seed(seed)
    model = tc.Sequential([tc.Input((4,)), layers.Dense(6, activation="tanh"), layers.Dense(3)])
    model.compile(optimizers.SGD(learning_rate=lr), loss, metrics=["accuracy"])
    return model


def full_batch_epoch(model, x, y, **weights):
    """The weights after one full-batch, unshuffled epoch."""
    model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0, **weights)
    return model.get_weights()


def test_integer_sample_weights_equal_repeating_the_samples():
    """sum(w l) / n with integer w is the mean loss over the data with each sample repeated w times, up to
    the factor sum(w) / n, which a learning rate scaled by that factor absorbs (an oracle not using weights)."""
    x, y = data()
    w = np.array([0, 1, 2, 3, 1, 0, 2, 1, 1, 3, 0, 2])
    weighted = full_batch_epoch(make_model(lr=0.05), x, y, sample_weight=w)
    repeated = full_batch_epoch(make_model(lr=0.05 * w.sum() / len(w)), np.repeat(x, w, axis=0), np.repeat(y, w))
    for a, b in zip(weighted, repeated, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    unweighted = full_batch_epoch(make_model(lr=0.05), x, y)
    assert not np.allclose(unweighted[0], weighted[0])


def test_class_weight_is_the_weight_of_each_samples_class():
    x, y = data()
    by_class = full_batch_epoch(make_model(), x, y, class_weight={0: 3.0, 2: 0.5})  # class 1: weight 1
    by_sample = full_batch_epoch(make_model(), x, y, sample_weight=np.array([3.0, 1.0, 0.5])[y])
    for a, b in zip(by_class, by_sample, strict=True):
        np.testing.assert_array_equal(a, b)
    one_hot = np.eye(3, dtype=np.float32)[y]
    categorical = full_batch_epoch(make_model(loss="categorical_crossentropy"), x, one_hot,
                                   class_weight={0: 3.0, 2: 0.5})
    for a, b in zip(categorical, by_sample, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    w = np.linspace(0.5, 2.0, len(y))
    both = full_batch_epoch(make_model(), x, y, sample_weight=w, class_weight={0: 3.0, 2: 0.5})
    product = full_batch_epoch(make_model(), x, y, sample_weight=w * np.array([3.0, 1.0, 0.5])[y])
    for a, b in zip(both, product, strict=True):
        np.testing.assert_array_equal(a, b)


def weighted_loss(model, x, y, w):
    """The weighted mean loss, from the per-sample losses (Keras's sum_over_batch_size)."""
    per_sample = losses.sparse_categorical_crossentropy(y, model.predict(x), reduction="none").data
    return float((per_sample * w).sum() / len(y))


def test_evaluate_weighs_the_loss_but_not_the_metrics():
    x, y = data(20)
    model = make_model()
    w = np.linspace(0.0, 3.0, len(y))
    loss, accuracy = model.evaluate(x, y, batch_size=20, verbose=0, sample_weight=w)
    assert loss == pytest.approx(weighted_loss(model, x, y, w), rel=1e-5)
    assert accuracy == model.evaluate(x, y, verbose=0)[1]
    batched = model.evaluate(x, y, batch_size=8, verbose=0, sample_weight=w)[0]  # batches weighted by their size
    assert batched == pytest.approx(loss, rel=1e-5)


def test_validation_split_splits_the_weights_and_class_weight_is_for_training_only():
    x, y = data(20)
    w = np.linspace(0.5, 2.0, len(y))
    model = make_model()
    history = model.fit(x, y, epochs=1, validation_split=0.25, sample_weight=w, class_weight={1: 4.0}, verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(weighted_loss(model, x[15:], y[15:], w[15:]), rel=1e-5)
    model = make_model()
    history = model.fit(x[:15], y[:15], epochs=1, validation_data=(x[15:], y[15:], w[15:]), verbose=0)
    assert history.history["val_loss"][0] == pytest.approx(weighted_loss(model, x[15:], y[15:], w[15:]), rel=1e-5)


def test_weights_shuffle_with_their_samples():
    """With shuffling, a sample keeps its weight: zero weights on a class leave it out of the gradient."""
    x, y = data(24)
    w = (y != 2).astype(float)
    shuffled = make_model()
    tc.manual_seed(5)
    shuffled.fit(x, y, batch_size=5, epochs=2, sample_weight=w, verbose=0)
    # the same run with the class-2 samples' inputs scrambled: nothing may change
    scrambled = x.copy()
    scrambled[y == 2] = np.random.default_rng(1).standard_normal(scrambled[y == 2].shape)
    other = make_model()
    tc.manual_seed(5)
    other.fit(scrambled, y, batch_size=5, epochs=2, sample_weight=w, verbose=0)
    for a, b in zip(shuffled.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_custom_loss_without_sample_weight_is_refused_clearly():
    x, y = data()
    model = make_model()
    model.compile("sgd", lambda y_true, y_pred: losses.sparse_categorical_crossentropy(y_true, y_pred))
    with pytest.raises(TypeError, match="sample_weight and class_weight need a loss that takes sample_weight="):
        model.fit(x, y, sample_weight=np.ones(len(y)), verbose=0)
    model.fit(x, y, verbose=0)  # unweighted: fine


@pytest.mark.parametrize("call, error, message", [
    (lambda m, x, y: m.fit(x, y, sample_weight=np.ones(5), verbose=0), ValueError,
     r"fit: x has 12 samples but sample_weight has shape \(5,\); pass one weight per sample, shape \(12,\)"),
    (lambda m, x, y: m.fit(x, y, sample_weight=2.0, verbose=0), ValueError, r"sample_weight has shape \(\)"),
    (lambda m, x, y: m.fit(x, y, sample_weight=np.full(12, np.nan), verbose=0), ValueError,
     r"fit: sample_weight holds nan at index \(0,\); weights must be finite"),
    (lambda m, x, y: m.fit(x, y, sample_weight=["a"] * 12, verbose=0), TypeError, "fit: sample_weight must be numbers"),
    (lambda m, x, y: m.fit(x, y, sample_weight=np.ones((12, 5)), verbose=0), ValueError,
     r"sample_weight has shape \(12, 5\) but the per-sample losses have shape \(12,\)"),
    (lambda m, x, y: m.evaluate(x, y, sample_weight=np.ones(3), verbose=0), ValueError,
     "evaluate: x has 12 samples but sample_weight has shape"),
    (lambda m, x, y: m.fit(x, y, validation_data=(x, y, np.ones(2)), verbose=0), ValueError,
     r"fit\(validation_data\): x has 12 samples but sample_weight"),
    (lambda m, x, y: m.fit(x, y, class_weight=[1.0, 2.0], verbose=0), TypeError,
     "fit: class_weight must be a dict from class index to weight"),
    (lambda m, x, y: m.fit(x, y, class_weight={"cat": 2.0}, verbose=0), TypeError,
     "class_weight's keys must be class indices"),
    (lambda m, x, y: m.fit(x, y, class_weight={0: "high"}, verbose=0), TypeError,
     r"fit: class_weight\[0\] must be a number"),
    (lambda m, x, y: m.fit(x, y, class_weight={0: float("inf")}, verbose=0), ValueError,
     r"class_weight\[0\] must be a finite number"),
    (lambda m, x, y: m.fit(x, y, class_weight={1: float("nan")}, verbose=0), ValueError,
     r"fit: class_weight\[1\] must be a finite number, got nan"),
    (lambda m, x, y: m.fit(x, np.zeros((12, 3, 2)), class_weight={0: 2.0}, verbose=0), ValueError,
     r"class_weight needs one class per sample .* got y of shape \(12, 3, 2\)"),
])
def test_bad_weights_raise_clear_errors(call, error, message):
    x, y = data()
    with pytest.raises(error, match=message):
        call(make_model(), x, y)


def test_validation_batch_size_sets_the_validation_batches():
    """Keras 3's fit(validation_batch_size=...): the validation pass reads batches of that size."""
    x = np.random.default_rng(0).standard_normal((20, 3)).astype(np.float32)
    y = x.sum(axis=1, keepdims=True)
    model = tc.Sequential([tc.Input((3,)), tc.layers.Dense(1)])
    model.compile("sgd", "mse")
    sizes = []
    seen = tc.callbacks.LambdaCallback(on_test_batch_begin=lambda batch, logs: sizes.append(batch))
    model.fit(x, y, batch_size=4, validation_data=(x[:10], y[:10]), validation_batch_size=3, verbose=0,
              callbacks=[seen])
    assert sizes == [0, 1, 2, 3]   # 10 samples in batches of 3
    with pytest.raises(ValueError, match="fit: validation_batch_size must be"):
        model.fit(x, y, validation_batch_size=0, verbose=0)
