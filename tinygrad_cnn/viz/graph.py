"""`draw_graph`: the recorded graph as a graphviz Digraph, clustered by layer and folded to a node budget."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..arguments import flag
from ..engine import toposort
from ..function import Function
from ..mode import Scope
from ..tensor import Tensor
from .labels import (
    COLOURS,
    check_outputs,
    check_show,
    constant_lines,
    grad_text,
    has_non_finite,
    layer_lines,
    leaf_role,
    legend_html,
    live_outputs,
    op_args_lines,
    saved_text,
    shape_text,
    tensor_names,
    unrecorded_text,
    value_text,
)
from .plan import check_max_nodes, collapsed_layers, within_budget
from .render import ComputationGraph, graphviz, require_graphviz

SHAPES = {"op": "box", "layer": "box3d", "folded": "note", "constant": "ellipse"}
DIRECTIONS = ("forward", "backward")
RANKDIRS = ("TB", "LR", "BT", "RL")


def _label(lines: list[str]) -> str:
    """Lines joined with DOT's centred line break; backslashes and entities (`&amp;`) in user text stay literal."""
    return "\\n".join(_escape(line) for line in lines if line)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("&", "&amp;")  # dot reads `&name;` in any label as a character


def _node_line(name: str, attributes: dict[str, str]) -> str:
    """A DOT node statement. Names are our own identifiers; values are quoted, their DOT escapes kept.

    Written directly rather than through graphviz.Digraph.node, whose checks dominate the time of
    100,000-node graphs.
    """
    values = " ".join(f'{key}="{_quote(value)}"' for key, value in attributes.items())
    return f"\t{name} [{values}]\n"


def _quote(value: str) -> str:
    return value.replace('"', '\\"')


class _Drawing:
    """Nodes, each placed in a layer scope or at top level, and edges, before they become DOT."""

    def __init__(self, backward: bool) -> None:
        self.backward = backward
        self.nodes: list[tuple[Scope | None, str, dict[str, str]]] = []
        self.edges: dict[tuple[str, str], None] = {}  # ordered and without repeats
        self.roles: set[str] = set()

    def node(self, name: str, lines: list[str], role: str, place: Scope | None, nonfinite: bool = False,
             tooltip: str = "", blamed: bool = False) -> None:
        shown = "blamed" if blamed else "nonfinite" if nonfinite else role
        self.roles.add(shown)
        attributes = {"label": _label(lines), "shape": SHAPES.get(role, "ellipse"), "fillcolor": COLOURS[shown]}
        if role == "op":
            attributes["style"] = "rounded,filled"
        elif role == "folded" or role == "constant":
            attributes["style"] = "dashed,filled"
        if tooltip:
            attributes["tooltip"] = _escape(tooltip)
        self.nodes.append((place, name, attributes))

    def edge(self, source: str, target: str) -> None:
        """An edge along the data flow; the backward view reverses it (gradients flow back)."""
        self.edges[(target, source) if self.backward else (source, target)] = None

    def digraph(self, rankdir: str, cluster: bool) -> ComputationGraph:
        graph = ComputationGraph(
            name="computation_graph",
            # nslimit/mclimit bound dot's layout passes: the same picture for small graphs, and 500
            # ops with skip connections take seconds instead of a minute
            graph_attr={"rankdir": rankdir, "fontname": "Helvetica", "fontsize": "11", "nodesep": "0.25",
                        "ranksep": "0.35", "nslimit": "2", "mclimit": "0.5"},
            node_attr={"fontname": "Helvetica", "fontsize": "10", "style": "filled", "height": "0.3"},
            edge_attr={"arrowsize": "0.6", "color": "#555555"},
        )
        members: dict[int, list[tuple[str, dict[str, str]]]] = {}
        scopes: dict[int, Scope] = {}
        for place, name, attributes in self.nodes:
            if not cluster or place is None:
                graph.body.append(_node_line(name, attributes))
                continue
            members.setdefault(id(place), []).append((name, attributes))
            while place is not None and id(place) not in scopes:
                scopes[id(place)] = place
                place = place.parent
        graph.body += _cluster_lines(scopes, members)
        # node names are our own identifiers (op12, t3, layer0): the lines need no quoting
        graph.body += [f"\t{source} -> {target}\n" for source, target in self.edges]
        graph.node("legend", legend_html(self.roles, self.backward), shape="plaintext", style="")
        return graph


