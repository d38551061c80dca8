"""Keras's models: `Model`, the base every model shares (compile, fit, evaluate, predict, saving, summary,
get_layer), subclassed as `class MyModel(tc.Model)`, and `Sequential`, layers applied one after the other.
`tc.Model(inputs, outputs)` builds a functional model (functional.py)."""
from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .arguments import flag, is_int, is_number, positive_int
from .layers import Input, Layer, ReceptiveField, deserialize, serialize
from .layers.core import InputLayer
from .layers.shapes import Shape, format_shape
from .layers.symbolic import KerasTensor, is_shape
from .tensor import Tensor


@dataclass(frozen=True)
class _View:
    """How summary lays its table out: Keras 3's summary arguments, checked."""

    line_length: int | None = None
    positions: tuple[float, ...] | None = None
    expand_nested: bool = False
    show_trainable: bool = False
    layer_range: tuple[str, str] | None = None
    capture: bool = False   # give the rows, not the text (a nested model's rows for expand_nested)

    @classmethod
    def checked(cls, line_length: Any, positions: Any, expand_nested: Any, show_trainable: Any,
                layer_range: Any) -> _View:
        if callable(line_length):
            raise TypeError("summary: line_length must be a positive int (the table's width), got a function; "
                            "pass it as print_fn=... (Keras 3's order: line_length, positions, print_fn)")
        if line_length is not None:
            line_length = positive_int(line_length, "line_length", "summary")
        if positions is not None:
            ok = isinstance(positions, (list, tuple)) and positions and all(
                is_number(p) and p > 0 for p in positions) and all(a < b for a, b in itertools.pairwise(positions))
            if not ok:
                raise ValueError(f"summary: positions must be increasing positive numbers, the right end of each "
                                 f"column: fractions of line_length (up to 1.0) or characters, e.g. [0.45, 0.8, 1.0]; "
                                 f"got {positions!r:.60}")
            positions = tuple(float(p) for p in positions)
        if layer_range is not None:
            if not (isinstance(layer_range, (list, tuple)) and len(layer_range) == 2
                    and all(isinstance(name, str) for name in layer_range)):
                raise ValueError(f"summary: layer_range must be a pair of layer names (or regular expressions), the "
                                 f"first and the last layer to show, e.g. ['conv2d', 'dense']; got {layer_range!r:.60}")
            layer_range = (layer_range[0], layer_range[1])
        return cls(line_length, positions, flag(expand_nested, "expand_nested", "summary"),
                   flag(show_trainable, "show_trainable", "summary"), layer_range)

    def widths(self, header: list[str], natural: list[int]) -> list[int]:
        """The columns' widths: `natural` (fitted to the cells) unless line_length or positions are given
        (without positions the natural widths are stretched or shrunk to line_length)."""
        if self.line_length is None and self.positions is None:
            return natural
        if self.positions is not None and len(self.positions) != len(header):
            raise ValueError(f"summary: positions has {len(self.positions)} entries but the table has {len(header)} "
                             f"columns {header}; give one right end per column")
        total = self.line_length or sum(natural)
        ends = self.positions or tuple(end / sum(natural) for end in itertools.accumulate(natural))
        if ends[-1] <= 1:   # fractions of the line
            ends = tuple(round(total * end) for end in ends)
        widths = [int(b - a) for a, b in zip((0, *ends), ends, strict=False)]
        if min(widths) < 2:
            raise ValueError(f"summary: line_length={self.line_length} and positions={self.positions} leave the column "
                             f"{header[widths.index(min(widths))]!r} {min(widths)} characters wide; widen the line or "
                             "move the positions apart")
        return widths

    def in_range(self, entries: list[Any], model: Layer) -> list[Any]:
        """The rows from the first layer matching layer_range[0] to the last matching layer_range[1]."""
        if self.layer_range is None:
            return entries
        names = [layer.name if layer is not None else "" for layer, _, _ in entries]
        try:
            first = next((i for i, name in enumerate(names) if re.match(self.layer_range[0], name)), None)
            last = next((i for i in reversed(range(len(names))) if re.match(self.layer_range[1], names[i])), None)
        except re.error as e:
            raise ValueError(f"summary: layer_range={list(self.layer_range)} is not a valid regular expression: "
                             f"{e}") from None
        if first is None or last is None or last < first:
            raise ValueError(f"summary: layer_range={list(self.layer_range)} matches no range of layers of "
                             f"{model._describe()} (layers: {names}); give the names (or regular expressions) of "
                             "the first and the last layer to show, in that order")
        return entries[first:last + 1]


