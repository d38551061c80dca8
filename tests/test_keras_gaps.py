"""Keras's remaining losses and metrics, Lambda, to_json/clone_model, frozen compile and small fixes."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import require_torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn import losses, metrics

EPS = 1e-7


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.sqrt(np.maximum((v * v).sum(-1, keepdims=True), 1e-12))


def hinge_labels(y: np.ndarray) -> np.ndarray:
    return 2 * y - 1 if np.isin(y, (0, 1)).all() else y


# name -> (our function, NumPy per-sample formula (y, p) -> (N,), how targets are drawn)
FORMULAS = {
    "mae": (losses.mean_absolute_error, lambda y, p: np.abs(y - p).mean(-1), "real"),
    "mape": (losses.mean_absolute_percentage_error,
             lambda y, p: 100 * (np.abs(y - p) / np.maximum(np.abs(y), EPS)).mean(-1), "real"),
    "msle": (losses.mean_squared_logarithmic_error,
             lambda y, p: ((np.log1p(np.maximum(p, EPS)) - np.log1p(np.maximum(y, EPS))) ** 2).mean(-1), "positive"),
    "huber": (losses.huber, lambda y, p: np.where(np.abs(p - y) <= 1, 0.5 * (p - y) ** 2, np.abs(p - y) - 0.5).mean(-1),
              "real"),
    "hinge": (losses.hinge, lambda y, p: np.maximum(1 - hinge_labels(y) * p, 0).mean(-1), "binary"),
    "squared_hinge": (losses.squared_hinge, lambda y, p: (np.maximum(1 - hinge_labels(y) * p, 0) ** 2).mean(-1),
                      "signs"),
    "categorical_hinge": (losses.categorical_hinge, lambda y, p: np.maximum(
        ((1 - y) * p).max(-1) - (y * p).sum(-1) + 1, 0), "onehot"),
    "kld": (losses.kl_divergence, lambda y, p: (np.clip(y, EPS, 1) * np.log(np.clip(y, EPS, 1) / np.clip(p, EPS, 1)))
            .sum(-1), "distribution"),
    "poisson": (losses.poisson, lambda y, p: (p - y * np.log(p + EPS)).mean(-1), "counts"),
    "logcosh": (losses.log_cosh, lambda y, p: np.log(np.cosh(p - y)).mean(-1), "real"),
    "cosine_similarity": (losses.cosine_similarity, lambda y, p: -(unit(y) * unit(p)).sum(-1), "real"),
}


def draw(kind: str, rng: np.random.Generator, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(y_true, y_pred) in the loss's domain, away from its kinks."""
    n, c = shape
    positive = rng.uniform(0.1, 3.0, shape)
    if kind == "real":
        return rng.standard_normal(shape), rng.standard_normal(shape) * 2
    if kind == "positive":
        return rng.uniform(0.0, 3.0, shape), positive
    if kind in ("binary", "signs"):
        y = rng.integers(0, 2, shape).astype(np.float64)
        return (y if kind == "binary" else 2 * y - 1), rng.standard_normal(shape) * 2
    if kind == "onehot":
        return np.eye(c)[rng.integers(0, c, n)], rng.standard_normal(shape) * 2
    if kind == "distribution":
        return positive / positive.sum(-1, keepdims=True), rng.dirichlet(np.ones(c), n)
    return rng.poisson(2.0, shape).astype(np.float64), positive  # counts and positive rates


@settings(max_examples=15, deadline=None)
@given(name=st.sampled_from(sorted(FORMULAS)), n=st.integers(1, 5), c=st.integers(2, 5), seed=st.integers(0, 2**16),
       reduction=st.sampled_from(["mean", "sum", "none", "sum_over_batch_size"]), weighted=st.booleans())
def test_loss_values_match_the_formula_with_keras_reductions(name, n, c, seed, reduction, weighted):
    function, formula, kind = FORMULAS[name]
    rng = np.random.default_rng(seed)
    y, p = draw(kind, rng, (n, c))
    weight = rng.uniform(0, 2, n) if weighted else None
    per_sample = formula(y, p) * (1 if weight is None else weight)
    expected = {"sum": per_sample.sum(), "none": per_sample}.get(reduction, per_sample.mean())
    ours = function(y, p, reduction=reduction, sample_weight=weight)
    np.testing.assert_allclose(ours.data, expected, rtol=1e-9, atol=1e-12)
    assert ours.dtype == np.float64


