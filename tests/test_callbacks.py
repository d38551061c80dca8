"""Keras callbacks in real fits of tiny models: hook order, EarlyStopping, ModelCheckpoint, ReduceLROnPlateau,
LearningRateScheduler, CSVLogger, TerminateOnNaN, LambdaCallback, fit(initial_epoch=...), bad arguments."""
from __future__ import annotations

import csv
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn import callbacks, layers, optimizers
from tinygrad_cnn.training import NonFiniteLossError


def blobs(n=24, seed=0):
    """Three separated clusters in 4 dimensions, integer labels."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    return rng.standard_normal((n, 4)).astype(np.float32) * 0.5 + np.eye(3, 4, dtype=np.float32)[y] * 3, y


def make_model(optimizer=None, seed=0):
    tc.manual_seed(seed)
    model = tc.Sequential([tc.Input((4,)), layers.Dense(5, activation="relu"), layers.Dense(3)])
    model.compile(optimizer or optimizers.SGD(learning_rate=0.1), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def scripted(name, values):
    """A callback putting values[epoch] into each epoch's logs as `name` (it must come before the watcher)."""
    return callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: logs.update({name: values[epoch]}))


def snapshots(model):
    """A callback keeping a copy of `model`'s weights at the end of every epoch, and the list it fills."""
    kept = []
    return callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: kept.append(model.get_weights())), kept


def test_callback_and_history_keep_their_training_names():
    assert tc.training.Callback is tc.callbacks.Callback and tc.training.History is tc.callbacks.History
    assert isinstance(make_model().fit(*blobs(), verbose=0), tc.callbacks.History)


def test_a_history_given_in_callbacks_is_the_one_fit_returns():
    mine, model = callbacks.History(), make_model()
    returned = model.fit(*blobs(), epochs=2, verbose=0, callbacks=[mine])
    assert returned is mine and model.history is mine  # as in Keras, which adds its own only when none is given
    assert mine.epoch == [0, 1] and sorted(mine.history) == ["accuracy", "loss"] and len(mine.history["loss"]) == 2


def test_hooks_run_in_keras_order_with_validation_evaluate_and_predict():
    events = []

    class Recorder(callbacks.Callback):
        def __getattribute__(self, name):
            if name.startswith("on_") and name not in ("on_batch_begin", "on_batch_end"):
                def record(*args):
                    events.append((name, *(a for a in args if isinstance(a, int))))
                return record
            return super().__getattribute__(name)

    x, y = blobs(10)
    model = make_model()
    history = model.fit(x, y, batch_size=4, epochs=2, validation_split=0.2, verbose=0, callbacks=[Recorder()])
    epoch = [("on_train_batch_begin", 0), ("on_train_batch_end", 0), ("on_train_batch_begin", 1),
             ("on_train_batch_end", 1), ("on_test_begin",), ("on_test_batch_begin", 0), ("on_test_batch_end", 0),
             ("on_test_end",)]
    assert events == [("on_train_begin",), ("on_epoch_begin", 0), *epoch, ("on_epoch_end", 0),
                      ("on_epoch_begin", 1), *epoch, ("on_epoch_end", 1), ("on_train_end",)]
    assert history.epoch == [0, 1]
    events.clear()
    model.evaluate(x, y, batch_size=6, verbose=0, callbacks=[Recorder()])
    assert events == [("on_test_begin",), ("on_test_batch_begin", 0), ("on_test_batch_end", 0),
                      ("on_test_batch_begin", 1), ("on_test_batch_end", 1), ("on_test_end",)]
    outputs = []
    seen = callbacks.LambdaCallback(on_predict_batch_end=lambda batch, logs: outputs.append(logs["outputs"]))
    np.testing.assert_array_equal(model.predict(x, batch_size=4, callbacks=seen), np.concatenate(outputs))
    assert len(outputs) == 3


