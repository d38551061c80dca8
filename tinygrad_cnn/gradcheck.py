"""gradcheck and gradgradcheck: analytic gradients against central finite differences, in float64."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from .autograd import grad
from .mode import set_grad_enabled
from .tensor import Tensor

DEFAULT_EPS = {np.dtype(np.float64): 1e-6, np.dtype(np.float32): 1e-3}


class GradcheckError(RuntimeError):
    """A gradient disagrees with finite differences; `.report` holds the details."""

    def __init__(self, report: GradcheckReport) -> None:
        super().__init__(report.message())
        self.report = report


@dataclass
class Mismatch:
    """One entry whose analytic and numeric gradients disagree."""

    input_index: int
    element: tuple[int, ...]
    analytic: float
    numeric: float
    tolerance: float

    @property
    def abs_error(self) -> float:
        return abs(self.analytic - self.numeric)

    @property
    def rel_error(self) -> float:
        return self.abs_error / max(abs(self.numeric), 1e-300)


@dataclass
class InputResult:
    """The comparison for one differentiable input."""

    index: int
    shape: tuple[int, ...]
    analytic: np.ndarray
    numeric: np.ndarray
    mismatches: list[Mismatch] = field(default_factory=list)


@dataclass
class GradcheckReport:
    """What a check compared and what disagreed."""

    what: str                      # "gradient" or "second derivative"
    eps: float
    atol: float
    rtol: float
    inputs: list[InputResult]
    notes: list[str] = field(default_factory=list)
    worst: int = 5                 # entries listed per input

    @property
    def passed(self) -> bool:
        return not any(r.mismatches for r in self.inputs)

    def message(self) -> str:
        lines = [f"gradcheck of the {self.what} failed (eps={self.eps:g}; an entry passes when "
                 f"|analytic - numeric| <= atol + rtol * |numeric| with atol={self.atol:g}, rtol={self.rtol:g})"]
        for r in self.inputs:
            if not r.mismatches:
                continue
            lines.append(f"input {r.index} (shape {r.shape}): {len(r.mismatches)} of {r.analytic.size} "
                         f"entries disagree; worst {min(self.worst, len(r.mismatches))}:")
            for m in sorted(r.mismatches, key=lambda m: -m.abs_error)[: self.worst]:
                lines.append(f"  element {m.element}: analytic {m.analytic:.6g}, numeric {m.numeric:.6g}, "
                             f"abs error {m.abs_error:.3g}, rel error {m.rel_error:.3g}, tolerance {m.tolerance:.3g}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _prepare(inputs: Any) -> list[Any]:
    """Float64 copies of the inputs (leaves); non-Tensors pass through unchanged."""
    inputs = list(inputs) if isinstance(inputs, (tuple, list)) else [inputs]
    prepared = []
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor):
            prepared.append(x)
            continue
        if x.requires_grad and x.dtype.kind != "f":
            raise TypeError(f"gradcheck: input {i} has dtype {x.dtype}; only floating inputs have gradients")
        data = x.data.astype(np.float64) if x.dtype.kind == "f" else x.data
        prepared.append(Tensor(data, requires_grad=x.requires_grad))
    if not any(isinstance(x, Tensor) and x.requires_grad for x in prepared):
        raise ValueError("gradcheck needs at least one input Tensor with requires_grad=True")
    return prepared


def _outputs(fn: Callable[..., Any], inputs: Sequence[Any]) -> tuple[Tensor, ...]:
    out = fn(*inputs)
    out = tuple(out) if isinstance(out, (tuple, list)) else (out,)
    for i, o in enumerate(out):
        if not isinstance(o, Tensor):
            raise TypeError(f"gradcheck: the function must return Tensors, output {i} is {type(o).__name__}")
    return out


def _weighted_sum(fn: Callable[..., Any], inputs: Sequence[Any], upstream: Sequence[np.ndarray]) -> float:
    """sum_k <upstream_k, output_k>, the scalar whose gradient is checked."""
    with set_grad_enabled(getattr(fn, "needs_graph", False)):  # a function of gradients needs the graph
        outs = _outputs(fn, inputs)
    return float(sum(np.sum(u * o.data.astype(np.float64)) for u, o in zip(upstream, outs)))


def _numeric_gradient(fn: Callable[..., Any], inputs: list[Any], index: int,
                      upstream: Sequence[np.ndarray], eps: float) -> np.ndarray:
    """Central differences of the weighted sum, one entry of input `index` at a time."""
    x = inputs[index].data
    result = np.zeros(x.shape)
    for element in np.ndindex(x.shape):
        original = x[element]
        x[element] = original + eps
        plus = _weighted_sum(fn, inputs, upstream)
        x[element] = original - eps
        minus = _weighted_sum(fn, inputs, upstream)
        x[element] = original
        result[element] = (plus - minus) / (2 * eps)
    return result


def _directional_numeric(fn: Callable[..., Any], inputs: list[Any], directions: dict[int, np.ndarray],
                         upstream: Sequence[np.ndarray], eps: float) -> float:
    """Central difference of the weighted sum along `directions` (one per differentiable input)."""
    originals = {i: inputs[i].data.copy() for i in directions}
    values = []
    for sign in (1, -1):
        for i, u in directions.items():
            inputs[i].data[...] = originals[i] + sign * eps * u
        values.append(_weighted_sum(fn, inputs, upstream))
    for i in directions:
        inputs[i].data[...] = originals[i]
    return (values[0] - values[1]) / (2 * eps)


def check_gradients(fn: Callable[..., Any], inputs: Any, *, eps: float | None = None,
                    atol: float | None = None, rtol: float | None = None, fast_mode: bool = False,
                    seed: int = 0, what: str = "gradient") -> GradcheckReport:
    """Compare analytic and numeric gradients of `fn` at `inputs`; return the full report."""
    prepared = _prepare(inputs)
    eps = DEFAULT_EPS[np.dtype(np.float64)] if eps is None else eps
    atol, rtol = 1e-5 if atol is None else atol, 1e-3 if rtol is None else rtol
    rng = np.random.default_rng(seed)
    differentiable = [i for i, x in enumerate(prepared) if isinstance(x, Tensor) and x.requires_grad]
    outputs = [o for o in _outputs(fn, prepared)]
    notes = [f"output {k} is {o.dtype}: the function computes in lower precision than float64 "
             "(create constants with the input's dtype)" for k, o in enumerate(outputs) if o.dtype != np.float64]
    upstream = [rng.standard_normal(o.shape) for o in outputs]  # random, so transposition bugs show
    live = [(o, u) for o, u in zip(outputs, upstream) if o.requires_grad]
    analytic: list[np.ndarray] = [np.zeros(prepared[i].shape) for i in differentiable]
    if live:
        grads = grad([o for o, _ in live], [prepared[i] for i in differentiable],
                     [Tensor(u.astype(o.dtype)) for o, u in live], allow_unused=True)
        analytic = [np.zeros(prepared[i].shape) if g is None else g.data.astype(np.float64)
                    for i, g in zip(differentiable, grads)]
    report = GradcheckReport(what, eps, atol, rtol, [], notes)
    if fast_mode:
        directions = {i: rng.standard_normal(prepared[i].shape) for i in differentiable}
        numeric = _directional_numeric(fn, prepared, directions, upstream, eps)
        expected = float(sum(np.sum(a * directions[i]) for i, a in zip(differentiable, analytic)))
        if abs(expected - numeric) <= atol + rtol * abs(numeric):
            return report  # passed; a failure falls through to the full check, which localises it
        report.notes.append(f"fast mode: v^T J u analytic {expected:.6g} vs numeric {numeric:.6g}; "
                            "full check below")
    for i, a in zip(differentiable, analytic):
        n = _numeric_gradient(fn, prepared, i, upstream, eps)
        tolerance = atol + rtol * np.abs(n)
        bad = np.argwhere(~(np.abs(a - n) <= tolerance))
        result = InputResult(i, prepared[i].shape, a, n)
        result.mismatches = [Mismatch(i, tuple(int(k) for k in e), float(a[tuple(e)]), float(n[tuple(e)]),
                                      float(tolerance[tuple(e)])) for e in bad]
        report.inputs.append(result)
    return report


def gradcheck(fn: Callable[..., Any], inputs: Any, *, eps: float | None = None, atol: float | None = None,
              rtol: float | None = None, raise_exception: bool = True, fast_mode: bool = False,
              seed: int = 0) -> bool:
    """True when `fn`'s analytic gradients match finite differences (float64, random upstream)."""
    report = check_gradients(fn, inputs, eps=eps, atol=atol, rtol=rtol, fast_mode=fast_mode, seed=seed)
    if report.passed:
        return True
    if raise_exception:
        raise GradcheckError(report)
    return False


