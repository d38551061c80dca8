"""Normalization layers with Keras's semantics: BatchNormalization (batch statistics in training, moving averages
in inference) and LayerNormalization (each example's own statistics)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import constraints, initializers, regularizers
from ..arguments import axis_index, flag, is_int, number
from ..tensor import Tensor
from .base import Layer
from .core import layer_argument, layer_regularizer
from .shapes import Shape, format_shape


class _Normalization(Layer):
    """What both normalizations share: gamma (`scale`) and beta (`center`) over the normalised features, with
    their initializers (in `initializers`, by argument name), regularizers and constraints, and `epsilon`."""

    keeps_shape = True
    min_ndim = 2

    def __init__(self, epsilon: float, center: bool, scale: bool, initializer_arguments: Mapping[str, Any],
                 beta_regularizer: Any, gamma_regularizer: Any, beta_constraint: Any, gamma_constraint: Any,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.epsilon = number(epsilon, "epsilon", owner, 0.0, np.inf)
        if self.epsilon == 0:
            raise ValueError(f"{owner}: epsilon must be positive (it keeps 1/sqrt(var + eps) finite)")
        self.center = flag(center, "center", owner)
        self.scale = flag(scale, "scale", owner)
        self.initializers = {key: layer_argument(initializers.get, value, key, owner)
                             for key, value in initializer_arguments.items()}
        self.beta_regularizer = layer_regularizer(beta_regularizer, "beta_regularizer", owner)
        self.gamma_regularizer = layer_regularizer(gamma_regularizer, "gamma_regularizer", owner)
        self.beta_constraint = layer_argument(constraints.get, beta_constraint, "beta_constraint", owner)
        self.gamma_constraint = layer_argument(constraints.get, gamma_constraint, "gamma_constraint", owner)
        self.gamma: Tensor | None = None
        self.beta: Tensor | None = None

    def _add_gamma_and_beta(self, shape: tuple[int, ...]) -> None:
        if self.scale:
            self.gamma = self.add_weight("gamma", shape, self.initializers["gamma_initializer"],
                                         regularizer=self.gamma_regularizer, constraint=self.gamma_constraint)
        if self.center:
            self.beta = self.add_weight("beta", shape, self.initializers["beta_initializer"],
                                        regularizer=self.beta_regularizer, constraint=self.beta_constraint)

    def _normalized(self, centered: Tensor, variance: Tensor, features_shape: tuple[int, ...]) -> Tensor:
        """centered / sqrt(variance + epsilon), scaled by gamma and shifted by beta (reshaped to features_shape)."""
        y = centered / (variance + self.epsilon).sqrt()
        if self.gamma is not None:
            y = y * self.gamma.reshape(features_shape)
        if self.beta is not None:
            y = y + self.beta.reshape(features_shape)
        return y

    def get_config(self) -> dict[str, Any]:
        names = {key: initializers.config_entry(value) for key, value in self.initializers.items()}
        return {**super().get_config(), "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                **names, "beta_regularizer": regularizers.serialize(self.beta_regularizer),
                "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
                "beta_constraint": constraints.serialize(self.beta_constraint),
                "gamma_constraint": constraints.serialize(self.gamma_constraint)}


class BatchNormalization(_Normalization):
    """Normalise each feature along `axis` (channels), then scale by gamma and shift by beta.

    In training the mean and variance come from the batch (all axes but `axis`), and the moving
    averages move towards them: moving = momentum * moving + (1 - momentum) * batch value (PyTorch's
    momentum is 1 - this one). The moving variance follows the unbiased batch variance, as PyTorch and
    TensorFlow's fused kernel do. In inference the moving averages normalise instead. They are
    non-trainable weights. A frozen layer (`trainable = False`) always runs in inference mode, as in
    Keras, so fine-tuning the layers around it neither uses nor moves its statistics. `beta_regularizer`
    and `gamma_regularizer` put their penalties of beta and gamma in `losses`; `beta_constraint` and
    `gamma_constraint` project beta and gamma after each optimizer update (Keras 3's order of arguments).
    `synchronized` (Keras 3's: batch statistics shared across devices) changes nothing on the one device here.
    """

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, beta_initializer: Any = "zeros", gamma_initializer: Any = "ones",
                 moving_mean_initializer: Any = "zeros", moving_variance_initializer: Any = "ones",
                 beta_regularizer: Any = None, gamma_regularizer: Any = None, beta_constraint: Any = None,
                 gamma_constraint: Any = None, synchronized: bool = False, **kwargs: Any) -> None:
        super().__init__(epsilon, center, scale, {
            "beta_initializer": beta_initializer, "gamma_initializer": gamma_initializer,
            "moving_mean_initializer": moving_mean_initializer,
            "moving_variance_initializer": moving_variance_initializer},
            beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint, **kwargs)
        self.axis = axis_index(axis, "axis", "BatchNormalization")
        self.momentum = number(momentum, "momentum", "BatchNormalization", 0.0, 1.0)
        self.synchronized = flag(synchronized, "synchronized", "BatchNormalization")

    def _create_weights(self, input_shape: Shape) -> None:
        if not -len(input_shape) < self.axis < len(input_shape) or self.axis % len(input_shape) == 0:
            raise ValueError(f"{self._describe()}: axis {self.axis} must name a feature axis of the input "
                             f"{format_shape(input_shape)} (not the batch axis 0)")
        features = input_shape[self.axis]
        if not features:
            raise ValueError(f"{self._describe()}: axis {self.axis} of input {format_shape(input_shape)} "
                             "needs a known, non-zero size")
        self._add_gamma_and_beta((features,))
        self.moving_mean = self.add_weight("moving_mean", (features,),
                                           self.initializers["moving_mean_initializer"], trainable=False)
        self.moving_variance = self.add_weight("moving_variance", (features,),
                                               self.initializers["moving_variance_initializer"], trainable=False)

    def _fixed_axes(self) -> tuple[int, ...]:
        return (self.axis,)

    def call(self, x: Tensor, training: bool) -> Tensor:
        axis = self.axis % x.ndim
        reduced = tuple(i for i in range(x.ndim) if i != axis)
        # per-feature vectors (C,) broadcast as (1, .., C, .., 1)
        features_shape = tuple(x.shape[i] if i == axis else 1 for i in range(x.ndim))
        if training and self.trainable:  # batch statistics (the biased variance normalises, as in Keras and PyTorch)
            if x.size == 0:
                raise ValueError(f"{self._describe()}: an empty batch (input shape {x.shape}) has no statistics to "
                                 "normalise with in training; skip it, or call the layer with training=False")
            mean = x.mean(reduced, keepdims=True)
            centered = x - mean
            variance = (centered * centered).mean(reduced, keepdims=True)
            self._update_moving(mean.data, variance.data, x.size // x.shape[axis])
        else:
            centered = x - self.moving_mean.reshape(features_shape)
            variance = self.moving_variance.reshape(features_shape)
        return self._normalized(centered, variance, features_shape)

    def _update_moving(self, mean: np.ndarray, variance: np.ndarray, count: int) -> None:
        """moving = momentum * moving + (1 - momentum) * batch (variance with Bessel's correction)."""
        unbiased = variance.reshape(-1) * (count / max(count - 1, 1))
        for moving, batch in ((self.moving_mean, mean.reshape(-1)), (self.moving_variance, unbiased)):
            moving.data = (self.momentum * moving.data + (1 - self.momentum) * batch).astype(moving.dtype)

    def param_formula(self) -> str:
        vectors = int(self.scale) + int(self.center) + 2
        return f"{vectors}*{self.input_shape[self.axis]}={self.count_params()}"

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "synchronized": self.synchronized}


class LayerNormalization(_Normalization):
    """Normalise each example over `axis` (the features; a list of axes: over all of them together) with its
    own mean and biased variance, then scale by gamma and shift by beta, which have the input's sizes along
    `axis`; the same in training and inference, and no batch statistics (torch.nn.LayerNorm over the last
    axes). Keras 3's order of arguments."""

    def __init__(self, axis: Any = -1, epsilon: float = 1e-3, center: bool = True, scale: bool = True,
                 beta_initializer: Any = "zeros", gamma_initializer: Any = "ones", beta_regularizer: Any = None,
                 gamma_regularizer: Any = None, beta_constraint: Any = None, gamma_constraint: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(epsilon, center, scale, {"beta_initializer": beta_initializer,
                                                  "gamma_initializer": gamma_initializer},
                         beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint, **kwargs)
        axes = [axis] if is_int(axis) else axis
        if not isinstance(axes, (list, tuple)) or not axes or not all(is_int(a) for a in axes):
            raise TypeError(f"LayerNormalization: axis must be an int or a list of ints (the feature axes), got "
                            f"{axis!r:.60}")
        self.axis: int | list[int] = int(axis) if is_int(axis) else [int(a) for a in axes]

    def _axes(self, ndim: int) -> tuple[int, ...]:
        """The normalised axes of an input of `ndim` axes, counted from 0 and sorted."""
        given = [self.axis] if isinstance(self.axis, int) else self.axis
        axes = sorted({a % ndim for a in given if -ndim <= a < ndim})
        if len(axes) < len(set(given)) or 0 in axes:
            raise ValueError(f"{self._describe()}: axis {self.axis} must name distinct feature axes of a {ndim}-D "
                             "input (1 to {ndim - 1}, or negative from the end; axis 0 is the batch axis)")
        return tuple(axes)

    def _create_weights(self, input_shape: Shape) -> None:
        sizes = tuple(input_shape[a] for a in self._axes(len(input_shape)))
        if not all(sizes):
            raise ValueError(f"{self._describe()}: axis {self.axis} of input {format_shape(input_shape)} needs known, "
                             "non-zero sizes")
        self._add_gamma_and_beta(sizes)

    def _fixed_axes(self) -> tuple[int, ...]:
        return self._axes(len(self.input_shape))

    def call(self, x: Tensor, training: bool) -> Tensor:
        axes = self._axes(x.ndim)
        mean = x.mean(axes, keepdims=True)
        centered = x - mean
        variance = (centered * centered).mean(axes, keepdims=True)
        # gamma and beta (the sizes along axes) broadcast as (1, .., d, .., 1)
        features_shape = tuple(n if i in axes else 1 for i, n in enumerate(x.shape))
        return self._normalized(centered, variance, features_shape)

    def param_formula(self) -> str:
        vectors = int(self.scale) + int(self.center)
        features = "*".join(str(self.input_shape[a]) for a in self._axes(len(self.input_shape)))
        return f"{vectors}*{features}={self.count_params()}" if vectors else "-"

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}
