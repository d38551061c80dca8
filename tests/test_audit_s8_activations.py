"""The activations (tc.layers.activations) against PyTorch's at ordinary values, ties at their kinks and edges, for a
random upstream gradient; Tensor.min of every dtype; integer powers (defects reported by the session 8 edge audit)."""
from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import require_torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from test_audit_s8_edges import EDGES, compare

import tinygrad_cnn as tc
from tinygrad_cnn.layers import Activation, ReLU, activations

NAN, INF = math.nan, math.inf
KINKS = (0.0, -0.0, 3.0, -3.0, 6.0, 1.0, 0.5, 20.0, -20.0, 40.0, -40.0)   # every activation's breakpoints


def _f(name: str, **options):
    """torch.nn.functional.<name>(x, **options) as an oracle."""
    return lambda torch, x: getattr(torch.nn.functional, name)(x, **options)


ORACLES = {   # our activation, torch's, and the float64 rtol (looser where torch's float64 is rounded)
    "softplus": (activations.softplus, _f("softplus"), 3e-9),   # torch's is x itself above 20: e^-20 = 2e-9 off
    "relu6": (activations.relu6, _f("relu6"), 1e-9),
    "hard_sigmoid": (activations.hard_sigmoid, _f("hardsigmoid"), 1e-7),   # torch's backward: g * (1.0f / 6.0f)
    "hard_silu": (activations.hard_silu, _f("hardswish"), 1e-9),
    "elu": (lambda x: activations.elu(x, 1.5), _f("elu", alpha=1.5), 1e-9),
    "selu": (activations.selu, _f("selu"), 1e-9),
    "softsign": (activations.softsign, _f("softsign"), 1e-9),
    "swish": (activations.swish, _f("silu"), 1e-9),
    "mish": (activations.mish, _f("mish"), 1e-9),
    "gelu": (activations.gelu, _f("gelu"), 1e-9),
    "gelu_tanh": (lambda x: activations.gelu(x, approximate=True), _f("gelu", approximate="tanh"), 1e-9),
    "leaky_relu": (activations.leaky_relu, _f("leaky_relu", negative_slope=0.2), 1e-9),
    "relu(threshold=1)": (lambda x: activations.relu(x, threshold=1.0), _f("threshold", threshold=1.0, value=0.0),
                          1e-9),
    "relu(max_value=2.5)": (lambda x: activations.relu(x, max_value=2.5), _f("hardtanh", min_val=0.0, max_val=2.5),
                            1e-9),
}


@pytest.mark.parametrize("name", ORACLES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=15)
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_activations_are_torchs_on_the_real_line_and_at_their_kinks(name, dtype, data, seed):
    """Values and gradients for a random upstream; the kinks (0, +-3, 6, ...) are drawn often, softplus's 20 too."""
    torch = require_torch()
    ours, theirs, rtol = ORACLES[name]
    width = 32 if dtype is np.float32 else 64
    elements = st.one_of(st.sampled_from(KINKS), st.floats(-60, 60, width=width))
    x = data.draw(hnp.arrays(dtype, hnp.array_shapes(max_dims=2, max_side=6), elements=elements))
    x_torch = torch.tensor(x, requires_grad=True)
    y_torch = theirs(torch, x_torch)
    upstream = np.random.default_rng(seed).standard_normal(x.shape).astype(dtype)
    (g_torch,) = torch.autograd.grad(y_torch, x_torch, torch.tensor(upstream))
    x_ours = tc.Tensor(x, requires_grad=True)
    y = ours(x_ours)
    (g,) = tc.grad(y, [x_ours], tc.Tensor(upstream))
    tolerance = {"rtol": 2e-6, "atol": 1e-6} if dtype is np.float32 else {"rtol": rtol, "atol": 1e-12}
    if name == "gelu_tanh" and dtype is np.float32:   # 1 + tanh(u) cancels for x < -3 (in torch's too): 1e-6 apart
        tolerance["atol"] = 4e-6
    np.testing.assert_allclose(y.numpy(), y_torch.detach().numpy(), **tolerance)
    np.testing.assert_allclose(g.numpy(), g_torch.numpy(), **tolerance, err_msg=f"gradient at {x}")
    assert y.dtype == dtype and g.dtype == dtype


@pytest.mark.parametrize("name", ["softplus", "relu6", "hard_sigmoid", "hard_silu", "relu(threshold=1)",
                                  "relu(max_value=2.5)"])
def test_fixed_activations_are_torchs_at_nan_and_infinities(name, torch):
    """The gradient at 0 (softplus: 1/2), at the cap (relu6: 0 at 6, as hard_sigmoid at 3), at NaN (0 through a
    clamp) and at +-inf (hard_silu: 1 and 0, where x * hard_sigmoid(x) gave inf * 0)."""
    ours, theirs, _ = ORACLES[name]
    if name == "hard_sigmoid":   # its definition in float64 constants (torch's backward rounds 1/6 to float32)
        theirs = lambda torch, x: torch.nn.functional.relu6(x + 3) / 6   # noqa: E731
    edges = [v for v in EDGES if name != "hard_silu" or not math.isnan(v)]   # torch's float64 hardswish at NaN: below
    compare(ours, theirs, (np.array(edges),), seed=3)


