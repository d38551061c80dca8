"""Every differentiable op at NaN, +-inf, signed zeros, ties and huge values, against PyTorch's same op.

Forward values and gradients for a random upstream gradient must be torch's, NaN for NaN and inf for inf: at
these edges our conventions are PyTorch's (docs/autodiff.md, "NaN, infinities and signed zeros"), except the five
documented there, each tested below as what it is (a max/min reduction's NaN maximum, tc.maximum/minimum beside a
NaN, var/std beside an infinity, logsumexp of huge equal values, sqrt's second derivative at -0.0 and -inf).
"""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from conftest import require_torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_cnn as tc
from tinygrad_cnn.layers import activations

NAN, INF = math.nan, math.inf
EDGES = (NAN, INF, -INF, 0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, 3.0, -3.0, 6.0, 1e300, -1e300, 1e-300)
# in float32's range; NaN stays NaN (abs(nan) < 1e30 is False, and copysign would have made it 3e38)
EDGES32 = tuple(float(np.float32(v)) if not abs(v) >= 1e30 else math.copysign(3e38, v) for v in EDGES)
TOLERANCE = {np.float64: {"rtol": 1e-9, "atol": 1e-15}, np.float32: {"rtol": 1e-5, "atol": 1e-6}}


def edge_arrays(dtype: type = np.float64, shape: tuple[int, ...] | None = None, count: int = 1,
                without: tuple[float, ...] = ()) -> st.SearchStrategy:
    """`count` arrays of one shape (1-D or 2-D), each element an edge value (but those `without`) or a small float
    (ties come from both)."""
    edges = [v for v in (EDGES if dtype is np.float64 else EDGES32) if not any(_same(v, w) for w in without)]
    width = 64 if dtype is np.float64 else 32
    small = st.floats(-4, 4, width=width)
    if any(_same(-0.0, w) for w in without):   # st.floats draws -0.0 too
        small = small.map(lambda v: v + 0.0)    # -0.0 + 0.0 is 0.0
    elements = st.one_of(st.sampled_from(edges), small)
    shapes = st.just(shape) if shape else hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=5)
    return shapes.flatmap(lambda s: st.tuples(*[hnp.arrays(dtype, s, elements=elements)] * count))


def _same(a: float, b: float) -> bool:
    """a is b as a float: NaN is NaN, and -0.0 is not 0.0."""
    return str(a) == str(b)


def compare(ours, theirs, arrays, seed: int = 0, second_order: bool = False) -> None:
    """ours(*Tensors) against theirs(torch, *torch tensors): values, then gradients for one random upstream (and,
    with `second_order`, the gradients of <gradients, v> for a random v, through create_graph)."""
    torch = require_torch()
    tolerance = TOLERANCE[arrays[0].dtype.type]
    xs = [tc.Tensor(a.copy(), requires_grad=True) for a in arrays]
    ts = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y, y_torch = ours(*xs), theirs(torch, *ts)
        np.testing.assert_allclose(y.numpy(), y_torch.detach().numpy(), equal_nan=True, **tolerance,
                                   err_msg=f"forward at {arrays}")
        rng = np.random.default_rng(seed)
        upstream = rng.standard_normal(y.shape).astype(arrays[0].dtype)
        grads = tc.grad(y, xs, upstream, create_graph=second_order, allow_unused=True)
        grads_torch = torch.autograd.grad(y_torch, ts, torch.tensor(upstream), create_graph=second_order,
                                          allow_unused=True)
        for i, (g, g_torch) in enumerate(zip(grads, grads_torch, strict=True)):
            g = np.zeros_like(arrays[i]) if g is None else g.numpy()
            g_torch = np.zeros_like(arrays[i]) if g_torch is None else g_torch.detach().numpy()
            np.testing.assert_allclose(g, g_torch, equal_nan=True, **tolerance,
                                       err_msg=f"gradient {i} at {arrays}, upstream {upstream}")
        if not second_order:
            return
        v = [rng.standard_normal(a.shape).astype(a.dtype) for a in arrays]
        live = [i for i, (g, g_torch) in enumerate(zip(grads, grads_torch)) if g is not None and g.requires_grad
                and g_torch is not None and g_torch.requires_grad]
        if not live:   # both first derivatives constant: nothing to differentiate again
            return
        total = sum((grads[i] * v[i]).sum() for i in live)
        total_torch = sum((grads_torch[i] * torch.tensor(v[i])).sum() for i in live)
        second = tc.grad(total, xs, allow_unused=True)
        second_torch = torch.autograd.grad(total_torch, ts, allow_unused=True)
        for i, (h, h_torch) in enumerate(zip(second, second_torch, strict=True)):
            h = np.zeros_like(arrays[i]) if h is None else h.numpy()
            h_torch = np.zeros_like(arrays[i]) if h_torch is None else h_torch.detach().numpy()
            np.testing.assert_allclose(h, h_torch, equal_nan=True, rtol=1e-9, atol=1e-12, err_msg=f"second order {i}")


