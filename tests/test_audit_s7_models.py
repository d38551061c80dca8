"""Session 7 follow-ups in Model and Layer: the shape trace under anomaly mode, layer dtypes, saving keywords,
weight-mismatch errors listing every mismatch, and Keras's *_on_batch methods."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import tinygrad_cnn as tc


def test_shape_trace_raises_no_anomaly_nor_warning_and_restores_the_modes():
    # the trace runs call on zeros: log(0) = -inf there is the sample's doing, not the user's
    with tc.detect_anomaly():
        with warnings.catch_warnings(), np.errstate(all="raise"):
            warnings.simplefilter("error")
            model = tc.Sequential([tc.Input((2,)), tc.layers.Lambda(lambda t: t.log())])
        assert model.output_shape == (None, 2)
        assert tc.is_anomaly_check_nan_enabled() and tc.is_grad_enabled()
        with pytest.raises(tc.AnomalyError), np.errstate(divide="ignore"):   # the user's own data is still checked
            model(tc.zeros(3, 2))

    def broken(t):
        raise KeyError("boom")

    with tc.detect_anomaly():
        with pytest.raises(KeyError, match="boom"):
            tc.Sequential([tc.Input((2,)), tc.layers.Lambda(broken)])
        assert tc.is_anomaly_check_nan_enabled() and tc.is_grad_enabled()
    assert not tc.is_anomaly_enabled() and tc.is_grad_enabled()
