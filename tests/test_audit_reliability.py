"""Acceptance audit of issue #7 (reliability): each test pins a gap the audit found, and failed before its fix."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn import layers as L
from tinygrad_cnn.mode import MODE
from tinygrad_cnn.saving import ModelFileError

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


# --- anomaly mode ---

def test_set_detect_anomaly_works_as_a_context_manager_like_pytorchs():
    """`with tc.set_detect_anomaly(True):` failed ('NoneType' object does not support the context manager
    protocol); PyTorch's set_detect_anomaly switches on call and restores the previous state on exit."""
    with tc.set_detect_anomaly(True):
        assert tc.is_anomaly_enabled() and MODE.record_sites
        with tc.set_detect_anomaly(False):
            assert not tc.is_anomaly_enabled()
            tc.Tensor([-1.0]).log()                 # unchecked inside
        with pytest.raises(tc.AnomalyError, match="Log produced 1 NaN"):
            tc.Tensor([-1.0]).log()
    assert not tc.is_anomaly_enabled() and not MODE.record_sites
    tc.set_detect_anomaly(mode=True)                # a plain call still lasts until switched off
    try:
        assert tc.is_anomaly_enabled()
    finally:
        tc.set_detect_anomaly(False)
    assert not tc.is_anomaly_enabled()


@pytest.mark.parametrize("mode", ["False", "yes", None, 1])
def test_set_detect_anomaly_refuses_a_non_bool(mode):
    """set_detect_anomaly("False") switched anomaly mode on (bool("False") is True)."""
    with pytest.raises(TypeError, match=f"set_detect_anomaly: mode must be True or False, got {mode!r}"):
        tc.set_detect_anomaly(mode)
    assert not tc.is_anomaly_enabled()


# --- checkpoints ---

