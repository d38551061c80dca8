"""Functional autodiff: `grad` (like torch.autograd.grad) and Hessian-vector products."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .arguments import flag
from .engine import run_backward
from .tensor import Tensor, _check_output_grad


def _as_tuple(x: Any) -> tuple[Any, ...]:
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
    materialize_grads: bool = False,
) -> tuple[Tensor | None, ...]:
    """Gradients of `outputs` with respect to `inputs`, returned (not accumulated into .grad); with
    `materialize_grads`, zeros for inputs the outputs do not use (instead of None), as in PyTorch."""
    create_graph, allow_unused = flag(create_graph, "create_graph", "grad"), flag(allow_unused, "allow_unused", "grad")
    materialize_grads = flag(materialize_grads, "materialize_grads", "grad")
    if retain_graph is not None:
        retain_graph = flag(retain_graph, "retain_graph", "grad")
    outputs, inputs = _as_tuple(outputs), _as_tuple(inputs)
    if not outputs:
        raise ValueError("grad() needs at least one output and one input, got no outputs")
    grad_outputs = _as_tuple(grad_outputs) if grad_outputs is not None else (None,) * len(outputs)
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad_outputs has {len(grad_outputs)} entries for {len(outputs)} outputs")
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"input {i} of grad() must be a Tensor, got {type(t).__name__}")
        if not t.requires_grad:
            raise RuntimeError(f"input {i} of grad() does not require grad, so it has no gradient; "
                               "create it with requires_grad=True")
    for i, t in enumerate(outputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"output {i} of grad() must be a Tensor, got {type(t).__name__}")
        if not t.requires_grad:
            raise RuntimeError(f"output {i} of grad() does not require grad: it does not depend on "
                               "any tensor that requires grad (or it was computed under no_grad)")
    seeds = [_check_output_grad(o, g, f"grad_outputs[{i}]") for i, (o, g) in enumerate(zip(outputs, grad_outputs))]
    if not inputs:
        raise ValueError("grad() needs at least one output and one input, got no inputs")
    retain = create_graph if retain_graph is None else retain_graph
    results = run_backward(outputs, seeds, retain, create_graph, inputs=inputs)
    for i, r in enumerate(results):
        if r is None and not (allow_unused or materialize_grads):
            raise RuntimeError(f"input {i} of grad() was not used to compute the outputs; "
                               "pass allow_unused=True to get None for it (or materialize_grads=True for zeros)")
    if materialize_grads:
        results = [Tensor(np.zeros_like(t.data)) if r is None else r for r, t in zip(results, inputs)]
    return tuple(results)


def hvp(fn: Callable[..., Tensor], inputs: Tensor | Sequence[Tensor],
        v: Any) -> tuple[Tensor, Tensor | tuple[Tensor, ...]]:
    """(fn(*inputs), H v): the Hessian of a scalar function times vectors v, by double backward.

    As torch.autograd.functional.hvp: for one input Tensor, v is its vector and H v one Tensor;
    for a sequence of inputs, v and H v are tuples.
    """
    single = isinstance(inputs, Tensor)
    given_as_tuple = isinstance(v, (tuple, list)) and len(v) == 1 and isinstance(v[0], (Tensor, np.ndarray))
    one_vector = single and not given_as_tuple
    inputs = tuple(t.detach().requires_grad_() for t in _as_tuple(inputs))
    v = (v,) if one_vector else _as_tuple(v)   # one input: v is its vector, even given as a list of numbers
    if len(v) != len(inputs):
        raise ValueError(f"hvp needs one vector per input: got {len(v)} vectors for {len(inputs)} inputs")
    vectors = tuple(x if isinstance(x, Tensor) else Tensor(x, dtype=t.dtype) for x, t in zip(v, inputs))
    for i, (vector, t) in enumerate(zip(vectors, inputs)):
        if vector.shape != t.shape:
            raise ValueError(f"hvp: v[{i}] has shape {vector.shape} but input {i} has shape {t.shape}; "
                             "each vector must have its input's shape")
    value = fn(*inputs)
    if not isinstance(value, Tensor) or value.size != 1:
        got = f"shape {value.shape}" if isinstance(value, Tensor) else f"{type(value).__name__} (not a Tensor)"
        raise ValueError(f"hvp needs a function with a single output value, got {got}")
    products = _hessian_times(value, inputs, vectors)
    return value.detach(), products[0] if single else products


def _hessian_times(value: Tensor, inputs: tuple[Tensor, ...], vectors: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """H v for the scalar `value` of `inputs`: d/dx <grad f(x), v> (zero where nothing depends on x)."""
    second: tuple[Tensor | None, ...] = (None,) * len(inputs)   # None: zero (made only where needed)
    if value.requires_grad:       # else a constant function
        first = grad(value, inputs, create_graph=True, allow_unused=True)
        dot = sum(((g * v).sum() for g, v in zip(first, vectors) if g is not None), Tensor(0.0, dtype=value.dtype))
        if dot.requires_grad:     # else a linear function: the gradient is constant
            second = grad(dot, inputs, allow_unused=True)
    return tuple(s if s is not None else Tensor(np.zeros_like(t.data)) for s, t in zip(second, inputs))
