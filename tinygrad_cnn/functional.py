"""Keras's functional API: `tc.Model(inputs, outputs)`, a model that runs the graph of layer calls made on
symbolic tensors (`tc.Input`) from its inputs to its outputs; shared layers, nested models, several
inputs and outputs (a tensor, a list or a dict of them), Keras 3's config form and summary."""
from __future__ import annotations

import collections
import functools
from collections.abc import Callable, Mapping
from typing import Any

from .arguments import flag
from .layers import Input, Layer
from .layers.core import InputLayer
from .layers.shapes import format_shape
from .layers.symbolic import KerasTensor, Node, flatten, is_shape, pack
from .models import Model, deserialize_layer, serialize_layer
from .tensor import Tensor


class Functional(Model):
    """A model made of layers called on `tc.Input`s: `tc.Model(inputs=x, outputs=y, name="net")`.

    Called on one Tensor or array (one input), a list in `inputs` order or a dict by input name, it
    returns a Tensor, a list or a dict, as `outputs` was given (a one-element list gives the Tensor).
    """

    def __init__(self, inputs: Any = None, outputs: Any = None, name: str | None = None,
                 trainable: bool = True) -> None:
        if inputs is None or outputs is None:
            missing = "inputs" if inputs is None else "outputs"
            raise TypeError(f"tc.Model(inputs, outputs) needs both; {missing} is missing. Call layers on "
                            "x = tc.Input(shape), then tc.Model(inputs=x, outputs=y); or subclass tc.Model")
        trainable = flag(trainable, "trainable", "tc.Model")
        super().__init__(name)
        self._inputs_given, self._outputs_given = _structure(inputs, "inputs"), _structure(outputs, "outputs")
        self.inputs: list[KerasTensor] = flatten(self._inputs_given)
        self.outputs: list[KerasTensor] = flatten(self._outputs_given)
        if len({id(t) for t in self.inputs}) != len(self.inputs):
            raise ValueError(f"tc.Model: the inputs {[t.name for t in self.inputs]} list one tensor twice; give "
                             "each once")
        # an Input's own layer; for an intermediate tensor (a sub-model of a bigger graph), a new InputLayer
        self._input_layers = [t.layer if _is_input(t) else InputLayer(batch_shape=t.shape, dtype=t.dtype)
                              for t in self.inputs]
        self._nodes = _nodes_between(self.inputs, self.outputs)
        # each symbolic tensor's slot in a run's list of values (positions, not ids, so that copies and
        # pickles of the model run too), then per call the slots it reads and fills, worked out once
        slots = {id(t): i for i, t in enumerate(self.inputs + [t for node in self._nodes
                                                               for t in flatten(node.outputs)])}
        self._slots = len(slots)
        self._plan = [(node, [slots[id(t)] for t in node.parents], [slots[id(t)] for t in flatten(node.outputs)])
                      for node in self._nodes]
        self._output_slots = [slots[id(t)] for t in self.outputs]
        used = {id(t) for node in self._nodes for t in node.parents} | {id(t) for t in self.outputs}
        unused = [t.name for t in self.inputs if id(t) not in used]
        if unused:
            raise ValueError(f"tc.Model: the inputs {unused} are not used to compute any output; remove them from "
                             "inputs= or use them")
        # each layer once, in order of first use (a dict by id keeps the order and finds repeats at once)
        self._layers: list[Layer] = list({id(layer): layer for layer in self._input_layers
                                          + [node.layer for node in self._nodes]}.values())
        names = [layer.name for layer in self._layers]
        repeated = sorted(n for n, count in collections.Counter(names).items() if count > 1)
        if repeated:
            raise ValueError(f"tc.Model: all layers need unique names, and {repeated} are used by different layers "
                             f"(layers: {names}); pass name= to the layers")
        self._input_shape, self._output_shape = self.input_shape, self.output_shape
        self.built = True
        if not trainable:
            self.trainable = False

    # --- the graph ---
    def _sublayers(self) -> list[Layer]:
        return self._layers

    def _history(self) -> Callable[[KerasTensor], list[Any]]:
        """t -> [layer name, node index, tensor index] in this model (Keras's keras_history): the node index
        counts the layer's calls in this model only; an input is its InputLayer's tensor, node 0."""
        counts: dict[int, int] = {}
        indexes: dict[int, int] = {}
        for node in self._nodes:
            indexes[id(node)] = counts.get(id(node.layer), 0)
            counts[id(node.layer)] = indexes[id(node)] + 1
        inputs = {id(t): layer.name for t, layer in zip(self.inputs, self._input_layers, strict=True)}

        def history(t: KerasTensor) -> list[Any]:
            return [inputs[id(t)], 0, 0] if id(t) in inputs else [t.layer.name, indexes[id(t.node)], t.index]
        return history

    def _run(self, leaves: list[Any], apply: Callable[[Node, Any], Any]) -> Any:
        """Values for the outputs: `leaves` for the inputs, then `apply(node, its input values)` node by node."""
        values: list[Any] = [None] * self._slots
        values[:len(leaves)] = leaves   # the inputs' slots come first
        for node, sources, targets in self._plan:
            args = [values[source] for source in sources]
            result = apply(node, args[0] if isinstance(node.inputs, KerasTensor) else pack(node.inputs, args))
            for target, value in zip(targets, [result] if isinstance(node.outputs, KerasTensor)
                                     else flatten(result), strict=True):
                values[target] = value
        return self._packed_outputs([values[slot] for slot in self._output_slots])

    def _packed_outputs(self, leaves: list[Any]) -> Any:
        """Values in the structure `outputs` was given in (a one-element list gives the value itself, as Keras)."""
        if isinstance(self._outputs_given, list) and len(leaves) == 1:
            return leaves[0]
        return pack(self._outputs_given, leaves)

    def _in_input_order(self, given: Any, what: str, is_leaf: Callable[[Any], bool]) -> list[Any]:
        """The inputs (`what`: "array") or their shapes ("shape") as a list in `inputs` order, from one, a
        list/tuple or a dict by name; `is_leaf` tells a list that is one input's data from a list of inputs."""
        names = self.input_names
        if isinstance(given, Mapping):
            unknown, missing = [k for k in given if k not in names], [n for n in names if n not in given]
            if unknown or missing:
                raise ValueError(f"{self._describe()} was called on a dict with the keys {list(given)}, but its "
                                 f"inputs are named {names} (missing {missing}, unknown {unknown}); key the {what}s "
                                 "by those names")
            return [given[n] for n in names]
        if isinstance(given, (list, tuple)) and not is_leaf(given):
            if len(given) != len(names):
                plural, inputs = "s" * (len(given) != 1), "input" + "s" * (len(names) != 1)
                stack = "; to give one input's rows as a list, stack them first: np.stack(rows)" \
                    if len(names) == 1 and what == "array" else ""
                raise ValueError(f"{self._describe()} has {len(names)} {inputs} {names} but was called on a list of "
                                 f"{len(given)} {what}{plural}; give one per input, in that order, or a dict keyed "
                                 f"by those names{stack}")
            return list(given)
        if len(names) != 1:
            raise ValueError(f"{self._describe()} has {len(names)} inputs {names} but was called on one {what}; give a "
                             "list with one per input, in that order, or a dict keyed by those names")
        return [given]

    # --- calling (Layer.__call__ converts the inputs, checks their shapes, then runs call) ---
    def _as_tensor(self, inputs: Any) -> list[Tensor]:  # type: ignore[override]
        tensors = []
        for t, value in zip(self.inputs, self._in_input_order(inputs, "array", _nested_numbers), strict=True):
            x = super()._as_tensor(value)   # floating data as given (float64 runs in float64), other data float32
            tensors.append(x if _floating(value) or x.dtype == t.dtype else x.astype(t.dtype))
        return tensors

    def _check_input(self, shape: Any) -> None:
        shapes = self._in_input_order(shape, "shape", is_shape)
        for name, t, given in zip(self.input_names, self.inputs, shapes, strict=True):
            fits = len(given) == t.ndim and all(None in (n, m) or n == m for n, m in zip(t.shape[1:], given[1:]))
            if not fits:
                raise ValueError(f"{self._describe()}: input {name!r} expects shape {format_shape(t.shape)}, got "
                                 f"{format_shape(given)} (the batch axis first, then one example's shape)")

    _check_rank = _check_input

    def call(self, inputs: Any, training: bool = False) -> Any:
        """Run the layers in order on `inputs`; a call made with training=... while building keeps that mode."""
        leaves = inputs if isinstance(inputs, list) and all(isinstance(x, Tensor) for x in inputs) \
            and len(inputs) == len(self.inputs) else self._as_tensor(inputs)
        return self._run(leaves, lambda node, x: node.layer(x, training=training if node.training is None
                                                            else node.training))

    def _cloned(self, clone: Callable[[Layer], Layer], input_tensors: Any) -> Functional:
        """clone_model's work: each call replayed with the layer's clone, on `input_tensors` or new Inputs."""
        if input_tensors is None:
            inputs = [Input(batch_shape=t.shape, dtype=t.dtype, name=layer.name)
                      for t, layer in zip(self.inputs, self._input_layers, strict=True)]
        else:
            inputs = self._in_input_order(input_tensors, "symbolic tensor", lambda v: isinstance(v, KerasTensor))
            wrong = [type(t).__name__ for t in inputs if not isinstance(t, KerasTensor)]
            if wrong:
                raise TypeError(f"clone_model: input_tensors must be tensors from tc.Input (or layers' outputs), "
                                f"got {', '.join(wrong)}")
        outputs = self._run(inputs, lambda node, x: clone(node.layer)(x, training=node.training))
        return Functional(pack(self._inputs_given, inputs), outputs, name=self.name, trainable=self.trainable)

    def compute_output_shape(self, input_shape: Any) -> Any:
        self._check_input(input_shape)   # the Inputs' sizes, as a call would check them
        shapes = self._in_input_order(input_shape, "shape", is_shape)
        return self._run(shapes, lambda node, shape: node.layer.compute_output_shape(shape))

    # --- shapes and names ---
    @property
    def input(self) -> Any:
        """The inputs as given to tc.Model: one symbolic tensor, a list or a dict (Keras's model.input)."""
        return self._inputs_given[0] if isinstance(self._inputs_given, list) and len(self.inputs) == 1 \
            else self._inputs_given

    @property
    def output(self) -> Any:
        """The outputs as given to tc.Model (Keras's model.output); `outputs` is the flat list."""
        return self._packed_outputs(self.outputs)

    @property
    def input_shape(self) -> Any:
        """The input's shape, batch axis None (a list of shapes for several inputs)."""
        return self.inputs[0].shape if len(self.inputs) == 1 else [t.shape for t in self.inputs]

    @property
    def output_shape(self) -> Any:
        """The output's shape, batch axis None (a list of shapes for several outputs)."""
        return self.outputs[0].shape if len(self.outputs) == 1 else [t.shape for t in self.outputs]

    @property
    def input_names(self) -> list[str]:
        """The keys of a dict of inputs, else the names of the Inputs, in `inputs` order."""
        if isinstance(self._inputs_given, Mapping):
            return [str(key) for key in self._inputs_given]
        return [layer.name for layer in self._input_layers]

    @property
    def output_names(self) -> list[str]:
        """The keys of a dict of outputs, else the names of the layers that make the outputs, made unique
        (as tf.keras did) when one layer makes several of them: "dense", "dense_1", ..., so that the losses
        and metrics of each are logged on their own."""
        if isinstance(self._outputs_given, Mapping):
            return [str(key) for key in self._outputs_given]
        names = [t.layer.name for t in self.outputs]
        taken = set(names)
        for i, name in enumerate(names):
            if name in names[:i]:   # a later output of the same layer: the first free name_1, name_2, ...
                n = 1
                while f"{name}_{n}" in taken:
                    n += 1
                names[i] = f"{name}_{n}"
                taken.add(names[i])
        return names

    # --- summary ---
    def summary_str(self, show_formula: bool = False, show_receptive_field: bool = False) -> str:
        """Keras's table for a functional model: one row per layer, with the outputs it feeds from."""
        show_formula = flag(show_formula, "show_formula", "summary")
        if flag(show_receptive_field, "show_receptive_field", "summary"):
            raise ValueError(f"{self._describe()}: show_receptive_field needs a tc.Sequential (a chain of layers); "
                             "a graph's paths can see different windows")
        history = self._history()
        calls = _calls_by_layer([layer.output.node for layer in self._input_layers] + self._nodes)
        rows = []
        for layer in self._layers:
            own = calls.get(id(layer), [])
            shapes = list(dict.fromkeys(format_shape(t.shape) for node in own for t in flatten(node.outputs)))
            sources = ["{}[{}][{}]".format(*history(t)) for node in own for t in node.parents]
            first = [f"{layer.name} ({type(layer).__name__})", ", ".join(shapes), f"{layer.count_params():,}"]
            first += [layer.param_formula()] * show_formula + [sources[0] if sources else "-"]
            rows.append([first] + [[""] * (len(first) - 1) + [source] for source in sources[1:]])
        return self._table(["Layer (type)", "Output Shape", "Param #"] + ["Formula"] * show_formula
                           + ["Connected to"], rows)

    # --- configs (Keras 3's functional form) ---
    def get_config(self) -> dict[str, Any]:
        """{"name", "trainable", "layers": [{"class_name", "config", "name", "inbound_nodes"}, ...],
        "input_layers", "output_layers"}: each tensor as [layer name, node index, tensor index]."""
        history = self._history()

        def argument(t: KerasTensor) -> dict[str, Any]:
            return {"class_name": "__keras_tensor__",
                    "config": {"shape": list(t.shape), "dtype": t.dtype.name, "keras_history": history(t)}}

        calls = _calls_by_layer(self._nodes)
        entries = []
        for layer in self._layers:
            inbound = [{"args": [pack(node.inputs, [argument(t) for t in node.parents])],
                        "kwargs": {} if node.training is None else {"training": node.training}}
                       for node in calls.get(id(layer), [])]
            entries.append({**serialize_layer(layer), "name": layer.name, "inbound_nodes": inbound})
        return {"name": self.name, "trainable": self.trainable, "layers": entries,
                "input_layers": _histories(self._inputs_given, history),
                "output_layers": _histories(self._outputs_given, history)}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Functional:
        """A new model with the architecture of `get_config()` (fresh weights); only built-in layer classes
        are built, so no code runs from the config."""
        if not isinstance(config, Mapping) or not isinstance(config.get("layers"), list):
            raise ValueError(f"a functional model's config must be a dict with a 'layers' list, got {config!r:.100}")
        layers: dict[str, Layer] = {}
        pending: dict[str, list[Any]] = {}   # each layer's calls still to make, in node order
        for entry in config["layers"]:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("inbound_nodes", []), list):
                raise ValueError(f"a layer entry of a functional config needs a 'config' and an 'inbound_nodes' "
                                 f"list, got {entry!r:.100}")
            layer = deserialize_layer({"class_name": entry.get("class_name"), "config": entry.get("config")})
            name = entry.get("name", layer.name)
            if name in layers:
                raise ValueError(f"the functional config names two layers {name!r}")
            layers[name], pending[name] = layer, [_checked_node(name, node) for node in entry.get("inbound_nodes", [])]
        tensor = functools.partial(_made, _replay(layers, pending))
        try:
            inputs, outputs = (_singleton(_mapped(config.get(key), tensor, histories=True))
                               for key in ("input_layers", "output_layers"))
        except KeyError as e:
            raise ValueError(f"the functional config's input_layers/output_layers name a tensor no layer makes: "
                             f"{e}") from None
        return cls(inputs, outputs, name=config.get("name"), trainable=config.get("trainable", True))


