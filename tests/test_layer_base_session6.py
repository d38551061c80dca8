"""Layer's base behaviour completed in session 6: the output shape of a layer of your own found by running its
call (Keras's compute_output_spec), strict flags, build from a list or dict of shapes, dict inputs, and
InputLayer(input_shape=...)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn import layers


class RowSum(layers.Layer):
    """A layer of your own that changes the shape, with no build and no compute_output_shape."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.calls = 0

    def call(self, x):
        self.calls += 1
        return x.sum(axis=-1, keepdims=True)


class Halves(layers.Layer):
    """Splits the last axis in two: several outputs, found by the trace as a list."""

    def call(self, x):
        n = x.shape[-1] // 2
        return [x[..., :n], x[..., n:]]


class Pair(layers.Layer):
    """A Keras-style layer on two inputs: build gets the list of shapes and makes a weight from the first."""

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[0][-1], input_shape[1][-1]), initializer="ones", name="w")

    def call(self, inputs):
        a, b = inputs
        return a @ self.w * b


class TwoInputs(tc.Model):
    """A subclassed model whose call takes a list of an image batch and a feature batch."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.flat = layers.Conv2D(2, 3), layers.Flatten()
        self.dense, self.out = layers.Dense(4), layers.Dense(1)

    def call(self, inputs):
        image, features = inputs
        return self.out(layers.concatenate([self.flat(self.conv(image)), self.dense(features)]))


class KeyedSum(layers.Layer):
    """A layer of your own whose call takes a dict of inputs."""

    def call(self, inputs):
        return inputs["a"].sum(axis=-1, keepdims=True) + inputs["b"]


class KeyedModel(tc.Model):
    """A subclassed model whose call reads a dict of inputs by key."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = layers.Dense(4), layers.Dense(4)

    def call(self, inputs):
        return self.a(inputs["a"]) + self.b(inputs["b"])


# --- 1. the output shape of a layer of your own ---
@settings(max_examples=15)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=3), st.integers(1, 3))
def test_a_layer_of_your_own_gets_the_output_shape_its_call_gives(sample, batch):
    x = tc.Input(tuple(sample))
    h = RowSum()(x)
    real = RowSum()(np.ones((batch, *sample), np.float32))
    assert h.shape == (None, *real.shape[1:]) == (None, *sample[:-1], 1)


def test_a_sequential_builds_the_next_layer_for_the_traced_shape():
    model = tc.Sequential([tc.Input((3,)), RowSum(), layers.Dense(2)])
    assert model.layers[0].output_shape == (None, 1)
    assert model.layers[1].weights[0].shape == (1, 2)   # Dense built for 1 feature, not 3
    assert model.output_shape == (None, 2)
    assert model(np.ones((5, 3), np.float32)).shape == (5, 2)


def test_the_trace_gives_several_outputs_and_leaves_modes_and_real_calls_alone():
    first, second = Halves()(tc.Input((6,)))
    assert first.shape == second.shape == (None, 3)
    layer = RowSum()
    layer.train()
    assert layer(tc.Input((4,))).shape == (None, 1) and layer.training   # the mode is restored
    traced = layer.calls
    layer(np.ones((2, 4), np.float32))
    layer(np.ones((2, 4), np.float32))
    assert layer.calls == traced + 2   # built: a real call runs call once, no trace


def test_the_trace_on_zeros_warns_of_nothing():
    class Shares(layers.Layer):
        def call(self, x):
            return (x / x.sum(axis=-1, keepdims=True))[..., :2]   # 0 / 0 on the zero sample

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Shares()(tc.Input((3,))).shape == (None, 2)


def test_unknown_sizes_the_trace_cannot_fill_ask_for_compute_output_shape():
    with pytest.raises(ValueError, match=r"RowSum.*\(None, None, 3\).*compute_output_shape.*keeps_shape"):
        RowSum()(tc.Input((None, 3)))

    class Doubled(layers.Layer):
        keeps_shape = True

        def call(self, x):
            return x * 2

    assert Doubled()(tc.Input((None, 3))).shape == (None, None, 3)   # declared: no trace needed
    # the built-in layers that keep the shape declare it, so sizes may stay unknown
    y = layers.BatchNormalization()(layers.Dropout(0.5)(layers.ReLU()(tc.Input((None, None, 3)))))
    assert y.shape == (None, None, None, 3)


def test_a_layer_with_its_own_compute_output_shape_is_not_traced():
    class Declared(RowSum):
        def compute_output_shape(self, input_shape):
            return (*input_shape[:-1], 1)

    layer = Declared()
    assert layer(tc.Input((None, 3))).shape == (None, None, 1) and layer.calls == 0


# --- 2. flags ---
@pytest.mark.parametrize("value", ["no", "False", 1, 0, None])
def test_trainable_must_be_a_bool(value):
    layer = layers.Dense(2)
    with pytest.raises(TypeError, match=r"Dense 'dense.*': trainable must be True or False, got"):
        layer.trainable = value
    assert layer.trainable is True
    layer.trainable = np.bool_(False)
    assert layer.trainable is False