def _trainable_mark(layer: Layer | None) -> str:
    """Keras's Trainable column: Y or N for a layer with weights, - for one without."""
    if layer is None or not layer.weights:
        return "-"
    return "Y" if layer.trainable else "N"


class Model(Layer):
    """A layer with training entry points. Three ways to make one, as in Keras:
    `tc.Model(inputs, outputs)` (a graph of layers called on `tc.Input`s), `tc.Sequential([...])`, and a
    subclass that assigns layers as attributes in `__init__` and uses them in `call(x, training=False)`.
    """

    optimizer: Any = None  # set by compile, as are loss and compiled_metrics
    loss: Any = None
    autocast = False   # its layers cast their inputs to their own dtypes

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        """`tc.Model(inputs, outputs)` makes a Functional model (Python then runs its __init__)."""
        if cls is Model and (args or "inputs" in kwargs or "outputs" in kwargs):
            from .functional import Functional  # functional.py builds on this module
            return Functional.__new__(Functional)
        return super().__new__(cls)

    def __init__(self, name: str | None = None, trainable: bool = True) -> None:
        super().__init__(name)
        self._trainable = flag(trainable, "trainable", type(self).__name__)  # frozen: weights non-trainable

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Layer:
        """`tc.Model.from_config` of a functional model's config rebuilds it (Keras's Model.from_config); a
        subclass is built from its constructor arguments, as any layer."""
        if not isinstance(config, Mapping):
            raise TypeError(f"{cls.__name__}.from_config: config must be a dict (what get_config() returned), got "
                            f"{type(config).__name__} {config!r:.60}")
        if cls is Model and "input_layers" in config:
            from .functional import Functional  # functional.py builds on this module
            return Functional.from_config(config)
        return super().from_config(config)

    @property
    def layers(self) -> list[Layer]:
        """The model's layers, in order (a new list: changing it does not change the model)."""
        return list(self._sublayers())

    def _as_tensor(self, inputs: Any) -> Any:
        """One Tensor, or for a subclassed model whose call takes several inputs, a list of Tensors from a
        list or tuple of arrays (a list of numbers is one input's data; a list of one array is that input, as
        in Keras 3, unless the model was built for a list)."""
        if isinstance(inputs, Mapping):   # a dict of inputs, passed to call as a dict (Keras 3)
            return super()._as_tensor(inputs)
        if isinstance(inputs, (list, tuple)) and inputs and all(hasattr(x, "shape") for x in inputs):
            if len(inputs) > 1 or isinstance(self._input_shape, list):
                return [super(Model, self)._as_tensor(x) for x in inputs]
            inputs = inputs[0]
        return super()._as_tensor(inputs)

    def _structure_pending(self) -> bool:
        """Whether the names of the inputs and outputs wait for the first call or build (a subclassed model
        names them by the structure its call takes and returns)."""
        return not self.built

    @property
    def input_names(self) -> list[str]:
        """One name per input: "input", or input_0, input_1, ... for a subclassed model built for a list."""
        shape = self._input_shape if self.built else None
        return [f"input_{i}" for i in range(len(shape))] if isinstance(shape, list) else ["input"]

    @property
    def output_names(self) -> list[str]:
        """One name per output: "output", or for a subclassed model whose call returns a list output_0,
        output_1, ... and for a dict its keys, sorted (Keras 3 flattens a dict in key order)."""
        shape = self._output_shape if self.built else None
        if isinstance(shape, Mapping):
            return sorted(str(key) for key in shape)
        return [f"output_{i}" for i in range(len(shape))] if isinstance(shape, list) else ["output"]

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by name or by position in `layers`."""
        if (name is None) == (index is None):
            raise ValueError(f"get_layer needs exactly one of name and index, got name={name!r}, index={index!r}")
        layers = self.layers
        if index is not None:
            if not is_int(index):
                raise TypeError(f"get_layer: index must be an int position in model.layers, got "
                                f"{type(index).__name__} {index!r:.40}")
            if not -len(layers) <= index < len(layers):
                raise IndexError(f"{self._describe()} has {len(layers)} layers, no index {index}")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"{self._describe()} has no layer named {name!r}; layers: {[la.name for la in layers]}")

    # --- summary ---
    def summary(self, line_length: int | None = None, positions: Any = None,
                print_fn: Callable[[str], Any] | None = None, expand_nested: bool = False, show_trainable: bool = False,
                layer_range: Any = None, show_formula: bool = False, show_receptive_field: bool = False) -> None:
        """Print Keras's table (layer, output shape, parameters, totals), Keras 3's arguments: `line_length`
        (the table's width), `positions` (each column's right end: fractions of line_length or characters),
        `print_fn` (called on each line), `expand_nested` (a nested model's layers indented under it),
        `show_trainable` (a "Trainable" column: Y, N, or - for a layer without weights) and `layer_range`
        (the rows from the first layer whose name matches layer_range[0] to the last matching layer_range[1],
        regular expressions). Beyond Keras: each row's parameter formula and (Sequential) receptive field."""
        if print_fn is not None and not callable(print_fn):
            raise TypeError(f"summary: print_fn must be a function called on each line (e.g. print), got "
                            f"{type(print_fn).__name__} {print_fn!r:.40}")
        text = self._summary_text(_View.checked(line_length, positions, expand_nested, show_trainable, layer_range),
                                  flag(show_formula, "show_formula", "summary"),
                                  flag(show_receptive_field, "show_receptive_field", "summary"))
        for line in text.split("\n") if print_fn is not None else ():
            print_fn(line)
        if print_fn is None:
            print(text)

    def _summary_text(self, view: _View, show_formula: bool, show_receptive_field: bool) -> Any:
        """summary_str's table laid out as `view` says (_table reads the view while summary_str runs; a
        view that captures gives the rows instead of the text)."""
        self.__dict__["_summary_view"] = view
        try:
            return self.summary_str(show_formula, show_receptive_field)
        finally:
            del self.__dict__["_summary_view"]

    def summary_str(self, show_formula: bool = False, show_receptive_field: bool = False) -> str:
        """The summary as a string (also what `str(model)` gives for a built model)."""
        self._require_built("the summary")
        if show_receptive_field:
            raise ValueError(f"{self._describe()}: show_receptive_field needs a tc.Sequential (a chain of layers)")
        rows = []
        for layer in self.layers:
            shape = format_shape(layer._output_shape) if layer.built and is_shape(layer._output_shape) else "?"
            params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
            rows.append([[f"{layer.name} ({type(layer).__name__})", shape, params]
                         + [layer.param_formula() if layer.built else "-"] * show_formula])
        return self._table(["Layer (type)", "Output Shape", "Param #"] + ["Formula"] * show_formula, rows)

    def _table(self, header: list[str], rows: list[list[list[str]]]) -> Any:
        """Keras's summary table: `rows` of lines of cells (extra lines continue a row; one row per layer of
        `layers`, in order), then the totals; laid out as summary's arguments say."""
        view = self.__dict__.get("_summary_view", _View())
        layers = self.layers
        entries = [(layer, 0, row) for layer, row in zip(layers, rows, strict=True)] if len(layers) == len(rows) \
            else [(None, 0, row) for row in rows]
        if view.capture:   # a nested model's rows, for expand_nested
            return header, self._expanded(header, entries, view)
        entries = self._expanded(header, view.in_range(entries, self), view)
        if view.show_trainable:
            header = [*header, "Trainable"]
            entries = [(layer, depth, [[*row[0], _trainable_mark(layer)]] + [[*cells, ""] for cells in row[1:]])
                       for layer, depth, row in entries]
        return self._render(header, [row for _, _, row in entries], view)

    def _expanded(self, header: list[str], entries: list[Any], view: _View) -> list[Any]:
        """With expand_nested, each nested model's rows after its own, their names indented (deeper ones more)."""
        if not view.expand_nested:
            return entries
        found = []
        for layer, depth, row in entries:
            found.append((layer, depth, row))
            if not isinstance(layer, Model) or not layer.built:
                continue
            inner_header, inner = layer._summary_text(_View(expand_nested=True, capture=True), "Formula" in header,
                                                      False)
            for sub, sub_depth, sub_row in inner:
                lines = [[cells[inner_header.index(column)] if column in inner_header else "" for column in header]
                         for cells in sub_row]
                lines[0][0] = ("  " if sub_depth else "\u2514 ") + lines[0][0]
                found.append((sub, sub_depth + 1, lines))
        return found

    def _render(self, header: list[str], rows: list[list[list[str]]], view: _View) -> str:
        lines = [line for row in rows for line in row]
        widths = [max([len(header[i]), *(len(cells[i]) for cells in lines)]) + 3 for i in range(len(header))]
        widths[:3] = [max(w, minimum) for w, minimum in zip(widths, (29, 26, 10), strict=False)]
        widths = view.widths(header, widths)

        def line(cells: list[str]) -> list[str]:
            """The cells on one or more printed lines: a cell too long for its column goes on over the next."""
            parts = [[cell[i:i + width - 1] for i in range(0, len(cell), width - 1)] or [""]
                     for cell, width in zip(cells, widths, strict=True)]
            return ["".join((part[k] if k < len(part) else "").ljust(width) for part, width in
                            zip(parts, widths, strict=True)).rstrip() for k in range(max(map(len, parts)))]

        width = sum(widths)
        trainable = sum(w.size for w in self.trainable_weights)
        total = self.count_params()
        body = [f'Model: "{self.name}"', "_" * width, *line(header), "=" * width]
        for i, row in enumerate(rows):
            body += [text for cells in row for text in line(cells)] + ["_" * width if i < len(rows) - 1
                                                                       else "=" * width]
        if not rows:
            body.append("=" * width)
        body += [f"Total params: {total:,}", f"Trainable params: {trainable:,}",
                 f"Non-trainable params: {total - trainable:,}", "_" * width]
        return "\n".join(body)

    def param_formula(self) -> str:
        return " + ".join(str(layer.count_params()) for layer in self.layers) + f"={self.count_params()}"

    def __str__(self) -> str:
        return self.summary_str() if self.built else repr(self)

    def __repr__(self) -> str:
        built = f", {self.count_params():,} params" if self.built else ", not built"
        return f"<{type(self).__name__} {self.name!r}: {len(self.layers)} layers{built}>"

    # --- training and saving: thin hand-overs to training.py, saving.py and viz. The imports are made
    # on use because saving.py imports this module, and viz (graph drawing) sits above the layers. ---
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, loss_weights: Any = None, metrics: Any = None,
                weighted_metrics: Any = None) -> None:
        """Choose the optimizer, the loss (one per output, weighted by `loss_weights`) and the metrics for
        `fit` and `evaluate` (Keras 3's compile; the metrics are the fourth argument: pass them as metrics=)."""
        from .training import compile_model
        compile_model(self, optimizer=optimizer, loss=loss, loss_weights=loss_weights, metrics=metrics,
                      weighted_metrics=weighted_metrics)

    def fit(self, x: Any, y: Any = None, batch_size: int | None = 32, epochs: int = 1, validation_data: Any = None,
            validation_split: float = 0.0, shuffle: bool = True, verbose: int = 1, callbacks: Any = None,
            initial_epoch: int = 0, sample_weight: Any = None, class_weight: Any = None,
            steps_per_epoch: int | None = None, validation_steps: int | None = None, validation_freq: Any = 1,
            validation_batch_size: int | None = None) -> Any:
        """Train over (x, y), or the batches x gives, epochs `initial_epoch` to `epochs - 1`; returns the History."""
        from .training import fit
        return fit(self, x, y, batch_size=batch_size, epochs=epochs, validation_data=validation_data,
                   validation_split=validation_split, shuffle=shuffle, verbose=verbose, callbacks=callbacks,
                   initial_epoch=initial_epoch, sample_weight=sample_weight, class_weight=class_weight,
                   steps_per_epoch=steps_per_epoch, validation_steps=validation_steps, validation_freq=validation_freq,
                   validation_batch_size=validation_batch_size)

    def evaluate(self, x: Any, y: Any = None, batch_size: int | None = 32, verbose: int = 1,
                 return_dict: bool = False, callbacks: Any = None, sample_weight: Any = None,
                 steps: int | None = None) -> Any:
        """[loss, *metrics] on (x, y) or the batches x gives, in inference mode (a dict with return_dict=True)."""
        from .training import evaluate
        return evaluate(self, x, y, batch_size=batch_size, verbose=verbose, return_dict=return_dict,
                        callbacks=callbacks, sample_weight=sample_weight, steps=steps)

    def predict(self, x: Any, batch_size: int | None = 32, verbose: int = 0, callbacks: Any = None,
                steps: int | None = None) -> Any:
        """The outputs for x (or the batches x gives), in inference mode and without recording a graph."""
        from .training import predict
        return predict(self, x, batch_size=batch_size, verbose=verbose, callbacks=callbacks, steps=steps)

    def train_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None, class_weight: Any = None,
                       return_dict: bool = False) -> Any:
        """One optimizer step on the batch (x, y); returns that batch's loss and metrics, as evaluate does."""
        from .training import train_on_batch
        return train_on_batch(self, x, y, sample_weight=sample_weight, class_weight=class_weight,
                              return_dict=return_dict)

    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False) -> Any:
        """The loss and metrics of the batch (x, y) in inference mode, as evaluate gives them for one batch."""
        from .training import test_on_batch
        return test_on_batch(self, x, y, sample_weight=sample_weight, return_dict=return_dict)

    def predict_on_batch(self, x: Any) -> Any:
        """The outputs for the batch x in inference mode, without a graph (predict in one batch)."""
        from .training import predict_on_batch
        return predict_on_batch(self, x)

    @property
    def metrics_names(self) -> list[str]:
        """The names of evaluate's values, in its order ("loss", ..., "accuracy", ...); [] before compile."""
        from .training import metrics_names
        return metrics_names(self)

    def save(self, path: Any, overwrite: bool = True) -> None:
        """Write the architecture and the weights to one .npz file (load with tc.load_model); an existing file
        is replaced only with `overwrite` (Keras's argument)."""
        from .saving import save_model
        save_model(self, path, overwrite=overwrite)

    def to_json(self, **kwargs: Any) -> str:
        """The architecture as a JSON string, without the weights (Keras's to_json; `kwargs` go to
        json.dumps, e.g. indent=2); tc.models.model_from_json rebuilds it."""
        return json.dumps(serialize_layer(self), **kwargs)

    def save_weights(self, path: Any, overwrite: bool = True) -> None:
        """Write the weights to an .npz file; an existing file is replaced only with `overwrite` (Keras's argument)."""
        from .saving import save_weights
        save_weights(self, path, overwrite=overwrite)

    def load_weights(self, path: Any) -> None:
        """Read weights written by save_weights (names and shapes are checked first)."""
        from .saving import load_weights
        load_weights(self, path)

    def plot_model(self, path: Any = "model.png", **options: Any) -> Any:
        """Draw the model's graph, one node per layer (graphviz); options as tc.viz.plot_model."""
        from .viz import plot_model
        return plot_model(self, path, **options)


