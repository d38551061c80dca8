"""Follow-ups of the acceptance audit in the core: each test pins a bug the auditors found (failing before its fix)."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import require, require_torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn.describe import op_args_text

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


# --- 1. anomaly mode sees the engine's own sums ---

def test_anomaly_catches_two_finite_gradients_that_sum_to_inf():
    """x*1 + x*1 sends 3e38 to x twice: the accumulation into x's gradient overflowed unreported."""
    x = tc.Tensor([1.0], requires_grad=True, name="x")
    with tc.detect_anomaly(), pytest.raises(tc.AnomalyError) as info:
        (x * 1.0 + x * 1.0).backward(tc.Tensor(np.array([3e38], np.float32)))
    message = str(info.value)
    assert message.startswith("summing the gradients of one tensor produced 1 Inf")
    assert "leaf 'x'" in message and "the backward of Mul (input 0)" in message
    assert "test_audit_followups.py" in message      # the line of the forward call


def test_anomaly_catches_an_overflowing_sum_into_an_inner_node_under_create_graph():
    x = tc.Tensor([1.0], requires_grad=True)
    h = x * 1.0
    with tc.detect_anomaly(), pytest.raises(tc.AnomalyError, match="(?s)summing the gradients .* output of Mul"):
        tc.grad(h * 1.0 + h * 1.0, [x], tc.Tensor(np.array([3e38], np.float32)), create_graph=True)


def test_the_engines_unbroadcast_sum_is_reported_as_the_backward_of_the_op():
    """The sum over a bias's broadcast axis was reported as 'Sum produced Inf in its forward output'."""
    y = tc.Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    b = tc.Tensor(np.ones(3, np.float32), requires_grad=True)
    with tc.detect_anomaly(), pytest.raises(tc.AnomalyError) as info:
        (y + b).backward(tc.Tensor(np.full((2, 3), 3e38, np.float32)))
    message = str(info.value)
    assert message.startswith("the backward of Add produced 3 Inf (in the output of Sum, inside the engine's sum")
    assert "for input 1" in message and info.value.op == "Add"


def test_anomaly_leaves_finite_sums_alone():
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    with tc.detect_anomaly():
        (x * 3.0 + x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 7.0])


# --- 2. std where the variance is 0 ---

@settings(max_examples=15, deadline=None)
@given(n=st.integers(2, 5), flat_rows=st.lists(st.booleans(), min_size=3, max_size=3), ddof=st.sampled_from([0, 1]),
       seed=st.integers(0, 2**16))
def test_std_gradient_is_zero_where_the_variance_is_zero_as_in_pytorch(n, flat_rows, ddof, seed):
    torch = require_torch()
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, n))
    x[flat_rows] = 1.5                    # rows of equal values: std 0
    upstream = rng.standard_normal(3)
    ours = tc.Tensor(x, requires_grad=True)
    out = ours.std(axis=1, ddof=ddof)
    out.backward(tc.Tensor(upstream))
    theirs = torch.tensor(x, requires_grad=True)
    expected = theirs.std(dim=1, correction=ddof)
    expected.backward(torch.tensor(upstream))
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), atol=1e-12)
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), atol=1e-10)
    assert np.isfinite(ours.grad.numpy()).all()


def test_std_at_zero_variance_second_order_matches_pytorch_and_checks_elsewhere():
    torch = require_torch()
    upstream = np.array([1.0, -2.0, 3.0])
    x = tc.Tensor(np.ones(3), requires_grad=True)
    (g,) = tc.grad(x.std(), [x], create_graph=True)
    (gg,) = tc.grad((g * tc.Tensor(upstream)).sum(), [x])
    xt = torch.ones(3, dtype=torch.float64, requires_grad=True)
    (gt,) = torch.autograd.grad(xt.std(correction=0), xt, create_graph=True)
    (ggt,) = torch.autograd.grad((gt * torch.tensor(upstream)).sum(), xt)
    np.testing.assert_array_equal(g.numpy(), gt.detach().numpy())
    np.testing.assert_array_equal(gg.numpy(), ggt.numpy())
    assert tc.gradgradcheck(lambda a: a.std(axis=1), [tc.Tensor(np.random.default_rng(0).standard_normal((2, 3)),
                                                                requires_grad=True)])


# --- 3. axes must not wrap around ---

@pytest.mark.parametrize("call", [
    lambda t: t.transpose(0, 3), lambda t: t.permute(0, 3), lambda t: t.permute(-3, 0), lambda t: t.swapaxes(0, 2),
    lambda t: t.sum(axis=2), lambda t: t.mean(axis=-3), lambda t: t.max(axis=2), lambda t: t.argmax(axis=2),
    lambda t: tc.concatenate([t, t], axis=2), lambda t: tc.stack([t, t], axis=3), lambda t: t.expand_dims(3),
    lambda t: t.squeeze(2), lambda t: t.softmax(axis=2), lambda t: t.flatten(0, 2),
])
def test_every_axis_out_of_range_is_an_error_naming_the_axis_and_ndim(call):
    """transpose(0, 3) of a 2-d tensor wrapped axis 3 to 1 and returned the tensor unchanged."""
    with pytest.raises(IndexError, match=r"out of range for a tensor with \d dimensions"):
        call(tc.ones(2, 3))


