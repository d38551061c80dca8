"""Acceptance audit of the gradient-checking tools (issue 6): Taylor test edge cases, the CLI's catalog."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from planted import arrays

import tinygrad_cnn as tc
from tinygrad_cnn.cli import main
from tinygrad_cnn.engine import toposort
from tinygrad_cnn.function import Function
from tinygrad_cnn.testing import strategies as tst
from tinygrad_cnn.testing.op_catalog import CATALOG, find


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("order", [1, 2])
def test_taylor_fails_when_the_function_is_not_finite(order):
    (x,) = arrays(0, (3,))
    negative = tc.Tensor(-np.abs(x.data) - 1, requires_grad=True)
    result = tc.taylor_test(tc.Tensor.log, [negative], order=order)   # log of negatives: NaN everywhere
    assert not result.passed and not result.exact and "NaN or Inf" in str(result)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_taylor_fits_the_finite_remainders_where_large_steps_leave_the_domain():
    x = tc.Tensor(np.array([0.05, 1.0]), requires_grad=True)
    result = tc.taylor_test(tc.Tensor.log, [x], direction=np.array([-1.0, 0.5]))
    assert np.isnan(result.remainders[0]) and result.passed and result.slope == pytest.approx(2, abs=0.15)


def test_taylor_argument_errors_name_the_argument():
    (x,) = arrays(1, (3,))
    for steps in (0.1, "abc", [0.1, np.nan, 0.01, 0.001], [[0.1, 0.01, 0.001]]):
        with pytest.raises(ValueError, match="h must hold at least 3 positive steps"):
            tc.taylor_test(tc.Tensor.tanh, [x], h=steps)
    with pytest.raises(ValueError, match="direction must hold finite values"):
        tc.taylor_test(tc.Tensor.tanh, [x], direction=np.array([0.0, np.inf, 1.0]))
    with pytest.raises(TypeError, match="taylor_test: fn must be a function of the inputs, got int"):
        tc.taylor_test(3, [x])


def test_cli_seed_must_not_be_negative(capsys):
    assert main(["gradcheck", "--op", "add", "--seed", "-1"]) == 2
    assert "--seed must be a non-negative int, got -1" in capsys.readouterr().err


def primitives() -> set[str]:
    """Every Function subclass the package defines."""
    found, stack = set(), [Function]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub.__module__.startswith("tinygrad_cnn.") and sub.__name__ not in found:
                found.add(sub.__name__)
                stack.append(sub)
    return found


# adjoints reached by gradgradcheck of the op they differentiate; Cast changes precision (float64 checks only)
SECOND_ORDER_ONLY = {"ConvInputGrad", "ConvKernelGrad", "WindowSumAdjoint", "IndexAdd"}


def test_the_catalog_reaches_every_primitive_op():
    rng = np.random.default_rng(0)
    recorded = set()
    for op in CATALOG:
        for _ in range(3):
            out = op.fn(*op.inputs(rng))
            recorded |= {node.name for node in toposort([out._ctx] if out._ctx is not None else [])}
    missing = primitives() - recorded - SECOND_ORDER_ONLY - {"Cast", "FloorDivide"}   # // is never recorded
    assert not missing, f"ops no `tinygrad-cnn gradcheck` row exercises: {sorted(missing)}"


def test_conv2d_rows_draw_groups_and_dilation():
    rng = np.random.default_rng(0)
    draws = [find("conv2d").inputs(rng) for _ in range(20)]
    assert {d[-1] for d in draws} == {1, 2} and {d[-2] for d in draws} == {1, 2}   # groups, dilation


@settings(max_examples=25)
@given(st.data())
def test_arrays_keep_min_abs_inside_low_high_and_on_the_grid(data):
    low = data.draw(st.sampled_from([-2.0, -1.0, 0.0, 0.5]))
    high = data.draw(st.sampled_from([1.0, 2.0]))
    grid = data.draw(st.sampled_from([None, 0.25]))
    values = data.draw(tst.arrays((6,), low=low, high=high, min_abs=0.3, grid=grid))
    assert np.all((low <= values) & (values <= high) & (np.abs(values) >= 0.3))
    if grid is not None:
        np.testing.assert_array_equal(values, np.round(values / grid) * grid)


def test_arrays_argument_errors():
    for options, message in [(dict(grid=0), "grid must be a positive step"),
                             (dict(grid=-0.5), "grid must be a positive step"),
                             (dict(min_abs=3.0), "no value in .* has |value| >= min_abs=3.0"),
                             (dict(low=0.1, high=0.2, grid=0.5), "multiple of grid=0.5"),
                             (dict(dtype=np.int64), "dtype must be a float dtype")]:
        with pytest.raises(ValueError, match=message):
            tst.arrays((2,), **options)


def test_gradcheck_property_names_an_input_that_is_not_a_strategy(gradcheck_property, tc_strategies):
    with pytest.raises(TypeError, match="gradcheck_property: input 1 must be a hypothesis strategy .*got ndarray"):
        gradcheck_property(lambda a, b: a * b, tc_strategies.arrays((2,)), np.ones(2))


def test_strategies_are_reachable_as_tc_testing_strategies():
    code = ("import sys, tinygrad_cnn as tc; assert 'hypothesis' not in sys.modules; "
            "print(tc.testing.strategies.arrays.__name__, 'hypothesis' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["arrays", "True"], done.stderr


@pytest.mark.parametrize("order", [1, 2])
def test_taylor_of_outputs_cut_off_the_graph(order):
    (x,) = arrays(7, (3,))
    constant = tc.taylor_test(lambda x: tc.Tensor(np.ones(3)), [x], order=order)
    assert constant.passed and constant.exact
    detached = tc.taylor_test(lambda x: x.detach().exp(), [x], order=order)   # the gradient is lost: wrong
    assert not detached.passed and detached.slope == pytest.approx(1, abs=0.15)
    assert not tc.gradcheck(lambda x: x.detach().exp(), [x], raise_exception=False)   # gradcheck agrees


def test_assert_gradcheck_gradgrad_is_a_flag():
    with pytest.raises(TypeError, match="assert_gradcheck: gradgrad must be True or False, got 'no'"):
        tc.testing.assert_gradcheck(tc.Tensor.tanh, np.ones(2), gradgrad="no")
    tc.testing.assert_gradcheck(tc.Tensor.tanh, np.ones(2), gradgrad=np.True_)
