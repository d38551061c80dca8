"""Issue #2 acceptance audit: neighbours of the contract a PyTorch/NumPy user tries, and their clear errors."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_cnn as tc

# --- .grad is a Tensor or None, of the tensor's shape (as torch checks the assignment) ---


def test_grad_assignment_takes_a_tensor_of_the_same_shape_or_none():
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    x.grad = tc.Tensor([0.5, 0.5])
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.5, 3.5])
    x.grad = None
    assert x.grad is None


@pytest.mark.parametrize("value, error, message", [
    (np.ones(2), TypeError, "Tensor or None"),
    ([1.0, 1.0], TypeError, "Tensor or None"),
    (tc.Tensor([1.0, 1.0, 1.0]), RuntimeError, r"shape \(2,\).*shape \(3,\)"),
])
def test_grad_assignment_refuses_what_backward_could_not_add_to(value, error, message):
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(error, match=message):
        x.grad = value


# --- a custom Function's forward returns one array or Tensor; backward may return a list ---


def _function(forward_result):
    class Odd(tc.Function):
        @staticmethod
        def forward(ctx, a):
            return forward_result(a)

        @staticmethod
        def backward(ctx, grad):
            return grad
    return Odd


@pytest.mark.parametrize("result", [
    lambda a: (a.data, a.data),          # several outputs: not supported, not silently stacked
    lambda a: "text",
    lambda a: None,
    lambda a: [1.0, 2.0],
])
def test_forward_must_return_one_array_or_tensor(result):
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="Odd.forward"):
        _function(result).apply(x)


@pytest.mark.parametrize("result", [lambda a: a.data.sum(), lambda a: 2.5, lambda a: a * 2])
def test_forward_may_return_numbers_and_tensors(result):
    out = _function(result).apply(tc.Tensor([1.0, 2.0], requires_grad=True))
    assert out.requires_grad and out.dtype == np.float32


def test_backward_may_return_a_list_of_gradients():
    class Both(tc.Function):
        @staticmethod
        def forward(ctx, a, b):
            return a.data + b.data

        @staticmethod
        def backward(ctx, grad):
            return [grad, grad * 2]
    a, b = tc.Tensor([1.0], requires_grad=True), tc.Tensor([2.0], requires_grad=True)
    Both.apply(a, b).sum().backward()
    assert a.grad.item() == 1.0 and b.grad.item() == 2.0


# --- creation ---


@pytest.mark.parametrize("maker", [tc.rand, tc.randn])
@pytest.mark.parametrize("dtype", [np.int64, "int32", bool])
def test_random_tensors_need_a_floating_dtype(maker, dtype):
    with pytest.raises(TypeError, match="dtype"):
        maker(2, 3, dtype=dtype)


@pytest.mark.parametrize("maker", [tc.zeros_like, tc.ones_like, tc.rand_like, tc.randn_like])
def test_like_functions_take_arrays_and_lists_as_numpy_does(maker):
    assert maker(np.ones((2, 3))).shape == (2, 3)
    assert maker([[1.0, 2.0]]).shape == (1, 2) and maker([[1.0, 2.0]]).dtype == np.float32
    assert tc.full_like([1.0, 2.0], 7.0).data.tolist() == [7.0, 7.0]


# --- movement ops: neighbours of the contract ---


def test_concatenate_of_0d_tensors_is_a_clear_error():
    with pytest.raises(ValueError, match="0-d"):
        tc.concatenate([tc.Tensor(1.0), tc.Tensor(2.0)])


def test_an_empty_list_index_selects_nothing_as_in_numpy(torch):
    a = np.random.default_rng(0).standard_normal((2, 3))
    x = tc.Tensor(a, requires_grad=True)
    y = x[[]]
    assert y.shape == torch.tensor(a)[[]].shape == (0, 3)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.zeros((2, 3)))


def test_tensor_slice_bounds_and_integer_tensors_as_indices():
    x = tc.Tensor(np.arange(6.0))
    assert x[tc.Tensor(1):tc.Tensor(4)].data.tolist() == [1.0, 2.0, 3.0]
    assert [10, 20, 30][tc.Tensor(2)] == 30
    with pytest.raises(TypeError, match="integer"):
        [10, 20, 30][tc.Tensor(1.0)]


def test_pad_of_a_0d_tensor_is_a_copy_and_pad_value_must_be_a_number():
    x = tc.Tensor(3.0, requires_grad=True)
    y = x.pad(2)
    assert y.shape == () and y.item() == 3.0
    with pytest.raises(TypeError, match="value"):
        tc.ones(2).pad(1, value="x")


@pytest.mark.parametrize("call", [
    lambda x: x.transpose(0.0, 1, 2),
    lambda x: x.permute(0, 1.5, 2),
    lambda x: x.broadcast_to(2.5, 2, 3, 4),
])
def test_float_axes_and_sizes_are_refused_not_truncated(call):
    with pytest.raises(TypeError, match="int"):
        call(tc.ones(2, 3, 4))


# --- reductions: flags and axes are checked ---


@pytest.mark.parametrize("call", [
    lambda x: x.sum(axis=1, keepdims="no"),
    lambda x: x.max(axis=1, keepdims="no"),
    lambda x: x.mean(keepdims=None),
    lambda x: x.logsumexp(axis=0, keepdims="False"),
    lambda x: x.var(ddof="1"),
])
def test_reduction_flags_must_be_bools_and_ddof_an_int(call):
    with pytest.raises(TypeError, match="keepdims|ddof"):
        call(tc.ones(2, 3))


@pytest.mark.parametrize("call, error", [
    (lambda x: x.argmax(axis=5), IndexError),
    (lambda x: x.argmin(axis=(0, 1)), TypeError),
    (lambda x: x.argmax(axis=1.0), TypeError),
])
def test_argmax_and_argmin_check_their_axis(call, error):
    with pytest.raises(error, match="axis"):
        call(tc.ones(2, 3))


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), elements=st.integers(-3, 3)),
       st.data())
@settings(max_examples=20)
def test_argmax_and_argmin_match_numpy_with_negative_axes_and_keepdims(array, data):
    axis = data.draw(st.integers(-array.ndim, array.ndim - 1))
    keepdims = data.draw(st.booleans())
    t = tc.Tensor(array)
    np.testing.assert_array_equal(t.argmax(axis, keepdims).data, np.argmax(array, axis=axis, keepdims=keepdims))
    np.testing.assert_array_equal(t.argmin(axis=axis, keepdims=keepdims).data,
                                  np.argmin(array, axis=axis, keepdims=keepdims))


# --- comparisons: the same clear errors as arithmetic ---


def test_comparisons_of_shapes_that_do_not_broadcast_name_both_shapes():
    with pytest.raises(ValueError, match=r"do not broadcast.*\(3,\).*\(2,\)"):
        _ = tc.ones(3) < tc.ones(2)


def test_comparisons_with_a_string_are_a_clear_type_error():
    with pytest.raises(TypeError, match="unsupported operand"):
        _ = tc.ones(3) < "a"


def test_comparisons_take_lists_and_arrays():
    x = tc.Tensor([1.0, 2.0, 3.0])
    assert (x >= [1, 5, 0]).data.tolist() == [True, False, True]
    assert (np.array([2.0, 2.0, 2.0]) < x).data.tolist() == [False, False, True]


# --- flags of gradcheck, tc.grad, Tensor(...) ---


@pytest.mark.parametrize("options", [dict(raise_exception="no"), dict(fast_mode="yes")])
def test_gradcheck_flags_must_be_bools(options):
    x = tc.Tensor(np.ones(3), requires_grad=True)
    with pytest.raises(TypeError, match="raise_exception|fast_mode"):
        tc.gradcheck(lambda a: a * 2, [x], **options)
    with pytest.raises(TypeError, match="raise_exception|fast_mode"):
        tc.gradgradcheck(lambda a: a * a, [x], **options)


def test_requires_grad_must_be_a_bool():
    with pytest.raises(TypeError, match="requires_grad"):
        tc.Tensor([1.0], requires_grad="yes")
    assert tc.Tensor([1.0], requires_grad=np.bool_(True)).requires_grad


def test_grad_names_an_input_that_is_not_a_tensor():
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="input 1 of grad.*ndarray"):
        tc.grad((x * 2).sum(), [x, np.ones(2)])


def test_hvp_of_one_input_takes_and_gives_one_tensor_as_in_pytorch(torch):
    x = np.array([1.0, 2.0])
    for v in ([1.0, -1.0], tc.Tensor([1.0, -1.0]), (tc.Tensor([1.0, -1.0]),)):
        value, hv = tc.hvp(lambda a: (a ** 3).sum(), tc.Tensor(x), v)
        _, expected = torch.autograd.functional.hvp(lambda a: (a ** 3).sum(), torch.tensor(x),
                                                    torch.tensor([1.0, -1.0]))
        assert isinstance(hv, tc.Tensor)
        np.testing.assert_allclose(hv.data, expected.numpy())
    value, (hv,) = tc.hvp(lambda a: (a ** 3).sum(), [tc.Tensor(x)], [tc.Tensor([1.0, -1.0])])   # a sequence: tuples
    assert hv.shape == (2,)


def test_hvp_of_a_constant_function_is_zero_and_fn_must_return_a_tensor():
    _, hv = tc.hvp(lambda a: tc.Tensor(3.0), tc.ones(2), tc.ones(2))
    assert hv.data.tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="single output value.*float"):
        tc.hvp(lambda a: 3.0, tc.ones(2), tc.ones(2))


def test_hvp_is_zero_for_an_input_nothing_depends_on_even_when_it_holds_inf(torch):
    """Where no product reaches an input its hvp is 0, as PyTorch gives; it was input * 0, NaN at an Inf."""
    x, unused = np.array([1.0, 2.0]), np.array([np.inf, -np.inf, np.nan])
    _, (hx, hu) = tc.hvp(lambda a, b: (a ** 3).sum(), (tc.Tensor(x), tc.Tensor(unused)),
                         (tc.Tensor([1.0, -1.0]), tc.Tensor([1.0, 1.0, 1.0])))
    _, (ex, eu) = torch.autograd.functional.hvp(lambda a, b: (a ** 3).sum(), (torch.tensor(x), torch.tensor(unused)),
                                                (torch.tensor([1.0, -1.0]), torch.tensor([1.0, 1.0, 1.0])))
    np.testing.assert_allclose(hx.data, ex.numpy())
    np.testing.assert_array_equal(hu.data, eu.numpy())


# --- repr and messages ---


def test_repr_of_an_empty_tensor_shows_its_shape():
    assert "shape=(0, 3)" in repr(tc.zeros(0, 3))


def test_matmul_batch_mismatch_says_which_axes_clash():
    with pytest.raises(ValueError, match=r"batch axes must broadcast, but \(5,\) and \(4,\) do not") as info:
        tc.ones(5, 2, 3) @ tc.ones(4, 3, 6)
    assert "must equal" not in str(info.value)


@pytest.mark.parametrize("call", [
    lambda y, x: y.backward(retain_graph="no"),
    lambda y, x: y.backward(create_graph=1),
    lambda y, x: tc.grad(y, x, create_graph="no"),
    lambda y, x: tc.grad(y, x, retain_graph="yes"),
    lambda y, x: tc.grad(y, x, allow_unused=None),
])
def test_backward_and_grad_flags_must_be_bools(call):
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="retain_graph|create_graph|allow_unused"):
        call((x * x).sum(), x)


def test_a_keyword_tensor_that_requires_grad_is_refused_not_silently_without_gradient():
    class Scale(tc.Function):
        @staticmethod
        def forward(ctx, a, *, factor):
            ctx.factor = factor
            return a.data * factor.data

        @staticmethod
        def backward(ctx, grad):
            return grad * ctx.factor
    x, w = tc.Tensor([1.0, 2.0], requires_grad=True), tc.Tensor([3.0, 4.0], requires_grad=True)
    with pytest.raises(TypeError, match="factor=.*positional"):
        Scale.apply(x, factor=w)
    Scale.apply(x, factor=w.detach()).sum().backward()
    assert x.grad.data.tolist() == [3.0, 4.0]


@given(st.integers(1, 4), st.data())
@settings(max_examples=20)
def test_swapaxes_matches_numpy_and_checks_its_axes(ndim, data):
    array = np.arange(float(np.prod(range(2, ndim + 2)))).reshape(range(2, ndim + 2))
    axis1, axis2 = (data.draw(st.integers(-ndim, ndim - 1)) for _ in range(2))
    np.testing.assert_array_equal(tc.Tensor(array).swapaxes(axis1, axis2).data, np.swapaxes(array, axis1, axis2))
    with pytest.raises(IndexError, match="axis2"):
        tc.Tensor(array).swapaxes(axis1, ndim)


@pytest.mark.parametrize("write", [
    lambda x, y: x.__iadd__(y),
    lambda x, y: x.__imul__(y),
    lambda x, y: x.__setitem__(slice(0, 1), y[:1]),
    lambda x, y: x.copy_(y),
])
def test_writing_a_tensor_that_requires_grad_in_place_is_an_error_not_a_lost_gradient(write):
    x, y = tc.ones(2), tc.Tensor([2.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad.*lost"):
        write(x, y)
    with tc.no_grad():   # an optimizer's step: nothing to record
        write(x, y)
    write(x, y.detach())


def test_in_place_arithmetic_checks_operands_like_the_op():
    x = tc.ones(2)
    with pytest.raises(ValueError, match=r"\+=: shapes do not broadcast"):
        x += tc.ones(3)
    with pytest.raises(TypeError, match="unsupported operand"):
        x -= "a"
    x *= [2, 3]
    assert x.data.tolist() == [2.0, 3.0]


@pytest.mark.parametrize("op", [lambda t: t.exp(), lambda t: t.log(), lambda t: t.tanh(), lambda t: t.sqrt(),
                                lambda t: t / 2, lambda t: t.mean()])
@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.int64])
def test_math_on_integer_and_bool_tensors_gives_float32_as_in_pytorch(op, dtype):
    assert op(tc.Tensor(np.array([0, 1, 1], dtype=dtype))).dtype == np.float32   # NumPy gives float16 for bool/int8


def _grad_mode_sequence(lib):
    """What is_grad_enabled says: after a call, inside a with, after it, inside a decorated function, after it."""
    lib.set_grad_enabled(False)
    off = lib.is_grad_enabled()
    lib.set_grad_enabled(True)
    with lib.set_grad_enabled(False):
        inside = lib.is_grad_enabled()

    @lib.set_grad_enabled(False)
    def decorated():
        return lib.is_grad_enabled()
    return off, inside, lib.is_grad_enabled(), decorated(), lib.is_grad_enabled()


def test_set_grad_enabled_called_as_a_function_switches_at_once_as_in_pytorch(torch):
    assert _grad_mode_sequence(tc) == _grad_mode_sequence(torch) == (False, False, True, False, True)
    context = tc.set_grad_enabled(False)   # one object, entered again later: still restores
    tc.set_grad_enabled(True)
    with context:
        assert not tc.is_grad_enabled()
    assert tc.is_grad_enabled()


@pytest.mark.parametrize("reduce", ["max", "min"])
def test_max_over_a_nonempty_axis_of_an_empty_tensor_is_empty_as_in_numpy(reduce, torch):
    x = tc.Tensor(np.zeros((0, 3)), requires_grad=True)
    y = getattr(x, reduce)(axis=1)
    assert y.shape == getattr(torch.zeros(0, 3), "a" + reduce)(dim=1).shape == (0,)
    y.sum().backward()
    assert x.grad.shape == (0, 3)
    with pytest.raises(ValueError, match="no value"):
        getattr(x, reduce)(axis=0)


def test_a_pytorch_style_transpose_of_two_axes_points_to_swapaxes():
    with pytest.raises(ValueError, match=r"swapaxes\(0, 1\)"):
        tc.ones(2, 3, 4).transpose(0, 1)


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, max_side=3)))
@settings(max_examples=15)
def test_numpy_reads_a_tensor_as_its_array(array):
    t = tc.Tensor(array, requires_grad=True)
    assert np.asarray(t).dtype == np.float64 and np.shares_memory(np.asarray(t), t.data)
    np.testing.assert_array_equal(t, array)          # np.testing and plotting take Tensors
    assert np.asarray(t, dtype=np.float32).dtype == np.float32
    assert not np.shares_memory(np.array(t, copy=True), t.data)
    assert (np.ones(array.shape) + t).grad_fn is not None   # NumPy on the left still defers to the Tensor op


def test_a_list_of_0d_tensors_makes_a_tensor_as_in_pytorch():
    assert tc.Tensor([tc.Tensor(1.0), tc.Tensor(2.0)]).data.tolist() == [1.0, 2.0]


def test_grad_needs_an_output_and_an_input():
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    for outputs, inputs in (([], x), ((x * 2).sum(), [])):
        with pytest.raises(ValueError, match="at least one output and one input"):
            tc.grad(outputs, inputs)


def test_float16_asked_for_stays_float16():
    half = tc.Tensor([1.0, 2.0], dtype=np.float16)
    assert (half + half).dtype == half.exp().dtype == tc.ones(2).astype(np.float16).dtype == np.float16


def test_format_spec_of_a_0d_tensor_formats_its_value_as_in_pytorch(torch):
    loss = (tc.Tensor([1.23456, 2.0], requires_grad=True) * 1).mean()
    assert f"{loss:.3f}" == f"{torch.tensor(1.61728):.3f}" == "1.617"
    assert f"{tc.Tensor([1.0, 2.0])}" == str(tc.Tensor([1.0, 2.0]))
    with pytest.raises(TypeError):
        f"{tc.Tensor([1.0, 2.0]):.2f}"


def test_changing_the_output_a_custom_function_saved_is_detected():
    class Exp(tc.Function):
        @staticmethod
        def forward(ctx, a):
            out = a.exp()
            ctx.save_for_backward(out)   # the output, as torch users often save it
            return out

        @staticmethod
        def backward(ctx, grad):
            (out,) = ctx.saved_tensors
            return grad * out
    x = tc.Tensor([0.0, 1.0], requires_grad=True)
    y = Exp.apply(x)
    with tc.no_grad():
        y += 1
    with pytest.raises(RuntimeError, match="modified in place"):
        y.sum().backward()


@pytest.mark.parametrize("pad_width", [((1, 2),), ((1,), (2,)), (2,), ((1, 2), (0, 1)), (1, 2), 3])
def test_pad_width_broadcasts_as_in_numpy(pad_width):
    array = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(tc.Tensor(array).pad(pad_width).data, np.pad(array, pad_width))


@given(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3), st.data())
@settings(max_examples=20)
def test_comparisons_match_numpy_over_broadcasting_pairs(shapes, data):
    a, b = (data.draw(hnp.arrays(np.float64, shape, elements=st.integers(-2, 2))) for shape in shapes.input_shapes)
    x, y = tc.Tensor(a, requires_grad=True), tc.Tensor(b)
    for ours, theirs in ((x < y, a < b), (x <= b, a <= b), (x > b.tolist(), a > b), (x >= y, a >= b),
                         (x == y, a == b), (x != y, a != b)):
        assert ours.dtype == np.bool_ and not ours.requires_grad
        np.testing.assert_array_equal(ours.data, theirs)


@pytest.mark.parametrize("wrap", [np.asarray, tc.Tensor])
def test_an_index_array_changed_after_indexing_does_not_change_the_gradient(wrap):
    x = tc.Tensor([1.0, 2.0, 3.0], requires_grad=True)
    index = wrap(np.array([0, 0, 2]))
    y = x[index]
    (index.data if isinstance(index, tc.Tensor) else index)[:] = 1   # the caller reuses its index array
    y.backward(tc.Tensor([1.0, 10.0, 100.0]))
    assert x.grad.data.tolist() == [11.0, 0.0, 100.0]


def test_a_where_mask_changed_after_the_call_does_not_change_the_gradient():
    x, mask = tc.Tensor([1.0, 2.0], requires_grad=True), np.array([True, False])
    y = tc.where(mask, x, 0.0)
    mask[:] = False
    y.backward(tc.Tensor([3.0, 4.0]))
    assert x.grad.data.tolist() == [3.0, 0.0]
