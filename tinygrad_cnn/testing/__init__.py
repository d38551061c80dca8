"""Testing your own ops: `assert_gradcheck`, hypothesis strategies (`tinygrad_cnn.testing.strategies`,
needs hypothesis) and a pytest plugin with fixtures (`tinygrad_cnn.testing.plugin`, registered by entry point).
"""
import importlib
from types import ModuleType

from .assertions import assert_gradcheck

__all__ = ["assert_gradcheck", "strategies"]


def __getattr__(name: str) -> ModuleType:
    """`tc.testing.strategies` imported on first use, so that hypothesis is needed only by those who use it."""
    if name == "strategies":
        return importlib.import_module(".strategies", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
