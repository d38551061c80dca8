"""`plot_model`: Keras's name for drawing a model, here by running it once and drawing what it recorded."""
from __future__ import annotations

import os
import pathlib
from typing import Any

import numpy as np

from ..arguments import flag, is_int
from ..engine import toposort
from ..layers import Layer
from ..layers.shapes import format_shape
from ..mode import enable_grad
from ..models import Model
from ..tensor import Tensor
from .graph import draw_graph
from .render import save_graph

SPLINES = ("ortho", "curved", "polyline", "spline", "line")  # Keras's choices


def _sample(model: Any, known: Any, input_shape: Any, dtype: Any = np.float32) -> Tensor:
    """A batch of one zero input of `dtype`: from `input_shape` (without the batch axis), an array (floating
    data keeps its dtype), or `known`, the model's input shape (None when the model is not built)."""
    if isinstance(input_shape, (Tensor, np.ndarray)):
        data = np.asarray(input_shape.data if isinstance(input_shape, Tensor) else input_shape)
        return Tensor(data.copy() if data.dtype.kind == "f" else data.astype(np.float32), requires_grad=True)
    if input_shape is None:
        if known is None:
            raise ValueError(f"plot_model: {type(model).__name__} is not built, so its input shape is unknown; "
                             "pass input_shape=(28, 28, 1) (one sample, without the batch axis) or a sample batch")
        input_shape = tuple(known)[1:]
        if None in input_shape:
            shape = format_shape((None, *input_shape))
            raise ValueError(f"plot_model: the model's input shape {shape} has sizes left open (None), so plot_model "
                             "cannot make a sample input; pass input_shape= with every size (without the batch "
                             "axis), or a sample batch")
    if not isinstance(input_shape, (tuple, list)) or not all(
            is_int(n) and n > 0 for n in input_shape):
        raise ValueError(f"plot_model: input_shape must be a tuple of positive ints without the batch axis "
                         f"(e.g. (28, 28, 1)), or a sample batch; got {input_shape!r:.60}")
    return Tensor(np.zeros((1, *input_shape), dtype=dtype), requires_grad=True)


def _samples(model: Any, input_shape: Any) -> Any:
    """One zero batch per input, as a list, for a model that takes a list (several inputs, or a subclassed
    model built for a list); `input_shape` is then a list of shapes or batches, or None for the model's
    own shapes and dtypes. A single sample otherwise."""
    known = model.input_shape if getattr(model, "built", False) else None
    names = list(getattr(model, "input_names", ()))
    given_list = isinstance(input_shape, list) and bool(input_shape) and all(
        isinstance(one, (tuple, list, np.ndarray, Tensor)) for one in input_shape)
    if not (isinstance(known, list) or len(names) > 1 or given_list):
        return _sample(model, known, input_shape)
    count = len(known) if isinstance(known, list) else len(input_shape) if given_list else len(names)
    if input_shape is None:
        input_shape = [None] * count
    if not isinstance(input_shape, (list, tuple)) or len(input_shape) != count:
        raise ValueError(f"plot_model: the model has {count} inputs {names}, so input_shape must be a list of "
                         f"{count} shapes (without the batch axis) or sample batches, or None; got {input_shape!r:.60}")
    knowns = known if isinstance(known, list) else [None] * count
    symbolic = vars(model).get("inputs")   # a functional model's Inputs (a Sequential's property may refuse)
    dtypes = [t.dtype for t in symbolic] if symbolic and len(symbolic) == count else [np.float32] * count
    return [_sample(model, *one) for one in zip(knowns, input_shape, dtypes, strict=True)]


def _outputs(output: Any) -> list[Tensor]:
    """The model's outputs as a list: one Tensor, or the values of a list, tuple or dict of them."""
    outputs = list(output.values()) if isinstance(output, dict) else list(output) \
        if isinstance(output, (list, tuple)) else [output]
    wrong = [type(y).__name__ for y in outputs if not isinstance(y, Tensor)]
    if wrong:
        raise TypeError(f"plot_model: calling the model returned {', '.join(wrong)}, not Tensors")
    return outputs


def _named_inputs(model: Any, sample: Any) -> dict[str, Tensor]:
    """{name: sample} for the input nodes: the model's input names (its Inputs', or input_0, ... of a
    subclassed model built for a list), read after the call that built it; input, input_0, ... otherwise."""
    samples = sample if isinstance(sample, list) else [sample]
    names = list(getattr(model, "input_names", ()))
    if len(names) != len(samples) or len(set(names)) != len(names):
        names = ["input"] if len(samples) == 1 else [f"input_{i}" for i in range(len(samples))]
    return dict(zip(names, samples, strict=True))


