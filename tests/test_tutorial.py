"""Every snippet of the seed CNN tutorial, in our API, against the shapes and parameter counts Keras prints.

The Keras numbers below are what `model.summary()` shows in TensorFlow/Keras for the same snippet.
"""
from __future__ import annotations

import importlib.util
import runpy
import sys
from pathlib import Path

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn.layers import Conv2D, Dense, Flatten, MaxPooling2D

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.fixture(autouse=True)
def fresh_names():
    tc.clear_session()


def rows(model: tc.Sequential) -> list[tuple[str, str, str]]:
    """(layer (type), output shape, param #) of each summary row, read back from the printed table."""
    lines: list[str] = []
    model.summary(print_fn=lines.append)
    header = lines[2]
    shape_at, params_at = header.index("Output Shape"), header.index("Param #")
    table = lines[4:lines.index("=" * len(lines[1]), 4)]
    return [(line[:shape_at].strip(), line[shape_at:params_at].strip(), line[params_at:].strip())
            for line in table if not line.startswith("_")]


def totals(model: tc.Sequential) -> list[str]:
    return [line for line in model.summary_str().splitlines() if "params:" in line]


def test_conv2d_with_4_filters_of_5x5():
    # tf.keras.layers.Conv2D(4, 5, activation="relu")
    layer = Conv2D(4, 5, activation="relu")
    y = layer(np.random.default_rng(0).random((2, 256, 256, 1), dtype=np.float32))
    assert y.shape == (2, 252, 252, 4)
    assert layer.kernel.shape == (5, 5, 1, 4) and layer.count_params() == 104  # 4 * (1*5*5 + 1)
    assert y.data.min() >= 0  # relu


def test_model_with_8_filters():
    # model = Sequential(); model.add(Input(shape=(256, 256, 1))); model.add(Conv2D(8, 3, activation="relu"))
    model = tc.Sequential()
    model.add(tc.Input(shape=(256, 256, 1)))
    model.add(Conv2D(8, 3, activation="relu"))
    assert rows(model) == [("conv2d (Conv2D)", "(None, 254, 254, 8)", "80")]
    assert totals(model) == ["Total params: 80", "Trainable params: 80", "Non-trainable params: 0"]
    assert "8*(1*3*3+1)=80" in model.summary_str(show_formula=True)


def test_stride_3():
    model = tc.Sequential([tc.Input((256, 256, 1)), Conv2D(8, 5, strides=3, activation="relu")])
    assert rows(model) == [("conv2d (Conv2D)", "(None, 84, 84, 8)", "208")]


def test_stride_3_with_same_padding():
    model = tc.Sequential([tc.Input((256, 256, 1)), Conv2D(8, 5, strides=3, padding="same", activation="relu")])
    assert rows(model) == [("conv2d (Conv2D)", "(None, 86, 86, 8)", "208")]


@pytest.mark.parametrize("padding, side", [("valid", 5), ("same", 7)])
def test_3x3_filter_on_a_7x7_image(padding, side):
    layer = Conv2D(1, 3, padding=padding)
    assert layer(np.ones((1, 7, 7, 1), np.float32)).shape == (1, side, side, 1)


def test_stride_2_halves_the_image():
    assert Conv2D(1, 3, strides=2, padding="same")(np.ones((1, 8, 8, 1), np.float32)).shape == (1, 4, 4, 1)


def test_replacing_dense_layers_with_a_convolution():
    # the feed-forward model: a (65536, 100) weight matrix on the flattened pixels
    feed_forward = tc.Sequential([tc.Input((256, 256, 1)), Flatten(), Dense(100, activation="relu"),
                                  Dense(100, activation="relu"), Dense(3, activation="softmax")])
    assert feed_forward.layers[1].kernel.shape == (65536, 100)
    assert rows(feed_forward) == [
        ("flatten (Flatten)", "(None, 65536)", "0"), ("dense (Dense)", "(None, 100)", "6,553,700"),
        ("dense_1 (Dense)", "(None, 100)", "10,100"), ("dense_2 (Dense)", "(None, 3)", "303")]
    assert totals(feed_forward)[0] == "Total params: 6,564,103"
    # the first two Dense layers become one Conv2D; Flatten moves between it and the last Dense
    convolutional = tc.Sequential([tc.Input((256, 256, 1)), Conv2D(8, 3, activation="relu"), Flatten(),
                                   Dense(3, activation="softmax")])
    assert rows(convolutional) == [
        ("conv2d (Conv2D)", "(None, 254, 254, 8)", "80"), ("flatten_1 (Flatten)", "(None, 516128)", "0"),
        ("dense_3 (Dense)", "(None, 3)", "1,548,387")]


