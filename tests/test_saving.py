"""fastlstm.saving: round trips, exact resumption, pickling, atomic saves, and hostile or
damaged files, which must raise a clear ValueError and never run code."""

from __future__ import annotations

import io
import json
import os
import pickle
import pickletools
import stat
import subprocess
import sys
import threading
import tracemalloc
import zipfile

import numpy as np
import pytest

from fastlstm import losses, optimizers, saving
from fastlstm.layers import LSTM, Dense, Dropout, Embedding
from fastlstm.models import Sequential
from fastlstm.saving import load_model

V, T = 9, 5
INVALID = "is not a valid fastlstm model file"


def data(n=24):
    rng = np.random.default_rng(0)
    x = rng.integers(1, V, (n, T))
    return x, (x.sum(1) % 3).astype(np.int64)


def make_model(seed=0):
    model = Sequential(
        [
            Embedding(V, 4, mask_zero=True),
            LSTM(6, dropout=0.2, return_sequences=True),
            LSTM(5),
            Dropout(0.25),
            Dense(3),
        ],
        seed=seed,
    )
    model.compile(
        optimizers.Adam(0.02), losses.SparseCategoricalCrossentropy(from_logits=True), ["accuracy"]
    )
    return model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A trained model and the bytes of its file."""
    x, y = data()
    model = make_model()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    path = tmp_path_factory.mktemp("m") / "model.fastlstm"
    model.save(path)
    return model, path.read_bytes()


def test_round_trip_keeps_predictions_config_and_compile(saved, tmp_path):
    model, blob = saved
    path = tmp_path / "m.fastlstm"
    path.write_bytes(blob)
    loaded = load_model(path)
    x, _ = data()
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.get_config() == model.get_config()
    assert isinstance(loaded.loss, losses.SparseCategoricalCrossentropy)
    assert loaded.loss.from_logits
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert loaded.optimizer.iterations == model.optimizer.iterations == 3
    assert loaded.metrics_names == ["loss", "accuracy"]
    loaded.save(tmp_path / "again.fastlstm")
    assert (tmp_path / "again.fastlstm").read_bytes() == blob  # the same model, the same bytes


def test_training_resumes_exactly(tmp_path):
    x, y = data()
    straight = make_model(1)
    h = straight.fit(x, y, batch_size=8, epochs=3, verbose=0)
    first = make_model(1)
    first.fit(x, y, batch_size=8, epochs=2, verbose=0)
    first.save(tmp_path / "ckpt.fastlstm")
    resumed = load_model(tmp_path / "ckpt.fastlstm")
    h2 = resumed.fit(x, y, batch_size=8, epochs=3, initial_epoch=2, verbose=0)
    assert h2.history["loss"] == h.history["loss"][2:]  # same shuffle, dropout and Adam state
    for a, b in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_stateful_states_and_uncompiled_models(tmp_path):
    model = Sequential([LSTM(3, stateful=True), Dense(1)], seed=0)
    x = np.random.default_rng(0).standard_normal((2, 4, 2))
    model.predict(x, verbose=0)
    model.save(tmp_path / "s.fastlstm")
    loaded = load_model(tmp_path / "s.fastlstm")
    assert not loaded.compiled
    np.testing.assert_array_equal(loaded.layers[0].states[0], model.layers[0].states[0])
    np.testing.assert_array_equal(loaded(x), model(x))  # continues from the kept state


def test_pickle_goes_through_the_safe_format(saved):
    model, blob = saved
    payload = pickle.dumps(model)
    globals_ = [(op.name, arg) for op, arg, _ in pickletools.genops(payload) if "GLOBAL" in op.name]
    assert globals_ == [("STACK_GLOBAL", None)]  # one import: the safe loader
    assert b"model_from_bytes" in payload
    assert blob in payload
    x, _ = data()
    np.testing.assert_array_equal(pickle.loads(payload)(x), model(x))


def test_save_and_load_weights(saved, tmp_path):
    model, _ = saved
    model.save_weights(tmp_path / "w.fastlstm")
    other = make_model(5)
    other.build((None, T))
    other.load_weights(tmp_path / "w.fastlstm")
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="do not match this model's"):
        Sequential([Dense(2)]).load_weights(tmp_path / "w.fastlstm")


def test_load_weights_that_do_not_fit_leave_an_unbuilt_model_unbuilt(saved, tmp_path):
    model, _ = saved
    model.save_weights(tmp_path / "w.fastlstm")
    narrower = Sequential(
        [Embedding(V, 4), LSTM(6, return_sequences=True), LSTM(4), Dropout(0.25), Dense(3)]
    )
    with pytest.raises(ValueError, match=r"kernel: expected shape \(6, 16\), got \(6, 20\)"):
        narrower.load_weights(tmp_path / "w.fastlstm")
    assert not narrower.built
    assert narrower.get_weights() == []


def test_load_weights_into_a_model_with_a_callable_initialiser(saved, tmp_path):
    """Such a model has no config to try the weights on a copy of; it still loads them."""
    model, _ = saved
    model.save_weights(tmp_path / "w.fastlstm")

    def zeros(shape, dtype, rng):
        return np.zeros(shape, dtype)

    other = make_model(1)
    other.layers[1].kernel_initializer = zeros
    other.load_weights(tmp_path / "w.fastlstm")
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_load_weights_ignores_the_compile_section(tmp_path):
    """A file compiled with the caller's own metric loads its weights without custom_objects:
    only load_model needs the metric back."""

    def my_metric(y_true, y_pred):
        return np.abs(y_true - y_pred).mean(axis=-1)

    model = Sequential([LSTM(3), Dense(1)], seed=0)
    model.compile("adam", "mse", metrics=[my_metric])
    model.build((None, 4, 2))
    model.save(tmp_path / "m.fastlstm")
    other = Sequential([LSTM(3), Dense(1)], seed=1)
    other.load_weights(tmp_path / "m.fastlstm")
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_crash_mid_save_keeps_the_old_file(saved, tmp_path, monkeypatch):
    _, blob = saved
    path = tmp_path / "model.fastlstm"
    path.write_bytes(blob)

    def crash(f, data):
        f.write(data[: len(data) // 2])
        raise OSError("disk full")

    monkeypatch.setattr(saving, "_write_bytes", crash)
    with pytest.raises(OSError, match="disk full"):
        make_model(3).save(path)
    assert path.read_bytes() == blob
    assert os.listdir(tmp_path) == ["model.fastlstm"]  # no temporary file left behind


def test_unsaveable_models_leave_the_file_alone(saved, tmp_path):
    _, blob = saved
    path = tmp_path / "model.fastlstm"
    path.write_bytes(blob)

    class MyLoss(losses.MeanSquaredError):
        pass

    custom = Sequential([Dense(1)], seed=0)
    custom.compile("sgd", MyLoss())
    custom.build((None, 2))
    with pytest.raises(ValueError, match="only fastlstm's own losses can be saved"):
        custom.save(path)
    assert path.read_bytes() == blob

    class MyDense(Dense):
        pass

    custom = Sequential([MyDense(1)], seed=0)
    custom.build((None, 2))
    with pytest.raises(ValueError, match="only fastlstm's own layer classes can be saved"):
        custom.save(path)
    assert path.read_bytes() == blob


# -- damaged and hostile files ----------------------------------------------------------------


def rewrite(blob: bytes, change=None, arrays: bytes | None = None, extra=None, method=None):
    """The file with its header changed by ``change(header)``, its arrays replaced, an extra
    member, or a compression method."""
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        header = json.loads(zf.read(saving.HEADER))
        data = zf.read(saving.BLOB)
    if change is not None:
        change(header)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method or zipfile.ZIP_STORED) as zf:
        zf.writestr(saving.HEADER, json.dumps(header))
        zf.writestr(saving.BLOB, data if arrays is None else arrays)
        if extra:
            zf.writestr(*extra)
    return out.getvalue()


def layer_class(name):
    def change(h):
        h["model"]["config"]["layers"][0]["class_name"] = name

    return change


def set_entry(index, **values):
    def change(h):
        h["arrays"][index].update(values)

    return change


HOSTILE = {
    "unknown_layer_class": lambda b: rewrite(b, layer_class("subprocess.Popen")),
    "builtin_class_name": lambda b: rewrite(b, layer_class("__import__")),
    "unknown_layer_argument": lambda b: rewrite(
        b, lambda h: h["model"]["config"]["layers"][1]["config"].update(command="rm -rf /")
    ),
    "unknown_optimizer": lambda b: rewrite(
        b, lambda h: h["compile"]["optimizer"].update(class_name="Evil")
    ),
    "unknown_loss": lambda b: rewrite(b, lambda h: h["compile"]["loss"].update(class_name="os")),
    "unknown_compile_key": lambda b: rewrite(b, lambda h: h["compile"].update(run="import os")),
    "per_output_losses_in_a_sequential": lambda b: rewrite(
        b, lambda h: h["compile"].update(loss_weights=[1.0])
    ),
    "wrong_shape_same_bytes": lambda b: rewrite(b, set_entry(1, shape=[4 * 6, 4])),
    "shape_disagrees_with_nbytes": lambda b: rewrite(b, set_entry(1, shape=[5, 24])),
    "huge_declared_shape": lambda b: rewrite(b, set_entry(0, shape=[2**39, 2**39], nbytes=2**60)),
    "huge_offset": lambda b: rewrite(b, set_entry(0, offset=2**61)),
    "negative_offset": lambda b: rewrite(b, set_entry(0, offset=-64)),
    "overlapping_arrays": lambda b: rewrite(b, set_entry(1, offset=0)),
    "object_dtype": lambda b: rewrite(b, set_entry(0, dtype="|O")),
    "big_endian_int": lambda b: rewrite(b, set_entry(0, dtype=">i8")),
    "missing_array": lambda b: rewrite(b, lambda h: h["arrays"].pop(2)),
    "huge_layer_size": lambda b: rewrite(
        b, lambda h: h["model"]["config"]["layers"][1]["config"].update(units=10**9)
    ),
    "bad_rng_state": lambda b: rewrite(
        b, lambda h: h["training"].update(shuffle_rng={"bit_generator": "MT19937"})
    ),
    "wrong_format": lambda b: rewrite(b, lambda h: h.update(format="keras")),
    "newer_version": lambda b: rewrite(b, lambda h: h.update(version=99)),
    "truncated_arrays": lambda b: rewrite(b, arrays=b"\0" * 100),
    "extra_member": lambda b: rewrite(b, extra=("payload.pkl", b"x")),
    "compressed_members": lambda b: rewrite(b, method=zipfile.ZIP_DEFLATED),
    "not_json": lambda b: _replace_member(b, b"{not json"),
    "nan_in_json": lambda b: _replace_member(b, b'{"format": NaN}'),
    "deep_json": lambda b: _replace_member(b, b"[" * 100000 + b"]" * 100000),
    "empty_file": lambda b: b"",
    "npy_file": lambda b: _npy(),
}


def _replace_member(blob: bytes, header: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(saving.HEADER, header)
        zf.writestr(saving.BLOB, b"")
    return out.getvalue()


def _edit_header(blob: bytes, old: str, new: str) -> bytes:
    """The file with text ``old`` of its JSON header replaced by ``new`` (once, and it must be
    there), for values json.dumps cannot write."""
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        text, data = zf.read(saving.HEADER).decode(), zf.read(saving.BLOB)
    assert text.count(old) == 1, old
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr(saving.HEADER, text.replace(old, new))
        zf.writestr(saving.BLOB, data)
    return out.getvalue()


def _npy() -> bytes:
    out = io.BytesIO()
    np.save(out, np.zeros(3))
    return out.getvalue()


# 1e999 is no NaN/Infinity token but parses to inf; a header beyond MAX_HEADER is refused unread.
REASONS = {
    "overflowing_number": (
        lambda b: _edit_header(b, '"learning_rate": 0.02', '"learning_rate": 1e999'),
        "the number 1e999 is out of float range",
    ),
    "negative_overflow": (
        lambda b: _edit_header(b, '"learning_rate": 0.02', '"learning_rate": -1E400'),
        "the number -1E400 is out of float range",
    ),
    "header_over_the_limit": (
        lambda b: _replace_member(b, b'{"pad": "' + b"x" * saving.MAX_HEADER + b'"}'),
        f"is larger than {saving.MAX_HEADER} bytes",
    ),
    # 1.0 == 1 and True == 1 in Python
    "float_version": (lambda b: rewrite(b, lambda h: h.update(version=1.0)), "version 1.0"),
    "bool_version": (lambda b: rewrite(b, lambda h: h.update(version=True)), "version True"),
    "unknown_top_level_key": (
        lambda b: rewrite(b, lambda h: h.update(payload="x")),
        "unexpected keys ['payload']",
    ),
    # zipfile reads an archive after other bytes: a file of another format with a model inside
    "bytes_before_the_archive": (
        lambda b: b"GIF89a" + b,
        "expected a zip archive from its first byte to its last",
    ),
    "bytes_after_the_archive": (lambda b: b + b"\0" * 16, "from its first byte to its last"),
    "escape_sequence_in_a_name": (
        lambda b: rewrite(
            b, lambda h: h["model"]["config"]["layers"][1]["config"].update(name="\x1b[2Jx")
        ),
        "name: expected printable characters, got '\\x1b'",
    ),
}


@pytest.mark.parametrize("name", list(REASONS))
def test_hostile_files_name_the_reason(saved, name):
    make, reason = REASONS[name]
    with pytest.raises(ValueError, match=INVALID) as info:
        saving.model_from_bytes(make(saved[1]))
    assert reason in str(info.value)


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_files_raise_value_error(saved, tmp_path, name):
    _, blob = saved
    path = tmp_path / "bad.fastlstm"
    path.write_bytes(HOSTILE[name](blob))
    with pytest.raises(ValueError, match=INVALID):
        load_model(path)


def test_a_pickle_renamed_is_rejected_without_running_it(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    path = tmp_path / "model.fastlstm"
    path.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(ValueError, match=INVALID):
        load_model(path)
    assert not marker.exists()
    with pytest.raises(ValueError, match=INVALID):
        saving.model_from_bytes(pickle.dumps(Exploit()))
    assert not marker.exists()


def test_every_truncation_is_rejected(saved):
    _, blob = saved
    for n in [*range(0, len(blob), max(1, len(blob) // 150)), len(blob) - 1]:
        with pytest.raises(ValueError, match=INVALID):
            saving.model_from_bytes(blob[:n])


def test_flipped_bytes_are_rejected_or_harmless(saved):
    model, blob = saved
    x, _ = data(4)
    expected = model(x)
    rng = np.random.default_rng(0)
    rejected = 0
    positions = rng.choice(len(blob), size=150, replace=False)
    for pos in positions:
        damaged = bytearray(blob)
        damaged[pos] ^= 1 << int(rng.integers(8))
        try:
            loaded = saving.model_from_bytes(bytes(damaged))
        except ValueError as exc:
            message = str(exc)
            rejected += 1
        else:  # a flip in a field zip does not check (a timestamp): the model is intact
            np.testing.assert_array_equal(loaded(x), expected)
            continue
        assert INVALID in message
    assert rejected > 0.9 * len(positions)  # the CRC-32 catches data flips


def test_missing_file_is_a_file_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "nope.fastlstm")
    with pytest.raises(TypeError, match="data: expected bytes"):
        saving.model_from_bytes("a string")


# -- what lies at the path ---------------------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_neither_replaced_nor_read(saved, tmp_path):
    model, _ = saved
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="exists and is not a regular file"):
        model.save(fifo)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    outcome = []

    def load():  # a blocking open would wait here for a writer that never comes
        try:
            load_model(fifo)
        except ValueError as exc:
            outcome.append(str(exc))

    reader = threading.Thread(target=load, daemon=True)
    reader.start()
    reader.join(30)
    assert outcome, "load_model blocked on the FIFO"
    assert "is not a regular file" in outcome[0]


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="making a device node needs root"
)
def test_a_device_is_not_replaced(saved, tmp_path):
    model, _ = saved
    null = tmp_path / "null"  # the same device as /dev/null, made here so that no test risks it
    os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    with pytest.raises(ValueError, match="exists and is not a regular file"):
        model.save(null)
    assert stat.S_ISCHR(os.stat(null).st_mode)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_an_endless_device_is_refused_before_reading():
    # In a child limited to 2 GB of address space: read whole, /dev/zero would take it all.
    code = (
        "import resource, fastlstm\n"
        "resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))\n"
        "try:\n"
        "    fastlstm.load_model('/dev/zero')\n"
        "except ValueError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert "'/dev/zero' is not a regular file" in out.stdout, out.stdout + out.stderr


def test_saving_over_a_file_keeps_its_mode(saved, tmp_path):
    model, blob = saved
    path = tmp_path / "model.fastlstm"
    path.write_bytes(blob)
    for mode in (0o600, 0o640):
        os.chmod(path, mode)
        model.save(path)
        assert stat.S_IMODE(os.stat(path).st_mode) == mode
    assert os.listdir(tmp_path) == ["model.fastlstm"]


def test_a_long_file_name_saves(saved, tmp_path):
    model, _ = saved
    path = tmp_path / ("m" * 240 + ".fastlstm")  # 249 characters: within the usual 255
    model.save(path)
    assert saving.model_from_bytes(path.read_bytes()).get_config() == model.get_config()


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_a_loop_of_links_is_refused(saved, tmp_path):
    model, _ = saved
    a, b = tmp_path / "a", tmp_path / "b"
    os.symlink(b, a)
    os.symlink(a, b)
    with pytest.raises(ValueError, match="loop of symbolic links"):
        model.save(a)
    assert os.readlink(a) == str(b)
    assert os.readlink(b) == str(a)


def test_weights_of_another_dtype_are_refused_not_cast(tmp_path):
    """float64 arrays for a float32 layer were cast on load: 1e300 became inf."""
    model = Sequential([LSTM(3, dtype="float64"), Dense(1, dtype="float64")], seed=0)
    model.build((None, 4, 2))
    weights = model.get_weights()
    weights[0][0, 0] = 1e300
    model.set_weights(weights)
    path = tmp_path / "m.fastlstm"
    model.save(path)

    def as_float32(h):
        for layer in h["model"]["config"]["layers"]:
            layer["config"]["dtype"] = "float32"

    with pytest.raises(ValueError, match=INVALID) as info:
        saving.model_from_bytes(rewrite(path.read_bytes(), as_float32))
    assert "is float64, the layer's dtype float32" in str(info.value)


def test_a_path_ending_in_a_separator_is_a_directory(saved, tmp_path):
    model, _ = saved
    with pytest.raises(IsADirectoryError, match="expected a file path, got the directory"):
        model.save(str(tmp_path / "model.fastlstm") + "/")
    assert os.listdir(tmp_path) == []


def test_loading_holds_the_weights_about_twice_at_most(tmp_path):
    """The file's bytes and the layers' weights; zipfile's read and a native copy of every
    array made it 3.5 times a 151 MB file."""
    path = tmp_path / "big.fastlstm"
    model = Sequential([LSTM(512)], seed=0)
    model.build((None, 3, 256))
    model.save(path)
    size = os.path.getsize(path)
    tracemalloc.start()  # NumPy's buffers are traced too
    try:
        load_model(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2.3 * size, (peak, size)
