"""Movement ops (reshape, transpose, broadcast, pad, indexing, concatenate, stack) against PyTorch."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import require_torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from oracle import check_op, randn, seeds, shapes

import tinygrad_cnn as tc


@settings(max_examples=15)
@given(shape=shapes, data=st.data(), seed=seeds)
def test_reshape(shape, data, seed):
    (x,) = randn(seed, shape)
    target = data.draw(st.permutations(list(shape)), label="target")  # same size, other order
    if target:
        target[data.draw(st.integers(0, len(target) - 1), label="inferred")] = -1
    check_op(lambda a: a.reshape(tuple(target)), x, seed=seed)


def test_reshape_takes_a_tuple_or_ints():
    x = tc.arange(6.0)
    assert x.reshape(2, 3).shape == x.reshape((2, 3)).shape == x.reshape([2, -1]).shape == (2, 3)
    assert x.view(3, 2).shape == (3, 2)


@settings(max_examples=15)
@given(shape=shapes, data=st.data(), seed=seeds)
def test_transpose_and_permute(shape, data, seed):
    (x,) = randn(seed, shape)
    axes = tuple(data.draw(st.permutations(range(len(shape))), label="axes"))
    check_op(lambda a: a.transpose(*axes), x, torch_op=lambda t: t.permute(axes), seed=seed)
    check_op(lambda a: a.permute(axes), x, torch_op=lambda t: t.permute(axes), seed=seed, second_order=False)
    reverse = tuple(reversed(range(len(shape))))
    check_op(lambda a: a.transpose(), x, torch_op=lambda t: t.permute(reverse), seed=seed, second_order=False)


def test_transpose_forms_agree():
    x = tc.randn(2, 3, 4)
    assert x.transpose(2, 0, 1).shape == x.transpose((2, 0, 1)).shape == x.permute(2, 0, 1).shape == (4, 2, 3)
    assert x.T.shape == (4, 3, 2) and x.swapaxes(0, 2).shape == (4, 3, 2)


@settings(max_examples=15)
@given(shape=hnp.array_shapes(min_dims=0, max_dims=4, max_side=3), data=st.data(), seed=seeds)
def test_flatten(shape, data, seed):
    (x,) = randn(seed, shape)
    last = max(len(shape), 1) - 1  # a 0-d tensor flattens to shape (1,), as in PyTorch
    start = data.draw(st.integers(0, last), label="start")
    end = data.draw(st.integers(start, last), label="end")
    check_op(lambda a: a.flatten(start, end), x, torch_op=lambda t: t.flatten(start, end), seed=seed)


@settings(max_examples=15)
@given(shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=2), data=st.data(), seed=seeds)
def test_squeeze_and_unsqueeze(shape, data, seed):
    (x,) = randn(seed, shape)
    ones = [i for i, n in enumerate(shape) if n == 1]
    axis = data.draw(st.none() | st.sampled_from(ones) if ones else st.none(), label="axis")
    torch_squeeze = (lambda t: t.squeeze()) if axis is None else (lambda t: t.squeeze(axis))
    check_op(lambda a: a.squeeze(axis), x, torch_op=torch_squeeze, seed=seed)
    position = data.draw(st.integers(-len(shape) - 1, len(shape)), label="position")
    check_op(lambda a: a.unsqueeze(position), x, torch_op=lambda t: t.unsqueeze(position), seed=seed)


@settings(max_examples=15)
@given(case=hnp.mutually_broadcastable_shapes(num_shapes=1, min_dims=0, max_dims=3, max_side=3), seed=seeds)
def test_broadcast_to(case, seed):
    (shape,), target = case.input_shapes, case.result_shape
    (x,) = randn(seed, shape)
    check_op(lambda a: a.broadcast_to(target), x, torch_op=lambda t: t.broadcast_to(target), seed=seed)


@settings(max_examples=15)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=3), data=st.data(), seed=seeds)
def test_pad(shape, data, seed):
    torch = require_torch()
    (x,) = randn(seed, shape)
    pairs = [tuple(data.draw(st.lists(st.integers(0, 2), min_size=2, max_size=2))) for _ in shape]
    value = data.draw(st.sampled_from([0.0, -1.5]), label="value")
    flat = [n for pair in reversed(pairs) for n in pair]  # torch pads the last axis first
    check_op(lambda a: a.pad(pairs, value), x,
             torch_op=lambda t: torch.nn.functional.pad(t, flat, value=value), seed=seed)


def test_pad_width_forms():
    x = tc.ones(2, 3)
    assert x.pad(1).shape == (4, 5) and x.pad((1, 2)).shape == (5, 6) and x.pad(((0, 0), (2, 0))).shape == (2, 5)


def _torch_index(t, index, shape):
    """t[index] in PyTorch for any NumPy index: NumPy says which elements, torch gathers them."""
    torch = require_torch()
    positions = np.asarray(np.arange(int(np.prod(shape))).reshape(shape)[index])
    return t.reshape(-1)[torch.tensor(np.ascontiguousarray(positions).reshape(-1))].reshape(positions.shape)


@st.composite
def indices(draw: st.DrawFn, shape: tuple[int, ...]) -> object:
    """A NumPy index for `shape`: basic (ints, slices with any step, ..., None), integer arrays or a mask."""
    kind = draw(st.sampled_from(["basic", "integer array", "mask"]))
    if kind == "basic" or not shape:
        return draw(hnp.basic_indices(shape, min_dims=0, allow_newaxis=True, allow_ellipsis=True))
    if kind == "integer array":  # repeated entries are likely: their gradients must add up
        return draw(hnp.integer_array_indices(shape, result_shape=hnp.array_shapes(min_dims=1, max_dims=2)))
    axes = draw(st.integers(1, len(shape)))
    return draw(hnp.arrays(np.bool_, shape[:axes]))


@settings(max_examples=40)
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4), data=st.data(), seed=seeds)
def test_getitem(shape, data, seed):
    (x,) = randn(seed, shape)
    index = data.draw(indices(shape), label="index")
    check_op(lambda a: a[index], x, torch_op=lambda t: _torch_index(t, index, shape), seed=seed)


def test_repeated_integer_indices_accumulate():
    x = tc.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[[0, 2, 0, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 0.0, 1.0])


def test_index_with_tensors_and_mixed_parts():
    x = tc.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(x[tc.Tensor([1, 0]), ..., ::-2].data, x.data[[1, 0], ..., ::-2])
    np.testing.assert_array_equal(x[x > 20].data, [21.0, 22.0, 23.0])
    np.testing.assert_array_equal(x[:, None, 1, -1].data, x.data[:, None, 1, -1])


@st.composite
def joined_shapes(draw: st.DrawFn, same: bool) -> tuple[list[tuple[int, ...]], int]:
    """1 to 3 shapes that agree except (unless `same`) along `axis`; the axis may be negative."""
    base = list(draw(hnp.array_shapes(min_dims=0 if same else 1, max_dims=3, max_side=3)))
    count = draw(st.integers(1, 3))
    axis = draw(st.integers(-len(base) - same, len(base) - 1 + same))
    if same:
        return [tuple(base)] * count, axis
    sizes = draw(st.lists(st.integers(1, 3), min_size=count, max_size=count))
    position = axis % len(base)
    return [tuple(base[:position] + [n] + base[position + 1:]) for n in sizes], axis


@pytest.mark.parametrize("name", ["concatenate", "stack"])
@settings(max_examples=15)
@given(data=st.data(), seed=seeds)
def test_concatenate_and_stack(name, data, seed):
    torch = require_torch()
    shape_list, axis = data.draw(joined_shapes(same=name == "stack"), label="shapes, axis")
    arrays = randn(seed, *shape_list)
    torch_op = torch.cat if name == "concatenate" else torch.stack
    check_op(lambda *ts: getattr(tc, name)(ts, axis=axis), *arrays,
             torch_op=lambda *ts: torch_op(ts, dim=axis), seed=seed)


@pytest.mark.parametrize("call, error, message", [
    (lambda x: x.reshape(4, 4), ValueError, r"shape \(2, 3\).*\(4, 4\)"),
    (lambda x: x.reshape(-1, -1), ValueError, "only one dimension can be -1"),
    (lambda x: x.transpose(0, 0), ValueError, "not a permutation"),
    (lambda x: x.squeeze(1), ValueError, "cannot squeeze axis 1"),
    (lambda x: x.unsqueeze(4), IndexError, "out of range"),
    (lambda x: x.broadcast_to(3, 3), ValueError, r"cannot broadcast a tensor of shape \(2, 3\) to \(3, 3\)"),
    (lambda x: x.pad(-1), ValueError, "must not be negative"),
    (lambda x: x.pad(((1, 1),) * 3), ValueError, "3 pairs but the tensor has 2 axes"),
    (lambda x: x[2], IndexError, r"shape \(2, 3\)"),
    (lambda x: x[0.5], IndexError, "invalid index"),
    (lambda x: x[np.array([0.0])], IndexError, "integer or bool"),
    (lambda x: tc.concatenate([x, tc.ones(3, 3)], axis=1), ValueError, "all axes but 1 must match"),
    (lambda x: tc.concatenate([]), ValueError, "at least one"),
    (lambda x: tc.stack([x, x.T]), ValueError, "same shape"),
])
def test_bad_arguments_are_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call(tc.ones(2, 3))
