"""Weight constraints (Keras 3's tc.constraints): the formulas against NumPy and PyTorch, the layer arguments,
application after every optimizer update (fit and a hand-written loop), configs and model files, errors."""
from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
from conftest import require_torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn import constraints
from tinygrad_cnn.layers import (
    BatchNormalization,
    Conv2D,
    Conv2DTranspose,
    Dense,
    DepthwiseConv2D,
    Flatten,
    Layer,
    SeparableConv2D,
)

OPTIMIZERS = [lambda: tc.optimizers.SGD(learning_rate=0.5, momentum=0.9), lambda: tc.optimizers.Adam(learning_rate=0.5),
              lambda: tc.optimizers.AdamW(learning_rate=0.5), lambda: tc.optimizers.RMSprop(learning_rate=0.5)]


@st.composite
def weights_and_axes(draw):
    """A float64 weight of 1 to 4 axes and an axis argument: an int, a list of distinct axes (negative ones too)
    or None."""
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    w = rng.standard_normal(shape) * draw(st.sampled_from([0.1, 1.0, 5.0]))
    ndim = len(shape)
    axes = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    signed = [a - ndim if draw(st.booleans()) else a for a in axes]
    axis = draw(st.sampled_from([signed[0], signed, None]))
    return w, axis


def numpy_norms(w: np.ndarray, axis) -> np.ndarray:
    summed = tuple(range(w.ndim)) if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
    return np.sqrt((w ** 2).sum(axis=summed, keepdims=True))


@settings(max_examples=30)
@given(weights_and_axes(), st.floats(0.0, 4.0))
def test_norm_constraints_match_numpy(case, value):
    """Keras's formulas: w * desired / (1e-7 + n), n the 2-norm over `axis`, computed here in NumPy."""
    w, axis = case
    n = numpy_norms(w, axis)
    low, high = sorted((value, value * 1.5 + 0.1))
    expected = {
        constraints.MaxNorm(value, axis): w * np.clip(n, 0, value) / (1e-7 + n),
        constraints.MinMaxNorm(low, high, 0.3, axis): w * (0.3 * np.clip(n, low, high) + 0.7 * n) / (1e-7 + n),
        constraints.UnitNorm(axis): w / (1e-7 + n),
    }
    for constraint, want in expected.items():
        got = constraint(tc.Tensor(w))
        assert isinstance(got, tc.Tensor) and got.dtype == np.float64
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(constraints.NonNeg()(w).numpy(), np.maximum(w, 0))
    np.testing.assert_array_equal(constraints.Constraint()(w).numpy(), w)


@settings(max_examples=20)
@given(st.lists(st.integers(1, 4), min_size=2, max_size=4).map(tuple), st.integers(0, 3), st.floats(0.05, 3.0),
       st.integers(0, 2**31))
def test_max_norm_matches_torch_renorm(shape, kept, max_value, seed):
    """MaxNorm over every axis but one is torch.renorm along that one (its `dim` is the axis kept)."""
    torch = require_torch()
    kept %= len(shape)
    w = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    summed = [a for a in range(len(shape)) if a != kept]
    got = constraints.MaxNorm(max_value, axis=summed)(tc.Tensor(w)).numpy()
    want = torch.renorm(torch.tensor(w), p=2, dim=kept, maxnorm=max_value).numpy()
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)


@settings(max_examples=20)
@given(st.lists(st.integers(1, 5), min_size=1, max_size=3).map(tuple), st.integers(0, 2), st.integers(0, 2**31))
def test_unit_norm_and_non_neg_match_torch(shape, axis, seed):
    """UnitNorm is torch.nn.functional.normalize along the summed axis; NonNeg is clamp(min=0)."""
    torch = require_torch()
    axis %= len(shape)
    rng = np.random.default_rng(seed)
    w = rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 2.0, shape)   # norms >= 0.5: the 1e-7 is negligible
    got = constraints.UnitNorm(axis)(tc.Tensor(w)).numpy()
    np.testing.assert_allclose(got, torch.nn.functional.normalize(torch.tensor(w), dim=axis).numpy(), rtol=1e-6)
    np.testing.assert_array_equal(constraints.NonNeg()(tc.Tensor(w)).numpy(), torch.tensor(w).clamp(min=0).numpy())


