"""Core layers: Input, Dense, Flatten, Activation, ReLU, LeakyReLU, ELU, PReLU, Softmax, Dropout, SpatialDropout2D."""
from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from .. import constraints, initializers, regularizers
from ..arguments import axis_index, finite_number, flag, is_int, number, one_of, positive_int
from ..conv.geometry import DATA_FORMATS
from ..creation import generator
from ..ops.composed import where
from ..tensor import Tensor
from . import activations
from .base import Layer, config_name
from .receptive_field import WHOLE_INPUT, ReceptiveField
from .shapes import Shape, batch_shape, format_shape
from .symbolic import KerasTensor, Node


class InputLayer(Layer):
    """The model's entry: fixes the shape of one example (the batch axis stays free). Its `output` is the
    symbolic tensor (tc.Input's result) that layers are called on to build a functional model."""

    keeps_shape = True

    def __init__(self, shape: Any = None, batch_size: int | None = None, dtype: Any = None, sparse: Any = None, *,
                 batch_shape: Any = None, name: str | None = None, ragged: Any = None, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)   # dtype is the input's here: an InputLayer has no weights
        _no_sparse(sparse, "InputLayer")
        _no_sparse(ragged, "InputLayer", "ragged")
        if self._input_shape_arg is not None:   # Keras's older input_shape=(3,), which Keras 3 still takes
            if shape is not None or batch_shape is not None:
                raise ValueError(f"InputLayer: give shape (or batch_shape), not input_shape as well (got shape="
                                 f"{shape!r}, batch_shape={batch_shape!r}, input_shape={self._input_shape_arg[1:]!r})")
            warnings.warn("InputLayer: input_shape is Keras's older name; use shape", DeprecationWarning, stacklevel=2)
            shape = self._input_shape_arg[1:]
        if (shape is None) == (batch_shape is None):
            raise ValueError("InputLayer needs exactly one of shape (one example, e.g. (28, 28, 1)) and batch_shape")
        if batch_shape is None:
            shape = (shape,) if isinstance(shape, (int, np.integer)) else shape
            if not isinstance(shape, (tuple, list)):
                raise TypeError(f"Input: shape must be a tuple such as (28, 28, 1), got {shape!r}")
            batch = None if batch_size is None else positive_int(batch_size, "batch_size", "Input")
            batch_shape = (batch, *shape)
        full = _input_batch_shape(batch_shape)
        self.build(full)
        self.input_dtype = _input_dtype(dtype)
        node = Node(self, [], None, None)   # the Input's own node: no inputs, `output` is its tensor
        node.outputs = KerasTensor(full, self.input_dtype, self.name, node)

    @property
    def shape(self) -> Shape:
        """The input shape with its batch axis, e.g. (None, 28, 28, 1)."""
        return self.input_shape

    def _fixed_axes(self) -> tuple[int, ...]:
        return tuple(range(1, len(self.input_shape)))

    def _check_rank(self, shape: Shape) -> None:
        if self.built and len(shape) != len(self.input_shape):
            raise ValueError(f"{self._describe()} expects inputs of shape {format_shape(self.input_shape)}, "
                             f"got {format_shape(shape)}")

    def call(self, x: Tensor, training: bool) -> Tensor:
        return x

    def get_config(self) -> dict[str, Any]:
        dtype = {} if self.input_dtype == np.float32 else {"dtype": self.input_dtype.name}
        return {"name": self.name, "batch_shape": list(self.input_shape), **dtype}


def _input_batch_shape(shape: Any) -> Shape:
    full = batch_shape(shape, "Input")
    if 0 in full[1:]:
        raise ValueError(f"Input: every axis but the batch axis needs a positive size (or None for any size), "
                         f"got {format_shape(full)}")
    return full


