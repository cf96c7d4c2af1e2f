"""Model files at the edges a review found: a save that would write a file no load can read, a
save while another thread trains, copies of models compiled with the caller's metrics, files
that cost too much to read, and paths whose errors named the wrong thing. Each fails without
its fix."""

from __future__ import annotations

import copy
import io
import os
import pickle
import threading
import time
import zipfile

import numpy as np
import pytest

import fastlstm
from conftest import child_output, child_timeout, with_header
from fastlstm import optimizers, saving, schedules
from fastlstm.layers import LSTM, Bidirectional, Dense, Input
from fastlstm.models import Sequential, load_model

INVALID = "is not a valid fastlstm model file"
rng = np.random.default_rng(0)
X = rng.standard_normal((16, 5, 3)).astype(np.float32)
Y = rng.standard_normal((16, 2)).astype(np.float32)


def trained(**compile_args):
    model = Sequential([Input((5, 3)), LSTM(4), Dense(2), Dense(2)], seed=0)
    model.compile("adam", "mse", **compile_args)
    model.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    return model


def mean_error(y_true, y_pred):  # a metric of the caller's code, as a module-level function
    return np.abs(y_true - y_pred).mean(-1)


class LargestError(fastlstm.metrics.Metric):
    """A metric class of the caller's code: the largest absolute error seen."""

    def __init__(self, name="largest_error"):
        super().__init__(name=name)
        self.largest = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.largest = max(self.largest, float(np.abs(y_true - y_pred).max()))

    def result(self):
        return self.largest

    def reset_state(self):
        self.largest = 0.0


@pytest.mark.parametrize("change", ["freeze", "pop", "add"])
def test_a_save_whose_optimizer_state_fits_no_weights_is_refused(tmp_path, change):
    """The file had been written, with the optimizer state of the weights before the change,
    and then no load could read it ("optimizer state: expected 4 slot arrays, got 10")."""
    model = trained()
    path = tmp_path / "m.fastlstm"
    model.save(path)
    before = path.read_bytes()
    {
        "freeze": lambda: setattr(model.layers[0], "trainable", False),
        "pop": model.pop,
        "add": lambda: model.add(Dense(2)),
    }[change]()
    with pytest.raises(ValueError, match=r"include_optimizer: the optimizer's state is for other"):
        model.save(path)
    assert path.read_bytes() == before
    model.save(path, include_optimizer=False)
    loaded = load_model(path)
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    model.compile("adam", "mse")  # compiled again: its state fits, and the file loads
    model.fit(X, Y, epochs=1, verbose=0)
    model.save(path)
    assert load_model(path).optimizer.iterations == model.optimizer.iterations


def test_include_optimizer_must_be_a_bool(tmp_path):
    model = trained()
    for bad in ("False", 0.0, np.array([True])):
        with pytest.raises(TypeError, match="include_optimizer: expected True or False"):
            model.save(tmp_path / "m.fastlstm", include_optimizer=bad)
    assert os.listdir(tmp_path) == []


def test_a_bidirectional_layer_has_one_dtype():
    """A float64 backward half beside a float32 forward one was saved, then refused on load."""
    with pytest.raises(ValueError, match=r"backward_layer: expected dtype=float32 like layer"):
        Bidirectional(LSTM(3), backward_layer=LSTM(3, go_backwards=True, dtype="float64"))


def test_copies_of_a_model_compiled_with_a_metric_function_keep_it():
    """copy.deepcopy and pickle went through the file format, which names such a metric only,
    and failed with advice for load_model."""
    model = trained(metrics=[mean_error, "mae", LargestError()])
    expected = model.evaluate(X, Y, verbose=0)
    for copied in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert copied.evaluate(X, Y, verbose=0) == expected
        assert copied.metrics_names == model.metrics_names
        assert type(copied.metrics[-1]) is LargestError
        assert copied.metrics[-1] is not model.metrics[-1]  # a state of its own
        copied.fit(X, Y, epochs=1, verbose=0)  # its own optimizer state and metrics
    assert model.evaluate(X, Y, verbose=0) == expected


