"""Which ops a drawing shows on their own: layers collapsed into one node, ops beyond the budget folded."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..arguments import is_int
from ..function import Function
from ..mode import Scope


def _scopes(ops: Sequence[Function]) -> dict[int, Scope]:
    """Every scope the ops ran in, with its enclosing scopes, by id."""
    scopes: dict[int, Scope] = {}
    for op in ops:
        scope = op.scope
        while scope is not None and id(scope) not in scopes:
            scopes[id(scope)] = scope
            scope = scope.parent
    return scopes


def _chosen(scopes: dict[int, Scope], collapse: Any) -> set[int]:
    """The ids of the scopes `collapse` names: True means every innermost layer."""
    if collapse is True:
        enclosing = {id(scope.parent) for scope in scopes.values() if scope.parent is not None}
        return set(scopes) - enclosing
    names = [collapse] if isinstance(collapse, str) else collapse
    if not isinstance(names, (list, tuple, set, frozenset)) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"collapse must be True, None or a list of layer names, got {type(collapse).__name__} "
                        f"{collapse!r:.60}; e.g. collapse=['conv2d', 'dense']")
    chosen = {key for key, scope in scopes.items() if scope.name in names or scope.path in names}
    known = {scope.name for scope in scopes.values()} | {scope.path for scope in scopes.values()}
    missing = [name for name in names if name not in known]
    if missing:
        layers = ", ".join(sorted({scope.path for scope in scopes.values()})) or "none (no op ran inside a layer)"
        raise ValueError(f"collapse: no layer named {', '.join(map(repr, missing))} in this graph; "
                         f"its layers are: {layers}")
    return chosen


def collapsed_layers(ops: Sequence[Function], collapse: Any) -> dict[int, Scope]:
    """id(op) -> the collapsed layer it belongs to (the outermost one that `collapse` names)."""
    if collapse is None or collapse is False:
        return {}
    chosen = _chosen(_scopes(ops), collapse)
    groups = {}
    for op in ops:
        outermost, scope = None, op.scope
        while scope is not None:
            if id(scope) in chosen:
                outermost = scope
            scope = scope.parent
        if outermost is not None:
            groups[id(op)] = outermost
    return groups


def check_max_nodes(max_nodes: Any) -> int | None:
    """A positive int (NumPy's too) or None (no limit)."""
    if max_nodes is None:
        return None
    if not is_int(max_nodes):
        raise TypeError(f"max_nodes must be a positive int or None (no limit), got {type(max_nodes).__name__} "
                        f"{max_nodes!r:.40}")
    if max_nodes < 1:
        raise ValueError(f"max_nodes must be a positive int or None (no limit), got {max_nodes}")
    return int(max_nodes)


def within_budget(ops: Sequence[Function], groups: dict[int, Scope], max_nodes: int | None) -> set[int]:
    """The ids of the ops drawn: the first `max_nodes` nodes from the outputs (a layer counts once)."""
    if max_nodes is None:
        return {id(op) for op in ops}
    kept: set[int] = set()
    drawn = set()
    for op in ops:
        key = id(groups.get(id(op), op))
        if key not in kept:
            if len(kept) >= max_nodes:
                continue
            kept.add(key)
        drawn.add(id(op))
    return drawn
