"""fit / evaluate / predict with several inputs and outputs, Keras 3's semantics: x, y and sample_weight as
lists in model order or dicts by name; per-output losses, loss_weights, metrics and weighted_metrics; the
logged names "loss", "<output>_loss", "<output>_<metric>"; predict in the structure of the outputs."""
from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest
from conftest import require_torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn import callbacks, layers, optimizers
from tinygrad_cnn.batches import ArrayBatches, split
from tinygrad_cnn.utils import PyDataset

CE = tc.losses.SparseCategoricalCrossentropy(from_logits=True)


def two_by_two(as_list=False, regularizer=None):
    """Inputs "image" (n, 5) and "meta" (n, 2); outputs "digit" (3 logits) and "parity" (a probability),
    sharing a hidden layer; a dict of outputs, or [digit, parity] with `as_list`."""
    image, meta = tc.Input((5,), name="image"), tc.Input((2,), name="meta")
    h = layers.Dense(4, activation="tanh", kernel_regularizer=regularizer, name="hidden")(image)
    digit = layers.Add(name="digit")([layers.Dense(3, name="digit_head")(h),
                                      layers.Dense(3, use_bias=False, name="meta_head")(meta)])
    parity = layers.Dense(1, activation="sigmoid", name="parity")(h)
    return tc.Model([image, meta], [digit, parity] if as_list else {"digit": digit, "parity": parity})


def make_model(seed=0, as_list=False, regularizer=None, **compile_args):
    tc.manual_seed(seed)
    model = two_by_two(as_list, regularizer)
    args = {"optimizer": optimizers.SGD(learning_rate=0.1), "loss": {"digit": CE, "parity": "binary_crossentropy"},
            "loss_weights": {"digit": 1.0, "parity": 0.5}}
    model.compile(**{**args, **compile_args})
    return model


WEIGHTS = [("hidden", 0), ("hidden", 1), ("digit_head", 0), ("digit_head", 1), ("meta_head", 0), ("parity", 0),
           ("parity", 1)]  # (layer, index in its weights): the order of torch_step's weights


def layer_weights(model):
    return [model.get_layer(name).weights[i].data.copy() for name, i in WEIGHTS]


def data(n=20, seed=0):
    rng = np.random.default_rng(seed)
    image, meta = rng.standard_normal((n, 5)).astype(np.float32), rng.standard_normal((n, 2)).astype(np.float32)
    digit = rng.integers(0, 3, n)
    parity = (digit % 2).astype(np.float32)[:, None]
    return {"image": image, "meta": meta}, {"digit": digit, "parity": parity}


def fit(model, x, y, **kwargs):
    return model.fit(x, y, **{"batch_size": 64, "epochs": 1, "shuffle": False, "verbose": 0, **kwargs})


def torch_step(torch, model, x, y, loss_weights, sample_weight=None, l2=0.0):
    """The total loss, each output's loss and the gradients of the weights, computed by PyTorch."""
    weights = [torch.tensor(w.astype(np.float64), requires_grad=True) for w in layer_weights(model)]
    k1, b1, k2, b2, k3, k4, b4 = weights
    image, meta = (torch.tensor(x[k].astype(np.float64)) for k in ("image", "meta"))
    h = torch.tanh(image @ k1 + b1)
    digit, parity = h @ k2 + b2 + meta @ k3, torch.sigmoid(h @ k4 + b4)
    ws = sample_weight if isinstance(sample_weight, dict) else {"digit": sample_weight, "parity": sample_weight}
    ce = torch.nn.functional.cross_entropy(digit, torch.tensor(y["digit"]), reduction="none")
    bce = torch.nn.functional.binary_cross_entropy(parity, torch.tensor(y["parity"], dtype=torch.float64),
                                                   reduction="none").mean(dim=1)
    parts = [(loss * (1 if w is None else torch.tensor(w))).mean() for loss, w in ((ce, ws["digit"]),
                                                                                   (bce, ws["parity"]))]
    total = loss_weights[0] * parts[0] + loss_weights[1] * parts[1] + l2 * (k1 ** 2).sum()
    total.backward()
    return float(total), [float(p) for p in parts], [w.grad.numpy() for w in weights]


