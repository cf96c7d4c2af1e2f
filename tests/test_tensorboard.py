"""The TensorBoard callback's event files, read back by TensorBoard's own reader (the
``tensorboard`` package, a peer: its record reader checks every CRC), against the History of
the same fit: Keras 3's directories, tags and steps."""

from __future__ import annotations

import os

import numpy as np
import pytest

import fastlstm
from conftest import import_peer
from fastlstm import callbacks, layers
from fastlstm._event_file import crc32c, masked_crc32c

rng = np.random.default_rng(11)
X = rng.standard_normal((40, 5, 3)).astype(np.float32)
Y = np.eye(3, dtype=np.float32)[np.arange(40) % 3]


def _model(metrics=("accuracy",)):
    model = fastlstm.Sequential(
        [layers.Input((5, 3)), layers.LSTM(4), layers.Dense(3, activation="softmax")], seed=0
    )
    model.compile(fastlstm.optimizers.Adam(0.01), "categorical_crossentropy", metrics=[*metrics])
    return model


def _read(directory) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value), ...]} from every event file in ``directory``, by TensorBoard."""
    accumulator = import_peer("tensorboard.backend.event_processing.event_accumulator")
    reader = accumulator.EventAccumulator(str(directory))
    reader.Reload()
    return {
        tag: [(e.step, e.value) for e in reader.Scalars(tag)] for tag in reader.Tags()["scalars"]
    }


def test_crc32c_gives_the_published_check_value():
    assert crc32c(b"123456789") == 0xE3069283  # CRC-32C's check value (RFC 3720, B.4)
    assert crc32c(b"") == 0
    assert masked_crc32c(b"") == 0xA282EAD8  # the mask of a zero CRC is its constant


def test_epoch_scalars_match_the_history(tmp_path):
    model = _model()
    history = model.fit(
        X,
        Y,
        epochs=3,
        batch_size=8,
        validation_split=0.25,
        verbose=0,
        callbacks=[callbacks.TensorBoard(tmp_path)],
    )
    assert sorted(os.listdir(tmp_path)) == ["train", "validation"]
    train, validation = _read(tmp_path / "train"), _read(tmp_path / "validation")
    assert sorted(train) == ["epoch_accuracy", "epoch_learning_rate", "epoch_loss"]
    # each validation is also an evaluation, at the optimizer's step (4 batches an epoch)
    assert sorted(validation) == [
        "epoch_accuracy",
        "epoch_loss",
        "evaluation_accuracy_vs_iterations",
        "evaluation_loss_vs_iterations",
    ]
    steps, values = zip(*validation["evaluation_loss_vs_iterations"])
    assert steps == (4, 8, 12)
    np.testing.assert_allclose(values, history.history["val_loss"], rtol=1e-6)
    for tag, key, run in (
        ("epoch_loss", "loss", train),
        ("epoch_accuracy", "accuracy", train),
        ("epoch_loss", "val_loss", validation),
        ("epoch_accuracy", "val_accuracy", validation),
    ):
        steps, values = zip(*run[tag])
        assert steps == (0, 1, 2)
        np.testing.assert_allclose(values, history.history[key], rtol=1e-6)  # float32 stored
    assert [v for _, v in train["epoch_learning_rate"]] == pytest.approx([0.01] * 3)
    name = os.listdir(tmp_path / "train")[0]
    assert name.startswith("events.out.tfevents.")
    assert name.endswith(".v2")


def test_batch_scalars_every_nth_batch_and_an_evaluation(tmp_path):
    model = _model()
    seen = []
    keep = callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(logs["loss"]))
    tb = callbacks.TensorBoard(str(tmp_path), update_freq=2, write_steps_per_second=True)
    model.fit(X, Y, epochs=2, batch_size=8, verbose=0, callbacks=[keep, tb])  # 5 batches an epoch
    loss, accuracy = model.evaluate(X, Y, verbose=0, callbacks=[tb])
    train = _read(tmp_path / "train")
    steps, values = zip(*train["batch_loss"])
    assert steps == (2, 4, 6, 8, 10)  # batches counted over both epochs
    np.testing.assert_allclose(values, [seen[s - 1] for s in steps], rtol=1e-6)
    assert all(v > 0 for _, v in train["epoch_steps_per_second"])
    validation = _read(tmp_path / "validation")
    assert validation["evaluation_loss_vs_iterations"] == [(10, pytest.approx(loss, rel=1e-6))]
    assert validation["evaluation_accuracy_vs_iterations"][0][1] == pytest.approx(accuracy)


def test_a_metric_of_one_number_a_class_gives_a_tag_each(tmp_path):
    model = _model(metrics=(fastlstm.metrics.F1Score(),))
    history = model.fit(X, Y, epochs=2, verbose=0, callbacks=[callbacks.TensorBoard(tmp_path)])
    train = _read(tmp_path / "train")
    per_class = np.array(history.history["f1_score"])  # (epochs, classes)
    for k in range(3):
        values = [v for _, v in train[f"epoch_f1_score/{k}"]]
        np.testing.assert_allclose(values, per_class[:, k], rtol=1e-6)
    assert not any(tag.startswith("batch_") for tag in train)  # update_freq="epoch"


@pytest.mark.parametrize(
    ("keyword", "value", "message"),
    [
        ("histogram_freq", 1, "histogram_freq: expected 0, got 1"),
        ("embeddings_freq", 2, "embeddings_freq: expected 0"),
        ("profile_batch", (2, 4), r"profile_batch: expected 0 \(no profiling\), got \(2, 4\)"),
        ("update_freq", 0, "update_freq"),
        ("update_freq", "epochs", "update_freq: expected 'epoch', 'batch' or a number"),
    ],
)
def test_what_it_does_not_write_is_refused(keyword, value, message):
    with pytest.raises((TypeError, ValueError), match=message):
        callbacks.TensorBoard("logs", **{keyword: value})


def test_a_log_dir_that_is_a_file_is_named(tmp_path):
    path = tmp_path / "taken"
    path.write_text("not a directory")
    with pytest.raises(ValueError, match=r"log_dir: .*taken' exists and is not a directory"):
        _model().fit(X, Y, epochs=1, verbose=0, callbacks=[callbacks.TensorBoard(path)])
    assert path.read_text() == "not a directory"


def test_keras_arguments_that_write_nothing_are_taken():
    for kwargs in (
        {"profile_batch": "0,0"},
        {"profile_batch": (0, 0)},
        {"write_images": True},  # images come with histograms, which histogram_freq=0 leaves out
        {"embeddings_metadata": {"embedding": "meta.tsv"}},  # as embeddings_freq=0 does
    ):
        callbacks.TensorBoard("logs", **kwargs)


def test_the_learning_rate_written_is_the_optimizers_at_the_epochs_end(tmp_path):
    """Keras 3 writes the rate the optimizer has then: after ReduceLROnPlateau lowered it, the
    lowered one, whichever callback comes first."""
    model = _model()
    reduce = callbacks.ReduceLROnPlateau("loss", factor=0.5, patience=0, min_delta=10)
    model.fit(X, Y, epochs=3, verbose=0, callbacks=[reduce, callbacks.TensorBoard(tmp_path)])
    rates = [v for _, v in _read(tmp_path / "train")["epoch_learning_rate"]]
    assert rates == pytest.approx([0.01, 0.005, 0.0025])  # lowered after epochs 1 and 2


def test_steps_per_second_with_batch_updates_and_a_fresh_file_after_a_failed_fit(tmp_path):
    model = _model()
    tb = callbacks.TensorBoard(tmp_path, update_freq="batch", write_steps_per_second=True)
    fail = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        model.fit(X, Y, epochs=2, batch_size=8, verbose=0, callbacks=[tb, fail])
    model.fit(X, Y, epochs=1, batch_size=8, verbose=0, callbacks=[tb])
    assert len(os.listdir(tmp_path / "train")) == 2  # one file a run
    train = _read(tmp_path / "train")
    assert len(train["batch_steps_per_second"]) == 10  # 5 batches a run
    assert all(v > 0 for _, v in train["batch_steps_per_second"])


def test_a_log_dir_that_cannot_be_written_is_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError, match="log_dir: cannot write in"):
        _model().fit(X, Y, epochs=1, verbose=0, callbacks=[callbacks.TensorBoard(blocker / "sub")])