def test_constraints_keep_float32_and_are_differentiable(torch):
    """Called on a Tensor that requires grad, a constraint is made of Tensor ops: its gradient (random upstream
    gradient) is torch.renorm's, and gradcheck passes in float64."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((5, 3)).astype(np.float32) * 2
    assert constraints.MaxNorm(1.0)(tc.Tensor(w)).dtype == np.float32
    g = rng.standard_normal((5, 3))
    ours = tc.Tensor(w.astype(np.float64), requires_grad=True)
    (constraints.MaxNorm(1.0)(ours) * tc.Tensor(g)).sum().backward()
    theirs = torch.tensor(w.astype(np.float64), requires_grad=True)
    (torch.renorm(theirs, 2, 1, 1.0) * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-5, atol=1e-7)
    assert tc.gradcheck(lambda t: constraints.MinMaxNorm(0.5, 1.5, 0.7, axis=1)(t),
                        (tc.Tensor(rng.standard_normal((3, 4)), requires_grad=True),))


def test_get_names_dicts_classes_instances_and_callables():
    """Keras 3's identifiers: class names and snake_case names, {"class_name", "config"}, classes, instances,
    callables (as they are) and None; the lower-case aliases are the classes."""
    for name, cls in [("max_norm", constraints.MaxNorm), ("MaxNorm", constraints.MaxNorm),
                      ("non_neg", constraints.NonNeg), ("NonNeg", constraints.NonNeg),
                      ("unit_norm", constraints.UnitNorm), ("UnitNorm", constraints.UnitNorm),
                      ("min_max_norm", constraints.MinMaxNorm), ("MinMaxNorm", constraints.MinMaxNorm)]:
        assert type(constraints.get(name)) is cls and constraints.get(name) == cls()
        assert type(constraints.get(cls)) is cls
    assert (constraints.max_norm, constraints.non_neg, constraints.unit_norm, constraints.min_max_norm) == (
        constraints.MaxNorm, constraints.NonNeg, constraints.UnitNorm, constraints.MinMaxNorm)
    made = constraints.MinMaxNorm(0.5, 2, 0.25, axis=[0, 1, 2])
    assert constraints.get(made) is made and constraints.get(None) is None
    assert constraints.get(abs) is abs
    config = json.loads(json.dumps(constraints.serialize(made)))
    assert config == {"class_name": "MinMaxNorm",
                      "config": {"min_value": 0.5, "max_value": 2.0, "rate": 0.25, "axis": [0, 1, 2]}}
    assert constraints.deserialize(config) == made and constraints.get(config) == made
    keras_form = {"module": "keras.constraints", "class_name": "MaxNorm", "config": {"max_value": 3, "axis": 0},
                  "registered_name": None}   # what keras.constraints.serialize writes: the other keys are ignored
    assert constraints.deserialize(keras_form) == constraints.MaxNorm(3)
    assert "constraints" in tc.__all__ and tc.constraints is constraints
    assert constraints.MinMaxNorm.from_config(made.get_config()) == made
    assert constraints.serialize(None) is None
    assert repr(constraints.MaxNorm(3, axis=[0, 1])) == "MaxNorm(max_value=3.0, axis=[0, 1])"
    assert constraints.MaxNorm() == constraints.MaxNorm(2, 0) != constraints.MaxNorm(2, 1)


@pytest.mark.parametrize("make, error, message", [
    (lambda: constraints.get("maxnorm"), ValueError, r"unknown constraint 'maxnorm'; known names: .*max_norm"),
    (lambda: constraints.get(3), TypeError, r"a constraint must be None, a name .* got int 3"),
    (lambda: constraints.get({"class_name": "L2", "config": {}}), ValueError, r"a constraint config must be"),
    (lambda: constraints.get({"class_name": "MaxNorm", "config": {"maximum": 3}}), ValueError,
     r"cannot build MaxNorm from the config"),
    (lambda: constraints.deserialize("max_norm"), TypeError, r"for a name such as 'max_norm' use get"),
    (lambda: constraints.MaxNorm(-1), ValueError, r"MaxNorm: max_value must be in \[0.0, inf\], got -1"),
    (lambda: constraints.MaxNorm(float("nan")), ValueError, r"MaxNorm: max_value must be in"),
    (lambda: constraints.MaxNorm("2"), TypeError, r"MaxNorm: max_value must be a number, got str"),
    (lambda: constraints.MinMaxNorm(2.0, 1.0), ValueError, r"min_value \(2.0\) must not exceed max_value \(1.0\)"),
    (lambda: constraints.MinMaxNorm(-0.5), ValueError, r"MinMaxNorm: min_value must be in"),
    (lambda: constraints.MinMaxNorm(rate=1.5), ValueError, r"MinMaxNorm: rate must be in \[0.0, 1.0\], got 1.5"),
    (lambda: constraints.MinMaxNorm(rate=-0.1), ValueError, r"MinMaxNorm: rate must be in"),
    (lambda: constraints.UnitNorm(axis=1.0), TypeError, r"UnitNorm: axis must be an int, a non-empty list"),
    (lambda: constraints.UnitNorm(axis=[]), TypeError, r"UnitNorm: axis must be an int, a non-empty list"),
    (lambda: constraints.UnitNorm(axis=[0, 0]), ValueError, r"axis \[0, 0\] names an axis twice"),
    (lambda: constraints.MaxNorm(axis=2)(np.ones((3, 4))), ValueError,
     r"MaxNorm: axis 2 is out of range for a weight of shape \(3, 4\) \(2 axes: use -2 to 1\)"),
    (lambda: constraints.MaxNorm(axis=[1, -1])(np.ones((3, 4))), ValueError,
     r"axis \[1, -1\] names an axis twice on a weight of shape \(3, 4\)"),
    (lambda: constraints.NonNeg()("abc"), TypeError, r"NonNeg constrains a weight"),
    (lambda: constraints.serialize(abs), ValueError, r"custom callable, which a config cannot hold"),
])
def test_bad_arguments_get_clear_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_every_layer_argument_reaches_its_weight_and_its_config():
    """kernel/bias (Dense, Conv2D, Conv2DTranspose), depthwise/pointwise/bias (the depthwise layers) and
    beta/gamma (BatchNormalization): each weight carries its constraint; configs rebuild equal layers."""
    max_norm, non_neg, unit = constraints.MaxNorm(1.5, [0, 1, 2]), constraints.NonNeg(), constraints.UnitNorm()
    cases = [
        (Dense(3, kernel_constraint=constraints.MaxNorm(2), bias_constraint="non_neg"), (2, 4),
         {"kernel": constraints.MaxNorm(2), "bias": non_neg}),
        (Conv2D(3, 2, kernel_constraint=max_norm, bias_constraint=non_neg), (2, 5, 5, 2),
         {"kernel": max_norm, "bias": non_neg}),
        (Conv2DTranspose(3, 2, kernel_constraint=max_norm, bias_constraint=non_neg), (2, 5, 5, 2),
         {"kernel": max_norm, "bias": non_neg}),
        (DepthwiseConv2D(2, depthwise_constraint=max_norm, bias_constraint=non_neg), (2, 5, 5, 2),
         {"kernel": max_norm, "bias": non_neg}),
        (SeparableConv2D(3, 2, depthwise_constraint=max_norm, pointwise_constraint=unit, bias_constraint="NonNeg"),
         (2, 5, 5, 2), {"depthwise_kernel": max_norm, "pointwise_kernel": unit, "bias": non_neg}),
        (BatchNormalization(beta_constraint=non_neg, gamma_constraint=constraints.MinMaxNorm(0.5, 1, axis=0)),
         (4, 3), {"beta": non_neg, "gamma": constraints.MinMaxNorm(0.5, 1, axis=0)}),
    ]
    for layer, shape, wanted in cases:
        layer(np.ones(shape, np.float32))
        found = {w.name.split("/")[-1]: w.constraint for w in layer.weights}
        assert {name: found[name] for name in wanted} == wanted, type(layer).__name__
        assert all(c is None for name, c in found.items() if name not in wanted)
        config = json.loads(json.dumps(layer.get_config()))
        copy = type(layer).from_config(config)
        assert copy.get_config() == layer.get_config()
        copy(np.ones(shape, np.float32))
        assert {w.name.split("/")[-1]: w.constraint for w in copy.weights} == found
    assert cases[3][0].depthwise_constraint == max_norm and cases[3][0].get_config()["depthwise_constraint"] == \
        constraints.serialize(max_norm)
    assert "kernel_constraint" not in cases[4][0].get_config()


def test_layer_arguments_name_the_argument_in_errors():
    with pytest.raises(ValueError, match=r"^Dense: kernel_constraint: unknown constraint 'maxnorm'"):
        Dense(2, kernel_constraint="maxnorm")
    with pytest.raises(TypeError, match=r"^SeparableConv2D: pointwise_constraint: a constraint must be"):
        SeparableConv2D(2, 3, pointwise_constraint=1.5)
    with pytest.raises(ValueError, match=r"^DepthwiseConv2D: depthwise_constraint: unknown"):
        DepthwiseConv2D(3, depthwise_constraint="l2")
    with pytest.raises(ValueError, match=r"^BatchNormalization: gamma_constraint: unknown"):
        BatchNormalization(gamma_constraint="unit")


def test_a_wrong_axis_or_shape_shows_when_the_weight_is_made():
    """The constraint is tried once on the new weight: an axis the weight lacks, or a callable returning
    another shape, is an error at build time naming the layer and the weight."""
    with pytest.raises(ValueError, match=r"^Dense 'd': the constraint MaxNorm.* of d/kernel \(shape \(4, 3\)\): "
                                         r"MaxNorm: axis 2 is out of range"):
        Dense(3, kernel_constraint=constraints.MaxNorm(axis=[0, 1, 2]), name="d")(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"of c/bias \(shape \(3,\)\) returned float32 of shape \(\) .* "
                                         r"numbers of shape \(3,\)"):
        Conv2D(3, 2, bias_constraint=lambda w: np.sum(w.numpy()), name="c")(np.ones((1, 4, 4, 2)))
    with pytest.raises(ValueError, match=r"returned NoneType of shape \(\) and dtype object"):
        Dense(3, kernel_constraint=lambda w: None)(np.ones((2, 4)))


def kernel_norms(model) -> list[np.ndarray]:
    """The 2-norm of each unit's incoming weights (Dense: axis 0) and of each filter (Conv2D: axes 0, 1, 2)."""
    return [np.sqrt((layer.kernel.numpy().astype(np.float64) ** 2).sum(axis=tuple(range(layer.kernel.ndim - 1))))
            for layer in model.layers if getattr(layer, "kernel", None) is not None]


