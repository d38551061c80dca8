"""fit / evaluate / predict on batches from Python (generators, lists of batch tuples, tc.utils.PyDataset),
steps_per_epoch, validation_freq, the unknown-length progress bar, and tc.utils.to_categorical / normalize."""
from __future__ import annotations

import io
import random
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_cnn as tc
from tinygrad_cnn import layers, losses, optimizers
from tinygrad_cnn.callbacks import Callback
from tinygrad_cnn.progress import ProgressBar
from tinygrad_cnn.utils import PyDataset, normalize, set_random_seed, to_categorical


def data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    return x, rng.integers(0, 3, n), rng.uniform(0.5, 2.0, n)


def make_model(seed=0, with_input=True):
    tc.manual_seed(seed)
    entries = [layers.Dense(8, activation="relu"), layers.Dropout(0.2), layers.Dense(3)]
    model = tc.Sequential(([tc.Input((4,))] if with_input else []) + entries)
    model.compile(optimizers.Adam(learning_rate=0.05), losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def cut(arrays, batch_size):
    """The batches of `arrays` in order, as tuples."""
    return [tuple(a[i:i + batch_size] for a in arrays) for i in range(0, len(arrays[0]), batch_size)]


def forever(batches):
    while True:
        yield from batches


def same_weights(a, b):
    return all(np.array_equal(p, q) for p, q in zip(a.weights, b.weights, strict=True))


class Steps(Callback):
    """Records the params fit gives and the batches of each epoch."""

    def __init__(self):
        self.params_seen, self.per_epoch = None, []

    def on_train_begin(self, logs=None):
        self.params_seen = dict(self.params)

    def on_epoch_begin(self, epoch, logs=None):
        self.per_epoch.append(0)

    def on_train_batch_end(self, batch, logs=None):
        self.per_epoch[-1] += 1


class Batches(PyDataset):
    """A PyDataset over arrays that records the indices read and the epoch hooks."""

    def __init__(self, arrays, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.batches, self.read, self.events = cut(arrays, batch_size), [], []

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        self.read.append(index)
        return self.batches[index]

    def on_epoch_begin(self):
        self.events.append("begin")

    def on_epoch_end(self):
        self.events.append("end")


# --- fit on batches equals fit on the same arrays ---------------------------------------------------------

@settings(max_examples=8)
@given(n=st.integers(5, 30), batch_size=st.integers(1, 12), weighted=st.booleans(), epochs=st.integers(1, 3))
def test_generator_fit_gives_the_weights_of_array_fit(n, batch_size, weighted, epochs):
    x, y, w = data(n)
    arrays = (x, y, w) if weighted else (x, y)
    expected = make_model()
    history = expected.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False, verbose=0,
                           sample_weight=w if weighted else None)
    steps = -(-n // batch_size)
    model = make_model()
    got = model.fit(forever(cut(arrays, batch_size)), steps_per_epoch=steps, epochs=epochs, verbose=0)
    assert same_weights(expected, model)
    assert got.history == history.history
    listed = make_model()
    listed.fit(cut(arrays, batch_size), epochs=epochs, verbose=0)  # a list is read again every epoch
    assert same_weights(expected, listed)


def test_an_unbuilt_model_is_built_from_the_first_batch_which_is_still_trained_on():
    x, y, _ = data()
    expected = make_model(with_input=False)
    expected.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    model = make_model(with_input=False)
    model.fit(forever(cut((x, y), 8)), steps_per_epoch=5, epochs=2, verbose=0)
    assert model.built and same_weights(expected, model)


def test_class_weight_applies_to_every_batch_as_with_arrays():
    x, y, w = data()
    expected = make_model()
    expected.fit(x, y, batch_size=10, shuffle=False, verbose=0, sample_weight=w, class_weight={0: 2.0, 2: 0.5})
    model = make_model()
    model.fit(cut((x, y, w), 10), verbose=0, class_weight={0: 2.0, 2: 0.5})
    assert same_weights(expected, model)


# --- steps_per_epoch, re-reading, running out ----------------------------------------------------------------

def test_steps_per_epoch_limits_the_batches_and_an_iterator_goes_on_where_it_stopped():
    x, y, _ = data()
    batches = cut((x, y), 4)  # 10 batches
    seen = Steps()
    model = make_model()
    history = model.fit(forever(batches), steps_per_epoch=3, epochs=3, verbose=0, callbacks=[seen])
    assert seen.params_seen["steps"] == history.params["steps"] == 3 and seen.per_epoch == [3, 3, 3]
    again = make_model()  # the same 9 batches, 0-8, in one epoch

    again.fit(x[:36], y[:36], batch_size=4, epochs=1, shuffle=False, verbose=0)
    assert same_weights(again, model)


def test_a_list_with_steps_per_epoch_starts_again_from_its_first_batch():
    x, y, _ = data(20)
    reader = Batches((x, y), 4)  # 5 batches, read by index
    make_model().fit(reader, steps_per_epoch=3, epochs=3, shuffle=False, verbose=0)
    assert reader.read == [0, 1, 2, 3, 4, 0, 1, 2, 3]
    seen = Steps()
    make_model().fit(cut((x, y), 4), steps_per_epoch=3, epochs=3, verbose=0, callbacks=[seen])
    assert seen.per_epoch == [3, 3, 3]


def test_a_finite_generator_that_runs_out_warns_and_stops_training():
    x, y, _ = data()
    seen = Steps()
    with pytest.warns(UserWarning, match="ran out of data after 10 batches"):
        history = make_model().fit(iter(cut((x, y), 4)), steps_per_epoch=4, epochs=5, verbose=0, callbacks=[seen])
    assert seen.per_epoch == [4, 4, 2] and history.epoch == [0, 1, 2]
    with pytest.warns(UserWarning, match="ran out of data after 8 batches"):  # out exactly at an epoch's end
        history = make_model().fit(iter(cut((x[:32], y[:32]), 4)), steps_per_epoch=4, epochs=3, verbose=0)
    assert history.epoch == [0, 1]


def test_a_generator_without_steps_trains_one_epoch_and_the_callbacks_see_unknown_steps():
    x, y, _ = data()
    seen = Steps()
    expected = make_model()
    expected.fit(x, y, batch_size=8, shuffle=False, verbose=0)
    model = make_model()
    model.fit((batch for batch in cut((x, y), 8)), verbose=0, callbacks=[seen])
    assert seen.params_seen["steps"] is None and seen.per_epoch == [5] and same_weights(expected, model)
    seen = Steps()
    make_model().fit(cut((x, y), 8), verbose=0, callbacks=[seen])
    assert seen.params_seen["steps"] == 5


# --- PyDataset ---------------------------------------------------------------------------------------------

def test_pydataset_hooks_run_around_every_epoch_and_shuffle_reorders_the_batches():
    x, y, _ = data()
    reader = Batches((x, y), 8)
    history = make_model().fit(reader, epochs=3, shuffle=False, verbose=0)
    assert reader.events == ["begin", "end"] * 3 and reader.read == list(range(5)) * 3
    assert history.params["steps"] == 5
    reader = Batches((x, y), 8)
    tc.manual_seed(1)
    make_model().fit(reader, epochs=4, verbose=0)  # shuffle=True: each epoch reads all batches, in a new order
    orders = [reader.read[i:i + 5] for i in range(0, 20, 5)]
    assert all(sorted(order) == list(range(5)) for order in orders)
    assert len({tuple(order) for order in orders}) > 1


def test_pydataset_without_an_end_needs_steps_per_epoch():
    x, y, _ = data()

    class Endless(Batches):
        @property
        def num_batches(self):
            return None

        def __getitem__(self, index):
            return super().__getitem__(index % len(self.batches))

    reader = Endless((x, y), 8)
    history = make_model().fit(reader, steps_per_epoch=7, epochs=2, verbose=0)
    assert reader.read == [i % 5 for i in range(14)] and history.params["steps"] == 7


def test_pydataset_checks_its_settings_and_says_what_to_define():
    with pytest.raises(TypeError, match="workers must be a positive int"):
        PyDataset(workers=1.5)
    with pytest.raises(TypeError, match="use_multiprocessing must be True or False"):
        PyDataset(use_multiprocessing="yes")
    with pytest.raises(NotImplementedError, match="must define __len__"):
        len(PyDataset())
    with pytest.raises(NotImplementedError, match=r"must define __getitem__"):
        PyDataset()[0]


# --- validation ---------------------------------------------------------------------------------------------

def test_validation_data_as_batches_equals_arrays_and_validation_freq_picks_the_epochs():
    x, y, _ = data()
    expected = make_model().fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0, validation_data=(x, y))
    history = make_model().fit(cut((x, y), 8), epochs=4, verbose=0, validation_data=cut((x, y), 8),
                               validation_freq=2)
    assert history.history["loss"] == expected.history["loss"]
    np.testing.assert_allclose(history.history["val_loss"], expected.history["val_loss"][1::2], rtol=1e-6)
    history = make_model().fit(x, y, epochs=4, verbose=0, validation_data=(x, y), validation_freq=[1, 4])
    assert len(history.history["val_loss"]) == 2 and len(history.history["loss"]) == 4


def test_validation_steps_reads_a_running_validation_generator():
    x, y, _ = data()
    expected = make_model()
    expected.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    model = make_model()
    history = model.fit(cut((x, y), 8), epochs=1, verbose=0, validation_data=forever(cut((x[:16], y[:16]), 8)),
                        validation_steps=2)
    np.testing.assert_allclose(history.history["val_loss"][0], expected.evaluate(x[:16], y[:16], verbose=0)[0],
                               rtol=1e-6)



def test_a_validation_generator_that_runs_out_warns_once_and_training_goes_on():
    x, y, _ = data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = make_model().fit(forever(cut((x, y), 8)), steps_per_epoch=2, epochs=4, verbose=0,
                                   validation_data=iter(cut((x[:24], y[:24]), 8)), validation_steps=2)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1, messages
    assert "validation_data ran out of data after 3 batches, so validation stops here" in messages[0]
    assert history.epoch == [0, 1, 2, 3] and len(history.history["val_loss"]) == 2

# --- evaluate and predict ---------------------------------------------------------------------------------------

def test_evaluate_and_predict_on_batches_equal_the_array_results():
    x, y, w = data(37)
    model = make_model()
    model.fit(x, y, epochs=2, verbose=0)
    assert model.evaluate(iter(cut((x, y, w), 8)), verbose=0) == model.evaluate(x, y, batch_size=8, verbose=0,
                                                                                   sample_weight=w)
    assert model.evaluate(cut((x, y), 8), steps=2, verbose=0) == model.evaluate(x[:16], y[:16], verbose=0)
    expected = model.predict(x)
    for batches in (iter(cut((x,), 8)), [b[0] for b in cut((x,), 8)], cut((x, y), 8), Batches((x, y), 8)):
        source = iter(batches) if isinstance(batches, list) and not isinstance(batches[0], tuple) else batches
        np.testing.assert_array_equal(model.predict(source), expected)
    np.testing.assert_array_equal(model.predict(forever([x[:8]]), steps=3), np.concatenate([expected[:8]] * 3))
    np.testing.assert_array_equal(model.predict(x, batch_size=8, steps=2), expected[:16])



def test_evaluate_and_predict_read_each_batch_once_when_steps_exceed_the_data(capsys):
    x, y, _ = data(37)
    model = make_model()
    expected, loss = model.predict(x, batch_size=8), model.evaluate(x, y, batch_size=8, verbose=0)
    for source in (x, cut((x,), 8), Batches((x, y), 8)):  # arrays, a list, a PyDataset: 5 batches
        with pytest.warns(UserWarning, match="x ended after 5 of the steps=7 batches of this pass"):
            np.testing.assert_array_equal(model.predict(source, batch_size=8, steps=7), expected)
    trained = make_model()
    with pytest.warns(UserWarning, match="validation_data ended after 2 of the validation_steps=3 batches"):
        history = trained.fit(x, y, batch_size=8, epochs=2, verbose=0, validation_data=(x[:16], y[:16]),
                              validation_steps=3)
    last = trained.evaluate(x[:16], y[:16], batch_size=8, verbose=0)[0]
    assert history.history["val_loss"][1] == pytest.approx(last)  # each validation batch counted once
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # fewer steps than batches: the next epoch goes on, then starts again
        history = trained.fit(x, y, batch_size=8, epochs=3, verbose=0, validation_data=(x[:16], y[:16]),
                              validation_steps=1)
    assert len(history.history["val_loss"]) == 3
    capsys.readouterr()
    with pytest.warns(UserWarning, match="evaluate: x ended after 5 of the steps=9 batches"):
        assert model.evaluate(x, y, batch_size=8, steps=9, verbose=2) == loss
    assert capsys.readouterr().out.startswith("5/9 - ")  # the progress line shows the steps done

# --- the progress bar ---------------------------------------------------------------------------------------------

class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_the_progress_bar_counts_unknown_steps_and_ends_with_the_count(capsys):
    bar = ProgressBar(None, 1, Terminal())
    bar.update(3, {"loss": 0.5})
    assert "3/Unknown" in bar.stream.getvalue() and "ETA" not in bar.stream.getvalue()
    bar.update(7, {"loss": 0.25})
    bar.finish({"loss": 0.25})
    assert bar.stream.getvalue().rstrip().split("\r")[-1].startswith("7/7 [=====")
    x, y, _ = data()
    make_model().fit((b for b in cut((x, y), 8)), verbose=2)
    assert capsys.readouterr().out.splitlines()[1].startswith("5/5 - ")


# --- bad inputs ---------------------------------------------------------------------------------------------------

def test_every_bad_input_gets_a_clear_error():
    x, y, w = data()
    model = make_model()
    cases = [
        (lambda: model.fit(iter([x[:8]])), ValueError, r"batch 0 of list_iterator\): each batch must be a tuple"),
        (lambda: model.fit(iter([(x[:8], y[:8], w[:8], w[:8])])), ValueError, "got a tuple of length 4"),
        (lambda: model.fit(iter([(x[:8], y[:7])])), ValueError, "x has 8 samples but y has 7"),
        (lambda: model.fit(iter([(x[:8], y[:8], w[:5])])), ValueError, "sample_weight has shape"),
        (lambda: model.fit(iter(cut((x, y), 8)), epochs=2), ValueError, "pass steps_per_epoch="),
        (lambda: model.fit(iter(cut((x, y), 8)), y), ValueError, r"y cannot be given .*yield \(x_batch, y_batch\)"),
        (lambda: model.fit(cut((x, y), 8), sample_weight=w), ValueError, "sample_weight cannot be given"),
        (lambda: model.fit(cut((x, y), 8), validation_split=0.2), ValueError, "validation_split cannot be given"),
        (lambda: model.fit([]), ValueError, "x is empty"),
        (lambda: model.fit(x), TypeError, "y is None"),
        (lambda: model.fit(iter([])), ValueError, "gave no batches"),
        (lambda: model.fit(x, y, steps_per_epoch=0), ValueError, "steps_per_epoch must be a positive int"),
        (lambda: model.fit(x, y, steps_per_epoch=2.5), TypeError, "steps_per_epoch must be a positive int"),
        (lambda: model.fit(x, y, validation_freq=0), ValueError, "validation_freq must be a positive int"),
        (lambda: model.fit(x, y, validation_freq="2"), TypeError, "validation_freq must be a positive int"),
        (lambda: model.fit(cut((x, y), 8), epochs=3, validation_data=iter(cut((x, y), 8))), ValueError,
         "pass validation_steps="),
        (lambda: model.evaluate(cut((x, y), 8), y), ValueError, "y cannot be given"),
        (lambda: model.evaluate(x, y, steps=-1), ValueError, "steps must be a positive int"),
        (lambda: model.predict(iter([(x[:8], y[:8], w[:8], w[:8])])), ValueError, "or x alone"),
        (lambda: model.predict(iter([np.full((2, 4), np.nan)])), ValueError, "x contains nan"),
    ]
    for call, error, match in cases:
        with pytest.raises(error, match=match):
            call()


def test_an_iterable_with_array_is_data_to_cut_not_batches():
    x, y, _ = data()

    class Frame:  # like a pandas DataFrame: iterating it gives column names, np.asarray gives the values
        def __init__(self, values):
            self.values = values

        def __array__(self, dtype=None, copy=None):
            return self.values

        def __iter__(self):
            return iter(range(self.values.shape[1]))

    expected = make_model()
    expected.fit(x, y, batch_size=8, shuffle=False, verbose=0)
    model = make_model()
    model.fit(Frame(x), y, batch_size=8, shuffle=False, verbose=0)
    assert same_weights(expected, model)


def test_batches_given_as_lists_train_as_tuples_and_nested_number_lists_stay_data(torch):
    x, y, _ = data()
    expected = make_model()
    expected.fit(cut((x, y), 8), epochs=2, verbose=0)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y)), batch_size=8)
    for batches in ([list(b) for b in cut((x, y), 8)], list(loader)):  # list(DataLoader): lists [x_batch, y_batch]
        model = make_model()
        model.fit(batches, epochs=2, verbose=0)
        np.testing.assert_allclose(model.predict(x), expected.predict(x), rtol=1e-5, atol=1e-6)
    rows = [[np.float32(v) for v in row] for row in x[:, :3]]  # samples of three numbers each: data, not batches
    model = tc.Sequential([tc.Input((3,)), layers.Dense(3)])
    model.compile("sgd", losses.SparseCategoricalCrossentropy(from_logits=True))
    assert model.fit(rows, y, epochs=1, verbose=0).params["steps"] == 2


