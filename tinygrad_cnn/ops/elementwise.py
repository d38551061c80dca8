"""Elementwise primitives. NumPy broadcasting in forward; the engine sums gradients back to shape."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import parallel
from ..function import Function
from ..mode import MODE
from ..tensor import Tensor


def _d(x: Any) -> Any:
    """The array behind a Tensor operand (Python numbers pass through)."""
    return x.data if isinstance(x, Tensor) else x


def _zero(x: np.ndarray) -> np.ndarray:
    """0 as a 0-d array of x's dtype: an operand NumPy takes as fast as an array, where the number 0 costs
    0.3 us more per call on small arrays (its promotion rules for Python scalars)."""
    return np.zeros((), x.dtype)


def as_float(x: np.ndarray) -> np.ndarray:
    """x itself if it holds floats, else x as floats: for bools and 8- and 16-bit integers NumPy's float functions
    compute in float16 (three digits) and its negation wraps around; PyTorch computes them in float32."""
    return x if x.dtype.kind == "f" else x.astype(np.result_type(x.dtype, np.float32))


def _local(constant: Any, differentiable: Any) -> Any:
    """A local derivative: a plain array for first order, a graph (lazily built) under create_graph."""
    return differentiable() if MODE.grad_enabled else constant


def _operands(*values: Any) -> tuple[Any, ...]:
    """A backward formula's operands: their arrays in first order, so that it runs as plain NumPy without
    an op's cost; else the Tensors themselves, so that it is recorded (create_graph) or checked (anomaly)."""
    if not MODE.plain_backward:
        return values
    arrays = []   # a plain loop: a comprehension (and _d) are function calls more in Python 3.11 (0.1 us)
    for v in values:
        arrays.append(v.data if isinstance(v, Tensor) else v)
    return tuple(arrays)


def select(g: np.ndarray, keep: Any, out: np.ndarray | None = None) -> np.ndarray:
    """g where `keep` holds, else 0 (broadcast together; into `out` if given): a backward's routing of its gradient,
    as PyTorch's, where g * keep would put 0 * inf = NaN on the inputs not kept.

    Floats go as their bits times 0 or 1 in integers, as fast as the float product (np.where and a ufunc's
    where= take 20 times longer on a mixed mask).
    """
    if out is None:
        out = np.empty(np.broadcast_shapes(g.shape, np.shape(keep)), g.dtype)
    if g.dtype.kind != "f" or g.itemsize > 8:   # no integer of its size
        np.copyto(out, np.where(keep, g, np.zeros((), g.dtype)))
        return out
    bits = out.view(f"i{g.itemsize}")
    np.copyto(bits, keep)
    np.multiply(bits, g.view(bits.dtype), out=bits)
    return out


def route(g: Any, keep: Any) -> Any:
    """select(g, keep) for a backward formula: plain arrays in first order, else a recorded op (a Where, whose
    own backward routes the same way)."""
    if isinstance(g, Tensor) and not MODE.plain_backward:
        return Where.apply(g, 0.0, condition=keep)
    return select(_d(g), keep)


class Add(Function):
    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> np.ndarray:
        return _d(a) + _d(b)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
        return g, g


class Sub(Function):
    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> np.ndarray:
        return _d(a) - _d(b)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
        (g_b,) = _operands(g)
        return g, (-g_b if ctx.needs_input_grad[1] else None)


class Mul(Function):
    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return _d(a) * _d(b)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
        g, a, b = _operands(g, *ctx.saved_tensors)
        need_a, need_b = ctx.needs_input_grad
        return (g * b if need_a else None), (g * a if need_b else None)


class Div(Function):
    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return _d(a) / _d(b)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
        g, a, b = _operands(g, *ctx.saved_tensors)
        need_a, need_b = ctx.needs_input_grad
        # d(a/b)/db = -a / b^2, as -g * ((a / b) / b) (PyTorch's order: -0 where a = 0 and g / b overflows)
        return (g / b if need_a else None), (-g * ((a / b) / b) if need_b else None)


class Pow(Function):
    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return _power(_d(a), _d(b))

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
        a, b = ctx.saved_tensors
        a_data, b_data = _d(a), _d(b)
        (g,) = _operands(g)
        need_a, need_b = ctx.needs_input_grad
        grad_a = grad_b = None
        with np.errstate(divide="ignore", invalid="ignore"):  # 0^-1 and log(0) are masked below
            if need_a:  # d(a^b)/da = b * a^(b-1); 0 where b == 0 (a^0 = 1 is constant, even at a = 0)
                grad_a = g * _pow_local(b_data == 0, b_data * _power(a_data, b_data - 1),
                                        lambda: b * a ** (b - 1))
            if need_b:  # d(a^b)/db = a^b * log(a); 0 where a == 0 and b >= 0 (its limit), as in PyTorch
                grad_b = g * _pow_local((a_data == 0) & (b_data >= 0), np.power(a_data, b_data) * np.log(a_data),
                                        lambda: a ** b * (a.log() if isinstance(a, Tensor) else np.log(a)))
        return grad_a, grad_b


