"""Activation functions by name ("relu", "softmax", ...), as Keras's `activation=` argument takes them."""
from __future__ import annotations

import math
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import numpy as np

from ..ops.activations import Elu, HardClip, HardSilu, Softplus
from ..ops.composed import where
from ..ops.normal import normal_cdf
from ..tensor import Tensor

Activation = Callable[[Tensor], Tensor]


def linear(x: Tensor) -> Tensor:
    """The identity (Keras's "linear", also what `activation=None` means)."""
    return x


def relu(x: Tensor, negative_slope: float = 0.0, max_value: float | None = None, threshold: float = 0.0) -> Tensor:
    """max(x, 0); Keras's options: x only above `threshold` (0 up to it, as torch's threshold), capped to
    [0, `max_value`], minus negative_slope * (threshold - x) below the threshold."""
    if threshold != 0:   # NaN is kept (its gradient passes), as in relu and torch's threshold
        y = where(~(x.data <= threshold), x, 0.0)
    else:
        y = x if max_value is not None else x.relu()   # the clip below is relu too
    if max_value is not None:
        y = HardClip.apply(y, low=0.0, high=float(max_value))
    return y - (threshold - x).relu() * negative_slope if negative_slope != 0 else y


def relu6(x: Tensor) -> Tensor:
    """min(max(x, 0), 6)."""
    return HardClip.apply(x, low=0.0, high=6.0)


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
    return HardSilu.apply(x)


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
    """x for x > 0, else alpha * (exp(x) - 1)."""
    return Elu.apply(x, alpha=alpha)


def selu(x: Tensor) -> Tensor:
    """scale * elu(x, alpha) with the self-normalising constants of Klambauer et al. (2017)."""
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return elu(x, alpha) * scale


def softplus(x: Tensor) -> Tensor:
    """log(1 + exp(x)), stable for large |x|."""
    return Softplus.apply(x)


def swish(x: Tensor) -> Tensor:
    """x * sigmoid(x) (also called SiLU)."""
    return x * x.sigmoid()


def mish(x: Tensor) -> Tensor:
    """x * tanh(softplus(x)) (Misra, 2019)."""
    return x * softplus(x).tanh()


def gelu(x: Tensor, approximate: bool = False) -> Tensor:
    """Gaussian error linear unit x * Phi(x), Phi the standard normal CDF (Keras's and PyTorch's default);
    approximate=True: the tanh form x/2 * (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    if not approximate:
        return x * normal_cdf(x)
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

