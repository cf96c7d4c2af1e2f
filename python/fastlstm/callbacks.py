"""Callbacks with Keras's names, hooks and behaviour.

A callback overrides any of the hooks ``on_train_begin/end(logs)``, ``on_epoch_begin/end(epoch,
logs)``, ``on_train_batch_begin/end(batch, logs)``, ``on_test_begin/end(logs)``,
``on_test_batch_begin/end(batch, logs)``, ``on_predict_begin/end(logs)`` and
``on_predict_batch_begin/end(batch, logs)``; ``self.model`` is the model and ``self.params``
holds ``epochs``, ``steps`` and ``verbose``. Batch logs hold the running means of the epoch so
far (as Keras 3); epoch logs hold the epoch's means and the ``val_`` results. Setting
``model.stop_training = True`` ends training after the current batch.
"""

from __future__ import annotations

import csv
import inspect
import math
import os
import sys
import time
import warnings
from typing import Any, Callable

import numpy as np

from . import metrics as metrics_lib
from ._arrays import integer, real_number

_HOOKS = (
    "on_train_begin",
    "on_train_end",
    "on_epoch_begin",
    "on_epoch_end",
    "on_train_batch_begin",
    "on_train_batch_end",
    "on_test_begin",
    "on_test_end",
    "on_test_batch_begin",
    "on_test_batch_end",
    "on_predict_begin",
    "on_predict_end",
    "on_predict_batch_begin",
    "on_predict_batch_end",
)
# Keras's older names of the training batch hooks, still called through the new ones.
_ALIASES = {"on_train_batch_begin": "on_batch_begin", "on_train_batch_end": "on_batch_end"}


class Callback:
    """Base class: every hook does nothing, except that ``on_train_batch_begin`` and
    ``on_train_batch_end`` call ``on_batch_begin`` and ``on_batch_end`` (Keras's older names,
    which Keras keeps as these aliases), so a subclass may override either name."""

    def __init__(self) -> None:
        self.model: Any = None  # the model being trained, from set_model (Keras's attribute)
        self.params: dict[str, Any] = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params


for _hook in _HOOKS + tuple(_ALIASES.values()):
    if _hook.startswith(("on_epoch", "on_test_batch", "on_predict_batch")):
        setattr(Callback, _hook, lambda self, index, logs=None: None)
    elif _hook in _ALIASES:
        # on_train_batch_*: the alias's hook, which does nothing unless overridden
        alias = _ALIASES[_hook]
        setattr(
            Callback, _hook, lambda self, index, logs=None, _a=alias: getattr(self, _a)(index, logs)
        )
    elif _hook.startswith("on_batch"):
        setattr(Callback, _hook, lambda self, index, logs=None: None)
    else:
        setattr(Callback, _hook, lambda self, logs=None: None)


def _overrides(cb: Callback, hook: str) -> bool:
    """Whether ``cb`` does something at ``hook``: its own method, or its alias's."""

    def own(name):
        fn = getattr(cb, name)
        return getattr(fn, "__func__", None) is not getattr(Callback, name)

    return own(hook) or (hook in _ALIASES and own(_ALIASES[hook]))


_NO_HOOKS: dict[str, tuple] = dict.fromkeys(_HOOKS, ())


class CallbackList:
    """Calls a hook on every callback in order. Batch hooks are skipped entirely when no callback
    overrides them, so that a plain fit spends no time there."""

    def __init__(self, callbacks, model, params: dict[str, Any]) -> None:
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(
                    f"callbacks: expected fastlstm.callbacks.Callback instances, got "
                    f"{type(cb).__name__}"
                )
            cb.set_model(model)
            cb.set_params(params)
        if not self.callbacks:  # predict(x) with no callbacks: 2 µs of a small call otherwise
            self._active = _NO_HOOKS
            return
        self._active = {
            hook: [getattr(cb, hook) for cb in self.callbacks if _overrides(cb, hook)]
            for hook in _HOOKS
        }

    def wants(self, hook: str) -> bool:
        return bool(self._active[hook])

    def call(self, hook: str, *args) -> None:
        for fn in self._active[hook]:
            fn(*args)