def _pairwise(name: str):
    """The oracle of tc.maximum/minimum: torch.max/min of each pair (a_i, b_i) alone, the reduction's rule (ties
    share, a NaN carries the gradient; torch.maximum gives it to both sides there: see the docs)."""
    def oracle(torch, a, b):
        pairs = torch.stack(torch.broadcast_tensors(a, b)).reshape(2, -1).T   # (n, 2)
        return torch.stack([getattr(torch, name)(pair) for pair in pairs]).reshape(torch.broadcast_shapes(a.shape,
                                                                                                         b.shape))
    return oracle


def _f(name: str):
    """torch.nn.functional.<name> for the oracle lambdas."""
    return lambda torch, *args, **kwargs: getattr(torch.nn.functional, name)(*args, **kwargs)


UNARY = {
    "relu": (tc.Tensor.relu, lambda torch, x: torch.relu(x)),
    "abs": (tc.Tensor.abs, lambda torch, x: torch.abs(x)),
    "neg": (lambda x: -x, lambda torch, x: -x),
    "sqrt": (tc.Tensor.sqrt, lambda torch, x: torch.sqrt(x)),
    "exp": (tc.Tensor.exp, lambda torch, x: torch.exp(x)),
    "log": (tc.Tensor.log, lambda torch, x: torch.log(x)),
    "tanh": (tc.Tensor.tanh, lambda torch, x: torch.tanh(x)),
    "sigmoid": (tc.Tensor.sigmoid, lambda torch, x: torch.sigmoid(x)),
    "leaky_relu": (lambda x: x.leaky_relu(0.1), lambda torch, x: _f("leaky_relu")(torch, x, 0.1)),
    "clip(0, 1)": (lambda x: x.clip(0.0, 1.0), lambda torch, x: torch.clamp(x, 0.0, 1.0)),
    "clip(min=0)": (lambda x: x.clip(0.0), lambda torch, x: torch.clamp(x, min=0.0)),
    "clip(max=1)": (lambda x: x.clip(None, 1.0), lambda torch, x: torch.clamp(x, max=1.0)),
    "clip(1, 0)": (lambda x: x.clip(1.0, 0.0), lambda torch, x: torch.clamp(x, 1.0, 0.0)),
    "clip(nan, 1)": (lambda x: x.clip(NAN, 1.0), lambda torch, x: torch.clamp(x, NAN, 1.0)),
    "clip(-inf, inf)": (lambda x: x.clip(-INF, INF), lambda torch, x: torch.clamp(x, -INF, INF)),
    "maximum(x, 0)": (lambda x: tc.maximum(x, 0.0), lambda torch, x: torch.maximum(x, torch.zeros_like(x))),
    "minimum(x, nan)": (lambda x: x.minimum(NAN), lambda torch, x: _pairwise("min")(torch, x, torch.full_like(x, NAN))),
    "where(x > 0)": (lambda x: tc.where(x.data > 0, x, x * 2.0), lambda torch, x: torch.where(x > 0, x, x * 2)),
    "x + inf": (lambda x: x + INF, lambda torch, x: x + INF),
    "x * 0": (lambda x: x * 0.0, lambda torch, x: x * 0.0),
    "1 / x": (lambda x: 1.0 / x, lambda torch, x: 1.0 / x),
    "astype": (lambda x: x.astype("float32").astype(x.dtype), lambda torch, x: x.float().to(x.dtype)),
    # activations with PyTorch counterparts (the functional ones a Keras layer runs)
    "gelu": (activations.gelu, _f("gelu")),
    "gelu tanh": (lambda x: activations.gelu(x, approximate=True), lambda torch, x: _f("gelu")(torch, x,
                                                                                             approximate="tanh")),
    "swish": (activations.swish, _f("silu")),
    "mish": (activations.mish, _f("mish")),
    "softsign": (activations.softsign, _f("softsign")),
}
UNARY.update({f"x ** {e}": (lambda x, e=e: x ** e, lambda torch, x, e=e: x ** e)
              for e in (0.5, -0.5, 2, 3, -1, -2, 0, 1, 1.5, -2.5, 0.25, INF, NAN)})
