"""Short text for op arguments, shared by error reports, gradcheck's blame and graph labels."""
from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

MAX_CHARS = 40


def describe_argument(value: Any) -> str:
    """An op argument as it appears in a call: tensors and large arrays by shape and dtype, the rest by repr."""
    data = getattr(value, "data", None)
    if isinstance(data, np.ndarray):  # a Tensor (named if it has a name)
        name = getattr(value, "name", None)
        return f"Tensor{' ' + repr(name) if name else ''} {data.shape} {data.dtype}"
    if isinstance(value, np.ndarray):
        return repr(value.tolist()) if value.size <= 4 else f"array{value.shape} {value.dtype}"
    if isinstance(value, np.dtype):
        return str(value)
    text = repr(value)
    return text if len(text) <= MAX_CHARS else text[:MAX_CHARS - 3] + "..."


def index_text(index: Any) -> str:
    """An index as written between brackets in Python: `[1:]`, `[:, 1:3]`, `[..., None]`."""
    parts = index if isinstance(index, tuple) else (index,)
    return "[" + ", ".join([_index_part(part) for part in parts]) + "]" if parts else "[()]"


def _index_part(part: Any) -> str:
    if isinstance(part, slice):
        start, stop, step = ("" if v is None else str(v) for v in (part.start, part.stop, part.step))
        return f"{start}:{stop}" + (f":{step}" if step else "")
    return "..." if part is Ellipsis else describe_argument(part)


def non_finite_counts(data: np.ndarray) -> tuple[int, int]:
    """(NaN count, Inf count) of an array; (0, 0) for dtypes that cannot hold them."""
    if data.dtype.kind not in "fc":
        return 0, 0
    return int(np.isnan(data).sum()), int(np.isinf(data).sum())


def finite_values(data: np.ndarray) -> np.ndarray:
    """The finite entries of a floating array (every entry of other dtypes)."""
    return data[np.isfinite(data)] if data.dtype.kind in "fc" else data


def op_args_text(op_args: dict[str, Any]) -> list[str]:
    """['axis=(1,)', 'keepdims=False'] for an op's keyword arguments; a dataclass argument shows its fields."""
    texts = []
    for key, value in op_args.items():
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            texts += [f"{field.name}={describe_argument(getattr(value, field.name))}"
                      for field in dataclasses.fields(value)]
        else:   # `index`: the index of Index and IndexAdd, written as in Python
            texts.append(f"{key}={index_text(value) if key == 'index' else describe_argument(value)}")
    return texts


def call_text(name: str, args: Any, op_args: dict[str, Any]) -> str:
    """`Op(Tensor 'x' (2, 3) float32, 0.5, axis=(1,))`."""
    return f"{name}({', '.join([describe_argument(a) for a in args] + op_args_text(op_args))})"