def _model(dropout: float) -> tc.Sequential:
    model = tc.Sequential([tc.Input((6, 6, 1)), L.Conv2D(3, 3, activation="relu"), L.BatchNormalization(),
                           L.Flatten(), L.Dropout(dropout), L.Dense(4)])
    model.compile("adam", tc.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


@settings(max_examples=4, deadline=None)
@given(st.integers(0, 2**31), st.sampled_from([0.0, 0.3]), st.booleans())
def test_resume_with_shuffling_and_dropout_equals_an_uninterrupted_run(tmp_path_factory, seed, dropout, shuffle):
    """load_model drew fresh initial weights from the global generator (then replaced them with the file's),
    so the shuffling and dropout after a resume differed from an uninterrupted run."""
    rng = np.random.default_rng(seed)
    x, y = rng.random((24, 6, 6, 1), dtype=np.float32), rng.integers(0, 4, 24)
    path = tmp_path_factory.mktemp("resume") / "checkpoint.npz"
    tc.manual_seed(seed)
    straight = _model(dropout).fit(x, y, batch_size=8, epochs=4, shuffle=shuffle, verbose=0).history
    tc.manual_seed(seed)
    first = _model(dropout)
    before = first.fit(x, y, batch_size=8, epochs=2, shuffle=shuffle, verbose=0).history
    first.save(path)
    after = tc.load_model(path).fit(x, y, batch_size=8, epochs=2, shuffle=shuffle, verbose=0).history
    assert before["loss"] + after["loss"] == straight["loss"]
    assert before["accuracy"] + after["accuracy"] == straight["accuracy"]


def test_a_directory_is_not_a_model_file(tmp_path):
    """Saving onto a directory wrote a temporary file in its parent and failed in os.replace with
    "[Errno 21] Is a directory: '.../.tmp...' -> '...'"; loading one said 'no model file'."""
    model = tc.Sequential([tc.Input((3,)), L.Dense(2)])
    with pytest.raises(IsADirectoryError, match=f"cannot save to {tmp_path}: it is a directory"):
        model.save(tmp_path)
    assert list(tmp_path.parent.glob(".*.tmp")) == []
    with pytest.raises(IsADirectoryError, match="is a directory, not a model file"):
        tc.load_model(tmp_path)


def test_load_model_compile_must_be_a_bool(tmp_path):
    """load_model(path, compile="no") compiled the model ("no" is true)."""
    tc.Sequential([tc.Input((3,)), L.Dense(2)]).save(tmp_path / "m.npz")
    with pytest.raises(TypeError, match="load_model: compile must be True or False, got 'no'"):
        tc.load_model(tmp_path / "m.npz", compile="no")


def _saved_then(tmp_path, change) -> str:
    """A compiled, trained model's file, with its entries edited by `change(arrays)`."""
    model = _model(0.0)
    model.fit(np.ones((4, 6, 6, 1), np.float32), np.arange(4), verbose=0)
    path = tmp_path / "model.npz"
    model.save(path)
    arrays = dict(np.load(path))
    change(arrays)
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("version", [np.array("1"), np.array([1]), np.array(1.5), np.array(0), np.array(-1)])
def test_a_version_that_is_not_a_positive_int_is_refused(tmp_path, version):
    """version "1", 1.5, 0 and -1 were accepted; [1] was reported as 'version [1] is newer than ... (1)'."""
    path = _saved_then(tmp_path, lambda arrays: arrays.update(version=version))
    with pytest.raises(ModelFileError, match="the entry 'version' should be a positive integer"):
        tc.load_model(path)


@pytest.mark.parametrize("iterations", [np.array([1, 2]), np.array(1.5), np.array("1"), np.array(-3)])
def test_optimizer_iterations_must_be_a_count(tmp_path, iterations):
    """A [1, 2] step count ended in NumPy's 'only 0-dimensional arrays can be converted to Python scalars';
    1.5, "1" and -3 were accepted and silently changed the resumed optimizer's step (Adam's bias correction)."""
    path = _saved_then(tmp_path, lambda arrays: arrays.update({"optimizer/iterations": iterations}))
    with pytest.raises(ModelFileError, match="'optimizer/iterations' should be an integer >= 0"):
        tc.load_model(path)


def test_a_zip_member_that_is_not_an_array_is_refused(tmp_path):
    """np.load gives the raw bytes of a member that is not a .npy file: the loader failed with
    AttributeError: 'bytes' object has no attribute 'dtype'."""
    path = tmp_path / "model.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("format.npy", b"not an array")
        archive.writestr("notes.txt", b"hello")
    with pytest.raises(ModelFileError, match="entry 'notes.txt' is not a NumPy array"):
        tc.load_model(path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("format.npy", b"not an array")
    with pytest.raises(ModelFileError, match="entry 'format' is not a NumPy array"):
        tc.load_model(path)


def test_an_architecture_too_large_to_build_is_a_file_error(tmp_path):
    """A file whose architecture asks for 10**12 filters ended in a bare MemoryError from the initializer."""
    def huge(arrays):
        architecture = json.loads(str(arrays["architecture"]))
        architecture["config"]["layers"][1]["config"]["filters"] = 10**12
        arrays["architecture"] = np.array(json.dumps(architecture))
    path = _saved_then(tmp_path, huge)
    with pytest.raises(ModelFileError, match="cannot rebuild the model from its architecture: Unable to allocate"):
        tc.load_model(path)


def test_a_built_in_metric_object_survives_a_round_trip(tmp_path):
    """compile(metrics=[tc.metrics.CategoricalAccuracy()]) was saved without the metric (only name
    strings were kept), silently: the resumed history lost its accuracy column."""
    model = tc.Sequential([tc.Input((3,)), L.Dense(2)])
    model.compile("adam", "mse", metrics=[tc.metrics.CategoricalAccuracy(), tc.metrics.MeanAbsoluteError()])
    model.save(tmp_path / "m.npz")
    loaded = tc.load_model(tmp_path / "m.npz")
    history = loaded.fit(np.ones((4, 3), np.float32), np.eye(2)[[0, 1, 0, 1]], verbose=0).history
    assert set(history) == {"loss", "categorical_accuracy", "mean_absolute_error"}


class _OwnAccuracy(tc.metrics.SparseCategoricalAccuracy):
    """A Metric class of one's own: a file cannot hold its code (built-in ones with settings are saved)."""


@pytest.mark.parametrize("metric", [lambda y_true, y_pred: y_pred.sum(axis=-1),
                                    tc.metrics.FunctionMetric(lambda y_true, y_pred: y_pred.sum(-1), "total"),
                                    _OwnAccuracy(name="acc2")])
def test_a_metric_a_file_cannot_name_is_dropped_with_a_warning(tmp_path, metric):
    """Such metrics were dropped silently, while a custom loss warned."""
    model = tc.Sequential([tc.Input((3,)), L.Dense(2)])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy", metric])
    with pytest.warns(UserWarning, match="cannot be saved .* compile it again to add them"):
        model.save(tmp_path / "m.npz")
    assert tc.load_model(tmp_path / "m.npz").compiled_metrics == ["accuracy"]


@pytest.mark.parametrize("class_name", [["Dense"], {"a": 1}])
def test_a_layer_class_name_that_is_not_text_is_refused(tmp_path, class_name):
    """A list as a layer's class_name ended in "ModelFileError: ...: unhashable type: 'list'"."""
    def rename(arrays):
        architecture = json.loads(str(arrays["architecture"]))
        architecture["config"]["layers"][1]["class_name"] = class_name
        arrays["architecture"] = np.array(json.dumps(architecture))
    path = _saved_then(tmp_path, rename)
    with pytest.raises(ModelFileError, match="unknown layer class .* in the config; known: Activation"):
        tc.load_model(path)


def test_an_architecture_nested_too_deep_is_a_file_error(tmp_path):
    """100,000 nested brackets escaped from json.loads as a bare RecursionError."""
    path = _saved_then(tmp_path, lambda arrays: arrays.update(architecture=np.array("[" * 100_000 + "]" * 100_000)))
    with pytest.raises(ModelFileError, match="the architecture entry is not valid JSON"):
        tc.load_model(path)


def test_loading_a_weights_file_as_a_model_says_how_to_load_it(tmp_path):
    """The error only said "is a 'tinygrad_cnn.weights' file; expected tinygrad_cnn.model"."""
    model = tc.Sequential([tc.Input((3,)), L.Dense(2)])
    model.save_weights(tmp_path / "w.npz")
    with pytest.raises(ModelFileError, match=r"holds weights only: build the model, then model.load_weights\(path\)"):
        tc.load_model(tmp_path / "w.npz")
