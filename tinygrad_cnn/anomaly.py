"""Anomaly mode: stop at the first op or gradient that produces NaN or Inf, and say where it came from.

Off by default. When off, the only cost is one attribute test per op (`MODE.anomaly` in
Function.apply and in the backward walk). When on, every forward output and every gradient a
backward returns is scanned, and the first non-finite one raises AnomalyError naming the op and its
arguments, the layer it ran in, the user's file and line, and the statistics of its inputs.
"""
from __future__ import annotations

import contextlib
import functools
import linecache
import os
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

from .arguments import flag
from .describe import call_text, finite_values, non_finite_counts, op_args_text
from .mode import MODE, layer_label

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
# frames that are plumbing between the user's line and ours (context managers, decorators)
_PLUMBING = frozenset({contextlib.__file__, functools.__file__})


class AnomalyError(RuntimeError):
    """Raised in anomaly mode when a value or a gradient becomes NaN or Inf.

    `op` is the name of the op, `values` the non-finite array (the output or the gradient).
    """

    def __init__(self, message: str, op: str = "", values: np.ndarray | None = None) -> None:
        super().__init__(message)
        self.op, self.values = op, values


class set_detect_anomaly:
    """Turn anomaly mode on or off: for the rest of the program when called, or until the end of the block in
    `with tc.set_detect_anomaly(True):` (as PyTorch's). With `check_nan=False` it only records where each op
    was called (for reports and gradcheck's blame) and checks nothing, as PyTorch's."""

    def __init__(self, mode: bool, check_nan: bool = True) -> None:
        mode = flag(mode, "mode", "set_detect_anomaly")
        check_nan = flag(check_nan, "check_nan", "set_detect_anomaly")
        self.previous = MODE.anomaly, MODE.record_sites
        MODE.anomaly, MODE.record_sites = mode and check_nan, mode

    def __enter__(self) -> None:
        pass

    def __exit__(self, *exc: object) -> None:
        MODE.anomaly, MODE.record_sites = self.previous


def is_anomaly_enabled() -> bool:
    """True inside `detect_anomaly()` or after `set_detect_anomaly(True)` (with check_nan or not)."""
    return MODE.record_sites


def is_anomaly_check_nan_enabled() -> bool:
    """True when anomaly mode checks values for NaN and Inf (it is on, with check_nan=True)."""
    return MODE.anomaly


@contextlib.contextmanager
def detect_anomaly(check_nan: bool = True) -> Iterator[None]:
    """Inside, every forward output and backward gradient is checked for NaN and Inf (with `check_nan=False`,
    call sites are only recorded)."""
    with set_detect_anomaly(True, check_nan):
        yield


def user_site(skip: int = 1) -> tuple[str, int] | None:
    """The innermost stack frame outside this package: where the user's code called in."""
    frame: Any = sys._getframe(skip)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_PACKAGE_DIR) and filename not in _PLUMBING:
            return filename, frame.f_lineno
        frame = frame.f_back
    return None


# --- describing values ---

def _array(value: Any) -> np.ndarray | None:
    """The ndarray behind a Tensor or an ndarray (None for anything else)."""
    if isinstance(value, np.ndarray):
        return value
    data = getattr(value, "data", None)
    return data if isinstance(data, np.ndarray) else None


def describe_array(value: Any) -> str:
    """Shape, dtype, min and max of the finite values, and the NaN/Inf counts of a Tensor or an array."""
    data = _array(value)
    if data is None:
        return f"{type(value).__name__} {value!r:.60}"
    head = f"shape {data.shape} {data.dtype}"
    if data.dtype.kind not in "biufc" or data.size == 0:
        return head
    finite = finite_values(data)
    span = f"min {finite.min():.4g}, max {finite.max():.4g}" if finite.size else "no finite values"
    nan, inf = non_finite_counts(data)
    bad = f"{nan} NaN, {inf} Inf" if nan or inf else "no NaN/Inf"
    return f"{head}: {span}, {bad}"


def _named(value: Any) -> str:
    name = getattr(value, "name", None)
    return f"{name!r}, " if name else ""


def _counts(data: np.ndarray) -> str:
    nan, inf = non_finite_counts(data)
    return " and ".join(f"{n} {what}" for n, what in ((nan, "NaN"), (inf, "Inf")) if n)


def _context(scope: Any, site: tuple[str, int] | None, site_hint: str) -> list[str]:
    """The 'layer' and 'called at' lines of a report."""
    lines = []
    if scope is not None:
        lines.append(f"  layer:     {layer_label(repr(scope.path), scope.kind)}")
    if site is not None:
        code = linecache.getline(site[0], site[1]).strip()
        lines.append(f"  called at: {site[0]}:{site[1]}" + (f"   {code}" if code else ""))
    else:
        lines.append(f"  called at: unknown{site_hint}")
    return lines


# --- the checks ---

def check_forward(ctx: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: np.ndarray) -> None:
    """Raise AnomalyError when an op's output holds NaN or Inf."""
    if out.dtype.kind not in "fc" or np.isfinite(out).all():
        return
    inputs = [(i, a) for i, a in enumerate(args) if _array(a) is not None]
    lines = [f"{ctx.name} produced {_counts(out)} in its forward output ({describe_array(out)})",
             f"  op:        {call_text(ctx.name, args, kwargs)}",
             *_context(MODE.scope, user_site(2), ""),
             "  inputs:", *(f"    input {i}: {_named(a)}{describe_array(a)}" for i, a in inputs)]
    already = [i for i, a in inputs if any(non_finite_counts(_array(a)))]
    if already:
        lines.append(f"  input {already[0]} already held NaN/Inf: the problem starts before {ctx.name} "
                     "(in the data, or in code that ran outside detect_anomaly)")
    else:
        lines.append(f"  the inputs are finite: {ctx.name} itself created the non-finite values "
                     "(e.g. log or division at 0, overflow of exp, or 0 * inf)")
    raise AnomalyError("\n".join(lines), ctx.name, out)