def _input_dtype(dtype: Any) -> np.dtype:
    """An Input's dtype (None is float32): a floating dtype, or, as Keras allows, an integer or bool one such as
    "uint8" for raw pixels (layers compute in float32 from such data, e.g. Rescaling(1 / 255))."""
    try:
        found = np.dtype(np.float32 if dtype is None else dtype)
    except (TypeError, ValueError):   # ValueError: NumPy's reading of a dict or tuple as a structured dtype
        found = None
    if found is None or found.kind not in "fiub":
        raise TypeError(f"Input: dtype must be a floating dtype such as 'float32' or 'float64' (or an integer or "
                        f"bool one such as 'uint8'), got {dtype!r}")
    return found


def _no_sparse(value: Any, owner: str, argument: str = "sparse") -> None:
    """Keras's `sparse=` or `ragged=` (a tf.SparseTensor or tf.RaggedTensor input, as Keras 3's configs of an
    InputLayer hold them): None or False only, as tensors here are dense."""
    if value not in (None, False):
        raise ValueError(f"{owner}: {argument}={value!r} asks for {argument} tensors, which tinygrad_cnn does not "
                         f"have; leave {argument}=None and feed dense arrays")


def Input(shape: Any = None, batch_size: int | None = None, dtype: Any = None, sparse: Any = None, *,  # noqa: N802
          batch_shape: Any = None, name: str | None = None, ragged: Any = None) -> KerasTensor:
    """A model's input, Keras's `keras.Input`: a symbolic tensor of shape (batch_size, *shape) (batch_size
    None: any). Call layers on it and pass it to tc.Model(inputs, outputs), or start a tc.Sequential with it.
    The first four arguments take Keras 3's positions (newer versions put `ragged` after sparse: the rest
    are keywords here)."""
    return InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse, batch_shape=batch_shape,
                      name=name, ragged=ragged).output


def image_data_format(data_format: Any, owner: str) -> str:
    """An image layer's data_format; None is "channels_last", Keras's default image_data_format."""
    return "channels_last" if data_format is None else one_of(data_format, DATA_FORMATS, "data_format", owner)


