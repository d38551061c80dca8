"""The engine: graph walks, accumulation, releasing and freeing, no_grad, tc.grad, higher order,
custom Functions and the tie rules."""
from __future__ import annotations

import contextlib
import gc
import weakref

import numpy as np
import pytest
from conftest import require_torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from oracle import axes, check_op, compare_with_torch, randn, seeds, shapes, torch_dims

import tinygrad_cnn as tc
from tinygrad_cnn.engine import toposort
from tinygrad_cnn.function import Function


@contextlib.contextmanager
def gc_disabled():
    """Only reference counting frees objects inside: anything kept alive by a cycle stays alive."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()

# --- graph shapes: fan-out, shared subexpressions, deep chains, the order of the walk ---


@settings(max_examples=10)
@given(shape=shapes, seed=seeds)
def test_fan_out(shape, seed):
    (x,) = randn(seed, shape)
    check_op(lambda a: a * a + a, x, seed=seed)
    t = tc.Tensor(x, requires_grad=True)
    (t * t + t).backward(tc.ones_like(t))
    np.testing.assert_allclose(t.grad.data, 2 * x + 1)


@settings(max_examples=10)
@given(shape=shapes, seed=seeds)
def test_shared_subexpressions(shape, seed):
    a, b = randn(seed, shape, shape)

    def f(x, w):
        h = (x * w).tanh()          # used three times, and x used again directly
        return h * h + h / (1.0 + x * x) - h.sigmoid() * x

    check_op(f, a, b, seed=seed)


def test_a_chain_of_100000_ops_backpropagates_without_recursion():
    with gc_disabled():  # (the cyclic collector only costs time here)
        x = tc.Tensor(1.0, dtype="float64", requires_grad=True)
        y = x
        for _ in range(100_000):
            y = y * 1.00001
        y.backward()
    np.testing.assert_allclose(x.grad.item(), 1.00001 ** 100_000, rtol=1e-9)
    del y  # freeing the chain must not recurse either


@st.composite
def random_graphs(draw: st.DrawFn) -> tuple[list[tc.Tensor], list[tc.Tensor]]:
    """A random DAG of binary and unary ops over two leaves; returns (all tensors, the roots)."""
    nodes = [tc.Tensor([1.0, 2.0], requires_grad=True), tc.Tensor([0.5, 1.5], requires_grad=True)]
    for _ in range(draw(st.integers(1, 25))):
        i, j = (draw(st.integers(0, len(nodes) - 1)) for _ in range(2))
        op = draw(st.sampled_from(["add", "mul", "tanh"]))
        nodes.append(nodes[i] + nodes[j] if op == "add" else nodes[i] * nodes[j] if op == "mul" else nodes[i].tanh())
    roots = draw(st.lists(st.sampled_from(nodes[2:]), min_size=1, max_size=3))
    return nodes, roots


def _reachable(roots: list[Function]) -> set[Function]:
    """Every Function that feeds the roots, found by a plain breadth-first search."""
    seen, frontier = set(roots), list(roots)
    while frontier:
        frontier = [p for n in frontier for p in n.parents if isinstance(p, Function) and p not in seen]
        seen.update(frontier)
    return seen


@settings(max_examples=30)
@given(graph=random_graphs())
def test_toposort_lists_every_node_once_consumers_first(graph):
    _, roots = graph
    order = toposort([r.grad_fn for r in roots])
    assert len(order) == len(set(order)) and set(order) == _reachable([r.grad_fn for r in roots])
    position = {node: i for i, node in enumerate(order)}
    for node in order:
        for parent in node.parents:
            if isinstance(parent, Function):
                assert position[parent] > position[node], f"{parent} must come after its consumer {node}"


@settings(max_examples=20)
@given(graph=random_graphs(), seed=seeds)
def test_random_graphs_match_pytorch(graph, seed):
    """The same DAG rebuilt in PyTorch: equal gradients for a random upstream on every root."""
    torch = require_torch()
    nodes, roots = graph
    clones = {id(nodes[0]): torch.tensor([1.0, 2.0], requires_grad=True),
              id(nodes[1]): torch.tensor([0.5, 1.5], requires_grad=True)}
    for t in nodes[2:]:
        node = t.grad_fn
        a, b = _torch_inputs(node, nodes, clones)
        clones[id(t)] = a + b if node.name == "Add" else a * b if node.name == "Mul" else a.tanh()
    upstream = [np.random.default_rng(seed + i).standard_normal(2).astype(np.float32) for i in range(len(roots))]
    for root, u in zip(roots, upstream):
        root.backward(u, retain_graph=True)
        clones[id(root)].backward(torch.tensor(u), retain_graph=True)
    for leaf in nodes[:2]:
        expected = clones[id(leaf)].grad
        if expected is None:    # a leaf no root depends on
            assert leaf.grad is None
        else:
            np.testing.assert_allclose(leaf.grad.data, expected.numpy(), rtol=1e-5, atol=1e-6)


def _torch_inputs(node: Function, nodes: list[tc.Tensor], clones: dict[int, object]) -> list[object]:
    """The PyTorch clones of a node's inputs (parents are Functions or leaves; find their tensors)."""
    producers = {t.grad_fn: t for t in nodes if t.grad_fn is not None}
    inputs = [clones[id(producers[p] if isinstance(p, Function) else p)] for p in node.parents]
    return inputs + [None] * (2 - len(inputs))