def test_a_save_while_another_thread_trains_holds_one_step():
    """A save from another thread had recorded the optimizer's step count of one step with
    the weights of a later one (7 against 18 seen): a resumed Adam then corrected its
    moments for the wrong step, silently. Here a training step stops halfway through its
    update (the step counted, one weight changed, the rest not yet) while another thread
    saves: the save must wait and hold the weights and optimizer state of the step's end."""
    model = Sequential([Input((5, 3)), LSTM(8), Dense(2)], seed=0)
    model.compile(optimizers.Adam(1e-3), "mse")
    model.build((None, 5, 3))
    reference = copy.deepcopy(model)
    reference.train_on_batch(X, Y)
    apply = model.optimizer.apply
    halfway, saved = threading.Event(), threading.Event()

    def halting_apply(grads, params):
        first = params[0].copy()
        model.optimizer.iterations += 1  # counted, as Adam does first
        params[0] += 1.0  # the first array updated, the others not yet
        halfway.set()
        saved.wait(0.5)  # a save that does not wait records this torn state now
        params[0][...] = first
        model.optimizer.iterations -= 1
        apply(grads, params)

    model.optimizer.apply = halting_apply
    trainer = threading.Thread(target=lambda: model.train_on_batch(X, Y))
    trainer.start()
    assert halfway.wait(child_timeout(30))
    data = saving.model_to_bytes(model)
    saved.set()
    trainer.join(child_timeout(30))
    del model.optimizer.apply
    loaded = saving.model_from_bytes(data)
    assert loaded.optimizer.iterations == reference.optimizer.iterations == 1
    for a, b in zip(loaded.get_weights(), reference.get_weights()):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(loaded.optimizer.get_slot_arrays(), reference.optimizer.get_slot_arrays()):
        np.testing.assert_array_equal(a, b)


def _junk_before(blob: bytes) -> bytes:
    """A model file behind a local-header signature and other bytes: zipfile reads the archive
    at the end all the same."""
    return b"PK\x03\x04" + b"\0" * 60 + blob


def test_bytes_before_the_archive_are_refused(tmp_path):
    model = trained()
    blob = saving.model_to_bytes(model)
    with zipfile.ZipFile(io.BytesIO(_junk_before(blob))) as zf:  # what zipfile makes of it
        assert sorted(zf.namelist()) == sorted([saving.HEADER, saving.BLOB])
    with pytest.raises(ValueError, match=f"{INVALID}: expected a zip archive from its first"):
        saving.model_from_bytes(_junk_before(blob))


def test_a_file_of_many_layers_loads_in_linear_time():
    """Each layer added had scanned the model for its name: 30,000 layers (a 1.3 MB file)
    took a minute to load."""
    config = {"layers": [{"class_name": "Masking", "config": {}}] * 30000}
    model = Sequential.from_config(config)
    model.build((None, 3, 3))
    data = saving.model_to_bytes(model)
    start = time.perf_counter()
    loaded = saving.model_from_bytes(data)
    assert time.perf_counter() - start < child_timeout(5)
    assert len({layer.name for layer in loaded.layers}) == 30000


def test_a_large_file_that_is_no_model_is_refused_before_it_is_read():
    """A model is read whole; a 3 GiB file of another kind had been read whole before its
    first bytes were checked (10 s, or a MemoryError under a memory limit)."""
    code = """
import os, resource, sys, tempfile, fastlstm
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
path = os.path.join(tempfile.mkdtemp(), "big.bin")
with open(path, "wb") as f:
    f.truncate(8 << 30)  # sparse: no disk used
try:
    fastlstm.load_model(path)
except ValueError as exc:
    print(exc)
finally:
    os.unlink(path)
"""
    out = child_output(code, seconds=60)
    assert INVALID in out
    assert "expected a zip archive" in out


def test_a_directory_is_named_by_its_path(tmp_path):
    with pytest.raises(
        IsADirectoryError, match=f"expected a file, got the directory .*{tmp_path.name}"
    ):
        load_model(tmp_path)
    with pytest.raises(IsADirectoryError, match="got the directory"):
        trained().load_weights(tmp_path)


def test_a_read_only_file_is_not_replaced(tmp_path, monkeypatch):
    """The save's rename replaced a file whose mode forbids writing it, where open() would
    have refused. (Root may write any file: the check asks the system, as open() does.)"""
    model = trained()
    path = tmp_path / "m.fastlstm"
    path.write_bytes(b"kept")
    monkeypatch.setattr(saving.os, "access", lambda p, mode: False)
    with pytest.raises(PermissionError, match=r"filepath: .*m.fastlstm' is read-only"):
        model.save(path)
    assert path.read_bytes() == b"kept"


