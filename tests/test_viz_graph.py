"""draw_graph: the DOT structure of known graphs (nodes, edges, labels, clusters, colours, collapse, budget)."""
from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn.layers import Conv2D, Dense, Flatten, MaxPooling2D
from tinygrad_cnn.viz.labels import COLOURS

NODE = re.compile(r'^\s*(\w+) \[label=(".*?(?<!\\)"|<.*>|[^ \]]+)(.*)\]$')
EDGE = re.compile(r"^\s*(\w+) -> (\w+)")


def dot_nodes(graph) -> dict[str, tuple[str, str]]:
    """Node name -> (label, other attributes) in a graph's DOT source, without the legend."""
    nodes = {}
    for line in graph.source.splitlines():
        match = NODE.match(line)
        if match and match.group(1) != "legend":
            nodes[match.group(1)] = (match.group(2).strip('"').replace("\\n", "\n"), match.group(3))
    return nodes


def dot_edges(graph) -> list[tuple[str, str]]:
    return [m.groups() for m in map(EDGE.match, graph.source.splitlines()) if m]


def fill(attributes: str) -> str:
    return re.search(r'fillcolor="(#\w+)"', attributes).group(1)


def by_label(nodes: dict[str, tuple[str, str]], first_line: str) -> list[str]:
    return [name for name, (label, _) in nodes.items() if label.split("\n")[0] == first_line]


def small_graph():
    x = tc.randn(4, 3, requires_grad=True)
    w = tc.Tensor(np.linspace(-1, 1, 3, dtype=np.float32), requires_grad=True, name="w")
    loss = ((x * w) + 1.5).relu().sum(axis=1)
    return x, w, loss


def test_known_graph_nodes_edges_labels_and_colours():
    x, w, loss = small_graph()
    graph = tc.draw_graph(loss)
    assert isinstance(graph, __import__("graphviz").Digraph)
    nodes, edges = dot_nodes(graph), dot_edges(graph)
    # ops Mul, Add, Relu, Sum; leaves x, w; the constant 1.5; the output
    assert len(nodes) == 8 and len(edges) == 7
    (mul,), (add,), (relu,), (total,) = (by_label(nodes, op) for op in ("Mul", "Add", "Relu", "Sum"))
    (leaf_w,), (leaf_x,), (constant,), (output,) = (by_label(nodes, t) for t in ("w", "input", "1.5", "output"))
    assert set(edges) == {(leaf_x, mul), (leaf_w, mul), (mul, add), (constant, add), (add, relu), (relu, total),
                          (total, output)}
    assert nodes[total][0] == "Sum\naxis=(1,)\nkeepdims=False\n(4,) float32"
    assert nodes[leaf_w][0] == "w\n(3,) float32" and nodes[mul][0] == "Mul\n(4, 3) float32"
    roles = {mul: "op", leaf_w: "parameter", leaf_x: "input", constant: "constant", output: "output"}
    for name, role in roles.items():
        assert fill(nodes[name][1]) == COLOURS[role], (name, role)
    legend = next(line for line in graph.source.splitlines() if line.lstrip().startswith("legend"))
    for word in ("operation", "parameter", "input (requires grad)", "constant (no grad)", "output"):
        assert word in legend
    assert "collapsed layer" not in legend


def test_show_options_choose_the_label_lines():
    _, _, loss = small_graph()
    nodes = dot_nodes(tc.draw_graph(loss, show=("shape",)))
    assert nodes[by_label(nodes, "Sum")[0]][0] == "Sum\n(4,)"
    nodes = dot_nodes(tc.draw_graph(loss, show="dtype"))
    assert nodes[by_label(nodes, "Sum")[0]][0] == "Sum\nfloat32"
    nodes = dot_nodes(tc.draw_graph(loss, show=()))
    assert nodes[by_label(nodes, "Sum")[0]][0] == "Sum"


def test_params_dict_names_leaves_and_marks_them_parameters():
    x, w, loss = small_graph()
    nodes = dot_nodes(tc.draw_graph(loss, params={"inputs/x": x, "scale": w}))
    (name,) = by_label(nodes, "inputs/x")
    assert fill(nodes[name][1]) == COLOURS["parameter"] and by_label(nodes, "scale") and not by_label(nodes, "w")


def test_constants_show_numbers_shapes_and_names():
    x = tc.randn(2, 3, requires_grad=True)
    frozen = tc.Tensor(np.ones(3, np.float32), name="bn/moving_mean")
    out = (x * 2 + tc.ones(2, 3) - frozen).sum()
    nodes = dot_nodes(tc.draw_graph(out))
    labels = {label for label, _ in nodes.values()}
    assert {"2", "constant\n(2, 3) float32", "bn/moving_mean\n(3,) float32"} <= labels
    nodes = dot_nodes(tc.draw_graph(out, direction="backward"))
    assert not any(fill(attributes) == COLOURS["constant"] for _, attributes in nodes.values())