def check_inplace(what: str, tensor: Any, value: Any) -> None:
    """Raise AnomalyError when an in-place change (`what`) would write NaN or Inf into `tensor`."""
    data = np.asarray(value)
    if data.dtype.kind not in "fc" or np.isfinite(data).all():
        return
    lines = [f"{what} would write {_counts(data)} into a tensor in place ({describe_array(data)})",
             *_context(MODE.scope, user_site(2), ""),
             f"  tensor:    {_named(tensor)}{describe_array(tensor)}",
             "  the tensor is left unchanged; " + ("it already held NaN/Inf: the problem starts before this change"
                                                  if any(non_finite_counts(tensor.data)) else
                                                  "the change made them (e.g. x += inf, x /= 0, x *= a huge number)")]
    raise AnomalyError("\n".join(lines), what, data)


def _parent(parent: Any, constant: Any) -> str:
    """An input of a recorded op, for the backward report (`constant`: what the graph kept of it)."""
    if parent is None:
        if isinstance(constant, tuple) and len(constant) == 2:
            constant = f"shape {constant[0]} {constant[1]}"
        return f"constant {constant}, no gradient"
    if hasattr(parent, "parents"):  # a Function: the input was that op's output
        return f"output of {parent.name}, shape {parent.out_shape} {parent.out_dtype}"
    return f"leaf {_named(parent)}{describe_array(parent)}"


@contextlib.contextmanager
def blamed_on(node: Any, grad: Any, inside: str = "its backward formula") -> Iterator[None]:
    """An op inside that produces NaN/Inf is reported as part of `node`'s backward (`grad`: its incoming one)."""
    try:
        yield
    except AnomalyError as error:
        raise AnomalyError(_backward_report(node, grad, error.values, f" (in the output of {error.op}, inside "
                                            f"{inside})"), node.name, error.values) from None


def checked_backward(node: Any, grad: Any) -> Any:
    """Run `node`'s backward and raise AnomalyError if it (or any op inside it) gives NaN or Inf."""
    with blamed_on(node, grad):
        input_grads = type(node).backward(node, grad)
    grads = [_array(g) for g in (input_grads if type(input_grads) is tuple else (input_grads,))]
    for index, g in enumerate(grads):
        if g is not None and any(non_finite_counts(g)):
            raise AnomalyError(_backward_report(node, grad, g, f" in the gradient for input {index}"), node.name, g)
    return input_grads


def check_accumulation(previous: Any, grad: Any, target: Any, node: Any, index: int) -> None:
    """Raise AnomalyError when two finite gradients of one tensor sum to NaN or Inf (`grad` came from the
    backward of `node` for its input `index`; `node` is None for the gradient given to backward())."""
    with np.errstate(over="ignore", invalid="ignore"):
        total = previous.data + grad.data
    if not any(non_finite_counts(total)) or any(non_finite_counts(previous.data)) or any(non_finite_counts(grad.data)):
        return   # finite, or already non-finite (then reported where it was made)
    source = "the gradient given to backward()" if node is None else f"the backward of {node.name} (input {index})"
    lines = [f"summing the gradients of one tensor produced {_counts(total)}: {describe_array(total)}",
             f"  tensor:    {_parent(target, None)}",
             f"  gradient so far (from its other uses, or an earlier backward): {describe_array(previous)}",
             f"  gradient added by {source}: {describe_array(grad)}",
             "  both are finite: their sum overflows its dtype (every use of a tensor adds its gradient to the "
             "tensor's total); scale the loss down or compute in float64"]
    if node is not None:
        lines[4:4] = [f"  op:        {node.name}", *_context(node.scope, node.site, "")]
    raise AnomalyError("\n".join(lines), "" if node is None else node.name, total)


def _backward_report(node: Any, grad: Any, bad: np.ndarray, where: str) -> str:
    """What went wrong in `node`'s backward: the op, its layer and site, its inputs, the incoming gradient."""
    args = [f"input {i}" for i in range(len(node.parents))] + op_args_text(node.op_args)
    constants = node.constants
    lines = [f"the backward of {node.name} produced {_counts(bad)}{where}: {describe_array(bad)}",
             f"  op:        {node.name}({', '.join(args)})",
             *_context(node.scope, node.site, " (run the forward pass inside tc.detect_anomaly() too, to "
                                              "record where each op was called)"),
             "  inputs:", *(f"    input {i}: {_parent(p, c)}" for i, (p, c) in enumerate(zip(node.parents, constants))),
             f"  gradient arriving at its output: {describe_array(grad)}"]
    if node._saved:
        lines += ["  saved for backward:", *(f"    {i}: {describe_array(t)}" for i, t in enumerate(node._saved))]
    if any(non_finite_counts(_array(grad))):
        lines.append("  the incoming gradient already holds NaN/Inf: it came from the gradient given to backward()")
    else:
        lines.append(f"  the incoming gradient is finite: the derivative of {node.name} is not finite here "
                     "(e.g. sqrt or log at 0, or a division by 0)")
    return "\n".join(lines)