def _cluster_lines(scopes: dict[int, Scope], members: dict[int, list[tuple[str, dict[str, str]]]]) -> list[str]:
    """DOT lines of one cluster per scope, nested in its parent's, each with its member nodes.

    Written from an explicit stack, each line once: graphviz.Digraph.subgraph copies a cluster's lines into its
    parent's, which takes minutes for scopes nested thousands deep.
    """
    numbers = {key: number for number, key in enumerate(scopes)}
    children: dict[int | None, list[Scope]] = {}
    for scope in scopes.values():
        children.setdefault(None if scope.parent is None else id(scope.parent), []).append(scope)
    lines: list[str] = []
    stack: list[tuple[Scope | None, int]] = [(scope, 1) for scope in reversed(children.get(None, []))]
    while stack:
        scope, depth = stack.pop()
        if scope is None:  # the end of a cluster
            lines.append("\t" * depth + "}\n")
            continue
        attributes = {"color": "#8c8c8c", "fillcolor": "#f3f3f8" if depth % 2 else "#e6e6f0",
                      "label": _label([scope.label]), "labeljust": "l", "style": "rounded,filled"}
        lines.append("\t" * depth + f"subgraph cluster_{numbers[id(scope)]} {{\n")
        lines.append("\t" * depth + _node_line("graph", attributes))
        lines += ["\t" * depth + _node_line(name, node) for name, node in members.get(id(scope), ())]
        stack.append((None, depth))
        stack += [(child, depth + 1) for child in reversed(children.get(id(scope), []))]
    return lines


