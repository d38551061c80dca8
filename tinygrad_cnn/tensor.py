"""`Tensor`: an ndarray that remembers the op that made it, so gradients can flow back."""
from __future__ import annotations

import operator
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .anomaly import check_inplace
from .arguments import flag, is_int
from .describe import index_text
from .mode import MODE

Axis = int | tuple[int, ...] | None
Scalar = int | float | bool


def _shape_args(shape: tuple[Any, ...]) -> tuple[int, ...]:
    """Accept `f(2, 3)` as well as `f((2, 3))`, as NumPy and PyTorch do."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def as_dtype(dtype: Any, argument: str, owner: str) -> np.dtype:
    """`dtype` as an np.dtype that tensors hold (bool, int or float), else a TypeError naming `argument`."""
    try:
        result = np.dtype(dtype)
    except (TypeError, ValueError):
        result = None
    if result is None or result.kind not in "biuf":
        got = "" if result is None else f" ({result})"
        raise TypeError(f"{owner}: {argument} must be a bool, int or float dtype, e.g. 'float32', 'float64', 'int64' "
                        f"or 'bool' (a name, a NumPy type or an np.dtype); got {dtype!r:.40}{got}")
    return result


def to_array(data: Any, dtype: Any = None) -> np.ndarray:
    """Convert user data to an ndarray: floats become float32 unless float64 is given."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        dtype = as_dtype(dtype, "dtype", "Tensor")
        if isinstance(data, np.ndarray) and data.dtype.kind == "c":   # NumPy would drop the imaginary part
            raise TypeError(f"Tensor data must be real numbers (bool, int or float), got a complex array "
                            f"({data.dtype}); take .real or np.abs first")
        try:
            return np.array(data, dtype=dtype)
        except (TypeError, ValueError) as e:  # strings or objects where numbers belong
            raise TypeError(f"Tensor data must be numbers convertible to {np.dtype(dtype)}, got "
                            f"{type(data).__name__} {str(data)[:60]!r}: {e}") from None
    try:
        array = np.array(data)
    except ValueError as e:  # ragged nested lists
        raise ValueError(f"Tensor data must be rectangular (every row of a nested list the same length), got "
                         f"{str(data)[:60]}: {e}") from None
    if array.dtype == object or array.dtype.kind in "USVc":
        raise TypeError(
            f"Tensor data must be numbers (bool, int or float), got {type(data).__name__} "
            f"with NumPy dtype {array.dtype}: {str(data)[:60]}"
            + ("; complex numbers are not supported (take .real or abs first)" if array.dtype.kind == "c" else "")
        )
    if array.dtype.kind == "f" and array.dtype != np.float64 and array.dtype != np.float32:
        return array.astype(np.float32)  # float16 and longdouble are promoted/demoted to float32
    if array.dtype == np.float64 and not (isinstance(data, np.ndarray) or _is_float64_scalar(data)):
        return array.astype(np.float32)  # Python floats and lists of them default to float32
    return array


def _is_float64_scalar(data: Any) -> bool:
    return isinstance(data, np.floating) and data.dtype == np.float64


