"""Sequential: building, summary, receptive fields, state dicts, modes, configs and errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn.layers import (
    BatchNormalization,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling2D,
    MaxPooling2D,
)


@pytest.fixture(autouse=True)
def fresh_names():
    """Default names (conv2d, conv2d_1, ...) start afresh in every test."""
    tc.clear_session()


def small_cnn() -> tc.Sequential:
    return tc.Sequential([
        tc.Input((8, 8, 1)), Conv2D(4, 3, activation="relu"), BatchNormalization(), MaxPooling2D(2), Flatten(),
        Dropout(0.5), Dense(3, activation="softmax"),
    ])


def test_summary_prints_keras_table():
    model = tc.Sequential()
    model.add(tc.Input(shape=(256, 256, 1)))
    model.add(Conv2D(8, 3, activation="relu"))
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    assert lines == [
        'Model: "sequential"',
        "_" * 65,
        "Layer (type)                 Output Shape              Param #",
        "=" * 65,
        "conv2d (Conv2D)              (None, 254, 254, 8)       80",
        "=" * 65,
        "Total params: 80",
        "Trainable params: 80",
        "Non-trainable params: 0",
        "_" * 65,
    ]
    assert str(model) == model.summary_str() == "\n".join(lines)


def test_summary_counts_non_trainable_weights_and_shows_formulas():
    text = small_cnn().summary_str(show_formula=True, show_receptive_field=True)
    rows = {parts[0]: parts for parts in map(str.split, text.splitlines()) if len(parts) > 1 and "(" in parts[1]}
    assert rows["conv2d"][2:] == ["(None,", "6,", "6,", "4)", "40", "4*(1*3*3+1)=40", "3x3"]
    assert rows["batch_normalization"][-3:] == ["16", "4*4=16", "3x3"]
    assert rows["max_pooling2d"][-3:] == ["0", "-", "4x4"]
    assert rows["dense"][-4:] == ["111", "3*(36+1)=111", "whole", "input"]
    assert "Total params: 167" in text and "Trainable params: 159" in text and "Non-trainable params: 8" in text


@settings(max_examples=20)
@given(stack=st.lists(st.tuples(st.sampled_from(["conv", "pool"]), st.integers(1, 3), st.integers(1, 2),
                                st.integers(1, 2)), min_size=1, max_size=3))
def test_receptive_field_matches_the_gradient_footprint(stack):
    """The summary's receptive field is the input region that one output value's gradient reaches."""
    layers = []
    for kind, size, stride, dilation in stack:
        layers.append(Conv2D(1, size, strides=stride, dilation_rate=dilation, kernel_initializer="ones")
                      if kind == "conv" else tc.layers.AveragePooling2D(size, strides=stride))
    model = tc.Sequential([tc.Input((40, 40, 1)), *layers])
    x = tc.Tensor(np.ones((1, 40, 40, 1)), requires_grad=True)
    y = model(x)
    y[0, 0, 0, 0].backward()
    rows, cols = np.nonzero(x.grad.data[0, :, :, 0])
    text = model.summary_str(show_receptive_field=True)
    last_row = [line for line in text.splitlines() if line.startswith(model.layers[-1].name + " ")][0]
    assert last_row.split()[-1] == f"{rows.max() + 1}x{cols.max() + 1}"


def test_model_built_on_first_call_and_by_build():
    model = tc.Sequential([Conv2D(2, 3), Flatten(), Dense(2)])
    with pytest.raises(ValueError, match="not built yet"):
        model.summary()
    y = model(np.zeros((5, 6, 6, 1), np.float32))
    assert y.shape == (5, 2) and model.output_shape == (None, 2) and model.input_shape == (None, 6, 6, 1)
    assert model.count_params() == 2 * 10 + 2 * 33
    other = tc.Sequential([Conv2D(2, 3), Flatten(), Dense(2)])
    other.build((None, 6, 6, 1))
    assert other.count_params() == model.count_params()
    other.add(Dense(4))
    assert other.output_shape == (None, 4) and other.layers[-1].input_shape == (None, 2)


def test_parameters_and_named_parameters():
    model = small_cnn()
    names = [name for name, _ in model.named_parameters()]
    assert names == ["conv2d/kernel", "conv2d/bias", "batch_normalization/gamma", "batch_normalization/beta",
                     "dense/kernel", "dense/bias"]
    assert model.parameters() == [w for _, w in model.named_parameters()]
    assert all(w.requires_grad for w in model.parameters())
    assert [w.name for w in model.non_trainable_weights] == ["batch_normalization/moving_mean",
                                                             "batch_normalization/moving_variance"]


def test_a_hand_written_loop_lowers_the_loss():
    tc.manual_seed(0)
    model = tc.Sequential([tc.Input((4,)), Dense(8, activation="tanh"), Dense(1)])
    x = np.random.default_rng(0).standard_normal((32, 4)).astype(np.float32)
    y = x @ np.array([[1.0], [-2.0], [0.5], [0.0]], np.float32)
    losses = []
    for _ in range(30):
        model.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        losses.append(loss.item())
        with tc.no_grad():
            for weight in model.parameters():
                weight -= 0.1 * weight.grad.data
    assert losses[-1] < 0.5 * losses[0]


def test_train_eval_and_the_training_override():
    model = small_cnn()
    x = np.random.default_rng(0).standard_normal((6, 8, 8, 1)).astype(np.float32)
    bn, dropout = model.layers[1], model.layers[4]
    assert not (model.training or bn.training or dropout.training)  # inference until train(), as in Keras
    moving = bn.moving_mean.data.copy()
    model(x)
    model(x, training=False)
    np.testing.assert_array_equal(bn.moving_mean.data, moving)   # inference: no update
    first, second = model(x, training=False).data, model(x, training=False).data
    np.testing.assert_array_equal(first, second)                  # and no dropout
    model.train()
    assert model.training and bn.training and dropout.training
    model(x)                                                      # training mode: moving statistics move
    assert not np.array_equal(bn.moving_mean.data, moving)
    model.eval()
    assert not model.training and not bn.training and not dropout.training
    np.testing.assert_array_equal(model(x).data, model(x).data)
    assert not np.array_equal(model(x, training=True).data, model(x).data)
    assert model.train() is model and dropout.training


def test_state_dict_round_trip():
    tc.manual_seed(1)
    source = small_cnn()
    source(np.ones((4, 8, 8, 1), np.float32))  # moves the batch-norm statistics
    state = source.state_dict()
    assert list(state) == [w.name for w in source.weights]
    tc.clear_session()
    target = small_cnn()
    target.load_state_dict(state)
    x = np.random.default_rng(2).standard_normal((3, 8, 8, 1)).astype(np.float32)
    np.testing.assert_array_equal(target(x, training=False).data, source(x, training=False).data)
    state["dense/bias"][:] = 100  # a copy: the model is unchanged
    assert source.layers[-1].bias.data.max() < 100


def test_state_dict_loads_into_a_copy_built_in_the_same_session():
    """A second small_cnn() is named conv2d_1, ...: as in PyTorch, a copy of the architecture loads the state."""
    tc.manual_seed(3)
    source = small_cnn()
    source(np.random.default_rng(0).standard_normal((4, 8, 8, 1)), training=True)  # moves the statistics
    target = small_cnn()
    assert not set(target.state_dict()) & set(source.state_dict())
    assert target.load_state_dict(source.state_dict()) == ([], [])
    x = np.random.default_rng(1).standard_normal((3, 8, 8, 1)).astype(np.float32)
    np.testing.assert_array_equal(target(x).data, source(x).data)
    other = tc.Sequential([tc.Input((8, 8, 1)), Conv2D(4, 3), BatchNormalization(), Flatten(), Dense(2)])
    before = other.get_weights()
    with pytest.raises(ValueError, match=r"'dense_2/kernel' has shape \(36, 3\) in the state dict but \(144, 2\)"):
        other.load_state_dict(source.state_dict())
    assert all(np.array_equal(a, b) for a, b in zip(other.get_weights(), before, strict=True))


def test_load_state_dict_checks_everything_before_changing_anything():
    model = small_cnn()
    before = model.state_dict()
    good = {name: np.ones_like(value) for name, value in before.items()}
    with pytest.raises(KeyError, match=r"missing weights \['dense/bias'\], unexpected weights \['dense/b'\]"):
        model.load_state_dict({**{k: v for k, v in good.items() if k != "dense/bias"}, "dense/b": np.zeros(3)})
    with pytest.raises(ValueError, match=r"weight 'dense/kernel' has shape \(3, 36\) in the state dict but \(36, 3\)"):
        model.load_state_dict({**good, "dense/kernel": np.zeros((3, 36))})
    with pytest.raises(TypeError, match="mapping from weight names to arrays"):
        model.load_state_dict([1, 2])
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
    missing, unexpected = model.load_state_dict({"conv2d/bias": np.ones(4), "extra": np.ones(1)}, strict=False)
    assert "conv2d/kernel" in missing and unexpected == ["extra"]
    np.testing.assert_array_equal(model.layers[0].bias.data, 1)


def test_config_round_trip_rebuilds_the_same_architecture():
    model = small_cnn()
    model.layers[0].trainable = False
    config = json.loads(json.dumps(model.get_config()))
    rebuilt = tc.Sequential.from_config(config)
    assert rebuilt.summary_str() == model.summary_str()
    assert rebuilt.get_config() == model.get_config()
    assert [w.shape for w in rebuilt.weights] == [w.shape for w in model.weights]
    with pytest.raises(ValueError, match="unknown layer class 'Lambda'"):
        tc.Sequential.from_config({"layers": [{"class_name": "Lambda", "config": {}}]})
    with pytest.raises(ValueError, match="'layers' list"):
        tc.Sequential.from_config({"name": "x"})


def test_nested_models_are_one_row_and_share_weights():
    inner = tc.Sequential([Conv2D(2, 3, activation="relu"), GlobalAveragePooling2D()], name="features")
    model = tc.Sequential([tc.Input((7, 7, 1)), inner, Dense(2)])
    assert model.count_params() == 20 + 6
    assert "features (Sequential)" in model.summary_str()
    assert model(np.ones((2, 7, 7, 1), np.float32)).shape == (2, 2)
    rebuilt = tc.Sequential.from_config(json.loads(json.dumps(model.get_config())))
    assert rebuilt.summary_str() == model.summary_str()
    model.eval()
    assert not inner.layers[0].training


def test_get_layer_pop_and_repr():
    model = small_cnn()
    assert model.get_layer("flatten") is model.layers[3] and model.get_layer(index=-1) is model.layers[-1]
    dense = model.pop()
    assert dense.name == "dense" and model.output_shape == (None, 36)
    assert repr(model) == "<Sequential 'sequential': 5 layers, 56 params>"
    with pytest.raises(ValueError, match="no layer named 'conv'"):
        model.get_layer("conv")
    with pytest.raises(IndexError, match="has 5 layers, no index 9"):
        model.get_layer(index=9)


def test_sequential_errors_are_clear():
    model = tc.Sequential([tc.Input((4,)), Dense(2)])
    with pytest.raises(TypeError, match="needs a layer.*got int"):
        model.add(3)
    with pytest.raises(ValueError, match="an Input can only be the first entry"):
        model.add(tc.Input((2,)))
    with pytest.raises(ValueError, match="already contains"):
        model.add(model.layers[0])
    with pytest.raises(ValueError, match="unique names, and 'dense' is taken"):
        model.add(Dense(3, name="dense"))
    with pytest.raises(ValueError, match=r"input_layer.*axis 1 must have size 4, not 5"):
        model(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="has no layers yet"):
        tc.Sequential()(np.zeros((2, 3)))
    with pytest.raises(TypeError, match="layers must be a list"):
        tc.Sequential(Dense(2))
    with pytest.raises(ValueError, match=r"kernel is 3 high.*only 2 high"):
        tc.Sequential([tc.Input((2, 2, 1)), Conv2D(1, 3)])


def test_keras_training_methods_hand_over_to_training_and_saving(tmp_path):
    tc.manual_seed(0)
    model = tc.Sequential([tc.Input((4, 4, 1)), Conv2D(2, 3, activation="relu"), Flatten(),
                           Dense(2, activation="softmax")])
    x = np.random.default_rng(0).random((16, 4, 4, 1), dtype=np.float32)
    y = (x.mean(axis=(1, 2, 3)) > 0.5).astype(np.int64)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    loss, accuracy = model.evaluate(x, y, verbose=0)
    assert np.isfinite(loss) and 0 <= accuracy <= 1
    predictions = model.predict(x)
    assert predictions.shape == (16, 2)
    model.save(tmp_path / "model.npz")
    np.testing.assert_allclose(tc.load_model(tmp_path / "model.npz").predict(x), predictions, rtol=1e-6)
    model.save_weights(tmp_path / "weights.npz")
    other = tc.Sequential.from_config(model.get_config())
    other.load_weights(tmp_path / "weights.npz")
    np.testing.assert_allclose(other.predict(x), predictions, rtol=1e-6)


def test_inputs_of_any_size_with_none():
    model = tc.Sequential([tc.Input((None, None, 1)), Conv2D(2, 3), GlobalAveragePooling2D(), Dense(3)])
    shapes = [parts[2:-1] for parts in map(str.split, model.summary_str().splitlines())
              if len(parts) > 2 and parts[2].startswith("(None")]
    assert shapes == [["(None,", "None,", "None,", "2)"], ["(None,", "2)"], ["(None,", "3)"]]
    assert model(np.ones((2, 7, 7, 1), np.float32)).shape == (2, 3)
    assert model(np.ones((1, 12, 9, 1), np.float32)).shape == (1, 3)
    with pytest.raises(ValueError, match=r"axis 3 must have size 1, not 2"):
        model(np.ones((1, 5, 5, 2), np.float32))


@pytest.mark.parametrize("image_layer", [MaxPooling2D, Conv2D, tc.layers.Cropping2D, tc.layers.UpSampling2D])
def test_sequential_build_names_the_layer_given_the_wrong_rank(image_layer):
    """build((None, 5)) through Dense into an image layer: the image layer's rank message, not an unpacking error."""
    layer = image_layer(2, 3) if image_layer is Conv2D else image_layer()
    model = tc.Sequential([Dense(3), layer])
    with pytest.raises(ValueError, match=rf"{layer.name}' expects 4-D input .* got shape \(None, 3\)"):
        model.build((None, 5))
