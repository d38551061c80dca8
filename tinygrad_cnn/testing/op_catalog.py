"""Every built-in differentiable op, with a way to draw inputs for it (used by `tinygrad-cnn gradcheck`).

Inputs are drawn with a NumPy generator (no hypothesis needed). `kinks=True` puts some inputs
exactly on non-differentiable points (zeros for ReLU and |x|, ties for max and max pooling);
`kinks=False` keeps them at least 0.25 away, so that smooth-function tests (Taylor) hold.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..conv import avg_pool2d, conv2d, conv2d_transpose, max_pool2d
from ..layers.activations import elu, gelu, hard_silu, relu6, softplus
from ..losses import sparse_categorical_crossentropy
from ..ops.composed import maximum, minimum, where
from ..ops.movement import concatenate, stack
from ..tensor import Tensor
from .assertions import as_checked_input

Draw = Callable[[np.random.Generator, bool], list[Any]]


@dataclass(frozen=True)
class CatalogOp:
    """A built-in op as a function of its drawn inputs."""

    name: str
    fn: Callable[..., Tensor]
    draw: Draw                 # draw(rng, kinks) -> positional inputs of fn
    has_kinks: bool = False    # piecewise: `kinks=True` draws put inputs on its kinks

    def inputs(self, rng: np.random.Generator, kinks: bool = False) -> list[Any]:
        """Drawn inputs: float arrays become float64 Tensors that require grad."""
        return [as_checked_input(a) for a in self.draw(rng, kinks)]


def _shape(rng: np.random.Generator, min_dims: int = 0, max_dims: int = 3, max_side: int = 4) -> tuple[int, ...]:
    return tuple(int(n) for n in rng.integers(1, max_side + 1, size=rng.integers(min_dims, max_dims + 1)))


def _broadcast_pair(rng: np.random.Generator) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Two shapes that broadcast: the second loses leading axes, either may have size-1 axes."""
    full = _shape(rng)
    a = tuple(1 if rng.random() < 0.25 else n for n in full)
    b = tuple(1 if rng.random() < 0.25 else n for n in full[rng.integers(0, len(full) + 1):])
    return a, b


def _values(rng: np.random.Generator, shape: tuple[int, ...], kinks: bool = False, *,
            low: float = 0.25, high: float = 2.0, positive: bool = False) -> np.ndarray:
    """|values| in [low, high] (random signs unless positive); with kinks, about a third are exactly 0."""
    x = rng.uniform(low, high, shape) * (1 if positive else rng.choice([-1.0, 1.0], shape))
    return np.where(rng.random(shape) < 1 / 3, 0.0, x) if kinks else np.asarray(x)


def _spread(rng: np.random.Generator, shape: tuple[int, ...], kinks: bool = False) -> np.ndarray:
    """Values at least 0.5 apart (no near-ties); with kinks, rounded so that ties are common."""
    if kinks:
        return rng.integers(-2, 3, shape).astype(np.float64)
    size = int(np.prod(shape))
    return (rng.permutation(size) * 0.5 - size / 4 + rng.uniform(-0.1, 0.1, size)).reshape(shape)


def _unary(min_dims: int = 0) -> Draw:
    """One array of a drawn shape (0-d included unless min_dims > 0)."""
    return lambda rng, kinks: [_values(rng, _shape(rng, min_dims), kinks)]


def _positive(rng: np.random.Generator, kinks: bool) -> list[Any]:
    return [_values(rng, _shape(rng), positive=True)]


def _near_bounds(rng: np.random.Generator, kinks: bool) -> list[Any]:
    """Inputs of clip(-1, 1): with kinks, a third sit exactly on the bound 1; else 0.25 away from both."""
    shape = _shape(rng)
    if kinks:
        return [np.where(rng.random(shape) < 1 / 3, 1.0, rng.uniform(-0.5, 0.5, shape))]
    return [rng.choice([-1.6, -0.4, 0.4, 1.6], shape) + rng.uniform(-0.15, 0.15, shape)]


def _binary(rng: np.random.Generator, kinks: bool) -> list[Any]:
    a, b = _broadcast_pair(rng)
    return [_values(rng, a), _values(rng, b)]


def _reduced(rng: np.random.Generator, kinks: bool) -> list[Any]:
    """An array and an axis (int, tuple or None), as keyword-free positional inputs."""
    shape = _shape(rng, min_dims=1)
    axis = [None, int(rng.integers(0, len(shape))), tuple(range(len(shape)))[::2]][rng.integers(0, 3)]
    return [_spread(rng, shape, kinks), axis]


def _image(rng: np.random.Generator, kinks: bool, spread: bool = False) -> list[Any]:
    shape = (int(rng.integers(1, 3)), int(rng.integers(3, 6)), int(rng.integers(3, 6)), int(rng.integers(1, 3)))
    return [_spread(rng, shape, kinks) if spread else _values(rng, shape)]


