"""Saving and loading models: one `.npz` file with the weights, the architecture as JSON and, for a
compiled model, the optimizer and its state (so that training resumes exactly).

Entries of a model file (all plain arrays; it is read with allow_pickle=False):
    format          "tinygrad_cnn.model" (or "tinygrad_cnn.weights" for save_weights)
    version         1
    architecture    JSON: {"class_name": "Sequential" or "Functional", "config": model.get_config()}
    compile         JSON: {"optimizer": {...}, "loss": {...}, "loss_weights": 1.0, "metrics": [...],
                    "weighted_metrics": [...]} (compiled models; per output name for several outputs)
    weights/<name>  one array per weight, e.g. weights/conv2d/kernel
    optimizer/iterations, optimizer/<weight name>/<slot>   the optimizer's step count and state
Only the layer classes in `tc.layers.LAYER_CLASSES` (and Sequential and functional models of them) can be
built from the architecture, so loading a file never runs code from it; a subclassed model, whose
architecture is its Python code, saves its weights only (save_weights/load_weights). Writes are atomic:
a temporary file in the same directory is written, synced and renamed over the target, so a failure
part-way leaves the previous file intact.
"""
from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import tempfile
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from . import losses, optimizers, schedules
from . import metrics as metrics_lib
from .arguments import flag
from .creation import generator
from .layers.base import weight_mismatch
from .models import Model, deserialize_layer, serialize_layer
from .training import compile_model

FORMAT_VERSION = 1
MODEL_FORMAT, WEIGHTS_FORMAT = "tinygrad_cnn.model", "tinygrad_cnn.weights"


class ModelFileError(ValueError):
    """A model or weights file that cannot be loaded: corrupt, not ours, or not matching the model."""


# --- writing -----------------------------------------------------------------------------------

def save_model(model: Any, path: str | os.PathLike[str], overwrite: bool = True) -> None:
    """Write the architecture, the weights and (when compiled) the optimizer state to `path` (an existing
    file is replaced only with `overwrite`, Keras's argument)."""
    overwrite = flag(overwrite, "overwrite", "save_model")
    _require_saveable(model)
    arrays = _header(MODEL_FORMAT)
    arrays["architecture"] = np.array(json.dumps(serialize_layer(model)))
    arrays.update(_weight_arrays(model))
    compiled = getattr(model, "compiled_outputs", None)
    if getattr(model, "optimizer", None) is not None and compiled is not None:
        settings = _compile_settings(model.optimizer, compiled)
        if settings is not None:
            arrays["compile"] = np.array(json.dumps(settings))
            arrays.update(_optimizer_arrays(model.optimizer))
    write_atomic(path, arrays, overwrite)


def _compile_settings(optimizer: optimizers.Optimizer, compiled: Any) -> dict[str, Any] | None:
    """compile's arguments as names and numbers (per output name for several outputs), or None with a
    warning when a loss or the learning-rate schedule is custom code, which a file cannot hold."""
    serialized = [None if fn is None else losses.serialize(fn) for fn in compiled.losses]
    rate = optimizer.get_config()["learning_rate"]  # a dict for a built-in schedule, the object for a custom one
    custom = next((f"the loss {fn!r}" for fn, entry in zip(compiled.losses, serialized, strict=True)
                   if fn is not None and entry is None), None)
    if custom is None and isinstance(rate, schedules.LearningRateSchedule):
        custom = f"the learning-rate schedule {type(rate).__name__}"
    if custom is not None:  # the architecture and weights are still worth keeping (ModelCheckpoint)
        warnings.warn(f"{custom} is a custom callable, which a file cannot hold (it would "
                      "have to run code); the model is saved uncompiled, compile it again after loading",
                      stacklevel=4)
        return None
    named = [[(m, _metric_name(m)) for m in group] for group in compiled.metrics + compiled.weighted]
    dropped = [m for group in named for m, name in group if name is None]
    if dropped:
        warnings.warn(f"the metrics {dropped!r:.200} cannot be saved (a file holds built-in metrics only, "
                      "not functions or Metric classes of your own); the loaded model will not compute "
                      "them: compile it again to add them", stacklevel=4)
    names = [[name for _, name in group if name is not None] for group in named]
    count = len(compiled.losses)

    def per_output(values: list[Any]) -> Any:
        return dict(zip(compiled.keys, values, strict=True)) if compiled.several else values[0]

    return {"optimizer": optimizers.serialize(optimizer), "loss": per_output(serialized),
            "loss_weights": per_output(compiled.weights), "metrics": per_output(names[:count]),
            "weighted_metrics": per_output(names[count:])}


