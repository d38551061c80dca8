"""fit / evaluate / predict: history, validation, shuffling, NaN stop, no graph in inference, errors."""
from __future__ import annotations

import re

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import layers, losses, metrics, optimizers
from tinygrad_cnn.training import Callback, NonFiniteLossError


class Spy(layers.Layer):
    """An identity layer that records, per call, whether a graph is recorded and the training flag."""

    keeps_shape = True   # no call on a sample to find the output shape: only the model's calls are recorded

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[bool, bool]] = []

    def call(self, x, training):
        self.calls.append((tc.is_grad_enabled(), training))
        return x


def blobs(n=120, seed=0):
    """Three well separated Gaussian clusters in 4 dimensions."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.standard_normal((n, 4)).astype(np.float32) * 0.5 + np.eye(3, 4, dtype=np.float32)[y] * 3
    return x, y


def make_model(spy=None, seed=0, compile_=True):
    tc.manual_seed(seed)
    entries = [tc.Input((4,)), layers.Dense(8, activation="relu"), layers.Dropout(0.2), layers.Dense(3)]
    model = tc.Sequential(entries + ([spy] if spy is not None else []))
    if compile_:
        model.compile(optimizers.Adam(learning_rate=0.05), losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
    return model


def test_fit_learns_and_returns_history():
    x, y = blobs()
    model = make_model()
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert history.epoch == [0, 1, 2, 3, 4] and model.history is history
    assert set(history.history) == {"loss", "accuracy"}
    assert all(len(v) == 5 for v in history.history.values())
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    loss, accuracy = model.evaluate(x, y, verbose=0)
    assert accuracy > 0.95 and loss < history.history["loss"][0]


def test_validation_split_takes_the_last_fraction():
    x, y = blobs(100)
    model = make_model()
    history = model.fit(x, y, epochs=2, validation_split=0.25, verbose=0)
    expected = model.evaluate(x[75:], y[75:], verbose=0)
    np.testing.assert_allclose([history.history["val_loss"][-1], history.history["val_accuracy"][-1]], expected)
    other = make_model()
    same = other.fit(x[:75], y[:75], epochs=2, validation_data=(x[75:], y[75:]), verbose=0)
    assert same.history == history.history  # the same split, the same shuffles (seeded), the same numbers


def test_shuffling_uses_the_seeded_generator():
    x, y = blobs()
    runs = [make_model(seed=3).fit(x, y, epochs=2, verbose=0).history for _ in range(2)]
    assert runs[0] == runs[1]
    unshuffled = make_model(seed=3).fit(x, y, epochs=2, shuffle=False, verbose=0).history
    assert unshuffled != runs[0]


def test_evaluate_and_predict_record_no_graph_and_run_in_inference_mode():
    x, y = blobs(40)
    spy = Spy()
    model = make_model(spy)
    model.fit(x, y, epochs=1, batch_size=20, verbose=0)
    assert spy.calls == [(True, True)] * 2
    spy.calls.clear()
    model.evaluate(x, y, batch_size=20, verbose=0)
    model.predict(x, batch_size=20)
    assert spy.calls == [(False, False)] * 4
    assert not model.training  # the mode is restored afterwards (inference, the initial mode)


def test_predict_matches_the_model_and_ignores_batch_size():
    x, _ = blobs(37)
    model = make_model()
    model.eval()
    expected = model(x).data
    model.train()
    for batch_size in (1, 8, 100):
        out = model.predict(x, batch_size=batch_size)
        assert isinstance(out, np.ndarray) and out.shape == (37, 3)
        np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)


def test_evaluate_returns_a_float_without_metrics_and_the_mean_loss():
    x, y = blobs(50)
    model = tc.Sequential([tc.Input((4,)), layers.Dense(3, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy")
    value = model.evaluate(x, y, batch_size=7, verbose=0)
    assert isinstance(value, float)
    model.eval()
    expected = losses.sparse_categorical_crossentropy(y, model(x)).item()
    np.testing.assert_allclose(value, expected, rtol=1e-5)


def test_keras_neighbours_batch_size_none_verbose_bools_return_dict_and_no_optimizer(capsys):
    """Keras's batch_size=None means 32, verbose may be a bool, evaluate(return_dict=True) names the values,
    and an uncompiled model's optimizer and loss are None."""
    x, y = blobs(70)
    assert make_model(compile_=False).optimizer is None and make_model(compile_=False).loss is None
    by_default = make_model().fit(x, y, batch_size=None, epochs=2, verbose=False).history
    assert by_default == make_model().fit(x, y, batch_size=32, epochs=2, verbose=0).history
    assert capsys.readouterr().out == ""
    model = make_model()
    model.fit(x, y, verbose=True)
    assert "Epoch 1/1" in capsys.readouterr().out
    values = model.evaluate(x, y, batch_size=None, verbose=0, return_dict=True)
    assert list(values) == ["loss", "accuracy"]
    assert list(values.values()) == model.evaluate(x, y, verbose=0)
    np.testing.assert_array_equal(model.predict(x, batch_size=None), model.predict(x))
    with pytest.raises(TypeError, match="return_dict must be True or False"):
        model.evaluate(x, y, verbose=0, return_dict="yes")


