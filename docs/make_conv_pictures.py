"""Draw the pictures of docs/convolution.md with tc.conv2d and tc.max_pool2d, and print the numbers it quotes.

    python docs/make_conv_pictures.py [path/to/t10k-images-idx3-ubyte.gz]

Without an MNIST file the digit comes from scikit-learn's 8x8 digits, upsampled.
"""
from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

import tinygrad_cnn as tc  # noqa: E402
from tinygrad_cnn.conv.geometry import window_geometry  # noqa: E402

IMAGES = Path(__file__).parent / "images"
MNIST = Path("/work/shared/data/mnist/t10k-images-idx3-ubyte.gz")


def digit(path: Path) -> np.ndarray:
    """One 28x28 digit in [0, 1]."""
    if path.exists():
        return tc.datasets.load_idx(path)[0].astype(np.float32) / 255
    x, _ = tc.datasets.load_digits()
    return np.kron(x[0, :, :, 0], np.ones((3, 3), np.float32))   # 8x8 -> 24x24


def edge_pictures(image: np.ndarray) -> None:
    """A digit, two hand-made Sobel filters, their feature maps (one conv2d call) and the max-pooled maps."""
    vertical = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], np.float32)   # left minus right
    horizontal = vertical.T                                                 # top minus bottom
    kernel = np.stack([vertical, horizontal], axis=-1)[:, :, None, :]       # (3, 3, 1, 2): 2 filters
    x = tc.Tensor(image[None, :, :, None])                                  # (1, 28, 28, 1)
    maps = tc.conv2d(x, kernel, padding="same")                             # (1, 28, 28, 2)
    pooled = tc.max_pool2d(maps.abs(), 2)                                   # (1, 14, 14, 2)
    print(f"image {x.shape} -> feature maps {maps.shape} -> |maps| max-pooled 2x2 {pooled.shape}")

    fig, axes = plt.subplots(2, 4, figsize=(8.4, 4.4))
    m, p = maps.numpy()[0], pooled.numpy()[0]
    panels = [
        (image, "input digit", "gray"), (vertical, "filter 1: vertical edges", "RdBu_r"),
        (m[:, :, 0], "feature map 1", "RdBu_r"), (p[:, :, 0], "|map 1|, max-pool 2", "magma"),
        (None, "", None), (horizontal, "filter 2: horizontal edges", "RdBu_r"),
        (m[:, :, 1], "feature map 2", "RdBu_r"), (p[:, :, 1], "|map 2|, max-pool 2", "magma"),
    ]
    for ax, (data, title, cmap) in zip(axes.flat, panels):
        ax.axis("off")
        if data is None:
            continue
        limit = np.abs(data).max() or 1.0
        low = -limit if cmap == "RdBu_r" else 0
        ax.imshow(data, cmap=cmap, vmin=low, vmax=limit)
        ax.set_title(title, fontsize=9)
        if data.shape == (3, 3):
            for (i, j), value in np.ndenumerate(data):
                ax.text(j, i, f"{value:g}", ha="center", va="center", fontsize=10)
    fig.tight_layout()
    fig.savefig(IMAGES / "conv_edge_maps.png", dpi=80)
    plt.close(fig)