def test_the_older_batch_hook_names_are_called_and_params_are_set():
    calls = []

    class Old(callbacks.Callback):
        def on_batch_begin(self, batch, logs=None):
            calls.append(("begin", batch))

        def on_batch_end(self, batch, logs=None):
            calls.append(("end", batch, sorted(logs)))

        def on_train_begin(self, logs=None):
            calls.append(dict(self.params))

    make_model().fit(*blobs(10), batch_size=5, epochs=1, verbose=0, callbacks=Old())
    assert calls == [{"epochs": 1, "steps": 2, "verbose": 0}, ("begin", 0), ("end", 0, ["accuracy", "loss"]),
                     ("begin", 1), ("end", 1, ["accuracy", "loss"])]


@settings(max_examples=10)
@given(n=st.integers(4, 30), split=st.sampled_from([0.1, 0.25, 0.5]), batch_size=st.integers(1, 8))
def test_steps_count_the_training_batches_after_validation_split(n, split, batch_size):
    x, y = blobs(n)
    if int(n * (1 - split)) in (0, n):
        return
    batches, params = [], []
    seen = callbacks.LambdaCallback(on_train_begin=lambda logs: params.append(dict(seen.params)),
                                    on_train_batch_end=lambda batch, logs: batches.append(batch))
    history = make_model().fit(x, y, batch_size=batch_size, validation_split=split, verbose=0, callbacks=seen)
    assert params[0]["steps"] == len(batches) == history.params["steps"] == batches[-1] + 1


# --- EarlyStopping ------------------------------------------------------------------------------

def expected_stop(values, patience, min_delta):
    """The epoch a 'min' watcher stops at (None: never), written as the definition reads: stop at the first
    epoch after the first that did not improve on the best by more than min_delta, once `patience`
    epochs have passed since the last improvement."""
    best, last = math.inf, 0
    for epoch, value in enumerate(values):
        if value < best - min_delta:
            best, last = value, epoch
        elif epoch > 0 and epoch - last >= patience:
            return epoch
    return None


@settings(max_examples=30)
@given(values=st.lists(st.integers(0, 6).map(float), min_size=1, max_size=10), patience=st.integers(0, 4),
       min_delta=st.sampled_from([0.0, 1.0, 2.5]))
def test_early_stopping_stops_where_the_definition_says(values, patience, min_delta):
    stopper = callbacks.EarlyStopping(monitor="val_loss", patience=patience, min_delta=min_delta)
    model = make_model()
    stopper.set_model(model)
    model.stop_training = False
    stopper.on_train_begin()
    stopped = None
    for epoch, value in enumerate(values):
        stopper.on_epoch_end(epoch, {"val_loss": value})
        if model.stop_training:
            stopped = epoch
            break
    assert stopped == expected_stop(values, patience, min_delta)
    assert stopper.stopped_epoch == (stopped or 0)


def run_watcher(watcher, values):
    """Feed `values` as the epochs' "score" to a fresh watcher on a model; the epoch it stopped at."""
    model = make_model()
    watcher.set_model(model)
    model.stop_training = False
    watcher.on_train_begin()
    for epoch, value in enumerate(values):
        watcher.on_epoch_end(epoch, {"score": value, "val_accuracy": value})
        if model.stop_training:
            return epoch
    return None


def test_early_stopping_mode_baseline_and_warm_up():
    assert callbacks.EarlyStopping(monitor="val_accuracy").maximize  # mode="auto": accuracy goes up
    assert not callbacks.EarlyStopping(monitor="val_loss").maximize
    assert not callbacks.EarlyStopping(monitor="val_mean_absolute_error").maximize
    rising = [0.1, 0.2, 0.3, 0.3, 0.3]
    assert run_watcher(callbacks.EarlyStopping(monitor="val_accuracy", patience=1), rising) == 3
    assert run_watcher(callbacks.EarlyStopping(monitor="score", patience=1), rising) == 1  # 'min' for a plain name
    assert run_watcher(callbacks.EarlyStopping(monitor="score", mode="max", patience=1), rising) == 3
    # the improving epochs do not beat the baseline, so they count against the patience (Keras stops at
    # the first epoch that does not improve at all)
    assert run_watcher(callbacks.EarlyStopping(monitor="score", mode="max", patience=2), rising) == 4
    assert run_watcher(callbacks.EarlyStopping(monitor="score", mode="max", patience=2, baseline=0.9), rising) == 3
    flat = [1.0] * 6
    assert run_watcher(callbacks.EarlyStopping(monitor="score", patience=1, start_from_epoch=3), flat) == 4


