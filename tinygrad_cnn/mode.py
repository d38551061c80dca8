"""Recording mode: whether ops are recorded, which layer scope they run in, and debugging switches."""
from __future__ import annotations

import contextlib
import functools
import inspect
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from .arguments import flag

F = TypeVar("F", bound=Callable[..., Any])


class _ThreadMode:
    """One thread's recording state."""

    __slots__ = ("grad_enabled", "scope")

    def __init__(self) -> None:
        self.grad_enabled = True   # record ops so that backward can run
        self.scope: Any = None     # innermost layer scope (see `scope`), or None


class _ThreadModes(threading.local):
    """Each thread's _ThreadMode (`.current`), made the first time the thread looks: a new thread records."""

    def __init__(self) -> None:
        self.current = _ThreadMode()


class _RecordingMode:
    """The one piece of global state: how ops are recorded right now.

    Grad mode and the layer scope belong to each thread, as PyTorch's grad mode does: one thread's
    `no_grad` does not stop another's recording. The debugging switches hold for the whole process,
    as PyTorch's anomaly mode. Our own worker threads (parallel.py) run plain NumPy kernels for the
    calling thread and never read MODE or record an op.
    """

    __slots__ = ("anomaly", "record_sites", "keep_inputs", "threads")

    def __init__(self) -> None:
        self.anomaly = False       # check every forward output and gradient for NaN/Inf
        self.record_sites = False  # remember the user's file and line for every op
        self.keep_inputs = False   # keep every recorded op's inputs as ctx.inputs (gradcheck's blame)
        self.threads = _ThreadModes()   # per-op code reads `MODE.threads.current` once (a thread-local lookup)

    @property
    def grad_enabled(self) -> bool:
        """Whether this thread records ops."""
        return self.threads.current.grad_enabled

    @grad_enabled.setter
    def grad_enabled(self, enabled: bool) -> None:
        self.threads.current.grad_enabled = enabled

    @property
    def scope(self) -> Any:
        """This thread's innermost layer scope, or None."""
        return self.threads.current.scope

    @scope.setter
    def scope(self, scope: Any) -> None:
        self.threads.current.scope = scope

    @property
    def plain_backward(self) -> bool:
        """Whether a backward formula may run on plain arrays: first order (nothing to record) and no
        anomaly check (which checks every op inside a backward formula on its own)."""
        return not (self.threads.current.grad_enabled or self.anomaly)


MODE = _RecordingMode()


def is_grad_enabled() -> bool:
    """True when ops are being recorded for backward."""
    return MODE.grad_enabled


class _GradMode(contextlib.ContextDecorator):
    """Context manager and decorator: recording is `mode` inside (None: left as it is), and restored after."""

    def __init__(self, mode: bool | None) -> None:
        self.mode = mode
        self.previous: list[bool] = []

    def __enter__(self) -> None:
        self.previous.append(MODE.grad_enabled)
        if self.mode is not None:
            MODE.grad_enabled = self.mode

    def __exit__(self, *exc: object) -> None:
        MODE.grad_enabled = self.previous.pop()

    def _recreate_cm(self) -> _GradMode:
        """A fresh context for each call of a decorated function, so that calls on several threads at once
        each restore their own thread's mode."""
        return _GradMode(self.mode)

    def __call__(self, func: F) -> F:
        if not inspect.isgeneratorfunction(func):
            return super().__call__(func)
        return _each_step(func, self.mode)   # as in PyTorch: the mode holds inside each step, not between them


def _each_step(func: Callable[..., Any], mode: bool | None) -> Any:
    """Wrap a generator function so that every step of its generators runs with grad mode `mode`
    (the caller's own mode is back while it holds a yielded value)."""
    @functools.wraps(func)
    def generator(*args: Any, **kwargs: Any) -> Any:
        steps = func(*args, **kwargs)
        resume, value = steps.send, None
        while True:
            try:
                with _GradMode(mode):
                    request = resume(value)
            except StopIteration as stop:
                return stop.value
            try:
                value, resume = (yield request), steps.send
            except GeneratorExit:
                with _GradMode(mode):
                    steps.close()
                raise
            except BaseException as error:   # thrown in by the caller: raised inside, at the paused step
                value, resume = error, steps.throw
    return generator


