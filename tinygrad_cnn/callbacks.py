"""Callbacks for `fit`, `evaluate` and `predict`, with Keras 3's names, arguments and behaviour.

    model.fit(x, y, validation_split=0.2, callbacks=[
        tc.callbacks.EarlyStopping(patience=3, restore_best_weights=True),
        tc.callbacks.ModelCheckpoint("best.npz", save_best_only=True)])

A callback's hooks receive `logs`: the running loss and metrics after a batch; the epoch's values
(with `val_...` ones when there is validation data) after an epoch. Callbacks run in list order, then
the History, so a value a callback adds to the epoch's logs ("learning_rate") is recorded too.
"""
from __future__ import annotations

import csv
import inspect
import math
import os
import string
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from .arguments import finite_number, flag, is_int, number, one_of, positive_int
from .schedules import LearningRateSchedule

Logs = dict[str, Any]


class Callback:
    """Hooks called by `fit`, `evaluate` and `predict`; subclass and override the ones you need.

    `self.model` is the model and `self.params` holds "epochs", "steps" and "verbose". Setting
    `self.model.stop_training = True` ends `fit` after the current batch (or epoch).
    """

    model: Any = None
    params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs: Logs | None = None) -> None:
        """Before the first epoch of `fit`."""

    def on_train_end(self, logs: Logs | None = None) -> None:
        """After the last epoch of `fit`, with the last epoch's logs."""

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        """Before epoch `epoch` (0-based; it starts at fit's initial_epoch)."""

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        """After epoch `epoch`, with its loss, metrics and validation values."""

    def on_train_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Before training batch `batch` (0-based within the epoch)."""
        self.on_batch_begin(batch, logs)

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """After training batch `batch`, with the epoch's running loss and metrics."""
        self.on_batch_end(batch, logs)

    def on_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Keras's older name of on_train_batch_begin (which calls it)."""

    def on_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """Keras's older name of on_train_batch_end (which calls it)."""

    def on_test_begin(self, logs: Logs | None = None) -> None:
        """Before `evaluate`, or before the validation pass at the end of each epoch of `fit`."""

    def on_test_end(self, logs: Logs | None = None) -> None:
        """After `evaluate` or a validation pass, with its loss and metrics (no val_ prefix)."""

    def on_test_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Before evaluation batch `batch`."""

    def on_test_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """After evaluation batch `batch`, with the running loss and metrics."""

    def on_predict_begin(self, logs: Logs | None = None) -> None:
        """Before `predict`."""

    def on_predict_end(self, logs: Logs | None = None) -> None:
        """After `predict`."""

    def on_predict_batch_begin(self, batch: int, logs: Logs | None = None) -> None:
        """Before prediction batch `batch`."""

    def on_predict_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        """After prediction batch `batch`; logs["outputs"] holds the batch's outputs."""


class History(Callback):
    """What `fit` returns: `.history` maps "loss", "accuracy", "val_loss", ... to one value per epoch,
    `.epoch` lists the epochs' indices."""

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        self.epoch.append(epoch)
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(value)

    def __repr__(self) -> str:
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


# --- argument checks shared by the callbacks ---------------------------------------------------------

def _verbose(value: Any, owner: str) -> int:
    if not isinstance(value, (int, np.integer)) or value not in (0, 1):  # True and False count, as in Keras
        raise ValueError(f"{owner}: verbose must be 0 (silent) or 1 (say when the callback acts), got {value!r:.40}")
    return int(value)


def _optional_number(value: Any, argument: str, owner: str) -> float | None:
    return None if value is None else finite_number(value, argument, owner)


def _file_name(value: Any, argument: str, owner: str) -> str:
    if not isinstance(value, (str, os.PathLike)) or not os.fspath(value):
        raise TypeError(f"{owner}: {argument} must be a file name (str or pathlib.Path), got "
                        f"{type(value).__name__} {value!r:.40}")
    return str(os.fspath(value))