def _metric_name(metric: Any) -> str | dict[str, Any] | None:
    """What rebuilds `metric` on loading: a name itself, the name of a built-in Metric made with its defaults
    (SparseCategoricalAccuracy()), else a built-in Metric's {class_name, config}; None for anything else."""
    if isinstance(metric, str):
        return metric
    if not isinstance(metric, metrics_lib.Metric):
        return None
    try:
        rebuilt = metrics_lib.get(metric.name)
    except (ValueError, TypeError):
        return metrics_lib.serialize(metric)
    fresh = copy.copy(metric)
    fresh.reset_state()
    same = type(rebuilt) is type(metric) and vars(rebuilt) == vars(fresh)
    return metric.name if same else metrics_lib.serialize(metric)


def save_weights(model: Any, path: str | os.PathLike[str], overwrite: bool = True) -> None:
    """Write only the weights (load them into a model of the same architecture with `load_weights`)."""
    overwrite = flag(overwrite, "overwrite", "save_weights")
    _require_weights_owner(model, "save_weights")
    arrays = _header(WEIGHTS_FORMAT)
    arrays.update(_weight_arrays(model))
    write_atomic(path, arrays, overwrite)


def _header(kind: str) -> dict[str, np.ndarray]:
    return {"format": np.array(kind), "version": np.array(FORMAT_VERSION)}


def _weight_arrays(model: Any) -> dict[str, np.ndarray]:
    if not model.built:
        raise ValueError("the model has no weights yet: start it with tc.Input(shape) or call it on data once "
                         "before saving")
    return {f"weights/{name}": array for name, array in model.state_dict().items()}


def _optimizer_arrays(optimizer: optimizers.Optimizer) -> dict[str, np.ndarray]:
    """The optimizer's step count and state arrays, keyed by the name of the weight they belong to."""
    state = optimizer.state_dict()
    arrays = {"optimizer/iterations": np.array(state["iterations"])}
    for param, slots in zip(optimizer.params or [], state["state"], strict=True):
        arrays.update({f"optimizer/{param.name}/{slot}": array for slot, array in slots.items()})
    return arrays


