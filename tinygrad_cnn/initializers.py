"""Weight initializers with Keras 3's names, arguments, formulas and fan conventions.

An initializer is a callable `(shape, dtype=None) -> ndarray`. With `seed=None` (the default) it draws
from the generator `tc.manual_seed` seeds, so every call gives new values; with an int seed it draws from
its own generator started at that seed, so every call gives the same values (as a seeded Keras 3
initializer does). Layers take an initializer by name ("he_normal", "HeNormal", "random_normal", ...),
as an object (`RandomNormal(stddev=0.01)`, kept in configs as {"class_name", "config"}), or as a
callable of your own (which trains, but cannot be saved in a config).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from .arguments import is_int
from .configs import Configured, Family
from .creation import checked_shape, generator
from .tensor import as_dtype

# Keras draws "truncated_normal" variance-scaling weights from a normal cut at two standard deviations,
# whose standard deviation is this fraction of the uncut one; dividing by it restores the variance.
_TRUNCATED_STD = 0.87962566103423978

MODES = ("fan_in", "fan_out", "fan_avg")
DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


def compute_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """(fan_in, fan_out): Dense kernels (in, out); conv kernels (kh, kw, in_ch / groups, filters) scale both
    by the window size kh * kw, as Keras does."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    window = math.prod(shape[:-2])
    return shape[-2] * window, shape[-1] * window


def _real(value: Any, argument: str, owner: str, fix: str, low: float = -math.inf) -> float:
    """A finite real number >= low, else an error naming the initializer, the argument and the fix."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{owner}: {argument} must be a number, got {type(value).__name__} {value!r:.40}; {fix}")
    if not math.isfinite(value) or value < low:
        raise ValueError(f"{owner}: {argument} must be a finite number{f' >= {low}' if low > -math.inf else ''}, "
                         f"got {value}; {fix}")
    return float(value)


class Initializer(Configured):
    """Base class: `__call__(shape, dtype=None) -> ndarray`, with a config that rebuilds it."""

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must define __call__(shape, dtype=None) -> ndarray")

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (JSON-friendly)."""
        return {}

    def clone(self) -> Initializer:
        """A new initializer with the same arguments."""
        return type(self).from_config(self.get_config())

    def _checked(self, shape: Any, dtype: Any) -> tuple[tuple[int, ...], np.dtype]:
        """The shape as non-negative ints and the dtype (float32 when None)."""
        owner = f"{type(self).__name__} initializer"
        dtype = np.dtype(np.float32) if dtype is None else as_dtype(dtype, "dtype", owner)
        return checked_shape((shape,), owner), dtype


class Constant(Initializer):
    """Every value `value` (a scalar, as in Keras)."""

    def __init__(self, value: float = 0.0) -> None:
        self.value = _real(value, "value", "Constant", "pass one finite scalar such as Constant(0.1)")

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        shape, dtype = self._checked(shape, dtype)
        return np.full(shape, self.value, dtype)

    def get_config(self) -> dict[str, Any]:
        return {"value": self.value}


class Zeros(Initializer):
    """All zeros."""

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        return np.zeros(*self._checked(shape, dtype))


class Ones(Initializer):
    """All ones."""

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        return np.ones(*self._checked(shape, dtype))


class Identity(Initializer):
    """gain * the identity matrix (rectangular shapes get ones on the main diagonal); 2-D shapes only."""

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = _real(gain, "gain", "Identity", "pass a finite factor such as gain=1.0")

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        shape, dtype = self._checked(shape, dtype)
        if len(shape) != 2:
            raise ValueError(f"Identity initializer: only 2-D shapes (a Dense kernel) have an identity matrix, got "
                             f"shape {shape} of rank {len(shape)}; use Orthogonal for conv kernels")
        return (self.gain * np.eye(*shape)).astype(dtype)

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain}


class RandomInitializer(Initializer):
    """Base of the random initializers: `seed` None draws from tc.manual_seed's generator, an int from its own."""

    def __init__(self, seed: int | None = None) -> None:
        if seed is not None and not (is_int(seed) and seed >= 0):
            raise (ValueError if is_int(seed) else TypeError)(
                f"{type(self).__name__}: seed must be None (draw from tc.manual_seed's generator) or an int >= 0 "
                f"(the same values on every call), got {type(seed).__name__} {seed!r:.40}")
        self.seed = None if seed is None else int(seed)

    def _generator(self) -> np.random.Generator:
        return generator() if self.seed is None else np.random.default_rng(self.seed)

    def _checked(self, shape: Any, dtype: Any) -> tuple[tuple[int, ...], np.dtype]:
        shape, dtype = super()._checked(shape, dtype)
        if dtype.kind != "f":
            raise TypeError(f"{type(self).__name__} initializer draws floats; dtype {dtype} is not a float dtype "
                            "(use float32 or float64)")
        return shape, dtype

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


