"""Learning-rate schedules with Keras 3's names and formulas (`tc.optimizers.schedules`).

A schedule is a callable `schedule(step) -> learning rate`; an optimizer given one as `learning_rate`
uses schedule(iterations) for each step, where iterations counts its steps from 0:
    opt = tc.optimizers.Adam(learning_rate=tc.optimizers.schedules.ExponentialDecay(1e-3, 1000, 0.9))
"""
from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np

from .arguments import flag, is_int, number
from .configs import config_repr, from_config, to_config


def _real(value: Any, argument: str, owner: str, low: float = 0.0, high: float = math.inf,
          positive: bool = False) -> float:
    """A finite number in [low, high] (above low with `positive`); an int stays an int (for the config)."""
    real = number(value, argument, owner, -math.inf, math.inf)
    if not math.isfinite(real) or real < low or real > high or (positive and real == low):
        wanted = f"> {low:g}" if positive else f">= {low:g}" if high == math.inf else f"in [{low:g}, {high:g}]"
        raise ValueError(f"{owner}: {argument} must be a finite number {wanted}, got {value}")
    return int(value) if is_int(value) else real


class LearningRateSchedule:
    """Base class: `__call__(step) -> float`, with a config that rebuilds the schedule."""

    def __call__(self, step: Any) -> float:
        """The learning rate at optimizer step `step` (0 for the first step)."""
        return self.rate(_step(step, type(self).__name__))

    def rate(self, step: float) -> float:
        """The formula, for a checked step >= 0."""
        raise NotImplementedError(f"{type(self).__name__} must define rate(step) -> float")

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (JSON-friendly)."""
        raise NotImplementedError(f"{type(self).__name__} must define get_config() to be saved with the optimizer")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LearningRateSchedule:
        """A new schedule from `get_config()`'s output."""
        return cls(**config)

    def __repr__(self) -> str:
        return config_repr(self)


def _step(step: Any, owner: str) -> float:
    """The optimizer step as a float; a negative, infinite or NaN step is an error."""
    return number(step, "step (the optimizer's step count)", owner, 0.0, math.inf, high_open=True)


class ExponentialDecay(LearningRateSchedule):
    """initial_learning_rate * decay_rate ** (step / decay_steps); with `staircase` the exponent is
    floored, so the rate drops every decay_steps steps."""

    def __init__(self, initial_learning_rate: float, decay_steps: float, decay_rate: float, staircase: bool = False,
                 name: str = "ExponentialDecay") -> None:
        owner = type(self).__name__
        self.initial_learning_rate = _real(initial_learning_rate, "initial_learning_rate", owner)
        self.decay_steps = _real(decay_steps, "decay_steps", owner, positive=True)
        self.decay_rate = _real(decay_rate, "decay_rate", owner)
        self.staircase = flag(staircase, "staircase", owner)
        self.name = name

    def rate(self, step: float) -> float:
        p = step / self.decay_steps
        return self.initial_learning_rate * self.decay_rate ** (math.floor(p) if self.staircase else p)

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class InverseTimeDecay(ExponentialDecay):
    """initial_learning_rate / (1 + decay_rate * step / decay_steps); with `staircase` the ratio
    step / decay_steps is floored."""

    def __init__(self, initial_learning_rate: float, decay_steps: float, decay_rate: float, staircase: bool = False,
                 name: str = "InverseTimeDecay") -> None:
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def rate(self, step: float) -> float:
        p = step / self.decay_steps
        return self.initial_learning_rate / (1 + self.decay_rate * (math.floor(p) if self.staircase else p))


