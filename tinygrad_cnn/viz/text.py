"""`text_graph`: the recorded graph as a plain-text tree, for terminals and machines without graphviz.

Each op is followed by its inputs. Side inputs branch off with `├─`; the input with the longest history
continues the trunk at the same indentation, so a deep chain stays narrow. An op used twice is
printed once, under its last use, tagged `#n`; its other uses refer to it, so a skip connection adds a
line, not a level of indentation.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

from ..engine import toposort
from ..function import Function
from ..tensor import Tensor
from .labels import (
    check_outputs,
    check_show,
    constant_lines,
    grad_text,
    leaf_role,
    live_outputs,
    op_args_lines,
    saved_text,
    shape_text,
    tensor_names,
    unrecorded_text,
    value_text,
)
from .plan import check_max_nodes


def _join(*parts: str) -> str:
    return "  ".join(part for part in parts if part)


def _op_text(op: Function, data: Any, show: frozenset[str], tag: str) -> str:
    args = op_args_lines(op) if "op_args" in show else []
    title = op.name + (f"({', '.join(args)})" if args else "") + tag
    shape = shape_text(op.out_shape, op.out_dtype, show)
    stats = [value_text(data)] if "value" in show and data is not None else []
    if "bytes" in show:
        stats.append(saved_text(op))
    return _join(title + (f" -> {shape}" if shape else ""), f"[{op.scope.path}]" if op.scope else "", *stats)


def _leaf_text(leaf: Tensor, title: str, role: str, show: frozenset[str]) -> str:
    stats = [value_text(leaf.data)] if "value" in show else []
    if "grad" in show and role != "constant":
        stats.append(grad_text(leaf.grad))
    return _join(f"{title}: {shape_text(leaf.shape, leaf.dtype, show)}".rstrip(": "), f"({role})", *stats)


def text_graph(*outputs: Tensor, params: dict[str, Tensor] | None = None,
               show: Any = ("shape", "dtype", "op_args"), max_nodes: int | None = 500) -> str:
    """The graph that made `outputs` as a text tree (needs no graphviz); `max_nodes` ops at most."""
    tensors = check_outputs(outputs, "text_graph")
    show = check_show(show)
    names = tensor_names(params)
    budget = check_max_nodes(max_nodes)
    ops = toposort([t._ctx for t in tensors if t._ctx is not None])  # consumers first
    order = {id(op): number for number, op in enumerate(ops)}
    values = live_outputs(ops, tensors)
    uses = Counter(id(parent) for op in ops for parent in op.parents if isinstance(parent, Function))
    uses.update(id(t._ctx) for t in tensors if t._ctx is not None)
    unprinted = uses.copy()  # the uses of each op whose line is still to come: it is printed under the last
    depth = _depths(ops)

    def tag(op: Function) -> str:
        return f" #{order[id(op)]}" if uses[id(op)] > 1 else ""

    lines: list[str] = []
    printed: set[int] = set()
    ahead: list[tuple[int, int]] = []  # (line, id(op)) of each reference to an op not printed yet
    # work items: (kind, object, prefix of its line, prefix of the lines below it)
    stack: list[tuple[str, Any, str, str]] = []
    for number, output in reversed(list(enumerate(tensors))):
        title = names.get(id(output)) or output.name or ("output" if len(tensors) == 1 else f"output {number}")
        stack.append(("root", output._ctx, f"{title} = ", "") if output._ctx else ("output", output, title, ""))
    while stack:
        kind, item, first, rest = stack.pop()
        if kind == "root":
            unprinted[id(item)] -= 1
            kind = "op" if not unprinted[id(item)] else "reference"
        if kind == "output":
            lines.append(_join(_leaf_text(item, first, "output", show), unrecorded_text(item)))
        elif kind == "leaf":
            title = names.get(id(item)) or item.name or "input"
            lines.append(first + _leaf_text(item, title, leaf_role(item, names, {}), show))
        elif kind == "constant":
            words = constant_lines(item, show)  # [name or "constant", shape] or [number]
            lines.append(first + (words[-1] if words[0] == "constant" else ": ".join(words)) + "  (constant)")
        elif kind == "reference":
            if id(item) not in printed:
                ahead.append((len(lines), id(item)))
            where = "above" if id(item) in printed else "below"
            lines.append(f"{first}{item.name}{tag(item)} (see {where})")
        elif budget is None or len(printed) < budget:
            printed.add(id(item))
            lines.append(first + _op_text(item, values.get(id(item)), show, tag(item)))
            stack.extend(_inputs(item, rest, depth, unprinted))
    if len(printed) < len(ops):
        for line, key in ahead:
            if key not in printed:  # the op it refers to was folded: there is nothing below to see
                lines[line] = lines[line].removesuffix("(see below)") + "(beyond max_nodes)"
        folded = len(ops) - len(printed)
        lines.append(f"... {folded:,} more op{'s' if folded != 1 else ''} (raise max_nodes to show them)")
    return "\n".join(line.replace("\n", "\\n") for line in lines)  # a name's line break would cut the tree


def _depths(ops: list[Function]) -> dict[int, int]:
    """id(op) -> the number of ops on the longest path from the leaves up to and including it."""
    depth: dict[int, int] = {}
    for op in reversed(ops):  # producers first
        depth[id(op)] = 1 + max((depth[id(p)] for p in op.parents if isinstance(p, Function)), default=0)
    return depth


def _inputs(op: Function, rest: str, depth: dict[int, int], unprinted: Counter[int]) -> list[tuple[str, Any, str, str]]:
    """Work items for the inputs of an op just printed, in stack order.

    An input op is printed under its last use (earlier uses refer to it), so a skip connection is a one-line
    reference rather than a copy of the path it skips. Of the inputs printed here, the deepest continues the
    trunk at the same indentation; the others branch off.
    """
    constants = op.constants
    for parent in op.parents:
        if isinstance(parent, Function):
            unprinted[id(parent)] -= 1
    inputs: list[tuple[str, Any]] = []
    placed: set[int] = set()
    for position, parent in enumerate(op.parents):
        if isinstance(parent, Function):
            fresh = not unprinted[id(parent)] and id(parent) not in placed
            placed.add(id(parent))
            inputs.append(("op" if fresh else "reference", parent))
        elif isinstance(parent, Tensor):
            inputs.append(("leaf", parent))
        elif constants[position] is not None:  # None: an argument left out (e.g. no bias)
            inputs.append(("constant", constants[position]))
    fresh = [position for position, (kind, _) in enumerate(inputs) if kind == "op"]
    at = max(fresh, key=lambda position: depth[id(inputs[position][1])], default=None)
    sides = [entry for position, entry in enumerate(inputs) if position != at]
    items: list[tuple[str, Any, str, str]] = [] if at is None else [("op", inputs[at][1], rest, rest)]
    for number, (kind, item) in reversed(list(enumerate(sides))):
        last = at is None and number == len(sides) - 1
        items.append((kind, item, rest + ("└─ " if last else "├─ "), rest + ("   " if last else "│  ")))
    return items