# --- accumulation, retain_graph, releasing ---


def test_gradients_accumulate_across_calls():
    x = tc.Tensor([1.0, -2.0], requires_grad=True)
    (x * x).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.data, 2 * x.data + 3)
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.data, [3.0, 3.0])


def test_retain_graph_allows_a_second_backward():
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.data.copy()
    y.backward()
    np.testing.assert_allclose(x.grad.data, 2 * first)


def test_a_second_backward_through_a_released_graph_says_retain_graph():
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"second time.*retain_graph=True"):
        y.backward()


def test_the_structure_remains_after_release():
    x = tc.Tensor([[1.0, 2.0]], requires_grad=True)
    y = (x.exp() * x).sum(axis=1)
    y.backward(tc.ones(1))
    node = y.grad_fn
    assert node.released and node.name == "Sum" and node.out_shape == (1,) and node.op_args["axis"] == (1,)
    names = [n.name for n in toposort([node])]
    assert names == ["Sum", "Mul", "Exp"]
    assert node.parents[0].parents[1] is x  # leaves stay reachable for drawing
    with pytest.raises(RuntimeError, match="released"):
        _ = node.parents[0].saved_tensors

# --- no_grad, requires_grad, detach ---


def test_no_grad_as_a_context_manager():
    x = tc.Tensor([1.0], requires_grad=True)
    with tc.no_grad():
        assert not tc.is_grad_enabled()
        y = x * 2
        with tc.enable_grad():
            z = x * 2
        with tc.no_grad():
            pass
        assert not tc.is_grad_enabled()
    assert tc.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf and z.requires_grad


def test_no_grad_restores_the_mode_after_an_exception():
    with pytest.raises(ValueError), tc.no_grad():
        raise ValueError
    assert tc.is_grad_enabled()


@pytest.mark.parametrize("decorate", [tc.no_grad, tc.no_grad()], ids=["@tc.no_grad", "@tc.no_grad()"])
def test_no_grad_as_a_decorator(decorate):
    def double(t: tc.Tensor) -> tc.Tensor:
        """Twice t."""
        assert not tc.is_grad_enabled()
        return t * 2

    wrapped = decorate(double)
    x = tc.Tensor([1.0], requires_grad=True)
    y = wrapped(x)
    assert not y.requires_grad and tc.is_grad_enabled()
    assert wrapped.__name__ == "double" and wrapped.__doc__ == "Twice t."
    assert not wrapped(x).requires_grad  # reusable


def test_no_grad_decorates_methods_both_ways():
    class Model:
        @tc.no_grad
        def bare(self, t):
            return t * 2

        @tc.no_grad()
        def called(self, t):
            return t * 2

    x = tc.Tensor([1.0], requires_grad=True)
    assert not Model().bare(x).requires_grad and not Model().called(x).requires_grad


