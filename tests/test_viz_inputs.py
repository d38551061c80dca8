"""plot_model and draw_graph draw each input of a model by its name (Keras's plot_model shows the Input
layers' names), while weights keep their parameter role and names."""
from __future__ import annotations

import numpy as np
import pytest
from test_viz_graph import dot_edges, dot_nodes, fill

import tinygrad_cnn as tc
from tinygrad_cnn.layers import Concatenate, Conv2D, Dense, Flatten
from tinygrad_cnn.viz.labels import COLOURS


def drawn_inputs(graph) -> dict[str, str]:
    """First label line -> shape line of every node drawn in the input colour."""
    nodes = dot_nodes(graph).values()
    return {label.split("\n")[0]: label.split("\n")[1] for label, attributes in nodes
            if fill(attributes) == COLOURS["input"]}


def two_input_model() -> tc.Model:
    image, meta = tc.Input((6, 6, 1), name="image"), tc.Input((3,), name="meta")
    features = Flatten()(Conv2D(2, 3, name="conv")(image))
    return tc.Model(inputs=[image, meta], outputs=Dense(2, name="head")(Concatenate(name="join")([features, meta])))


def test_functional_model_draws_each_input_by_its_name_and_shape():
    graph = tc.viz.plot_model(two_input_model(), None)
    assert drawn_inputs(graph) == {"image": "(1, 6, 6, 1)", "meta": "(1, 3)"}
    names = {label.split("\n")[0]: node for node, (label, _) in dot_nodes(graph).items()}
    edges = dot_edges(graph)
    # each input feeds the layer that reads it: image the convolution, meta the concatenation
    assert [t for s, t in edges if s == names["image"]] == [names["conv (Conv2D)"]]
    assert [t for s, t in edges if s == names["meta"]] == [names["join (Concatenate)"]]


def test_functional_model_with_a_dict_of_inputs_draws_the_keys():
    image, meta = tc.Input((4,), name="image"), tc.Input((3,), name="meta")
    model = tc.Model(inputs={"pixels": image, "extra": meta},
                     outputs=Dense(1)(Concatenate()([Dense(2)(image), meta])))
    assert drawn_inputs(tc.viz.plot_model(model, None)) == {"pixels": "(1, 4)", "extra": "(1, 3)"}


@pytest.mark.parametrize("collapse", [True, None])
def test_sequential_draws_its_input_by_name_and_weights_as_parameters(collapse):
    model = tc.Sequential([tc.Input((5,), name="pixels"), Dense(3, name="hidden")])
    graph = model.plot_model(None, collapse=collapse)
    assert drawn_inputs(graph) == {"pixels": "(1, 5)"}
    parameters = {label.split("\n")[0] for label, attributes in dot_nodes(graph).values()
                  if fill(attributes) == COLOURS["parameter"]}
    # uncollapsed, the weights stay parameter nodes named as before; collapsed, the layer lists them
    assert parameters == ({"hidden/kernel", "hidden/bias"} if collapse is None else set())
    if collapse:
        assert "18 parameters: kernel, bias" in graph.source


def test_sequential_without_an_input_uses_keras_name():
    model = tc.Sequential([Dense(2)])
    assert drawn_inputs(tc.viz.plot_model(model, None, input_shape=(4,))) == {"input_layer": "(1, 4)"}


class Pair(tc.Model):
    """A subclassed model whose call takes a list of two inputs."""

    def __init__(self) -> None:
        super().__init__(name="pair")
        self.left, self.right = Dense(2, name="left"), Dense(2, name="right")

    def call(self, inputs, training=False):
        return self.left(inputs[0]) + self.right(inputs[1])


class Single(tc.Model):
    def __init__(self) -> None:
        super().__init__(name="single")
        self.dense = Dense(2)

    def call(self, x, training=False):
        return self.dense(x)


def test_subclassed_models_draw_input_or_input_i():
    assert drawn_inputs(tc.viz.plot_model(Single(), None, input_shape=(4,))) == {"input": "(1, 4)"}
    graph = tc.viz.plot_model(Pair(), None, input_shape=[(4,), (3,)])
    assert drawn_inputs(graph) == {"input_0": "(1, 4)", "input_1": "(1, 3)"}


def test_a_plain_function_draws_input():
    weight = tc.Tensor(np.ones((4, 2), np.float32), requires_grad=True, name="w")
    graph = tc.viz.plot_model(lambda x: x @ weight, None, input_shape=(4,))
    assert drawn_inputs(graph) == {"input": "(1, 4)"}
    assert {label.split("\n")[0] for label, attributes in dot_nodes(graph).values()
            if fill(attributes) == COLOURS["parameter"]} == {"w"}


def test_draw_graph_inputs_names_leaves_as_inputs_not_parameters():
    x = tc.Tensor(np.ones((2, 3), np.float32), requires_grad=True, name="named")  # named: a parameter by default
    w = tc.Tensor(np.ones((3, 1), np.float32), requires_grad=True)
    y = x @ w
    assert drawn_inputs(tc.draw_graph(y, params={"w": w})) == {}
    graph = tc.draw_graph(y, params={"w": w}, inputs={"features": x})
    assert drawn_inputs(graph) == {"features": "(2, 3) float32"}
    assert [label.split("\n")[0] for label, attributes in dot_nodes(graph).values()
            if fill(attributes) == COLOURS["parameter"]] == ["w"]
    assert "input" in graph.source.split("legend")[-1]


@pytest.mark.parametrize("inputs, error, words", [
    ([np.zeros(3)], TypeError, "inputs must be a dict {name: tensor}, got list"),
    ({"x": np.zeros(3)}, TypeError, "inputs['x'] must be a Tensor, got ndarray"),
    ({"x": tc.ones(3)}, ValueError, "inputs['x'] does not require grad"),
])
def test_draw_graph_refuses_bad_inputs(inputs, error, words):
    y = tc.Tensor(np.ones(3, np.float32), requires_grad=True) * 2
    with pytest.raises(error) as caught:
        tc.draw_graph(y, inputs=inputs)
    assert words in str(caught.value)
