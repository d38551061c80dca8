"""gradcheck and gradgradcheck: analytic gradients against finite differences in float64.

Entries where the left and right one-sided differences disagree are kinks (ReLU at 0, tied
maxima); they pass when the analytic value lies between the two slopes. A failing check of a
composite function goes on to blame the first recorded op whose own gradient is wrong. Before
any finite difference, fn must leave its inputs alone and give the same values (and gradients)
twice; float32 inputs also have their gradient computed in float32, held against float64's.
"""
from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .arguments import flag, number, positive_int
from .autograd import grad
from .blame import Blame, find_blame
from .function import Function
from .mode import enable_grad, set_grad_enabled
from .tensor import Tensor

DEFAULT_EPS = {np.dtype(np.float64): 1e-6, np.dtype(np.float32): 1e-3}
FLOAT32_TOLERANCES = dict(eps=DEFAULT_EPS[np.dtype(np.float32)], atol=1e-3, rtol=1e-2)   # for fns computing in float32
FAST_MODE_SIZE = 1024        # fast_mode=None checks a random projection first above this many entries
KINK_MODES = ("report", "fail", "ignore")


class GradcheckError(RuntimeError):
    """A gradient disagrees with finite differences; `.report` holds the details."""

    def __init__(self, report: GradcheckReport) -> None:
        super().__init__(report.message())
        self.report = report


class NotFiniteError(ValueError):
    """An input to check, or fn's output there, is NaN or Inf: there is no gradient to check."""


class GradcheckWarning(UserWarning):
    """A check passed, but some entries sit on kinks (non-differentiable points), or are wrong below atol."""


@dataclass
class Mismatch:
    """One entry whose analytic and numeric gradients disagree."""

    input_index: int
    element: tuple[int, ...]
    analytic: float
    numeric: float
    tolerance: float
    kink_range: tuple[float, float] | None = None   # the one-sided range, when the entry sits on a kink
    coarse: float | None = None    # the numeric value with step eps, when the one with eps / 10 differs from it

    @property
    def abs_error(self) -> float:
        return abs(self.analytic - self.numeric)

    @property
    def rel_error(self) -> float:
        """abs_error / |numeric| (inf when the numeric value is 0 and the analytic one is not)."""
        if self.numeric == 0:
            return math.inf if self.abs_error else 0.0
        return self.abs_error / abs(self.numeric)

    def line(self) -> str:
        text = (f"element {self.element}: analytic {self.analytic:.6g}, numeric {self.numeric:.6g}, "
                f"abs error {self.abs_error:.3g}, rel error {self.rel_error:.3g}, tolerance {self.tolerance:.3g}")
        if self.coarse is not None:
            text += (f"; the finite difference has not settled (it was {self.coarse:.6g} with a 10 times larger "
                     "step): fn curves on a scale near eps (pass a smaller eps), or rounding swamps the finer step "
                     "(a larger one)")
        if not math.isfinite(self.numeric):
            text += ("; fn is not finite within eps of this point (it leaves its domain there: move the point "
                     "away from the edge, or pass a smaller eps)")
        if self.kink_range is not None:
            text += (f"; at a kink, but outside the range of the one-sided slopes "
                     f"[{self.kink_range[0]:.6g}, {self.kink_range[1]:.6g}]")
        return text


@dataclass
class Kink:
    """An entry at a non-differentiable point whose analytic value lies between the one-sided slopes."""

    input_index: int
    element: tuple[int, ...]
    analytic: float
    left: float
    right: float
    range: tuple[float, float]   # mixes of the output entries' one-sided slopes (= the slopes' span for one output)
    jump: bool = False           # the checked function jumps here (slopes grow as eps shrinks)

    def line(self) -> str:
        where = "a jump" if self.jump else "a kink"
        text = (f"element {self.element}: {where}, analytic {self.analytic:.6g}, left slope {self.left:.6g}, "
                f"right slope {self.right:.6g}")
        if not self.jump and (self.range[0], self.range[1]) != (min(self.left, self.right), max(self.left, self.right)):
            text += f" (range over the outputs [{self.range[0]:.6g}, {self.range[1]:.6g}])"
        return text


@dataclass
class InputResult:
    """The comparison for one differentiable input (numeric is None when only projected)."""

    index: int
    shape: tuple[int, ...]
    analytic: np.ndarray
    numeric: np.ndarray | None
    mismatches: list[Mismatch] = field(default_factory=list)
    kinks: list[Kink] = field(default_factory=list)
    hidden: list[tuple[int, ...]] = field(default_factory=list)   # below atol, yet off by more than rtol