class _Layer:
    """What a collapsed layer's node says: the shapes that flow in and out, its ops and parameters."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.inputs: dict[str, None] = {}
        self.outputs: dict[str, None] = {}
        self.ops = 0
        self.params: list[tuple[str, int]] = []  # (name, size) of the weights drawn inside

    def lines(self, show: frozenset[str], layer_names: bool) -> list[str]:
        lines = [self.scope.label if layer_names else self.scope.kind or self.scope.name]
        lines += layer_lines(self.scope.owner, show)
        if "shape" in show or "dtype" in show:
            lines += [f"in {text}" for text in self.inputs] + [f"out {text}" for text in self.outputs]
        lines.append(f"{self.ops} op{'s' if self.ops != 1 else ''}")
        if self.params:
            count = sum(size for _, size in self.params)
            names = [name.removeprefix(f"{self.scope.name}/") for name, _ in self.params]  # a nested layer's: a path
            shown = names if len(names) <= 4 else [*names[:3], f"{len(names) - 3} more"]
            lines.append(f"{count:,} parameters: " + ", ".join(shown))
        return lines


def _op_node(drawing: _Drawing, name: str, op: Function, data: Any, show: frozenset[str], error: str = "") -> None:
    lines = [op.name + ("Backward" if drawing.backward else "")]
    if "op_args" in show:
        lines += op_args_lines(op)
    lines.append(shape_text(op.out_shape, op.out_dtype, show))
    if "value" in show and data is not None:
        lines.append(value_text(data))
    if "bytes" in show:
        lines.append(saved_text(op))
    where = [op.scope.path] if op.scope is not None else []
    if op.site is not None:
        where.append(f"{op.site[0]}:{op.site[1]}")
    if error:  # gradcheck blamed this op
        lines.append(error)
    drawing.node(name, lines, "op", op.scope, has_non_finite(data), tooltip=" at ".join(where), blamed=bool(error))


def _tensor_node(drawing: _Drawing, name: str, tensor: Tensor, title: str, role: str, place: Scope | None,
                 show: frozenset[str]) -> None:
    lines = [title, shape_text(tensor.shape, tensor.dtype, show)]
    if role == "output":
        lines.append(unrecorded_text(tensor))
    if "value" in show:
        lines.append(value_text(tensor.data))
    if "grad" in show and role != "constant" and tensor.is_leaf:  # non-leaf tensors keep no .grad
        lines.append(grad_text(tensor.grad))
    nonfinite = has_non_finite(tensor.data) or (tensor.grad is not None and has_non_finite(tensor.grad.data))
    drawing.node(name, lines, role, place, nonfinite)


def _constant_node(drawing: _Drawing, name: str, meta: Any, target: str, place: Scope | None,
                   layer: _Layer | None, show: frozenset[str]) -> None:
    """A number sits with its op; a named tensor (a frozen weight) in its layer; other arrays outside layers.

    A 0-d unnamed array is a number an op made a tensor (elu's 0 in `where`): it sits with its op too.
    No gradient flows from a constant, so the backward view draws none; a collapsed layer still lists it.
    """
    is_array = isinstance(meta, tuple) and (meta[0] != () or meta[2] is not None)
    if layer is not None and (not is_array or meta[2]):
        if is_array:
            layer.params.append((meta[2], int(np.prod(meta[0]))))
        return  # part of the collapsed layer
    if not drawing.backward:
        drawing.node(name, constant_lines(meta, show), "constant", place if not is_array or meta[2] else None)
        drawing.edge(name, target)
    if layer is not None:
        layer.inputs[shape_text(meta[0], meta[1], show)] = None


def _check_choice(value: Any, argument: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{argument} must be one of {', '.join(map(repr, choices))}, got {value!r:.40}")
    return value


def _blame_of(gradcheck: Any) -> Any:
    """The blame of a failed check, given as `tc.GradcheckError`, its `.report`, or None."""
    report = getattr(gradcheck, "report", gradcheck)  # the error itself is accepted too
    if report is not None and not hasattr(report, "blame"):
        raise TypeError(f"gradcheck must be a failed check's tc.GradcheckError or its .report, "
                        f"got {type(gradcheck).__name__}")
    return getattr(report, "blame", None)


def draw_graph(*outputs: Tensor, params: dict[str, Tensor] | None = None, direction: str = "forward",
               show: Any = ("shape", "dtype", "op_args"), cluster: bool = True, collapse: Any = None,
               max_nodes: int | None = 500, rankdir: str = "TB", gradcheck: Any = None,
               inputs: dict[str, Tensor] | None = None, layer_names: bool = True) -> graphviz.Digraph:
    """Draw the ops that made `outputs` (or, with direction="backward", the functions backward runs).

    `params` and `inputs` ({name: tensor}) name leaves: the first as weights, the second as the data fed in
    (tensors that require grad: the graph keeps only the shape of the others).

    `gradcheck`: a failed check (`tc.GradcheckError` or its `.report`); the op it blames is drawn red
    with its error. `layer_names=False` captions collapsed layers by their class alone (Keras's show_layer_names).
    """
    require_graphviz("draw_graph")
    tensors = check_outputs(outputs, "draw_graph")
    show = check_show(show)
    names = tensor_names(params)
    input_names = tensor_names(inputs, "inputs", 'inputs={"image": x}')
    for name, tensor in (inputs or {}).items():
        if not tensor.requires_grad:  # the graph keeps only the shape of a tensor without grad
            raise ValueError(f"inputs[{name!r}] does not require grad, so the graph did not record it as a tensor "
                             f"to name; create it with requires_grad=True")
    backward = _check_choice(direction, "direction", DIRECTIONS) == "backward"
    rankdir = _check_choice(rankdir, "rankdir", RANKDIRS)
    cluster = flag(cluster, "cluster", "draw_graph")
    layer_names = flag(layer_names, "layer_names", "draw_graph")
    ops = toposort([t._ctx for t in tensors if t._ctx is not None])  # consumers first
    groups = collapsed_layers(ops, collapse)
    max_nodes = check_max_nodes(max_nodes)
    drawn = within_budget(ops, groups, max_nodes)
    builder = _Builder(_Drawing(backward), ops, drawn, groups, names, input_names, show)
    builder.leaf_budget = max_nodes
    builder.named_layers = layer_names
    builder.blame = _blame_of(gradcheck)
    builder.blamed = builder.blame.find_in(tensors) if builder.blame is not None else None
    builder.add_ops(live_outputs([op for op in ops if id(op) in drawn], tensors))
    builder.add_outputs(tensors)
    builder.add_leaves()
    builder.add_layers_and_folded()
    return builder.drawing.digraph(rankdir, cluster)


class _Builder:
    """Places every node and edge of a drawing: ops (or their collapsed layers), outputs, leaves."""

    def __init__(self, drawing: _Drawing, ops: list[Function], drawn: set[int], groups: dict[int, Scope],
                 names: dict[int, str], inputs: dict[int, str], show: frozenset[str]) -> None:
        self.drawing, self.ops, self.drawn, self.groups = drawing, ops, drawn, groups
        self.names, self.inputs, self.show = names, inputs, show
        self.index = {id(op): number for number, op in enumerate(ops) if id(op) in drawn}
        self.layers: dict[str, _Layer] = {}  # node name -> collapsed layer
        self.layer_names: dict[int, str] = {}  # id(scope) -> node name
        self.leaf_uses: dict[int, tuple[Tensor, dict[str, Scope | None]]] = {}  # leaf, {consumer: its place}
        self.blame: Any = None  # a failed gradcheck's blame, drawn red on the op (or layer) it names
        self.blamed: Function | None = None
        self.named_layers = True  # caption collapsed layers `name (Class)`, else by the class alone
        self.leaf_budget: int | None = None  # leaf and constant nodes drawn at most (an op may read thousands)
        self.leaves_drawn = self.leaves_folded = 0

    def node_name(self, op: Function) -> str:
        """The node an op is drawn as: its own, its collapsed layer's, or the folded summary."""
        if id(op) not in self.drawn:
            return "folded"
        group = self.groups.get(id(op))
        if group is None:
            return f"op{self.index[id(op)]}"
        if id(group) not in self.layer_names:
            name = self.layer_names[id(group)] = f"layer{len(self.layers)}"
            self.layers[name] = _Layer(group)
        return self.layer_names[id(group)]

    def add_ops(self, values: dict[int, Any]) -> None:
        """Each drawn op with its edges, producers first (DOT lists nodes in the order they ran)."""
        for op in reversed(self.ops):
            if id(op) not in self.drawn:
                continue
            target = self.node_name(op)
            layer = self.layers.get(target)
            if layer is None:
                error = f"{self.blame.fault}: {self.blame.error}" if op is self.blamed else ""
                _op_node(self.drawing, target, op, values.get(id(op)), self.show, error)
            else:
                layer.ops += 1
            place = op.scope if layer is None else layer.scope.parent
            constants = op.constants
            for position, parent in enumerate(op.parents):
                if isinstance(parent, Function):
                    self._add_op_edge(parent, target, layer)
                elif isinstance(parent, Tensor):
                    self.leaf_uses.setdefault(id(parent), (parent, {}))[1][target] = place
                elif constants[position] is not None:  # None: an argument left out (e.g. no bias)
                    if layer is None and (self.drawing.backward or self._folds_leaf([target])):
                        continue
                    _constant_node(self.drawing, f"c{self.index[id(op)]}_{position}", constants[position], target,
                                   place, layer, self.show)

    def _add_op_edge(self, parent: Function, target: str, layer: _Layer | None) -> None:
        source = self.node_name(parent)
        if source == target:
            return  # inside one collapsed layer
        self.drawing.edge(source, target)
        producer = self.layers.get(source)
        if layer is not None or producer is not None:
            shape = shape_text(parent.out_shape, parent.out_dtype, self.show)
            if layer is not None:
                layer.inputs[shape] = None
            if producer is not None:
                producer.outputs[shape] = None

    def add_outputs(self, tensors: list[Tensor]) -> None:
        for number, output in enumerate(tensors):
            if output._ctx is None:  # a leaf asked for as an output
                self.leaf_uses.setdefault(id(output), (output, {}))
                continue
            source = self.node_name(output._ctx)
            title = self.names.get(id(output)) or output.name or "output"
            _tensor_node(self.drawing, f"out{number}", output, title, "output", None, self.show)
            self.drawing.edge(source, f"out{number}")
            if (producer := self.layers.get(source)) is not None:
                producer.outputs[shape_text(output.shape, output.dtype, self.show)] = None

    def add_leaves(self) -> None:
        """Leaves next to their consumers; a layer's own weight is listed on its collapsed node instead."""
        for number, (leaf, consumers) in enumerate(self.leaf_uses.values()):
            role = leaf_role(leaf, self.names, self.inputs) if consumers else "output"
            layers = [self.layers.get(consumer) for consumer in consumers]
            owners = {id(layer.scope.owner) for layer in layers if layer is not None}
            one_layer = None not in layers and (
                len(layers) == 1 or (len(owners) == 1 and layers[0].scope.owner is not None))
            if role == "parameter" and one_layer:  # a layer's own weight; a shared layer's, on each of its calls
                for layer in layers:
                    layer.params.append((self.names.get(id(leaf)) or leaf.name, leaf.size))
                continue
            if consumers and self._folds_leaf(consumers):
                continue
            places = set(map(id, consumers.values()))  # weights sit in their layer's cluster, inputs outside
            place = next(iter(consumers.values())) if len(places) == 1 and role != "input" else None
            title = (self.inputs.get(id(leaf)) or self.names.get(id(leaf)) or leaf.name
                     or ("output" if role == "output" else role))
            _tensor_node(self.drawing, f"t{number}", leaf, title, role, place, self.show)
            for target in consumers:
                self.drawing.edge(f"t{number}", target)
                if (layer := self.layers.get(target)) is not None:
                    layer.inputs[shape_text(leaf.shape, leaf.dtype, self.show)] = None

    def _folds_leaf(self, targets: Iterable[str]) -> bool:
        """Whether the next leaf or constant is beyond the budget; if so it joins the folded inputs' node."""
        if self.leaf_budget is None or self.leaves_drawn < self.leaf_budget:
            self.leaves_drawn += 1
            return False
        self.leaves_folded += 1
        for target in targets:
            self.drawing.edge("folded_leaves", target)
        return True

    def add_layers_and_folded(self) -> None:
        for name, layer in self.layers.items():
            blamed = self.blamed is not None and self.node_name(self.blamed) == name
            error = [f"{self.blame.op}: {self.blame.fault}: {self.blame.error}"] if blamed else []
            self.drawing.node(name, layer.lines(self.show, self.named_layers) + error, "layer", layer.scope.parent,
                              blamed=blamed)
        if self.leaves_folded:
            count = self.leaves_folded
            self.drawing.node("folded_leaves", [f"... {count:,} more input{'s' if count != 1 else ''}",
                                                "(raise max_nodes to draw them)"], "folded", None)
        folded = [op for op in self.ops if id(op) not in self.drawn]
        if folded:
            layers = len({id(self.groups[id(op)]) for op in folded if id(op) in self.groups})
            ops = sum(id(op) not in self.groups for op in folded)
            counts = [f"{count:,} more {what}{'s' if count != 1 else ''}"
                      for count, what in ((layers, "layer"), (ops, "op")) if count]  # a layer's ops fold with it
            self.drawing.node("folded", ["... " + " and ".join(counts), "(raise max_nodes to draw them)"], "folded",
                              None)
