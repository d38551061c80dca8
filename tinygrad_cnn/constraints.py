"""Weight constraints with Keras 3's names and formulas: MaxNorm, MinMaxNorm, NonNeg and UnitNorm.

A constraint is a callable `constraint(w) -> Tensor` of w's shape: a projection of the weight. A layer
made with `kernel_constraint=`, `bias_constraint=` (or `add_weight(..., constraint=...)`) gives it to
the weight, and every optimizer sets the weight to constraint(weight) right after each update (in
`fit` and in a loop of your own with `opt.step()`); it is not part of the graph, and the weights it
does not update (frozen, or without a gradient) are left as they are.

The norm constraints compute n = sqrt(sum(w^2)) over `axis` (kept as size 1), then scale w by
desired(n) / (1e-7 + n):
    MaxNorm       desired = clip(n, 0, max_value)
    MinMaxNorm    desired = rate * clip(n, min_value, max_value) + (1 - rate) * n
    UnitNorm      w / (1e-7 + n)
`axis` is the axis (or axes) summed over, the opposite of torch.renorm's `dim`, the one axis kept:
axis=0 on a Dense kernel (in, out) bounds each unit's incoming weights; on a Conv2D kernel
(kh, kw, in, out) use axis=[0, 1, 2] to bound each filter.
"""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from .arguments import is_int, number
from .configs import Configured, Family
from .mode import no_grad
from .tensor import Tensor

EPSILON = 1e-7  # Keras's backend.epsilon(): keeps desired / (epsilon + n) finite for an all-zero weight


def _weight(w: Any, owner: str) -> Tensor:
    """`w` as a floating-point Tensor (arrays and lists are wrapped, integers become float32)."""
    if not isinstance(w, Tensor):
        try:
            w = Tensor(w)
        except (TypeError, ValueError) as e:
            raise TypeError(f"{owner} constrains a weight (a Tensor or an array of numbers), got "
                            f"{type(w).__name__}: {e}") from None
    return w if w.dtype.kind == "f" else w.astype(np.float32)


class Constraint(Configured):
    """Base class: `__call__(w)` returns the projected weight (the base returns w unchanged, as Keras's)."""

    def __call__(self, w: Any) -> Tensor:
        return _weight(w, type(self).__name__)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (JSON-friendly); none for the base class."""
        return {}


def _axis(axis: Any, owner: str) -> int | tuple[int, ...] | None:
    """An int, a non-empty list or tuple of distinct ints, or None (the whole weight), checked."""
    if axis is None or is_int(axis):
        return None if axis is None else int(axis)
    if not isinstance(axis, (list, tuple)) or not axis or not all(is_int(a) for a in axis):
        raise TypeError(f"{owner}: axis must be an int, a non-empty list of ints such as [0, 1, 2] (a Conv2D "
                        f"kernel's filters) or None (the whole weight), got {axis!r:.60}")
    if len(set(axis)) != len(axis):
        raise ValueError(f"{owner}: axis {list(axis)} names an axis twice; list each axis once")
    return tuple(int(a) for a in axis)


class _NormConstraint(Constraint):
    """The norm constraints: w * desired(n) / (epsilon + n), with n the 2-norm over `axis`."""

    def __init__(self, axis: Any) -> None:
        self.axis = _axis(axis, type(self).__name__)

    def __call__(self, w: Any) -> Tensor:
        w = super().__call__(w)
        axes = self._axes(w.shape)
        norms = (w * w).sum(axes, keepdims=True).sqrt()  # (d1, .., 1 on each summed axis, ..)
        return w * (self._desired(norms) / (norms + EPSILON))

    def _axes(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The summed axes as non-negative ints, or a ValueError naming the weight's shape."""
        axes = range(len(shape)) if self.axis is None else (self.axis,) if is_int(self.axis) else self.axis
        ndim = len(shape)
        wrong = [a for a in axes if not -ndim <= a < ndim]
        if wrong:
            raise ValueError(f"{type(self).__name__}: axis {wrong[0]} is out of range for a weight of shape {shape} "
                             f"({ndim} axes: use {-ndim} to {ndim - 1}); a Dense kernel (in, out) takes axis=0, "
                             "a Conv2D kernel (kh, kw, in, out) axis=[0, 1, 2]")
        normal = tuple(sorted(a % ndim for a in axes))
        if len(set(normal)) != len(normal):
            raise ValueError(f"{type(self).__name__}: axis {list(self.axis)} names an axis twice on a weight of "
                             f"shape {shape} (a negative axis counts from the end); list each axis once")
        return normal

    def _desired(self, norms: Tensor) -> Any:
        """The norm each slice should get."""
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {"axis": list(self.axis) if isinstance(self.axis, tuple) else self.axis}


