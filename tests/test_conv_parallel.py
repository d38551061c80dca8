"""conv2d split over threads: the same forward, gradients and second order as on one thread."""
from __future__ import annotations

import importlib
import threading

import numpy as np
import pytest
from test_conv2d import SMALL_CASES, small_conv_case

import tinygrad_cnn as tc
from tinygrad_cnn import parallel

conv_module = importlib.import_module("tinygrad_cnn.conv.conv2d")


class EveryThreadWorks(parallel.Pieces):
    """Shared slabs where each thread waits, after its first slab, until every thread has one: on
    small inputs the calling thread would otherwise take the whole batch before a worker wakes."""

    def __init__(self, parts):
        super().__init__(parts)
        self.barrier = threading.Barrier(min(tc.get_num_threads(), len(self.parts)) or 1, timeout=10)

    def __iter__(self):
        for k, part in enumerate(super().__iter__()):
            yield part
            if k == 0:
                self.barrier.wait()


@pytest.fixture
def tasks(monkeypatch):
    """Force a split of any batch (no minimum work per thread) with work for every thread; yields
    the task count of every run."""
    before = tc.get_num_threads()
    counts: list[int] = []
    run = parallel.run

    def counting_run(jobs):
        counts.append(len(jobs))
        return run(jobs)
    monkeypatch.setattr(parallel, "MIN_BYTES_PER_THREAD", 1)
    monkeypatch.setattr(parallel, "run", counting_run)
    monkeypatch.setattr(parallel, "Pieces", EveryThreadWorks)
    yield counts
    tc.set_num_threads(before)