def test_early_stopping_in_a_real_fit():
    x, y = blobs()
    stopper = callbacks.EarlyStopping(monitor="loss", patience=2)
    model = make_model(optimizers.SGD(learning_rate=0.0))  # nothing changes: the loss stays the same
    history = model.fit(x, y, epochs=10, shuffle=False, verbose=0, callbacks=[stopper])
    assert history.epoch == [0, 1, 2] and stopper.stopped_epoch == 2
    learner = callbacks.EarlyStopping(monitor="loss", patience=2)
    history = make_model(optimizers.SGD(learning_rate=0.01)).fit(x, y, epochs=6, verbose=0, callbacks=[learner])
    assert history.epoch == list(range(6)) and learner.stopped_epoch == 0  # the loss keeps falling


@pytest.mark.parametrize("patience, epochs_run", [(2, 5), (10, 6)])  # stopped early / ran out of epochs
def test_restore_best_weights_puts_back_the_best_epoch(patience, epochs_run):
    x, y = blobs()
    model = make_model()
    keeper, kept = snapshots(model)
    score = [5.0, 4.0, 1.0, 3.0, 2.0, 2.5]  # the best is epoch 2
    stopper = callbacks.EarlyStopping(monitor="score", patience=patience, restore_best_weights=True, verbose=1)
    history = model.fit(x, y, epochs=6, verbose=0, callbacks=[scripted("score", score), keeper, stopper])
    assert len(history.epoch) == epochs_run and stopper.best_epoch == 2
    for restored, best, last in zip(model.get_weights(), kept[2], kept[-1], strict=True):
        np.testing.assert_array_equal(restored, best)
        assert not np.array_equal(restored, last)  # training went on after the best epoch
    assert stopper.best_weights[0] is not model.weights[0].data  # copies, not the model's arrays


def test_early_stopping_warns_about_a_missing_value_and_keeps_training():
    with pytest.warns(UserWarning, match="'val_loss', which is not in the logs; available: loss, accuracy"):
        history = make_model().fit(*blobs(), epochs=3, verbose=0, callbacks=[callbacks.EarlyStopping()])
    assert history.epoch == [0, 1, 2]


def test_early_stopping_says_when_it_stops(capsys):
    make_model(optimizers.SGD(learning_rate=0.0)).fit(
        *blobs(), epochs=5, verbose=0, callbacks=[callbacks.EarlyStopping("loss", patience=1, verbose=1)])
    assert capsys.readouterr().out == "Epoch 2: early stopping\n"


# --- ModelCheckpoint ----------------------------------------------------------------------------

def test_checkpoint_files_are_named_from_the_epoch_and_the_logs_and_load(tmp_path):
    x, y = blobs()
    model = make_model()
    keeper, kept = snapshots(model)
    pattern = str(tmp_path / "ckpt" / "model-{epoch:02d}-{loss:.3f}.npz")  # the directory is created
    history = model.fit(x, y, epochs=3, verbose=0, validation_split=0.25,
                        callbacks=[keeper, callbacks.ModelCheckpoint(pattern, monitor="val_loss")])
    names = [f"model-{e + 1:02d}-{loss:.3f}.npz" for e, loss in enumerate(history.history["loss"])]
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == names
    first = tc.load_model(tmp_path / "ckpt" / names[0])
    for loaded, saved in zip(first.get_weights(), kept[0], strict=True):
        np.testing.assert_array_equal(loaded, saved)
    last = tc.load_model(tmp_path / "ckpt" / names[-1])
    np.testing.assert_array_equal(last.predict(x), model.predict(x))


