"""The two oracles for an op: PyTorch (values and gradients) and finite differences (gradcheck).

`check_op(op, *arrays)` runs `op` on the same data in tinygrad_cnn and in PyTorch, back-propagates
the same random upstream gradient through both and compares outputs and input gradients, in
float64 (to ~1e-10) and float32 (to ~1e-5); then it runs tc.gradcheck and tc.gradgradcheck.
The strategies below draw the shapes the op tests share.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from conftest import require_torch
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_cnn as tc

TOLERANCE = {np.float64: 1e-10, np.float32: 1e-5}

# shapes: 0-d to 3-d, sides 1 to 4 (size-1 axes are common)
shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
# two shapes that broadcast against each other
broadcast_pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3).map(
    lambda b: b.input_shapes)
seeds = st.integers(0, 2**32 - 1)


def randn(seed: int, *shape_list: tuple[int, ...], low: float | None = None) -> list[np.ndarray]:
    """Float64 normal samples, one array per shape; with `low`, |x| + low (a domain away from 0)."""
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(shape) for shape in shape_list]
    return arrays if low is None else [np.abs(a) + low for a in arrays]


def axes(ndim: int) -> st.SearchStrategy[Any]:
    """An `axis` argument for a tensor with `ndim` axes: None, an int or a non-empty tuple, negatives too."""
    one = st.integers(-max(ndim, 1), max(ndim, 1) - 1)
    if ndim == 0:
        return st.none() | one
    several = st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).flatmap(
        lambda picked: st.tuples(*[st.sampled_from([a, a - ndim]) for a in picked]))
    return st.none() | one | several


def torch_dims(axis: Any, ndim: int) -> tuple[int, ...]:
    """NumPy's `axis` as PyTorch's `dim` (an explicit tuple: torch reads () as 'all axes')."""
    if axis is None:
        return tuple(range(ndim))
    return (axis,) if isinstance(axis, int) else tuple(axis)


def _compare(name: str, ours: np.ndarray, theirs: np.ndarray, dtype: type) -> None:
    assert ours.shape == theirs.shape, f"{name}: shape {ours.shape}, PyTorch gives {theirs.shape}"
    assert ours.dtype == theirs.dtype, f"{name}: dtype {ours.dtype}, PyTorch gives {theirs.dtype}"
    np.testing.assert_allclose(ours, theirs, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype], err_msg=name)


def compare_with_torch(op: Callable[..., Any], arrays: tuple[np.ndarray, ...], torch_op: Callable[..., Any],
                       dtype: type, seed: int = 0) -> None:
    """Outputs and input gradients (under one random upstream gradient) of `op` and `torch_op` agree."""
    torch = require_torch()
    ours = [tc.Tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    out, expected = op(*ours), torch_op(*theirs)
    _compare("output", out.data, expected.detach().numpy(), dtype)
    upstream = np.random.default_rng(seed).standard_normal(out.shape).astype(dtype)
    grads = tc.grad(out, ours, grad_outputs=upstream, allow_unused=True)
    expected_grads = torch.autograd.grad(expected, theirs, torch.tensor(upstream), allow_unused=True)
    for i, (g, e, a) in enumerate(zip(grads, expected_grads, arrays)):
        g = np.zeros(a.shape, dtype) if g is None else g.data
        e = np.zeros(a.shape, dtype) if e is None else e.numpy()
        _compare(f"gradient of input {i}", g, e, dtype)


def check_op(op: Callable[..., Any], *arrays: np.ndarray, torch_op: Callable[..., Any] | None = None,
             second_order: bool = True, seed: int = 0) -> None:
    """Check `op` on float arrays against PyTorch (float64 and float32) and finite differences.

    `op` takes one Tensor per array; `torch_op` (default: `op` itself) takes torch tensors.
    """
    for dtype in (np.float64, np.float32):
        compare_with_torch(op, arrays, torch_op or op, dtype, seed)
    inputs = [tc.Tensor(a, requires_grad=True) for a in arrays]
    assert tc.gradcheck(op, inputs, seed=seed)
    if second_order:
        assert tc.gradgradcheck(op, inputs, seed=seed)
