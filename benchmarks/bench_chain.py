"""Per-op overhead: a chain of 10,000 small-tensor ops, forward and backward, against PyTorch.

Run: python benchmarks/bench_chain.py [--ops 10000] [--repeat 5]
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import tinygrad_cnn as tc

# One step of the chain cycles through these ops (elementwise, broadcasting and a reduction).
STEPS: list[tuple[str, Callable[[Any, Any, Any], Any]]] = [
    ("mul", lambda x, w, b: x * w),
    ("add", lambda x, w, b: x + b),
    ("tanh", lambda x, w, b: x.tanh()),
    ("sub", lambda x, w, b: x - w),
    ("sigmoid", lambda x, w, b: x.sigmoid()),
    ("div", lambda x, w, b: x / (w * w + 1.0)),
    ("relu", lambda x, w, b: x.relu() + x * 0.5),
    ("exp", lambda x, w, b: (x * 0.1).exp()),
]


def chain(lib: Any, n_ops: int, make: Callable[[np.ndarray], Any]) -> float:
    """Seconds for n_ops forward ops plus the backward pass through all of them."""
    rng = np.random.default_rng(0)
    x, w, b = (make(rng.standard_normal(16).astype(np.float32)) for _ in range(3))
    start = time.perf_counter()
    y, done = x, 0
    while done < n_ops:
        for _, step in STEPS:
            y = step(y, w, b)
        done += count_ops()
    y.sum().backward()
    return time.perf_counter() - start


def count_ops() -> int:
    """Ops recorded by one pass over STEPS (div and relu lines record 3 ops each, exp 2)."""
    return 13


def best_of_interleaved(repeat: int, runs: dict[str, Callable[[], float]]) -> dict[str, float]:
    """Best time of each run, alternating between them so that machine noise hits both alike."""
    best = {name: float("inf") for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            best[name] = min(best[name], run())
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ops", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    runs = {"tinygrad_cnn": lambda: chain(tc, args.ops, lambda a: tc.Tensor(a, requires_grad=True))}
    try:
        import torch
        torch.set_num_threads(1)
        runs["torch " + torch.__version__] = lambda: chain(
            torch, args.ops, lambda a: torch.tensor(a, requires_grad=True))
    except ImportError:
        print("(PyTorch not installed: no reference row)")
    rows = list(best_of_interleaved(args.repeat, runs).items())
    n = (args.ops + count_ops() - 1) // count_ops() * count_ops()
    print(f"chain of {n} ops on float32 vectors of 16, forward + backward, best of {args.repeat}")
    print(f"{'library':<22}{'total ms':>10}{'us/op':>8}{'ratio':>8}")
    for name, seconds in rows:
        print(f"{name:<22}{seconds * 1e3:>10.1f}{seconds / n * 1e6:>8.2f}{seconds / rows[-1][1]:>8.2f}")


if __name__ == "__main__":
    main()