def test_save_best_only_writes_only_on_improvement(tmp_path, capsys):
    score = [3.0, 2.0, 2.5, 1.0, 1.0]
    saver = callbacks.ModelCheckpoint(str(tmp_path / "{epoch}.npz"), monitor="score", save_best_only=True,
                                      verbose=1)
    make_model().fit(*blobs(), epochs=5, verbose=0, callbacks=[scripted("score", score), saver])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["1.npz", "2.npz", "4.npz"]
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"Epoch 1: score improved from None to 3.00000, saving model to {tmp_path / '1.npz'}"
    assert out[2] == "Epoch 3: score did not improve from 2.00000"
    threshold = callbacks.ModelCheckpoint(str(tmp_path / "t{epoch}.npz"), monitor="val_accuracy",
                                          save_best_only=True, initial_value_threshold=0.5)
    make_model().fit(*blobs(), epochs=3, verbose=0, callbacks=[scripted("val_accuracy", [0.2, 0.6, 0.55]), threshold])
    assert sorted(p.name for p in tmp_path.glob("t*")) == ["t2.npz"]  # 'max' inferred from the name


def test_weights_only_checkpoints_load_into_a_copy(tmp_path):
    x, y = blobs()
    model = make_model()
    path = tmp_path / "w.npz"
    model.fit(x, y, epochs=2, verbose=0, callbacks=[callbacks.ModelCheckpoint(path, save_weights_only=True)])
    copy = make_model(seed=1)
    copy.load_weights(path)
    np.testing.assert_array_equal(copy.predict(x), model.predict(x))


def test_checkpoint_every_n_batches_counts_across_epochs(tmp_path):
    saver = callbacks.ModelCheckpoint(str(tmp_path / "{epoch}-{batch}.npz"), save_freq=2)
    make_model().fit(*blobs(24), batch_size=8, epochs=2, verbose=0, callbacks=[saver])  # 3 batches per epoch
    assert sorted(p.stem for p in tmp_path.iterdir()) == ["1-2", "2-1", "2-3"]


def test_checkpoint_names_a_missing_format_key(tmp_path):
    saver = callbacks.ModelCheckpoint(str(tmp_path / "m-{val_loss:.2f}.npz"))
    with pytest.raises(KeyError, match="needs 'val_loss', which the logs do not hold; available: loss, accuracy"):
        make_model().fit(*blobs(), epochs=1, verbose=0, callbacks=[saver])


# --- learning rate ----------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda lr: optimizers.SGD(learning_rate=lr, momentum=0.9),
                                  lambda lr: optimizers.Adam(learning_rate=lr),
                                  lambda lr: optimizers.AdamW(learning_rate=lr),
                                  lambda lr: optimizers.RMSprop(learning_rate=lr)])
def test_optimizers_read_the_learning_rate_at_every_step(make):
    """Two optimizers in the same state: after one's learning_rate is set to a quarter (as the callbacks
    do), its next step is a quarter of the other's (every update here is proportional to the rate)."""
    rng = np.random.default_rng(0)
    start, grads = rng.standard_normal(5), [rng.standard_normal(5) for _ in range(2)]
    kept, changed = tc.Tensor(start.copy()), tc.Tensor(start.copy())
    same, quarter = make(0.1).bind([kept]), make(0.1).bind([changed])
    for step, g in enumerate(grads):
        if step == 1:
            quarter.learning_rate = 0.025
            before_kept, before_changed = kept.data.copy(), changed.data.copy()
        kept.grad, changed.grad = tc.Tensor(g), tc.Tensor(g)
        same.step()
        quarter.step()
    np.testing.assert_array_equal(before_kept, before_changed)
    np.testing.assert_allclose(changed.data - before_changed, (kept.data - before_kept) / 4, rtol=1e-6)


def one_epoch_change(schedule_callbacks, lr=0.1):
    """The weight change of one full-batch SGD epoch from the same start, under the given callbacks."""
    x, y = blobs()
    model = make_model(optimizers.SGD(learning_rate=lr))
    before = model.get_weights()
    model.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0, callbacks=schedule_callbacks)
    return [after - start for after, start in zip(model.get_weights(), before, strict=True)]


