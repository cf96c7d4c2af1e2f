"""Bad input at the edges an adversarial review found: sizes no process can hold, a clip that
float32 cannot hold, complex and unconvertible arrays in the layers, a merged dy of the wrong
shape, weights the converters were handed unchecked, and awkward paths to save to. Each case
names the argument; each working case is compared with the plain call."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import fastlstm
from conftest import child_output, child_timeout, import_peer
from fastlstm import callbacks, convert, stacked
from fastlstm.layers import LSTM, Dense, Dropout, Input, Masking, TimeDistributed
from fastlstm.models import Sequential, load_model


def test_outputs_no_process_can_hold_raise_memory_error_before_any_allocation():
    """A zero-byte x of 2^30 x 2^30 rows: the default zero states alone took 16 GiB each, and
    the out-of-memory killer ended the process; y's size wrapped round in size_t."""
    code = """
import resource, numpy as np, fastlstm
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
x = np.empty((2**30, 2**30, 0), np.float32)
for H in (4, 16):
    try:
        fastlstm.lstm(x, np.zeros((0, 4 * H), np.float32), np.zeros((H, 4 * H), np.float32),
                      np.zeros(4 * H, np.float32))
    except MemoryError as exc:
        print("MemoryError", exc)
"""
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=child_timeout(60),
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    assert all(
        line.startswith("MemoryError y: cannot allocate an array of shape (") for line in lines
    )


def test_weights_no_process_can_hold_name_their_layer():
    """NumPy's MemoryError named only an array's shape ("(2, 4000000000) and data type
    float64"), not the layer whose units or input size asked for it."""
    code = """
import resource, numpy as np, fastlstm
from fastlstm.layers import LSTM, Dense, Embedding, Input
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
for make in (
    lambda: fastlstm.Sequential([Input((3, 2)), LSTM(10**6, name="huge")]),
    lambda: fastlstm.Sequential([Input((3, 2)), Dense(10**12, name="huge")]),
    lambda: Embedding(10**13, 8, name="huge")(np.zeros((1, 3))),
):
    try:
        make()
    except MemoryError as exc:
        print(exc)
"""
    lines = child_output(code, seconds=60).splitlines()
    assert len(lines) == 3
    for line, kind, shape in zip(
        lines, ("LSTM", "Dense", "Embedding"), ("(None, 3, 2)",) * 2 + ("(None, 3)",)
    ):
        assert line.startswith(
            f"layer 'huge' ({kind}): its weights for inputs of shape {shape} do not fit in memory"
        ), line


@pytest.mark.parametrize("clip", [1e-50, 1e300])
def test_a_clip_float32_cannot_hold_is_refused(clip):
    """1e-50 became 0 in float32, which means no clip: the call ran unclipped without a word."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    w = [rng.standard_normal(s).astype(np.float32) for s in ((4, 20), (5, 20), (20,))]
    with pytest.raises(ValueError, match=r"clip: expected a bound that float32 holds"):
        fastlstm.lstm(x, *w, clip=clip)
    with pytest.raises(ValueError, match=r"clip: expected a bound that float32 holds"):
        fastlstm.LSTMStream(*w, clip=clip)
    y64 = fastlstm.lstm(x.astype(np.float64), *(a.astype(np.float64) for a in w), clip=clip)[0]
    if clip < 1:  # float64 holds it: everything is clipped to within it
        assert np.abs(y64).max() <= clip


@pytest.mark.parametrize(
    "layer",
    [
        lambda: Dense(2, seed=0),
        lambda: TimeDistributed(Dense(2, seed=0)),
        lambda: LSTM(2, dropout=0.5, seed=0),
        lambda: Masking(),
        lambda: Dropout(0.5, seed=0),
    ],
)
def test_layers_refuse_complex_and_object_inputs(layer):
    """Complex input lost its imaginary part with only a ComplexWarning."""
    x = np.ones((2, 3, 4)) * (1 + 5j)
    with pytest.raises(TypeError, match=r"x: expected an array of real numbers, got dtype complex"):
        layer()(x, training=True)
    with pytest.raises(TypeError, match=r"x: expected an array of real numbers, got dtype"):
        layer()(np.full((2, 3, 4), "a"), training=True)


def test_layers_name_a_torch_tensor_that_requires_grad():
    torch = import_peer("torch")
    x = torch.ones(2, 3, 4, requires_grad=True)
    for layer in (Dense(2, seed=0), LSTM(2, dropout=0.5, seed=0), Masking()):
        with pytest.raises(TypeError, match=r"x: .*requires grad \(pass \.detach\(\)\)"):
            layer(x, training=True)
    np.testing.assert_array_equal(
        Dense(2, seed=0)(x.detach()), Dense(2, seed=0)(np.ones((2, 3, 4)))
    )


def test_a_model_names_a_torch_tensor_it_cannot_take_and_ragged_lists():
    torch = import_peer("torch")
    model = Sequential([Input((3, 4)), LSTM(2, seed=0)])
    model.compile("sgd", "mse")
    x = torch.ones(2, 3, 4, requires_grad=True)
    with pytest.raises(TypeError, match=r"^x: .*requires grad \(pass \.detach\(\)\)"):
        model.predict(x, verbose=0)
    with pytest.raises(TypeError, match=r"^y: .*requires grad"):
        model.fit(np.ones((2, 3, 4)), torch.ones(2, 2, requires_grad=True), verbose=0)
    with pytest.raises(TypeError, match=r"^x: expected an array, got Tensor \(.*BFloat16"):
        model.predict(torch.ones(2, 3, 4, dtype=torch.bfloat16), verbose=0)
    np.testing.assert_array_equal(
        model.predict(x.detach(), verbose=0), model.predict(np.ones((2, 3, 4)), verbose=0)
    )
    ragged = [[[1.0] * 4] * 3, [[1.0] * 4] * 2]
    with pytest.raises(ValueError, match=r"^x: .*inhomogeneous.*utils\.pad_sequences makes them"):
        model.predict(ragged, verbose=0)


@pytest.mark.parametrize("merge_mode", ["mul", "sum", "ave", "concat"])
def test_a_merged_dy_must_have_ys_shape(merge_mode):
    """With "mul", a scalar or (H,) dy was broadcast and used."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 4))
    weights = [tuple(rng.standard_normal(s) for s in ((4, 20), (5, 20), (20,))) for _ in range(2)]
    y, _, cache = stacked.rnn_forward(x, weights, bidirectional=True, merge_mode=merge_mode)
    for bad in (np.float64(1.0), np.ones(5), np.ones((2, 1, y.shape[-1])), [1.0, 2.0]):
        with pytest.raises(
            ValueError,
            match=rf"dy: expected shape {y.shape}".replace("(", r"\(").replace(")", r"\)"),
        ):
            stacked.rnn_backward(cache, bad)
    grads = stacked.rnn_backward(cache, np.ones_like(y))
    assert grads.x.shape == x.shape