def test_backward_view_names_backward_functions_and_reverses_edges():
    x, w, loss = small_graph()
    forward, backward = tc.draw_graph(loss), tc.draw_graph(loss, direction="backward")
    nodes = dot_nodes(backward)
    assert sorted(label.split("\n")[0] for label, _ in nodes.values() if "Backward" in label) == [
        "AddBackward", "MulBackward", "ReluBackward", "SumBackward"]
    # the same edges without the constant's, each reversed: gradients flow from the output to the leaves
    constant = by_label(dot_nodes(forward), "1.5")[0]
    assert set(dot_edges(backward)) == {(t, s) for s, t in dot_edges(forward) if s != constant}


def test_grad_value_and_bytes_on_nodes():
    x, w, loss = small_graph()
    nodes = dot_nodes(tc.draw_graph(loss, show=("shape", "bytes", "value")))
    # Mul keeps both inputs for backward: x (4x3 float32, 48 bytes) and w (3 floats, 12 bytes)
    assert "saved 60 B" in nodes[by_label(nodes, "Mul")[0]][0]
    out = nodes[by_label(nodes, "output")[0]][0]
    data = loss.data
    assert f"min {data.min():.3g} mean {data.mean():.3g} max {data.max():.3g}" in out
    upstream = np.random.default_rng(0).standard_normal(4).astype(np.float32)
    loss.backward(upstream)
    nodes = dot_nodes(tc.draw_graph(loss, show=("grad", "bytes")))
    label = nodes[by_label(nodes, "w")[0]][0]
    g = w.grad.data
    assert f"grad norm {np.linalg.norm(g):.3g} [{g.min():.3g}, {g.max():.3g}]" in label
    assert "saved: released" in nodes[by_label(nodes, "Mul")[0]][0]


