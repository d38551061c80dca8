"""Layers: forward and gradients against PyTorch, shapes, names, weights, configs and every bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import require_torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn import initializers
from tinygrad_cnn.layers import (
    Activation,
    AveragePooling2D,
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    MaxPooling2D,
    ReLU,
    Softmax,
    activations,
)
from tinygrad_cnn.mode import MODE

seeds = st.integers(0, 2**32 - 1)


@pytest.fixture(autouse=True)
def fresh_names():
    """Default names (conv2d, conv2d_1, ...) start afresh in every test."""
    tc.clear_session()


def backward_with(y: tc.Tensor, seed: int) -> np.ndarray:
    """Back-propagate a random upstream gradient through y; returns it (for PyTorch to use too)."""
    upstream = np.random.default_rng(seed).standard_normal(y.shape).astype(y.dtype)
    y.backward(upstream)
    return upstream


def close(ours: tc.Tensor | np.ndarray, theirs, tol: float = 1e-4) -> None:
    ours = ours.data if isinstance(ours, tc.Tensor) else ours
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=tol, atol=tol)


# --- Conv2D against torch.nn.functional.conv2d ---
conv_cases = st.fixed_dictionaries({
    "batch": st.integers(1, 3), "height": st.integers(5, 9), "width": st.integers(5, 9),
    "groups": st.sampled_from([1, 2]), "channels_per_group": st.integers(1, 3), "filters_per_group": st.integers(1, 3),
    "kernel": st.tuples(st.integers(1, 3), st.integers(1, 3)),
    "strides": st.tuples(st.integers(1, 3), st.integers(1, 2)),
    "dilation": st.sampled_from([(1, 1), (2, 1)]), "padding": st.sampled_from(["valid", "same"]),
    "use_bias": st.booleans(), "seed": seeds,
})


@settings(max_examples=25)
@given(case=conv_cases)
def test_conv2d_forward_and_gradients_match_torch(case):
    torch = require_torch()
    F = torch.nn.functional
    channels, filters = case["groups"] * case["channels_per_group"], case["groups"] * case["filters_per_group"]
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["batch"], case["height"], case["width"], channels)).astype(np.float32)
    layer = Conv2D(filters, case["kernel"], strides=case["strides"], padding=case["padding"],
                   dilation_rate=case["dilation"], groups=case["groups"], use_bias=case["use_bias"],
                   bias_initializer="he_uniform" if case["use_bias"] else "zeros")
    xt = tc.Tensor(x, requires_grad=True)
    y = layer(xt)
    assert y.shape[1:] == layer.output_shape[1:] == layer.compute_output_shape((None, *x.shape[1:]))[1:]
    upstream = backward_with(y, case["seed"])

    # (N, H, W, C) -> (N, C, H, W); kernel (kh, kw, C/g, F) -> (F, C/g, kh, kw)
    x_torch = torch.tensor(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), requires_grad=True)
    w_torch = torch.tensor(np.ascontiguousarray(layer.kernel.data.transpose(3, 2, 0, 1)), requires_grad=True)
    b_torch = torch.tensor(layer.bias.data, requires_grad=True) if case["use_bias"] else None
    padded = x_torch
    if case["padding"] == "same":  # TensorFlow's "same": the odd pixel goes after
        pads = []
        for size, k, s, d in reversed(list(zip((case["height"], case["width"]), case["kernel"], case["strides"],
                                               case["dilation"], strict=True))):
            total = max((-(-size // s) - 1) * s + d * (k - 1) + 1 - size, 0)
            pads += [total // 2, total - total // 2]
        padded = F.pad(x_torch, pads)
    out = F.conv2d(padded, w_torch, b_torch, stride=case["strides"], dilation=case["dilation"], groups=case["groups"])
    out.backward(torch.tensor(np.ascontiguousarray(upstream.transpose(0, 3, 1, 2))))
    close(y.data.transpose(0, 3, 1, 2), out)
    close(xt.grad.data.transpose(0, 3, 1, 2), x_torch.grad)
    close(layer.kernel.grad.data.transpose(3, 2, 0, 1), w_torch.grad)
    if case["use_bias"]:
        close(layer.bias.grad, b_torch.grad)


def test_conv2d_channels_first_equals_channels_last():
    x = np.random.default_rng(0).standard_normal((2, 7, 6, 3)).astype(np.float32)
    last = Conv2D(4, 3, strides=2, padding="same")
    first = Conv2D(4, 3, strides=2, padding="same", data_format="channels_first")
    y_last = last(x)
    first.build((None, 3, 7, 6))
    first.set_weights(last.get_weights())
    y_first = first(x.transpose(0, 3, 1, 2))
    assert first.output_shape == (None, 4, 4, 3)
    np.testing.assert_allclose(y_first.data.transpose(0, 2, 3, 1), y_last.data, rtol=1e-5, atol=1e-6)


@settings(max_examples=20)
@given(seed=seeds, batch=st.integers(1, 4), features=st.integers(1, 6), units=st.integers(1, 5),
       lead=st.sampled_from([(), (3,)]), use_bias=st.booleans())
def test_dense_matches_torch_linear(seed, batch, features, units, lead, use_bias):
    torch = require_torch()
    x = np.random.default_rng(seed).standard_normal((batch, *lead, features)).astype(np.float32)
    layer = Dense(units, use_bias=use_bias, bias_initializer="glorot_uniform" if use_bias else "zeros")
    xt = tc.Tensor(x, requires_grad=True)
    y = layer(xt)
    assert y.shape == (batch, *lead, units)
    upstream = backward_with(y, seed + 1)
    x_torch = torch.tensor(x, requires_grad=True)
    w_torch = torch.tensor(layer.kernel.data.T.copy(), requires_grad=True)   # (in, units) -> (units, in)
    b_torch = torch.tensor(layer.bias.data, requires_grad=True) if use_bias else None
    out = torch.nn.functional.linear(x_torch, w_torch, b_torch)
    out.backward(torch.tensor(upstream))
    close(y, out)
    close(xt.grad, x_torch.grad)
    close(layer.kernel.grad.data.T, w_torch.grad)
    if use_bias:
        close(layer.bias.grad, b_torch.grad)


def test_dense_and_conv_gradcheck_in_float64():
    rng = np.random.default_rng(1)
    model = tc.Sequential([tc.Input((5, 5, 2)), Conv2D(3, 3, activation="tanh", padding="same", strides=2),
                           Flatten(), Dense(4, activation="softmax")]).double()
    x = tc.Tensor(rng.standard_normal((2, 5, 5, 2)), requires_grad=True)
    kernel, bias = model.layers[0].kernel, model.layers[-1].bias
    assert tc.gradcheck(lambda x, k, b: model(x), (x, kernel, bias))


# --- BatchNormalization against torch.nn.functional.batch_norm ---
@settings(max_examples=20)
@given(seed=seeds, shape=st.sampled_from([(4, 3), (3, 4, 5, 2), (2, 3, 3, 4)]), momentum=st.sampled_from([0.9, 0.99]),
       epsilon=st.sampled_from([1e-3, 1e-5]))
def test_batch_normalization_train_and_eval_match_torch(seed, shape, momentum, epsilon):
    torch = require_torch()
    F = torch.nn.functional
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3 + 1).astype(np.float32)
    layer = BatchNormalization(momentum=momentum, epsilon=epsilon, gamma_initializer="he_uniform",
                               beta_initializer="he_uniform")
    layer.build((None, *shape[1:]))
    mean0, var0 = rng.standard_normal(shape[-1]).astype(np.float32), rng.uniform(0.5, 2, shape[-1]).astype(np.float32)
    layer.set_weights([layer.gamma.data, layer.beta.data, mean0, var0])

    def to_torch(a: np.ndarray) -> np.ndarray:  # channels last -> channels at axis 1
        return np.moveaxis(a, -1, 1).copy()

    running_mean, running_var = torch.tensor(mean0), torch.tensor(var0)
    gamma = torch.tensor(layer.gamma.data, requires_grad=True)
    beta = torch.tensor(layer.beta.data, requires_grad=True)
    for training in (True, False):
        xt = tc.Tensor(x, requires_grad=True)
        y = layer(xt, training=training)
        layer.gamma.grad = layer.beta.grad = None
        gamma.grad = beta.grad = None
        upstream = backward_with(y, seed)
        x_torch = torch.tensor(to_torch(x), requires_grad=True)
        out = F.batch_norm(x_torch, running_mean, running_var, gamma, beta, training=training,
                           momentum=1 - momentum, eps=epsilon)  # PyTorch's momentum is 1 - Keras's
        out.backward(torch.tensor(to_torch(upstream)))
        close(to_torch(y.data), out)
        close(to_torch(xt.grad.data), x_torch.grad, tol=3e-4)
        close(layer.gamma.grad, gamma.grad, tol=3e-4)
        close(layer.beta.grad, beta.grad, tol=3e-4)
        close(layer.moving_mean, running_mean)
        close(layer.moving_variance, running_var)


def test_batch_normalization_counts_moving_statistics_as_non_trainable():
    layer = BatchNormalization()
    layer.build((None, 8, 8, 16))
    assert layer.count_params() == 64
    assert [w.name for w in layer.trainable_weights] == ["batch_normalization/gamma", "batch_normalization/beta"]
    assert [w.name for w in layer.non_trainable_weights] == ["batch_normalization/moving_mean",
                                                             "batch_normalization/moving_variance"]
    assert not any(w.requires_grad for w in layer.non_trainable_weights)


def test_frozen_batch_normalization_runs_in_inference_mode_like_keras():
    x = np.random.default_rng(4).standard_normal((6, 3)).astype(np.float32) * 3 + 2
    layer = BatchNormalization()
    layer(x, training=True)  # moves the statistics once
    statistics = [layer.moving_mean.data.copy(), layer.moving_variance.data.copy()]
    model = tc.Sequential([tc.Input((3,)), layer])
    model.trainable = False  # freezing the model freezes the layer
    np.testing.assert_array_equal(model(x, training=True).data, model(x, training=False).data)
    np.testing.assert_array_equal(layer.moving_mean.data, statistics[0])
    np.testing.assert_array_equal(layer.moving_variance.data, statistics[1])
    layer.trainable = True
    assert not np.array_equal(layer(x, training=True).data, layer(x, training=False).data)


def test_batch_normalization_refuses_an_empty_training_batch():
    layer = BatchNormalization()
    with pytest.raises(ValueError, match=r"BatchNormalization 'batch_normalization': an empty batch \(input shape "
                                         r"\(0, 4, 4, 2\)\) has no statistics"):
        layer(np.zeros((0, 4, 4, 2), np.float32), training=True)
    assert layer(np.zeros((0, 4, 4, 2), np.float32)).shape == (0, 4, 4, 2)  # inference needs no statistics


def test_batch_normalization_on_channels_first_axis():
    x = np.random.default_rng(3).standard_normal((4, 3, 5, 5)).astype(np.float32) * 2 + 5
    y = BatchNormalization(axis=1)(x, training=True).data
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), 1, atol=1e-2)


# --- Dropout ---
@settings(max_examples=15)
@given(seed=seeds, rate=st.sampled_from([0.1, 0.5, 0.8]))
def test_dropout_is_inverted_and_keeps_the_expectation(seed, rate):
    tc.manual_seed(seed)
    x = tc.Tensor(np.random.default_rng(seed + 1).uniform(1, 2, (200, 100)).astype(np.float32), requires_grad=True)
    layer = Dropout(rate)
    assert layer(x) is x  # inference by default, as in Keras
    y = layer.train()(x)
    kept = y.data != 0
    np.testing.assert_allclose(y.data[kept], x.data[kept] / (1 - rate), rtol=1e-6)
    assert abs(kept.mean() - (1 - rate)) < 0.02
    assert abs(y.data.mean() / x.data.mean() - 1) < 0.05  # E[y] = x
    upstream = backward_with(y, seed)
    np.testing.assert_allclose(x.grad.data, upstream * kept / (1 - rate), rtol=1e-6)
    assert layer(x, training=False) is x
    layer.eval()
    assert layer(x) is x
    assert layer(x, training=True).data.min() == 0


def test_dropout_follows_manual_seed():
    x = np.ones((8, 8), np.float32)
    tc.manual_seed(7)
    first = Dropout(0.5)(x, training=True).data
    tc.manual_seed(7)
    np.testing.assert_array_equal(Dropout(0.5)(x, training=True).data, first)


def test_dropout_noise_shape_and_seed_as_in_keras():
    """Dropout(rate, noise_shape=None, seed=None) is Keras's signature; noise_shape and seed were TypeErrors."""
    x = np.ones((4, 5, 5, 6), np.float32)
    channels = Dropout(0.5, noise_shape=(None, 1, 1, 6), seed=3)(x, training=True).data
    assert set(np.unique(channels)) <= {0.0, 2.0}
    assert (channels == channels[:, :1, :1, :]).all()  # one draw per sample and channel, shared over the map
    tc.manual_seed(0)
    first = Dropout(0.5, seed=11)(x, training=True).data
    tc.manual_seed(1)  # the global seed does not move a seeded layer
    np.testing.assert_array_equal(Dropout(0.5, seed=11)(x, training=True).data, first)
    layer = Dropout(0.3, noise_shape=(None, 1, 1, 6), seed=2)
    rebuilt = Dropout.from_config(json.loads(json.dumps(layer.get_config())))
    assert (rebuilt.noise_shape, rebuilt.seed) == ((None, 1, 1, 6), 2)
    with pytest.raises(ValueError, match=r"noise_shape \(None, 2, 1, 6\) does not fit the input shape \(4, 5, 5, 6\)"):
        Dropout(0.5, noise_shape=(None, 2, 1, 6))(x, training=True)
    with pytest.raises(ValueError, match="does not fit"):
        Dropout(0.5, noise_shape=(None, 1, 6))(x, training=True)
    with pytest.raises(TypeError, match="seed must be an int >= 0"):
        Dropout(0.5, seed=1.5)