@dataclass
class GradcheckReport:
    """What a check compared, what disagreed, which entries are kinks, and which op is to blame."""

    what: str                      # "gradient" or "second derivative"
    eps: float
    atol: float
    rtol: float
    inputs: list[InputResult]
    notes: list[str] = field(default_factory=list)
    kinks_mode: str = "report"
    fast_mode: bool = False        # a random projection was checked first
    blame: Blame | None = None
    worst: int = 5                 # entries listed per input
    problems: list[str] = field(default_factory=list)   # failures of fn as a whole (it changes its inputs...)
    precision: list[str] = field(default_factory=list)  # gradients wrong only in the inputs' own (float32) dtype
    cautions: list[str] = field(default_factory=list)   # what a passing check could not see (tiny gradients)

    @property
    def kinks(self) -> list[Kink]:
        return [k for r in self.inputs for k in r.kinks]

    @property
    def passed(self) -> bool:
        failing_kinks = self.kinks_mode == "fail" and self.kinks
        return (not failing_kinks and not self.problems and not self.precision
                and not any(r.mismatches for r in self.inputs))

    @property
    def worst_rel_error(self) -> float:
        """max |analytic - numeric| / max(|numeric|, 1) over the fully checked entries, kinks excluded."""
        worst = 0.0
        for r in self.inputs:
            if r.numeric is None or r.numeric.size == 0:
                continue
            error = np.array(np.abs(r.analytic - r.numeric) / np.maximum(np.abs(r.numeric), 1.0))
            for k in r.kinks:
                error[k.element] = 0.0
            worst = max(worst, float(np.nan_to_num(error, nan=np.inf).max()))
        return worst

    def message(self) -> str:
        verdict = "passed" if self.passed else "failed"
        lines = [f"gradcheck of the {self.what} {verdict} (eps={self.eps:g}; an entry passes when "
                 f"|analytic - numeric| <= atol + rtol * |numeric| with atol={self.atol:g}, rtol={self.rtol:g})"]
        lines += [f"error: {p}" for p in self.problems + self.precision]
        for r in self.inputs:
            if r.mismatches:
                lines.append(f"input {r.index} (shape {r.shape}): {len(r.mismatches)} of {r.analytic.size} "
                             f"entries disagree; worst {min(self.worst, len(r.mismatches))}:")
                lines += ["  " + m.line() for m in sorted(r.mismatches, key=lambda m: -m.abs_error)[: self.worst]]
            if r.kinks and self.kinks_mode != "ignore":
                counted = "counted as failures" if self.kinks_mode == "fail" else "not failures"
                lines.append(f"input {r.index} (shape {r.shape}): {len(r.kinks)} non-differentiable points (kinks: "
                             f"the one-sided slopes differ, the analytic value lies between them; {counted}):")
                lines += ["  " + k.line() for k in r.kinks[: self.worst]]
        lines += [f"note: {n}" for n in self.notes]
        lines += [f"caution: {c}" for c in self.cautions]
        if self.blame is not None:
            lines.append(self.blame.message(above="\n".join(lines)))
        return "\n".join(lines)

    __str__ = message


def float64_inputs(inputs: Any, owner: str = "gradcheck") -> list[Any]:
    """Float64 copies of the inputs (leaves); non-Tensors pass through unchanged (`owner`: the caller, for errors)."""
    inputs = list(inputs) if isinstance(inputs, (tuple, list)) else [inputs]
    prepared = []
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor):
            prepared.append(x)
            continue
        if x.requires_grad and x.dtype.kind != "f":
            raise TypeError(f"{owner}: input {i} has dtype {x.dtype}; only floating inputs have gradients")
        if x.requires_grad and not np.isfinite(x.data).all():
            e = _first(~np.isfinite(x.data))
            raise NotFiniteError(f"{owner}: input {i} (shape {x.shape}) holds {x.data[e]} (NaN or Inf) at element "
                                 f"{e}; gradients are checked at finite points only: pass finite values")
        data = x.data.astype(np.float64) if x.dtype.kind == "f" else x.data.copy()
        prepared.append(Tensor(data, requires_grad=x.requires_grad))
    if not any(isinstance(x, Tensor) and x.requires_grad for x in prepared):
        kinds = [f"input {i}: {x.dtype}" for i, x in enumerate(prepared) if isinstance(x, Tensor)]
        raise ValueError(f"{owner} needs at least one floating input Tensor with requires_grad=True, got "
                         f"{', '.join(kinds) or 'no Tensors'}; integer and bool tensors have no gradient: "
                         "pass the differentiable inputs as float tensors created with requires_grad=True")
    return prepared


