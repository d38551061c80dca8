"""Activation functions by name ("relu", "softmax", ...), as Keras's `activation=` argument takes them."""
from __future__ import annotations

import math
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import numpy as np

from ..function import Function
from ..mode import MODE
from ..ops.composed import where
from ..ops.elementwise import as_float, route, select
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


class HardClip(Function):
    """a clipped to [low, high] with the gradient strictly inside, none at the bounds or at NaN (torch's relu6 and
    hardtanh, TensorFlow's relu6), where clip (torch.clamp) passes it at the bounds."""

    @staticmethod
    def forward(ctx: Any, a: Tensor, *, low: float, high: float) -> np.ndarray:
        if ctx.needs_input_grad[0]:
            ctx.inside = (a.data > low) & (a.data < high)
        return np.clip(a.data, low, high)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Any:
        return route(g, ctx.inside)


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


class HardSilu(Function):
    """x * relu6(x + 3) / 6 (torch's order of operations); the derivative as torch's hardswish: 0 up to -3,
    x / 3 + 1/2 inside, 1 from 3 on and at NaN (the product rule would give inf * 0 at +-inf)."""

    @staticmethod
    def forward(ctx: Any, a: Tensor) -> np.ndarray:
        ctx.save_for_backward(a)
        return a.data * np.clip(a.data + 3, 0, 6) / 6

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Any:
        (a,) = ctx.saved_tensors
        inside, above = (a.data > -3) & (a.data < 3), ~(a.data < 3)   # above: from 3 on, and NaN
        if MODE.plain_backward:   # arrays: x / 3 + 1/2 inside, 1 above (selections: np.where is slow on mixed masks)
            local = select(a.data / 3 + 0.5, inside) + above
            return select(g.data, inside | above) * local
        return route(g, inside | above) * where(inside, a / 3 + 0.5, 1.0)   # recorded: 1/3 inside is its derivative


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


class Elu(Function):
    """x for x > 0, else alpha * (exp(x) - 1), by expm1 (exact for tiny x, as PyTorch); exp only sees x <= 0, so
    it cannot overflow. The derivative is 1 above 0, alpha * exp(x) from 0 down (alpha at 0: the negative side's,
    as PyTorch's; x.minimum(0) there would halve it)."""

    @staticmethod
    def forward(ctx: Any, a: Tensor, *, alpha: float) -> np.ndarray:
        ctx.save_for_backward(a)
        return np.maximum(a.data, 0) + alpha * np.expm1(np.minimum(a.data, 0))   # one side is 0 (NaN: NaN)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Any:
        (a,), alpha = ctx.saved_tensors, ctx.op_args["alpha"]
        positive = a.data > 0
        if not MODE.plain_backward:   # recorded (create_graph) or checked (anomaly): as ops
            return g * where(positive, 1.0, where(positive, 0.0, a).exp() * alpha)
        return g.data * (select(alpha * np.exp(np.minimum(a.data, 0)), ~positive) + positive)


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """x for x > 0, else alpha * (exp(x) - 1)."""
    return Elu.apply(x, alpha=alpha)


def selu(x: Tensor) -> Tensor:
    """scale * elu(x, alpha) with the self-normalising constants of Klambauer et al. (2017)."""
    alpha, scale = 1.6732632423543772, 1.0507009873554805
    return elu(x, alpha) * scale


class Softplus(Function):
    """log(1 + exp(x)) = max(x, 0) + log(1 + exp(-|x|)), stable and exact for large |x| of either sign (log1p:
    4.2e-18 at -40, not 0); the derivative is sigmoid(x) (1/2 at 0, where max(x, 0)'s kink would give 0)."""

    @staticmethod
    def forward(ctx: Any, a: Tensor) -> np.ndarray:
        ctx.save_for_backward(a)
        x = as_float(a.data)
        return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Any:
        (a,) = ctx.saved_tensors
        if not MODE.plain_backward:   # recorded (create_graph) or checked (anomaly): as ops
            return g * a.sigmoid()
        with np.errstate(over="ignore"):   # e^-x is inf far below 0: sigmoid 0
            return g.data / (1 + np.exp(-a.data))


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