# --- the loss and its gradients -----------------------------------------------------------------------------

@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 1000), digit_weight=st.floats(0.1, 3.0), parity_weight=st.floats(0.0, 3.0),
       weighting=st.sampled_from(["none", "one", "per output"]))
def test_one_step_is_the_weighted_sum_of_the_output_losses(seed, digit_weight, parity_weight, weighting):
    torch = require_torch()
    x, y = data(seed=seed)
    rng = np.random.default_rng(seed + 1)
    sample_weight = {"none": None, "one": rng.uniform(0, 2, 20),
                     "per output": {"digit": rng.uniform(0, 2, 20), "parity": rng.uniform(0, 2, 20)}}[weighting]
    model = make_model(seed, loss_weights=[digit_weight, parity_weight])
    before = layer_weights(model)
    total, parts, grads = torch_step(torch, model, x, y, (digit_weight, parity_weight), sample_weight)
    history = fit(model, x, y, sample_weight=sample_weight).history
    np.testing.assert_allclose(history["loss"], [total], rtol=1e-5)
    np.testing.assert_allclose([history["digit_loss"][0], history["parity_loss"][0]], parts, rtol=1e-5)
    np.testing.assert_allclose(history["loss"][0], digit_weight * history["digit_loss"][0]
                               + parity_weight * history["parity_loss"][0], rtol=1e-5)  # the weighted sum
    for old, new, grad in zip(before, layer_weights(model), grads, strict=True):  # SGD: w - 0.1 grad
        np.testing.assert_allclose((old - new) / 0.1, grad, rtol=1e-3, atol=1e-5)


def test_the_regularizers_penalty_is_in_the_total_loss_only(torch):
    x, y = data()
    model = make_model(regularizer=tc.regularizers.L2(0.01))
    total, parts, _ = torch_step(torch, model, x, y, (1.0, 0.5), l2=0.01)
    history = fit(model, x, y).history
    np.testing.assert_allclose(history["loss"], [total], rtol=1e-5)
    np.testing.assert_allclose([history["digit_loss"][0], history["parity_loss"][0]], parts, rtol=1e-5)


def test_an_output_without_a_loss_is_not_trained_on_and_needs_no_targets(torch):
    x, y = data()
    model = make_model(loss={"digit": CE}, loss_weights=None)
    total, _, grads = torch_step(torch, model, x, y, (1.0, 0.0))
    before = layer_weights(model)
    history = fit(model, x, {"digit": y["digit"]}).history
    assert list(history) == ["loss"]  # one loss: no per-output entries, as in Keras
    for alone in (y["digit"], [y["digit"]]):  # Keras: the targets of just the outputs with a loss, in order
        assert model.evaluate(x, alone, verbose=0) == model.evaluate(x, y, verbose=0)
    np.testing.assert_allclose(history["loss"], [total], rtol=1e-5)
    np.testing.assert_array_equal(before[-1], layer_weights(model)[-1])  # the parity head's bias
    assert np.allclose(grads[-1], 0)


# --- the forms of x, y, loss, loss_weights and metrics ---------------------------------------------------------

