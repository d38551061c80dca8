"""`Function`: one differentiable op. Its instance is the context and the node of the graph."""
from __future__ import annotations

from types import MappingProxyType
from typing import Any

import numpy as np

from .anomaly import check_forward, user_site
from .mode import MODE
from .tensor import Tensor

_NO_KEYWORDS: MappingProxyType[str, Any] = MappingProxyType({})   # op_args of a call without keywords


class Function:
    """Subclass with static `forward(ctx, *args)` and `backward(ctx, grad_output)`; call `.apply(...)`.

    `forward` gets Tensors (recording is off inside) and returns an ndarray or a Tensor.
    `backward` returns one gradient (Tensor, ndarray or None) per positional input, written
    with Tensor ops so that gradients can themselves be differentiated (`create_graph=True`).
    """

    # Structure of the graph, kept after backward (so a released graph can still be drawn);
    # what backward needs lives in the instance __dict__ and is dropped by `release`.
    __slots__ = (
        "parents",           # per input: producing Function, leaf Tensor, or None (no gradient)
        "needs_input_grad",  # per input: does it require grad
        "op_args",           # keyword arguments of the call (axis, strides, ...)
        "out_shape", "out_dtype",
        "scope",             # the layer scope the op ran in (see mode.scope)
        "site",              # user's (file, line), when sites are recorded
        "_constant_inputs",  # per input, when some get no gradient: that input (None where it gets one)
        "released",
        "_saved", "_saved_versions",  # save_for_backward's tensors and their versions at save time (None: all 0)
        "__dict__", "__weakref__",
    )
    _hooks: Any = None   # the output tensor's TensorHooks (register_hook, retain_grad), in __dict__ when set

    # The output Tensor is deliberately not referenced (not even weakly): every object kept per op
    # is scanned by Python's cyclic GC, which dominates per-op cost in a large process. A live
    # output can be found as the saved input of a consumer (`_saved`) or among the user's tensors.

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("a Function subclass must define a static forward(ctx, *args)")

    @staticmethod
    def backward(ctx: Any, grad_output: Any) -> Any:
        raise NotImplementedError("a Function subclass must define a static backward(ctx, grad_output)")

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Tensor:
        """Run forward on the data and, when any input requires grad, record the node."""
        ctx = cls()
        ctx.released, ctx._saved, ctx._saved_versions = False, (), None
        mode = MODE.threads.current   # this thread's grad mode and scope
        grad_enabled = mode.grad_enabled
        if grad_enabled:
            # one plain loop, not two comprehensions (each a function call in Python 3.11): saves 0.3 us an op
            wants: list[bool] = []      # per input: does it require grad
            parents: list[Any] = []     # per input: its producing Function, the leaf itself, or None
            for a in args:
                need = isinstance(a, Tensor) and a._requires_grad
                wants.append(need)
                parents.append((a._ctx or a) if need else None)
            needs = tuple(wants)
            record = True in needs
            mode.grad_enabled = False  # nothing inside forward is recorded
        else:  # nothing will flow back through this call
            needs, record = (False,) * len(args), False
        ctx.needs_input_grad = needs
        try:
            out = cls.forward(ctx, *args, **kwargs)
        except ValueError:
            check_broadcast(cls.__name__, args, kwargs)  # NumPy's own message names no op and no argument
            raise
        finally:
            if grad_enabled:
                mode.grad_enabled = True
        data = out if type(out) is np.ndarray else out.data if isinstance(out, Tensor) else _output_array(cls, out)
        if data.dtype.char in "deFDG":   # float64 or float16 (maybe not asked for), or complex
            data = _held_dtype(cls, data, args, kwargs)
        result = Tensor._make(data, ctx if record else None)
        if type(out) is not np.ndarray and isinstance(out, Tensor):   # forward's Tensor (it may have saved it):
            result._version_box = out._shared_version_box()            # one memory, one version counter
        elif data.base is not None:  # a view: share the version counter of the input it views
            for a in args:
                if isinstance(a, Tensor) and np.may_share_memory(data, a.data):
                    result._version_box = a._shared_version_box()
                    break
        if MODE.anomaly:
            check_forward(ctx, args, kwargs, data)
        if record:
            if kwargs:
                _check_keyword_tensors(cls, kwargs)
            ctx.parents = tuple(parents)
            ctx.op_args = kwargs or _NO_KEYWORDS   # no empty dict kept per op (one object less for the GC)
            ctx.out_shape, ctx.out_dtype = data.shape, data.dtype
            ctx.scope = mode.scope
            if False in needs:  # inputs without gradient: what a drawing of the graph shows of them
                constants = []   # (a plain loop, as above: 0.2 us less than a comprehension over zip)
                for a, need in zip(args, needs):
                    constants.append(None if need else a)
                ctx._constant_inputs = tuple(constants)
            ctx.site = user_site() if MODE.record_sites else None
            if MODE.keep_inputs:  # gradcheck's blame re-checks this op alone on these inputs
                ctx.inputs = args
        return result

    # --- the context side, as in torch.autograd.Function ---
    def save_for_backward(self, *tensors: Any) -> None:
        """Keep tensors for backward; modifying one in place afterwards is an error."""
        if True not in self.needs_input_grad:
            return  # not recorded: no backward will need them
        self._saved = tensors
        self._saved_versions = _versions(tensors)

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        """The tensors given to `save_for_backward`, checked against in-place changes."""
        if self.released:
            raise RuntimeError(_released_message(self))
        saved = self._saved
        if _versions(saved) == self._saved_versions:
            return saved
        for index, (t, version) in enumerate(zip(saved, self._saved_versions or (0,) * len(saved))):
            if _version(t) != version:
                raise RuntimeError(
                    f"saved tensor {index} of {self.name} (shape {t.shape}) was modified in place after "
                    f"the op ran (version {t._version}, saved at version {version}); its gradient would be "
                    "wrong. Use an out-of-place op (y = x + 1 instead of x += 1) or clone the tensor first."
                )
        return saved

    def release(self) -> None:
        """Drop everything saved for backward; the graph structure stays (for drawing)."""
        del self.__dict__   # what forward kept (ctx.mask...): no empty dict made when there was none
        self._saved, self._saved_versions = (), None
        self.released = True

    @property
    def constants(self) -> tuple[Any, ...]:
        """Per input without gradient, what a drawing shows of it: a number, or (shape, dtype, name); else None."""
        raw = getattr(self, "_constant_inputs", None)
        if raw is None:
            return (None,) * len(self.parents)
        return tuple([_constant(c) for c in raw])

    @property
    def name(self) -> str:
        """The op's name: its class name."""
        return type(self).__name__

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in getattr(self, "op_args", {}).items())
        return f"<{self.name}({args}) -> {getattr(self, 'out_shape', '?')}>"