def test_learning_rate_scheduler_sets_the_rate_each_epoch_and_the_step_uses_it(capsys):
    seen = []
    scheduler = callbacks.LearningRateScheduler(lambda epoch, lr: lr / 2 if epoch else lr, verbose=1)
    history = make_model().fit(*blobs(), epochs=3, verbose=0, callbacks=[
        scheduler, callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: seen.append(scheduler.model.optimizer
                                                                                      .learning_rate))])
    assert history.history["learning_rate"] == [0.1, 0.05, 0.025] and seen == [0.1, 0.05, 0.025]
    assert "Epoch 3: LearningRateScheduler setting learning rate to 0.025." in capsys.readouterr().out
    by_epoch = callbacks.LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1))  # Keras's one-argument form
    history = make_model().fit(*blobs(), epochs=5, initial_epoch=3, verbose=0, callbacks=[by_epoch])
    np.testing.assert_allclose(history.history["learning_rate"], [0.04, 0.05])
    plain = one_epoch_change([])
    halved = one_epoch_change([callbacks.LearningRateScheduler(lambda epoch, lr: lr / 2)])
    for a, b in zip(plain, halved, strict=True):
        np.testing.assert_allclose(b, a / 2, rtol=1e-4, atol=1e-6)  # float32 weights: the change loses digits
    with pytest.raises(ValueError, match=r"schedule\(epoch=0, lr=0.1\) returned 'x'; it must return a finite float"):
        make_model().fit(*blobs(), verbose=0, callbacks=[callbacks.LearningRateScheduler(lambda e, lr: "x")])


def test_reduce_lr_on_plateau_respects_patience_cooldown_and_min_lr():
    model = make_model()
    reducer = callbacks.ReduceLROnPlateau(monitor="score", factor=0.5, patience=1, cooldown=2, min_lr=0.02)
    history = model.fit(*blobs(), epochs=8, verbose=0, callbacks=[scripted("score", [1.0] * 8), reducer])
    assert history.history["learning_rate"] == [0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.02, 0.02]
    assert model.optimizer.learning_rate == 0.02
    improving = callbacks.ReduceLROnPlateau(monitor="score", patience=2, min_delta=0.1)
    model = make_model()
    history = model.fit(*blobs(), epochs=5, verbose=0,
                        callbacks=[scripted("score", [1.0, 0.8, 0.75, 0.72, 0.5]), improving])
    # 0.75 and 0.72 are not 0.1 better than 0.8: two epochs without improvement
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.1, 0.1, 0.01])


def test_reduce_lr_on_plateau_changes_the_step_size(capsys):
    """Full-batch SGD from the same start, with and without a reduction at the end of epoch 1 (the second):
    the first two steps agree; the third is lr * gradient with the reduced rate."""
    x, y = blobs()
    runs = []
    for reducer in ([], [callbacks.ReduceLROnPlateau("score", patience=0, factor=0.25, verbose=1)]):
        model = make_model()
        keeper, kept = snapshots(model)
        model.fit(x, y, batch_size=len(x), epochs=3, shuffle=False, verbose=0,
                  callbacks=[scripted("score", [1.0, 1.0, 0.5]), *reducer, keeper])
        runs.append((model, kept))
    (plain, plain_kept), (reduced, reduced_kept) = runs
    assert "Epoch 2: ReduceLROnPlateau reducing learning rate to 0.025." in capsys.readouterr().out
    assert reduced.optimizer.learning_rate == 0.025 and plain.optimizer.learning_rate == 0.1
    for a, b in zip(plain_kept[1], reduced_kept[1], strict=True):
        np.testing.assert_array_equal(a, b)
    reduced.set_weights(reduced_kept[1])  # the gradient at the start of epoch 3
    reduced.zero_grad()
    reduced.loss(y, reduced(tc.Tensor(x))).backward()
    for before, after, w in zip(reduced_kept[1], reduced_kept[2], reduced.weights, strict=True):
        np.testing.assert_allclose(after - before, -0.025 * w.grad.data, rtol=1e-3, atol=1e-6)