def test_transpose_still_takes_negative_axes_in_range():
    t = tc.Tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(t.transpose(-1, -2).numpy(), t.numpy().T)


# --- 4. item assignment ---

def test_item_assignment_of_a_wrong_shape_names_both_shapes():
    t = tc.zeros(2, 3)
    with pytest.raises(ValueError, match=r"t\[0\] of a tensor of shape \(2, 3\) selects shape \(3,\), but the value "
                                         r"has shape \(4,\).*give a value of shape \(3,\)"):
        t[0] = np.ones(4)
    t[0] = np.ones((1, 3))          # broadcasting values still work
    assert t.numpy().sum() == 3


def test_item_assignment_out_of_range_names_the_index_and_shape():
    t = tc.zeros(2, 3)
    with pytest.raises(IndexError, match=r"index \[5\] is invalid for a tensor of shape \(2, 3\).*-n to n - 1"):
        t[5] = 1.0
    with pytest.raises(IndexError, match=r"index \[:, 3\]"):
        t[:, 3] = 1.0
    assert t._version == 0 and not t.numpy().any()


# --- 5. dtypes ---

@pytest.mark.parametrize("call, owner", [
    (lambda: tc.ones(2).astype("foo"), "astype"), (lambda: tc.Tensor([1.0], dtype="foo"), "Tensor"),
    (lambda: tc.zeros(2, dtype="foo"), "zeros"), (lambda: tc.randn(2, dtype="foo"), "randn"),
    (lambda: tc.arange(3, dtype="foo"), "arange"),
    (lambda: tc.ones(2).astype(np.complex64), "astype"),
])
def test_an_unknown_dtype_names_the_argument_and_what_is_allowed(call, owner):
    with pytest.raises(TypeError, match=rf"^{owner}: dtype must be a bool, int or float dtype.*'float32'"):
        call()


@pytest.mark.parametrize("data", [[1j], np.array([1 + 2j]), 1j])
def test_complex_data_is_refused(data):
    """Tensor([1j]) was accepted, though the data error says bool, int or float."""
    with pytest.raises(TypeError, match="complex"):
        tc.Tensor(data)
    with pytest.raises(TypeError, match="complex|float32"):
        tc.Tensor(data, dtype="float32")     # NumPy would drop the imaginary part of an array


@pytest.mark.parametrize("call", [lambda t: t * np.array([1j]), lambda t: t + np.complex128(1j),
                                  lambda t: np.array([1j, 2j]) - t])
def test_a_complex_operand_is_refused(call):
    """tc.ones(2) * np.array([1j]) gave a complex tensor."""
    with pytest.raises(TypeError, match="complex values are not supported"):
        call(tc.ones(2, requires_grad=True))


def test_leaky_relu_names_negative_slope():
    with pytest.raises(TypeError, match="leaky_relu: negative_slope must be a number, got str"):
        tc.ones(2).leaky_relu("0.1")


# --- 6, 7. flags and seeds ---

def test_set_grad_enabled_takes_bools_only():
    with pytest.raises(TypeError, match="set_grad_enabled: mode must be True or False, got 'no'"):
        tc.set_grad_enabled("no")
    assert tc.is_grad_enabled()


def test_a_negative_seed_is_a_value_error():
    with pytest.raises(ValueError, match="non-negative"):
        tc.manual_seed(-1)
    with pytest.raises(TypeError):
        tc.manual_seed(1.5)


# --- 8. anomaly mode checks in-place changes ---

@pytest.mark.parametrize("change", [
    lambda y: y.__iadd__(np.inf), lambda y: y.__itruediv__(0.0), lambda y: y.fill_(np.nan),
    lambda y: y.__setitem__(0, np.nan), lambda y: y.copy_(np.array([1.0, np.inf], np.float32)),
])
def test_anomaly_mode_checks_values_written_in_place(change):
    y = tc.ones(2)
    with tc.detect_anomaly(), pytest.raises(tc.AnomalyError, match="would write 1 |would write 2 "):
        change(y)
    assert np.array_equal(y.numpy(), [1.0, 1.0])    # unchanged
    change(y)                                        # outside anomaly mode: allowed, as in NumPy


def test_anomaly_mode_says_when_a_tensor_changed_in_place_already_held_nan():
    y = tc.Tensor(np.array([np.nan, 1.0]))
    with tc.detect_anomaly(), pytest.raises(tc.AnomalyError, match="already held NaN/Inf"):
        y += 1.0


