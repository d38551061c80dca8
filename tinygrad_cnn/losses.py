"""Losses, Keras style: `loss(y_true, y_pred, sample_weight=None)` -> a scalar Tensor (the mean over the batch).

Every loss exists as a class (`SparseCategoricalCrossentropy(from_logits=True)`, here) and as a function
(`sparse_categorical_crossentropy(y_true, y_pred, from_logits=True)`, written in loss_functions.py and
found here too); `get` turns a Keras name into one.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .arguments import axis_index, finite_number, flag
from .configs import config_repr
from .loss_functions import (
    _check_reduction,
    _ignore_class,
    _positive,
    _predictions,
    _reduce,
    as_array,
    binary_crossentropy,
    categorical_crossentropy,
    categorical_hinge,
    cosine_similarity,
    hinge,
    huber,
    kl_divergence,
    log_cosh,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    poisson,
    sparse_categorical_crossentropy,
    squared_hinge,
)
from .tensor import Tensor

# --- the losses as classes ---------------------------------------------------------------------

class Loss:
    """A configured loss: `loss(y_true, y_pred, sample_weight=None)` -> Tensor; `get_config()` for saving.

    A loss of your own is written Keras's way: subclass Loss and define `call(y_true, y_pred)` returning
    the per-sample losses (y_true arrives as a constant Tensor of y_pred's dtype); `__call__` then
    applies `sample_weight` and the reduction. `dtype` (a float dtype, or None for y_pred's own) is the
    dtype the loss is computed in, as in Keras.
    """

    function: Callable[..., Tensor] | None = None  # the built-in losses' function; None: `call` is used
    name = "loss"

    def __init__(self, name: str | None = None, reduction: str = "mean", dtype: Any = None) -> None:
        owner = type(self).__name__
        self.reduction = _check_reduction(reduction)
        if _check_name(name, owner, type(self).name) is not None:  # Keras's name=; the class's name by default
            self.name = name
        self.dtype = None if dtype is None else _float_dtype(dtype, owner)

    def __call__(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> Tensor:
        owner = type(self).__name__
        if self.dtype is not None:
            y_pred = _predictions(y_pred, owner).astype(self.dtype)
        function = type(self).function
        if function is not None:
            config = self.get_config()
            del config["name"]  # the rest are the function's arguments
            config.pop("dtype", None)
            return function(y_true, y_pred, sample_weight=sample_weight, **config)
        y_pred = _predictions(y_pred, owner)
        if not isinstance(y_true, Tensor):
            data = as_array(y_true, "y_true", owner)
            if data.dtype.kind not in "biuf":
                raise TypeError(f"{owner}: y_true must be numbers, got dtype {data.dtype}")
            y_true = Tensor._make(data.astype(y_pred.dtype, copy=False), None)
        values = self.call(y_true, y_pred)
        if not isinstance(values, Tensor):
            raise TypeError(f"{owner}.call returned {type(values).__name__}; it must return the per-sample losses "
                            "as a Tensor computed from y_pred (so that they can be differentiated)")
        return _reduce(values, self.reduction, sample_weight, owner)

    def call(self, y_true: Tensor, y_pred: Tensor) -> Tensor:
        """The per-sample losses; a loss of your own defines it (the built-in ones have `function`)."""
        raise NotImplementedError(f"{type(self).__name__} must define call(y_true, y_pred) -> per-sample losses")

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (JSON-friendly); `dtype` only when one was given."""
        config: dict[str, Any] = {"name": self.name, "reduction": self.reduction}
        return config if self.dtype is None else {**config, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        """The loss `get_config` described (a config without `name`, from an older file, gets the default)."""
        return cls(**config)

    def __repr__(self) -> str:
        return config_repr(self)


class _BuiltinLoss(Loss):
    """A built-in loss: Keras's order for them, `reduction` before `name` (the base class has `name` first)."""

    def __init__(self, reduction: str = "mean", name: str | None = None, dtype: Any = None) -> None:
        super().__init__(name, reduction, dtype)


def _check_name(name: Any, owner: str, default: str) -> str | None:
    """`name` (None: the `default` is meant), checked to be a non-empty str; shared by losses and metrics."""
    if name is not None and (not isinstance(name, str) or not name):
        raise TypeError(f"{owner}: name must be a non-empty str (or None for {default!r}), got {name!r:.40}")
    return name


def _float_dtype(dtype: Any, owner: str) -> str:
    """A float dtype's name ("float32"), from anything NumPy reads as one."""
    try:
        kind = np.dtype(dtype)
    except TypeError:
        kind = None
    if kind is None or kind.kind != "f":
        raise ValueError(f"{owner}: dtype must be a float dtype such as 'float32' or 'float64' (or None for "
                         f"y_pred's own), got {dtype!r:.40}")
    return kind.name


class MeanSquaredError(_BuiltinLoss):
    """Mean of the squared differences."""

    function = staticmethod(mean_squared_error)
    name = "mean_squared_error"


class _Crossentropy(_BuiltinLoss):
    """A cross-entropy: its predictions are probabilities, or logits with `from_logits=True`."""

    def __init__(self, from_logits: bool = False, reduction: str = "mean", name: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(reduction, name, dtype)
        self.from_logits = flag(from_logits, "from_logits", type(self).__name__)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "from_logits": self.from_logits}


class _SmoothedCrossentropy(_Crossentropy):
    """A cross-entropy of dense targets, with Keras's `label_smoothing` and class `axis`."""

    def __init__(self, from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 reduction: str = "mean", name: str | None = None, dtype: Any = None) -> None:
        super().__init__(from_logits, reduction, name, dtype)
        owner = type(self).__name__
        self.label_smoothing = finite_number(label_smoothing, "label_smoothing", owner, 0.0, 1.0)
        self.axis = axis_index(axis, "axis", owner)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "label_smoothing": self.label_smoothing, "axis": self.axis}


class BinaryCrossentropy(_SmoothedCrossentropy):
    """Cross-entropy of independent yes/no outputs (sigmoid probabilities, or logits)."""

    function = staticmethod(binary_crossentropy)
    name = "binary_crossentropy"


class CategoricalCrossentropy(_SmoothedCrossentropy):
    """Cross-entropy of one-hot (or soft) targets against class probabilities or logits."""

    function = staticmethod(categorical_crossentropy)
    name = "categorical_crossentropy"


class SparseCategoricalCrossentropy(_Crossentropy):
    """Cross-entropy of integer class labels against class probabilities or logits."""

    function = staticmethod(sparse_categorical_crossentropy)
    name = "sparse_categorical_crossentropy"

    def __init__(self, from_logits: bool = False, ignore_class: int | None = None, reduction: str = "mean",
                 name: str | None = None, dtype: Any = None) -> None:
        super().__init__(from_logits, reduction, name, dtype)
        self.ignore_class = _ignore_class(ignore_class, "SparseCategoricalCrossentropy")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "ignore_class": self.ignore_class}


class MeanAbsoluteError(_BuiltinLoss):
    """Mean of the absolute differences."""

    function = staticmethod(mean_absolute_error)
    name = "mean_absolute_error"


class MeanAbsolutePercentageError(_BuiltinLoss):
    """Mean of the absolute differences in percent of the targets."""

    function = staticmethod(mean_absolute_percentage_error)
    name = "mean_absolute_percentage_error"


class MeanSquaredLogarithmicError(_BuiltinLoss):
    """Mean squared difference of log(1 + value)."""

    function = staticmethod(mean_squared_logarithmic_error)
    name = "mean_squared_logarithmic_error"


class Huber(_BuiltinLoss):
    """Squared error for errors up to `delta`, absolute error beyond (robust to outliers)."""

    function = staticmethod(huber)
    name = "huber_loss"

    def __init__(self, delta: float = 1.0, reduction: str = "mean", name: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(reduction, name, dtype)
        self.delta = _positive(delta, "delta", "Huber")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "delta": self.delta}


class Hinge(_BuiltinLoss):
    """Hinge loss of -1/1 (or 0/1) labels against scores."""

    function = staticmethod(hinge)
    name = "hinge"


class SquaredHinge(_BuiltinLoss):
    """Squared hinge loss of -1/1 (or 0/1) labels against scores."""

    function = staticmethod(squared_hinge)
    name = "squared_hinge"


class CategoricalHinge(_BuiltinLoss):
    """Hinge loss of one-hot labels: the best wrong score against the true one."""

    function = staticmethod(categorical_hinge)
    name = "categorical_hinge"


class KLDivergence(_BuiltinLoss):
    """Kullback-Leibler divergence of the predicted distribution from the target one."""

    function = staticmethod(kl_divergence)
    name = "kl_divergence"


class Poisson(_BuiltinLoss):
    """Poisson negative log-likelihood (up to a constant) of counts given predicted rates."""

    function = staticmethod(poisson)
    name = "poisson"


class LogCosh(_BuiltinLoss):
    """log(cosh(error)): squared error near zero, absolute error far away."""

    function = staticmethod(log_cosh)
    name = "log_cosh"


class CosineSimilarity(_BuiltinLoss):
    """Negative cosine similarity along `axis` (-1 when the directions agree)."""

    function = staticmethod(cosine_similarity)
    name = "cosine_similarity"

    def __init__(self, axis: int = -1, reduction: str = "mean", name: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(reduction, name, dtype)
        self.axis = axis_index(axis, "axis", "CosineSimilarity")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kl_divergence
logcosh = log_cosh

# the names Keras reads in compile(loss=...); the lower-cased class names are added below
_NAMES: dict[str, type[Loss]] = {
    "mse": MeanSquaredError, "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError, "mean_absolute_error": MeanAbsoluteError,
    "mape": MeanAbsolutePercentageError, "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError, "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "huber": Huber, "huber_loss": Huber, "hinge": Hinge, "squared_hinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge, "kl_divergence": KLDivergence, "kld": KLDivergence,
    "poisson": Poisson, "log_cosh": LogCosh, "logcosh": LogCosh, "cosine_similarity": CosineSimilarity,
    "binary_crossentropy": BinaryCrossentropy, "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
}
_BY_NAME: dict[str, type[Loss]] = {**_NAMES, **{cls.__name__.lower(): cls for cls in _NAMES.values()}}


def get(identifier: Any) -> Callable[[Any, Any], Tensor]:
    """A loss from a Keras name ("mse", "sparse_categorical_crossentropy", ...), a config, an instance
    or any callable `f(y_true, y_pred)`."""
    if isinstance(identifier, Loss) or (callable(identifier) and not isinstance(identifier, type)):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if isinstance(identifier, dict) and "class_name" in identifier:  # what `serialize` wrote
        cls = _BY_NAME.get(str(identifier["class_name"]).lower())
        if cls is None:
            raise ValueError(f"unknown loss class {identifier['class_name']!r}; known: {_names()}")
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.lower())
        if cls is None:
            raise ValueError(f"unknown loss {identifier!r}; known names: {_names()}")
        return cls()
    raise TypeError(f"a loss must be a name such as 'sparse_categorical_crossentropy', a Loss or a callable "
                    f"f(y_true, y_pred), got {identifier!r}")


def serialize(loss: Any) -> dict[str, Any] | None:
    """{"class_name", "config"} for a built-in Loss; None for a plain callable or a Loss of your own
    (a file cannot hold its code)."""
    if isinstance(loss, Loss) and _BY_NAME.get(type(loss).__name__.lower()) is type(loss):
        return {"class_name": type(loss).__name__, "config": loss.get_config()}
    return None


def _names() -> str:
    return ", ".join(sorted(_NAMES))