# --- pooling and flatten wiring ---
@settings(max_examples=20)
@given(seed=seeds, size=st.tuples(st.integers(3, 9), st.integers(3, 9)), pool=st.integers(1, 3),
       strides=st.none() | st.integers(1, 3), padding=st.sampled_from(["valid", "same"]),
       cls=st.sampled_from([MaxPooling2D, AveragePooling2D]))
def test_pooling_layers_match_torch(seed, size, pool, strides, padding, cls):
    torch = require_torch()
    x = np.random.default_rng(seed).standard_normal((2, *size, 3)).astype(np.float32)
    layer = cls(pool, strides=strides, padding=padding)
    y = layer(x)
    assert y.shape[1:] == layer.output_shape[1:]
    if padding == "valid":
        op = torch.nn.functional.max_pool2d if cls is MaxPooling2D else torch.nn.functional.avg_pool2d
        out = op(torch.tensor(np.ascontiguousarray(x.transpose(0, 3, 1, 2))), pool, strides or pool)
        close(y.data.transpose(0, 3, 1, 2), out, tol=1e-5)


@pytest.mark.parametrize("cls, reduce", [(GlobalAveragePooling2D, np.mean), (GlobalMaxPooling2D, np.max)])
@pytest.mark.parametrize("data_format, axes", [("channels_last", (1, 2)), ("channels_first", (2, 3))])
def test_global_pooling(cls, reduce, data_format, axes):
    x = np.random.default_rng(0).standard_normal((2, 4, 5, 3)).astype(np.float32)
    layer = cls(data_format=data_format)
    np.testing.assert_allclose(layer(x).data, reduce(x, axis=axes), rtol=1e-6)
    assert layer.output_shape == (None, 3 if data_format == "channels_last" else 4)
    kept = cls(data_format=data_format, keepdims=True)
    assert kept(x).shape[1:] == kept.output_shape[1:]


