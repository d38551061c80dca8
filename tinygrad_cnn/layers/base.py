"""`Layer`: weights, building from the first input's shape, named scopes, train/eval and (de)serialisable configs."""
from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from .. import constraints, initializers, regularizers
from ..anomaly import set_detect_anomaly
from ..arguments import flag
from ..mode import no_grad, scope
from ..tensor import Tensor
from . import symbolic
from .receptive_field import UNKNOWN_FIELD, ReceptiveField
from .shapes import Shape, _without_batch, batch_shape, batch_shapes, format_shape

# how many layers of each default name were made so far (conv2d, conv2d_1, ...); reset by clear_session()
_NAME_COUNTS: dict[str, int] = {}


def snake_case(class_name: str) -> str:
    """Keras's default layer names: Conv2D -> conv2d, MaxPooling2D -> max_pooling2d, ReLU -> re_lu."""
    words = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", words).lower()


def unique_name(base: str) -> str:
    """`base` the first time, then `base_1`, `base_2`, ..."""
    count = _NAME_COUNTS.get(base, 0)
    _NAME_COUNTS[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def clear_session() -> None:
    """Restart default layer names from `conv2d`, `dense`, ... (as keras.backend.clear_session)."""
    _NAME_COUNTS.clear()


def config_name(value: Any, known: Mapping[str, Any], what: str) -> str:
    """The name under which `value` appears in `known` (for configs, which cannot hold code)."""
    for name, candidate in known.items():
        if candidate is value:
            return name
    raise ValueError(f"the {what} {value!r} is a custom callable, which a config cannot name; "
                     f"use one of {', '.join(known)} to save the architecture")


def _all_tensors(outputs: Any) -> bool:
    """Whether a layer's outputs are a list/tuple/dict of Tensors (a model with several outputs)."""
    return isinstance(outputs, (list, tuple, Mapping)) and all(
        isinstance(y, Tensor) for y in (outputs.values() if isinstance(outputs, Mapping) else outputs))


def _may_hold_layers(value: Any) -> bool:
    """Whether a layer attribute is tracked: a layer, a list or a dict (which may get layers later), or a
    tuple or set holding one of them (a set of layers is refused when the layers are read)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, (Layer, list, dict)):
            return True
        if isinstance(item, (tuple, set, frozenset)):
            stack.extend(item)
    return False


def _noting_build(build: Callable[..., None]) -> Callable[..., None]:
    """A layer class's own `build` that records it ran, so that a build() called by hand is not run again."""
    @functools.wraps(build)
    def noted(self: Layer, *args: Any, **kwargs: Any) -> None:
        build(self, *args, **kwargs)
        self.__dict__["_build_ran"] = True
    return noted


# the keywords every layer takes (Keras 3's base Layer), besides its own arguments
BASE_KEYWORDS = ("name", "trainable", "dtype", "activity_regularizer", "input_shape", "input_dim")
# Keras's mixed-precision policy names: the weights in float32 and the computation in a half type
_POLICIES = ("mixed_float16", "mixed_bfloat16")


def layer_dtype(dtype: Any, owner: str) -> np.dtype:
    """A layer's `dtype=`: None (float32), a floating NumPy dtype or its name ("float64", "float16"), or the
    dtype policy of a Keras 3 config, {"class_name": "DTypePolicy", "config": {"name": "float32"}}."""
    if isinstance(dtype, Mapping) and isinstance(dtype.get("config"), Mapping) and "name" in dtype["config"]:
        dtype = dtype["config"]["name"]
    if isinstance(dtype, str) and dtype in _POLICIES:
        raise ValueError(f"{owner}: dtype={dtype!r} is a Keras mixed-precision policy, which tinygrad_cnn does not "
                         "support; give one floating dtype for weights and computation, e.g. 'float32' or 'float16'")
    try:
        found = np.dtype(np.float32 if dtype is None else dtype)
    except (TypeError, ValueError):   # ValueError: NumPy's reading of a dict or tuple as a structured dtype
        found = None
    if found is None or found.kind != "f":
        raise TypeError(f"{owner}: dtype needs a floating dtype such as 'float32', 'float64' or 'float16' "
                        f"(None: float32), got {dtype!r:.60}")
    return found


def _input_shape_argument(layer: Layer, kwargs: dict[str, Any]) -> Shape | None:
    """Keras's `input_shape=(28, 28, 1)` / `input_dim=784` as a batch shape; any other keyword is a TypeError."""
    owner = type(layer).__name__
    shape, dim = kwargs.pop("input_shape", None), kwargs.pop("input_dim", None)
    if kwargs:
        own = [p.name for p in list(inspect.signature(type(layer).__init__).parameters.values())[1:]
               if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and p.name not in BASE_KEYWORDS]
        raise TypeError(f"{owner} got the unexpected keyword argument(s) {', '.join(map(repr, kwargs))}; it takes "
                        f"{', '.join(own) or 'no arguments of its own'} and the keywords every layer takes: "
                        f"{', '.join(BASE_KEYWORDS)}")
    if shape is not None and dim is not None:
        raise ValueError(f"{owner}: give input_shape or input_dim, not both (got {shape!r} and {dim!r})")
    if dim is not None:
        shape = (dim,) if isinstance(dim, (int, np.integer)) and not isinstance(dim, bool) and dim > 0 else None
        if shape is None:
            raise ValueError(f"{owner}: input_dim must be a positive int (the features of one sample), got {dim!r}")
    return None if shape is None else batch_shape((None, *shape) if isinstance(shape, (tuple, list)) else shape,
                                                   f"{owner}: input_shape")


class Variable(Tensor):
    """A layer's weight: a Tensor that carries its `constraint` (None, or a callable w -> Tensor that every
    optimizer applies right after each update of the weight, as Keras's variable.constraint)."""

    __slots__ = ("_constraint",)

    def __init__(self, data: Any, requires_grad: bool = False, name: str | None = None,
                 constraint: Any = None, dtype: Any = None) -> None:
        super().__init__(data, requires_grad=requires_grad, dtype=dtype, name=name)
        self.constraint = constraint

    @property
    def constraint(self) -> Any:
        """The constraint (a name such as "max_norm", a tc.constraints object or a callable) or None."""
        return self._constraint

    @constraint.setter
    def constraint(self, value: Any) -> None:
        """Set it, trying it once on the weight: a wrong axis or a result of another shape shows now."""
        constraint = constraints.get(value)
        if constraint is not None:
            constraints.project(constraint, self)
        self._constraint = constraint


class Layer:
    """A callable with weights: `layer(x)` builds it from x's shape the first time, then runs `call`.

    Subclasses set `ndim` (exact input rank) or `min_ndim`, and override `compute_output_shape` (or set
    `keeps_shape`; else call runs on a zero sample to find it), `_create_weights` (via `add_weight`),
    `_fixed_axes` (input axes the weights depend on), `call(x, training)` and `get_config`. Keras's way
    works too: a `build(input_shape)` that makes the weights with `add_weight(shape=..., initializer=...)`,
    and a `call(x)` without `training`.
    A layer starts in inference mode, as in Keras (a plain
    `model(x)` neither drops nor updates batch statistics; `fit` trains in training mode);
    `train()`/`eval()` switch the mode as in PyTorch, and `layer(x, training=...)` overrides it
    for one call. Layers assigned as attributes, alone or in lists, tuples and dicts, are held by
    this one (Keras's tracking): their weights, modes and penalties are this layer's too.
    """

    ndim: int | None = None
    min_ndim: int = 0
    # True for layers whose output has their input's shape (Dropout, BatchNormalization, ...): the base
    # compute_output_shape then returns it; otherwise it runs `call` on a zero sample to find the output shape
    keeps_shape = False
    activity_regularizer: Any = None  # a penalty of the output, e.g. tc.regularizers.L1(0.01); see `losses`
    _call_takes_training = True  # False for a Keras-style call(x) without the `training` argument
    # Keras's autocast: a float16 layer casts floating inputs to float16; False for a layer whose input is not
    # computed with (Embedding's indices) and for models, whose layers cast for themselves
    autocast = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        parameters = inspect.signature(cls.call).parameters.values()
        cls._call_takes_training = any(p.name == "training" or p.kind is p.VAR_KEYWORD for p in parameters)
        if "build" in cls.__dict__:   # as Keras's build wrapper: a build() that ran, even by hand, is not run again
            cls.build = _noting_build(cls.__dict__["build"])

    def __init__(self, name: str | None = None, *, trainable: bool = True, dtype: Any = None,
                 activity_regularizer: Any = None, **kwargs: Any) -> None:
        """Keras 3's base-layer keywords, which every layer passes on: `name`, `trainable` (False freezes the
        weights), `dtype` of the weights (None: float32), `activity_regularizer`, and `input_shape` or
        `input_dim` (the shape of one sample, for the first layer of a Sequential model)."""
        # the attributes that may hold layers, in assignment order (also those a subclass set before this ran);
        # set last, so that this layer's own lists below are not among them
        self.__dict__.pop("_tracked", None)
        tracked = dict.fromkeys(key for key, value in vars(self).items() if _may_hold_layers(value))
        owner = type(self).__name__
        if name is not None and (not isinstance(name, str) or not name or "/" in name):
            raise ValueError(f"{owner}: name must be a non-empty string without '/', got {name!r}")
        self._input_shape_arg = _input_shape_argument(self, kwargs)
        self.name = name if name is not None else unique_name(snake_case(owner))
        self.built = False
        self.training = False
        self.dtype = layer_dtype(dtype, owner)  # of the weights (astype changes it)
        self._trainable = flag(trainable, "trainable", owner)
        if activity_regularizer is not None:
            try:
                self.activity_regularizer = regularizers.get(activity_regularizer)
            except (TypeError, ValueError) as e:
                raise type(e)(f"{owner}: activity_regularizer: {e}") from None
        self._own_weights: list[tuple[Tensor, bool]] = []  # (weight, trainable when the layer is)
        self._weight_regularizers: list[tuple[Tensor, Any]] = []  # (weight, penalty of it)
        self._activity_loss: Tensor | None = None  # the activity penalty of the last call
        self._input_shape: Shape | None = None
        self._output_shape: Shape | None = None
        self.__dict__["_tracked"] = tracked

    # --- layers held as attributes (Keras's tracking; PyTorch's submodules) ---
    def __setattr__(self, name: str, value: Any) -> None:
        tracked = self.__dict__.get("_tracked")
        if tracked is not None:   # None until Layer.__init__ runs, which then looks at what was set before
            if _may_hold_layers(value):
                tracked[name] = None   # a reassigned attribute keeps its place, as in PyTorch
            else:
                tracked.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        object.__delattr__(self, name)
        self.__dict__.get("_tracked", {}).pop(name, None)

    def __getattr__(self, name: str) -> Any:
        """Only for attributes not found: say so, and why when Layer.__init__ never ran."""
        found = inspect.getattr_static(type(self), name, None)
        if isinstance(found, property) and found.fget is not None:   # the property raised AttributeError: show it
            return found.fget(self)
        if "_tracked" not in self.__dict__ and not name.startswith("__"):
            raise AttributeError(f"{type(self).__name__} has no attribute {name!r} because Layer.__init__ never "
                                 "ran: call super().__init__(**kwargs) in its __init__, as in Keras")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _attribute_layers(self) -> list[tuple[str, Layer]]:
        """(path, layer) for each layer held in an attribute, directly or in lists, tuples and dicts, however
        nested ("conv1", "convs/0", "heads/a"): attributes in assignment order, items in their own order."""
        found: list[tuple[str, Layer]] = []
        seen: set[int] = set()   # containers already opened: a list that holds itself is read once
        stack = [(name, getattr(self, name, None)) for name in reversed(self.__dict__.get("_tracked", ()))]
        while stack:
            path, value = stack.pop()
            if isinstance(value, Layer):
                found.append((path, value))
            elif isinstance(value, (list, tuple, dict)) and id(value) not in seen:
                seen.add(id(value))
                items = value.items() if isinstance(value, dict) else enumerate(value)
                stack.extend(reversed([(f"{path}/{key}", item) for key, item in items]))
            elif isinstance(value, (set, frozenset)) and _may_hold_layers(value):
                raise TypeError(f"{self._describe()}.{path} is a set of layers, which has no order, so the "
                                "weights would come in a different order on every run; use a list or a dict")
        return found

    def _named_sublayers(self) -> list[tuple[str, Layer]]:
        """(key, layer) for each layer held directly: its attribute path, or its name for the layers of a
        model (a subclass that lists its layers itself by overriding `_sublayers`)."""
        if type(self)._sublayers is Layer._sublayers:
            return self._attribute_layers()
        return [(layer.name, layer) for layer in self._sublayers()]

    def _walk(self) -> list[tuple[str, Layer, bool]]:
        """(path, layer, trainable) for this layer ("" path) and every layer it holds, however deep, depth
        first in order. A layer held twice comes once, at its first place, so shared layers count once and
        a cycle ends; `trainable` is False for a frozen layer and everything below it."""
        found: list[tuple[str, Layer, bool]] = []
        seen: set[int] = set()
        stack = [("", self, True)]
        while stack:
            path, layer, trainable = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            trainable = trainable and layer._trainable
            found.append((path, layer, trainable))
            stack.extend(reversed([(f"{path}{key}/", child, trainable) for key, child in layer._named_sublayers()]))
        return found

    # --- building ---
    def build(self, input_shape: Any) -> None:
        """Create the weights for inputs of `input_shape` (batch axis included: (None, 28, 28, 1)); a list or
        dict of shapes for a layer called on several inputs (a merge layer, a model of your own)."""
        shape = batch_shapes(input_shape, self._describe())
        if type(shape) is not tuple:
            self._takes_several(shape, "got a {} of shapes")
            self._check_input(shape) if self.built else self._check_rank(shape)
            self._finish_build(shape)
            return
        if self.built:  # the weights exist; the shapes follow the latest input (pooling layers can be reused)
            self._check_input(shape)
            self._output_shape = self.compute_output_shape(shape)
        else:
            self._check_rank(shape)
            if type(self).build is Layer.build and self._shape_from_call():   # call needs the weights
                self._create_weights(shape)
                self._finish_build(shape)
                return
            if type(self).build is Layer.build:  # the output shape first: it checks the geometry before any weight
                self._output_shape = self.compute_output_shape(shape)
                self._create_weights(shape)
            # else a Keras-style build() called super().build(): build_for finds the output shape once it returns
        self._input_shape, self.built = shape, True

    def build_for(self, input_shape: Any) -> None:
        """`build`, also when a Keras-style override of it made the weights without calling super().build()
        (then the layer is marked built here); a built layer only checks the input and updates its shapes."""
        if self.built or type(self).build is Layer.build:
            Layer.build(self, input_shape)
            return
        shape = batch_shapes(input_shape, self._describe())
        self._check_rank(shape)
        if not self.__dict__.get("_build_ran"):   # not twice when called by hand (layers held may be built already)
            self.build(shape)
        self._finish_build(shape)

    def _finish_build(self, shape: Any) -> None:
        """Mark the layer built for `shape`, then find its output shape (which may run call); if that fails,
        the layer is left as it was."""
        before = self._input_shape, self.built
        self._input_shape, self.built = shape, True
        try:
            self._output_shape = self.compute_output_shape(shape)
        except BaseException:
            self._input_shape, self.built = before
            raise

    def _takes_several(self, shapes: Any, what: str) -> None:
        """Refuse a list or dict of shapes for a built-in layer that takes one tensor; a layer that takes several
        (a merge layer, a model) or whose output shape comes from its call takes whatever its call takes."""
        if type(self)._as_tensor is Layer._as_tensor and not self._shape_from_call():
            given = list(shapes.values() if isinstance(shapes, Mapping) else shapes)
            raise TypeError(f"{self._describe()} takes one tensor, but {what.format(type(shapes).__name__)} {given}; "
                            "give it one, or join several first with a merge layer, e.g. "
                            "tc.layers.Concatenate()([a, b]) or tc.layers.Add()([a, b])")

    def _shape_from_call(self) -> bool:
        """Whether the output shape is found by running call (Keras's compute_output_spec): a layer that neither
        defines compute_output_shape nor keeps its input's shape (`keeps_shape`)."""
        return type(self).compute_output_shape is Layer.compute_output_shape and not self.keeps_shape

    def _create_weights(self, input_shape: Shape) -> None:
        """Create this layer's weights with `add_weight` (none by default)."""

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The output shape for `input_shape` (batch axis included): the input's for a layer that `keeps_shape`,
        else the shape its call gives a zero sample (Keras's compute_output_spec; the layer is built first)."""
        if self.keeps_shape:
            return tuple(input_shape)
        if not self.built:   # call needs the weights
            self.build_for(input_shape)
        return self._traced_output_shape(input_shape)

    def _traced_output_shape(self, input_shape: Any) -> Any:
        """The output shape of `call` on zeros of `input_shape` (batch of one; a list or dict of shapes for
        several inputs gives a list or dict of samples), run without a graph in inference mode; the modes
        and activity penalties of every layer held are left as they were (anomaly mode is off for the trace).
        Several outputs: a list or dict."""
        def sample(shape: Any) -> Any:
            if isinstance(shape, (list, Mapping)):
                return {k: sample(v) for k, v in shape.items()} if isinstance(shape, Mapping) else [*map(sample, shape)]
            if any(n is None for n in shape[1:]):
                raise ValueError(f"{self._describe()} finds its output shape by running call on a sample, which "
                                 f"needs every size but the batch's; got {format_shape(shape)}: give the "
                                 "input's full shape, or define compute_output_shape(input_shape) (a layer whose "
                                 "output has its input's shape can say so with the class attribute keeps_shape = True)")
            return Tensor(np.zeros((1, *shape[1:]), self.dtype))

        x = sample(input_shape)
        layers = [layer for _, layer, _ in self._walk()]
        before = [(layer.training, layer._activity_loss) for layer in layers]
        try:
            for layer in layers:
                layer.training = False
            # zeros may divide by zero or take log(0): only the shape matters, so no warning and no anomaly
            with no_grad(), np.errstate(all="ignore"), set_detect_anomaly(False):
                y = self.call(x, training=False) if self._call_takes_training else self.call(x)
        finally:
            for layer, (training, loss) in zip(layers, before, strict=True):
                layer.training, layer._activity_loss = training, loss
        if isinstance(y, Tensor):
            return (None, *y.shape[1:])
        outputs = dict(y) if isinstance(y, Mapping) else dict(enumerate(y)) if isinstance(y, (list, tuple)) else {}
        if not outputs or not all(isinstance(v, Tensor) for v in outputs.values()):
            raise TypeError(f"{self._describe()}.call returned {type(y).__name__}, not a Tensor or a list or dict "
                            "of them: compute with Tensor ops")
        shapes = {key: (None, *v.shape[1:]) for key, v in outputs.items()}
        return shapes if isinstance(y, Mapping) else list(shapes.values())

    def _fixed_axes(self) -> tuple[int, ...]:
        """Input axes whose size the weights depend on (checked on every call once built)."""
        return ()

    def add_weight(self, name: str | None = None, shape: Any = None, initializer: Any = "glorot_uniform",
                   trainable: bool = True, regularizer: Any = None, constraint: Any = None, *,
                   dtype: Any = None) -> Variable:
        """Create, initialise and track a weight named `<layer>/<name>` (`variable`, `variable_1`, ... unnamed);
        a `regularizer` (e.g. "l2") adds its penalty of the weight to `losses`; a `constraint` (e.g.
        tc.constraints.MaxNorm(3)) projects the weight after each optimizer update (tried once here on the
        new weight, so that a wrong axis or shape shows now). `dtype` (Keras's keyword) is a floating dtype for
        this weight; None is the layer's."""
        if (name is not None and not isinstance(name, str)) or shape is None:
            raise TypeError(f"{self._describe()}.add_weight needs a shape and a string name or none, got name="
                            f"{name!r:.40} and shape={shape!r:.40}; call it as add_weight(shape=(3,), name='w')")
        if name is not None and (not name or "/" in name):  # '/' separates the parts of a weight's key
            raise ValueError(f"{self._describe()}.add_weight: name must be non-empty and without '/', got {name!r}")
        dtype = self.dtype if dtype is None else layer_dtype(dtype, f"{self._describe()}.add_weight")
        count = len(self._own_weights)
        name = name if name is not None else f"variable_{count}" if count else "variable"
        if any(w.name == f"{self.name}/{name}" for w, _ in self._own_weights):
            raise ValueError(f"{self._describe()} already has a weight named {name!r}; give each weight its own name")
        try:
            # None: Keras's default for a float weight
            data = initializers.get("glorot_uniform" if initializer is None else initializer)(tuple(shape), dtype)
        except (TypeError, ValueError) as e:   # e.g. Identity() on a 4-D conv kernel: say which weight
            raise type(e)(f"{self._describe()}: the initializer of {name} (shape {tuple(shape)}): {e}") from None
        if np.shape(data) != tuple(shape):
            raise ValueError(f"{self._describe()}: the initializer of {name} returned shape {np.shape(data)}, "
                             f"expected {tuple(shape)}")
        try:
            weight = Variable(np.asarray(data, dtype), requires_grad=trainable and self._trainable,
                              name=f"{self.name}/{name}", constraint=constraint, dtype=dtype)
        except (TypeError, ValueError) as e:   # the constraint does not fit the weight: say which layer
            raise type(e)(f"{self._describe()}: {e}") from None
        self._own_weights.append((weight, trainable))
        if regularizer is not None:
            self._weight_regularizers.append((weight, regularizers.get(regularizer)))
        return weight

    @property
    def input_shape(self) -> Shape:
        """The input shape the layer was built for (batch axis None)."""
        return self._require_built("input_shape")._input_shape  # type: ignore[return-value]

    @property
    def output_shape(self) -> Shape:
        """The output shape for the input the layer was built for (batch axis None)."""
        return self._require_built("output_shape")._output_shape  # type: ignore[return-value]

    # --- calling ---
    def __call__(self, inputs: Any, training: bool | None = None) -> Any:
        """Run the layer on a Tensor or array (built from its shape on the first call); on symbolic tensors
        (from tc.Input) record the call for a functional model and return symbolic outputs."""
        if training is not None and type(training) is not bool:   # the message is made only when needed
            training = flag(training, "training", f"calling {self._describe()} (training=None: the layer's own mode)")
        if not isinstance(inputs, Tensor) and symbolic.is_symbolic(inputs):
            return symbolic.call(self, inputs, training, self._check_or_build)
        x = self._as_tensor(inputs)   # a Tensor, or a list or dict of them for a layer that takes several (Add)
        self._check_or_build(x.shape if isinstance(x, Tensor) else {key: t.shape for key, t in x.items()}
                             if isinstance(x, Mapping) else [t.shape for t in x])
        mode = self.training if training is None else training
        with scope(self.name, type(self).__name__, owner=self):
            y = self.call(x, training=mode) if self._call_takes_training else self.call(x)
        if not isinstance(y, Tensor) and not _all_tensors(y):  # e.g. activation=np.tanh: an array has no graph
            raise TypeError(f"{self._describe()} returned {type(y).__name__}, not a Tensor: its call (or a callable "
                            "activation) must compute with Tensor ops, e.g. activation='tanh' or lambda x: x.tanh()")
        if self.activity_regularizer is not None:
            self._activity_loss = self.activity_regularizer(y)
        return y

    def _check_or_build(self, shape: Any) -> None:
        """Check an input `shape` (batch size included) against the built layer, or build the layer for it
        (a list of shapes for a layer that takes several inputs)."""
        if type(shape) is not tuple:   # a list or dict of symbolic tensors' shapes
            self._takes_several(shape, "was called on a {} of symbolic tensors of shapes")
        if self.built:
            self._check_input(shape)
        else:
            self._check_rank(shape)   # the shape as given, batch size included, in the message
            self.build_for(_without_batch(shape))

    @property
    def output(self) -> Any:
        """The symbolic output of this layer's first call on symbolic tensors (Keras's `layer.output`), e.g.
        for a model of a layer's feature maps: tc.Model(model.inputs, model.get_layer("conv2d").output)."""
        return self._first_node("output").outputs

    @property
    def input(self) -> Any:
        """The symbolic input of this layer's first call on symbolic tensors (Keras's `layer.input`)."""
        return self._first_node("input").inputs

    def _first_node(self, what: str) -> symbolic.Node:
        nodes = self.__dict__.get("_inbound_nodes")   # the Nodes of its calls on symbolic tensors (symbolic.py)
        if not nodes:
            raise ValueError(f"{self._describe()} has never been called on symbolic tensors (from tc.Input), so it "
                             f"has no {what}; call it on one first (y = layer(x))")
        return nodes[0]

    def call(self, x: Tensor, training: bool) -> Tensor:
        """The forward computation (subclasses define it)."""
        raise NotImplementedError(f"{type(self).__name__} must define call(x, training)")

    def _as_tensor(self, inputs: Any) -> Any:
        """The input as a Tensor (floating data as given, other data float32); a dict gives a dict of them, and
        a list of arrays a list of them for a layer whose call finds its output shape (it may take several)."""
        if not isinstance(inputs, Tensor):   # checked first: the common case costs one isinstance
            if isinstance(inputs, Layer):
                raise TypeError(f"{self._describe()} was called on the layer {inputs.name!r}, not on data: call it "
                                "on that layer's output (y = layer(x); self(y)), or add both layers to tc.Sequential")
            if isinstance(inputs, (Mapping, list, tuple)) and self._shape_from_call():   # its call may take several
                if isinstance(inputs, Mapping):
                    return {key: self._as_tensor(value) for key, value in inputs.items()}
                if inputs and all(isinstance(x, (Tensor, np.ndarray)) for x in inputs):
                    return [self._as_tensor(x) for x in inputs]
            if isinstance(inputs, Mapping):
                raise TypeError(f"{self._describe()} takes one tensor, but was called on a dict with the keys "
                                f"{list(inputs)}; give it one, or join several first with a merge layer, e.g. "
                                "tc.layers.Concatenate()([a, b])")
            inputs = Tensor(inputs)
        x = inputs if inputs.dtype.kind == "f" else inputs.astype(np.float32)
        # a float16 layer computes in float16: Keras casts floating inputs to the layer's dtype (float32 and
        # float64 layers take floating data as given, so float64 data runs in float64)
        return x.astype(np.float16) if self.autocast and self.dtype == np.float16 else x

    def _check_rank(self, shape: Shape) -> None:
        rank_ok = len(shape) == self.ndim if self.ndim is not None else len(shape) >= self.min_ndim
        if not rank_ok:
            wanted = f"{self.ndim}-D" if self.ndim is not None else f"at least {self.min_ndim}-D"
            hint = " (add a batch axis: x[None])" if self.ndim is not None and len(shape) == self.ndim - 1 else ""
            raise ValueError(f"{self._describe()} expects {wanted} input with the batch axis first, "
                             f"got shape {format_shape(shape)}{hint}")

    def _check_input(self, shape: Shape) -> None:
        """Calls after building must have the rank and the sizes the weights were made for."""
        self._check_rank(shape)
        built = self.input_shape
        for axis in self._fixed_axes():
            if built[axis] is not None and shape[axis] != built[axis]:
                raise ValueError(
                    f"{self._describe()} was built for inputs of shape {format_shape(built)} but got "
                    f"{format_shape(shape)}: axis {axis % len(shape)} must have size {built[axis]}, not "
                    f"{shape[axis]}; use a new layer for inputs of another size")

    # --- weights ---
    def _sublayers(self) -> list[Layer]:
        """The layers held directly: those in attributes, in assignment order (a model lists its own)."""
        return [layer for _, layer in self._attribute_layers()]

    def _all_weights(self) -> list[tuple[Tensor, bool]]:
        """(weight, trainable) for every weight of this layer and the layers it holds, each once, in walk order."""
        return [(w, t and trainable) for _, layer, trainable in self._walk() for w, t in layer._own_weights]

    def _named_weights(self) -> list[tuple[str, Tensor, bool]]:
        """(key, weight, trainable): the key is the path to the weight's layer and the weight's own name,
        "kernel" for this layer's, "conv1/kernel" or "convs/0/kernel" in attributes, "dense/kernel" in a model."""
        found = [(path + w.name.rpartition("/")[2], w, t and trainable)
                 for path, layer, trainable in self._walk() for w, t in layer._own_weights]
        keys = [key for key, _, _ in found]
        if len(set(keys)) < len(keys):
            twice = sorted({key for key in keys if keys.count(key) > 1})
            raise ValueError(f"{self._describe()}: the weight keys {twice} come twice (dict keys or layer names "
                             "with '/' in them?); give the layers and dict keys distinct names without '/'")
        return found

    @property
    def weights(self) -> list[Tensor]:
        """All weights, trainable and not, in creation order (as get_weights lists them)."""
        return [w for w, _ in self._all_weights()]

    @property
    def trainable_weights(self) -> list[Tensor]:
        """The weights gradient descent updates."""
        return [w for w, trainable in self._all_weights() if trainable]

    @property
    def non_trainable_weights(self) -> list[Tensor]:
        """Weights updated otherwise (BatchNormalization's moving statistics) or frozen."""
        return [w for w, trainable in self._all_weights() if not trainable]

    # Keras 3's names for the same lists (its weights are Variables, as a layer's weights are here)
    variables, trainable_variables, non_trainable_variables = weights, trainable_weights, non_trainable_weights

    @property
    def trainable(self) -> bool:
        """False freezes the layer: its weights stop requiring grad and count as non-trainable."""
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        value = flag(value, "trainable", self._describe())
        for _, layer, _ in self._walk():   # the layers held too, as Keras's setter
            layer._trainable = value
            for weight, trainable in layer._own_weights:
                weight.requires_grad = trainable and value

    @property
    def losses(self) -> list[Tensor]:
        """Scalar penalties to add to the loss (Keras 3's `losses`): the activity penalty of each layer's
        last call, then the penalty of every trainable weight that has a regularizer, computed from the
        weights' current values on each access (a frozen weight adds none)."""
        layers = [layer for _, layer, _ in self._walk()]
        found = [layer._activity_loss for layer in layers
                 if layer.activity_regularizer is not None and layer._activity_loss is not None]
        penalized = [pair for layer in layers for pair in layer._weight_regularizers]
        if penalized:
            trainable = {id(w) for w in self.trainable_weights}
            found += [penalty(w) for w, penalty in penalized if id(w) in trainable]
        return found

    def count_params(self) -> int:
        """The number of weight values (trainable and not)."""
        self._require_built("count_params()")
        return sum(w.size for w in self.weights)

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights as arrays, in `weights` order."""
        return [w.data.copy() for w in self.weights]

    def set_weights(self, weights: Any) -> None:
        """Load arrays in `weights` order; nothing changes unless every count and shape fits."""
        own = self.weights
        if not isinstance(weights, (list, tuple)) or len(weights) != len(own):
            count = f"{len(weights)} arrays" if isinstance(weights, (list, tuple)) else type(weights).__name__
            raise ValueError(f"{self._describe()}.set_weights needs a list of {len(own)} arrays "
                             f"({', '.join(f'{w.name} {w.shape}' for w in own) or 'no weights: is it built?'}), "
                             f"got {count}")
        arrays = [np.asarray(a.data if isinstance(a, Tensor) else a) for a in weights]
        _copy_all(list(zip(own, arrays, strict=True)), f"{self._describe()}.set_weights", "in the list",
                  self._describe())

    def parameters(self) -> list[Tensor]:
        """The trainable weights (PyTorch's name), e.g. for `tc.optimizers.SGD(model.parameters())`."""
        return self.trainable_weights

    def named_parameters(self) -> Iterator[tuple[str, Tensor]]:
        """(key, weight) for each trainable weight, keyed as in `state_dict`."""
        return ((key, w) for key, w, trainable in self._named_weights() if trainable)

    def zero_grad(self) -> None:
        """Forget the gradients accumulated in every weight."""
        for weight in self.weights:
            weight.grad = None

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every weight (moving statistics included), keyed by the path from this layer: the layer's
        name in a model ("dense/kernel"), the attribute path in a layer of your own ("convs/0/kernel")."""
        return {key: w.data.copy() for key, w, _ in self._named_weights()}

    def _keyed_by_path(self, state: Mapping[str, Any]) -> Mapping[str, Any]:
        """`state` keyed as `state_dict` keys it: when its keys are exactly the weights' own names ("inner/kernel"
        for "outer/inner/kernel": a nested model's keys before they were paths), they are translated."""
        named = self._named_weights()
        paths = {w.name: key for key, w, _ in named}   # a weight's own name -> its key
        if len(paths) == len(named) and set(state) == set(paths) and set(state) != {key for key, _, _ in named}:
            return {paths[name]: value for name, value in state.items()}
        return state

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> tuple[list[str], list[str]]:
        """Load arrays by key (as `state_dict` gives them); checks keys (unless not strict) and shapes first.

        When no name matches but the count does (a copy of the architecture built in the same session is
        named conv2d_1, dense_1, ...), the arrays load in order, as load_weights does. Keys that are exactly the
        weights' own names (`inner/kernel` for `outer/inner/kernel`: state_dict's keys before they were paths)
        load by those names. Returns (missing, unexpected) names, which are empty when strict.
        """
        if not isinstance(state, Mapping):
            raise TypeError(f"load_state_dict needs a mapping from weight names to arrays, got {type(state).__name__}")
        state = self._keyed_by_path(state)
        own = {key: w for key, w, _ in self._named_weights()}
        if strict and own and len(state) == len(own) and not set(state) & set(own):
            _copy_all([(weight, np.asarray(array)) for weight, array in zip(own.values(), state.values(),
                                                                           strict=True)],
                      f"load_state_dict for {self._describe()}", "in the state dict", self._describe())
            return [], []
        missing = [name for name in own if name not in state]
        unexpected = [name for name in state if name not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict for {self._describe()}: missing weights {missing}, unexpected "
                           f"weights {unexpected}; names must match {list(own)} (or pass strict=False)")
        _copy_all([(own[name], np.asarray(state[name])) for name in own if name in state],
                  f"load_state_dict for {self._describe()}", "in the state dict", self._describe())
        return missing, unexpected

    def astype(self, dtype: Any) -> Layer:
        """Convert every weight, and those made later, to `dtype` (float64 for gradient checks); returns the layer."""
        dtype = layer_dtype(dtype, f"{self._describe()}.astype")
        for _, layer, _ in self._walk():
            layer.dtype = dtype
            for weight, _ in layer._own_weights:
                weight.data = weight.data.astype(dtype)
        return self

    @property
    def variable_dtype(self) -> str:
        """The weights' dtype name, e.g. "float32" (Keras 3's name; here weights and computation share one dtype)."""
        return self.dtype.name

    compute_dtype = variable_dtype   # Keras 3's name for the dtype the layer computes in

    def double(self) -> Layer:
        """Weights in float64 (as torch's Module.double)."""
        return self.astype(np.float64)

    def float(self) -> Layer:
        """Weights in float32."""
        return self.astype(np.float32)

    # --- modes ---
    def train(self, mode: bool = True) -> Layer:
        """Training mode (Dropout drops, BatchNormalization uses batch statistics); returns the layer."""
        for _, layer, _ in self._walk():
            layer.training = bool(mode)
        return self

    def eval(self) -> Layer:
        """Inference mode (Dropout is the identity, BatchNormalization uses its moving averages)."""
        return self.train(False)

    # --- summary helpers ---
    def param_formula(self) -> str:
        """How the parameter count comes about, e.g. `8*(1*3*3+1)=80`; `-` without weights."""
        return str(self.count_params()) if self.weights else "-"

    def receptive_field(self, field: ReceptiveField) -> ReceptiveField:
        """The receptive field after this layer, given the one before: pointwise layers keep it; after a layer
        that holds layers it is unknown ("?"): only its call knows how they connect."""
        return UNKNOWN_FIELD if self._named_sublayers() else field

    # --- configs ---
    def get_config(self) -> dict[str, Any]:
        """The constructor arguments (JSON-friendly), so that `from_config` rebuilds an equal layer; a layer of
        your own whose constructor takes more than `name` defines its own, as in Keras."""
        if type(self).get_config is Layer.get_config:
            unknown = [p.name for p in list(inspect.signature(type(self).__init__).parameters.values())[1:]
                       if p.name not in BASE_KEYWORDS and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
            if unknown:
                raise NotImplementedError(
                    f"{self._describe()}: the base get_config knows only {', '.join(BASE_KEYWORDS[:3])}, not "
                    f"{', '.join(unknown)}; define get_config(self) returning {{**super().get_config(), "
                    f"{unknown[0]!r}: ...}} so that from_config can rebuild the layer")
        penalty = {} if self.activity_regularizer is None else {
            "activity_regularizer": regularizers.serialize(self.activity_regularizer)}
        return {"name": self.name, "trainable": self.trainable, "dtype": self.dtype.name, **penalty}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Layer:
        """A new layer from `get_config()`'s output (configs written before `dtype` was in them load as float32)."""
        arguments = dict(config)
        trainable = arguments.pop("trainable", True)
        parameters = inspect.signature(cls.__init__).parameters.values()
        # a layer of your own whose constructor takes no dtype (nor **kwargs) gets it after construction
        dtype = None if any(p.name == "dtype" or p.kind is p.VAR_KEYWORD for p in parameters) else \
            arguments.pop("dtype", None)
        try:
            layer = cls(**arguments)
        except TypeError as e:
            raise ValueError(f"cannot build {cls.__name__} from the config {dict(config)}: {e}") from None
        layer.trainable = flag(trainable, "trainable", f"{cls.__name__}.from_config")
        if dtype is not None:
            layer.astype(layer_dtype(dtype, cls.__name__))
        return layer

    def _describe(self) -> str:
        return f"{type(self).__name__} {self.name!r}" if hasattr(self, "name") else type(self).__name__

    def _require_built(self, what: str) -> Layer:
        if not self.built:
            raise ValueError(f"{self._describe()} is not built yet, so {what} is unknown: layers create their "
                             "weights when they first see an input; call it on data, start the model with "
                             "tc.Input(shape), or call build((None, *shape))")
        return self

    def __repr__(self) -> str:
        shape = f", output_shape={format_shape(self._output_shape)}" if self._output_shape is not None else ""
        return f"<{type(self).__name__} {self.name!r}{shape}>"


def weight_mismatch(label: str, array: np.ndarray, shape: tuple[int, ...], source: str, target: str,
                    kinds: str = "fiub") -> str | None:
    """What keeps `array` (`source`: where it is, e.g. "in the file") from loading into the weight `label` of
    `shape` in `target`, or None when it fits; `kinds` are the NumPy dtype kinds accepted."""
    if array.shape != shape:
        return f"weight {label} has shape {array.shape} {source} but {shape} in {target}"
    if array.dtype.kind not in kinds:
        wanted = "floating point" if kinds == "f" else "numbers"
        return f"weight {label} has dtype {array.dtype}; weights must be {wanted}"
    return None


def _copy_all(pairs: list[tuple[Tensor, np.ndarray]], caller: str, source: str, target: str) -> None:
    """Copy each array into its weight, once every shape and dtype fits: nothing changes otherwise, and the
    error lists every array that does not fit."""
    problems = [problem for weight, array in pairs
                if (problem := weight_mismatch(repr(weight.name), array, weight.shape, source, target))]
    if problems:
        raise ValueError(f"{caller}: {len(problems)} of the {len(pairs)} arrays do not fit, so nothing was loaded:"
                         "\n  " + "\n  ".join(problems))
    with no_grad():
        for weight, array in pairs:
            weight.copy_(array)
