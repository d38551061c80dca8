"""Keras 3's base-layer keywords (name, trainable, dtype, ...) on every built-in layer, Keras's positional order,
configs that keep them, and model files written before they existed."""
import inspect
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import require_torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn.layers import LAYER_CLASSES, Layer, deserialize, serialize

L = tc.layers
DATA = Path(__file__).parent / "data"

# (constructor arguments, input shape with the batch axis) for each class in LAYER_CLASSES but InputLayer
SPECS = {
    "Activation": (("tanh",), (2, 3, 4)),
    "Add": ((), [(2, 3), (2, 3)]),
    "Average": ((), [(2, 3), (2, 3)]),
    "AveragePooling2D": ((2,), (2, 4, 4, 3)),
    "BatchNormalization": ((), (4, 3, 3, 2)),
    "Concatenate": ((), [(2, 3), (2, 2)]),
    "Conv2D": ((3, 2), (2, 5, 5, 2)),
    "Conv2DTranspose": ((3, 2), (2, 3, 3, 2)),
    "Cropping2D": ((1,), (2, 4, 4, 2)),
    "Dense": ((3,), (2, 4)),
    "DepthwiseConv2D": ((2,), (2, 4, 4, 3)),
    "Dot": ((1,), [(2, 3), (2, 3)]),
    "Dropout": ((0.5,), (2, 6)),
    "ELU": ((), (2, 5)),
    "Embedding": ((5, 3), (2, 4)),
    "Flatten": ((), (2, 3, 2)),
    "GlobalAveragePooling2D": ((), (2, 3, 3, 2)),
    "GlobalMaxPooling2D": ((), (2, 3, 3, 2)),
    "LayerNormalization": ((), (2, 3, 4)),
    "LeakyReLU": ((), (2, 5)),
    "MaxPooling2D": ((2,), (2, 4, 4, 3)),
    "Maximum": ((), [(2, 3), (2, 3)]),
    "Minimum": ((), [(2, 3), (2, 3)]),
    "Multiply": ((), [(2, 3), (2, 3)]),
    "PReLU": (("glorot_uniform",), (2, 4)),
    "Permute": (((2, 1),), (2, 3, 4)),
    "RandomBrightness": ((0.2,), (2, 4, 4, 3)),
    "RandomContrast": ((0.2,), (2, 4, 4, 3)),
    "RandomCrop": ((3, 3), (2, 4, 4, 3)),
    "RandomFlip": ((), (2, 4, 4, 3)),
    "RandomRotation": ((0.1,), (2, 4, 4, 3)),
    "RandomTranslation": ((0.1, 0.1), (2, 4, 4, 3)),
    "RandomZoom": ((0.1,), (2, 4, 4, 3)),
    "ReLU": ((), (2, 5)),
    "Rescaling": ((0.5, 1.0), (2, 5)),
    "Reshape": (((2, 3),), (2, 6)),
    "SeparableConv2D": ((3, 2), (2, 4, 4, 2)),
    "Softmax": ((), (2, 5)),
    "SpatialDropout2D": ((0.5,), (2, 3, 3, 2)),
    "Subtract": ((), [(2, 3), (2, 3)]),
    "UpSampling2D": ((), (2, 2, 2, 3)),
    "ZeroPadding2D": ((), (2, 2, 2, 3)),
}

def make(cls_name: str, **kwargs):
    args, _ = SPECS[cls_name]
    return LAYER_CLASSES[cls_name](*args, **kwargs)


def sample(name: str, dtype, seed: int = 0):
    shape = SPECS[name][1]
    rng = np.random.default_rng(seed)
    if isinstance(shape, list):
        return [rng.uniform(0.5, 2.0, s).astype(dtype) for s in shape]
    return rng.uniform(0.5, 2.0, shape).astype(dtype)


def test_the_table_covers_every_layer_class():
    assert set(SPECS) == set(LAYER_CLASSES) - {"InputLayer"}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_trainable_false_freezes_the_weights(name):
    layer = make(name, trainable=False)
    assert layer.trainable is False
    layer(sample(name, np.float32))
    assert layer.trainable_weights == [] and layer.non_trainable_weights == layer.weights
    assert not any(w.requires_grad for w in layer.weights)
    assert make(name, trainable=True).trainable is True


