"""Session 8's hostile review of the compiled max-pool kernel (conv/_max_pool.c): its guards, the geometries
the public API never hands it, and the values PyTorch keeps bit for bit.

Without the kernel (no C compiler at install) these tests skip, except in CI, which builds it.
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import require_kernel, require_torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc

# values that break careless maxima: NaN, both infinities, both zeros, denormals, the largest floats
SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45, 3e38, -3e38, 1.0], np.float32)


def kernel():
    """The compiled module, or a skip (a failure with TINYGRAD_CNN_REQUIRE_KERNEL=1)."""
    return require_kernel()


def naive(x: np.ndarray, windows: tuple[int, ...], gy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The maxima, their bit map and the gradient for gy, window by window and tap by tap, of the images n0:n1.

    A NaN is the maximum of its window from the first one on (as PyTorch); every tap equal to the
    maximum is one of its maxima; the gradient of a window is shared equally among them.
    """
    n0, n1, h, w, c, oh, ow, kh, kw, sh, sw, dh, dw, top, left = windows
    x = x[n0:n1].astype(np.float64)
    out = np.full((n1 - n0, oh, ow, c), -np.inf)
    bits = np.zeros(out.shape, np.uint32)
    gx = np.zeros(x.shape)
    for r in range(oh):
        for q in range(ow):
            taps = [(i * kw + j, r * sh + i * dh - top, q * sw + j * dw - left) for i in range(kh) for j in range(kw)]
            taps = [(t, row, col) for t, row, col in taps if 0 <= row < h and 0 <= col < w]
            for _, row, col in taps:   # the running maximum, a NaN staying
                out[:, r, q] = np.where(np.isnan(out[:, r, q]) | (x[:, row, col] <= out[:, r, q]),
                                        out[:, r, q], x[:, row, col])
            for t, row, col in taps:
                hit = (x[:, row, col] == out[:, r, q]) | np.isnan(x[:, row, col])
                bits[:, r, q] |= np.where(hit, np.uint32(1 << t), np.uint32(0))
            count = sum((bits[:, r, q] >> t) & 1 for t in range(kh * kw))
            for t, row, col in taps:
                hit = (bits[:, r, q] >> t) & 1 == 1
                gx[:, row, col] += np.where(hit, gy[n0:n1, r, q] / np.maximum(count, 1), 0)
    return out.astype(np.float32), bits, gx