class KernelLayer(Layer):
    """A layer with a kernel, an optional bias and an activation (the common part of Dense and Conv2D).

    Regularizers (None, a name such as "l2", a tc.regularizers object or a callable x -> scalar Tensor)
    put penalties of the kernel, the bias or the output in `losses`, which fit adds to the loss.
    Constraints (None, a name such as "max_norm", a tc.constraints object or a callable w -> Tensor)
    project the kernel or the bias after each optimizer update.
    `kernel` is what the layer's arguments call the kernel in errors ("depthwise": depthwise_initializer).
    """

    def __init__(self, activation: Any, use_bias: bool, kernel_initializer: Any, bias_initializer: Any,
                 kernel_regularizer: Any = None, bias_regularizer: Any = None, kernel_constraint: Any = None,
                 bias_constraint: Any = None, kernel: str = "kernel", **kwargs: Any) -> None:
        super().__init__(**kwargs)   # name, trainable, dtype, activity_regularizer, ...
        owner = type(self).__name__
        self.activation = layer_argument(activations.get, activation, "activation", owner)
        self.use_bias = flag(use_bias, "use_bias", owner)
        self.kernel_initializer = layer_argument(initializers.get, kernel_initializer, f"{kernel}_initializer", owner)
        self.bias_initializer = layer_argument(initializers.get, bias_initializer, "bias_initializer", owner)
        self.kernel_regularizer = layer_regularizer(kernel_regularizer, f"{kernel}_regularizer", owner)
        self.bias_regularizer = layer_regularizer(bias_regularizer, "bias_regularizer", owner)
        self.kernel_constraint = layer_argument(constraints.get, kernel_constraint, f"{kernel}_constraint", owner)
        self.bias_constraint = layer_argument(constraints.get, bias_constraint, "bias_constraint", owner)
        self.kernel: Tensor | None = None
        self.bias: Tensor | None = None

    def _add_kernel_and_bias(self, kernel_shape: tuple[int, ...]) -> None:
        """The kernel of `kernel_shape` and, with use_bias, a bias of one value per output feature (its last axis)."""
        self.kernel = self.add_weight("kernel", kernel_shape, self.kernel_initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        if self.use_bias:
            self.bias = self.add_weight("bias", kernel_shape[-1:], self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(),
                "activation": config_name(self.activation, activations.ACTIVATIONS, "activation"),
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.config_entry(self.kernel_initializer),
                "bias_initializer": initializers.config_entry(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint)}


def layer_argument(get: Any, identifier: Any, argument: str, owner: str) -> Any:
    """get(identifier) (activations.get, initializers.get, ...), with the layer and the argument named in the error."""
    try:
        return get(identifier)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{owner}: {argument}: {e}") from None


def layer_regularizer(identifier: Any, argument: str, owner: str) -> Any:
    """regularizers.get, with the layer and the argument named in the error."""
    return layer_argument(regularizers.get, identifier, argument, owner)


class Dense(KernelLayer):
    """A fully connected layer: activation(x @ kernel + bias) over the last axis."""

    min_ndim = 2

    def __init__(self, units: int, activation: Any = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None, activity_regularizer: Any = None,
                 kernel_constraint: Any = None, bias_constraint: Any = None, **kwargs: Any) -> None:
        super().__init__(activation, use_bias, kernel_initializer, bias_initializer, kernel_regularizer,
                         bias_regularizer, kernel_constraint, bias_constraint,
                         activity_regularizer=activity_regularizer, **kwargs)
        self.units = positive_int(units, "units", "Dense")

    def _create_weights(self, input_shape: Shape) -> None:
        features = input_shape[-1]
        if not features:
            raise ValueError(f"{self._describe()} needs a known, non-zero last axis, got input shape "
                             f"{format_shape(input_shape)}")
        self._add_kernel_and_bias((features, self.units))

    def _fixed_axes(self) -> tuple[int, ...]:
        return (-1,)

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        return (*input_shape[:-1], self.units)

    def call(self, x: Tensor, training: bool) -> Tensor:
        # (..., in) @ (in, units) -> (..., units)
        y = x @ self.kernel
        if self.bias is not None:
            y = y + self.bias
        return self.activation(y)

    def param_formula(self) -> str:
        features = self.input_shape[-1]
        body = f"{features}+1" if self.use_bias else f"{features}"
        return f"{self.units}*({body})={self.count_params()}"

    def receptive_field(self, field: ReceptiveField) -> ReceptiveField:
        # on a flat vector every output mixes every input; on images it acts per pixel
        return WHOLE_INPUT if len(self.input_shape) == 2 else field

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units}