def _power(a: Any, b: Any) -> Any:
    """a^b as np.power, but for the exponent -1/2: 1 / sqrt(a), as PyTorch's (-inf at -0.0 and NaN at -inf, where C's
    pow gives +inf and 0); through it sqrt's derivative is PyTorch's 1 / (2 sqrt(a)) too."""
    if isinstance(b, float) and b == -0.5:
        return 1 / np.sqrt(a)
    if np.result_type(a, b).kind in "biu" and np.any(np.less(b, 0)):   # NumPy: an OverflowError or ValueError
        low = np.min(b)
        raise ValueError(f"pow: an integer to a negative integer power has no integer result ({np.asarray(a).dtype} "
                         f"** {np.asarray(b).dtype}, exponent {low}); make one float, e.g. x.float() ** {low}")
    return np.power(a, b)


def _pow_local(zero: Any, constant: Any, differentiable: Any) -> Any:
    """A local derivative of Pow (see `_local`), set to 0 where `zero` holds: limits the formula misses."""
    local = _local(constant, differentiable)
    if not np.any(zero):
        return local
    if isinstance(local, Tensor):
        return Where.apply(local, 0.0, condition=np.logical_not(zero))
    return np.where(zero, 0, local)


class Neg(Function):
    @staticmethod
    def forward(ctx: Any, a: Tensor) -> np.ndarray:
        return -a.data

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Any:
        (g,) = _operands(g)
        return -g


class Exp(Function):
    @staticmethod
    def forward(ctx: Any, a: Tensor) -> np.ndarray:
        ctx.save_for_backward(a)
        return np.exp(as_float(a.data))

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (a,) = ctx.saved_tensors  # the output is recomputed: it may have been changed in place since
        (g,) = _operands(g)
        return g * _local(np.exp(a.data), a.exp)


class Log(Function):
    @staticmethod
    def forward(ctx: Any, a: Tensor) -> np.ndarray:
        ctx.save_for_backward(a)
        return np.log(as_float(a.data))

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        g, a = _operands(g, *ctx.saved_tensors)
        return g / a