# --- CSVLogger, TerminateOnNaN, LambdaCallback ---------------------------------------------------------

def read_rows(path, separator=","):
    with open(path, newline="") as f:
        return list(csv.reader(f, delimiter=separator))


def test_csv_logger_writes_a_header_and_a_row_per_epoch_and_appends(tmp_path):
    path = tmp_path / "log.csv"
    history = make_model().fit(*blobs(), epochs=3, validation_split=0.25, verbose=0,
                               callbacks=[callbacks.CSVLogger(path)])
    rows = read_rows(path)
    assert rows[0] == ["epoch", "accuracy", "loss", "val_accuracy", "val_loss"]
    assert [r[0] for r in rows[1:]] == ["0", "1", "2"]
    np.testing.assert_array_equal([float(r[2]) for r in rows[1:]], history.history["loss"])
    np.testing.assert_array_equal([float(r[4]) for r in rows[1:]], history.history["val_loss"])
    make_model().fit(*blobs(), epochs=2, validation_split=0.25, verbose=0,
                     callbacks=[callbacks.CSVLogger(path, append=True)])
    rows = read_rows(path)
    assert len(rows) == 6 and rows.count(rows[0]) == 1 and [r[0] for r in rows[4:]] == ["0", "1"]
    make_model().fit(*blobs(), epochs=1, verbose=0, callbacks=[callbacks.CSVLogger(path, separator="\t")])
    assert read_rows(path, "\t")[0] == ["epoch", "accuracy", "loss"] and len(read_rows(path)) == 2  # overwritten


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_csv_logger_appends_in_the_columns_the_file_has(tmp_path):
    path = tmp_path / "log.csv"
    make_model().fit(*blobs(), epochs=1, validation_split=0.25, verbose=0, callbacks=[callbacks.CSVLogger(path)])
    make_model().fit(*blobs(), epochs=1, verbose=0, callbacks=[callbacks.CSVLogger(path, append=True)])
    with pytest.warns(UserWarning, match="has the columns epoch, accuracy, loss, val_accuracy, val_loss, so "
                                         "these values are not written: learning_rate"):
        make_model().fit(*blobs(), epochs=1, validation_split=0.25, verbose=0, callbacks=[
            callbacks.ReduceLROnPlateau(), callbacks.CSVLogger(path, append=True)])
    rows = read_rows(path)
    assert [len(row) for row in rows] == [5] * 4  # every row under the one header
    assert rows[2][3:] == ["NA", "NA"] and "NA" not in rows[3]


def test_terminate_on_nan_stops_quietly_before_the_bad_update(capsys):
    x, y = blobs(64)
    x[40] = 1e30  # batch 3 of size 16 overflows
    model = make_model()
    model.compile("sgd", "mse")
    targets = np.zeros((64, 3), np.float32)
    with pytest.raises(NonFiniteLossError, match="TerminateOnNaN"):
        model.fit(x, targets, epochs=2, batch_size=16, shuffle=False, verbose=0)
    batches = []
    counter = callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: batches.append(batch))
    history = model.fit(x, targets, epochs=2, batch_size=16, shuffle=False, verbose=0,
                        callbacks=[callbacks.TerminateOnNaN(), counter])
    assert batches == [0, 1, 2] and history.epoch == [0] and not math.isfinite(history.history["loss"][0])
    assert all(np.isfinite(w.data).all() for w in model.weights)  # the bad step was not applied
    assert capsys.readouterr().out == "Batch 2: Invalid loss, terminating training\n"


def test_terminate_on_nan_with_raise_error_raises_without_on_train_end():
    x, y = blobs(64)
    x[40] = 1e30  # batch 3 of size 16 overflows
    model = make_model()
    model.compile("sgd", "mse")
    ends = []
    with pytest.raises(RuntimeError, match="the loss became inf at epoch 1/2, batch 3/4") as info:
        model.fit(x, np.zeros((64, 3), np.float32), epochs=2, batch_size=16, shuffle=False, verbose=0,
                  callbacks=[callbacks.TerminateOnNaN(raise_error=True),
                             callbacks.LambdaCallback(on_train_end=lambda logs: ends.append(logs))])
    assert isinstance(info.value, NonFiniteLossError) and ends == []
    assert all(np.isfinite(w.data).all() for w in model.weights)
    with pytest.raises(TypeError, match="TerminateOnNaN: raise_error must be True or False, got 'yes'"):
        callbacks.TerminateOnNaN(raise_error="yes")


