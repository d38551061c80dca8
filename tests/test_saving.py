"""model.save / tc.load_model / save_weights / load_weights: exact round trips, resuming, atomic
writes, and refusal of damaged, foreign or mismatching files."""
from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import layers, losses, optimizers, saving
from tinygrad_cnn.saving import ModelFileError


def data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 6, 6, 1), dtype=np.float32), rng.integers(0, 4, n)


def make_model(seed=0, filters=3):
    tc.manual_seed(seed)
    model = tc.Sequential([
        tc.Input((6, 6, 1)), layers.Conv2D(filters, 3, activation="relu"), layers.BatchNormalization(),
        layers.Flatten(), layers.Dense(4),
    ])
    model.compile(optimizers.Adam(learning_rate=0.01), losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def rewrite(path, change):
    """Rewrite an .npz after `change(arrays)` edits its entries."""
    arrays = dict(np.load(path))
    change(arrays)
    np.savez(path, **arrays)


def test_round_trip_is_bit_exact(tmp_path):
    x, y = data()
    model = make_model()
    model.fit(x, y, epochs=2, verbose=0)
    model.save(tmp_path / "model.npz")
    loaded = tc.load_model(tmp_path / "model.npz")
    assert loaded.summary_str() == model.summary_str()
    for a, b in zip(model.weights, loaded.weights, strict=True):
        assert a.name == b.name and a.dtype == b.dtype
        np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.iterations == model.optimizer.iterations
    for a, b in zip(model.optimizer.state, loaded.optimizer.state, strict=True):
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert isinstance(loaded.loss, losses.SparseCategoricalCrossentropy) and loaded.loss.from_logits


def test_training_resumes_exactly(tmp_path):
    x, y = data()
    straight = make_model().fit(x, y, epochs=4, shuffle=False, verbose=0).history
    first = make_model()
    before = first.fit(x, y, epochs=2, shuffle=False, verbose=0).history
    first.save(tmp_path / "checkpoint.npz")
    after = tc.load_model(tmp_path / "checkpoint.npz").fit(x, y, epochs=2, shuffle=False, verbose=0).history
    assert before["loss"] + after["loss"] == straight["loss"]
    assert before["accuracy"] + after["accuracy"] == straight["accuracy"]


def test_interrupted_save_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    model = make_model()
    model.save(path)
    old = path.read_bytes()
    model.fit(*data(), epochs=1, verbose=0)

    def fail_half_way(file, **arrays):
        file.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(saving.np, "savez", fail_half_way)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary file left behind
    tc.load_model(path)


def test_save_keeps_the_file_mode(tmp_path):
    path = tmp_path / "model.npz"
    make_model().save(path)
    os.chmod(path, 0o640)
    make_model().save(path)
    assert path.stat().st_mode & 0o777 == 0o640


def test_weights_round_trip_into_a_fresh_model(tmp_path):
    model = make_model(seed=1)
    model.fit(*data(), epochs=1, verbose=0)
    model.save_weights(tmp_path / "w.npz")
    fresh = make_model(seed=2)  # other initial values and other layer names (conv2d_1, ...)
    assert fresh.weights[0].name != model.weights[0].name
    fresh.load_weights(tmp_path / "w.npz")
    for a, b in zip(model.weights, fresh.weights, strict=True):
        np.testing.assert_array_equal(a.data, b.data)


def test_wrong_architecture_is_refused_and_the_model_kept(tmp_path):
    make_model(filters=3).save_weights(tmp_path / "w.npz")
    other = make_model(filters=5)
    before = other.get_weights()
    with pytest.raises(ModelFileError, match=r"has shape \(3, 3, 1, 3\) in the file but \(3, 3, 1, 5\)"):
        other.load_weights(tmp_path / "w.npz")
    for a, b in zip(before, other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_missing_weight_is_named(tmp_path):
    path = tmp_path / "model.npz"
    model = make_model()
    model.save(path)
    name = model.layers[-1].weights[1].name
    rewrite(path, lambda arrays: arrays.pop(f"weights/{name}"))
    with pytest.raises(ModelFileError, match=f"has no weight '{name}'"):
        tc.load_model(path)


def test_unknown_layer_is_refused(tmp_path):
    path = tmp_path / "model.npz"
    make_model().save(path)

    def sneak_in(arrays):
        architecture = json.loads(str(arrays["architecture"]))
        architecture["config"]["layers"][1]["class_name"] = "Lambda"
        arrays["architecture"] = np.array(json.dumps(architecture))
    rewrite(path, sneak_in)
    with pytest.raises(ModelFileError, match="unknown layer class 'Lambda'"):
        tc.load_model(path)


def test_pickles_and_object_arrays_are_refused(tmp_path):
    with open(tmp_path / "model.pkl", "wb") as f:
        pickle.dump({"weights": np.ones(3)}, f)
    with pytest.raises(ModelFileError, match="pickled Python objects"):
        tc.load_model(tmp_path / "model.pkl")
    path = tmp_path / "model.npz"
    make_model().save(path)
    rewrite(path, lambda arrays: arrays.update(evil=np.array([os.system], dtype=object)))
    with pytest.raises(ModelFileError, match="entry 'evil' holds Python objects"):
        tc.load_model(path)


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "not ours"])
def test_damaged_files_are_refused(tmp_path, damage):
    path = tmp_path / "model.npz"
    make_model().save(path)
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    elif damage == "flip":  # inside the first weight's data: the zip checksum no longer matches
        start = raw.index(b"weights/")
        for i in range(start + 200, start + 240):
            raw[i] ^= 0xFF
    elif damage == "empty":
        raw = bytearray()
    path.write_bytes(bytes(raw))
    if damage == "not ours":
        np.savez(path, a=np.ones(3))
    with pytest.raises(ModelFileError, match="corrupt or truncated|missing or not text"):
        tc.load_model(path)


def test_custom_loss_saves_uncompiled_with_a_warning(tmp_path):
    model = make_model()
    model.compile("adam", lambda y_true, y_pred: (y_pred ** 2).mean())
    with pytest.warns(UserWarning, match="custom callable"):
        model.save(tmp_path / "model.npz")
    assert getattr(tc.load_model(tmp_path / "model.npz"), "optimizer", None) is None


def test_errors_before_writing(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        make_model().save(tmp_path / "missing" / "model.npz")
    with pytest.raises(FileNotFoundError, match="no model file"):
        tc.load_model(tmp_path / "nothing.npz")
    with pytest.raises(ValueError, match="has no weights yet"):
        tc.Sequential([layers.Dense(2)]).save(tmp_path / "model.npz")


def test_a_compiled_model_without_weights_loads_and_keras_load_model_path(tmp_path):
    """A compiled model with no trainable weights (augmentation only) could be saved but not loaded
    ('Adam has no parameters'); keras.models.load_model's path, tc.models.load_model, exists too."""
    model = tc.Sequential([tc.Input((6, 5, 3)), tc.layers.RandomFlip()])
    model.compile("adam", "mse")
    model.save(tmp_path / "m.npz")
    loaded = tc.models.load_model(tmp_path / "m.npz")
    x = np.random.default_rng(0).standard_normal((2, 6, 5, 3)).astype(np.float32)
    np.testing.assert_array_equal(loaded.predict(x), x)
    assert type(loaded.optimizer).__name__ == "Adam"
