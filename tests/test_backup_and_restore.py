"""BackupAndRestore: a fit interrupted and run again resumes from its last backup. The check
is the uninterrupted fit of a model made the same way: with dropout and shuffling (random
states the backup must carry) and Adam (slots and step count), the resumed fit's last epochs
and final weights are the same bits."""

from __future__ import annotations

import os

import numpy as np
import pytest

import fastlstm
from fastlstm import callbacks, layers

rng = np.random.default_rng(21)
X = rng.standard_normal((48, 6, 3)).astype(np.float32)
Y = rng.standard_normal((48, 2)).astype(np.float32)


def _model(units: int = 5) -> fastlstm.Sequential:
    model = fastlstm.Sequential(
        [
            layers.Input((6, 3)),
            layers.LSTM(units, dropout=0.2, seed=1),
            layers.Dropout(0.3, seed=2),
            layers.Dense(2, seed=3),
        ],
        seed=4,
    )
    model.compile(fastlstm.optimizers.Adam(0.01), "mse")
    return model


class Interrupt(callbacks.Callback):
    """Raises as epoch ``epoch`` begins, or before its batch ``batch``: a crash."""

    def __init__(self, epoch: int, batch: int | None = None) -> None:
        super().__init__()
        self.epoch, self.batch, self.current = epoch, batch, -1

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self.current = epoch
        if self.batch is None and epoch == self.epoch:
            raise RuntimeError("interrupted")

    def on_train_batch_begin(self, batch, logs=None) -> None:
        if self.current == self.epoch and batch == self.batch:
            raise RuntimeError("interrupted")


def _fit(model, backup, *more, epochs: int = 4):
    return model.fit(X, Y, epochs=epochs, batch_size=8, verbose=0, callbacks=[backup, *more])


def test_an_interrupted_fit_resumes_where_it_stopped(tmp_path):
    whole = _model()
    expected = _fit(whole, callbacks.BackupAndRestore(tmp_path / "whole"))
    assert not (tmp_path / "whole").exists()  # removed once fit ended

    backup_dir = tmp_path / "run"
    with pytest.raises(RuntimeError, match="interrupted"):
        _fit(_model(), callbacks.BackupAndRestore(backup_dir), Interrupt(epoch=2))
    assert os.listdir(backup_dir) == ["backup-2.fastlstm"]  # two epochs done

    again = _model()  # a new process would make the model afresh
    history = _fit(again, callbacks.BackupAndRestore(backup_dir))
    assert history.epoch == [2, 3]
    assert history.history["loss"] == expected.history["loss"][2:]
    for got, want in zip(again.get_weights(), whole.get_weights()):
        np.testing.assert_array_equal(got, want)
    assert again.optimizer.iterations == whole.optimizer.iterations
    assert not backup_dir.exists()


def test_a_backup_every_n_batches_resumes_its_epoch_from_those_weights(tmp_path):
    """Keras's save_freq=N: 6 batches an epoch, N=4, stopped before epoch 1's third batch:
    the backup is of batch 8 (epoch 1's second); the fit starts epoch 1 again from there."""
    stopped = _model()
    with pytest.raises(RuntimeError):
        _fit(stopped, callbacks.BackupAndRestore(tmp_path, save_freq=4), Interrupt(1, batch=2))
    assert os.listdir(tmp_path) == ["backup-1.fastlstm"]
    seen = {}
    record = callbacks.LambdaCallback(
        on_train_begin=lambda logs: seen.update(weights=again.get_weights())
    )
    again = _model()
    history = _fit(again, callbacks.BackupAndRestore(tmp_path, save_freq=4), record, epochs=3)
    assert history.epoch == [1, 2]
    for got, want in zip(seen["weights"], stopped.get_weights()):
        np.testing.assert_array_equal(got, want)
    assert again.optimizer.iterations == 8 + 2 * 6


def test_only_the_backup_is_removed_and_delete_checkpoint_keeps_it(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    _fit(_model(), callbacks.BackupAndRestore(tmp_path), epochs=2)
    assert os.listdir(tmp_path) == ["notes.txt"]
    kept = tmp_path / "kept"
    _fit(_model(), callbacks.BackupAndRestore(kept, delete_checkpoint=False), epochs=2)
    assert os.listdir(kept) == ["backup-2.fastlstm"]
    # run again, the fit is already done: no epoch runs, the weights are the backup's
    model = _model()
    history = _fit(model, callbacks.BackupAndRestore(kept, delete_checkpoint=False), epochs=2)
    assert history.epoch == []
    saved = fastlstm.load_model(kept / "backup-2.fastlstm")
    for got, want in zip(model.get_weights(), saved.get_weights()):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"backup_dir": ""}, "backup_dir: expected a directory's path"),
        ({"backup_dir": "b", "save_freq": 0}, "save_freq"),
        ({"backup_dir": "b", "save_freq": "batch"}, "save_freq: expected 'epoch' or a number"),
        ({"backup_dir": "b", "save_freq": False}, "save_freq: expected 'epoch' or a number"),
        ({"backup_dir": "b", "delete_checkpoint": "yes"}, "delete_checkpoint"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        callbacks.BackupAndRestore(**kwargs)


def test_a_backup_of_another_model_is_refused_and_left_alone(tmp_path):
    with pytest.raises(RuntimeError):
        _fit(_model(units=5), callbacks.BackupAndRestore(tmp_path), Interrupt(epoch=1))
    other = _model(units=7)
    before = other.get_weights()
    with pytest.raises(ValueError, match=r"backup_dir: the backup .* does not fit this model"):
        _fit(other, callbacks.BackupAndRestore(tmp_path))
    assert os.listdir(tmp_path) == ["backup-1.fastlstm"]
    for got, want in zip(other.get_weights(), before):
        np.testing.assert_array_equal(got, want)
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    with pytest.raises(ValueError, match=r"backup_dir: .* is not a directory"):
        _fit(_model(), callbacks.BackupAndRestore(not_a_dir))


def test_a_model_that_cannot_be_saved_is_refused_before_an_epoch_is_spent(tmp_path):
    class MyLoss(fastlstm.losses.MeanSquaredError):  # a loss class of the user's own
        pass

    model = _model()
    model.compile("adam", MyLoss())
    seen = []
    count = callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))
    with pytest.raises(ValueError, match="backup_dir: BackupAndRestore backs the model up as"):
        _fit(model, callbacks.BackupAndRestore(tmp_path / "b"), count)
    assert seen == []
    assert not (tmp_path / "b").exists()


def test_a_backup_that_does_not_fit_leaves_the_weights_as_they_were(tmp_path):
    with pytest.raises(RuntimeError):
        _fit(_model(), callbacks.BackupAndRestore(tmp_path), Interrupt(epoch=1))
    other = _model()
    other.compile("sgd", "mse")  # the same layers, another optimizer
    before = other.get_weights()
    with pytest.raises(ValueError, match="its optimizer is a Adam, this model's a SGD"):
        _fit(other, callbacks.BackupAndRestore(tmp_path))
    for got, want in zip(other.get_weights(), before):
        np.testing.assert_array_equal(got, want)


def test_unreadable_backups_and_impossible_directories_are_named(tmp_path):
    (tmp_path / "backup-3.fastlstm").write_bytes(b"not a model file")
    with pytest.raises(ValueError, match=r"backup_dir: the backup .* cannot be read .*remove it"):
        _fit(_model(), callbacks.BackupAndRestore(tmp_path))
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ValueError, match=r"backup_dir: .* is under a file, not a directory"):
        _fit(_model(), callbacks.BackupAndRestore(blocker / "sub"))
