"""Pictures: filters (symmetric gray scale), feature maps of one image, training curves; errors."""
from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import require

import tinygrad_cnn as tc
from tinygrad_cnn import layers
from tinygrad_cnn.viz import feature_maps, plot_feature_maps, plot_filters, plot_history

require("matplotlib")
PNG = b"\x89PNG\r\n\x1a\n"


def images(figure):
    return [image for ax in figure.axes for image in ax.get_images()]


@pytest.fixture
def model():
    tc.manual_seed(0)
    return tc.Sequential([tc.Input((8, 8, 1)), layers.Conv2D(5, 3, padding="same", activation="relu"),
                          layers.MaxPooling2D(), layers.Flatten(), layers.Dense(3)])


def test_filters_share_a_symmetric_gray_scale(model, tmp_path):
    conv = model.layers[0]
    figure = plot_filters(conv, columns=3, path=tmp_path / "filters.png")
    shown = images(figure)
    limit = np.abs(conv.kernel.data).max()
    assert len(shown) == 5
    for index, image in enumerate(shown):
        assert image.get_cmap().name == "gray"
        np.testing.assert_allclose(image.get_clim(), (-limit, limit))
        np.testing.assert_array_equal(image.get_array(), conv.kernel.data[:, :, 0, index])
    assert (tmp_path / "filters.png").read_bytes().startswith(PNG)


def test_filters_of_a_hand_made_kernel_and_of_one_input_channel():
    sobel = tc.filters.sobel_vertical()
    (image,) = images(plot_filters(sobel))
    np.testing.assert_array_equal(image.get_array(), sobel)
    assert image.get_clim() == (-np.abs(sobel).max(), np.abs(sobel).max())
    kernel = np.random.default_rng(0).standard_normal((3, 3, 2, 4))
    shown = images(plot_filters(kernel, channel=1))
    np.testing.assert_array_equal(shown[3].get_array(), kernel[:, :, 1, 3])


def test_filters_errors(model):
    with pytest.raises(ValueError, match="a Dense layer has no filters"):
        plot_filters(model.layers[-1])
    with pytest.raises(IndexError, match="channel 1 is out of range for 1 input channels"):
        plot_filters(model.layers[0], channel=1)
    with pytest.raises(TypeError, match="needs a Conv2D layer"):
        plot_filters("conv2d")
    with pytest.raises(ValueError, match="is not built yet, so it has no filters"):
        plot_filters(layers.Conv2D(2, 3))


def test_feature_maps_after_a_layer(model, tmp_path):
    x = np.random.default_rng(1).random((8, 8, 1), dtype=np.float32)
    conv, pool = model.layers[0], model.layers[1]
    expected = pool(conv(x[None])).data[0]
    np.testing.assert_allclose(feature_maps(model, x, pool.name), expected)
    np.testing.assert_allclose(feature_maps(model, x[None], pool), expected)
    np.testing.assert_allclose(feature_maps(model, x, 1), expected)        # by index in model.layers
    np.testing.assert_allclose(feature_maps(model, x, np.int64(-3)), expected)
    figure = plot_feature_maps(model, x, pool, path=tmp_path / "maps.png")
    shown = images(figure)
    assert len(shown) == 1 + 5
    np.testing.assert_array_equal(shown[0].get_array(), x[..., 0])
    np.testing.assert_allclose(shown[3].get_array(), expected[..., 2])
    assert (tmp_path / "maps.png").read_bytes().startswith(PNG)


def test_feature_maps_errors(model):
    x = np.zeros((8, 8, 1), np.float32)
    with pytest.raises(ValueError, match=r"no layer 'conv9'.*'conv2d"):
        plot_feature_maps(model, x, "conv9")
    with pytest.raises(IndexError, match="layer index 4 is out of range for 4 layers"):
        plot_feature_maps(model, x, 4)
    with pytest.raises(ValueError, match="outputs shape \\(1, 3\\); feature maps need"):
        plot_feature_maps(model, x, model.layers[-1])
    with pytest.raises(ValueError, match="needs one image"):
        plot_feature_maps(model, np.zeros((2, 8, 8, 1)), model.layers[0])


def test_history_curves(tmp_path):
    history = {"loss": [1.0, 0.5, 0.3], "accuracy": [0.5, 0.8, 0.9], "val_loss": [1.1, 0.7, 0.6],
               "val_accuracy": [0.4, 0.7, 0.8]}
    figure = plot_history(history, path=tmp_path / "curves.png")
    loss_axes, accuracy_axes = figure.axes
    assert loss_axes.get_title() == "loss" and accuracy_axes.get_title() == "accuracy"
    np.testing.assert_array_equal(accuracy_axes.lines[1].get_ydata(), history["val_accuracy"])
    np.testing.assert_array_equal(loss_axes.lines[0].get_xdata(), [1, 2, 3])
    assert (tmp_path / "curves.png").read_bytes().startswith(PNG)
    with pytest.raises(ValueError, match="needs the History"):
        plot_history([1, 2])


def test_history_from_fit(model):
    rng = np.random.default_rng(0)
    model.compile("adam", tc.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(rng.random((20, 8, 8, 1)), rng.integers(0, 3, 20), epochs=2, verbose=0)
    (axes,) = plot_history(history).axes
    np.testing.assert_allclose(axes.lines[0].get_ydata(), history.history["loss"])


def test_missing_matplotlib_says_how_to_install(model, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r'pip install "tinygrad-cnn\[examples\]"'):
        plot_filters(model.layers[0])