def _first(mask: np.ndarray) -> tuple[int, ...]:
    """The index of the first True entry of a boolean array (one that has one)."""
    return tuple(int(k) for k in np.argwhere(mask)[0])


def _difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| in float64, 0 where the entries are equal (infinities and NaNs included)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.where((a == b) | (np.isnan(a) & np.isnan(b)), 0.0, np.abs(a - b))


def _worst_entry(difference: np.ndarray) -> tuple[int, ...]:
    """The index of the largest entry (NaN counts as largest) of a non-empty array."""
    return tuple(int(k) for k in np.unravel_index(np.argmax(np.nan_to_num(difference, nan=np.inf)), difference.shape))


def output_tensors(fn: Callable[..., Any], inputs: Sequence[Any]) -> tuple[Tensor, ...]:
    """fn(*inputs) as a tuple of Tensors (a clear error for anything else)."""
    out = fn(*inputs)
    out = tuple(out) if isinstance(out, (tuple, list)) else (out,)
    for i, o in enumerate(out):
        if not isinstance(o, Tensor):
            raise TypeError(f"gradcheck: the function must return Tensors, output {i} is {type(o).__name__}")
    return out


def _weighted_terms(fn: Callable[..., Any], inputs: Sequence[Any], upstream: Sequence[np.ndarray]) -> np.ndarray:
    """upstream_k * output_k for every output entry, flat; their sum is the scalar whose gradient is checked."""
    with set_grad_enabled(getattr(fn, "needs_graph", False)):  # a function of gradients needs the graph
        outs = output_tensors(fn, inputs)
    return np.concatenate([(u * o.data.astype(np.float64)).ravel() for u, o in zip(upstream, outs, strict=True)]
                          or [np.zeros(0)])


def _weighted_sum(fn: Callable[..., Any], inputs: Sequence[Any], upstream: Sequence[np.ndarray]) -> float:
    return float(_weighted_terms(fn, inputs, upstream).sum())


def _one_sided_differences(fn: Callable[..., Any], inputs: list[Any], index: int, upstream: Sequence[np.ndarray],
                           elements: list[tuple[int, ...]], eps: float) -> tuple[np.ndarray, ...]:
    """Left and right slopes of the weighted sum at the given entries of input `index`, and the range
    [low, high] that holds every mix of the left and right slopes of the single output entries.
    The step is eps * max(1, |x|) for entry x.

    The mean of the slopes is the central difference; where they disagree the function has a kink.
    At a kink each output entry may take any slope between its own left and right one (a tie in
    overlapping max-pool windows is shared per window), so an analytic value in [low, high] is right.
    """
    x = inputs[index].data
    center = _weighted_terms(fn, inputs, upstream)
    slopes = np.zeros((4, len(elements)))   # left, right, low, high
    for k, element in enumerate(elements):
        original = x[element]
        step = eps * max(1.0, abs(original))       # relative for large values: x + eps may round to x
        x[element] = original + step
        right = (_weighted_terms(fn, inputs, upstream) - center) / (x[element] - original)   # the step as stored
        x[element] = original - step
        left = (center - _weighted_terms(fn, inputs, upstream)) / (original - x[element])
        x[element] = original
        slopes[:, k] = left.sum(), right.sum(), np.minimum(left, right).sum(), np.maximum(left, right).sum()
    return tuple(slopes)


Slopes = Callable[[list[tuple[int, ...]], float], tuple[np.ndarray, ...]]


