"""The Taylor test: a right gradient makes the first-order remainder shrink like h^2, a wrong one like h.

No eps to choose: the remainder is measured over a range of steps h and the slope of
log(remainder) against log(h) is fitted. The second-order version checks Hessian-vector products
(remainder like h^3 when both the gradient and H d are right).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .arguments import number, positive_int
from .autograd import grad
from .gradcheck import float64_inputs, output_tensors
from .mode import enable_grad, no_grad
from .tensor import Tensor

DEFAULT_STEPS = {1: 2.0 ** -np.arange(4, 17), 2: 2.0 ** -np.arange(2, 13)}
_ROUNDING = 2e-13           # relative rounding level of a float64 sum; remainders below it are noise


@dataclass
class TaylorResult:
    """Remainders of the Taylor expansion over the steps h, and the fitted log-log slope."""

    order: int                 # 1: gradient, 2: gradient and Hessian-vector product
    h: np.ndarray
    remainders: np.ndarray
    slope: float               # NaN when the expansion is exact along the direction
    noise: float               # remainders below this are rounding, left out of the fit
    tolerance: float
    repeat_gap: float = 0.0    # |f(x) - f(x)| of a second call at the point: above noise, fn is not deterministic

    @property
    def expected(self) -> int:
        return self.order + 1

    @property
    def exact(self) -> bool:
        """The function is polynomial of this order along the direction: every remainder is rounding."""
        return bool(np.isnan(self.slope)) and bool(np.isfinite(self.remainders).all())

    @property
    def deterministic(self) -> bool:
        """Whether fn gave the same value when called again at the same point (up to rounding)."""
        return not self.repeat_gap > self.noise   # NaN (fn not finite at the point) is not this failure

    @property
    def passed(self) -> bool:
        return self.deterministic and (self.exact or self.slope >= self.expected - self.tolerance)

    def message(self) -> str:
        what = "gradient" if self.order == 1 else "gradient and Hessian-vector product"
        if not self.deterministic:
            verdict = (f"FAILED: fn is not deterministic: called again at the same point it gave a value "
                       f"{self.repeat_gap:.2g} away (rounding is {self.noise:.2g}), or it changes its inputs in "
                       "place; no slope can be trusted")
        elif self.exact:
            verdict = (f"passed: every remainder is at rounding level (< {self.noise:.2g}), the expansion "
                       "is exact along this direction")
        elif np.isnan(self.slope):
            verdict = ("FAILED: no slope to fit, the remainders are NaN or Inf (the function or its "
                       "derivatives are not finite along the direction)")
        else:
            verdict = (f"{'passed' if self.passed else 'FAILED'}: slope {self.slope:.3f}, expected "
                       f"{self.expected} (a wrong {'gradient' if self.order == 1 else 'H d'} gives "
                       f"{self.order})")
            if self.slope < 0.5:
                verdict += ("; the remainder does not shrink with h: fn changes its inputs in place or jumps "
                            "near the point")
        lines = [f"Taylor test of the {what}: {verdict}", f"{'h':>10}  {'remainder':>11}  local slope"]
        for k, (h, r) in enumerate(zip(self.h, self.remainders, strict=True)):
            local = "" if k == 0 or min(r, self.remainders[k - 1]) <= self.noise else \
                f"{np.log(self.remainders[k - 1] / r) / np.log(self.h[k - 1] / h):.3f}"
            lines.append(f"{h:>10.3g}  {r:>11.3e}  {local}")
        return "\n".join(lines)

    __str__ = message


def taylor_test(fn: Callable[..., Any], inputs: Any, direction: Any = None, *, order: int = 1,
                h: Sequence[float] | None = None, tolerance: float = 0.3, seed: int = 0) -> TaylorResult:
    """Fit the slope of |f(x + h d) - f(x) - h <grad, d> (- h^2/2 <d, H d>)| against h (log-log).

    Non-scalar outputs are read out along a random vector. `direction` (one array per input that
    requires grad) defaults to a random one with entries in [-1, 1]. Slope near order + 1 passes.
    """
    if not callable(fn):
        raise TypeError(f"taylor_test: fn must be a function of the inputs, got {type(fn).__name__} {fn!r:.40}")
    if order not in DEFAULT_STEPS:
        raise ValueError(f"order must be 1 (gradient) or 2 (Hessian-vector product), got {order!r}")
    steps = _steps(DEFAULT_STEPS[order] if h is None else h)
    tolerance = number(tolerance, "tolerance", "taylor_test", 0.0, np.inf, high_open=True)
    xs = float64_inputs(inputs, "taylor_test")
    wrt = [i for i, x in enumerate(xs) if isinstance(x, Tensor) and x.requires_grad]
    rng = np.random.default_rng(positive_int(seed, "seed", "taylor_test", minimum=0))
    with enable_grad():  # the derivatives need the graph, even inside no_grad
        outputs = output_tensors(fn, xs)
        readout = [rng.standard_normal(o.shape) for o in outputs]
        directions = _directions(direction, [xs[i] for i in wrt], rng)
        phi = _weighted_sum(outputs, readout)
        scale = sum(float(np.abs(o.data * w).sum()) for o, w in zip(outputs, readout, strict=True))
        terms = _derivative_terms(phi, [xs[i] for i in wrt], directions, order)
    origin = {i: xs[i].data.copy() for i in wrt}
    remainders = []
    with no_grad():
        for step in steps:
            for i, d in zip(wrt, directions, strict=True):
                xs[i].data[...] = origin[i] + step * d
            # f(x) + h <grad, d> + h^2/2 <d, H d>
            expansion = phi.item() + sum(step ** k / math.factorial(k) * t for k, t in enumerate(terms, start=1))
            remainders.append(abs(_weighted_sum(output_tensors(fn, xs), readout).item() - expansion))
        for i in wrt:
            xs[i].data[...] = origin[i]
        repeat_gap = abs(_weighted_sum(output_tensors(fn, xs), readout).item() - phi.item())
    for i in wrt:
        xs[i].data[...] = origin[i]
    remainders = np.array(remainders)
    noise = _ROUNDING * max(scale, abs(phi.item()), 1e-300)
    return TaylorResult(order, steps, remainders, _fit_slope(steps, remainders, 30 * noise), noise, tolerance,
                        repeat_gap)


def taylor_test_hvp(fn: Callable[..., Any], inputs: Any, direction: Any = None, **options: Any) -> TaylorResult:
    """The second-order Taylor test: checks the gradient and Hessian-vector products (slope near 3)."""
    return taylor_test(fn, inputs, direction, order=2, **options)


def _steps(h: Any) -> np.ndarray:
    """The steps, largest first: at least 3 finite positive numbers."""
    try:
        steps = np.asarray(h, dtype=np.float64)
    except (TypeError, ValueError):
        steps = None
    if steps is None or steps.ndim != 1 or steps.size < 3 or not np.all(np.isfinite(steps) & (steps > 0)):
        raise ValueError(f"h must hold at least 3 positive steps, got {h!r:.80}; e.g. h=[0.1, 0.01, 0.001]")
    return np.sort(steps)[::-1]


def _directions(direction: Any, xs: list[Tensor], rng: np.random.Generator) -> list[np.ndarray]:
    """The given direction (one array per input that requires grad), or a random one in [-1, 1]."""
    if direction is None:
        return [rng.uniform(-1, 1, x.shape) for x in xs]
    given = list(direction) if isinstance(direction, (list, tuple)) else [direction]
    arrays = [np.asarray(getattr(d, "data", d), dtype=np.float64) for d in given]
    shapes = [x.shape for x in xs]
    if [a.shape for a in arrays] != shapes:
        raise ValueError(f"direction must hold one array per input that requires grad, with shapes {shapes}; "
                         f"got shapes {[a.shape for a in arrays]}")
    if not all(np.isfinite(a).all() for a in arrays):
        raise ValueError("direction must hold finite values; it has NaN or Inf entries")
    return arrays


def _weighted_sum(outputs: list[Tensor], readout: list[np.ndarray]) -> Tensor:
    """phi = sum_k <readout_k, output_k>, the scalar whose expansion is tested."""
    return _total([(o * Tensor(w)).sum() for o, w in zip(outputs, readout, strict=True)])


def _total(scalars: list[Tensor]) -> Tensor:
    total = scalars[0]
    for s in scalars[1:]:
        total = total + s
    return total


def _derivative_terms(phi: Tensor, xs: list[Tensor], directions: list[np.ndarray], order: int) -> list[float]:
    """[<grad, d>] or [<grad, d>, <d, H d>]; zero where nothing recorded connects phi to the inputs."""
    if not phi.requires_grad:  # a constant, or values taken off the graph (.detach(), .data): no gradient
        return [0.0] * order
    gradients = grad(phi, xs, create_graph=order == 2, allow_unused=True)
    pairs = [(g, d) for g, d in zip(gradients, directions, strict=True) if g is not None]
    if not pairs:
        return [0.0] * order
    slope = _total([(g * Tensor(d)).sum() for g, d in pairs])
    terms = [slope.item()]
    if order == 2:
        curvature = 0.0
        if slope.requires_grad:  # d/dx <grad, d> = H d
            hessian_d = grad(slope, xs, allow_unused=True)
            curvature = sum(float((hd.data * d).sum()) for hd, d in zip(hessian_d, directions, strict=True)
                            if hd is not None)
        terms.append(curvature)
    return terms


def _fit_slope(h: np.ndarray, remainders: np.ndarray, floor: float) -> float:
    """Least-squares slope of log(remainder) against log(h) in the asymptotic regime.

    Remainders below `floor` (rounding) are left out; of the rest, the smaller-h half is fitted
    (at least 3 points), where higher-order terms no longer bend the line.
    """
    keep = np.flatnonzero(remainders > floor)
    if keep.size < 2:
        return float("nan")
    keep = keep[np.argsort(h[keep])][: max(3, (keep.size + 1) // 2)]
    return float(np.polyfit(np.log(h[keep]), np.log(remainders[keep]), 1)[0])