@settings(max_examples=10, deadline=None)
@given(name=st.sampled_from(sorted(FORMULAS)), n=st.integers(1, 4), c=st.integers(2, 4), seed=st.integers(0, 2**16))
def test_loss_gradients_match_finite_differences_with_random_upstream(name, n, c, seed):
    function, _, kind = FORMULAS[name]
    y, p = draw(kind, np.random.default_rng(seed), (n, c))
    assert tc.gradcheck(lambda x: function(y, x, reduction="none"), [tc.Tensor(p, requires_grad=True)])


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 5), c=st.integers(1, 5), seed=st.integers(0, 2**16), delta=st.sampled_from([0.3, 1.0, 2.5]))
def test_losses_match_pytorch_values_and_gradients(n, c, seed, delta):
    torch = require_torch()
    functional = torch.nn.functional
    rng = np.random.default_rng(seed)
    y, p = rng.standard_normal((n, c)), rng.standard_normal((n, c)) * 2
    rates, counts = rng.uniform(0.1, 3, (n, c)), rng.poisson(2.0, (n, c)).astype(np.float64)
    target, guess = rng.dirichlet(np.ones(c), n), rng.dirichlet(np.ones(c), n)
    cases = [  # (ours, PyTorch's, y_true, y_pred)
        (lambda t, x: losses.mae(t, x, reduction="none"), lambda t, x: functional.l1_loss(x, t, reduction="none")
         .mean(-1), y, p),
        (lambda t, x: losses.Huber(delta, reduction="none")(t, x),
         lambda t, x: functional.huber_loss(x, t, delta=delta, reduction="none").mean(-1), y, p),
        (lambda t, x: losses.kld(t, x, reduction="none"),
         lambda t, x: functional.kl_div(x.log(), t, reduction="none").sum(-1), target, guess),
        (lambda t, x: losses.poisson(t, x, reduction="none"),
         lambda t, x: functional.poisson_nll_loss(x, t, log_input=False, eps=EPS, reduction="none").mean(-1),
         counts, rates),
        (lambda t, x: losses.CosineSimilarity(reduction="none")(t, x),
         lambda t, x: -functional.cosine_similarity(x, t, dim=-1), y, p),
    ]
    for ours, theirs, t, x in cases:
        upstream = rng.standard_normal(n)
        mine = tc.Tensor(x, requires_grad=True)
        out = ours(t, mine)
        out.backward(tc.Tensor(upstream))
        reference = torch.tensor(x, requires_grad=True)
        expected = theirs(torch.tensor(t), reference)
        expected.backward(torch.tensor(upstream))
        np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(mine.grad.data, reference.grad.numpy(), rtol=1e-6, atol=1e-9)


def test_keras_documented_examples():
    # the figures in Keras's docstrings
    assert losses.LogCosh()([[0., 1.], [0., 0.]], [[1., 1.], [0., 0.]]).item() == pytest.approx(0.108, abs=1e-3)
    cos = losses.cosine_similarity([[0., 1.], [1., 1.], [1., 1.]], [[1., 0.], [1., 1.], [-1., -1.]], reduction="none")
    np.testing.assert_allclose(cos.data, [0.0, -1.0, 1.0], atol=1e-6)
    # 0/1 labels are read as -1/1 by the hinges, other labels as given
    assert losses.hinge([[0., 1.]], [[0.5, 0.5]]).item() == pytest.approx((1.5 + 0.5) / 2)
    assert losses.hinge([[-1., 2.]], [[0.5, 0.25]]).item() == pytest.approx((1.5 + 0.5) / 2)
    # a zero vector has cosine similarity 0 and a finite gradient
    x = tc.Tensor(np.zeros((1, 3)), requires_grad=True)
    losses.cosine_similarity(np.ones((1, 3)), x).backward()
    assert np.isfinite(x.grad.data).all()


NAMES = {"mae": "MeanAbsoluteError", "mean_absolute_error": "MeanAbsoluteError", "huber": "Huber",
         "mape": "MeanAbsolutePercentageError", "msle": "MeanSquaredLogarithmicError", "hinge": "Hinge",
         "squared_hinge": "SquaredHinge", "categorical_hinge": "CategoricalHinge", "kl_divergence": "KLDivergence",
         "kld": "KLDivergence", "poisson": "Poisson", "log_cosh": "LogCosh", "logcosh": "LogCosh",
         "cosine_similarity": "CosineSimilarity"}


