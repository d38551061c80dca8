"""Symbolic tensors (Keras's KerasTensor): the shape and dtype of a value a model will compute, and the
layer call that makes it. Layers called on them record `Node`s, the graph a functional model runs."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

Shape = tuple[int | None, ...]


class Node:
    """One call of a layer on symbolic tensors: the layer, its inputs as given (a tensor or a list of
    them), its outputs (a tensor, a list or a dict) and `training` when the call fixed it. The layer
    keeps its nodes in order (`layer._inbound_nodes`), for `layer.output` and `layer.input`."""

    __slots__ = ("layer", "inputs", "outputs", "training")

    def __init__(self, layer: Any, inputs: Any, outputs: Any, training: bool | None) -> None:
        self.layer, self.inputs, self.outputs, self.training = layer, inputs, outputs, training
        layer.__dict__.setdefault("_inbound_nodes", []).append(self)   # not an attribute the layer tracks

    @property
    def parents(self) -> list[KerasTensor]:
        """The symbolic tensors this call reads, in order."""
        return flatten(self.inputs)

    def __repr__(self) -> str:
        return f"<Node {self.layer.name!r} ({len(self.parents)} inputs)>"


class KerasTensor:
    """A value a functional model will compute: its shape (batch axis None), dtype and name, and the
    node (layer call) and output index that produce it. It holds no numbers: using it as data fails."""


    def __init__(self, shape: Shape, dtype: Any = np.float32, name: str | None = None,
                 node: Node | None = None, index: int = 0) -> None:
        self.shape, self.dtype, self.name = tuple(shape), np.dtype(dtype), name
        self.node, self.index = node, index

    @property
    def ndim(self) -> int:
        """The rank, batch axis included."""
        return len(self.shape)

    @property
    def layer(self) -> Any:
        """The layer whose call made this tensor (the InputLayer for an Input)."""
        return self.node.layer if self.node is not None else None

    def __repr__(self) -> str:
        shape = "(" + ", ".join("None" if n is None else str(n) for n in self.shape) + ("," * (self.ndim == 1)) + ")"
        return f"<KerasTensor shape={shape}, dtype={self.dtype}, name={self.name}>"

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"{self!r} is a symbolic tensor: it stands for a value a model will compute and holds no "
                        "numbers. Call layers on it (merge with tc.layers.Add()([a, b]), not a + b), build "
                        "tc.Model(inputs, outputs), then call the model (or model.predict) on data")

    # NumPy hands `np.exp(symbolic)` and `array + symbolic` to __array_ufunc__, which refuses as well
    __array_ufunc__ = __array_function__ = __array__ = numpy = _refuse
    __float__ = __int__ = __bool__ = __len__ = __iter__ = __getitem__ = _refuse
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _refuse
    __matmul__ = __rmatmul__ = __pow__ = __rpow__ = __neg__ = __abs__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse


def flatten(structure: Any) -> list[Any]:
    """The leaves of a tensor, a list/tuple of tensors or a dict of them (in insertion order)."""
    if isinstance(structure, Mapping):
        return list(structure.values())
    if isinstance(structure, (list, tuple)):
        return list(structure)
    return [structure]


def pack(structure: Any, leaves: list[Any]) -> Any:
    """`leaves` in the form of `structure` (a leaf, a list or a dict); a tuple becomes a list."""
    if isinstance(structure, Mapping):
        return dict(zip(structure, leaves, strict=True))
    if isinstance(structure, (list, tuple)):
        return list(leaves)
    return leaves[0]


def is_symbolic(value: Any) -> bool:
    """Whether `value` is a symbolic tensor or a list/tuple/dict holding one."""
    if isinstance(value, KerasTensor):
        return True
    return isinstance(value, (list, tuple, Mapping)) and any(isinstance(v, KerasTensor) for v in flatten(value))


def is_shape(value: Any) -> bool:
    """Whether `value` is one shape (a tuple of sizes), not a list or dict of shapes."""
    return isinstance(value, tuple) and all(n is None or isinstance(n, (int, np.integer)) for n in value)


def call(layer: Any, inputs: Any, training: bool | None, check_or_build: Callable[[Any], None]) -> Any:
    """A layer called on symbolic tensors: build it (or check the shapes) with `check_or_build`, and return
    symbolic outputs of the shapes its compute_output_shape gives, made by a new Node."""
    leaves = flatten(inputs)
    real = [type(leaf).__name__ for leaf in leaves if not isinstance(leaf, KerasTensor)]
    if real:
        raise TypeError(f"{layer._describe()} was called on symbolic tensors (from tc.Input) mixed with "
                        f"{', '.join(real)}; in a functional model every input of a layer must come from "
                        "tc.Input or another layer's output (a constant can be a layer's weight instead)")
    inputs = inputs if isinstance(inputs, (KerasTensor, Mapping)) else list(leaves)  # as given; a tuple as a list
    shapes = pack(inputs, [leaf.shape for leaf in leaves])
    check_or_build(shapes)
    output_shapes = layer.compute_output_shape(shapes)
    # a layer computes in its inputs' floating dtype, a float16 layer in float16; integer and bool data become
    # float32 (Layer._as_tensor)
    dtype = np.float16 if layer.autocast and layer.dtype == np.float16 else \
        np.result_type(*(leaf.dtype if leaf.dtype.kind == "f" else np.float32 for leaf in leaves))
    node = Node(layer, inputs, None, training)
    if is_shape(output_shapes):
        node.outputs = KerasTensor(output_shapes, dtype, layer.name, node)
        return node.outputs
    flat = flatten(output_shapes)
    keyed = isinstance(output_shapes, Mapping)
    names = list(output_shapes) if keyed else [f"{layer.name}_{i}" for i in range(len(flat))]
    node.outputs = pack(output_shapes, [KerasTensor(shape, dtype, name, node, i)
                                        for i, (shape, name) in enumerate(zip(flat, names, strict=True))])
    return node.outputs
