"""Session 7 audit of the autograd core against PyTorch's contract: one regression test per defect found."""
from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc

# --- grad mode decorators ---

@pytest.mark.parametrize("make, inside", [(tc.no_grad, False), (lambda: tc.set_grad_enabled(False), False),
                                          (tc.enable_grad, True), (tc.inference_mode, False)])
def test_grad_mode_decorators_hold_inside_a_generator_as_in_pytorch(torch, make, inside):
    x = tc.Tensor([1.0], requires_grad=True)

    def steps():
        for _ in range(2):
            yield (x * 2).requires_grad, tc.is_grad_enabled()

    outside = not inside
    with tc.set_grad_enabled(outside):
        seen = list(make()(steps)())
        assert tc.is_grad_enabled() is outside   # restored between the steps and after
    assert seen == [(inside, inside)] * 2
    xt = torch.ones(1, requires_grad=True)

    def torch_steps():
        for _ in range(2):
            yield (xt * 2).requires_grad, torch.is_grad_enabled()

    torch_decorator = {False: torch.no_grad(), True: torch.enable_grad()}[inside]
    with torch.set_grad_enabled(outside):
        assert list(torch_decorator(torch_steps)()) == seen


def test_a_generator_closed_early_restores_the_mode():
    @tc.no_grad()
    def steps():
        while True:
            yield tc.is_grad_enabled()

    it = steps()
    assert next(it) is False and tc.is_grad_enabled()
    it.close()
    assert tc.is_grad_enabled()


def test_enable_grad_and_no_grad_work_as_bare_decorators(torch):
    x = tc.Tensor([1.0], requires_grad=True)

    @tc.enable_grad
    def doubled(t):
        return t * 2

    with tc.no_grad():
        assert doubled(x).requires_grad
    assert doubled.__name__ == "doubled"
    xt = torch.ones(1, requires_grad=True)
    with torch.no_grad():
        assert torch.enable_grad(lambda t: t * 2)(xt).requires_grad


def test_inference_mode_records_nothing_as_a_context_and_a_decorator():
    x = tc.Tensor([1.0], requires_grad=True)
    with tc.inference_mode():
        assert not (x * 2).requires_grad
    with tc.inference_mode(False):
        assert (x * 2).requires_grad
    assert tc.inference_mode()(lambda: (x * 2).requires_grad)() is False
    assert tc.is_grad_enabled()


# --- backward's PyTorch keywords and the dtype of a given gradient ---

def test_backward_takes_pytorchs_gradient_keyword_and_retain_graph_none(torch):
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    (x * x).backward(gradient=tc.Tensor([1.0, 3.0]), retain_graph=None)
    xt = torch.tensor([1.0, 2.0], requires_grad=True)
    (xt * xt).backward(gradient=torch.tensor([1.0, 3.0]), retain_graph=None)
    np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())
    with pytest.raises(TypeError, match="grad= or gradient="):
        (x * x).backward([1.0, 1.0], gradient=[1.0, 1.0])


def test_backward_inputs_accumulates_only_into_those_tensors(torch):
    a, b = tc.Tensor([1.0, 2.0], requires_grad=True), tc.Tensor([3.0, 4.0], requires_grad=True)
    h = a * b
    (h * h).sum().backward(inputs=[a, h])
    at, bt = torch.tensor([1.0, 2.0], requires_grad=True), torch.tensor([3.0, 4.0], requires_grad=True)
    ht = at * bt
    ht.retain_grad()
    (ht * ht).sum().backward(inputs=[at, ht])
    np.testing.assert_allclose(a.grad.numpy(), at.grad.numpy())
    np.testing.assert_allclose(h.grad.numpy(), ht.grad.numpy())
    assert b.grad is None and bt.grad is None
    (a * 2).sum().backward(inputs=a)     # one tensor, and accumulation as in backward()
    np.testing.assert_allclose(a.grad.numpy(), at.grad.numpy() + 2)
    with pytest.raises(TypeError, match="inputs"):
        (a * 2).sum().backward(inputs=[np.ones(2)])
    with pytest.raises(RuntimeError, match="does not require grad"):
        (a * 2).sum().backward(inputs=[tc.Tensor([1.0, 2.0])])


@pytest.mark.parametrize("given", [np.array([1.0, 1.0]), tc.Tensor(np.array([1.0, 1.0])), tc.Tensor([1, 1]),
                                   tc.Tensor([True, True])])
