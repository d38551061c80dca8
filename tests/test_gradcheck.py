"""gradcheck finds planted bugs, names the input and entry, blames the op, and treats kinks right."""
from __future__ import annotations

import warnings

import numpy as np
import planted
import pytest
from conftest import require
from planted import arrays

import tinygrad_cnn as tc
from tinygrad_cnn.gradcheck import FAST_MODE_SIZE, GradcheckReport, check_gradients, second_derivative_report


def failure(fn, inputs, **options) -> GradcheckReport:
    """The report of a gradcheck that must fail."""
    with pytest.raises(tc.GradcheckError) as caught:
        tc.gradcheck(fn, inputs, **options)
    return caught.value.report


# --- the base contract (issue 2): planted bugs fail and are located; right ops pass ---

def test_missing_transpose_names_the_input_and_its_worst_entry():
    a, b = arrays(0, (3, 4), (4, 4))
    with pytest.raises(tc.GradcheckError) as caught:
        tc.gradcheck(planted.NoTransposeMatMul.apply, (a, b), blame=False)
    report = caught.value.report
    assert report.inputs[0].mismatches and not report.inputs[1].mismatches   # only the gradient of a is wrong
    worst = max(report.inputs[0].mismatches, key=lambda m: m.abs_error)
    right = (report.inputs[0].numeric)[worst.element]
    assert worst.numeric == pytest.approx(right) and worst.abs_error > worst.tolerance
    text = str(caught.value)
    assert "input 0 (shape (3, 4))" in text and f"element {worst.element}" in text
    for word in ("analytic", "numeric", "abs error", "rel error", "tolerance"):
        assert word in text


def test_half_gradient_is_off_by_a_factor_two_everywhere():
    (x,) = arrays(1, (2, 3))
    report = failure(planted.HalfExp.apply, [x], blame=False)
    result = report.inputs[0]
    assert len(result.mismatches) == x.size
    np.testing.assert_allclose(result.analytic, result.numeric / 2, rtol=1e-6)


def test_ignored_broadcasting_fails_only_for_the_broadcast_input():
    x, bias = arrays(2, (4, 3), (3,))
    report = failure(planted.FirstRowBiasAdd.apply, [x, bias], blame=False)
    assert not report.inputs[0].mismatches
    assert {m.element for m in report.inputs[1].mismatches} == {(0,), (1,), (2,)}


def test_zero_dimensional_inputs_are_checked():
    x = tc.Tensor(np.float64(0.7), requires_grad=True)
    assert tc.gradcheck(lambda x: x.exp() * x, [x])
    report = failure(planted.HalfExp.apply, [x])
    assert [m.element for m in report.inputs[0].mismatches] == [()]


def test_raise_exception_false_returns_false():
    (x,) = arrays(3, (3,))
    assert tc.gradcheck(planted.HalfExp.apply, [x], raise_exception=False) is False


def test_correct_composite_passes_and_float32_is_checked_in_float64():
    seen = []

    class Probe(tc.Function):
        @staticmethod
        def forward(ctx, a):
            seen.append(a.dtype)
            return a.data * 1.0

        @staticmethod
        def backward(ctx, g):
            return g

    rng = np.random.default_rng(4)
    x = tc.Tensor(rng.standard_normal((3, 4)).astype(np.float32), requires_grad=True)
    w = tc.Tensor(rng.standard_normal((4, 2)).astype(np.float32), requires_grad=True)
    # float32 differences with eps=1e-6 would be pure rounding; the check casts to float64 first
    assert tc.gradcheck(lambda x, w: Probe.apply(x @ w).tanh().log_softmax(), (x, w))
    # every finite difference in float64; the last pass: the gradient in the inputs' own dtype, held against float64's
    assert set(seen[:-1]) == {np.dtype(np.float64)} and seen[-1] == np.float32
    assert x.dtype == np.float32 and x.grad is None   # the user's tensors are untouched


def test_integer_inputs_give_a_clear_error():
    with pytest.raises(ValueError, match="integer and bool tensors have no gradient"):
        tc.gradcheck(lambda i: i * 2, [tc.Tensor([1, 2, 3])])
    with pytest.raises(ValueError, match="input 0: int"):
        tc.gradcheck(lambda i: i * 2, [tc.Tensor(np.arange(3))])