@st.composite
def direct_windows(draw):
    """A block of images and a geometry as the module takes them, with what the public API never gives it:
    dilation, padding as wide as the window or wider, windows wholly outside the image, empty outputs."""
    kh = draw(st.integers(1, 8))
    kw = draw(st.integers(1, 32 // kh))
    h, w, c = draw(st.integers(1, 9)), draw(st.integers(1, 9)), draw(st.integers(1, 20))
    n1 = draw(st.integers(0, 3))
    n0 = draw(st.integers(0, n1))
    geometry = [draw(st.integers(0, 6)), draw(st.integers(0, 6)), kh, kw] + [draw(st.integers(1, 4)) for _ in range(4)]
    return (n0, n1, h, w, c, *geometry, draw(st.integers(0, 9)), draw(st.integers(0, 9)))


@settings(max_examples=40, deadline=None)
@given(direct_windows(), st.sampled_from(["normal", "ties", "special"]), st.integers(0, 2**16))
def test_kernel_matches_a_naive_loop_on_every_geometry_it_accepts(windows, values, seed):
    """Called directly with arrays of exactly the size the windows need: the maxima bit for bit (the sign of
    zero and NaN included), the bit map, and the gradient; images before n0 left untouched."""
    module = kernel()
    n0, n1, h, w, c, oh, ow = windows[:7]
    rng = np.random.default_rng(seed)
    if values == "normal":
        x = rng.standard_normal((n1, h, w, c)).astype(np.float32)
    elif values == "ties":
        x = np.maximum(rng.integers(-1, 2, (n1, h, w, c)), 0).astype(np.float32)
    else:
        x = SPECIAL[rng.integers(0, len(SPECIAL), (n1, h, w, c))]
    out, bits = np.full((n1, oh, ow, c), 7, np.float32), np.full((n1, oh, ow, c), 77, np.uint32)
    module.forward(x, out, bits, windows)
    gy = rng.standard_normal(out.shape).astype(np.float32)
    expected_out, expected_bits, expected_gx = naive(x, windows, gy)
    np.testing.assert_array_equal(out[n0:].view(np.uint32), expected_out.view(np.uint32))
    np.testing.assert_array_equal(bits[n0:], expected_bits)
    assert (out[:n0] == 7).all() and (bits[:n0] == 77).all()
    gx = np.full(x.shape, 5, np.float32)
    module.backward(bits, gy, gx, windows, False)
    np.testing.assert_allclose(gx[n0:], expected_gx, rtol=1e-5, atol=1e-6)
    assert (gx[:n0] == 5).all()


def test_kernel_refuses_windows_whose_indices_overflow():
    """A geometry whose sizes wrap around 2**63 passed the size checks (0 values needed) and the kernel read
    far past x: a segmentation fault. Every size and index is now checked to fit."""
    module = kernel()
    x, out, bits = np.zeros(1, np.float32), np.zeros(1, np.float32), np.zeros(1, np.uint32)
    big = 2**32
    for windows in [(0, 1, big, big, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0),      # h * w = 2**64
                    (0, 0, 1, 1, 1, 2**62, 1, 1, 1, 4, 1, 1, 1, 0, 0),      # no image, a row index of 2**64
                    (0, 1, 1, 1, 1, 1, 2**61, 1, 1, 1, 8, 1, 1, 0, 0),      # a column index of 2**64
                    (0, 1, 1, 1, 2**62, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0)]:     # 2**62 values, 2**64 bytes
        with pytest.raises(ValueError, match="too large for this machine's indices"):
            module.forward(x, out, bits, windows)
        with pytest.raises(ValueError, match="too large for this machine's indices"):
            module.backward(bits, out, x, windows, False)
    with pytest.raises(ValueError, match="at most 32 taps"):   # kh * kw itself overflowed
        module.forward(x, out, bits, (0, 1, 1, 1, 1, 1, 1, 2**62, 2**62, 1, 1, 1, 1, 0, 0))
    with pytest.raises(ValueError, match="no such block"):     # windows start at or after the image's corner
        module.forward(x, out, bits, (0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -5, 0))


def test_kernel_refuses_buffers_of_the_wrong_type():
    """float64 x (or out, or gy) and float32 bits were taken as raw bytes: silently wrong maxima. Each is now a
    TypeError naming the buffer and the type it must hold; read-only outputs are refused too."""
    module = kernel()
    windows = (0, 1, 2, 2, 8, 1, 1, 2, 2, 2, 2, 1, 1, 0, 0)
    x = np.arange(32, dtype=np.float32).reshape(1, 2, 2, 8)
    out, bits = np.empty((1, 1, 1, 8), np.float32), np.empty((1, 1, 1, 8), np.uint32)
    module.forward(x, out, bits, windows)
    np.testing.assert_array_equal(out.ravel(), np.arange(24, 32))
    with pytest.raises(TypeError, match=r"x holds values of format 'd' \(8 bytes\); the kernel takes 'f' \(float32\)"):
        module.forward(x.astype(np.float64), out, bits, windows)
    with pytest.raises(TypeError, match="out holds values of format 'i'"):
        module.forward(x, out.view(np.int32), bits, windows)
    with pytest.raises(TypeError, match=r"bits holds values of format 'f'.*'I' \(uint32\)"):
        module.forward(x, out, out.copy(), windows)
    with pytest.raises(TypeError, match="x holds values of format '>f'"):   # float32, but the other byte order
        module.forward(x.astype(">f4"), out, bits, windows)
    with pytest.raises(TypeError, match="gy holds values of format 'd'"):
        module.backward(bits, out.astype(np.float64), np.empty_like(x), windows, True)
    readonly = out.copy()
    readonly.flags.writeable = False
    with pytest.raises((TypeError, ValueError, BufferError), match="read-only|not writable|writable"):
        module.forward(x, readonly, bits, windows)
    with pytest.raises(TypeError, match="'float' object cannot be interpreted as an integer"):
        module.forward(x, out, bits, (*windows[:-1], 0.5))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 3), st.integers(1, 9), st.integers(1, 9), st.integers(8, 24),
       st.tuples(st.integers(1, 4), st.integers(1, 4)),
       st.one_of(st.none(), st.tuples(st.integers(1, 3), st.integers(1, 3))), st.sampled_from(["valid", "same"]),
       st.integers(0, 2**16))
