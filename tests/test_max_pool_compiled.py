"""The compiled max-pool kernel (conv/_max_pool.c) against the NumPy passes it stands in for, and its guards.

Without the kernel (no C compiler at install) these tests skip, unless TINYGRAD_CNN_REQUIRE_KERNEL=1 (set by
.ci/run, which installs a compiler): then they fail, as the PyTorch oracle tests do.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import pytest
from conftest import require_kernel, require_torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn.conv import max_pool


def kernel():
    """The compiled module, or a skip (a failure with TINYGRAD_CNN_REQUIRE_KERNEL=1)."""
    return require_kernel()


@contextmanager
def implementation(name: str):
    """Max-pool by NumPy alone, or by the compiled kernel for every channel count (its one-channel tail too),
    with blocks of a few hundred bytes, so that a batch is several blocks on several threads."""
    with pytest.MonkeyPatch.context() as m:
        m.setattr(max_pool, "BLOCK_BYTES", 300)
        if name == "numpy":
            m.setattr(max_pool, "compiled", None)
        else:
            m.setattr(max_pool, "COMPILED_MIN_CHANNELS", 1)
        yield


@st.composite
def cases(draw):
    size = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    strides = draw(st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))))
    form = draw(st.sampled_from(["valid", "same", "explicit"]))
    padding = tuple((draw(st.integers(0, k - 1)), draw(st.integers(0, k - 1))) for k in size) \
        if form == "explicit" else form
    hw = tuple(draw(st.integers(k, 12)) for k in size)
    shape = (draw(st.integers(1, 3)), *hw, draw(st.sampled_from([1, 3, 8, 9, 16, 20])))
    values = draw(st.sampled_from(["distinct", "ties", "nan and -inf"]))
    return dict(shape=shape, size=size, strides=strides, padding=padding, values=values,
                seed=draw(st.integers(0, 2**16)))


def make_input(case) -> np.ndarray:
    rng = np.random.default_rng(case["seed"])
    if case["values"] == "distinct":
        return rng.standard_normal(case["shape"]).astype(np.float32)
    x = rng.integers(-1, 2, case["shape"]).astype(np.float32)   # ties in most windows
    if case["values"] == "nan and -inf":
        x[rng.random(x.shape) < 0.1] = np.nan
        x[rng.random(x.shape) < 0.2] = -np.inf
    return x


def pool_and_grad(x: np.ndarray, case, upstream: np.ndarray | None = None):
    """The pooled x, its gradient for a random upstream (or the one given), that upstream, and whether the
    compiled kernel ran (it leaves a bit map, the NumPy passes a bool one)."""
    t = tc.Tensor(x, requires_grad=True)
    y = tc.max_pool2d(t, case["size"], case["strides"], case["padding"])
    compiled = y.grad_fn.bits is not None
    upstream = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32) if upstream is None else upstream
    (gx,) = tc.grad(y, [t], upstream)
    return y, gx.numpy(), upstream, compiled


@settings(max_examples=60)
@given(cases())
def test_compiled_kernel_gives_what_numpy_gives(case):
    """Every geometry (padding, overlap, gaps), channel counts around the vector width, ties, NaNs and -infs:
    the same maxima, and the same gradient shared among tied maxima, as the NumPy passes."""
    kernel()
    x = make_input(case)
    with implementation("numpy"):
        y_numpy, gx_numpy, upstream, _ = pool_and_grad(x, case)
    with implementation("compiled"):
        y, gx, _, compiled = pool_and_grad(x, case, upstream)
    assert compiled
    np.testing.assert_array_equal(y.numpy(), y_numpy.numpy())   # NaNs at the same places
    np.testing.assert_allclose(gx, gx_numpy, rtol=1e-6, atol=1e-6)


@settings(max_examples=30)
@given(st.integers(1, 3), st.integers(1, 10), st.integers(1, 10), st.integers(8, 20),
       st.tuples(st.integers(1, 3), st.integers(1, 3)), st.sampled_from(["valid", "same"]), st.integers(0, 2**16))
def test_compiled_kernel_matches_torch(n, h, w, channels, size, padding, seed):
    """The kernel as users meet it (float32, channels_last, 8 channels or more) against PyTorch's max-pool."""
    kernel()
    torch = require_torch()
    size = (min(size[0], h), min(size[1], w))
    rng = np.random.default_rng(seed)
    x = rng.permutation(n * h * w * channels).reshape(n, h, w, channels).astype(np.float32)   # no ties
    ours = tc.Tensor(x, requires_grad=True)
    y = tc.max_pool2d(ours, size, padding=padding)
    assert y.grad_fn.bits is not None   # the compiled kernel ran
    (top, bottom), (left, right) = y.grad_fn.op_args["geometry"].padding
    theirs = torch.tensor(x).permute(0, 3, 1, 2).requires_grad_()
    padded = torch.nn.functional.pad(theirs, (left, right, top, bottom), value=-float("inf"))
    y_t = torch.nn.functional.max_pool2d(padded, size).permute(0, 2, 3, 1)
    np.testing.assert_array_equal(y.numpy(), y_t.detach().numpy())
    upstream = rng.standard_normal(y.shape).astype(np.float32)
    (gx,) = tc.grad(y, [ours], upstream)
    (gx_t,) = torch.autograd.grad(y_t, [theirs], torch.tensor(upstream))
    np.testing.assert_allclose(gx.numpy(), gx_t.permute(0, 2, 3, 1).numpy(), rtol=1e-6, atol=1e-6)