def test_non_tensor_output_and_bad_kinks_option_are_refused():
    (x,) = arrays(5, (2,))
    with pytest.raises(TypeError, match="must return Tensors"):
        tc.gradcheck(lambda x: x.data, [x])
    with pytest.raises(ValueError, match="kinks must be one of"):
        tc.gradcheck(lambda x: x * 2, [x], kinks="maybe")


# --- blame (issue 6) ---

def test_blame_names_the_matmul_with_the_missing_transpose_in_a_three_layer_model():
    x, w1, w2, w3 = arrays(6, (4, 3), (3, 5), (5, 5), (5, 2))
    report = failure(planted.three_layer_model, (x, w1, w2, w3))
    blame = report.blame
    assert blame.op == "NoTransposeMatMul"
    assert (blame.layer, blame.layer_kind) == ("model/dense_2", "Dense")
    assert blame.site == (planted.__file__, planted.planted_line("missing transpose"))
    assert blame.input_shapes == ((4, 5), (5, 5))
    assert not blame.report.passed and blame.report.inputs[0].mismatches
    # ops upstream of it (matmul and tanh of dense_1) were checked first and passed
    assert blame.checked == 3 and blame.total == 5
    text = report.message()
    assert "blame: NoTransposeMatMul((4, 5), (5, 5))" in text and "in layer 'model/dense_2' (Dense)" in text
    assert f"planted.py:{blame.site[1]}" in text


def test_blame_finds_the_bias_add_that_ignores_broadcasting():
    x, w, bias = arrays(7, (5, 3), (3, 4), (4,))
    blame = failure(planted.broadcast_model, (x, w, bias)).blame
    assert (blame.op, blame.layer) == ("FirstRowBiasAdd", "dense")
    assert blame.site[1] == planted.planted_line("broadcasting ignored")
    assert [m.input_index for r in blame.report.inputs for m in r.mismatches] == [1] * 4


def test_blame_finds_the_wrong_sign_in_one_branch():
    x, w = arrays(8, (6, 3), (3, 4))
    blame = failure(planted.branch_model, (x, w)).blame
    assert blame.op == "SignSlipTanh" and blame.layer is None
    assert blame.site[1] == planted.planted_line("wrong sign in one branch")
    h = (x.data @ w.data)
    wrong = {m.element for m in blame.report.inputs[0].mismatches}
    assert wrong == {tuple(int(i) for i in e) for e in np.argwhere(h <= 0)}   # only the negative branch


def test_blame_takes_the_first_wrong_op_from_the_inputs():
    (x,) = arrays(9, (3, 3))
    blame = failure(lambda x: planted.HalfExp.apply(planted.FirstRowBiasAdd.apply(x, x[0])), [x]).blame
    assert blame.op == "FirstRowBiasAdd"


def test_blame_false_and_errors_outside_the_graph():
    (x,) = arrays(10, (3,))
    assert failure(planted.HalfExp.apply, [x], blame=False).blame is None
    # a function that takes a value through .data: every recorded op is right on its own
    report = failure(lambda x: x * tc.Tensor(x.data), [x])
    assert report.blame is None and any("outside the recorded graph" in n for n in report.notes)


def test_gradgradcheck_blames_a_backward_that_is_not_differentiable():
    x, w = arrays(11, (3,), (3,))
    assert tc.gradcheck(lambda x, w: planted.ConstantSquare.apply(x * w).tanh(), (x, w))
    with pytest.raises(tc.GradcheckError) as caught:
        tc.gradgradcheck(lambda x, w: planted.ConstantSquare.apply(x * w).tanh(), (x, w))
    report = caught.value.report
    assert report.what == "second derivative" and report.blame.op == "ConstantSquare"


# --- kinks ---

def kink_report(fn, inputs, **options):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert tc.gradcheck(fn, inputs, **options)
    return [w for w in caught if issubclass(w.category, tc.GradcheckWarning)]


def test_relu_at_zero_is_a_kink_not_a_failure():
    x = tc.Tensor(np.array([-1.5, 0.0, 0.7, 0.0, 2.0]), requires_grad=True)
    caught = kink_report(lambda x: x.relu(), [x])
    assert len(caught) == 1 and "2 non-differentiable points" in str(caught[0].message)
    report = check_gradients(lambda x: x.relu(), [x])
    assert report.passed and [k.element for k in report.kinks] == [(1,), (3,)]
    for k in report.kinks:   # slopes are scaled by the random upstream gradient: 0 on the left, u on the right
        assert k.left == 0 and abs(k.right) > 0 and k.analytic == 0 and not k.jump