class Sequential(Model):
    """A stack of layers: `tc.Sequential([tc.Input((28, 28, 1)), tc.layers.Conv2D(8, 3), ...])`.

    Shapes are inferred from the `Input` (layers are built as they are added) or from the first call.
    """

    def __init__(self, layers: list[Layer] | None = None, name: str | None = None, trainable: bool = True) -> None:
        super().__init__(name, trainable)
        self._layers: list[Layer] = []
        self._input_layer: InputLayer | None = None
        self._symbolic: list[KerasTensor] = []  # with an Input: its tensor, then each layer's output from it
        if layers is not None and not isinstance(layers, (list, tuple)):
            raise TypeError(f"Sequential: layers must be a list of layers, got {type(layers).__name__}")
        for layer in layers or ():
            self.add(layer)
        if not trainable:
            self.trainable = False

    def add(self, layer: Layer | KerasTensor) -> None:
        """Append a layer (an `Input` first fixes the input shape); it is built at once if the shape is known."""
        if isinstance(layer, KerasTensor):   # tc.Input(...): its InputLayer, as Keras takes it
            if not isinstance(layer.layer, InputLayer):
                raise TypeError(f"Sequential.add needs a layer, got the symbolic tensor {layer!r}, the output of "
                                f"layer {layer.layer.name!r}; to connect layers freely use tc.Model(inputs, outputs)")
            layer = layer.layer
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add needs a layer (e.g. tc.layers.Dense(10)), got {type(layer).__name__} "
                            f"{layer!r:.60}")
        if isinstance(layer, InputLayer):
            if self._input_layer is not None or self._layers:
                raise ValueError(f"{self._describe()}: an Input can only be the first entry of a Sequential model")
            self._input_layer, self._symbolic = layer, [layer.output]
            self.build(layer.input_shape)
            return
        if not self._layers and self._input_layer is None and getattr(layer, "_input_shape_arg", None) is not None:
            self.add(InputLayer(batch_shape=layer._input_shape_arg))   # Keras's first Dense(8, input_shape=(4,))
        if layer is self or any(layer is known for known in self._layers):
            raise ValueError(f"{self._describe()} already contains {layer!r}; create a new layer instead")
        if any(layer.name == known.name for known in self._layers):
            raise ValueError(f"{self._describe()}: all layers need unique names, and {layer.name!r} is taken "
                             f"(names: {[known.name for known in self._layers]})")
        if self._symbolic:   # the layer is called on the model's symbolic output: built, and its output known
            output = layer(self._symbolic[-1])
            if not isinstance(output, KerasTensor):
                raise TypeError(f"{self._describe()}: {layer._describe()} has several outputs; a Sequential model "
                                "passes one tensor from layer to layer: use tc.Model(inputs, outputs)")
            self._symbolic.append(output)
            self._output_shape = output.shape
        elif self.built:
            layer.build_for(self.output_shape)
            self._output_shape = layer.output_shape
        self._layers.append(layer)

    def pop(self) -> Layer:
        """Remove and return the last layer."""
        if not self._layers:
            raise IndexError(f"{self._describe()} has no layers to pop")
        layer = self._layers.pop()
        if self._symbolic:
            self._symbolic.pop()
            self._output_shape = self._symbolic[-1].shape
        elif self.built:
            self._output_shape = self._layers[-1].output_shape if self._layers else self._input_shape
        return layer

    @property
    def inputs(self) -> list[KerasTensor]:
        """[the symbolic tensor of its tc.Input] (Keras's model.inputs), for tc.Model(model.inputs, ...)."""
        return self._symbolic_ends("inputs")[:1]

    @property
    def outputs(self) -> list[KerasTensor]:
        """[the last layer's symbolic output] (Keras's model.outputs)."""
        return self._symbolic_ends("outputs")[-1:]

    @property
    def input(self) -> KerasTensor:
        return self.inputs[0]

    @property
    def output(self) -> KerasTensor:
        return self.outputs[0]

    def _symbolic_ends(self, what: str) -> list[KerasTensor]:
        if not self._symbolic:
            raise ValueError(f"{self._describe()} is not built yet, so it has no symbolic {what}; start it with "
                             "tc.Input(shape), e.g. tc.Sequential([tc.Input((28, 28, 1)), ...]), call it on data "
                             "or call model.build((None, *shape))")
        return self._symbolic

    @property
    def input_names(self) -> list[str]:
        """The name of the model's Input (Keras's input_layer when it started without one)."""
        return [self._input_layer.name if self._input_layer is not None else "input_layer"]

    @property
    def output_names(self) -> list[str]:
        """The name of the last layer, which makes the output."""
        return [self._layers[-1].name if self._layers else "output"]

    # --- building and calling ---
    def _as_tensor(self, inputs: Any) -> Tensor:
        """One input: a list of one array is that array (Keras 3); a list of several is one batch's samples."""
        if isinstance(inputs, (list, tuple)) and len(inputs) == 1 and getattr(inputs[0], "ndim", 0) >= 1:
            inputs = inputs[0]
        return Layer._as_tensor(self, inputs)

    def _structure_pending(self) -> bool:
        return False   # one input and one output, named by the Input and the last layer

    def _sublayers(self) -> list[Layer]:
        return self._layers

    def _create_weights(self, input_shape: Shape) -> None:
        """Build the layers from the model's first input shape (a call or build()); as in Keras 3 the model gets an
        Input of that shape, so that model.inputs and each layer's output exist, e.g. for a feature-map model."""
        start = self._input_layer if self._input_layer is not None else InputLayer(batch_shape=input_shape)
        self._symbolic = [start.output]
        for layer in self._layers:
            self._symbolic.append(layer(self._symbolic[-1]))

    def compute_output_shape(self, input_shape: Shape) -> Shape:
        for layer in self._layers:
            layer._check_rank(input_shape)   # the layer's own message, not an unpacking error
            input_shape = layer.compute_output_shape(input_shape)
        return input_shape

    def call(self, x: Tensor, training: bool) -> Tensor:
        if self._input_layer is not None:
            x = self._input_layer(x, training=training)
        for layer in self._layers:
            x = layer(x, training=training)
        return x

    def __call__(self, inputs: Any, training: bool | None = None) -> Tensor:
        """Run every layer in order; `training` overrides each layer's mode for this call."""
        if not self._layers and self._input_layer is None:
            raise ValueError(f"{self._describe()} has no layers yet; add some with model.add(...)")
        return super().__call__(inputs, training)

    def receptive_field(self, field: ReceptiveField) -> ReceptiveField:
        for layer in self._layers:
            field = layer.receptive_field(field)
        return field

    def summary_str(self, show_formula: bool = False, show_receptive_field: bool = False) -> str:
        self._require_built("the summary")
        rows, field, shape = [], ReceptiveField(), self.input_shape
        for layer in self._layers:
            shape = layer.compute_output_shape(shape)  # this model's shapes, even for a layer used elsewhere too
            row = [f"{layer.name} ({type(layer).__name__})", format_shape(shape), f"{layer.count_params():,}"]
            if show_formula:
                row.append(layer.param_formula())
            if show_receptive_field:
                field = layer.receptive_field(field)
                row.append(str(field))
            rows.append([row])
        header = ["Layer (type)", "Output Shape", "Param #"] + ["Formula"] * show_formula
        return self._table(header + ["Receptive field"] * show_receptive_field, rows)

    # --- configs ---
    def get_config(self) -> dict[str, Any]:
        """{"name", "trainable", "layers": [{"class_name", "config"}, ...]}, the input shape as a first
        InputLayer entry when it is known; JSON-friendly."""
        entries = []
        if self.built:
            entries.append({"class_name": "InputLayer",
                            "config": {"name": self._input_layer.name if self._input_layer else "input_layer",
                                       "batch_shape": list(self.input_shape)}})
        entries += [serialize_layer(layer) for layer in self._layers]
        return {**Layer.get_config(self), "layers": entries}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Sequential:
        """A new model with the architecture of `get_config()` (fresh weights); runs no code from the config."""
        if not isinstance(config, Mapping) or not isinstance(config.get("layers"), list):
            raise ValueError(f"a Sequential config must be a dict with a 'layers' list, got {config!r:.100}")
        model = cls(name=config.get("name"))
        for entry in config["layers"]:
            model.add(deserialize_layer(entry))
        if not config.get("trainable", True):  # True would unfreeze the layers frozen one by one
            model.trainable = False
        return model

    def _cloned(self, clone: Callable[[Layer], Layer], input_tensors: Any) -> Sequential:
        """clone_model's work: the cloned layers stacked on `input_tensors` or on an Input like this model's."""
        if input_tensors is not None:
            tensors = input_tensors if isinstance(input_tensors, (list, tuple)) else [input_tensors]
            if len(tensors) != 1 or not isinstance(tensors[0], KerasTensor):
                raise TypeError(f"clone_model: a Sequential model has one input, so input_tensors must be one "
                                f"tensor from tc.Input (or a list of one), got {input_tensors!r:.80}")
            start = list(tensors)
        elif self.built:
            named = {"name": self._input_layer.name} if self._input_layer is not None else {}
            start = [Input(batch_shape=self.input_shape, dtype=self.dtype, **named)]
        else:
            start = []
        model = Sequential(start + [clone(layer) for layer in self._layers], name=self.name)
        if not self.trainable:
            model.trainable = False
        return model