class MaxNorm(_NormConstraint):
    """Rescales each slice along `axis` whose 2-norm exceeds `max_value` down to it (Keras's max_norm)."""

    def __init__(self, max_value: float = 2, axis: Any = 0) -> None:
        super().__init__(axis)
        self.max_value = number(max_value, "max_value", "MaxNorm", 0.0, np.inf)

    def _desired(self, norms: Tensor) -> Tensor:
        return norms.clip(0.0, self.max_value)

    def get_config(self) -> dict[str, Any]:
        return {"max_value": self.max_value, **super().get_config()}


class MinMaxNorm(_NormConstraint):
    """Moves each slice's 2-norm n to rate * clip(n, min_value, max_value) + (1 - rate) * n (rate 1: into
    [min_value, max_value] at once; smaller rates approach it step by step)."""

    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0, axis: Any = 0) -> None:
        super().__init__(axis)
        self.min_value = number(min_value, "min_value", "MinMaxNorm", 0.0, np.inf)
        self.max_value = number(max_value, "max_value", "MinMaxNorm", 0.0, np.inf)
        if self.min_value > self.max_value:
            raise ValueError(f"MinMaxNorm: min_value ({self.min_value}) must not exceed max_value "
                             f"({self.max_value}); the norms are moved into [min_value, max_value]")
        self.rate = number(rate, "rate", "MinMaxNorm", 0.0, 1.0)

    def _desired(self, norms: Tensor) -> Tensor:
        return norms.clip(self.min_value, self.max_value) * self.rate + norms * (1 - self.rate)

    def get_config(self) -> dict[str, Any]:
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, **super().get_config()}


class UnitNorm(_NormConstraint):
    """Scales each slice along `axis` to 2-norm 1 (an all-zero slice stays zero)."""

    def __init__(self, axis: Any = 0) -> None:
        super().__init__(axis)

    def _desired(self, norms: Tensor) -> float:
        return 1.0


class NonNeg(Constraint):
    """Sets the negative values to zero: max(w, 0)."""

    def __call__(self, w: Any) -> Tensor:
        return super().__call__(w).maximum(0.0)


max_norm, min_max_norm, non_neg, unit_norm = MaxNorm, MinMaxNorm, NonNeg, UnitNorm  # Keras's lowercase aliases

CLASSES: Mapping[str, type[Constraint]] = MappingProxyType({cls.__name__: cls for cls in (
    Constraint, MaxNorm, MinMaxNorm, NonNeg, UnitNorm)})

# the names `get` knows: the class names and their snake_case forms, as Keras's
NAMES: Mapping[str, type[Constraint]] = MappingProxyType({
    **CLASSES, "constraint": Constraint, "max_norm": MaxNorm, "min_max_norm": MinMaxNorm, "non_neg": NonNeg,
    "unit_norm": UnitNorm})


FAMILY = Family(Constraint, CLASSES, NAMES, "max_norm", "tc.constraints.MaxNorm(3)", "w -> Tensor")


def serialize(constraint: Any) -> dict[str, Any] | None:
    """{"class_name", "config"} for a built-in constraint (None for None); a custom callable cannot be named."""
    return FAMILY.serialize(constraint)


def deserialize(config: Mapping[str, Any]) -> Constraint:
    """A constraint from `serialize`'s output {"class_name", "config"} (Keras's other keys are ignored)."""
    return FAMILY.deserialize(config)


def get(identifier: Any) -> Any:
    """A constraint from None, a name ("max_norm", "non_neg", "unit_norm", "min_max_norm" or a class name),
    a `serialize` dict, a Constraint class or instance, or a callable `w -> Tensor` (returned as is)."""
    return FAMILY.get(identifier)


def project(constraint: Any, weight: Tensor) -> np.ndarray:
    """constraint(weight) as an array of the weight's shape, outside any graph; errors name the weight."""
    def owner() -> str:   # made only for a message: project runs after every optimizer update
        return f"the constraint {constraint!r:.60} of {weight.name or 'a weight'} (shape {weight.shape})"

    with no_grad():
        try:
            result = constraint(weight)
        except (TypeError, ValueError) as e:
            raise type(e)(f"{owner()}: {e}") from None
    data = result.data if isinstance(result, Tensor) else np.asarray(result)
    if data.shape != weight.shape or data.dtype.kind not in "fiub":
        raise ValueError(f"{owner()} returned {type(result).__name__} of shape {data.shape} and dtype {data.dtype}; "
                         f"a constraint must return the projected weight: numbers of shape {weight.shape}")
    return data