def _history_key(ref: Any) -> tuple[Any, ...]:
    """(layer name, node index, tensor index) of a config's tensor: a `__keras_tensor__` entry or the triple."""
    if isinstance(ref, Mapping) and ref.get("class_name") == "__keras_tensor__":
        ref = ref.get("config", {}).get("keras_history")
    if not (isinstance(ref, list) and len(ref) == 3):
        raise KeyError(ref)
    return tuple(ref)


def _made(tensors: dict[tuple[Any, ...], KerasTensor], ref: Any) -> KerasTensor:
    """The tensor a config's reference names, among those made so far (KeyError(ref) when not made)."""
    key = _history_key(ref)
    if key not in tensors:
        raise KeyError(ref)
    return tensors[key]


def _checked_node(name: Any, node: Any) -> Mapping[str, Any]:
    """A config's layer call, {"args": [inputs], "kwargs": {"training": True/False/None}} (kwargs optional)."""
    why = "the functional config's graph cannot be rebuilt"
    kwargs = node.get("kwargs", {}) if isinstance(node, Mapping) else None
    if not isinstance(kwargs, Mapping) or not isinstance(node.get("args"), list) or not node["args"]:
        raise ValueError(f"{why}: layer {name!r} has a call that is not {{'args': [inputs], 'kwargs': {{...}}}}: "
                         f"{node!r:.200}")
    unknown = [key for key, value in kwargs.items() if key != "training" and value is not None]  # None: the default
    training = kwargs.get("training")
    if unknown or not (training is None or isinstance(training, bool)):
        raise ValueError(f"{why}: it calls layer {name!r} with kwargs {dict(kwargs)!r:.200}; a call can only fix "
                         "training=True, False or None (other arguments only at None)")
    return {"args": node["args"], "kwargs": kwargs}