def _layer_paths(outputs: list[Tensor], model: Any, expand_nested: bool) -> list[str]:
    """The layers drawn as one node each: the model's own layers, or, with `expand_nested`, the layers of the
    models nested in it (each nested model then a cluster around its layers)."""
    paths: dict[str, None] = {}
    for op in toposort([output._ctx for output in outputs if output._ctx is not None]):
        scope = op.scope
        while scope is not None:  # the outermost scope named here is the one collapsed
            if scope.owner is not model and not (expand_nested and isinstance(scope.owner, Model)):
                paths[scope.path] = None
            scope = scope.parent
    return list(paths)


def _check_dpi(dpi: Any) -> Any:
    """A positive finite number of dots per inch, or None (graphviz's default)."""
    if dpi is None:
        return None
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float, np.integer, np.floating)):
        raise TypeError(f"plot_model: dpi must be a positive number (dots per inch) or None for graphviz's "
                        f"default, got {type(dpi).__name__} {dpi!r:.40}")
    if not (np.isfinite(dpi) and dpi > 0):
        raise ValueError(f"plot_model: dpi must be a positive number (dots per inch) or None for graphviz's "
                         f"default, got {dpi!r:.40}")
    return dpi


def plot_model(model: Any, path: str | os.PathLike[str] | None = "model.png", input_shape: Any = None,
               show_shapes: bool = True, show_dtype: bool = False, collapse: Any = True,
               direction: str = "forward", rankdir: str = "TB", max_nodes: int | None = 500,
               to_file: str | os.PathLike[str] | None = None, show_layer_names: bool = True,
               expand_nested: bool = False, dpi: float | None = None, show_layer_activations: bool = False,
               show_trainable: bool = False, splines: str | None = None) -> Any:
    """Run `model` (in inference mode) on a zero batch (one per input), draw its graph, one node per layer,
    each input by its name, with every output, and save it to `path` (or `to_file`, Keras's name for it;
    a name without extension is written as PNG, as Keras does).

    Keras's options: `expand_nested` draws the layers of nested models (inside a cluster per model) instead
    of one node per nested model; `show_layer_names=False` captions layers by class alone;
    `show_layer_activations` and `show_trainable` add those lines; `dpi` and `splines` go to graphviz.
    """
    if not callable(model):
        raise TypeError(f"plot_model needs a model to call (e.g. a tc.Sequential), got {type(model).__name__}")
    if to_file is not None:
        if path not in (None, "model.png"):
            raise TypeError(f"plot_model: give the file once, as path= or as to_file= (Keras's name), got "
                            f"path={path!r} and to_file={to_file!r}")
        path = to_file
    show_shapes, show_dtype, names, expand_nested, activations, trainable = (
        flag(value, name, "plot_model") for value, name in (
            (show_shapes, "show_shapes"), (show_dtype, "show_dtype"), (show_layer_names, "show_layer_names"),
            (expand_nested, "expand_nested"), (show_layer_activations, "show_layer_activations"),
            (show_trainable, "show_trainable")))
    if splines is not None and splines not in SPLINES:
        raise ValueError(f"plot_model: splines must be one of {', '.join(map(repr, SPLINES))} or None (graphviz's "
                         f"default), got {splines!r:.40}")
    dpi = _check_dpi(dpi)
    sample = _samples(model, input_shape)
    with enable_grad():  # record the graph even if called under no_grad
        # training=False: drawing must not move BatchNormalization's statistics
        output = model(sample, training=False) if isinstance(model, Layer) else model(sample)
    outputs = _outputs(output)
    if collapse is True:
        collapse = _layer_paths(outputs, model, expand_nested)
    show = ("shape",) * show_shapes + ("dtype",) * show_dtype + ("activation",) * activations \
        + ("trainable",) * trainable
    graph = draw_graph(*outputs, show=show + ("op_args",), direction=direction, collapse=collapse,
                       max_nodes=max_nodes, rankdir=rankdir, inputs=_named_inputs(model, sample),
                       layer_names=names)
    if dpi is not None:
        graph.graph_attr["dpi"] = str(dpi)
    if splines is not None:
        graph.graph_attr["splines"] = splines
    if path is not None:
        bare = isinstance(path, (str, os.PathLike)) and not pathlib.Path(path).suffix
        save_graph(graph, path, format="png" if bare else None)  # a name without extension: PNG, as in Keras
    return graph