@pytest.mark.parametrize("name", ["BatchNormalization", "Conv2D", "Conv2DTranspose", "Dense", "DepthwiseConv2D",
                                  "PReLU", "SeparableConv2D"])
def test_fit_does_not_move_a_layer_frozen_at_construction(name):
    frozen = make(name, trainable=False, name="frozen")
    x = sample(name, np.float32)
    model = tc.Sequential([tc.Input(x.shape[1:]), frozen, L.Flatten(), L.Dense(2)])
    before = [w.copy() for w in frozen.get_weights()]
    head = model.layers[-1].get_weights()[0].copy()
    model.compile(optimizer=tc.optimizers.SGD(learning_rate=0.1), loss="mse")
    model.fit(x, np.random.default_rng(1).normal(size=(len(x), 2)).astype(np.float32), epochs=2, verbose=0)
    for old, new in zip(before, frozen.get_weights(), strict=True):
        np.testing.assert_array_equal(old, new)
    assert not np.array_equal(head, model.layers[-1].get_weights()[0])   # the rest of the model did learn


@pytest.mark.parametrize("name", sorted(SPECS))
def test_dtype_float64_gives_float64_weights_and_outputs(name):
    layer = make(name, dtype="float64")
    assert layer.dtype == np.float64
    for training in (False, True):   # the augmentation layers change images only in training
        y = layer(sample(name, np.float64), training=training)
        assert y.dtype == np.float64, training
    assert {w.dtype for w in layer.weights} <= {np.dtype(np.float64)}
    assert make(name, dtype=np.float16).dtype == np.float16 and make(name).dtype == np.float32
    assert (layer.variable_dtype, layer.compute_dtype, make(name).compute_dtype) == ("float64", "float64", "float32")


@pytest.mark.parametrize("name", ["BatchNormalization", "Conv2D", "Conv2DTranspose", "Dense", "DepthwiseConv2D",
                                  "PReLU", "SeparableConv2D"])
def test_a_float64_layer_computes_what_the_float32_one_does(name):
    """Same weights, same input: the float64 layer agrees with the float32 one to float32 precision, and its
    gradients (from a random upstream gradient) are float64."""
    x = sample(name, np.float64)
    wide, narrow = make(name, dtype="float64"), make(name)
    y32 = narrow(x.astype(np.float32), training=True)
    wide(x)
    wide.set_weights(narrow.get_weights())
    xt = tc.Tensor(x, requires_grad=True)
    y64 = wide(xt, training=True)
    np.testing.assert_allclose(y64.numpy(), y32.numpy(), rtol=1e-4, atol=1e-5)
    y64.backward(np.random.default_rng(2).normal(size=y64.shape))
    assert xt.grad.dtype == np.float64 and all(w.grad.dtype == np.float64 for w in wide.trainable_weights)


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 3), size=st.integers(3, 6), channels=st.integers(1, 3), filters=st.integers(1, 3),
       seed=st.integers(0, 2**16))
