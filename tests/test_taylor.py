"""The Taylor test: slope 2 for right gradients (every built-in op), 1 for planted bugs; 3 / 2 for H d."""
from __future__ import annotations

import zlib

import numpy as np
import planted
import pytest
from planted import arrays

import tinygrad_cnn as tc
from tinygrad_cnn.testing.op_catalog import CATALOG


def nonlinear(fn):
    """y * y + y: linear ops (add, reshape, ...) would make the expansion exact; this keeps a curvature."""
    def composed(*inputs):
        y = fn(*inputs)
        return y * y + y
    return composed


@pytest.mark.parametrize("op", CATALOG, ids=lambda op: op.name)
def test_every_builtin_op_has_slope_two(op):
    rng = np.random.default_rng(zlib.crc32(op.name.encode()))
    results = [tc.taylor_test(nonlinear(op.fn), op.inputs(rng)) for _ in range(4)]
    # an exact expansion happens when a draw makes the output constant (relu of negatives)
    assert any(not r.exact for r in results)
    for result in results:
        assert result.passed and (result.exact or result.slope == pytest.approx(2, abs=0.15)), str(result)


PLANTED = {
    "missing transpose": (planted.three_layer_model, [(4, 3), (3, 5), (5, 5), (5, 2)]),
    "half gradient": (planted.HalfExp.apply, [(3, 2)]),
    "broadcasting ignored": (planted.broadcast_model, [(5, 3), (3, 4), (4,)]),
    "wrong sign in one branch": (planted.branch_model, [(6, 3), (3, 4)]),
}


@pytest.mark.parametrize("bug", PLANTED)
def test_every_planted_bug_has_slope_one(bug):
    fn, shapes = PLANTED[bug]
    result = tc.taylor_test(fn, arrays(1, *shapes))
    assert not result.passed and result.slope == pytest.approx(1, abs=0.15), str(result)
    assert "FAILED: slope" in str(result)


def test_hessian_vector_products_have_slope_three_and_a_wrong_one_two():
    x, w = arrays(2, (3, 4), (4, 2))
    right = tc.taylor_test_hvp(lambda x, w: (x @ w).tanh().logsumexp(axis=1), [x, w])
    assert right.passed and right.order == 2 and right.slope == pytest.approx(3, abs=0.15)
    # right first derivative, but its backward is not differentiable: H d misses the x^2 curvature
    wrong = tc.taylor_test(lambda x: planted.ConstantSquare.apply(x).tanh(), [x], order=2)
    assert tc.taylor_test(lambda x: planted.ConstantSquare.apply(x).tanh(), [x]).passed
    assert not wrong.passed and wrong.slope == pytest.approx(2, abs=0.15)


def test_result_holds_the_steps_and_remainders_it_fitted():
    (x,) = arrays(3, (5,))
    result = tc.taylor_test(lambda x: x.exp().sum(), [x], h=[0.1, 0.05, 0.025, 0.0125])
    np.testing.assert_allclose(result.h, [0.1, 0.05, 0.025, 0.0125])
    slope = np.polyfit(np.log(result.h[1:]), np.log(result.remainders[1:]), 1)[0]   # the smaller-h half
    assert result.slope == pytest.approx(slope) and result.expected == 2


def test_given_direction_is_used():
    (x,) = arrays(4, (3,))
    d = np.array([1.0, 0.0, 0.0])
    result = tc.taylor_test(lambda x: x ** 3, [x], direction=d, h=[0.1, 0.01, 0.001])
    # along e_0 the remainder of x^3 is 3 x0 h^2 + h^3 (times the readout weight)
    ratio = result.remainders / abs(3 * x.data[0] * result.h ** 2 + result.h ** 3)
    assert ratio / ratio[0] == pytest.approx(np.ones(3), rel=1e-3)


def test_linear_function_is_exact():
    (x,) = arrays(5, (2, 3))
    result = tc.taylor_test(lambda x: x.transpose() * 2 + 1, [x])
    assert result.exact and result.passed and np.isnan(result.slope) and "exact" in str(result)


def test_bad_arguments():
    (x,) = arrays(6, (3,))
    with pytest.raises(ValueError, match="order must be 1"):
        tc.taylor_test(lambda x: x, [x], order=3)
    with pytest.raises(ValueError, match="direction must hold one array per input"):
        tc.taylor_test(lambda x: x, [x], direction=np.ones(4))
    with pytest.raises(ValueError, match="at least 3 positive steps"):
        tc.taylor_test(lambda x: x, [x], h=[0.1, -0.1, 0.01])
    with pytest.raises(TypeError, match="taylor_test: tolerance must be a number"):
        tc.taylor_test(lambda x: x, [x], tolerance="x")