def test_flatten_keeps_the_batch_and_orders_channels_first_like_keras():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    assert Flatten()(x).shape == (2, 60)
    np.testing.assert_array_equal(Flatten(data_format="channels_first")(x).data,
                                  x.transpose(0, 2, 3, 1).reshape(2, -1))
    assert Flatten().compute_output_shape((None, 3, 4, 5)) == (None, 60)


# --- activations ---
torch_activations = {
    "relu": lambda t, F: F.relu(t), "sigmoid": lambda t, F: t.sigmoid(), "tanh": lambda t, F: t.tanh(),
    "softmax": lambda t, F: F.softmax(t, dim=-1), "linear": lambda t, F: t,
    "leaky_relu": lambda t, F: F.leaky_relu(t, 0.2), "elu": lambda t, F: F.elu(t), "selu": lambda t, F: F.selu(t),
    "softplus": lambda t, F: F.softplus(t), "swish": lambda t, F: F.silu(t), "silu": lambda t, F: F.silu(t),
    "gelu": lambda t, F: F.gelu(t),
    "relu6": lambda t, F: F.relu6(t), "hard_sigmoid": lambda t, F: F.relu6(t + 3) / 6,  # F.hardsigmoid rounds 1/6
    "hard_silu": lambda t, F: t * F.relu6(t + 3) / 6, "hard_swish": lambda t, F: t * F.relu6(t + 3) / 6,
    "softsign": lambda t, F: F.softsign(t), "exponential": lambda t, F: t.exp(), "mish": lambda t, F: F.mish(t),
    "log_softmax": lambda t, F: F.log_softmax(t, dim=-1),
}