def _learning_rate(model: Any, owner: str) -> float:
    """The model's optimizer's learning rate (fit has checked that the model is compiled)."""
    rate = getattr(getattr(model, "optimizer", None), "learning_rate", None)
    if rate is None:
        raise RuntimeError(f"{owner} changes model.optimizer.learning_rate, but the model has no optimizer "
                           "with a learning_rate; compile it first (model.compile(optimizer='adam', ...))")
    schedule = getattr(model.optimizer, "_learning_rate", None)
    if isinstance(schedule, LearningRateSchedule):  # Keras fails when the callback sets it; we fail at once
        raise TypeError(f"{owner} changes model.optimizer.learning_rate, but it follows the schedule "
                        f"{type(schedule).__name__}, which sets it at every step; use a float learning_rate with "
                        f"{owner}, or the schedule without {owner}")
    return float(rate)


# --- callbacks that watch one value of the logs ------------------------------------------------------

def _higher_is_better(monitor: str) -> bool:
    """mode="auto": accuracy-like values (a name containing "acc" or "auc") are maximized, the rest minimized."""
    name = monitor.removeprefix("val_")
    return "acc" in name or "auc" in name


class _Monitor(Callback):
    """A callback watching the value `monitor` of the logs: its direction and what counts as better."""

    def __init__(self, monitor: Any, mode: Any, min_delta: float) -> None:
        owner = type(self).__name__
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(f"{owner}: monitor must be the name of a value in the logs, such as 'val_loss' or "
                            f"'accuracy', got {monitor!r:.40}")
        self.monitor = monitor
        self.mode = one_of(mode, ("auto", "min", "max"), "mode", owner)
        self.min_delta = min_delta
        self.maximize = self.mode == "max" or (self.mode == "auto" and _higher_is_better(monitor))

    def improves(self, value: float, reference: float | None) -> bool:
        """`value` is better than `reference` by more than min_delta (anything beats None)."""
        if reference is None:
            return True
        return value > reference + self.min_delta if self.maximize else value < reference - self.min_delta

    def worst(self) -> float:
        return -math.inf if self.maximize else math.inf

    def monitored(self, logs: Logs | None, action: str) -> float | None:
        """The monitored value, or None with Keras's warning naming the values the logs do hold."""
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(f"{type(self).__name__}: {action} is conditioned on {self.monitor!r}, which is not in "
                          f"the logs; available: {', '.join(logs or {}) or 'nothing'} (val_ values need "
                          "validation_data or validation_split, and come only after the epochs validation_freq "
                          "validates)", stacklevel=3)
            return None
        return float(value)