class Tanh(Function):
    @staticmethod
    def forward(ctx: Any, a: Tensor) -> np.ndarray:
        ctx.save_for_backward(a)
        return np.tanh(as_float(a.data))

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (a,) = ctx.saved_tensors
        y = np.tanh(a.data)
        (g,) = _operands(g)
        return g * _local(1 - y * y, lambda: 1 - a.tanh() ** 2)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-x), as PyTorch computes it: e^-x overflowing to inf (x below -88 in float32) gives exactly the
    limit 0, and the result keeps its relative precision everywhere (0.5 * (1 + tanh(x / 2)) loses it below 0).
    Four passes in place: 1.4 ms on (128, 28, 28, 16) float32, where exp(-logaddexp(0, -x)) took 25 ms."""
    t = np.negative(x, out=np.empty_like(x))   # an array even for 0-d x (np.negative would give a scalar)
    with np.errstate(over="ignore"):
        np.exp(t, out=t)
    t += 1
    return np.reciprocal(t, out=t)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx: Any, a: Tensor) -> np.ndarray:
        ctx.save_for_backward(a)
        return _sigmoid(as_float(a.data))

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (a,) = ctx.saved_tensors
        s = _sigmoid(a.data)

        def graph() -> Tensor:
            t = a.sigmoid()
            return t * (1 - t)
        (g,) = _operands(g)
        return g * _local(s * (1 - s), graph)


class Relu(Function):
    """max(a, 0); the derivative at 0 is 0 (the documented kink rule); relu(nan) is nan and passes the gradient,
    as PyTorch's (its mask, output != 0, is true there)."""

    @staticmethod
    def forward(ctx: Any, a: Tensor) -> np.ndarray:
        x = a.data
        if x.dtype.kind != "f" or not x.flags.c_contiguous or x.nbytes < RELU_BLOCK_BYTES // 16:   # or small
            zero = _zero(x)
            out = np.maximum(x, zero)
            ctx.mask = out != zero
            return out
        out, ctx.mask = np.empty_like(x), np.empty(x.shape, dtype=bool)
        xs, outs, masks = x.reshape(-1), out.reshape(-1), ctx.mask.reshape(-1)

        def kernel(block: slice) -> None:
            o = outs[block]
            o.fill(0)   # max with an array of zeros takes NumPy's fast loop; with the scalar 0 a slow one
            np.maximum(xs[block], o, out=o)
            np.not_equal(o, 0, out=masks[block])
        parallel.over_batch(x.size, x.itemsize, kernel, piece_bytes=RELU_BLOCK_BYTES)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Any:
        gs, mask = g.data, ctx.mask
        if (not MODE.plain_backward or gs.dtype.kind != "f" or gs.shape != mask.shape or not gs.flags.c_contiguous
                or gs.nbytes < RELU_BLOCK_BYTES // 16):
            return route(g, mask)   # recorded under create_graph (a second derivative, 0), checked in anomaly mode
        out = np.empty_like(gs)
        gs, outs, masks = gs.reshape(-1), out.reshape(-1), mask.reshape(-1)

        def kernel(block: slice) -> None:
            select(gs[block], masks[block], outs[block])
        parallel.over_batch(gs.size, gs.itemsize, kernel, piece_bytes=RELU_BLOCK_BYTES)
        return out


RELU_BLOCK_BYTES = 1 << 20   # a block of relu's work: cache-sized, and far more than Python's cost per block


class Abs(Function):
    """|a|; the derivative at 0 is 0, and at NaN 0 too (PyTorch's sgn, where NumPy's sign is NaN)."""

    @staticmethod
    def forward(ctx: Any, a: Tensor) -> np.ndarray:
        if ctx.needs_input_grad[0]:   # sign(a) as (a > 0) - (a < 0), 0 at NaN (NumPy's sign is NaN there)
            ctx.sign = np.subtract(a.data > 0, a.data < 0, dtype=a.dtype)
        return np.abs(a.data)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        return g * ctx.sign


class Maximum(Function):
    """Elementwise max; where a == b each side gets half the gradient (the tie rule); a NaN wins (NumPy's
    maximum) and carries the gradient, as in the max reduction."""

    pick, wins = staticmethod(np.maximum), staticmethod(np.greater)   # Minimum swaps them

    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> np.ndarray:
        a, b = _d(a), _d(b)
        out = ctx.pick(a, b)
        if any(ctx.needs_input_grad):
            # share of the gradient that goes to a: 1 where a wins, 1/2 on ties, 0 where b wins
            share_a = ctx.wins(a, b) + np.equal(a, b) * np.asarray(0.5, out.dtype)
            if np.isnan(out).any():   # NaN compares False: the NaN side wins instead
                nan_a, nan_b = np.isnan(a), np.isnan(b)
                share_a = np.where(nan_a | nan_b, np.where(nan_a & nan_b, 0.5, nan_a), share_a)
            ctx.share_a = share_a
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
        share_a = ctx.share_a.astype(g.dtype, copy=False)
        need_a, need_b = ctx.needs_input_grad   # routed, then halved on ties (0 * 0 elsewhere)
        return ((route(g, share_a != 0) * share_a if need_a else None),
                (route(g, share_a != 1) * (1 - share_a) if need_b else None))


class Minimum(Maximum):
    """Elementwise min, by Maximum's rule with the order reversed."""

    pick, wins = staticmethod(np.minimum), staticmethod(np.less)


class Clip(Function):
    """min(max(a, low), high) as PyTorch's clamp: a NaN in any operand gives NaN, and low > high gives high (a bound
    that is None is absent). The gradient goes to `a` where low <= a <= high, else to the bound that won: to low
    where a < low < high, to high where a > high or high < low; where a NaN makes them incomparable (and where
    a < low == high) nobody gets it."""

    @staticmethod
    def forward(ctx: Any, a: Tensor, low: Tensor | None, high: Tensor | None) -> np.ndarray:
        x, lo, hi = a.data, _d(low), _d(high)
        need_a, need_low, need_high = ctx.needs_input_grad
        ctx.masks = (   # where each operand gets the gradient (None: it needs none)
            (x >= lo if hi is None else x <= hi if lo is None else (x >= lo) & (x <= hi)) if need_a else None,
            ((x < lo) & (True if hi is None else lo < hi)) if need_low else None,
            ((x > hi) | (False if lo is None else hi < lo)) if need_high else None,
        )
        out = x if lo is None else np.maximum(x, lo)
        return out if hi is None else np.minimum(out, hi)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any, Any]:
        return tuple([None if mask is None else route(g, mask) for mask in ctx.masks])


class Where(Function):
    """`a` where `condition` holds, else `b`; the condition is not differentiable."""

    @staticmethod
    def forward(ctx: Any, a: Any, b: Any, *, condition: np.ndarray) -> np.ndarray:
        ctx.condition = condition
        return np.where(condition, _d(a), _d(b))

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, Any]:
        need_a, need_b = ctx.needs_input_grad
        keep = ctx.condition
        return (route(g, keep) if need_a else None), (route(g, ~keep) if need_b else None)


class FloorDivide(Function):
    """a // b, NumPy's floor division. A step function: applied to detached operands, so never recorded
    (as in PyTorch, it has no gradient)."""

    @staticmethod
    def forward(ctx: Any, a: Any, b: Any) -> np.ndarray:
        return np.floor_divide(_d(a), _d(b))


class Cast(Function):
    """Change of dtype; the gradient is cast back."""

    @staticmethod
    def forward(ctx: Any, a: Tensor, *, dtype: np.dtype) -> np.ndarray:
        if ctx.needs_input_grad[0] and dtype.kind not in "fc":
            raise TypeError(f"cannot cast a tensor that requires grad to {dtype}: the result would "
                            "not be differentiable; call .detach() first")
        ctx.source_dtype = a.dtype
        return a.data.astype(dtype)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        return g.astype(ctx.source_dtype)
