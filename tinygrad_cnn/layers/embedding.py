"""Embedding: integer indices to rows of a learned table (Keras's layer, torch.nn.Embedding)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import constraints, initializers, regularizers
from ..arguments import flag, positive_int
from ..tensor import Tensor
from .base import Layer
from .core import layer_argument, layer_regularizer
from .shapes import Shape


class Embedding(Layer):
    """(batch, ...) indices in [0, input_dim) -> (batch, ..., output_dim): row i of the weight `embeddings`
    (input_dim, output_dim) for index i. The gradient of a row is the sum of the upstream gradients of the
    places that read it. Floating indices are truncated to integers, as Keras casts them (a model's data
    arrives as float32); an index outside the table is an IndexError. `weights=[table]` gives the initial
    table, as in Keras 3. Masks do not exist here, so `mask_zero=True` is refused."""

    min_ndim = 1
    autocast = False   # indices are not computed with (float16 would round those above 2048)

    def __init__(self, input_dim: int, output_dim: int, embeddings_initializer: Any = "uniform",
                 embeddings_regularizer: Any = None, embeddings_constraint: Any = None, mask_zero: bool = False,
                 weights: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.input_dim = positive_int(input_dim, "input_dim", "Embedding")
        self.output_dim = positive_int(output_dim, "output_dim", "Embedding")
        self.embeddings_initializer = layer_argument(initializers.get, embeddings_initializer,
                                                     "embeddings_initializer", "Embedding")
        self.embeddings_regularizer = layer_regularizer(embeddings_regularizer, "embeddings_regularizer", "Embedding")
        self.embeddings_constraint = layer_argument(constraints.get, embeddings_constraint, "embeddings_constraint",
                                                    "Embedding")
        if flag(mask_zero, "mask_zero", "Embedding"):
            raise ValueError("Embedding: mask_zero=True makes a mask for later layers, and tinygrad_cnn layers take "
                             "no masks; leave mask_zero=False (index 0 is then an ordinary row)")
        self._initial = None if weights is None else self._table(weights)
        self.embeddings: Tensor | None = None

    def _table(self, weights: Any) -> np.ndarray:
        """Keras 3's `weights=`: the initial table, (input_dim, output_dim), alone or in a list of one."""
        table = np.asarray(weights[0] if isinstance(weights, (list, tuple)) and len(weights) == 1 else weights)
        if table.shape != (self.input_dim, self.output_dim) or table.dtype.kind not in "fiu":
            raise ValueError(f"Embedding: weights must be the initial table of shape ({self.input_dim}, "
                             f"{self.output_dim}) (input_dim, output_dim), got {table.dtype} shape {table.shape}")
        return table

    def _as_tensor(self, inputs: Any) -> Tensor:
        """The indices as an int64 Tensor (no gradient flows to them)."""
        data = inputs.data if isinstance(inputs, Tensor) else np.asarray(inputs)
        if data.dtype.kind not in "fiub":
            raise TypeError(f"{self._describe()} takes integer indices, got an array of dtype {data.dtype}")
        if data.dtype.kind == "f" and not np.isfinite(data).all():
            raise ValueError(f"{self._describe()}: the indices hold NaN or infinity, which index no row")
        return Tensor(data.astype(np.int64))   # floats truncated, as Keras's cast to int32

    def _create_weights(self, input_shape: Shape) -> None:
        self.embeddings = self.add_weight("embeddings", (self.input_dim, self.output_dim),
                                          self.embeddings_initializer, regularizer=self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint)
        if self._initial is not None:
            self.set_weights([self._initial])

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape, self.output_dim)

    def call(self, x: Tensor, training: bool) -> Tensor:
        indices = x.data
        if indices.size and (indices.min() < 0 or indices.max() >= self.input_dim):
            bad = indices[(indices < 0) | (indices >= self.input_dim)]
            raise IndexError(f"{self._describe()}: indices must be in [0, {self.input_dim}) (input_dim), got "
                             f"{bad[:5].tolist()}; make input_dim larger than the largest index")
        # (input_dim, output_dim)[(N, ...)] -> (N, ..., output_dim)
        return self.embeddings[indices]

    def param_formula(self) -> str:
        return f"{self.input_dim}*{self.output_dim}={self.count_params()}"

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": initializers.config_entry(self.embeddings_initializer),
                "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
                "embeddings_constraint": constraints.serialize(self.embeddings_constraint), "mask_zero": False}
