"""Session 7 audit of graph drawing (issue 5): each test failed before the fix it guards (the deep-scope one only
ran slower: its time grew with the square of the depth)."""
from __future__ import annotations

import contextlib
import re

import numpy as np
import pytest
from test_viz_render import dot, no_dot  # noqa: F401  (fixtures)

import tinygrad_cnn as tc


def residual_chain(steps: int) -> tc.Tensor:
    """tanh(0.5 * previous + an output up to 30 steps back), `steps` times: skip connections everywhere."""
    rng = np.random.default_rng(0)
    tensors = [tc.randn(2, 3, requires_grad=True)]
    for _ in range(steps):
        skipped = tensors[int(rng.integers(max(0, len(tensors) - 30), len(tensors)))]
        tensors.append((tensors[-1] * 0.5 + skipped).tanh())
    return tensors[-1].sum()


def test_text_graph_of_skip_connections_stays_narrow():
    # each skip connection used to open a side branch that copied the path it skips, one level deeper
    # each time: 1,000 steps made lines of ~200 characters (50,000 ops: 359 MB of text)
    out = residual_chain(1000)
    lines = tc.viz.text_graph(out, max_nodes=None, show=("shape",)).splitlines()
    assert max(map(len, lines)) < 40
    assert len(lines) < 6 * 1000
    assert sum(" -> " in line for line in lines) == 3 * 1000 + 1  # every op printed once, in full


def small() -> tc.Tensor:
    x = tc.Tensor(np.ones(3, np.float32), requires_grad=True, name="x")
    return (x * 2).sum()


@pytest.mark.usefixtures("dot")
def test_save_graph_leaves_the_graph_where_it_was(tmp_path, monkeypatch):
    # save_graph rendered the graph itself, which keeps the folder and name it was given: a later
    # graph.render("model") then wrote into the folder of the last save_graph
    monkeypatch.chdir(tmp_path)
    graph = tc.draw_graph(small())
    before = (graph.filename, graph.directory)
    tc.viz.save_graph(graph, tmp_path / "deep" / "folder" / "first.svg")
    assert (graph.filename, graph.directory) == before
    graph.render("model", format="png")
    assert (tmp_path / "model.png").exists() and not (tmp_path / "deep" / "folder" / "model.png").exists()


def test_save_graph_path_errors_name_the_path(tmp_path):
    graph = tc.draw_graph(small())
    with pytest.raises(TypeError, match="save_graph: path must be a file name .* got NoneType"):
        tc.viz.save_graph(graph, None)
    (tmp_path / "pictures.png").mkdir()
    for folder in (tmp_path, tmp_path / "pictures.png"):  # dot used to fail with "Is a directory"
        with pytest.raises(IsADirectoryError, match="is a directory; give a file name in it"):
            tc.viz.save_graph(graph, folder)
    with pytest.raises(ValueError, match="format must be one of"):
        tc.viz.save_graph(graph, tmp_path / "model", format="bmp")


@pytest.mark.usefixtures("dot")
def test_save_graph_format_for_a_name_without_extension(tmp_path):
    written = tc.viz.save_graph(tc.draw_graph(small()), tmp_path / "model", format="png")
    assert written == tmp_path / "model" and written.read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def layer_labels(graph) -> list[str]:
    """The captions of the collapsed layers' nodes, with their lines, in DOT order."""
    return [line.split('label="')[1].split('"')[0].split("\\n") for line in graph.source.splitlines()
            if 'shape="box3d"' in line]


def nested_model() -> tc.Sequential:
    dense = tc.layers.Dense
    inner = tc.Sequential([dense(8, activation="relu", name="inner_a"), dense(4, name="inner_b")], name="inner")
    model = tc.Sequential([tc.Input((6,)), dense(6, activation="tanh", name="first"), inner, dense(2, name="head")],
                          name="outer")
    model.layers[0].trainable = False
    return model


