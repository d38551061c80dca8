"""Render the pictures of docs/graphs.md with our own code, and print the text it shows.

Run from the repository root: python docs/render_graphs.py   (needs graphviz's `dot`)
"""
from __future__ import annotations

import pathlib
import time

import numpy as np

import tinygrad_cnn as tc
from tinygrad_cnn.losses import sparse_categorical_crossentropy
from tinygrad_cnn.viz.command import demo_model

IMAGES = pathlib.Path(__file__).parent / "images"


def save(graph, name: str) -> None:
    graph.graph_attr["dpi"] = "72"  # small files for the repository
    path = tc.viz.save_graph(graph, IMAGES / name)
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


def main() -> None:
    tc.clear_session()
    model, images, labels = demo_model(seed=0)
    loss = sparse_categorical_crossentropy(labels, model(images), from_logits=True)
    loss.name = "loss"
    save(tc.draw_graph(loss), "graph_forward.png")
    save(tc.draw_graph(loss, collapse=True), "graph_collapsed.png")
    save(tc.draw_graph(loss, direction="backward", show=("shape",)), "graph_backward.png")
    save(model.plot_model(None), "graph_plot_model.png")

    # gradients on the graph, and a NaN drawn red
    x = tc.Tensor([[0.5, -1.0, 2.0]], requires_grad=True, name="x")
    with tc.mode.scope("dense", "Dense"):
        w = tc.Tensor(np.array([[1.0], [2.0], [0.5]], np.float32), requires_grad=True, name="dense/kernel")
        z = x @ w
    with np.errstate(invalid="ignore"):
        y = (x * z).log()  # log of a negative number: NaN
    y.sum().backward()
    save(tc.draw_graph(y, show=("shape", "grad", "value")), "graph_gradients.png")

    # the node budget: 10,000 ops drawn as the last 6 and one summary node
    h = tc.Tensor(np.ones(4, np.float32), requires_grad=True, name="h0")
    for _ in range(10_000):
        h = h.tanh()
    save(tc.draw_graph(h, max_nodes=6, rankdir="LR"), "graph_budget.png")

    print("\ntext_graph(loss):\n")
    print(tc.viz.text_graph(loss, show=("shape",)))
    timings()


def chain(n: int) -> tc.Tensor:
    y = tc.Tensor(np.ones(2, np.float32), requires_grad=True)
    for _ in range(n):
        y = y.tanh()
    return y


def timings() -> None:
    """The figures quoted in graphs.md: a big graph with skip connections and layers, and a deep chain."""
    rng = np.random.default_rng(0)
    tensors, n = [tc.randn(4, 8, requires_grad=True)], 0
    while n < 10_000:
        with tc.mode.scope(f"block{n // 60}", "Block"):
            for _ in range(20):
                a, b = tensors[-1], tensors[int(rng.integers(max(0, len(tensors) - 30), len(tensors)))]
                tensors.append((a * 0.5 + b).tanh())
                n += 3
    out = tensors[-1].sum()
    start = time.perf_counter()
    graph = tc.draw_graph(out)
    drawn = time.perf_counter()
    tc.viz.save_graph(graph, IMAGES / "timing.svg")
    (IMAGES / "timing.svg").unlink()
    print(f"\n{n:,} ops with skip connections: draw_graph {drawn - start:.2f} s, "
          f"render SVG {time.perf_counter() - drawn:.2f} s")
    out = chain(100_000)
    start = time.perf_counter()
    small = tc.draw_graph(out).source
    budget = time.perf_counter()
    whole = tc.draw_graph(out, max_nodes=None).source
    full = time.perf_counter()
    tc.viz.text_graph(out)
    print(f"chain of 100,000 ops: DOT {budget - start:.2f} s (max_nodes=500, {len(small) // 1024} KiB), "
          f"{full - budget:.2f} s (max_nodes=None, {len(whole) // 2**20} MiB); "
          f"text_graph {time.perf_counter() - full:.2f} s")


if __name__ == "__main__":
    main()
