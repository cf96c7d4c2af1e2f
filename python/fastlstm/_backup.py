"""Keras's BackupAndRestore callback: a fit interrupted (a crash, a killed job) resumes where
its last backup left it when the same fit is run again."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile

from ._arrays import integer
from .callbacks import Callback

# backup-<epochs done>.fastlstm: the epoch count lies in the name, so that the one atomic
# rename that writes a backup also records where training resumes.
_NAME = re.compile(r"backup-(\d+)\.fastlstm")


class BackupAndRestore(Callback):
    """Back up the training state in ``backup_dir`` as it goes, and restore it when ``fit``
    starts, as Keras 3's callback does: a fit that was interrupted and is run again (by the same
    code, on a model made the same way) goes on from the last backup, at the epoch after the
    last one it finished, instead of from the start. The state is a model file (see
    :func:`fastlstm.save_model`): the weights, the optimizer's slots and step count, and the
    random states of the shuffle and of dropout, so that, backed up at the end of each epoch,
    the resumed fit ends with the same weights as an uninterrupted one.

    ``save_freq``: "epoch" (at the end of each), or N: every N batches as well (a fit resumed
    from such a backup starts the epoch it was in again, from the weights of its N-th batch, as
    Keras's does). ``delete_checkpoint``: remove the backup when fit ends normally (an exception
    leaves it for the next run). Only the backup's own file is removed; ``backup_dir`` goes too
    if that leaves it empty. The model must be one that ``save`` can write (no loss or layer
    of the user's own code): fit refuses one at its start, as it does a directory it cannot
    write in.

    Not backed up, as in Keras: other callbacks' state (EarlyStopping's and ReduceLROnPlateau's
    best value and waiting count, ModelCheckpoint's best), and where a generator or dataset read
    with ``steps_per_epoch`` had got to; a resumed fit that depends on them goes on from where
    they start, not where they stopped."""

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint: bool = True) -> None:
        from .functional import _flag
        from .saving import path_str

        super().__init__()
        self.backup_dir = path_str(backup_dir, "backup_dir")
        if not self.backup_dir:
            raise ValueError("backup_dir: expected a directory's path, got ''")
        if save_freq == "epoch":
            self.save_freq: str | int = "epoch"
        elif save_freq is False or isinstance(save_freq, str):
            raise ValueError(
                f"save_freq: expected 'epoch' or a number of batches, got {save_freq!r}"
            )
        else:
            self.save_freq = integer(save_freq, "save_freq", at_least=1)
        self.delete_checkpoint = _flag(delete_checkpoint, "delete_checkpoint")
        self._epochs_done = 0
        self._batches = 0

    def _backups(self) -> list[tuple[int, str]]:
        """(epochs done, path) of each backup file in backup_dir, the latest last."""
        try:
            names = os.listdir(self.backup_dir)
        except FileNotFoundError:
            return []
        except NotADirectoryError:
            what = (
                "exists and is not" if os.path.exists(self.backup_dir) else "is under a file, not"
            )
            raise ValueError(f"backup_dir: {self.backup_dir!r} {what} a directory") from None
        found = [(int(m.group(1)), n) for n in names if (m := _NAME.fullmatch(n))]
        return [(done, os.path.join(self.backup_dir, n)) for done, n in sorted(found)]

    def on_train_begin(self, logs=None) -> None:
        from .saving import model_to_bytes

        self._batches = 0
        self._epochs_done = 0
        backups = self._backups()
        # What a backup needs, checked before the first epoch is spent: a model save can
        # write (none of the user's own loss classes, say), and a directory it can write in.
        try:
            model_to_bytes(self.model)
        except ValueError as exc:
            raise ValueError(
                f"backup_dir: BackupAndRestore backs the model up as a model file, and this "
                f"model cannot be saved: {exc}"
            ) from None
        try:
            os.makedirs(self.backup_dir, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".fastlstm-", dir=self.backup_dir)
            os.close(fd)
            os.remove(probe)
        except OSError as exc:
            raise type(exc)(
                f"backup_dir: cannot write in {self.backup_dir!r}: {exc.strerror or exc}"
            ) from None
        if backups:
            done, path = backups[-1]
            _restore(self.model, path)
            self._epochs_done = done
            self.model._initial_epoch = done  # where fit starts (Keras's model._initial_epoch)

    def on_train_batch_end(self, batch, logs=None) -> None:
        if self.save_freq == "epoch":
            return
        self._batches += 1
        if self._batches % self.save_freq == 0:
            self._save()

    def on_epoch_end(self, epoch, logs=None) -> None:
        self._epochs_done = epoch + 1
        if self.save_freq == "epoch":
            self._save()

    def _save(self) -> None:
        from .saving import save_model

        target = os.path.join(self.backup_dir, f"backup-{self._epochs_done}.fastlstm")
        try:
            os.makedirs(self.backup_dir, exist_ok=True)
            save_model(self.model, target)  # atomic: a crash leaves the previous backup whole
        except OSError as exc:
            raise type(exc)(f"backup_dir: could not back up into {target!r}: {exc}") from None
        for _, path in self._backups():
            if path != target:
                os.remove(path)

    def on_train_end(self, logs=None) -> None:
        if not self.delete_checkpoint:
            return
        for _, path in self._backups():
            os.remove(path)
        with contextlib.suppress(OSError):  # not empty: other files are not the backup's
            os.rmdir(self.backup_dir)


def _restore(model, path: str) -> None:
    """Set ``model``'s weights, optimizer state and random states from the model file at
    ``path``, which must hold a model of the same layers and optimizer."""
    from .saving import load_model

    try:
        saved = load_model(path, custom_objects=model._custom_metrics())
    except (ValueError, OSError) as exc:
        raise ValueError(
            f"backup_dir: the backup {path!r} cannot be read ({exc}); remove it to start afresh"
        ) from None
    names = [type(layer).__name__ for layer in model._layers]
    if [type(layer).__name__ for layer in saved._layers] != names:
        raise ValueError(
            f"backup_dir: the backup {path!r} is of a model of other layers "
            f"({[type(layer).__name__ for layer in saved._layers]}, this model's {names}); "
            "remove it to start afresh"
        )
    optimizer = model.optimizer if model.compiled and saved.compiled else None
    before = model.get_weights()
    try:
        if optimizer is not None and type(optimizer) is not type(saved.optimizer):
            raise ValueError(
                f"its optimizer is a {type(saved.optimizer).__name__}, this model's a "
                f"{type(optimizer).__name__}"
            )
        model.set_weights(saved.get_weights())  # all or nothing
        if optimizer is not None:
            optimizer.set_slot_arrays(
                model.trainable_weights,
                saved.optimizer.get_slot_arrays(),
                saved.optimizer.iterations,
            )
            fixed = getattr(optimizer, "_schedule", None) is None
            if fixed and getattr(saved.optimizer, "_schedule", None) is None:
                # a rate a callback lowered (ReduceLROnPlateau) stays lowered
                optimizer.learning_rate = saved.optimizer.learning_rate
    except ValueError as exc:
        model.set_weights(before)  # the model as it was: a fit started afresh starts from it
        raise ValueError(
            f"backup_dir: the backup {path!r} does not fit this model: {exc}; remove it to "
            "start afresh"
        ) from None
    model._shuffle_rng = saved._shuffle_rng
    for layer, kept in zip(model._layers, saved._layers):
        layer.set_rng_state(kept.get_rng_state())
        layer.set_state_arrays(kept.get_state_arrays())