def constrained_model(max_value: float) -> tc.Sequential:
    tc.manual_seed(1)
    return tc.Sequential([
        tc.Input((6, 6, 2)),
        Conv2D(4, 3, activation="relu", kernel_constraint=constraints.MaxNorm(max_value, axis=[0, 1, 2])),
        Flatten(),
        Dense(3, kernel_constraint=constraints.MaxNorm(max_value), bias_constraint="non_neg"),
    ])


def data(n: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    return rng.standard_normal((n, 6, 6, 2)).astype(np.float32) * 3, rng.integers(0, 3, n)


class StepCheck(tc.callbacks.Callback):
    """Records the kernel norms and the smallest bias after every training batch."""

    def __init__(self) -> None:
        super().__init__()
        self.norms: list[float] = []
        self.biases: list[float] = []

    def on_train_batch_end(self, batch, logs=None):
        self.norms.append(max(n.max() for n in kernel_norms(self.model)))
        self.biases.append(self.model.layers[-1].bias.numpy().min())


@pytest.mark.parametrize("make_optimizer", OPTIMIZERS, ids=["SGD", "Adam", "AdamW", "RMSprop"])
def test_fit_keeps_every_norm_within_max_value_after_every_step(make_optimizer):
    """With large steps the unconstrained kernels outgrow the bound; with MaxNorm every norm stays <= max_value
    after each of fit's steps (every optimizer), and NonNeg keeps the bias >= 0."""
    x, y = data()
    free = constrained_model(0.4)
    for layer in free.layers:
        if isinstance(layer, (Conv2D, Dense)):
            for weight in layer.weights:
                weight.constraint = None
    free.compile(make_optimizer(), "sparse_categorical_crossentropy")
    free.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert max(n.max() for n in kernel_norms(free)) > 0.5
    model = constrained_model(0.4)
    model.compile(make_optimizer(), "sparse_categorical_crossentropy")
    check = StepCheck()
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[check])
    assert len(check.norms) == 8
    assert max(check.norms) <= 0.4 * (1 + 1e-5)
    assert min(check.biases) >= 0