def test_set_grad_enabled():
    with tc.set_grad_enabled(False):
        assert not tc.is_grad_enabled()
    assert tc.is_grad_enabled()


def test_requires_grad_propagates():
    a = tc.Tensor([1.0], requires_grad=True)
    b = tc.Tensor([2.0])
    assert (a * b).requires_grad and (b * a).requires_grad and not (b * b).requires_grad
    assert not (b * b).grad_fn and (a * b).grad_fn
    assert b.requires_grad_().requires_grad and (b * b).requires_grad


def test_detach_cuts_the_graph_but_shares_the_data():
    x = tc.Tensor([3.0], requires_grad=True)
    d = x.detach()
    assert d.data is x.data and d.is_leaf and not d.requires_grad
    (x * d).sum().backward()   # d is a constant: d/dx (x * d) = d
    np.testing.assert_array_equal(x.grad.data, [3.0])

# --- freeing: no reference cycles keep graphs alive ---


def _graph_refs(t: tc.Tensor) -> list[weakref.ref]:
    return [weakref.ref(t)] + [weakref.ref(node) for node in toposort([t.grad_fn])]


@pytest.mark.parametrize("backward", ["none", "backward", "retain_graph"])
def test_unreferenced_graphs_are_freed_by_reference_counting(backward):
    with gc_disabled():
        x = tc.Tensor(np.ones((2, 3)), requires_grad=True)
        y = ((x * 2).exp() @ x.T).tanh().sum()
        refs = _graph_refs(y)
        if backward != "none":
            y.backward(retain_graph=backward == "retain_graph")
        del y
        assert [r() for r in refs] == [None] * len(refs)
        assert x.grad is None or x.grad.is_leaf


def test_graphs_made_by_grad_with_create_graph_are_freed():
    with gc_disabled():
        x = tc.Tensor([1.0, 2.0], requires_grad=True)
        (g,) = tc.grad((x ** 3).sum(), x, create_graph=True)
        refs = [weakref.ref(x)] + _graph_refs(g)
        del x, g
        assert [r() for r in refs] == [None] * len(refs)


def test_saved_intermediates_are_freed_by_backward():
    with gc_disabled():
        x = tc.Tensor(np.ones(3), requires_grad=True)
        h = x * 2
        saved = weakref.ref(h)
        y = h.exp().sum()
        del h
        assert saved() is not None   # Exp keeps its input for backward ...
        y.backward()
        assert saved() is None       # ... and lets it go once backward has run

# --- errors of backward ---


def test_backward_of_a_non_scalar_needs_a_gradient():
    y = tc.Tensor([1.0, 2.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"non-scalar output of shape \(2,\).*pass a gradient"):
        y.backward()


def test_backward_with_a_gradient_of_the_wrong_shape():
    y = tc.Tensor([1.0, 2.0], requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=r"shape \(3,\) but the output has shape \(2,\)"):
        y.backward(tc.ones(3))


def test_backward_of_a_tensor_outside_the_graph():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tc.Tensor(1.0).backward()

# --- tc.grad ---


def test_grad_returns_gradients_and_leaves_dot_grad_alone():
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    w = tc.Tensor([3.0, 4.0], requires_grad=True)
    w.grad = tc.Tensor([10.0, 10.0])
    (gx, gw) = tc.grad((x * w).sum(), (x, w))
    np.testing.assert_array_equal(gx.data, w.data)
    np.testing.assert_array_equal(gw.data, x.data)
    assert x.grad is None and w.grad.tolist() == [10.0, 10.0]


def test_grad_with_unused_inputs():
    x, unused = tc.Tensor([1.0], requires_grad=True), tc.Tensor([1.0], requires_grad=True)
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match=r"input 1 .* not used.*allow_unused=True"):
        tc.grad(y, [x, unused], retain_graph=True)
    gx, gu = tc.grad(y, [x, unused], allow_unused=True)
    assert gx.tolist() == [2.0] and gu is None


