"""`tinygrad-cnn graph`: draw the demo CNN's training graph (model and loss) to a picture file."""
from __future__ import annotations

import argparse
import pathlib
import sys
from typing import Any

import numpy as np

from ..creation import manual_seed
from ..demo import build_model
from ..losses import sparse_categorical_crossentropy
from ..models import Sequential
from ..tensor import Tensor
from .graph import draw_graph
from .render import GraphvizNotFoundError, save_graph

FORMATS = ("svg", "png", "pdf")
SOURCES = ("dot", "gv")  # DOT source, written without graphviz's program


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `tinygrad-cnn graph`."""
    parser.add_argument("--backward", action="store_true", help="draw the functions backward runs")
    parser.add_argument("--collapse", action="store_true", help="draw each layer as one node")
    parser.add_argument("--out", default=None, help="the file to write (default: demo_graph[_backward][_layers].svg; "
                        ".dot or .gv: the DOT source, which needs no graphviz program)")
    parser.add_argument("--format", choices=FORMATS, default=None, help="picture format (default: from --out, or svg)")


def demo_model(seed: int = 0) -> tuple[Sequential, Tensor, np.ndarray]:
    """The demo's CNN for its 8x8 digit images, with a seeded batch of 8 random images and labels."""
    manual_seed(seed)
    model = build_model((8, 8, 1))
    rng = np.random.default_rng(seed)
    images = Tensor(rng.random((8, 8, 8, 1), dtype=np.float32))
    return model, images, rng.integers(0, 10, size=8)


def output_path(out: str | None, format: str | None, backward: bool, collapse: bool) -> pathlib.Path:
    """Where to write: --out as given (its extension must agree with --format), else a descriptive default."""
    if out is None:
        name = "demo_graph" + "_backward" * backward + "_layers" * collapse
        return pathlib.Path(f"{name}.{format or 'svg'}")
    path = pathlib.Path(out)
    suffix = path.suffix.lower().lstrip(".")
    if not suffix:
        return path.with_suffix(f".{format or 'svg'}")
    if suffix not in FORMATS + SOURCES:
        raise ValueError(f"--out {out!r}: the extension .{suffix} is not a picture format; use {', '.join(FORMATS)} "
                         f"(or .dot/.gv for the DOT source)")
    if format is not None and suffix != format:
        raise ValueError(f"--out {out!r} ends in .{suffix} but --format is {format}; make them agree")
    return path


def run_graph_command(args: Any) -> int:
    """Draw the graph; 0 on success, 1 (with installation help) when graphviz (program or package) is missing
    or the file cannot be written, 2 for bad options."""
    try:
        path = output_path(args.out, args.format, args.backward, args.collapse)
    except ValueError as error:
        print(f"tinygrad-cnn graph: {error}", file=sys.stderr)
        return 2
    model, images, labels = demo_model()
    loss = sparse_categorical_crossentropy(labels, model(images), from_logits=True)
    loss.name = "loss"
    try:
        graph = draw_graph(loss, direction="backward" if args.backward else "forward",
                           collapse=True if args.collapse else None)
        save_graph(graph, path)
    except (GraphvizNotFoundError, ImportError) as error:  # no `dot` program, or no graphviz Python package
        print(f"tinygrad-cnn graph: {error}", file=sys.stderr)
        return 1
    except OSError as error:   # a place that cannot be written (read-only, a file where a folder should be)
        print(f"tinygrad-cnn graph: cannot write --out {str(path)!r}: {error.strerror or error}; "
              "choose a folder you can write to", file=sys.stderr)
        return 1
    print(f"wrote {path} ({'backward' if args.backward else 'forward'} graph of the demo CNN and its loss)")
    return 0
