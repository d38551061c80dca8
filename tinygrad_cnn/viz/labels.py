"""The words on a drawn graph: tensor shapes, op arguments, value and gradient statistics, role colours."""
from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..conv.conv_transpose import ConvTranspose
from ..describe import describe_argument, finite_values, non_finite_counts, op_args_text
from ..function import Function
from ..tensor import Tensor

SHOW_OPTIONS = ("shape", "dtype", "op_args", "grad", "value", "bytes", "activation", "trainable")

# fill colour and legend entry of each role a node can play
COLOURS = {
    "op": "#ffffff",
    "input": "#a6cee3",       # a leaf that requires grad (user data being differentiated)
    "parameter": "#b2df8a",   # a named leaf: a layer's weight, an entry of `params`, Tensor(..., name=)
    "constant": "#e5e5e5",    # a number, array or tensor without grad
    "output": "#fdbf6f",
    "layer": "#cab2d6",       # a collapsed layer
    "folded": "#ffffff",      # the ops beyond max_nodes
    "nonfinite": "#fb6a6a",   # a value or gradient holding NaN or Inf
    "blamed": "#e31a1c",      # the op whose own gradient gradcheck found wrong
}
LEGEND = {
    "op": "operation", "input": "input (requires grad)", "parameter": "parameter",
    "constant": "constant (no grad)", "output": "output", "layer": "collapsed layer",
    "folded": "folded (beyond max_nodes)", "nonfinite": "NaN or Inf", "blamed": "wrong gradient (gradcheck)",
}


def check_show(show: Any) -> frozenset[str]:
    """The `show` options as a set; a single name is accepted too."""
    options = (show,) if isinstance(show, str) else show
    try:
        options = frozenset(options)
    except TypeError:
        raise TypeError(f"show must be a tuple of option names from {SHOW_OPTIONS}, "
                        f"got {type(show).__name__} {show!r:.60}") from None
    unknown = sorted(str(option) for option in options - set(SHOW_OPTIONS))
    if unknown:
        raise ValueError(f"show: unknown option(s) {', '.join(unknown)}; choose from {', '.join(SHOW_OPTIONS)}")
    return options


def check_outputs(outputs: tuple[Any, ...], caller: str) -> list[Tensor]:
    """The tensors whose graph is drawn: at least one, all Tensors (also given as one list or tuple)."""
    if len(outputs) == 1 and isinstance(outputs[0], (list, tuple)):
        outputs = tuple(outputs[0])
    if not outputs:
        raise TypeError(f"{caller} needs at least one output tensor, e.g. {caller}(loss)")
    for index, output in enumerate(outputs):
        if not isinstance(output, Tensor):
            raise TypeError(f"{caller}: output {index} must be a Tensor, got {type(output).__name__} "
                            f"{output!r:.60}; pass the tensors whose graph to draw (e.g. the loss)")
    return list(outputs)


def tensor_names(params: Any, argument: str = "params",
                 example: str = "params=dict(model.named_parameters())") -> dict[int, str]:
    """id(tensor) -> name, from a dict {name: tensor} given as `argument` (`params` or `inputs`)."""
    if params is None:
        return {}
    if not hasattr(params, "items"):
        raise TypeError(f"{argument} must be a dict {{name: tensor}}, got {type(params).__name__}; e.g. {example}")
    names = {}
    for name, tensor in params.items():
        if not isinstance(tensor, Tensor):
            raise TypeError(f"{argument}[{name!r}] must be a Tensor, got {type(tensor).__name__}")
        names[id(tensor)] = str(name)
    return names


def leaf_role(tensor: Tensor, names: dict[int, str], inputs: dict[int, str]) -> str:
    """'input' for a leaf named in `inputs`, 'parameter' for other named leaves, 'input' for the remaining
    leaves that require grad, else 'constant'."""
    if id(tensor) in inputs:
        return "input"
    if id(tensor) in names or tensor.name:
        return "parameter"
    return "input" if tensor.requires_grad else "constant"


@functools.lru_cache(maxsize=64)
def _dtype_name(dtype: Any) -> str:
    return str(np.dtype(dtype))  # NumPy builds the name anew each time: slow on 100,000 nodes


def shape_text(shape: tuple[int, ...], dtype: Any, show: frozenset[str]) -> str:
    """'(4, 3) float32', or either half, as `show` asks."""
    parts = []
    if "shape" in show:
        parts.append(str(tuple(shape)))
    if "dtype" in show:
        parts.append(_dtype_name(dtype))
    return " ".join(parts)


def constant_lines(meta: Any, show: frozenset[str]) -> list[str]:
    """A constant input: a number as itself, an array or tensor by its name (if any), shape and dtype."""
    if isinstance(meta, tuple):
        shape, dtype, name = meta
        return [name or "constant", shape_text(shape, dtype, show | {"shape"})]
    return [describe_argument(meta)]


