"""Session 7 audit of graph drawing (issue 5): each test failed before the fix it guards."""
from __future__ import annotations

import numpy as np
import pytest
from test_viz_render import dot  # noqa: F401  (a fixture)

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


def test_save_graph_leaves_the_graph_where_it_was(dot, tmp_path, monkeypatch):
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


def test_save_graph_format_for_a_name_without_extension(dot, tmp_path):
    written = tc.viz.save_graph(tc.draw_graph(small()), tmp_path / "model", format="png")
    assert written == tmp_path / "model" and written.read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