def _compare(index: int, analytic: np.ndarray, slopes: Slopes, eps: float, atol: float, rtol: float,
             noise: float = 0.0) -> InputResult:
    """Mismatches and kinks of one input, from its analytic gradient and one-sided differences.

    Suspect entries (central difference off, one-sided slopes apart, or below atol but off by more
    than rtol) are measured again with eps / 10: a kink keeps its gap, a jump's slopes grow, a smooth
    curve's gap shrinks. `noise`: the rounding level of a central difference with step eps.
    """
    elements = list(np.ndindex(analytic.shape))
    left, right, low, high = (a.reshape(analytic.shape) for a in slopes(elements, eps))
    numeric = np.array((left + right) / 2)   # an array also for 0-d inputs (entries are rewritten below)
    error = np.abs(analytic - numeric)
    bad = ~(error <= atol + rtol * np.abs(numeric))
    apart = high - low > atol + rtol * np.maximum(np.abs(low), np.abs(high)) + noise   # beyond rounding
    hidden = (np.maximum(np.abs(analytic), np.abs(numeric)) < atol) & (error > rtol * np.abs(numeric) + noise)
    result = InputResult(index, analytic.shape, analytic, numeric)
    suspects = [tuple(int(k) for k in e) for e in np.argwhere(bad | apart | hidden)]
    if not suspects:
        return result
    for e, l2, r2, low2, high2 in zip(suspects, *slopes(suspects, eps / 10), strict=True):
        a, l, r = float(analytic[e]) + 0.0, float(left[e]), float(right[e])   # + 0.0: no "-0" in reports
        if max(abs(l2), abs(r2)) > 5 * max(abs(l), abs(r), atol):   # slopes grow like 1 / eps
            result.kinks.append(Kink(index, e, a, l2, r2, (low2, high2), jump=True))
            continue
        tolerance = atol + rtol * abs(numeric[e])
        span = (float(low[e]), float(high[e]))
        if apart[e] and high2 - low2 > max((span[1] - span[0]) / 2, 10 * noise):   # the gap stays: a kink
            if span[0] - tolerance <= a <= span[1] + tolerance:
                result.kinks.append(Kink(index, e, a, l, r, span))
            else:
                result.mismatches.append(Mismatch(index, e, a, float(numeric[e]), tolerance, span))
            continue
        coarse = float(numeric[e])
        if not bad[e] and not hidden[e]:   # passes with step eps (the rule PyTorch uses): the gap was curvature
            continue
        numeric[e] = (l2 + r2) / 2                                    # smooth: the finer difference
        tolerance = atol + rtol * abs(numeric[e])
        if not abs(a - numeric[e]) <= tolerance:
            unsettled = abs(coarse - numeric[e]) > tolerance
            result.mismatches.append(Mismatch(index, e, a, float(numeric[e]), tolerance,
                                              coarse=coarse if unsettled else None))
        elif abs(a - numeric[e]) > max(rtol * abs(numeric[e]) + 10 * noise, error[e] / 2):
            result.hidden.append(e)   # off at both steps (truncation error would shrink 100-fold): atol hides it
    return result


def _projection(fn: Callable[..., Any], inputs: list[Any], directions: dict[int, np.ndarray],
                analytic: dict[int, np.ndarray], upstream: Sequence[np.ndarray], eps: float) -> tuple[float, float]:
    """(v^T J u analytic, the same by a central difference along the directions u)."""
    originals = {i: inputs[i].data.copy() for i in directions}
    values = []
    for sign in (1, -1):
        for i, u in directions.items():
            inputs[i].data[...] = originals[i] + sign * eps * u
        values.append(_weighted_sum(fn, inputs, upstream))
    for i in directions:
        inputs[i].data[...] = originals[i]
    expected = float(sum(np.sum(analytic[i] * u) for i, u in directions.items()))
    return expected, (values[0] - values[1]) / (2 * eps)


def _analytic(outputs: Sequence[Tensor], prepared: list[Any], differentiable: list[int],
              upstream: Sequence[np.ndarray]) -> dict[int, np.ndarray]:
    """The analytic gradient of the weighted sum of the recorded `outputs` for every differentiable input."""
    live = [(o, u) for o, u in zip(outputs, upstream, strict=True) if o.requires_grad]
    if not live:
        return {i: np.zeros(prepared[i].shape) for i in differentiable}
    grads = grad([o for o, _ in live], [prepared[i] for i in differentiable],
                 [Tensor(u.astype(o.dtype)) for o, u in live], allow_unused=True)
    return {i: np.zeros(prepared[i].shape) if g is None else g.data.astype(np.float64)
            for i, g in zip(differentiable, grads, strict=True)}


