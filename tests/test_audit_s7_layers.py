"""Session 7's audit of the layers and models against Keras 3 and PyTorch: each test failed before its fix."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import require_torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc

L = tc.layers

# the dtype of a layer config as Keras 3 writes it (a DTypePolicy object's serialization)
KERAS_POLICY = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float64"}, "registered_name": None}


@pytest.fixture(autouse=True)
def fresh_names():
    tc.clear_session()
    yield
    tc.clear_session()


# --- dtype= as Keras 3's configs hold it; a dict that is no policy is a clear TypeError ---
def test_a_keras_3_dtype_policy_in_a_config_builds_the_layer_in_that_dtype():
    config = {"name": "conv", "filters": 2, "kernel_size": [3, 3], "dtype": KERAS_POLICY,
              "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform",
                                     "config": {"seed": None}, "registered_name": None}}
    layer = L.deserialize({"module": "keras.layers", "class_name": "Conv2D", "config": config})
    assert layer.dtype == np.float64
    assert layer(np.ones((1, 4, 4, 1))).dtype == np.float64
    assert L.Dense(2, dtype=KERAS_POLICY).dtype == np.float64


@pytest.mark.parametrize("dtype", [{"a": 1}, {"config": {"units": 3}}, ("f4", 2)])
def test_a_dtype_numpy_cannot_read_as_a_float_is_a_type_error_naming_the_argument(dtype):
    with pytest.raises(TypeError, match=r"Dense: dtype needs a floating dtype"):
        L.Dense(2, dtype=dtype)
    with pytest.raises(TypeError, match=r"Input: dtype must be a floating dtype"):
        tc.Input((2,), dtype=dtype)


# --- BatchNormalization takes Keras 3's last argument, synchronized ---
def test_batch_normalization_takes_synchronized_as_keras_3_does():
    positional = L.BatchNormalization(-1, 0.9, 1e-3, True, True, "zeros", "ones", "zeros", "ones",
                                      None, None, None, None, True)
    assert positional.synchronized is True
    assert L.BatchNormalization().synchronized is False
    again = L.BatchNormalization.from_config(positional.get_config())
    assert again.synchronized is True and again.get_config() == {**positional.get_config(), "name": again.name}
    x = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
    np.testing.assert_allclose(positional(x, training=True).data, L.BatchNormalization()(x, training=True).data)
    with pytest.raises(TypeError, match="synchronized must be True or False, got 'yes'"):
        L.BatchNormalization(synchronized="yes")


# --- Permute (Keras 3's layer; tc.layers had none) ---
@settings(max_examples=15, deadline=None)
@given(rank=st.integers(1, 4), seed=st.integers(0, 2**32 - 1), data=st.data())
def test_permute_moves_the_axes_as_torch_permute_values_and_gradients(rank, seed, data):
    torch = require_torch()
    dims = tuple(data.draw(st.permutations(range(1, rank + 1))))
    rng = np.random.default_rng(seed)
    shape = tuple(int(n) for n in rng.integers(1, 4, rank + 1))
    x = tc.Tensor(rng.standard_normal(shape), requires_grad=True)
    layer = L.Permute(dims)
    y = layer(x)
    upstream = rng.standard_normal(y.shape)
    y.backward(tc.Tensor(upstream))
    xt = torch.tensor(x.data, requires_grad=True)
    yt = xt.permute(0, *dims)
    yt.backward(torch.tensor(upstream))
    np.testing.assert_array_equal(y.data, yt.detach().numpy())
    np.testing.assert_array_equal(x.grad.data, xt.grad.numpy())
    assert layer.compute_output_shape((None, *shape[1:])) == (None, *yt.shape[1:])


def test_permute_in_a_model_summary_config_and_file(tmp_path):
    model = tc.Sequential([tc.Input((4, 5, 3)), L.Permute((3, 1, 2)), L.Conv2D(2, 3, data_format="channels_first"),
                           L.Flatten(), L.Dense(2)])
    assert model.layers[0].output_shape == (None, 3, 4, 5)
    assert model.layers[1].output_shape == (None, 2, 2, 3)
    assert "permute (Permute)" in model.summary_str()
    x = np.random.default_rng(1).standard_normal((2, 4, 5, 3)).astype(np.float32)
    assert L.Permute.from_config(model.layers[0].get_config()).dims == (3, 1, 2)
    model.save(tmp_path / "m.npz")
    np.testing.assert_array_equal(tc.load_model(tmp_path / "m.npz").predict(x, verbose=0),
                                  model.predict(x, verbose=0))


@pytest.mark.parametrize(("dims", "error", "message"), [
    ((1, 1), ValueError, r"dims \(1, 1\) must hold each of 1 to 2 once"),
    ((0, 1), ValueError, r"dims \(0, 1\) must hold each of 1 to 2 once"),
    ((), TypeError, "dims must be a tuple of ints"),
    (2, TypeError, "dims must be a tuple of ints"),
    ((1.0, 2), TypeError, "dims must be a tuple of ints"),
])
def test_permute_refuses_what_is_no_permutation(dims, error, message):
    with pytest.raises(error, match=message):
        L.Permute(dims)


def test_permute_needs_one_axis_per_dim():
    with pytest.raises(ValueError, match=r"expects 3-D input .* got shape \(2, 3\)"):
        L.Permute((2, 1))(np.ones((2, 3)))


# --- gelu by name is Keras's and PyTorch's default, the exact x * Phi(x), not the tanh approximation ---
def test_gelu_gives_the_figures_of_keras_docs():
    # keras.activations.gelu's docstring: [-0.00404951, -0.15865529, 0., 0.8413447, 2.9959507], TensorFlow's float32
    # output, within 5e-7 of the exact values (gelu(-3) = -0.0040496940...); the tanh form gave -0.00363752 there
    y = L.Activation("gelu")(np.array([[-3.0, -1.0, 0.0, 1.0, 3.0]], np.float32))
    np.testing.assert_allclose(y.data[0], [-0.00404951, -0.15865529, 0.0, 0.8413447, 2.9959507], rtol=2e-7, atol=2e-7)
    np.testing.assert_allclose(y.data[0, 0], -0.0040496940, rtol=1e-6)
    assert y.dtype == np.float32


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), scale=st.sampled_from([0.5, 3.0, 12.0]),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_gelu_matches_torch_gelu_values_and_gradients(seed, scale, dtype):
    torch = require_torch()
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((4, 7)) * scale).astype(dtype)
    x[0, :3] = [0.0, 40.0, -40.0]
    upstream = rng.standard_normal(x.shape).astype(dtype)
    xt = tc.Tensor(x, requires_grad=True)
    y = L.Dense(7, activation="gelu").activation(xt)
    y.backward(tc.Tensor(upstream))
    reference = torch.tensor(x, requires_grad=True)
    out = torch.nn.functional.gelu(reference)
    out.backward(torch.tensor(upstream))
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-12}
    assert y.dtype == dtype and xt.grad.dtype == dtype
    np.testing.assert_allclose(y.data, out.detach().numpy(), **tol)
    np.testing.assert_allclose(xt.grad.data, reference.grad.numpy(), **tol)


def test_gelu_approximate_is_the_tanh_form_and_both_have_second_derivatives():
    torch = require_torch()
    gelu = L.activations.gelu
    x = np.random.default_rng(3).standard_normal((3, 5)) * 2
    np.testing.assert_allclose(gelu(tc.Tensor(x), approximate=True).data,
                               torch.nn.functional.gelu(torch.tensor(x), approximate="tanh").numpy(), rtol=1e-12)
    for approximate in (False, True):
        assert tc.gradgradcheck(lambda t, a=approximate: gelu(t, approximate=a), [tc.Tensor(x, requires_grad=True)])


# --- a Sequential model built from data or build() has symbolic inputs and layer outputs (Keras 3) ---
@pytest.mark.parametrize("how", ["call", "build", "input_shape"])
def test_a_sequential_model_built_without_input_gives_feature_extraction_models(how):
    first = L.Conv2D(4, 3, activation="relu", **({"input_shape": (8, 8, 1)} if how == "input_shape" else {}))
    seq = tc.Sequential([first, L.MaxPooling2D(), L.Flatten(), L.Dense(3)])
    data = np.random.default_rng(2).standard_normal((2, 8, 8, 1)).astype(np.float32)
    if how == "call":
        seq(data)
    elif how == "build":
        seq.build((None, 8, 8, 1))
    # Chollet's recipe: the layers' outputs first, then the model's input
    outputs = [layer.output for layer in seq.layers]
    extractor = tc.Model(inputs=seq.input, outputs=outputs)
    features = extractor(data)
    assert [f.shape for f in features] == [(2, 6, 6, 4), (2, 3, 3, 4), (2, 36), (2, 3)]
    np.testing.assert_array_equal(features[-1].numpy(), seq(data).numpy())
    assert seq.inputs[0].shape == (None, 8, 8, 1) and seq.output.shape == (None, 3)
    seq.add(L.Dense(2))
    assert seq.output.shape == (None, 2) and seq(data).shape == (2, 2)
    assert seq.count_params() == extractor.count_params() + 3 * 2 + 2


def test_an_unbuilt_sequential_model_says_how_to_get_symbolic_inputs():
    with pytest.raises(ValueError, match=r"is not built yet, so it has no symbolic outputs; .*tc.Input.*build"):
        _ = tc.Sequential([L.Dense(2)]).outputs


# --- Keras 3's other names of the layer classes ---
@pytest.mark.parametrize(("alias", "name"), [
    ("MaxPool2D", "MaxPooling2D"), ("AvgPool2D", "AveragePooling2D"), ("GlobalMaxPool2D", "GlobalMaxPooling2D"),
    ("GlobalAvgPool2D", "GlobalAveragePooling2D"), ("Convolution2D", "Conv2D"),
    ("Convolution2DTranspose", "Conv2DTranspose"), ("SeparableConvolution2D", "SeparableConv2D"),
])
def test_keras_aliases_are_the_classes(alias, name):
    assert getattr(L, alias) is getattr(L, name) and alias in L.__all__
    assert L.deserialize(L.serialize(L.MaxPool2D(3)))._describe().startswith("MaxPooling2D")


# --- an integer Input, as Keras allows (raw pixels, then Rescaling) ---
def test_a_uint8_input_feeds_float32_layers_trains_and_saves(tmp_path):
    pixels = tc.Input((6, 6, 1), dtype="uint8")
    scaled = L.Rescaling(1 / 255)(pixels)
    assert pixels.dtype == np.uint8 and scaled.dtype == np.float32   # the layer's real output dtype
    model = tc.Model(pixels, L.Dense(2)(L.Flatten()(L.Conv2D(2, 3)(scaled))))
    data = np.random.default_rng(4).integers(0, 256, (5, 6, 6, 1)).astype(np.uint8)
    expected = model(data.astype(np.float32)).numpy()   # the same pixels as floats
    np.testing.assert_allclose(model.predict(data, verbose=0), expected, rtol=1e-5, atol=1e-6)
    model.compile("sgd", "mse")
    assert np.isfinite(model.fit(data, np.zeros((5, 2)), verbose=0).history["loss"][0])
    model.save(tmp_path / "m.npz")
    again = tc.load_model(tmp_path / "m.npz")
    assert again.inputs[0].dtype == np.uint8
    np.testing.assert_array_equal(again.predict(data, verbose=0), model.predict(data, verbose=0))
    with pytest.raises(TypeError, match=r"Input: dtype must be a floating dtype .* \(or an integer or bool one"):
        tc.Input((3,), dtype="complex64")


# --- a model config as Keras 3 writes it (DTypePolicy dicts, InputLayer's sparse and ragged, module keys) ---
def test_a_keras_3_sequential_json_builds_the_model():
    import json

    policy = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}
    dense = {"name": "dense", "trainable": True, "dtype": policy, "units": 3, "activation": "relu", "use_bias": True,
             "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform",
                                    "config": {"seed": None}, "registered_name": None},
             "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros", "config": {},
                                  "registered_name": None},
             "kernel_regularizer": None, "bias_regularizer": None, "kernel_constraint": None, "bias_constraint": None}
    layers = [{"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
               "config": {"batch_shape": [None, 4], "dtype": "float32", "sparse": False, "ragged": False,
                          "name": "input_layer"}},
              {"module": "keras.layers", "class_name": "Dense", "registered_name": None, "config": dense,
               "build_config": {"input_shape": [None, 4]}}]
    config = {"class_name": "Sequential", "config": {"name": "keras_made", "trainable": True, "dtype": policy,
                                                     "layers": layers, "build_input_shape": [None, 4]}}
    model = tc.models.model_from_json(json.dumps(config))
    assert model.name == "keras_made" and model.output_shape == (None, 3) and model.count_params() == 15
    with pytest.raises(ValueError, match="ragged=True asks for ragged tensors"):
        tc.Input((3,), ragged=True)


# --- add_weight takes Keras's dtype keyword ---
def test_add_weight_takes_a_dtype_as_keras_does():
    class Scale(L.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", dtype="float64", name="w")
            self.v = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="v")

        def call(self, x):
            return x * self.w * self.v

    layer = Scale()
    assert layer(np.ones((2, 3), np.float32)).dtype == np.float64
    assert (layer.w.dtype, layer.v.dtype) == (np.float64, np.float32)
    with pytest.raises(TypeError, match=r"add_weight: dtype needs a floating dtype .* got 'int32'"):
        Scale().add_weight(shape=(2,), dtype="int32")


# --- Embedding (Keras 3's layer; tc.layers had none) ---
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), vocabulary=st.integers(1, 9), width=st.integers(1, 4),
       shape=st.lists(st.integers(0, 4), min_size=1, max_size=3))
def test_embedding_is_torch_embedding_values_and_gradients(seed, vocabulary, width, shape):
    torch = require_torch()
    rng = np.random.default_rng(seed)
    indices = rng.integers(0, vocabulary, shape)
    layer = L.Embedding(vocabulary, width)
    y = layer(indices)
    upstream = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(tc.Tensor(upstream))
    table = torch.tensor(layer.embeddings.numpy(), requires_grad=True)
    expected = torch.nn.functional.embedding(torch.tensor(indices), table)
    expected.backward(torch.tensor(upstream))   # repeated indices sum their gradients
    assert y.shape == (*shape, width) and y.dtype == np.float32
    np.testing.assert_array_equal(y.numpy(), expected.detach().numpy())
    np.testing.assert_allclose(layer.embeddings.grad.data, table.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_embedding_as_keras_documents_it(tmp_path):
    model = tc.Sequential()   # Keras's docstring example: integer data, no Input, predict
    model.add(L.Embedding(1000, 64))
    data = np.random.default_rng(0).integers(1000, size=(32, 10))
    model.compile("rmsprop", "mse")
    assert model.predict(data, verbose=0).shape == (32, 10, 64) and model.output_shape == (None, 10, 64)
    assert model.count_params() == 64000 and model.layers[0].param_formula() == "1000*64=64000"
    np.testing.assert_array_equal(model.predict(data.astype(np.float32), verbose=0), model.predict(data, verbose=0))
    first = np.abs(model.layers[0].embeddings.numpy())
    assert first.max() <= 0.05 and first.std() > 0.01   # Keras's "uniform": RandomUniform(-0.05, 0.05)
    table = np.arange(12, dtype=np.float32).reshape(4, 3)
    given = L.Embedding(4, 3, weights=[table], name="given")
    np.testing.assert_array_equal(given(np.array([[3, 0]])).numpy(), table[[[3, 0]]])
    text = tc.Sequential([tc.Input((5,), dtype="int32"), given, L.Flatten(), L.Dense(2)])
    text.save(tmp_path / "m.npz")
    tokens = np.array([[0, 1, 2, 3, 3]])
    np.testing.assert_array_equal(tc.load_model(tmp_path / "m.npz").predict(tokens, verbose=0),
                                  text.predict(tokens, verbose=0))
    assert L.Embedding.from_config(given.get_config()).get_config() == given.get_config()


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda: L.Embedding(4, 2)(np.array([[4]])), IndexError, r"indices must be in \[0, 4\) .* got \[4\]"),
    (lambda: L.Embedding(4, 2)(np.array([[-1, 2]])), IndexError, r"got \[-1\]"),
    (lambda: L.Embedding(4, 2)(np.array([np.nan])), ValueError, "NaN or infinity"),
    (lambda: L.Embedding(4, 2, mask_zero=True), ValueError, "mask_zero=True makes a mask"),
    (lambda: L.Embedding(4, 2, weights=[np.zeros((4, 3))]), ValueError, r"shape \(4, 2\) .* got float64 shape"),
    (lambda: L.Embedding(0, 2), ValueError, "input_dim must be a positive int"),
    (lambda: L.Embedding(4, 2.5), TypeError, "output_dim must be a positive int"),
])
def test_embedding_errors_name_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --- the activation functions take Keras 3's keyword arguments ---
def test_activation_functions_take_keras_arguments():
    torch = require_torch()
    A = L.activations
    x = np.random.default_rng(8).standard_normal((3, 4, 5)) * 3
    t = torch.tensor(x)
    F = torch.nn.functional
    np.testing.assert_allclose(A.softmax(tc.Tensor(x), axis=1).numpy(), F.softmax(t, dim=1).numpy(), rtol=1e-12)
    np.testing.assert_allclose(A.log_softmax(tc.Tensor(x), axis=0).numpy(), F.log_softmax(t, dim=0).numpy(),
                               rtol=1e-12)
    np.testing.assert_allclose(A.leaky_relu(tc.Tensor(x), negative_slope=0.1).numpy(), F.leaky_relu(t, 0.1).numpy())
    keras_relu = np.where(x >= 0.5, np.minimum(x, 6.0), (x - 0.5) * 0.1)   # Keras's relu with all three options
    np.testing.assert_allclose(A.relu(tc.Tensor(x), negative_slope=0.1, max_value=6.0, threshold=0.5).numpy(),
                               keras_relu)
    np.testing.assert_array_equal(L.ReLU(6.0, 0.1, 0.5)(x).numpy(), A.relu(tc.Tensor(x), 0.1, 6.0, 0.5).numpy())
    assert A.relu(tc.Tensor(x)).numpy().min() == 0 and A.softmax(tc.Tensor(x)).numpy().sum(-1) == pytest.approx(1)


# --- LayerNormalization (Keras 3's layer; tc.layers had none) ---
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), shape=st.lists(st.integers(1, 4), min_size=2, max_size=4),
       trailing=st.integers(1, 3), center=st.booleans(), scale=st.booleans())
def test_layer_normalization_is_torch_layer_norm_values_and_gradients(seed, shape, trailing, center, scale):
    torch = require_torch()
    rng = np.random.default_rng(seed)
    trailing = min(trailing, len(shape) - 1)
    axes = list(range(len(shape) - trailing, len(shape)))
    layer = L.LayerNormalization(axis=axes if trailing > 1 else -1, epsilon=1e-5, center=center, scale=scale,
                                 dtype="float64")
    x = tc.Tensor(rng.standard_normal(shape) * 3 + 1, requires_grad=True)
    layer.build((None, *shape[1:]))
    layer.set_weights([rng.standard_normal(w.shape) for w in layer.weights])
    y = layer(x, training=bool(seed % 2))   # no batch statistics: the same in both modes
    upstream = rng.standard_normal(y.shape)
    y.backward(tc.Tensor(upstream))
    xt = torch.tensor(x.data, requires_grad=True)
    weight = torch.tensor(layer.gamma.data, requires_grad=True) if scale else None
    bias = torch.tensor(layer.beta.data, requires_grad=True) if center else None
    out = torch.nn.functional.layer_norm(xt, tuple(shape[-trailing:]), weight, bias, eps=1e-5)
    out.backward(torch.tensor(upstream))
    np.testing.assert_allclose(y.numpy(), out.detach().numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), rtol=1e-8, atol=1e-9)
    for ours, theirs in ((layer.gamma, weight), (layer.beta, bias)):
        if theirs is not None:
            np.testing.assert_allclose(ours.grad.data, theirs.grad.numpy(), rtol=1e-8, atol=1e-9)
    assert len(layer.weights) == int(center) + int(scale)


def test_layer_normalization_as_keras_documents_it(tmp_path):
    data = np.arange(10, dtype=np.float32).reshape(5, 2) * 10   # Keras's docstring: every row becomes [-1, 1]
    np.testing.assert_allclose(L.LayerNormalization(axis=1)(data).numpy(), [[-1.0, 1.0]] * 5, rtol=1e-4)
    images = np.random.default_rng(5).standard_normal((2, 4, 4, 3)).astype(np.float32)
    over_channels_first = L.LayerNormalization(axis=1)(np.moveaxis(images, 3, 1)).numpy()   # a non-trailing axis
    mean, var = images.mean(-1, keepdims=True), images.var(-1, keepdims=True)
    np.testing.assert_allclose(np.moveaxis(over_channels_first, 1, 3), (images - mean) / np.sqrt(var + 1e-3),
                               rtol=1e-5, atol=1e-5)
    model = tc.Sequential([tc.Input((4, 4, 3)), L.LayerNormalization(axis=[1, 2, 3]), L.Flatten(), L.Dense(2)])
    assert model.layers[0].gamma.shape == (4, 4, 3) and model.layers[0].param_formula() == "2*4*4*3=96"
    model.save(tmp_path / "m.npz")
    np.testing.assert_array_equal(tc.load_model(tmp_path / "m.npz").predict(images, verbose=0),
                                  model.predict(images, verbose=0))
    with pytest.raises(ValueError, match=r"axis \[0, 1\] must name distinct feature axes .*axis 0 is the batch"):
        L.LayerNormalization(axis=[0, 1])(images)
    with pytest.raises(TypeError, match="axis must be an int or a list of ints"):
        L.LayerNormalization(axis=1.0)
    with pytest.raises(ValueError, match="epsilon must be positive"):
        L.LayerNormalization(epsilon=0)


def test_batch_normalization_config_is_unchanged_by_the_shared_base():
    config = L.BatchNormalization(axis=1, momentum=0.9, epsilon=1e-4, gamma_initializer="zeros").get_config()
    assert {key: config[key] for key in ("axis", "momentum", "epsilon", "center", "scale", "gamma_initializer",
                                         "moving_variance_initializer", "synchronized")} == {
        "axis": 1, "momentum": 0.9, "epsilon": 1e-4, "center": True, "scale": True, "gamma_initializer": "zeros",
        "moving_variance_initializer": "ones", "synchronized": False}


# --- OrthogonalRegularizer (Keras 3's; tc.regularizers had none) ---
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 5), columns=st.integers(1, 5),
       mode=st.sampled_from(["rows", "columns"]))
def test_orthogonal_regularizer_is_keras_formula_with_gradients(seed, rows, columns, mode):
    w = np.random.default_rng(seed).standard_normal((rows, columns))
    vectors = w if mode == "rows" else w.T
    unit = vectors / np.sqrt(np.maximum((vectors ** 2).sum(1, keepdims=True), 1e-12))
    n = len(unit)
    off = np.abs(unit @ unit.T) * (1 - np.eye(n))
    expected = 0.3 * 0.5 * off.sum() / (n * (n - 1) / 2) if n > 1 else 0.0
    penalty = tc.regularizers.OrthogonalRegularizer(0.3, mode)
    assert penalty(tc.Tensor(w)).item() == pytest.approx(expected, rel=1e-12, abs=1e-15)
    if n > 1:
        assert tc.gradcheck(penalty, [tc.Tensor(w, requires_grad=True)])


def test_orthogonal_regularizer_by_name_in_a_layer_config_and_errors():
    layer = L.Dense(3, kernel_regularizer="orthogonal_regularizer")
    layer(np.ones((2, 4), np.float32))
    assert len(layer.losses) == 1 and layer.kernel_regularizer == tc.regularizers.OrthogonalRegularizer(0.01)
    again = L.deserialize(L.serialize(layer))
    assert again.kernel_regularizer == tc.regularizers.OrthogonalRegularizer(0.01, "rows")
    with pytest.raises(ValueError, match=r"mode must be one of 'rows', 'columns', got 'diagonal'"):
        tc.regularizers.OrthogonalRegularizer(mode="diagonal")
    with pytest.raises(ValueError, match=r"penalizes a 2-D weight .* got shape \(3, 3, 1, 2\)"):
        tc.regularizers.OrthogonalRegularizer()(tc.Tensor(np.ones((3, 3, 1, 2))))
