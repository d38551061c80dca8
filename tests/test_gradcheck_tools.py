"""tc.testing: the pytest plugin's fixtures, the hypothesis strategies and assert_gradcheck; whole-model checks."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import planted
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn.gradcheck import FAST_MODE_SIZE, check_gradients
from tinygrad_cnn.mode import scope
from tinygrad_cnn.testing import strategies as tst


def test_the_plugin_is_registered_by_its_entry_point(pytestconfig):
    assert pytestconfig.pluginmanager.has_plugin("tinygrad_cnn")


@pytest.mark.parametrize("fn", [tc.Tensor.tanh, tc.Tensor.sigmoid, tc.Tensor.exp, lambda x: x.softmax(0)],
                         ids=["tanh", "sigmoid", "exp", "softmax"])
def test_unary_ops_pass_on_drawn_arrays(gradcheck_property, tc_strategies, fn):
    gradcheck_property(fn, tc_strategies.arrays(min_dims=1), gradgrad=True, max_examples=15)


@pytest.mark.parametrize("fn", [lambda a, b: a * b, lambda a, b: a / b, tc.maximum], ids=["mul", "div", "maximum"])
def test_binary_ops_pass_on_broadcastable_pairs(gradcheck_property, tc_strategies, fn):
    gradcheck_property(fn, tc_strategies.broadcastable_arrays(min_abs=0.5), gradgrad=True, max_examples=15)


def test_log_and_abs_away_from_their_singular_points(gradcheck_property, tc_strategies):
    gradcheck_property(lambda x: x.abs().log(), tc_strategies.arrays(min_abs=0.1), max_examples=15)


conv_cases = tst.conv_geometries().flatmap(lambda g: st.tuples(
    tst.arrays(g.input_shape, low=-1, high=1), tst.arrays(g.kernel_shape, low=-1, high=1), st.just(g)))


@settings(max_examples=12)
@given(conv_cases)
def test_conv2d_passes_on_drawn_geometries(assert_gradcheck, case):
    x, kernel, geometry = case
    assert_gradcheck(lambda x, w: tc.conv2d(x, w, **geometry.kwargs), x, kernel)


# values on a grid: ties are exact (kinks) or values are far apart, never within eps of each other
pool_cases = tst.pool_geometries().flatmap(lambda g: st.tuples(tst.arrays(g.input_shape, grid=0.25), st.just(g)))


@settings(max_examples=12)
@given(pool_cases)
def test_pooling_passes_on_drawn_geometries(assert_gradcheck, case):
    x, geometry = case
    assert_gradcheck(lambda x: tc.max_pool2d(x, **geometry.kwargs), x, gradgrad=True)
    assert_gradcheck(lambda x: tc.avg_pool2d(x, **geometry.kwargs), x)


@settings(max_examples=20)
@given(tst.conv_geometries(), tst.pool_geometries())
def test_geometries_are_valid_configurations(conv, pool):
    y = tc.conv2d(np.zeros(conv.input_shape), np.zeros(conv.kernel_shape), **conv.kwargs)
    assert y.shape[:1] + y.shape[3:] == (conv.batch, conv.filters) and min(y.shape) >= 1
    assert min(tc.max_pool2d(np.zeros(pool.input_shape), **pool.kwargs).shape) >= 1


@given(tst.tensors(min_dims=1), tst.broadcastable_shapes())
def test_tensors_and_shape_pairs(x, shapes):
    assert x.requires_grad and x.dtype == np.float64 and np.all(np.abs(x.data) <= 2)
    np.broadcast_shapes(*shapes)


def test_assert_gradcheck_failure_message_reads_well():
    with pytest.raises(AssertionError) as caught:
        tc.testing.assert_gradcheck(planted.HalfExp.apply, np.array([0.5, -1.0]))
    text = str(caught.value)
    assert text.startswith("the gradient of HalfExp.apply(x0: (2,) float64 requires_grad) is wrong:")
    assert "input 0 (shape (2,)): 2 of 2 entries disagree" in text and "blame: HalfExp((2,))" in text
    assert f"applied by the check itself; HalfExp is defined at {planted.__file__}:" in text


def test_assert_gradcheck_checks_second_derivatives_on_request():
    x = np.array([0.3, -0.7])
    tc.testing.assert_gradcheck(planted.ConstantSquare.apply, x)
    with pytest.raises(AssertionError, match="the second derivative of ConstantSquare.apply"):
        tc.testing.assert_gradcheck(planted.ConstantSquare.apply, x, gradgrad=True)


USER_TEST = '''
    import numpy as np
    import tinygrad_cnn as tc

    class Cube(tc.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.data ** 3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3 * x ** {power}

    def test_cube(gradcheck_property, tc_strategies):
        gradcheck_property(Cube.apply, tc_strategies.arrays(), max_examples=10)
'''


def test_a_user_property_tests_a_custom_function_in_three_lines(tmp_path):
    (tmp_path / "test_right.py").write_text(textwrap.dedent(USER_TEST.format(power=2)))
    (tmp_path / "test_wrong.py").write_text(textwrap.dedent(USER_TEST.format(power=1)))
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert "1 failed, 1 passed" in run.stdout, run.stdout + run.stderr[-2000:]
    assert "the gradient of Cube.apply(x0:" in run.stdout
    # hypothesis names the shrunk input ("Falsifying example" before 6.16x, "Failing test case" after)
    assert "Falsifying example" in run.stdout or "Failing test case" in run.stdout


def test_the_plugin_skips_instead_of_crashing_without_hypothesis(monkeypatch):
    from tinygrad_cnn.testing import plugin
    monkeypatch.setitem(sys.modules, "hypothesis", None)   # import hypothesis now raises ImportError
    monkeypatch.delitem(sys.modules, "tinygrad_cnn.testing.strategies")
    monkeypatch.delattr(tc.testing, "strategies")
    with pytest.raises(pytest.skip.Exception, match="need hypothesis"):
        plugin._strategies()
    code = "import sys; sys.modules['hypothesis'] = None; import tinygrad_cnn, tinygrad_cnn.testing.plugin"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


# --- a whole model: every parameter of a small CNN ---

def small_cnn(x, kernel, bias, weights, offsets, add=tc.Tensor.__add__):
    """Conv 3x3 (16 filters) - ReLU - max-pool 2 - dense to 10 classes - log-softmax; NHWC."""
    with scope("cnn", "Sequential"):
        with scope("conv2d", "Conv2D"):
            h = tc.conv2d(x, kernel, bias, padding="same").relu()
        with scope("max_pooling2d", "MaxPooling2D"):
            h = tc.max_pool2d(h, 2)
        with scope("dense", "Dense"):
            logits = add(h.reshape(h.shape[0], -1) @ weights, offsets)   # planted: dense bias (in buggy)
        return logits.log_softmax(axis=-1)


def cnn_inputs(seed=0):
    rng = np.random.default_rng(seed)
    shapes = [(2, 6, 6, 1), (3, 3, 1, 16), (16,), (144, 10), (10,)]
    return [tc.Tensor(rng.standard_normal(s) * 0.5, requires_grad=True) for s in shapes]


def test_every_parameter_of_a_small_cnn_in_one_call():
    inputs = cnn_inputs()
    assert sum(x.size for x in inputs) == 72 + 144 + 16 + 1440 + 10 > FAST_MODE_SIZE
    assert tc.gradcheck(small_cnn, inputs, fast_mode=False)   # 1682 entries, one by one
    assert check_gradients(small_cnn, inputs).fast_mode      # auto: a random projection


def test_a_planted_bug_in_the_cnn_dense_layer_is_found_by_fast_mode_and_blamed():
    def buggy(*inputs):
        return small_cnn(*inputs, add=planted.FirstRowBiasAdd.apply)

    with pytest.raises(tc.GradcheckError) as caught:
        tc.gradcheck(buggy, cnn_inputs(1))
    report = caught.value.report
    assert report.fast_mode and report.blame.op == "FirstRowBiasAdd"
    assert (report.blame.layer, report.blame.layer_kind) == ("cnn/dense", "Dense")
    assert report.blame.site == (__file__, planted_line_here("dense bias"))
    checked = [r.index for r in report.inputs if r.numeric is not None]
    assert checked == [4] and len(report.inputs[4].mismatches) == 10   # only the offsets' projection disagreed


def planted_line_here(marker):
    with open(__file__) as source:
        return next(n for n, line in enumerate(source, 1) if f"# planted: {marker}" in line)