UNARY.update({f"{b} ** x": (lambda x, b=b: b ** x, lambda torch, x, b=b: b ** x) for b in (2.0, 0.0, -2.0, 1.0)})
FLOAT32 = ("relu", "abs", "sqrt", "exp", "log", "tanh", "sigmoid", "clip(0, 1)", "x ** -0.5", "maximum(x, 0)")


@pytest.mark.parametrize("name", UNARY)
@settings(max_examples=25)
@given(arrays=edge_arrays(), seed=st.integers(0, 2**16))
def test_unary_ops_at_edges_are_pytorchs(name, arrays, seed):
    compare(UNARY[name][0], UNARY[name][1], arrays, seed)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_on_blocks_over_threads_passes_the_gradient_at_nan_too(dtype, torch):
    """Large arrays take relu's threaded block kernels, forward and backward: the same NaN rule as small ones."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal(300_000).astype(dtype)
    x[rng.integers(0, x.size, 2000)] = rng.choice(np.array(EDGES, dtype), 2000)
    compare(tc.Tensor.relu, lambda torch, t: torch.relu(t), (x,))


@pytest.mark.parametrize("name", FLOAT32)
@settings(max_examples=15)
@given(arrays=edge_arrays(np.float32), seed=st.integers(0, 2**16))
def test_unary_ops_at_edges_in_float32(name, arrays, seed):
    compare(UNARY[name][0], UNARY[name][1], arrays, seed)


@pytest.mark.parametrize("name", ["relu", "abs", "sqrt", "x ** -0.5", "clip(0, 1)", "tanh", "sigmoid"])
@settings(max_examples=10)
@given(arrays=edge_arrays(without=(-0.0, -INF)), seed=st.integers(0, 2**16))
def test_second_derivatives_at_edges_are_pytorchs(name, arrays, seed):
    """(Not at -0.0 and -inf, where sqrt's second derivative, a^(-3/2) by C's pow, differs from torch's in sign
    or NaN-ness: docs/autodiff.md.)"""
    compare(UNARY[name][0], UNARY[name][1], arrays, seed, second_order=True)


BINARY = {
    "add": (lambda a, b: a + b, lambda torch, a, b: a + b),
    "sub": (lambda a, b: a - b, lambda torch, a, b: a - b),
    "mul": (lambda a, b: a * b, lambda torch, a, b: a * b),
    "div": (lambda a, b: a / b, lambda torch, a, b: a / b),
    "pow": (lambda a, b: a ** b, lambda torch, a, b: a ** b),
    "maximum": (tc.maximum, _pairwise("max")),
    "minimum": (tc.minimum, _pairwise("min")),
    "where": (lambda a, b: tc.where(a.data > b.data, a, b), lambda torch, a, b: torch.where(a > b, a, b)),
    "clip(a, b, b + 1)": (lambda a, b: a.clip(b, b + 1.0), lambda torch, a, b: torch.clamp(a, b, b + 1)),
    "clip(a, b)": (lambda a, b: a.clip(b), lambda torch, a, b: torch.clamp(a, min=b)),
    "clip(a, None, b)": (lambda a, b: a.clip(None, b), lambda torch, a, b: torch.clamp(a, max=b)),
}


@pytest.mark.parametrize("name", BINARY)
@settings(max_examples=25)
@given(arrays=edge_arrays(count=2), seed=st.integers(0, 2**16))
def test_binary_ops_at_edges_are_pytorchs(name, arrays, seed):
    compare(BINARY[name][0], BINARY[name][1], arrays, seed)


def test_div_by_a_tiny_divisor_gives_pytorchs_gradient():
    """d(a/b)/db = -g * ((a / b) / b), as PyTorch's: -0 at a = 0 and a b so small that g / b overflows (was
    -(g / b) * (a / b) = inf * 0 = NaN), found by the test above."""
    compare(*BINARY["div"], (np.array([0.0, 1e-300, -2.0]), np.array([2.2e-313, 1e-300, 3.0])))
    compare(*BINARY["div"], (np.array([0.0, -2.0]), np.array([1e-45, 3.0])), second_order=True)


@pytest.mark.parametrize("name", ["maximum", "minimum"])
@settings(max_examples=10)
@given(arrays=edge_arrays(np.float32, count=2), seed=st.integers(0, 2**16))
def test_maximum_and_minimum_at_edges_in_float32(name, arrays, seed):
    compare(BINARY[name][0], BINARY[name][1], arrays, seed)


@settings(max_examples=25)
@given(arrays=edge_arrays(count=3), seed=st.integers(0, 2**16))
def test_clip_with_two_tensor_bounds_is_clamps(arrays, seed):
    """Any order of x, low and high (low > high included), NaN anywhere: clamp's values and its three gradients."""
    compare(lambda x, lo, hi: x.clip(lo, hi), lambda torch, x, lo, hi: torch.clamp(x, lo, hi), arrays, seed)