class History(Callback):
    """Records the epoch logs: ``history.history[key]`` is a list with one value per epoch,
    ``history.epoch`` the epoch indices. ``fit`` returns it."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)


def _format_value(value) -> str:
    # An array (an F-score's one a class) shows its mean, as Keras's progress bar does.
    value = float(np.mean(value)) if isinstance(value, np.ndarray) else float(value)
    return f"{value:.4f}" if abs(value) > 1e-3 or value == 0 else f"{value:.4e}"


def _format_rate(seconds: float, unit: str) -> str:
    if seconds >= 1:
        return f"{seconds:.0f}s/{unit}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit}"
    return f"{seconds * 1e6:.0f}us/{unit}"


class Progbar:
    """Keras's progress bar: ``12/32 ━━━━━━━───────────── 1s 12ms/step - loss: 0.6931``.

    verbose=1: redrawn in place (at most every ``interval`` seconds) when stdout is a terminal,
    else one line when the target is reached; verbose=2: one line at the end; 0: nothing.
    During the run the time is the estimated time left, at the end the total. A target of None
    (a dataset of unknown length) shows ``12/Unknown`` and the time so far, without a bar."""

    def __init__(
        self,
        target: int | None,
        verbose: int = 1,
        width: int = 20,
        interval: float = 0.05,
        unit_name: str = "step",
    ) -> None:
        self.target = integer(target, "target", at_least=0, allow_none=True)
        self.verbose = integer(verbose, "verbose", at_least=0)
        self.width = integer(width, "width", at_least=1)
        self.interval = real_number(interval, "interval", at_least=0)
        self.unit_name = unit_name
        self._start = time.perf_counter()
        self._last = 0.0
        self._prev_width = 0
        self._seen = 0  # the last `current` given
        self._stream = sys.stdout
        self._dynamic = bool(getattr(self._stream, "isatty", lambda: False)())
        encoding = getattr(self._stream, "encoding", None) or "ascii"
        try:
            "━─".encode(encoding)
            self._full, self._empty = "━", "─"
        except (UnicodeEncodeError, LookupError):
            self._full, self._empty = "=", "."

    def update(
        self,
        current: int | None,
        values: dict[str, float | np.ndarray] | None = None,
        finalize: bool | None = None,
    ) -> None:
        """Shows progress to `current` (None: as far as the last call said)."""
        current = self._seen if current is None else current
        self._seen = current
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        if self.verbose == 0 or (self.verbose == 2 and not finalize):
            return
        now = time.perf_counter()
        if not finalize and (not self._dynamic or now - self._last < self.interval):
            return
        self._last = now
        elapsed = now - self._start
        per_unit = elapsed / current if current else 0.0
        digits = len(str(self.target))
        if self.target is None:
            line = f"{current}/Unknown {elapsed:.0f}s {_format_rate(per_unit, self.unit_name)}"
        elif self.verbose == 2:
            line = f"{current}/{self.target} - {elapsed:.0f}s - {_format_rate(per_unit, self.unit_name)}"
        else:
            filled = int(self.width * min(current, self.target) / max(self.target, 1))
            bar = self._full * filled + self._empty * (self.width - filled)
            shown = elapsed if finalize else per_unit * (self.target - current)
            line = (
                f"{current:>{digits}}/{self.target} {bar} {shown:.0f}s "
                f"{_format_rate(per_unit, self.unit_name)}"
            )
        for key, value in (values or {}).items():
            line += f" - {key}: {_format_value(value)}"
        if self._dynamic and self.verbose == 1:
            pad = max(0, self._prev_width - len(line))
            self._stream.write("\r" + line + " " * pad)
            self._prev_width = len(line)
            if finalize:
                self._stream.write("\n")
        else:
            self._stream.write(line + "\n")
        self._stream.flush()


class ProgbarLogger(Callback):
    """Prints progress to stdout: ``Epoch 1/3`` (with more than one epoch) then a progress bar
    per epoch (verbose=1) or one line per epoch (verbose=2). fit, evaluate and predict add one
    when their verbose is not 0."""

    def __init__(self) -> None:
        super().__init__()
        self._bar: Progbar | None = None
        self._in_fit = False

    def _verbose(self) -> int:
        return self.params.get("verbose", 1)

    def on_train_begin(self, logs=None) -> None:
        self._in_fit = True

    def on_train_end(self, logs=None) -> None:
        self._in_fit = False

    def on_epoch_begin(self, epoch, logs=None) -> None:
        epochs = self.params.get("epochs", 1)
        if self._verbose() and epochs > 1:
            sys.stdout.write(f"Epoch {epoch + 1}/{epochs}\n")
        self._bar = Progbar(self.params.get("steps", 0), self._verbose())

    def on_train_batch_end(self, batch, logs=None) -> None:
        if self._bar is not None:  # verbose=2 draws nothing here; the count is kept
            self._bar.update(batch + 1, logs, finalize=False)

    def on_epoch_end(self, epoch, logs=None) -> None:
        if self._bar is not None:
            self._bar.update(None, logs, finalize=True)

    def on_test_begin(self, logs=None) -> None:
        if not self._in_fit:
            self._bar = Progbar(self.params.get("steps", 0), self._verbose())

    def on_test_batch_end(self, batch, logs=None) -> None:
        if not self._in_fit and self._bar is not None:
            self._bar.update(batch + 1, logs, finalize=False)

    def on_test_end(self, logs=None) -> None:
        if not self._in_fit and self._bar is not None:
            self._bar.update(None, logs, finalize=True)

    def on_predict_begin(self, logs=None) -> None:
        self._bar = Progbar(self.params.get("steps", 0), self._verbose())

    def on_predict_batch_end(self, batch, logs=None) -> None:
        if self._bar is not None:
            self._bar.update(batch + 1, None, finalize=False)

    def on_predict_end(self, logs=None) -> None:
        if self._bar is not None:
            self._bar.update(None, None, finalize=True)


def _check_mode(mode: str) -> str:
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode: expected 'auto', 'min' or 'max', got {mode!r}")
    return mode


def _direction(who: str, monitor: str, mode: str, model) -> str:
    """ "min" or "max" for ``monitor``. "auto" follows Keras 3: min for the loss, else the
    direction of the compiled metric of that name (or of fastlstm's built-in metric of that
    name); any other quantity (one a callback adds, say) is an error, since guessing from the
    name could keep the worst epoch as the best."""
    if mode != "auto":
        return mode
    name = monitor.removeprefix("val_")
    if name == "loss":
        return "min"
    for m in getattr(model, "metrics", None) or []:
        if getattr(m, "name", None) == name and getattr(m, "direction", None) in ("min", "max"):
            return m.direction
    known = metrics_lib.direction_of(name)
    if known is not None:
        return known
    raise ValueError(
        f"{who}: cannot tell whether {monitor!r} should go up or down (it is neither the loss "
        f"nor a metric with a known direction): pass mode='max' or mode='min'"
    )


def _monitored(logs, monitor: str, who: str, instead: str = "skipping"):
    value = (logs or {}).get(monitor)
    if value is None:
        warnings.warn(
            f"{who}: the monitored quantity {monitor!r} is not in the logs "
            f"(available: {sorted(logs or {})}); {instead}",
            RuntimeWarning,
            stacklevel=3,
        )
    elif np.size(value) != 1:
        raise ValueError(
            f"{who}: the monitored quantity {monitor!r} is {np.size(value)} numbers, one a class "
            f"or threshold (F1Score's average=None, R2Score's class_aggregation=None, several "
            f"thresholds), where one number is compared from epoch to epoch: monitor a metric "
            f"of one number (average='macro', say)"
        )
    return value


class EarlyStopping(Callback):
    """Stop when ``monitor`` has stopped improving (Keras's rules).

    An epoch improves when the value beats the best so far by more than ``min_delta`` (in the
    direction ``mode`` gives; "auto": see below). After ``patience`` epochs
    without improvement training stops; with ``baseline``, the wait only restarts once the value
    also beats the baseline. ``restore_best_weights`` sets the best epoch's weights back when
    training ends, whether it stopped early or ran all its epochs (Keras 3; Keras 2 did so only
    when it stopped). ``start_from_epoch`` ignores the first epochs."""

    def __init__(
        self,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        patience: int = 0,
        verbose: int = 0,
        mode: str = "auto",
        baseline: float | None = None,
        restore_best_weights: bool = False,
        start_from_epoch: int = 0,
    ) -> None:
        super().__init__()
        self.monitor = monitor
        self.mode = _check_mode(mode)  # "auto" is resolved at the first value seen
        self.min_delta = abs(real_number(min_delta, "min_delta"))
        self.patience = integer(patience, "patience", at_least=0)
        self.verbose = integer(verbose, "verbose", at_least=0)
        self.baseline = real_number(baseline, "baseline", allow_none=True)
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = integer(start_from_epoch, "start_from_epoch", at_least=0)
        self.on_train_begin()

    def _improves(self, value: float, reference: float | None) -> bool:
        if reference is None:
            return True
        if self.mode == "max":
            return value - self.min_delta > reference
        return value + self.min_delta < reference

    def on_train_begin(self, logs=None) -> None:
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None) -> None:
        current = _monitored(logs, self.monitor, "EarlyStopping")
        if current is None or epoch < self.start_from_epoch:
            return
        self.mode = _direction("EarlyStopping", self.monitor, self.mode, self.model)
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()  # the first epoch counts as the best
            self.best_epoch = epoch
        self.wait += 1
        if self._improves(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improves(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None) -> None:
        if self.stopped_epoch > 0 and self.verbose > 0:
            sys.stdout.write(f"Epoch {self.stopped_epoch + 1}: early stopping\n")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                sys.stdout.write(
                    f"Restoring model weights from the end of the best epoch: "
                    f"{self.best_epoch + 1}.\n"
                )
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model after each epoch to ``filepath`` formatted with ``epoch`` (1-based) and the
    epoch logs, e.g. ``"ckpt-{epoch:02d}-{val_loss:.3f}.fastlstm"``. With ``save_best_only``,
    only when ``monitor`` improves on the best so far (``initial_value_threshold`` is the bar to
    beat at first). ``save_weights_only`` saves with ``save_weights`` (no optimizer state; the
    weights of any model). A directory in the path that does not exist yet is made (Keras's)."""

    def __init__(
        self,
        filepath: str,
        monitor: str = "val_loss",
        verbose: int = 0,
        save_best_only: bool = False,
        save_weights_only: bool = False,
        mode: str = "auto",
        save_freq="epoch",
        initial_value_threshold: float | None = None,
    ) -> None:
        super().__init__()
        if save_freq != "epoch":
            raise ValueError(
                f"save_freq: expected 'epoch' (a save at the end of each epoch; saving every N "
                f"batches is not supported), got {save_freq!r}"
            )
        from .saving import path_str

        self.filepath = path_str(filepath)
        self.monitor = monitor
        self.verbose = integer(verbose, "verbose", at_least=0)
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        self.mode = _check_mode(mode)  # "auto" is resolved at the first value seen
        # The value to beat; None: the first value saves.
        self.best = real_number(initial_value_threshold, "initial_value_threshold", allow_none=True)

    def on_train_begin(self, logs=None) -> None:
        from . import saving

        if not self.save_weights_only:  # save_weights writes any model's weights
            saving.check_saveable(self.model)  # refused now, not after the first epoch's training

    def on_epoch_end(self, epoch, logs=None) -> None:
        logs = logs or {}
        try:
            path = self.filepath.format(epoch=epoch + 1, **logs)
        except (KeyError, IndexError, ValueError, AttributeError, TypeError, MemoryError) as exc:
            raise ValueError(
                f"filepath: could not format {self.filepath!r} with epoch and the logs "
                f"{sorted(logs)}: {exc!r}"
            ) from None
        current = None
        if self.save_best_only:
            # Without the value (no validation data for val_loss, say), Keras saves every epoch.
            current = _monitored(logs, self.monitor, "ModelCheckpoint", "saving this epoch")
        if current is not None:
            self.mode = _direction("ModelCheckpoint", self.monitor, self.mode, self.model)
            if self.best is not None:
                better = current > self.best if self.mode == "max" else current < self.best
                if not better:
                    return
            if self.verbose > 0:
                best = "inf" if self.best is None else f"{self.best:.5f}"
                if self.best is None and self.mode == "max":
                    best = "-inf"
                sys.stdout.write(
                    f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to "
                    f"{current:.5f}, saving model to {path}\n"
                )
            self.best = current
        folder = os.path.dirname(path)
        if folder:  # made as Keras makes it ("ckpt/model-{epoch:02d}.keras" into a new ckpt/)
            try:
                os.makedirs(folder, exist_ok=True)
            except OSError as exc:
                raise type(exc)(
                    f"filepath: could not make the directory {folder!r} to save in ({exc})"
                ) from None
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` once ``monitor`` has not improved by more than
    ``min_delta`` for ``patience`` epochs, then wait ``cooldown`` epochs; never below
    ``min_lr``. Adds ``learning_rate`` to the epoch logs."""

    def __init__(
        self,
        monitor: str = "val_loss",
        factor: float = 0.1,
        patience: int = 10,
        verbose: int = 0,
        mode: str = "auto",
        min_delta: float = 1e-4,
        cooldown: int = 0,
        min_lr: float = 0.0,
    ) -> None:
        super().__init__()
        # factor < 1: the rate must go down.
        self.factor = real_number(factor, "factor", at_least=0, below=1)
        self.monitor = monitor
        self.patience = integer(patience, "patience", at_least=0)
        self.verbose = integer(verbose, "verbose", at_least=0)
        self.min_delta = real_number(min_delta, "min_delta")
        self.cooldown = integer(cooldown, "cooldown", at_least=0)
        self.min_lr = real_number(min_lr, "min_lr", at_least=0)
        self.mode = _check_mode(mode)  # "auto" is resolved at the first value seen
        self.on_train_begin()

    def on_train_begin(self, logs=None) -> None:
        self.best = None  # none seen yet
        self.wait = 0
        self.cooldown_counter = 0

    def _better(self, current: float) -> bool:
        if self.best is None:
            return True
        if self.mode == "max":
            return current > self.best + self.min_delta
        return current < self.best - self.min_delta

    def on_epoch_end(self, epoch, logs=None) -> None:
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = optimizer.learning_rate
        current = _monitored(logs, self.monitor, "ReduceLROnPlateau")
        if current is None:
            return
        self.mode = _direction("ReduceLROnPlateau", self.monitor, self.mode, self.model)
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._better(current):
            self.best = current
            self.wait = 0
        elif self.cooldown_counter == 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = optimizer.learning_rate
                if old > self.min_lr:
                    optimizer.learning_rate = max(old * self.factor, self.min_lr)
                    if self.verbose > 0:
                        sys.stdout.write(
                            f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to "
                            f"{optimizer.learning_rate}.\n"
                        )
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch to ``schedule(epoch, lr)`` (or
    ``schedule(epoch)`` for a one-argument function); adds ``learning_rate`` to the logs."""

    def __init__(self, schedule: Callable, verbose: int = 0) -> None:
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"schedule: expected a callable, got {type(schedule).__name__}")
        self.schedule = schedule
        self.verbose = integer(verbose, "verbose", at_least=0)
        try:
            params = inspect.signature(schedule).parameters.values()
            positional = [
                p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            ]
            self._two = len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params)
        except (TypeError, ValueError):  # builtins without a signature
            self._two = True

    def on_epoch_begin(self, epoch, logs=None) -> None:
        optimizer = self.model.optimizer
        lr = self.schedule(epoch, optimizer.learning_rate) if self._two else self.schedule(epoch)
        if isinstance(lr, (bool, np.bool_)) or not isinstance(lr, (int, float, np.number)):
            raise TypeError(f"schedule: expected it to return a float, got {lr!r}")
        optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            sys.stdout.write(
                f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(lr)}.\n"
            )

    def on_epoch_end(self, epoch, logs=None) -> None:
        if logs is not None:
            logs["learning_rate"] = self.model.optimizer.learning_rate


class CSVLogger(Callback):
    """Appends each epoch's logs to a CSV file: a header ``epoch,<keys...>`` (keys sorted, as
    Keras's), then one row per epoch; ``append=True`` adds to an existing file (no second
    header). Where fit validates (``validation_freq`` above 1 included), the header has the
    ``val_`` columns from the first epoch on, ``NA`` in the epochs without validation, as
    Keras writes. Each row is written and flushed when its epoch ends, so a crash loses no
    finished epoch."""

    def __init__(self, filename, separator: str = ",", append: bool = False) -> None:
        from .saving import path_str

        super().__init__()
        self.filename = path_str(filename, "filename")
        if not isinstance(separator, str) or len(separator) != 1:
            raise ValueError(f"separator: expected one character, got {separator!r}")
        if not isinstance(append, (bool, np.bool_)):
            raise TypeError(f"append: expected True or False, got {append!r}")
        self.separator, self.append = separator, bool(append)
        self._keys: list[str] | None = None
        self._file = None

    def on_train_begin(self, logs=None) -> None:
        self._keys = None  # the columns, from the first epoch's logs or the file's header
        name = self.filename
        # Only a regular file is written: opening a FIFO for writing waits for a reader for ever.
        if os.path.exists(name) and not os.path.isfile(name):
            raise ValueError(
                f"filename: {name!r} exists and is not a regular file (a directory, a device, "
                "a FIFO or a socket)"
            )
        if self.append and os.path.exists(name) and os.path.getsize(name):
            try:
                with open(name, newline="", encoding="utf-8") as f:
                    header = next(csv.reader(f, delimiter=self.separator), None)
            except UnicodeDecodeError as exc:
                raise ValueError(
                    f"filename: {name!r} is not a UTF-8 text file, which append=True adds rows "
                    f"to ({exc.reason} at byte {exc.start})"
                ) from None
            if header and header[0] == "epoch":
                self._keys = header[1:]
        mode = "a" if self.append else "w"
        self._file = open(name, mode, newline="", encoding="utf-8")  # noqa: SIM115
        self._writer = csv.writer(self._file, delimiter=self.separator)
        self._write_header = self._keys is None

    def on_epoch_end(self, epoch, logs=None) -> None:
        logs = logs or {}
        if self._keys is None:
            keys = set(logs)
            validates = getattr(self.model, "_fit_validates", False)
            if validates and not any(k.startswith("val_") for k in keys):
                keys |= {f"val_{k}" for k in logs}  # this epoch did not validate; later ones do
            self._keys = sorted(keys)
        if self._write_header:
            self._writer.writerow(["epoch", *self._keys])
            self._write_header = False
        self._writer.writerow([epoch, *(_csv_field(logs.get(k, "NA")) for k in self._keys)])
        self._file.flush()

    def on_train_end(self, logs=None) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _csv_field(value):
    """A log value as CSVLogger writes it: an array (one number a class) as "[a, b, c]", as
    Keras's does."""
    if isinstance(value, np.ndarray) and value.ndim:
        return "[" + ", ".join(str(v) for v in value.tolist()) + "]"
    return value


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's loss is NaN or infinite."""

    def on_train_batch_end(self, batch, logs=None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            sys.stdout.write(f"Batch {batch}: invalid loss, terminating training\n")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, **hooks: Callable) -> None:
        super().__init__()
        for name, fn in hooks.items():
            if name not in _HOOKS and name not in _ALIASES.values():
                raise ValueError(
                    f"{name}: expected one of the hooks {[*_HOOKS, *_ALIASES.values()]}"
                )
            setattr(self, name, fn)


from ._backup import BackupAndRestore  # after Callback, which they derive from
from ._tensorboard import TensorBoard

__all__ = [
    "BackupAndRestore",
    "CSVLogger",
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "ModelCheckpoint",
    "Progbar",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "TensorBoard",
    "TerminateOnNaN",
]
