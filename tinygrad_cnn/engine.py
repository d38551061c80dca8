"""Reverse-mode autodiff: one iterative topological sort, one backward walk, one unbroadcast."""
from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .anomaly import blamed_on, check_accumulation, checked_backward
from .function import Function, _released_message
from .mode import MODE, set_grad_enabled
from .tensor import Tensor


def toposort(roots: Iterable[Function]) -> list[Function]:
    """Every Function reachable from `roots`, each listed before the Functions that feed it.

    Iterative and allocation-light (Kahn's algorithm): first count each node's consumers, then
    emit a node once all of its consumers have been emitted. No recursion limit, and no per-node
    objects that would make Python's cyclic GC scan a large graph over and over.
    """
    consumers: dict[Function, int] = dict.fromkeys(roots, 0)  # every node found so far -> its consumers
    stack = list(consumers)
    while stack:
        for parent in stack.pop().parents:
            if parent is not None and isinstance(parent, Function):
                if parent in consumers:
                    consumers[parent] += 1
                else:
                    consumers[parent] = 1
                    stack.append(parent)
    order: list[Function] = []
    ready = [node for node, count in consumers.items() if not count]  # roots no other root consumes
    while ready:
        node = ready.pop()
        order.append(node)
        for parent in node.parents:
            if parent is not None and isinstance(parent, Function):
                remaining = consumers[parent] - 1
                consumers[parent] = remaining
                if not remaining:
                    ready.append(parent)
    return order


def unbroadcast(grad: Any, shape: tuple[int, ...], node: Function, index: int) -> Any:
    """Sum `grad` over the axes that broadcasting expanded, so that it has `shape`."""
    extra = grad.ndim - len(shape)
    fits = extra >= 0 and all(n == 1 or n == m for n, m in zip(shape, grad.shape[extra:]))
    if not fits:
        raise RuntimeError(
            f"backward of {node.name} returned a gradient of shape {grad.shape} for input {index}, "
            f"whose shape is {shape}; the gradient must have the input's shape, or the shape broadcasting made of "
            "it (leading axes added, size-1 axes stretched), which the engine sums back"
        )
    # leading axes added by broadcasting, then axes of size 1 that were stretched
    axes = tuple(range(extra)) + tuple(
        extra + i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1
    )
    if MODE.plain_backward:
        return Tensor._make(grad.data.sum(axis=axes).reshape(shape), None)
    return grad.sum(axis=axes).reshape(shape)   # recorded under create_graph, so that it is differentiated too


def conform(grad: Any, shape: tuple[int, ...], dtype: np.dtype, node: Function, index: int) -> Any:
    """`grad` summed over the axes broadcasting expanded and cast, to the shape and dtype of `node`'s input."""
    if grad.data.dtype.kind not in "biuf":   # text, objects or complex numbers from a custom backward
        raise TypeError(f"backward of {node.name} returned a gradient of dtype {grad.data.dtype} for input {index}: "
                        f"{str(grad.data)[:40]}; a gradient must be a Tensor, an array of real numbers, a number "
                        "or None")
    if grad.data.shape != shape:
        grad = unbroadcast(grad, shape, node, index)
    return grad if grad.data.dtype == dtype else grad.astype(dtype)


