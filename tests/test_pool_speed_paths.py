"""The fast paths of max-pool (tiling windows) and relu: split over threads and blocks, they give what one pass gives.

The split is forced on small arrays by lowering the work a thread needs (parallel.MIN_BYTES_PER_THREAD)
and the block sizes, so that every batch is cut into several parts and every part into several blocks;
the max-pool's rows count as long from 16 values (max_pool.LONG_RUN), so that its cut buffer is used too.
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import require_torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn import parallel
from tinygrad_cnn.conv import max_pool
from tinygrad_cnn.ops import elementwise


def split(f):
    """f() run once in one pass, and once split over 2 threads into blocks of a few images (or values),
    the max-pool's with NumPy's ufunc buffer cut to a row of windows (restored afterwards)."""
    threads, buffer = tc.get_num_threads(), np.getbufsize()
    tc.set_num_threads(1)
    try:
        whole = f()
        with pytest.MonkeyPatch.context() as m:
            m.setattr(parallel, "MIN_BYTES_PER_THREAD", 1)
            m.setattr(max_pool, "BLOCK_BYTES", 200)          # blocks of one image or a few, not all equal
            m.setattr(max_pool, "LONG_RUN", 16)
            m.setattr(elementwise, "RELU_BLOCK_BYTES", 64)
            tc.set_num_threads(2)
            parts = f()
    finally:
        tc.set_num_threads(threads)
    assert np.getbufsize() == buffer
    return whole, parts


@st.composite
def tiling_cases(draw):
    """Windows that tile the input (stride = pool size, no padding); the input may leave rows/columns over."""
    size = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    hw = tuple(draw(st.integers(k, 3 * k + 2)) for k in size)
    return dict(n=draw(st.integers(1, 5)), hw=hw, channels=draw(st.integers(1, 5)), size=size,
                data_format=draw(st.sampled_from(["channels_last", "channels_first"])),
                dtype=draw(st.sampled_from([np.float32, np.float64])), seed=draw(st.integers(0, 2**16)))


def input_of(case, levels=None):
    """A permutation (no ties) or, with `levels`, integers from a tiny set (many ties)."""
    rng = np.random.default_rng(case["seed"])
    h, w = case["hw"]
    shape = (case["n"], h, w, case["channels"]) if case["data_format"] == "channels_last" else \
        (case["n"], case["channels"], h, w)
    size = int(np.prod(shape))
    values = rng.permutation(size) / 7 if levels is None else rng.integers(0, levels + 1, size)
    return rng, values.reshape(shape).astype(case["dtype"])


def max_pool_and_grad(x, case, upstream):
    xt = tc.Tensor(x, requires_grad=True)
    y = tc.max_pool2d(xt, case["size"], data_format=case["data_format"])
    (gx,) = tc.grad(y, [xt], upstream)
    return y.numpy(), gx.numpy()


def shares(x, size):
    """Each input's share of its tiling window's gradient by the tie rule, (N, OH, kh, OW, kw, C), in NumPy."""
    (kh, kw), (n, h, w, c) = size, x.shape
    oh, ow = h // kh, w // kw
    windows = x[:, :oh * kh, :ow * kw].reshape(n, oh, kh, ow, kw, c)
    is_max = windows == windows.max(axis=(2, 4), keepdims=True)
    return is_max / is_max.sum(axis=(2, 4), keepdims=True)


def tie_rule(x, size, upstream):
    """The gradient of tiling max-pool (channels_last): tied maxima share the upstream gradient equally."""
    share = shares(x, size)
    n, oh, kh, ow, kw, c = share.shape
    gx = np.zeros_like(x)
    gx[:, :oh * kh, :ow * kw] = (share * upstream[:, :, None, :, None]).reshape(n, oh * kh, ow * kw, c)
    return gx


@settings(max_examples=25)
@given(tiling_cases(), st.sampled_from([None, 0, 1, 2]))
def test_split_max_pool_equals_one_pass(case, levels):
    rng, x = input_of(case, levels)
    y_shape = tc.max_pool2d(tc.Tensor(x), case["size"], data_format=case["data_format"]).shape
    upstream = rng.standard_normal(y_shape).astype(case["dtype"])
    (y, gx), (y_split, gx_split) = split(lambda: max_pool_and_grad(x, case, upstream))
    np.testing.assert_array_equal(y_split, y)
    np.testing.assert_array_equal(gx_split, gx)


@settings(max_examples=25)
@given(tiling_cases())
def test_split_max_pool_matches_torch(case):
    torch = require_torch()
    rng, x = input_of(case)   # no ties: PyTorch's single winner is our whole share
    channels_last = case["data_format"] == "channels_last"
    xt = torch.tensor(x, requires_grad=True)
    y_t = torch.nn.functional.max_pool2d(xt.permute(0, 3, 1, 2) if channels_last else xt, case["size"])
    y_t = y_t.permute(0, 2, 3, 1) if channels_last else y_t
    upstream = rng.standard_normal(tuple(y_t.shape)).astype(case["dtype"])
    (gx_t,) = torch.autograd.grad(y_t, [xt], torch.tensor(upstream))
    _, (y, gx) = split(lambda: max_pool_and_grad(x, case, upstream))
    np.testing.assert_array_equal(y, y_t.detach().numpy())
    np.testing.assert_array_equal(gx, gx_t.numpy())


@settings(max_examples=20)
@given(tiling_cases(), st.integers(0, 2))
def test_split_max_pool_ties_share_the_gradient(case, levels):
    case["data_format"] = "channels_last"
    rng, x = input_of(case, levels)
    oh, ow = (n // k for n, k in zip(case["hw"], case["size"]))
    upstream = rng.standard_normal((case["n"], oh, ow, case["channels"])).astype(case["dtype"])
    _, (_, gx) = split(lambda: max_pool_and_grad(x, case, upstream))
    np.testing.assert_allclose(gx, tie_rule(x, case["size"], upstream), rtol=1e-6, atol=1e-6)


def test_split_max_pool_second_order():
    """Under create_graph the backward is a recorded op: gradgradcheck passes, and ties keep their rule."""
    rng = np.random.default_rng(3)
    x = tc.Tensor(rng.permutation(3 * 5 * 4 * 2).reshape(3, 5, 4, 2) / 9.0, requires_grad=True)
    checks, split_checks = split(lambda: (tc.gradcheck(lambda t: tc.max_pool2d(t, 2), [x]),
                                          tc.gradgradcheck(lambda t: tc.max_pool2d(t, 2), [x])))
    assert checks == split_checks == (True, True)
    ties = rng.integers(0, 2, (3, 4, 6, 2)).astype(np.float64)
    upstream, v = rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(ties.shape)

    def recorded_gradient():
        xt, ut = tc.Tensor(ties, requires_grad=True), tc.Tensor(upstream, requires_grad=True)
        (gx,) = tc.grad(tc.max_pool2d(xt, 2), [xt], ut, create_graph=True)
        (gu,) = tc.grad(gx, [ut], v)   # gx is linear in the upstream gradient: its adjoint sums v * share
        return gx.numpy(), gu.numpy()
    whole, parts = split(recorded_gradient)
    np.testing.assert_allclose(parts[0], tie_rule(ties, (2, 2), upstream), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(parts[1], (shares(ties, (2, 2)) * v.reshape(3, 2, 2, 3, 2, 2)).sum(axis=(2, 4)),
                               rtol=1e-12, atol=1e-12)
    for w, p in zip(whole, parts):
        np.testing.assert_array_equal(p, w)


@pytest.mark.parametrize("size", [(4, 4), (16, 16), (1, 17)])
def test_wide_tied_windows_count_every_maximum(size):
    """Counts of tied maxima past 255 (a 16 x 16 window) are not wrapped round; all-tied windows share evenly."""
    rng = np.random.default_rng(5)
    x = np.repeat(rng.integers(0, 3, (3, 1, 1, 5)), size[0] * size[1], axis=1).reshape(3, *size, 5).astype(np.float64)
    x[1, 0, 0, 2] += 1                       # one window with a single maximum
    upstream = rng.standard_normal((3, 1, 1, 5))
    _, (_, gx) = split(lambda: max_pool_and_grad(x, dict(size=size, data_format="channels_last"), upstream))
    np.testing.assert_allclose(gx, tie_rule(x, size, upstream), rtol=1e-12)


@settings(max_examples=30)
@given(st.integers(0, 40), st.integers(1, 5000), st.integers(1, 3000), st.integers(1, 3))
def test_blocks_cover_the_batch_once_in_order(n, image_bytes, block_bytes, threads):
    """The tiling pool's blocks: about BLOCK_BYTES each, every image in exactly one, whatever the threads."""
    seen = []
    with pytest.MonkeyPatch.context() as m:
        m.setattr(max_pool, "BLOCK_BYTES", block_bytes)
        previous = tc.get_num_threads()
        tc.set_num_threads(threads)
        try:
            results = max_pool._over_blocks(n, image_bytes,
                                            lambda block: seen.append(block) or block.stop - block.start)
        finally:
            tc.set_num_threads(previous)
    assert sum(results) == n and sorted(r for b in seen for r in range(b.start, b.stop)) == list(range(n))
    count = max(1, min(n, round(n * image_bytes / block_bytes)))
    assert len(seen) == count
    sizes = [b.stop - b.start for b in seen]
    assert max(sizes) - min(sizes) <= 1   # equal blocks, within one image


