"""Batched matrix product (NumPy's matmul semantics)."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import parallel
from ..function import Function
from ..mode import MODE
from ..tensor import Tensor

SMALL_PRODUCT = 1 << 16   # multiply-adds below which OpenBLAS never wakes its threads (its limit is 4 * 65536)


def _product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b on our threads: the rows of a (axis -2) are split between them, BLAS on one thread each."""
    k, n = b.shape[-2:]
    batch = _batch_shape(a.shape, b.shape)
    if a.shape[-2] * k * n * math.prod(batch) < SMALL_PRODUCT:   # BLAS runs it on one thread anyway
        return np.matmul(a, b)
    out = np.empty((*batch, a.shape[-2], n), dtype=np.result_type(a, b))

    def rows(part: slice) -> None:
        # (..., rows, k) @ (..., k, n) -> (..., rows, n): every row of the product is its own
        np.matmul(a[..., part, :], b, out=out[..., part, :])
    work_per_row = max(1, math.prod(batch)) * k * n * out.itemsize   # one pass over b per row
    parallel.over_batch(a.shape[-2], work_per_row, rows)
    return out


def _batch_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """The broadcast batch axes of two operand shapes (ValueError if they clash); quick when equal."""
    return a[:-2] if a[:-2] == b[:-2] else np.broadcast_shapes(a[:-2], b[:-2])


class MatMul(Function):
    """a @ b for a, b with at least 2 dims; leading (batch) dims broadcast."""

    @staticmethod
    def forward(ctx: Any, a: Tensor, b: Tensor) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return _product(a.data, b.data)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        # (..., m, n) = (..., m, k) @ (..., k, n): dA = dC @ B^T, dB = A^T @ dC;
        # batch axes that were broadcast are summed by the engine
        if MODE.plain_backward:   # the same products on the arrays, without ops
            return (_product(g.data, b.data.swapaxes(-1, -2)) if need_a else None,
                    _product(a.data.swapaxes(-1, -2), g.data) if need_b else None)
        grad_a = g @ b.swapaxes(-1, -2) if need_a else None
        grad_b = a.swapaxes(-1, -2) @ g if need_b else None
        return grad_a, grad_b


def matmul(a: Tensor, b: Any) -> Tensor:
    """NumPy's matmul: 1-D operands are promoted to matrices and the added axis removed."""
    b = b if isinstance(b, Tensor) else Tensor(b, dtype=a.dtype if a.dtype.kind == "f" else None)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul needs at least 1-D operands, got shapes {a.shape} and {b.shape}; "
                         "use * to multiply by a scalar")
    k_a, k_b = a.shape[-1], b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(
            f"matmul shapes {a.shape} @ {b.shape} do not fit: the last axis of the left operand "
            f"({k_a}) must equal the {'only' if b.ndim == 1 else 'second-to-last'} axis of the right ({k_b})"
        )
    try:
        _batch_shape(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"matmul shapes {a.shape} @ {b.shape} do not fit: the batch axes must broadcast, but "
                         f"{a.shape[:-2]} and {b.shape[:-2]} do not (aligned from the right, each size must be "
                         "equal or 1)") from None
    # shapes: (k,) -> (1, k) on the left, (k,) -> (k, 1) on the right
    left = a.reshape(1, k_a) if a.ndim == 1 else a
    right = b.reshape(k_b, 1) if b.ndim == 1 else b
    out = MatMul.apply(left, right)
    if a.ndim == 1:
        out = out.squeeze(-2)
    if b.ndim == 1:
        out = out.squeeze(-1)
    return out
