"""The demo (`tinygrad-cnn demo`, `make demo`): the tutorial's CNN, trained on handwritten digits.

It builds the model, prints its summary, trains it with a progress bar, reports the test accuracy,
draws the learned filters, the feature maps of one digit and the training curves, saves the model,
and finally checks the gradients of a small copy of the model against finite differences.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import tinygrad_cnn as tc
from tinygrad_cnn import layers, losses, optimizers

DEFAULT_OUT = Path("tinygrad_cnn_output")
REQUIRED_ACCURACY = 0.95


def build_model(input_shape: Sequence[int], classes: int = 10) -> tc.Sequential:
    """The tutorial's CNN: two 3x3 convolutions with a max pooling between them, then one Dense layer."""
    return tc.Sequential([
        tc.Input(tuple(input_shape)),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.Flatten(),
        layers.Dense(classes),  # logits: the loss applies the softmax
    ])


def load_data(mnist: str | None, seed: int) -> tuple[str, tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(description, train, test): scikit-learn's 8x8 digits, or the MNIST files in `mnist`."""
    if mnist is None:
        x, y = tc.datasets.load_digits()
        train, test = tc.datasets.train_test_split(x, y, test_fraction=0.2, seed=seed)
        return f"scikit-learn digits, {len(x)} images of 8x8", train, test
    splits = tc.datasets.load_mnist(mnist)
    if "train" in splits and "test" in splits:
        return f"MNIST from {mnist}", splits["train"], splits["test"]
    x, y = next(iter(splits.values()))
    train, test = tc.datasets.train_test_split(x, y, test_fraction=0.2, seed=seed)
    return f"MNIST from {mnist} ({len(x)} images, split 80/20)", train, test


def train(model: tc.Sequential, train_data: tuple[np.ndarray, np.ndarray], epochs: int, verbose: int) -> Any:
    """Adam on the sparse cross-entropy of the logits, 10% of the training data held out for validation."""
    model.compile(optimizers.Adam(learning_rate=0.003), losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model.fit(*train_data, batch_size=32, epochs=epochs, validation_split=0.1, verbose=verbose)


def draw(model: tc.Sequential, history: Any, image: np.ndarray, out: Path) -> list[Path]:
    """The pictures: filters of both convolutions, feature maps of one test image, training curves."""
    convolutions = [layer for layer in model.layers if isinstance(layer, layers.Conv2D)]
    paths = []
    for layer in convolutions:
        paths.append(out / f"filters_{layer.name}.png")
        tc.viz.plot_filters(layer, path=paths[-1])
        paths.append(out / f"feature_maps_{layer.name}.png")
        tc.viz.plot_feature_maps(model, image, layer, path=paths[-1])
    paths.append(out / "training_curves.png")
    tc.viz.plot_history(history, path=paths[-1])
    return paths


@contextlib.contextmanager
def weights_replaced(model: tc.Sequential, values: Sequence[tc.Tensor]) -> Iterator[None]:
    """Run the model with `values` in place of its weights (so gradcheck can differentiate with respect
    to the tensors it passes in): each layer attribute that holds a weight points to the new tensor."""
    swaps = []
    for weight, value in zip(model.weights, values, strict=True):
        for layer in model.layers:
            for attribute, held in vars(layer).items():
                if held is weight:
                    swaps.append((layer, attribute, weight))
                    setattr(layer, attribute, value)
    try:
        yield
    finally:
        for layer, attribute, weight in swaps:
            setattr(layer, attribute, weight)


def gradient_check(seed: int) -> bool:
    """gradcheck of the loss of a small copy of the model with respect to all its weights, in float64."""
    tc.manual_seed(seed)
    model = tc.Sequential([
        tc.Input((5, 5, 1)),
        layers.Conv2D(2, 3, padding="same", activation="tanh"),  # smooth, so no ReLU kink can be hit
        layers.MaxPooling2D(),
        layers.Conv2D(3, 2, padding="same", activation="tanh"),
        layers.Flatten(),
        layers.Dense(3),
    ]).double()
    rng = np.random.default_rng(seed)
    x, y = tc.Tensor(rng.standard_normal((2, 5, 5, 1))), rng.integers(0, 3, 2)
    loss = losses.SparseCategoricalCrossentropy(from_logits=True)

    def loss_of_weights(*weights: tc.Tensor) -> tc.Tensor:
        with weights_replaced(model, weights):
            return loss(y, model(x))

    weights = [tc.Tensor(w.data, requires_grad=True) for w in model.weights]
    count = sum(w.size for w in weights)
    print(f"gradient check of a small copy ({', '.join(type(la).__name__ for la in model.layers)}; "
          f"{count} weights, float64): ", end="", flush=True)
    ok = tc.gradcheck(loss_of_weights, weights, raise_exception=False)
    print("passed: every weight's gradient matches central finite differences" if ok else "FAILED")
    return ok


def run_demo(args: argparse.Namespace) -> int:
    """The whole demo; returns the exit code (0 when the accuracy and the gradient check are good)."""
    started = time.perf_counter()
    seed, epochs = args.seed, args.epochs
    out = Path(args.out)
    tc.manual_seed(seed)
    tc.clear_session()  # default layer names from conv2d, dense, ... (they name the picture files)
    needed = ["matplotlib"] + (["sklearn"] if args.mnist is None else [])  # the pictures, the digits
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        print(f"tinygrad-cnn demo: error: the demo needs {' and '.join(missing)}, which "
              f"{'is' if len(missing) == 1 else 'are'} not installed: "
              'pip install "tinygrad-cnn[examples]"', file=sys.stderr)
        return 2
    try:  # a bad --out or --mnist: say so before any training, without a traceback
        if out.exists() and not out.is_dir():
            raise NotADirectoryError(f"--out {out} is a file, not a folder; choose another --out")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OSError(f"--out {out}: cannot make the folder ({error.strerror}); choose another --out") from None
        description, train_data, (x_test, y_test) = load_data(args.mnist, seed)
    except (OSError, ValueError) as error:
        print(f"tinygrad-cnn demo: error: {error}", file=sys.stderr)
        return 2
    epochs = epochs if epochs is not None else (10 if args.mnist is None else 2)
    print(f"Data: {description}: {len(train_data[0])} for training, {len(x_test)} for testing\n")
    model = build_model(train_data[0].shape[1:])
    model.summary(show_formula=True)
    print()
    history = train(model, train_data, epochs, verbose=1)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    good = accuracy >= REQUIRED_ACCURACY
    print(f"\nTest accuracy: {accuracy:.2%} on {len(x_test)} unseen images "
          f"({'at least' if good else 'BELOW'} {REQUIRED_ACCURACY:.0%})")
    written = draw(model, history, x_test[0], out)
    model.save(out / "model.npz")
    written.append(out / "model.npz")
    try:  # the model's layers as a graph; without graphviz's `dot`, the DOT source instead
        model.plot_model(out / "model_graph.png")
        written.append(out / "model_graph.png")
    except tc.viz.GraphvizNotFoundError as error:
        written.append(error.source_path)
    except ImportError as error:  # the graphviz Python package (the `viz` extra) is not installed
        print(f"\nNo model graph: {error}")
    print(f"\nWrote to {out}/:")
    for path in written:
        print(f"  {path.name}")
    print()
    checked = gradient_check(seed)
    print(f"\nDone in {time.perf_counter() - started:.1f} s.")
    return 0 if good and checked else 1


def whole_number(minimum: int) -> Callable[[str], int]:
    """An option's type: an int of at least `minimum` (argparse prints the error with the usage, exit code 2)."""
    def parse(text: str) -> int:
        if not text.strip().isdigit() or int(text) < minimum:
            raise argparse.ArgumentTypeError(f"must be a whole number of at least {minimum}, got {text!r}")
        return int(text)
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's command-line options."""
    parser.add_argument("--out", default=str(DEFAULT_OUT), help=f"output folder (default: ./{DEFAULT_OUT}/)")
    parser.add_argument("--epochs", type=whole_number(1), default=None,
                        help="training epochs, at least 1 (default: 10, or 2 with --mnist)")
    parser.add_argument("--seed", type=whole_number(0), default=0, help="random seed, at least 0 (default: 0)")
    parser.add_argument("--mnist", metavar="DIR", default=None,
                        help="train on the MNIST IDX files in DIR instead of the 8x8 digits")
