"""Regression tests: one per bug found by the reliability work (fuzzing, anomaly mode, bad inputs).

Each docstring says what used to go wrong. Differential fuzzing (tests/test_fuzz_torch.py: hunts of 5,000
first-order and 1,500 second-order programs while it was written) found no wrong value or gradient in the
op set; the bugs below were found by the anomaly, bad-input and empty-batch checks.
"""
from __future__ import annotations

import numpy as np
import pytest
from conftest import require_torch

import tinygrad_cnn as tc
from tinygrad_cnn import layers as L
from tinygrad_cnn import losses
from tinygrad_cnn.saving import ModelFileError

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def test_clip_with_one_bound_is_no_anomaly():
    """clip(max=...) built a -inf lower-bound constant, so anomaly mode stopped a correct program."""
    x = tc.Tensor([0.5, 2.0], requires_grad=True)
    with tc.detect_anomaly():
        y = x.clip(max=1.0) + x.clip(min=1.0)
        y.sum().backward()
    np.testing.assert_array_equal(y.data, [1.5, 3.0])
    np.testing.assert_array_equal(x.grad.data, [1.0, 1.0])


def test_clip_with_one_tensor_bound_gives_it_its_gradient():
    """The same fix must keep torch.clamp's rule: a tensor bound gets the gradient where it wins."""
    torch = require_torch()
    data, bound = np.array([0.5, 2.0, -1.0]), np.array([1.0, 1.0, 1.0])
    x, high = tc.Tensor(data, requires_grad=True), tc.Tensor(bound, requires_grad=True)
    x.clip(max=high).sum().backward()
    tx, th = torch.tensor(data, requires_grad=True), torch.tensor(bound, requires_grad=True)
    tx.clamp(max=th).sum().backward()
    np.testing.assert_array_equal(x.grad.data, tx.grad.numpy())
    np.testing.assert_array_equal(high.grad.data, th.grad.numpy())


def test_anomaly_inside_a_backward_formula_names_the_backward():
    """sqrt'(0) = inf was reported as 'forward of Mul' (an op inside Pow's backward), not as Pow's backward."""
    x = tc.Tensor([0.0, 1.0], requires_grad=True)
    with tc.detect_anomaly():
        y = x.sqrt().sum()
        with pytest.raises(tc.AnomalyError, match=r"^the backward of Pow produced 1 Inf"):
            y.backward()


def test_anomaly_describes_plain_arrays():
    """describe_array read ndarray.data (a memoryview) and printed the raw array instead of its statistics."""
    from tinygrad_cnn.anomaly import describe_array
    assert describe_array(np.array([1.0, np.inf])) == "shape (2,) float64: min 1, max 1, 0 NaN, 1 Inf"


def test_cnn_on_an_empty_batch():
    """A batch of 0 images crashed in conv ('range() arg 3 must not be zero'), then in the kernel gradient and
    in Flatten (reshape(0, -1)); PyTorch and Keras return an empty output."""
    model = tc.Sequential([tc.Input((5, 5, 3)), L.Conv2D(2, 3, padding="same"), L.MaxPooling2D(2), L.Flatten(),
                           L.Dense(3)])
    x = tc.Tensor(np.ones((0, 5, 5, 3), np.float32), requires_grad=True)
    y = model(x)
    y.sum().backward()
    assert y.shape == (0, 3) and x.grad.shape == (0, 5, 5, 3)
    assert all(not p.grad.data.any() for p in model.parameters())


def test_model_file_that_is_a_single_npy_array(tmp_path):
    """A .npy file reached `with np.load(...)` and failed with a bare TypeError (no context manager)."""
    np.save(tmp_path / "w.npy", np.ones(3))
    with pytest.raises(ModelFileError, match="single .npy array"):
        tc.load_model(tmp_path / "w.npy")


def test_random_bytes_are_not_called_a_pickle(tmp_path):
    """Any non-zip file was reported as 'contains pickled Python objects'."""
    (tmp_path / "m.npz").write_bytes(b"GIF89a and so on")
    with pytest.raises(ModelFileError, match="not an .npz \\(zip\\) archive") as info:
        tc.load_model(tmp_path / "m.npz")
    assert "pickle" not in str(info.value)


def test_nan_labels_are_named_not_cast():
    """NaN labels were refused as 'float dtype (convert them: y.astype(int))', advice that turns NaN into garbage."""
    with pytest.raises(ValueError, match=r"y_true holds nan at index \(2,\)"):
        losses.sparse_categorical_crossentropy(np.array([0.0, 1.0, np.nan]), tc.Tensor(np.ones((3, 2))))


def test_reshape_refuses_strings():
    """reshape('6') was accepted (int('6') == 6): a string where a number belongs."""
    with pytest.raises(ValueError, match="sizes must be ints"):
        tc.ones(2, 3).reshape("6")


def test_arange_with_zero_step():
    """arange(0, 5, 0) raised a bare ZeroDivisionError."""
    with pytest.raises(ValueError, match="step must not be zero"):
        tc.arange(0, 5, 0)


def test_broadcast_error_names_the_op_and_shapes():
    """Mismatched operands ended in NumPy's 'operands could not be broadcast together', naming no op."""
    with pytest.raises(ValueError, match=r"Mul: shapes do not broadcast: operand 0 \(2, 3\), operand 1 \(4,\)"):
        tc.ones(2, 3) * tc.ones(4)


@pytest.mark.parametrize("name", ["elu", "selu"])
def test_elu_and_selu_gradient_at_zero_is_the_negative_sides(name):
    """elu and selu took exp(min(x, 0)): at x = 0 the tie shared the gradient, giving half of PyTorch's."""
    torch = require_torch()
    values = np.array([-1.5, 0.0, 0.0, 2.0])
    upstream = np.array([0.3, -1.7, 2.2, 0.9])
    x = tc.Tensor(values, requires_grad=True)
    tc.layers.activations.get(name)(x).backward(upstream)
    xt = torch.tensor(values, requires_grad=True)
    getattr(torch.nn.functional, name)(xt).backward(torch.tensor(upstream))
    np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("op", [lambda x, a: x * a, lambda x, a: a * x, lambda x, a: x / a, lambda x, a: a / x,
                                lambda x, a: x ** a, lambda x, a: x @ a, lambda x, a: x - a])
def test_writing_into_an_array_operand_before_backward_does_not_change_the_gradient(op):
    """A raw ndarray operand was kept by reference: changing it before backward silently changed the gradient."""
    rng = np.random.default_rng(0)
    x = tc.Tensor(rng.uniform(1, 2, (3, 3)), requires_grad=True)
    array = rng.uniform(1, 2, (3, 3))
    upstream = rng.standard_normal((3, 3))
    op(x, array.copy()).backward(upstream)
    expected = x.grad.data.copy()
    x.grad = None
    y = op(x, array)
    array[...] = 7.0   # the user reuses the buffer before backward
    y.backward(upstream)
    np.testing.assert_array_equal(x.grad.data, expected)