def serialize_layer(layer: Layer) -> dict[str, Any]:
    """{"class_name", "config"} for a built-in layer or a Sequential or functional model (nested models)."""
    from .functional import Functional  # functional.py builds on this module
    if type(layer) in (Sequential, Functional):
        return {"class_name": type(layer).__name__, "config": layer.get_config()}
    if isinstance(layer, Model):
        raise ValueError(f"cannot serialize {layer!r}: a subclassed model's architecture is its Python code, which "
                         "a config cannot hold; save its weights with model.save_weights(path) and rebuild it in "
                         "code, then model.load_weights(path)")
    return serialize(layer)


def deserialize_layer(entry: Any) -> Layer:
    """A new layer or model from `serialize_layer`'s output; only built-in classes are accepted."""
    from .functional import Functional  # functional.py builds on this module
    models = {"Sequential": Sequential, "Functional": Functional}
    name = entry.get("class_name") if isinstance(entry, Mapping) else None
    return models[name].from_config(entry.get("config")) if isinstance(name, str) and name in models \
        else deserialize(entry)


def model_from_json(json_string: str | bytes, custom_objects: Mapping[str, Any] | None = None) -> Model:
    """A new model (fresh weights) with the architecture `model.to_json()` wrote, as Keras's
    model_from_json; only built-in layers are built, so no code runs from the string."""
    if custom_objects:
        raise ValueError(f"model_from_json: custom_objects {sorted(custom_objects)} cannot be used: a config builds "
                         "only built-in layers (no code runs from it); build a model holding layers of your own in "
                         "code, then model.load_weights(path)")
    if not isinstance(json_string, (str, bytes, bytearray)):
        raise TypeError(f"model_from_json: json_string must be the string model.to_json() returned, got "
                        f"{type(json_string).__name__} {json_string!r:.60}")
    try:
        entry = json.loads(json_string)
    except json.JSONDecodeError as e:
        raise ValueError(f"model_from_json: json_string is not valid JSON ({e}); pass what model.to_json() "
                         "returned") from None
    if not isinstance(entry, Mapping) or entry.get("class_name") not in ("Sequential", "Functional"):
        found = entry.get("class_name") if isinstance(entry, Mapping) else type(entry).__name__
        raise ValueError(f"model_from_json: expected a Sequential or functional model's JSON, "
                         f'{{"class_name": "Sequential" or "Functional", "config": {{...}}}}, got {found!r:.60}')
    return deserialize_layer(entry)