def test_nan_and_inf_are_drawn_red():
    x = tc.Tensor([1.0, -1.0, 0.0], requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = x.log() * 1.0  # log(-1) = NaN, log(0) = -Inf
    nodes = dot_nodes(tc.draw_graph(out))
    assert fill(nodes[by_label(nodes, "output")[0]][1]) == COLOURS["nonfinite"]
    assert fill(nodes[by_label(nodes, "Log")[0]][1]) == COLOURS["nonfinite"]  # alive: Mul saved it
    assert fill(nodes[by_label(nodes, "input")[0]][1]) == COLOURS["input"]
    x.grad = tc.Tensor([np.inf, 0.0, 0.0])
    nodes = dot_nodes(tc.draw_graph(out, show=("shape", "grad")))
    assert fill(nodes[by_label(nodes, "input")[0]][1]) == COLOURS["nonfinite"]
    assert "1 Inf" in nodes[by_label(nodes, "input")[0]][0]


def clusters(graph) -> list[tuple[int, str]]:
    """(nesting depth, label) of each cluster, in DOT order."""
    found = []
    for line in graph.source.splitlines():
        if "subgraph cluster_" in line:
            found.append([len(line) - len(line.lstrip("\t")), None])
        elif found and found[-1][1] is None and "label=" in line:
            found[-1][1] = re.search(r'label="([^"]*)"', line).group(1)
    return [(depth, label) for depth, label in found]


def test_scopes_become_nested_clusters_holding_their_ops():
    x = tc.randn(2, 3, requires_grad=True)
    with tc.mode.scope("block", "Residual"):
        with tc.mode.scope("inner", "Dense"):
            y = x.tanh()
        z = x + y
    out = z.sum()
    graph = tc.draw_graph(out)
    assert clusters(graph) == [(1, "block (Residual)"), (2, "inner (Dense)")]
    body = graph.source.split("subgraph")[2]  # the inner cluster
    assert "Tanh" in body and "Add" not in body and "Sum" not in graph.source.split("subgraph")[1]
    assert "subgraph" not in tc.draw_graph(out, cluster=False).source


def cnn():
    tc.clear_session()
    tc.manual_seed(0)
    model = tc.Sequential([tc.Input((12, 12, 1)), Conv2D(4, 3, activation="relu"), MaxPooling2D(2), Flatten(),
                           Dense(3)])
    return model, model(tc.randn(2, 12, 12, 1))


def test_one_cluster_per_layer_labelled_name_and_class():
    _, out = cnn()
    graph = tc.draw_graph(out)
    assert clusters(graph) == [(1, "sequential (Sequential)"), (2, "conv2d (Conv2D)"),
                               (2, "max_pooling2d (MaxPooling2D)"), (2, "flatten (Flatten)"), (2, "dense (Dense)")]
    nodes = dot_nodes(graph)
    assert {"conv2d/kernel", "conv2d/bias", "dense/kernel", "dense/bias"} <= {
        label.split("\n")[0] for label, attributes in nodes.values() if fill(attributes) == COLOURS["parameter"]}
    conv = nodes[by_label(nodes, "Conv")[0]][0]
    assert "kernel=(3, 3)" in conv and "strides=(1, 1)" in conv and "(2, 10, 10, 4) float32" in conv


def test_collapse_draws_layers_as_nodes_with_input_and_output_shapes():
    _, out = cnn()
    nodes = dot_nodes(tc.draw_graph(out, collapse=True))
    layers = {label.split("\n")[0]: label for label, a in nodes.values() if fill(a) == COLOURS["layer"]}
    assert list(layers) == ["conv2d (Conv2D)", "max_pooling2d (MaxPooling2D)", "flatten (Flatten)", "dense (Dense)"]
    assert "in (2, 12, 12, 1) float32" in layers["conv2d (Conv2D)"]
    assert "out (2, 10, 10, 4) float32" in layers["conv2d (Conv2D)"]
    assert "40 parameters: kernel, bias" in layers["conv2d (Conv2D)"]  # 3*3*1*4 + 4
    assert "in (2, 100) float32\nout (2, 3) float32" in layers["dense (Dense)"]
    # the four layers, the input image (a constant) and the output: nothing else
    assert len(nodes) == 6 and len(dot_edges(tc.draw_graph(out, collapse=True))) == 5
    only_conv = dot_nodes(tc.draw_graph(out, collapse=["conv2d"]))
    assert len([1 for _, a in only_conv.values() if fill(a) == COLOURS["layer"]]) == 1
    assert by_label(only_conv, "MatMul")
    whole = dot_nodes(tc.draw_graph(out, collapse=["sequential"]))
    assert [label.split("\n")[0] for label, a in whole.values() if fill(a) == COLOURS["layer"]] == [
        "sequential (Sequential)"]


def test_collapse_errors_name_the_layers():
    _, out = cnn()
    with pytest.raises(ValueError, match=r"no layer named 'conv3'.*conv2d.*dense"):
        tc.draw_graph(out, collapse=["conv3"])
    with pytest.raises(TypeError, match="collapse must be True, None or a list of layer names"):
        tc.draw_graph(out, collapse=3)


def chain(n: int) -> tc.Tensor:
    x = tc.Tensor(np.ones(2, np.float32), requires_grad=True)
    y = x
    for _ in range(n):
        y = y.tanh()
    return y


def test_max_nodes_folds_the_rest_into_a_summary_node():
    out = chain(50)
    nodes = dot_nodes(tc.draw_graph(out, max_nodes=10))
    assert len(by_label(nodes, "Tanh")) == 10 and by_label(nodes, "output")
    (folded,) = [name for name, (label, _) in nodes.items() if label.startswith("... 40 more ops")]
    assert fill(nodes[folded][1]) == COLOURS["folded"]
    assert dot_edges(tc.draw_graph(out, max_nodes=10)).count((folded, "op9")) == 1
    assert not by_label(nodes, "input")  # the leaf feeds only folded ops
    big = dot_nodes(tc.draw_graph(chain(10_000)))
    assert len(by_label(big, "Tanh")) == 500
    assert any(label.startswith("... 9,500 more ops") for label, _ in big.values())


def test_a_chain_of_100000_ops_becomes_dot():
    out = chain(100_000)
    assert "... 99,500 more ops" in tc.draw_graph(out).source
    source = tc.draw_graph(out, max_nodes=None, cluster=False).source
    assert source.count("Tanh") == 100_000 and source.count(" -> ") == 100_001


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["tanh", "exp", "mul", "add_const", "add"]), st.integers(0, 100)),
                min_size=1, max_size=12),
       st.tuples(st.integers(1, 3), st.integers(1, 3)))
