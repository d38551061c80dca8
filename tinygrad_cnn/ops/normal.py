"""The standard normal CDF Phi as a primitive op (for gelu): erfc has no NumPy routine, so it is computed here."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..function import Function
from ..tensor import Tensor


def _erfcx_coefficients(degree: int = 20) -> tuple[float, ...]:
    """Power-series coefficients in z of erfcx(z) = exp(z^2) erfc(z) for 0 <= z <= 2: the polynomial that matches
    math.erfc at the Chebyshev points of [0, 2], within 3e-14 relative on the whole interval."""
    def erfcx(z: np.ndarray) -> np.ndarray:
        return np.array([math.erfc(v) * math.exp(v * v) for v in z])
    fit = np.polynomial.Chebyshev.interpolate(erfcx, degree, domain=[0, 2])
    # Python floats, which keep a float32 computation in float32
    return tuple(map(float, fit.convert(kind=np.polynomial.Polynomial, domain=[0, 2], window=[0, 2]).coef))


# float64 needs degree 20; in float32 the rounding of Horner's rule (5e-6 relative) hides every degree above 11
_ERFCX = {np.dtype(np.float64): _erfcx_coefficients(20), np.dtype(np.float32): _erfcx_coefficients(11)}


def _erfc(z: np.ndarray) -> np.ndarray:
    """The complementary error function (NumPy has none), computed in z's dtype (at least float32) as
    exp(-z^2) erfcx(|z|), with no cancellation: in float64 within 1e-13 relative of math.erfc.

    erfcx(z) is the polynomial above for z < 2, beyond it the continued fraction 1 / sqrt(pi) /
    (z + (1/2) / (z + (2/2) / (z + (3/2) / ...))), cut at depth 40. Negative z: erfc(z) = 2 - erfc(-z).
    """
    a = np.abs(z).astype(np.result_type(z.dtype, np.float32))
    s = np.minimum(a, 2)   # the polynomial runs on every value (cheaper than picking the near ones out)
    coefficients = _ERFCX.get(a.dtype, _ERFCX[np.dtype(np.float64)])
    erfcx = s * coefficients[-1] + coefficients[-2]   # Horner's rule, highest power first
    for c in reversed(coefficients[:-2]):
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


def normal_cdf(x: Tensor) -> Tensor:
    """Phi(x) = P(X <= x) for X ~ N(0, 1), differentiable to any order."""
    return NormalCDF.apply(x)