def test_list_and_dict_forms_give_identical_results():
    x, y = data()
    w = np.linspace(0.5, 1.5, 20)
    by_name = make_model(metrics={"digit": ["accuracy"], "parity": "accuracy"})
    h1 = fit(by_name, x, y, sample_weight={"digit": w, "parity": w}, epochs=2, batch_size=7, validation_split=0.25)
    in_order = make_model(as_list=True, loss=[CE, "binary_crossentropy"], loss_weights=[1.0, 0.5],
                          metrics=[["accuracy"], ["accuracy"]])
    h2 = fit(in_order, [x["image"], x["meta"]], (y["digit"], y["parity"]), sample_weight=w, epochs=2, batch_size=7,
             validation_split=0.25)
    assert h1.history == h2.history
    for a, b in zip(by_name.get_weights(), in_order.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_one_loss_and_a_flat_metrics_list_apply_to_every_output():
    x, y = data()
    y = {"digit": np.eye(3, dtype=np.float32)[y["digit"]], "parity": y["parity"]}
    model = make_model(loss="mse", loss_weights=None, metrics=["mae"])
    history = fit(model, x, y).history
    assert list(history) == ["loss", "digit_loss", "parity_loss", "digit_mae", "parity_mae"]  # named as given
    np.testing.assert_allclose(history["loss"][0], history["digit_loss"][0] + history["parity_loss"][0], rtol=1e-6)
    per_output = make_model(loss="mse", loss_weights=None, metrics=["mae", "mse"])  # one per output (Keras 3)
    assert list(fit(per_output, x, y).history)[3:] == ["digit_mae", "parity_mse"]


# --- metrics, names and order -----------------------------------------------------------------------------------

def test_history_keys_evaluate_order_and_per_output_metrics_equal_hand_computed():
    x, y = data(30)
    model = make_model(metrics={"digit": ["accuracy"], "parity": ["accuracy", tc.metrics.MeanSquaredError()]})
    history = fit(model, x, y, epochs=2, validation_split=0.2)
    names = ["loss", "digit_loss", "parity_loss", "digit_accuracy", "parity_accuracy", "parity_mean_squared_error"]
    assert list(history.history) == names + [f"val_{n}" for n in names]
    results = model.evaluate(x, y, verbose=0, return_dict=True)
    assert list(results) == names
    assert model.evaluate(x, y, verbose=0) == list(results.values())
    predicted = model.predict(x)
    np.testing.assert_allclose(results["digit_accuracy"], np.mean(predicted["digit"].argmax(1) == y["digit"]))
    np.testing.assert_allclose(results["parity_accuracy"], np.mean((predicted["parity"] > 0.5) == (y["parity"] > 0.5)))
    np.testing.assert_allclose(results["parity_mean_squared_error"], np.mean((predicted["parity"] - y["parity"]) ** 2),
                               rtol=1e-5)


def test_weighted_metrics_use_the_sample_weights_and_metrics_do_not():
    x, y = data(30)
    w = np.random.default_rng(3).uniform(0, 2, 30)
    model = make_model(metrics={"digit": "accuracy"}, weighted_metrics={"digit": "accuracy"})
    results = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)
    hit = model.predict(x)["digit"].argmax(1) == y["digit"]
    np.testing.assert_allclose(results["digit_accuracy"], hit.mean())
    np.testing.assert_allclose(results["digit_weighted_accuracy"], (w * hit).sum() / w.sum(), rtol=1e-6)


def test_one_output_keeps_its_names_and_loss_weights_scales_its_loss():
    x, y = data(30)
    w = np.random.default_rng(4).uniform(0, 2, 30)

    def run(**compile_args):
        tc.manual_seed(0)
        model = tc.Sequential([tc.Input((5,)), layers.Dense(3, name="logits")])
        model.compile(optimizers.SGD(learning_rate=0.1), CE, **compile_args)
        history = fit(model, x["image"], y["digit"], sample_weight=w)
        return history.history, model.evaluate(x["image"], y["digit"], verbose=0, return_dict=True)

    plain, _ = run()
    doubled, _ = run(loss_weights=2.0)
    np.testing.assert_allclose(doubled["loss"], 2 * np.array(plain["loss"]), rtol=1e-6)
    assert run(loss_weights=[2.0])[0] == run(loss_weights={"logits": 2.0})[0] == doubled
    _, results = run(metrics=["accuracy"], weighted_metrics=["accuracy", tc.metrics.SparseCategoricalAccuracy()])
    assert list(results) == ["loss", "accuracy", "weighted_accuracy", "sparse_categorical_accuracy"]


# --- validation_split, shuffle and batches from Python ------------------------------------------------------------