def test_grad_with_respect_to_intermediate_tensors():
    torch = require_torch()
    x = tc.Tensor([0.5, -1.0], requires_grad=True)
    h = x.tanh()
    y = (h * h * x).sum()
    gh, gx = tc.grad(y, [h, x])
    tx = torch.tensor([0.5, -1.0], requires_grad=True)
    th = tx.tanh()
    expected_h, expected_x = torch.autograd.grad((th * th * tx).sum(), [th, tx])
    np.testing.assert_allclose(gh.data, expected_h.numpy(), rtol=1e-6)
    np.testing.assert_allclose(gx.data, expected_x.numpy(), rtol=1e-6)


def test_grad_of_several_outputs_with_grad_outputs():
    torch = require_torch()
    data = np.array([[0.5, -1.0], [2.0, 0.25]])
    x = tc.Tensor(data, requires_grad=True)
    outs = [x.exp(), (x * x).sum(axis=0)]
    upstream = [np.ones((2, 2)), np.array([1.0, -2.0])]
    (g,) = tc.grad(outs, x, grad_outputs=upstream)
    t = torch.tensor(data, requires_grad=True)
    (expected,) = torch.autograd.grad([t.exp(), (t * t).sum(0)], t, [torch.tensor(u) for u in upstream])
    np.testing.assert_allclose(g.data, expected.numpy(), rtol=1e-12)


def test_grad_releases_the_graph_unless_asked():
    x = tc.Tensor([1.0], requires_grad=True)
    y = (x.exp()).sum()
    tc.grad(y, x, retain_graph=True)
    tc.grad(y, x)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        tc.grad(y, x)


@pytest.mark.parametrize("call, message", [
    (lambda x, y: tc.grad(y, tc.Tensor([1.0])), "input 0 of grad.. does not require grad"),
    (lambda x, y: tc.grad(tc.Tensor(1.0), x), "output 0 of grad.. does not require grad"),
    (lambda x, y: tc.grad([y, y], x, grad_outputs=[None]), "grad_outputs has 1 entries for 2 outputs"),
    (lambda x, y: tc.grad(x * 2, x), "grad_outputs.0. is needed for a non-scalar output"),
])
def test_grad_errors(call, message):
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises((RuntimeError, ValueError), match=message):
        call(x, (x * x).sum())

# --- higher order ---


def test_create_graph_gives_differentiable_gradients():
    x = tc.Tensor([0.5, 2.0], dtype="float64", requires_grad=True)
    y = (x ** 3).sum()
    (g,) = tc.grad(y, x, create_graph=True)
    assert g.requires_grad
    (h,) = tc.grad(g.sum(), x, create_graph=True)
    (third,) = tc.grad(h.sum(), x)
    np.testing.assert_allclose(g.data, 3 * x.data ** 2)
    np.testing.assert_allclose(h.data, 6 * x.data)
    np.testing.assert_allclose(third.data, [6.0, 6.0])


def test_backward_with_create_graph_accumulates_a_differentiable_grad():
    x = tc.Tensor([0.5, 2.0], dtype="float64", requires_grad=True)
    (x ** 3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    (second,) = tc.grad(x.grad.sum(), x)
    np.testing.assert_allclose(second.data, 6 * x.data)


THIRD_ORDER = {
    "tanh*exp": lambda x, w: (x.tanh() * (x * w).exp()).sum(),
    "sigmoid/log": lambda x, w: (x.sigmoid() / (w * w + 1.0).log()).sum(),
    "softmax@": lambda x, w: ((x @ w).softmax(axis=-1) * (x @ w)).sum(),
    "pow,max,abs": lambda x, w: ((x.abs() + 1.0) ** w).max() + (x * w).sqrt().sum(),
}


@pytest.mark.parametrize("name", THIRD_ORDER)
@settings(max_examples=5)
@given(seed=seeds)
def test_third_derivatives_match_pytorch(name, seed):
    """d/dx <u, d/dx <v, d/dx f>> for random u and v, against PyTorch's triple backward."""
    torch = require_torch()
    x0, w0 = randn(seed, (3, 3), (3, 3), low=0.2)
    u, v = randn(seed + 1, (3, 3), (3, 3))

    def third(make, grad, x, w):
        (g1,) = grad(THIRD_ORDER[name](x, w), [x], create_graph=True)
        (g2,) = grad((g1 * make(v)).sum(), [x], create_graph=True)
        return grad((g2 * make(u)).sum(), [x, w])

    ours = third(tc.Tensor, tc.grad, tc.Tensor(x0, requires_grad=True), tc.Tensor(w0, requires_grad=True))
    theirs = third(torch.tensor, torch.autograd.grad,
                   torch.tensor(x0, requires_grad=True), torch.tensor(w0, requires_grad=True))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.data, b.numpy(), rtol=1e-9, atol=1e-10)


