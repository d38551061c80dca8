"""Activations whose PyTorch gradients no composition of other ops gives exactly, as primitive ops: a clip with no
gradient at its bounds (relu6), hard swish, elu by expm1 and softplus; layers/activations.py calls them by name."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..function import Function
from ..mode import MODE
from ..tensor import Tensor
from .composed import where
from .elementwise import as_float, route, select


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
