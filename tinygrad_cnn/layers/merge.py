"""Merge layers, Keras's way to join branches of a functional model: Add, Subtract, Multiply, Average,
Maximum, Minimum (elementwise, with broadcasting), Concatenate and Dot (a dot product per sample), each
called on a list of tensors, with the functional forms `add([x, y])`, `concatenate([x, y], axis=-1)`, ..."""
from __future__ import annotations

import functools
import operator
from typing import Any

from ..arguments import axis_index, flag, is_int
from ..ops import composed
from ..ops.movement import concatenate as join
from ..tensor import Tensor
from .base import Layer
from .shapes import Shape, batch_shape, format_shape


def _shapes_text(shapes: list[Shape]) -> str:
    return "[" + ", ".join(format_shape(shape) for shape in shapes) + "]"


class Merge(Layer):
    """A layer called on a list of tensors, with no weights: each call checks the shapes afresh."""

    exact_inputs: int | None = None  # Subtract takes exactly two

    def __init__(self, **kwargs: Any) -> None:   # Keras's Add(**kwargs): name, trainable, dtype by keyword only
        super().__init__(**kwargs)

    def _merge(self, inputs: list[Tensor]) -> Tensor:
        raise NotImplementedError

    def _as_tensor(self, inputs: Any) -> list[Tensor]:  # type: ignore[override]
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{self._describe()} must be called on a list of tensors, e.g. "
                             f"{type(self).__name__}()([x, y]); got {type(inputs).__name__}")
        return [super(Merge, self)._as_tensor(x) for x in inputs]

    def _shapes(self, input_shape: Any, same_batch: bool = True) -> list[Shape]:
        """The list of input shapes, checked: a list of enough shapes with one batch size."""
        if not isinstance(input_shape, (list, tuple)) or not all(isinstance(s, (list, tuple)) for s in input_shape):
            raise ValueError(f"{self._describe()} must be called on a list of tensors (its input shape is a list of "
                             f"shapes), got input_shape={input_shape!r:.80}")
        shapes = [batch_shape(shape, self._describe()) for shape in input_shape]
        wanted = self.exact_inputs
        if (wanted is not None and len(shapes) != wanted) or not shapes:
            count = f"{wanted} tensors" if wanted else "at least 1 tensor"
            raise ValueError(f"{self._describe()} must be called on a list of {count}, got {len(shapes)}: "
                             f"{_shapes_text(shapes)}")
        batches = {shape[0] for shape in shapes if len(shape)} - {None}
        if same_batch and len(batches) > 1 or any(not len(shape) for shape in shapes):
            raise ValueError(f"{self._describe()} cannot merge tensors with different batch sizes (or without a "
                             f"batch axis): {_shapes_text(shapes)}")
        return shapes

    def _check_rank(self, shape: Any) -> None:
        self.compute_output_shape(shape)   # every check of the shapes, with the merge's own messages

    _check_input = _check_rank

    def compute_output_shape(self, input_shape: Any) -> Shape:
        """Keras's rule: the batch axis shared, the other axes broadcast from the right (size 1 stretches,
        None stays unknown)."""
        shapes = self._shapes(input_shape)
        batch = next((shape[0] for shape in shapes if shape[0] is not None), None)
        merged: list[int | None] = []
        for shape in shapes:
            rest = list(shape[1:])
            short, long = sorted((merged, rest), key=len)
            combined = long[:len(long) - len(short)]
            for a, b in zip(long[len(long) - len(short):], short, strict=True):
                if a is not None and b is not None and a != b and 1 not in (a, b):
                    raise ValueError(f"{self._describe()}: the inputs have incompatible shapes {_shapes_text(shapes)}; "
                                     "apart from the batch axis, each axis must match or be 1 (counted from the last)")
                combined.append(None if a is None or b is None else max(a, b) if 1 in (a, b) else a)
            merged = combined
        return (batch, *merged)

    def call(self, inputs: list[Tensor], training: bool) -> Tensor:
        rank = max(x.ndim for x in inputs)
        # (batch, *rest) -> (batch, 1, ..., 1, *rest): lower-rank inputs broadcast from the last axis, not the batch's
        return self._merge([x.reshape((x.shape[0],) + (1,) * (rank - x.ndim) + x.shape[1:]) for x in inputs])