def _replay(layers: dict[str, Layer], pending: dict[str, list[Any]]) -> dict[tuple[Any, ...], KerasTensor]:
    """Call each layer on the symbolic tensors its config's nodes name, a call once all its inputs exist (as
    Keras rebuilds); the tensors made, by (layer name, node index, tensor index)."""
    tensors = {(name, 0, 0): layer.output for name, layer in layers.items() if isinstance(layer, InputLayer)}
    made = dict.fromkeys(layers, 0)
    tensor = functools.partial(_made, tensors)
    progress = True
    while progress and any(pending.values()):
        progress = False
        for name, layer in layers.items():
            while pending[name]:
                node = pending[name][0]
                try:
                    args = _mapped(node["args"][0], tensor)
                except (KeyError, IndexError, TypeError):
                    break   # an input not made yet (or a malformed entry: reported below)
                outputs = layer(args, training=node["kwargs"].get("training"))
                for i, t in enumerate(flatten(outputs)):
                    tensors[(name, made[name], i)] = t
                made[name] += 1
                pending[name].pop(0)
                progress = True
    stuck = {name: nodes[0] for name, nodes in pending.items() if nodes}
    if stuck:
        raise ValueError(f"the functional config's graph cannot be rebuilt: these layer calls use tensors no "
                         f"layer makes (or not written as [layer name, node index, tensor index]): {stuck!r:.300}")
    return tensors