@pytest.mark.parametrize(
    ("error", "errno", "reason"),
    [
        (PermissionError, 13, "Permission denied"),
        (FileNotFoundError, 2, "No such file or directory"),
    ],
)
def test_a_directory_where_no_file_can_be_made_is_named(
    tmp_path, monkeypatch, error, errno, reason
):
    """The error had named the temporary file, .fastlstm-xxxx.tmp, not the path asked for
    (ENOENT: as /proc refuses new files)."""

    def refuse(**kwargs):
        raise error(errno, reason, os.path.join(kwargs["dir"], ".f.tmp"))

    monkeypatch.setattr(saving.tempfile, "mkstemp", refuse)
    with pytest.raises(
        error,
        match=rf"^\[Errno {errno}\] filepath: cannot write a file in the directory of .*m.fastlstm' \({reason}\)$",
    ):
        trained().save(tmp_path / "m.fastlstm")


def test_a_name_too_long_is_named(tmp_path):
    with pytest.raises(
        OSError, match=r"filepath: cannot look at .*xxx.* \(File name too long"
    ) as info:
        trained().save(tmp_path / ("x" * 300 + ".fastlstm"))
    assert info.value.errno == 36


def test_a_write_that_fails_names_the_path_and_keeps_the_old_file():
    """A file size limit (or a full disk) stops the write: the error had been the system's
    about the temporary file; the old file stays whole and no temporary file is left."""
    code = """
import os, resource, signal, tempfile, fastlstm
from fastlstm.layers import Input, LSTM
folder = tempfile.mkdtemp()
path = os.path.join(folder, "m.fastlstm")
fastlstm.Sequential([Input((None, 3)), LSTM(2)]).save(path)
old = open(path, "rb").read()
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (len(old) + 100, len(old) + 100))
try:
    fastlstm.Sequential([Input((None, 3)), LSTM(64)]).save(path)
except OSError as exc:
    print(type(exc).__name__, exc.errno, exc)
print("kept", open(path, "rb").read() == old, sorted(os.listdir(folder)))
"""
    out = child_output(code, seconds=60)
    assert "could not write" in out
    assert "filepath: " in out
    assert "the file there is as it was (File too large)" in out
    assert "OSError 27" in out
    assert "kept True ['m.fastlstm']" in out


def test_a_schedule_that_outgrows_float_is_named():
    """An ExponentialDecay with a rate above 1 raised a bare OverflowError mid-training."""
    optimizer = optimizers.Adam(schedules.ExponentialDecay(1e-3, 10, 1.5))
    optimizer.iterations = 20000
    with pytest.raises(ValueError, match=r"learning_rate: expected the schedule Exponential"):
        _ = optimizer.learning_rate


def test_a_custom_metric_without_a_name_is_refused():
    spec = {"class_name": fastlstm.metrics.CUSTOM, "config": {"name": None}}
    with pytest.raises(ValueError, match="metrics: expected the name of a metric of your code"):
        fastlstm.metrics.deserialize(spec)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (  # had been NumPy's "state must be a dict"
            lambda h: h["training"].update(layer_rng=[[None, None], None, None]),
            "layer 'lstm': expected a random generator's state (a dict) or None, got list",
        ),
        (  # had been "unhashable type: 'list'"
            lambda h: h["model"]["config"]["layers"][0].update(class_name=["LSTM"]),
            "layer: expected a class name in",
        ),
        (  # had loaded, then failed at the first predict
            lambda h: h["model"]["config"]["layers"][0]["config"].update(clip=1e300),
            "clip: expected a bound that float32 holds (the layer's dtype), got 1e+300",
        ),
    ],
)
def test_edited_headers_name_the_field(change, reason):
    model = Sequential([Input((5, 3)), LSTM(4, name="lstm"), Dense(2), Dense(2)], seed=0)
    with pytest.raises(ValueError, match=INVALID) as info:
        saving.model_from_bytes(with_header(saving.model_to_bytes(model), change))
    assert reason in str(info.value)


