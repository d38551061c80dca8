"""One epoch of `fit` of the demo CNN on MNIST-sized data, against the same model and loop in PyTorch.

Run: python benchmarks/bench_fit.py [--images 10000] [--batch 128] [--threads 2] [--repeat 3]

Both sides train Conv2D(16, 3, same, relu) -> MaxPooling2D -> Conv2D(32, 3, same, relu) -> Flatten
-> Dense(10) with Adam on the sparse cross-entropy of the logits, shuffling every epoch, on random
28x28x1 images (the data does not change the arithmetic). PyTorch runs its native NCHW layout. Each
library runs in its own worker process (started alternately, `--repeat` times each; the best is
reported), with `--threads` threads for us, PyTorch, BLAS and OpenMP alike.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from workers import run_worker, thread_environment


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args()


ARGS = parse()
os.environ.update(thread_environment(ARGS.threads))  # before NumPy loads its BLAS; inherited by the workers

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import tinygrad_cnn as tc  # noqa: E402
from tinygrad_cnn import losses, optimizers  # noqa: E402
from tinygrad_cnn.demo import build_model  # noqa: E402


def ours(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(seconds for one epoch of fit, seconds for predict on all images)."""
    tc.manual_seed(0)
    model = build_model((28, 28, 1))
    model.compile(optimizers.Adam(learning_rate=1e-3), losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x[: 2 * ARGS.batch], y[: 2 * ARGS.batch], batch_size=ARGS.batch, verbose=0)  # warm up
    start = time.perf_counter()
    model.fit(x, y, batch_size=ARGS.batch, epochs=1, verbose=0)
    middle = time.perf_counter()
    model.predict(x, batch_size=ARGS.batch)
    return middle - start, time.perf_counter() - middle


def theirs(torch: object, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The same model and loop written for PyTorch."""
    nn = torch.nn
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(14 * 14 * 32, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))  # (N, 28, 28, 1) -> (N, 1, 28, 28)
    labels = torch.from_numpy(y)

    def epoch(count: int) -> None:
        order = torch.randperm(count)
        for start in range(0, count, ARGS.batch):
            index = order[start:start + ARGS.batch]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(images[index]), labels[index])
            loss.backward()
            opt.step()

    epoch(2 * ARGS.batch)  # warm up
    start = time.perf_counter()
    epoch(len(x))
    middle = time.perf_counter()
    with torch.no_grad():
        for first in range(0, len(x), ARGS.batch):
            model(images[first:first + ARGS.batch])
    return middle - start, time.perf_counter() - middle


def worker(library: str) -> tuple[float, float]:
    """(fit seconds, predict seconds) for one library, inside its own process."""
    rng = np.random.default_rng(0)
    x = rng.random((ARGS.images, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, ARGS.images)
    if library == "ours":
        return ours(x, y)
    import torch
    return theirs(torch, x, y)


def main() -> None:
    if ARGS.worker:
        print(json.dumps(worker(ARGS.worker)))
        return
    runs: dict[str, list[tuple[float, float]]] = {"ours": [], "torch": []}
    for _ in range(ARGS.repeat):
        for library in runs:
            arguments = ["--images", str(ARGS.images), "--batch", str(ARGS.batch), "--threads", str(ARGS.threads)]
            runs[library].append(tuple(run_worker(__file__, library, arguments)))
    import torch
    steps = -(-ARGS.images // ARGS.batch)
    print(f"demo CNN, {ARGS.images} images 28x28x1, batch {ARGS.batch} ({steps} steps), {ARGS.threads} threads, "
          f"best of {ARGS.repeat}, each library in its own process; torch {torch.__version__}, "
          f"numpy {np.__version__}\n")
    print(f"| {'what':<28} | {'tinygrad_cnn':>12} | {'PyTorch':>10} | {'ratio':>6} |")
    print(f"|{'-' * 30}|{'-' * 14}|{'-' * 12}|{'-' * 8}|")
    for index, what in enumerate(("fit, one epoch", "predict, all images")):
        a, b = min(m[index] for m in runs["ours"]), min(r[index] for r in runs["torch"])
        print(f"| {what:<28} | {a:>10.2f} s | {b:>8.2f} s | {a / b:>5.2f}x |")
        if index == 0:
            print(f"| {'  per training step':<28} | {1e3 * a / steps:>9.1f} ms | {1e3 * b / steps:>7.1f} ms | "
                  f"{'':>6} |")


if __name__ == "__main__":
    main()
