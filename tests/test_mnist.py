"""Real data: a small CNN trained on the first 8,000 MNIST test images classifies the last 2,000."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import layers, losses, optimizers

MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def mnist_images():
    if not MNIST.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"the MNIST files are required in CI but {MNIST} does not exist")
        pytest.skip(f"MNIST not found at {MNIST} (the real-data test runs where it is)")
    return tc.datasets.load_mnist(MNIST)["test"]


def test_mnist_real_data_cnn_reaches_97_percent():
    x, y = mnist_images()
    assert x.shape == (10_000, 28, 28, 1)
    tc.manual_seed(0)
    model = tc.Sequential([
        tc.Input((28, 28, 1)),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dense(10),
    ])
    model.compile(optimizers.Adam(learning_rate=3e-3), losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    history = model.fit(x[:8000], y[:8000], batch_size=64, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    _, accuracy = model.evaluate(x[8000:], y[8000:], batch_size=500, verbose=0)
    assert accuracy >= 0.97, f"accuracy on the last 2,000 images: {accuracy:.2%}"