def check_gradients(fn: Callable[..., Any], inputs: Any, *, eps: float | None = None,
                    atol: float | None = None, rtol: float | None = None, fast_mode: bool | None = None,
                    kinks: str = "report", seed: int = 0, nondet_tol: float = 0.0,
                    what: str = "gradient") -> GradcheckReport:
    """Compare analytic and numeric gradients of `fn` at `inputs`; return the full report (no blame)."""
    _check_options(fn, eps, atol, rtol, fast_mode, kinks)
    nondet_tol = number(nondet_tol, "nondet_tol", "gradcheck", 0.0, math.inf)
    rng = np.random.default_rng(positive_int(seed, "seed", "gradcheck", minimum=0))
    prepared = float64_inputs(inputs)
    differentiable = [i for i, x in enumerate(prepared) if isinstance(x, Tensor) and x.requires_grad]
    before = [x.data.copy() if isinstance(x, Tensor) else None for x in prepared]
    with enable_grad():  # recorded even when the caller is inside no_grad
        outputs = output_tensors(fn, prepared)
    _check_finite(outputs)
    notes, (eps, atol, rtol) = _precision(outputs, eps, atol, rtol)
    report = GradcheckReport(what, eps, atol, rtol, [], notes, kinks)
    report.problems += _changed_inputs(prepared, before)
    if report.problems:   # every later evaluation would start from other values
        return report
    upstream = [rng.standard_normal(o.shape) for o in outputs]  # random, so transposition bugs show
    analytic = _analytic(outputs, prepared, differentiable, upstream)
    report.problems += _nondeterminism(fn, prepared, outputs, analytic, upstream, nondet_tol)
    if report.problems:   # finite differences of a function that changes by itself mean nothing
        return report
    size = sum(prepared[i].size for i in differentiable)
    report.fast_mode = size > FAST_MODE_SIZE if fast_mode is None else bool(fast_mode)
    to_check = _disagreeing(fn, prepared, analytic, upstream, report, rng) if report.fast_mode else differentiable
    scale = sum(float(np.abs(u * o.data).sum()) for u, o in zip(upstream, outputs, strict=True))
    noise = 1e-14 * scale / eps   # rounding of a central difference, with a margin
    for i in differentiable:
        if i in to_check:
            slopes = functools.partial(_one_sided_differences, fn, prepared, i, upstream)
            with np.errstate(all="ignore"):   # fn may leave its domain near the point: the report says so
                report.inputs.append(_compare(i, analytic[i], slopes, eps, atol, rtol, noise))
        else:
            report.inputs.append(InputResult(i, prepared[i].shape, analytic[i], None))
    report.cautions += _hidden_by_atol(report)
    if not any(r.mismatches for r in report.inputs):
        report.precision += _low_precision_gradients(fn, inputs, differentiable, upstream, analytic)
    return report


def _check_options(fn: Any, eps: Any, atol: Any, rtol: Any, fast_mode: Any, kinks: Any) -> None:
    """Clear errors for a bad fn, eps, atol, rtol, fast_mode or kinks."""
    if kinks not in KINK_MODES:
        raise ValueError(f"kinks must be one of {KINK_MODES}, got {kinks!r}")
    if not callable(fn):
        raise TypeError(f"gradcheck: fn must be a function of the inputs, got {type(fn).__name__} {fn!r:.40}")
    if fast_mode is not None:
        flag(fast_mode, "fast_mode", "gradcheck")
    for name, value, low in (("eps", eps, "> 0"), ("atol", atol, ">= 0"), ("rtol", rtol, ">= 0")):
        if value is not None and not (isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
                                      and (value > 0 if name == "eps" else value >= 0) and math.isfinite(value)):
            raise ValueError(f"gradcheck: {name} must be a number {low} (finite), got {value!r}")


def _disagreeing(fn: Callable[..., Any], inputs: list[Any], analytic: dict[int, np.ndarray],
                 upstream: Sequence[np.ndarray], report: GradcheckReport, rng: np.random.Generator) -> list[int]:
    """Fast mode: the inputs to check entry by entry; none when the random projection v^T J u agrees,
    else those whose own projection disagrees (all when none does alone)."""
    # random directions, scaled like the steps: eps * max(1, |x|)
    directions = {i: rng.standard_normal(inputs[i].shape) * np.maximum(1.0, np.abs(inputs[i].data))
                  for i in analytic}

    def agrees(subset: list[int]) -> bool:
        expected, numeric = _projection(fn, inputs, {i: directions[i] for i in subset}, analytic, upstream,
                                        report.eps)
        return abs(expected - numeric) <= report.atol + report.rtol * abs(numeric)

    with np.errstate(all="ignore"):
        if agrees(list(analytic)):
            return []
        to_check = [i for i in analytic if not agrees([i])] or list(analytic)
    report.notes.append(f"fast mode: the random projection v^T J u disagreed; inputs {to_check} "
                        "were checked entry by entry")
    return to_check