def test_lambda_callback_calls_each_function():
    seen = []
    everything = callbacks.LambdaCallback(
        on_train_begin=lambda logs: seen.append("train_begin"),
        on_epoch_begin=lambda epoch, logs: seen.append(f"epoch_begin {epoch}"),
        on_train_batch_begin=lambda batch, logs: seen.append(f"batch_begin {batch}"),
        on_train_batch_end=lambda batch, logs: seen.append(f"batch_end {batch} {sorted(logs)}"),
        on_epoch_end=lambda epoch, logs: seen.append(f"epoch_end {epoch} {sorted(logs)}"),
        on_train_end=lambda logs: seen.append(f"train_end {sorted(logs)}"),
        on_test_end=lambda logs: seen.append("test_end"))
    make_model().fit(*blobs(8), batch_size=8, epochs=1, validation_data=blobs(4, seed=1), verbose=0,
                     callbacks=[everything])
    assert seen == ["train_begin", "epoch_begin 0", "batch_begin 0", "batch_end 0 ['accuracy', 'loss']",
                    "test_end", "epoch_end 0 ['accuracy', 'loss', 'val_accuracy', 'val_loss']",
                    "train_end ['accuracy', 'loss', 'val_accuracy', 'val_loss']"]


def test_lambda_callback_takes_the_older_batch_hook_names():
    seen = []  # tf.keras's LambdaCallback(on_batch_begin=..., on_batch_end=...), which Keras 3 still runs
    old = callbacks.LambdaCallback(on_batch_begin=lambda batch, logs: seen.append(("begin", batch)),
                                   on_batch_end=lambda batch, logs: seen.append(("end", batch, sorted(logs))))
    make_model().fit(*blobs(8), batch_size=4, epochs=1, verbose=0, callbacks=old)
    assert seen == [("begin", 0), ("end", 0, ["accuracy", "loss"]), ("begin", 1), ("end", 1, ["accuracy", "loss"])]


# --- initial_epoch ----------------------------------------------------------------------------------

def test_initial_epoch_continues_a_run_with_keras_numbering(capsys):
    x, y = blobs()
    history = make_model().fit(x, y, epochs=5, initial_epoch=3, verbose=2)
    assert history.epoch == [3, 4] and len(history.history["loss"]) == 2
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 4/5" and lines[2] == "Epoch 5/5"
    whole = make_model().fit(x, y, epochs=4, verbose=0).history["loss"]
    resumed = make_model()
    first = resumed.fit(x, y, epochs=2, verbose=0).history["loss"]
    assert first + resumed.fit(x, y, epochs=4, initial_epoch=2, verbose=0).history["loss"] == whole
    assert make_model().fit(x, y, epochs=2, initial_epoch=2, verbose=0).epoch == []


@pytest.mark.parametrize("value, error, message", [
    (-1, ValueError, "fit: initial_epoch must be an int >= 0, got -1"),
    (6, ValueError, "initial_epoch=6 is after epochs=5; .* pass initial_epoch=6, epochs=9"),
    (1.5, TypeError, "fit: initial_epoch must be an int >= 0, got float 1.5"),
    (True, TypeError, "fit: initial_epoch must be an int >= 0, got bool"),
])
def test_bad_initial_epoch(value, error, message):
    with pytest.raises(error, match=message):
        make_model().fit(*blobs(), epochs=5, initial_epoch=value, verbose=0)


# --- bad arguments ------------------------------------------------------------------------------------