@settings(max_examples=10)
@given(seed=seeds)
def test_hvp_matches_pytorch(seed):
    torch = require_torch()
    x0, w0, vx, vw = randn(seed, (2, 3), (3, 4), (2, 3), (3, 4))

    def f(x, w):
        return (x @ w).logsumexp(axis=-1).sum() + (x ** 3).sum() * (w * w).mean()

    value, (hx, hw) = tc.hvp(f, (tc.Tensor(x0), tc.Tensor(w0)), (vx, vw))
    expected_value, (ex, ew) = torch.autograd.functional.hvp(
        f, (torch.tensor(x0), torch.tensor(w0)), (torch.tensor(vx), torch.tensor(vw)))
    np.testing.assert_allclose(value.item(), expected_value.item(), rtol=1e-12)
    np.testing.assert_allclose(hx.data, ex.numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(hw.data, ew.numpy(), rtol=1e-9, atol=1e-10)

def test_hvp_of_a_linear_or_unused_input_is_zero_and_needs_a_scalar():
    x, unused = tc.Tensor([1.0, 2.0]), tc.Tensor([3.0])
    value, (hx, hu) = tc.hvp(lambda a, b: (a * 2).sum(), (x, unused), (tc.ones(2), tc.ones(1)))
    assert value.item() == 6.0 and hx.tolist() == [0.0, 0.0] and hu.tolist() == [0.0]
    assert not x.requires_grad  # the inputs given are not modified
    with pytest.raises(ValueError, match=r"single output value, got shape \(2,\)"):
        tc.hvp(lambda a: a * 2, x, tc.ones(2))


# --- custom Functions: torch.autograd.Function's contract ---


class ScaledCube(Function):
    """scale * x^3 with a keyword constant; saves its input, returns an ndarray."""

    seen: list[tuple[type, bool]] = []

    @staticmethod
    def forward(ctx, x, *, scale=1.0):
        ScaledCube.seen.append((type(x), tc.is_grad_enabled()))
        ctx.save_for_backward(x)
        ctx.scale = scale
        return scale * x.data ** 3

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * 3 * ctx.scale * x * x  # Tensor ops: differentiable again


class MulAdd(Function):
    """a * b + c with a plain-number `c` allowed; returns a Tensor built with Tensor ops."""

    @staticmethod
    def forward(ctx, a, b, c):
        ctx.save_for_backward(a, b)
        out = a * b + c
        assert not out.requires_grad  # nothing is recorded inside forward
        return out

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        need_a, need_b, _ = ctx.needs_input_grad
        return (g * b if need_a else None), (g * a if need_b else None), None


def test_custom_function_forward_gets_tensors_and_records_nothing():
    ScaledCube.seen.clear()
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    y = ScaledCube.apply(x, scale=2.0)
    assert ScaledCube.seen == [(tc.Tensor, False)] and tc.is_grad_enabled()
    assert y.grad_fn.name == "ScaledCube" and y.grad_fn.needs_input_grad == (True,)
    y.backward(tc.Tensor([1.0, 1.0]))
    np.testing.assert_allclose(x.grad.data, 6 * x.data ** 2)


def test_custom_function_passes_gradcheck_and_gradgradcheck():
    x = tc.Tensor(np.random.default_rng(0).standard_normal(4), requires_grad=True)
    assert tc.gradcheck(lambda t: ScaledCube.apply(t, scale=0.5), [x])
    assert tc.gradgradcheck(lambda t: ScaledCube.apply(t, scale=0.5), [x])
    a, b = (tc.Tensor(v, requires_grad=True) for v in np.random.default_rng(1).standard_normal((2, 3)))
    assert tc.gradcheck(lambda p, q: MulAdd.apply(p, q, 1.5), [a, b])
    assert tc.gradgradcheck(lambda p, q: MulAdd.apply(p, q, 1.5), [a, b])


def test_needs_input_grad_and_none_gradients():
    a = tc.Tensor([[1.0], [2.0]], requires_grad=True)   # (2, 1): broadcast against b
    b = tc.Tensor([[3.0, 4.0, 5.0]])                    # (1, 3): a constant
    y = MulAdd.apply(a, b, 1.0)
    assert y.grad_fn.needs_input_grad == (True, False, False) and y.shape == (2, 3)
    y.backward(tc.ones(2, 3))
    np.testing.assert_array_equal(a.grad.data, [[12.0], [12.0]])  # broadcasting undone by the engine
    assert b.grad is None


class WrongCount(Function):
    @staticmethod
    def forward(ctx, a, b):
        return a.data + b.data

    @staticmethod
    def backward(ctx, g):
        return g


class WrongShape(Function):
    @staticmethod
    def forward(ctx, a):
        return a.data.sum(axis=0)

    @staticmethod
    def backward(ctx, g):
        return np.ones((5, 7))


class NotImplemented_(Function):
    pass


@pytest.mark.parametrize("call, message", [
    (lambda x: WrongCount.apply(x, x), r"backward of WrongCount returned 1 gradients, but the op has 2 inputs"),
    (lambda x: WrongShape.apply(x), r"backward of WrongShape returned a gradient of shape \(5, 7\) for input 0, "
                                    r"whose shape is \(2, 3\)"),
])
def test_a_wrong_backward_is_named_in_the_error(call, message):
    x = tc.Tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match=message):
        call(x).sum().backward()


