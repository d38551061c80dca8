"""Edge detection with hand-designed filters loaded into a Conv2D (the tutorial's introduction).

Before filters were learned, they were designed: a Sobel filter responds where the brightness changes
from left to right (vertical edges) or from top to bottom (horizontal edges).

Run: python examples/edge_detection.py [--out DIR]
"""
import argparse
from pathlib import Path

import numpy as np

import tinygrad_cnn as tc
from tinygrad_cnn.layers import Conv2D


def square_image(size: int = 16) -> np.ndarray:
    """A bright square on a dark background, shape (1, size, size, 1)."""
    image = np.zeros((1, size, size, 1), np.float32)
    image[0, size // 4: 3 * size // 4, size // 4: 3 * size // 4, 0] = 1
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("example_output"), help="folder for the PNG files")
    parser.add_argument("--quick", action="store_true", help="accepted for symmetry with the other examples")
    args = parser.parse_args()

    names = ["sobel_vertical", "sobel_horizontal", "prewitt_vertical", "prewitt_horizontal", "laplacian"]
    for name in names[:2]:
        print(f"{name}:\n{tc.filters.get(name).astype(int)}")
    model = tc.Sequential([tc.Input((16, 16, 1)), Conv2D(len(names), 3, padding="same", use_bias=False)])
    edges = model.layers[0]
    edges.set_weights([tc.filters.kernel(*(tc.filters.get(name) for name in names))])
    model.summary(show_formula=True)

    image = square_image()
    maps = model(image, training=False).data[0]   # (16, 16, filters)
    for index, name in enumerate(names):
        rows, cols = np.nonzero(np.abs(maps[..., index]) > 1e-6)
        print(f"{name:19} responds on rows {rows.min()}-{rows.max()}, columns {sorted(set(cols.tolist()))}")
    print("vertical filters respond on the left and right sides of the square only:",
          sorted(set(np.nonzero(maps[4:12, :, 0])[1].tolist())))

    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("matplotlib is not installed: no pictures (pip install 'tinygrad-cnn[examples]')")
        return
    args.out.mkdir(parents=True, exist_ok=True)
    tc.viz.plot_filters(edges, path=args.out / "edge_filters.png")
    tc.viz.plot_feature_maps(model, image[0], edges, path=args.out / "edge_maps.png")
    print(f"wrote edge_filters.png and edge_maps.png to {args.out}")


if __name__ == "__main__":
    main()