@pytest.mark.parametrize("name", sorted(NAMES))
def test_every_loss_name_gives_its_class_and_round_trips(name):
    loss = losses.get(name)
    assert type(loss).__name__ == NAMES[name] and type(loss) is getattr(losses, NAMES[name])
    assert losses.get(type(loss).__name__) is not loss and type(losses.get(type(loss).__name__)) is type(loss)
    entry = json.loads(json.dumps(losses.serialize(loss)))
    assert type(losses.get(entry)) is type(loss) and losses.get(entry).get_config() == loss.get_config()


def test_configured_losses_keep_their_settings_in_a_model_file(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 3)).astype(np.float32), rng.standard_normal((16, 2)).astype(np.float32)
    for loss in (losses.Huber(delta=0.25), losses.CosineSimilarity(axis=1, reduction="sum"), "mape", "logcosh"):
        model = tc.Sequential([tc.Input((3,)), tc.layers.Dense(2)])
        model.compile("sgd", loss)
        model.fit(x, y, epochs=1, verbose=0)
        model.save(tmp_path / "m.tgc")
        loaded = tc.models.load_model(tmp_path / "m.tgc")
        assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)
        assert repr(loaded.loss) == repr(losses.get(loss))


def test_compile_by_name_trains_with_the_new_losses():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 4)).astype(np.float32)
    y = (x @ rng.standard_normal((4, 3))).astype(np.float32)
    for name in ("mae", "huber", "logcosh", "cosine_similarity"):
        model = tc.Sequential([tc.Input((4,)), tc.layers.Dense(3)])
        model.compile(tc.optimizers.Adam(learning_rate=0.05), name)
        history = model.fit(x, y, epochs=8, batch_size=16, verbose=0)
        assert history.history["loss"][-1] < history.history["loss"][0]


def test_bad_loss_arguments_are_named():
    with pytest.raises(ValueError, match="Huber: delta must be positive, got -1"):
        losses.Huber(-1.0)
    with pytest.raises(TypeError, match="huber: delta must be a number"):
        losses.huber([[1.0]], [[1.0]], delta="1")
    with pytest.raises(TypeError, match="CosineSimilarity: axis must be an int axis"):
        losses.CosineSimilarity(axis=1.5)
    with pytest.raises(ValueError, match=r"axis 0 is not a feature axis of y_pred with shape \(2, 3\)"):
        losses.cosine_similarity(np.ones((2, 3)), np.ones((2, 3)), axis=0)
    with pytest.raises(ValueError, match=r"mean_absolute_error: y_true has shape \(2, 2\) but y_pred has shape"):
        losses.mae(np.ones((2, 2)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="unknown loss 'hubber'; known names: .*huber"):
        losses.get("hubber")


@pytest.mark.parametrize("name", ["mape", "msle", "hinge", "squared_hinge", "categorical_hinge", "kld", "poisson",
                                  "logcosh", "cosine_similarity"])
def test_metrics_of_the_same_names_average_the_loss_per_sample(name):
    rng = np.random.default_rng(2)
    kind = {"hinge": "binary", "squared_hinge": "signs", "categorical_hinge": "onehot", "kld": "distribution",
            "poisson": "counts", "msle": "positive"}.get(name, "real")
    y, p = draw(kind, rng, (6, 4))
    weight = rng.uniform(0, 2, 6)
    metric = metrics.get(name)
    per_sample = FORMULAS[name][1](y, p) * (-1 if name == "cosine_similarity" else 1)  # the metric is +cos
    metric.update_state(y[:3], p[:3].astype(np.float32), sample_weight=weight[:3])
    metric.update_state(y[3:], p[3:].astype(np.float32), sample_weight=weight[3:])
    assert metric.result() == pytest.approx((per_sample * weight).sum() / weight.sum(), rel=1e-5)
    assert metric.name == name


def test_metric_classes_keras_names_and_compile():
    assert metrics.LogCoshError().name == "logcosh" and metrics.KLDivergence().name == "kl_divergence"
    assert metrics.CosineSimilarity(axis=1)([[1.0, 0.0]], [[2.0, 0.0]]) == pytest.approx(1.0)
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((8, 3)).astype(np.float32), rng.uniform(0.5, 2, (8, 2)).astype(np.float32)
    model = tc.Sequential([tc.Input((3,)), tc.layers.Dense(2)])
    model.compile("sgd", "mse", metrics=["mape", "msle", "logcosh", "cosine_similarity"])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "mape", "msle", "logcosh", "cosine_similarity"}
    prediction = model.predict(x, verbose=0)
    assert logs["mape"] == pytest.approx(100 * np.mean(np.abs(y - prediction) / y), rel=1e-4)