class set_grad_enabled(_GradMode):
    """Turn recording on or off, as in PyTorch: at once when called (`tc.set_grad_enabled(False)`),
    or for a `with` block or a decorated function, restoring the previous mode after."""

    def __init__(self, mode: bool) -> None:
        super().__init__(flag(mode, "mode", "set_grad_enabled"))
        self.previous.append(MODE.grad_enabled)
        MODE.grad_enabled = self.mode
        self._entered_at_init = True   # a `with` that follows owns this change (and undoes it on exit)

    def __enter__(self) -> None:
        if self._entered_at_init:   # the mode to restore was saved by __init__
            self._entered_at_init = False
            MODE.grad_enabled = self.mode
        else:
            super().__enter__()

    def __call__(self, func: F) -> F:
        if self._entered_at_init:   # a decorator: undo the change made at construction; each call sets it anew
            self._entered_at_init = False
            MODE.grad_enabled = self.previous.pop()
        return super().__call__(func)


class _FixedMode(_GradMode):
    """A grad mode without arguments, used as `with m():`, `@m()` or bare `@m`."""

    enabled: bool

    def __new__(cls, func: Callable[..., Any] | None = None) -> Any:
        if func is not None:  # bare `@m`: wrap like `@m()` (a plain function, fine on methods)
            return cls()(func)
        return super().__new__(cls)

    def __init__(self, func: Callable[..., Any] | None = None) -> None:
        super().__init__(self.enabled)


class no_grad(_FixedMode):
    """Nothing is recorded inside: `with tc.no_grad():`, `@tc.no_grad()` or `@tc.no_grad`."""

    enabled = False


class enable_grad(_FixedMode):
    """Recording is on inside, even within `no_grad`: `with tc.enable_grad():`, `@tc.enable_grad()` or bare."""

    enabled = True


class inference_mode(_GradMode):
    """PyTorch's name for inference: here the same as `no_grad` (`inference_mode(False)` changes nothing);
    `with tc.inference_mode():`, `@tc.inference_mode()` or bare `@tc.inference_mode`."""

    def __new__(cls, mode: Any = True) -> Any:
        if callable(mode):   # bare `@inference_mode`
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True) -> None:
        super().__init__(False if flag(mode, "mode", "inference_mode") else None)


class Scope:
    """A named region of the graph (one layer call); ops recorded inside point to it."""

    __slots__ = ("name", "kind", "parent", "owner", "__weakref__")

    def __init__(self, name: str, kind: str, parent: Scope | None, owner: Any = None) -> None:
        self.name, self.kind, self.parent, self.owner = name, kind, parent, owner

    @property
    def path(self) -> str:
        """Slash-joined names from the outermost scope down to this one."""
        names, scope = [], self
        while scope is not None:
            names.append(scope.name)
            scope = scope.parent
        return "/".join(reversed(names))

    @property
    def label(self) -> str:
        """The caption of a layer: `conv2d (Conv2D)`."""
        return layer_label(self.name, self.kind)

    def __repr__(self) -> str:
        return f"Scope({self.path!r}, kind={self.kind!r})"


def layer_label(name: str, kind: str | None) -> str:
    """`name (kind)`, or the name alone for a scope opened without a kind."""
    return f"{name} ({kind})" if kind else name


@contextlib.contextmanager
def scope(name: str, kind: str = "", owner: Any = None) -> Iterator[Scope]:
    """Open a scope: every op recorded inside remembers it (layers open one per call)."""
    opened = Scope(name, kind, MODE.scope, owner)
    MODE.scope = opened
    try:
        yield opened
    finally:
        MODE.scope = opened.parent


@contextlib.contextmanager
def _switch(attribute: str, value: bool) -> Iterator[None]:
    previous = getattr(MODE, attribute)
    setattr(MODE, attribute, value)
    try:
        yield
    finally:
        setattr(MODE, attribute, previous)


def recording_sites(enabled: bool = True) -> contextlib.AbstractContextManager[None]:
    """Remember the file and line of the user's call for every op recorded inside."""
    return _switch("record_sites", enabled)


def keeping_inputs(enabled: bool = True) -> contextlib.AbstractContextManager[None]:
    """Every op recorded inside keeps its positional inputs as `ctx.inputs` (to re-check it alone)."""
    return _switch("keep_inputs", enabled)