@pytest.mark.parametrize("value", ["yes", "False", 1, 0.0])
def test_training_must_be_a_bool_or_none(value):
    layer = layers.Dropout(0.5)
    with pytest.raises(TypeError, match=r"Dropout .*training=None.*training must be True or False, got"):
        layer(np.ones((2, 3), np.float32), training=value)
    with pytest.raises(TypeError, match="training must be True or False"):
        layer(tc.Input((3,)), training=value)
    x = np.ones((50, 40), np.float32)
    assert np.array_equal(layer(x, training=None).numpy(), x)   # None: the layer's own mode (inference)
    assert not np.array_equal(layer(x, training=np.bool_(True)).numpy(), x)


# --- 3. build from a list (or dict) of shapes ---
def test_a_subclassed_model_on_two_inputs_builds_from_a_list_of_shapes():
    model = TwoInputs()
    model.build([(None, 8, 8, 1), (None, 3)])
    assert model.built and model.output_shape == (None, 1)
    assert [w.shape for w in model.weights] == [(3, 3, 1, 2), (2,), (3, 4), (4,), (6 * 6 * 2 + 4, 1), (1,)]
    image, features = np.ones((2, 8, 8, 1), np.float32), np.ones((2, 3), np.float32)
    assert model([image, features]).shape == (2, 1)
    model.compile(optimizer="sgd", loss="mse")
    model.fit([image, features], np.zeros((2, 1), np.float32), epochs=1, verbose=0)


def test_merge_layers_build_from_a_list_of_shapes_and_stay_unbuilt_on_a_bad_one():
    add = layers.Add()
    add.build([(None, 3), (None, 1)])
    assert add.built and add.input_shape == [(None, 3), (None, 1)] and add.output_shape == (None, 3)
    bad = layers.Concatenate()
    with pytest.raises(ValueError, match="Concatenate"):
        bad.build([(None, 3, 2), (None, 4, 5)])
    assert not bad.built
    with pytest.raises(ValueError, match="list of tensors"):
        layers.Add().build((None, 3))


@pytest.mark.parametrize("make", [lambda: layers.Dense(2), lambda: layers.Dropout(0.5), lambda: layers.Flatten()])
def test_a_built_in_layer_that_takes_one_tensor_refuses_a_list_of_shapes(make):
    layer = make()
    with pytest.raises(TypeError, match=r"takes one tensor, but got a list of shapes \[\(None, 3\), \(None, 3\)\]"):
        layer.build([(None, 3), (None, 3)])
    assert not layer.built


def test_a_keras_style_build_gets_the_list_of_shapes():
    a, b = tc.Input((3,)), tc.Input((2,))
    layer = Pair()
    y = layer([a, b])
    assert y.shape == (None, 2) and layer.w.shape == (3, 2)
    model = tc.Model([a, b], y)
    out = model([np.ones((4, 3), np.float32), np.full((4, 2), 2, np.float32)]).numpy()
    np.testing.assert_allclose(out, np.full((4, 2), 6.0))


# --- 4. a dict of inputs ---
def test_a_layer_of_your_own_takes_a_dict_of_inputs():
    layer = KeyedSum()
    y = layer({"a": tc.Input((3,)), "b": tc.Input((1,))})
    assert y.shape == (None, 1)
    a, b = np.arange(6, dtype=np.float32).reshape(2, 3), np.ones((2, 1), np.float32)
    np.testing.assert_allclose(layer({"a": a, "b": b}).numpy(), a.sum(-1, keepdims=True) + b)


def test_a_built_in_layer_given_a_dict_says_it_takes_one_tensor():
    with pytest.raises(TypeError, match=r"Dense 'dense.*' takes one tensor, but was called on a dict with the keys "
                                        r"\['a'\].*Concatenate"):
        layers.Dense(2)({"a": np.ones((2, 3), np.float32)})


def test_a_subclassed_model_builds_from_a_dict_of_symbolic_inputs():
    model = KeyedModel()
    y = model({"a": tc.Input((3,)), "b": tc.Input((5,))})
    assert y.shape == (None, 4) and model.input_shape == {"a": (None, 3), "b": (None, 5)}
    assert [w.shape for w in model.weights] == [(3, 4), (4,), (5, 4), (4,)]


def test_a_subclassed_model_builds_from_a_dict_of_shapes():
    model = KeyedModel()
    model.build({"a": (None, 3), "b": (None, 5)})
    assert model.output_shape == (None, 4)


def test_a_subclassed_model_runs_on_a_dict_of_arrays():
    model = KeyedModel()
    a, b = np.ones((2, 3), np.float32), np.ones((2, 5), np.float32)
    y = model({"a": a, "b": b})
    np.testing.assert_allclose(y.numpy(), model.a(a).numpy() + model.b(b).numpy(), rtol=1e-6)


# --- 5. InputLayer(input_shape=...) ---
def test_input_layer_takes_kerass_older_input_shape():
    with pytest.warns(DeprecationWarning, match="use shape"):
        layer = layers.InputLayer(input_shape=(3,))
    assert layer.shape == (None, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        model = tc.Sequential([layers.InputLayer(input_shape=(4,)), layers.Dense(2)])
        assert model.output_shape == (None, 2)
        with pytest.raises(ValueError, match="not input_shape as well"):
            layers.InputLayer((2,), input_shape=(3,))