REDUCTIONS = {
    "sum": (lambda x, a: x.sum(a), lambda torch, x, a: x.sum(a)),
    "mean": (lambda x, a: x.mean(a), lambda torch, x, a: x.mean(a)),
    "var": (lambda x, a: x.var(a), lambda torch, x, a: x.var(a, correction=0)),
    "var ddof=1": (lambda x, a: x.var(a, ddof=1), lambda torch, x, a: x.var(a, correction=1)),
    "std": (lambda x, a: x.std(a), lambda torch, x, a: x.std(a, correction=0)),
    "std ddof=1": (lambda x, a: x.std(a, ddof=1), lambda torch, x, a: x.std(a, correction=1)),
    "logsumexp": (lambda x, a: x.logsumexp(a), lambda torch, x, a: torch.logsumexp(x, a)),
    "softmax": (lambda x, a: x.softmax(a), lambda torch, x, a: torch.softmax(x, a)),
    "log_softmax": (lambda x, a: x.log_softmax(a), lambda torch, x, a: torch.log_softmax(x, a)),
    # max/min of each group alone by torch.max/min (ties and NaNs share, see the module docstring); 2-D, so
    # the groups along axis a are the slices along the other axis, 1 - a
    "max": (lambda x, a: x.max(a), lambda torch, x, a: torch.stack([torch.max(g) for g in x.movedim(1 - a, 0)])),
    "min": (lambda x, a: x.min(a), lambda torch, x, a: torch.stack([torch.min(g) for g in x.movedim(1 - a, 0)])),
}


@pytest.mark.parametrize("name", REDUCTIONS)
@settings(max_examples=25)
@given(arrays=edge_arrays(shape=(3, 4)), axis=st.sampled_from([0, 1]), seed=st.integers(0, 2**16))
def test_reductions_at_edges_are_pytorchs(name, arrays, axis, seed):
    if name.startswith(("var", "std")):   # a group with an infinity: our documented rule, tested below (and
        # +-1e300 cancel in the mean, leaving rounding noise in either order of summation)
        arrays = tuple(np.where(np.isinf(a) | (np.abs(a) == 1e300), 7.0, a) for a in arrays)
    if name == "logsumexp":   # huge equal values: torch's gradient is wrong there, tested below
        arrays = tuple(np.where(np.abs(a) == 1e300, 7.0, a) for a in arrays)
    ours, theirs = REDUCTIONS[name]
    compare(lambda x: ours(x, axis), lambda torch, x: theirs(torch, x, axis), arrays, seed)


