"""Testing your own ops: `assert_gradcheck`, hypothesis strategies (`tinygrad_cnn.testing.strategies`,
needs hypothesis) and a pytest plugin with fixtures (`tinygrad_cnn.testing.plugin`, registered by entry point).
"""
from .assertions import assert_gradcheck

__all__ = ["assert_gradcheck"]
