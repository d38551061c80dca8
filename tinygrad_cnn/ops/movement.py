"""Primitives that move data without arithmetic: reshape, transpose, broadcast, pad, index, concatenate."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..arguments import is_int
from ..function import Function
from ..mode import MODE
from ..tensor import Tensor
from .reduce import normalize_axis


class Copy(Function):
    @staticmethod
    def forward(ctx: Any, a: Tensor) -> np.ndarray:
        return a.data.copy()

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        return g


class Reshape(Function):
    @staticmethod
    def forward(ctx: Any, a: Tensor, *, shape: tuple[int, ...]) -> np.ndarray:
        ctx.in_shape = a.shape
        return a.data.reshape(shape)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Any:
        return g.data.reshape(ctx.in_shape) if MODE.plain_backward else g.reshape(ctx.in_shape)


class Transpose(Function):
    @staticmethod
    def forward(ctx: Any, a: Tensor, *, axes: tuple[int, ...]) -> np.ndarray:
        ctx.inverse = tuple(np.argsort(axes))
        return a.data.transpose(axes)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        return g.transpose(ctx.inverse)


class BroadcastTo(Function):
    @staticmethod
    def forward(ctx: Any, a: Tensor, *, shape: tuple[int, ...]) -> np.ndarray:
        return np.broadcast_to(a.data, shape)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        return g  # the engine's unbroadcast sums it back to the input's shape


class Pad(Function):
    @staticmethod
    def forward(ctx: Any, a: Tensor, *, pad_width: tuple[tuple[int, int], ...], value: float) -> np.ndarray:
        # the slices that recover the input from the padded output
        ctx.inside = tuple(slice(before, before + n) for (before, _), n in zip(pad_width, a.shape))
        return np.pad(a.data, pad_width, constant_values=value)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        return g[ctx.inside]


class Index(Function):
    """a[index] for basic and advanced NumPy indices; repeated indices accumulate in backward."""

    @staticmethod
    def forward(ctx: Any, a: Tensor, *, index: Any) -> np.ndarray:
        ctx.in_shape = a.shape
        return a.data[index]

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        return IndexAdd.apply(g, index=ctx.op_args["index"], shape=ctx.in_shape)


class IndexAdd(Function):
    """zeros(shape) with `a` added at `index` (the adjoint of Index)."""

    @staticmethod
    def forward(ctx: Any, a: Tensor, *, index: Any, shape: tuple[int, ...]) -> np.ndarray:
        out = np.zeros(shape, dtype=a.dtype)
        if _is_basic(index):
            out[index] = a.data          # a basic index never names an element twice
        else:
            np.add.at(out, index, a.data)
        return out

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> Tensor:
        return Index.apply(g, index=ctx.op_args["index"])


class Concatenate(Function):
    @staticmethod
    def forward(ctx: Any, *tensors: Tensor, axis: int) -> np.ndarray:
        ctx.bounds = np.cumsum([0] + [t.shape[axis] for t in tensors])
        return np.concatenate([t.data for t in tensors], axis=axis)

    @staticmethod
    def backward(ctx: Any, g: Tensor) -> tuple[Any, ...]:
        axis = ctx.op_args["axis"]
        lead = (slice(None),) * axis
        return tuple(
            g[lead + (slice(start, stop),)] if need else None
            for start, stop, need in zip(ctx.bounds[:-1], ctx.bounds[1:], ctx.needs_input_grad)
        )


def _is_basic(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, np.integer, slice)) or p is None or p is Ellipsis for p in parts)


# --- public functions (validate arguments, then call one primitive) ---

def reshape(a: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Same data, new shape; one entry may be -1."""
    try:
        target = _resolve_shape(a.shape, shape)
    except ValueError as e:
        raise ValueError(f"cannot reshape a tensor of shape {a.shape} ({a.size} elements) into "
                         f"{tuple(shape)}: {e}") from None
    if target == a.shape:
        return a
    return Reshape.apply(a, shape=target)