def echo():
    """Outputs "a" = a and "b" = b through 1x1 Dense layers of kernel 1: zero loss exactly when rows stay aligned."""
    a, b = tc.Input((1,), name="a"), tc.Input((1,), name="b")
    same = {"use_bias": False, "kernel_initializer": "ones"}
    return tc.Model({"a": a, "b": b}, {"a": layers.Dense(1, **same)(a), "b": layers.Dense(1, **same)(b)})


@settings(max_examples=5, deadline=None)
@given(n=st.integers(5, 40), batch_size=st.integers(1, 9), fraction=st.sampled_from([0.2, 0.5]))
def test_validation_split_and_shuffle_keep_the_rows_of_every_array_aligned(n, batch_size, fraction):
    ids = np.arange(n, dtype=np.float32)[:, None]
    model = echo()
    model.compile(optimizers.SGD(learning_rate=0.0), "mse")
    history = model.fit({"b": ids * 10, "a": ids}, [ids, ids * 10], batch_size=batch_size, epochs=2,
                        validation_split=fraction, verbose=0).history
    assert all(v == [0.0, 0.0] for v in history.values())
    shifted = model.evaluate([ids, ids * 10], [ids, ids[::-1] * 10], verbose=0)
    assert shifted[0] > 0
    train, held_out = split(([ids, -ids], [ids * 2, None], [ids[:, 0], ids[:, 0] * 3]), fraction)
    assert held_out[0][0][0, 0] == len(train[0][0])  # Keras: the last rows are held out, before shuffling
    for x, y, w in ArrayBatches(train, batch_size, shuffle=True):
        np.testing.assert_array_equal(x[1], -x[0])
        np.testing.assert_array_equal(y[0], 2 * x[0])
        assert y[1] is None
        np.testing.assert_array_equal(w[1], 3 * x[0][:, 0])


def cut(x, y, size):
    n = len(y["digit"])
    return [({k: v[i:i + size] for k, v in x.items()}, {k: v[i:i + size] for k, v in y.items()})
            for i in range(0, n, size)]


class Pairs(PyDataset):
    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        return self.batches[index]