def draw_windows(ax: plt.Axes, size: int, kernel: int, strides: int, padding: str, dilation: int = 1) -> None:
    """The input grid (dotted: padding), the first two windows and every window's centre, from our geometry."""
    g = window_geometry((size, size), (kernel, kernel), strides, dilation, padding)
    (top, bottom), (left, right) = g.padding
    hp, wp = g.padded_hw
    for i in range(hp):
        for j in range(wp):
            inside = top <= i < top + size and left <= j < left + size
            ax.add_patch(Rectangle((j, hp - 1 - i), 1, 1, facecolor="#dde6f0" if inside else "white",
                                   edgecolor="#8899aa", linewidth=0.6, linestyle="-" if inside else ":"))
    # the taps of the first two windows, and a dot at the centre of every window
    for o, (color, style) in enumerate([("#d62728", "-"), ("#1f77b4", "--")][:g.out_hw[1]]):
        for a in range(kernel):
            for b in range(kernel):
                row, col = a * dilation, o * g.strides[1] + b * dilation
                inset = 0.1 + 0.08 * o
                ax.add_patch(Rectangle((col + inset, hp - 1 - row + inset), 1 - 2 * inset, 1 - 2 * inset,
                                       fill=False, edgecolor=color, linewidth=1.8, linestyle=style))
    centre = (kernel - 1) * dilation / 2 + 0.5
    for p in range(g.out_hw[0]):
        for q in range(g.out_hw[1]):
            ax.plot(q * g.strides[1] + centre, hp - (p * g.strides[0] + centre), "k.", markersize=4)
    title = f"{size}x{size}, {kernel}x{kernel}, stride {strides}, {padding}"
    title += f", dilation {dilation}" if dilation > 1 else ""
    ax.set_title(f"{title}\n-> {g.out_hw[0]}x{g.out_hw[1]} outputs (dots: window centres)", fontsize=9)
    ax.set_xlim(-0.2, wp + 0.2)
    ax.set_ylim(-0.2, hp + 0.2)
    ax.set_aspect("equal")
    ax.axis("off")


def geometry_pictures() -> None:
    """Window placement for valid and same padding, stride 2, and dilation."""
    cases = [(7, 3, 1, "valid", 1), (7, 3, 1, "same", 1), (7, 3, 2, "same", 1), (7, 3, 1, "valid", 2)]
    fig, axes = plt.subplots(1, len(cases), figsize=(11, 3.4))
    for ax, case in zip(axes, cases):
        draw_windows(ax, *case)
        size, kernel, strides, padding, dilation = case
        out = tc.conv2d(tc.zeros(1, size, size, 1), tc.zeros(kernel, kernel, 1, 1), strides=strides,
                        padding=padding, dilation_rate=dilation)
        print(f"{size}x{size} input, {kernel}x{kernel} kernel, strides={strides}, padding={padding!r}, "
              f"dilation_rate={dilation}: output {out.shape[1:3]}")
    fig.tight_layout()
    fig.savefig(IMAGES / "conv_windows.png", dpi=80)
    plt.close(fig)


def pooling_picture() -> None:
    """Max and average pooling of a small 4x4 example, numbers printed in the cells."""
    x = np.array([[1, 3, 2, 0], [4, 6, 1, 1], [0, 2, 9, 5], [1, 1, 3, 7]], np.float32)
    t = tc.Tensor(x[None, :, :, None])
    pooled = {"input": x, "max_pool2d(x, 2)": tc.max_pool2d(t, 2).numpy()[0, :, :, 0],
              "avg_pool2d(x, 2)": tc.avg_pool2d(t, 2).numpy()[0, :, :, 0]}
    fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.7))
    for ax, (title, data) in zip(axes, pooled.items()):
        ax.imshow(data, cmap="Blues", vmin=0, vmax=12)
        for (i, j), value in np.ndenumerate(data):
            ax.text(j, i, f"{value:g}", ha="center", va="center", fontsize=11)
        if data.shape == (4, 4):
            for k in (1.5,):
                ax.axhline(k, color="k", linewidth=2)
                ax.axvline(k, color="k", linewidth=2)
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(IMAGES / "conv_pooling.png", dpi=80)
    plt.close(fig)
    print("max_pool2d:", pooled["max_pool2d(x, 2)"].tolist(), " avg_pool2d:", pooled["avg_pool2d(x, 2)"].tolist())


def main() -> None:
    IMAGES.mkdir(exist_ok=True)
    edge_pictures(digit(Path(sys.argv[1]) if len(sys.argv) > 1 else MNIST))
    geometry_pictures()
    pooling_picture()


if __name__ == "__main__":
    main()
