"""Convolution and pooling speed against PyTorch CPU, each library in its own process, same thread count.

    python benchmarks/bench_conv.py [--repeats 5] [--rounds 3] [--threads N] [--clock wall|cpu] [--no-memory]

Workloads (float32; ours channels_last, also channels_first; PyTorch NCHW and channels_last memory
format, the ratio is against the faster PyTorch):
  W1 conv (64, 32, 32, 3) -> 16 filters 3x3 same, forward + backward
  W2 conv (64, 32, 32, 16) -> 32 filters 3x3 same, f+b
  W3 conv (32, 64, 64, 8) -> 16 filters 5x5 stride 2 valid, f+b
  W4 max-pool 2x2/2 on (64, 32, 32, 32), f+b
  W5 max-pool 3x3/3 on (64, 33, 33, 16), f+b
  W6 one training step of a LeNet-like CNN on 128 images 28x28x1: conv 8 5x5 relu, max-pool 2,
     conv 16 5x5 relu, max-pool 2, flatten, dense 10, cross-entropy, backward.
Each library runs in its own worker process, so that neither one's threads (PyTorch's OpenMP
threads keep spinning after each op) nor its objects disturb the other. Workers of the two
libraries are started alternately `--rounds` times; each times every workload `--repeats` times
after two warm-ups, and the best time over all rounds is kept (the machine is shared: the
minimum is the least disturbed figure). Both use `--threads` threads (default: the cores this
process may use): tc.set_num_threads for us, torch.set_num_threads for PyTorch, and the same for
BLAS and OpenMP through their environment variables. `--clock cpu` measures process CPU time
instead of wall time: with one thread it is immune to other processes competing for the cores.
Peak memory of W6 is measured in
fresh subprocesses as the growth of the resident set (VmHWM - VmRSS, after resetting VmHWM through
/proc/self/clear_refs) during one step that follows a warm-up step, with glibc told to map every
allocation of 64 KiB or more on its own (MALLOC_MMAP_THRESHOLD_), so that freed memory leaves the
resident set at once and the peak is that of live arrays; for us also tracemalloc's peak of NumPy
allocations.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from workers import run_worker, thread_environment

import tinygrad_cnn as tc

CONV = {  # name: (input NHWC, filters, kernel, strides, padding)
    "W1": ((64, 32, 32, 3), 16, 3, 1, "same"),
    "W2": ((64, 32, 32, 16), 32, 3, 1, "same"),
    "W3": ((32, 64, 64, 8), 16, 5, 2, "valid"),
}
POOL = {  # name: (input NHWC, pool size)
    "W4": ((64, 32, 32, 32), 2),
    "W5": ((64, 33, 33, 16), 3),
}


def best_of(functions: dict[str, Callable[[], Any]], repeats: int,
            clock: Callable[[], float] = time.perf_counter) -> dict[str, float]:
    """Best time in ms of each function, running them interleaved."""
    for f in functions.values():
        f(), f()
    best = {name: float("inf") for name in functions}
    for _ in range(repeats):
        for name, f in functions.items():
            start = clock()
            f()
            best[name] = min(best[name], clock() - start)
    return {name: t * 1e3 for name, t in best.items()}


# --- workloads: ours ---

def ours_conv(shape: tuple[int, ...], filters: int, k: int, stride: int, padding: str,
              data_format: str) -> Callable[[], Any]:
    rng = np.random.default_rng(0)
    n, h, w, c = shape
    x_shape = shape if data_format == "channels_last" else (n, c, h, w)
    x = tc.Tensor(rng.standard_normal(x_shape, dtype=np.float32), requires_grad=True)
    kernel = tc.Tensor(rng.standard_normal((k, k, c, filters), dtype=np.float32), requires_grad=True)
    bias = tc.Tensor(np.zeros(filters, np.float32), requires_grad=True)
    upstream = None

    def step() -> None:
        nonlocal upstream
        x.grad = kernel.grad = bias.grad = None
        y = tc.conv2d(x, kernel, bias, strides=stride, padding=padding, data_format=data_format)
        upstream = upstream if upstream is not None else tc.Tensor(rng.standard_normal(y.shape, dtype=np.float32))
        y.backward(upstream)
    return step


def ours_pool(shape: tuple[int, ...], size: int, data_format: str) -> Callable[[], Any]:
    rng = np.random.default_rng(0)
    n, h, w, c = shape
    x_shape = shape if data_format == "channels_last" else (n, c, h, w)
    x = tc.Tensor(rng.standard_normal(x_shape, dtype=np.float32), requires_grad=True)
    upstream = None

    def step() -> None:
        nonlocal upstream
        x.grad = None
        y = tc.max_pool2d(x, size, data_format=data_format)
        upstream = upstream if upstream is not None else tc.Tensor(rng.standard_normal(y.shape, dtype=np.float32))
        y.backward(upstream)
    return step


def ours_lenet(data_format: str, batch: int = 128) -> Callable[[], Any]:
    """One training step (without the parameter update) of the LeNet-like CNN, written with tc ops."""
    rng = np.random.default_rng(0)
    image_shape = (batch, 28, 28, 1) if data_format == "channels_last" else (batch, 1, 28, 28)
    images = tc.Tensor(rng.random(image_shape, dtype=np.float32))
    labels = rng.integers(0, 10, batch)
    params = [tc.Tensor(rng.standard_normal(s, dtype=np.float32) * 0.1, requires_grad=True)
              for s in [(5, 5, 1, 8), (8,), (5, 5, 8, 16), (16,), (256, 10), (10,)]]
    k1, b1, k2, b2, dense, b3 = params

    def step() -> float:
        for p in params:
            p.grad = None
        h = tc.conv2d(images, k1, b1, data_format=data_format).relu()
        h = tc.max_pool2d(h, 2, data_format=data_format)
        h = tc.conv2d(h, k2, b2, data_format=data_format).relu()
        h = tc.max_pool2d(h, 2, data_format=data_format)
        logits = h.reshape(batch, -1) @ dense + b3
        # one fused op, as PyTorch's F.cross_entropy
        loss = tc.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        loss.backward()
        return loss.item()
    return step


# --- workloads: PyTorch ---

def torch_conv(torch: Any, shape: tuple[int, ...], filters: int, k: int, stride: int, padding: str,
               channels_last: bool) -> Callable[[], Any]:
    F = torch.nn.functional
    n, h, w, c = shape
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(n, c, h, w).to(memory_format=fmt).requires_grad_()
    kernel = torch.randn(filters, c, k, k).to(memory_format=fmt).requires_grad_()
    bias = torch.zeros(filters, requires_grad=True)
    pad = (k - 1) // 2 if padding == "same" else 0   # odd k, stride 1: symmetric
    upstream = torch.randn_like(F.conv2d(x, kernel, bias, stride=stride, padding=pad))

    def step() -> None:
        x.grad = kernel.grad = bias.grad = None
        F.conv2d(x, kernel, bias, stride=stride, padding=pad).backward(upstream)
    return step


def torch_pool(torch: Any, shape: tuple[int, ...], size: int, channels_last: bool) -> Callable[[], Any]:
    F = torch.nn.functional
    n, h, w, c = shape
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.randn(n, c, h, w).to(memory_format=fmt).requires_grad_()
    upstream = torch.randn_like(F.max_pool2d(x, size))

    def step() -> None:
        x.grad = None
        F.max_pool2d(x, size).backward(upstream)
    return step


def torch_lenet(torch: Any, channels_last: bool, batch: int = 128) -> Callable[[], Any]:
    F = torch.nn.functional
    gen = torch.Generator().manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    images = torch.rand(batch, 1, 28, 28, generator=gen).to(memory_format=fmt)
    labels = torch.randint(0, 10, (batch,), generator=gen)
    params = [(torch.randn(*s, generator=gen) * 0.1).requires_grad_()
              for s in [(8, 1, 5, 5), (8,), (16, 8, 5, 5), (16,), (256, 10), (10,)]]
    k1, b1, k2, b2, dense, b3 = params

    def step() -> float:
        for p in params:
            p.grad = None
        h = F.max_pool2d(F.relu(F.conv2d(images, k1, b1)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, k2, b2)), 2)
        loss = F.cross_entropy(h.reshape(batch, -1) @ dense + b3, labels)
        loss.backward()
        return loss.item()
    return step


# --- flops ---

def conv_flops(shape: tuple[int, ...], filters: int, k: int, stride: int, padding: str) -> float:
    """Forward, input gradient and kernel gradient: three GEMMs of 2 * M * K * F each."""
    n, h, w, c = shape
    out = [-(-s // stride) if padding == "same" else (s - k) // stride + 1 for s in (h, w)]
    return 3 * 2 * n * out[0] * out[1] * k * k * c * filters


def pool_flops(shape: tuple[int, ...], size: int) -> float:
    """One comparison per window element forward, one multiply-add backward."""
    n, h, w, c = shape
    return 2 * n * (h // size) * (w // size) * size * size * c


def lenet_flops(batch: int = 128) -> float:
    return (conv_flops((batch, 28, 28, 1), 8, 5, 1, "valid") + conv_flops((batch, 12, 12, 8), 16, 5, 1, "valid")
            + 3 * 2 * batch * 256 * 10)


# --- memory (in a subprocess, so that nothing else is resident) ---

def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure_memory(framework: str) -> dict[str, float]:
    """Peak memory above set-up of one W6 step (run inside the subprocess)."""
    import tracemalloc
    if framework == "ours":
        step = ours_lenet("channels_last")
    else:
        import torch
        step = torch_lenet(torch, channels_last=False)
    step()
    gc.collect()
    tracemalloc.start()
    before = _status_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")   # reset VmHWM (the peak resident set) to the current resident set
    start_traced = tracemalloc.get_traced_memory()[0]
    step()
    peak_traced = tracemalloc.get_traced_memory()[1] - start_traced
    return {"rss_peak_mib": (_status_kib("VmHWM") - before) / 1024, "traced_peak_mib": peak_traced / 2**20}


def memory_in_subprocess(framework: str, threads: int) -> dict[str, float]:
    code = (f"import json, sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); "
            f"import bench_conv; print(json.dumps(bench_conv.measure_memory({framework!r})))")
    # every allocation of 64 KiB or more gets its own mapping, returned to the system when freed:
    # the resident set then follows the live arrays of both frameworks, not malloc's free lists
    env = dict(thread_environment(threads), MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="0")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def worker(library: str, repeats: int, clock_name: str) -> dict[str, dict[str, float]]:
    """Best times in ms of every workload, both layouts, for one library (run inside the worker process)."""
    clock = time.perf_counter if clock_name == "wall" else time.process_time
    if library == "ours":
        layouts = {"ours": "channels_last", "ours_cf": "channels_first"}
        conv = {key: lambda w, fmt=fmt: ours_conv(*w, fmt) for key, fmt in layouts.items()}
        pool = {key: lambda w, fmt=fmt: ours_pool(*w, fmt) for key, fmt in layouts.items()}
        lenet = {key: lambda fmt=fmt: ours_lenet(fmt) for key, fmt in layouts.items()}
    else:
        import torch
        layouts = {"torch": False, "torch_cl": True}
        conv = {key: lambda w, cl=cl: torch_conv(torch, *w, cl) for key, cl in layouts.items()}
        pool = {key: lambda w, cl=cl: torch_pool(torch, *w, cl) for key, cl in layouts.items()}
        lenet = {key: lambda cl=cl: torch_lenet(torch, cl) for key, cl in layouts.items()}
    times = {}
    for name, workload in CONV.items():
        times[name] = best_of({key: make(workload) for key, make in conv.items()}, repeats, clock)
    for name, workload in POOL.items():
        times[name] = best_of({key: make(workload) for key, make in pool.items()}, repeats, clock)
    times["W6"] = best_of({key: make() for key, make in lenet.items()}, repeats, clock)
    return times


def versions(threads: int) -> str:
    code = ("import numpy, torch, tinygrad_cnn as tc; "
            "print(f'tinygrad_cnn {tc.get_num_threads()}, torch {torch.get_num_threads()}; '"
            "f'NumPy {numpy.__version__}, torch {torch.__version__}')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env=thread_environment(threads))
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each workload per worker")
    parser.add_argument("--rounds", type=int, default=3, help="workers started per library, alternately")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.repeats, args.clock)))
        return
    print(f"threads: {versions(args.threads)}; best of {args.rounds} x {args.repeats} per library, "
          f"each in its own process, {args.clock} clock")
    best: dict[str, dict[str, float]] = {}
    for _ in range(args.rounds):
        for library in ("ours", "torch"):
            arguments = ["--repeats", str(args.repeats), "--clock", args.clock]
            for name, times in run_worker(__file__, library, arguments, thread_environment(args.threads)).items():
                row = best.setdefault(name, {})
                for key, ms in times.items():
                    row[key] = min(row.get(key, float("inf")), ms)
    flops = {name: conv_flops(*workload) for name, workload in CONV.items()}
    flops.update({name: pool_flops(*workload) for name, workload in POOL.items()})
    flops["W6"] = lenet_flops()

    header = (f"{'workload':8} {'ours ms':>8} {'ours cf ms':>10} {'torch ms':>9} {'torch cl ms':>11} "
              f"{'ratio':>6} {'ratio cf':>8} {'ours GFLOP/s':>12} {'torch GFLOP/s':>13}")
    print(header)
    print("-" * len(header))
    for name, t in best.items():
        reference = min(t["torch"], t["torch_cl"])
        print(f"{name:8} {t['ours']:8.2f} {t['ours_cf']:10.2f} {t['torch']:9.2f} {t['torch_cl']:11.2f} "
              f"{t['ours'] / reference:6.2f} {t['ours_cf'] / reference:8.2f} "
              f"{flops[name] / t['ours'] / 1e6:12.1f} {flops[name] / reference / 1e6:13.1f}")
    print("ratio = ours / the faster of PyTorch NCHW and channels_last (lower is better)")
    if not args.no_memory:
        ours, theirs = memory_in_subprocess("ours", args.threads), memory_in_subprocess("torch", args.threads)
        print(f"W6 peak memory above set-up (one step after a warm-up step, fresh process): "
              f"ours {ours['rss_peak_mib']:.1f} MiB resident ({ours['traced_peak_mib']:.1f} MiB NumPy "
              f"allocations by tracemalloc), PyTorch {theirs['rss_peak_mib']:.1f} MiB resident")


if __name__ == "__main__":
    main()