def test_max_pool_without_input_gradient_keeps_no_maxima():
    x = tc.Tensor(np.arange(2 * 4 * 4 * 3, dtype=np.float32).reshape(2, 4, 4, 3))
    whole, parts = split(lambda: tc.max_pool2d(x, 2))
    assert whole.requires_grad is parts.requires_grad is False
    np.testing.assert_array_equal(parts.numpy(), x.numpy().reshape(2, 2, 2, 2, 2, 3).max(axis=(2, 4)))


def test_nan_and_tied_windows_in_one_block_get_their_shares():
    """A window with a NaN (its NaNs are its maxima, as PyTorch) beside a window with two tied maxima: the
    map NumPy's == makes has as many maxima as there are windows, yet both windows need their own shares."""
    x = np.arange(2 * 4 * 4 * 1, dtype=np.float64).reshape(2, 4, 4, 1)
    x[0, 0, 0, 0] = np.nan                           # window (0, 0) of image 0: a NaN, no number equals
    x[1, 2, 2, 0] = x[1, 3, 3, 0] = 100.0            # window (1, 1) of image 1: two tied maxima
    upstream = np.random.default_rng(7).standard_normal((2, 2, 2, 1))
    (y, gx), (y_split, gx_split) = split(lambda: max_pool_and_grad(x, dict(size=(2, 2), data_format="channels_last"),
                                                                    upstream))
    expected = tie_rule(np.nan_to_num(x, nan=1e9), (2, 2), upstream)   # NaN ranks above every number
    np.testing.assert_allclose(gx, expected, rtol=1e-12)
    np.testing.assert_array_equal(gx_split, gx)
    assert np.isnan(y[0, 0, 0, 0]) and np.isnan(y_split[0, 0, 0, 0])


