"""Anomaly mode: stop at the first op or gradient that produces NaN or Inf, and say where it came from."""
from __future__ import annotations

import contextlib
import sys
from typing import Any, Iterator

import numpy as np

from .mode import MODE

_PACKAGE_DIR = __file__.rsplit("/", 1)[0]


class AnomalyError(RuntimeError):
    """Raised in anomaly mode when a value or a gradient becomes NaN or Inf."""


def set_detect_anomaly(enabled: bool) -> None:
    """Turn anomaly checking (and call-site recording) on or off for the rest of the program."""
    MODE.anomaly = bool(enabled)
    MODE.record_sites = bool(enabled)


@contextlib.contextmanager
def detect_anomaly() -> Iterator[None]:
    """Inside, every forward output and backward gradient is checked for NaN and Inf."""
    previous = MODE.anomaly, MODE.record_sites
    set_detect_anomaly(True)
    try:
        yield
    finally:
        MODE.anomaly, MODE.record_sites = previous


def user_site(skip: int = 1) -> tuple[str, int] | None:
    """The innermost stack frame outside this package: where the user's code called in."""
    frame: Any = sys._getframe(skip)
    while frame is not None:
        if not frame.f_code.co_filename.startswith(_PACKAGE_DIR):
            return frame.f_code.co_filename, frame.f_lineno
        frame = frame.f_back
    return None


def describe_array(array: Any) -> str:
    """min, max and NaN/Inf counts of an array (or the repr of a non-array)."""
    data = getattr(array, "data", array)
    if not isinstance(data, np.ndarray) or data.dtype.kind not in "fc":
        return f"{type(array).__name__} {array!r}"[:80]
    finite = data[np.isfinite(data)]
    span = f"min {finite.min():.4g}, max {finite.max():.4g}" if finite.size else "no finite values"
    return (f"shape {data.shape} {data.dtype}: {span}, "
            f"{int(np.isnan(data).sum())} NaN, {int(np.isinf(data).sum())} Inf")


def _has_non_finite(data: np.ndarray) -> bool:
    return data.dtype.kind in "fc" and not np.isfinite(data).all()


def _where(node: Any, site: tuple[str, int] | None) -> str:
    scope = MODE.scope if node is None else getattr(node, "scope", None)
    layer = f" in layer {scope.path!r}" if scope is not None else ""
    called = f", called at {site[0]}:{site[1]}" if site else ""
    return f"{layer}{called}"


def check_forward(ctx: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: np.ndarray) -> None:
    """Raise AnomalyError when an op's output holds NaN or Inf."""
    if not _has_non_finite(out):
        return
    options = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    inputs = "\n".join(f"  input {i}: {describe_array(a)}" for i, a in enumerate(args))
    raise AnomalyError(
        f"forward of {ctx.name}({options}){_where(None, user_site(2))} produced "
        f"{describe_array(out)}\n{inputs}"
    )


def check_gradient(node: Any, index: int, grad: np.ndarray) -> None:
    """Raise AnomalyError when the gradient a node's backward returns holds NaN or Inf."""
    if not _has_non_finite(grad):
        return
    options = ", ".join(f"{k}={v!r}" for k, v in getattr(node, "op_args", {}).items())
    raise AnomalyError(
        f"backward of {node.name}({options}){_where(node, getattr(node, 'site', None))} returned "
        f"a gradient for input {index} with {describe_array(grad)}"
    )