class Add(Merge):
    """The sum of the inputs: `tc.layers.Add()([x, y])`."""

    def _merge(self, inputs: list[Tensor]) -> Tensor:
        return functools.reduce(operator.add, inputs)


class Subtract(Merge):
    """The first input minus the second: `tc.layers.Subtract()([x, y])`."""

    exact_inputs = 2

    def _merge(self, inputs: list[Tensor]) -> Tensor:
        return inputs[0] - inputs[1]


class Multiply(Merge):
    """The elementwise product of the inputs."""

    def _merge(self, inputs: list[Tensor]) -> Tensor:
        return functools.reduce(operator.mul, inputs)


class Average(Merge):
    """The elementwise mean of the inputs."""

    def _merge(self, inputs: list[Tensor]) -> Tensor:
        return functools.reduce(operator.add, inputs) * (1.0 / len(inputs))


class Maximum(Merge):
    """The elementwise maximum of the inputs (ties share the gradient equally, as in PyTorch)."""

    def _merge(self, inputs: list[Tensor]) -> Tensor:
        return functools.reduce(composed.maximum, inputs)


class Minimum(Merge):
    """The elementwise minimum of the inputs (ties share the gradient equally, as in PyTorch)."""

    def _merge(self, inputs: list[Tensor]) -> Tensor:
        return functools.reduce(composed.minimum, inputs)


