"""A drawn ConvTranspose node shows the transposed convolution's own arguments (kernel, strides, padding,
output_padding, dilation) as given, not the geometry of the conv2d whose input gradient it is."""
from __future__ import annotations

import ast

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn.viz.labels import op_args_lines


def label_arguments(y: tc.Tensor) -> dict:
    """The `name=value` lines of y's op label, parsed back into Python values."""
    return {key: ast.literal_eval(value) for key, value in (line.split("=", 1) for line in op_args_lines(y.grad_fn))}


@st.composite
def transposed_convolutions(draw):
    """Arguments of conv2d_transpose (kernel, strides, dilation, padding, output_padding) and an input size."""
    kernel = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (1, 1) if strides != (1, 1) else (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(st.sampled_from(["valid", "same"]))
    extras = draw(st.one_of(st.none(), st.tuples(st.integers(0, strides[0] - 1), st.integers(0, strides[1] - 1))))
    hw = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    effective = [(k - 1) * d + 1 for k, d in zip(kernel, dilation)]
    if padding == "same" and extras is not None and any(   # 'same' with output_padding may leave no output pixel
            (n - 1) * s + k % 2 + e < 1 for n, s, k, e in zip(hw, strides, effective, extras)):
        extras = None
    return kernel, strides, dilation, padding, extras, hw


@settings(max_examples=40)
@given(transposed_convolutions(), st.integers(0, 2**31))
def test_the_label_gives_back_the_same_convolution(case, seed):
    """The label shows the arguments as given, and passed back to conv2d_transpose they compute the very same values."""
    kernel, strides, dilation, padding, extras, (h, w) = case
    rng = np.random.default_rng(seed)
    x = tc.Tensor(rng.standard_normal((2, h, w, 3)))
    weights = tc.Tensor(rng.standard_normal((*kernel, 2, 3)), requires_grad=True)
    y = tc.conv2d_transpose(x, weights, strides=strides, padding=padding, output_padding=extras,
                            dilation_rate=dilation)
    shown = label_arguments(y)
    assert list(shown) == ["kernel", "strides", "padding", "output_padding", "dilation"]
    assert shown == {"kernel": kernel, "strides": strides, "padding": padding, "output_padding": extras,
                     "dilation": dilation}
    again = tc.conv2d_transpose(x, weights, strides=shown["strides"], padding=shown["padding"],
                                output_padding=shown["output_padding"], dilation_rate=shown["dilation"])
    np.testing.assert_array_equal(again.numpy(), y.numpy())


def test_output_padding_that_another_choice_also_gives_is_shown_as_written():
    """'same' with output_padding=1 computes what output_padding=None does here; the label keeps the user's words."""
    x = tc.Tensor(np.ones((1, 4, 4, 2), np.float32))
    kernel = tc.Tensor(np.ones((3, 3, 5, 2), np.float32), requires_grad=True)
    y = tc.conv2d_transpose(x, kernel, strides=2, padding="same", output_padding=1)
    same_op = tc.conv2d_transpose(x, kernel, strides=2, padding="same")
    np.testing.assert_array_equal(y.numpy(), same_op.numpy())
    assert label_arguments(y)["output_padding"] == (1, 1)
    assert label_arguments(same_op)["output_padding"] is None


def test_drawn_node_of_a_model_shows_the_layers_arguments():
    """draw_graph and text_graph of a Conv2DTranspose layer: the node reads like the call that made it, and no
    longer the reversed conv2d's (in_hw=(10, 10), out_hw=(5, 5), padding=((0, 1), (0, 1)))."""
    model = tc.Sequential([tc.Input((5, 5, 3)), tc.layers.Conv2DTranspose(4, 3, strides=2, padding="same",
                                                                         name="up")])
    y = model(np.ones((1, 5, 5, 3), np.float32))
    source = tc.draw_graph(y).source
    node = next(line for line in source.splitlines() if "ConvTranspose" in line)
    assert ("ConvTranspose\\nkernel=(3, 3)\\nstrides=(2, 2)\\npadding='same'\\noutput_padding=None\\n"
            "dilation=(1, 1)\\n(1, 10, 10, 4) float32") in node
    assert "in_hw" not in node and "((0, 1), (0, 1))" not in node
    text = tc.viz.text_graph(y)
    assert ("ConvTranspose(kernel=(3, 3), strides=(2, 2), padding='same', output_padding=None, dilation=(1, 1)) "
            "-> (1, 10, 10, 4) float32") in text


def test_valid_padding_and_output_padding_are_shown_as_given():
    """Without cropping the extra rows of output_padding are the only way to this output size."""
    x = tc.Tensor(np.ones((1, 3, 4, 2), np.float32))
    y = tc.conv2d_transpose(x, tc.Tensor(np.ones((3, 2, 5, 2), np.float32), requires_grad=True), strides=(3, 2),
                            output_padding=(2, 1))
    assert y.shape == (1, 11, 9, 5)
    assert label_arguments(y) == {"kernel": (3, 2), "strides": (3, 2), "padding": "valid", "output_padding": (2, 1),
                                  "dilation": (1, 1)}
    # the ops beside it keep their own arguments
    assert op_args_lines(y.sum(axis=1).grad_fn) == ["axis=(1,)", "keepdims=False"]
