"""Reverse-mode autodiff: one iterative topological sort, one backward walk, one unbroadcast."""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from . import tensor as _tensor
from .anomaly import check_gradient
from .function import Function, _released_message
from .mode import MODE, set_grad_enabled


def toposort(roots: Iterable[Function]) -> list[Function]:
    """Every Function reachable from `roots`, each listed before the Functions that feed it.

    Iterative depth-first post-order (no recursion limit), reversed: consumers come first.
    """
    order: list[Function] = []
    visited: set[int] = set()
    for root in roots:
        if id(root) in visited:
            continue
        visited.add(id(root))
        stack = [(root, iter(root.parents))]
        while stack:
            node, parents = stack[-1]
            for parent in parents:
                if isinstance(parent, Function) and id(parent) not in visited:
                    visited.add(id(parent))
                    stack.append((parent, iter(parent.parents)))
                    break
            else:
                stack.pop()
                order.append(node)
    order.reverse()
    return order


def unbroadcast(grad: Any, shape: tuple[int, ...], node: Function, index: int) -> Any:
    """Sum `grad` over the axes that broadcasting expanded, so that it has `shape`."""
    extra = grad.ndim - len(shape)
    fits = extra >= 0 and all(n == 1 or n == m for n, m in zip(shape, grad.shape[extra:]))
    if not fits:
        raise RuntimeError(
            f"backward of {node.name} returned a gradient of shape {grad.shape} for input {index}, "
            f"whose shape is {shape}; the gradient must have the input's shape or broadcast to it"
        )
    # leading axes added by broadcasting, then axes of size 1 that were stretched
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1
    )
    return grad.sum(axis=axes).reshape(shape)


def _input_shape(parent: Any) -> tuple[int, ...]:
    return parent.out_shape if isinstance(parent, Function) else parent.shape


def _input_dtype(parent: Any) -> np.dtype:
    return parent.out_dtype if isinstance(parent, Function) else parent.dtype


def run_backward(
    roots: Sequence[Any],
    root_grads: Sequence[Any],
    retain_graph: bool,
    create_graph: bool,
    inputs: Sequence[Any] | None = None,
) -> list[Any] | None:
    """Propagate `root_grads` from the output tensors `roots` back through the graph.

    Without `inputs`, leaf gradients accumulate into `.grad`; with `inputs`, the gradients
    of those tensors are returned instead and no `.grad` is touched.
    """
    Tensor = _tensor.Tensor
    grads: dict[int, Any] = {}   # id(node) -> gradient of the node's output, summed over consumers
    captured: dict[int, Any] = {}  # id(leaf tensor or node) -> gradient, for `inputs`
    wanted = None if inputs is None else {id(t._ctx or t) for t in inputs}

    def deliver(target: Any, grad: Any) -> None:
        key = id(target)
        if isinstance(target, Function):
            grads[key] = grad if key not in grads else grads[key] + grad
        if wanted is None:
            if isinstance(target, Tensor):  # a leaf: accumulate like torch's AccumulateGrad
                target.grad = grad if target.grad is None else target.grad + grad
        elif key in wanted:
            captured[key] = grad if key not in captured else captured[key] + grad

    with set_grad_enabled(create_graph):
        leaf_roots = []
        for root, grad in zip(roots, root_grads):
            if root._ctx is None:
                leaf_roots.append((root, grad))
            else:
                deliver(root._ctx, grad)
        for root, grad in leaf_roots:
            deliver(root, grad)
        for node in toposort(root._ctx for root in roots if root._ctx is not None):
            grad = grads.pop(id(node), None)
            if grad is None:
                continue
            if node.released:
                raise RuntimeError(_released_message(node))
            input_grads = type(node).backward(node, grad)
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            if len(input_grads) != len(node.parents):
                raise RuntimeError(
                    f"backward of {node.name} returned {len(input_grads)} gradients, but the op "
                    f"has {len(node.parents)} inputs (return None for inputs without a gradient)"
                )
            for index, (parent, input_grad) in enumerate(zip(node.parents, input_grads)):
                if parent is None or input_grad is None:
                    continue
                if not isinstance(input_grad, Tensor):
                    input_grad = Tensor._make(np.asarray(input_grad), None)
                shape, dtype = _input_shape(parent), _input_dtype(parent)
                if input_grad.shape != shape:
                    input_grad = unbroadcast(input_grad, shape, node, index)
                if input_grad.dtype != dtype:
                    input_grad = input_grad.astype(dtype)
                if MODE.anomaly:
                    check_gradient(node, index, input_grad.data)
                deliver(parent, input_grad)
            if not retain_graph:
                node.release()
    if inputs is None:
        return None
    return [captured.get(id(t._ctx or t)) for t in inputs]