class Tensor:
    """An n-dimensional array with reverse-mode autodiff (PyTorch's contract, NumPy's names)."""

    # _version_box: None (version 0) or a 1-element int64 array shared with every view of the same
    # memory (detach, reshape, basic indexing...), so an in-place change through any of them is seen
    # _hooks: a leaf's TensorHooks (register_hook), or None (a non-leaf's live on its node)
    __slots__ = ("data", "_grad", "_requires_grad", "_ctx", "_version_box", "name", "_hooks", "__weakref__")
    __array_priority__ = 1000  # ndarray (op) Tensor defers to Tensor's reflected operators

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None,
                 name: str | None = None) -> None:
        self.data = to_array(data, dtype)
        self._grad: Tensor | None = None
        self._ctx = None
        self._version_box = None
        self._hooks = None
        self.name = name
        self._requires_grad = False
        self.requires_grad = requires_grad

    @classmethod
    def _make(cls, data: np.ndarray, ctx: Any) -> Tensor:
        """Wrap an op's output without copying or checking (the hot path)."""
        t = object.__new__(cls)
        t.data, t._grad, t._ctx, t._version_box, t.name, t._hooks = data, None, ctx, None, None, None
        t._requires_grad = ctx is not None
        return t

    # --- properties ---
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if value is not True and value is not False:
            value = flag(value, "requires_grad", "Tensor")
        if value and self.data.dtype.kind not in "fc":
            raise TypeError(
                f"only floating-point tensors can require grad, but this one is {self.data.dtype}; "
                "convert it first, e.g. Tensor(x, dtype='float32', requires_grad=True)"
            )
        if not value and self._ctx is not None:
            raise RuntimeError("requires_grad can only be turned off on a leaf; use .detach() instead")
        self._requires_grad = bool(value)

    @property
    def grad(self) -> Tensor | None:
        """The gradient accumulated by backward (a Tensor of this tensor's shape), or None."""
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:  # backward adds to it: a Tensor of this shape (torch checks the same)
            if not isinstance(value, Tensor):
                raise TypeError(f".grad must be a Tensor or None, got {type(value).__name__}; "
                                "wrap an array first: x.grad = tc.Tensor(g)")
            if value.data.shape != self.data.shape:
                raise RuntimeError(f".grad must have the tensor's shape {self.shape}, got a Tensor of shape "
                                   f"{value.shape}")
        self._grad = value

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        """The number of elements, as NumPy's `size` (PyTorch's is a method: use `numel()` or `shape`)."""
        return self.data.size

    def numel(self) -> int:
        """The number of elements (PyTorch's name)."""
        return self.data.size

    def dim(self) -> int:
        """The number of axes (PyTorch's name for ndim)."""
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        """True for tensors not produced by a recorded op (user data, parameters)."""
        return self._ctx is None

    @property
    def grad_fn(self) -> Any:
        """The Function node that produced this tensor, or None for a leaf."""
        return self._ctx

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def numpy(self) -> np.ndarray:
        """The underlying ndarray (shared, not copied)."""
        return self.data

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """The data for NumPy (np.asarray(t), np.testing, matplotlib); what NumPy computes from it is not recorded."""
        array = self.data if dtype is None else self.data.astype(dtype, copy=False)
        return array.copy() if copy else array

    def item(self) -> Scalar:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return self.data.item()

    def tolist(self) -> Any:
        return self.data.tolist()

    def detach(self) -> Tensor:
        """The same data (shared, with its version counter), cut from the graph."""
        t = Tensor._make(self.data, None)
        t._version_box = self._shared_version_box()
        return t

    def detach_(self) -> Tensor:
        """Cut this tensor from the graph in place: it becomes a leaf that does not require grad."""
        self._ctx, self._requires_grad = None, False
        return self

    def clone(self) -> Tensor:
        """A copy of the data that stays in the graph."""
        return ops.movement.Copy.apply(self)

    def astype(self, dtype: Any) -> Tensor:
        """Convert the dtype; differentiable between floating types."""
        dtype = as_dtype(dtype, "dtype", "astype")
        if dtype == self.dtype:
            return self
        return ops.elementwise.Cast.apply(self, dtype=dtype)

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def requires_grad_(self, value: bool = True) -> Tensor:
        self.requires_grad = value
        return self

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor: it has no axis to count or iterate over; use .item() for its "
                            "value, or .reshape(1) for a 1-element tensor")
        return self.shape[0]

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; "
                             "use .any() or .all()")
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __format__(self, spec: str) -> str:
        """f"{loss:.4f}" formats a 0-d tensor's value, as in PyTorch."""
        return format(self.data.item(), spec) if self.ndim == 0 else super().__format__(spec)

    def __index__(self) -> int:
        """An integer tensor of one element as an index (slice bounds, list positions), as in PyTorch."""
        if self.data.dtype.kind not in "iu" or self.data.size != 1:
            raise TypeError(f"only integer tensors of one element can be used as an index, got {self.dtype} "
                            f"of shape {self.shape}")
        return int(self.data.item())

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", precision=4, threshold=64, prefix="Tensor(")
        extra = "" if self.data.size or self.ndim == 1 else f", shape={self.shape}"   # [] alone hides it
        extra += "" if self.dtype == np.float32 else f", dtype={self.dtype}"
        if self._ctx is not None:
            extra += f", grad_fn=<{self._ctx.name}>"
        elif self._requires_grad:
            extra += ", requires_grad=True"
        if self.name:
            extra += f", name={self.name!r}"
        return f"Tensor({body}{extra})"

    def __hash__(self) -> int:
        return id(self)

    def __reduce_ex__(self, protocol: Any) -> Any:
        """Pickling and copy.deepcopy: a leaf with every attribute; a tensor an op made as a new leaf with its
        data, dtype, requires_grad and name (the graph is not copied), as PyTorch pickles one."""
        if self._ctx is None:
            return super().__reduce_ex__(protocol)
        return Tensor, (self.data, self._requires_grad, self.data.dtype, self.name)

    # --- autodiff ---
    def backward(self, grad: Any = None, retain_graph: bool | None = None, create_graph: bool = False,
                 inputs: Tensor | Sequence[Tensor] | None = None, *, gradient: Any = None) -> None:
        """Accumulate d(self)/d(leaf) into `.grad` of every leaf that requires grad (of `inputs` only, when
        given: leaves or not). `gradient=` is PyTorch's name for `grad`; retain_graph None: as create_graph."""
        if not self._requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad: no input of the computation "
                "had requires_grad=True (or it ran under no_grad)"
            )
        if gradient is not None:
            if grad is not None:
                raise TypeError("backward: give the gradient once, as grad= or gradient= (PyTorch's name), not both")
            grad = gradient
        create_graph = flag(create_graph, "create_graph", "backward")
        retain_graph = create_graph if retain_graph is None else flag(retain_graph, "retain_graph", "backward")
        grad = _check_output_grad(self, grad, "backward(grad=...)")
        inputs = None if inputs is None else _backward_inputs(inputs)
        run_backward([self], [grad], retain_graph or create_graph, create_graph, inputs, accumulate=True)

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> HookHandle:
        """Call `hook(grad)` each time the gradient of this tensor is computed (a leaf's: its whole gradient of one
        backward, before it is added to .grad); a Tensor it returns replaces the gradient. As in PyTorch."""
        if not callable(hook):
            raise TypeError(f"register_hook: hook must be callable (grad -> Tensor or None), got "
                            f"{type(hook).__name__} {hook!r:.40}")
        hooks = self._tensor_hooks("register a hook on")
        hooks.hooks.append(hook)
        return HookHandle(hooks.hooks, hook)

    def retain_grad(self) -> None:
        """Keep the gradient of this non-leaf tensor in its .grad after backward, as a leaf's (a no-op on a leaf)."""
        hooks = self._tensor_hooks("retain the grad of")
        if self._ctx is not None:
            hooks.retained = weakref.ref(self)   # weak: the node must not keep its output alive

    @property
    def retains_grad(self) -> bool:
        """Whether retain_grad() was called on this non-leaf tensor."""
        hooks = None if self._ctx is None else self._ctx._hooks
        return hooks is not None and hooks.retained is not None and hooks.retained() is self

    def _tensor_hooks(self, what: str) -> TensorHooks:
        """This tensor's TensorHooks, made on first use: a leaf holds them, a non-leaf's node does."""
        if not self._requires_grad:
            raise RuntimeError(f"cannot {what} a tensor that does not require grad (shape {self.shape}, "
                               f"{self.dtype}): it gets no gradient")
        owner = self if self._ctx is None else self._ctx
        hooks = owner._hooks
        if hooks is None:
            hooks = owner._hooks = TensorHooks()
        return hooks

    def draw_graph(self, *others: Tensor, **options: Any) -> Any:
        """Render this tensor's graph (with those of `others`, if given) with graphviz (see `tc.draw_graph`)."""
        from .viz import draw_graph
        return draw_graph(self, *others, **options)

    # --- in place (only outside recording, as an optimizer step does) ---
    @property
    def _version(self) -> int:
        """How many times the data was changed in place (through this tensor or a view of it)."""
        box = self._version_box
        return 0 if box is None else int(box[0])

    @_version.setter
    def _version(self, value: int) -> None:
        self._shared_version_box()[0] = value

    def _shared_version_box(self) -> np.ndarray:
        if self._version_box is None:
            self._version_box = np.zeros(1, dtype=np.int64)
        return self._version_box

    def _check_inplace(self, what: str, value: Any = None) -> None:
        if not self.data.flags.writeable:
            raise ValueError(
                f"{what} cannot change this tensor in place: its data is a read-only view (for example "
                "the result of broadcast_to, where many elements share one memory cell). Make a copy "
                "first with .clone()"
            )
        if MODE.grad_enabled and (self._requires_grad or self._ctx is not None):
            raise RuntimeError(
                f"{what} would change a tensor that is part of the graph (requires_grad=True) in place, "
                "making its gradient wrong. Use an out-of-place op (y = x + 1), or wrap parameter "
                "updates in `with tc.no_grad():`"
            )
        if MODE.grad_enabled and isinstance(value, Tensor) and value._requires_grad:
            raise RuntimeError(
                f"{what} would write a tensor that requires grad into this one in place, unrecorded, so its "
                "gradient would be lost. Build the result out of place (tc.where, tc.concatenate, x + y) "
                "or pass value.detach() if no gradient should flow"
            )

    def _assign(self, what: str, value: np.ndarray) -> Tensor:
        self._check_inplace(what)
        if MODE.anomaly:
            check_inplace(what, self, value)
        self.data[...] = value
        self._shared_version_box()[0] += 1
        return self

    def _update(self, what: str, other: Any, combine: Callable[[np.ndarray, Any], Any]) -> Tensor:
        """x op= other: the same checks as the op (operand type, broadcasting), written into x's memory."""
        self._check_inplace(what, other)
        other = _operand(other, self)
        try:
            value = combine(self.data, _data(other))
        except ValueError:
            check_broadcast(what, (self, other), {})
            raise
        return self._assign(what, value)

    def __setitem__(self, index: Any, value: Any) -> None:
        self._check_inplace("item assignment", value)
        index, value = _index_data(index), _data(value)
        if MODE.anomaly:   # (an invalid index is reported before a non-finite value)
            self._selected_shape(index)
            check_inplace(f"item assignment {index_text(index)}", self, value)
        try:
            self.data[index] = value   # NumPy checks the index and the value before it writes anything
        except IndexError:
            self._selected_shape(index)   # raises the IndexError that names the shape
            raise
        except ValueError as e:
            selected = self._selected_shape(index)
            if np.ndim(value) and not _broadcasts(np.shape(value), selected):
                raise ValueError(f"item assignment: t{index_text(index)} of a tensor of shape {self.shape} selects "
                                 f"shape {selected}, but the value has shape {np.shape(value)}, which does not "
                                 f"broadcast to it; give a value of shape {selected} (or a number)") from None
            raise ValueError(f"item assignment: cannot write {type(value).__name__} {str(value)[:40]!r} into a "
                             f"{self.dtype} tensor: {e}") from None
        self._shared_version_box()[0] += 1

    def _selected_shape(self, index: Any) -> tuple[int, ...]:
        """The shape `index` selects, or an IndexError naming it (checked on a 0-byte view: only when
        needed, since it costs more than a small write itself)."""
        try:
            return np.broadcast_to(np.bool_(False), self.shape)[index].shape
        except IndexError as e:
            raise IndexError(f"item assignment: index {index_text(index)} is invalid for a tensor of shape "
                             f"{self.shape}: {e}; along an axis of size n, indices run from -n to n - 1") from None

    def __iadd__(self, other: Any) -> Tensor:
        return self._update("+=", other, operator.add)

    def __isub__(self, other: Any) -> Tensor:
        return self._update("-=", other, operator.sub)

    def __imul__(self, other: Any) -> Tensor:
        return self._update("*=", other, operator.mul)

    def __itruediv__(self, other: Any) -> Tensor:
        return self._update("/=", other, operator.truediv)

    def zero_(self) -> Tensor:
        return self._assign("zero_()", 0)

    def fill_(self, value: Scalar) -> Tensor:
        """Set every element to `value`: a number, or a tensor of one value (as PyTorch)."""
        self._check_inplace("fill_()", value)
        if np.size(_data(value)) != 1 or np.asarray(_data(value)).dtype.kind not in "biuf":
            raise TypeError(f"fill_: value must be one number (or a tensor holding one), got {type(value).__name__} "
                            f"{str(_data(value))[:40]!r}; to write an array, use copy_")
        return self._assign("fill_()", _data(value))

    def copy_(self, source: Any) -> Tensor:
        """Write `source` (broadcast to this tensor's shape, as PyTorch) into this tensor's memory."""
        self._check_inplace("copy_()", source)
        source = _data(source)
        if not _broadcasts(np.shape(source), self.shape):
            raise ValueError(f"copy_ needs a source that broadcasts to this tensor's shape {self.shape}, got shape "
                             f"{np.shape(source)}")
        return self._assign("copy_()", source)

    # --- arithmetic (NumPy broadcasting) ---
    def __add__(self, other: Any) -> Tensor:
        return ops.elementwise.Add.apply(self, other if type(other) in _PASS else _operand(other, self))

    def __radd__(self, other: Any) -> Tensor:
        return ops.elementwise.Add.apply(other if type(other) in _PASS else _operand(other, self), self)

    def __sub__(self, other: Any) -> Tensor:
        return ops.elementwise.Sub.apply(self, other if type(other) in _PASS else _operand(other, self))

    def __rsub__(self, other: Any) -> Tensor:
        return ops.elementwise.Sub.apply(other if type(other) in _PASS else _operand(other, self), self)

    def __mul__(self, other: Any) -> Tensor:
        return ops.elementwise.Mul.apply(self, other if type(other) in _PASS else _operand(other, self))

    def __rmul__(self, other: Any) -> Tensor:
        return ops.elementwise.Mul.apply(other if type(other) in _PASS else _operand(other, self), self)

    def __truediv__(self, other: Any) -> Tensor:
        return ops.elementwise.Div.apply(self, other if type(other) in _PASS else _operand(other, self))

    def __rtruediv__(self, other: Any) -> Tensor:
        return ops.elementwise.Div.apply(other if type(other) in _PASS else _operand(other, self), self)

    def __pow__(self, other: Any) -> Tensor:
        return ops.elementwise.Pow.apply(self, other if type(other) in _PASS else _operand(other, self))

    def __rpow__(self, other: Any) -> Tensor:
        return ops.elementwise.Pow.apply(other if type(other) in _PASS else _operand(other, self), self)

    def __floordiv__(self, other: Any) -> Tensor:
        return ops.elementwise.FloorDivide.apply(self.detach(), _detached(_operand(other, self)))

    def __rfloordiv__(self, other: Any) -> Tensor:
        return ops.elementwise.FloorDivide.apply(_detached(_operand(other, self)), self.detach())

    def __matmul__(self, other: Any) -> Tensor:
        return ops.matmul.matmul(self, _operand(other, self))

    def __rmatmul__(self, other: Any) -> Tensor:
        return ops.matmul.matmul(_as_tensor(other), self)

    def __neg__(self) -> Tensor:
        return ops.elementwise.Neg.apply(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return self.abs()

    # --- comparisons: not differentiable, give bool tensors ---
    def __lt__(self, other: Any) -> Tensor:
        return _compare("<", operator.lt, self, _operand(other, self))

    def __le__(self, other: Any) -> Tensor:
        return _compare("<=", operator.le, self, _operand(other, self))

    def __gt__(self, other: Any) -> Tensor:
        return _compare(">", operator.gt, self, _operand(other, self))

    def __ge__(self, other: Any) -> Tensor:
        return _compare(">=", operator.ge, self, _operand(other, self))

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _compare("==", operator.eq, self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return _compare("!=", operator.ne, self, other)

    def __invert__(self) -> Tensor:
        if self.dtype != np.bool_:
            raise TypeError(f"~ needs a bool tensor, got {self.dtype}")
        return Tensor._make(~self.data, None)

    def __and__(self, other: Any) -> Tensor:
        return Tensor._make(np.asarray(self.data & _data(other)), None)

    def __or__(self, other: Any) -> Tensor:
        return Tensor._make(np.asarray(self.data | _data(other)), None)

    def argmax(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        axis, keepdims = _arg_axis(axis, self.ndim, "argmax"), flag(keepdims, "keepdims", "argmax")
        return Tensor._make(np.asarray(np.argmax(self.data, axis=axis, keepdims=keepdims)), None)

    def argmin(self, axis: int | None = None, keepdims: bool = False) -> Tensor:
        axis, keepdims = _arg_axis(axis, self.ndim, "argmin"), flag(keepdims, "keepdims", "argmin")
        return Tensor._make(np.asarray(np.argmin(self.data, axis=axis, keepdims=keepdims)), None)

    def any(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        axes, keepdims = ops.reduce.normalize_axis(axis, self.ndim), flag(keepdims, "keepdims", "any")
        return Tensor._make(np.asarray(np.any(self.data, axis=axes, keepdims=keepdims)), None)

    def all(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        axes, keepdims = ops.reduce.normalize_axis(axis, self.ndim), flag(keepdims, "keepdims", "all")
        return Tensor._make(np.asarray(np.all(self.data, axis=axes, keepdims=keepdims)), None)

    # --- unary math ---
    def exp(self) -> Tensor:
        return ops.elementwise.Exp.apply(self)

    def log(self) -> Tensor:
        return ops.elementwise.Log.apply(self)

    def sqrt(self) -> Tensor:
        return ops.elementwise.Pow.apply(self, 0.5)

    def abs(self) -> Tensor:
        return ops.elementwise.Abs.apply(self)

    def tanh(self) -> Tensor:
        return ops.elementwise.Tanh.apply(self)

    def sigmoid(self) -> Tensor:
        return ops.elementwise.Sigmoid.apply(self)

    def relu(self) -> Tensor:
        return ops.elementwise.Relu.apply(self)

    def leaky_relu(self, negative_slope: float = 0.01) -> Tensor:
        return ops.composed.leaky_relu(self, negative_slope)

    def clip(self, min: Any = None, max: Any = None) -> Tensor:  # noqa: A002 (NumPy's names)
        return ops.composed.clip(self, min, max)

    def maximum(self, other: Any) -> Tensor:
        return ops.elementwise.Maximum.apply(self, _operand(other, self))

    def minimum(self, other: Any) -> Tensor:
        return ops.composed.minimum(self, other)

    # --- reductions ---
    def sum(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        if keepdims is not False and keepdims is not True:
            keepdims = flag(keepdims, "keepdims", "sum")
        return ops.reduce.Sum.apply(self, axis=ops.reduce.normalize_axis(axis, self.ndim), keepdims=keepdims)

    def mean(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        return ops.composed.mean(self, axis, flag(keepdims, "keepdims", "mean"))

    def var(self, axis: Axis = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        return ops.composed.var(self, axis, flag(keepdims, "keepdims", "var"), ddof)

    def std(self, axis: Axis = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        return ops.composed.std(self, axis, flag(keepdims, "keepdims", "std"), ddof)

    def max(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        if keepdims is not False and keepdims is not True:
            keepdims = flag(keepdims, "keepdims", "max")
        return ops.reduce.Max.apply(self, axis=ops.reduce.normalize_axis(axis, self.ndim), keepdims=keepdims)

    def min(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        if keepdims is not False and keepdims is not True:
            keepdims = flag(keepdims, "keepdims", "min")
        return ops.reduce.Min.apply(self, axis=ops.reduce.normalize_axis(axis, self.ndim), keepdims=keepdims)

    def logsumexp(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        return ops.composed.logsumexp(self, axis, flag(keepdims, "keepdims", "logsumexp"))

    def softmax(self, axis: int = -1) -> Tensor:
        return ops.composed.softmax(self, axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return ops.composed.log_softmax(self, axis)

    # --- shape ---
    def reshape(self, *shape: Any) -> Tensor:
        return ops.movement.reshape(self, _shape_args(shape))

    def view(self, *shape: Any) -> Tensor:
        return self.reshape(*shape)

    def transpose(self, *axes: Any) -> Tensor:
        return ops.movement.transpose(self, _shape_args(axes) or None)

    def permute(self, *axes: Any) -> Tensor:
        return ops.movement.transpose(self, _shape_args(axes))

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        i = ops.reduce.normalize_axis(axis1, self.ndim, "axis1")   # () for a 0-d tensor
        j = ops.reduce.normalize_axis(axis2, self.ndim, "axis2")
        axes = list(range(self.ndim))
        if i and j:
            axes[i[0]], axes[j[0]] = axes[j[0]], axes[i[0]]
        return self.transpose(axes)

    def flatten(self, start_axis: int = 0, end_axis: int = -1) -> Tensor:
        return ops.movement.flatten(self, start_axis, end_axis)

    def squeeze(self, axis: Axis = None) -> Tensor:
        return ops.movement.squeeze(self, axis)

    def unsqueeze(self, axis: int) -> Tensor:
        return ops.movement.unsqueeze(self, axis)

    def expand_dims(self, axis: int) -> Tensor:
        return ops.movement.unsqueeze(self, axis)

    def broadcast_to(self, *shape: Any) -> Tensor:
        return ops.movement.broadcast_to(self, _shape_args(shape))

    def pad(self, pad_width: Any, value: float = 0.0) -> Tensor:
        return ops.movement.pad(self, pad_width, value)

    def __getitem__(self, index: Any) -> Tensor:
        return ops.movement.getitem(self, index)

    def __iter__(self) -> Any:
        return (self[i] for i in range(len(self)))


class TensorHooks:
    """What register_hook and retain_grad attached to one tensor (held by a leaf, or by a non-leaf's node)."""

    __slots__ = ("hooks", "retained")

    def __init__(self) -> None:
        self.hooks: list[Callable[[Tensor], Tensor | None]] = []
        self.retained: weakref.ref[Tensor] | None = None   # the non-leaf whose .grad keeps its gradient

    def run(self, grad: Tensor) -> Tensor:
        """`grad` passed through every hook in the order they were registered (None keeps it)."""
        for hook in list(self.hooks):
            result = hook(grad)
            if result is None:
                continue
            name = getattr(hook, "__name__", type(hook).__name__)
            if not isinstance(result, Tensor):
                raise TypeError(f"hook {name} returned {type(result).__name__}; a hook must return a Tensor or None "
                                "(wrap an array: tc.Tensor(a))")
            if result.shape != grad.shape:
                raise RuntimeError(f"hook {name} returned a gradient of shape {result.shape}, but the tensor's "
                                   f"gradient has shape {grad.shape}; a hook may change values, not the shape")
            grad = result if result.dtype == grad.dtype else result.astype(grad.dtype)
        return grad


class HookHandle:
    """What register_hook returns: `.remove()` takes the hook off (so does leaving a `with handle:` block)."""

    __slots__ = ("_hooks", "_hook")

    def __init__(self, hooks: list[Any], hook: Any) -> None:
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        for i, hook in enumerate(self._hooks):
            if hook is self._hook:
                del self._hooks[i]
                return

    def __enter__(self) -> HookHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


_PASS = frozenset({Tensor, int, float, np.float32, np.float64})  # operands used as they are (arrays: _operand)


def _data(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _detached(x: Any) -> Any:
    return x.detach() if isinstance(x, Tensor) else x


def _broadcasts(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    """Whether an array of `shape` broadcasts to `target`."""
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


def _index_data(index: Any) -> Any:
    if isinstance(index, tuple):
        return tuple(_data(i) for i in index)
    return _data(index)


def _arg_axis(axis: Any, ndim: int, owner: str) -> int | None:
    """The one axis of argmax/argmin as a non-negative int, or None (over all elements, and for a 0-d tensor)."""
    if axis is None:
        return None
    if not is_int(axis):
        raise TypeError(f"{owner}: axis must be an int or None (one axis), got {type(axis).__name__} {axis!r:.40}")
    axes = ops.reduce.normalize_axis(axis, ndim)
    return axes[0] if axes else None


def _compare(symbol: str, compare: Callable[[Any, Any], Any], a: Tensor, b: Any) -> Tensor:
    """A comparison: a bool tensor outside the graph; shapes that do not broadcast get a clear error."""
    try:
        return Tensor._make(np.asarray(compare(a.data, _data(b))), None)
    except ValueError:
        check_broadcast(f"comparison {symbol}", (a, b), {})
        raise


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _operand(other: Any, like: Tensor) -> Any:
    """The other operand of a binary op: Tensors, numbers and arrays pass (as constants); lists convert."""
    if isinstance(other, np.ndarray):
        # a constant the op may keep for backward: a recorded op gets a copy, so that writing into the
        # array before backward cannot change the gradient (a Tensor's version counter guards Tensors)
        return other.copy() if like._requires_grad and MODE.grad_enabled else other
    if isinstance(other, (Tensor, int, float, np.number)) and not isinstance(other, bool):
        return other
    if isinstance(other, (bool, np.bool_)):
        return int(other)
    if isinstance(other, (list, tuple)):
        return to_array(other, like.dtype if like.dtype.kind == "f" else None)
    raise TypeError(f"unsupported operand: Tensor and {type(other).__name__} ({str(other)[:40]}); "
                    "expected a Tensor, an array or a number")


def _check_output_grad(output: Tensor, grad: Any, argument: str) -> Tensor:
    """The upstream gradient for `output`: ones for a scalar, else it must match the shape."""
    if grad is None:
        if output.size != 1:
            raise RuntimeError(
                f"{argument} is needed for a non-scalar output of shape {output.shape}: backward() "
                "without it only works on a single value (e.g. a loss); pass a gradient of that shape"
            )
        return Tensor._make(np.ones(output.shape, dtype=output.dtype), None)
    grad = grad if isinstance(grad, Tensor) else Tensor(grad, dtype=output.dtype)
    if grad.shape != output.shape:
        raise RuntimeError(f"{argument} has shape {grad.shape} but the output has shape {output.shape}")
    return grad if grad.dtype == output.dtype else grad.astype(output.dtype)   # as PyTorch: the output's dtype


def _backward_inputs(inputs: Any) -> list[Tensor]:
    """backward(inputs=...): one Tensor or a sequence of them, each requiring grad."""
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs) if isinstance(inputs, (list, tuple)) else None
    if not inputs or not all(isinstance(t, Tensor) for t in inputs):
        raise TypeError("backward: inputs must be a Tensor or a non-empty list or tuple of Tensors (those whose "
                        "gradients to accumulate into .grad)")
    for i, t in enumerate(inputs):
        if not t._requires_grad:
            raise RuntimeError(f"backward: inputs[{i}] (shape {t.shape}) does not require grad, so it has no gradient")
    return inputs


# ops and the engine build on Tensor: imported last, after the class exists
from . import ops  # noqa: E402
from .engine import run_backward  # noqa: E402
from .function import check_broadcast  # noqa: E402