class PiecewiseConstantDecay(LearningRateSchedule):
    """values[0] while step <= boundaries[0], values[i] while boundaries[i-1] < step <= boundaries[i],
    values[-1] after the last boundary."""

    def __init__(self, boundaries: Any, values: Any, name: str = "PiecewiseConstant") -> None:
        owner = type(self).__name__
        boundaries, values = (given.tolist() if isinstance(given, np.ndarray) and given.ndim == 1 else given
                              for given in (boundaries, values))  # 1-D arrays too, as Keras takes them
        for argument, given in (("boundaries", boundaries), ("values", values)):
            if not isinstance(given, (list, tuple)):
                raise TypeError(f"{owner}: {argument} must be a list of numbers, got {type(given).__name__} "
                                f"{given!r:.60}")
        if len(boundaries) != len(values) - 1:
            raise ValueError(f"{owner}: values needs one more entry than boundaries (one rate before, between and "
                             f"after the boundaries), got {len(boundaries)} boundaries {list(boundaries)} and "
                             f"{len(values)} values {list(values)}")
        self.boundaries = [_real(b, f"boundaries[{i}]", owner, -math.inf) for i, b in enumerate(boundaries)]
        self.values = [_real(v, f"values[{i}]", owner) for i, v in enumerate(values)]
        for i in range(1, len(self.boundaries)):
            if self.boundaries[i] <= self.boundaries[i - 1]:
                raise ValueError(f"{owner}: boundaries must be strictly increasing, got {list(boundaries)} "
                                 f"(boundaries[{i}] = {boundaries[i]} <= boundaries[{i - 1}] = {boundaries[i - 1]})")
        self.name = name

    def rate(self, step: float) -> float:
        return self.values[bisect.bisect_left(self.boundaries, step)]  # the number of boundaries below step

    def get_config(self) -> dict[str, Any]:
        return {"boundaries": list(self.boundaries), "values": list(self.values), "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """(initial - end) * (1 - step / decay_steps) ** power + end, with step capped at decay_steps; with
    `cycle`, decay_steps grows to the first multiple of itself not below step instead."""

    def __init__(self, initial_learning_rate: float, decay_steps: float, end_learning_rate: float = 0.0001,
                 power: float = 1.0, cycle: bool = False, name: str = "PolynomialDecay") -> None:
        owner = type(self).__name__
        self.initial_learning_rate = _real(initial_learning_rate, "initial_learning_rate", owner)
        self.decay_steps = _real(decay_steps, "decay_steps", owner, positive=True)
        self.end_learning_rate = _real(end_learning_rate, "end_learning_rate", owner)
        self.power = _real(power, "power", owner)
        self.cycle = flag(cycle, "cycle", owner)
        self.name = name

    def rate(self, step: float) -> float:
        decay_steps = self.decay_steps
        if self.cycle:  # step 0 keeps one period
            decay_steps *= max(1, math.ceil(step / decay_steps))
        else:
            step = min(step, decay_steps)
        fraction = 1 - step / decay_steps
        return (self.initial_learning_rate - self.end_learning_rate) * fraction ** self.power + self.end_learning_rate

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                "name": self.name}


class CosineDecay(LearningRateSchedule):
    """Cosine decay from a start rate to alpha times it over decay_steps, after an optional linear warmup.

    Without `warmup_target`: start = initial_learning_rate and, with s = min(step, decay_steps),
    rate = start * ((1 - alpha) * (1 + cos(pi * s / decay_steps)) / 2 + alpha).
    With it: the rate rises linearly from initial_learning_rate to warmup_target over warmup_steps,
    then decays from warmup_target as above, counting steps from the end of the warmup.
    """

    def __init__(self, initial_learning_rate: float, decay_steps: float, alpha: float = 0.0, name: str = "CosineDecay",
                 warmup_target: float | None = None, warmup_steps: int = 0) -> None:  # Keras's order
        owner = type(self).__name__
        self.initial_learning_rate = _real(initial_learning_rate, "initial_learning_rate", owner)
        self.decay_steps = _real(decay_steps, "decay_steps", owner, positive=True)
        self.alpha = _real(alpha, "alpha", owner, high=1.0)
        self.warmup_target = None if warmup_target is None else _real(warmup_target, "warmup_target", owner)
        self.warmup_steps = _real(warmup_steps, "warmup_steps", owner)
        self.name = name

    def rate(self, step: float) -> float:
        start = self.initial_learning_rate
        if self.warmup_target is not None:
            step = min(step, self.decay_steps + self.warmup_steps)
            if step < self.warmup_steps:
                return (self.warmup_target - start) * step / self.warmup_steps + start
            start, step = self.warmup_target, step - self.warmup_steps
        fraction = min(step, self.decay_steps) / self.decay_steps
        return start * ((1 - self.alpha) * 0.5 * (1 + math.cos(math.pi * fraction)) + self.alpha)

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "warmup_target": self.warmup_target, "warmup_steps": self.warmup_steps,
                "name": self.name}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR): the first period lasts first_decay_steps steps, each next one
    t_mul times longer, and each starts m_mul times higher than the one before.

    In period i (i = 0, 1, ...), a fraction f of the way through it:
    rate = initial_learning_rate * ((1 - alpha) * m_mul**i * (1 + cos(pi * f)) / 2 + alpha).
    """

    def __init__(self, initial_learning_rate: float, first_decay_steps: float, t_mul: float = 2.0,
                 m_mul: float = 1.0, alpha: float = 0.0, name: str = "SGDRDecay") -> None:
        owner = type(self).__name__
        self.initial_learning_rate = _real(initial_learning_rate, "initial_learning_rate", owner)
        self.first_decay_steps = _real(first_decay_steps, "first_decay_steps", owner, positive=True)
        self.t_mul = _real(t_mul, "t_mul", owner, low=1.0)  # shorter periods would run out after a finite time
        self.m_mul = _real(m_mul, "m_mul", owner)
        self.alpha = _real(alpha, "alpha", owner, high=1.0)
        self.name = name

    def _start(self, period: int) -> float:
        """Where period `period` starts, in first periods: 1 + t_mul + ... + t_mul**(period - 1)."""
        return period if self.t_mul == 1 else (self.t_mul ** period - 1) / (self.t_mul - 1)

    def rate(self, step: float) -> float:
        done = step / self.first_decay_steps  # in first periods
        period = math.floor(done if self.t_mul == 1 else math.log1p(done * (self.t_mul - 1)) / math.log(self.t_mul))
        period += (self._start(period + 1) <= done) - (self._start(period) > done)  # a boundary's rounding
        fraction = (done - self._start(period)) / self.t_mul ** period
        cosine = self.m_mul ** period * 0.5 * (1 + math.cos(math.pi * fraction))
        return self.initial_learning_rate * ((1 - self.alpha) * cosine + self.alpha)

    def get_config(self) -> dict[str, Any]:
        return {"initial_learning_rate": self.initial_learning_rate, "first_decay_steps": self.first_decay_steps,
                "t_mul": self.t_mul, "m_mul": self.m_mul, "alpha": self.alpha, "name": self.name}


CLASSES: Mapping[str, type[LearningRateSchedule]] = MappingProxyType({cls.__name__: cls for cls in (
    CosineDecay, CosineDecayRestarts, ExponentialDecay, InverseTimeDecay, PiecewiseConstantDecay, PolynomialDecay)})


def serialize(schedule: LearningRateSchedule) -> dict[str, Any]:
    """{"class_name", "config"} for a built-in schedule; a custom one cannot be written to a file."""
    return to_config(schedule, CLASSES, "learning-rate schedule", "class",
                     f"use one of {', '.join(CLASSES)} to save it")


def deserialize(config: Any) -> LearningRateSchedule:
    """A schedule from `serialize`'s output; only the classes in CLASSES are built."""
    if not isinstance(config, Mapping) or "config" not in config:
        raise ValueError(f"a learning-rate schedule config must be {{'class_name': one of {', '.join(CLASSES)}, "
                         f"'config': {{...}}}}, got {config!r:.100}")
    return from_config(config, CLASSES, "a learning-rate schedule")