def _truncated_standard_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal samples, every one beyond two deviations drawn again (float64)."""
    z = rng.standard_normal(shape)
    outside = np.abs(z) > 2
    while outside.any():
        z[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(z) > 2
    return z


class RandomNormal(RandomInitializer):
    """Normal samples N(mean, stddev^2)."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        owner = type(self).__name__
        self.mean = _real(mean, "mean", owner, "pass a finite mean such as 0.0")
        self.stddev = _real(stddev, "stddev", owner, "pass a standard deviation such as 0.05", low=0.0)
        super().__init__(seed)

    def _standard(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        return rng.standard_normal(shape)

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        shape, dtype = self._checked(shape, dtype)
        return (self.mean + self.stddev * self._standard(self._generator(), shape)).astype(dtype)

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class TruncatedNormal(RandomNormal):
    """Normal samples N(mean, stddev^2), every one more than 2 * stddev from the mean drawn again."""

    def _standard(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        return _truncated_standard_normal(rng, shape)


class RandomUniform(RandomInitializer):
    """Uniform samples in [minval, maxval)."""

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None) -> None:
        self.minval = _real(minval, "minval", "RandomUniform", "pass a finite lower bound such as -0.05")
        self.maxval = _real(maxval, "maxval", "RandomUniform", "pass a finite upper bound such as 0.05")
        if self.minval > self.maxval:
            raise ValueError(f"RandomUniform: minval ({minval}) must not exceed maxval ({maxval}); swap them")
        super().__init__(seed)

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        shape, dtype = self._checked(shape, dtype)
        return self._generator().uniform(self.minval, self.maxval, shape).astype(dtype)

    def get_config(self) -> dict[str, Any]:
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


class VarianceScaling(RandomInitializer):
    """Zero-mean samples of variance scale / n, n = fan_in, fan_out or their mean (`mode`):
    "truncated_normal" (cut at two deviations, rescaled so the variance stays), "untruncated_normal" or
    "uniform" (U(-l, l), l = sqrt(3 * scale / n)); "normal" means "truncated_normal", as in Keras."""

    def __init__(self, scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal",
                 seed: int | None = None) -> None:
        owner = type(self).__name__
        self.scale = _real(scale, "scale", owner, "pass a positive factor such as 1.0 (2.0 for ReLU networks)")
        if self.scale <= 0:
            raise ValueError(f"{owner}: scale must be positive, got {scale}; pass a factor such as 1.0")
        if mode not in MODES:
            raise ValueError(f"{owner}: mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
        if not isinstance(distribution, str) or distribution.lower() not in (*DISTRIBUTIONS, "normal"):
            raise ValueError(f"{owner}: distribution must be one of {', '.join(map(repr, DISTRIBUTIONS))} "
                             f"(or 'normal', meaning 'truncated_normal'), got {distribution!r}")
        self.mode = mode
        self.distribution = {"normal": "truncated_normal"}.get(distribution.lower(), distribution.lower())
        super().__init__(seed)

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        shape, dtype = self._checked(shape, dtype)
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[self.mode]
        variance = self.scale / max(1.0, n)
        rng = self._generator()
        if self.distribution == "uniform":  # U(-l, l) has variance l^2 / 3
            limit = math.sqrt(3 * variance)
            return rng.uniform(-limit, limit, shape).astype(dtype)
        if self.distribution == "untruncated_normal":
            return (math.sqrt(variance) * rng.standard_normal(shape)).astype(dtype)
        return (math.sqrt(variance) / _TRUNCATED_STD * _truncated_standard_normal(rng, shape)).astype(dtype)

    def get_config(self) -> dict[str, Any]:
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution, **super().get_config()}


class _PresetVarianceScaling(VarianceScaling):
    """A VarianceScaling whose scale, mode and distribution the class fixes; only `seed` is left to choose."""

    preset: tuple[float, str, str]

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(*self.preset, seed=seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class GlorotUniform(_PresetVarianceScaling):
    """U(-l, l) with l = sqrt(6 / (fan_in + fan_out)) (Glorot and Bengio, 2010)."""

    preset = (1.0, "fan_avg", "uniform")


class GlorotNormal(_PresetVarianceScaling):
    """Truncated normal of variance 2 / (fan_in + fan_out)."""

    preset = (1.0, "fan_avg", "truncated_normal")


class HeUniform(_PresetVarianceScaling):
    """U(-l, l) with l = sqrt(6 / fan_in) (He et al., 2015), for ReLU networks."""

    preset = (2.0, "fan_in", "uniform")


class HeNormal(_PresetVarianceScaling):
    """Truncated normal of variance 2 / fan_in (He et al., 2015)."""

    preset = (2.0, "fan_in", "truncated_normal")


class LecunUniform(_PresetVarianceScaling):
    """U(-l, l) with l = sqrt(3 / fan_in) (LeCun et al., 1998)."""

    preset = (1.0, "fan_in", "uniform")


class LecunNormal(_PresetVarianceScaling):
    """Truncated normal of variance 1 / fan_in (for SELU networks)."""

    preset = (1.0, "fan_in", "truncated_normal")


class Orthogonal(RandomInitializer):
    """gain * Q, Q with orthonormal columns (or rows, when wider than tall) from the QR decomposition of
    a normal matrix; shapes of rank > 2 are made as the matrix (prod(shape[:-1]), shape[-1])."""

    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        self.gain = _real(gain, "gain", type(self).__name__, "pass a finite factor such as gain=1.0")
        super().__init__(seed)

    def __call__(self, shape: Any, dtype: Any = None) -> np.ndarray:
        shape, dtype = self._checked(shape, dtype)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal initializer: needs a shape of rank 2 or more (made as a matrix "
                             f"(prod(shape[:-1]), shape[-1])), got shape {shape} of rank {len(shape)}; "
                             "use another initializer for vectors, such as 'zeros' or RandomNormal")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = self._generator().standard_normal((max(rows, cols), min(rows, cols)))  # tall: (long side, short side)
        q, r = np.linalg.qr(a)  # q (long, short) with orthonormal columns, r (short, short) upper triangular
        q = q * np.where(np.diag(r) < 0, -1.0, 1.0)  # signs of r's diagonal: Q is uniform over orthogonal matrices
        if rows < cols:
            q = q.T  # (rows, cols) with orthonormal rows
        return (self.gain * q.reshape(shape)).astype(dtype)  # (rows, cols) -> shape

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain, **super().get_config()}


IdentityInitializer, OrthogonalInitializer = Identity, Orthogonal  # Keras 3 exports both names

# the classes a config may name (Keras 3's names and aliases); fixed, so that loading a file runs no other code
CLASSES: Mapping[str, type[Initializer]] = MappingProxyType({cls.__name__: cls for cls in (
    Constant, GlorotNormal, GlorotUniform, HeNormal, HeUniform, Identity, LecunNormal, LecunUniform, Ones,
    Orthogonal, RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling, Zeros)}
    | {"IdentityInitializer": IdentityInitializer, "OrthogonalInitializer": OrthogonalInitializer})

# the string identifiers: each class's snake_case name and Keras's short aliases
INITIALIZERS: Mapping[str, type[Initializer]] = MappingProxyType({
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal, "he_uniform": HeUniform, "he_normal": HeNormal,
    "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal, "random_normal": RandomNormal,
    "random_uniform": RandomUniform, "truncated_normal": TruncatedNormal, "variance_scaling": VarianceScaling,
    "orthogonal": Orthogonal, "identity": Identity, "constant": Constant, "zeros": Zeros, "ones": Ones,
    "normal": RandomNormal, "uniform": RandomUniform, "zero": Zeros, "one": Ones})

# the functions of earlier versions, now the classes' defaults: glorot_uniform(shape, dtype) still works
glorot_uniform, glorot_normal = GlorotUniform(), GlorotNormal()
he_uniform, he_normal = HeUniform(), HeNormal()
zeros, ones = Zeros(), Ones()


FAMILY = Family(Initializer, CLASSES, INITIALIZERS, "he_normal", "tc.initializers.RandomNormal(stddev=0.01)",
                "(shape, dtype) -> ndarray")


def serialize(initializer: Any) -> dict[str, Any] | None:
    """{"class_name", "config"} for a built-in initializer (None for None); a custom callable cannot be named."""
    return FAMILY.serialize(initializer)


def config_entry(initializer: Any) -> str | dict[str, Any] | None:
    """What a layer config holds: the name of a built-in initializer with its default arguments (as configs
    always did, so older files load), else `serialize`'s dict (None for None)."""
    if initializer is None:
        return None
    entry = serialize(initializer)
    defaults = type(initializer)()
    if initializer == defaults:
        return next(name for name, cls in INITIALIZERS.items() if cls is type(initializer))
    return entry


def deserialize(config: Mapping[str, Any]) -> Initializer:
    """An initializer from `serialize`'s output {"class_name", "config"} (Keras's other keys are ignored)."""
    return FAMILY.deserialize(config)


def get(identifier: Any) -> Callable[..., np.ndarray] | None:
    """An initializer from a name ("he_normal" or a class name such as "HeNormal"), a `serialize` dict, an
    Initializer class or instance, or a callable `(shape, dtype) -> ndarray` (returned as is); None stays
    None (as in Keras: a layer's weight then gets the default, glorot_uniform)."""
    return FAMILY.get(identifier)
