"""pytest plugin (entry point `tinygrad_cnn`): fixtures to property-test a custom Function in three lines.

    def test_cube(gradcheck_property, tc_strategies):
        gradcheck_property(Cube.apply, tc_strategies.arrays())

Works without hypothesis installed: the fixtures that need it skip the test and say why.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .assertions import assert_gradcheck as _assert_gradcheck


def _strategies() -> Any:
    try:
        from . import strategies
    except ImportError as error:  # hypothesis is an optional (dev) dependency
        pytest.skip(f"property tests need hypothesis ({error}); pip install hypothesis")
    return strategies


@pytest.fixture(scope="session")
def assert_gradcheck() -> Callable[..., None]:
    """tinygrad_cnn.testing.assert_gradcheck(fn, *inputs, gradgrad=False, **gradcheck_options)."""
    return _assert_gradcheck


@pytest.fixture(scope="session")
def tc_strategies() -> Any:
    """The module tinygrad_cnn.testing.strategies (arrays, tensors, shapes, conv and pool geometries)."""
    return _strategies()


@pytest.fixture(scope="session")
def gradcheck_property() -> Callable[..., None]:
    """check(fn, *strategies, max_examples=None, gradgrad=False, **options): gradcheck fn on drawn inputs.

    Each strategy draws one positional input, or several as `strategies.Inputs` (e.g. from
    `broadcastable_arrays()`); float arrays are checked as inputs that require grad.
    """
    strategies = _strategies()
    from hypothesis import HealthCheck, given, settings  # importable: _strategies() did not skip

    def check(fn: Callable[..., Any], *drawn: Any, max_examples: int | None = None, **options: Any) -> None:
        for index, strategy in enumerate(drawn):
            if not isinstance(strategy, strategies.st.SearchStrategy):
                raise TypeError(f"gradcheck_property: input {index} must be a hypothesis strategy (e.g. "
                                f"tc_strategies.arrays()), got {type(strategy).__name__} {strategy!r:.40}; "
                                "wrap a fixed value in hypothesis.strategies.just(...)")

        @given(strategies.st.tuples(*drawn))
        def run(drawn_inputs: tuple[Any, ...]) -> None:
            inputs = [x for d in drawn_inputs for x in (d if isinstance(d, strategies.Inputs) else (d,))]
            _assert_gradcheck(fn, *inputs, **options)

        # a gradient check takes many evaluations of fn: no deadline per example, and drawing is not what is slow
        chosen = dict(deadline=None, suppress_health_check=[*settings.default.suppress_health_check,
                                                            HealthCheck.too_slow])
        if max_examples is not None:
            chosen["max_examples"] = max_examples
        settings(**chosen)(run)()

    return check