def _check_finite(outputs: Sequence[Tensor]) -> None:
    """A clear error when fn is NaN or Inf at the point itself: there is no gradient to check there."""
    for k, o in enumerate(outputs):
        if not np.isfinite(o.data).all():
            e = _first(~np.isfinite(o.data))
            raise NotFiniteError(f"gradcheck: output {k} of fn (shape {o.shape}) is {o.data[e]} at element {e} for "
                                 "the given inputs: fn is not defined there (outside its domain, such as the log "
                                 "of a negative number, or an overflow), so it has no gradient; check fn at "
                                 "inputs where its outputs are finite")


def _precision(outputs: Sequence[Tensor], eps: float | None, atol: float | None,
               rtol: float | None) -> tuple[list[str], tuple[float, float, float]]:
    """Notes on outputs below float64, and (eps, atol, rtol): float32's tolerances for such outputs
    unless any was given (rounding in float32 swamps a float64 finite difference)."""
    notes = []
    low = [k for k, o in enumerate(outputs) if o.dtype != np.float64]
    if low:
        dtypes = ", ".join(sorted({str(outputs[k].dtype) for k in low}))
        notes.append(f"outputs {low} are {dtypes}: fn computes in lower precision than its inputs (which gradcheck "
                     "copies to float64), through a .float(), an astype or a float32 constant; ")
        if eps is None and atol is None and rtol is None:
            eps, atol, rtol = (FLOAT32_TOLERANCES[k] for k in ("eps", "atol", "rtol"))
            notes[0] += (f"so the check uses float32's tolerances (eps={eps:g}, atol={atol:g}, rtol={rtol:g}); "
                         "keep fn in its inputs' dtype for the full float64 check")
        else:
            notes[0] += "the given eps, atol and rtol are used as they are (float32 needs about 1e-3, 1e-3, 1e-2)"
    defaults = (DEFAULT_EPS[np.dtype(np.float64)], 1e-5, 1e-3)
    return notes, tuple(d if v is None else v for v, d in zip((eps, atol, rtol), defaults, strict=True))


def _changed_inputs(inputs: Sequence[Any], before: Sequence[np.ndarray | None]) -> list[str]:
    """A problem for each Tensor input that fn changed in place."""
    problems = []
    for i, (x, old) in enumerate(zip(inputs, before, strict=True)):
        changed = None if old is None else _difference(x.data, old) > 0
        if changed is not None and changed.any():
            e = _first(changed)
            problems.append(f"fn changed input {i} in place (element {e}: {old[e]:.6g} before the call, "
                            f"{x.data[e]:.6g} after); gradcheck evaluates fn many times at the same inputs, so fn "
                            "must leave them as they are: compute new arrays (x.data * 2, not x.data *= 2)")
    return problems


def _nondeterminism(fn: Callable[..., Any], inputs: list[Any], outputs: Sequence[Tensor],
                    analytic: dict[int, np.ndarray], upstream: Sequence[np.ndarray], tol: float) -> list[str]:
    """A problem when a second forward or backward at the same inputs differs by more than `tol`."""
    with enable_grad():
        again = output_tensors(fn, inputs)
    for k, (first, second) in enumerate(zip(outputs, again, strict=True)):
        difference = _difference(first.data, second.data)
        if difference.size and not difference.max() <= tol:
            e = _worst_entry(difference)
            return [f"fn is not deterministic: two calls at the same inputs give output {k} values that differ by "
                    f"{difference[e]:.3g} at element {e} (nondet_tol={tol:g}); finite differences need the same "
                    "value each time: seed the randomness inside fn, or pass nondet_tol above that difference"]
    for i, second in _analytic(again, inputs, list(analytic), upstream).items():
        difference = _difference(analytic[i], second)
        if difference.size and not difference.max() <= tol:
            e = _worst_entry(difference)
            return [f"the backward of fn is not deterministic: two backward passes with the same inputs and upstream "
                    f"gradient give input {i} gradients that differ by {difference[e]:.3g} at element {e} "
                    f"(nondet_tol={tol:g}); pass nondet_tol above that difference if that is expected"]
    return []


def _hidden_by_atol(report: GradcheckReport) -> list[str]:
    """Cautions for inputs whose gradient is off by more than rtol but passes because it is below atol."""
    cautions = []
    for r in report.inputs:
        if r.hidden:
            big = max(max(abs(r.analytic[e]), abs(r.numeric[e])) for e in r.hidden)
            cautions.append(f"input {r.index}: {len(r.hidden)} of {r.analytic.size} entries pass only because they "
                            f"are below atol={report.atol:g} (at most {big:.3g}), yet differ by more than "
                            f"rtol={report.rtol:g} of the numeric value (e.g. element {r.hidden[0]}); the check "
                            f"cannot see this scale: pass atol={1e-5 * big:.1g} or rescale the inputs")
    return cautions


