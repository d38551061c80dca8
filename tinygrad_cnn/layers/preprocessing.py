"""Preprocessing inside the model: Rescaling (e.g. pixels 0..255 to 0..1)."""
from __future__ import annotations

from typing import Any

from ..arguments import finite_number
from ..tensor import Tensor
from .base import Layer


class Rescaling(Layer):
    """x * scale + offset, in training and inference alike: `Rescaling(1 / 255)` maps pixels to [0, 1],
    `Rescaling(1 / 127.5, offset=-1)` to [-1, 1]. Integer inputs become float32."""

    keeps_shape = True

    def __init__(self, scale: float, offset: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale = finite_number(scale, "scale", "Rescaling")
        self.offset = finite_number(offset, "offset", "Rescaling")

    def call(self, x: Tensor, training: bool) -> Tensor:
        return x * self.scale + self.offset

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}