def write_atomic(path: str | os.PathLike[str], arrays: dict[str, np.ndarray], overwrite: bool = True) -> None:
    """np.savez to a temporary file next to `path`, fsync, then rename it over `path`."""
    path = _file_path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot save to {path}: the directory {path.parent} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"cannot save to {path}: it is a directory; give a file name such as "
                                f"{path / 'model.npz'}")
    if not overwrite and path.exists():
        raise FileExistsError(f"cannot save to {path}: the file exists and overwrite=False; pass overwrite=True "
                              "to replace it, or choose another name")
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:   # a read-only or full location: name the target, not the temporary file
        raise _reworded(e, f"cannot save to {path}: cannot create a file in {path.parent} ({e.strerror or e}); "
                           "choose a writable directory") from None
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temporary, _file_mode(path))
        os.replace(temporary, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(e, OSError):   # a full disk, a quota: the message says what happened to the old file
            kept = "the previous file is unchanged" if path.exists() else "nothing was written"
            raise _reworded(e, f"cannot save to {path}: {e.strerror or e}; {kept}") from e
        raise
    _sync_directory(path.parent)


def _reworded(error: OSError, message: str) -> OSError:
    """`error` again (same class and errno) with `message`, which names the file the user gave."""
    return type(error)(error.errno, message) if error.errno else type(error)(message)


def _file_path(path: Any) -> Path:
    """`path` as a Path, with a leading ~ expanded to the home directory (as a shell would)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file name (str or pathlib.Path), got {type(path).__name__} {path!r:.40}")
    return Path(path).expanduser()


def _file_mode(path: Path) -> int:
    """Keep the mode of the file being replaced; a new file gets the default (0666 minus the umask)."""
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX; a no-op where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# --- reading -----------------------------------------------------------------------------------

def read_arrays(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every entry of an .npz file, read without unpickling; any damage raises ModelFileError."""
    path = _file_path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory, not a model file; give the file's name")
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic.startswith(b"\x93NUMPY"):   # np.load would return a bare ndarray
        raise ModelFileError(f"{path} is a single .npy array, not a tinygrad_cnn .npz model file")
    if magic[:1] == b"\x80":             # the opcode every pickle (protocol 2 and later) starts with
        raise ModelFileError(f"{path} is a pickle file: pickled Python objects are never loaded (loading them "
                             "could run code); save models with model.save")
    if magic.startswith(b"\x89HDF"):
        raise ModelFileError(f"{path} is an HDF5 file (Keras's .h5 format?), not a tinygrad_cnn model file; "
                             "tinygrad_cnn reads the .npz files model.save and save_weights write")
    if magic and not magic.startswith(b"PK"):
        raise ModelFileError(f"{path} is not a tinygrad_cnn model file: it is not an .npz (zip) archive "
                             f"(it starts with {magic!r})")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise ModelFileError(f"{path} is a single .npy array, not a tinygrad_cnn .npz model file")
            _refuse_foreign_zip(archive.zip.namelist(), path)   # before reading anything (it may be large)
            arrays = {}
            for key in archive.files:
                _check_declared_size(archive.zip, key, path)
                try:
                    arrays[key] = archive[key]
                except ValueError as e:
                    if "allow_pickle" in str(e):
                        raise ModelFileError(f"{path}: entry {key!r} holds Python objects (pickled data); model files "
                                             "hold numeric arrays only and are never unpickled") from None
                    raise
    except ModelFileError:
        raise
    except ValueError as e:
        if "pickle" in str(e):
            raise ModelFileError(f"{path} contains pickled Python objects, which are never loaded (loading "
                                 "them could run code); save models with model.save") from None
        raise ModelFileError(f"{path}: corrupt or truncated file ({e})") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:
        raise ModelFileError(f"{path}: corrupt or truncated file ({type(e).__name__}: {e})") from None
    for key, array in arrays.items():
        if not isinstance(array, np.ndarray):   # a .npy member that is not one: np.load gives its bytes
            raise ModelFileError(f"{path}: entry {key!r} is not a NumPy array; is this a tinygrad_cnn file?")
        if array.dtype.kind not in "biufU":
            raise ModelFileError(f"{path}: entry {key!r} has dtype {array.dtype}; only numbers and text are allowed")
    return arrays


def _refuse_foreign_zip(members: list[str], path: Path) -> None:
    """A zip archive whose members are not all .npy arrays is someone else's format: say whose, when known."""
    others = [name for name in members if not name.endswith(".npy")]
    if not others:
        return
    kind = ("a Keras .keras archive" if "config.json" in others else
            "a PyTorch checkpoint (torch.save)" if any(name.endswith("data.pkl") for name in others) else
            "a zip archive")
    raise ModelFileError(f"{path} is {kind}, not a tinygrad_cnn model file: its entry {others[0]!r} is not a NumPy "
                         "array; tinygrad_cnn reads the .npz files model.save and save_weights write")


def _check_declared_size(archive: zipfile.ZipFile, key: str, path: Path) -> None:
    """Refuse an entry whose header declares more data than the archive holds for it, before NumPy allocates
    it: a damaged header could ask for terabytes (MemoryError) or gigabytes it then fails to fill."""
    info = archive.getinfo(f"{key}.npy")
    with archive.open(info) as member:
        try:
            version = np.lib.format.read_magic(member)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(member)
        except ValueError:   # not a .npy header: np.load hands back its bytes, refused below
            return
    declared = math.prod(shape) * dtype.itemsize
    if declared > info.file_size and not dtype.hasobject:   # (objects are pickled: refused by np.load)
        raise ModelFileError(f"{path}: entry {key!r} declares shape {shape} {dtype} ({declared:,} bytes) but the "
                             f"file holds {info.file_size:,} bytes for it: corrupt or truncated file")


def _text(arrays: dict[str, np.ndarray], key: str, path: Path) -> str:
    entry = arrays.get(key)
    if entry is None or entry.dtype.kind != "U" or entry.ndim != 0:
        raise ModelFileError(f"{path}: the entry {key!r} is missing or not text; is this a tinygrad_cnn file?")
    return str(entry)


def _check_format(arrays: dict[str, np.ndarray], path: Path, expected: tuple[str, ...]) -> None:
    kind = _text(arrays, "format", path)
    if kind not in expected:
        hint = "; it holds weights only: build the model, then model.load_weights(path)"
        raise ModelFileError(f"{path} is a {kind!r} file; expected {' or '.join(expected)}"
                             f"{hint if kind == WEIGHTS_FORMAT else ''}")
    version = arrays.get("version")
    if version is None or version.ndim != 0 or version.dtype.kind not in "iu" or version < 1:
        raise ModelFileError(f"{path}: the entry 'version' should be a positive integer, got "
                             f"{'nothing' if version is None else repr(version)}; is this a tinygrad_cnn file?")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{path}: format version {version} is newer than this library reads "
                             f"({FORMAT_VERSION}); upgrade tinygrad_cnn")