@pytest.mark.usefixtures("dot")
def test_plot_model_takes_every_keras_3_argument(tmp_path):
    # Keras 3: plot_model(model, to_file, show_shapes, show_dtype, show_layer_names, rankdir, expand_nested, dpi,
    # show_layer_activations, show_trainable, splines); all but the first five were refused as unknown
    model = nested_model()
    graph = tc.viz.plot_model(model, to_file=tmp_path / "model.png", show_shapes=True, show_dtype=True,
                              show_layer_names=True, rankdir="LR", expand_nested=True, dpi=50,
                              show_layer_activations=True, show_trainable=True, splines="ortho")
    assert (tmp_path / "model.png").read_bytes().startswith(b"\x89PNG")
    assert graph.graph_attr["dpi"] == "50" and graph.graph_attr["splines"] == "ortho"
    labels = {lines[0]: lines[1:] for lines in layer_labels(graph)}
    assert set(labels) == {"first (Dense)", "inner_a (Dense)", "inner_b (Dense)", "head (Dense)"}
    assert labels["first (Dense)"][:3] == ["activation: tanh", "non-trainable", "in (1, 6) float32"]
    assert labels["inner_a (Dense)"][:2] == ["activation: relu", "trainable"]
    assert 'label="inner (Sequential)"' in graph.source  # the nested model is a cluster around its layers
    plain = tc.viz.plot_model(model, None, show_layer_names=False)
    assert [lines[0] for lines in layer_labels(plain)] == ["Dense", "Sequential", "Dense"]
    for argument, wrong in [("expand_nested", "yes"), ("show_trainable", 1), ("show_layer_activations", None),
                            ("show_layer_names", "no")]:
        with pytest.raises(TypeError, match=f"plot_model: {argument} must be True or False"):
            tc.viz.plot_model(model, None, **{argument: wrong})
    for wrong in (0, -1.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="dpi must be a positive number"):
            tc.viz.plot_model(model, None, dpi=wrong)
    with pytest.raises(TypeError, match="dpi must be a positive number .* got str '200'"):
        tc.viz.plot_model(model, None, dpi="200")
    with pytest.raises(TypeError, match="save_graph: path must be a file name"):
        tc.viz.plot_model(model, 3)
    with pytest.raises(ValueError, match="splines must be one of"):
        tc.viz.plot_model(model, None, splines="wavy")


def test_plot_model_draws_a_nested_model_as_one_node_unless_expanded():
    # Keras's default (expand_nested=False): a nested model is one node, its weights listed by their paths
    labels = layer_labels(tc.viz.plot_model(nested_model(), None))
    assert [lines[0] for lines in labels] == ["first (Dense)", "inner (Sequential)", "head (Dense)"]
    assert labels[1][-1] == "92 parameters: inner_a/kernel, inner_a/bias, inner_b/kernel, inner_b/bias"


@pytest.mark.usefixtures("dot")
def test_plot_model_without_extension_writes_png_as_keras_does(tmp_path):
    tc.viz.plot_model(nested_model(), to_file=tmp_path / "model")
    assert (tmp_path / "model").read_bytes().startswith(b"\x89PNG")


def test_a_shared_layer_lists_its_weights_on_each_call():
    # the weights of a layer called twice were drawn as separate nodes, and listed as inputs ("in (4, 4)")
    shared = tc.layers.Dense(4, name="shared")
    out = shared(shared(tc.randn(5, 4, requires_grad=True)))
    labels = layer_labels(tc.draw_graph(out, collapse=True, show=("shape",)))
    assert labels == [["shared (Dense)", "in (5, 4)", "out (5, 4)", "2 ops", "20 parameters: kernel, bias"]] * 2


def svg_texts(graph) -> list[str]:
    """The text lines of the SVG that dot draws for `graph`."""
    import xml.etree.ElementTree as ET
    root = ET.fromstring(graph.pipe(format="svg"))
    return [element.text for element in root.iter("{http://www.w3.org/2000/svg}text")]


