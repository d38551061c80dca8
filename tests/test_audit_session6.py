"""Session 6's acceptance audit: constraints, configs.Family and layers that hold layers, called the way Keras
and PyTorch users call them; each test failed on the code it was written against."""
from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn import constraints, initializers, regularizers
from tinygrad_cnn.layers import BatchNormalization, Dense, Layer

FAMILIES = {initializers: initializers.HeNormal, regularizers: regularizers.L2, constraints: constraints.MaxNorm}


@pytest.mark.parametrize("family", list(FAMILIES), ids=lambda m: m.__name__.rpartition(".")[2])
@pytest.mark.parametrize("other", list(FAMILIES), ids=lambda m: m.__name__.rpartition(".")[2])
@pytest.mark.parametrize("as_class", [False, True], ids=["instance", "class"])
def test_an_object_of_another_family_is_refused_by_name(family, other, as_class):
    """A MaxNorm given as a regularizer used to be taken as a callable: fit added a (3, 2) 'penalty'."""
    if family is other:
        return
    given_object = FAMILIES[other] if as_class else FAMILIES[other]()
    noun = other.__name__.rpartition(".")[2][:-1]   # "constraint", "regularizer", "initializer"
    wanted = family.__name__.rpartition(".")[2][:-1]
    with pytest.raises(TypeError, match=rf"is an? {noun}, not an? {wanted}.*tc\.{family.__name__.rpartition('.')[2]}"):
        family.get(given_object)


def test_a_constraint_given_as_kernel_regularizer_is_refused_before_training():
    with pytest.raises(TypeError, match=r"^Dense: kernel_regularizer: .*MaxNorm.* is a constraint, not a regularizer"):
        Dense(2, kernel_regularizer=constraints.MaxNorm())
    with pytest.raises(TypeError, match=r"^Dense: kernel_constraint: .*L2.* is a regularizer, not a constraint"):
        Dense(2, kernel_constraint=regularizers.L2())


class Head(Layer):
    """A Keras-style layer: its own weight made in build(), on top of a layer it is given (maybe pretrained)."""

    def __init__(self, base, units, **kwargs):
        super().__init__(**kwargs)
        self.base, self.units = base, units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(self.base.units, self.units), initializer="ones", name="w")

    def call(self, x):
        return self.base(x) @ self.w


@settings(max_examples=10, deadline=None)
@given(st.integers(1, 4), st.integers(1, 3), st.booleans())
def test_build_runs_for_a_layer_that_holds_an_already_built_layer(features, units, in_model):
    """A held layer built before (shared, pretrained) does not mean build() was called by hand."""
    base = Dense(3, kernel_initializer="ones")
    base(np.zeros((1, features), np.float32))   # built: pretrained, or shared with another model
    head = Head(base, units)
    x = np.random.default_rng(features).standard_normal((2, features)).astype(np.float32)
    if in_model:
        model = tc.Sequential([tc.Input((features,)), head])
        assert model.output_shape == (None, units)
        y = model(x)
    else:
        y = head(x)
    np.testing.assert_allclose(y.data, np.repeat(x.sum(1, keepdims=True) * 3, units, 1), rtol=1e-5)
    assert [key for key, _ in head.named_parameters()] == ["w", "base/kernel", "base/bias"]


def test_build_by_hand_still_runs_once():
    class Lazy(Layer):
        def build(self, input_shape):
            self.dense = Dense(2)
            self.dense.build(input_shape)

        def call(self, x):
            return self.dense(x)

    lazy = Lazy()
    lazy.build((None, 3))
    dense = lazy.dense
    assert lazy(np.ones((1, 3), np.float32)).shape == (1, 2) and lazy.dense is dense
    head = Head(Dense(3), 2)
    head.base.build((None, 4))
    head.build((None, 4))
    weight = head.w
    assert head(np.ones((1, 4), np.float32)).shape == (1, 2) and head.w is weight and len(head.weights) == 3


def test_an_attribute_error_inside_a_property_is_not_hidden():
    """Layer.__getattr__ (for a forgotten super().__init__) used to replace it with 'no attribute <property>'."""
    class Scaled(Layer):
        @property
        def scale(self):
            return self.factor * 2   # `factor` was never set

        def call(self, x):
            return x * self.scale

    with pytest.raises(AttributeError, match="'factor'"):
        Scaled()(np.ones((1, 2), np.float32))
    with pytest.raises(AttributeError, match="'factor'"):
        getattr(Scaled(), "scale")  # noqa: B009 (the attribute read is the point)