def op_args_lines(op: Function) -> list[str]:
    """An op's keyword arguments, one `name=value` each; a ConvTranspose shows its own arguments (those of
    conv2d_transpose) instead of the geometry of the conv2d whose input gradient it is."""
    if isinstance(op, ConvTranspose):
        geometry = op.op_args["geometry"]
        arguments = {"kernel": geometry.kernel, "strides": geometry.strides, "padding": op.op_args["padding"],
                     "output_padding": op.op_args["output_padding"], "dilation": geometry.dilation}
        return [f"{key}={describe_argument(value)}" for key, value in arguments.items()]
    return op_args_text(op.op_args)


def unrecorded_text(tensor: Tensor) -> str:
    """What an output that is a leaf without grad says: no op was recorded to make it (empty otherwise)."""
    if tensor._ctx is not None or tensor.requires_grad:
        return ""
    return "no graph recorded: made under no_grad or from tensors without requires_grad"


def layer_lines(layer: Any, show: frozenset[str]) -> list[str]:
    """A collapsed layer's activation and whether its weights train, as `show` asks (Keras's plot_model lines)."""
    lines = []
    activation = getattr(layer, "activation", None)
    if "activation" in show and activation is not None:
        name = activation if isinstance(activation, str) else (
            getattr(activation, "name", None) or getattr(activation, "__name__", None) or type(activation).__name__)
        lines.append(f"activation: {name}")
    if "trainable" in show and getattr(layer, "weights", None):
        lines.append("trainable" if layer.trainable else "non-trainable")
    return lines


def has_non_finite(array: Any) -> bool:
    """True when a floating-point array holds NaN or Inf."""
    return isinstance(array, np.ndarray) and array.dtype.kind in "fc" and not np.isfinite(array).all()


def _number(value: float) -> str:
    return f"{value:.3g}"


def value_text(array: np.ndarray) -> str:
    """'min -1.2 mean 0.031 max 2.5' of the finite values, with NaN/Inf counts."""
    if array.size == 0:
        return "empty"
    if array.dtype.kind not in "fciub":
        return str(array.dtype)
    data = array.astype(np.float64) if array.dtype.kind == "b" else array
    finite = finite_values(data)
    text = (f"min {_number(finite.min())} mean {_number(finite.mean())} max {_number(finite.max())}"
            if finite.size else "no finite values")
    return text + _non_finite_text(data)


def grad_text(grad: Any) -> str:
    """'grad norm 0.53 [-0.1, 0.2]', or 'no grad' before backward."""
    if grad is None:
        return "no grad"
    data = grad.data if isinstance(grad, Tensor) else np.asarray(grad)
    if data.size == 0:
        return "grad: empty"
    finite = finite_values(data)
    if not finite.size:
        return "grad: no finite values" + _non_finite_text(data)
    return (f"grad norm {_number(np.linalg.norm(finite))} "
            f"[{_number(finite.min())}, {_number(finite.max())}]" + _non_finite_text(data))


def _non_finite_text(data: np.ndarray) -> str:
    nan, inf = non_finite_counts(data)
    return "".join(f", {count} {what}" for count, what in ((nan, "NaN"), (inf, "Inf")) if count)


def bytes_text(count: int) -> str:
    """A memory size in B, KiB, MiB or GiB."""
    size = float(count)
    for unit in ("B", "KiB", "MiB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


def _arrays(values: Iterable[Any]) -> Iterable[np.ndarray]:
    """The arrays among saved values (Tensors, arrays, and tuples or lists of them)."""
    stack = list(values)
    while stack:
        value = stack.pop()
        if isinstance(value, Tensor):
            yield value.data
        elif isinstance(value, np.ndarray):
            yield value
        elif isinstance(value, (tuple, list)):
            stack.extend(value)


def saved_text(node: Any) -> str:
    """The memory a node keeps for backward, each array counted once (nothing once released)."""
    if node.released:
        return "saved: released"
    held = [getattr(node, "_saved", ()), *getattr(node, "__dict__", {}).values()]
    arrays = {id(array): array for array in _arrays(held)}
    return f"saved {bytes_text(sum(array.nbytes for array in arrays.values()))}"


def live_outputs(ops: Iterable[Any], outputs: Iterable[Tensor]) -> dict[int, np.ndarray]:
    """id(op) -> the values of its output, where that tensor is still alive (saved for backward, or given)."""
    found = {}
    for op in ops:
        for tensor in getattr(op, "_saved", ()):
            if isinstance(tensor, Tensor) and tensor._ctx is not None:
                found[id(tensor._ctx)] = tensor.data
    found.update((id(tensor._ctx), tensor.data) for tensor in outputs if tensor._ctx is not None)
    return found


def legend_html(roles: Iterable[str], backward: bool) -> str:
    """An HTML-like graphviz label: one coloured row per role present in the drawing."""
    names = dict(LEGEND, op="backward function", output="output (gradient seed)") if backward else LEGEND
    rows = "".join(f'<TR><TD BGCOLOR="{COLOURS[role]}">{names[role]}</TD></TR>' for role in COLOURS if role in roles)
    return f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4">{rows}</TABLE>>'
