"""fastlstm.callbacks: hook order in fit/evaluate/predict, History, EarlyStopping,
ModelCheckpoint, ReduceLROnPlateau, LearningRateScheduler, TerminateOnNaN, the progress bar."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from fastlstm import callbacks, optimizers
from fastlstm.layers import LSTM, Dense
from fastlstm.models import Sequential
from fastlstm.saving import load_model


def data(n=12):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 4, 2)), rng.standard_normal((n, 1))


def model(lr=0.01):
    m = Sequential([LSTM(3), Dense(1)], seed=0)
    m.compile(optimizers.SGD(lr), "mse", ["mae"])
    return m


class Recorder(callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.calls = []

    def __getattribute__(self, name):
        if name.startswith("on_"):
            calls = object.__getattribute__(self, "calls")

            def hook(*args):
                calls.append((name, *[a for a in args if isinstance(a, int)]))
                logs = args[-1] if args and isinstance(args[-1], dict) else None
                calls.append(("logs", sorted(logs) if logs else []))

            return hook
        return object.__getattribute__(self, name)


def test_hook_order_in_fit_evaluate_predict():
    x, y = data(12)
    m, rec = model(), Recorder()
    m.fit(x, y, batch_size=4, epochs=2, validation_data=(x[:4], y[:4]), verbose=0, callbacks=[rec])
    hooks = [c for c in rec.calls if c[0] != "logs"]
    per_epoch = [
        ("on_train_batch_begin", 0),
        ("on_train_batch_end", 0),
        ("on_train_batch_begin", 1),
        ("on_train_batch_end", 1),
        ("on_train_batch_begin", 2),
        ("on_train_batch_end", 2),
        # the validation pass, as Keras's fit runs it (through evaluate, with the callbacks)
        ("on_test_begin",),
        ("on_test_batch_begin", 0),
        ("on_test_batch_end", 0),
        ("on_test_end",),
    ]
    assert hooks == [
        ("on_train_begin",),
        ("on_epoch_begin", 0),
        *per_epoch,
        ("on_epoch_end", 0),
        ("on_epoch_begin", 1),
        *per_epoch,
        ("on_epoch_end", 1),
        ("on_train_end",),
    ]
    epoch_end = rec.calls.index(("on_epoch_end", 0))
    assert rec.calls[epoch_end + 1] == ("logs", ["loss", "mae", "val_loss", "val_mae"])
    batch_end = rec.calls.index(("on_train_batch_end", 0))
    assert rec.calls[batch_end + 1] == ("logs", ["loss", "mae"])
    assert rec.params == {"epochs": 2, "steps": 3, "verbose": 0}
    assert rec.model is m
    rec.calls.clear()
    m.evaluate(x, y, batch_size=8, verbose=0, callbacks=[rec])
    assert [c for c in rec.calls if c[0] != "logs"] == [
        ("on_test_begin",),
        ("on_test_batch_begin", 0),
        ("on_test_batch_end", 0),
        ("on_test_batch_begin", 1),
        ("on_test_batch_end", 1),
        ("on_test_end",),
    ]
    rec.calls.clear()
    m.predict(x, batch_size=12, verbose=0, callbacks=[rec])
    assert [c for c in rec.calls if c[0] != "logs"] == [
        ("on_predict_begin",),
        ("on_predict_batch_begin", 0),
        ("on_predict_batch_end", 0),
        ("on_predict_end",),
    ]


class StubModel:
    """What EarlyStopping and ReduceLROnPlateau touch: weights, stop flag, optimizer."""

    def __init__(self):
        self.stop_training = False
        self.weights = 0
        self.optimizer = optimizers.SGD(1.0)

    def get_weights(self):
        return self.weights

    def set_weights(self, w):
        self.weights = w


def drive(cb, values, key="val_loss"):
    """Run epoch ends with the given monitored values; return the epoch training stopped at."""
    stub = StubModel()
    cb.set_model(stub)
    cb.on_train_begin()
    for epoch, v in enumerate(values):
        stub.weights = epoch  # "weights" are the epoch they come from
        logs = {key: v}
        cb.on_epoch_end(epoch, logs)
        if stub.stop_training:
            cb.on_train_end(logs)
            return epoch, stub, logs
    cb.on_train_end(logs)
    return None, stub, logs


def test_early_stopping_patience_min_delta_and_restore():
    stop, _, _ = drive(callbacks.EarlyStopping(patience=2), [5, 4, 4.5, 4.2, 1])
    assert stop == 3  # two epochs without beating 4
    stop, _, _ = drive(callbacks.EarlyStopping(patience=1, min_delta=0.5), [5, 4.8, 4.7])
    assert stop == 1  # 4.8 is not better by more than 0.5
    stop, stub, _ = drive(
        callbacks.EarlyStopping(patience=2, restore_best_weights=True), [3, 1, 2, 2.5, 0]
    )
    assert stop == 3
    assert stub.weights == 1  # the best epoch's weights are back
    # also when training runs all its epochs without stopping (Keras 3): they were left at the
    # last epoch's
    stop, stub, _ = drive(
        callbacks.EarlyStopping(patience=10, restore_best_weights=True), [3, 1, 2, 2.5]
    )
    assert stop is None
    assert stub.weights == 1
    stop, _, _ = drive(
        callbacks.EarlyStopping(monitor="val_accuracy", patience=1),
        [0.5, 0.6, 0.55],
        "val_accuracy",
    )
    assert stop == 2  # "auto" is max for accuracies
    # improving epochs below the baseline do not restart the wait (Keras's rule), so the first
    # epoch that does not improve stops it; without a baseline, it would wait
    values = [3, 2.5, 2.0, 2.2]
    assert drive(callbacks.EarlyStopping(patience=2, baseline=1.0), values)[0] == 3
    assert drive(callbacks.EarlyStopping(patience=2), values)[0] is None


def test_early_stopping_in_fit_with_a_constant_loss():
    x, y = data()
    m = model(lr=0.0)  # the loss never improves
    history = m.fit(
        x,
        y,
        epochs=10,
        verbose=0,
        shuffle=False,  # shuffling would change the sum's rounding, an "improvement"
        callbacks=[callbacks.EarlyStopping("loss", patience=2)],
    )
    assert history.epoch == [0, 1, 2]


def test_missing_monitor_warns():
    cb = callbacks.EarlyStopping(monitor="val_los")
    cb.set_model(StubModel())
    with pytest.warns(RuntimeWarning, match="'val_los' is not in the logs"):
        cb.on_epoch_end(0, {"val_loss": 1.0})


def test_reduce_lr_on_plateau():
    cb = callbacks.ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2, min_lr=0.2)
    stub = StubModel()
    cb.set_model(stub)
    cb.on_train_begin()
    rates = []
    for epoch, v in enumerate([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]):
        logs = {"val_loss": v}
        cb.on_epoch_end(epoch, logs)
        assert logs["learning_rate"] == rates[-1] if rates else 1.0
        rates.append(stub.optimizer.learning_rate)
    # halve after 1 flat epoch; the cooldown counts down in the next two (Keras's rules: the
    # second already counts as waiting); never below min_lr
    assert rates == [1.0, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2]


def test_learning_rate_scheduler_sets_and_logs_the_rate():
    x, y = data()
    m = model()
    seen = []
    history = m.fit(
        x,
        y,
        epochs=3,
        verbose=0,
        callbacks=[
            callbacks.LearningRateScheduler(lambda epoch, lr: lr * 0.5),
            callbacks.LambdaCallback(
                on_epoch_begin=lambda e, logs: seen.append(m.optimizer.learning_rate)
            ),
        ],
    )
    assert seen == [0.005, 0.0025, 0.00125]
    assert history.history["learning_rate"] == seen
    one_arg = callbacks.LearningRateScheduler(lambda epoch: 0.1 * (epoch + 1))
    one_arg.set_model(m)
    one_arg.on_epoch_begin(2)
    assert m.optimizer.learning_rate == pytest.approx(0.3)
    bad = callbacks.LearningRateScheduler(lambda epoch: "fast")
    bad.set_model(m)
    with pytest.raises(TypeError, match="schedule: expected it to return a float"):
        bad.on_epoch_begin(0)


def test_model_checkpoint_formats_and_saves_only_the_best(tmp_path):
    x, y = data()
    m = model(lr=0.05)
    every = callbacks.ModelCheckpoint(str(tmp_path / "all-{epoch:02d}-{loss:.3f}.fastlstm"))
    best = callbacks.ModelCheckpoint(
        str(tmp_path / "best-{epoch}.fastlstm"), monitor="val_loss", save_best_only=True
    )
    history = m.fit(
        x, y, epochs=3, verbose=0, validation_data=(x[:4], y[:4] + 100), callbacks=[every, best]
    )
    losses_ = history.history["loss"]
    names = sorted(p.name for p in tmp_path.iterdir())
    expected_all = [f"all-{e + 1:02d}-{v:.3f}.fastlstm" for e, v in enumerate(losses_)]
    assert [n for n in names if n.startswith("all")] == expected_all
    val = history.history["val_loss"]
    improved = [e + 1 for e in range(3) if val[e] < min(val[:e], default=math.inf)]
    assert [n for n in names if n.startswith("best")] == [f"best-{e}.fastlstm" for e in improved]
    last = load_model(tmp_path / expected_all[-1])
    np.testing.assert_array_equal(last.predict(x, verbose=0), m.predict(x, verbose=0))
    with pytest.raises(ValueError, match="filepath: could not format"):
        m.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.ModelCheckpoint("{nope}.f")])
    callbacks.ModelCheckpoint("m.fastlstm", save_freq="epoch")  # Keras's default, spelt out
    with pytest.raises(ValueError, match=r"save_freq: expected 'epoch' .* got 100"):
        callbacks.ModelCheckpoint("m.fastlstm", save_freq=100)


def test_terminate_on_nan():
    cb = callbacks.TerminateOnNaN()
    stub = StubModel()
    cb.set_model(stub)
    cb.on_train_batch_end(0, {"loss": 1.0})
    assert not stub.stop_training
    cb.on_train_batch_end(1, {"loss": float("nan")})
    assert stub.stop_training


def test_progbar_lines(capsys):
    bar = callbacks.Progbar(4, verbose=1)
    bar.update(2, {"loss": 0.5})  # not a terminal: nothing until the end
    bar.update(4, {"loss": 0.25, "tiny": 1e-5})
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert out.startswith("4/4 ")
    assert "/step - loss: 0.2500 - tiny: 1.0000e-05" in out
    callbacks.Progbar(4, verbose=2).update(4, {"loss": 1.0})
    assert capsys.readouterr().out.startswith("4/4 - ")


def test_callbacks_must_be_callbacks():
    x, y = data()
    with pytest.raises(TypeError, match=r"callbacks: expected fastlstm\.callbacks\.Callback"):
        model().fit(x, y, verbose=0, callbacks=[print])


def test_on_batch_begin_and_end_are_keras_aliases_of_the_training_batch_hooks():
    """Keras's Callback.on_train_batch_* call on_batch_*; a callback written against those names
    was never called (it meant to stop training: all epochs ran)."""
    x, y = data()

    class StopAtFirstBatch(callbacks.Callback):
        calls = 0

        def on_batch_end(self, batch, logs=None):
            self.calls += 1
            self.model.stop_training = True

    stop = StopAtFirstBatch()
    history = model().fit(x, y, batch_size=4, epochs=3, verbose=0, callbacks=[stop])
    assert stop.calls == 1
    assert len(history.history["loss"]) == 1
    seen = []
    hooks = callbacks.LambdaCallback(on_batch_begin=lambda batch, logs: seen.append(batch))
    model().fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[hooks])
    assert seen == [0, 1, 2]


def test_begin_and_end_hooks_get_a_logs_dict():
    """Keras passes {} where there is nothing to log yet; logs.get(...) failed on None."""
    x, y = data()
    got = {}

    class Record(callbacks.Callback):
        def _keep(self, hook, logs):
            got[hook] = logs

    for hook in ("on_train_begin", "on_test_begin", "on_predict_begin", "on_predict_end"):
        setattr(Record, hook, lambda self, logs=None, _h=hook: self._keep(_h, logs))
    m = model()
    m.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[Record()])
    m.evaluate(x, y, verbose=0, callbacks=[Record()])
    m.predict(x, verbose=0, callbacks=[Record()])
    assert set(got) == {"on_train_begin", "on_test_begin", "on_predict_begin", "on_predict_end"}
    assert all(isinstance(logs, dict) for logs in got.values()), got


def test_checkpoint_of_the_best_without_the_monitored_value_saves_every_epoch(tmp_path):
    """val_loss (the default monitor) without validation data: Keras warns and saves each
    epoch; nothing was written."""
    x, y = data()
    ckpt = callbacks.ModelCheckpoint(str(tmp_path / "m-{epoch}.fastlstm"), save_best_only=True)
    with pytest.warns(RuntimeWarning, match="'val_loss' is not in the logs .* saving this epoch"):
        model().fit(x, y, batch_size=4, epochs=3, verbose=0, callbacks=[ckpt])
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"m-{e}.fastlstm" for e in (1, 2, 3)]


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({"factor": 1.0}, ValueError, r"factor: expected a number in \[0, 1\), got 1.0"),
        ({"factor": "0.5"}, TypeError, r"factor: expected a number in \[0, 1\), got '0.5'"),
        ({"min_lr": -1e-3}, ValueError, "min_lr: expected a finite number >= 0, got -0.001"),
        ({"min_delta": np.nan}, ValueError, "min_delta: expected a finite number, got nan"),
    ],
)
def test_reduce_lr_on_plateau_checks_its_numbers(kwargs, exc, match):
    # A factor given as a str had been read as a number, and min_lr and min_delta not checked.
    with pytest.raises(exc, match=match):
        callbacks.ReduceLROnPlateau(**kwargs)


@pytest.mark.parametrize("path", [None, 123, 1.5, ["ckpt.fastlstm"]])
def test_checkpoint_and_csv_logger_refuse_a_path_that_is_not_one(path):
    # str() of these had been taken as a file name ('None', '123', ...), written in the cwd.
    with pytest.raises(TypeError, match=r"^filepath: expected a str or os.PathLike, got"):
        callbacks.ModelCheckpoint(path)
    with pytest.raises(TypeError, match=r"^filename: expected a str or os.PathLike, got"):
        callbacks.CSVLogger(path)


def test_checkpoint_takes_a_bytes_path_as_save_does(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    x, y = data(4)
    m = model()
    m.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.ModelCheckpoint(b"ckpt.fastlstm")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.fastlstm"]
    np.testing.assert_array_equal(load_model("ckpt.fastlstm").predict(x, verbose=0), m.predict(x))


def test_checkpoint_names_a_format_it_cannot_fill():
    m, x, y = model(), *data(4)
    check = callbacks.ModelCheckpoint("{epoch:999999999999d}.fastlstm")
    with pytest.raises(ValueError, match=r"^filepath: could not format"):
        m.fit(x, y, epochs=1, verbose=0, callbacks=[check])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs os.mkfifo (POSIX)")
def test_csv_logger_refuses_a_fifo_rather_than_wait_for_a_reader(tmp_path):
    fifo = tmp_path / "log.csv"
    os.mkfifo(fifo)
    m, x, y = model(), *data(4)
    for append in (False, True):  # opening it to write would block until a reader came
        with pytest.raises(ValueError, match=r"^filename: .* is not a regular file"):
            m.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.CSVLogger(fifo, append=append)])
    with pytest.raises(ValueError, match=r"^filename: .* is not a regular file"):
        m.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.CSVLogger(tmp_path)])


def test_csv_logger_appending_to_a_file_that_is_not_text_names_it(tmp_path):
    path = tmp_path / "log.csv"
    path.write_bytes(b"\xff\xfe\x00binary")
    m, x, y = model(), *data(4)
    with pytest.raises(ValueError, match=r"^filename: .* is not a UTF-8 text file"):
        m.fit(x, y, epochs=1, verbose=0, callbacks=[callbacks.CSVLogger(path, append=True)])
    assert path.read_bytes() == b"\xff\xfe\x00binary"  # nothing added


def graph_model():
    from fastlstm.layers import Input
    from fastlstm.models import Model

    inputs = Input(shape=(4, 2))
    m = Model(inputs, Dense(1)(LSTM(3)(inputs)))
    m.compile(optimizers.SGD(0.01), "mse", ["mae"])
    return m


@pytest.mark.parametrize("make", [model, graph_model])
def test_compile_from_a_callback_during_fit_is_refused_and_after_it_works(make):
    # The step under way read the metrics compile() had set aside: "'NoneType' object is not
    # iterable" from inside fit.
    class Recompile(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.model.compile(optimizers.SGD(0.1), "mae")

    m, x, y = make(), *data(4)
    with pytest.raises(RuntimeError, match=r"^compile: fit is running on this model"):
        m.fit(x, y, batch_size=2, verbose=0, callbacks=[Recompile()])
    m.compile(optimizers.SGD(0.1), "mae")  # fit has returned (by its error): allowed again
    history = m.fit(x, y, batch_size=2, verbose=0)
    assert list(history.history) == ["loss"]  # the new compile's: no mae metric
