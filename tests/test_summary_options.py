"""Keras 3's summary arguments for every model kind: line_length, positions, print_fn, expand_nested,
show_trainable and layer_range (the default table is unchanged: tests/test_models.py checks it line by line)."""
from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_cnn as tc
from tinygrad_cnn import layers as L


class Block(tc.Model):
    """A subclassed model holding a Sequential: two levels of nesting."""

    def __init__(self):
        super().__init__(name="block")
        self.stack = tc.Sequential([L.Dense(3, name="inner_a"), L.Dense(3, name="inner_b")], name="stack")
        self.out = L.Dense(2, name="block_out")

    def call(self, x, training=False):
        return self.out(self.stack(x))


def models():
    """A Sequential, a functional and a subclassed model, each holding a nested model."""
    block = Block()
    sequential = tc.Sequential([tc.Input((4,)), L.Dense(5, name="first"), block, L.Dense(1, name="last")],
                               name="seq")
    x = tc.Input((4,), name="x")
    inner = tc.Sequential([tc.Input((4,)), L.Dense(3, name="f_a"), L.Dense(2, name="f_b")], name="inner")
    functional = tc.Model(x, L.Dense(1, name="f_last")(inner(x)), name="fun")
    subclassed = Block()
    subclassed(np.zeros((1, 4), np.float32))
    return {"sequential": sequential, "functional": functional, "subclassed": subclassed}


def rows(text):
    """The table's rows: the lines between the header's rule and the totals that are not rules."""
    lines = text.splitlines()
    body = lines[lines.index(next(line for line in lines if line.startswith("="))) + 1:]
    return [line for line in body[:body.index(next(line for line in body if line.startswith("Total")))]
            if line and set(line) - {"_", "="}]


@pytest.mark.parametrize("kind", ["sequential", "functional", "subclassed"])
def test_the_defaults_give_the_plain_table_and_print_fn_gets_each_line(kind, capsys):
    model = models()[kind]
    lines = []
    model.summary(print_fn=lines.append)
    assert lines == model.summary_str().splitlines() == str(model).splitlines()
    model.summary(None, None, None, False, False, None)   # Keras 3's order, all defaults
    assert capsys.readouterr().out == model.summary_str() + "\n"


@pytest.mark.parametrize("kind", ["sequential", "functional", "subclassed"])
def test_expand_nested_puts_each_nested_models_layers_under_it(kind):
    model = models()[kind]
    expanded = rows(_text(model, expand_nested=True))
    plain = rows(_text(model))
    names = [line.split()[0] for line in plain]
    found = [line.split() for line in expanded]

    def walk(layers, depth):
        for layer in layers:
            mark = [] if depth == 0 else ["\u2514"]
            yield depth, mark + [layer.name], layer
            if isinstance(layer, tc.Model):
                yield from walk(layer.layers, depth + 1)

    expected = list(walk(model.layers, 0))
    assert [depth for depth, _, _ in expected if depth == 0] == [0] * len(names)
    assert len(found) == len(expected)
    for (depth, start, layer), line, text in zip(expected, found, expanded, strict=True):
        assert line[:len(start)] == start
        indent = len(text) - len(text.lstrip())
        assert indent == (2 * (depth - 1) if depth else 0)
        assert f"{layer.count_params():,}" in line


@settings(max_examples=10, deadline=None)
@given(kind=st.sampled_from(["sequential", "functional", "subclassed"]), line_length=st.integers(40, 160),
       trainable=st.booleans())
def test_line_length_sets_the_width_and_long_cells_go_on_the_next_line(kind, line_length, trainable):
    model = models()[kind]
    text = _text(model, line_length=line_length, show_trainable=trainable)
    lines = text.splitlines()
    assert all(len(line) <= line_length for line in lines)
    assert lines[1] == "_" * line_length and "=" * line_length in lines
    flat = re.sub(r"\s+", "", text)   # nothing is lost: a cell cut over lines still reads on
    assert all(layer.name in flat for layer in model.layers)