def _json(arrays: dict[str, np.ndarray], key: str, path: Path) -> Any:
    try:
        return json.loads(_text(arrays, key, path))
    except (json.JSONDecodeError, RecursionError) as e:   # RecursionError: nested deeper than Python's stack
        raise ModelFileError(f"{path}: the {key} entry is not valid JSON ({e})") from None


def _checked_weights(model: Any, arrays: dict[str, np.ndarray], path: Path) -> dict[str, np.ndarray]:
    """The file's weights for `model`, by name, or in order when no name matches but the count does
    (a fresh model's layers are named conv2d_1, ... as Keras matches them); all checked first."""
    stored = {key[len("weights/"):]: a for key, a in arrays.items() if key.startswith("weights/")}
    stored = model._keyed_by_path(stored)   # files written before nested models' keys were paths (session 6)
    own = model.state_dict()
    if not set(stored) & set(own) and len(stored) == len(own):
        sources = dict(zip(own, stored, strict=True))  # model weight name -> file weight name
        problems = []
    else:
        sources = {name: name for name in own if name in stored}
        missing, unexpected = [name for name in own if name not in stored], [name for name in stored if name not in own]
        problems = ([f"the file has no weight {missing[0]!r} (missing: {missing}; the file holds {list(stored)})"]
                    if missing else []) + ([f"the file holds weights the model does not have: {unexpected}"]
                                           if unexpected else [])
    for name, source in sources.items():
        label = repr(name) if name == source else f"{name!r} (file: {source!r})"
        problem = weight_mismatch(label, stored[source], own[name].shape, "in the file", "the model", kinds="f")
        if problem:
            problems.append(problem)
    if problems:   # every mismatch at once, so that one look at the message shows how the models differ
        raise ModelFileError(f"{path} does not fit the model; it was saved from a different architecture:\n  " +
                             "\n  ".join(problems))
    return {name: stored[source] for name, source in sources.items()}


def load_weights(model: Any, path: str | os.PathLike[str]) -> None:
    """Load weights saved by `save_weights` or `save` into `model`; nothing changes unless all fit."""
    _require_weights_owner(model, "load_weights")
    arrays = read_arrays(path)   # checks the path first
    path = _file_path(path)
    _check_format(arrays, path, (WEIGHTS_FORMAT, MODEL_FORMAT))
    if not model.built:
        raise ValueError("the model has no weights yet: start it with tc.Input(shape) or call it on data once, "
                         "then load the weights")
    model.load_state_dict(_checked_weights(model, arrays, path))