def test_tied_max_pool_windows_are_kinks():
    x = tc.Tensor(np.array([[1.0, 1.0, 0.0, 2.0], [0.5, 1.0, 2.0, -1.0]]).reshape(1, 2, 4, 1), requires_grad=True)
    def fn(x):
        return tc.max_pool2d(x, 2)

    report = check_gradients(fn, [x])
    assert report.passed
    tied = {k.element for k in report.kinks}
    assert tied == {(0, 0, 0, 0), (0, 0, 1, 0), (0, 1, 1, 0), (0, 0, 3, 0), (0, 1, 2, 0)}
    assert kink_report(fn, [x])


def test_a_wrong_gradient_at_a_kink_is_still_caught():
    x = tc.Tensor(np.array([-1.0, 0.0, 1.0]), requires_grad=True)
    report = failure(planted.KinkBugRelu.apply, [x])
    (m,) = report.inputs[0].mismatches
    low, high = m.kink_range
    assert m.element == (1,) and low * high == 0 and m.analytic == pytest.approx(3 * (low + high))  # [0, u]
    assert "at a kink, but outside the range of the one-sided slopes" in report.message()


def test_kink_modes():
    x = tc.Tensor(np.array([0.0, 1.0]), requires_grad=True)
    report = failure(lambda x: x.abs(), [x], kinks="fail")
    assert len(report.kinks) == 1 and "counted as failures" in report.message()
    assert kink_report(lambda x: x.abs(), [x], kinks="ignore") == []


def test_smooth_curvature_is_not_a_kink():
    # at x = 1e-3 the one-sided slopes of 1/x differ by eps * 2 / x^3 = 2e3 (more than rtol * 1e6):
    # measured again at eps / 10 the gap shrinks tenfold, so it is curvature, not a kink
    x = tc.Tensor(np.array([0.001, 0.002]), requires_grad=True)
    report = check_gradients(lambda x: 1 / x, [x])
    assert report.passed and report.kinks == []


def test_second_derivatives_jump_at_ties():
    tied = tc.Tensor(np.array([[2.0, 2.0], [1.0, 0.0]]).reshape(1, 2, 2, 1), requires_grad=True)
    report = second_derivative_report(lambda x: tc.max_pool2d(x, 2), [tied])
    assert report.passed and {k.element for k in report.kinks if k.jump} == {(0, 0, 0, 0), (0, 0, 1, 0)}
    assert "a jump" in report.message()


# --- scale ---

def test_fast_mode_is_automatic_above_the_size_threshold():
    small, big = arrays(12, (4, 4), (FAST_MODE_SIZE + 1,))
    assert not check_gradients(lambda x: x.tanh(), [small]).fast_mode
    report = check_gradients(lambda x: x.tanh(), [big])
    assert report.fast_mode and report.passed and report.inputs[0].numeric is None


def test_fast_mode_failure_falls_back_to_the_full_check_of_the_wrong_input_then_blame():
    x, bias = arrays(13, (40, 30), (30,))
    report = failure(lambda x, b: planted.FirstRowBiasAdd.apply(x, b).tanh(), [x, bias])
    assert report.fast_mode and report.inputs[0].numeric is None     # x's own projection agreed
    assert len(report.inputs[1].mismatches) == 30
    assert report.blame.op == "FirstRowBiasAdd"


def test_draw_graph_colours_the_blamed_op_red():
    require("graphviz")
    inputs = arrays(6, (4, 3), (3, 5), (5, 5), (5, 2))
    report = failure(planted.three_layer_model, inputs)
    output = planted.three_layer_model(*inputs)
    red = [line for line in tc.draw_graph(output, gradcheck=report).source.splitlines() if "#e31a1c" in line]
    node = next(line for line in red if "NoTransposeMatMul" in line)
    assert f"wrong gradient: {report.blame.error}" in node.replace("\\\\", "\\")
    assert f"planted.py:{planted.planted_line('missing transpose')}" in node
    assert any("wrong gradient (gradcheck)" in line for line in red)          # the legend
    collapsed = tc.draw_graph(output, gradcheck=report, collapse=True).source
    assert any("dense_2 (Dense)" in line and "#e31a1c" in line for line in collapsed.splitlines())
    plain = tc.draw_graph(output).source
    assert "#e31a1c" not in plain and "wrong gradient" not in plain
    from_error = tc.draw_graph(output, gradcheck=tc.GradcheckError(report)).source   # the caught error works too
    assert from_error == tc.draw_graph(output, gradcheck=report).source