def gradgradcheck(fn: Callable[..., Any], inputs: Any, grad_outputs: Any = None, *, eps: float | None = None,
                  atol: float | None = None, rtol: float | None = None, raise_exception: bool = True,
                  fast_mode: bool = False, seed: int = 0) -> bool:
    """True when the second derivatives of `fn` (the gradients of its backward) match finite differences.

    The checked function maps (inputs..., upstream gradients...) to the input gradients;
    inputs beyond the original ones in the report are the upstream gradients.
    """
    prepared = _prepare(inputs)
    differentiable = [i for i, x in enumerate(prepared) if isinstance(x, Tensor) and x.requires_grad]
    outputs = _outputs(fn, prepared)
    rng = np.random.default_rng(seed + 1)
    if grad_outputs is None:
        vectors = [Tensor(rng.standard_normal(o.shape), requires_grad=True) for o in outputs]
    else:
        given = grad_outputs if isinstance(grad_outputs, (tuple, list)) else (grad_outputs,)
        vectors = [Tensor(np.asarray(getattr(v, "data", v), dtype=np.float64), requires_grad=True) for v in given]
    count = len(prepared)

    def first_derivatives(*args: Any) -> tuple[Tensor, ...]:
        xs, vs = args[:count], args[count:]
        outs = [o for o in _outputs(fn, xs)]
        pairs = [(o, v) for o, v in zip(outs, vs) if o.requires_grad]
        grads = grad([o for o, _ in pairs], [xs[i] for i in differentiable], [v for _, v in pairs],
                     create_graph=True, allow_unused=True)
        return tuple(g for g in grads if g is not None and g.requires_grad)

    first_derivatives.needs_graph = True  # type: ignore[attr-defined]

    report = check_gradients(first_derivatives, prepared + vectors, eps=eps, atol=atol, rtol=rtol,
                             fast_mode=fast_mode, seed=seed, what="second derivative")
    if report.passed:
        return True
    if raise_exception:
        raise GradcheckError(report)
    return False
