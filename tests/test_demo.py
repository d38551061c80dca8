"""The demo: trains the tutorial's CNN, writes its pictures and model, checks its gradients."""
from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import require

import tinygrad_cnn as tc
from tinygrad_cnn.cli import main
from tinygrad_cnn.demo import build_model, weights_replaced

PNG = b"\x89PNG\r\n\x1a\n"
require("sklearn")
require("matplotlib")


def test_demo_trains_draws_saves_and_checks(tmp_path, capsys):
    out = tmp_path / "results"
    assert main(["demo", "--out", str(out), "--epochs", "5", "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    assert "Total params: 9,930" in printed and "Epoch 5/5" in printed
    accuracy = float(re.search(r"Test accuracy: ([\d.]+)%", printed).group(1))
    assert accuracy >= 95.0
    assert "gradient check of a small copy" in printed and "passed" in printed
    pictures = ["feature_maps_conv2d.png", "feature_maps_conv2d_1.png", "filters_conv2d.png",
                "filters_conv2d_1.png", "training_curves.png"]
    assert all((out / name).read_bytes().startswith(PNG) for name in pictures)
    model = tc.load_model(out / "model.npz")
    x, y = tc.datasets.load_digits()
    assert model.evaluate(x, y, verbose=0)[1] > 0.95


def test_demo_trains_on_mnist_files(tmp_path, capsys):
    from test_datasets import idx_bytes
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 60).astype(np.uint8)
    images = (rng.random((60, 28, 28)) * 255).astype(np.uint8)
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(images))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    code = main(["demo", "--mnist", str(tmp_path), "--out", str(tmp_path / "out"), "--epochs", "1"])
    assert code == 1  # 60 random images cannot reach 95%: the demo says so and fails
    printed = capsys.readouterr().out
    assert "MNIST from" in printed and "(None, 28, 28, 16)" in printed and "BELOW 95%" in printed
    assert (tmp_path / "out" / "model.npz").is_file()


@pytest.mark.parametrize("argv, message", [
    (["--epochs", "0"], "argument --epochs: must be a whole number of at least 1, got '0'"),
    (["--epochs", "two"], "argument --epochs: must be a whole number of at least 1, got 'two'"),
    (["--out", "{file}"], "is a file, not a folder; choose another --out"),
    (["--mnist", "{tmp}/nowhere"], "MNIST directory not found"),
    (["--mnist", "{tmp}"], "no MNIST split found"),
])
def test_bad_options_stop_before_training_with_a_message(argv, message, tmp_path, capsys):
    """Each was a traceback (after a whole training run for --epochs 0 and a file as --out)."""
    (tmp_path / "a_file").write_text("")
    argv = [a.format(file=tmp_path / "a_file", tmp=tmp_path) for a in argv]
    try:
        code = main(["demo", "--out", str(tmp_path / "out"), *argv])
    except SystemExit as usage_error:  # argparse's exit for a bad option value
        code = usage_error.code
    captured = capsys.readouterr()
    assert code == 2 and message in captured.err and "Epoch" not in captured.out


def test_missing_extras_are_named_before_training(tmp_path, capsys, monkeypatch):
    """Without matplotlib the demo trained for the whole run, then failed to draw with a traceback."""
    import importlib.util
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *rest: None if name == "matplotlib" else find_spec(name, *rest))
    assert main(["demo", "--out", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "the demo needs matplotlib" in captured.err and "tinygrad-cnn[examples]" in captured.err
    assert "Epoch" not in captured.out


def test_without_the_graphviz_package_the_demo_skips_only_the_model_graph(tmp_path, capsys, monkeypatch):
    """Without the graphviz Python package (the viz extra) the demo ended in a traceback before its gradient check."""
    import tinygrad_cnn.viz.render as render
    monkeypatch.setattr(render, "graphviz", None)
    assert main(["demo", "--out", str(tmp_path), "--epochs", "3"]) == 0
    printed = capsys.readouterr().out
    assert "No model graph: " in printed and "pip install graphviz" in printed
    assert "model.npz" in printed and "model_graph" not in printed and "passed" in printed


def test_weights_replaced_restores_the_model():
    model = build_model((8, 8, 1))
    before = list(model.weights)
    stand_ins = [tc.Tensor(np.zeros_like(w.data), requires_grad=True) for w in before]
    with weights_replaced(model, stand_ins):
        out = model(np.ones((1, 8, 8, 1), np.float32))
        assert np.all(out.data == 0)
        out.sum().backward()
        assert all(s.grad is not None for s in stand_ins)
    assert all(a is b for a, b in zip(model.weights, before, strict=True))
    assert model.layers[0].kernel is before[0]