def dense_model(frozen: bool = False) -> tc.Model:
    model = tc.Sequential([tc.Input((3,)), tc.layers.Dense(4, activation="relu"), tc.layers.Dense(2)])
    model.trainable = not frozen
    return model


def test_a_frozen_model_compiles_evaluates_predicts_and_fits_without_moving():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((12, 3)).astype(np.float32), rng.standard_normal((12, 2)).astype(np.float32)
    model = dense_model(frozen=True)
    model.compile("sgd", "mse")
    before = model.get_weights()
    history = model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    assert history.history["loss"][0] == pytest.approx(history.history["loss"][1])
    assert history.history["loss"][0] == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)
    assert all((a == b).all() for a, b in zip(before, model.get_weights(), strict=True))
    model.trainable = True  # unfrozen, the same compiled model learns; frozen again, it stops
    assert model.fit(x, y, epochs=3, verbose=0).history["loss"][-1] < history.history["loss"][0]
    model.trainable = False
    before = model.get_weights()
    model.fit(x, y, epochs=1, verbose=0)
    assert all((a == b).all() for a, b in zip(before, model.get_weights(), strict=True))
    tc.Sequential().compile("adam", "mse")  # an empty model compiles too


def test_model_arguments_and_configs_are_checked():
    with pytest.raises(TypeError, match="Model: trainable must be True or False, got 'no'"):
        tc.Model(trainable="no")
    with pytest.raises(TypeError, match="Sequential: trainable must be True or False, got 'no'"):
        tc.Sequential(trainable="no")
    for config in (None, [1], "x"):
        with pytest.raises((TypeError, ValueError), match="config must be a dict"):
            tc.Model.from_config(config)
    inputs = [tc.Input((3,)), tc.Input((3,))]
    model = tc.Model(inputs, tc.layers.Dense(1)(tc.layers.Concatenate()(inputs)))
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"got a list of 1 array of shapes \[\(4, 3\)\]"):
        model.fit([np.ones((4, 3))], np.ones((4, 1)), verbose=0)


# --- Lambda ---------------------------------------------------------------------------------------