def test_a_hand_written_loop_applies_the_constraints_after_each_step():
    """opt.step() with model.parameters() projects the weights as fit does; the weights stay leaves (the
    projection is not part of any graph) and keep their arrays."""
    x, y = data(8)
    model = constrained_model(0.3)
    opt = tc.optimizers.Adam(model.parameters(), learning_rate=0.5)
    kernel = model.layers[0].kernel
    buffer = kernel.data
    for _ in range(4):
        opt.zero_grad()
        loss = tc.losses.sparse_categorical_crossentropy(tc.Tensor(y), model(x), from_logits=True).mean()
        loss.backward()
        opt.step()
        assert max(n.max() for n in kernel_norms(model)) <= 0.3 * (1 + 1e-5)
        assert model.layers[-1].bias.numpy().min() >= 0
    assert kernel.is_leaf and kernel.data is buffer and kernel.requires_grad


def test_frozen_weights_and_weights_without_gradient_are_not_touched():
    """As in Keras, a constraint follows an update: a frozen layer's weights, and a bound weight that got no
    gradient, keep values that break their constraint."""
    x, y = data(8)
    model = constrained_model(0.3)
    frozen = model.layers[0]
    with tc.no_grad():
        frozen.kernel.copy_(frozen.kernel.numpy() * 10)
    frozen.trainable = False
    before = frozen.kernel.numpy().copy()
    model.compile(tc.optimizers.SGD(learning_rate=0.1), "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    np.testing.assert_array_equal(frozen.kernel.numpy(), before)
    assert kernel_norms(model)[0].max() > 0.3 and kernel_norms(model)[1].max() <= 0.3 * (1 + 1e-5)
    w = tc.layers.Dense(2, kernel_constraint="non_neg")
    w.build((None, 3))
    with tc.no_grad():
        w.kernel.copy_(-np.ones((3, 2)))
    opt = tc.optimizers.SGD([w.kernel, w.bias], learning_rate=0.1)
    w.bias.grad = tc.ones(2)
    opt.step()
    np.testing.assert_array_equal(w.kernel.numpy(), -np.ones((3, 2)))


def test_add_weight_takes_a_constraint_and_it_can_be_set_later():
    """A Keras-style custom layer: add_weight(..., constraint=...); weight.constraint can be set or cleared
    afterwards (a name works too), and a constraint that does not fit is refused when set."""
    class Scale(Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", constraint="non_neg", name="w")
            self.v = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="v")

        def call(self, x):
            return x * self.w + self.v

    layer = Scale(name="scale")
    x = tc.Tensor(np.ones((2, 3), np.float32))
    layer(x)
    assert layer.w.constraint == constraints.NonNeg() and layer.v.constraint is None
    layer.v.constraint = "unit_norm"
    opt = tc.optimizers.SGD(layer.parameters(), learning_rate=10.0)
    layer(x).sum().backward()
    opt.step()
    np.testing.assert_array_equal(layer.w.numpy(), np.zeros(3))   # 1 - 10 * 2 < 0, projected to 0
    np.testing.assert_allclose(np.linalg.norm(layer.v.numpy()), 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="unknown constraint 'nonneg'"):
        layer.v.constraint = "nonneg"
    with pytest.raises(ValueError, match=r"of scale/v \(shape \(3,\)\): MaxNorm: axis 1 is out of range"):
        layer.v.constraint = constraints.MaxNorm(axis=1)   # tried on the weight when set, not at the next step
    assert layer.v.constraint == constraints.UnitNorm()


def test_model_files_keep_the_constraints(tmp_path):
    """model.save / tc.load_model: the loaded model has the same constraints and goes on applying them."""
    x, y = data(8)
    model = constrained_model(0.5)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = tc.load_model(path)
    assert [w.constraint for w in loaded.weights] == [w.constraint for w in model.weights]
    assert loaded.layers[0].kernel_constraint == constraints.MaxNorm(0.5, [0, 1, 2])
    loaded.optimizer.learning_rate = 1.0
    loaded.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert max(n.max() for n in kernel_norms(loaded)) <= 0.5 * (1 + 1e-5)
    custom = tc.Sequential([tc.Input((3,)), Dense(2, kernel_constraint=lambda w: w.clip(-1, 1))])
    with pytest.raises(ValueError, match="custom callable, which a config cannot hold"):
        custom.save(tmp_path / "custom.npz")


def test_a_custom_constraint_subclass_runs_after_each_step():
    """Keras's documented way: subclass Constraint and define __call__(w) with Tensor ops."""
    class Clip(constraints.Constraint):
        def __call__(self, w):
            return w.clip(-0.05, 0.05)

    layer = Dense(2, kernel_constraint=Clip())
    x = tc.Tensor(np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32))
    opt = tc.optimizers.RMSprop(None, learning_rate=1.0)
    layer(x)
    opt.bind(layer.parameters())
    layer(x).sum().backward()
    opt.step()
    assert np.abs(layer.kernel.numpy()).max() <= 0.05 and np.abs(layer.kernel.numpy()).max() > 0.04
    assert Clip().get_config() == {} and repr(Clip()) == "Clip()"


