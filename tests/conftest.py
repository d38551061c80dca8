"""Shared test set-up: hypothesis profiles and the PyTorch oracle."""
from __future__ import annotations

import importlib
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=30, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=40, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def require_torch():
    """Import torch for use as an oracle: skip without it, unless TINYGRAD_CNN_REQUIRE_TORCH=1 (CI)."""
    try:
        import torch
    except ImportError:
        if os.environ.get("TINYGRAD_CNN_REQUIRE_TORCH") == "1":
            pytest.fail("PyTorch is required (TINYGRAD_CNN_REQUIRE_TORCH=1) but is not installed")
        pytest.skip("PyTorch not installed (the oracle tests need it: pip install torch)")
    torch.set_num_threads(1)
    return torch


def require_kernel() -> Any:
    """The compiled max-pool kernel (tinygrad_cnn.conv._max_pool): skip without it (no C compiler at install),
    unless TINYGRAD_CNN_REQUIRE_KERNEL=1 (CI, which installs a compiler): then its absence fails."""
    try:
        return importlib.import_module("tinygrad_cnn.conv._max_pool")
    except ImportError:
        if os.environ.get("TINYGRAD_CNN_REQUIRE_KERNEL") == "1":
            pytest.fail("the compiled max-pool kernel is required (TINYGRAD_CNN_REQUIRE_KERNEL=1) but was not "
                        "built: install a C compiler and Python's header, then pip install -e . again")
        pytest.skip("the compiled max-pool kernel is not built (no C compiler at install)")


def require(module: str) -> Any:
    """pytest.importorskip(module) locally; in CI (CI set), which installs every extra, a missing one fails."""
    if os.environ.get("CI"):
        return importlib.import_module(module)
    return pytest.importorskip(module)


@pytest.fixture
def torch():
    """The PyTorch module, as an oracle."""
    return require_torch()
