"""Built-in objects to and from {"class_name": ..., "config": {...}}, the form Keras's configs take.

Only classes from the caller's fixed table are ever built, so reading a config (say, from a model file)
never runs code it names. Initializers, regularizers and learning-rate schedules share these rules
(and `config_repr`, their repr, which losses use too); `Configured` is the base of initializers and
regularizers.
"""
from __future__ import annotations

from collections.abc import Mapping
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

