"""Session 7 follow-ups in Model and Layer: the shape trace under anomaly mode, layer dtypes, saving keywords,
weight-mismatch errors listing every mismatch, and Keras's *_on_batch methods."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import tinygrad_cnn as tc


def test_shape_trace_raises_no_anomaly_nor_warning_and_restores_the_modes():
    # the trace runs call on zeros: log(0) = -inf there is the sample's doing, not the user's
    with tc.detect_anomaly():
        with warnings.catch_warnings(), np.errstate(all="raise"):
            warnings.simplefilter("error")
            model = tc.Sequential([tc.Input((2,)), tc.layers.Lambda(lambda t: t.log())])
        assert model.output_shape == (None, 2)
        assert tc.is_anomaly_check_nan_enabled() and tc.is_grad_enabled()
        with pytest.raises(tc.AnomalyError), np.errstate(divide="ignore"):   # the user's own data is still checked
            model(tc.zeros(3, 2))

    def broken(t):
        raise KeyError("boom")

    with tc.detect_anomaly():
        with pytest.raises(KeyError, match="boom"):
            tc.Sequential([tc.Input((2,)), tc.layers.Lambda(broken)])
        assert tc.is_anomaly_check_nan_enabled() and tc.is_grad_enabled()
    assert not tc.is_anomaly_enabled() and tc.is_grad_enabled()


FLOAT16_LAYERS = {   # every layer with weights, and an input it takes
    "Dense": (lambda **k: tc.layers.Dense(3, **k), (2, 4)),
    "Conv2D": (lambda **k: tc.layers.Conv2D(3, 3, **k), (2, 6, 6, 2)),
    "Conv2DTranspose": (lambda **k: tc.layers.Conv2DTranspose(3, 3, **k), (2, 5, 5, 2)),
    "DepthwiseConv2D": (lambda **k: tc.layers.DepthwiseConv2D(3, **k), (2, 6, 6, 2)),
    "SeparableConv2D": (lambda **k: tc.layers.SeparableConv2D(3, 3, **k), (2, 6, 6, 2)),
    "BatchNormalization": (lambda **k: tc.layers.BatchNormalization(**k), (4, 3)),
    "LayerNormalization": (lambda **k: tc.layers.LayerNormalization(**k), (4, 3)),
}


@pytest.mark.parametrize("kind", FLOAT16_LAYERS)
def test_a_float16_layer_has_float16_weights_outputs_and_gradients(kind):
    # Keras's dtype="float16": weights in float16, and floating inputs cast to it; before, the weights were
    # float32 and so was everything computed, while layer.dtype said float16
    make, shape = FLOAT16_LAYERS[kind]
    half, full = make(dtype="float16"), make()
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    half.build(shape)
    full.build(shape)
    assert all(w.dtype == np.float16 for w in half.weights) and half.compute_dtype == "float16"
    full.set_weights([w.astype(np.float32) for w in half.get_weights()])
    for data in (x, x.astype(np.float64), tc.Tensor(x, dtype="float16")):
        y = half(data, training=True)
        assert y.dtype == np.float16
    np.testing.assert_allclose(y.numpy(), full(x.astype(np.float16).astype(np.float32), training=True).numpy(),
                               rtol=2e-2, atol=2e-2)
    upstream = tc.Tensor(np.random.default_rng(1).normal(size=y.shape), dtype="float16")
    (y * upstream).sum().backward()
    assert all(w.grad.dtype == np.float16 for w in half.trainable_weights)
    assert full(x).dtype == np.float32 and full(x.astype(np.float64)).dtype == np.float64   # as before


def test_float16_embedding_reads_rows_beyond_float16_integers_and_models_train():
    table = tc.layers.Embedding(3000, 2, dtype="float16")
    rows = table(np.array([[2049.0, 2999.0]], np.float32))   # float16 would round 2049 to 2048
    assert rows.dtype == np.float16
    np.testing.assert_array_equal(rows.numpy()[0], table.embeddings.numpy()[[2049, 2999]])
    model = tc.Sequential([tc.Input((4,)), tc.layers.Dense(8, activation="relu"), tc.layers.Dense(2)])
    model.astype("float16")
    model.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(2).uniform(size=(32, 4)).astype(np.float32)
    model.fit(x, 2 * x[:, :2], epochs=1, verbose=0)
    assert model.predict(x, verbose=0).dtype == np.float16
    assert all(w.dtype == np.float16 for w in model.weights)
    inputs = tc.Input((4,))
    symbolic = tc.layers.Dense(2, dtype="float16")(inputs)   # says what the functional model computes
    assert symbolic.dtype == np.float16 and tc.Model(inputs, symbolic)(x).dtype == np.float16


def small_model():
    return tc.Sequential([tc.Input((4,)), tc.layers.Dense(3, name="hidden"), tc.layers.Dense(2, name="out")])


def test_save_and_save_weights_take_overwrite_and_load_model_takes_compile(tmp_path):
    model = small_model()
    model.compile(optimizer="adam", loss="mse")
    model.save(tmp_path / "m.npz")
    model.save_weights(tmp_path / "w.npz")
    for path, save in ((tmp_path / "m.npz", model.save), (tmp_path / "w.npz", model.save_weights)):
        written = path.read_bytes()
        with pytest.raises(FileExistsError, match="overwrite=False"):
            save(path, overwrite=False)
        assert path.read_bytes() == written
        save(path, overwrite=True)
        save(str(path))   # Keras's default: overwrite=True
    assert tc.models.load_model(tmp_path / "m.npz", compile=True).optimizer is not None
    loaded = tc.models.load_model(tmp_path / "m.npz", compile=False)
    assert loaded.optimizer is None
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="compile"):
        tc.models.load_model(tmp_path / "m.npz", compile="no")


def test_set_weights_and_load_state_dict_list_every_mismatch_and_change_nothing():
    model = small_model()
    before = model.get_weights()
    wrong = [np.zeros((3, 4)), np.zeros(3), np.zeros((3, 2)), np.zeros(3)]
    with pytest.raises(ValueError) as raised:
        model.set_weights(wrong)
    message = str(raised.value)
    assert "2 of the 4 arrays do not fit, so nothing was loaded" in message
    assert "weight 'hidden/kernel' has shape (3, 4) in the list but (4, 3) in Sequential" in message
    assert "weight 'out/bias' has shape (3,) in the list but (2,) in Sequential" in message
    state = model.state_dict()
    state["hidden/bias"], state["out/kernel"] = np.zeros(5), np.array([["a"] * 2] * 3)
    with pytest.raises(ValueError) as raised:
        model.load_state_dict(state)
    message = str(raised.value)
    assert "weight 'hidden/bias' has shape (5,) in the state dict but (3,) in Sequential" in message
    assert "weight 'out/kernel' has dtype <U1; weights must be numbers" in message
    for a, b in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(a, b)


def compiled_classifier(seed=0):
    tc.manual_seed(seed)
    model = tc.Sequential([tc.Input((4,)), tc.layers.Dense(5, activation="tanh"), tc.layers.Dense(3)])
    model.compile(optimizer=tc.optimizers.SGD(learning_rate=0.1),
                  loss=tc.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def test_keras_one_batch_methods_and_metrics_names_on_the_model():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(10, 4)).astype(np.float32), rng.integers(0, 3, 10)
    weights = rng.uniform(0, 2, 10)
    model, reference = compiled_classifier(), compiled_classifier()
    assert model.metrics_names == ["loss", "accuracy"] == tc.training.metrics_names(reference)
    got = model.train_on_batch(x, y, sample_weight=weights, class_weight={1: 3.0}, return_dict=True)
    assert got == tc.training.train_on_batch(reference, x, y, weights, {1: 3.0}, True)
    assert isinstance(model.train_on_batch(x, y), list)   # Keras's default: [loss, accuracy]
    tc.training.train_on_batch(reference, x, y)
    for a, b in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert model.test_on_batch(x, y, sample_weight=weights, return_dict=True) == \
        model.evaluate(x, y, batch_size=10, verbose=0, sample_weight=weights, return_dict=True)
    assert model.test_on_batch(x, y) == model.evaluate(x, y, batch_size=10, verbose=0)
    np.testing.assert_array_equal(model.predict_on_batch(x), model.predict(x, batch_size=10))
    assert tc.Sequential([tc.Input((4,)), tc.layers.Dense(2)]).metrics_names == []
    with pytest.raises(RuntimeError, match="compiled before train_on_batch"):
        tc.Sequential([tc.Input((4,)), tc.layers.Dense(2)]).train_on_batch(x, y)