def _structure(value: Any, argument: str) -> Any:
    """`inputs=` or `outputs=` as given (a symbolic tensor, a list/tuple or a dict of them), checked."""
    leaves = flatten(value)
    wrong = [leaf for leaf in leaves if not isinstance(leaf, KerasTensor)]
    if wrong or not leaves:
        found = f"{type(wrong[0]).__name__} {wrong[0]!r:.60}" if wrong else "nothing"
        raise TypeError(f"tc.Model: {argument} must be symbolic tensors (tc.Input(shape) or the output of a layer "
                        f"called on one), one or a list or dict of them; got {found}. To run layers on data, build "
                        "the model first, then call it: model(x)")
    return list(value) if isinstance(value, tuple) else value


def _is_input(t: KerasTensor) -> bool:
    """Whether `t` is the tensor of an Input (not an intermediate tensor of a graph)."""
    return isinstance(t.layer, InputLayer) and not t.node.parents


def _nodes_between(inputs: list[KerasTensor], outputs: list[KerasTensor]) -> list[Node]:
    """The layer calls that lead from `inputs` to `outputs`, each after the calls that feed it (an iterative
    depth-first walk back from the outputs). An output that needs an Input not in `inputs` is an error."""
    known = {id(t) for t in inputs}
    order: list[Node] = []
    seen: set[int] = set()
    stack: list[tuple[Node, bool]] = [(t.node, False) for t in reversed(outputs) if id(t) not in known]
    while stack:
        node, finished = stack.pop()
        if finished:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        if isinstance(node.layer, InputLayer):
            raise ValueError(f"tc.Model: the outputs depend on the Input {node.layer.name!r} "
                             f"{format_shape(node.layer.input_shape)}, which is not in inputs= "
                             f"(inputs: {[t.name for t in inputs]}); the graph is disconnected: add it to inputs")
        seen.add(id(node))
        stack.append((node, True))
        stack.extend((t.node, False) for t in reversed(node.parents) if id(t) not in known and id(t.node) not in seen)
    return order