def _resolve_shape(shape: tuple[int, ...], new: tuple[int, ...]) -> tuple[int, ...]:
    if not all(is_int(n) for n in new):
        raise ValueError("sizes must be ints")
    new = tuple(int(n) for n in new)
    size = math.prod(shape)   # math.prod: a few times faster than np.prod on a small tuple (per-op cost)
    if new.count(-1) > 1:
        raise ValueError("only one dimension can be -1")
    if any(n < -1 for n in new):
        raise ValueError("sizes must be non-negative (or -1 for one inferred size)")
    if -1 in new:
        known = math.prod(n for n in new if n != -1)
        if known == 0 or size % known:
            raise ValueError(f"{size} elements cannot be split into {new}")
        new = tuple(size // known if n == -1 else n for n in new)
    if math.prod(new) != size:
        raise ValueError(f"the new shape has {math.prod(new)} elements")
    return new


def transpose(a: Tensor, axes: Sequence[int] | None) -> Tensor:
    """Permute axes; no axes reverses them (as NumPy's transpose)."""
    if axes is None:
        axes = tuple(reversed(range(a.ndim)))
    if not all(is_int(x) for x in axes):
        raise TypeError(f"transpose/permute: axes must be ints, got {tuple(axes)} for a tensor of shape {a.shape}")
    axes = tuple(int(x) for x in axes)
    for x in axes:   # NumPy's rule: -ndim <= axis < ndim (an axis must not wrap around)
        if not -a.ndim <= x < a.ndim:
            raise IndexError(f"transpose/permute: axis {x} is out of range for a tensor with {a.ndim} dimensions "
                             f"(shape {a.shape}; valid axes: " + (f"{-a.ndim} to {a.ndim - 1})" if a.ndim else "none)"))
    if sorted(x % max(a.ndim, 1) for x in axes) != list(range(a.ndim)) or len(axes) != a.ndim:
        hint = f"; to swap two axes (PyTorch's transpose) use swapaxes{axes}" if len(axes) == 2 else ""
        raise ValueError(f"axes {axes} are not a permutation of the {a.ndim} axes of a tensor of shape "
                         f"{a.shape}{hint}")
    axes = tuple(x % a.ndim for x in axes)
    if axes == tuple(range(a.ndim)):
        return a
    return Transpose.apply(a, axes=axes)


def flatten(a: Tensor, start_axis: int = 0, end_axis: int = -1) -> Tensor:
    """Merge the axes from start_axis to end_axis (inclusive) into one."""
    if a.ndim == 0:
        return a.reshape(1)
    start, end = normalize_axis(start_axis, a.ndim, "start_axis")[0], normalize_axis(end_axis, a.ndim, "end_axis")[0]
    if start > end:
        raise ValueError(f"flatten: start_axis {start_axis} comes after end_axis {end_axis} for shape {a.shape}")
    merged = math.prod(a.shape[start:end + 1])
    return a.reshape(a.shape[:start] + (merged,) + a.shape[end + 1:])


def squeeze(a: Tensor, axis: Any = None) -> Tensor:
    """Drop axes of size 1 (all of them, or those named)."""
    axes = tuple(i for i, n in enumerate(a.shape) if n == 1) if axis is None else normalize_axis(axis, a.ndim)
    for i in axes:
        if a.shape[i] != 1:
            raise ValueError(f"cannot squeeze axis {i} of shape {a.shape}: its size is {a.shape[i]}, not 1")
    return a.reshape(tuple(n for i, n in enumerate(a.shape) if i not in axes))


def unsqueeze(a: Tensor, axis: int) -> Tensor:
    """Insert an axis of size 1 at `axis` (negative counts from the end of the result)."""
    position = normalize_axis(axis, a.ndim + 1)[0]
    return a.reshape(a.shape[:position] + (1,) + a.shape[position:])


def broadcast_to(a: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Stretch size-1 axes (and add leading ones) to `shape`, as NumPy broadcasting does."""
    if not all(is_int(n) for n in shape):
        raise TypeError(f"broadcast_to: sizes must be ints, got {tuple(shape)}")
    shape = tuple(int(n) for n in shape)
    try:
        ok = np.broadcast_shapes(a.shape, shape) == shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"cannot broadcast a tensor of shape {a.shape} to {shape}: each axis must "
                         "match or be 1, and the target must have at least as many axes")
    if shape == a.shape:
        return a
    return BroadcastTo.apply(a, shape=shape)


def _pad_pairs(pad_width: Any, ndim: int) -> tuple[tuple[int, int], ...]:
    """NumPy's pad_width forms: n, (before, after), or one (before, after) per axis."""
    width = np.asarray(pad_width)
    if width.dtype.kind not in "iu" or width.ndim > 2:
        raise TypeError(f"pad_width must be ints: n, (before, after) or one pair per axis; got {pad_width!r}")
    try:   # NumPy's rule: the (before, after) pairs broadcast to one per axis
        pairs = np.broadcast_to(width, (ndim, 2))
    except ValueError:
        given = f"{len(width)} pairs" if width.ndim == 2 else f"{width.size} numbers"
        raise ValueError(f"pad_width {pad_width!r} does not fit: it has {given} but the tensor has {ndim} axes; "
                         "give n, (before, after) or one (before, after) pair per axis") from None
    if (pairs < 0).any():
        raise ValueError(f"pad_width must not be negative, got {pad_width!r}")
    return tuple((int(b), int(e)) for b, e in pairs)


def pad(a: Tensor, pad_width: Any, value: float = 0.0) -> Tensor:
    """Pad with a constant, NumPy's pad_width forms."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"pad: value must be a number, got {type(value).__name__} {value!r:.40}")
    pairs = _pad_pairs(pad_width, a.ndim)
    if not pairs:   # a 0-d tensor has no axis to pad (as np.pad)
        return a
    return Pad.apply(a, pad_width=pairs, value=value)


def _convert_index(index: Any) -> Any:
    """Tensors and lists inside an index become arrays (bool masks stay bool); arrays are copied, since
    backward scatters through them and the caller may reuse theirs."""
    if isinstance(index, tuple):
        return tuple(_convert_index(i) for i in index)
    if isinstance(index, (Tensor, np.ndarray)):
        return np.array(index.data if isinstance(index, Tensor) else index)
    if isinstance(index, list):
        array = np.asarray(index)
        return array.astype(np.intp) if array.size == 0 else array   # x[[]] selects nothing (NumPy reads [] as float)
    return index


def getitem(a: Tensor, index: Any) -> Tensor:
    """NumPy indexing: ints, slices (any step), ellipsis, None, integer arrays and boolean masks."""
    index = _convert_index(index)
    for part in index if isinstance(index, tuple) else (index,):
        if isinstance(part, np.ndarray) and part.dtype.kind not in "iub":
            raise IndexError(f"index arrays must be integer or bool, got dtype {part.dtype}")
        if isinstance(part, (float, str)):
            raise IndexError(f"invalid index {part!r} for a tensor of shape {a.shape}: use ints, slices, "
                             "None, ..., integer arrays or bool masks")
    try:
        np.empty(a.shape, dtype=np.bool_)[index]  # validate against the shape without touching data
    except IndexError as e:
        raise IndexError(f"index {index!r} is invalid for a tensor of shape {a.shape}: {e}") from None
    return Index.apply(a, index=index)


def _one_axis(axis: Any, owner: str) -> None:
    """A join's axis must be one int (a tuple's first entry or a float would be silently taken as an axis)."""
    if not is_int(axis):
        raise TypeError(f"{owner}: axis must be an int, got {type(axis).__name__} {axis!r:.40}")


def concatenate(tensors: Sequence[Tensor], axis: int | None = 0) -> Tensor:
    """Join tensors along an existing axis (axis=None: flattened first, as NumPy)."""
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("concatenate needs at least one tensor")
    if axis is None:
        return concatenate([t.reshape(-1) for t in tensors])
    _one_axis(axis, "concatenate")
    first = tensors[0]
    if first.ndim == 0:
        raise ValueError("concatenate: 0-d tensors have no axis to join along; use tc.stack to make a new axis")
    position = normalize_axis(axis, first.ndim)[0]
    def others(shape: tuple[int, ...]) -> tuple[int, ...]:
        return shape[:position] + shape[position + 1:]
    for i, t in enumerate(tensors):
        if t.ndim != first.ndim or others(t.shape) != others(first.shape):
            raise ValueError(f"concatenate along axis {axis}: tensor {i} has shape {t.shape}, "
                             f"tensor 0 has {first.shape}; all axes but {axis} must match")
    return Concatenate.apply(*tensors, axis=position)


def stack(tensors: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors of one shape along a new axis."""
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack needs at least one tensor")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: tensor {i} has shape {t.shape}, tensor 0 has {tensors[0].shape}; "
                             "all must have the same shape")
    _one_axis(axis, "stack")
    position = normalize_axis(axis, tensors[0].ndim + 1)[0]
    return concatenate([t.unsqueeze(position) for t in tensors], axis=position)


