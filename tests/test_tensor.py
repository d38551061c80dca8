"""The Tensor itself: construction and dtype rules, properties, repr, creation, comparisons, in-place rules."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_cnn as tc

# --- construction and dtypes ---


@pytest.mark.parametrize("data, dtype", [
    ([1.0, 2.0], np.float32),                       # Python floats default to float32
    (2.5, np.float32),
    ([[1, 2.5], [3, 4]], np.float32),
    (np.ones(2), np.float64),                       # float64 arrays are kept
    (np.float64(2.5), np.float64),
    (np.ones(2, np.float32), np.float32),
    (np.ones(2, np.float16), np.float32),           # other float widths become float32
    ([1, 2], np.int64),
    (np.arange(3, dtype=np.int32), np.int32),
    ([True, False], np.bool_),
])
def test_dtype_rules(data, dtype):
    assert tc.Tensor(data).dtype == dtype


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=5))
def test_lists_of_floats_become_float32_with_their_values(values):
    t = tc.Tensor(values)
    assert t.dtype == np.float32 and t.shape == (len(values),)
    np.testing.assert_array_equal(t.data, np.asarray(values, np.float32))


@pytest.mark.parametrize("dtype", ["float64", np.float32, "int32"])
def test_explicit_dtype_wins(dtype):
    assert tc.Tensor([1.5, 2.0], dtype=dtype).dtype == np.dtype(dtype)


def test_tensor_of_a_tensor_copies_its_data():
    x = tc.Tensor([1.0, 2.0], dtype="float64")
    y = tc.Tensor(x)
    assert y.dtype == np.float64 and y.data is not x.data and not y.requires_grad


@pytest.mark.parametrize("data", [[1, 2], 3, [True], np.arange(3)])
def test_integer_and_bool_tensors_cannot_require_grad(data):
    with pytest.raises(TypeError, match=r"only floating-point tensors can require grad.*dtype="):
        tc.Tensor(data, requires_grad=True)
    t = tc.Tensor(data)
    with pytest.raises(TypeError, match="only floating-point"):
        t.requires_grad = True


@pytest.mark.parametrize("data", ["abc", [object()], {"a": 1}])
def test_non_numeric_data_is_a_clear_error(data):
    with pytest.raises(TypeError, match="Tensor data must be numbers"):
        tc.Tensor(data)


def test_casts():
    x = tc.Tensor([1.5, -2.0], requires_grad=True)
    y = x.double()
    assert y.dtype == np.float64 and y.requires_grad
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32  # gradients come back in the leaf's dtype
    np.testing.assert_allclose(x.grad.data, [3.0, -4.0])
    assert x.float() is x
    with pytest.raises(TypeError, match="cannot cast a tensor that requires grad to int64"):
        x.astype("int64")
    np.testing.assert_array_equal(x.detach().astype("int64").data, [1, -2])


@pytest.mark.parametrize("op", [lambda i: i * 2.5, lambda i: i / 2, lambda i: i + tc.ones(2), lambda i: i.mean()],
                         ids=["int * float", "int / int", "int + float32", "mean of ints"])
def test_floats_computed_from_integers_are_float32(op):
    assert op(tc.Tensor([1, 2])).dtype == np.float32


# --- properties and repr ---


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3), elements=st.floats(-1e3, 1e3)))
def test_properties_mirror_the_array(array):
    t = tc.Tensor(array)
    assert (t.shape, t.ndim, t.size, t.dtype) == (array.shape, array.ndim, array.size, array.dtype)
    assert t.numpy() is t.data and t.tolist() == array.tolist()
    assert t.is_leaf and not t.requires_grad and t.grad is None and t.grad_fn is None


def test_scalar_conversions():
    t = tc.Tensor([[2.5]])
    assert t.item() == 2.5 and float(t) == 2.5 and int(t) == 2 and bool(t) and isinstance(t.item(), float)
    assert len(tc.ones(4, 2)) == 4
    with pytest.raises(ValueError, match=r"one element, this one has shape \(2,\)"):
        tc.ones(2).item()
    with pytest.raises(ValueError, match="ambiguous"):
        bool(tc.ones(2))
    with pytest.raises(TypeError, match="0-d"):
        len(tc.Tensor(1.0))


def test_grad_is_a_settable_tensor():
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    assert isinstance(x.grad, tc.Tensor) and x.grad.shape == x.shape
    x.grad = None
    assert x.grad is None


def test_leaves_and_grad_fn():
    x = tc.Tensor([1.0], requires_grad=True)
    y = x * 2
    assert x.is_leaf and not y.is_leaf and y.grad_fn.name == "Mul"
    with pytest.raises(RuntimeError, match=r"only be turned off on a leaf.*detach"):
        y.requires_grad = False


def test_repr_is_readable():
    assert repr(tc.Tensor([1.0, 2.5])) == "Tensor([1. , 2.5])"
    assert repr(tc.Tensor([1.0, 2.0], requires_grad=True)) == "Tensor([1., 2.], requires_grad=True)"
    assert repr(tc.Tensor([1.0], requires_grad=True) * 2) == "Tensor([2.], grad_fn=<Mul>)"
    assert repr(tc.Tensor(np.ones(2))) == "Tensor([1., 1.], dtype=float64)"
    assert repr(tc.Tensor(3, name="steps")) == "Tensor(3, dtype=int64, name='steps')"
    long = repr(tc.zeros(1000))
    assert "..." in long and len(long) < 120
    assert repr(tc.ones(2, 2)) == "Tensor([[1., 1.],\n        [1., 1.]])"  # rows line up under "Tensor("

# --- creation ---


@pytest.mark.parametrize("make, value", [(tc.zeros, 0.0), (tc.ones, 1.0)])
def test_zeros_and_ones(make, value):
    for t in (make(2, 3), make((2, 3)), make([2, 3])):
        assert t.shape == (2, 3) and t.dtype == np.float32 and (t.data == value).all()
    assert make(2, dtype="float64").dtype == np.float64
    assert make(2, requires_grad=True).requires_grad
    assert make().shape == ()


def test_full_arange_eye():
    t = tc.full((2, 2), 7.0)
    assert t.shape == (2, 2) and t.dtype == np.float32 and (t.data == 7).all()
    assert tc.full(3, 1.0).shape == (3,)
    assert tc.arange(4).dtype == np.int64 and tc.arange(4).tolist() == [0, 1, 2, 3]
    assert tc.arange(0, 1, 0.25).dtype == np.float32 and tc.arange(0, 1, 0.25).tolist() == [0, 0.25, 0.5, 0.75]
    assert tc.arange(1.0, 4.0, requires_grad=True).requires_grad
    np.testing.assert_array_equal(tc.eye(2, 3).data, np.eye(2, 3))
    assert tc.eye(3).dtype == np.float32


@pytest.mark.parametrize("make", [tc.zeros, tc.ones, tc.rand, tc.randn])
def test_bad_shapes_are_clear_errors(make):
    for shape in [(-1,), (2.5,), (True,)]:
        with pytest.raises(ValueError, match="sizes must be non-negative ints"):
            make(*shape)


def test_random_values_and_reproducibility():
    tc.manual_seed(0)
    first = [tc.rand(3, 4), tc.randn(5), tc.rand_like(tc.zeros(2)), tc.randn_like(tc.zeros(2))]
    tc.manual_seed(0)
    again = [tc.rand(3, 4), tc.randn(5), tc.rand_like(tc.zeros(2)), tc.randn_like(tc.zeros(2))]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a.data, b.data)
    tc.manual_seed(1)
    assert not np.array_equal(tc.rand(3, 4).data, first[0].data)
    assert ((first[0].data >= 0) & (first[0].data < 1)).all()
    big = tc.randn(10000)
    assert abs(big.data.mean()) < 0.05 and abs(big.data.std() - 1) < 0.05


@pytest.mark.parametrize("like", [tc.zeros_like, tc.ones_like, tc.rand_like, tc.randn_like,
                                  lambda t, **kw: tc.full_like(t, 3.0, **kw)])
def test_like_functions_keep_shape_and_dtype(like):
    source = tc.Tensor(np.zeros((2, 3)), requires_grad=True)
    made = like(source)
    assert made.shape == (2, 3) and made.dtype == np.float64 and not made.requires_grad
    assert like(source, dtype="float32").dtype == np.float32
    assert like(source, requires_grad=True).requires_grad

# --- comparisons and argmax: results, never gradients ---


@given(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3), st.integers(0, 2**16))
def test_comparisons_give_bool_tensors_outside_the_graph(pair, seed):
    rng = np.random.default_rng(seed)
    a_data, b_data = (rng.integers(0, 3, shape).astype(np.float32) for shape in pair.input_shapes)
    a, b = tc.Tensor(a_data, requires_grad=True), tc.Tensor(b_data, requires_grad=True)
    for op in ("__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"):
        result = getattr(a, op)(b)
        assert result.dtype == np.bool_ and not result.requires_grad and result.is_leaf
        np.testing.assert_array_equal(result.data, getattr(a_data, op)(b_data))
    mask = a > 1
    np.testing.assert_array_equal((~mask).data, ~(a_data > 1))
    np.testing.assert_array_equal((mask & (b > 0)).data, (a_data > 1) & (b_data > 0))
    np.testing.assert_array_equal((mask | (b > 0)).data, (a_data > 1) | (b_data > 0))


def test_argmax_argmin_are_not_differentiable():
    x = tc.Tensor([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]], requires_grad=True)
    for name in ("argmax", "argmin"):
        for axis in (None, 0, 1):
            result = getattr(x, name)(axis=axis)
            assert not result.requires_grad and result.dtype.kind == "i"
            np.testing.assert_array_equal(result.data, getattr(np, name)(x.data, axis=axis))
    assert x.argmax(axis=1, keepdims=True).shape == (2, 1)


def test_a_comparison_mask_inside_a_graph():
    x = tc.Tensor([-1.0, 2.0, 3.0], requires_grad=True)
    tc.where(x > 0, x * x, tc.zeros(3)).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 4.0, 6.0])

# --- in-place changes: refused while recording, detected when saved ---


INPLACE = {
    "setitem": lambda t: t.__setitem__(0, 5.0),
    "setitem with a tensor index": lambda t: t.__setitem__(tc.Tensor([True, False]), 5.0),
    "+=": lambda t: t.__iadd__(1.0),
    "-=": lambda t: t.__isub__(1.0),
    "*=": lambda t: t.__imul__(2.0),
    "/=": lambda t: t.__itruediv__(2.0),
    "copy_": lambda t: t.copy_(tc.Tensor([7.0, 8.0])),
    "fill_": lambda t: t.fill_(3.0),
    "zero_": lambda t: t.zero_(),
}


@pytest.mark.parametrize("change", INPLACE.values(), ids=list(INPLACE))
def test_inplace_on_a_tensor_that_requires_grad_is_refused_while_recording(change):
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    for target in (x, x * 2):
        with pytest.raises(RuntimeError, match=r"in place.*tc.no_grad"):
            change(target)
    np.testing.assert_array_equal(x.data, [1.0, 2.0])


@pytest.mark.parametrize("change", INPLACE.values(), ids=list(INPLACE))
def test_changing_a_saved_tensor_makes_backward_fail_not_lie(change):
    w = tc.Tensor([1.0, 2.0], requires_grad=True)
    constant = tc.Tensor([3.0, 4.0])   # does not require grad, but Mul saved it for w's gradient
    parameter = tc.Tensor([5.0, 6.0], requires_grad=True)
    y = (w * constant).sum() + (w * parameter).sum()
    change(constant)                   # allowed: it requires no grad ...
    with tc.no_grad():
        change(parameter)              # ... and this one is changed as an optimizer step would
    with pytest.raises(RuntimeError, match=r"saved tensor 1 of Mul .* modified in place"):
        y.backward()


@pytest.mark.parametrize("name", ["exp", "tanh", "sigmoid"])
def test_changing_an_output_leaves_its_gradient_right(name):
    x = tc.Tensor([1.0, 2.0], dtype="float64", requires_grad=True)
    y = getattr(x, name)()
    with tc.no_grad():
        y *= 2          # backward must not read the output it returned
    y.backward(tc.ones(2, dtype="float64"))
    expected = {"exp": np.exp, "tanh": lambda v: 1 - np.tanh(v) ** 2,
                "sigmoid": lambda v: np.exp(-v) / (1 + np.exp(-v)) ** 2}[name](x.data)
    np.testing.assert_allclose(x.grad.data, expected, rtol=1e-12)


def test_inplace_on_a_broadcast_view_is_a_clear_error():
    y = tc.ones(2).broadcast_to(3, 2)
    with pytest.raises(ValueError, match="broadcast.*clone"):
        y += 1


def test_inplace_on_a_tensor_no_op_saved_is_fine():
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    y = (x + 1).sum()   # Add's gradient does not depend on x: nothing saved
    with tc.no_grad():
        x += 10
    y.backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 1.0])


def test_an_optimizer_step_between_iterations():
    w = tc.Tensor([1.0, -2.0], requires_grad=True)
    for _ in range(3):
        loss = (w * w).sum()
        loss.backward()
        with tc.no_grad():
            w -= 0.25 * w.grad
        w.grad = None
    np.testing.assert_allclose(w.data, np.array([1.0, -2.0]) * 0.5 ** 3)


OTHER_TENSORS = {  # another tensor made from a saved x: (how, shares x's memory)
    "detach": (lambda x: x.detach(), True),
    "reshape": (lambda x: x.reshape(2, 1), True),
    "basic index": (lambda x: x[::-1], True),
    "transpose of a view": (lambda x: x.reshape(1, 2).T, True),
    "unsqueeze": (lambda x: x.unsqueeze(0), True),
    "integer-array index": (lambda x: x[[0, 1]], False),
    "mask": (lambda x: x[x > 0], False),
    "clone": (lambda x: x.clone(), False),
}


@pytest.mark.parametrize("name", OTHER_TENSORS)
def test_changing_a_saved_tensor_through_a_view_is_detected_and_a_copy_is_fine(name):
    make, shares_memory = OTHER_TENSORS[name]
    w = tc.Tensor([1.0, 2.0], requires_grad=True)
    x = tc.Tensor([3.0, 4.0], requires_grad=True)
    y = (w * x).sum()
    other = make(x)
    with tc.no_grad():
        other += 1      # a view changes x.data too (views share memory and version, as in PyTorch)
    if shares_memory:
        with pytest.raises(RuntimeError, match="modified in place"):
            y.backward()
    else:
        y.backward()
        np.testing.assert_array_equal(w.grad.data, [3.0, 4.0])