def _low_precision_gradients(fn: Callable[..., Any], inputs: Any, differentiable: list[int],
                             upstream: Sequence[np.ndarray], analytic: dict[int, np.ndarray]) -> list[str]:
    """Errors for inputs given below float64 whose gradient, computed in their own dtype, is far from the
    float64 one that finite differences confirmed (a backward that overflows or cancels in float32)."""
    given = list(inputs) if isinstance(inputs, (tuple, list)) else [inputs]
    low = [i for i in differentiable if given[i].dtype != np.float64]
    if not low:
        return []
    leaves = [Tensor(x.data, requires_grad=x.requires_grad) if isinstance(x, Tensor) else x for x in given]
    with enable_grad(), np.errstate(all="ignore"):
        own = _analytic(output_tensors(fn, leaves), leaves, differentiable, upstream)
    problems = []
    for i in low:
        reference, difference = analytic[i], _difference(own[i], analytic[i])
        if not reference.size:
            continue
        bad = ~(difference <= 1e-3 * np.abs(reference).max() + 1e-2 * np.abs(reference))   # NaN is bad
        if bad.any():
            e = _worst_entry(np.where(bad, difference, 0.0))
            problems.append(f"input {i} is {given[i].dtype}: its gradient computed in {given[i].dtype} is "
                            f"{own[i][e]:.6g} at element {e}, where the float64 gradient (which matches finite "
                            f"differences) is {reference[e]:.6g}; {int(bad.sum())} of {reference.size} entries "
                            f"differ by more than 1e-3 of the gradient's largest entry: its forward or backward "
                            f"overflows or loses precision in {given[i].dtype}")
    return problems


def _local_check(options: dict[str, Any], second_order: bool = False) -> Callable[..., GradcheckReport | None]:
    """Blame's check of one op alone: float64 tolerances, or float32 ones for ops that compute in float32
    (first order). None for an op whose output is not finite at its own inputs (a where() drops it)."""

    def check(op_fn: Callable[..., Any], op_inputs: list[Any], node: Function) -> GradcheckReport | None:
        try:
            if second_order:
                return second_derivative_report(op_fn, op_inputs, None, **options)
            local = dict(options)
            if node.out_dtype != np.float64:
                local.update(FLOAT32_TOLERANCES)
            return check_gradients(op_fn, op_inputs, **local)
        except NotFiniteError:
            return None

    return check


def _verdict(report: GradcheckReport, raise_exception: bool) -> bool:
    if report.passed:
        if report.cautions or report.kinks and report.kinks_mode == "report":
            warnings.warn(report.message(), GradcheckWarning, stacklevel=3)
        return True
    if raise_exception:
        raise GradcheckError(report)
    return False


def _add_blame(report: GradcheckReport, fn: Callable[..., Any], inputs: Any, check: Callable[..., Any]) -> None:
    """Blame the first op whose own check fails, or say that every op passes alone."""
    blamed, count = find_blame(fn, float64_inputs(inputs), check)
    report.blame = blamed
    if blamed is None and not count:
        report.notes.append("blame: the function recorded no op on the inputs that require grad, so its analytic "
                            "gradient is zero while its values change with the inputs: it computes them outside "
                            "the graph (.detach(), .data or .numpy(), a new Tensor made from values, or no_grad); "
                            "compute the output from the input tensors with tensor ops")
    elif blamed is None and any(m.coarse is not None for r in report.inputs for m in r.mismatches):
        report.notes.append(f"blame: {_each(count)} passes its own check, and the finite "
                            "differences have not settled (see above): check again with a smaller eps")
    elif blamed is None:
        report.notes.append(f"blame: {_each(count)} passes its own check; the error comes "
                            "from outside the recorded graph (values taken through .data or .numpy(), "
                            "randomness, or a precision loss)")


def _each(count: int) -> str:
    return "the one recorded op" if count == 1 else f"each of the {count} recorded ops"