@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 4), c=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_lambda_in_a_functional_model_matches_pytorch_values_and_gradients(n, c, seed):
    torch = require_torch()
    rng = np.random.default_rng(seed)
    a, b = tc.Input((c,), dtype="float64"), tc.Input((c,), dtype="float64")
    scaled = tc.layers.Lambda(lambda t, k: t * k, arguments={"k": 3.0})(a)
    joined = tc.layers.Lambda(lambda ts: (ts[0] - ts[1]).tanh())([scaled, b])
    total = tc.layers.Lambda(lambda t: t.sum(-1, keepdims=True), output_shape=(1,))(joined)
    assert (scaled.shape, joined.shape, total.shape) == ((None, c), (None, c), (None, 1))
    model = tc.Model([a, b], total)
    x, z, upstream = rng.standard_normal((n, c)), rng.standard_normal((n, c)), rng.standard_normal((n, 1))
    xs = tc.Tensor(x, requires_grad=True)
    out = model([xs, tc.Tensor(z)])
    out.backward(tc.Tensor(upstream))
    reference = torch.tensor(x, requires_grad=True)
    expected = torch.tanh(reference * 3 - torch.tensor(z)).sum(-1, keepdim=True)
    expected.backward(torch.tensor(upstream))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(xs.grad.data, reference.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert tc.gradcheck(lambda t: model([t, tc.Tensor(z)]), [tc.Tensor(x, requires_grad=True)])


def test_lambda_shapes_training_flag_mask_and_sequential_fit():
    x = tc.Input((6,))
    assert tc.layers.Lambda(lambda t: t.reshape(-1, 2, 3))(x).shape == (None, 2, 3)  # by a zero sample
    assert tc.layers.Lambda(lambda t: t[:, :2], output_shape=lambda s: (s[0], 2))(x).shape == (None, 2)
    assert tc.layers.Lambda(lambda t: t, output_shape=6)(x).shape == (None, 6)
    doubled = tc.layers.Lambda(lambda t, training: t * 2 if training else t)
    assert doubled(np.ones((1, 2)), training=True).data.tolist() == [[2.0, 2.0]]
    assert doubled(np.ones((1, 2))).data.tolist() == [[1.0, 1.0]]
    masked = tc.layers.Lambda(lambda t: t, mask=lambda inputs, mask: "kept")
    assert masked.compute_mask(None) == "kept" and tc.layers.Lambda(lambda t: t, mask=1).compute_mask(None) == 1
    rng = np.random.default_rng(5)
    features, targets = rng.standard_normal((32, 3)).astype(np.float32), rng.standard_normal((32, 1)).astype(np.float32)
    model = tc.Sequential([tc.Input((3,)), tc.layers.Lambda(lambda t: t * t), tc.layers.Dense(1)])
    model.compile("adam", "mse")
    assert model.layers[0].output_shape == (None, 3)
    history = model.fit(features, targets, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_lambda_cannot_be_saved_but_its_weights_can(tmp_path):
    model = tc.Sequential([tc.Input((3,)), tc.layers.Lambda(lambda t: t * 2, name="double"), tc.layers.Dense(1)])
    for attempt in (lambda: model.save(tmp_path / "m.tgc"), model.to_json, model.layers[0].get_config,
                    lambda: tc.models.clone_model(model)):
        with pytest.raises(ValueError, match="Lambda 'double' cannot be saved: its function is Python code.*"
                                             "save_weights.*subclass tc.layers.Layer"):
            attempt()
    assert not (tmp_path / "m.tgc").exists()
    model.save_weights(tmp_path / "w.npz")
    twin = tc.Sequential([tc.Input((3,)), tc.layers.Lambda(lambda t: t * 2), tc.layers.Dense(1)])
    twin.load_weights(tmp_path / "w.npz")
    np.testing.assert_array_equal(twin.predict(np.ones((2, 3)), verbose=0), model.predict(np.ones((2, 3)), verbose=0))


def test_lambda_bad_arguments_are_named():
    with pytest.raises(TypeError, match="Lambda: function must be callable"):
        tc.layers.Lambda("x * 2")
    with pytest.raises(TypeError, match="Lambda: arguments must be a dict"):
        tc.layers.Lambda(lambda t: t, arguments=[1])
    with pytest.raises(TypeError, match="Lambda: output_shape must be the output's shape without the batch axis"):
        tc.layers.Lambda(lambda t: t, output_shape="3")
    with pytest.raises(TypeError, match="returned ndarray, not a Tensor"):
        tc.layers.Lambda(lambda t: np.tanh(t.data))(np.ones((1, 2)))


# --- to_json, model_from_json, clone_model ---------------------------------------------------------

def two_headed() -> tc.Model:
    a, b = tc.Input((4,), name="a"), tc.Input((2,), name="b")
    shared = tc.layers.Dense(3, activation="tanh", name="shared")
    inner = tc.Sequential([tc.Input((3,)), tc.layers.Dense(3, name="inner_dense")], name="inner")
    h = tc.layers.Concatenate()([inner(shared(a)), b])
    return tc.Model([a, b], [tc.layers.Dense(2, name="o1")(h), tc.layers.Dense(1, name="o2")(h)], name="net")


@pytest.mark.parametrize("make", [two_headed, lambda: tc.Sequential(
    [tc.Input((5, 5, 2)), tc.layers.Conv2D(3, 3), tc.layers.BatchNormalization(), tc.layers.Flatten(),
     tc.layers.Dense(2)], name="stack")])
def test_to_json_and_clone_model_rebuild_the_architecture_with_fresh_weights(make):
    model = make()
    text = model.to_json()
    assert json.loads(text)["class_name"] == type(model).__name__ and json.loads(model.to_json(indent=2)) == \
        json.loads(text)
    for copy in (tc.models.model_from_json(text), tc.models.model_from_json(text.encode()),
                 tc.models.clone_model(model)):
        assert type(copy) is type(model) and copy.to_json() == text and copy.name == model.name
        assert [w.shape for w in copy.get_weights()] == [w.shape for w in model.get_weights()]
        assert not any(np.array_equal(a, b) for a, b in zip(copy.get_weights(), model.get_weights(), strict=True)
                       if a.size > 3 and a.std() > 0)  # kernels drawn afresh
        assert copy.optimizer is None
        copy.set_weights(model.get_weights())  # the same weights give the same outputs
        inputs = [np.ones((2, *t.shape[1:])) for t in model.inputs]
        ours, theirs = copy.predict(inputs, verbose=0), model.predict(inputs, verbose=0)
        for x, y in zip(ours if isinstance(ours, list) else [ours], theirs if isinstance(theirs, list) else [theirs],
                        strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-6)


def test_to_json_model_from_json_and_clone_model_refuse_clearly():
    class Net(tc.Model):
        def __init__(self):
            super().__init__()
            self.dense = tc.layers.Dense(2)

        def call(self, x, training=False):
            return self.dense(x)

    with pytest.raises(ValueError, match="clone_model cannot clone <Net .*subclassed model's architecture"):
        tc.models.clone_model(Net())
    with pytest.raises(ValueError, match="subclassed model's architecture is its Python code"):
        Net().to_json()
    with pytest.raises(TypeError, match="clone_model: model must be a Sequential or functional model, got Dense"):
        tc.models.clone_model(tc.layers.Dense(2))
    with pytest.raises(ValueError, match="model_from_json: json_string is not valid JSON"):
        tc.models.model_from_json("{")
    with pytest.raises(TypeError, match="model_from_json: json_string must be the string model.to_json"):
        tc.models.model_from_json({"class_name": "Sequential"})
    with pytest.raises(ValueError, match="expected a Sequential or functional model's JSON.*got 'Dense'"):
        tc.models.model_from_json(json.dumps({"class_name": "Dense", "config": {}}))
    with pytest.raises(ValueError, match=r"custom_objects \['Net'\] cannot be used"):
        tc.models.model_from_json(two_headed().to_json(), custom_objects={"Net": Net})


def test_clone_model_with_clone_function_and_input_tensors():
    x = tc.Input((4,), name="x")
    shared = tc.layers.Dense(4, activation="tanh", name="shared")
    doubled = tc.layers.Lambda(lambda t: t * 2, name="double")
    y = tc.layers.Dense(2, name="head")(doubled(shared(shared(x))))   # a layer shared by two calls
    model = tc.Model(x, y, name="net")
    seen = []

    def keep_lambdas(layer):   # Keras's recipe: rebuild from config, except what cannot be rebuilt
        seen.append(layer.name)
        return layer if isinstance(layer, tc.layers.Lambda) else type(layer).from_config(layer.get_config())

    clone = tc.models.clone_model(model, clone_function=keep_lambdas)
    assert sorted(seen) == ["double", "head", "shared"]   # the shared layer cloned once
    assert clone.get_layer("double") is doubled and clone.get_layer("shared") is not shared
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]
    clone.set_weights(model.get_weights())
    data = np.random.default_rng(6).standard_normal((3, 4))
    np.testing.assert_allclose(clone.predict(data, verbose=0), model.predict(data, verbose=0), rtol=1e-6)
    wider = tc.Input((4,), name="new_input", dtype="float64")
    on_new = tc.models.clone_model(model, input_tensors=wider, clone_function=keep_lambdas)
    assert on_new.inputs == [wider] and on_new.input_names == ["new_input"]
    stack = tc.Sequential([tc.Input((3,)), tc.layers.Dense(2, name="d")], name="stack")
    start = tc.Input((3,), name="start")
    cloned = tc.models.clone_model(stack, input_tensors=[start])
    assert cloned.inputs == [start] and cloned.name == "stack" and cloned.layers[0] is not stack.layers[0]
    with pytest.raises(TypeError, match="clone_function must be a function layer -> new layer"):
        tc.models.clone_model(stack, clone_function="copy")
    with pytest.raises(TypeError, match="clone_function returned NoneType for <Dense 'd'"):
        tc.models.clone_model(stack, clone_function=lambda layer: None)
    with pytest.raises(TypeError, match="a Sequential model has one input, so input_tensors must be one tensor"):
        tc.models.clone_model(stack, input_tensors=[start, start])
    with pytest.raises(TypeError, match="input_tensors must be tensors from tc.Input"):
        tc.models.clone_model(model, input_tensors=np.ones((1, 4)))