def test_a_functional_model_with_two_inputs_trains_and_saves_its_constraints(tmp_path):
    """Constraints live on the weights, so tc.Model's functional graphs need nothing of their own."""
    a, b = tc.Input((4,)), tc.Input((3,))
    h = Dense(5, kernel_constraint=constraints.UnitNorm(), name="da")(a)
    g = Dense(5, kernel_constraint=constraints.NonNeg(), name="db")(b)
    model = tc.Model([a, b], Dense(1, name="out")(tc.layers.Add()([h, g])))
    model.compile(tc.optimizers.Adam(learning_rate=0.3), "mse")
    rng = np.random.default_rng(0)
    model.fit([rng.standard_normal((32, 4)), rng.standard_normal((32, 3))], rng.standard_normal((32, 1)), epochs=2,
              verbose=0)
    np.testing.assert_allclose(np.linalg.norm(model.get_layer("da").kernel.numpy(), axis=0), 1.0, rtol=1e-5)
    assert model.get_layer("db").kernel.numpy().min() >= 0
    model.save(tmp_path / "model.npz")
    loaded = tc.load_model(tmp_path / "model.npz")
    assert loaded.get_layer("da").kernel.constraint == constraints.UnitNorm()
    assert loaded.get_layer("db").kernel_constraint == constraints.NonNeg()


