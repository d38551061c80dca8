"""Activation functions by name ("relu", "softmax", ...), as Keras's `activation=` argument takes them."""
from __future__ import annotations

import math
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import numpy as np

from ..function import Function
from ..ops.composed import where
from ..tensor import Tensor

Activation = Callable[[Tensor], Tensor]


def linear(x: Tensor) -> Tensor:
    """The identity (Keras's "linear", also what `activation=None` means)."""
    return x


def relu(x: Tensor, negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0) -> Tensor:
    """max(x, 0); Keras's options: slope `negative_slope` below `threshold` (x itself from it on), capped at
    `max_value`."""
    if negative_slope == 0 and threshold == 0:
        y = x.relu()
    else:
        y = where(x.data >= threshold, x, (x - threshold) * negative_slope)
    return y if max_value is None else y.minimum(max_value)


def relu6(x: Tensor) -> Tensor:
    """min(max(x, 0), 6)."""
    return x.relu().minimum(6.0)


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + exp(-x)), computed stably."""
    return x.sigmoid()


def tanh(x: Tensor) -> Tensor:
    """The hyperbolic tangent."""
    return x.tanh()


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """exp(x) normalised over `axis` (by default the last, the class axis)."""
    return x.softmax(axis=axis)


def hard_sigmoid(x: Tensor) -> Tensor:
    """relu6(x + 3) / 6, a piecewise-linear sigmoid (Keras 3's definition, as torch's hardsigmoid)."""
    return relu6(x + 3.0) / 6.0


def hard_silu(x: Tensor) -> Tensor:
    """x * hard_sigmoid(x) (also called hard swish)."""
    return x * hard_sigmoid(x)


def softsign(x: Tensor) -> Tensor:
    """x / (1 + |x|)."""
    return x / (x.abs() + 1)


def exponential(x: Tensor) -> Tensor:
    """exp(x)."""
    return x.exp()


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """log(softmax(x)) over `axis` (by default the last), computed stably."""
    return x.log_softmax(axis=axis)


def leaky_relu(x: Tensor, negative_slope: float = 0.2) -> Tensor:
    """x for x > 0, else negative_slope * x (0.2: Keras's default for the activation by name)."""
    return x.leaky_relu(negative_slope)


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """x for x > 0, else alpha * (exp(x) - 1).

    exp only sees non-positive values, so it cannot overflow where x is large. At x = 0 the gradient
    is alpha, the negative side's (as PyTorch); x.minimum(0) there would halve it (a tie shares it).
    """
    positive = x.data > 0
    return where(positive, x, (where(positive, 0.0, x).exp() - 1) * alpha)


def selu(x: Tensor) -> Tensor:
    """scale * elu(x, alpha) with the self-normalising constants of Klambauer et al. (2017)."""
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return elu(x, alpha) * scale


def softplus(x: Tensor) -> Tensor:
    """log(1 + exp(x)) = max(x, 0) + log(1 + exp(-|x|)), stable for large |x|."""
    return x.relu() + ((-x.abs()).exp() + 1).log()


def swish(x: Tensor) -> Tensor:
    """x * sigmoid(x) (also called SiLU)."""
    return x * x.sigmoid()


def mish(x: Tensor) -> Tensor:
    """x * tanh(softplus(x)) (Misra, 2019)."""
    return x * softplus(x).tanh()


def _erfcx_coefficients(degree: int = 20) -> tuple[float, ...]:
    """Power-series coefficients in z of erfcx(z) = exp(z^2) erfc(z) for 0 <= z <= 2: the polynomial that matches
    math.erfc at the Chebyshev points of [0, 2], within 3e-14 relative on the whole interval."""
    def erfcx(z: np.ndarray) -> np.ndarray:
        return np.array([math.erfc(v) * math.exp(v * v) for v in z])
    fit = np.polynomial.Chebyshev.interpolate(erfcx, degree, domain=[0, 2])
    # Python floats, which keep a float32 computation in float32
    return tuple(map(float, fit.convert(kind=np.polynomial.Polynomial, domain=[0, 2], window=[0, 2]).coef))


_ERFCX = _erfcx_coefficients()


def _erfc(z: np.ndarray) -> np.ndarray:
    """The complementary error function (NumPy has none), computed in z's dtype (at least float32) as
    exp(-z^2) erfcx(|z|), with no cancellation: in float64 within 1e-13 relative of math.erfc.

    erfcx(z) is the polynomial above for z < 2, beyond it the continued fraction 1 / sqrt(pi) /
    (z + (1/2) / (z + (2/2) / (z + (3/2) / ...))), cut at depth 40. Negative z: erfc(z) = 2 - erfc(-z).
    """
    a = np.abs(z).astype(np.result_type(z.dtype, np.float32))
    s = np.minimum(a, 2)   # the polynomial runs on every value (cheaper than picking the near ones out)
    erfcx = s * _ERFCX[-1] + _ERFCX[-2]   # Horner's rule, highest power first
    for c in reversed(_ERFCX[:-2]):
        erfcx *= s
        erfcx += c
    far = a > 2
    if far.any():
        b = a[far]
        fraction = b.copy()
        for k in range(40, 0, -1):
            fraction = b + (k / 2) / fraction
        erfcx[far] = 1 / (math.sqrt(math.pi) * fraction)
    with np.errstate(over="ignore", under="ignore"):   # exp(-z^2) of a large z is 0, the answer
        out = np.exp(-a * a) * erfcx
    return np.where(z < 0, 2 - out, out)


class NormalCDF(Function):
    """Phi(x) = P(X <= x) for X ~ N(0, 1), which is erfc(-x / sqrt(2)) / 2; its derivative is the normal density."""

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> np.ndarray:
        ctx.save_for_backward(x)
        return (_erfc(x.data * -math.sqrt(0.5)) / 2).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        # Phi'(x) = exp(-x^2 / 2) / sqrt(2 pi), with Tensor ops so that it is differentiable again
        return g * (x * x * -0.5).exp() * (1 / math.sqrt(2 * math.pi))


def gelu(x: Tensor, approximate: bool = False) -> Tensor:
    """Gaussian error linear unit x * Phi(x), Phi the standard normal CDF (Keras's and PyTorch's default);
    approximate=True: the tanh form x/2 * (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    if not approximate:
        return x * NormalCDF.apply(x)
    inner = (x + x * x * x * 0.044715) * math.sqrt(2 / math.pi)
    return x * 0.5 * (inner.tanh() + 1)


ACTIVATIONS: MappingProxyType[str, Activation] = MappingProxyType({
    "linear": linear, "relu": relu, "relu6": relu6, "sigmoid": sigmoid, "hard_sigmoid": hard_sigmoid,
    "tanh": tanh, "softmax": softmax, "log_softmax": log_softmax, "leaky_relu": leaky_relu, "elu": elu,
    "selu": selu, "softplus": softplus, "softsign": softsign, "exponential": exponential, "swish": swish,
    "silu": swish, "hard_silu": hard_silu, "hard_swish": hard_silu, "mish": mish, "gelu": gelu,
})


def get(identifier: Any) -> Activation:
    """The activation for a name, a callable (returned as is) or None (linear)."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in ACTIVATIONS:
            raise ValueError(f"unknown activation {identifier!r}; known names: {', '.join(sorted(ACTIVATIONS))} "
                             "(or pass a callable that maps a Tensor to a Tensor)")
        return ACTIVATIONS[key]
    if callable(identifier) and not isinstance(identifier, (np.ndarray, Tensor)):
        return identifier
    raise TypeError(f"activation must be a name such as 'relu', a callable or None, "
                    f"got {type(identifier).__name__}: {identifier!r:.60}")

