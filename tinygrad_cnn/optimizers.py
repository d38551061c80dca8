"""Optimizers: SGD, Adam, AdamW and RMSprop, updating parameters in place.

Each takes Keras's form and PyTorch's form:
    model.compile(optimizer=tc.optimizers.Adam(1e-3), ...)      # Keras: the model binds its params
    tc.optimizers.Adam(learning_rate=1e-3, beta_1=0.9, clipnorm=1.0)
    opt = tc.optimizers.Adam(model.parameters(), lr=1e-3)        # PyTorch: your own loop
    opt.zero_grad(); loss.backward(); opt.step()
A number (or a schedule) as the first argument is the learning rate, as in Keras: a number is never a
parameter list. The learning rate is given once: first argument, `learning_rate=` or PyTorch's `lr=`.
Keras's other arguments go by keyword (`SGD(0.01, momentum=0.9)`).

The update rules are PyTorch's (tests compare them step by step). Where Keras differs:
- `epsilon` is added to sqrt(v_hat) in Adam (Keras adds it to sqrt(v) before bias correction) and
  to sqrt(v) in RMSprop (Keras adds it inside the square root);
- `weight_decay` of SGD, Adam and RMSprop is an L2 term added to the gradient (PyTorch's); AdamW's is
  decoupled, p -= learning_rate * weight_decay * p, with Keras's default 0.004 (PyTorch's is 0.01).
  None means the default (0.0; AdamW's 0.004).
Defaults are Keras's (Adam epsilon 1e-7, RMSprop rho 0.9).

Gradient clipping is Keras's, applied before the weight decay and the update, never to `.grad` itself:
`clipvalue` clips each entry to [-clipvalue, clipvalue]; `clipnorm` scales each gradient whose L2 norm
exceeds it down to that norm; `global_clipnorm` does the same for the norm of all gradients together.
At most one of the three may be set.

A weight with a `constraint` (a layer's kernel_constraint=..., add_weight(constraint=...)) is set to
constraint(weight) right after each update, as Keras does; weights without a gradient are not updated,
so not constrained either.

`learning_rate` may be a schedule from `tc.optimizers.schedules` (Keras's): step k (k = 0, 1, ...)
then uses schedule(k), and reading `optimizer.learning_rate` gives the rate of the next step.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from . import constraints, schedules
from .arguments import flag, is_number, number
from .mode import enable_grad, no_grad
from .tensor import Tensor

Rate = float | schedules.LearningRateSchedule  # a learning rate: a number or a schedule of the step


class Optimizer:
    """Base class: holds the parameters, per-parameter state (ndarrays) and the step count."""

    slots: tuple[str, ...] = ()  # names of the per-parameter state arrays
    default_learning_rate = 0.001
    default_weight_decay = 0.0
    default_name = "optimizer"   # Keras's name for the class

    def __init__(self, params: Iterable[Tensor] | Rate | None, learning_rate: Rate | None, weight_decay: float | None,
                 clipnorm: float | None, clipvalue: float | None, global_clipnorm: float | None, name: str | None,
                 lr: Rate | None) -> None:
        owner = type(self).__name__
        first = params if is_number(params) or isinstance(params, schedules.LearningRateSchedule) else None
        params = None if first is not None else params  # Keras's form: the first argument is the rate
        self._learning_rate: Rate = 0.0
        self.learning_rate = _one_rate(owner, first, learning_rate, lr, self.default_learning_rate)
        self._rate = 0.0  # the learning rate of the step being taken
        weight_decay = self.default_weight_decay if weight_decay is None else weight_decay
        self.weight_decay = number(weight_decay, "weight_decay", owner, 0.0, np.inf, high_open=True)
        self.clipnorm, self.clipvalue, self.global_clipnorm = (
            _clip_limit(clipnorm, "clipnorm", owner), _clip_limit(clipvalue, "clipvalue", owner),
            _clip_limit(global_clipnorm, "global_clipnorm", owner))
        limits = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        if sum(v is not None for v in limits.values()) > 1:
            given = ", ".join(f"{k}={v}" for k, v in limits.items() if v is not None)
            raise ValueError(f"{owner}: only one of clipnorm, clipvalue and global_clipnorm can be set, got {given}; "
                             "keep the one you mean")
        name = self.default_name if name is None else name
        if not isinstance(name, str) or not name:
            raise TypeError(f"{owner}: name must be a non-empty str (or None for {self.default_name!r}), "
                            f"got {name!r:.40}")
        self.name = name
        self.params: list[Tensor] | None = None
        self.iterations = 0
        self.state: list[dict[str, np.ndarray]] = []
        self._scratch: list[np.ndarray] = [np.empty(0, np.float32)] * 3  # reused work space for the updates
        if params is not None:
            self.bind(params)

    @property
    def learning_rate(self) -> float:
        """The learning rate of the next step: the number given, or schedule(iterations) for a schedule."""
        rate = self._learning_rate
        if not isinstance(rate, schedules.LearningRateSchedule):
            return rate
        value = rate(self.iterations)  # a schedule of your own may return anything: check it before a step uses it
        value = value.data if isinstance(value, Tensor) else value
        value = value[()] if isinstance(value, np.ndarray) and value.ndim == 0 else value
        return number(value, f"learning_rate (schedule {type(rate).__name__} at step {self.iterations})",
                      type(self).__name__, 0.0, np.inf, high_open=True)

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        owner = type(self).__name__
        if isinstance(value, schedules.LearningRateSchedule):
            self._learning_rate = value
            return
        if isinstance(self._learning_rate, schedules.LearningRateSchedule):
            schedule = type(self._learning_rate).__name__
            raise TypeError(f"{owner}: the learning rate follows the schedule {schedule}, so it cannot be set to "
                            f"{value!r:.40}; create the optimizer with a float learning_rate to "
                            "change it by hand or with a callback (or give it another schedule)")
        if callable(value):
            raise TypeError(f"{owner}: learning_rate must be a number or a schedule from tc.optimizers.schedules, "
                            f"got the callable {value!r:.60}; for a rule of your own, subclass "
                            "tc.optimizers.schedules.LearningRateSchedule and define rate(step)")
        self._learning_rate = number(value, "learning_rate", owner, 0.0, np.inf, high_open=True)

    # --- parameters ---
    def bind(self, params: Iterable[Tensor]) -> Optimizer:
        """Attach the parameters to update (compile calls this with the model's); returns self."""
        if isinstance(params, Tensor) or not isinstance(params, Iterable):
            hint = " (wrap a single tensor in a list: [w])" if isinstance(params, Tensor) else ""
            raise TypeError(f"{type(self).__name__}: params must be an iterable of Tensors such as "
                            f"model.parameters() or [w, b], got {type(params).__name__}{hint}")
        params = list(params)
        if self.params is not None:
            if len(params) == len(self.params) and all(a is b for a, b in zip(params, self.params, strict=True)):
                return self
            raise ValueError(f"this {type(self).__name__} is already bound to {len(self.params)} other parameters; "
                             "create a new optimizer for another model")
        if not params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list: the model has no trainable "
                             "weights (every layer is frozen, or it is not built yet: build it with an Input or "
                             "call it once on data first)")
        seen: set[int] = set()
        for i, p in enumerate(params):
            if isinstance(p, dict):
                raise TypeError(f"parameter {i} is a dict: PyTorch's parameter groups are not supported here; "
                                "an optimizer takes one list of tensors with one set of hyperparameters (make one "
                                "optimizer per group)")
            if not isinstance(p, Tensor):
                raise TypeError(f"parameter {i} is a {type(p).__name__}, not a Tensor; pass model.parameters()")
            if not p.is_leaf or p.dtype.kind != "f":
                raise ValueError(f"parameter {i} (shape {p.shape}, dtype {p.dtype}) must be a floating-point "
                                 "leaf tensor; an optimizer cannot update the result of an op")
            if id(p) in seen:
                raise ValueError(f"parameter {i} (shape {p.shape}) appears twice in the parameter list")
            seen.add(id(p))
        self.params = params
        self.state = [{} for _ in params]
        return self

    def rebind(self, params: Iterable[Tensor]) -> Optimizer:
        """Bind to the model's parameters again after they changed (a layer frozen, added or removed;
        fit does this): a parameter still present keeps its state. An empty list (every weight frozen) is
        taken, as Keras's fit takes such a model: steps then move nothing. Returns self."""
        kept = {id(p): state for p, state in zip(self.params or [], self.state, strict=True)}
        previous, self.params = self.params, None
        try:
            if isinstance(params, list) and not params:
                self.params = []
            else:
                self.bind(params)
        except (TypeError, ValueError):
            self.params = previous
            raise
        self.state = [kept.get(id(p), {}) for p in self.params]
        return self

    def _bound(self) -> list[Tensor]:
        if self.params is None:
            raise RuntimeError(f"{type(self).__name__} has no parameters: pass model.parameters() when creating "
                               "it, or give it to model.compile(optimizer=...)")
        return self.params

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: `.grad` becomes None (PyTorch's default) or, with set_to_none=False, zeros."""
        set_to_none = flag(set_to_none, "set_to_none", f"{type(self).__name__}.zero_grad")
        for p in self._bound():
            p.grad = None if set_to_none or p.grad is None else Tensor(np.zeros_like(p.grad.data))

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient, in place. As in PyTorch, `closure` (optional) is
        called first, with recording on, to compute the loss and its gradients; step returns what it returned."""
        if closure is not None and not callable(closure):
            raise TypeError(f"{type(self).__name__}.step: closure must be a function that computes the loss and "
                            f"calls backward, or None; got {type(closure).__name__} {closure!r:.40}")
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        self._apply()
        return loss

    def _apply(self) -> None:
        params = self._bound()
        self._rate = self.learning_rate  # read before the count moves: step k uses schedule(k), as in Keras
        self.iterations += 1
        total = 0.0  # the norm of all gradients together, for global_clipnorm
        if self.global_clipnorm is not None:
            total = math.sqrt(sum(_squares(p.grad.data) for p in params if p.grad is not None))
        with no_grad():
            for p, state in zip(params, self.state, strict=True):
                if p.grad is None:
                    continue
                if not state:
                    state.update({name: np.zeros_like(p.data) for name in self.slots})
                self._update(p.data, self._clipped(p.grad.data, total), state)
                if getattr(p, "constraint", None) is not None:   # a layer weight's projection, after each update
                    p.data[...] = constraints.project(p.constraint, p)
                p._version += 1  # the data changed in place: graphs that saved p must notice

    def _clipped(self, g: np.ndarray, total: float) -> np.ndarray:
        """g clipped by clipvalue, clipnorm or global_clipnorm (`total`: the norm of all gradients) in scratch
        array 2; g itself when none is set or its norm is within the limit. A NaN norm makes g NaN, as in Keras."""
        if self.clipvalue is not None:
            return np.clip(g, -self.clipvalue, self.clipvalue, out=self._work(g, 2))
        limit, norm = (self.clipnorm, math.sqrt(_squares(g))) if self.clipnorm is not None else \
            (self.global_clipnorm, total)
        if limit is None or norm <= limit:
            return g
        return np.multiply(g, limit / norm, out=self._work(g, 2))  # g * limit / norm: norm `limit`, same direction

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        """Change `p` in place from its gradient `g` (never modified) and its state arrays."""
        raise NotImplementedError

    def _work(self, like: np.ndarray, which: int) -> np.ndarray:
        """Scratch array `which` (0 to 2) with `like`'s shape and dtype: grown once, reused every step."""
        buffer = self._scratch[which]
        if buffer.size < like.size or buffer.dtype != like.dtype:
            buffer = self._scratch[which] = np.empty(like.size, like.dtype)
        return buffer[: like.size].reshape(like.shape)

    def _add_scaled(self, target: np.ndarray, scale: float, x: np.ndarray) -> None:
        """target += scale * x, through scratch array 1 (no new array)."""
        work = self._work(target, 1)
        np.multiply(x, scale, out=work)
        target += work

    def _decayed(self, p: np.ndarray, g: np.ndarray) -> np.ndarray:
        """g + weight_decay * p (PyTorch's L2 term) in scratch array 0; `g` itself without decay."""
        if not self.weight_decay:
            return g
        out = self._work(p, 0)
        np.multiply(p, self.weight_decay, out=out)
        out += g
        return out

    # --- configuration and state (for saving) ---
    def get_config(self) -> dict[str, Any]:
        """The hyperparameters (JSON-friendly), enough to recreate the optimizer."""
        rate = self._learning_rate
        if schedules.CLASSES.get(type(rate).__name__) is type(rate):  # a custom schedule stays an object
            rate = schedules.serialize(rate)
        return {"name": self.name, "learning_rate": rate, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "clipvalue": self.clipvalue, "global_clipnorm": self.global_clipnorm}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Optimizer:
        """A new optimizer from `get_config()`'s output (a schedule's config builds only a known schedule).

        Keras 3's configs load too: its settings we do not have (moving averages of the weights, loss
        scaling, gradient accumulation) are taken when they are off, and refused by name when on."""
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        use_ema = config.pop("use_ema", False)
        config.pop("ema_momentum", None)   # used only with use_ema
        for key, off in {"use_ema": False, "ema_overwrite_frequency": None, "loss_scale_factor": None,
                         "gradient_accumulation_steps": None}.items():
            value = use_ema if key == "use_ema" else config.pop(key, off)
            if value != off:
                raise ValueError(f"{cls.__name__}.from_config: {key}={value!r} is a Keras setting tinygrad_cnn "
                                 f"does not have; a config can be loaded with {key}={off!r} (off)")
        return cls(**config)

    def state_dict(self) -> dict[str, Any]:
        """Class, hyperparameters, step count and per-parameter state arrays (copies)."""
        return {
            "class_name": type(self).__name__,
            "config": self.get_config(),
            "iterations": self.iterations,
            "state": [{name: array.copy() for name, array in s.items()} for s in self.state],
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what `state_dict` returned; everything is checked before anything changes."""
        params = self._bound()
        name = state_dict.get("class_name", type(self).__name__)
        if name != type(self).__name__:
            raise ValueError(f"the optimizer state is a {name}'s; it cannot load into a {type(self).__name__}")
        fresh = type(self).from_config({**self.get_config(), **state_dict.get("config", {})})  # validates it
        states = state_dict["state"]
        if len(states) != len(params):
            raise ValueError(f"the optimizer state has {len(states)} parameters, this optimizer has {len(params)}")
        for i, (p, s) in enumerate(zip(params, states, strict=True)):
            if s and set(s) != set(fresh.slots):
                raise ValueError(f"the optimizer state of parameter {i} has arrays {sorted(s)}, "
                                 f"expected {sorted(fresh.slots)}")
            for slot, array in s.items():
                if np.shape(array) != p.shape:
                    raise ValueError(f"optimizer state {slot!r} of parameter {i} has shape {np.shape(array)}, "
                                     f"but the parameter has shape {p.shape}")
        for key in fresh.get_config():
            key = "_learning_rate" if key == "learning_rate" else key  # a schedule, not its current value
            setattr(self, key, getattr(fresh, key))
        self.slots, self.iterations = fresh.slots, int(state_dict["iterations"])
        self.state = [{slot: np.array(a, dtype=p.dtype) for slot, a in s.items()}
                      for p, s in zip(params, states, strict=True)]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in {**self.get_config(), "learning_rate": self._learning_rate}.items())
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Gradient descent with optional momentum: buf = momentum * buf + g; p -= lr * buf.

    Nesterov: p -= lr * (g + momentum * buf). The buffer starts at zero, so buf = g on the first step.
    """

    default_learning_rate = 0.01
    default_name = "SGD"

    def __init__(self, params: Iterable[Tensor] | Rate | None = None, learning_rate: Rate | None = None, *,
                 momentum: float = 0.0, nesterov: bool = False, weight_decay: float | None = None,
                 clipnorm: float | None = None, clipvalue: float | None = None, global_clipnorm: float | None = None,
                 name: str | None = None, lr: Rate | None = None) -> None:
        self.momentum = number(momentum, "momentum", type(self).__name__, 0.0, 1.0, high_open=True)
        self.nesterov = flag(nesterov, "nesterov", type(self).__name__)
        if self.nesterov and not self.momentum:
            raise ValueError("nesterov=True needs momentum > 0 (got momentum=0.0)")
        self.slots = ("momentum",) if self.momentum else ()
        super().__init__(params, learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, lr)

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        g = self._decayed(p, g)
        if self.momentum:
            buf = state["momentum"]
            buf *= self.momentum
            buf += g
            if self.nesterov:
                self._add_scaled(p, -self._rate * self.momentum, buf)
            else:
                g = buf
        self._add_scaled(p, -self._rate, g)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adaptive moments: m, v are running means of g and g^2; p -= lr * m_hat / (sqrt(v_hat) + epsilon).

    m_hat = m / (1 - beta_1^t) and v_hat = v / (1 - beta_2^t) undo the bias of starting at zero.
    `amsgrad` uses the running maximum of v instead of v.
    """

    decoupled = False  # AdamW: weight decay shrinks p directly instead of adding to g
    default_name = "adam"

    def __init__(self, params: Iterable[Tensor] | Rate | None = None, learning_rate: Rate | None = None, *,
                 beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False,
                 weight_decay: float | None = None, clipnorm: float | None = None,
                 clipvalue: float | None = None, global_clipnorm: float | None = None, name: str | None = None,
                 lr: Rate | None = None) -> None:
        self.beta_1 = number(beta_1, "beta_1", type(self).__name__, 0.0, 1.0, high_open=True)
        self.beta_2 = number(beta_2, "beta_2", type(self).__name__, 0.0, 1.0, high_open=True)
        self.epsilon = number(epsilon, "epsilon", type(self).__name__, 0.0, np.inf, high_open=True)
        self.amsgrad = flag(amsgrad, "amsgrad", type(self).__name__)
        self.slots = ("m", "v", "v_max") if amsgrad else ("m", "v")
        super().__init__(params, learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, lr)

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        if self.decoupled:
            p *= 1 - self._rate * self.weight_decay
        else:
            g = self._decayed(p, g)
        m, v, t = state["m"], state["v"], self.iterations
        m *= self.beta_1
        self._add_scaled(m, 1 - self.beta_1, g)        # m = beta_1 m + (1 - beta_1) g
        denominator = self._work(p, 1)
        np.multiply(g, g, out=denominator)
        denominator *= 1 - self.beta_2
        v *= self.beta_2
        v += denominator                               # v = beta_2 v + (1 - beta_2) g^2
        if self.amsgrad:
            v = np.maximum(state["v_max"], v, out=state["v_max"])
        np.sqrt(v, out=denominator)
        denominator /= np.sqrt(1 - self.beta_2 ** t)
        denominator += self.epsilon                    # sqrt(v_hat) + epsilon
        step = self._work(p, 0)                        # g is no longer needed: reuse its scratch
        np.divide(m, denominator, out=step)
        step *= self._rate / (1 - self.beta_1 ** t)
        p -= step

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr * weight_decay, then the Adam step on g alone."""

    decoupled = True
    default_weight_decay = 0.004
    default_name = "adamw"


class RMSprop(Optimizer):
    """Divide by a running root mean square: v = rho v + (1 - rho) g^2; p -= lr * g / (sqrt(v) + epsilon).

    `centered` subtracts the squared running mean of g (an estimate of the variance); `momentum`
    accumulates the scaled steps in a buffer as SGD does.
    """

    default_name = "rmsprop"

    def __init__(self, params: Iterable[Tensor] | Rate | None = None, learning_rate: Rate | None = None, *,
                 rho: float = 0.9, momentum: float = 0.0, epsilon: float = 1e-7, centered: bool = False,
                 weight_decay: float | None = None, clipnorm: float | None = None,
                 clipvalue: float | None = None, global_clipnorm: float | None = None, name: str | None = None,
                 lr: Rate | None = None) -> None:
        self.rho = number(rho, "rho", type(self).__name__, 0.0, 1.0, high_open=True)
        self.momentum = number(momentum, "momentum", type(self).__name__, 0.0, 1.0, high_open=True)
        self.epsilon = number(epsilon, "epsilon", type(self).__name__, 0.0, np.inf, high_open=True)
        self.centered = flag(centered, "centered", type(self).__name__)
        self.slots = ("v",) + (("mean",) if centered else ()) + (("momentum",) if self.momentum else ())
        super().__init__(params, learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, lr)

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        g = self._decayed(p, g)
        v, denominator = state["v"], self._work(p, 1)
        np.multiply(g, g, out=denominator)
        denominator *= 1 - self.rho
        v *= self.rho
        v += denominator                               # v = rho v + (1 - rho) g^2
        if self.centered:
            mean = state["mean"]
            mean *= self.rho
            self._add_scaled(mean, 1 - self.rho, g)    # mean = rho mean + (1 - rho) g
            np.multiply(mean, mean, out=denominator)
            np.subtract(v, denominator, out=denominator)  # v - mean^2
            np.sqrt(denominator, out=denominator)
        else:
            np.sqrt(v, out=denominator)
        denominator += self.epsilon
        np.divide(g, denominator, out=denominator)     # the step direction g / (sqrt(.) + epsilon)
        if self.momentum:
            buf = state["momentum"]
            buf *= self.momentum
            buf += denominator
            denominator = buf
        self._add_scaled(p, -self._rate, denominator)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


_BY_NAME: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}


def get(identifier: Any) -> Optimizer:
    """An optimizer from a name ("sgd", "adam", "adamw", "rmsprop"), a config dict or an instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, dict) and "class_name" in identifier:  # what `serialize` wrote
        return _class(identifier["class_name"]).from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        return _class(identifier)()
    raise TypeError(f"an optimizer must be a name ({', '.join(_BY_NAME)}) or an Optimizer, got {identifier!r}")


def deserialize(config: dict[str, Any]) -> Optimizer:
    """The optimizer `serialize` described (Keras's deserialize): {"class_name", "config"}."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise TypeError(f"deserialize: config must be a dict such as serialize() returns, "
                        f"{{'class_name': 'Adam', 'config': {{...}}}}, got {config!r:.60}")
    return get(config)


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """{"class_name", "config"}: enough for `get` to build the same optimizer."""
    config = optimizer.get_config()
    if isinstance(config["learning_rate"], schedules.LearningRateSchedule):
        schedules.serialize(config["learning_rate"])  # a custom schedule: says why it cannot be written
    return {"class_name": type(optimizer).__name__, "config": config}


# Keras's second positional argument, which goes by keyword here (the second positional is PyTorch's lr)
_SECOND_KERAS_ARGUMENT = {"SGD": "momentum=0.9", "Adam": "beta_1=0.9", "AdamW": "beta_1=0.9", "RMSprop": "rho=0.9"}


def _one_rate(owner: str, first: Rate | None, learning_rate: Rate | None, lr: Rate | None, default: float) -> Rate:
    """The learning rate, given once: as the first argument (Keras), learning_rate= or lr= (PyTorch)."""
    given = {"first argument": first, "learning_rate": learning_rate, "lr": lr}
    given = {where: value for where, value in given.items() if value is not None}
    if len(given) > 1:
        both = " and ".join(f"{value!r:.30} ({where})" for where, value in given.items())
        raise TypeError(f"{owner} got the learning rate {len(given)} times: {both}; give it once, e.g. "
                        f"{owner}(0.001), {owner}(learning_rate=0.001) or {owner}(params, lr=0.001); Keras's other "
                        f"arguments go by keyword, e.g. {owner}(0.01, {_SECOND_KERAS_ARGUMENT.get(owner, 'name=...')})")
    return next(iter(given.values()), default)


def _clip_limit(value: float | None, argument: str, owner: str) -> float | None:
    """None (no clipping) or a number > 0."""
    if value is None:
        return None
    value = number(value, argument, owner, 0.0, np.inf)
    if value == 0:
        raise ValueError(f"{owner}: {argument} must be > 0, got 0; pass None (the default) for no clipping")
    return value


def _squares(g: np.ndarray) -> float:
    """The sum of g's squared entries, accumulated in float64."""
    return float(np.square(g, dtype=np.float64).sum())


def _class(name: str) -> type[Optimizer]:
    cls = _BY_NAME.get(str(name).lower())
    if cls is None:
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(_BY_NAME)}")
    return cls
