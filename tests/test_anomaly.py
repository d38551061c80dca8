"""Anomaly mode: the first NaN/Inf of a forward output or a gradient raises, with the op, its arguments,
the layer, the user's file and line, and the input statistics; off by default and free when off."""
from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn import engine, function, losses
from tinygrad_cnn.mode import MODE

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # NumPy's divide-by-zero warnings


def _next_line() -> str:
    """`file:line` of the line after the caller's: where the op under test is called."""
    caller = sys._getframe(1)
    return f"{caller.f_code.co_filename}:{caller.f_lineno + 1}"


def test_off_by_default_and_nothing_is_checked_or_recorded(monkeypatch):
    assert not tc.is_anomaly_enabled() and not MODE.record_sites

    def forbidden(*args):
        raise AssertionError("an anomaly check ran while anomaly mode was off")
    monkeypatch.setattr(function, "check_forward", forbidden)
    monkeypatch.setattr(engine, "checked_backward", forbidden)
    x = tc.Tensor([0.0, 1.0], requires_grad=True)
    y = x.log()                                  # -inf, silently, as NumPy and PyTorch do
    assert y._ctx.site is None                   # no stack walk either
    y.sum().backward()
    assert np.isinf(y.data[0]) and np.isinf(x.grad.data[0])


def test_forward_nan_names_op_arguments_site_and_input_statistics():
    x = tc.Tensor([-1.0, 4.0], requires_grad=True, name="x")
    with tc.detect_anomaly(), pytest.raises(tc.AnomalyError) as info:
        site = _next_line()
        x.log()
    message = str(info.value)
    assert message.startswith("Log produced 1 NaN in its forward output")
    assert "Log(Tensor 'x' (2,) float32)" in message          # the op and its arguments
    assert site in message and "x.log()" in message           # the file, the line and its code
    assert "input 0: 'x', shape (2,) float32: min -1, max 4, no NaN/Inf" in message
    assert "Log itself created" in message
    assert info.value.op == "Log" and np.isnan(info.value.values[0])


def test_forward_inf_and_keyword_arguments():
    x = tc.Tensor(np.array([[1.0, 800.0]]))
    with tc.detect_anomaly(), pytest.raises(tc.AnomalyError, match=r"Exp produced 1 Inf"):
        x.exp()
    with tc.detect_anomaly(), pytest.raises(tc.AnomalyError) as info:
        tc.Tensor([np.inf, 1.0]).sum(axis=0, keepdims=True)
    assert "Sum(Tensor (2,) float32, axis=(0,), keepdims=True)" in str(info.value)
    assert "input 0 already held NaN/Inf: the problem starts before Sum" in str(info.value)


def test_layer_path_and_kind_are_named():
    model = tc.Sequential([tc.Input((4, 4, 1)), tc.layers.Conv2D(2, 3, name="conv"), tc.layers.Flatten(),
                           tc.layers.Dense(3, name="head")], name="net")
    model.layers[2].set_weights([np.full((8, 3), 1e30, np.float32), np.zeros(3, np.float32)])
    x = np.ones((1, 4, 4, 1), np.float32) * 1e10
    with tc.detect_anomaly(), pytest.raises(tc.AnomalyError) as info:
        site = _next_line()
        model(x)
    message = str(info.value)
    assert "layer:     'net/head' (Dense)" in message
    assert "Tensor 'head/kernel' (8, 3) float32" in message
    assert site in message and "model(x)" in message          # the user's line, not a line inside the layer


def test_backward_anomaly_names_the_op_its_inputs_and_the_forward_site():
    x = tc.Tensor([0.0, 4.0], requires_grad=True, name="x")
    with tc.detect_anomaly():
        site = _next_line()
        y = x.sqrt()                                          # finite; its derivative at 0 is not
        with pytest.raises(tc.AnomalyError) as info:
            y.sum().backward()
    message = str(info.value)
    assert message.startswith("the backward of Pow produced 1 Inf")
    assert site in message and "x.sqrt()" in message
    assert "input 0: leaf 'x', shape (2,) float32: min 0, max 4, no NaN/Inf" in message
    assert "gradient arriving at its output: shape (2,) float32: min 1, max 1, no NaN/Inf" in message
    assert "1: float 0.5" in message                          # the exponent, as saved
    assert "the derivative of Pow is not finite here" in message


