"""Rendering with graphviz's `dot`: real SVG, PNG and PDF files, notebooks, the CLI, and a missing `dot`."""
from __future__ import annotations

import os
import shutil
import struct
import tempfile
import xml.etree.ElementTree as ET

import graphviz
import pytest
from test_viz_graph import cnn, dot_edges, dot_nodes, small_graph

import tinygrad_cnn as tc
from tinygrad_cnn.cli import main
from tinygrad_cnn.viz import GraphvizNotFoundError, save_graph

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def dot():
    """graphviz's `dot`: tests fail without it in CI (which installs it) and skip elsewhere."""
    path = shutil.which("dot")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("graphviz's `dot` is required in CI (apt-get install graphviz) but is not on PATH")
        pytest.skip("graphviz's `dot` is not installed (apt-get install graphviz / brew install graphviz)")
    return path


@pytest.fixture
def no_dot(monkeypatch, tmp_path):
    """A PATH without `dot` on it, and the system temporary folder (where `pipe` leaves the source) in tmp_path."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


def svg_groups(path) -> dict[str, list[ET.Element]]:
    """The SVG's <g> elements by class (node, edge, cluster)."""
    groups: dict[str, list[ET.Element]] = {}
    for group in ET.parse(path).getroot().iter(f"{SVG}g"):
        groups.setdefault(group.get("class"), []).append(group)
    return groups


def test_svg_has_every_node_edge_and_cluster(dot, tmp_path):
    _, out = cnn()
    graph = tc.draw_graph(out)
    written = save_graph(graph, tmp_path / "model.svg")
    assert written == tmp_path / "model.svg" and not list(tmp_path.glob("*.gv"))  # the source is cleaned up
    groups = svg_groups(written)
    assert len(groups["node"]) == len(dot_nodes(graph)) + 1  # + the legend
    assert len(groups["edge"]) == len(dot_edges(graph))
    assert [g.find(f"{SVG}text").text for g in groups["cluster"]] == [
        "sequential (Sequential)", "conv2d (Conv2D)", "max_pooling2d (MaxPooling2D)", "flatten (Flatten)",
        "dense (Dense)"]
    titles = {g.find(f"{SVG}title").text for g in groups["node"]}
    assert set(dot_nodes(graph)) | {"legend"} == titles


def test_png_and_pdf_files_are_real_pictures(dot, tmp_path):
    _, _, loss = small_graph()
    graph = tc.draw_graph(loss)
    png = save_graph(graph, tmp_path / "graph.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    assert 100 < width < 3000 and 100 < height < 3000
    assert save_graph(graph, tmp_path / "graph.PDF").read_bytes()[:5] == b"%PDF-"
    # graphviz's own render, as the issue documents it
    rendered = graph.render(tmp_path / "own", format="svg")
    assert rendered.endswith("own.svg") and len(svg_groups(rendered)["node"]) == len(dot_nodes(graph)) + 1


def test_collapsed_and_backward_views_render(dot, tmp_path):
    model, out = cnn()
    collapsed = svg_groups(save_graph(tc.draw_graph(out, collapse=True), tmp_path / "c.svg"))
    assert len(collapsed["node"]) == 4 + 2 + 1  # layers, the input image and the output, the legend
    backward = tc.draw_graph(out, direction="backward")
    assert len(svg_groups(save_graph(backward, tmp_path / "b.svg"))["node"]) == len(dot_nodes(backward)) + 1


def test_notebooks_get_inline_svg(dot):
    _, _, loss = small_graph()
    bundle = tc.draw_graph(loss)._repr_mimebundle_()
    assert list(bundle) == ["image/svg+xml"] and "<svg" in bundle["image/svg+xml"]


def test_save_graph_choices_and_errors(tmp_path):
    _, _, loss = small_graph()
    graph = tc.draw_graph(loss)
    assert save_graph(graph, tmp_path / "new" / "g.dot").read_text() == graph.source  # needs no `dot`
    with pytest.raises(ValueError, match=r"cannot tell the format of .*g\.txt.*\.svg, \.png, \.pdf"):
        save_graph(graph, tmp_path / "g.txt")
    with pytest.raises(TypeError, match="graphviz.Digraph"):
        save_graph(graph.source, tmp_path / "g.svg")


def test_missing_dot_says_how_to_install_and_where_the_source_went(no_dot, tmp_path):
    _, _, loss = small_graph()
    graph = tc.draw_graph(loss)  # building the graph needs no `dot`
    assert "digraph" in graph.source
    with pytest.raises(GraphvizNotFoundError) as caught:
        save_graph(graph, tmp_path / "graph.svg")
    message = str(caught.value)
    for hint in ("apt-get install graphviz", "brew install graphviz", "conda install", "Windows", "text_graph"):
        assert hint in message
    source = caught.value.source_path
    assert str(source) in message and source.read_text() == graph.source and isinstance(caught.value, RuntimeError)
    with pytest.raises(GraphvizNotFoundError, match="apt-get install graphviz") as caught:
        graph.render(tmp_path / "direct", format="png")
    assert caught.value.source_path.read_text() == graph.source
    bundle = graph._repr_mimebundle_()
    assert list(bundle) == ["text/plain"] and "brew install graphviz" in bundle["text/plain"]
    assert (tmp_path / "computation_graph.gv").read_text() == graph.source  # pipe's source, in the temporary folder
    plain = graphviz.Digraph()  # a plain graphviz graph gets the same help from save_graph
    with pytest.raises(GraphvizNotFoundError):
        save_graph(plain, tmp_path / "plain.png")


def test_cli_graph_writes_the_file_it_names(dot, tmp_path, capsys):
    out = tmp_path / "demo.svg"
    assert main(["graph", "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert len(svg_groups(out)["cluster"]) >= 5  # the model and its layers
    assert main(["graph", "--backward", "--collapse", "--out", str(tmp_path / "b"), "--format", "png"]) == 0
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"


def test_cli_graph_errors(no_dot, tmp_path, capsys, monkeypatch):
    assert main(["graph", "--out", str(tmp_path / "g.svg"), "--format", "png"]) == 2
    assert "make them agree" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    assert main(["graph"]) == 1  # no `dot`: the DOT source is kept and the help printed
    assert "apt-get install graphviz" in capsys.readouterr().err and (tmp_path / "demo_graph.svg.gv").exists()


def test_ten_thousand_ops_render_within_the_budget(dot, tmp_path):
    from test_viz_graph import chain
    graph = tc.draw_graph(chain(10_000))
    nodes = svg_groups(save_graph(graph, tmp_path / "big.svg"))["node"]
    assert len(nodes) == 500 + 3  # the 500 ops nearest the output, the folded rest, the output and the legend


def test_quotes_backslashes_and_angle_brackets_in_names_reach_the_picture(dot, tmp_path):
    x = tc.randn(2, requires_grad=True)
    x.name = 'say "hi"\\now <b>'
    with tc.mode.scope("<odd>", 'My"Layer'):
        y = x * 2
    texts = [t.text for t in ET.parse(save_graph(tc.draw_graph(y), tmp_path / "odd.svg")).iter(f"{SVG}text")]
    assert 'say "hi"\\now <b>' in texts and '<odd> (My"Layer)' in texts
