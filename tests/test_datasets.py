"""Tests for tinygrad_cnn.datasets: IDX round trips, every error path, MNIST and digits."""

from __future__ import annotations

import gzip
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import require
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from tinygrad_cnn.datasets import load_digits, load_idx, load_mnist, train_test_split

IDX_CODES = {
    "uint8": 0x08, "int8": 0x09, "int16": 0x0B, "int32": 0x0C, "float32": 0x0D, "float64": 0x0E
}
REAL_MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode an array as IDX: 00 00, type code, ndim, big-endian sizes, big-endian data."""
    header = bytes([0, 0, IDX_CODES[array.dtype.name], array.ndim])
    sizes = np.asarray(array.shape, dtype=">u4").tobytes()
    return header + sizes + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path: Path, payload: bytes, gz: bool = False) -> Path:
    """Write raw bytes to `path`, gzipped if asked, and return the path."""
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


# ---------------------------------------------------------------- load_idx round trips

SHAPES = array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)
ARRAYS = st.sampled_from(sorted(IDX_CODES)).flatmap(lambda name: arrays(np.dtype(name), SHAPES))


@settings(max_examples=60, deadline=None)
@given(array=ARRAYS, gz=st.booleans())
def test_idx_round_trip(tmp_path_factory, array, gz):
    path = write(tmp_path_factory.mktemp("idx") / "data.idx", idx_bytes(array), gz)
    loaded = load_idx(path)
    assert loaded.dtype == array.dtype and loaded.dtype.isnative
    assert loaded.shape == array.shape
    np.testing.assert_array_equal(loaded, array)


def test_gzip_is_detected_by_magic_not_by_name(tmp_path):
    array = np.arange(24, dtype=np.int16).reshape(2, 3, 4) - 12
    gzipped = write(tmp_path / "looks-plain.idx", idx_bytes(array), gz=True)
    plain = write(tmp_path / "looks-gzipped.gz", idx_bytes(array))
    np.testing.assert_array_equal(load_idx(gzipped), array)
    np.testing.assert_array_equal(load_idx(str(plain)), array)


def test_loaded_array_is_writable(tmp_path):
    loaded = load_idx(write(tmp_path / "a.idx", idx_bytes(np.ones((2, 2), np.float64))))
    loaded[0, 0] = 5.0
    assert loaded[0, 0] == 5.0


# ---------------------------------------------------------------- load_idx errors

def u32(n: int) -> bytes:
    """Encode one big-endian uint32 size."""
    return n.to_bytes(4, "big")


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.idx"):
        load_idx(tmp_path / "nope.idx")


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    ("payload", "pattern"),
    [
        (b"", r"truncated IDX header: expected at least 4 bytes, found 0"),
        (b"\0\0\x08", r"truncated IDX header: expected at least 4 bytes, found 3"),
        (b"\0\0\x08\x02" + u32(3), r"IDX header: 2 dimensions need 12 header bytes, found 8"),
        (b"\1\2\x08\x01" + u32(1) + b"\7", r"bad IDX magic: expected .* 00 00, found 01 02"),
        (b"\0\0\x0a\x01" + u32(1) + b"\7", r"unknown IDX dtype code 0x0A; expected .*0x08, "),
        (b"\0\0\x0c\x01" + u32(3) + bytes(10), r"IDX data: .*needs 12 bytes, only 10 present"),
        (b"\0\0\x08\x01" + u32(2) + bytes(5), r"trailing garbage: .*2 bytes, found 5 \(3 extra\)"),
    ],
    ids=[
        "empty", "short-prefix", "short-sizes", "bad-magic", "bad-dtype", "short-data", "trailing"
    ],
)
def test_malformed_idx_raises_clear_value_error(tmp_path, payload, pattern, gz):
    path = write(tmp_path / "bad.idx", payload, gz)
    with pytest.raises(ValueError, match=pattern) as info:
        load_idx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "payload",
    [
        gzip.compress(idx_bytes(np.arange(100, dtype=np.uint8)))[:-12],  # stream cut short
        b"\x1f\x8b" + b"not really deflate data at all",  # gzip magic, garbage after it
    ],
    ids=["truncated-stream", "garbage-after-magic"],
)
def test_corrupt_gzip_raises_value_error(tmp_path, payload):
    path = write(tmp_path / "broken.idx.gz", payload)
    with pytest.raises(ValueError, match=r"broken\.idx\.gz: corrupt gzip stream"):
        load_idx(path)


# ---------------------------------------------------------------- load_mnist

def make_mnist_split(
    directory: Path, prefix: str, n: int, gz: bool, n_labels: int | None = None
) -> None:
    """Write a fake MNIST split of `n` images (and `n_labels` labels) into `directory`."""
    rng = np.random.default_rng(n)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[0, 0, 0], images[0, 0, 1] = 0, 255  # make sure both ends of the range appear
    labels = rng.integers(0, 10, size=n if n_labels is None else n_labels).astype(np.uint8)
    suffix = ".gz" if gz else ""
    write(directory / f"{prefix}-images-idx3-ubyte{suffix}", idx_bytes(images), gz)
    write(directory / f"{prefix}-labels-idx1-ubyte{suffix}", idx_bytes(labels), gz)


def test_load_mnist_reads_both_splits(tmp_path):
    make_mnist_split(tmp_path, "train", 30, gz=True)
    make_mnist_split(tmp_path, "t10k", 12, gz=False)
    data = load_mnist(tmp_path)
    assert set(data) == {"train", "test"}
    for split, n in [("train", 30), ("test", 12)]:
        x, y = data[split]
        assert x.shape == (n, 28, 28, 1) and x.dtype == np.float32
        assert y.shape == (n,) and y.dtype == np.int64
        assert x.min() == 0.0 and x.max() == 1.0
    raw = load_idx(tmp_path / "train-images-idx3-ubyte.gz")
    np.testing.assert_allclose(data["train"][0][..., 0] * 255.0, raw, atol=1e-4)


def test_load_mnist_returns_only_present_splits(tmp_path):
    make_mnist_split(tmp_path, "t10k", 5, gz=True)
    assert set(load_mnist(str(tmp_path))) == {"test"}


def test_load_mnist_without_any_split_lists_what_it_looked_for(tmp_path):
    with pytest.raises(ValueError, match="no MNIST split found") as info:
        load_mnist(tmp_path)
    for prefix in ["train", "t10k"]:
        for stem in [f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"]:
            assert stem in str(info.value)


@pytest.mark.parametrize("call, message", [
    (lambda: load_idx(3), "load_idx: path must be a str or pathlib.Path, got int 3"),
    (lambda: load_mnist(None), "load_mnist: directory must be a str or pathlib.Path, got NoneType"),
])
def test_paths_of_the_wrong_type_name_the_argument(call, message):
    with pytest.raises(TypeError, match=message):
        call()


def test_load_mnist_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent"):
        load_mnist(tmp_path / "absent")


def test_load_mnist_images_without_labels(tmp_path):
    make_mnist_split(tmp_path, "train", 4, gz=True)
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    pattern = r"found train-images-idx3-ubyte\.gz but not train-labels-idx1-ubyte\[\.gz\]"
    with pytest.raises(ValueError, match=pattern):
        load_mnist(tmp_path)


def test_load_mnist_count_mismatch(tmp_path):
    make_mnist_split(tmp_path, "t10k", 6, gz=False, n_labels=5)
    with pytest.raises(ValueError, match="has 6 images but .* has 5 labels"):
        load_mnist(tmp_path)


def test_load_mnist_rejects_wrong_image_rank(tmp_path):
    write(tmp_path / "t10k-images-idx3-ubyte", idx_bytes(np.zeros((3, 784), np.uint8)))
    write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(np.zeros(3, np.uint8)))
    pattern = r"expected uint8 images of shape \(N, rows, cols\), found uint8 \(3, 784\)"
    with pytest.raises(ValueError, match=pattern):
        load_mnist(tmp_path)


def test_real_mnist_test_set_loads():
    if not REAL_MNIST.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but the real MNIST directory is missing: {REAL_MNIST}")
        pytest.skip(f"real MNIST not available at {REAL_MNIST}")
    x, y = load_mnist(REAL_MNIST)["test"]
    assert x.shape == (10_000, 28, 28, 1) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert y.shape == (10_000,) and y.dtype == np.int64
    assert y.min() >= 0 and y.max() <= 9
    assert set(np.unique(y)) == set(range(10))
    assert y[:3].tolist() == [7, 2, 1]  # the well-known first three test labels


# ---------------------------------------------------------------- load_digits

def test_load_digits_shapes_range_and_dtypes():
    require("sklearn")
    x, y = load_digits()
    assert x.shape == (1797, 8, 8, 1) and x.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    assert set(np.unique(y)) == set(range(10))


def test_load_digits_without_sklearn_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    pattern = r'pip install "tinygrad-cnn\[examples\]" or pip install scikit-learn'
    with pytest.raises(ImportError, match=pattern):
        load_digits()


# ---------------------------------------------------------------- train_test_split

def test_split_sizes_pairs_and_coverage():
    x = np.arange(50, dtype=np.float32).reshape(10, 5)
    y = np.arange(10) * 7
    (x_train, y_train), (x_test, y_test) = train_test_split(x, y, test_fraction=0.3, seed=1)
    assert len(x_train) == len(y_train) == 7 and len(x_test) == len(y_test) == 3
    np.testing.assert_array_equal(x_train[:, 0] / 5 * 7, y_train)  # rows stay paired with labels
    np.testing.assert_array_equal(x_test[:, 0] / 5 * 7, y_test)
    assert sorted(np.concatenate([y_train, y_test]).tolist()) == y.tolist()


def test_split_is_seeded():
    x, y = np.arange(100), np.arange(100)
    first, again = train_test_split(x, y, seed=3), train_test_split(x, y, seed=3)
    other = train_test_split(x, y, seed=4)
    np.testing.assert_array_equal(first[1][0], again[1][0])
    assert not np.array_equal(first[1][0], other[1][0])


def test_split_length_mismatch():
    with pytest.raises(ValueError, match=r"same number of samples, got shapes \(5,\) and \(4,\)"):
        train_test_split(np.zeros(5), np.zeros(4))


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_split_bad_fraction(fraction):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        train_test_split(np.zeros(10), np.zeros(10), test_fraction=fraction)


def test_split_fraction_leaving_an_empty_side():
    with pytest.raises(ValueError, match="gives 0 test and 3 train samples"):
        train_test_split(np.zeros(3), np.zeros(3), test_fraction=0.1)
