"""Acceptance audit of graph drawing (issue 5): the arguments a user passes the way NumPy and Keras allow."""
from __future__ import annotations

import numpy as np
import pytest
from test_viz_graph import dot_nodes, small_graph
from test_viz_render import no_dot  # noqa: F401  (a fixture)

import tinygrad_cnn as tc
from tinygrad_cnn.viz import GraphvizNotFoundError


def text(drawing) -> str:
    """The DOT source of a graphviz drawing, or a text tree as it is."""
    return str(getattr(drawing, "source", drawing))


def chain(length: int) -> tc.Tensor:
    x = tc.Tensor(np.ones(2), requires_grad=True)
    for _ in range(length):
        x = x.tanh()
    return x


@pytest.mark.parametrize("draw", [tc.draw_graph, tc.viz.text_graph], ids=["draw_graph", "text_graph"])
def test_max_nodes_takes_numpy_ints_and_names_wrong_types(draw):
    out = chain(20)
    python, numpy = text(draw(out, max_nodes=5)), text(draw(out, max_nodes=np.int64(5)))
    assert python == numpy and "15 more ops" in python
    for wrong in ("5", 2.5, True):
        with pytest.raises(TypeError, match="max_nodes must be a positive int or None"):
            draw(out, max_nodes=wrong)
    with pytest.raises(ValueError, match="max_nodes must be a positive int or None .*got 0"):
        draw(out, max_nodes=0)


def test_flags_are_true_or_false_not_any_truthy_value():
    _, _, loss = small_graph()
    with pytest.raises(TypeError, match="draw_graph: cluster must be True or False, got 'no'"):
        tc.draw_graph(loss, cluster="no")
    model = tc.Sequential([tc.Input((3,)), tc.layers.Dense(2)])
    for argument in ("show_shapes", "show_dtype"):
        with pytest.raises(TypeError, match=f"plot_model: {argument} must be True or False"):
            tc.viz.plot_model(model, None, **{argument: "False"})
    assert "(1, 2)" not in tc.viz.plot_model(model, None, show_shapes=np.False_).source


@pytest.mark.parametrize("draw", [tc.draw_graph, tc.viz.text_graph], ids=["draw_graph", "text_graph"])
def test_outputs_given_as_one_list_or_tuple(draw):
    x = tc.Tensor(np.arange(3.0), requires_grad=True)
    a, b = x.exp(), (x * 2).sum()
    spread = text(draw(a, b))
    assert "Exp" in spread and "Mul" in spread
    for packed in ([a, b], (a, b)):
        assert text(draw(packed)) == spread
    with pytest.raises(TypeError, match="needs at least one output tensor"):
        draw([])


def test_gradient_of_an_empty_tensor_is_called_empty():
    x = tc.Tensor(np.zeros((0, 3)), requires_grad=True, name="x")
    loss = x.sum()
    loss.backward()
    labels = [label.split("\n") for label, _ in dot_nodes(tc.draw_graph(loss, show=("shape", "grad"))).values()]
    assert ["x", "(0, 3)", "grad: empty"] in labels
    assert "grad: empty" in tc.viz.text_graph(loss, show=("grad",))


def test_render_without_dot_names_the_file_graphviz_would_write(no_dot, tmp_path):  # noqa: F811
    _, _, loss = small_graph()
    with pytest.raises(GraphvizNotFoundError) as caught:
        tc.draw_graph(loss).render(tmp_path / "picture", format="svg")
    message = str(caught.value)
    assert f"rendered to {tmp_path / 'picture.svg'}" in message
    assert f"dot -Tsvg {tmp_path / 'picture'} -o {tmp_path / 'picture.svg'}" in message