@pytest.mark.parametrize("name", ["R&amp;D", "a&lt;b", "&#65;", "x < y & z > \"w\"", "back\\slash", "ünï✓"])
@pytest.mark.usefixtures("dot")
def test_special_characters_in_names_are_drawn_as_written(name):
    # dot reads `&name;` in any label as one character: a layer named R&amp;D was drawn as "R&D"
    x = tc.Tensor(np.ones(2, np.float32), requires_grad=True, name=name)
    with tc.mode.scope(name, "Block"):
        y = (x * 2).sum()
    for graph in (tc.draw_graph(y), tc.draw_graph(y, collapse=True)):
        texts = svg_texts(graph)
        assert f"{name} (Block)" in texts and (name in texts or f"2 parameters: {name}" in texts)


def test_text_graph_keeps_one_line_per_node_when_a_name_has_a_line_break():
    x = tc.Tensor(np.ones(2, np.float32), requires_grad=True, name="two\nlines")
    lines = tc.viz.text_graph((x * 2).sum(), show=("shape",)).splitlines()
    assert lines[-2] == "├─ two\\nlines: (2,)  (parameter)" and len(lines) == 4


def test_an_output_without_a_recorded_graph_says_so():
    x = tc.Tensor(np.ones(3, np.float32), requires_grad=True)
    with tc.no_grad():
        made = x * 2
    for tensor in (made, tc.Tensor([1.0]) * 2):
        assert "no graph recorded: made under no_grad" in tc.draw_graph(tensor).source
        assert "no graph recorded: made under no_grad" in tc.viz.text_graph(tensor)
    leaf = tc.Tensor(np.ones(3, np.float32), requires_grad=True, name="w")  # a leaf being differentiated: no note
    assert "no graph" not in tc.draw_graph(leaf).source and "no graph" not in tc.viz.text_graph(leaf)


@pytest.mark.usefixtures("no_dot")
def test_cli_graph_writes_dot_source_without_the_dot_program(tmp_path, capsys):
    # --out graph.dot was refused as "not a picture format", though the DOT source is what a user without
    # graphviz's program can get
    from tinygrad_cnn.cli import main
    assert main(["graph", "--collapse", "--out", str(tmp_path / "graph.dot")]) == 0
    assert (tmp_path / "graph.dot").read_text().startswith("digraph computation_graph {")
    assert "wrote" in capsys.readouterr().out
    assert main(["graph", "--out", str(tmp_path / "graph.txt")]) == 2
    assert "or .dot/.gv for the DOT source" in capsys.readouterr().err


def test_scopes_nested_a_thousand_deep_become_nested_clusters():
    # each cluster's lines used to be copied into every enclosing one (graphviz.Digraph.subgraph): 1,000 nested
    # scopes took 0.9 s to draw (now 0.08 s), 3,000 took 48 s (now 0.3 s)
    y = tc.Tensor(np.ones(2, np.float32), requires_grad=True)
    with contextlib.ExitStack() as stack:
        for number in range(1000):
            stack.enter_context(tc.mode.scope(f"level{number}", "Nest"))
            y = y.tanh()
    lines = tc.draw_graph(y, max_nodes=None).source.splitlines()
    opened = [line for line in lines if "subgraph cluster_" in line]
    assert len(opened) == 1000 and opened[-1].startswith("\t" * 1000 + "subgraph")
    assert sum(line.strip() == "}" for line in lines) == 1000 + 1  # each cluster closed, then the graph
    assert 'label="level999 (Nest)"' in lines[lines.index(opened[-1]) + 1]


def test_text_graph_references_point_to_lines_that_are_there():
    # a reference to an op beyond max_nodes said "(see below)" though nothing below printed it
    text = tc.viz.text_graph(residual_chain(300), max_nodes=60, show=("shape",))
    below = re.findall(r"#(\d+) \(see below\)", text)
    assert below and all(f"#{number} -> " in text for number in below)
    assert "(beyond max_nodes)" in text and text.endswith("(raise max_nodes to show them)")