def test_random_graphs_draw_every_op_once_with_its_edges(steps, shape):
    """Each step makes one op from earlier tensors; the final sum makes the output depend on all of them."""
    x = tc.randn(*shape, requires_grad=True)
    tensors, edges = [x], 0
    for kind, pick in steps:
        a, b = tensors[pick % len(tensors)], tensors[(pick // 7) % len(tensors)]
        tensors.append({"tanh": a.tanh, "exp": lambda a=a: (a * 0.1).exp(), "mul": lambda a=a, b=b: a * b,
                        "add_const": lambda a=a: a + 2.0, "add": lambda a=a, b=b: a + b}[kind]())
        # edges into the new op(s); exp draws a Mul by the constant 0.1 first; a * a draws one edge
        edges += {"tanh": 1, "exp": 3, "mul": 1 + (a is not b), "add_const": 2, "add": 1 + (a is not b)}[kind]
    total = tensors[0]
    for t in tensors[1:]:
        total = total + t
    ops = sum({"exp": 2}.get(kind, 1) for kind, _ in steps) + len(steps)
    constants = sum(kind in ("exp", "add_const") for kind, _ in steps)
    graph = tc.draw_graph(total, max_nodes=None)
    nodes = dot_nodes(graph)
    assert len(nodes) == ops + constants + 2  # + the input x and the output
    assert len(dot_edges(graph)) == edges + 2 * len(steps) + 1  # + the final sum's and the output's
    op_labels = [label for label, attributes in nodes.values() if fill(attributes) == COLOURS["op"]]
    assert len(op_labels) == ops and all(label.endswith(f"\n{shape} float32") for label in op_labels)


def test_plot_model_runs_the_model_and_saves_the_layer_graph(tmp_path):
    model, _ = cnn()
    graph = model.plot_model(tmp_path / "model.dot")
    assert (tmp_path / "model.dot").read_text() == graph.source
    layers = [label.split("\n")[0] for label, a in dot_nodes(graph).values() if fill(a) == COLOURS["layer"]]
    assert layers == ["conv2d (Conv2D)", "max_pooling2d (MaxPooling2D)", "flatten (Flatten)", "dense (Dense)"]
    assert "in (1, 12, 12, 1)" in graph.source  # a batch of one zero image
    fresh = tc.Sequential([Dense(2)])
    with pytest.raises(ValueError, match="input_shape"):
        tc.viz.plot_model(fresh, None)
    graph = tc.viz.plot_model(fresh, None, input_shape=(5,), show_shapes=False)
    assert "(1, 5)" not in graph.source and "dense" in graph.source
    with pytest.raises(ValueError, match="input_shape must be a tuple of positive ints"):
        tc.viz.plot_model(fresh, None, input_shape=(0, 2))
    open_sizes = tc.Sequential([tc.Input((None, None, 3)), tc.layers.Conv2D(2, 3)])
    with pytest.raises(ValueError, match=r"input shape \(None, None, None, 3\) has sizes left open .* input_shape="):
        tc.viz.plot_model(open_sizes, None)
    assert "in (1, 6, 5, 3)" in tc.viz.plot_model(open_sizes, None, input_shape=(6, 5, 3)).source


def test_plot_model_does_not_train_the_model():
    from tinygrad_cnn.layers import BatchNormalization
    model = tc.Sequential([tc.Input((4,)), Dense(3), BatchNormalization()]).train()
    model(tc.randn(8, 4))  # a training-mode call moves the statistics
    before = [w.data.copy() for w in model.weights]
    graph = tc.viz.plot_model(model, None, input_shape=np.full((2, 4), 5.0, np.float32))
    assert all(np.array_equal(a, w.data) for a, w in zip(before, model.weights))
    assert "batch_normalization (BatchNormalization)" in graph.source and "in (2, 4)" in graph.source


def test_tensor_draw_graph_and_leaf_outputs():
    x, w, loss = small_graph()
    assert loss.draw_graph(show=("shape",)).source == tc.draw_graph(loss, show=("shape",)).source
    nodes = dot_nodes(tc.draw_graph(w))
    assert list(nodes.values())[0][0] == "w\n(3,) float32" and len(nodes) == 1


@pytest.mark.parametrize("call, error, message", [
    (lambda: tc.draw_graph(), TypeError, "at least one output"),
    (lambda: tc.draw_graph(np.ones(3)), TypeError, "output 0 must be a Tensor, got ndarray"),
    (lambda: tc.draw_graph(chain(1), show=("shape", "colour")), ValueError, "unknown option.*colour"),
    (lambda: tc.draw_graph(chain(1), show=3), TypeError, "show must be a tuple"),
    (lambda: tc.draw_graph(chain(1), direction="sideways"), ValueError, "direction must be one of"),
    (lambda: tc.draw_graph(chain(1), rankdir="XY"), ValueError, "rankdir must be one of"),
    (lambda: tc.draw_graph(chain(1), max_nodes=0), ValueError, "max_nodes must be a positive int"),
    (lambda: tc.draw_graph(chain(1), params=[1]), TypeError, "params must be a dict"),
    (lambda: tc.draw_graph(chain(1), params={"a": 1}), TypeError, r"params\['a'\] must be a Tensor"),
])
def test_bad_arguments_are_explained(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_importing_without_the_graphviz_package_keeps_text_graph():
    code = ("import sys; sys.modules['graphviz'] = None\n"
            "import tinygrad_cnn as tc\n"
            "x = tc.randn(2, requires_grad=True)\n"
            "print(tc.viz.text_graph((x * 2).sum()).splitlines()[0])\n"
            "try:\n    tc.draw_graph(x)\nexcept ImportError as e:\n    print(e)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    first, error = result.stdout.splitlines()
    assert first.startswith("output = Sum") and "pip install graphviz" in error