def test_a_function_without_forward_says_so():
    with pytest.raises(NotImplementedError, match="static forward"):
        NotImplemented_.apply(tc.ones(1))


def test_backward_may_return_arrays():
    class Double(Function):
        @staticmethod
        def forward(ctx, a):
            return a.data * 2

        @staticmethod
        def backward(ctx, g):
            return g.data * 2

    x = tc.Tensor([1.0], requires_grad=True)
    Double.apply(x).sum().backward()
    assert x.grad.tolist() == [2.0]


def test_custom_saved_tensors_are_protected_too():
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    y = ScaledCube.apply(x)
    with tc.no_grad():
        x += 1
    with pytest.raises(RuntimeError, match="saved tensor 0 of ScaledCube .* modified in place"):
        y.sum().backward()

# --- ties and kinks: one rule each ---


def test_relu_and_abs_have_zero_derivative_at_zero():
    torch = require_torch()
    data = np.array([-1.0, 0.0, 2.0, -0.0])
    for name in ("relu", "abs"):
        x = tc.Tensor(data, requires_grad=True)
        getattr(x, name)().backward(tc.ones(4))
        t = torch.tensor(data, requires_grad=True)
        getattr(t, name)().backward(torch.ones(4, dtype=torch.float64))
        np.testing.assert_array_equal(x.grad.data[[1, 3]], [0.0, 0.0])
        np.testing.assert_array_equal(x.grad.data, t.grad.numpy())