# --- relu ---

SPECIALS = np.array([np.nan, -np.inf, np.inf, 0.0, -0.0, 1e-30, -1e-30, 3.5, -2.0])


@settings(max_examples=20)
@given(st.lists(st.integers(1, 9), min_size=1, max_size=4), st.sampled_from([np.float32, np.float64]),
       st.integers(0, 2**16))
def test_split_relu_equals_one_pass_and_torch(shape, dtype, seed):
    torch = require_torch()
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    x.reshape(-1)[:len(SPECIALS)] = SPECIALS[:x.size]
    upstream = rng.standard_normal(shape).astype(dtype)

    def relu_and_grad():
        xt = tc.Tensor(x, requires_grad=True)
        y = xt.relu()
        (gx,) = tc.grad(y, [xt], upstream)
        return y.numpy(), gx.numpy()
    (y, gx), (y_split, gx_split) = split(relu_and_grad)
    np.testing.assert_array_equal(y_split, y)
    np.testing.assert_array_equal(gx_split, gx)
    assert y.dtype == gx.dtype == dtype
    xt = torch.tensor(x)
    np.testing.assert_array_equal(y, torch.relu(xt).numpy())                 # relu(nan) = nan, relu(-inf) = 0
    finite = ~np.isnan(x)   # at nan PyTorch passes the gradient through; ours is 0 (nan > 0 is false)
    np.testing.assert_array_equal(gx[finite], (upstream * (x > 0))[finite])