def test_hard_silu_passes_the_gradient_at_nan_as_torchs_scalar_kernel(torch):
    """torch's hardswish gives the upstream at NaN (its vectorised float64 kernel: NaN; float32: the upstream)."""
    x = tc.Tensor([NAN, 1.0, -4.0], requires_grad=True)
    activations.hard_silu(x).backward(tc.Tensor([0.75, 1.0, 1.0]))
    np.testing.assert_allclose(x.grad.numpy(), [0.75, 1 / 3 + 0.5, 0.0])
    x_torch = torch.tensor([NAN, 1.0, -4.0], requires_grad=True)
    torch.nn.functional.hardswish(x_torch).backward(torch.tensor([0.75, 1.0, 1.0]))
    np.testing.assert_allclose(x.grad.numpy(), x_torch.grad.numpy())


@settings(max_examples=20)
@given(x=hnp.arrays(np.float64, st.integers(1, 8), elements=st.floats(-740, -30)))
def test_softplus_keeps_its_relative_accuracy_far_below_zero(x):
    """log(1 + e^x) for x << 0 is e^x (4.2e-18 at -40): log(1 + tiny) rounded it to 0."""
    torch = require_torch()
    np.testing.assert_allclose(activations.softplus(tc.Tensor(x)).numpy(),
                               torch.nn.functional.softplus(torch.tensor(x)).numpy(), rtol=1e-12)


def test_softplus_and_mish_layers_go_through_the_activation(torch):
    """Activation("softplus") and Dense(activation="mish") use the fixed function: gradient 1/2 at 0, and so on."""
    x = tc.Tensor(np.zeros((2, 3)), requires_grad=True)
    Activation("softplus")(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 0.5))
    x_torch = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    torch.nn.functional.mish(x_torch).sum().backward()
    x.grad = None
    Activation("mish")(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), x_torch.grad.numpy())


# --- Keras's relu(x, negative_slope, max_value, threshold) ---
def keras_relu(torch, x, negative_slope: float, max_value: float | None, threshold: float):
    """Keras 3's relu in torch ops: x above the threshold (else 0), clipped to [0, max_value], minus
    negative_slope * relu(threshold - x); the clip's gradient as relu6's (none at the bounds)."""
    y = torch.nn.functional.threshold(x, threshold, 0.0)
    if max_value is not None:
        y = torch.nn.functional.hardtanh(y, 0.0, max_value)
    return y - negative_slope * torch.relu(threshold - x) if negative_slope else y


@pytest.mark.parametrize("negative_slope", [0.0, 0.1])
@pytest.mark.parametrize("max_value", [None, 6.0, 2.0])
@pytest.mark.parametrize("threshold", [0.0, 1.0, -0.5])
def test_relu_options_are_keras_at_the_threshold_the_cap_and_infinities(negative_slope, max_value, threshold):
    """At x == threshold Keras gives 0 (x only above it); at -inf 0 - slope * inf, never (x - t) * 0 = NaN."""
    values = [-INF, INF, threshold, max_value or 5.0, 0.0, -0.5, 0.5, 1.0, 3.0, -3.0, 7.0, 1e300, -1e300]
    compare(lambda x: activations.relu(x, negative_slope, max_value, threshold),
            lambda torch, x: keras_relu(torch, x, negative_slope, max_value, threshold), (np.array(values),), seed=5)
    layer = ReLU(max_value, negative_slope, threshold)
    x = tc.Tensor(np.array(values))
    np.testing.assert_array_equal(layer(x).numpy(), activations.relu(x, negative_slope, max_value, threshold).numpy())


def test_relu_at_its_threshold_is_zero_as_keras_documents():
    x = tc.Tensor([1.0, 1.5, 0.5, -INF], requires_grad=True)
    y = activations.relu(x, threshold=1.0)
    y.backward(tc.Tensor([2.0, 3.0, 5.0, 7.0]))
    np.testing.assert_array_equal(y.numpy(), [0.0, 1.5, 0.0, 0.0])
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 3.0, 0.0, 0.0])


@pytest.mark.parametrize("name", ["softplus", "relu6", "hard_sigmoid", "hard_silu", "relu(threshold=1)", "elu",
                                  "selu"])
def test_second_derivatives_are_torchs_at_edges(name):
    """Through create_graph: softplus'' = sigmoid'; hard_silu'' = 1/3 inside, 0 outside; clamps' are 0."""
    ours, theirs, _ = ORACLES[name]
    if name == "hard_sigmoid":
        theirs = lambda torch, x: torch.nn.functional.relu6(x + 3) / 6   # noqa: E731
    values = [v for v in EDGES if not math.isnan(v)] + [-2.5, 2.5, 4.0, 7.0]
    if "elu" in name:   # at 0 torch's first derivative is the negative side's (alpha), its second the positive's (0)
        values = [v for v in values if v != 0]   # ours: the negative side's for both (alpha, alpha)
    compare(ours, theirs, (np.array(values),), seed=11, second_order=True)


