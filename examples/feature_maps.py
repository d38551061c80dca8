"""Feature maps: what each filter of a trained CNN responds to in one image (tutorial section "Feature Maps").

Trains a small CNN on scikit-learn's 8x8 digits (or on synthetic stripes without scikit-learn), prints
the shape of the feature maps after every layer and, with matplotlib, draws the learned filters, the
feature maps of one digit and the training curves as PNG files.

Run: python examples/feature_maps.py [--out DIR] [--quick]
"""
import argparse
from pathlib import Path

import numpy as np

import tinygrad_cnn as tc
from tinygrad_cnn.layers import Conv2D, Dense, Flatten, MaxPooling2D


def load_data() -> tuple[np.ndarray, np.ndarray, str]:
    """(images, labels, description): the digits, or vertical/horizontal stripes as a stand-in."""
    try:
        x, y = tc.datasets.load_digits()
        return x, y, "scikit-learn's 8x8 digits"
    except ImportError:
        rng = np.random.default_rng(0)
        y = rng.integers(0, 2, 600)
        x = rng.random((600, 8, 8, 1), dtype=np.float32) * 0.3
        x[y == 0, :, ::2] += 0.7   # label 0: vertical stripes
        x[y == 1, ::2, :] += 0.7   # label 1: horizontal stripes
        return x, y, "synthetic stripes (install scikit-learn for the digits)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("example_output"), help="folder for the PNG files")
    parser.add_argument("--quick", action="store_true", help="train for one epoch only")
    args = parser.parse_args()

    tc.manual_seed(0)
    x, y, description = load_data()
    classes = int(y.max()) + 1
    model = tc.Sequential([
        tc.Input((8, 8, 1)),
        Conv2D(8, 3, padding="same", activation="relu"),
        MaxPooling2D(2),
        Conv2D(16, 3, padding="same", activation="relu"),
        Flatten(),
        Dense(classes, activation="softmax"),
    ])
    model.summary(show_formula=True, show_receptive_field=True)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    print(f"training on {len(x)} images of {description}")
    history = model.fit(x, y, batch_size=32, epochs=1 if args.quick else 8, validation_split=0.2, verbose=0)
    print(f"accuracy after training: {history.history['accuracy'][-1]:.3f} "
          f"(validation {history.history['val_accuracy'][-1]:.3f})")

    image = x[:1]
    out = tc.Tensor(image)
    with tc.no_grad():
        for layer in model.layers:
            out = layer(out, training=False)
            print(f"after {layer.name:15} feature maps {out.shape}")

    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("matplotlib is not installed: no pictures (pip install 'tinygrad-cnn[examples]')")
        return
    args.out.mkdir(parents=True, exist_ok=True)
    first = model.layers[0]
    tc.viz.plot_filters(first, path=args.out / "filters.png")
    tc.viz.plot_feature_maps(model, image[0], first, path=args.out / "feature_maps.png")
    tc.viz.plot_history(history, path=args.out / "history.png")
    print(f"wrote filters.png, feature_maps.png and history.png to {args.out}")


if __name__ == "__main__":
    main()
