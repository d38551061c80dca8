"""Keras's Lambda layer: a function of Tensor ops used as a layer, for quick experiments."""
from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..tensor import Tensor
from .base import Layer
from .shapes import batch_shape


class Lambda(Layer):
    """`function(inputs, **arguments)` as a layer: `Lambda(lambda x: x * 2)`, `Lambda(lambda t: t[0] - t[1])`.

    The function computes with Tensor ops, so gradients flow through it; it receives `training` (and
    `mask=None`) when it takes them. On symbolic tensors the output shape is `output_shape` (the shape
    without the batch axis, or a function of the input shape with it) or, without one, the shape the
    function gives a zero sample (no graph is recorded). A function is code, which a config or a model file
    cannot hold: a model with a Lambda is saved with `save_weights`; a Layer subclass saves as a layer.
    """

    def __init__(self, function: Callable[..., Any], output_shape: Any = None, mask: Any = None,
                 arguments: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda: function must be callable, e.g. lambda x: x * 2, got {type(function).__name__} "
                            f"{function!r:.40}")
        keywords = isinstance(arguments, Mapping) and all(isinstance(key, str) for key in arguments)
        if arguments is not None and not keywords:
            raise TypeError(f"Lambda: arguments must be a dict of keyword arguments for the function, got "
                            f"{type(arguments).__name__} {arguments!r:.40}")
        if output_shape is not None and not callable(output_shape):
            output_shape = batch_shape((None, *_shape_tuple(output_shape)), "Lambda: output_shape")[1:]
        self.function, self.mask, self.arguments = function, mask, dict(arguments or {})
        self._shape_given = output_shape   # the shape without the batch axis, a function, or None
        try:
            parameters = inspect.signature(function).parameters
        except (TypeError, ValueError):   # a builtin without a signature takes neither
            parameters = {}
        takes_all = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
        self._passes = [name for name in ("training", "mask") if takes_all or name in parameters]

    def _as_tensor(self, inputs: Any) -> Any:
        """A Tensor, or a list of Tensors for a function of several inputs."""
        if isinstance(inputs, (list, tuple)) and inputs and all(isinstance(x, (Tensor, np.ndarray)) for x in inputs):
            return [super(Lambda, self)._as_tensor(x) for x in inputs]
        return super()._as_tensor(inputs)

    def build(self, input_shape: Any) -> None:
        """No weights to create: record the shapes (a list for several inputs)."""
        self._output_shape = self.compute_output_shape(input_shape)
        self._input_shape, self.built = input_shape, True

    def build_for(self, input_shape: Any) -> None:
        self.build(input_shape)

    def _check_rank(self, shape: Any) -> None:
        """Any shape the function takes (it says so itself when it does not)."""

    _check_input = _check_rank

    def compute_output_shape(self, input_shape: Any) -> Any:
        if self._shape_given is None:
            return self._traced_output_shape(input_shape)
        if callable(self._shape_given):
            return self._shape_given(input_shape)
        first = input_shape[0] if isinstance(input_shape, list) else input_shape
        return (first[0], *self._shape_given)

    def call(self, inputs: Any, training: bool = False) -> Any:
        options = {"training": training, "mask": None}
        return self.function(inputs, **self.arguments, **{name: options[name] for name in self._passes})

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        """Keras's mask: `mask(inputs, mask)` when the layer's mask is a function, else the mask given."""
        return self.mask(inputs, mask) if callable(self.mask) else self.mask

    def get_config(self) -> dict[str, Any]:
        raise ValueError(f"{self._describe()} cannot be saved: its function is Python code, which a config or a "
                         "model file cannot hold (loading it would run code). Save the weights with "
                         "model.save_weights(path) and rebuild the model in code, or write the computation as a "
                         "layer of your own (subclass tc.layers.Layer with call and get_config)")


def _shape_tuple(shape: Any) -> tuple[Any, ...]:
    """`output_shape` as a tuple (an int is a one-axis shape, as Keras reads it)."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        return (int(shape),)
    if not isinstance(shape, (list, tuple)):
        raise TypeError(f"Lambda: output_shape must be the output's shape without the batch axis (a tuple such as "
                        f"(10,)) or a function of the input shape, got {type(shape).__name__} {shape!r:.40}")
    return tuple(shape)