def test_fit_follows_weights_frozen_added_or_removed_after_compile():
    """fit raised 'this Adam is already bound to 4 other parameters' once a layer was frozen after compile."""
    x, y = blobs(40)
    model = make_model()
    model.fit(x, y, verbose=0)
    first = model.layers[0]
    first.trainable = False
    frozen = first.get_weights()
    last_state = model.optimizer.state[-1]
    model.fit(x, y, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(first.get_weights(), frozen, strict=True))
    assert model.optimizer.params == model.parameters() and model.optimizer.state[-1] is last_state
    model.pop()
    model.add(layers.Dense(3, name="new_head"))
    model.fit(x, y, verbose=0)
    assert model.optimizer.params == model.parameters() and len(model.optimizer.state[-1]) == 2  # Adam's m, v
    model.trainable = False
    kept = model.get_weights()
    model.fit(x, y, verbose=0)  # as in Keras, a frozen model fits: the loss is reported, nothing moves
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), kept, strict=True))
    model.compile("adam", losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    assert model.evaluate(x, y, verbose=0)[1] > 0  # a frozen model compiles for evaluation, as in Keras


def test_compile_refuses_an_optimizer_bound_to_another_model():
    owner = make_model(compile_=False)
    optimizer = optimizers.Adam(owner.parameters())
    unbuilt = tc.Sequential([layers.Dense(3)])
    with pytest.raises(ValueError, match="already bound to 4 parameters of another model"):
        unbuilt.compile(optimizer, "mse")
    with pytest.raises(ValueError, match="already bound to 4 other parameters"):
        make_model(compile_=False).compile(optimizer, "mse")


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_nan_loss_stops_with_epoch_and_batch():
    x, y = blobs(64)
    x[40] = 1e30  # batch 3 of size 16 overflows
    model = make_model()
    model.compile("sgd", "mse")
    with pytest.raises(NonFiniteLossError, match=r"epoch 1/2, batch 3/4"):
        model.fit(x, np.zeros((64, 3), np.float32), epochs=2, batch_size=16, shuffle=False, verbose=0)
    assert all(np.isfinite(w.data).all() for w in model.weights)  # the bad step was not applied


def test_callbacks_see_logs_and_can_stop_training():
    seen = []

    class StopAfterTwo(Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append((epoch, sorted(logs)))
            if epoch == 1:
                self.model.stop_training = True

    x, y = blobs()
    history = make_model().fit(x, y, epochs=10, validation_split=0.2, verbose=0, callbacks=[StopAfterTwo()])
    assert history.epoch == [0, 1]
    assert seen[0] == (0, ["accuracy", "loss", "val_accuracy", "val_loss"])
    alone = make_model().fit(x, y, epochs=10, verbose=0, callbacks=StopAfterTwo())  # one callback, not in a list
    assert alone.epoch == [0, 1]


def test_progress_output(capsys):
    x, y = blobs(40)
    model = make_model()
    model.fit(x, y, epochs=2, batch_size=10, verbose=1)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Epoch 1/2" and out[2] == "Epoch 2/2"
    assert out[1].startswith("4/4 [==============================] - ")
    assert re.search(r" [0-9]+(s|ms|us)/step - loss: ", out[1])
    assert " - accuracy: " in out[1]
    model.fit(x, y, epochs=1, batch_size=10, verbose=2)
    assert capsys.readouterr().out.splitlines()[1].startswith("4/4 - ")
    model.fit(x, y, epochs=1, verbose=0)
    model.evaluate(x, y, verbose=0)
    assert capsys.readouterr().out == ""


def test_accuracy_follows_keras_choice():
    assert isinstance(metrics.get("accuracy", (8,), (8, 10)), metrics.SparseCategoricalAccuracy)
    assert isinstance(metrics.get("accuracy", (8, 1), (8, 10)), metrics.SparseCategoricalAccuracy)
    assert isinstance(metrics.get("accuracy", (8, 10), (8, 10)), metrics.CategoricalAccuracy)
    binary = metrics.get("acc", (8, 1), (8, 1))
    assert isinstance(binary, metrics.BinaryAccuracy) and binary.threshold == 0.5
    assert metrics.get("accuracy", (8,), (8, 1), from_logits=True).threshold == 0.0
    y_pred = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    np.testing.assert_array_equal(metrics.sparse_categorical_accuracy([1, 1, 1], y_pred), [1, 0, 1])
    np.testing.assert_array_equal(metrics.categorical_accuracy(np.eye(2)[[1, 0, 0]], y_pred), [1, 1, 0])
    np.testing.assert_array_equal(metrics.binary_accuracy([[1], [0]], [[0.7], [0.7]]), [1, 0])
    with pytest.raises(ValueError, match="depends on the shapes"):
        metrics.get("accuracy")


def test_metric_classes_are_accepted_as_keras_does():
    """compile(metrics=[SparseCategoricalAccuracy]) failed in fit with 'Metric.__init__() takes ... 3 were given'."""
    x, y = blobs(40)
    model = make_model()
    model.compile("adam", losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=[metrics.SparseCategoricalAccuracy, "accuracy"])
    model.fit(x, y, verbose=0)
    values = model.evaluate(x, y, verbose=0, return_dict=True)
    assert list(values) == ["loss", "sparse_categorical_accuracy", "accuracy"]
    expected = metrics.sparse_categorical_accuracy(y, model.predict(x)).mean()
    assert values["sparse_categorical_accuracy"] == pytest.approx(expected)


def test_binary_and_one_hot_training_paths():
    x, y = blobs(90)
    model = tc.Sequential([tc.Input((4,)), layers.Dense(1, activation="sigmoid")])
    model.compile(optimizers.Adam(learning_rate=0.1), "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, (y == 0).astype(np.float32), epochs=5, verbose=0)
    assert history.history["accuracy"][-1] > 0.9
    model = make_model()
    model.compile(optimizers.Adam(learning_rate=0.05), losses.CategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy", "mse"])
    history = model.fit(x, np.eye(3, dtype=np.float32)[y], epochs=3, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "mse"}


def test_hand_written_loop_with_parameters():
    x, y = blobs()
    model = make_model(compile_=False)
    opt = optimizers.Adam(model.parameters(), learning_rate=0.05)
    loss_fn = losses.SparseCategoricalCrossentropy(from_logits=True)
    first = None
    for _ in range(30):
        opt.zero_grad()
        loss = loss_fn(y, model(x))
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < 0.3 * first


def test_model_built_on_the_first_fit():
    x, y = blobs(30)
    model = tc.Sequential([layers.Dense(3)])
    model.compile("adam", losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x.astype(np.float64), y, epochs=1, verbose=0)
    assert model.built and model.weights[0].dtype == np.float32


@pytest.mark.parametrize("call, error, message", [
    (lambda m, x, y: make_model(compile_=False).fit(x, y, verbose=0), RuntimeError, "must be compiled before fit"),
    (lambda m, x, y: make_model(compile_=False).evaluate(x, y), RuntimeError, "compiled before evaluate"),
    (lambda m, x, y: m.fit(x, y[:-1], verbose=0), ValueError, "x has 20 samples but y has 19"),
    (lambda m, x, y: m.fit(x[:0], y[:0], verbose=0), ValueError, "x is empty"),
    (lambda m, x, y: m.predict(np.zeros((0, 4))), ValueError, "x is empty"),
    (lambda m, x, y: m.fit(np.full_like(x, np.nan), y, verbose=0), ValueError, "x contains nan at index"),
    (lambda m, x, y: m.fit(x, y, validation_split=1.0, verbose=0), ValueError, "validation_split must be"),
    (lambda m, x, y: m.fit(x[:1], y[:1], validation_split=0.5, verbose=0), ValueError, "leaves 0 for training"),
    (lambda m, x, y: m.fit(x, y, validation_data=(x,), verbose=0), ValueError, "pair \\(x_val, y_val\\)"),
    (lambda m, x, y: m.fit(x, y, batch_size=0, verbose=0), ValueError,
     r"batch_size must be a positive int \(at least 1\), got 0"),
    (lambda m, x, y: m.fit(x, y, epochs=-1, verbose=0), ValueError, "epochs must be an int >= 0, got -1"),
    (lambda m, x, y: m.fit(x, y, verbose=3), ValueError, "verbose must be 0"),
    (lambda m, x, y: m.fit(x, y, verbose=0, callbacks=[print]), TypeError, "callbacks\\[0\\]"),
    (lambda m, x, y: m.compile("adam"), ValueError, "compile needs a loss"),
    (lambda m, x, y: m.compile("adam", "mse", metrics=["precison"]), ValueError, "unknown metric 'precison'"),
    (lambda m, x, y: m.compile("adagrad", "mse"), ValueError, "unknown optimizer"),
    (lambda m, x, y: m.compile("adam", "mse", metrics=["accuracy", "accuracy"]), ValueError,
     "two values would be named 'accuracy' in the logs"),
    (lambda m, x, y: m.compile("adam", "mse", metrics=["mae", metrics.MeanAbsoluteError(name="mae")]), ValueError,
     "two values would be named 'mae'"),
    (lambda m, x, y: m.fit(x, y.astype(float), verbose=0), TypeError, "integer class indices"),
    (lambda m, x, y: m.fit([[1.0, 2.0, 3.0, 4.0], [1.0]], [0, 1], verbose=0), ValueError,
     r"fit: x must be rectangular \(every sample the same shape\)"),
    (lambda m, x, y: m.fit(x[:2], [[0], [1, 2]], verbose=0), ValueError, "fit: y must be rectangular"),
    (lambda m, x, y: m.fit(None, None), TypeError, "fit: x is None"),
    (lambda m, x, y: m.predict(None), TypeError, "predict: x is None"),
    (lambda m, x, y: m.fit(x, y, shuffle="yes", verbose=0), TypeError, "fit: shuffle must be True or False"),
])
def test_bad_calls_raise_clear_errors(call, error, message):
    x, y = blobs(20)
    with pytest.raises(error, match=message):
        call(make_model(), x, y)


def test_progress_bar_redraws_in_place_on_a_terminal():
    import io

    from tinygrad_cnn.progress import ProgressBar, format_duration

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    bar = ProgressBar(3, verbose=1, stream=stream)
    bar.interval = 0.0
    for step in (1, 2, 3):
        bar.update(step, {"loss": 1.0 / step})
    bar.finish({"loss": 0.25})
    text = stream.getvalue()
    assert text.count("\r") == 4 and text.endswith("\n")
    assert "1/3 [==========>...................] - ETA: " in text and "loss: 0.2500" in text
    assert [format_duration(s) for s in (3, 62, 3723)] == ["3s", "1:02", "1:02:03"]


def test_fit_takes_the_same_steps_as_a_pytorch_loop(torch):
    """Conv2D, ReLU, BatchNormalization, MaxPooling2D, Flatten, Dense under SGD with momentum: two epochs of
    fit in float64 end on PyTorch's weights and moving statistics."""
    F = torch.nn.functional
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((24, 6, 6, 1)), rng.integers(0, 3, 24)
    tc.manual_seed(2)
    model = tc.Sequential([tc.Input((6, 6, 1)), layers.Conv2D(2, 3, activation="relu"), layers.BatchNormalization(),
                           layers.MaxPooling2D(), layers.Flatten(), layers.Dense(3)]).double()
    kernel, bias, gamma, beta, _, _, dense, dense_bias = (torch.tensor(w, requires_grad=True)
                                                         for w in model.get_weights())
    mean, variance = torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64)
    model.compile(optimizers.SGD(learning_rate=0.1, momentum=0.9),
                  losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    params = [kernel, bias, gamma, beta, dense, dense_bias]
    sgd = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    images, labels = torch.tensor(x).permute(0, 3, 1, 2), torch.tensor(y)
    for _ in range(2):
        for start in range(0, 24, 8):
            h = F.relu(F.conv2d(images[start:start + 8], kernel.permute(3, 2, 0, 1), bias))
            h = F.batch_norm(h, mean, variance, gamma, beta, training=True, momentum=0.01, eps=1e-3)
            h = F.max_pool2d(h, 2).permute(0, 2, 3, 1).reshape(8, -1)  # flattened in channels_last order
            loss = F.cross_entropy(h @ dense + dense_bias, labels[start:start + 8])
            sgd.zero_grad()
            loss.backward()
            sgd.step()
    expected = [p.detach().numpy() for p in params[:4]] + [mean.numpy(), variance.numpy()]
    expected += [p.detach().numpy() for p in params[4:]]
    for ours, theirs in zip(model.get_weights(), expected, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
