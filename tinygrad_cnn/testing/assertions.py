"""`assert_gradcheck`: gradcheck (and optionally gradgradcheck) with a failure message made for tests."""
from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ..arguments import flag
from ..gradcheck import GradcheckError, GradcheckWarning, gradcheck, gradgradcheck
from ..tensor import Tensor


def as_checked_input(value: Any) -> Any:
    """Float arrays (and NumPy float scalars) become float64 Tensors that require grad; the rest pass."""
    if isinstance(value, (np.ndarray, np.floating)) and value.dtype.kind == "f":
        return Tensor(np.asarray(value, dtype=np.float64), requires_grad=True)
    return value


def describe_inputs(inputs: tuple[Any, ...]) -> str:
    """`x0: (2, 3) float64 requires_grad, x1: 'same'` for the failure message."""
    parts = []
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor):
            parts.append(f"x{i}: {x.shape} {x.dtype}{' requires_grad' if x.requires_grad else ''}")
        else:
            parts.append(f"x{i}: {x!r}"[:60])
    return ", ".join(parts)


def assert_gradcheck(fn: Callable[..., Any], *inputs: Any, gradgrad: bool = False, **options: Any) -> None:
    """Raise AssertionError (with the gradcheck report, blame included) unless `fn`'s gradients are right.

    Float NumPy arrays among `inputs` are checked as inputs that require grad. `options` go to
    tc.gradcheck (eps, atol, rtol, kinks, fast_mode, blame, seed); gradgrad=True checks second
    derivatives too. Kinks whose analytic value lies between the one-sided slopes pass silently.
    """
    second = flag(gradgrad, "gradgrad", "assert_gradcheck")
    checks = [("gradient", gradcheck)] + ([("second derivative", gradgradcheck)] if second else [])
    inputs = tuple(as_checked_input(x) for x in inputs)
    if not any(isinstance(x, Tensor) and x.requires_grad for x in inputs):
        raise ValueError(f"assert_gradcheck: no input to differentiate among {describe_inputs(inputs) or 'none'}; "
                         "pass float NumPy arrays (np.array([1.0, 2.0]), not a list) or Tensors with "
                         "requires_grad=True; Python lists, numbers and integer arrays go to fn unchanged")
    name = getattr(fn, "__qualname__", repr(fn))
    if isinstance(getattr(fn, "__self__", None), type):  # MyOp.apply: name the op, not Function.apply
        name = f"{fn.__self__.__name__}.{fn.__name__}"
    for what, check in checks:
        try:
            with warnings.catch_warnings():   # kinks that pass are expected on drawn inputs
                warnings.simplefilter("ignore", GradcheckWarning)
                check(fn, inputs, **options)
        except GradcheckError as error:
            raise AssertionError(f"the {what} of {name}({describe_inputs(inputs)}) is wrong:\n"
                                 f"{error.report.message()}") from None
