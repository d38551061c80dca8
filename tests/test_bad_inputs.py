"""Bad calls across the public API: each raises a specific exception whose message names the argument, the
values or shapes received and what was expected; none ends in a NumPy-internal error or a bare assert."""
from __future__ import annotations

import os
import pickle
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tinygrad_cnn as tc
from tinygrad_cnn import initializers, losses, optimizers
from tinygrad_cnn import layers as L
from tinygrad_cnn.saving import ModelFileError

NUMPY_DIR = os.path.dirname(np.__file__)


def mat(*shape: int, grad: bool = False) -> tc.Tensor:
    return tc.Tensor(np.ones(shape, np.float32), requires_grad=grad)


def images(n: int = 2, h: int = 5, w: int = 5, c: int = 3) -> tc.Tensor:
    return tc.Tensor(np.ones((n, h, w, c), np.float32))


def small_cnn() -> tc.Sequential:
    return tc.Sequential([tc.Input((5, 5, 3)), L.Conv2D(2, 3), L.Flatten(), L.Dense(3)])


def compiled(loss: str = "mse") -> tc.Sequential:
    model = small_cnn()
    model.compile("adam", loss)
    return model


def built_twice(layer: L.Layer, first: tuple[int, ...], second: tuple[int, ...]) -> Any:
    """Build `layer` on one input shape, then call it on another."""
    layer(np.ones(first, np.float32))
    return layer(np.ones(second, np.float32))


def saved(tmp: Path, damage: str) -> Path:
    """A model file, then damaged in one of several ways."""
    path = tmp / f"{damage}.npz"
    small_cnn().save(path)
    raw = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "corrupt":   # bytes flipped inside the first weight's data: the zip checksum fails
        start = raw.index(b"weights/") + 200
        path.write_bytes(raw[:start] + bytes(b ^ 0xFF for b in raw[start:start + 40]) + raw[start + 40:])
    elif damage == "garbage":
        path.write_bytes(b"this is not a model file at all")
    elif damage == "pickle":
        path.write_bytes(pickle.dumps({"weights": [np.ones(3)]}))
    elif damage == "object array":
        np.savez(path, format=np.array("tinygrad_cnn.model"), evil=np.array([os.system], dtype=object))
    elif damage == "npy":
        path = tmp / "single.npy"
        np.save(path, np.ones(3))
    return path


def wrong_architecture(tmp: Path) -> None:
    path = tmp / "weights.npz"
    small_cnn().save_weights(path)
    other = tc.Sequential([tc.Input((5, 5, 3)), L.Conv2D(4, 3), L.Flatten(), L.Dense(3)])
    other.load_weights(path)


sparse = losses.sparse_categorical_crossentropy
LOGITS = np.ones((2, 3), np.float32)

