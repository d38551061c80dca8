"""A NaN or infinite upstream gradient reaches only the inputs PyTorch sends it to.

relu, leaky_relu, where, maximum/minimum, clip, the max/min reductions and max pooling route each
upstream value to some of their inputs. They select, as PyTorch's backwards do: the other inputs get
exactly 0, never 0 * g (NaN where g is infinite or NaN). Drawn with hypothesis against torch in float64
and float32, in first order and under create_graph, through every max-pool path (the NumPy passes, tiling
or not, and the compiled kernel); and without a RuntimeWarning.
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import require_kernel, require_torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn.conv import max_pool

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")   # 0 * inf warns: no backward may do it

DTYPES = ("float32", "float64")
SPECIAL = np.array([np.nan, np.inf, -np.inf])


def upstream(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """A random upstream gradient with NaN, +inf and -inf at about a third of its places."""
    g = rng.standard_normal(shape)
    hit = rng.random(shape) < 1 / 3
    g[hit] = SPECIAL[rng.integers(0, 3, shape)][hit]
    return g.astype(dtype)


def distinct(rng: np.random.Generator, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    """Values without ties (so a max has one maximum, as torch's index-based max needs), about half negative."""
    size = int(np.prod(shape))
    return (rng.permutation(size) - size / 2 + 0.25).reshape(shape).astype(dtype)


def both(torch, f_ours, f_theirs, inputs: list[np.ndarray], g: np.ndarray) -> None:
    """The gradients of every input under upstream g equal torch's, NaN for NaN and inf for inf, in first order
    and under create_graph."""
    theirs = [torch.tensor(x, requires_grad=True) for x in inputs]
    expected = torch.autograd.grad(f_theirs(*theirs), theirs, torch.tensor(g))
    for create_graph in (False, True):
        ours = [tc.Tensor(x, requires_grad=True) for x in inputs]
        got = tc.grad(f_ours(*ours), ours, g, create_graph=create_graph)
        for mine, their in zip(got, expected):
            assert mine.dtype == their.numpy().dtype
            # NaN where NaN, inf where inf, 0 where 0; sums over overlapping windows may differ in the last bit
            np.testing.assert_allclose(mine.numpy(), their.numpy(), rtol=4 * np.finfo(mine.dtype).eps, atol=0)


shapes = st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple)


@settings(max_examples=20)
@given(shapes, st.sampled_from(DTYPES), st.integers(0, 2**32 - 1))
def test_relu_leaky_relu_and_where(shape, dtype, seed):
    torch = require_torch()
    rng = np.random.default_rng(seed)
    x = rng.choice([-2.0, -0.0, 0.0, 1.5, 3.0, np.nan], shape).astype(dtype)
    g = upstream(rng, shape, dtype)
    both(torch, tc.Tensor.relu, torch.relu, [x], g)
    both(torch, lambda t: t.leaky_relu(0.1), lambda t: torch.nn.functional.leaky_relu(t, 0.1), [x], g)
    y = rng.standard_normal(shape).astype(dtype)
    both(torch, lambda a, b: tc.where(a.data > 0, a, b), lambda a, b: torch.where(a > 0, a, b), [x, y], g)


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_threaded_blocks(dtype):
    """relu's block kernel (arrays of a megabyte and more, split over threads) selects as its small path."""
    torch = require_torch()
    rng = np.random.default_rng(7)
    shape = (32, 28, 28, 16)
    x = rng.standard_normal(shape).astype(dtype)
    both(torch, tc.Tensor.relu, torch.relu, [x], upstream(rng, shape, dtype))


@settings(max_examples=20)
@given(shapes, st.sampled_from(DTYPES), st.integers(0, 2**32 - 1))
def test_maximum_minimum_and_clip(shape, dtype, seed):
    torch = require_torch()
    rng = np.random.default_rng(seed)
    a, b = (rng.integers(-2, 3, shape).astype(dtype) for _ in range(2))   # ties: half each, inf / 2 is inf
    g = upstream(rng, shape, dtype)
    both(torch, tc.maximum, torch.maximum, [a, b], g)
    both(torch, tc.minimum, torch.minimum, [a, b], g)
    low, high = rng.integers(-2, 1, shape).astype(dtype), rng.integers(0, 3, shape).astype(dtype)
    both(torch, tc.Tensor.clip, torch.clamp, [a, low, high], g)
    both(torch, lambda t: t.clip(-1, 1), lambda t: t.clamp(-1, 1), [a], g)