class EarlyStopping(_Monitor):
    """Stop `fit` when `monitor` has not improved (by more than `min_delta`) for `patience` epochs.

    `baseline`: an epoch resets the patience only if it also beats this value. `restore_best_weights`:
    at the end of training (stopped early or not), the weights of the best epoch are put back.
    `start_from_epoch`: epochs before this index are not watched (a warm-up). `stopped_epoch` is the
    epoch at which training was stopped (0 if it was not).
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0, patience: int = 0, verbose: int = 0,
                 mode: str = "auto", baseline: float | None = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0) -> None:
        owner = "EarlyStopping"
        super().__init__(monitor, mode, abs(finite_number(min_delta, "min_delta", owner)))  # Keras: an absolute change
        self.patience = positive_int(patience, "patience", owner, minimum=0)
        self.verbose = _verbose(verbose, owner)
        self.baseline = _optional_number(baseline, "baseline", owner)
        self.restore_best_weights = flag(restore_best_weights, "restore_best_weights", owner)
        self.start_from_epoch = positive_int(start_from_epoch, "start_from_epoch", owner, minimum=0)
        self.on_train_begin()

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self.wait, self.stopped_epoch, self.best_epoch = 0, 0, 0
        self.best: float = self.worst()
        self.best_weights: list[np.ndarray] | None = None

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        current = self.monitored(logs, "early stopping")
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:  # the first watched epoch is the best so far
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self.improves(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()  # copies
            if self.baseline is None or self.improves(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.stopped_epoch > 0 and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping", flush=True)
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.", flush=True)
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(_Monitor):
    """Save the model (`model.save`) or its weights (`model.save_weights`) after every epoch, or every
    `save_freq` batches.

    `filepath` may hold format fields: `epoch` (1-based) and any value of the logs, e.g.
    "ckpt/model-{epoch:02d}-{val_loss:.2f}.npz"; its directory is created when missing. With
    `save_best_only`, a file is written only when `monitor` improves on the best value so far (or on
    `initial_value_threshold`).
    """

    def __init__(self, filepath: Any, monitor: str = "val_loss", verbose: int = 0, save_best_only: bool = False,
                 save_weights_only: bool = False, mode: str = "auto", save_freq: Any = "epoch",
                 initial_value_threshold: float | None = None) -> None:
        owner = "ModelCheckpoint"
        super().__init__(monitor, mode, 0.0)
        self.filepath = _file_name(filepath, "filepath", owner)
        try:  # a malformed template fails now, not after the first epoch
            self.fields = {field for _, field, _, _ in string.Formatter().parse(self.filepath) if field is not None}
        except ValueError as e:
            raise ValueError(f"{owner}: filepath {self.filepath!r} is not a valid format string ({e}); "
                             "write fields as {epoch:02d} or {val_loss:.2f}, and a literal brace as {{ or }}") from None
        if any(not field or field[0].isdigit() for field in self.fields):
            raise ValueError(f"{owner}: filepath {self.filepath!r} has a field without a name; name what goes there, "
                             "as in {epoch:02d} or {val_loss:.2f}")
        self.verbose = _verbose(verbose, owner)
        self.save_best_only = flag(save_best_only, "save_best_only", owner)
        self.save_weights_only = flag(save_weights_only, "save_weights_only", owner)
        if not (isinstance(save_freq, str) and save_freq == "epoch" or is_int(save_freq) and save_freq >= 1):
            raise ValueError(f"{owner}: save_freq must be 'epoch' (save after each epoch) or a positive int "
                             f"(save every that many batches), got {save_freq!r:.40}")
        self.save_freq = save_freq if isinstance(save_freq, str) else int(save_freq)
        self.best = _optional_number(initial_value_threshold, "initial_value_threshold", owner)
        self.epoch, self.batches_since_save = 0, 0

    def on_train_begin(self, logs: Logs | None = None) -> None:
        method = "save_weights" if self.save_weights_only else "save"
        if not callable(getattr(self.model, method, None)):
            raise TypeError(f"ModelCheckpoint saves with model.{method}(), which a {type(self.model).__name__} "
                            "does not have; use a tc.Sequential model"
                            f"{'' if self.save_weights_only else ' or save_weights_only=True'}")

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        self.epoch = epoch

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        if self.save_freq == "epoch":
            return
        self.batches_since_save += 1  # counted across epochs, as in Keras
        if self.batches_since_save >= self.save_freq:
            self.batches_since_save = 0
            self._save(self.epoch, batch, logs or {})

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.save_freq == "epoch":
            self._save(epoch, None, logs or {})

    def file_path(self, epoch: int, batch: int | None, logs: Logs) -> str:
        """`filepath` with its fields filled: epoch (1-based), batch (1-based, per-batch saving) and the logs."""
        values = {**logs, "epoch": epoch + 1, **({} if batch is None else {"batch": batch + 1})}
        missing = sorted(self.fields - set(values))
        if missing:
            raise KeyError(f"ModelCheckpoint: filepath {self.filepath!r} needs {', '.join(map(repr, missing))}, "
                           f"which the logs do not hold; available: {', '.join(values)}")
        try:
            return self.filepath.format(**values)
        except (ValueError, TypeError, IndexError, AttributeError) as e:
            raise ValueError(f"ModelCheckpoint: cannot fill filepath {self.filepath!r} with {values} ({e}); "
                             "use fields such as {epoch:02d} and {val_loss:.4f}") from None

    def _save(self, epoch: int, batch: int | None, logs: Logs) -> None:
        path = self.file_path(epoch, batch, logs)
        if self.save_best_only:
            current = self.monitored(logs, "saving the best model")
            if current is not None and not self.improves(current, self.best):
                if self.verbose:
                    print(f"Epoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}", flush=True)
                return
            if current is not None:  # without the value it saves anyway, as Keras does
                if self.verbose:
                    best = "None" if self.best is None else f"{self.best:.5f}"
                    print(f"Epoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, "
                          f"saving model to {path}", flush=True)
                self.best = current
        elif self.verbose:
            print(f"Epoch {epoch + 1}: saving model to {path}", flush=True)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        (self.model.save_weights if self.save_weights_only else self.model.save)(path)


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by `factor` when `monitor` has not improved for `patience` epochs.

    After a reduction, `cooldown` epochs pass before counting again; the rate never goes below
    `min_lr`. Each epoch's logs get "learning_rate" (the rate the epoch trained with).
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10, verbose: int = 0,
                 mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0) -> None:
        owner = "ReduceLROnPlateau"
        super().__init__(monitor, mode, finite_number(min_delta, "min_delta", owner, low=0.0))
        self.factor = number(factor, "factor", owner, 0.0, 1.0, high_open=True)  # Keras refuses factor >= 1
        self.patience = positive_int(patience, "patience", owner, minimum=0)
        self.verbose = _verbose(verbose, owner)
        self.cooldown = positive_int(cooldown, "cooldown", owner, minimum=0)
        self.min_lr = finite_number(min_lr, "min_lr", owner, low=0.0)
        self.on_train_begin()

    def on_train_begin(self, logs: Logs | None = None) -> None:
        if self.model is not None:  # in fit: an optimizer on a schedule is refused before the first epoch runs
            _learning_rate(self.model, "ReduceLROnPlateau")
        self.wait, self.cooldown_counter = 0, 0
        self.best: float = self.worst()

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        rate = logs["learning_rate"] = _learning_rate(self.model, "ReduceLROnPlateau")
        current = self.monitored(logs, "learning rate reduction")
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self.improves(current, self.best):
            self.best, self.wait = current, 0
            return
        if self.in_cooldown():
            return
        self.wait += 1
        if self.wait >= self.patience and rate > self.min_lr:
            new_rate = max(rate * self.factor, self.min_lr)
            self.model.optimizer.learning_rate = new_rate
            if self.verbose:
                print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_rate}.", flush=True)
            self.cooldown_counter, self.wait = self.cooldown, 0


class LearningRateScheduler(Callback):
    """Set the learning rate before each epoch to `schedule(epoch, lr)` (epoch 0-based, lr the current
    rate); a schedule of one argument, `schedule(epoch)`, works too. Logs get "learning_rate"."""

    def __init__(self, schedule: Callable[..., float], verbose: int = 0) -> None:
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: schedule must be a function (epoch, lr) -> new lr, got "
                            f"{type(schedule).__name__} {schedule!r:.40}")
        self.schedule, self.verbose = schedule, _verbose(verbose, "LearningRateScheduler")
        self.takes_rate = _accepts(schedule, 2)
        if not self.takes_rate and not _accepts(schedule, 1):
            raise TypeError(f"LearningRateScheduler: schedule {schedule!r:.60} must take (epoch, lr) or (epoch)")

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        rate = _learning_rate(self.model, "LearningRateScheduler")
        new_rate = self.schedule(epoch, rate) if self.takes_rate else self.schedule(epoch)
        if isinstance(new_rate, (bool, np.bool_)) or not isinstance(new_rate, (int, float, np.integer, np.floating)) \
                or not 0 <= new_rate < math.inf:
            raise ValueError(f"LearningRateScheduler: schedule(epoch={epoch}, lr={rate}) returned {new_rate!r:.40}; "
                             "it must return a finite float >= 0, the new learning rate")
        self.model.optimizer.learning_rate = float(new_rate)
        if self.verbose:
            print(f"Epoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(new_rate)}.", flush=True)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = _learning_rate(self.model, "LearningRateScheduler")


def _accepts(function: Callable[..., Any], count: int) -> bool:
    """`function` can be called with `count` positional arguments (True when Python cannot tell)."""
    try:
        inspect.signature(function).bind(*range(count))
    except TypeError:
        return False
    except ValueError:  # no signature (some builtins)
        return True
    return True


class CSVLogger(Callback):
    """Write each epoch's logs as a row of a CSV file: "epoch" (0-based) then the values, sorted by name.

    `append=True` adds to an existing file (without a second header, in the columns of the header it
    has: a value it has no column for is left out, with a warning); otherwise it is overwritten.
    """

    def __init__(self, filename: Any, separator: str = ",", append: bool = False) -> None:
        self.filename = _file_name(filename, "filename", "CSVLogger")
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"CSVLogger: separator must be one character such as ',' or '\\t', got {separator!r:.40}")
        self.separator, self.append = separator, flag(append, "append", "CSVLogger")
        self.file: IO[str] | None = None
        self.writer: csv.DictWriter[str] | None = None
        self.keys: list[str] | None = None

    def on_train_begin(self, logs: Logs | None = None) -> None:
        path = Path(self.filename)
        self.header = not (self.append and path.is_file() and path.stat().st_size > 0)
        self.columns: list[str] | None = None  # the header of the file appended to
        if not self.header:
            with open(path, newline="", encoding="utf-8") as existing:
                self.columns = next(csv.reader(existing, delimiter=self.separator), None)
        self.file = open(path, "a" if self.append else "w", newline="", encoding="utf-8")  # noqa: SIM115
        self.writer, self.keys = None, None

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        if self.file is None:
            raise RuntimeError("CSVLogger: on_epoch_end came before on_train_begin; pass the logger to fit(callbacks=)")
        if self.writer is None:
            self.keys = sorted(logs) if self.columns is None else self.columns[1:]  # rows line up with the header
            left_out = sorted(set(logs) - set(self.keys))
            if left_out:
                warnings.warn(f"CSVLogger: {self.filename} has the columns {', '.join(self.columns or ())}, so "
                              f"these values are not written: {', '.join(left_out)}; use append=False (or another "
                              "file) to log them", stacklevel=2)
            self.writer = csv.DictWriter(self.file, ["epoch", *self.keys], delimiter=self.separator,
                                         extrasaction="ignore")
            if self.header:
                self.writer.writeheader()
        self.writer.writerow({"epoch": epoch, **{key: logs.get(key, "NA") for key in self.keys or ()}})
        self.file.flush()

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self.file is not None:
            self.file.close()
        self.file, self.writer = None, None


class TerminateOnNaN(Callback):
    """Stop `fit` quietly when a batch's loss is NaN or infinite.

    `fit` checks the loss before each update: the step that made it non-finite is not applied, and
    without this callback (or another that sets model.stop_training on that batch) fit raises
    NonFiniteLossError. With it, fit ends after that batch (its validation and epoch-end callbacks
    still run) and returns the History, whose last loss is the non-finite value. With
    `raise_error=True` (Keras's strict mode) it leaves fit to raise NonFiniteLossError, a RuntimeError
    as Keras raises, and no on_train_end runs.
    """

    def __init__(self, raise_error: bool = False) -> None:
        self.raise_error = flag(raise_error, "raise_error", "TerminateOnNaN")

    def on_train_batch_end(self, batch: int, logs: Logs | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss) and not self.raise_error:
            print(f"Batch {batch}: Invalid loss, terminating training", flush=True)
            self.model.stop_training = True


_LAMBDA_HOOKS = ("on_epoch_begin", "on_epoch_end", "on_train_begin", "on_train_end", "on_train_batch_begin",
                 "on_train_batch_end", "on_batch_begin", "on_batch_end", "on_test_begin", "on_test_end",
                 "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
                 "on_predict_batch_begin", "on_predict_batch_end")


class LambdaCallback(Callback):
    """A callback made of plain functions: on_epoch_begin/end(epoch, logs), on_train_begin/end(logs),
    on_train_batch_begin/end(batch, logs); any other hook by keyword, e.g. on_test_end=f or tf.keras's
    on_batch_end=f."""

    def __init__(self, on_epoch_begin: Callable[..., Any] | None = None, on_epoch_end: Callable[..., Any] | None = None,
                 on_train_begin: Callable[..., Any] | None = None, on_train_end: Callable[..., Any] | None = None,
                 on_train_batch_begin: Callable[..., Any] | None = None,
                 on_train_batch_end: Callable[..., Any] | None = None, **hooks: Callable[..., Any] | None) -> None:
        unknown = sorted(set(hooks) - set(_LAMBDA_HOOKS))
        if unknown:
            raise TypeError(f"LambdaCallback: unknown hook {', '.join(unknown)}; hooks: {', '.join(_LAMBDA_HOOKS)}")
        hooks.update(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                     on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end)
        for name, function in hooks.items():
            if function is None:
                continue
            if not callable(function):
                raise TypeError(f"LambdaCallback: {name} must be a function or None, got "
                                f"{type(function).__name__} {function!r:.40}")
            setattr(self, name, function)  # the instance attribute replaces the class's empty hook