@pytest.mark.parametrize("make, error, message", [
    (lambda: callbacks.EarlyStopping(monitor=3), TypeError, "EarlyStopping: monitor must be the name"),
    (lambda: callbacks.EarlyStopping(patience=-1), ValueError, "EarlyStopping: patience must be an int >= 0"),
    (lambda: callbacks.EarlyStopping(patience=2.0), TypeError, "EarlyStopping: patience must be an int"),
    (lambda: callbacks.EarlyStopping(mode="best"), ValueError, "EarlyStopping: mode must be one of 'auto', 'min'"),
    (lambda: callbacks.EarlyStopping(min_delta="0.1"), TypeError, "EarlyStopping: min_delta must be a number"),
    (lambda: callbacks.EarlyStopping(baseline=float("nan")), ValueError, "EarlyStopping: baseline must be"),
    (lambda: callbacks.EarlyStopping(min_delta=-math.inf), ValueError, "EarlyStopping: min_delta must be a finite"),
    (lambda: callbacks.EarlyStopping(verbose=2), ValueError, "EarlyStopping: verbose must be 0 .* or 1"),
    (lambda: callbacks.EarlyStopping(restore_best_weights="yes"), TypeError,
     "EarlyStopping: restore_best_weights must be True or False"),
    (lambda: callbacks.EarlyStopping(start_from_epoch=-2), ValueError, "EarlyStopping: start_from_epoch"),
    (lambda: callbacks.ModelCheckpoint(None), TypeError, "ModelCheckpoint: filepath must be a file name"),
    (lambda: callbacks.ModelCheckpoint("m-{epoch.npz"), ValueError, "ModelCheckpoint: filepath 'm-{epoch.npz' is not"),
    (lambda: callbacks.ModelCheckpoint("m-{}.npz"), ValueError, "ModelCheckpoint: filepath 'm-{}.npz' has a field"),
    (lambda: callbacks.ModelCheckpoint("m.npz", save_freq="batch"), ValueError,
     "ModelCheckpoint: save_freq must be 'epoch' .* or a positive int"),
    (lambda: callbacks.ModelCheckpoint("m.npz", save_freq=0), ValueError, "save_freq must be 'epoch'"),
    (lambda: callbacks.ModelCheckpoint("m.npz", save_best_only=1), TypeError, "save_best_only must be True or False"),
    (lambda: callbacks.ModelCheckpoint("m.npz", initial_value_threshold="low"), TypeError,
     "initial_value_threshold must be a number"),
    (lambda: callbacks.ReduceLROnPlateau(factor=1.0), ValueError, r"ReduceLROnPlateau: factor must be in \[0.0, 1.0\)"),
    (lambda: callbacks.ReduceLROnPlateau(min_lr=-1e-3), ValueError, "ReduceLROnPlateau: min_lr must be in"),
    (lambda: callbacks.ReduceLROnPlateau(cooldown=0.5), TypeError, "ReduceLROnPlateau: cooldown must be an int"),
    (lambda: callbacks.ReduceLROnPlateau(min_delta=-1), ValueError, "ReduceLROnPlateau: min_delta must be in"),
    (lambda: callbacks.LearningRateScheduler(0.1), TypeError, "LearningRateScheduler: schedule must be a function"),
    (lambda: callbacks.LearningRateScheduler(lambda: 0.1), TypeError, r"must take \(epoch, lr\) or \(epoch\)"),
    (lambda: callbacks.CSVLogger("log.csv", separator="::"), ValueError, "CSVLogger: separator must be one character"),
    (lambda: callbacks.CSVLogger(42), TypeError, "CSVLogger: filename must be a file name"),
    (lambda: callbacks.CSVLogger("log.csv", append="no"), TypeError, "CSVLogger: append must be True or False"),
    (lambda: callbacks.LambdaCallback(on_epoch_end=1), TypeError, "LambdaCallback: on_epoch_end must be a function"),
    (lambda: callbacks.LambdaCallback(on_epoch_finish=print), TypeError, "LambdaCallback: unknown hook on_epoch_fin"),
])
def test_bad_arguments_name_the_callback_and_the_fix(make, error, message):
    with pytest.raises(error, match=message):
        make()
