"""text_graph: the plain-text tree (inputs under each op, shared ops printed once, deep chains stay narrow)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn.engine import toposort


def test_known_graph_tree():
    x = tc.randn(4, 3, requires_grad=True)
    w = tc.Tensor(np.ones(3, np.float32), requires_grad=True, name="w")
    with tc.mode.scope("dense", "Dense"):
        y = x * w + 1.5
    text = tc.viz.text_graph(y.relu().sum(axis=1))
    assert text.splitlines() == [
        "output = Sum(axis=(1,), keepdims=False) -> (4,) float32",
        "Relu -> (4, 3) float32",
        "Add -> (4, 3) float32  [dense]",
        "├─ 1.5  (constant)",
        "Mul -> (4, 3) float32  [dense]",
        "├─ input: (4, 3) float32  (input)",
        "└─ w: (3,) float32  (parameter)",
    ]


def test_shared_ops_are_printed_once_and_referred_to():
    x = tc.randn(2, 3, requires_grad=True)
    a = x.relu()
    out = (a + a.tanh() * 2).sum()
    lines = tc.viz.text_graph(out, show=("shape",)).splitlines()
    number = next(n for n, op in enumerate(toposort([out.grad_fn])) if op.name == "Relu")
    assert lines.count(f"Relu #{number} -> (2, 3)") == 1  # printed once, on the trunk
    assert sum(f"Relu #{number} (see below)" in line for line in lines) == 1
    assert lines[-1] == "└─ input: (2, 3)  (input)"
    square = tc.viz.text_graph(x.exp() * x.exp().exp(), show=())
    assert square.count("Exp") == 3


def test_grad_value_and_named_outputs():
    x = tc.Tensor([1.0, -2.0, 3.0], requires_grad=True, name="x")
    loss = (x * x).sum()
    loss.name = "loss"
    loss.backward()
    text = tc.viz.text_graph(loss, show=("shape", "grad", "value"))
    assert text.startswith("loss = Sum -> ()  min 14 mean 14 max 14")
    assert "x: (3,)  (parameter)  min -2 mean 0.667 max 3  grad norm 7.48 [-4, 6]" in text
    assert text.count("x: (3,)") == 2  # x * x: both inputs listed
    assert tc.viz.text_graph(x) == "x: (3,) float32  (output)"


def chain(n: int) -> tc.Tensor:
    y = tc.Tensor(np.ones(2, np.float32), requires_grad=True)
    w = tc.Tensor(np.ones(2, np.float32), requires_grad=True, name="w")
    for _ in range(n):
        y = w * y  # the trunk is the second input: it continues at the same indentation
    return y


def test_deep_chain_stays_narrow_and_is_folded_to_the_budget():
    out = chain(100_000)
    lines = tc.viz.text_graph(out, max_nodes=None, show=("shape",)).splitlines()
    assert len(lines) == 2 * 100_000 + 1 and max(map(len, lines)) < 40
    lines = tc.viz.text_graph(out).splitlines()
    assert sum(line.startswith("Mul") or line.startswith("output = Mul") for line in lines) == 500
    assert lines[-1] == "... 99,500 more ops (raise max_nodes to show them)"


@settings(max_examples=20, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["tanh", "mul", "add", "scale"]), st.integers(0, 50)), min_size=1,
                max_size=15))
def test_every_op_of_a_random_graph_is_printed_exactly_once(steps):
    x = tc.randn(3, requires_grad=True)
    tensors = [x]
    for kind, pick in steps:
        a, b = tensors[pick % len(tensors)], tensors[(pick // 5) % len(tensors)]
        tensors.append({"tanh": a.tanh, "mul": lambda a=a, b=b: a * b, "add": lambda a=a, b=b: a + b,
                        "scale": lambda a=a: a * 3.0}[kind]())
    out = tensors[-1]
    ops = toposort([out.grad_fn])
    lines = tc.viz.text_graph(out, max_nodes=None).splitlines()
    printed = [line for line in lines if " -> " in line]  # full op lines (references have no shape)
    assert len(printed) == len(ops)
    for op in ops:
        assert sum(line.lstrip("│├└─ ").removeprefix("output = ").startswith(op.name) for line in printed) == sum(
            other.name == op.name for other in ops)
    references = [line for line in lines if "(see " in line]
    assert all("(see below)" in line or "(see above)" in line for line in references)


def test_bad_arguments_are_explained():
    x = tc.randn(2, requires_grad=True)
    with pytest.raises(TypeError, match="at least one output"):
        tc.viz.text_graph()
    with pytest.raises(TypeError, match="output 1 must be a Tensor, got list"):
        tc.viz.text_graph(x, [1])
    with pytest.raises(ValueError, match="unknown option.*size"):
        tc.viz.text_graph(x, show=("size",))
    with pytest.raises(ValueError, match="max_nodes must be a positive int"):
        tc.viz.text_graph(x, max_nodes=-1)