def prelu_fit(constraint, shared_axes, x, y, epochs=1, callbacks=()):
    """alpha after SGD on mse (one full batch per epoch, in order) of a model that is one PReLU (alpha 0.2)."""
    layer = tc.layers.PReLU(tc.initializers.Constant(0.2), None, constraint, shared_axes)
    model = tc.Sequential([tc.Input(x.shape[1:]), layer])
    model.compile(tc.optimizers.SGD(learning_rate=1.0), "mse")
    model.fit(x, y, batch_size=len(x), epochs=epochs, shuffle=False, verbose=0, callbacks=list(callbacks))
    return layer.alpha.numpy()


@settings(max_examples=15)
@given(st.integers(0, 2**31), st.sampled_from([None, [1], [1, 2], [3], [1, 2, 3]]))
def test_prelu_alpha_constraint_projects_alpha_after_each_fit_step(seed, shared_axes):
    """Keras 3's PReLU(alpha_initializer, alpha_regularizer, alpha_constraint, shared_axes): after one SGD step
    alpha is max(alpha without the constraint, 0); through several epochs it never goes below 0."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((6, 3, 3, 2)).astype(np.float32)
    y = x * rng.choice([-2.0, 2.0], size=(1, 3, 3, 2)).astype(np.float32)  # a slope of -2 pulls alpha below 0
    free = prelu_fit(None, shared_axes, x, y)
    np.testing.assert_array_equal(prelu_fit("non_neg", shared_axes, x, y), np.maximum(free, 0))

    class AlphaCheck(tc.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            assert self.model.layers[0].alpha.numpy().min() >= 0

    assert prelu_fit(constraints.NonNeg(), shared_axes, x, y, epochs=4, callbacks=[AlphaCheck()]).min() >= 0


def test_prelu_alpha_constraint_in_keras_position_config_and_model_file(tmp_path):
    assert list(inspect.signature(tc.layers.PReLU).parameters)[:4] == [
        "alpha_initializer", "alpha_regularizer", "alpha_constraint", "shared_axes"]
    layer = tc.layers.PReLU("ones", "l2", "non_neg", [1, 2], name="p")
    assert layer.alpha_constraint == constraints.NonNeg() and layer.shared_axes == [1, 2]
    model = tc.Sequential([tc.Input((3, 3, 4)), layer,
                           tc.layers.PReLU(alpha_constraint=constraints.MaxNorm(1.5, axis=[0, 1]), name="q")])
    assert layer.alpha.constraint == constraints.NonNeg() and layer.alpha.shape == (1, 1, 4)
    config = json.loads(json.dumps(layer.get_config()))
    assert config["alpha_constraint"] == constraints.serialize(constraints.NonNeg())
    assert tc.layers.PReLU.from_config(config).get_config() == layer.get_config()
    assert tc.layers.PReLU().get_config()["alpha_constraint"] is None
    model.save(tmp_path / "model.npz")
    loaded = tc.load_model(tmp_path / "model.npz")
    assert loaded.get_layer("p").alpha.constraint == constraints.NonNeg()
    assert loaded.get_layer("q").alpha_constraint == constraints.MaxNorm(1.5, axis=[0, 1])
    with pytest.raises(ValueError, match=r"^PReLU: alpha_constraint: unknown constraint 'nonneg'"):
        tc.layers.PReLU(alpha_constraint="nonneg")
    with pytest.raises(ValueError, match=r"^PReLU 'r': the constraint MaxNorm.* of r/alpha \(shape \(1, 1, 4\)\): "
                                         r"MaxNorm: axis 3 is out of range"):
        tc.Sequential([tc.Input((3, 3, 4)), tc.layers.PReLU(alpha_constraint=constraints.MaxNorm(axis=3),
                                                            shared_axes=[1, 2], name="r")])
