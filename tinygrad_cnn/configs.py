"""Built-in objects to and from {"class_name": ..., "config": {...}}, the form Keras's configs take.

Only classes from the caller's fixed table are ever built, so reading a config (say, from a model file)
never runs code it names. Initializers, regularizers, constraints and learning-rate schedules share these
rules (and `config_repr`, their repr, which losses use too); `Configured` is the base of the first three,
and a `Family` describes each of them to the one `get`/`serialize`/`deserialize` they share.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


def to_config(obj: Any, classes: Mapping[str, type], kind: str, custom: str, instead: str) -> dict[str, Any]:
    """{"class_name", "config"} for an instance of one of `classes`; anything else is refused, saying what
    to use `instead` (`custom` says what it is: "callable" or "class")."""
    name = type(obj).__name__
    if classes.get(name) is not type(obj):
        raise ValueError(f"the {kind} {obj!r:.60} is a custom {custom}, which a config cannot hold (it would "
                         f"have to run code); {instead}")
    return {"class_name": name, "config": obj.get_config()}


def config_repr(obj: Any) -> str:
    """`Name(argument=value, ...)` from obj.get_config(); the plain object repr for a custom class without one."""
    try:
        config = obj.get_config()
    except NotImplementedError:  # a custom class that defines no config
        return object.__repr__(obj)
    return f"{type(obj).__name__}({', '.join(f'{k}={v!r}' for k, v in config.items())})"


def from_config(config: Mapping[str, Any], classes: Mapping[str, type], kind: str) -> Any:
    """The object `config` describes, if its class_name is one of `classes` (a missing "config" is {})."""
    name, arguments = config.get("class_name"), config.get("config", {})
    if not isinstance(name, str) or name not in classes or not isinstance(arguments, Mapping):
        raise ValueError(f"{kind} config must be {{'class_name': one of {', '.join(classes)}, 'config': {{...}}}}, "
                         f"got {dict(config)!r:.100}")
    try:
        return classes[name].from_config(arguments)
    except TypeError as e:   # an argument the class does not take, or one it needs and the config lacks
        raise ValueError(f"cannot build {name} from the config {dict(arguments)}: {e}") from None


class Configured:
    """The base of objects a config rebuilds (initializers, regularizers): built from `get_config()`'s
    output, shown by it, and equal when of one class with equal arguments."""

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Any:
        """A new object from `get_config()`'s output."""
        return cls(**config)

    def __repr__(self) -> str:
        return config_repr(self)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash(type(self).__name__)



def _a(word: str) -> str:
    """`word` with its indefinite article: "an initializer", "a constraint"."""
    return f"{'an' if word[0].lower() in 'aeiou' else 'a'} {word}"


@dataclass(frozen=True)
class Family:
    """A family of configured objects (initializers, regularizers, constraints): what its `get`, `serialize`
    and `deserialize` need to know, and those three, the same for every family."""

    base: type                            # the family's base class; its name in lower case is the family's noun
    classes: Mapping[str, type]           # the built-in classes, which configs may name
    names: Mapping[str, Callable[[], Any]]  # the string identifiers (matched in lower case) and what each makes
    name: str                             # an identifier the messages show, such as "max_norm"
    example: str                          # an object the messages show, such as "tc.constraints.MaxNorm(3)"
    signature: str                        # what a callable of one's own does, such as "w -> Tensor"

    @property
    def noun(self) -> str:
        """The family's noun in messages: "initializer", "regularizer", "constraint"."""
        return self.base.__name__.lower()

    def get(self, identifier: Any) -> Any:
        """The object `identifier` stands for: None and instances as they are, a name (an identifier in any
        case, or a class name), a config dict, a class (built with its defaults), a callable of one's own."""
        if identifier is None or isinstance(identifier, self.base):
            return identifier
        if isinstance(identifier, str):
            make = self.names.get(identifier.lower()) or self.classes.get(identifier)
            if make is None:
                known = dict.fromkeys([*self.names, *self.classes])  # in order, each once
                raise ValueError(f"unknown {self.noun} {identifier!r}; known names: {', '.join(known)} "
                                 f"(or pass {self.example}, or a callable {self.signature})")
            return make()
        if isinstance(identifier, Mapping):  # class_name: a class name, or an identifier that names a class
            named = {name: make for name, make in self.names.items() if isinstance(make, type)}
            return from_config(identifier, {**self.classes, **named}, _a(self.noun))
        if isinstance(identifier, type) and issubclass(identifier, self.base):
            return identifier()
        cls = identifier if isinstance(identifier, type) else type(identifier)
        if issubclass(cls, Configured):   # another family's: callable too, but it would compute something else
            family = next(c for c in cls.__mro__ if Configured in c.__bases__).__name__.lower()
            raise TypeError(f"{identifier!r:.60} is {_a(family)}, not {_a(self.noun)}: pass {_a(self.noun)} such "
                            f"as {self.example} or a name such as {self.name!r}")
        if callable(identifier):
            return identifier
        raise TypeError(f"{_a(self.noun)} must be None, a name such as {self.name!r}, {_a(self.base.__name__)} "
                        f"such as {self.example} or a callable {self.signature}, got "
                        f"{type(identifier).__name__} {identifier!r:.60}")

    def serialize(self, obj: Any) -> dict[str, Any] | None:
        """{"class_name", "config"} for an object of a built-in class (None for None); a custom callable or
        class cannot be named."""
        if obj is None:
            return None
        return to_config(obj, self.classes, self.noun, "callable",
                         f"use a name such as {self.name!r} or one of {', '.join(self.classes)} to save the "
                         "architecture, or save the weights alone (model.save_weights, "
                         "ModelCheckpoint(save_weights_only=True))")

    def deserialize(self, config: Mapping[str, Any]) -> Any:
        """The object `serialize`'s output {"class_name", "config"} describes (Keras's other keys are ignored)."""
        if not isinstance(config, Mapping):
            raise TypeError(f"deserialize takes what serialize returned, {{'class_name': ..., 'config': {{...}}}}, "
                            f"got {type(config).__name__} {config!r:.60}; for a name such as {self.name!r} use get")
        return self.get(config)