def test_a_constant_array_larger_than_save_writes_is_refused_when_loaded():
    """save refuses a Constant initialiser holding more than MAX_SAVED_CONSTANT values (its
    config would be as large as the array); a file edited to hold one had loaded all the same."""
    model = Sequential([Input((70,)), Dense(64, name="wide")], seed=0)

    def constant(header):
        config = header["model"]["config"]["layers"][0]["config"]
        config["kernel_initializer"] = {
            "class_name": "Constant",
            "config": {"value": [[0.1] * 64] * 70},
        }

    with pytest.raises(ValueError, match=INVALID) as info:
        saving.model_from_bytes(with_header(saving.model_to_bytes(model), constant))
    assert "layer 'wide': kernel_initializer is a Constant holding an array of shape (70, 64)" in (
        str(info.value)
    )


def test_a_clip_the_dtype_cannot_hold_is_refused_when_the_layer_is_made():
    with pytest.raises(ValueError, match=r"clip: expected a bound that float32 holds"):
        LSTM(3, clip=1e300)
    with pytest.raises(ValueError, match=r"clip: expected a bound that float32 holds"):
        LSTM(3, clip=1e-50)
    assert LSTM(3, clip=1e300, dtype="float64").clip == 1e300


def test_weights_that_do_not_fit_name_their_layer(tmp_path):
    """load_weights and set_weights said "kernel: expected shape (2, 16), got (2, 12)", not
    whose kernel."""
    small = Sequential([Input((5, 3)), LSTM(3, name="encoder"), Dense(2)], seed=0)
    wide = Sequential([Input((5, 3)), LSTM(4, name="encoder"), Dense(2)], seed=0)
    small.save(tmp_path / "small.fastlstm")
    before = wide.get_weights()
    with pytest.raises(ValueError, match=r"^layer 'encoder': kernel: expected shape \(3, 16\)"):
        wide.load_weights(tmp_path / "small.fastlstm")
    for a, b in zip(wide.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def grown_models():
    """Models whose layers multiply their inputs' sizes past saving.MAX_SAMPLE_VALUES a sample:
    one Concatenate of a tensor with itself, called 45 times; two UpSampling1D."""
    from fastlstm import Model, Sequential
    from fastlstm.layers import Concatenate, Dense, Input, UpSampling1D

    x = Input(shape=(4, 2))
    doubled, join = x, Concatenate(axis=1)
    for _ in range(45):
        doubled = join([doubled, doubled])
    stretched = Sequential([Input((4, 2)), UpSampling1D(2**20), UpSampling1D(2**20)])
    return [Model(x, Dense(1)(doubled)), stretched]


def test_a_file_whose_layers_grow_a_sample_past_reason_is_refused(tmp_path, monkeypatch):
    """A file is data: such a model had loaded, and predict on one row then asked for
    terabytes. (save refuses to write one: the files are written with its limit lifted.)"""
    from fastlstm import Sequential, saving
    from fastlstm.layers import Dense, Input, UpSampling1D

    for model in grown_models():
        path = tmp_path / "m.fastlstm"
        with monkeypatch.context() as m:
            m.setattr(saving, "MAX_SAMPLE_VALUES", 1 << 62)
            model.save(path)
        with pytest.raises(ValueError, match=r"would hold [\d,]+ values a sample"):
            load_model(path)
    small = Sequential([Input((4, 2)), UpSampling1D(8), Dense(1)])
    small.save(tmp_path / "small.fastlstm")
    assert load_model(tmp_path / "small.fastlstm").output_shape == (None, 32, 1)


def test_save_refuses_a_model_that_load_model_would_refuse(tmp_path):
    # It had been written without a word, and load_model then called the file invalid.
    from fastlstm import callbacks

    for i, model in enumerate(grown_models()):
        path = tmp_path / f"m{i}.fastlstm"
        with pytest.raises(ValueError, match=r"values a sample .*load_model refuses such a model"):
            model.save(path)
        assert not path.exists()
        check = callbacks.ModelCheckpoint(path)
        check.set_model(model)
        with pytest.raises(ValueError, match=r"load_model refuses such a model"):
            check.on_train_begin()  # before training, not after the first epoch
        model.save_weights(path)  # the weights alone, which load_weights reads into the model
        with pytest.raises(ValueError, match=r"holds a model's weights only"):
            load_model(path)
        model.load_weights(path)