def test_a_valid_generator_fit_gives_no_warning():
    x, y, _ = data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        make_model().fit(forever(cut((x, y), 8)), steps_per_epoch=5, epochs=2, verbose=0)


# --- to_categorical and normalize ---------------------------------------------------------------------------------

@given(labels=hnp.arrays(np.int64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
                         elements=st.integers(0, 6)), extra=st.integers(0, 3))
def test_to_categorical_is_a_numpy_one_hot_with_the_class_axis_last(labels, extra):
    classes = int(labels.max()) + 1 + extra
    expected = np.eye(classes, dtype=np.float32)[labels]
    squeezed = labels.shape[:-1] if labels.ndim > 1 and labels.shape[-1] == 1 else labels.shape
    got = to_categorical(labels, num_classes=classes)
    assert got.dtype == np.float32 and got.shape == squeezed + (classes,)
    np.testing.assert_array_equal(got, expected.reshape(got.shape))
    np.testing.assert_array_equal(to_categorical(labels), np.eye(labels.max() + 1)[labels].reshape(
        squeezed + (labels.max() + 1,)))


def test_to_categorical_matches_keras_documented_examples():
    np.testing.assert_array_equal(to_categorical([0, 1, 2, 3], num_classes=4), np.eye(4))
    np.testing.assert_array_equal(to_categorical([1, 3]), [[0, 1, 0, 0], [0, 0, 0, 1]])
    np.testing.assert_array_equal(to_categorical([[1], [3]]), [[0, 1, 0, 0], [0, 0, 0, 1]])  # (2, 1) -> (2, 4)
    np.testing.assert_array_equal(to_categorical([1, 3], num_classes=5), [[0, 1, 0, 0, 0], [0, 0, 0, 1, 0]])
    assert to_categorical(2, 3).tolist() == [0, 0, 1] and to_categorical(np.array([1.0, 0.0])).shape == (2, 2)
    assert to_categorical(tc.Tensor(np.array([2.0, 0.0]))).shape == (2, 3)
    assert to_categorical(np.zeros((0,), np.int64), num_classes=3).shape == (0, 3)