def test_positions_place_each_column():
    model = models()["sequential"]
    for positions, length in (([30, 55, 70], 70), ([0.5, 0.8, 1.0], 90)):
        header = rows_header(_text(model, positions=positions, line_length=length if positions[-1] <= 1 else None))
        ends = [round(p * length) if positions[-1] <= 1 else p for p in positions]
        assert header.index("Output Shape") == ends[0] and header.index("Param #") == ends[1]


def rows_header(text):
    return next(line for line in text.splitlines() if line.startswith("Layer (type)"))


@pytest.mark.parametrize("kind", ["sequential", "functional", "subclassed"])
def test_show_trainable_marks_each_layer(kind):
    model = models()[kind]
    frozen = model.layers[-1]
    frozen.trainable = False
    text = _text(model, show_trainable=True)
    assert rows_header(text).split()[-1] == "Trainable"
    for layer, line in zip(model.layers, rows(text), strict=True):
        expected = "-" if not layer.weights else "N" if layer is frozen else "Y"
        assert line.split()[-1] == expected, line
    assert f"Non-trainable params: {frozen.count_params():,}" in text


@pytest.mark.parametrize("kind", ["sequential", "functional", "subclassed"])
def test_layer_range_shows_the_rows_from_the_first_match_to_the_last(kind):
    model = models()[kind]
    names = [layer.name for layer in model.layers]
    for start, end in [(0, len(names) - 1), (1, len(names) - 1), (0, 0), (len(names) - 1, len(names) - 1)]:
        text = _text(model, layer_range=[names[start], names[end]])
        assert [line.split()[0] for line in rows(text)] == names[start:end + 1]
        assert f"Total params: {model.count_params():,}" in text   # the totals stay the whole model's
    shown = [line.split()[0] for line in rows(_text(model, layer_range=[".*", ".*"]))]   # regular expressions
    assert shown == names


def _text(model, **options):
    lines = []
    model.summary(print_fn=lines.append, **options)
    return "\n".join(lines)


@pytest.mark.parametrize("options, error, message", [
    (dict(line_length=0), ValueError, "line_length must be a positive int"),
    (dict(line_length="80"), TypeError, "line_length must be a positive int"),
    (dict(line_length=print), TypeError, "line_length must be a positive int.*pass it as print_fn="),
    (dict(positions=[0.5, 0.3, 1.0]), ValueError, r"positions must be increasing positive numbers.*0\.5, 0\.3"),
    (dict(positions="wide"), ValueError, "positions must be increasing"),
    (dict(positions=[0.5, 1.0]), ValueError, r"positions has 2 entries but the table has 3 columns \['Layer"),
    (dict(positions=[30, 31, 60]), ValueError, r"column 'Output Shape' 1 characters wide"),
    (dict(line_length=4), ValueError, "characters wide; widen the line"),
    (dict(print_fn="stdout"), TypeError, "print_fn must be a function"),
    (dict(expand_nested="yes"), TypeError, "summary: expand_nested must be True or False, got 'yes'"),
    (dict(show_trainable=1), TypeError, "summary: show_trainable must be True or False"),
    (dict(layer_range="first"), ValueError, "layer_range must be a pair of layer names"),
    (dict(layer_range=["first", 3]), ValueError, "layer_range must be a pair of layer names"),
    (dict(layer_range=["nothing", "last"]), ValueError, r"matches no range of layers.*\['first', 'block', 'last'\]"),
    (dict(layer_range=["last", "first"]), ValueError, "in that order"),
    (dict(layer_range=["(", "last"]), ValueError, "not a valid regular expression"),
    (dict(show_formula="yes"), TypeError, "summary: show_formula must be True or False, got 'yes'"),
])
def test_bad_summary_arguments_are_named(options, error, message):
    model = models()["sequential"]
    with pytest.raises(error, match=message):
        model.summary(**{"print_fn": lambda line: None, **options})