@pytest.mark.parametrize("name", ["leaky_relu", "clip"])
def test_kinks_of_leaky_relu_and_clip_match_pytorch(name):
    """leaky_relu'(0) is the slope; clip passes the gradient at its bounds (both as in PyTorch)."""
    torch = require_torch()
    data = np.array([-1.0, 0.0, 0.5, 1.0, 2.0])
    ours = {"leaky_relu": lambda a: a.leaky_relu(0.2), "clip": lambda a: a.clip(0.0, 1.0)}[name]
    theirs = {"leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, 0.2), "clip": lambda t: t.clamp(0.0, 1.0)}
    compare_with_torch(ours, (data,), theirs[name], np.float64)


def test_max_ties_share_the_gradient_equally():
    x = tc.Tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], requires_grad=True)
    x.max(axis=1).backward(tc.Tensor([6.0, 6.0]))
    np.testing.assert_allclose(x.grad.data, [[0.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    y = tc.Tensor([1.0, 1.0], requires_grad=True)
    z = tc.Tensor([1.0, 0.0], requires_grad=True)
    tc.maximum(y, z).backward(tc.Tensor([4.0, 4.0]))
    np.testing.assert_array_equal(y.grad.data, [2.0, 4.0])
    np.testing.assert_array_equal(z.grad.data, [2.0, 0.0])


@pytest.mark.parametrize("name", ["max", "min"])
@settings(max_examples=20)
@given(array=hnp.arrays(np.float64, shapes, elements=st.integers(0, 2).map(float)), data=st.data())
def test_reductions_with_many_ties_match_pytorch(name, array, data):
    """Values drawn from {0, 1, 2}: ties everywhere; PyTorch's amax/amin share equally too."""
    axis = data.draw(axes(array.ndim), label="axis")
    keepdims = data.draw(st.booleans(), label="keepdims")
    dims = torch_dims(axis, array.ndim)
    for dtype in (np.float64, np.float32):
        compare_with_torch(lambda a: getattr(a, name)(axis=axis, keepdims=keepdims), (array,),
                           lambda t: getattr(t, f"a{name}")(dim=dims, keepdim=keepdims), dtype)


@pytest.mark.parametrize("name", ["maximum", "minimum"])
@settings(max_examples=20)
@given(pair=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3), seed=seeds)
def test_elementwise_ties_match_pytorch(name, pair, seed):
    torch = require_torch()
    a, b = (np.random.default_rng(seed + i).integers(0, 2, s).astype(np.float64)
            for i, s in enumerate(pair.input_shapes))
    compare_with_torch(getattr(tc, name), (a, b), getattr(torch, name), np.float64, seed)


@settings(max_examples=10)
@given(rows=st.integers(1, 4), inner=st.integers(1, 5), seed=seeds)
def test_first_order_array_backward_equals_the_recorded_one(rows, inner, seed):
    """Sum, Reshape, Div by a constant, Relu, MatMul and the engine's unbroadcast work on plain arrays in
    first order; their gradients must equal, bit for bit, the ones built from recorded ops (create_graph)."""
    rng = np.random.default_rng(seed)
    x = tc.Tensor(rng.standard_normal((rows, inner), dtype=np.float32), requires_grad=True)
    w = tc.Tensor(rng.standard_normal((inner, 6), dtype=np.float32), requires_grad=True)
    b = tc.Tensor(rng.standard_normal(6, dtype=np.float32), requires_grad=True)   # broadcast over the rows
    upstream = tc.Tensor(rng.standard_normal(3, dtype=np.float32))

    def f():
        h = ((x @ w + b).relu().reshape(rows, 2, 3) / 3.0).sum(axis=(0, 1))   # (3,)
        return h * upstream
    plain = tc.grad(f().mean(), [x, w, b])
    recorded = tc.grad(f().mean(), [x, w, b], create_graph=True)
    for p, r in zip(plain, recorded):
        np.testing.assert_array_equal(p.data, r.data)


@settings(max_examples=10)
@given(shape=st.tuples(st.integers(1, 4), st.integers(1, 5)), seed=seeds)
def test_first_order_elementwise_backward_equals_the_recorded_one(shape, seed):
    """Mul, Sub, Neg, Div, Pow, Exp, Log, Tanh and Sigmoid work on plain arrays in first order; their
    gradients must equal, bit for bit, the ones built from recorded ops (create_graph)."""
    rng = np.random.default_rng(seed)
    x, w = (tc.Tensor(rng.standard_normal(shape), requires_grad=True) for _ in range(2))
    b = tc.Tensor(rng.standard_normal(shape[1]), requires_grad=True)   # broadcast over the rows
    upstream = tc.Tensor(rng.standard_normal(shape))

    def f():
        h = (x * w - b).tanh() + (x / (w * w + 1)).sigmoid() - (-x).exp() * 0.5 + (x * x + 1).log()
        return (h ** 2 - h / b) * upstream
    plain = tc.grad(f().sum(), [x, w, b])
    recorded = tc.grad(f().sum(), [x, w, b], create_graph=True)
    for p, r in zip(plain, recorded):
        np.testing.assert_array_equal(p.data, r.data)
