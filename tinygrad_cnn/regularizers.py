"""Weight and activity penalties with Keras 3's names and formulas: L1, L2, L1L2 and OrthogonalRegularizer.

A regularizer is a callable `penalty(x) -> scalar Tensor`. A layer made with `kernel_regularizer=`,
`bias_regularizer=` or `activity_regularizer=` lists the penalties in `layer.losses`, and `fit` and
`evaluate` add their sum to the loss:
    L1(l1)(w)      = l1 * sum(|w|)
    L2(l2)(w)      = l2 * sum(w^2)          (no 1/2: its gradient is 2 * l2 * w)
    L1L2(l1, l2)   = both added
    OrthogonalRegularizer(factor, mode)(w) = factor * the mean |cosine| over pairs of w's rows (or columns)
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from .arguments import number, one_of
from .configs import Configured, Family
from .tensor import Tensor


def _factor(value: Any, argument: str, owner: str, default: float) -> float:
    """A penalty factor: a finite number >= 0 (None gives the default, as in Keras)."""
    if value is None:
        return default
    try:
        return number(value, argument, owner, 0.0, math.inf, high_open=True)
    except ValueError:
        raise ValueError(f"{owner}: {argument} must be a finite number >= 0 (the weight of the penalty), "
                         f"got {value}") from None


class Regularizer(Configured):
    """Base class: a penalty computed from a tensor (`__call__`), with a config that rebuilds it."""

    def __call__(self, x: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define __call__(x) -> scalar Tensor")

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (JSON-friendly)."""
        raise NotImplementedError(f"{type(self).__name__} must define get_config() to be saved in a config")


class L1L2(Regularizer):
    """l1 * sum(|x|) + l2 * sum(x^2); both factors default to 0 (Keras's class defaults)."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = _factor(l1, "l1", type(self).__name__, 0.0)
        self.l2 = _factor(l2, "l2", type(self).__name__, 0.0)

    def __call__(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"{type(self).__name__} penalizes a Tensor, got {type(x).__name__}; "
                            "wrap arrays in tc.Tensor")
        terms = [x.abs().sum() * self.l1] if self.l1 else []
        if self.l2:
            terms.append((x * x).sum() * self.l2)
        if not terms:  # both factors 0: a zero of x's dtype, in x's graph
            return (x * 0).sum()
        return terms[0] if len(terms) == 1 else terms[0] + terms[1]

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """l1 * sum(|x|) (Lasso): pushes weights to exactly zero; default l1 = 0.01."""

    def __init__(self, l1: float = 0.01) -> None:
        super().__init__(l1=_factor(l1, "l1", "L1", 0.01))

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1}


class L2(L1L2):
    """l2 * sum(x^2) (weight decay): its gradient is 2 * l2 * x; default l2 = 0.01."""

    def __init__(self, l2: float = 0.01) -> None:
        super().__init__(l2=_factor(l2, "l2", "L2", 0.01))

    def get_config(self) -> dict[str, Any]:
        return {"l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Pushes the rows (mode="rows") or columns ("columns") of a 2-D weight, e.g. a Dense kernel, towards being
    orthogonal: factor * the mean over pairs of them of |cosine of their angle| (Keras 3's formula: half the
    sum of the off-diagonal |Gram matrix| entries of the unit rows, over the n (n - 1) / 2 pairs)."""

    def __init__(self, factor: float = 0.01, mode: str = "rows") -> None:
        self.factor = _factor(factor, "factor", "OrthogonalRegularizer", 0.01)
        self.mode = one_of(mode, ("rows", "columns"), "mode", "OrthogonalRegularizer")

    def __call__(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise TypeError(f"OrthogonalRegularizer penalizes a Tensor, got {type(x).__name__}; wrap arrays in "
                            "tc.Tensor")
        if x.ndim != 2:
            raise ValueError(f"OrthogonalRegularizer penalizes a 2-D weight (a Dense kernel: give it as "
                             f"kernel_regularizer of a Dense layer), got shape {x.shape}")
        vectors = x if self.mode == "rows" else x.transpose(1, 0)   # (n, d): the vectors to make orthogonal
        n = vectors.shape[0]
        if n < 2:   # no pairs: nothing to penalize
            return (x * 0).sum()
        # each vector over its length (at least 1e-6, as Keras's l2 normalisation), then their Gram matrix (n, n)
        unit = vectors / (vectors * vectors).sum(axis=1, keepdims=True).maximum(1e-12).sqrt()
        gram = unit @ unit.transpose(1, 0)
        off_diagonal = gram * (1 - np.eye(n, dtype=x.dtype))
        return off_diagonal.abs().sum() * (self.factor * 0.5 / (n * (n - 1) / 2))

    def get_config(self) -> dict[str, Any]:
        return {"factor": self.factor, "mode": self.mode}


l1, l2, l1_l2 = L1, L2, L1L2  # Keras's lowercase aliases of the classes
orthogonal_regularizer = OrthogonalRegularizer

CLASSES: Mapping[str, type[Regularizer]] = MappingProxyType({
    "L1": L1, "L2": L2, "L1L2": L1L2, "OrthogonalRegularizer": OrthogonalRegularizer})

# the string identifiers, with the factors Keras documents for them (0.01 each)
NAMES: Mapping[str, Callable[[], Regularizer]] = MappingProxyType({
    "l1": lambda: L1(0.01), "l2": lambda: L2(0.01), "l1_l2": lambda: L1L2(0.01, 0.01),
    "orthogonal_regularizer": OrthogonalRegularizer})


FAMILY = Family(Regularizer, CLASSES, NAMES, "l2", "tc.regularizers.L2(0.01)", "x -> scalar Tensor")


def serialize(regularizer: Any) -> dict[str, Any] | None:
    """{"class_name", "config"} for a built-in regularizer (None for None); a custom callable cannot be named."""
    return FAMILY.serialize(regularizer)


def deserialize(config: Mapping[str, Any]) -> Regularizer:
    """A regularizer from `serialize`'s output {"class_name", "config"} (Keras's other keys are ignored)."""
    return FAMILY.deserialize(config)


def get(identifier: Any) -> Any:
    """A regularizer from None, a name ("l1", "l2", "l1_l2", "orthogonal_regularizer" or a class name), a
    `serialize` dict, an instance or a callable `x -> scalar Tensor` (returned as is)."""
    return FAMILY.get(identifier)
