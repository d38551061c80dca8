"""Defects found in session 8's audits in files no helper owned: log_cosh's gradient, sigmoid's values."""
from __future__ import annotations

import numpy as np
from conftest import require_torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_cnn as tc


@settings(max_examples=30)
@given(hnp.arrays(np.float64, (3, 4), elements=st.sampled_from([-700.0, -2.0, -0.5, 0.0, 0.25, 3.0, 800.0])),
       hnp.arrays(np.float64, (3, 4), elements=st.floats(-3, 3)), st.integers(0, 2**16))
def test_log_cosh_and_its_gradient_match_torch_including_a_perfect_prediction(error, y_true, seed):
    """The gradient is tanh(y_pred - y_true) / n: 0 where the prediction is perfect (it was 1 / n), finite for
    huge errors. torch's log(cosh) written as x + softplus(-2x) - log 2, with per-sample weights as upstream."""
    torch = require_torch()
    weights = np.random.default_rng(seed).random(3)
    y_pred = tc.Tensor(y_true + error, requires_grad=True)
    loss = tc.losses.log_cosh(y_true, y_pred, sample_weight=weights)
    loss.backward()
    p = torch.tensor(y_true + error, requires_grad=True)
    x = p - torch.tensor(y_true)
    per_sample = (x + torch.nn.functional.softplus(-2 * x) - np.log(2.0)).mean(dim=1)
    expected = (per_sample * torch.tensor(weights)).mean()
    expected.backward()
    np.testing.assert_allclose(loss.item(), expected.item(), rtol=1e-12)
    np.testing.assert_allclose(y_pred.grad.numpy(), p.grad.numpy(), rtol=1e-12, atol=1e-300)
    assert np.all(y_pred.grad.numpy()[error == 0] == 0)


@given(hnp.arrays(st.sampled_from([np.float32, np.float64]), 20,
                  elements=st.floats(-1e4, 1e4, width=32) | st.sampled_from([np.inf, -np.inf, np.nan])))
def test_sigmoid_keeps_its_relative_precision_as_torch(x):
    """1 / (1 + e^-x): within a few ulps of torch's everywhere, 0 and 1 at the infinities, NaN at NaN (far below 0,
    where the value is tiny, a formula through tanh would have lost all its digits)."""
    torch = require_torch()
    ours, theirs = tc.Tensor(x).sigmoid().numpy(), torch.tensor(x).sigmoid().numpy()
    assert ours.dtype == x.dtype
    np.testing.assert_allclose(ours, theirs, rtol=4 * np.finfo(x.dtype).eps, atol=0, equal_nan=True)