@pytest.mark.parametrize("name", ["var", "std"])
def test_var_and_std_of_a_group_with_an_infinity_are_nan_with_a_nan_gradient(name):
    """(torch's gradient there is NaN at the infinity and +-inf at the rest: both say "not a number".)"""
    x = tc.Tensor([[INF, 0.0, 1.0], [2.0, 3.0, 5.0]], requires_grad=True)
    y = getattr(x, name)(axis=1)
    y.backward(tc.Tensor([0.5, 0.5]))
    assert np.isnan(y.numpy()[0]) and np.isfinite(y.numpy()[1])
    assert np.isnan(x.grad.numpy()[0]).all() and np.isfinite(x.grad.numpy()[1]).all()


def test_logsumexp_of_huge_equal_values_has_softmaxs_gradient(torch):
    """d logsumexp / dx = softmax(x): 1/4 each for four equal values, however large (torch's exp(x - result) gives 1
    each once result = x + log(4) rounds to x)."""
    x = np.array([[1e300, 1e300, 1e300, 1e300], [-1e300, 1e300, 5.0, 1e300]])
    xt = tc.Tensor(x, requires_grad=True)
    xt.logsumexp(axis=1).backward(tc.Tensor([1.0, 1.0]))
    np.testing.assert_allclose(xt.grad.numpy(), torch.softmax(torch.tensor(x), 1).numpy(), rtol=1e-12)


def test_logsumexp_with_an_infinity_beside_huge_values_is_torchs(torch):
    """+inf beside values whose exp overflows: the gradient is NaN at the inf and 0 at the rest, as torch's (the
    shift is the largest finite value, so exp of the rest cannot overflow into inf * 0)."""
    x = np.array([[INF, 1e300, 5.0], [INF, INF, -INF], [-INF, -INF, -INF]])
    compare(lambda t: t.logsumexp(1), lambda torch, t: torch.logsumexp(t, 1), (x,))


@pytest.mark.parametrize("name", ["max", "min"])
@settings(max_examples=25)
@given(arrays=edge_arrays(), seed=st.integers(0, 2**16))
def test_full_max_and_min_are_torchs(name, arrays, seed):
    compare(getattr(tc.Tensor, name), lambda torch, x: getattr(torch, name)(x), arrays, seed)


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_and_minimum_without_a_nan_are_torchs(name, torch):
    """Where no NaN is involved, the pairwise oracle above is torch.maximum/minimum itself (ties share equally)."""
    a = np.array([1.0, 2.0, -INF, INF, 0.0, -0.0, 1e300])
    b = np.array([1.0, 3.0, -INF, 5.0, -0.0, 0.0, -1e300])
    compare(getattr(tc, name), lambda torch, x, y: getattr(torch, name)(x, y), (a, b))


def test_maximum_with_a_nan_gives_the_nan_side_the_gradient_not_both_sides(torch):
    """The documented difference: torch.maximum gives each side all of the gradient where one is NaN (so it counts
    twice); we give it to the NaN side, as the max reduction of the pair does (two NaNs: half each)."""
    a, b = tc.Tensor([NAN, 1.0, NAN], requires_grad=True), tc.Tensor([2.0, NAN, NAN], requires_grad=True)
    tc.maximum(a, b).backward(tc.Tensor([1.0, 2.0, 4.0]))
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, 0.0, 2.0])
    np.testing.assert_array_equal(b.grad.numpy(), [0.0, 2.0, 2.0])
    a_torch = torch.tensor([NAN, 1.0, NAN], requires_grad=True)
    torch.maximum(a_torch, torch.tensor([2.0, NAN, NAN])).backward(torch.tensor([1.0, 2.0, 4.0]))
    np.testing.assert_array_equal(a_torch.grad.numpy(), [1.0, 2.0, 4.0])   # if torch changes, the docs should say


@pytest.mark.parametrize("name", ["max", "min"])
def test_a_nan_maximum_per_group_is_torch_max_rule_not_amax(name, torch):
    """The documented difference: torch.amax(x, dim) gives a group with a NaN maximum a NaN gradient everywhere;
    we (as torch.max(x)) give its gradient to the group's NaNs, shared, and 0 elsewhere."""
    x = np.array([[NAN, 1.0, NAN, INF], [2.0, 3.0, 3.0, -INF]])
    upstream = np.array([0.25, -1.5])
    xt = tc.Tensor(x, requires_grad=True)
    getattr(xt, name)(axis=1).backward(tc.Tensor(upstream))
    second = [0, -0.75, -0.75, 0] if name == "max" else [0, 0, 0, -1.5]   # ties share; -inf is the minimum
    np.testing.assert_array_equal(xt.grad.numpy(), [[0.125, 0, 0.125, 0], second])
    x_torch = torch.tensor(x, requires_grad=True)
    (torch.amax if name == "max" else torch.amin)(x_torch, 1).backward(torch.tensor(upstream))
    assert np.isnan(x_torch.grad.numpy()[0]).all()   # if torch ever changes this, the docs should say so


