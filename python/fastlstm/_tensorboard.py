"""Keras's TensorBoard callback: the logs' scalars as TensorBoard event files (_event_file), in
Keras 3's directories and tags, so that ``tensorboard --logdir logs`` draws a fastlstm run as it
draws a Keras one."""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from ._arrays import integer
from ._event_file import EventWriter
from .callbacks import Callback


def _scalars(prefix: str, logs: dict, suffix: str = ""):
    """(tag, value) pairs of the logs: a metric of one number per class or threshold (an
    array) gives a tag for each, ``<tag>/<k>``, which TensorBoard draws as one group."""
    for name, value in logs.items():
        tag = f"{prefix}{name}{suffix}"
        if isinstance(value, np.ndarray) and value.ndim:
            yield from ((f"{tag}/{k}", float(v)) for k, v in enumerate(value.reshape(-1)))
        elif isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
            yield tag, float(value)


class TensorBoard(Callback):
    """Write the training's scalars for TensorBoard, as Keras 3's callback does: under
    ``log_dir/train`` each epoch's metrics as ``epoch_<name>`` (and ``epoch_learning_rate``) at
    step ``epoch``; under ``log_dir/validation`` the ``val_`` results as ``epoch_<name>``, and
    an evaluation's results as ``evaluation_<name>_vs_iterations`` at the optimizer's step.
    ``update_freq="batch"`` or N also writes every (Nth) batch's running means as
    ``batch_<name>``, at the count of batches trained; ``write_steps_per_second`` adds
    ``epoch_steps_per_second``. No TensorFlow is needed: the files are written here.

    Only scalars: ``histogram_freq``, ``write_images``, ``embeddings_freq`` and
    ``profile_batch`` other than their defaults are refused; ``write_graph`` is taken and writes
    nothing (there is no TensorFlow graph to draw)."""

    def __init__(
        self,
        log_dir="logs",
        histogram_freq: int = 0,
        write_graph: bool = True,
        write_images: bool = False,
        write_steps_per_second: bool = False,
        update_freq: Any = "epoch",
        profile_batch: Any = 0,
        embeddings_freq: int = 0,
        embeddings_metadata: Any = None,
    ) -> None:
        from .functional import _flag
        from .saving import path_str

        super().__init__()
        self.log_dir = path_str(log_dir, "log_dir")
        # What would write more than scalars is refused; what writes nothing is taken (Keras's
        # write_images and embeddings_metadata do nothing without histograms or embeddings).
        for name, value in (
            ("histogram_freq", histogram_freq),
            ("embeddings_freq", embeddings_freq),
        ):
            if value is not None and value != 0:
                raise ValueError(
                    f"{name}: expected 0, got {value!r}: only the logs' scalars are written (no "
                    "weight histograms, images or embeddings)"
                )
        no_profile = (0, "0", "0,0", (0, 0), [0, 0], None)
        if not any(profile_batch == p and type(profile_batch) is type(p) for p in no_profile):
            raise ValueError(f"profile_batch: expected 0 (no profiling), got {profile_batch!r}")
        self.write_images = _flag(write_images, "write_images")
        self.embeddings_metadata = embeddings_metadata
        self.write_graph = _flag(write_graph, "write_graph")
        self.write_steps_per_second = _flag(write_steps_per_second, "write_steps_per_second")
        if update_freq in ("epoch", "batch"):
            self.update_freq = update_freq
        elif isinstance(update_freq, str):
            raise ValueError(
                f"update_freq: expected 'epoch', 'batch' or a number of batches, got {update_freq!r}"
            )
        else:
            self.update_freq = integer(update_freq, "update_freq", at_least=1)
        self._writers: dict[str, EventWriter] = {}
        self._global_batch = 0
        self._training = False

    def _writer(self, run: str) -> EventWriter:
        if run not in self._writers:
            directory = os.path.join(self.log_dir, run)
            for path in (self.log_dir, directory):
                if os.path.exists(path) and not os.path.isdir(path):
                    raise ValueError(f"log_dir: {path!r} exists and is not a directory")
            try:
                self._writers[run] = EventWriter(directory)
            except OSError as exc:
                raise type(exc)(f"log_dir: cannot write in {directory!r}: {exc}") from None
        return self._writers[run]

    def _close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def on_train_begin(self, logs=None) -> None:
        self._close()  # a fit that raised left its files open: this run starts new ones
        self._training = True
        self._global_batch = 0
        self._epoch_batches, self._epoch_start = 0, time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self._epoch_batches, self._epoch_start = 0, time.perf_counter()

    def on_train_batch_begin(self, batch, logs=None) -> None:
        self._batch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None) -> None:
        self._global_batch += 1
        self._epoch_batches += 1
        every = 1 if self.update_freq == "batch" else self.update_freq
        if every != "epoch" and self._global_batch % every == 0:
            values = dict(logs or {})
            if self.write_steps_per_second:
                elapsed = time.perf_counter() - self._batch_start
                values["steps_per_second"] = 1 / elapsed if elapsed > 0 else 0.0
            self._writer("train").scalars(self._global_batch, _scalars("batch_", values))

    def on_epoch_end(self, epoch, logs=None) -> None:
        logs = logs or {}
        train = {k: v for k, v in logs.items() if not k.startswith("val_")}
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:  # the rate now, as Keras 3's (after a callback lowered it)
            train["learning_rate"] = optimizer.learning_rate
        if self.write_steps_per_second:
            elapsed = time.perf_counter() - self._epoch_start
            train["steps_per_second"] = self._epoch_batches / elapsed if elapsed > 0 else 0.0
        self._writer("train").scalars(epoch, _scalars("epoch_", train))
        validation = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        if validation:
            self._writer("validation").scalars(epoch, _scalars("epoch_", validation))

    def on_test_end(self, logs=None) -> None:
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and logs:
            step = optimizer.iterations
            self._writer("validation").scalars(
                step, _scalars("evaluation_", logs, "_vs_iterations")
            )
        if not self._training:  # an evaluate of its own: its file is complete
            self._close()

    def on_train_end(self, logs=None) -> None:
        self._training = False
        self._close()