def test_leaves_beyond_the_budget_fold_into_one_node():
    # max_nodes counted only ops: one concatenate of 3,000 leaves drew 3,000 nodes in a row (a PNG 32,766 pixels
    # wide that dot scaled to 27 pixels high)
    leaves = [tc.Tensor(np.ones(2, np.float32), requires_grad=True) for _ in range(3000)]
    out = tc.concatenate(leaves).sum()
    source = tc.draw_graph(out, max_nodes=8).source
    assert source.count(f'fillcolor="{tc.viz.labels.COLOURS["input"]}"') == 8
    assert 'folded_leaves [label="... 2,992 more inputs\\n(raise max_nodes to draw them)"' in source
    assert source.count("folded_leaves -> ") == 1  # one edge to the op that reads them
    assert tc.draw_graph(out, max_nodes=None).source.count("\tt2999 [") == 1
    constants = [tc.Tensor(np.ones(2, np.float32)) for _ in range(3000)]  # arrays without grad: constant nodes
    source = tc.draw_graph(tc.concatenate([leaves[0], *constants]), max_nodes=8).source
    assert source.count(f'fillcolor="{tc.viz.labels.COLOURS["constant"]}"') == 7 + 1  # + the legend's
    assert '"... 2,993 more inputs' in source


def test_an_activation_given_as_a_name_is_shown_by_it():
    class Gelu(tc.layers.Layer):
        def __init__(self, **kwargs) -> None:
            super().__init__(**kwargs)
            self.activation = "gelu"  # a custom layer may keep the name rather than the function

        def call(self, x):
            return x.tanh()

    model = tc.Sequential([tc.Input((3,)), Gelu(name="act")])
    labels = layer_labels(tc.viz.plot_model(model, None, show_layer_activations=True))
    assert labels[0][:2] == ["act (Gelu)", "activation: gelu"]


def test_cli_graph_without_the_graphviz_package_explains_instead_of_a_traceback(monkeypatch, tmp_path, capsys):
    from tinygrad_cnn.cli import main
    monkeypatch.setattr(tc.viz.render, "graphviz", None)  # as when `import graphviz` failed
    assert main(["graph", "--out", str(tmp_path / "graph.svg")]) == 1
    assert "pip install graphviz" in capsys.readouterr().err


def test_backward_view_of_collapsed_layers_still_says_what_came_in():
    # constants are left out of the backward view, and so was the image's shape from the first layer's node
    model = tc.Sequential([tc.Input((4, 4, 1)), tc.layers.Conv2D(2, 3, name="conv"), tc.layers.Flatten(),
                           tc.layers.Dense(2)])
    out = model(np.ones((1, 4, 4, 1), np.float32)).sum()
    forward, backward = (layer_labels(tc.draw_graph(out, collapse=True, show=("shape",), direction=direction))
                         for direction in ("forward", "backward"))
    first = next(lines for lines in backward if lines[0] == "conv (Conv2D)")
    assert "in (1, 4, 4, 1)" in first and sorted(map(tuple, forward)) == sorted(map(tuple, backward))


def test_the_folded_node_counts_collapsed_layers_as_layers():
    # with one node per layer, the summary said "... 300 more ops" for 100 layers beyond the budget
    model = tc.Sequential([tc.Input((2,))] + [tc.layers.Dense(2, activation="relu") for _ in range(120)])
    source = tc.viz.plot_model(model, None, max_nodes=20).source
    assert 'folded [label="... 100 more layers\\n(raise max_nodes to draw them)"' in source
    out = (model(np.ones((1, 2), np.float32)) * 2).sum()
    source = tc.draw_graph(out, collapse=True, max_nodes=1).source  # the Sum drawn; the Mul and every layer folded
    assert 'folded [label="... 120 more layers and 1 more op\\n' in source


def test_cli_graph_to_a_place_that_cannot_be_written_explains_instead_of_a_traceback(tmp_path, capsys):
    from tinygrad_cnn.cli import main
    (tmp_path / "a_file").write_text("")
    assert main(["graph", "--out", str(tmp_path / "a_file" / "graph.dot")]) == 1   # was: FileNotFoundError traceback
    assert "cannot write --out" in capsys.readouterr().err