class Concatenate(Merge):
    """The inputs joined along `axis` (the channels by default); every other axis must match."""

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = axis_index(axis, "axis", "Concatenate")

    def compute_output_shape(self, input_shape: Any) -> Shape:
        shapes = self._shapes(input_shape, same_batch=False)  # the batch axis is checked as any other below
        rank = len(shapes[0])
        if not -rank <= self.axis < rank:
            raise ValueError(f"{self._describe()}: axis {self.axis} is out of range for inputs of rank {rank} "
                             f"{_shapes_text(shapes)}")
        axis = self.axis % rank
        others = [[n for i, n in enumerate(shape) if i != axis] for shape in shapes]
        fits = all(len(shape) == rank for shape in shapes) and all(
            len({n for n in sizes if n is not None}) <= 1 for sizes in zip(*others, strict=True))
        if not fits:
            raise ValueError(f"{self._describe()} needs inputs of one rank whose shapes match except along the "
                             f"concatenation axis {self.axis}, got {_shapes_text(shapes)}")
        sizes = [shape[axis] for shape in shapes]
        joined = None if None in sizes else sum(sizes)  # type: ignore[arg-type]
        known = [next((n for n in column if n is not None), None) for column in zip(*shapes, strict=True)]
        return tuple(joined if i == axis else n for i, n in enumerate(known))

    def call(self, inputs: list[Tensor], training: bool) -> Tensor:
        return join(inputs, axis=self.axis)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class Dot(Merge):
    """The dot product of each sample of two inputs over one axis of each (Keras's batch dot): `axes=1` on
    (batch, n) and (batch, n) gives (batch, 1); on (batch, 3, 5) and (batch, 10, 3) `axes=(1, 2)` gives
    (batch, 5, 10): the first input's other axes, then the second's. `normalize=True` divides each input by
    its 2-norm along its axis first (at least 1e-7, Keras's epsilon), which gives the cosine similarity."""

    exact_inputs = 2
    EPSILON = 1e-7

    def __init__(self, axes: Any, normalize: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        pair = isinstance(axes, (list, tuple)) and len(axes) == 2 and all(is_int(a) for a in axes)
        if not is_int(axes) and not pair:
            raise TypeError(f"Dot: axes must be an int (the same axis of both inputs) or a pair of ints (one axis "
                            f"of each input), e.g. axes=1 or axes=(1, 2); got {axes!r:.60}")
        self.axes: int | tuple[int, int] = int(axes) if is_int(axes) else (int(axes[0]), int(axes[1]))
        self.normalize = flag(normalize, "normalize", "Dot")

    def _dot_axes(self, shapes: list[Shape]) -> tuple[int, int]:
        """Each input's dot axis counted from 0 (negative axes count from each input's last axis)."""
        chosen = self.axes if isinstance(self.axes, tuple) else (self.axes, self.axes)
        found = []
        for axis, shape, which in zip(chosen, shapes, ("first", "second"), strict=True):
            rank = len(shape)
            if rank < 2 or not -rank <= axis < rank or axis % rank == 0:
                raise ValueError(f"{self._describe()}: axes={self.axes} names axis {axis} of the {which} input, of "
                                 f"shape {format_shape(shape)}; it must be an axis after the batch axis (1 to "
                                 f"{rank - 1}, or negative from the last), on inputs of at least 2 axes: "
                                 f"{_shapes_text(shapes)}")
            found.append(axis % rank)
        return found[0], found[1]

    def compute_output_shape(self, input_shape: Any) -> Shape:
        """The first input's shape without its dot axis, then the second's without its batch and dot axes;
        (batch, 1) when nothing else is left."""
        shapes = self._shapes(input_shape)
        a, b = self._dot_axes(shapes)
        n, m = shapes[0][a], shapes[1][b]
        if n is not None and m is not None and n != m:
            raise ValueError(f"{self._describe()}: the dot axes must have one size, but axis {a} of the first input "
                             f"has {n} and axis {b} of the second has {m}: {_shapes_text(shapes)} with axes="
                             f"{self.axes}; choose axes of the same size")
        batch = shapes[0][0] if shapes[0][0] is not None else shapes[1][0]
        rest = [d for i, d in enumerate(shapes[0]) if i not in (0, a)] + \
            [d for i, d in enumerate(shapes[1]) if i not in (0, b)]
        return (batch, *rest) if rest else (batch, 1)

    def call(self, inputs: list[Tensor], training: bool) -> Tensor:
        x, y = inputs
        a, b = self._dot_axes([x.shape, y.shape])
        if self.normalize:
            x, y = _unit(x, a, self.EPSILON), _unit(y, b, self.EPSILON)
        batch, k = x.shape[0], x.shape[a]
        xs = [i for i in range(1, x.ndim) if i != a]
        ys = [i for i in range(1, y.ndim) if i != b]
        # x (batch, ..., k, ...) -> (batch, P, k) and y (batch, ..., k, ...) -> (batch, k, Q), P and Q the products
        # of the other axes; one batched matmul sums over k
        left = x.permute(0, *xs, a).reshape((batch, -1, k))
        right = y.permute(0, b, *ys).reshape((batch, k, -1))
        out = left @ right   # (batch, P, Q)
        rest = [x.shape[i] for i in xs] + [y.shape[i] for i in ys]
        return out.reshape((batch, *rest) if rest else (batch, 1))   # (batch, P, Q) -> (batch, x's others, y's others)

    def get_config(self) -> dict[str, Any]:
        axes = list(self.axes) if isinstance(self.axes, tuple) else self.axes
        return {**super().get_config(), "axes": axes, "normalize": self.normalize}


def _unit(x: Tensor, axis: int, epsilon: float) -> Tensor:
    """x / max(||x||, epsilon) along `axis`, as sqrt(max(sum x^2, epsilon^2)): a zero vector gives zeros and a
    zero gradient (the maximum sends it to the constant, never through sqrt at 0)."""
    return x / (x * x).sum(axis=axis, keepdims=True).maximum(epsilon * epsilon).sqrt()


def add(inputs: list[Any], **kwargs: Any) -> Any:
    """`Add(**kwargs)(inputs)`."""
    return Add(**kwargs)(inputs)


def subtract(inputs: list[Any], **kwargs: Any) -> Any:
    """`Subtract(**kwargs)(inputs)`."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs: list[Any], **kwargs: Any) -> Any:
    """`Multiply(**kwargs)(inputs)`."""
    return Multiply(**kwargs)(inputs)


def average(inputs: list[Any], **kwargs: Any) -> Any:
    """`Average(**kwargs)(inputs)`."""
    return Average(**kwargs)(inputs)


def maximum(inputs: list[Any], **kwargs: Any) -> Any:
    """`Maximum(**kwargs)(inputs)`."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs: list[Any], **kwargs: Any) -> Any:
    """`Minimum(**kwargs)(inputs)`."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs: list[Any], axis: int = -1, **kwargs: Any) -> Any:
    """`Concatenate(axis, **kwargs)(inputs)`."""
    return Concatenate(axis, **kwargs)(inputs)


def dot(inputs: list[Any], axes: Any = -1, **kwargs: Any) -> Any:
    """`Dot(axes, **kwargs)(inputs)` (normalize=True for the cosine similarity)."""
    return Dot(axes, **kwargs)(inputs)