def test_every_activation_is_tested():
    assert set(torch_activations) == set(activations.ACTIVATIONS)


@pytest.mark.parametrize("name", sorted(torch_activations))
def test_activations_match_torch_and_finite_differences(torch, name):
    x = np.random.default_rng(5).standard_normal((3, 4)) * 3
    x[0, 0] = 40.0  # large values must not overflow
    xt = tc.Tensor(x, requires_grad=True)
    y = Activation(name)(xt)
    upstream = backward_with(y, 9)
    x_torch = torch.tensor(x, requires_grad=True)
    out = torch_activations[name](x_torch, torch.nn.functional)
    out.backward(torch.tensor(upstream))
    close(y, out, tol=1e-9)
    close(xt.grad, x_torch.grad, tol=1e-9)
    x[0, 0] = 0.3  # finite differences away from kinks
    assert tc.gradcheck(activations.get(name), (tc.Tensor(x, requires_grad=True),))


def test_activation_layers():
    x = np.array([[-3.0, -0.5, 0.5, 8.0]])
    np.testing.assert_allclose(ReLU()(x).data, np.maximum(x, 0))
    np.testing.assert_allclose(ReLU(max_value=6.0, negative_slope=0.1)(x).data, [[-0.3, -0.05, 0.5, 6.0]])
    np.testing.assert_allclose(ReLU(threshold=1.0)(x).data, [[0, 0, 0, 8.0]])
    np.testing.assert_allclose(Softmax(axis=0)(x).data, np.ones_like(x))
    np.testing.assert_allclose(Activation(lambda t: -t)(x).data, -x)
    assert Dense(2, activation="ReLU").activation is activations.relu