def _calls_by_layer(nodes: list[Node]) -> dict[int, list[Node]]:
    """The calls of each layer (by id), in the order of `nodes`."""
    calls: dict[int, list[Node]] = {}
    for node in nodes:
        calls.setdefault(id(node.layer), []).append(node)
    return calls


def _histories(given: Any, history: Callable[[KerasTensor], list[Any]]) -> Any:
    """Keras's input_layers/output_layers: a list of [name, node, index] (a dict of them for a dict)."""
    if isinstance(given, Mapping):
        return {key: history(t) for key, t in given.items()}
    return [history(t) for t in flatten(given)]


def _mapped(value: Any, tensor: Callable[[Any], KerasTensor], histories: bool = False) -> Any:
    """A config's tensor references (one, a list or a dict) as tensors."""
    is_history = histories and isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
    if is_history or isinstance(value, Mapping) and value.get("class_name") == "__keras_tensor__":
        return tensor(value)
    if isinstance(value, Mapping):
        return {key: _mapped(item, tensor, histories) for key, item in value.items()}
    if isinstance(value, list):
        return [_mapped(item, tensor, histories) for item in value]
    raise KeyError(value)


def _singleton(value: Any) -> Any:
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def _floating(value: Any) -> bool:
    """Whether data given for an input is already floating point (kept as it is, float64 included)."""
    dtype = getattr(value, "dtype", None)
    return dtype is not None and getattr(dtype, "kind", "") == "f"


def _nested_numbers(value: Any) -> bool:
    """Whether a list is data (a list of numbers or of lists), not a list of one array per input."""
    return bool(value) and not hasattr(value[0], "shape") and isinstance(value[0], (int, float, list, tuple))

