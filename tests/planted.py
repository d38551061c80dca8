"""Ops with planted gradient bugs, and small composite models that use them (shared by the gradcheck tests).

Each planted call is marked with a `# planted:` comment so that tests can find its line.
"""
from __future__ import annotations

from typing import Any

import numpy as np

import tinygrad_cnn as tc
from tinygrad_cnn.mode import scope


class NoTransposeMatMul(tc.Function):
    """a @ b whose backward forgets to transpose b for the gradient of a."""

    @staticmethod
    def forward(ctx: Any, a: tc.Tensor, b: tc.Tensor) -> np.ndarray:
        ctx.save_for_backward(a, b)
        return a.data @ b.data

    @staticmethod
    def backward(ctx: Any, g: tc.Tensor) -> tuple[tc.Tensor, tc.Tensor]:
        a, b = ctx.saved_tensors
        return g @ b, a.swapaxes(-1, -2) @ g          # bug: g @ b.T is right


class HalfExp(tc.Function):
    """exp whose backward returns half the gradient."""

    @staticmethod
    def forward(ctx: Any, a: tc.Tensor) -> np.ndarray:
        ctx.save_for_backward(a)
        return np.exp(a.data)

    @staticmethod
    def backward(ctx: Any, g: tc.Tensor) -> tc.Tensor:
        (a,) = ctx.saved_tensors
        return g * a.exp() * 0.5                       # bug: the factor 0.5


class FirstRowBiasAdd(tc.Function):
    """x + bias (bias broadcast over rows) whose backward ignores the broadcast: it keeps only row 0."""

    @staticmethod
    def forward(ctx: Any, x: tc.Tensor, bias: tc.Tensor) -> np.ndarray:
        return x.data + bias.data

    @staticmethod
    def backward(ctx: Any, g: tc.Tensor) -> tuple[tc.Tensor, tc.Tensor]:
        return g, g[0]                                 # bug: g.sum(axis=0) is right


class SignSlipTanh(tc.Function):
    """tanh(x) for x > 0, 0.1 x otherwise; the backward of the negative branch has the wrong sign."""

    @staticmethod
    def forward(ctx: Any, x: tc.Tensor) -> np.ndarray:
        ctx.save_for_backward(x)
        return np.where(x.data > 0, np.tanh(x.data), 0.1 * x.data)

    @staticmethod
    def backward(ctx: Any, g: tc.Tensor) -> tc.Tensor:
        (x,) = ctx.saved_tensors
        return tc.where(x.data > 0, g * (1 - x.tanh() ** 2), g * -0.1)   # bug: +0.1 is right


class ConstantSquare(tc.Function):
    """x^2 whose backward is right but not differentiable: the local derivative is a constant."""

    @staticmethod
    def forward(ctx: Any, x: tc.Tensor) -> np.ndarray:
        ctx.save_for_backward(x)
        return x.data ** 2

    @staticmethod
    def backward(ctx: Any, g: tc.Tensor) -> tc.Tensor:
        (x,) = ctx.saved_tensors
        return g * tc.Tensor(2 * x.data)               # bug for second order: 2 * x would keep the graph


class KinkBugRelu(tc.Function):
    """ReLU whose derivative at exactly 0 is 3: outside the one-sided slopes 0 and 1."""

    @staticmethod
    def forward(ctx: Any, x: tc.Tensor) -> np.ndarray:
        ctx.slope = np.where(x.data > 0, 1.0, np.where(x.data == 0, 3.0, 0.0))
        return np.maximum(x.data, 0)

    @staticmethod
    def backward(ctx: Any, g: tc.Tensor) -> tc.Tensor:
        return g * ctx.slope                           # bug: the slope at 0 must lie in [0, 1]


def three_layer_model(x: tc.Tensor, w1: tc.Tensor, w2: tc.Tensor, w3: tc.Tensor) -> tc.Tensor:
    """Dense-tanh, dense-relu (through the planted matmul), dense; each in a layer scope."""
    with scope("model", "Sequential"):
        with scope("dense_1", "Dense"):
            h = (x @ w1).tanh()
        with scope("dense_2", "Dense"):
            h = NoTransposeMatMul.apply(h, w2).relu()  # planted: missing transpose
        with scope("dense_3", "Dense"):
            return h @ w3


def broadcast_model(x: tc.Tensor, w: tc.Tensor, bias: tc.Tensor) -> tc.Tensor:
    """A dense layer whose bias add ignores broadcasting, then a softmax."""
    with scope("dense", "Dense"):
        h = FirstRowBiasAdd.apply(x @ w, bias)         # planted: broadcasting ignored
    return h.tanh().softmax(axis=-1)


def branch_model(x: tc.Tensor, w: tc.Tensor) -> tc.Tensor:
    """Two branches from one input; the second goes through the op with a wrong sign."""
    h = x @ w
    left = h.sigmoid()
    right = SignSlipTanh.apply(h)                      # planted: wrong sign in one branch
    return (left * right + h).sum(axis=0)


def planted_line(marker: str) -> int:
    """The line of this file that carries `# planted: <marker>`."""
    with open(__file__) as source:
        for number, line in enumerate(source, start=1):
            if f"# planted: {marker}" in line:
                return number
    raise LookupError(marker)


def arrays(seed: int, *shapes: tuple[int, ...]) -> list[tc.Tensor]:
    """Float64 normal leaves that require grad."""
    rng = np.random.default_rng(seed)
    return [tc.Tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