# --- names, scopes, weights ---
def test_default_names_are_unique_per_class_and_restart_after_clear_session():
    tc.clear_session()
    names = [layer.name for layer in (Conv2D(1, 1), Conv2D(1, 1), Dense(1), MaxPooling2D(), ReLU(),
                                      GlobalAveragePooling2D(), BatchNormalization(), Conv2D(1, 1, name="mine"))]
    assert names == ["conv2d", "conv2d_1", "dense", "max_pooling2d", "re_lu", "global_average_pooling2d",
                     "batch_normalization", "mine"]
    assert tc.Sequential().name == "sequential"
    tc.clear_session()
    layer = Conv2D(2, 3)
    assert layer.name == "conv2d"
    layer.build((None, 5, 5, 1))
    assert [w.name for w in layer.weights] == ["conv2d/kernel", "conv2d/bias"]


def test_ops_recorded_in_a_layer_call_point_to_its_scope():
    model = tc.Sequential([tc.Input((4,)), Dense(3, activation="relu")], name="net")
    y = model(tc.Tensor(np.ones((2, 4), np.float32)))
    scope = y.grad_fn.scope
    assert scope.owner is model.layers[0] and scope.kind == "Dense"
    assert scope.path == "net/" + model.layers[0].name
    assert MODE.scope is None


def test_get_and_set_weights_validate_before_changing_anything():
    layer = Conv2D(2, 3)
    layer.build((None, 6, 6, 1))
    kernel, bias = layer.get_weights()
    kernel[...] = 5  # a copy: the layer is unchanged
    assert not np.all(layer.kernel.data == 5)
    before = layer.get_weights()
    with pytest.raises(ValueError, match=r"conv2d.*kernel' has shape \(3, 3, 2, 2\) in the list but \(3, 3, 1, 2\)"):
        layer.set_weights([np.zeros((3, 3, 2, 2)), np.zeros(2)])
    with pytest.raises(ValueError, match="list of 2 arrays"):
        layer.set_weights([np.zeros((3, 3, 1, 2))])
    with pytest.raises(ValueError, match=r"2 arrays \(conv2d/kernel \(3, 3, 1, 2\), conv2d/bias \(2,\)\), got ndarray"):
        layer.set_weights(np.zeros((3, 3, 1, 2)))
    for old, now in zip(before, layer.get_weights(), strict=True):
        np.testing.assert_array_equal(old, now)
    layer.set_weights([np.ones((3, 3, 1, 2)), np.arange(2)])
    np.testing.assert_array_equal(layer.bias.data, [0, 1])
    assert layer.kernel.dtype == np.float32 and layer.kernel.requires_grad


def test_frozen_layer_has_no_trainable_weights():
    layer = Dense(3)
    layer.build((None, 2))
    layer.trainable = False
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 2
    assert not layer.kernel.requires_grad
    layer.trainable = True
    assert layer.kernel.requires_grad and layer.parameters() == [layer.kernel, layer.bias]


@pytest.mark.parametrize("layer", [
    Conv2D(4, (3, 2), strides=2, padding="same", activation="relu", use_bias=False, dilation_rate=1, groups=2,
           kernel_initializer="he_normal", name="c"),
    Dense(7, activation="softmax", kernel_initializer="glorot_normal", bias_initializer="ones"),
    MaxPooling2D(3, strides=1, padding="same"), AveragePooling2D((2, 3)), GlobalMaxPooling2D(keepdims=True),
    GlobalAveragePooling2D(data_format="channels_first"), Flatten(), Activation("tanh"), ReLU(max_value=6),
    Softmax(axis=1), Dropout(0.25), BatchNormalization(axis=1, momentum=0.9, epsilon=1e-5, center=False),
], ids=lambda layer: type(layer).__name__)
def test_configs_round_trip_through_json(layer):
    entry = json.loads(json.dumps(tc.layers.serialize(layer)))
    rebuilt = tc.layers.deserialize(entry)
    assert type(rebuilt) is type(layer) and rebuilt.get_config() == layer.get_config()