def test_generators_and_pydatasets_of_structured_batches_train_as_the_arrays():
    x, y = data(20)
    expected = make_model()
    h0 = fit(expected, x, y, batch_size=6, epochs=2)
    for source in (lambda: iter(cut(x, y, 6) * 2), lambda: Pairs(cut(x, y, 6))):
        model = make_model()
        batches = source()
        steps = {"steps_per_epoch": 4} if not isinstance(batches, PyDataset) else {}
        history = model.fit(batches, epochs=2, shuffle=False, verbose=0, **steps)
        assert history.history == h0.history
        for a, b in zip(expected.get_weights(), model.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    assert expected.evaluate(Pairs(cut(x, y, 6)), verbose=0) == expected.evaluate(x, y, batch_size=6, verbose=0)


def test_predict_returns_the_structure_of_the_outputs():
    x, y = data(13)
    by_name, in_order = make_model(), make_model(as_list=True)
    got = by_name.predict(x, batch_size=4)
    assert list(got) == ["digit", "parity"] and got["digit"].shape == (13, 3) and got["parity"].shape == (13, 1)
    whole = by_name([x["image"], x["meta"]])
    for key in got:
        np.testing.assert_allclose(got[key], whole[key].data, rtol=1e-6, atol=1e-6)
    listed = in_order.predict([x["image"], x["meta"]], batch_size=4)
    assert isinstance(listed, list) and len(listed) == 2
    np.testing.assert_array_equal(listed[0], got["digit"])
    from_batches = by_name.predict(iter([((x["image"][:7], x["meta"][:7]),),
                                         ({"image": x["image"][7:], "meta": x["meta"][7:]},)]))
    np.testing.assert_allclose(from_batches["parity"], got["parity"], rtol=1e-6)


# --- callbacks ------------------------------------------------------------------------------------------------------

def test_callbacks_monitor_an_outputs_validation_loss_and_csv_logs_every_column(tmp_path):
    x, y = data(30)
    model = make_model(metrics={"digit": "accuracy"})
    stop = callbacks.EarlyStopping(monitor="val_parity_loss", patience=0, mode="min")
    log = callbacks.CSVLogger(tmp_path / "log.csv")
    checkpoint = callbacks.ModelCheckpoint(str(tmp_path / "best.npz"), monitor="val_digit_loss", save_best_only=True,
                                           save_weights_only=True)
    seen = []
    watch = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(logs["val_parity_loss"]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a monitored name missing from the logs would warn
        history = fit(model, x, y, epochs=30, validation_data=(x, y), callbacks=[stop, log, watch, checkpoint])
    worse = [i for i in range(1, len(seen)) if seen[i] >= seen[i - 1]]
    assert len(seen) == (worse[0] + 1 if worse else 30)  # patience=0: stops at the first epoch without progress
    with open(tmp_path / "log.csv") as file:
        header = next(csv.reader(file))
    assert header == ["epoch", *sorted(["loss", "digit_loss", "parity_loss", "digit_accuracy", "val_loss",
                                        "val_digit_loss", "val_parity_loss", "val_digit_accuracy"])]
    assert checkpoint.best == min(history.history["val_digit_loss"])


# --- bad input --------------------------------------------------------------------------------------------------------

def compile_error(**args):
    with pytest.raises((TypeError, ValueError)) as error:
        make_model(**args)
    return str(error.value)


def test_every_bad_compile_argument_gets_a_clear_error():
    assert "no output named ['digits']" in compile_error(loss={"digits": CE})
    assert "so loss must be a list of 2 entries in that order" in compile_error(loss=[CE])
    assert "gives no output a loss" in compile_error(loss=[None, None])
    assert "metrics go" in compile_error(loss_weights=["accuracy"]) or "metrics=" in compile_error(
        loss_weights=["accuracy"])
    assert "no output named ['size']" in compile_error(loss_weights={"size": 2.0})
    assert "loss_weights['parity'] must be a finite number" in compile_error(loss_weights={"parity": float("nan")})
    assert "no output named ['colour']" in compile_error(metrics={"colour": "accuracy"})
    assert "nests too deeply" in compile_error(metrics=[[["accuracy"]], []])
    assert "two values would be named 'digit_accuracy'" in compile_error(metrics={"digit": ["accuracy", "accuracy"]})
    assert "two values would be named 'digit_weighted_accuracy'" in compile_error(
        metrics={"digit": "accuracy"}, weighted_metrics={"digit": ["accuracy", "accuracy"]})
    assert "unknown metric 'acuracy'" in compile_error(metrics={"digit": ["acuracy"]})
    assert "a number (one output), a list" in compile_error(loss_weights=2.0)


BAD_FIT = [  # (what to change in x, y and fit's arguments, the message)
    (lambda x, y: ([x["image"]], y, {}), "the model has 2 inputs ['image', 'meta'], so x must be a list of 2 arrays"),
    (lambda x, y: ({**x, "size": x["meta"]}, y, {}), "has no input named ['size']"),
    (lambda x, y: ({"image": x["image"]}, y, {}), "lacks the inputs ['meta']"),
    (lambda x, y: ({**x, "meta": x["meta"][:19]}, y, {}),
     "different numbers of samples (x['image'] (20, 5), x['meta'] (19, 2))"),
    (lambda x, y: (x, {**y, "digit": y["digit"][:18]}, {}), "x has 20 samples but y['digit'] has 18"),
    (lambda x, y: (x, {"parity": y["parity"]}, {}), "y gives no targets for the output 'digit'"),
    (lambda x, y: (x, {**y, "size": y["digit"]}, {}), "has no output named ['size']"),
    (lambda x, y: (x, y, {"class_weight": {0: 1.0, 1: 2.0}}), "class_weight is only supported for a model with one"),
    (lambda x, y: (x, y, {"sample_weight": {"digit": np.ones(19)}}), "sample_weight['digit'] has shape (19,)"),
    (lambda x, y: (x, y, {"sample_weight": {"age": np.ones(20)}}), "has no output named ['age']"),
    (lambda x, y: (x, y, {"sample_weight": np.ones(7)}), "sample_weight has shape (7,)"),
    (lambda x, y: (x, y, {"validation_data": ([x["image"]], y)}), "so x must be a list of 2 arrays"),
]


@pytest.mark.parametrize(("change", "message"), BAD_FIT)
def test_every_bad_fit_argument_gets_a_clear_error(change, message):
    x, y, kwargs = change(*data())
    with pytest.raises((TypeError, ValueError)) as error:
        fit(make_model(), x, y, **kwargs)
    assert message in str(error.value)


def test_a_one_input_one_output_model_also_takes_dicts_by_name():
    x, y = data()

    def run(x_given, y_given):
        tc.manual_seed(0)
        image = tc.Input((5,), name="image")
        model = tc.Model(image, {"digit": layers.Dense(3)(image)})
        model.compile(optimizers.SGD(learning_rate=0.1), {"digit": CE}, metrics={"digit": "accuracy"})
        return fit(model, x_given, y_given, epochs=2).history, model.predict(x_given)

    arrays, predicted = run(x["image"], y["digit"])
    assert list(arrays) == ["loss", "accuracy"]  # one output: the plain names
    assert list(predicted) == ["digit"]  # the structure of the outputs, as Keras
    by_name, _ = run({"image": x["image"]}, {"digit": y["digit"]})
    assert by_name == arrays


def test_weighted_metrics_also_take_the_class_weights_in_fit():
    x, y = data(30)
    tc.manual_seed(0)
    model = tc.Sequential([tc.Input((5,)), layers.Dense(3)])
    model.compile(optimizers.SGD(learning_rate=0.0), CE, metrics=["accuracy"], weighted_metrics=["accuracy"])
    history = fit(model, x["image"], y["digit"], class_weight={0: 3.0, 2: 0.5}).history
    hit = model.predict(x["image"]).argmax(1) == y["digit"]
    w = np.array([3.0, 1.0, 0.5])[y["digit"]]
    np.testing.assert_allclose(history["accuracy"], [hit.mean()])
    np.testing.assert_allclose(history["weighted_accuracy"], [(w * hit).sum() / w.sum()], rtol=1e-6)


class _TwoOutputs(tc.Model):
    """A subclassed model whose outputs (output_0, output_1) are named only by its first batch."""

    def __init__(self):
        super().__init__()
        self.wide, self.narrow = layers.Dense(2, name="wide"), layers.Dense(1, name="narrow")

    def call(self, x):
        return [self.wide(x), self.narrow(x)]


@pytest.mark.parametrize("loss", ["mse", tc.losses.serialize(tc.losses.MeanSquaredError())])
def test_one_loss_for_every_output_of_a_subclassed_model_with_metrics_by_output_name(loss):
    """A single loss (a name or a loss's config) with metrics by output name: the names wait for the first
    batch, the loss is used for every output (it was read as a list of losses: "unknown loss 'm'")."""
    tc.manual_seed(0)
    model = _TwoOutputs()
    model.compile(optimizers.SGD(learning_rate=0.0), loss=loss, metrics={"output_1": ["mae"]})
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3)).astype(np.float32)
    y = [rng.standard_normal((8, 2)).astype(np.float32), rng.standard_normal((8, 1)).astype(np.float32)]
    logs = model.fit(x, y, batch_size=8, epochs=1, verbose=0).history
    wide, narrow = model.predict(x, verbose=0)  # the SGD step at rate 0 leaves the weights as they were
    mse = [float(np.mean((wide - y[0]) ** 2)), float(np.mean((narrow - y[1]) ** 2))]
    assert sorted(logs) == ["loss", "output_0_loss", "output_1_loss", "output_1_mae"]
    np.testing.assert_allclose([logs["output_0_loss"][0], logs["output_1_loss"][0]], mse, rtol=1e-5)
    np.testing.assert_allclose(logs["loss"][0], sum(mse), rtol=1e-5)
    np.testing.assert_allclose(logs["output_1_mae"][0], np.mean(np.abs(narrow - y[1])), rtol=1e-5)
