"""Subclassed models with several inputs and outputs train as Keras 3's do (outputs named by what call
returns: a dict's keys, sorted, or output_0, output_1, ... for a list; compile's per-output arguments
matched when the first batch names them), and a one-element list is the input of a one-input model."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn import layers, optimizers

CE = tc.losses.SparseCategoricalCrossentropy(from_logits=True)
NAMES = ["hidden", "digit_head", "meta_head", "parity"]


def functional(as_list):
    """Inputs (n, 5) and (n, 2); outputs "digit" (3 logits) and "parity" (a probability)."""
    image, meta = tc.Input((5,), name="image"), tc.Input((2,), name="meta")
    h = layers.Dense(4, activation="tanh", name="hidden")(image)
    heads = [layers.Dense(3, name="digit_head")(h), layers.Dense(3, use_bias=False, name="meta_head")(meta)]
    digit = layers.Add()(heads)
    parity = layers.Dense(1, activation="sigmoid", name="parity")(h)
    return tc.Model([image, meta], [digit, parity] if as_list else {"digit": digit, "parity": parity})


class TwoByTwo(tc.Model):
    """The same network written as a subclass: call takes [image, meta] and returns a list or a dict."""

    def __init__(self, as_list):
        super().__init__()
        self.as_list = as_list
        self.hidden = layers.Dense(4, activation="tanh", name="hidden")
        self.heads = [layers.Dense(3, name="digit_head"), layers.Dense(3, use_bias=False, name="meta_head")]
        self.parity = layers.Dense(1, activation="sigmoid", name="parity")

    def call(self, inputs, training=False):
        image, meta = inputs
        h = self.hidden(image)
        digit, parity = self.heads[0](h) + self.heads[1](meta), self.parity(h)
        return [digit, parity] if self.as_list else {"parity": parity, "digit": digit}  # keys out of order


def data(n, seed):
    rng = np.random.default_rng(seed)
    image, meta = rng.standard_normal((n, 5)).astype(np.float32), rng.standard_normal((n, 2)).astype(np.float32)
    digit = rng.integers(0, 3, n)
    return [image, meta], [digit, (digit % 2).astype(np.float32)[:, None]]


def weights(model):
    return [w.data.copy() for name in NAMES for w in model.get_layer(name).weights]


def copy_weights(source, target):
    for name in NAMES:
        target.get_layer(name).set_weights(source.get_layer(name).get_weights())


@settings(max_examples=6, deadline=None)
@given(as_list=st.booleans(), seed=st.integers(0, 2**16), n=st.integers(5, 30), batch_size=st.integers(1, 12),
       weight=st.floats(0.1, 2.0))
def test_a_subclassed_model_trains_exactly_as_the_functional_one(as_list, seed, n, batch_size, weight):
    x, y = data(n, seed)
    twin, model = functional(as_list), TwoByTwo(as_list)
    keys = ["output_0", "output_1"] if as_list else ["digit", "parity"]
    # compiled before it is built: the per-output arguments wait for the names its first batch gives
    per_output = (lambda values: values) if as_list else (lambda values: dict(zip(keys, values, strict=True)))
    model.compile(optimizers.SGD(learning_rate=0.1, momentum=0.5), per_output([CE, "binary_crossentropy"]),
                  per_output([1.0, weight]), metrics=per_output([["accuracy"], ["mae"]]))
    twin.compile(optimizers.SGD(learning_rate=0.1, momentum=0.5), per_output([CE, "binary_crossentropy"]),
                 per_output([1.0, weight]), metrics=per_output([["accuracy"], ["mae"]]))
    model(x)   # built by its first call; then both start from the same weights
    copy_weights(twin, model)
    targets = y if as_list else dict(zip(keys, y, strict=True))
    runs = []
    for m in (twin, model):
        tc.manual_seed(seed)   # the same shuffled order
        runs.append(m.fit(x, targets, batch_size=batch_size, epochs=2, validation_split=0.2, verbose=0).history)
    assert model.input_names == ["input_0", "input_1"] and model.output_names == keys
    for a, b in zip(weights(twin), weights(model), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    names = dict(zip(twin.output_names, keys, strict=True))
    renamed = {k.replace(old, new, 1) if not k.startswith("val_") else "val_" + k[4:].replace(old, new, 1): v
               for k, v in runs[0].items() for old, new in names.items() if old in k}
    renamed.update({k: v for k, v in runs[0].items() if k in ("loss", "val_loss")})
    assert renamed.keys() == runs[1].keys()
    for key, values in runs[1].items():
        np.testing.assert_allclose(values, renamed[key], rtol=1e-5, err_msg=key)
    prediction = model.predict(x, verbose=0)
    expected = twin.predict(x, verbose=0)
    if as_list:
        assert isinstance(prediction, list) and len(prediction) == 2
    else:
        assert isinstance(prediction, dict) and sorted(prediction) == keys
        prediction, expected = [prediction[k] for k in keys], [expected[k] for k in keys]
    for a, b in zip(expected, prediction, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.evaluate(x, targets, verbose=0), twin.evaluate(x, targets, verbose=0), rtol=1e-5)


def test_an_unbuilt_subclassed_model_fits_from_lists_and_names_its_outputs():
    x, y = data(12, 1)
    model = TwoByTwo(as_list=False)
    model.compile("adam", {"digit": CE, "parity": "mse"})
    assert model.output_names == ["output"]   # not named before its first batch
    history = model.fit(x, {"digit": y[0], "parity": y[1]}, epochs=1, verbose=0).history
    assert sorted(history) == ["digit_loss", "loss", "parity_loss"]
    assert model.output_names == ["digit", "parity"] and isinstance(model.loss, dict)
    # y as a list follows the sorted keys, as Keras 3 flattens a dict
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), model.evaluate(x, {"digit": y[0], "parity": y[1]},
                                                                                verbose=0))


def test_compile_arguments_that_do_not_fit_the_outputs_fail_when_the_names_are_known():
    x, y = data(8, 2)
    model = TwoByTwo(as_list=False)
    model.compile("adam", {"digit": CE, "party": "mse"})   # accepted now: the names are not known yet
    with pytest.raises(ValueError, match=r"no output named \['party'\].*first batch names them: \['digit', 'parity'\]"):
        model.fit(x, {"digit": y[0], "parity": y[1]}, verbose=0)
    listed = TwoByTwo(as_list=True)
    listed.compile("adam", [CE, "mse", "mse"])
    with pytest.raises(ValueError, match=r"2 outputs \['output_0', 'output_1'\].*list of 2 entries.*length 3"):
        listed.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match="unknown loss .nope."):
        TwoByTwo(as_list=True).compile("adam", [CE, "nope"])   # a wrong name is still refused at once
    with pytest.raises(ValueError, match="gives no output a loss"):
        TwoByTwo(as_list=True).compile("adam", [None, None])


class OneIn(tc.Model):
    def __init__(self):
        super().__init__()
        self.dense = layers.Dense(2)

    def call(self, x, training=False):
        return self.dense(x)


def one_input_models():
    x = tc.Input((3,), name="features")
    return {"sequential": tc.Sequential([tc.Input((3,)), layers.Dense(2)]),
            "unbuilt sequential": tc.Sequential([layers.Dense(2)]),
            "functional": tc.Model(x, layers.Dense(2)(x)), "subclassed": OneIn()}


@pytest.mark.parametrize("kind", ["sequential", "unbuilt sequential", "functional", "subclassed"])
@pytest.mark.parametrize("wrap", [list, tuple])
def test_a_one_element_list_is_the_input_of_a_one_input_model(kind, wrap):
    model = one_input_models()[kind]
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((10, 3)).astype(np.float32), rng.standard_normal((10, 2)).astype(np.float32)
    model.compile(optimizers.SGD(learning_rate=0.1), "mse")
    np.testing.assert_array_equal(model(wrap([x])).numpy(), model(x).numpy())
    np.testing.assert_array_equal(model.predict(wrap([x]), verbose=0), model.predict(x, verbose=0))
    assert model.evaluate(wrap([x]), wrap([y]), verbose=0) == model.evaluate(x, y, verbose=0)
    before = model.get_weights()
    model.fit(wrap([x]), wrap([y]), shuffle=False, verbose=0, batch_size=10)
    after = model.get_weights()
    model.set_weights(before)
    model.fit(x, y, shuffle=False, verbose=0, batch_size=10)
    for a, b in zip(after, model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert model.input_names != ["input_0"]


def test_a_dict_by_the_input_name_and_lists_of_samples_keep_working():
    model = one_input_models()["functional"]
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(model.predict({"features": x}, verbose=0), model.predict(x, verbose=0))
    sequential = tc.Sequential([layers.Dense(2)])
    assert sequential([np.ones(3), np.zeros(3)]).shape == (2, 2)   # several samples: one batch, as before
    with pytest.raises(ValueError, match=r"expects at least 2-D input.*got shape \(3,\)"):
        sequential([np.ones(3)])   # one array: the input itself (Keras 3), here without its batch axis


def test_a_subclassed_model_passes_a_dict_to_its_call():
    """Keras 3 hands a dict of inputs to call as it is: a call that reads one tensor then meets the dict in its
    first layer, which says so."""
    with pytest.raises(TypeError, match=r"takes one tensor, but was called on a dict with the keys \['a'\]"):
        OneIn()({"a": np.ones((2, 3))})