def load_model(path: str | os.PathLike[str], compile: bool = True) -> Model:  # noqa: A002 (Keras's name)
    """A model rebuilt from a file written by `model.save`: architecture, weights and, when it was
    compiled (and `compile` is True), the optimizer with its state."""
    compile = flag(compile, "compile", "load_model")  # noqa: A001
    arrays = read_arrays(path)   # checks the path first
    path = _file_path(path)
    _check_format(arrays, path, (MODEL_FORMAT,))
    architecture = _json(arrays, "architecture", path)
    if not isinstance(architecture, dict) or architecture.get("class_name") not in ("Sequential", "Functional"):
        found = architecture.get("class_name") if isinstance(architecture, dict) else type(architecture).__name__
        raise ModelFileError(f"{path}: the architecture is a {found!r}; only Sequential and functional models "
                             "can be loaded")
    random_state = generator().bit_generator.state   # building draws initial weights the file replaces
    try:
        model = deserialize_layer(architecture)
    except (ValueError, TypeError, KeyError, MemoryError, RecursionError) as e:  # Recursion: models nested too deep
        raise ModelFileError(f"{path}: cannot rebuild the model from its architecture: {e}") from None
    finally:   # so that loading leaves the random stream (shuffling, dropout) where it was: resuming is exact
        generator().bit_generator.state = random_state
    if not model.built:
        raise ModelFileError(f"{path}: the architecture has no input shape, so the weights cannot be placed")
    model.load_state_dict(_checked_weights(model, arrays, path))
    if compile and "compile" in arrays:
        _restore_training(model, _json(arrays, "compile", path), arrays, path)
    return model


def _saved_metrics(saved: Any) -> Any:
    """The metrics as a file lists them (per output name or not), a built-in Metric's config rebuilt."""
    if isinstance(saved, dict) and "class_name" not in saved:
        return {key: _saved_metrics(value) for key, value in saved.items()}
    if isinstance(saved, list):
        return [_saved_metrics(entry) for entry in saved]
    return metrics_lib.get(saved) if isinstance(saved, dict) else saved


def _restore_training(model: Model, config: Any, arrays: dict[str, np.ndarray], path: Path) -> None:
    """Compile `model` as it was saved and give its optimizer the saved state."""
    try:
        optimizer = optimizers.get(config["optimizer"])
        compile_model(model, optimizer=optimizer, loss=config["loss"], loss_weights=config.get("loss_weights"),
                      metrics=_saved_metrics(config["metrics"]),
                      weighted_metrics=_saved_metrics(config.get("weighted_metrics")))
    except (ValueError, TypeError, KeyError) as e:
        raise ModelFileError(f"{path}: cannot restore the compile settings {config!r:.200}: {e}") from None
    if "optimizer/iterations" not in arrays or optimizer.params is None:
        return   # never trained, or a model with no trainable weights (compile left its optimizer unbound)
    iterations = arrays["optimizer/iterations"]
    if iterations.ndim != 0 or iterations.dtype.kind not in "iu" or iterations < 0:
        raise ModelFileError(f"{path}: the entry 'optimizer/iterations' should be an integer >= 0, "
                             f"got {iterations!r}")
    states = []
    for param in optimizer.params or []:
        prefix = f"optimizer/{param.name}/"
        states.append({key[len(prefix):]: a for key, a in arrays.items() if key.startswith(prefix)})
    state = {"class_name": type(optimizer).__name__, "config": optimizer.get_config(),
             "iterations": int(iterations), "state": states}
    try:
        optimizer.load_state_dict(state)
    except ValueError as e:
        raise ModelFileError(f"{path}: the optimizer state does not fit the model: {e}") from None


def _require_weights_owner(model: Any, function: str) -> None:
    """A model or layer (it has a state_dict): the first argument, as in Keras's saving functions."""
    if not hasattr(model, "state_dict") or not hasattr(model, "built"):
        raise TypeError(f"{function}(model, path): model must be a model or a layer, got {type(model).__name__} "
                        f"{model!r:.40}; call it as {function}(model, path) or model.{function}(path)")


def _require_saveable(model: Any) -> None:
    """A model (serialize_layer then refuses a subclassed one, whose architecture is its Python code)."""
    if not isinstance(model, Model):
        raise TypeError(f"save_model saves Sequential and functional models, got {type(model).__name__}; for a single "
                        "layer or another object use save_weights or np.savez of its state_dict()")