def run_backward(
    roots: Sequence[Any],
    root_grads: Sequence[Any],
    retain_graph: bool,
    create_graph: bool,
    inputs: Sequence[Any] | None = None,
    accumulate: bool = False,
) -> list[Any] | None:
    """Propagate `root_grads` from the output tensors `roots` back through the graph.

    Without `inputs`, leaf gradients accumulate into `.grad`; with `inputs`, the gradients
    of those tensors are returned instead and no other `.grad` is touched (with `accumulate`,
    they go into the inputs' own `.grad`, as backward(inputs=...) does, and None is returned).
    """
    grads: dict[Function, Any] = {}  # node -> gradient of its output, summed over its consumers
    captured: dict[int, Any] = {}    # id(leaf or node) -> gradient, when `inputs` are given
    hooked: dict[Tensor, Any] = {}   # leaf with hooks -> its gradient, summed over the walk (hooks see the whole)
    wanted = None if inputs is None else {id(t._ctx or t) for t in inputs}
    given = {id(g.data) for g in root_grads}   # arrays that a .grad took as they were, and the caller's seeds

    def add(previous: Any, grad: Any, target: Any, node: Function | None, index: int) -> Any:
        if previous is None:
            return grad
        if MODE.anomaly:  # two finite gradients can sum to Inf
            check_accumulation(previous, grad, target, node, index)
        # first order: plain array addition (nothing to record); create_graph: a recorded Add
        return previous + grad if create_graph else Tensor._make(previous.data + grad.data, None)

    def keep(target: Tensor, grad: Any, node: Function | None, index: int) -> None:
        """Accumulate `grad` into `target.grad`. A first gradient gets memory of its own unless nothing else holds
        it (not a read-only broadcast, a view, another .grad's array or the caller's seed), as PyTorch's
        AccumulateGrad: changing one .grad in place (zero_, *=) must not change another."""
        if target._grad is not None:
            target.grad = add(target._grad, grad, target, node, index)
            return
        data = grad.data
        if not data.flags.writeable or data.base is not None or id(data) in given:
            grad = grad.clone() if create_graph else Tensor._make(data.copy(), None)
        given.add(id(grad.data))
        target.grad = grad

    def deliver(target: Any, grad: Any, node: Function | None = None, index: int = 0) -> None:
        """Add `grad` (from `node`'s backward, for its input `index`) to the gradient of `target`."""
        if isinstance(target, Function):
            grads[target] = add(grads.get(target), grad, target, node, index)
        elif target._hooks is not None:   # a leaf with hooks: delivered after the walk, through them
            hooked[target] = add(hooked.get(target), grad, target, node, index)
            return
        elif wanted is None:  # a leaf
            keep(target, grad, node, index)
        if wanted is not None and id(target) in wanted:
            captured[id(target)] = add(captured.get(id(target)), grad, target, node, index)

    def through_hooks(node: Function, grad: Any) -> Any:
        """The gradient of `node`'s output after its tensor's hooks (which, as in PyTorch, tc.grad's result for
        that tensor does not see: it was captured as delivered); kept in .grad if retain_grad asked."""
        grad = node._hooks.run(grad)
        retained = node._hooks.retained and node._hooks.retained()
        if retained is not None:   # kept last, after every hook, as in PyTorch
            keep(retained, grad, node, 0)
        return grad

    with set_grad_enabled(create_graph):
        for root, grad in zip(roots, root_grads):
            deliver(root._ctx or root, grad)
        for node in toposort(root._ctx for root in roots if root._ctx is not None):
            grad = grads.pop(node, None)
            if grad is None:
                continue
            if node.released:
                raise RuntimeError(_released_message(node))
            if node._hooks is not None:
                grad = through_hooks(node, grad)
            input_grads = checked_backward(node, grad) if MODE.anomaly else type(node).backward(node, grad)
            if type(input_grads) is not tuple:
                input_grads = tuple(input_grads) if type(input_grads) is list else (input_grads,)
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
                if isinstance(parent, Function):
                    shape, dtype = parent.out_shape, parent.out_dtype
                else:  # a leaf tensor
                    shape, dtype = parent.data.shape, parent.data.dtype
                data = input_grad.data
                if data.shape != shape or (data.dtype is not dtype and data.dtype != dtype):
                    with (blamed_on(node, grad, f"the engine's sum or cast of its gradient for input {index} to "
                                    f"shape {shape} {dtype}") if MODE.anomaly else contextlib.nullcontext()):
                        input_grad = conform(input_grad, shape, dtype, node, index)
                deliver(parent, input_grad, node, index)
            if not retain_graph:
                node.release()
        for leaf, grad in hooked.items():
            if wanted is None or id(leaf) in wanted:
                captured[id(leaf)] = grad = leaf._hooks.run(grad)
                if wanted is None:
                    keep(leaf, grad, None, 0)
        if inputs is not None and accumulate:
            for t in inputs:
                if id(t._ctx or t) in captured:
                    keep(t, captured[id(t._ctx or t)], None, 0)
    if inputs is None or accumulate:
        return None
    return [captured.get(id(t._ctx or t)) for t in inputs]