def test_a_float64_conv2d_matches_pytorch_in_float64(n, size, channels, filters, seed):
    torch = require_torch()
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, size, size, channels))
    layer = L.Conv2D(filters, 3, padding="same", dtype="float64")
    xt = tc.Tensor(x, requires_grad=True)
    y = layer(xt)
    upstream = rng.normal(size=y.shape)
    y.backward(upstream)
    def torch_copy(array, axes):   # a contiguous copy (torch's float64 conv backward wants one)
        return torch.tensor(np.ascontiguousarray(array.transpose(axes)))
    xr = torch_copy(x, (0, 3, 1, 2)).requires_grad_()   # (N, H, W, C) -> (N, C, H, W)
    kernel = torch_copy(layer.kernel.numpy(), (3, 2, 0, 1)).requires_grad_()   # (kh, kw, C, F) -> (F, C, kh, kw)
    yr = torch.nn.functional.conv2d(xr, kernel, torch.tensor(layer.bias.numpy()), padding=1)
    yr.backward(torch_copy(upstream, (0, 3, 1, 2)))
    assert y.dtype == np.float64 and layer.kernel.grad.dtype == np.float64
    np.testing.assert_allclose(y.numpy(), yr.detach().numpy().transpose(0, 2, 3, 1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xt.grad, xr.grad.numpy().transpose(0, 2, 3, 1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.kernel.grad, kernel.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_configs_keep_trainable_and_dtype(name):
    layer = make(name, trainable=False, dtype="float64", name="the_layer")
    config = layer.get_config()
    assert (config["name"], config["trainable"], config["dtype"]) == ("the_layer", False, "float64")
    copy = deserialize(json.loads(json.dumps(serialize(layer))))
    assert type(copy) is type(layer) and copy.get_config() == config
    assert copy.trainable is False and copy.dtype == np.float64
    copy(sample(name, np.float64))
    assert copy.trainable_weights == [] and {w.dtype for w in copy.weights} <= {np.dtype(np.float64)}
    assert make(name).get_config()["dtype"] == "float32"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_an_unknown_keyword_names_the_layer_the_keyword_and_the_accepted_ones(name):
    with pytest.raises(TypeError, match=rf"{name} got the unexpected keyword argument\(s\) 'kernel_size_x'.*"
                                        "name, trainable, dtype"):
        make(name, kernel_size_x=3)


def test_bad_base_keywords_are_named():
    with pytest.raises(ValueError, match="dtype='mixed_float16' is a Keras mixed-precision policy.*not support"):
        L.Dense(3, dtype="mixed_float16")
    with pytest.raises(ValueError, match="mixed_bfloat16"):
        L.Conv2D(3, 3, dtype="mixed_bfloat16")
    for bad in ("int32", "bool", "float99", np.int64, 3):
        with pytest.raises(TypeError, match=r"Dense: dtype needs a floating dtype .*float64.*got"):
            L.Dense(3, dtype=bad)
    with pytest.raises(TypeError, match="Dense: trainable must be True or False, got 'no'"):
        L.Dense(3, trainable="no")
    with pytest.raises(ValueError, match="ReLU: activity_regularizer: unknown regularizer 'l7'"):
        L.ReLU(activity_regularizer="l7")
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        L.Dense(3, name="a/b")
    with pytest.raises(ValueError, match="input_shape or input_dim, not both"):
        L.Dense(3, input_shape=(4,), input_dim=4)
    with pytest.raises(ValueError, match="input_dim must be a positive int .* got 0"):
        L.Dense(3, input_dim=0)
    with pytest.raises(TypeError, match="input_shape: an input shape must be a tuple"):
        L.Dense(3, input_shape="4")
    L.Dense(3, input_shape=(4,)), L.Dense(3, input_dim=4), L.Conv2D(3, 3, input_shape=[8, 8, 1])   # Keras's forms


def test_activity_regularizer_is_a_keyword_of_every_layer():
    """Keras 3's base Layer takes it, so an activation layer can penalise its output too; configs keep it."""
    layer = L.ReLU(activity_regularizer=tc.regularizers.L1(0.5))
    y = layer(np.array([[-1.0, 2.0, 3.0]], np.float32))
    np.testing.assert_allclose([p.item() for p in layer.losses], [0.5 * np.abs(y.numpy()).sum()])
    copy = deserialize(serialize(layer))
    assert copy.activity_regularizer == tc.regularizers.L1(0.5) and "activity_regularizer" not in L.ReLU().get_config()


# Keras 3's positional arguments, from keras/src/layers/... (up to **kwargs; newer arguments last)
KERAS_POSITIONAL = {
    "Activation": ["activation"],
    "AveragePooling2D": ["pool_size", "strides", "padding", "data_format", "name"],
    "BatchNormalization": ["axis", "momentum", "epsilon", "center", "scale", "beta_initializer", "gamma_initializer",
                           "moving_mean_initializer", "moving_variance_initializer", "beta_regularizer",
                           "gamma_regularizer", "beta_constraint", "gamma_constraint", "synchronized"],
    "Conv2D": ["filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "groups", "activation",
               "use_bias", "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
               "activity_regularizer", "kernel_constraint", "bias_constraint"],
    "Conv2DTranspose": ["filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "activation",
                        "use_bias", "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer",
                        "activity_regularizer", "kernel_constraint", "bias_constraint"],
    "Cropping2D": ["cropping", "data_format"],
    "Dense": ["units", "activation", "use_bias", "kernel_initializer", "bias_initializer", "kernel_regularizer",
              "bias_regularizer", "activity_regularizer", "kernel_constraint", "bias_constraint", "lora_rank"],
    "DepthwiseConv2D": ["kernel_size", "strides", "padding", "depth_multiplier", "data_format", "dilation_rate",
                        "activation", "use_bias", "depthwise_initializer", "bias_initializer",
                        "depthwise_regularizer", "bias_regularizer", "activity_regularizer", "depthwise_constraint",
                        "bias_constraint"],
    "Dropout": ["rate", "noise_shape", "seed"],
    "ELU": ["alpha"],
    "Embedding": ["input_dim", "output_dim", "embeddings_initializer", "embeddings_regularizer",
                  "embeddings_constraint", "mask_zero", "weights", "lora_rank"],
    "Flatten": ["data_format"],
    "GlobalAveragePooling2D": ["data_format", "keepdims"],
    "GlobalMaxPooling2D": ["data_format", "keepdims"],
    "InputLayer": ["shape", "batch_size", "dtype", "sparse"],   # then ragged (newer) or batch_shape
    "LayerNormalization": ["axis", "epsilon", "center", "scale", "beta_initializer", "gamma_initializer",
                           "beta_regularizer", "gamma_regularizer", "beta_constraint", "gamma_constraint"],
    "LeakyReLU": ["negative_slope"],
    "MaxPooling2D": ["pool_size", "strides", "padding", "data_format", "name"],
    "PReLU": ["alpha_initializer", "alpha_regularizer", "alpha_constraint", "shared_axes"],
    "Permute": ["dims"],
    "RandomBrightness": ["factor", "value_range", "seed"],
    "RandomContrast": ["factor", "value_range", "seed"],
    "RandomCrop": ["height", "width", "seed", "data_format", "name"],
    "RandomFlip": ["mode", "seed", "data_format"],
    "RandomRotation": ["factor", "fill_mode", "interpolation", "seed", "fill_value", "data_format"],
    "RandomTranslation": ["height_factor", "width_factor", "fill_mode", "interpolation", "seed", "fill_value",
                          "data_format"],
    "RandomZoom": ["height_factor", "width_factor", "fill_mode", "interpolation", "seed", "fill_value", "data_format"],
    "ReLU": ["max_value", "negative_slope", "threshold"],
    "Rescaling": ["scale", "offset"],
    "Reshape": ["target_shape"],
    "SeparableConv2D": ["filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate",
                        "depth_multiplier", "activation", "use_bias", "depthwise_initializer",
                        "pointwise_initializer", "bias_initializer", "depthwise_regularizer", "pointwise_regularizer",
                        "bias_regularizer", "activity_regularizer", "depthwise_constraint", "pointwise_constraint",
                        "bias_constraint"],
    "Softmax": ["axis"],
    "SpatialDropout2D": ["rate", "data_format", "seed", "name", "dtype"],
    "UpSampling2D": ["size", "data_format", "interpolation"],
    "ZeroPadding2D": ["padding", "data_format"],
    # merge layers: Add() ... Minimum() take only **kwargs
    "Add": [], "Average": [], "Maximum": [], "Minimum": [], "Multiply": [], "Subtract": [],
    "Concatenate": ["axis"], "Dot": ["axes", "normalize"],
}


def positional(function) -> list:
    return [p.name for p in inspect.signature(function).parameters.values()
            if p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "self"]


@pytest.mark.parametrize("name", sorted(KERAS_POSITIONAL))
def test_positional_order_is_keras_3s(name):
    """Ours is Keras's list cut where an argument of Keras's is missing here, so a positional call means the same
    in both (the rest are keywords: name, trainable, dtype, ... and our extras such as output_padding)."""
    ours, keras = positional(LAYER_CLASSES[name].__init__), KERAS_POSITIONAL[name]
    assert ours == keras[:len(ours)], (ours, keras)
    accepted = set(inspect.signature(LAYER_CLASSES[name].__init__).parameters)
    assert [arg for arg in keras[len(ours):] if arg in accepted] == []


def test_the_order_table_covers_every_layer_class():
    assert set(KERAS_POSITIONAL) == set(LAYER_CLASSES)
    assert positional(tc.Input) == KERAS_POSITIONAL["InputLayer"]


def test_positional_calls_mean_what_they_mean_in_keras():
    dense = L.Dense(4, None, True, "ones", "zeros", "l2", None, "l1")
    assert dense.kernel_regularizer == tc.regularizers.L2(0.01)
    assert dense.activity_regularizer == tc.regularizers.L1(0.01)
    conv = L.Conv2D(2, 3, 1, "same", "channels_first", 2, 1, "relu")
    assert (conv.data_format, conv.dilation_rate, conv.activation) == ("channels_first", (2, 2), L.activations.relu)
    assert conv(np.ones((1, 3, 5, 5), np.float32)).shape == (1, 2, 5, 5)
    assert L.MaxPooling2D(2, None, "valid", None, "pool").name == "pool"
    assert L.RandomCrop(2, 2, None, None, "crop").name == "crop"
    x = tc.Input((3,), None, "float64")
    assert x.dtype == np.float64 and x.shape == (None, 3)
    with pytest.raises(ValueError, match="sparse=True asks for sparse tensors"):
        tc.Input((3,), None, None, True)
    assert L.Flatten().data_format == "channels_last" and L.Conv2D(1, 1).strides == (1, 1)


def test_input_shape_on_the_first_layer_starts_a_sequential_model():
    """Keras's older form, still accepted by Keras 3: the first layer's input_shape=/input_dim= fixes the input."""
    model = tc.Sequential([L.Dense(8, input_shape=(4,)), L.Dense(2)])
    assert model.built and model.input_shape == (None, 4) and model.output_shape == (None, 2)
    model = tc.Sequential()
    model.add(L.Conv2D(3, 3, input_shape=(6, 6, 1)))
    assert model.output_shape == (None, 4, 4, 3)
    model = tc.Sequential([L.Dense(8, input_dim=5)])
    assert model.input_shape == (None, 5)


def test_a_layer_of_your_own_passes_the_keywords_on():
    class Scale(Layer):
        def __init__(self, factor, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")

        def call(self, x):
            return x * self.w * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    layer = Scale(2.0, name="s", trainable=False, dtype="float64")
    y = layer(np.ones((2, 3)))
    assert y.dtype == np.float64 and layer.w.dtype == np.float64 and layer.trainable_weights == []
    copy = Scale.from_config(layer.get_config())
    assert (copy.name, copy.trainable, copy.dtype, copy.factor) == ("s", False, np.float64, 2.0)
    with pytest.raises(TypeError, match="Scale got the unexpected keyword argument.*'units'.*it takes factor"):
        Scale(1.0, units=3)


def test_a_layer_of_your_own_without_kwargs_still_loads_its_dtype():
    """A constructor that takes no dtype (nor **kwargs): from_config sets it after construction."""
    class Plain(Layer):
        def __init__(self, units, name=None):
            super().__init__(name)
            self.units = units

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    layer = Plain(3, name="p").astype("float64")
    copy = Plain.from_config(layer.get_config())
    assert copy.dtype == np.float64 and copy.units == 3


def test_a_model_file_written_before_the_keywords_loads():
    """tests/data/old_layers_model.tgc was saved by the code of commit c4dd398 (configs without dtype; the conv
    layer frozen): it loads, predicts as it did then, and the configs now show float32 and the frozen layer."""
    model = tc.load_model(DATA / "old_layers_model.tgc")
    io = np.load(DATA / "old_layers_model_io.npz")
    np.testing.assert_allclose(model.predict(io["x"], verbose=0), io["y"], rtol=1e-6, atol=1e-6)
    assert model.get_layer("conv").trainable is False and model.get_layer("dense").trainable is True
    assert {layer.get_config()["dtype"] for layer in model.layers} == {"float32"}
    assert {w.dtype for w in model.weights} == {np.dtype(np.float32)}