@pytest.mark.parametrize(
    ("convert_fn", "args", "match"),
    [
        (
            convert.to_torch,
            ((3, 16), (5, 20), (8,)),
            r"recurrent_kernel: expected a 2-D array \(4, 16\) to match kernel, got shape \(5, 20\)$",
        ),
        (convert.to_torch, ((16,), (4, 16), (16,)), r"kernel: expected a 2-D array \(I, 4\*H\)"),
        (convert.to_onnx, ((3, 15), (4, 15), (15,)), r"kernel: expected a 2-D array \(I, 4\*H\)"),
        (convert.to_onnx, ((3, 16), (4, 16), (8,)), r"bias: expected shape \(16,\)"),
        (
            convert.rnn_to_torch,
            ((3, 4), (4, 5), (4,)),
            r"recurrent_kernel: expected a 2-D array \(4, 4\) to match kernel, got",
        ),
        (convert.rnn_to_onnx, ((3, 4), (4, 4), (5,)), r"bias: expected shape \(4,\)"),
        (convert.from_torch, ((16, 3), (16, 5)), r"weight_hh: expected a 2-D array \(16, 4\)"),
        (convert.from_torch, ((15, 3), (15, 3)), r"weight_ih: expected a 2-D array \(4\*H, I\)"),
        (
            convert.gru_to_onnx,
            ((3, 6), (3, 6), (2, 6)),
            r"recurrent_kernel: expected a 2-D array \(2, 6\) to match kernel, got",
        ),
        (convert.peephole_to_onnx, ((2, 6),), r"peephole: expected a 1-D array \(3H,\)"),
        (convert.projection_from_torch, ((6,),), r"weight_hr: expected a 2-D array \(P, H\)"),
    ],
)
def test_converters_check_what_they_are_given(convert_fn, args, match):
    with pytest.raises(ValueError, match=match):
        convert_fn(*(np.zeros(s) for s in args))


def test_converters_refuse_complex_weights_and_odd_flags():
    k, r, b = np.zeros((3, 16)), np.zeros((4, 16)), np.zeros(16)
    with pytest.raises(TypeError, match="kernel: expected an array of real numbers"):
        convert.to_torch(k.astype(complex), r, b)
    with pytest.raises(TypeError, match="W: expected an array of real numbers"):
        convert.from_onnx(np.zeros((1, 16, 3), object), np.zeros((1, 16, 4)))
    for flag in (2, "yes", 0.5):
        with pytest.raises(ValueError, match="linear_before_reset: expected 0 or 1"):
            convert.gru_from_onnx(
                np.zeros((1, 6, 3)), np.zeros((1, 6, 2)), linear_before_reset=flag
            )
    w_ih, w_hh, b_ih, b_hh = convert.to_torch(k + 1, r + 2, b + 3)  # a round trip still works
    for a, e in zip(convert.from_torch(w_ih, w_hh, b_ih, b_hh), (k + 1, r + 2, b + 3)):
        np.testing.assert_array_equal(a, e)