def split(a: Tensor, indices_or_sections: Any, axis: int = 0) -> list[Tensor]:
    """NumPy's split along `axis`: into n equal pieces, or at the given indices; each piece is a slice of `a`."""
    a = a if isinstance(a, Tensor) else Tensor(a)
    _one_axis(axis, "split")
    if a.ndim == 0:
        raise ValueError("split: a 0-d tensor has no axis to split")
    position = normalize_axis(axis, a.ndim)[0]
    size = a.shape[position]
    if is_int(indices_or_sections):
        sections = int(indices_or_sections)
        if sections < 1 or size % sections:
            raise ValueError(f"split: axis {axis} of size {size} does not divide into {sections} equal sections "
                             "(the number of sections must be at least 1 and divide the size); give the indices "
                             "to split at instead, e.g. [2, 5]")
        bounds = [i * (size // sections) for i in range(sections + 1)]
    else:
        indices = np.asarray(indices_or_sections)
        if indices.ndim != 1 or (indices.size and indices.dtype.kind not in "iu"):
            raise TypeError(f"split: indices_or_sections must be an int (the number of equal sections) or a "
                            f"sequence of ints (the indices to split at), got {indices_or_sections!r:.60}")
        bounds = [0, *indices.tolist(), size]   # Python's slice rules, as NumPy: negative counts from the end
    lead = (slice(None),) * position
    return [a[lead + (slice(start, stop),)] for start, stop in zip(bounds[:-1], bounds[1:])]