def test_to_categorical_errors():
    for labels, num_classes, error, match in [
        ([0, -1, 2], None, ValueError, r"must be >= 0, got -1 at index \(1,\); map .* np.unique"),
        ([0, 3], 3, ValueError, "label 3 is out of range for num_classes=3"),
        ([0.5, 1.0], None, ValueError, r"integer class labels, got 0.5 at index \(0,\)"),
        ([0.0, np.nan], None, ValueError, "integer class labels, got nan"),
        ([], None, ValueError, "num_classes cannot be inferred"),
        (["a"], None, TypeError, "x must be numbers"),
        ([0, 1], 0, ValueError, "num_classes must be a positive int"),
        ([0, 1], 2.0, TypeError, "num_classes must be a positive int"),
    ]:
        with pytest.raises(error, match=match):
            to_categorical(labels, num_classes)


@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
                    elements=st.floats(-10, 10)), order=st.integers(1, 3), data_=st.data())
def test_normalize_divides_by_the_lp_norm_and_keeps_zero_vectors(x, order, data_):
    axis = data_.draw(st.integers(-x.ndim, x.ndim - 1))
    norm = (np.abs(x) ** order).sum(axis=axis, keepdims=True) ** (1.0 / order)
    expected = np.where(norm == 0, 0.0, x / np.where(norm == 0, 1.0, norm))
    got = normalize(x, axis=axis, order=order)
    assert got.dtype == np.float64 and got.shape == x.shape
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-12)