def test_deserialize_refuses_unknown_classes_and_custom_code():
    with pytest.raises(ValueError, match="unknown layer class 'Lambda'"):
        tc.layers.deserialize({"class_name": "Lambda", "config": {}})
    with pytest.raises(ValueError, match="config for|cannot build Dense"):
        tc.layers.deserialize({"class_name": "Dense", "config": {"units": 3, "evil": 1}})
    with pytest.raises(ValueError, match="custom callable"):
        Activation(lambda t: t).get_config()
    assert isinstance(tc.layers.LAYER_CLASSES, type(tc.filters.FILTERS))  # read-only mapping
    with pytest.raises(TypeError):
        tc.layers.LAYER_CLASSES["Evil"] = Dense


def test_layers_accept_arrays_and_cast_integers_to_float32():
    y = Dense(2)(np.ones((3, 4), dtype=np.uint8))
    assert y.dtype == np.float32 and y.shape == (3, 2)


# --- initializers ---
@pytest.mark.parametrize("name, variance", [
    ("glorot_uniform", lambda fi, fo: 2 / (fi + fo)), ("glorot_normal", lambda fi, fo: 2 / (fi + fo)),
    ("he_uniform", lambda fi, fo: 2 / fi), ("he_normal", lambda fi, fo: 2 / fi),
])
@pytest.mark.parametrize("shape, fans", [((300, 200), (300, 200)), ((3, 3, 16, 32), (144, 288)),
                                         ((5, 5, 4, 64), (100, 1600))])
def test_initializer_variance_follows_the_formula(name, variance, shape, fans):
    tc.manual_seed(0)
    values = initializers.get(name)(shape, np.float32)
    assert values.shape == shape and values.dtype == np.float32
    assert initializers.compute_fans(shape) == fans
    assert abs(values.var() / variance(*fans) - 1) < 0.05
    assert abs(values.mean()) < 0.05 * np.sqrt(variance(*fans))
    std = np.sqrt(variance(*fans))
    if name.endswith("normal"):  # truncated at two (untruncated) standard deviations, as Keras does
        assert np.abs(values).max() <= 2 * std / 0.87962566103423978 + 1e-6
    else:
        assert np.abs(values).max() <= np.sqrt(3) * std + 1e-6


def test_grouped_conv_fan_in_divides_by_groups():
    layer = Conv2D(8, 3, groups=4, kernel_initializer="he_uniform")
    layer.build((None, 5, 5, 8))
    assert layer.kernel.shape == (3, 3, 2, 8)
    assert initializers.compute_fans(layer.kernel.shape)[0] == 3 * 3 * 8 // 4


def test_initializers_follow_manual_seed():
    tc.manual_seed(3)
    a = Conv2D(4, 3)
    a.build((None, 5, 5, 2))
    tc.manual_seed(3)
    b = Conv2D(4, 3)
    b.build((None, 5, 5, 2))
    np.testing.assert_array_equal(a.kernel.data, b.kernel.data)
    c = Conv2D(4, 3)
    c.build((None, 5, 5, 2))
    assert not np.array_equal(a.kernel.data, c.kernel.data)
    np.testing.assert_array_equal(initializers.zeros((2, 3)), 0)
    np.testing.assert_array_equal(initializers.ones((2,)), 1)


@pytest.mark.parametrize("name", list(initializers.INITIALIZERS))
def test_initializers_name_a_bad_shape(name):
    initializer = initializers.get(name)
    with pytest.raises(ValueError, match=r"initializer: sizes must be non-negative ints, got \(-1, 3\)"):
        initializer((-1, 3), np.float32)
    with pytest.raises(ValueError, match=r"initializer: sizes must be non-negative ints, got \(2.5, 3\)"):
        initializer((2.5, 3), np.float32)
    assert initializer([np.int64(2), 3], np.float32).shape == (2, 3)