def test_batch_normalization_takes_keras_regularizers_before_its_constraints():
    """Keras 3's order: ..., moving_variance_initializer, beta_regularizer, gamma_regularizer, beta_constraint,
    gamma_constraint; the regularizers put their penalties in `losses`, and configs keep them."""
    names = list(inspect.signature(BatchNormalization).parameters)
    assert names[8:13] == ["moving_variance_initializer", "beta_regularizer", "gamma_regularizer",
                           "beta_constraint", "gamma_constraint"]
    layer = BatchNormalization(beta_regularizer=regularizers.L1(0.5), gamma_regularizer="l2")
    layer.build((None, 3))
    layer.beta.data[...] = [1.0, -2.0, 3.0]
    penalties = sorted(float(p.data) for p in layer.losses)
    np.testing.assert_allclose(penalties, sorted([0.5 * 6.0, 0.01 * 3.0]), rtol=1e-6)
    copy = BatchNormalization.from_config(layer.get_config())
    assert copy.beta_regularizer == regularizers.L1(0.5) and copy.gamma_regularizer == regularizers.L2(0.01)
    layer.trainable = False
    assert layer.losses == []
    with pytest.raises(ValueError, match=r"^BatchNormalization: beta_regularizer: unknown regularizer"):
        BatchNormalization(beta_regularizer="l3")


def test_load_state_dict_takes_the_keys_state_dict_gave_before_they_were_paths():
    """A nested model's state_dict was keyed by the weights' own names ("din/kernel"), now by paths
    ("inner/din/kernel"); such a dict (e.g. np.savez(**model.state_dict()) of an older version) still loads."""
    def model():
        inner = tc.Sequential([Dense(4, name="din"), BatchNormalization(name="bn")], name="inner")
        return tc.Sequential([tc.Input((3,)), inner, Dense(2, name="dout")])

    source, target = model(), model()
    for weight in source.weights:
        weight.data[...] = np.random.default_rng(weight.size).standard_normal(weight.shape)
    older = {w.name: w.data.copy() for w in source.weights}
    assert set(older) != set(source.state_dict())
    assert target.load_state_dict(older) == ([], [])
    for mine, theirs in zip(target.weights, source.weights, strict=True):
        np.testing.assert_array_equal(mine.data, theirs.data)
    with pytest.raises(KeyError, match="missing weights"):   # a partial dict of such names is still refused
        target.load_state_dict({key: older[key] for key in list(older)[:3]})


def test_keras_variable_lists_are_the_weight_lists():
    """Keras 3's custom loops read layer.trainable_variables (its weights are Variables, as ours now are)."""
    model = tc.Sequential([tc.Input((3,)), Dense(4, kernel_constraint="non_neg"), BatchNormalization(), Dense(2)])
    model.layers[-1].trainable = False
    assert model.variables == model.weights and len(model.variables) == 8
    assert model.trainable_variables == model.trainable_weights and len(model.trainable_variables) == 4
    assert model.non_trainable_variables == model.non_trainable_weights
    assert all(isinstance(w, tc.layers.base.Variable) for w in model.variables)
    assert model.trainable_variables[0].constraint == constraints.NonNeg()


@pytest.mark.parametrize("load", ["load_model", "load_weights"])
def test_files_of_nested_models_written_before_nested_keys_load(load):
    """A Sequential inside a Sequential, saved at c4dd398 (weights keyed by their own names, 'din/kernel', not
    'inner/din/kernel'): tc.load_model and load_weights read it, and it computes what its weights say."""
    data = Path(__file__).parent / "data"
    if load == "load_model":
        model = tc.load_model(data / "nested_sequential_c4dd398.npz")
    else:
        inner = tc.Sequential([Dense(4, name="din")], name="inner")
        model = tc.Sequential([tc.Input((3,)), inner, Dense(2, name="dout")])
        model.load_weights(data / "nested_sequential_weights_c4dd398.npz")
    stored = np.load(data / "nested_sequential_c4dd398.npz")
    w = {name: stored[f"weights/{name}"] for name in ("din/kernel", "din/bias", "dout/kernel", "dout/bias")}
    x = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    expected = (x @ w["din/kernel"] + w["din/bias"]) @ w["dout/kernel"] + w["dout/bias"]   # two linear layers
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-5, atol=1e-6)