# --- 12. index labels ---

@pytest.mark.parametrize("index, label", [
    (np.s_[1:], "[1:]"), (np.s_[:, 1:3], "[:, 1:3]"), (np.s_[..., None], "[..., None]"), (1, "[1]"),
    (np.s_[::2, -1], "[::2, -1]"), ([0, 2], "[[0, 2]]"),
])
def test_index_labels_read_as_the_python_index(index, label):
    """x[1:] was labelled index=1 (as an integer index), x[:, 1:3] as (, 1:3), ... as Ellipsis."""
    x = tc.ones(3, 4, requires_grad=True)
    assert op_args_text(x[index].grad_fn.op_args) == [f"index={label}"]


# --- 9. grad mode belongs to each thread ---

def _in_threads(*targets):
    errors = []

    def run(target):
        try:
            target()
        except BaseException as error:   # noqa: BLE001 (re-raised below, on the test's thread)
            errors.append(error)
    threads = [threading.Thread(target=run, args=(target,)) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    if errors:
        raise errors[0]


def test_one_threads_no_grad_does_not_stop_another_threads_recording():
    """MODE.grad_enabled was one flag for all threads: a no_grad in one thread cut another's graph."""
    inside, done = threading.Barrier(2, timeout=10), threading.Barrier(2, timeout=10)
    seen = {}

    def quiet():
        with tc.no_grad():
            inside.wait()             # the other thread records while this one is inside no_grad
            done.wait()
            seen["quiet"] = tc.is_grad_enabled(), (tc.ones(2, requires_grad=True) * 2).requires_grad

    def recording():
        inside.wait()
        x = tc.Tensor(np.array([1.0, 2.0]), requires_grad=True)
        y = (x * x).sum()
        seen["recording"] = tc.is_grad_enabled(), y.requires_grad
        done.wait()
        y.backward()
        seen["grad"] = x.grad.numpy().tolist()
    _in_threads(quiet, recording)
    assert seen == {"quiet": (False, False), "recording": (True, True), "grad": [2.0, 4.0]}
    assert tc.is_grad_enabled()


def test_a_new_thread_starts_with_grad_mode_on_and_anomaly_mode_shared():
    """As in PyTorch: grad mode is per thread (a new one starts enabled), anomaly mode is for the process."""
    seen = []
    with tc.no_grad(), tc.detect_anomaly():
        _in_threads(lambda: seen.append((tc.is_grad_enabled(), tc.is_anomaly_enabled())))
    assert seen == [(True, True)]


def test_a_no_grad_decorated_function_called_on_two_threads_restores_each_threads_mode():
    """The decorator's one context object kept one stack of saved modes for every thread's calls."""
    both_in, first_out = threading.Barrier(2, timeout=10), threading.Event()

    @tc.no_grad()
    def step(wait):
        wait()

    def first():          # enters with grad on, and leaves first
        step(both_in.wait)
        first_out.set()
        assert tc.is_grad_enabled()

    def second():         # enters with grad off, and leaves after the first thread's call
        tc.set_grad_enabled(False)
        step(lambda: (both_in.wait(), first_out.wait(10)))
        assert not tc.is_grad_enabled()
    _in_threads(first, second)


# --- 10. gradcheck tools say what was called and what happened ---

@pytest.mark.parametrize("call, owner", [
    (lambda x: tc.taylor_test(lambda a: a * 2, [x]), "taylor_test"),
    (lambda x: tc.gradcheck(lambda a: a * 2, [x]), "gradcheck"),
    (lambda x: tc.gradgradcheck(lambda a: a * a, [x]), "gradgradcheck"),
])
def test_no_input_requiring_grad_names_the_function_called(call, owner):
    with pytest.raises(ValueError, match=rf"^{owner} needs at least one floating input Tensor with requires_grad"):
        call(tc.Tensor([1.0]))


def test_blame_says_plainly_when_no_op_was_recorded():
    """It said 'each of the 0 recorded ops passes its own check'."""
    x = tc.Tensor(np.array([1.0, 2.0]), requires_grad=True)
    with pytest.raises(tc.GradcheckError) as info:
        tc.gradcheck(lambda a: a.detach() * 2, [x])
    message = str(info.value)
    assert "the function recorded no op on the inputs that require grad" in message and ".detach()" in message
    assert "each of the 0" not in message


# --- 11. Tensor.draw_graph takes more outputs, as tc.draw_graph ---

def test_tensor_draw_graph_takes_more_outputs_positionally():
    require("graphviz")
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    a, b = x * 2, x.exp()
    assert a.draw_graph(b).source == tc.draw_graph(a, b).source
    assert "Exp" in a.draw_graph(b).source and "Exp" not in a.draw_graph().source
