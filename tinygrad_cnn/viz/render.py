"""Turning a drawn graph into a file or a notebook picture, and a helpful error when `dot` is missing."""
from __future__ import annotations

import os
import pathlib
import tempfile
import warnings
from typing import Any

try:
    import graphviz
    _Digraph: Any = graphviz.Digraph
except ImportError:  # the optional `viz` extra is missing: text_graph still works, drawing says what to install
    graphviz = None
    _Digraph = object

FORMATS = ("svg", "png", "pdf", "jpg", "jpeg", "gif", "ps", "eps")
SOURCE_SUFFIXES = (".dot", ".gv")


def require_graphviz(caller: str) -> None:
    """Raise an ImportError that says how to install the graphviz Python package."""
    if graphviz is None:
        raise ImportError(f"{caller} needs the graphviz Python package: pip install graphviz "
                          "(or pip install 'tinygrad-cnn[viz]'); tc.viz.text_graph works without it")


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's `dot` program is not installed: says how to install it and where the DOT source went."""

    def __init__(self, source_path: str | os.PathLike[str], target: str) -> None:
        self.source_path = pathlib.Path(source_path)
        fmt = pathlib.Path(target).suffix.lstrip(".") or target or "svg"
        out = target if pathlib.Path(target).suffix else f"graph.{fmt}"
        super().__init__(
            f"graphviz's `dot` program was not found on PATH, so the graph could not be rendered to {target}.\n"
            f"The DOT source was written to {self.source_path} instead; render it later with\n"
            f"  dot -T{fmt} {self.source_path} -o {out}\n"
            "Install the graphviz program (the Python package alone is not enough):\n"
            "  Debian/Ubuntu: sudo apt-get install graphviz\n"
            "  macOS:         brew install graphviz\n"
            "  conda:         conda install -c conda-forge graphviz\n"
            "  Windows:       winget install graphviz (or choco install graphviz), then add its bin folder "
            "to PATH\n"
            "Without graphviz, tc.viz.text_graph(output) prints the graph as a text tree."
        )


class ComputationGraph(_Digraph):
    """A graphviz Digraph whose rendering explains a missing `dot` instead of failing cryptically."""

    def render(self, *args: Any, **kwargs: Any) -> str:
        """graphviz's `render`; without `dot`, raises GraphvizNotFoundError naming the saved DOT file."""
        try:
            return super().render(*args, **kwargs)
        except graphviz.ExecutableNotFound as error:
            # without outfile, graphviz writes the source path plus the format's extension
            target = kwargs.get("outfile") or f"{self.filepath}.{kwargs.get('format') or self.format}"
            raise GraphvizNotFoundError(self.filepath, str(target)) from error

    def pipe(self, *args: Any, **kwargs: Any) -> Any:
        """graphviz's `pipe`; without `dot`, writes the DOT source to a temporary file and says where."""
        try:
            return super().pipe(*args, **kwargs)
        except graphviz.ExecutableNotFound as error:
            path = pathlib.Path(tempfile.gettempdir()) / f"{self.name or 'graph'}.gv"
            path.write_text(self.source, encoding="utf-8")
            raise GraphvizNotFoundError(path, kwargs.get("format") or self.format) from error

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **options: Any) -> dict[str, Any]:
        """Inline SVG in Jupyter; without `dot`, the install instructions as text."""
        try:
            return super()._repr_mimebundle_(include, exclude, **options)
        except GraphvizNotFoundError as error:
            return {"text/plain": str(error)}


def save_graph(graph: graphviz.Digraph, path: str | os.PathLike[str], format: str | None = None) -> pathlib.Path:
    """Write `graph` to `path`, choosing the format from its extension (.svg, .png, .pdf, ...; .dot/.gv for source),
    or `format` for a name without one. Missing folders are made; the graph itself is left unchanged."""
    require_graphviz("save_graph")
    if not isinstance(graph, graphviz.Digraph):
        raise TypeError(f"save_graph needs the graphviz.Digraph that tc.draw_graph returns, got {type(graph).__name__}")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"save_graph: path must be a file name (str or pathlib.Path) such as 'model.svg', "
                        f"got {type(path).__name__} {path!r:.60}")
    target = pathlib.Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"save_graph: {str(path)!r} is a directory; give a file name in it, "
                                f"e.g. {str(target / 'model.svg')!r}")
    if format is not None and not (isinstance(format, str) and format.lower() in FORMATS):
        raise ValueError(f"save_graph: format must be one of {', '.join(map(repr, FORMATS))} or None (from the "
                         f"extension), got {format!r:.40}")
    suffix = target.suffix.lower()
    if format is None and suffix in SOURCE_SUFFIXES:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(graph.source, encoding="utf-8")
        return target
    chosen = format.lower() if format is not None else suffix.lstrip(".")
    if chosen not in FORMATS:
        raise ValueError(f"save_graph: cannot tell the format of {str(path)!r} from its extension {suffix!r}; "
                         f"use one of {', '.join('.' + f for f in FORMATS)} (or .dot/.gv for the DOT source), "
                         f"or pass format='png'")
    source = target.with_name(target.name + ".gv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", graphviz.UnknownSuffixWarning)  # the format was chosen on purpose
        try:
            # a copy: render() would keep the file name and folder it was given for the graph's own later renders
            graph.copy().render(filename=source.name, directory=str(source.parent), outfile=str(target),
                                format=chosen, cleanup=True)
        except graphviz.ExecutableNotFound as error:  # a plain graphviz.Digraph (ours raises the helpful error)
            raise GraphvizNotFoundError(source, str(target)) from error
    return target
