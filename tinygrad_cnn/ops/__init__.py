"""The ops: primitives (Functions with forward and backward) and ops composed from them."""
from . import composed, elementwise, matmul, movement, normal, reduce

__all__ = ["composed", "elementwise", "matmul", "movement", "normal", "reduce"]