def conv_and_gradients(arrays, upstream, options):
    """y, then the gradients wrt x, kernel and bias for the given upstream gradient, as arrays."""
    inputs = [tc.Tensor(a, requires_grad=True) for a in arrays]
    y = tc.conv2d(*inputs, **options)
    return [y.numpy()] + [g.numpy() for g in tc.grad(y, inputs, upstream)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("options", SMALL_CASES)
def test_split_matches_one_thread(tasks, options, threads, dtype):
    rng = np.random.default_rng(5)
    shape = (5, 7, 6, 4) if options["data_format"] == "channels_last" else (5, 4, 7, 6)
    arrays = [rng.standard_normal(s).astype(dtype) for s in (shape, (3, 2, 4 // options["groups"], 2), (2,))]
    tc.set_num_threads(1)
    upstream = rng.standard_normal(tc.conv2d(arrays[0], arrays[1], **options).shape).astype(dtype)
    single = conv_and_gradients(arrays, upstream, options)
    assert max(tasks) == 1
    tasks.clear()
    tc.set_num_threads(threads)
    split = conv_and_gradients(arrays, upstream, options)
    assert min(tasks) == threads   # forward, both gradients and the bias sum were all split
    for name, ours, reference in zip(["y", "x", "kernel", "bias"], split, single):
        assert ours.dtype == dtype, name
        # the same slabs on any thread count, their partial sums added in slab order: the same bits
        np.testing.assert_array_equal(ours, reference, err_msg=name)


def test_more_threads_than_images(tasks):
    rng = np.random.default_rng(6)
    arrays = [rng.standard_normal((2, 6, 6, 3)), rng.standard_normal((3, 3, 3, 4)), rng.standard_normal(4)]
    upstream = rng.standard_normal((2, 6, 6, 4))
    tc.set_num_threads(1)
    single = conv_and_gradients(arrays, upstream, dict(padding="same"))
    tc.set_num_threads(4)
    for ours, reference in zip(conv_and_gradients(arrays, upstream, dict(padding="same")), single):
        np.testing.assert_array_equal(ours, reference)
    assert max(tasks) == 2


@pytest.mark.parametrize("trainable", [("kernel",), ("bias",), ("x", "bias")])
def test_split_gradients_of_some_inputs(tasks, trainable):
    """Each combination of wanted gradients (the kernel's and the bias's share one pass over g)."""
    rng = np.random.default_rng(8)
    names = ("x", "kernel", "bias")
    arrays = [rng.standard_normal(s).astype(np.float32) for s in ((6, 9, 8, 3), (3, 3, 3, 5), (5,))]
    upstream = rng.standard_normal((6, 9, 8, 5)).astype(np.float32)

    def gradients():
        inputs = [tc.Tensor(a, requires_grad=name in trainable) for name, a in zip(names, arrays)]
        y = tc.conv2d(*inputs, padding="same")
        return tc.grad(y, [t for t in inputs if t.requires_grad], upstream)
    tc.set_num_threads(1)
    single = gradients()
    tc.set_num_threads(2)
    for name, ours, reference in zip(trainable, gradients(), single):
        np.testing.assert_array_equal(ours.numpy(), reference.numpy(), err_msg=name)
        if name == "bias":
            np.testing.assert_allclose(ours.numpy(), upstream.sum(axis=(0, 1, 2)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("options", SMALL_CASES)
def test_one_pass_backward_matches_the_recorded_gradients(tasks, options):
    """First order: dx, dw and db from one split pass over g (the threads woken once for all three),
    the same as the differentiable ConvInputGrad and ConvKernelGrad ops that second order records."""
    tc.set_num_threads(2)
    rng = np.random.default_rng(9)
    shape = (7, 6, 7, 4) if options["data_format"] == "channels_last" else (7, 4, 6, 7)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in (shape, (3, 2, 4 // options["groups"], 2), (2,))]
    inputs = [tc.Tensor(a, requires_grad=True) for a in arrays]
    y = tc.conv2d(*inputs, **options)
    upstream = rng.standard_normal(y.shape).astype(np.float32)
    tasks.clear()
    one_pass = tc.grad(y, inputs, upstream, retain_graph=True)
    assert tasks == [2]
    tasks.clear()
    recorded = tc.grad(y, inputs, upstream, create_graph=True)
    assert tasks.count(2) == 2   # ConvInputGrad and ConvKernelGrad, each split on its own
    for name, ours, reference in zip(["x", "kernel"], one_pass, recorded):
        # the same slabs, the same products on each: the same bits
        np.testing.assert_array_equal(ours.numpy(), reference.numpy(), err_msg=name)
    # the recorded bias gradient is a Tensor sum, added in another order
    np.testing.assert_allclose(one_pass[2].numpy(), recorded[2].numpy(), rtol=1e-5, atol=1e-5)


def test_empty_batch_split(tasks):
    tc.set_num_threads(2)
    x = tc.zeros(0, 5, 5, 2, requires_grad=True)
    kernel = tc.randn(3, 3, 2, 4, requires_grad=True)
    bias = tc.zeros(4, requires_grad=True)
    tc.conv2d(x, kernel, bias, padding="same").sum().backward()
    assert x.grad.shape == x.shape
    np.testing.assert_array_equal(kernel.grad.numpy(), 0)
    np.testing.assert_array_equal(bias.grad.numpy(), 0)


@pytest.mark.parametrize("options", [SMALL_CASES[1], SMALL_CASES[2]])
def test_gradgradcheck_split(tasks, options):
    """Second order through the split kernels: each of the three conv primitives runs on 2 threads."""
    tc.set_num_threads(2)
    fn, inputs = small_conv_case(options, batch=3, seed=7)
    assert tc.gradgradcheck(fn, inputs)
    assert min(tasks) == 2


def test_small_convs_stay_on_one_thread_and_large_ones_split(monkeypatch):
    """The work estimate: a tiny conv is not worth a thread's wake-up, a benchmark-sized one is."""
    before = tc.get_num_threads()
    counts: list[int] = []
    run = parallel.run
    monkeypatch.setattr(parallel, "run", lambda jobs: counts.append(len(jobs)) or run(jobs))
    tc.set_num_threads(2)
    try:
        x = tc.randn(2, 6, 6, 3, requires_grad=True)
        tc.conv2d(x, tc.randn(3, 3, 3, 4, requires_grad=True), padding="same").sum().backward()
        assert counts and max(counts) == 1
        counts.clear()
        x = tc.randn(64, 32, 32, 16, requires_grad=True)
        tc.conv2d(x, tc.randn(3, 3, 16, 32, requires_grad=True), padding="same").sum().backward()
        assert min(counts) == 2
    finally:
        tc.set_num_threads(before)


def test_work_buffers_are_kept_unless_huge(monkeypatch):
    """A thread's buffer is reused from call to call; one over MAX_KEPT_BYTES is a temporary, not kept."""
    windows = importlib.import_module("tinygrad_cnn.conv.windows")
    first = windows.workspace("test_slot", (100,), np.float32)
    assert np.shares_memory(first, windows.workspace("test_slot", (50,), np.float32))
    monkeypatch.setattr(windows, "MAX_KEPT_BYTES", 1000)
    huge = windows.workspace("test_slot", (1000,), np.float32)
    assert huge.shape == (1000,) and not np.shares_memory(huge, first)
    assert np.shares_memory(first, windows.workspace("test_slot", (100,), np.float32))   # the kept one is intact


def test_a_conv_with_temporary_buffers_equals_the_kept_ones(monkeypatch):
    windows = importlib.import_module("tinygrad_cnn.conv.windows")
    rng = np.random.default_rng(3)
    x = tc.Tensor(rng.standard_normal((4, 9, 9, 3)), requires_grad=True)
    kernel = tc.Tensor(rng.standard_normal((3, 3, 3, 5)), requires_grad=True)
    upstream = rng.standard_normal((4, 9, 9, 5))

    def run():
        x.grad = kernel.grad = None
        y = tc.conv2d(x, kernel, padding="same")
        y.backward(upstream)
        return y.numpy(), x.grad.numpy(), kernel.grad.numpy()
    kept = run()
    monkeypatch.setattr(windows, "MAX_KEPT_BYTES", 0)
    for got, want in zip(run(), kept):
        np.testing.assert_array_equal(got, want)
