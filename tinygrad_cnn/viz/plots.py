"""Pictures of what a CNN learned (matplotlib): its filters, its feature maps and its training curves.

Each function returns a matplotlib Figure and, given `path`, also writes it as a PNG. Figures are
drawn with matplotlib's object API on the Agg canvas, so no window opens and pyplot's global state
is left alone.
"""
from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..arguments import is_int
from ..mode import no_grad
from ..tensor import Tensor


def _figure(width: float, height: float) -> Any:
    """A new Figure on an Agg canvas (matplotlib imported only now: it is an optional dependency)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError('the plots need matplotlib: pip install "tinygrad-cnn[examples]"') from e
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def _finish(figure: Any, path: str | os.PathLike[str] | None) -> Any:
    if path is not None:
        figure.savefig(path, format="png", dpi=100)
    return figure


def _grid(count: int, columns: int) -> tuple[int, int]:
    columns = max(1, min(columns, count))
    return -(-count // columns), columns


def _kernel(layer: Any) -> tuple[np.ndarray, str]:
    """The (kh, kw, in_channels, filters) kernel of a Conv2D layer, a Tensor or an array, and a title."""
    if hasattr(layer, "kernel") and isinstance(layer.kernel, Tensor):
        kernel, name = layer.kernel.data, layer.name
    elif isinstance(layer, (Tensor, np.ndarray)):
        kernel, name = np.asarray(layer.data if isinstance(layer, Tensor) else layer), "kernel"
    elif hasattr(layer, "kernel") and hasattr(layer, "built") and not layer.built:
        raise ValueError(f"plot_filters: layer {layer.name!r} is not built yet, so it has no filters; call the model "
                         "on data (or build it) first")
    else:
        raise TypeError(f"plot_filters needs a Conv2D layer (built) or a kernel array, got {type(layer).__name__}")
    if kernel.ndim == 2 and name == "kernel":
        kernel = kernel[:, :, None, None]  # one hand-made (kh, kw) filter
    if kernel.ndim != 4:
        raise ValueError(f"plot_filters needs a kernel of shape (height, width, in_channels, filters), got "
                         f"{kernel.shape}; a Dense layer has no filters to show")
    return kernel, name


def plot_filters(layer: Any, channel: int = 0, columns: int = 8, path: str | os.PathLike[str] | None = None) -> Any:
    """The filters of a Conv2D layer (for one input channel) as a grid: dark negative, light positive.

    The gray scale is symmetric around 0 and shared by all filters, so they can be compared.
    """
    kernel, name = _kernel(layer)
    kh, kw, channels, filters = kernel.shape
    if not 0 <= channel < channels:
        raise IndexError(f"plot_filters: channel {channel} is out of range for {channels} input channels")
    limit = float(np.abs(kernel[:, :, channel, :]).max()) or 1.0
    rows, cols = _grid(filters, columns)
    figure = _figure(1.3 * cols + 1.0, 1.3 * rows + 0.6)
    axes = figure.subplots(rows, cols, squeeze=False)
    image = None
    for index, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if index < filters:
            image = ax.imshow(kernel[:, :, channel, index], cmap="gray", vmin=-limit, vmax=limit,
                              interpolation="nearest")
            ax.set_title(f"{index}", fontsize=8)
    figure.suptitle(f"{name}: {filters} filters of {kh}x{kw}" + (f", input channel {channel}" if channels > 1 else ""))
    figure.colorbar(image, ax=axes, shrink=0.8, label="weight")
    return _finish(figure, path)


def _layer_in(model: Any, layer: Any) -> Any:
    """The model's layer given as itself, its name or its index in model.layers."""
    if is_int(layer):
        if not -len(model.layers) <= layer < len(model.layers):
            raise IndexError(f"plot_feature_maps: layer index {layer} is out of range for {len(model.layers)} layers")
        return model.layers[layer]
    for candidate in model.layers:
        if candidate is layer or candidate.name == layer:
            return candidate
    names = [candidate.name for candidate in model.layers]
    raise ValueError(f"plot_feature_maps: the model has no layer {getattr(layer, 'name', layer)!r}; its layers "
                     f"are {names}")


def feature_maps(model: Any, x: Any, layer: Any) -> np.ndarray:
    """The output of `layer` (a layer of the model, its name or index) for one image: (height, width, channels)."""
    target = _layer_in(model, layer)
    image = np.asarray(x.data if isinstance(x, Tensor) else x, dtype=np.float32)
    if image.ndim == 3:
        image = image[None]  # (H, W, C) -> (1, H, W, C)
    if image.ndim != 4 or len(image) != 1:
        raise ValueError(f"plot_feature_maps needs one image, shape (height, width, channels), got {image.shape}")
    out = Tensor(image)
    with no_grad():
        for candidate in model.layers:
            out = candidate(out, training=False)
            if candidate is target:
                break
    if out.ndim != 4:
        raise ValueError(f"layer {target.name!r} outputs shape {out.shape}; feature maps need an image-shaped "
                         "output (a Conv2D or pooling layer)")
    return out.data[0]


def plot_feature_maps(model: Any, x: Any, layer: Any, columns: int = 8, max_maps: int = 32,
                      path: str | os.PathLike[str] | None = None) -> Any:
    """The input image and the feature maps one layer makes of it (up to `max_maps` channels)."""
    maps = feature_maps(model, x, layer)
    name = _layer_in(model, layer).name
    count = min(maps.shape[-1], max_maps)
    rows, cols = _grid(count + 1, columns)
    figure = _figure(1.5 * cols, 1.5 * rows + 0.6)
    axes = figure.subplots(rows, cols, squeeze=False)
    image = np.asarray(x.data if isinstance(x, Tensor) else x)
    image = image.reshape(image.shape[-3:])  # (1, H, W, C) -> (H, W, C)
    for index, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if index == 0:
            ax.imshow(image[..., 0], cmap="gray", interpolation="nearest")
            ax.set_title("input", fontsize=8)
        elif index <= count:
            ax.imshow(maps[..., index - 1], cmap="viridis", interpolation="nearest")
            ax.set_title(f"{index - 1}", fontsize=8)
    figure.suptitle(f"feature maps after {name} ({maps.shape[0]}x{maps.shape[1]}, {maps.shape[2]} channels)")
    return _finish(figure, path)


def plot_history(history: Any, path: str | os.PathLike[str] | None = None) -> Any:
    """Loss and accuracy per epoch, training and validation, from a History or its `.history` dict."""
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict) or "loss" not in logs:
        raise ValueError(f"plot_history needs the History that fit returned (or its .history dict with a "
                         f"'loss' list), got {type(history).__name__}")
    panels = ["loss"] + [key for key in logs if key != "loss" and not key.startswith("val_")]
    figure = _figure(5.0 * len(panels), 3.6)
    axes = figure.subplots(1, len(panels), squeeze=False)[0]
    for ax, key in zip(axes, panels, strict=True):
        epochs = np.arange(1, len(logs[key]) + 1)
        ax.plot(epochs, logs[key], marker="o", label="training")
        if f"val_{key}" in logs:
            ax.plot(epochs, logs[f"val_{key}"], marker="s", label="validation")
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    figure.tight_layout()
    return _finish(figure, path)
