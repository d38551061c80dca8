"""Per-op overhead: a chain of 10,000 small-tensor ops, forward and backward, against PyTorch.

Run: python benchmarks/bench_chain.py [--ops 10000] [--repeat 7]

Each library runs in its own worker process (started alternately, best time kept), so that each
sees the heap it would see in a user's program: Python's cyclic garbage collector scans every
object a process holds, and importing PyTorch adds about 170,000 of them, which our Python-level
graph nodes would otherwise pay for. A last row shows that cost: tinygrad_cnn with PyTorch
imported in the same process.
"""
from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from workers import run_worker

# One pass over STEPS records 13 ops: elementwise, broadcasting, transcendental.
STEPS: list[Callable[[Any, Any, Any], Any]] = [
    lambda x, w, b: x * w,
    lambda x, w, b: x + b,
    lambda x, w, b: x.tanh(),
    lambda x, w, b: x - w,
    lambda x, w, b: x.sigmoid(),
    lambda x, w, b: x / (w * w + 1.0),      # 3 ops
    lambda x, w, b: x.relu() + x * 0.5,     # 3 ops
    lambda x, w, b: (x * 0.1).exp(),        # 2 ops
]
OPS_PER_PASS = 13


def chain(n_ops: int, make: Callable[[np.ndarray], Any]) -> float:
    """Seconds for n_ops forward ops on vectors of 16 floats, plus the backward pass through all of them."""
    rng = np.random.default_rng(0)
    x, w, b = (make(rng.standard_normal(16).astype(np.float32)) for _ in range(3))
    start = time.perf_counter()
    y = x
    for _ in range(n_ops // OPS_PER_PASS):
        for step in STEPS:
            y = step(y, w, b)
    y.sum().backward()
    return time.perf_counter() - start


def worker(library: str, n_ops: int) -> float:
    """One timed chain in this process, after a warm-up chain."""
    if library == "torch":
        import torch
        torch.set_num_threads(1)
        make: Callable[[np.ndarray], Any] = lambda a: torch.tensor(a, requires_grad=True)  # noqa: E731
    else:
        if library == "tinygrad_cnn+torch":
            import torch  # noqa: F401  (only its objects in the heap matter)
        import tinygrad_cnn as tc
        make = lambda a: tc.Tensor(a, requires_grad=True)  # noqa: E731
    chain(n_ops, make)
    return chain(n_ops, make)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    n_ops = args.ops // OPS_PER_PASS * OPS_PER_PASS
    if args.worker:
        print(json.dumps({"seconds": worker(args.worker, n_ops)}))
        return
    libraries = ["tinygrad_cnn", "torch", "tinygrad_cnn+torch"]
    try:
        import torch
        version = torch.__version__
    except ImportError:
        libraries, version = ["tinygrad_cnn"], None
        print("(PyTorch not installed: no reference row)")
    best = {name: float("inf") for name in libraries}
    for _ in range(args.repeat):  # alternate, so that machine noise hits every library alike
        for name in libraries:
            best[name] = min(best[name], run_worker(__file__, name, ["--ops", str(n_ops)])["seconds"])
    reference = best.get("torch", best["tinygrad_cnn"])
    print(f"chain of {n_ops} ops on float32 vectors of 16, forward + backward, best of {args.repeat} "
          f"(one process per run{f', PyTorch {version} with 1 thread' if version else ''})")
    print(f"{'library':<40}{'total ms':>10}{'us/op':>8}{'ratio':>8}")
    labels = {"tinygrad_cnn": "tinygrad_cnn", "torch": "torch",
              "tinygrad_cnn+torch": "tinygrad_cnn, torch imported in-process"}
    for name, seconds in best.items():
        print(f"{labels[name]:<40}{seconds * 1e3:>10.1f}{seconds / n_ops * 1e6:>8.2f}{seconds / reference:>8.2f}")


if __name__ == "__main__":
    main()