@pytest.mark.parametrize("through_op", [False, True])
def test_a_gradient_of_another_dtype_is_cast_to_the_outputs_as_in_pytorch(given, through_op):
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    (x * 1 if through_op else x).backward(given)
    assert x.grad.dtype == np.float32 and x.grad.numpy().tolist() == [1.0, 1.0]
    (g,) = tc.grad(x * 1 if through_op else x, x, grad_outputs=given)
    assert g.dtype == np.float32


def test_detach_in_place_cuts_the_tensor_from_the_graph(torch):
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    h = x * 2
    assert h.detach_() is h and h.is_leaf and not h.requires_grad and h.grad_fn is None
    xt = torch.tensor([1.0, 2.0], requires_grad=True)
    ht = (xt * 2).detach_()
    assert ht.is_leaf and not ht.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        (h * 3).sum().backward()


# --- floor division (no gradient, as in PyTorch) ---

@pytest.mark.parametrize("a, b", [([7, -7, 5], 2), ([7.5, -7.5, 0.5], 2.0), ([7, -7, 5], [2, 3, -2]),
                                  ([[1.5], [-2.5]], [1.0, -2.0])])
def test_floor_division_matches_pytorch_and_is_outside_the_graph(torch, a, b):
    x = tc.Tensor(a, requires_grad=isinstance(a[0], float) or isinstance(a[0], list))
    xt = torch.tensor(a)
    bt = torch.tensor(b) if isinstance(b, list) else b
    for ours, theirs in [(x // (tc.Tensor(b) if isinstance(b, list) else b), xt // bt),
                         (np.asarray(b) // x if isinstance(b, list) else b // x, bt // xt)]:
        assert isinstance(ours, tc.Tensor) and not ours.requires_grad
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
        assert (ours.dtype.kind == "f") == theirs.dtype.is_floating_point
    assert (tc.Tensor([3, 4]) // 1.5).dtype == np.float32   # an int tensor and a number give float32
    with pytest.raises(ValueError, match="broadcast"):
        tc.Tensor([1.0, 2.0]) // tc.Tensor([1.0, 2.0, 3.0])


# --- pickling and copying ---

@pytest.mark.parametrize("clone", [copy.deepcopy, lambda t: pickle.loads(pickle.dumps(t))],
                         ids=["deepcopy", "pickle"])
def test_a_tensor_made_by_an_op_can_be_copied_and_pickled_as_a_leaf_like_pytorchs_pickle(clone):
    x = tc.Tensor([1.0, 2.0], requires_grad=True, name="x")
    for made in (x * 2, (x * 2).sum(), x.exp().astype("float64")):
        twin = clone(made)
        assert twin.is_leaf and twin.requires_grad and twin.dtype == made.dtype
        np.testing.assert_array_equal(twin.numpy(), made.numpy())
        (twin * 2).sum().backward()    # a leaf of its own: its gradient lands in its .grad
        assert twin.grad is not None and x.grad is None
    x.grad = tc.Tensor([3.0, 4.0])
    twin = clone(x)
    assert twin.name == "x" and twin.grad.numpy().tolist() == [3.0, 4.0]
    twin.numpy()[0] = 9
    assert x.numpy()[0] == 1


# --- what a custom backward returns ---

def _returning(value):
    class Returns(tc.Function):
        @staticmethod
        def forward(ctx, x):
            return x.data * 2

        @staticmethod
        def backward(ctx, g):
            return value
    return Returns


@pytest.mark.parametrize("value, kind", [("abc", "<U3"), (np.ones(2, dtype=complex), "complex128"),
                                         (np.array(["a", "b"]), "<U1"), ({"g": 1}, "object")])
def test_a_backward_returning_no_real_numbers_is_a_clear_error_naming_the_op(value, kind):
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match=f"backward of Returns returned a gradient of dtype {kind} for input 0"):
        _returning(value).apply(x).sum().backward()


def test_a_gradient_of_the_wrong_shape_says_it_must_sum_to_the_inputs_shape():
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=r"shape \(1,\) for input 0, whose shape is \(2,\)") as error:
        _returning(np.ones(1)).apply(x).sum().backward()
    assert "broadcast to it" not in str(error.value)   # (1,) does broadcast to (2,): that was the old, wrong advice
    (_returning(np.ones((3, 2))).apply(x)).sum().backward()   # broadcasting's extra axes are summed, as in PyTorch
    assert x.grad.numpy().tolist() == [3.0, 3.0]


# --- concatenate, stack and split: NumPy's axis rules ---

@given(st.integers(0, 2), st.integers(1, 3), st.integers(0, 3))
@settings(max_examples=10)
def test_concatenate_with_axis_none_flattens_as_numpy(ndim, count, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(rng.integers(1, 3, ndim)) for _ in range(count)]
    tensors = [tc.Tensor(a, requires_grad=True) for a in arrays]
    out = tc.concatenate(tensors, axis=None)
    np.testing.assert_array_equal(out.numpy(), np.concatenate(arrays, axis=None))
    g = rng.standard_normal(out.shape)
    out.backward(g)
    np.testing.assert_array_equal(np.concatenate([t.grad.numpy().ravel() for t in tensors]), g)


@pytest.mark.parametrize("join", [tc.concatenate, tc.stack])
@pytest.mark.parametrize("axis", [(0, 1), 1.0, "0", None])
def test_concatenate_and_stack_refuse_an_axis_that_is_not_one_int(join, axis):
    if join is tc.concatenate and axis is None:
        return   # NumPy's flattening join, tested above
    with pytest.raises(TypeError, match="axis must be an int"):
        join([tc.ones(2, 3), tc.ones(2, 3)], axis=axis)


@pytest.mark.parametrize("sections", [3, [1, 4], [2, 2, 5], [], np.array([1, 3]), [-2], [4, 1]])
@pytest.mark.parametrize("axis", [1, -1, 0])
def test_split_matches_numpy_and_backpropagates_into_the_pieces(sections, axis):
    rng = np.random.default_rng(0)
    array = rng.standard_normal((6, 6))
    x = tc.Tensor(array, requires_grad=True)
    pieces = tc.split(x, sections, axis=axis)
    expected = np.split(array, sections, axis=axis)
    assert isinstance(pieces, list) and len(pieces) == len(expected)
    grads = [rng.standard_normal(p.shape) for p in pieces]
    for piece, want in zip(pieces, expected):
        np.testing.assert_array_equal(piece.numpy(), want)
    sum((p * tc.Tensor(g)).sum() for p, g in zip(pieces, grads)).backward()
    want = np.zeros_like(array)
    for g, index in zip(grads, np.split(np.arange(36).reshape(6, 6), sections, axis=axis)):
        np.add.at(want.reshape(-1), index, g)   # each piece's gradient lands where the piece came from
    np.testing.assert_allclose(x.grad.numpy(), want)


@pytest.mark.parametrize("sections, error, message", [(4, ValueError, "does not divide into 4 equal"),
                                                      (0, ValueError, "at least 1"),
                                                      (1.5, TypeError, "indices_or_sections"),
                                                      ([1.5], TypeError, "indices_or_sections")])
def test_split_refuses_sections_numpy_refuses(sections, error, message):
    with pytest.raises(error, match=message):
        tc.split(tc.ones(6), sections)


# --- register_hook and retain_grad ---

def _leaf_hooked(x):
    """Backward through two uses of the leaf x with two hooks on it: (what the first hook saw, x.grad)."""
    seen = []
    x.register_hook(lambda g: seen.append(np.array(g.numpy())))
    x.register_hook(lambda g: g * 10)
    (x * x + x * 3).sum().backward()
    return seen, x.grad.numpy()


def test_a_leaf_hook_sees_its_whole_gradient_once_and_may_replace_it(torch):
    data = np.array([1.0, -2.0, 3.0])
    seen, grad = _leaf_hooked(tc.Tensor(data, requires_grad=True))
    seen_torch, grad_torch = _leaf_hooked(torch.tensor(data, requires_grad=True))
    assert len(seen) == len(seen_torch) == 1   # once, with the sum over both uses
    np.testing.assert_allclose(seen[0], seen_torch[0])
    np.testing.assert_allclose(grad, grad_torch)


def test_a_non_leaf_hook_and_retain_grad_as_in_pytorch(torch, capsys):
    results = []
    for module in (tc, torch):
        x = module.tensor([1.0, -2.0, 3.0], requires_grad=True) if module is torch else tc.Tensor(
            np.array([1.0, -2.0, 3.0]), requires_grad=True)
        h = x * 2
        h.retain_grad()                      # kept last, after every hook, as in PyTorch
        handle = h.register_hook(lambda g: g * 10)
        assert h.retains_grad and not x.retains_grad
        (h * h).sum().backward(retain_graph=True)
        first = (np.array(h.grad.numpy()), np.array(x.grad.numpy()))
        handle.remove()
        (h * h).sum().backward()             # without the hook; .grad of h accumulates as a leaf's would
        results.append(first + (np.array(h.grad.numpy()), np.array(x.grad.numpy())))
    for ours, theirs in zip(*results):
        np.testing.assert_allclose(ours, theirs)


def test_hooks_in_grad_act_as_in_pytorch_a_non_leaf_result_is_taken_before_its_hooks(torch):
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    h.register_hook(lambda g: g + 1)
    x.register_hook(lambda g: -g)
    gh, gx = tc.grad((h * h).sum(), [h, x])
    xt = torch.tensor([1.0, 2.0], requires_grad=True)
    ht = xt * 3
    ht.register_hook(lambda g: g + 1)
    xt.register_hook(lambda g: -g)
    ght, gxt = torch.autograd.grad((ht * ht).sum(), [ht, xt])
    np.testing.assert_allclose(gh.numpy(), ght.numpy())
    np.testing.assert_allclose(gx.numpy(), gxt.numpy())
    assert x.grad is None


def test_hook_errors_are_clear():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tc.Tensor([1.0]).register_hook(lambda g: g)
    with pytest.raises(RuntimeError, match="does not require grad"):
        tc.Tensor([1.0]).retain_grad()
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="callable"):
        x.register_hook("not a function")

    def resize(g):
        return tc.ones(3)

    x.register_hook(resize)
    with pytest.raises(RuntimeError, match=r"hook resize returned a gradient of shape \(3,\).*\(2,\)"):
        (x * 2).sum().backward()
    y = tc.Tensor([1.0, 2.0], requires_grad=True)
    y.register_hook(lambda g: g.numpy())
    with pytest.raises(TypeError, match="must return a Tensor or None"):
        (y * 2).sum().backward()


def test_a_hook_removed_by_its_handle_is_not_called_and_a_leaf_keeps_its_grad_after_retain_grad():
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    with x.register_hook(lambda g: g * 0):
        pass   # the handle as a context manager removes the hook on leaving
    x.retain_grad()   # a leaf keeps its gradient anyway
    (x * 2).sum().backward()
    assert x.grad.numpy().tolist() == [2.0, 2.0] and not x.retains_grad


def test_grad_materialize_grads_gives_zeros_for_unused_inputs_as_in_pytorch(torch):
    x, unused = tc.Tensor([1.0, 2.0], requires_grad=True), tc.Tensor(np.ones((2, 3)), requires_grad=True)
    gx, gu = tc.grad((x * x).sum(), [x, unused], materialize_grads=True)
    xt, ut = torch.tensor([1.0, 2.0], requires_grad=True), torch.ones(2, 3, dtype=torch.float64, requires_grad=True)
    gxt, gut = torch.autograd.grad((xt * xt).sum(), [xt, ut], materialize_grads=True)
    np.testing.assert_array_equal(gx.numpy(), gxt.numpy())
    np.testing.assert_array_equal(gu.numpy(), gut.numpy())
    assert gu.dtype == np.float64 and gu.shape == (2, 3)
    with pytest.raises(RuntimeError, match="materialize_grads=True for zeros"):
        tc.grad((x * x).sum(), [x, unused])


def test_len_and_iteration_of_a_0d_tensor_say_what_to_use_instead():
    for call in (len, list):
        with pytest.raises(TypeError, match=r"0-d tensor.*\.item\(\)"):
            call(tc.Tensor(2.0))


@given(st.lists(st.sampled_from([0.0, 1.0, -1.0, np.nan]), min_size=2, max_size=8), st.integers(0, 3))
@settings(max_examples=30)
def test_maximum_and_minimum_share_the_gradient_as_the_max_reduction_does_nans_and_ties_included(values, seed):
    rng = np.random.default_rng(seed)
    half = len(values) // 2
    a_data, b_data = np.array(values[:half]), np.array(values[half:2 * half])
    g = rng.standard_normal(half)
    for pair, reduce in ((tc.maximum, lambda t: t.max(axis=0)), (tc.minimum, lambda t: t.min(axis=0))):
        a, b = tc.Tensor(a_data, requires_grad=True), tc.Tensor(b_data, requires_grad=True)
        pair(a, b).backward(g)
        stacked = tc.Tensor(np.stack([a_data, b_data]), requires_grad=True)
        reduce(stacked).backward(g)    # the reduction's rule: ties share, NaNs carry (as PyTorch's max)
        np.testing.assert_array_equal(a.grad.numpy(), stacked.grad.numpy()[0])
        np.testing.assert_array_equal(b.grad.numpy(), stacked.grad.numpy()[1])


@pytest.mark.parametrize("source", [1.5, [1.0, 2.0, 3.0], np.ones((1, 3)), np.arange(6.0).reshape(2, 3)])
def test_copy_broadcasts_its_source_as_in_pytorch(torch, source):
    x, xt = tc.zeros(2, 3), torch.zeros(2, 3)
    x.copy_(tc.Tensor(source))
    xt.copy_(torch.tensor(np.asarray(source, dtype=np.float32)))
    np.testing.assert_array_equal(x.numpy(), xt.numpy())
    assert x._version == 1
    with pytest.raises(ValueError, match=r"broadcasts to this tensor's shape \(2, 3\), got shape \(3, 2\)"):
        x.copy_(np.ones((3, 2)))


@pytest.mark.parametrize("value", [tc.ones(2), "a", [1.0, 2.0]])
def test_fill_takes_one_number(value):
    x = tc.zeros(2, 3)
    x.fill_(tc.Tensor(2.0))
    assert x.numpy().tolist() == [[2.0] * 3] * 2
    with pytest.raises(TypeError, match="fill_: value must be one number"):
        x.fill_(value)


@pytest.mark.parametrize("fill", [3, 2.5, True, np.float64(0.5), np.int32(7)])
def test_full_takes_its_dtype_from_the_fill_value_as_tensor_and_pytorch_do(torch, fill):
    made = tc.full((2, 2), fill)
    assert made.dtype == tc.Tensor(fill).dtype
    if not isinstance(fill, np.generic):   # (NumPy scalars keep their dtype here, as in tc.Tensor)
        assert str(made.dtype) == str(torch.full((2, 2), fill).dtype).replace("torch.", "")
    assert tc.full(2, 3, dtype="float64").dtype == np.float64


# --- every .grad owns its memory ---

@pytest.mark.parametrize("make", [lambda a, b: (a + b).sum(), lambda a, b: (a + b).mean(),
                                  lambda a, b: (a.reshape(6) + b.reshape(6)).sum(), lambda a, b: a.sum() + b.sum()])
def test_each_leafs_grad_is_its_own_writable_memory_as_in_pytorch(torch, make):
    a, b = tc.Tensor(np.ones((2, 3)), requires_grad=True), tc.Tensor(np.ones((2, 3)), requires_grad=True)
    make(a, b).backward()
    at, bt = torch.ones(2, 3, requires_grad=True), torch.ones(2, 3, requires_grad=True)
    make(at, bt).backward()
    a.grad.zero_()               # PyTorch's habit: a read-only broadcast refused this
    at.grad.zero_()
    with tc.no_grad():
        b.grad *= 3              # and changing one .grad must not change another
    bt.grad *= 3
    np.testing.assert_allclose(a.grad.numpy(), at.grad.numpy())
    np.testing.assert_allclose(b.grad.numpy(), bt.grad.numpy())


@pytest.mark.parametrize("root_is_leaf", [True, False])
def test_a_grad_does_not_alias_the_gradient_the_caller_passed(root_is_leaf):
    x = tc.Tensor(np.ones(3), requires_grad=True)
    seed = tc.Tensor(np.array([1.0, 2.0, 3.0]))
    (x if root_is_leaf else x + 0).backward(seed)
    with tc.no_grad():
        x.grad += 1
    assert seed.numpy().tolist() == [1.0, 2.0, 3.0]


def test_a_retained_grad_is_its_own_memory():
    a = tc.Tensor(np.ones(3), requires_grad=True)
    h = a * 1
    h.retain_grad()
    (h + a).sum().backward()
    with tc.no_grad():
        h.grad *= 5
    assert a.grad.numpy().tolist() == [2.0, 2.0, 2.0] and h.grad.numpy().tolist() == [5.0, 5.0, 5.0]


def test_backward_inputs_gives_each_grad_its_own_memory():
    a, b = tc.Tensor(np.ones(3), requires_grad=True), tc.Tensor(np.ones(3), requires_grad=True)
    (a + b).sum().backward(inputs=[a, b])
    with tc.no_grad():
        a.grad *= 4
    assert b.grad.numpy().tolist() == [1.0, 1.0, 1.0]


def test_numel_and_dim_are_pytorchs_names_for_size_and_ndim(torch):
    for shape in [(), (0,), (2, 3), (4, 1, 5)]:
        ours, theirs = tc.zeros(shape), torch.zeros(shape)
        assert ours.numel() == theirs.numel() == ours.size   # was: AttributeError
        assert ours.dim() == theirs.dim() == ours.ndim