# --- integers and bools: computed as PyTorch computes them, never wrapped around or in float16 ---
SMALL_INTS = ["bool", "uint8", "int8", "int16", "int32", "int64"]


@pytest.mark.parametrize("dtype", SMALL_INTS)
@pytest.mark.parametrize("name", ["exp", "log", "tanh", "sigmoid", "sqrt"])
def test_float_functions_of_integers_and_bools_are_float32_like_torchs(name, dtype, torch):
    """NumPy computes exp(uint8) in float16 (3 digits) and -uint8 wraps (sigmoid(3) was 0): float32, as torch."""
    x = np.array([0, 1, 3, 5, 127], dtype=dtype) if dtype != "bool" else np.array([True, False, True])
    ours = getattr(tc.Tensor(x), name)()
    theirs = getattr(torch, name)(torch.tensor(x))
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


@pytest.mark.parametrize("dtype", ["bool", "uint8", "int32"])
def test_maximum_minimum_abs_and_softmax_of_integers_do_not_wrap(dtype, torch):
    x = np.array([254, 0, 3, 4]).astype(dtype)
    y = np.array([1, 1, 5, 4]).astype(dtype)
    np.testing.assert_array_equal(tc.minimum(tc.Tensor(x), tc.Tensor(y)).numpy(), np.minimum(x, y))
    np.testing.assert_array_equal(tc.maximum(tc.Tensor(x), tc.Tensor(y)).numpy(), np.maximum(x, y))
    np.testing.assert_array_equal(tc.Tensor(x).abs().numpy(), np.abs(x))
    as_float = x.astype(np.float32)
    np.testing.assert_allclose(tc.Tensor(x).logsumexp().numpy(), torch.logsumexp(torch.tensor(as_float), 0).numpy(),
                               rtol=1e-6)
    np.testing.assert_allclose(tc.Tensor(x).softmax().numpy(), torch.softmax(torch.tensor(as_float), 0).numpy(),
                               rtol=1e-6)
    np.testing.assert_allclose(tc.Tensor(x).log_softmax().numpy(),
                               torch.log_softmax(torch.tensor(as_float), 0).numpy(), rtol=1e-6)


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32"])
def test_integer_tensors_keep_their_dtype_beside_a_python_int_as_in_torch(dtype, torch):
    x = np.array([1, 5, 0, 2], dtype=dtype)
    for ours, theirs in [(lambda t: t.clip(0, 2), lambda t: torch.clamp(t, 0, 2)),
                         (lambda t: tc.maximum(t, 1), lambda t: torch.maximum(t, torch.tensor(1, dtype=t.dtype))),
                         (lambda t: t.minimum(3), lambda t: torch.minimum(t, torch.tensor(3, dtype=t.dtype))),
                         (lambda t: tc.where(t.data > 1, t, 0), lambda t: torch.where(t > 1, t, 0))]:
        y, y_torch = ours(tc.Tensor(x)), theirs(torch.tensor(x))
        assert y.dtype == dtype and str(y_torch.dtype) == f"torch.{dtype}"
        np.testing.assert_array_equal(y.numpy(), y_torch.numpy())
    assert tc.Tensor(x).clip(-1, 300).dtype == (np.int64 if dtype in ("uint8", "int8") else dtype)   # out of range


@pytest.mark.parametrize("dtype", ["bool", "int64", "uint8"])
def test_requires_grad_on_integers_is_a_type_error_naming_the_dtype(dtype):
    with pytest.raises(TypeError, match=f"{dtype}.*dtype='float32'"):
        tc.Tensor(np.zeros(3, dtype), requires_grad=True)