@pytest.mark.parametrize("name", ["softplus", "hard_silu", "relu6", "mish", "elu", "selu"])
def test_gradients_pass_finite_difference_checks(name):
    x = tc.Tensor(np.array([-5.0, -2.9, -1.2, -0.3, 0.4, 1.7, 2.2, 5.1, 7.0, 25.0]), requires_grad=True)
    fn = getattr(activations, name)
    assert tc.gradcheck(fn, (x,))
    assert tc.gradgradcheck(fn, (x,))


# --- Tensor.min: its own reduction (Min, beside Max), not -max(-x), which wrapped unsigned ints and failed on bools ---
@pytest.mark.parametrize("dtype", ["uint8", "bool", "int8", "int32", "int64", "float32"])
@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)])
def test_min_of_every_dtype_is_torchs(dtype, axis, torch):
    x = np.array([[254, 0, 3], [7, 9, 1]]).astype(dtype) if dtype != "bool" else np.array([[True, False, True],
                                                                                           [True, True, True]])
    for keepdims in (False, True):
        ours = tc.Tensor(x).min(axis, keepdims=keepdims)
        theirs = torch.amin(torch.tensor(x), dim=() if axis is None else axis, keepdim=keepdims)
        assert ours.dtype == x.dtype and ours.shape == tuple(theirs.shape)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@settings(max_examples=25)
@given(arrays=hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=2, max_side=5),
                         elements=st.sampled_from([-1.0, 0.0, 2.0, -INF, INF])), seed=st.integers(0, 2**16))
def test_min_over_an_axis_shares_ties_as_torch_amin(arrays, seed):
    """Ties (drawn often) share the gradient equally, as torch.amin; a random upstream."""
    compare(lambda x: x.min(axis=1), lambda torch, x: torch.amin(x, 1), (arrays,), seed=seed)


def test_min_keeps_max_rule_at_a_nan_minimum():
    """The documented rule of the max reduction, mirrored: a group's NaNs share its gradient (torch.min(x)'s)."""
    x = tc.Tensor([[NAN, 1.0, NAN], [2.0, -1.0, -1.0]], requires_grad=True)
    y = x.min(axis=1)
    y.backward(tc.Tensor([0.5, 3.0]))
    np.testing.assert_array_equal(y.numpy(), [NAN, -1.0])
    np.testing.assert_array_equal(x.grad.numpy(), [[0.25, 0.0, 0.25], [0.0, 1.5, 1.5]])
    assert y.grad_fn.name == "Min"   # one node in the graph, as max's


# --- integers to negative integer powers: torch refuses them too; ours names the dtype and the fix ---
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int32", "int64", "bool"])
def test_an_integer_tensor_to_a_negative_integer_power_is_a_clear_error(dtype, torch):
    x = np.array([2, 1, 3]).astype(dtype)
    with pytest.raises(RuntimeError, match="negative integer powers"):
        torch.tensor(x) ** -1
    for power in (lambda t: t ** -1, lambda t: t ** tc.Tensor(np.array([1, -2, 0]))):
        with pytest.raises(ValueError, match=f"negative integer power .*{dtype} \\*\\* .*x.float\\(\\)"):
            power(tc.Tensor(x))
    with pytest.raises(ValueError, match="negative integer power"):
        2 ** -tc.Tensor(x).astype("int64")
    np.testing.assert_array_equal((tc.Tensor(x) ** 2).numpy(), (torch.tensor(x) ** 2).numpy())   # still allowed
    np.testing.assert_allclose((tc.Tensor(x).float() ** -1).numpy(), 1 / x.astype(np.float32))


def test_relu_reproduces_keras_documented_examples():
    """keras.activations.relu's docstring: x = [-10, -5, 0, 5, 10]; threshold=5 gives 0 at x == 5."""
    x = tc.Tensor([-10.0, -5.0, 0.0, 5.0, 10.0])
    np.testing.assert_array_equal(activations.relu(x).numpy(), [0, 0, 0, 5, 10])
    np.testing.assert_array_equal(activations.relu(x, negative_slope=0.5).numpy(), [-5, -2.5, 0, 5, 10])
    np.testing.assert_array_equal(activations.relu(x, max_value=5.0).numpy(), [0, 0, 0, 5, 5])
    np.testing.assert_array_equal(activations.relu(x, threshold=5.0).numpy(), [0, 0, 0, 0, 10])
    np.testing.assert_array_equal(ReLU(max_value=10, negative_slope=0.5, threshold=0)(x).numpy(), [-5, -2.5, 0, 5, 10])


@pytest.mark.parametrize("name", ["elu", "selu"])
def test_elu_keeps_its_relative_accuracy_just_below_zero(name, torch):
    """alpha * (e^x - 1) for tiny x < 0 is alpha * x (expm1, as torch): exp(x) - 1 was 8e-8 off at -1e-10."""
    x = -np.logspace(-300, -1, 40)
    ours = getattr(activations, name)(tc.Tensor(x)).numpy()
    theirs = getattr(torch.nn.functional, name)(torch.tensor(x)).numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-14)