class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1 * d2 * ...); channels_first inputs are first made channels_last."""

    min_ndim = 1

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = image_data_format(data_format, "Flatten")

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else math.prod(rest))

    def call(self, x: Tensor, training: bool) -> Tensor:
        if self.data_format == "channels_first" and x.ndim > 2:
            # (N, C, d1, ...) -> (N, d1, ..., C), so that the order matches the channels_last layout
            x = x.transpose(0, *range(2, x.ndim), 1)
        # (N, d1, d2, ...) -> (N, d1 * d2 * ...)
        return x.reshape(x.shape[0], math.prod(x.shape[1:])) if x.ndim != 2 else x  # no -1: N may be 0

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format}


class Activation(Layer):
    """Applies an activation given by name ("relu") or as a callable."""

    keeps_shape = True

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def call(self, x: Tensor, training: bool) -> Tensor:
        return self.activation(x)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(),
                "activation": config_name(self.activation, activations.ACTIVATIONS, "activation")}


class ReLU(Layer):
    """max(x, 0), optionally capped at `max_value`, with slope `negative_slope` below `threshold` (Keras's ReLU)."""

    keeps_shape = True

    def __init__(self, max_value: float | None = None, negative_slope: float = 0.0, threshold: float = 0.0,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_value = None if max_value is None else number(max_value, "max_value", "ReLU", 0, math.inf)
        self.negative_slope = number(negative_slope, "negative_slope", "ReLU", 0, math.inf)
        self.threshold = number(threshold, "threshold", "ReLU", -math.inf, math.inf)

    def call(self, x: Tensor, training: bool) -> Tensor:
        return activations.relu(x, self.negative_slope, self.max_value, self.threshold)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


class LeakyReLU(Layer):
    """x where x > 0, else negative_slope * x (Keras 3's layer; its default slope is 0.3).

    Keras 2 named the slope `alpha`; `LeakyReLU(alpha=0.1)` still works, with a DeprecationWarning.
    """

    keeps_shape = True

    def __init__(self, negative_slope: float = 0.3, *, alpha: float | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if alpha is not None:
            warnings.warn("LeakyReLU: the argument alpha is Keras 2's name; use negative_slope instead",
                          DeprecationWarning, stacklevel=2)
            negative_slope = alpha
        self.negative_slope = finite_number(negative_slope, "negative_slope", "LeakyReLU", low=0)

    def call(self, x: Tensor, training: bool) -> Tensor:
        return x.leaky_relu(self.negative_slope)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(Layer):
    """x where x > 0, else alpha * (exp(x) - 1) (Keras's ELU layer)."""

    keeps_shape = True

    def __init__(self, alpha: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha = finite_number(alpha, "alpha", "ELU")

    def call(self, x: Tensor, training: bool) -> Tensor:
        return activations.elu(x, self.alpha)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha}


class PReLU(Layer):
    """x where x > 0, else alpha * x with a learned `alpha` per value (Keras's PReLU).

    `alpha` has the input's shape without the batch axis, with size 1 along `shared_axes` (axes
    counted with the batch axis as 0): `shared_axes=[1, 2]` on (N, H, W, C) images learns one slope
    per channel, as torch.nn.PReLU(C) does on (N, C, H, W). An `alpha_regularizer` puts its penalty of
    alpha in `losses`; an `alpha_constraint` (such as "non_neg") projects alpha after each optimizer update.
    """

    keeps_shape = True

    min_ndim = 2

    def __init__(self, alpha_initializer: Any = "zeros", alpha_regularizer: Any = None, alpha_constraint: Any = None,
                 shared_axes: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha_initializer = layer_argument(initializers.get, alpha_initializer, "alpha_initializer", "PReLU")
        self.alpha_regularizer = layer_regularizer(alpha_regularizer, "alpha_regularizer", "PReLU")
        self.alpha_constraint = layer_argument(constraints.get, alpha_constraint, "alpha_constraint", "PReLU")
        axes = [shared_axes] if is_int(shared_axes) else shared_axes
        if axes is not None and (not isinstance(axes, (list, tuple)) or not all(is_int(a) for a in axes)):
            raise TypeError(f"PReLU: shared_axes must be None, an int or a list of ints such as [1, 2], "
                            f"got {shared_axes!r:.60}")
        self.shared_axes = None if axes is None else sorted({int(a) for a in axes})
        self.alpha: Tensor | None = None

    def _create_weights(self, input_shape: Shape) -> None:
        shared = self.shared_axes or []
        if any(not 1 <= a < len(input_shape) for a in shared):
            raise ValueError(f"{self._describe()}: shared_axes {shared} must be axes 1 to {len(input_shape) - 1} "
                             f"of the input {format_shape(input_shape)} (axis 0 is the batch axis)")
        shape = tuple(1 if axis in shared else n for axis, n in enumerate(input_shape))[1:]
        if None in shape:
            raise ValueError(f"{self._describe()} needs known sizes for the axes that are not shared, got input "
                             f"{format_shape(input_shape)} with shared_axes={self.shared_axes}; fix the size "
                             "with tc.Input or share the axis of unknown size")
        self.alpha = self.add_weight("alpha", shape, self.alpha_initializer, regularizer=self.alpha_regularizer,
                                     constraint=self.alpha_constraint)

    def _fixed_axes(self) -> tuple[int, ...]:
        return tuple(axis for axis in range(1, len(self.input_shape)) if axis not in (self.shared_axes or []))

    def call(self, x: Tensor, training: bool) -> Tensor:
        # alpha (d1, ..., dk) broadcasts over the batch axis and the shared axes
        return where(x.data > 0, x, x * self.alpha)

    def param_formula(self) -> str:
        return f"{'*'.join(map(str, self.alpha.shape))}={self.count_params()}"   # 1 along the shared axes

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(),
                "alpha_initializer": initializers.config_entry(self.alpha_initializer),
                "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
                "alpha_constraint": constraints.serialize(self.alpha_constraint), "shared_axes": self.shared_axes}


class Softmax(Layer):
    """exp(x) normalised along `axis` (stable for large logits)."""

    keeps_shape = True

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = axis_index(axis, "axis", "Softmax")

    def call(self, x: Tensor, training: bool) -> Tensor:
        if not -x.ndim <= self.axis < x.ndim:
            raise ValueError(f"{self._describe()}: axis {self.axis} is out of range for input shape {x.shape}")
        return x.softmax(axis=self.axis)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class Dropout(Layer):
    """In training, zeroes each value with probability `rate` and scales the rest by 1 / (1 - rate)
    (inverted dropout: the expectation is unchanged); in inference it is the identity.

    As in Keras, `noise_shape` shares one draw along the axes where it is 1 (None: the input's size),
    e.g. (None, 1, 1, C) drops whole channels; `seed` gives the layer its own generator instead of
    the one `tc.manual_seed` seeds.
    """

    keeps_shape = True

    def __init__(self, rate: float, noise_shape: Any = None, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rate = number(rate, "rate", type(self).__name__, 0.0, 1.0, high_open=True)
        if noise_shape is not None:
            noise_shape = batch_shape(noise_shape, "Dropout: noise_shape")
        self.noise_shape = noise_shape
        self.seed = None if seed is None else positive_int(seed, "seed", type(self).__name__, minimum=0)
        self._generator = None if seed is None else np.random.default_rng(seed)

    def call(self, x: Tensor, training: bool) -> Tensor:
        if not training or self.rate == 0:
            return x
        shape = self._mask_shape(x.shape)
        rng = self._generator if self._generator is not None else generator()
        # kept values are scaled by 1 / (1 - rate), dropped ones are 0; a noise_shape mask broadcasts
        mask = (rng.random(shape, dtype=np.float32) >= self.rate).astype(x.dtype)
        mask *= 1 / (1 - self.rate)
        return x * mask

    def _mask_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """noise_shape with None filled from the input; every other size must be 1 or the input's."""
        if self.noise_shape is None:
            return shape
        mask = tuple(size if n is None else n for n, size in zip(self.noise_shape, shape, strict=False))
        if len(self.noise_shape) != len(shape) or any(n not in (1, size) for n, size in zip(mask, shape, strict=True)):
            raise ValueError(f"{self._describe()}: noise_shape {format_shape(self.noise_shape)} does not fit the "
                             f"input shape {shape}: it needs one entry per axis, each None, 1 or the input's size")
        return mask

    def get_config(self) -> dict[str, Any]:
        noise_shape = None if self.noise_shape is None else list(self.noise_shape)
        return {**super().get_config(), "rate": self.rate, "noise_shape": noise_shape, "seed": self.seed}


class SpatialDropout2D(Dropout):
    """Dropout of whole feature maps: in training each (example, channel) map is zeroed with probability
    `rate` and the kept ones are scaled by 1 / (1 - rate); the identity in inference (torch's Dropout2d)."""

    ndim = 4

    def __init__(self, rate: float, data_format: str | None = None, seed: int | None = None,
                 name: str | None = None, dtype: Any = None, **kwargs: Any) -> None:
        super().__init__(rate, seed=seed, name=name, dtype=dtype, **kwargs)
        self.data_format = image_data_format(data_format, "SpatialDropout2D")

    def _mask_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        # one draw per example and channel, shared over height and width
        n, channels = (shape[0], shape[3]) if self.data_format == "channels_last" else shape[:2]
        return (n, 1, 1, channels) if self.data_format == "channels_last" else (n, channels, 1, 1)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["noise_shape"]
        return {**config, "data_format": self.data_format}