def clone_model(model: Model, input_tensors: Any = None, clone_function: Callable[[Layer], Layer] | None = None
                ) -> Model:
    """A new model with `model`'s architecture (Keras's clone_model): each layer replaced by
    `clone_function(layer)` (by default a new layer from its config: fresh weights; a shared layer is
    cloned once) and called as in `model`, on `input_tensors` (tc.Input tensors) or on new Inputs like
    the model's. Sequential and functional models; the clone is not compiled."""
    from .functional import Functional  # functional.py builds on this module
    if not isinstance(model, Model):
        raise TypeError(f"clone_model: model must be a Sequential or functional model, got {type(model).__name__}; "
                        "for a single layer use type(layer).from_config(layer.get_config())")
    if type(model) not in (Sequential, Functional):
        raise ValueError(f"clone_model cannot clone {model!r}: a subclassed model's architecture is its Python "
                         f"code; create a new one in code ({type(model).__name__}(...)) for fresh weights")
    if clone_function is not None and not callable(clone_function):
        raise TypeError(f"clone_model: clone_function must be a function layer -> new layer, got "
                        f"{type(clone_function).__name__} {clone_function!r:.40}")
    made: dict[int, Layer] = {}

    def clone(layer: Layer) -> Layer:
        if id(layer) not in made:
            new = clone_function(layer) if clone_function is not None else deserialize_layer(serialize_layer(layer))
            if not isinstance(new, Layer):
                raise TypeError(f"clone_model: clone_function returned {type(new).__name__} for {layer!r}; it must "
                                "return a layer (the layer itself to share it, or a new one)")
            made[id(layer)] = new
        return made[id(layer)]

    return model._cloned(clone, input_tensors)


def load_model(path: Any, compile: bool = True) -> Model:  # noqa: A002 (Keras's name)
    """Keras's `keras.models.load_model`: the same as `tc.load_model` (read a file written by model.save;
    `compile=False` leaves the model uncompiled)."""
    from .saving import load_model as load  # saving builds on this module, so it is imported when called
    return load(path, compile=compile)