def test_relu_of_views_integers_and_broadcast_gradients():
    x = np.arange(-6.0, 6.0).reshape(3, 4)
    xt = tc.Tensor(x.T, requires_grad=True)                                   # not C-contiguous
    y = xt.relu()
    np.testing.assert_array_equal(y.numpy(), np.maximum(x.T, 0))
    y.sum().backward()                                                       # a broadcast upstream gradient
    np.testing.assert_array_equal(xt.grad.numpy(), (x.T > 0).astype(float))
    ints = tc.Tensor(np.array([-2, 0, 3], dtype=np.int32)).relu()
    assert ints.dtype == np.int32 and ints.numpy().tolist() == [0, 0, 3]


def test_relu_second_order_is_recorded():
    x = tc.Tensor(np.array([-1.5, 0.0, 2.0, 3.0]), requires_grad=True)

    def grad_of_grad():
        (g,) = tc.grad((x.relu() * x).sum(), [x], create_graph=True)            # d/dx x relu(x) = relu(x) + x relu'(x)
        (gg,) = tc.grad(g.sum(), [x])
        return g.numpy(), gg.numpy()
    (g, gg), split_result = split(grad_of_grad)
    np.testing.assert_array_equal(g, [0.0, 0.0, 4.0, 6.0])
    np.testing.assert_array_equal(gg, [0.0, 0.0, 2.0, 2.0])
    np.testing.assert_array_equal(split_result[0], g)
    np.testing.assert_array_equal(split_result[1], gg)


def test_empty_batches():
    for data_format, shape, pooled in [("channels_last", (0, 4, 4, 3), (0, 2, 2, 3)),
                                       ("channels_first", (0, 3, 4, 4), (0, 3, 2, 2))]:
        x = tc.Tensor(np.zeros(shape, dtype=np.float32), requires_grad=True)
        y = tc.max_pool2d(x, 2, data_format=data_format)
        y.sum().backward()
        assert y.shape == pooled and x.grad.shape == shape
    r = tc.Tensor(np.zeros((0, 3), dtype=np.float32), requires_grad=True)
    r.relu().sum().backward()
    assert r.grad.shape == (0, 3)


@pytest.mark.parametrize("pool", [tc.max_pool2d, tc.avg_pool2d])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("hw, padding", [((4, 4), "valid"), ((5, 5), "valid"), ((5, 5), "same")])
def test_no_channels(pool, data_format, hw, padding):
    """Images with 0 channels pool to 0 channels, and their gradient, recorded or not, has their shape
    (widening the upstream gradient over a window's columns once failed on them)."""
    shape = (2, *hw, 0) if data_format == "channels_last" else (2, 0, *hw)
    out_hw = tuple(-(-n // 2) if padding == "same" else n // 2 for n in hw)   # ceil or floor of n / 2
    for create_graph in (False, True):
        x = tc.Tensor(np.zeros(shape), requires_grad=True)
        y = pool(x, 2, padding=padding, data_format=data_format)
        assert y.shape == ((2, *out_hw, 0) if data_format == "channels_last" else (2, 0, *out_hw))
        (gx,) = tc.grad(y.sum(), [x], create_graph=create_graph)
        assert gx.shape == shape