def _conv(rng: np.random.Generator, kinks: bool) -> list[Any]:
    """Input, kernel, bias, strides, padding, dilation and groups (1 or 2: channels and filters per group)."""
    groups, dilation = (int(n) for n in rng.integers(1, 3, 2))
    (x,) = _image(rng, kinks)
    x = np.concatenate([x] * groups, axis=-1)   # (N, H, W, C * groups)
    kh, kw = (int(k) for k in rng.integers(1, 4 - dilation, 2))   # a dilated window fits in 3 rows
    filters = groups * int(rng.integers(1, 3))
    padding = ["valid", "same", ((1, 0), (0, 1))][rng.integers(0, 3)]
    strides = int(rng.integers(1, 3))
    return [x, _values(rng, (kh, kw, x.shape[-1] // groups, filters)), _values(rng, (filters,)), strides, padding,
            dilation, groups]


def _conv_transpose(rng: np.random.Generator, kinks: bool) -> list[Any]:
    """Input, kernel (kh, kw, filters, C), bias, strides, padding and output_padding (None or below the stride)."""
    (x,) = _image(rng, kinks)
    kh, kw = (int(k) for k in rng.integers(1, 4, 2))
    filters, strides = (int(n) for n in rng.integers(1, 3, 2))
    extra = None if rng.random() < 0.5 else int(rng.integers(0, strides))
    padding = "valid" if extra == 0 else ["valid", "same"][rng.integers(0, 2)]   # 'same', 0: maybe no output
    return [x, _values(rng, (kh, kw, filters, x.shape[-1])), _values(rng, (filters,)), strides, padding, extra]


def _pool(rng: np.random.Generator, kinks: bool) -> list[Any]:
    (x,) = _image(rng, kinks, spread=True)
    size = int(rng.integers(2, 4))
    return [x, size, int(rng.integers(1, size + 1)), ["valid", "same"][rng.integers(0, 2)]]


def _logits(rng: np.random.Generator, kinks: bool) -> list[Any]:
    """Logits of shape (batch, classes) and an integer label per sample."""
    batch, classes = int(rng.integers(1, 5)), int(rng.integers(2, 6))
    return [_values(rng, (batch, classes)), rng.integers(0, classes, batch)]


def _getitem_index(rng: np.random.Generator, n: int) -> Any:
    """A slice (possibly negative step), an int array with repeats, or a boolean mask."""
    kind = rng.integers(0, 3)
    if kind == 0:
        return slice(None, None, -1) if rng.random() < 0.5 else slice(0, n, 2)
    if kind == 1:
        return rng.integers(0, n, size=n + 1)
    return rng.random(n) < 0.6


def _movement(make: Callable[[np.random.Generator, np.ndarray], Any]) -> Draw:
    def draw(rng: np.random.Generator, kinks: bool) -> list[Any]:
        x = _values(rng, _shape(rng, min_dims=2))
        return [x, make(rng, x)]
    return draw


def _pair_along_axis(rng: np.random.Generator, kinks: bool) -> list[Any]:
    shape = _shape(rng, min_dims=1)
    other = list(shape)
    other[0] = int(rng.integers(1, 4))
    return [_values(rng, shape), _values(rng, tuple(other))]


def _same_shape_pair(rng: np.random.Generator, kinks: bool) -> list[Any]:
    shape = _shape(rng)
    return [_values(rng, shape), _values(rng, shape)]


def _tied_pair(rng: np.random.Generator, kinks: bool) -> list[Any]:
    """Two arrays of one shape; with kinks, about half of the entries are equal."""
    a, b = _same_shape_pair(rng, False)
    return [a, np.where(rng.random(a.shape) < 0.5, a, b) if kinks else b + np.sign(b - a) * 0.3]


def _matmul(rng: np.random.Generator, kinks: bool) -> list[Any]:
    m, k, n = (int(s) for s in rng.integers(1, 5, 3))
    batch = _shape(rng, max_dims=2, max_side=3)
    return [_values(rng, (*batch, m, k)), _values(rng, (k, n))]


CATALOG: list[CatalogOp] = [
    CatalogOp("add", lambda a, b: a + b, _binary),
    CatalogOp("sub", lambda a, b: a - b, _binary),
    CatalogOp("mul", lambda a, b: a * b, _binary),
    CatalogOp("div", lambda a, b: a / b, _binary),
    CatalogOp("pow", lambda a, b: a ** b, lambda rng, kinks: [_values(rng, (3, 2), positive=True, low=0.5),
                                                             _values(rng, (2,))]),
    CatalogOp("neg", lambda a: -a, _unary()),
    CatalogOp("exp", Tensor.exp, _unary()),
    CatalogOp("log", Tensor.log, _positive),
    CatalogOp("sqrt", Tensor.sqrt, _positive),
    CatalogOp("tanh", Tensor.tanh, _unary()),
    CatalogOp("sigmoid", Tensor.sigmoid, _unary()),
    CatalogOp("relu", Tensor.relu, _unary(), has_kinks=True),
    CatalogOp("leaky_relu", lambda a: a.leaky_relu(0.1), _unary(), has_kinks=True),
    CatalogOp("elu", lambda a: elu(a, 0.5), _unary(), has_kinks=True),   # alpha != 1: the slope jumps at 0
    CatalogOp("gelu", gelu, _unary()),                                    # x * Phi(x): the NormalCDF primitive
    CatalogOp("relu6", lambda a: relu6(a * 2.0), _unary(), has_kinks=True),   # its cap (6) out of reach
    CatalogOp("hard_silu", lambda a: hard_silu(a * 1.2), _unary()),   # inside (-3, 3), where it is smooth
    CatalogOp("softplus", softplus, _unary()),
    CatalogOp("abs", Tensor.abs, _unary(), has_kinks=True),
    CatalogOp("clip", lambda a: a.clip(-1.0, 1.0), _near_bounds, has_kinks=True),
    CatalogOp("maximum", maximum, _tied_pair, has_kinks=True),
    CatalogOp("minimum", minimum, _tied_pair, has_kinks=True),
    CatalogOp("where", lambda a, b, c: where(c, a, b),
              lambda rng, kinks: [*_same_shape_pair(rng, kinks), rng.random(_shape(rng, 0, 0)) < 0.5]),
    CatalogOp("sum", lambda a, axis: a.sum(axis), _reduced),
    CatalogOp("mean", lambda a, axis: a.mean(axis, keepdims=True), _reduced),
    CatalogOp("var", lambda a, axis: a.var(axis), _reduced),
    CatalogOp("max", lambda a, axis: a.max(axis), _reduced, has_kinks=True),
    CatalogOp("min", lambda a, axis: a.min(axis, keepdims=True), _reduced, has_kinks=True),
    CatalogOp("logsumexp", lambda a, axis: a.logsumexp(axis), _reduced),
    CatalogOp("softmax", lambda a: a.softmax(-1), _unary(min_dims=1)),
    CatalogOp("log_softmax", lambda a: a.log_softmax(0), _unary(min_dims=1)),
    CatalogOp("reshape", lambda a, shape: a.reshape(shape), _movement(lambda rng, x: (-1, x.shape[-1]))),
    CatalogOp("transpose", lambda a, axes: a.transpose(axes),
              _movement(lambda rng, x: tuple(int(i) for i in rng.permutation(x.ndim)))),
    CatalogOp("flatten", lambda a: a.flatten(), _unary()),
    CatalogOp("clone", Tensor.clone, _unary()),
    CatalogOp("unsqueeze_squeeze", lambda a: a.unsqueeze(0).squeeze(), _unary()),
    CatalogOp("broadcast_to", lambda a, shape: a.broadcast_to(shape), _movement(lambda rng, x: (2, *x.shape))),
    CatalogOp("pad", lambda a, width: a.pad(width, 0.5),
              _movement(lambda rng, x: tuple((int(rng.integers(0, 2)), int(rng.integers(0, 2))) for _ in x.shape))),
    CatalogOp("getitem", lambda a, index: a[index], _movement(lambda rng, x: _getitem_index(rng, x.shape[0]))),
    CatalogOp("concatenate", lambda a, b: concatenate([a, b], axis=0), _pair_along_axis),
    CatalogOp("stack", lambda a, b: stack([a, b], axis=-1), _same_shape_pair),
    CatalogOp("matmul", lambda a, b: a @ b, _matmul),
    CatalogOp("conv2d", lambda x, w, b, s, p, d, g: conv2d(x, w, b, strides=s, padding=p, dilation_rate=d, groups=g),
              _conv),
    CatalogOp("conv2d_transpose", lambda x, w, b, s, p, e: conv2d_transpose(x, w, b, strides=s, padding=p,
                                                                               output_padding=e), _conv_transpose),
    CatalogOp("max_pool2d", lambda x, size, s, p: max_pool2d(x, size, s, p), _pool, has_kinks=True),
    CatalogOp("avg_pool2d", lambda x, size, s, p: avg_pool2d(x, size, s, p), _pool),
    CatalogOp("sparse_crossentropy", lambda z, labels: sparse_categorical_crossentropy(labels, z, from_logits=True),
              _logits),
]


def find(name: str) -> CatalogOp:
    """The catalog entry called `name`, or a ValueError listing the names."""
    for op in CATALOG:
        if op.name == name:
            return op
    raise ValueError(f"no built-in op called {name!r}; choose one of: {', '.join(op.name for op in CATALOG)}")
