"""Pictures of computation graphs (graphviz) and plain-text trees for terminals."""
from .graph import draw_graph
from .model import plot_model
from .render import ComputationGraph, GraphvizNotFoundError, save_graph
from .text import text_graph

__all__ = ["ComputationGraph", "GraphvizNotFoundError", "draw_graph", "plot_model", "save_graph", "text_graph"]