@settings(max_examples=20)
@given(shapes, st.data(), st.sampled_from(DTYPES), st.integers(0, 2**32 - 1))
def test_max_and_min_reductions(shape, data, dtype, seed):
    """Without ties torch.max(x, dim) and ours send each group's gradient to its maximum alone."""
    torch = require_torch()
    rng = np.random.default_rng(seed)
    axis = data.draw(st.integers(0, len(shape) - 1))
    x = distinct(rng, shape, dtype)
    g = upstream(rng, shape[:axis] + shape[axis + 1:], dtype)
    both(torch, lambda t: t.max(axis), lambda t: t.max(axis)[0], [x], g)
    both(torch, lambda t: t.min(axis), lambda t: t.min(axis)[0], [x], g)
    whole = upstream(rng, (), dtype)
    both(torch, tc.Tensor.max, torch.max, [x], whole)   # all axes: torch.max(x) selects too


@pytest.fixture(params=["numpy", "compiled"])
def pool_path(request, monkeypatch):
    """Which max-pool implementation runs: the NumPy passes (the kernel hidden) or the compiled kernel."""
    if request.param == "numpy":
        monkeypatch.setattr(max_pool, "compiled", None)
    else:
        require_kernel()
    return request.param


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])   # the same path throughout
@given(n=st.integers(1, 2), h=st.integers(2, 7), w=st.integers(2, 7), size=st.integers(1, 3),
       stride=st.sampled_from([None, 1, 2]), padding=st.sampled_from(["valid", "same"]),
       channels=st.sampled_from([1, 8]), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**32 - 1))
def test_max_pool_every_path(pool_path, n, h, w, size, stride, padding, channels, dtype, seed):
    """Tiling and overlapping windows, padded or not: each window's gradient on its one maximum, 0 elsewhere."""
    torch = require_torch()
    rng = np.random.default_rng(seed)
    size = min(size, h, w)
    x = distinct(rng, (n, h, w, channels), dtype)
    y = tc.max_pool2d(tc.Tensor(x, requires_grad=True), size, stride, padding)
    assert (y.grad_fn.bits is not None) == (pool_path == "compiled" and channels == 8 and dtype == "float32")
    (top, bottom), (left, right) = y.grad_fn.op_args["geometry"].padding
    g = upstream(rng, y.shape, dtype)

    def theirs(t):
        padded = torch.nn.functional.pad(t.permute(0, 3, 1, 2), (left, right, top, bottom), value=-float("inf"))
        return torch.nn.functional.max_pool2d(padded, size, stride or size).permute(0, 2, 3, 1)
    both(torch, lambda t: tc.max_pool2d(t, size, stride, padding), theirs, [x], g)


def test_max_pool_paths_agree_on_ties(pool_path):
    """Tied maxima share an infinite or NaN gradient (inf / 4 is inf), the rest get 0: on every path."""
    x = np.zeros((2, 4, 6, 8), np.float32)
    x[0, ::2, ::2] = 1.0                                          # image 0: one maximum a window; image 1: 4 ties
    g = upstream(np.random.default_rng(3), (2, 2, 3, 8), "float32")
    t = tc.Tensor(x, requires_grad=True)
    (gx,) = tc.grad(tc.max_pool2d(t, 2), [t], g)
    wide = g.repeat(2, 1).repeat(2, 2)                            # each window's gradient on its 4 pixels
    expected = np.where(x == 1.0, wide, 0)
    expected[1] = wide[1] / 4
    np.testing.assert_array_equal(gx.numpy(), expected)


@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=st.integers(2, 3), stride=st.sampled_from([None, 1]), dtype=st.sampled_from(DTYPES),
       seed=st.integers(0, 2**32 - 1))
def test_max_pool_second_order_direction(pool_path, size, stride, dtype, seed):
    """The gradient of max-pool's gradient with respect to its upstream (a gather of each window's maximum,
    in PyTorch) takes a NaN or infinite direction from the maxima alone."""
    torch = require_torch()
    rng = np.random.default_rng(seed)
    x = distinct(rng, (2, 5, 6, 8), dtype)
    y = tc.max_pool2d(tc.Tensor(x), size, stride)
    g, h = rng.standard_normal(y.shape).astype(dtype), upstream(rng, x.shape, dtype)
    ours = tc.Tensor(g, requires_grad=True)
    t = tc.Tensor(x, requires_grad=True)
    (gx,) = tc.grad(tc.max_pool2d(t, size, stride), [t], ours, create_graph=True)
    (got,) = tc.grad(gx, [ours], h)
    theirs = torch.tensor(g, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.max_pool2d(xt.permute(0, 3, 1, 2), size, stride or size).permute(0, 2, 3, 1)
    (gxt,) = torch.autograd.grad(yt, [xt], theirs, create_graph=True)
    (expected,) = torch.autograd.grad(gxt, [theirs], torch.tensor(h))
    np.testing.assert_array_equal(got.numpy(), expected.numpy())