def test_second_order_after_the_compiled_forward():
    """create_graph=True: the recorded backward (linear in the upstream v) reads the kernel's bit map, ties
    after relu included; differentiating it again, in v, gives what the NumPy passes give."""
    kernel()
    rng = np.random.default_rng(0)
    x = np.maximum(rng.standard_normal((2, 6, 6, 8)), 0).astype(np.float32)   # zeros tie
    results = []
    for name in ("numpy", "compiled"):
        with implementation(name):
            t = tc.Tensor(x, requires_grad=True)
            v = tc.Tensor(np.random.default_rng(1).standard_normal((2, 3, 3, 8)).astype(np.float32),
                          requires_grad=True)
            y = tc.max_pool2d(t, 2)
            assert (y.grad_fn.bits is not None) == (name == "compiled")
            (g,) = tc.grad(y, [t], v, create_graph=True)
            (gv,) = tc.grad((g * g * t).sum(), [v])
            results.append((g.numpy(), gv.numpy()))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-6)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-6)
    assert np.abs(results[1][1]).sum() > 0


def test_inference_forwards_do_not_disturb_a_kept_map():
    """Without grad the map goes to scratch; pools run in between leave a recorded pool's map intact."""
    kernel()
    rng = np.random.default_rng(0)
    x = tc.Tensor(rng.standard_normal((4, 8, 8, 16)).astype(np.float32), requires_grad=True)
    y = tc.max_pool2d(x, 2)
    expected = tc.grad(y, [x], np.ones(y.shape, np.float32), retain_graph=True)[0].numpy()
    with tc.no_grad():
        for _ in range(2):
            other = tc.max_pool2d(tc.Tensor(rng.standard_normal((4, 8, 8, 16)).astype(np.float32)), 2)
            assert other.grad_fn is None
    np.testing.assert_array_equal(tc.grad(y, [x], np.ones(y.shape, np.float32))[0].numpy(), expected)


@pytest.mark.parametrize("dtype, channels, size, compiled", [
    (np.float32, 8, 2, True),
    (np.float32, 7, 2, False),        # too few channels to vectorize: NumPy is faster
    (np.float64, 16, 2, False),       # float32 only
    (np.float32, 16, (4, 8), True),   # 32 taps: the bits of a uint32
    (np.float32, 16, (5, 7), False),
])
def test_which_pools_the_kernel_takes(dtype, channels, size, compiled):
    kernel()
    x = tc.Tensor(np.ones((1, 8, 8, channels), dtype), requires_grad=True)
    y = tc.max_pool2d(x, size)
    assert (y.grad_fn.bits is not None) == compiled


def test_the_kernel_refuses_buffers_too_small_for_the_windows():
    """The module checks every buffer against the geometry, so that no call reads or writes past an array."""
    module = kernel()
    x = np.zeros((2, 4, 4, 8), np.float32)
    out, bits = np.empty((2, 2, 2, 8), np.float32), np.empty((2, 2, 2, 8), np.uint32)
    windows = (0, 2, 4, 4, 8, 2, 2, 2, 2, 2, 2, 1, 1, 0, 0)
    module.forward(x, out, bits, windows)
    np.testing.assert_array_equal(out, 0)
    with pytest.raises(ValueError, match="out holds 128 bytes; the windows need 256"):
        module.forward(x, out[:1], bits, windows)
    with pytest.raises(ValueError, match="x holds"):
        module.forward(x[:1], out, bits, windows)
    with pytest.raises(ValueError, match="gx holds"):
        module.backward(bits, out, np.empty((1, 4, 4, 8), np.float32), windows, True)
    with pytest.raises(ValueError, match="at most 32 taps"):
        module.forward(x, out, bits, (0, 2, 4, 4, 8, 0, 0, 6, 6, 1, 1, 1, 1, 0, 0))
    with pytest.raises(TypeError, match="tuple of 15 ints"):
        module.forward(x, out, bits, windows[:-1])
    with pytest.raises(ValueError, match="not C-contiguous"):   # a strided view is not one block of memory
        module.forward(x[:, ::2], out, bits, windows)