# (id, call(tmp_path), exception type, substrings the message must contain)
CASES: list[tuple[str, Any, type[BaseException], list[str]]] = [
    # --- binary ops and matmul: mismatched shapes ---
    ("add shapes", lambda t: mat(2, 3) + mat(4), ValueError, ["Add", "(2, 3)", "(4,)", "axis -1", "size 1"]),
    ("sub shapes", lambda t: mat(2, 3) - mat(2, 4), ValueError, ["Sub", "(2, 3)", "(2, 4)", "[3, 4]"]),
    ("mul shapes", lambda t: mat(2, 1, 3) * mat(4, 2, 1), ValueError, ["Mul", "(2, 1, 3)", "(4, 2, 1)", "axis -3"]),
    ("div shapes", lambda t: mat(3) / mat(2), ValueError, ["Div", "(3,)", "(2,)", "broadcast"]),
    ("pow shapes", lambda t: mat(2, 3) ** mat(2), ValueError, ["Pow", "(2, 3)", "(2,)"]),
    ("radd array shapes", lambda t: np.ones(4) + mat(2, 3), ValueError, ["Add", "(4,)", "(2, 3)"]),
    ("maximum shapes", lambda t: tc.maximum(mat(2, 3), mat(5)), ValueError, ["Maximum", "(2, 3)", "(5,)"]),
    ("minimum shapes", lambda t: tc.minimum(mat(3, 2), mat(3)), ValueError, ["(3, 2)", "(3,)", "broadcast"]),
    ("where condition shape", lambda t: tc.where(np.ones(5, bool), mat(2, 3), mat(2, 3)), ValueError,
     ["Where", "condition (5,)", "(2, 3)"]),
    ("clip bound shape", lambda t: mat(2, 3).clip(mat(4), 1.0), ValueError, ["clip", "(2, 3)", "(4,)"]),
    ("matmul inner", lambda t: mat(2, 3) @ mat(4, 2), ValueError, ["matmul", "(2, 3) @ (4, 2)", "(3)", "(4)"]),
    ("matmul vectors", lambda t: mat(3) @ mat(4), ValueError, ["(3,) @ (4,)", "only axis"]),
    ("matmul batch", lambda t: mat(2, 3, 4) @ mat(3, 4, 2), ValueError, ["(2, 3, 4) @ (3, 4, 2)", "batch axes"]),
    ("matmul scalar", lambda t: tc.Tensor(2.0) @ mat(2, 3), ValueError, ["at least 1-D", "()", "use *"]),
    ("hvp vector shape", lambda t: tc.hvp(lambda x: (x * x).sum(), mat(3), mat(2)), ValueError,
     ["v[0]", "(2,)", "(3,)", "input's shape"]),
    ("dense use_bias string", lambda t: tc.layers.Dense(3, use_bias="yes"), TypeError, ["use_bias", "'yes'"]),
    ("from_logits string", lambda t: tc.losses.SparseCategoricalCrossentropy(from_logits="False"), TypeError,
     ["SparseCategoricalCrossentropy", "from_logits", "True or False", "'False'"]),
    ("mse metric transposed targets", lambda t: tc.metrics.mean_squared_error(np.ones((2, 3)), np.zeros((3, 2))),
     ValueError, ["mean_squared_error", "(2, 3)", "(3, 2)", "must match"]),
    ("nesterov string", lambda t: tc.optimizers.SGD(nesterov="yes"), TypeError, ["SGD", "nesterov", "'yes'"]),
    ("gradgradcheck grad_outputs count", lambda t: tc.gradgradcheck(lambda a: a * a, [mat(3, grad=True)],
                                                                    grad_outputs=[np.ones(3), np.ones(3)]),
     ValueError, ["2 grad_outputs", "1 outputs", "one upstream gradient per output"]),
    ("draw_graph gradcheck type", lambda t: tc.draw_graph(mat(3) * 2, gradcheck=True), TypeError,
     ["gradcheck must be", "GradcheckError", "bool"]),
    # --- tensors: construction, shapes, indexing, autodiff ---
    ("string data", lambda t: tc.Tensor("abc"), TypeError, ["Tensor data must be numbers", "str", "abc"]),
    ("ragged data", lambda t: tc.Tensor([[1, 2], [3]]), ValueError, ["rectangular", "[[1, 2], [3]]"]),
    ("int requires grad", lambda t: tc.Tensor([1, 2], requires_grad=True), TypeError,
     ["floating-point", "int64", "dtype='float32'"]),
    ("string operand", lambda t: mat(2) * "x", TypeError, ["unsupported operand", "str", "expected a Tensor"]),
    ("None operand", lambda t: mat(2) + None, TypeError, ["NoneType", "expected a Tensor"]),
    ("reshape size", lambda t: mat(2, 3).reshape(4, 2), ValueError, ["(2, 3)", "6 elements", "(4, 2)", "8"]),
    ("reshape string", lambda t: mat(2, 3).reshape("6"), ValueError, ["('6',)", "sizes must be ints"]),
    ("reshape negative", lambda t: mat(2, 3).reshape(-2, 3), ValueError, ["(-2, 3)", "non-negative"]),
    ("transpose axes", lambda t: mat(2, 3).transpose(0, 0), ValueError, ["(0, 0)", "permutation", "(2, 3)"]),
    ("sum axis range", lambda t: mat(2, 3).sum(axis=2), IndexError, ["axis=2", "2 dimensions", "-2 to 1"]),
    ("sum axis string", lambda t: mat(2, 3).sum(axis="1"), TypeError, ["axis must be an int", "'1'"]),
    ("softmax axis", lambda t: mat(2, 3).softmax(axis=5), IndexError, ["axis=5", "valid: -2 to 1"]),
    ("index range", lambda t: mat(2, 3)[5], IndexError, ["index 5", "(2, 3)", "size 2"]),
    ("float index", lambda t: mat(2, 3)[1.5], IndexError, ["1.5", "(2, 3)", "use ints, slices"]),
    ("concatenate shapes", lambda t: tc.concatenate([mat(2, 3), mat(4)]), ValueError,
     ["tensor 1 has shape (4,)", "(2, 3)", "must match"]),
    ("stack shapes", lambda t: tc.stack([mat(2, 3), mat(3, 2)]), ValueError, ["(3, 2)", "(2, 3)", "same shape"]),
    ("pad negative", lambda t: mat(2, 3).pad(-1), ValueError, ["pad_width", "-1", "negative"]),
    ("broadcast_to", lambda t: mat(2, 3).broadcast_to((4, 3)), ValueError, ["(2, 3)", "(4, 3)", "match or be 1"]),
    ("backward non-scalar", lambda t: (mat(2, 3, grad=True) * 2).backward(), RuntimeError,
     ["non-scalar", "(2, 3)", "pass a gradient"]),
    ("backward grad shape", lambda t: (mat(2, 3, grad=True) * 2).backward(np.ones(3)), RuntimeError,
     ["(3,)", "(2, 3)"]),
    ("grad non-scalar", lambda t: tc.grad(mat(2, 3, grad=True) * 2, []), RuntimeError, ["non-scalar", "(2, 3)"]),
    ("item of many", lambda t: mat(2, 3).item(), ValueError, ["item()", "one element", "(2, 3)"]),
    # --- creation: strings where numbers belong, negative and zero sizes ---
    ("zeros negative", lambda t: tc.zeros(-1, 2), ValueError, ["zeros", "non-negative ints", "(-1, 2)"]),
    ("ones string", lambda t: tc.ones("3"), ValueError, ["ones", "non-negative ints", "('3',)"]),
    ("randn float size", lambda t: tc.randn(2.5), ValueError, ["randn", "(2.5,)"]),
    ("eye negative", lambda t: tc.eye(-2), ValueError, ["eye", "(-2,)", "non-negative"]),
    ("arange zero step", lambda t: tc.arange(0, 5, 0), ValueError, ["arange", "step must not be zero"]),
    ("arange string", lambda t: tc.arange("5"), TypeError, ["arange", "start must be a number", "'5'"]),
    ("full string", lambda t: tc.full((2,), "a"), TypeError, ["full", "fill_value must be a number", "'a'"]),
    ("manual_seed string", lambda t: tc.manual_seed("x"), TypeError, ["manual_seed", "non-negative int", "'x'"]),
    # --- conv and pooling functions ---
    ("conv2d rank", lambda t: tc.conv2d(mat(5, 5, 3), np.ones((3, 3, 3, 2))), ValueError,
     ["x must be 4-D", "(N, H, W, C)", "(5, 5, 3)"]),
    ("conv2d channels", lambda t: tc.conv2d(images(), np.ones((3, 3, 2, 4))), ValueError,
     ["3 channels", "(3, 3, 2, 4)", "expects 2"]),
    ("conv2d zero stride", lambda t: tc.conv2d(images(), np.ones((3, 3, 3, 4)), strides=0), ValueError,
     ["strides", "at least 1", "got 0"]),
    ("conv2d string stride", lambda t: tc.conv2d(images(), np.ones((3, 3, 3, 4)), strides="2"), TypeError,
     ["strides", "int or a pair", "'2'"]),
    ("conv2d padding", lambda t: tc.conv2d(images(), np.ones((3, 3, 3, 4)), padding="full"), ValueError,
     ["padding", "'valid' or 'same'", "'full'"]),
    ("conv2d data_format", lambda t: tc.conv2d(images(), np.ones((3, 3, 3, 4)), data_format="NHWC"), ValueError,
     ["data_format", "'channels_last'", "'NHWC'"]),
    ("conv2d kernel too big", lambda t: tc.conv2d(images(), np.ones((7, 7, 3, 4))), ValueError,
     ["kernel is 7 high", "only 5 high", "padding='same'"]),
    ("conv2d groups", lambda t: tc.conv2d(images(c=4), np.ones((3, 3, 2, 3)), groups=2), ValueError,
     ["groups=2", "filters (3)", "3 % 2 = 1"]),
    ("max_pool zero size", lambda t: tc.max_pool2d(images(), 0), ValueError, ["pool_size", "at least 1", "0"]),
    ("avg_pool negative size", lambda t: tc.avg_pool2d(images(), -2), ValueError, ["pool_size", "-2"]),
    ("max_pool string size", lambda t: tc.max_pool2d(images(), "2"), TypeError, ["pool_size", "'2'"]),
    ("max_pool window too big", lambda t: tc.max_pool2d(images(), 6), ValueError,
     ["pool window is 6 high", "only 5 high"]),
    ("max_pool zero stride", lambda t: tc.max_pool2d(images(), 2, strides=0), ValueError, ["strides", "got 0"]),
    # --- layers: sizes, names, ranks and channel counts ---
    ("Conv2D zero filters", lambda t: L.Conv2D(0, 3), ValueError, ["Conv2D", "filters", "positive int", "got 0"]),
    ("Conv2D string filters", lambda t: L.Conv2D("8", 3), TypeError, ["Conv2D", "filters", "str '8'"]),
    ("Conv2D zero kernel", lambda t: L.Conv2D(8, 0), ValueError, ["Conv2D", "kernel_size", "at least 1", "0"]),
    ("Conv2D negative strides", lambda t: L.Conv2D(8, 3, strides=-1), ValueError, ["Conv2D", "strides", "-1"]),
    ("Conv2D padding", lambda t: L.Conv2D(8, 3, padding="full"), ValueError,
     ["Conv2D", "padding", "'valid', 'same'", "'full'"]),
    ("Conv2D data_format", lambda t: L.Conv2D(8, 3, data_format="NCHW"), ValueError,
     ["Conv2D", "data_format", "'channels_first'", "'NCHW'"]),
    ("Conv2D activation", lambda t: L.Conv2D(8, 3, activation="swishy"), ValueError,
     ["unknown activation 'swishy'", "relu"]),
    ("Conv2D initializer", lambda t: L.Conv2D(8, 3, kernel_initializer="xavier"), ValueError,
     ["unknown initializer 'xavier'", "glorot_uniform"]),
    ("Conv2D rank", lambda t: L.Conv2D(2, 3)(np.ones((5, 5, 3))), ValueError,
     ["Conv2D", "4-D", "got shape (5, 5, 3)", "add a batch axis"]),
    ("Conv2D channels", lambda t: built_twice(L.Conv2D(2, 3), (1, 5, 5, 3), (1, 5, 5, 4)), ValueError,
     ["Conv2D", "(None, 5, 5, 3)", "(1, 5, 5, 4)", "axis 3 must have size 3, not 4"]),
    ("Dense zero units", lambda t: L.Dense(0), ValueError, ["Dense", "units", "positive int", "got 0"]),
    ("Dense negative units", lambda t: L.Dense(-3), ValueError, ["Dense", "units", "got -3"]),
    ("Dense string units", lambda t: L.Dense("10"), TypeError, ["Dense", "units", "str '10'"]),
    ("Dense float units", lambda t: L.Dense(2.5), TypeError, ["Dense", "units", "float 2.5"]),
    ("Dense activation", lambda t: L.Dense(3, activation="swishy"), ValueError, ["unknown activation 'swishy'"]),
    ("Dense features", lambda t: built_twice(L.Dense(3), (2, 4), (2, 5)), ValueError,
     ["Dense", "(None, 4)", "(2, 5)", "size 4, not 5"]),
    ("MaxPooling2D zero size", lambda t: L.MaxPooling2D(0), ValueError, ["MaxPooling2D", "pool_size", "0"]),
    ("MaxPooling2D padding", lambda t: L.MaxPooling2D(2, padding="x"), ValueError,
     ["MaxPooling2D", "padding", "'valid', 'same'", "'x'"]),
    ("MaxPooling2D data_format", lambda t: L.MaxPooling2D(2, data_format="x"), ValueError,
     ["MaxPooling2D", "data_format", "'x'"]),
    ("MaxPooling2D rank", lambda t: L.MaxPooling2D(2)(np.ones((2, 4))), ValueError,
     ["MaxPooling2D", "4-D", "got shape (2, 4)"]),
    ("Dropout rate", lambda t: L.Dropout(1.5), ValueError, ["Dropout", "rate", "[0.0, 1.0)", "1.5"]),
    ("Dropout string rate", lambda t: L.Dropout("0.5"), TypeError, ["Dropout", "rate", "number", "'0.5'"]),
    ("BatchNormalization momentum", lambda t: L.BatchNormalization(momentum=2), ValueError,
     ["BatchNormalization", "momentum", "[0.0, 1.0]", "2"]),
    ("Activation name", lambda t: L.Activation("swishy"), ValueError, ["unknown activation 'swishy'", "tanh"]),
    ("Input negative", lambda t: tc.Input((-1, 3)), ValueError, ["Input", "(None, -1, 3)", "non-negative"]),
    ("Input string", lambda t: tc.Input("28"), TypeError, ["Input", "shape", "tuple", "'28'"]),
    ("Sequential non-layer", lambda t: tc.Sequential([3]), TypeError, ["Sequential.add", "layer", "int 3"]),
    # --- names of initializers, optimizers, losses; optimizer and loss arguments ---
    ("initializer name", lambda t: initializers.get("xavier"), ValueError, ["'xavier'", "he_normal"]),
    ("optimizer name", lambda t: optimizers.get("adagrad"), ValueError, ["unknown optimizer 'adagrad'", "adam"]),
    ("compile optimizer name", lambda t: small_cnn().compile("adagrad", "mse"), ValueError,
     ["unknown optimizer 'adagrad'", "sgd"]),
    ("optimizer negative lr", lambda t: optimizers.SGD([mat(2, grad=True)], learning_rate=-1), ValueError,
     ["learning_rate", "[0.0, inf)", "-1"]),
    ("optimizer string lr", lambda t: optimizers.Adam([mat(2, grad=True)], learning_rate="fast"), TypeError,
     ["learning_rate", "number", "'fast'"]),
    ("loss name", lambda t: losses.get("hinge_loss"), ValueError, ["unknown loss 'hinge_loss'", "mse"]),
    ("compile loss name", lambda t: small_cnn().compile("adam", "hinge_loss"), ValueError,
     ["unknown loss 'hinge_loss'", "sparse_categorical_crossentropy"]),
    ("loss reduction", lambda t: losses.mean_squared_error(np.ones(3), mat(3), reduction="avg"), ValueError,
     ["reduction", "'avg'", "'mean'"]),
    # --- labels of sparse losses, empty batches, target shapes ---
    ("label out of range", lambda t: sparse(np.array([0, 5]), tc.Tensor(LOGITS)), IndexError,
     ["label 5", "3 classes", "0 to 2"]),
    ("negative label", lambda t: sparse(np.array([0, -1]), tc.Tensor(LOGITS)), IndexError, ["label -1", "0 to 2"]),
    ("NaN label", lambda t: sparse(np.array([0, np.nan]), tc.Tensor(LOGITS)), ValueError,
     ["nan", "index (1,)", "integer class indices", "[0, 2]"]),
    ("float labels", lambda t: sparse(np.array([0.0, 1.5]), tc.Tensor(LOGITS)), TypeError,
     ["integer class indices", "float64"]),
    ("label count", lambda t: sparse(np.array([0, 1, 2]), tc.Tensor(LOGITS)), ValueError,
     ["y_true has shape (3,)", "(2, 3)", "shape (2,)"]),
    ("empty batch loss", lambda t: sparse(np.zeros(0, int), tc.Tensor(np.ones((0, 3)))), ValueError,
     ["empty batch", "(0, 3)", "at least one sample"]),
    ("mse shapes", lambda t: losses.mean_squared_error(np.ones(3), mat(2, 3)), ValueError,
     ["mean_squared_error", "(3,)", "(2, 3)", "must match"]),
    ("one-hot shapes", lambda t: losses.categorical_crossentropy(np.ones((2, 4)), mat(2, 3)), ValueError,
     ["categorical_crossentropy", "(2, 4)", "(2, 3)"]),
    ("binary targets", lambda t: losses.binary_crossentropy(np.array([2.0]), tc.Tensor([0.5])), ValueError,
     ["binary_crossentropy", "[0.0, 1.0]", "2"]),
    # --- fit, evaluate, predict ---
    ("fit lengths", lambda t: compiled().fit(np.ones((4, 5, 5, 3)), np.ones((3, 3)), verbose=0), ValueError,
     ["x has 4 samples", "y has 3", "(3, 3)", "one target per sample"]),
    ("fit empty batch", lambda t: compiled().fit(np.ones((0, 5, 5, 3)), np.ones((0, 3)), verbose=0), ValueError,
     ["x is empty", "(0, 5, 5, 3)", "at least one sample"]),
    ("predict empty batch", lambda t: compiled().predict(np.ones((0, 5, 5, 3))), ValueError, ["x is empty"]),
    ("fit string batch_size", lambda t: compiled().fit(np.ones((4, 5, 5, 3)), np.ones((4, 3)), batch_size="8",
                                                       verbose=0),
     TypeError, ["fit", "batch_size", "positive int", "'8'"]),
    ("fit string validation_split", lambda t: compiled().fit(np.ones((4, 5, 5, 3)), np.ones((4, 3)),
                                                             validation_split="0.2", verbose=0),
     TypeError, ["fit", "validation_split", "must be a number", "'0.2'"]),
    ("fit string data", lambda t: compiled().fit([["a"]], np.ones((1, 3)), verbose=0), TypeError,
     ["x must be numbers", "<U1"]),
    ("fit input shape", lambda t: compiled().fit(np.ones((4, 6, 6, 3)), np.ones((4, 3)), verbose=0), ValueError,
     ["(None, 5, 5, 3)", "(4, 6, 6, 3)", "size 5, not 6"]),
    ("fit uncompiled", lambda t: small_cnn().fit(np.ones((4, 5, 5, 3)), np.ones((4, 3)), verbose=0), RuntimeError,
     ["must be compiled before fit()", "model.compile("]),
    ("fit float sparse labels", lambda t: compiled("sparse_categorical_crossentropy").fit(
        np.ones((4, 5, 5, 3)), np.array([0.0, 1.0, 2.0, 0.5]), verbose=0), TypeError, ["integer class indices"]),
    # --- a model used before it is built ---
    ("summary unbuilt", lambda t: tc.Sequential([L.Dense(3)]).summary(), ValueError,
     ["not built yet", "summary", "tc.Input(shape)"]),
    ("count_params unbuilt", lambda t: tc.Sequential([L.Dense(3)]).count_params(), ValueError,
     ["not built yet", "count_params()"]),
    ("output_shape unbuilt", lambda t: L.Dense(3).output_shape, ValueError, ["not built yet", "output_shape"]),
    ("save unbuilt", lambda t: tc.Sequential([L.Dense(3)]).save(t / "m.npz"), ValueError,
     ["no weights yet", "tc.Input(shape)"]),
    ("load_weights unbuilt", lambda t: tc.Sequential([L.Dense(3)]).load_weights(saved(t, "intact")), ValueError,
     ["no weights yet", "call it on data once"]),
    ("set_weights count", lambda t: small_cnn().set_weights([np.ones(3)]), ValueError,
     ["set_weights needs a list of 4 arrays", "(3, 3, 3, 2)", "got 1 arrays"]),
    # --- gradcheck on integer inputs ---
    ("gradcheck int tensor", lambda t: tc.gradcheck(lambda x: x * 2, [tc.Tensor([1, 2])]), ValueError,
     ["gradcheck", "input 0: int64", "requires_grad=True"]),
    ("gradcheck int array", lambda t: tc.gradcheck(lambda x: x * 2, [np.array([1, 2])]), ValueError,
     ["gradcheck", "got no Tensors", "float tensors"]),
    ("gradgradcheck int tensor", lambda t: tc.gradgradcheck(lambda x: x * 2, [tc.Tensor([1, 2])]), ValueError,
     ["input 0: int64", "integer and bool tensors have no gradient"]),
    ("gradcheck negative eps", lambda t: tc.gradcheck(lambda x: x * 2, [mat(2, grad=True)], eps=-1), ValueError,
     ["gradcheck", "eps must be a number > 0", "-1"]),
    ("gradcheck not a function", lambda t: tc.gradcheck("f", [mat(2, grad=True)]), TypeError,
     ["gradcheck", "fn must be a function", "str 'f'"]),
    # --- loading damaged, foreign, dangerous or mismatched files ---
    ("load truncated", lambda t: tc.load_model(saved(t, "truncated")), ModelFileError,
     ["truncated.npz", "corrupt or truncated"]),
    ("load corrupt", lambda t: tc.load_model(saved(t, "corrupt")), ModelFileError,
     ["corrupt.npz", "corrupt or truncated", "CRC"]),
    ("load garbage", lambda t: tc.load_model(saved(t, "garbage")), ModelFileError,
     ["garbage.npz", "not an .npz (zip) archive", "b'this i'"]),
    ("load pickle", lambda t: tc.load_model(saved(t, "pickle")), ModelFileError,
     ["pickle.npz", "pickled Python objects", "could run code"]),
    ("load object array", lambda t: tc.load_model(saved(t, "object array")), ModelFileError,
     ["entry 'evil'", "Python objects", "never unpickled"]),
    ("load npy", lambda t: tc.load_model(saved(t, "npy")), ModelFileError, ["single.npy", "single .npy array"]),
    ("load missing file", lambda t: tc.load_model(t / "nope.npz"), FileNotFoundError, ["no model file", "nope.npz"]),
    ("load wrong architecture", wrong_architecture, ModelFileError,
     ["conv2d", "kernel", "(3, 3, 3, 2) in the file", "(3, 3, 3, 4) in the model", "different architecture"]),
    ("load a number", lambda t: tc.load_model(123), TypeError, ["path must be a file name", "int 123"]),
    ("save to None", lambda t: small_cnn().save(None), TypeError, ["path must be a file name", "NoneType None"]),
    ("clip string bound", lambda t: mat(2).clip("a", 1.0), TypeError, ["must be numbers", "'a'"]),
    ("save into missing directory", lambda t: small_cnn().save(t / "no" / "m.npz"), FileNotFoundError,
     ["cannot save", "does not exist"]),
]