def test_stacking_three_convolutional_layers():
    model = tc.Sequential([tc.Input((256, 256, 1)),
                           Conv2D(8, 5, strides=3, activation="relu"),    # 8 5x5 filters, strides of 3
                           Conv2D(4, 3, strides=3, activation="relu"),    # 4 3x3 filters, strides of 3
                           Conv2D(2, 3, strides=2, activation="relu")])   # 2 3x3 filters, strides of 2
    assert rows(model) == [("conv2d (Conv2D)", "(None, 84, 84, 8)", "208"),
                           ("conv2d_1 (Conv2D)", "(None, 28, 28, 4)", "292"),
                           ("conv2d_2 (Conv2D)", "(None, 13, 13, 2)", "74")]
    assert totals(model)[0] == "Total params: 574"
    # the filters of one layer are the input channels of the next
    assert [layer.kernel.shape[2] for layer in model.layers] == [1, 8, 4]


def test_max_pooling_3x3_stride_3_valid():
    max_pool_2d = MaxPooling2D(pool_size=(3, 3), strides=(3, 3), padding="valid")
    model = tc.Sequential([tc.Input((256, 256, 1)), Conv2D(8, 5, strides=3, activation="relu"), max_pool_2d])
    assert rows(model)[1] == ("max_pooling2d (MaxPooling2D)", "(None, 28, 28, 8)", "0")
    x = np.arange(36, dtype=np.float32).reshape(1, 6, 6, 1)
    np.testing.assert_array_equal(max_pool_2d(x).data[0, :, :, 0], [[14, 17], [32, 35]])


def test_max_pooling_gives_some_translation_invariance():
    image = np.zeros((1, 6, 6, 1), np.float32)
    image[0, 0, 0, 0] = 1
    shifted = np.roll(image, (1, 1), axis=(1, 2))  # the bright pixel moves inside the same 3x3 window
    pool = MaxPooling2D(3)
    np.testing.assert_array_equal(pool(image).data, pool(shifted).data)


def test_feature_maps_are_one_image_per_filter():
    model = tc.Sequential([tc.Input((28, 28, 1)), Conv2D(2, 3, activation="relu"), MaxPooling2D(2)])
    maps = model.layers[0](np.random.default_rng(0).random((1, 28, 28, 1), dtype=np.float32))
    assert maps.shape == (1, 26, 26, 2)  # (batch, new height, new width, number of filters)
    assert model.output_shape == (None, 13, 13, 2)


def test_hand_designed_edge_filters_load_into_conv2d():
    layer = Conv2D(2, 3, use_bias=False)
    layer.build((None, 8, 8, 1))
    layer.set_weights([tc.filters.kernel(tc.filters.sobel_vertical(), tc.filters.sobel_horizontal())])
    image = np.zeros((1, 8, 8, 1), np.float32)
    image[:, :, :4] = 1  # bright left half: one vertical edge
    response = layer(image).data[0]
    assert np.abs(response[..., 0]).max() == 4 and np.abs(response[..., 1]).max() == 0
    assert set(np.nonzero(response[..., 0])[1]) == {2, 3}  # only the windows that straddle the edge


# what each example must print (Keras's shapes and counts for the models it builds)
EXAMPLE_OUTPUT = {
    "filters.py": ["output (2, 252, 252, 4)", "104 params", "(None, 254, 254, 8)", "8*(1*3*3+1)=80",
                   "8*(3*3*3+1)=224"],
    "stride_and_padding.py": ["'valid'  on a 7x7 image -> 5x5", "'same'   on a 7x7 image -> 7x7",
                              "strides=2 with 'same' padding on 12x12 -> 6x6", "(None, 84, 84, 8)",
                              "(None, 86, 86, 8)", "Total params: 208"],
    "stacking.py": ["6,553,700", "Total params: 6,564,103", "(None, 516128)", "(None, 28, 28, 4)",
                    "(None, 13, 13, 2)", "29x29"],
    "pooling.py": ["[[14 17]\n [32 35]]", "outputs equal? True", "(None, 28, 28, 8)"],
    # 10 digit classes with scikit-learn, else the example's 2 classes of synthetic stripes (Dense(10) or Dense(2))
    "feature_maps.py": ["(None, 8, 8, 8)", "after conv2d          feature maps (1, 8, 8, 8)",
                        "Total params: 3,818" if importlib.util.find_spec("sklearn") else "Total params: 1,762"],
    "edge_detection.py": ["(None, 16, 16, 5)", "5*(1*3*3)=45",
                          "left and right sides of the square only: [3, 4, 11, 12]"],
}


def test_every_example_is_checked():
    assert sorted(EXAMPLE_OUTPUT) == sorted(p.name for p in EXAMPLES.glob("*.py"))


@pytest.mark.parametrize("script", sorted(EXAMPLE_OUTPUT))
def test_examples_run_and_print_their_shapes(script, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", [script, "--out", str(tmp_path), "--quick"])
    tc.manual_seed(0)
    runpy.run_path(str(EXAMPLES / script), run_name="__main__")
    printed = capsys.readouterr().out
    for expected in EXAMPLE_OUTPUT[script]:
        assert expected in printed
