"""Dataset loading: IDX files (MNIST), scikit-learn's 8x8 digits and a seeded train/test split."""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from .arguments import is_number, positive_int

# IDX type code -> big-endian NumPy dtype, as in the MNIST file format description.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"
_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _path(value: object, function: str, argument: str) -> Path:
    """`value` as a Path, when it is a str or os.PathLike."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{function}: {argument} must be a str or pathlib.Path, got {type(value).__name__} "
                        f"{value!r:.40}")
    return Path(value)


def _read_bytes(path: Path) -> bytes:
    """Return the bytes of a file, gunzipped when it starts with the gzip magic."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"IDX file not found: {path}") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"load_idx: {path} is a directory; pass one IDX file (load_mnist reads a directory "
                                "of MNIST files)") from None
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path}: corrupt gzip stream ({e})") from e


def load_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (plain or gzipped) into an array of native byte order."""
    path = _path(path, "load_idx", "path")
    data = _read_bytes(path)
    if len(data) < 4:
        raise ValueError(
            f"{path}: truncated IDX header: expected at least 4 bytes, found {len(data)}"
        )
    if data[0] != 0 or data[1] != 0:
        raise ValueError(
            f"{path}: bad IDX magic: expected first two bytes 00 00, found {data[:2].hex(' ')}"
        )
    code, ndim = data[2], data[3]
    if code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise ValueError(f"{path}: unknown IDX dtype code 0x{code:02X}; expected one of {known}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(
            f"{path}: truncated IDX header: {ndim} dimensions need {header} header bytes, "
            f"found {len(data)}"
        )
    shape = tuple(int(s) for s in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[code])
    expected, present = math.prod(shape) * dtype.itemsize, len(data) - header
    if present < expected:
        raise ValueError(
            f"{path}: truncated IDX data: shape {shape} of {dtype.name} needs {expected} bytes, "
            f"only {present} present"
        )
    if present > expected:
        raise ValueError(
            f"{path}: trailing garbage: shape {shape} of {dtype.name} needs {expected} bytes, "
            f"found {present} ({present - expected} extra)"
        )
    array = np.frombuffer(data, dtype, count=math.prod(shape), offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # a writable copy in native byte order


def _find(directory: Path, stem: str) -> Path | None:
    """Return the plain or gzipped file called `stem` in `directory`, if there is one."""
    for name in (stem, stem + ".gz"):
        if (directory / name).is_file():
            return directory / name
    return None


def _load_mnist_split(images_path: Path, labels_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Load one images/labels pair as float32 (N, H, W, 1) in [0, 1] and int64 (N,)."""
    images, labels = load_idx(images_path), load_idx(labels_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(f"{images_path}: expected uint8 images of shape (N, rows, cols), "
                         f"found {images.dtype} {images.shape}")
    if labels.ndim != 1:
        raise ValueError(f"{labels_path}: expected labels of shape (N,), found {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{images_path.name} has {len(images)} images but "
                         f"{labels_path.name} has {len(labels)} labels")
    x = (images.astype(np.float32) / 255.0)[..., None]  # (N, H, W) -> (N, H, W, 1)
    return x, labels.astype(np.int64)


def load_mnist(directory: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Load whichever MNIST splits exist in `directory` as {"train": (x, y), "test": (x, y)}."""
    directory = _path(directory, "load_mnist", "directory")
    if not directory.is_dir():
        raise FileNotFoundError(f"MNIST directory not found: {directory}")
    splits = {}
    for split, (images_stem, labels_stem) in _MNIST_FILES.items():
        images_path, labels_path = _find(directory, images_stem), _find(directory, labels_stem)
        if images_path is None and labels_path is None:
            continue
        if images_path is None or labels_path is None:
            found, missing = (
                (images_path, labels_stem) if labels_path is None else (labels_path, images_stem)
            )
            raise ValueError(
                f"{directory}: found {found.name} but not {missing}[.gz] for the {split} split"
            )
        splits[split] = _load_mnist_split(images_path, labels_path)
    if not splits:
        looked_for = ", ".join(f"{stem}[.gz]" for stems in _MNIST_FILES.values() for stem in stems)
        raise ValueError(f"{directory}: no MNIST split found; looked for {looked_for}")
    return splits


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """Return scikit-learn's 8x8 digits as float32 (N, 8, 8, 1) in [0, 1] and int64 labels (N,)."""
    try:
        from sklearn.datasets import load_digits as sklearn_load_digits
    except ImportError as e:
        raise ImportError(
            "load_digits needs scikit-learn: "
            'pip install "tinygrad-cnn[examples]" or pip install scikit-learn'
        ) from e
    digits = sklearn_load_digits()
    # pixel values are 0..16; (N, 8, 8) -> (N, 8, 8, 1)
    x = (digits.images.astype(np.float32) / 16.0)[..., None]
    return x, digits.target.astype(np.int64)


def train_test_split(
    x: np.ndarray, y: np.ndarray, test_fraction: float = 0.2, seed: int = 0
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Shuffle with a seeded permutation and split into (x_train, y_train), (x_test, y_test)."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
        raise ValueError(
            f"x and y need the same number of samples, got shapes {x.shape} and {y.shape}"
        )
    if not is_number(test_fraction):
        raise TypeError(f"train_test_split: test_fraction must be a number strictly between 0 and 1 (the share of "
                        f"samples held out), got {type(test_fraction).__name__} {test_fraction!r:.40}")
    seed = positive_int(seed, "seed", "train_test_split", minimum=0)
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {test_fraction}")
    n = len(x)
    n_test = round(n * test_fraction)
    if n_test == 0 or n_test == n:
        raise ValueError(f"test_fraction={test_fraction} of {n} samples gives {n_test} test and "
                         f"{n - n_test} train samples; both must be non-empty")
    order = np.random.default_rng(seed).permutation(n)
    test, train = order[:n_test], order[n_test:]
    return (x[train], y[train]), (x[test], y[test])