def _constant(value: Any) -> Any:
    """What a drawing shows of an input without gradient: a number (or None) itself, else (shape, dtype, name)."""
    if value is None or isinstance(value, (int, float, complex)):
        return value
    return getattr(value, "shape", ()), getattr(value, "dtype", None), getattr(value, "name", None)


def _check_keyword_tensors(cls: type, kwargs: dict[str, Any]) -> None:
    """Gradients flow only to positional inputs: a keyword Tensor that requires grad would silently get none."""
    for name, value in kwargs.items():
        if isinstance(value, Tensor) and value._requires_grad:
            raise TypeError(f"{cls.__name__}.apply: the keyword argument {name}= is a Tensor that requires grad, but "
                            "gradients flow only to positional inputs; pass it positionally (and return its "
                            f"gradient from backward) or pass {name}={name}.detach()")


def _output_array(cls: type, out: Any) -> np.ndarray:
    """A forward's result other than an ndarray or Tensor: a number (or an ndarray subclass), else a clear error."""
    if isinstance(out, (np.ndarray, int, float, np.number, np.bool_)):
        return np.asarray(out)
    several = " (a Function has one output; write one Function per output)" if isinstance(out, tuple) else ""
    raise TypeError(f"{cls.__name__}.forward must return one ndarray or Tensor (or a number), "
                    f"got {type(out).__name__}{several}")


def _held_dtype(cls: type, data: np.ndarray, args: tuple[Any, ...], kwargs: dict[str, Any]) -> np.ndarray:
    """The output in a dtype tensors hold: float64 or float16 when asked for, else float32 (as in PyTorch,
    integers and bools give float32); complex (from a complex array operand) is an error."""
    if data.dtype.kind == "c":
        raise TypeError(f"{cls.__name__}: complex values are not supported, but an operand made the result "
                        f"{data.dtype}; take .real or np.abs of the complex operand first")
    return data if _asks_for(data.dtype, args, kwargs) else data.astype(np.float32)


def _asks_for(dtype: np.dtype, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Whether `dtype` (float64 or float16) was requested: by an input of that dtype or a dtype argument
    (else integers and bools give float32, the default)."""
    requested = kwargs.get("dtype")  # (compare with care: NumPy reads a None dtype as float64)
    if requested is not None and np.dtype(requested) == dtype:
        return True
    return any(a.dtype == dtype for a in args if isinstance(a, (Tensor, np.ndarray, np.floating)))


def _version(value: Any) -> int:
    """The in-place change count of a saved value (0 for never changed, and for non-Tensors)."""
    box = getattr(value, "_version_box", None)
    return 0 if box is None else int(box[0])


def _versions(tensors: tuple[Any, ...]) -> tuple[int, ...] | None:
    """The in-place change counts of saved values, or None when all are 0: the common case, where this
    allocates nothing (no tuple per op for the cyclic GC to scan)."""
    for t in tensors:   # (_version's test written out: a call per value less)
        box = getattr(t, "_version_box", None)
        if box is not None and box[0]:
            return tuple([_version(t) for t in tensors])
    return None


def check_broadcast(op: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Raise a clear ValueError when the array inputs of `op` do not broadcast together."""
    named = [(f"operand {i}", np.shape(a.data if isinstance(a, Tensor) else a))
             for i, a in enumerate(args) if isinstance(a, (Tensor, np.ndarray))]
    named += [(k, v.shape) for k, v in kwargs.items() if isinstance(v, np.ndarray)]
    try:
        np.broadcast_shapes(*(shape for _, shape in named))
    except ValueError:
        ndim = max(len(shape) for _, shape in named)
        for axis in range(-1, -ndim - 1, -1):   # the first axis, from the right, where sizes clash
            sizes = {shape[axis] for _, shape in named if len(shape) >= -axis} - {1}
            if len(sizes) > 1:
                break
        shapes = ", ".join(f"{name} {shape}" for name, shape in named)
        raise ValueError(f"{op}: shapes do not broadcast: {shapes}; aligned from the right, axis {axis} has sizes "
                         f"{sorted(sizes)}. Each axis must have equal sizes or size 1 (NumPy broadcasting); "
                         "reshape or transpose an operand so that they line up") from None


def _released_message(node: Function) -> str:
    return (
        f"trying to backward through {node.name} a second time, but its saved tensors were "
        "released after the first backward. Pass retain_graph=True to the first backward() "
        "(or tc.grad) if you need to backpropagate through the same graph again."
    )