# --- every bad input gives a clear error ---
@pytest.mark.parametrize("make, error, message", [
    (lambda: Conv2D(0, 3), ValueError, "filters must be a positive int.*got 0"),
    (lambda: Conv2D(-2, 3), ValueError, "filters must be a positive int"),
    (lambda: Conv2D("8", 3), TypeError, "filters must be a positive int, got str"),
    (lambda: Conv2D(8.0, 3), TypeError, "filters must be a positive int, got float"),
    (lambda: Conv2D(8, 0), ValueError, "kernel_size must be at least 1"),
    (lambda: Conv2D(8, (3, 3, 3)), TypeError, "kernel_size must be an int or a pair"),
    (lambda: Conv2D(8, "3"), TypeError, "kernel_size must be an int or a pair"),
    (lambda: Conv2D(8, 3, strides=0), ValueError, "strides must be at least 1"),
    (lambda: Conv2D(8, 3, padding="full"), ValueError, "padding must be one of 'valid', 'same', got 'full'"),
    (lambda: Conv2D(8, 3, data_format="NHWC"), ValueError, "data_format must be one of"),
    (lambda: Conv2D(8, 3, activation="relu7"), ValueError, "unknown activation 'relu7'; known names"),
    (lambda: Conv2D(8, 3, activation=3), TypeError, "activation must be a name"),
    (lambda: Conv2D(8, 3, kernel_initializer="xavier"), ValueError, "unknown initializer 'xavier'"),
    (lambda: Conv2D(6, 3, groups=4), ValueError, r"filters \(6\) must be divisible by groups \(4\)"),
    (lambda: Dense(0), ValueError, "units must be a positive int"),
    (lambda: Dense("10"), TypeError, "units must be a positive int, got str"),
    (lambda: MaxPooling2D(0), ValueError, "pool_size must be at least 1"),
    (lambda: MaxPooling2D(2, strides=-1), ValueError, "strides must be at least 1"),
    (lambda: AveragePooling2D(2, padding="SAME ", name="p"), ValueError, "padding must be one of"),
    (lambda: GlobalMaxPooling2D(data_format="last"), ValueError, "data_format must be one of"),
    (lambda: Dropout(1.0), ValueError, r"rate must be in \[0.0, 1.0\)"),
    (lambda: Dropout("0.5"), TypeError, "rate must be a number"),
    (lambda: BatchNormalization(momentum=1.5), ValueError, "momentum must be in"),
    (lambda: BatchNormalization(epsilon=0), ValueError, "epsilon must be positive"),
    (lambda: BatchNormalization(axis="channels"), TypeError, "axis must be an int"),
    (lambda: Softmax(axis=1.5), TypeError, "axis must be an int"),
    (lambda: Dense(3, name="a/b"), ValueError, "name must be a non-empty string without '/'"),
    (lambda: tc.Input("28"), TypeError, "shape must be a tuple"),
    (lambda: tc.Input((28, 0, 1)), ValueError, "every axis but the batch axis needs a positive size"),
])
def test_bad_arguments_raise_clear_errors(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_bad_inputs_to_built_layers_raise_clear_errors():
    conv = Conv2D(8, 3)
    conv(np.zeros((1, 6, 6, 1), np.float32))
    with pytest.raises(ValueError, match=r"conv2d.*built for inputs of shape \(None, 6, 6, 1\).*axis 3 must have "
                                         r"size 1, not 3"):
        conv(np.zeros((1, 6, 6, 3), np.float32))
    with pytest.raises(ValueError, match=r"expects 4-D input.*got shape \(6, 6, 1\).*add a batch axis"):
        conv(np.zeros((6, 6, 1), np.float32))
    with pytest.raises(ValueError, match=r"kernel is 5 high.*padded input is only 3 high"):
        Conv2D(1, 5)(np.zeros((1, 3, 8, 1)))
    with pytest.raises(ValueError, match=r"3 channels, which must be positive and divisible by groups \(2\)"):
        Conv2D(4, 3, groups=2)(np.zeros((1, 5, 5, 3)))
    with pytest.raises(ValueError, match="expects at least 2-D input"):
        Dense(3)(np.zeros(4))
    dense = Dense(3)
    dense(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="axis 1 must have size 4, not 5"):
        dense(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="pool window is 4 high"):
        MaxPooling2D(4)(np.zeros((1, 3, 3, 1)))
    with pytest.raises(ValueError, match="is not built yet, so count_params"):
        Dense(3).count_params()
    with pytest.raises(TypeError, match="was called on the layer 'flatten_on_layer', not on data"):
        Dense(3)(Flatten(name="flatten_on_layer"))
    with pytest.raises(TypeError, match="must be numbers"):
        Dense(3)(np.array([["a", "b"]]))


def test_a_failed_build_leaves_the_layer_unbuilt_and_without_weights():
    layer = Conv2D(2, 5)
    with pytest.raises(ValueError, match="kernel is 5 high"):
        layer(np.zeros((1, 3, 3, 1), np.float32))
    assert not layer.built and layer.weights == []
    assert layer(np.zeros((1, 6, 6, 1), np.float32)).shape == (1, 2, 2, 2)
    assert len(layer.weights) == 2


def test_double_converts_weights_for_float64_checks():
    layer = Dense(2).double()
    layer.build((None, 3))  # weights made after the call follow it
    assert layer.kernel.dtype == np.float64 and layer.kernel.requires_grad
    assert layer(np.ones((1, 3))).dtype == np.float64
    model = tc.Sequential([tc.Input((3,)), Dense(2), BatchNormalization()]).float()
    assert {w.dtype for w in model.weights} == {np.dtype(np.float32)}
    assert {w.dtype for w in model.double().weights} == {np.dtype(np.float64)}
    with pytest.raises(TypeError, match="needs a floating dtype"):
        layer.astype(np.int32)


class KerasStyleScale(tc.layers.Layer):
    """A custom layer written the Keras way: weights made in build(), call(x) without `training`."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones")
        self.shift = self.add_weight(shape=(input_shape[-1],), initializer="zeros", trainable=False)

    def call(self, x):
        return x * self.scale + self.shift


def test_keras_style_custom_layers_build_once_and_train():
    """call(x) raised 'unexpected keyword argument training', and build() overrides were called on every call."""
    layer = KerasStyleScale()
    x = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    np.testing.assert_array_equal(layer(x).data, x)
    layer(x)
    assert layer.built and layer.output_shape == (None, 3)
    assert [w.name for w in layer.weights] == ["keras_style_scale/variable", "keras_style_scale/variable_1"]
    assert [w.name for w in layer.trainable_weights] == ["keras_style_scale/variable"]
    model = tc.Sequential([tc.Input((3,)), KerasStyleScale(), Dense(2)])
    rows = [[cell.strip() for cell in line.split("  ") if cell.strip()] for line in model.summary_str().splitlines()]
    assert ["keras_style_scale_1 (KerasStyleScale)", "(None, 3)", "6"] in rows
    assert model.count_params() == 3 + 3 + 8
    upstream = np.random.default_rng(1).standard_normal((4, 3))
    (model.layers[0](x) * tc.Tensor(upstream)).sum().backward()
    np.testing.assert_allclose(model.layers[0].scale.grad.data, (x * upstream).sum(0), rtol=1e-6)
    unbuilt = tc.Sequential([KerasStyleScale(), Dense(2)])  # built on the first call
    assert unbuilt(x).shape == (4, 2) and len(unbuilt.weights) == 4
    by_hand = KerasStyleScale()
    by_hand.build((None, 3))  # Keras marks a layer built after build(); its first call must not build again
    assert by_hand(x).shape == (4, 3) and len(by_hand.weights) == 2 and by_hand.built


def test_add_weight_errors_name_the_fix():
    layer = Dense(2)
    layer.add_weight("w", (2,))
    with pytest.raises(ValueError, match="already has a weight named 'w'"):
        layer.add_weight("w", (3,))
    with pytest.raises(TypeError, match=r"add_weight needs a shape.*add_weight\(shape=\(3,\), name='w'\)"):
        layer.add_weight((3,), "ones")  # Keras 3's positional order
    with pytest.raises(TypeError, match="needs a shape"):
        layer.add_weight("v")


def test_a_call_or_activation_that_leaves_the_graph_is_refused():
    """activation=np.tanh returned an ndarray: the model ran, but nothing before it could train."""
    with pytest.raises(TypeError, match=r"Activation 'activation' returned ndarray, not a Tensor.*x.tanh\(\)"):
        Activation(np.tanh)(np.ones((1, 2)))
    model = tc.Sequential([tc.Input((2,)), Dense(2, activation=lambda v: v.data)])
    with pytest.raises(TypeError, match="Dense 'dense' returned ndarray"):
        model(np.ones((1, 2)))


@pytest.mark.parametrize("make", [lambda: tc.layers.Conv2D(4, 3, strides=2), lambda: tc.layers.MaxPooling2D(3),
                                  lambda: tc.layers.SeparableConv2D(4, 3, padding="same"),
                                  lambda: tc.layers.DepthwiseConv2D(3, dilation_rate=2)])
@pytest.mark.parametrize("known_axis", [0, 1])
def test_output_shape_is_worked_out_per_axis_when_one_size_is_unknown(make, known_axis):
    """Keras computes each spatial axis on its own: an unknown height leaves the width's output known."""
    layer = make()
    sizes = [None, None]
    sizes[known_axis] = 11
    full = layer.compute_output_shape((None, 11, 11, 3))
    partial = layer.compute_output_shape((None, *sizes, 3))
    expected = [None, None]
    expected[known_axis] = full[1 + known_axis]
    assert partial == (None, *expected, full[3])