def small_model():
    m = Sequential([Input((3, 2)), LSTM(4), Dense(1)], seed=0)
    m.compile("sgd", "mse")
    return m


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_saving_through_a_symbolic_link_writes_its_target(tmp_path):
    """The link was replaced by a regular file and its target left as it was."""
    m = small_model()
    target = tmp_path / "models" / "current.fastlstm"
    target.parent.mkdir()
    target.write_bytes(b"old")
    link = tmp_path / "link.fastlstm"
    link.symlink_to(target)
    m.save(link)
    assert link.is_symlink()
    x = np.ones((2, 3, 2), np.float32)
    np.testing.assert_array_equal(load_model(target).predict(x, verbose=0), m.predict(x, verbose=0))
    assert sorted(p.name for p in target.parent.iterdir()) == ["current.fastlstm"]


def test_saving_to_odd_paths_names_filepath(tmp_path):
    m = small_model()
    with pytest.raises(ValueError, match="filepath: expected a file path, got ''"):
        m.save("")
    with pytest.raises(
        IsADirectoryError, match="filepath: expected a file path, got the directory"
    ):
        m.save(tmp_path)
    with pytest.raises(TypeError, match=r"filepath: expected a str or os\.PathLike, got int"):
        m.save(3)
    # had been the system's "embedded null byte", naming no argument
    nul = r"filepath: expected a path without NUL characters, got "
    with pytest.raises(ValueError, match=nul + r"'a\\x00b.fastlstm'"):
        m.save("a\x00b.fastlstm")
    with pytest.raises(ValueError, match=nul + r"b'a\\x00b'"):
        load_model(b"a\x00b")
    with pytest.raises(ValueError, match=nul):
        m.save_weights(tmp_path / "a\x00b")
    with pytest.raises(ValueError, match=nul):
        m.load_weights("a\x00b")
    with pytest.raises(ValueError, match=r"^filename: expected a path without NUL"):
        callbacks.CSVLogger("log\x00.csv")
    m.save(os.fsencode(tmp_path / "bytes.fastlstm"))  # bytes paths work, as open() takes them
    assert (tmp_path / "bytes.fastlstm").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bytes.fastlstm"]


def test_a_checkpoint_path_that_does_not_format_names_filepath(tmp_path):
    m = small_model()
    cb = callbacks.ModelCheckpoint(str(tmp_path / "c_{loss.__class__.__init__.__globals__}"))
    x, y = np.ones((4, 3, 2), np.float32), np.ones((4, 1), np.float32)
    with pytest.raises(ValueError, match="filepath: could not format"):
        m.fit(x, y, verbose=0, callbacks=[cb])


def test_a_model_file_whose_layers_cannot_chain_is_refused_at_load():
    """A file edited so that an LSTM without return_sequences feeds a Bidirectional loaded, then
    failed at predict with a message that named no layer."""
    import io
    import json
    import zipfile

    from fastlstm import saving
    from fastlstm.layers import Bidirectional

    m = Sequential([Input((5, 3)), LSTM(4, return_sequences=True), Bidirectional(LSTM(2))], seed=0)
    data = zipfile.ZipFile(io.BytesIO(saving.model_to_bytes(m)))
    header = json.loads(data.read(saving.HEADER))
    header["model"]["config"]["layers"][0]["config"]["return_sequences"] = False
    edited = io.BytesIO()
    with zipfile.ZipFile(edited, "w") as z:
        z.writestr(saving.HEADER, json.dumps(header))
        z.writestr(saving.BLOB, data.read(saving.BLOB))
    with pytest.raises(ValueError, match=r"expected an input shape \(batch, time, input\)"):
        saving.model_from_bytes(edited.getvalue())
    with pytest.raises(ValueError, match=r"expected an input shape \(batch, time, input\)"):
        Sequential([Input((5, 3)), TimeDistributed(LSTM(4))])


def test_a_models_layer_errors_name_the_layer():
    from fastlstm.layers import Layer

    class Picky(Layer):
        def forward(self, x, training=False, mask=None):
            raise ValueError("x: expected something else")

    m = Sequential([Input((5, 3)), LSTM(4), Picky(name="picky")], seed=0)
    x = np.zeros((2, 5, 3), np.float32)
    for run in (lambda: m.predict(x, verbose=0), lambda: m(x)):
        with pytest.raises(ValueError, match=r"^layer 'picky' \(Picky\): x: expected something"):
            run()


def test_stacked_dropout_names_a_bad_seed():
    x = np.zeros((2, 3, 4))
    weights = [(np.zeros((4, 8)), np.zeros((2, 8)), np.zeros(8))] * 2
    with pytest.raises(ValueError, match="seed: expected a non-negative integer or None, got -1"):
        stacked.rnn(x, weights, num_layers=2, dropout=0.5, training=True, seed=-1)
    for bad in (1.5, "1", True):  # not an int: a TypeError
        with pytest.raises(TypeError, match="seed: expected a non-negative integer or None, got"):
            stacked.rnn(x, weights, num_layers=2, dropout=0.5, training=True, seed=bad)
