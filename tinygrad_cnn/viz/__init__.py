"""Pictures of computation graphs (graphviz) and plain-text trees for terminals."""
from .graph import draw_graph
from .model import plot_model
from .plots import feature_maps, plot_feature_maps, plot_filters, plot_history
from .render import ComputationGraph, GraphvizNotFoundError, save_graph
from .text import text_graph

__all__ = ["ComputationGraph", "GraphvizNotFoundError", "draw_graph", "feature_maps", "plot_feature_maps",
           "plot_filters", "plot_history", "plot_model", "save_graph", "text_graph"]