def test_backward_gradient_nan_from_a_division_by_zero():
    x = tc.Tensor([1.0, 2.0], requires_grad=True)
    zero = tc.Tensor([0.0, 1.0], requires_grad=True, name="denominator")
    with tc.detect_anomaly(), pytest.raises(tc.AnomalyError, match="in its forward output"):
        x * 0 / zero.maximum(zero)       # the forward is 0/0 = NaN at the first entry: stopped there
    y = (x * zero).sum()                  # fine forward; then a NaN upstream gradient would spread
    with tc.detect_anomaly(), pytest.raises(tc.AnomalyError) as info:
        y.backward(tc.Tensor(np.float32(np.nan)))
    assert "the backward of Sum produced 1 NaN" in str(info.value)
    assert "it came from the gradient given to backward()" in str(info.value)


def test_backward_only_mode_explains_that_sites_were_not_recorded():
    x = tc.Tensor([0.0, 1.0], requires_grad=True)
    y = x.sqrt().sum()
    with tc.detect_anomaly(), pytest.raises(tc.AnomalyError) as info:
        y.backward()
    assert "called at: unknown (run the forward pass inside tc.detect_anomaly() too" in str(info.value)


def test_set_detect_anomaly_and_the_context_manager_restore_state():
    tc.set_detect_anomaly(True)
    try:
        assert tc.is_anomaly_enabled() and MODE.record_sites
        with pytest.raises(tc.AnomalyError):
            tc.Tensor([-1.0]).sqrt()
    finally:
        tc.set_detect_anomaly(False)
    assert not tc.is_anomaly_enabled() and not MODE.record_sites
    with pytest.raises(ZeroDivisionError), tc.detect_anomaly():
        raise ZeroDivisionError
    assert not tc.is_anomaly_enabled()

    @tc.detect_anomaly()
    def log_of(values):
        return tc.Tensor(values).log()
    with pytest.raises(tc.AnomalyError):
        log_of([0.0])
    assert not tc.is_anomaly_enabled()


def test_second_order_gradients_are_checked_too():
    x = tc.Tensor([0.0, 1.0], requires_grad=True)
    with tc.detect_anomaly():
        (g,) = tc.grad((x ** 2).sum(), x, create_graph=True)   # 2x: finite
        with pytest.raises(tc.AnomalyError, match="Pow"):
            tc.grad(g.sqrt().sum(), x)                          # d sqrt(2x)/dx at 0 is infinite


def _cnn_step(x: np.ndarray, labels: np.ndarray) -> list[np.ndarray]:
    """One forward and backward through every kind of op a CNN uses; returns the parameter gradients."""
    tc.manual_seed(0)
    model = tc.Sequential([
        tc.Input((6, 6, 2)), tc.layers.Conv2D(3, 3, padding="same", activation="relu"),
        tc.layers.MaxPooling2D(2, padding="same"), tc.layers.BatchNormalization(),
        tc.layers.AveragePooling2D(2, strides=1, padding="same"), tc.layers.Flatten(), tc.layers.Dropout(0.5),
        tc.layers.Dense(4, activation="elu"), tc.layers.Dense(3, activation="softmax")])
    y = model(x)
    loss = losses.sparse_categorical_crossentropy(labels, y)
    extra = (y.clip(max=0.9) + y.clip(min=0.1) + y.logsumexp(axis=-1, keepdims=True)).leaky_relu().mean()
    (loss + extra).backward()
    return [p.grad.data for p in model.parameters()]


@settings(max_examples=10)
@given(st.integers(0, 2**31), st.floats(1.0, 1e3))
def test_no_false_alarm_and_same_results_in_a_cnn_step(seed, scale):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((2, 6, 6, 2)) * scale).astype(np.float32)
    labels = rng.integers(0, 3, size=2)
    plain = _cnn_step(x, labels)
    with tc.detect_anomaly():
        checked = _cnn_step(x, labels)
    for a, b in zip(plain, checked, strict=True):
        np.testing.assert_array_equal(a, b)



class _BrokenSquare(tc.Function):
    """x^2 with a backward that divides by x: NaN at 0."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.data ** 2

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 2 * x * x / x


def test_custom_functions_are_checked_by_name():
    x = tc.Tensor([0.0, 3.0], requires_grad=True, name="x")
    with tc.detect_anomaly():
        y = _BrokenSquare.apply(x).sum()
        with pytest.raises(tc.AnomalyError) as info:
            y.backward()
    assert str(info.value).startswith("the backward of _BrokenSquare produced 1 NaN")
    assert "input 0: leaf 'x', shape (2,) float32: min 0, max 3" in str(info.value)