def gradcheck(fn: Callable[..., Any], inputs: Any, *, eps: float | None = None, atol: float | None = None,
              rtol: float | None = None, raise_exception: bool = True, nondet_tol: float = 0.0,
              fast_mode: bool | None = None, kinks: str = "report", blame: bool = True, seed: int = 0) -> bool:
    """True when `fn`'s analytic gradients match finite differences (float64, random upstream).

    The step for entry x is eps * max(1, |x|). fast_mode=None checks a random projection first when
    the inputs have more than FAST_MODE_SIZE entries. fn fails when it changes its inputs, or when two
    forward or backward passes at the same inputs differ by more than nondet_tol. On failure the
    report names the worst entries and (blame=True) the first wrong op.
    """
    flag(raise_exception, "raise_exception", "gradcheck")
    flag(blame, "blame", "gradcheck")
    options = dict(eps=eps, atol=atol, rtol=rtol, nondet_tol=nondet_tol, fast_mode=fast_mode, kinks=kinks, seed=seed)
    report = check_gradients(fn, inputs, **options)
    if not report.passed and blame and not report.precision:   # blame checks ops in float64: none would fail
        _add_blame(report, fn, inputs, _local_check(options))
    return _verdict(report, raise_exception)


def second_derivative_report(fn: Callable[..., Any], inputs: Any, grad_outputs: Any = None,
                             **options: Any) -> GradcheckReport:
    """check_gradients of the map (inputs..., upstream gradients...) -> input gradients of `fn`."""
    positive_int(options.get("seed", 0), "seed", "gradgradcheck", minimum=0)
    prepared = float64_inputs(inputs, "gradgradcheck")
    differentiable = [i for i, x in enumerate(prepared) if isinstance(x, Tensor) and x.requires_grad]
    outputs = output_tensors(fn, prepared)
    rng = np.random.default_rng(options.get("seed", 0) + 1)
    if grad_outputs is None:
        vectors = [Tensor(rng.standard_normal(o.shape), requires_grad=True) for o in outputs]
    else:
        given = grad_outputs if isinstance(grad_outputs, (tuple, list)) else (grad_outputs,)
        vectors = [Tensor(np.asarray(getattr(v, "data", v), dtype=np.float64), requires_grad=True) for v in given]
        if len(vectors) != len(outputs):
            raise ValueError(f"gradgradcheck: {len(vectors)} grad_outputs given for {len(outputs)} outputs of fn; "
                             "pass one upstream gradient per output (or None to draw them)")
        for k, (v, o) in enumerate(zip(vectors, outputs, strict=True)):
            if v.shape != o.shape:
                raise ValueError(f"gradgradcheck: grad_outputs[{k}] has shape {v.shape} but output {k} of fn has "
                                 f"shape {o.shape}; pass one upstream gradient per output, of that output's shape")
    count = len(prepared)

    def first_derivatives(*args: Any) -> tuple[Tensor, ...]:
        xs, vs = args[:count], args[count:]
        outs = output_tensors(fn, xs)
        pairs = [(o, v) for o, v in zip(outs, vs, strict=True) if o.requires_grad]
        if not pairs:
            return ()
        grads = grad([o for o, _ in pairs], [xs[i] for i in differentiable], [v for _, v in pairs],
                     create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None and g.requires_grad)

    first_derivatives.needs_graph = True  # type: ignore[attr-defined]
    report = check_gradients(first_derivatives, prepared + vectors, what="second derivative", **options)
    named = [r.index for r in report.inputs if r.index >= count and (r.mismatches or r.kinks)]
    if named:
        report.notes.append(f"inputs {count} to {count + len(vectors) - 1} are the upstream gradients of fn's "
                            f"outputs 0 to {len(vectors) - 1}: input {named[0]} is that of output {named[0] - count}")
    return report


def gradgradcheck(fn: Callable[..., Any], inputs: Any, grad_outputs: Any = None, *, eps: float | None = None,
                  atol: float | None = None, rtol: float | None = None, raise_exception: bool = True,
                  nondet_tol: float = 0.0, fast_mode: bool | None = None, kinks: str = "report",
                  blame: bool = True, seed: int = 0) -> bool:
    """True when the second derivatives of `fn` (the gradients of its backward) match finite differences.

    The checked function maps (inputs..., upstream gradients...) to the input gradients;
    inputs beyond the original ones in the report are the upstream gradients.
    """
    flag(raise_exception, "raise_exception", "gradgradcheck")
    flag(blame, "blame", "gradgradcheck")
    options = dict(eps=eps, atol=atol, rtol=rtol, nondet_tol=nondet_tol, fast_mode=fast_mode, kinks=kinks, seed=seed)
    report = second_derivative_report(fn, inputs, grad_outputs, **options)
    if not report.passed and blame:
        _add_blame(report, fn, inputs, _local_check(options, second_order=True))
    return _verdict(report, raise_exception)