def test_normalize_examples_and_errors():
    np.testing.assert_allclose(normalize([[3, 4], [0, 0]]), [[0.6, 0.8], [0.0, 0.0]])
    assert normalize(np.array([[3, 4]])).dtype == np.float32
    np.testing.assert_allclose(normalize(np.array([[1.0, 3.0]], np.float32), order=1), [[0.25, 0.75]])
    np.testing.assert_allclose(normalize(np.array([[3.0], [4.0]]), axis=0), [[0.6], [0.8]])
    for kwargs, error, match in [({"order": 0}, ValueError, "order must be an int >= 1"),
                                 ({"order": 2.0}, ValueError, "order must be an int >= 1"),
                                 ({"axis": 2}, ValueError, "axis 2 is out of range for x of shape"),
                                 ({"axis": 0.5}, TypeError, "axis must be an int")]:
        with pytest.raises(error, match=match):
            normalize([[1.0, 2.0]], **kwargs)


@pytest.fixture
def global_rngs_restored():
    """Python's and NumPy's global generators as they were before the test (set_random_seed reseeds both)."""
    python_state, numpy_state = random.getstate(), np.random.get_state()
    yield
    random.setstate(python_state)
    np.random.set_state(numpy_state)


def test_set_random_seed_repeats_python_numpy_and_our_draws(global_rngs_restored):
    def draws():
        model = tc.Sequential([tc.Input((4,)), layers.Dense(3)])
        return random.random(), np.random.rand(3).tolist(), model.weights[0].numpy().tolist(), tc.rand(2).tolist()

    set_random_seed(7)
    first = draws()
    set_random_seed(7)
    assert draws() == first
    set_random_seed(8)
    assert all(a != b for a, b in zip(draws(), first, strict=True))
    for bad, error in ((-1, ValueError), (2**32, ValueError), (1.5, TypeError), ("7", TypeError), (True, TypeError)):
        with pytest.raises(error, match=r"seed must be an int in \[0, 2\*\*32\), got .*set_random_seed\(42\)"):
            set_random_seed(bad)