def test_special_values_pool_as_in_torch_bit_for_bit(n, h, w, channels, size, strides, padding, seed):
    """NaN, infinities, signed zeros, denormals and the largest floats: the maxima PyTorch gives, to the bit
    (the first of two equal zeros keeps its sign, as PyTorch's), through the compiled kernel."""
    kernel()
    torch = require_torch()
    size = (min(size[0], h), min(size[1], w))
    x = SPECIAL[np.random.default_rng(seed).integers(0, len(SPECIAL), (n, h, w, channels))]
    y = tc.max_pool2d(tc.Tensor(x, requires_grad=True), size, strides, padding)
    assert y.grad_fn.bits is not None   # the compiled kernel ran
    geometry = y.grad_fn.op_args["geometry"]
    (top, bottom), (left, right) = geometry.padding
    padded = torch.nn.functional.pad(torch.tensor(x).permute(0, 3, 1, 2), (left, right, top, bottom),
                                     value=-float("inf"))
    y_t = torch.nn.functional.max_pool2d(padded, size, geometry.strides).permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(y.numpy().view(np.uint32), y_t.view(np.uint32))


@pytest.mark.parametrize("pool_size, strides, padding", [(2, None, "valid"), (3, 1, "valid"), (3, 2, "same")])
def test_non_finite_upstream_gradients_reach_only_the_maxima(pool_size, strides, padding):
    """An upstream NaN or infinity goes to its window's maximum alone and the other pixels get 0, as PyTorch's
    max_pool2d gives it (the kernel selects, it does not multiply by a 0/1 map: 0 * inf would be NaN)."""
    kernel()
    torch = require_torch()
    rng = np.random.default_rng(0)
    x = rng.permutation(2 * 7 * 7 * 8).reshape(2, 7, 7, 8).astype(np.float32)   # no ties
    t = tc.Tensor(x, requires_grad=True)
    y = tc.max_pool2d(t, pool_size, strides, padding)
    assert y.grad_fn.bits is not None   # the compiled kernel ran
    upstream = rng.standard_normal(y.shape).astype(np.float32)
    upstream[0, 0, 0, :4] = [np.nan, np.inf, -np.inf, np.nan]
    upstream[1, -1, -1, -3:] = [np.inf, np.nan, -np.inf]
    (gx,) = tc.grad(y, [t], upstream)
    geometry = y.grad_fn.op_args["geometry"]
    (top, bottom), (left, right) = geometry.padding
    theirs = torch.tensor(x).permute(0, 3, 1, 2).requires_grad_()
    padded = torch.nn.functional.pad(theirs, (left, right, top, bottom), value=-float("inf"))
    y_t = torch.nn.functional.max_pool2d(padded, geometry.kernel, geometry.strides).permute(0, 2, 3, 1)
    (gx_t,) = torch.autograd.grad(y_t, [theirs], torch.tensor(upstream))
    np.testing.assert_allclose(gx.numpy(), gx_t.permute(0, 2, 3, 1).numpy(), rtol=1e-6, atol=1e-6)
    assert np.isnan(gx.numpy()).sum() == 3   # the three NaNs, each on its maximum only
