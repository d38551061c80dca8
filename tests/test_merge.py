"""Merge layers (Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot): values and gradients
against PyTorch with random upstream gradients, Keras's shape rules and their errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import require_torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn import layers as L

ELEMENTWISE = {
    "Add": (L.Add, L.add, lambda torch, xs: sum(xs[1:], xs[0])),
    "Subtract": (L.Subtract, L.subtract, lambda torch, xs: xs[0] - xs[1]),
    "Multiply": (L.Multiply, L.multiply, lambda torch, xs: torch.stack(torch.broadcast_tensors(*xs)).prod(0)),
    "Average": (L.Average, L.average, lambda torch, xs: torch.stack(torch.broadcast_tensors(*xs)).mean(0)),
    "Maximum": (L.Maximum, L.maximum, lambda torch, xs: torch.stack(torch.broadcast_tensors(*xs)).amax(0)),
    "Minimum": (L.Minimum, L.minimum, lambda torch, xs: torch.stack(torch.broadcast_tensors(*xs)).amin(0)),
}


@st.composite
def broadcastable_shapes(draw, count):
    """`count` shapes with one batch size whose other axes broadcast from the right (some axes 1, some
    inputs of lower rank)."""
    batch = draw(st.integers(1, 3))
    full = draw(st.lists(st.integers(2, 4), min_size=1, max_size=3))
    shapes = []
    for _ in range(count):
        rest = full[draw(st.integers(0, len(full) - 1)):]
        rest = [1 if draw(st.booleans()) and draw(st.booleans()) else n for n in rest]
        shapes.append((batch, *rest))
    return shapes


def _torch_reference(torch, name, arrays, upstream):
    xs = [torch.tensor(a, requires_grad=True) for a in arrays]
    # Keras's rule: a lower-rank input gets new axes after the batch axis, so its other axes align on the right
    rank = max(a.ndim for a in arrays)
    aligned = [x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:]) for x in xs]
    out = ELEMENTWISE[name][2](torch, aligned)
    (out * torch.tensor(upstream)).sum().backward()
    return out.detach().numpy(), [x.grad.numpy() for x in xs]


@pytest.mark.parametrize("name", sorted(ELEMENTWISE))
@settings(max_examples=12)
@given(data=st.data())
def test_elementwise_merges_match_pytorch_values_and_gradients(name, data):
    torch = require_torch()
    count = 2 if name == "Subtract" else data.draw(st.integers(2, 4))
    shapes = data.draw(broadcastable_shapes(count))
    rng = np.random.default_rng(len(str(shapes)))
    arrays = [rng.standard_normal(shape) for shape in shapes]   # continuous: no ties for Maximum/Minimum
    layer_class, function, _ = ELEMENTWISE[name]
    tensors = [tc.Tensor(a, requires_grad=True) for a in arrays]
    out = layer_class()(tensors)
    upstream = rng.standard_normal(out.shape)
    expected, expected_grads = _torch_reference(torch, name, arrays, upstream)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    grads = tc.grad((out * upstream).sum(), tensors)
    for ours, theirs in zip(grads, expected_grads, strict=True):
        np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(function([tc.Tensor(a) for a in arrays]).numpy(), out.numpy())
    symbolic = layer_class()([tc.Input(shape[1:]) for shape in shapes])
    assert symbolic.shape == (None, *out.shape[1:])


@settings(max_examples=15)
@given(st.integers(0, 3), st.lists(st.integers(1, 3), min_size=2, max_size=4), st.integers(1, 3))
def test_concatenate_matches_pytorch(axis_index, sizes, batch):
    torch = require_torch()
    rank = 4
    axis = [1, 2, 3, -1][axis_index]
    rng = np.random.default_rng(sum(sizes))
    shapes = []
    for size in sizes:
        shape = [batch, 2, 3, 2]
        shape[axis] = size
        shapes.append(tuple(shape))
    arrays = [rng.standard_normal(shape) for shape in shapes]
    tensors = [tc.Tensor(a, requires_grad=True) for a in arrays]
    out = L.Concatenate(axis=axis)(tensors)
    upstream = rng.standard_normal(out.shape)
    reference = [torch.tensor(a, requires_grad=True) for a in arrays]
    expected = torch.cat(reference, dim=axis)
    (expected * torch.tensor(upstream)).sum().backward()
    np.testing.assert_array_equal(out.numpy(), expected.detach().numpy())
    for ours, theirs in zip(tc.grad((out * upstream).sum(), tensors), reference, strict=True):
        np.testing.assert_allclose(ours.numpy(), theirs.grad.numpy(), rtol=1e-12)
    symbolic = L.concatenate([tc.Input(shape[1:]) for shape in shapes], axis=axis)
    assert symbolic.shape == (None, *out.shape[1:]) and len(out.shape) == rank


def test_merges_pass_gradcheck():
    rng = np.random.default_rng(0)
    a, b, c = (tc.Tensor(rng.standard_normal(shape), requires_grad=True) for shape in [(2, 3), (2, 1), (2, 2, 3)])
    for layer in (L.Add(), L.Multiply(), L.Average(), L.Maximum(), L.Minimum()):
        assert tc.gradcheck(lambda x, y, z, layer=layer: layer([x, y, z]), (a, b, c))
    assert tc.gradcheck(lambda x, y: L.Concatenate()([x, y]), (a, tc.Tensor(rng.standard_normal((2, 4)),
                                                                            requires_grad=True)))


def test_shape_rules_follow_keras():
    assert L.Add().compute_output_shape([(None, 3), (None, 4, 3)]) == (None, 4, 3)
    assert L.Add().compute_output_shape([(None, 1, 5), (None, 4, 1)]) == (None, 4, 5)
    assert L.Add().compute_output_shape([(None, None, 5), (None, 4, 5)]) == (None, None, 5)
    assert L.Add().compute_output_shape([(8, 3), (None, 3)]) == (8, 3)
    assert L.Concatenate().compute_output_shape([(None, 2, 3), (None, 2, 5)]) == (None, 2, 8)
    assert L.Concatenate(axis=1).compute_output_shape([(None, None, 3), (None, 2, 3)]) == (None, None, 3)
    assert L.Concatenate(axis=1).compute_output_shape([(None, 2, None), (None, 2, 3)]) == (None, 4, 3)


@pytest.mark.parametrize("call, error, message", [
    (lambda: L.Add()([np.ones((2, 3)), np.ones((2, 4))]), ValueError,
     r"'add.*': the inputs have incompatible shapes \[\(2, 3\), \(2, 4\)\]"),
    (lambda: L.Add()(np.ones((2, 3))), ValueError, r"must be called on a list of tensors.*Add\(\)\(\[x, y\]\)"),
    (lambda: L.Add()(tc.Input((3,))), ValueError, r"must be called on a list of tensors.*\(None, 3\)"),
    (lambda: L.Add()([]), ValueError, r"must be called on a list of at least 1 tensor, got 0"),
    (lambda: L.Subtract()([np.ones((1, 2))] * 3), ValueError, r"list of 2 tensors, got 3: \[\(1, 2\)"),
    (lambda: L.Multiply()([np.ones((2, 3)), np.ones((3, 3))]), ValueError,
     r"different batch sizes.*\[\(2, 3\), \(3, 3\)\]"),
    (lambda: L.Concatenate()([np.ones((2, 3, 2)), np.ones((2, 4, 2))]), ValueError,
     r"shapes match except along the concatenation axis -1, got \[\(2, 3, 2\), \(2, 4, 2\)\]"),
    (lambda: L.Concatenate()([np.ones((2, 3)), np.ones((2, 3, 1))]), ValueError, "of one rank"),
    (lambda: L.Concatenate(axis=3)([np.ones((2, 3)), np.ones((2, 3))]), ValueError,
     r"axis 3 is out of range for inputs of rank 2"),
    (lambda: L.Concatenate(axis=1.5), TypeError, "axis must be an int"),
    (lambda: L.Average()([tc.Input((3,)), tc.Input((4,))]), ValueError, r"\[\(None, 3\), \(None, 4\)\]"),
])
def test_bad_merges_name_the_shapes(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_merge_layers_round_trip_through_configs_and_files(tmp_path):
    a, b = tc.Input((4,), name="a"), tc.Input((4,), name="b")
    outputs = [L.Concatenate(axis=-1, name="join")([a, b]), L.Maximum(name="most")([a, b]), L.average([a, b])]
    model = tc.Model([a, b], outputs)
    config = json.loads(json.dumps(model.get_config()))
    assert next(e for e in config["layers"] if e["name"] == "join")["config"]["axis"] == -1
    model.save(tmp_path / "m.npz")
    loaded = tc.load_model(tmp_path / "m.npz")
    x = [np.arange(8.0).reshape(2, 4), np.ones((2, 4))]
    for ours, theirs in zip(loaded(x), model(x), strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@st.composite
def dot_case(draw):
    """Two inputs (rank 2 to 4, one batch size) whose chosen axes share a size, and Keras's `axes` for them
    (an int when both axes are the same, else a pair; sometimes negative)."""
    batch, k = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    shapes, chosen = [], []
    for _ in range(2):
        rank = draw(st.integers(2, 4))
        shape = [batch] + [draw(st.integers(1, 3)) for _ in range(rank - 1)]
        axis = draw(st.integers(1, rank - 1))
        shape[axis] = k
        shapes.append(tuple(shape))
        chosen.append(axis - rank if draw(st.booleans()) else axis)
    same = chosen[0] % len(shapes[0]) == chosen[1] % len(shapes[1]) and chosen[0] == chosen[1]
    return shapes, chosen[0] if same and draw(st.booleans()) else tuple(chosen)


@settings(max_examples=30)
@given(case=dot_case(), normalize=st.booleans(), seed=st.integers(0, 2**16))
def test_dot_matches_pytorch_values_and_gradients(case, normalize, seed):
    torch = require_torch()
    shapes, axes = case
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(shape) for shape in shapes]
    tensors = [tc.Tensor(a, requires_grad=True) for a in arrays]
    out = L.Dot(axes, normalize=normalize)(tensors)
    assert out.shape == L.Dot(axes).compute_output_shape(shapes)
    upstream = rng.standard_normal(out.shape)
    reference = [torch.tensor(a, requires_grad=True) for a in arrays]
    pair = axes if isinstance(axes, tuple) else (axes, axes)
    a, b = (axis % len(shape) for axis, shape in zip(pair, shapes, strict=True))
    x, y = (torch.nn.functional.normalize(t, dim=axis, eps=1e-7) if normalize else t
            for t, axis in zip(reference, (a, b), strict=True))
    # the first input's other axes, then the second's: move the dot axes last, contract them per sample
    x, y = x.movedim(a, -1), y.movedim(b, -1)
    expected = torch.einsum("bpk,bqk->bpq", x.reshape(x.shape[0], -1, x.shape[-1]),
                            y.reshape(y.shape[0], -1, y.shape[-1])).reshape(out.shape)
    (expected * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    for ours, theirs in zip(tc.grad((out * upstream).sum(), tensors), reference, strict=True):
        np.testing.assert_allclose(ours.numpy(), theirs.grad.numpy(), rtol=1e-9, atol=1e-11)
    symbolic = L.dot([tc.Input(shape[1:]) for shape in shapes], axes=axes, normalize=normalize)
    assert symbolic.shape == (None, *out.shape[1:])


def test_dot_is_keras_batch_dot_and_cosine_similarity():
    x, y = np.arange(10.0).reshape(1, 5, 2), np.arange(10.0, 20.0).reshape(1, 2, 5)
    np.testing.assert_array_equal(L.Dot(axes=(1, 2))([x, y]).numpy(), np.einsum("bkp,bqk->bpq", x, y))
    a, b = np.array([[3.0, 4.0], [1.0, 0.0]]), np.array([[4.0, 3.0], [0.0, 0.0]])
    np.testing.assert_allclose(L.dot([a, b], axes=1).numpy(), [[24.0], [0.0]])
    np.testing.assert_allclose(L.dot([a, b], axes=1, normalize=True).numpy(), [[24 / 25], [0.0]])
    zero = tc.Tensor(b, requires_grad=True)
    (grad,) = tc.grad(L.Dot(1, normalize=True)([a, zero]).sum(), [zero])
    assert np.isfinite(grad.numpy()).all()   # a zero vector: zeros, and a finite gradient
    assert L.Dot(-1).compute_output_shape([(None, 3), (None, 3)]) == (None, 1)
    assert L.Dot((2, 1)).compute_output_shape([(None, 4, 3), (None, 3, 6, 2)]) == (None, 4, 6, 2)
    assert L.Dot(1).compute_output_shape([(None, None), (None, 7)]) == (None, 1)


def test_dot_passes_gradcheck():
    rng = np.random.default_rng(1)
    a, b = (tc.Tensor(rng.standard_normal(shape), requires_grad=True) for shape in [(2, 3, 4), (2, 4, 2)])
    assert tc.gradcheck(lambda x, y: L.Dot((2, 1), normalize=True)([x, y]), (a, b))
    assert tc.gradgradcheck(lambda x, y: L.Dot((2, 1))([x, y]), (a, b))


@pytest.mark.parametrize("call, error, message", [
    (lambda: L.Dot(axes=(1, 2))([np.ones((2, 3)), np.ones((2, 3, 4))]), ValueError,
     r"axis 1 of the first input has 3 and axis 2 of the second has 4: \[\(2, 3\), \(2, 3, 4\)\]"),
    (lambda: L.Dot(0)([np.ones((2, 3)), np.ones((2, 3))]), ValueError, r"axis 0 of the first input.*after the batch"),
    (lambda: L.Dot(3)([np.ones((2, 3)), np.ones((2, 3))]), ValueError, r"axes=3 names axis 3.*\(2, 3\)"),
    (lambda: L.Dot(1)([np.ones(2), np.ones(2)]), ValueError, "at least 2 axes"),
    (lambda: L.Dot(1)([np.ones((2, 3))] * 3), ValueError, r"list of 2 tensors, got 3"),
    (lambda: L.Dot(1)([np.ones((2, 3)), np.ones((3, 3))]), ValueError, "different batch sizes"),
    (lambda: L.Dot((1, 2, 3)), TypeError, r"axes must be an int.*or a pair of ints.*\(1, 2, 3\)"),
    (lambda: L.Dot(1.0), TypeError, "axes must be an int"),
    (lambda: L.Dot(1, normalize="yes"), TypeError, "normalize"),
    (lambda: L.Dot(1)([tc.Input((3,)), tc.Input((4,))]), ValueError, r"\[\(None, 3\), \(None, 4\)\]"),
])
def test_bad_dots_name_the_shapes_and_axes(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_dot_round_trips_through_configs_and_files(tmp_path):
    a, b = tc.Input((4, 3), name="a"), tc.Input((3,), name="b")
    model = tc.Model([a, b], L.Dot(axes=(2, 1), normalize=True, name="cos")([a, b]))
    config = json.loads(json.dumps(model.get_config()))
    entry = next(e for e in config["layers"] if e["name"] == "cos")["config"]
    assert (entry["axes"], entry["normalize"]) == ([2, 1], True)
    model.save(tmp_path / "m.npz")
    x = [np.random.default_rng(0).standard_normal((2, 4, 3)), np.ones((2, 3))]
    np.testing.assert_array_equal(tc.load_model(tmp_path / "m.npz")(x).numpy(), model(x).numpy())
    assert model.output_shape == (None, 4)