def test_the_table_is_large_and_ids_are_unique():
    ids = [case[0] for case in CASES]
    assert len(ids) >= 50 and len(set(ids)) == len(ids)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("call, error, fragments", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_call_raises_a_clear_error(tmp_path, call, error, fragments):
    tc.clear_session()
    with pytest.raises(Exception) as info:
        call(tmp_path)
    raised = info.value
    trace = "".join(traceback.format_exception(raised))
    assert isinstance(raised, error), f"expected {error.__name__}, got {type(raised).__name__}:\n{trace}"
    assert not isinstance(raised, AssertionError), "a bare assert is not an error message"
    last = traceback.extract_tb(raised.__traceback__)[-1]
    assert not last.filename.startswith(NUMPY_DIR), f"raised inside NumPy ({last.filename}): {raised}"
    message = str(raised)
    missing = [f for f in fragments if f not in message]
    assert not missing, f"the message lacks {missing}:\n{message}"


@pytest.mark.parametrize("make, message", [
    (lambda: tc.layers.Rescaling(float("nan")), "Rescaling: scale must be a finite number, got nan"),
    (lambda: tc.layers.Dropout(float("nan")), r"Dropout: rate must be in \[0.0, 1.0\), got nan \(not a number\)"),
    (lambda: tc.layers.LeakyReLU(float("inf")), "LeakyReLU: negative_slope must be a finite number, got inf"),
])
def test_a_nan_or_infinite_number_argument_is_named_as_such(make, message):
    """NaN used to be reported as 'must be in [-inf, inf], got nan', which reads as if any number would do."""
    with pytest.raises(ValueError, match=message):
        make()


def test_initializer_errors_name_the_layer_and_the_weight():
    """BatchNormalization's initializer arguments and a failing initializer named neither the layer nor the weight."""
    with pytest.raises(ValueError, match="BatchNormalization: gamma_initializer: unknown initializer 'xavier'"):
        L.BatchNormalization(gamma_initializer="xavier")
    with pytest.raises(ValueError, match=r"Conv2D 'conv2d\w*': the initializer of kernel \(shape \(3, 3, 1, 2\)\): "
                                         r"Identity initializer: only 2-D"):
        L.Conv2D(2, 3, kernel_initializer="identity")(np.zeros((1, 5, 5, 1), np.float32))


def test_a_wrong_rank_message_shows_the_shape_as_given():
    """The first call's rank error showed the batch axis as None: (None, 3, 3) for an input of shape (2, 3, 3)."""
    with pytest.raises(ValueError, match=r"expects 4-D input .* got shape \(2, 3, 3\) \(add a batch axis"):
        L.Conv2D(2, 3)(np.zeros((2, 3, 3), np.float32))
