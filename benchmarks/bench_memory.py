"""Memory of one training step of the demo CNN, against the same model and step in PyTorch (own processes).

Run: python benchmarks/bench_memory.py [--batch 32 128] [--size 8 28] [--steps 3]

A step is forward, sparse cross-entropy of the logits, backward and an Adam update, on the demo's model
Conv2D(16, 3, same, relu) -> MaxPooling2D -> Conv2D(32, 3, same, relu) -> Flatten -> Dense(10).
For each (image size, batch) it reports, after warm-up steps, the median over `--steps` steps of:
  peak RSS   how far the resident set rises above its level before the step (Linux: the kernel's
             VmHWM high-water mark, reset through /proc/self/clear_refs before each step, after
             glibc's malloc_trim has returned the memory freed by earlier steps);
  traced     the peak of Python-visible allocations during the step (tracemalloc: NumPy's arrays are
             included, PyTorch's C++ allocations are not, so its column only shows Python-side objects);
  growth     RSS after the measured steps minus RSS before them (0 when no graph is kept alive);
and the floor every framework needs: the activations (layer outputs of the batch), the weights, their
gradients and Adam's two moments, in float32. Each library is measured in its own process, so that
each runs with the C allocator settings it chooses (tinygrad_cnn sets glibc's thresholds at import).
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from workers import run_worker

THREADS = str(os.cpu_count() or 1)
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, THREADS)  # before NumPy loads its BLAS

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import tinygrad_cnn as tc  # noqa: E402
from tinygrad_cnn import losses, optimizers  # noqa: E402
from tinygrad_cnn.demo import build_model  # noqa: E402

MiB = 2**20
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    """Resident set size now, in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def peak_rss() -> int:
    """The resident set's high-water mark (VmHWM), in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def reset_peak_rss() -> bool:
    """Set VmHWM back to the current RSS (Linux >= 4.0); False when the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def release_free_memory() -> None:
    """Hand memory that the C allocator keeps after frees back to the system (glibc's malloc_trim), so
    that a step's peak shows up as a rise of the RSS instead of reusing the previous step's pages."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def measure(step: Callable[[], None], warmup: int, steps: int) -> dict[str, float]:
    """Median peak-RSS rise and tracemalloc peak of `step`, and the RSS growth over the measured steps."""
    for _ in range(warmup):
        step()
    release_free_memory()
    start, rises, traced = rss(), [], []
    for _ in range(steps):
        release_free_memory()
        resettable = reset_peak_rss()
        before = rss()
        tracemalloc.start()
        step()
        traced.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        rises.append((peak_rss() if resettable else rss()) - before)
    release_free_memory()
    return {"rise": float(np.median(rises)), "traced": float(np.median(traced)), "growth": rss() - start}


def ours(x: np.ndarray, y: np.ndarray) -> tuple[Callable[[], None], int, int]:
    """(step, activation bytes, parameter count) for tinygrad_cnn."""
    tc.manual_seed(0)
    model = build_model(x.shape[1:])
    optimizer = optimizers.Adam(model.parameters(), learning_rate=0.003)
    loss_fn = losses.SparseCategoricalCrossentropy(from_logits=True)

    def step() -> None:
        optimizer.zero_grad()
        loss_fn(y, model(x)).backward()
        optimizer.step()
    activations = sum(np.prod(layer.output_shape[1:]) for layer in model.layers) * len(x) * 4
    return step, int(activations), model.count_params()


def theirs(x: np.ndarray, y: np.ndarray) -> Callable[[], None]:
    """The same model and step in PyTorch (its native NCHW layout)."""
    import torch
    from torch import nn
    torch.manual_seed(0)
    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
    size = x.shape[1]
    model = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Flatten(),
                          nn.Linear(32 * (size // 2) ** 2, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.003)
    images, labels = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(y)

    def step() -> None:
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
    return step


def worker(library: str, size: int, batch: int, warmup: int, steps: int) -> dict[str, float]:
    """The measurement of one library and shape, inside its own process."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, size, size, 1)).astype(np.float32)
    y = rng.integers(0, 10, batch)
    if library == "ours":
        step, activations, params = ours(x, y)
        floor = (activations + 4 * 4 * params) / MiB   # weights, gradients, Adam's m and v
        return {**measure(step, warmup, steps), "floor": floor}
    return measure(theirs(x, y), warmup, steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--size", type=int, nargs="+", default=[8, 28])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.size[0], args.batch[0], args.warmup, args.steps)))
        return
    try:
        import torch
        version = torch.__version__
    except ImportError:
        version = None
        print("(PyTorch not installed: no reference rows)")
    print(f"one training step (forward, loss, backward, Adam) of the demo CNN, median of {args.steps} steps, "
          f"{THREADS} threads, each library in its own process; MiB")
    print(f"{'input':<10}{'batch':>6}  {'library':<20}{'peak RSS':>9}{'traced':>9}{'growth':>8}{'floor':>8}"
          f"{'RSS ratio':>11}")
    for size in args.size:
        for batch in args.batch:
            arguments = ["--size", str(size), "--batch", str(batch), "--warmup", str(args.warmup),
                         "--steps", str(args.steps)]
            mine = run_worker(__file__, "ours", arguments)
            floor = mine["floor"]
            rows = [("tinygrad_cnn", mine)]
            if version is not None:
                rows.append((f"torch {version}", run_worker(__file__, "torch", arguments)))
            for name, m in rows:
                ratio = m["rise"] / rows[-1][1]["rise"] if rows[-1][1]["rise"] > 0 else float("nan")
                print(f"{size}x{size:<7}{batch:>6}  {name:<20}{m['rise'] / MiB:>9.2f}{m['traced'] / MiB:>9.2f}"
                      f"{m['growth'] / MiB:>8.2f}{floor:>8.2f}{ratio:>11.2f}")


if __name__ == "__main__":
    main()
