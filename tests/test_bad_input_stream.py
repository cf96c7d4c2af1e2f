"""Bad input to LSTMStream: weights, batch_size, initial state, step and run inputs, out= and
state.
A rejected call changes nothing; working cases equal the same call on clean input or lstm.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from badinput import (
    WEIGHTS,
    B,
    G,
    H,
    I,
    T,
    assert_same,
    bad_kinds,
    call,
    raises,
    shape_of,
    strided,
    weights,
)
from conftest import make_problem
from fastlstm import LSTMStream, lstm


@pytest.fixture
def p():
    return make_problem(B, T, I, H)


def test_nan_in_stream_stays_in_its_row_and_reset_clears_it(p):
    stream, clean = (LSTMStream(*(p[n] for n in WEIGHTS), batch_size=B) for _ in range(2))
    x_t = p["x"][:, 0].copy()
    x_t[0, 1] = np.nan
    h = stream.step(x_t)
    want = clean.step(p["x"][:, 0])
    assert np.isnan(h[0]).all()
    assert np.isnan(stream.state[1][0]).all()
    assert_same(h[1:], want[1:])
    stream.reset()
    clean.reset()
    assert_same(stream.step(p["x"][:, 1]), clean.step(p["x"][:, 1]))


@pytest.mark.parametrize(
    ("arg", "value", "name", "expected", "got"),
    [
        ("kernel", np.zeros(I * G), "kernel", "2-D array (input, 4*hidden)", shape_of(I * G)),
        ("kernel", np.zeros((1, I, G)), "kernel", "2-D array", shape_of(1, I, G)),
        ("kernel", np.array(1.0), "kernel", "2-D array", "()"),
        ("recurrent_kernel", np.zeros(H * G), "recurrent_kernel", "2-D array", shape_of(H * G)),
        ("recurrent_kernel", np.array(1.0), "recurrent_kernel", "2-D array", "()"),
        (
            "recurrent_kernel",
            np.zeros((H, G + 1)),
            "recurrent_kernel",
            shape_of(H, G),
            shape_of(H, G + 1),
        ),
        (
            "recurrent_kernel",
            np.zeros((H + 1, G + 4)),
            "kernel",
            shape_of(I, G + 4),
            shape_of(I, G),
        ),
        ("kernel", np.zeros((I, G - 4)), "kernel", shape_of(I, G), shape_of(I, G - 4)),
        ("bias", np.zeros((1, G)), "bias", shape_of(G), shape_of(1, G)),
        ("bias", np.zeros(G - 1), "bias", shape_of(G), shape_of(G - 1)),
    ],
)
def test_stream_weights_of_the_wrong_shape(p, arg, value, name, expected, got):
    with raises(ValueError, name, expected, got):
        LSTMStream(*weights(p, **{arg: value}), batch_size=2)


@pytest.mark.parametrize("arg", WEIGHTS)
@pytest.mark.parametrize("kind", [0, 1, 2], ids=["complex", "object", "str"])
def test_stream_weights_complex_object_string(p, arg, kind):
    bad, dtype = bad_kinds(p[arg])[kind]
    with raises(TypeError, arg, "array of real numbers", f"dtype {dtype}"):
        LSTMStream(*weights(p, **{arg: bad}))


@pytest.mark.parametrize(
    ("batch_size", "exc", "got"),
    [
        (0, ValueError, "0"),
        (-2, ValueError, "-2"),
        (2.0, TypeError, "2.0"),
        ("2", TypeError, "'2'"),
        (True, TypeError, "True"),
        (None, None, None),
    ],
)
def test_stream_batch_size(p, batch_size, exc, got):
    if exc is None:  # None: the default, 1
        assert LSTMStream(*weights(p), batch_size=batch_size).batch_size == 1
        return
    with raises(exc, "batch_size", "a positive integer", got):
        LSTMStream(*weights(p), batch_size=batch_size)


def test_stream_batch_size_too_large_to_allocate(p):
    with pytest.raises((ValueError, MemoryError, OverflowError), match="batch_size"):
        LSTMStream(*weights(p), batch_size=2**62)


def test_stream_batch_beyond_the_machines_memory_is_refused_before_allocating():
    """batch_size=10**9 of a small stream (45 GiB) passed the allocator (Linux lets a process
    ask for more than the machine has) and the out-of-memory killer ended the process while
    its buffers were zeroed. 2**31 - 1 rows of I=64, H=256 need 16 TiB."""
    w = (np.zeros((64, 1024), np.float32), np.zeros((256, 1024), np.float32), np.zeros(1024))
    with pytest.raises(
        ValueError,
        match=r"^batch_size: 2147483647 streams (need more than this machine's memory|do not fit)",
    ):
        LSTMStream(*w, batch_size=2**31 - 1)


@pytest.mark.parametrize(
    ("state", "batch_size", "name", "expected", "got"),
    [
        (lambda p: (p["h0"], p["c0"]), 2, "initial_state[0]", shape_of(2, H), shape_of(B, H)),
        (
            lambda p: (p["h0"], p["c0"][:, :-1]),
            None,
            "initial_state[1]",
            shape_of(B, H),
            shape_of(B, H - 1),
        ),
        (
            lambda p: (p["h0"][:1], p["c0"]),
            None,
            "initial_state[1]",
            shape_of(1, H),
            shape_of(B, H),
        ),
        (lambda p: (p["h0"], p["c0"] + 0j), None, "initial_state[1]", "real numbers", "complex128"),
    ],
)
def test_stream_initial_state_of_the_wrong_shape(p, state, batch_size, name, expected, got):
    exc = TypeError if got == "complex128" else ValueError
    with raises(exc, name, expected, got):
        LSTMStream(*weights(p), state(p), batch_size=batch_size)


@pytest.fixture
def stream(p):
    """A float64 stream of batch B, stepped once so that its state is not zero."""
    s = LSTMStream(*weights(p), (p["h0"], p["c0"]))
    s.step(p["x"][:, 0])
    return s


def assert_state_unchanged(stream, before):
    for a, b in zip(stream.state, before):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "x_t",
    [np.zeros((B, I + 1)), np.zeros((B + 1, I)), np.zeros(I), np.zeros((1, B, I))],
    ids=["I", "B", "1-D", "3-D"],
)
def test_stream_step_wrong_shape_changes_nothing(stream, x_t):
    before = stream.state
    with raises(ValueError, "x_t", f"{shape_of(B, I)} (batch, input)", shape_of(*x_t.shape)):
        stream.step(x_t)
    assert_state_unchanged(stream, before)


@pytest.mark.parametrize("kind", [0, 1, 2], ids=["complex", "object", "str"])
def test_stream_step_complex_object_string(stream, p, kind):
    bad, dtype = bad_kinds(p["x"][:, 1])[kind]
    with raises(TypeError, "x_t", "array of real numbers", f"dtype {dtype}"):
        stream.step(bad)


@pytest.mark.parametrize(
    ("out", "exc", "expected", "got"),
    [
        (np.empty((B, H), np.float32), TypeError, "float64", "float32"),
        (np.empty((B, H), np.int64), TypeError, "float64", "int64"),
        (np.empty((B, H + 1)), ValueError, shape_of(B, H), shape_of(B, H + 1)),
        (np.empty(B * H), ValueError, shape_of(B, H), shape_of(B * H)),
        (np.empty((H, B)).T, TypeError, "C-contiguous", ""),
        (np.empty((B, 2 * H))[:, ::2], TypeError, "C-contiguous", ""),
        ([[0.0] * H] * B, TypeError, "array", "list"),
    ],
    ids=["float32", "int64", "shape", "1-D", "fortran", "strided", "list"],
)
def test_stream_step_bad_out_changes_nothing(stream, p, out, exc, expected, got):
    before = stream.state
    with raises(exc, "out", expected, got):
        stream.step(p["x"][:, 1], out=out)
    assert_state_unchanged(stream, before)


def test_stream_step_read_only_out(stream, p):
    out = np.zeros((B, H))
    out.flags.writeable = False
    before = stream.state
    with pytest.raises(ValueError, match=r"out: .*read-only"):
        stream.step(p["x"][:, 1], out=out)
    assert_state_unchanged(stream, before)
    np.testing.assert_array_equal(out, 0)


def test_a_stream_is_not_copied_into_one_that_shares_its_state(stream, p):
    """copy.copy made a second object over the same native stream: stepping one moved the
    other's state. A copy, a deep copy and a pickle each raise instead."""
    import copy

    before = stream.state
    with pytest.raises(TypeError, match=r"cannot be copied \(a copy would share its state\)"):
        copy.copy(stream)
    # Named by the stream's class and with what to do (had been "cannot pickle
    # 'fastlstm._core_v4.Stream_lstm_f32' object", the native class).
    with pytest.raises(TypeError, match=r"^LSTMStream cannot be deep-copied: make another stream"):
        copy.deepcopy(stream)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError, match=r"^LSTMStream cannot be pickled: .*with \.state$"):
            pickle.dumps(stream, protocol)
    assert_state_unchanged(stream, before)


def test_stream_out_that_went_through_pickle(stream, p):
    out = pickle.loads(pickle.dumps(np.zeros((B, H))))
    clone = LSTMStream(*weights(p), stream.state)
    assert stream.step(p["x"][:, 1], out=out) is out
    assert_same(out, clone.step(p["x"][:, 1]))


@pytest.mark.parametrize(
    "convert",
    [
        lambda a: a.astype(np.int64),
        lambda a: a.astype(bool),
        np.asfortranarray,
        strided,
        lambda a: a.T.copy().T,
        lambda a: a.tolist(),
        "read-only",
    ],
    ids=["int", "bool", "fortran", "strided", "transposed", "list", "read-only"],
)
def test_stream_step_odd_inputs_equal_float(p, convert):
    x_t = (3 * p["x"][:, 1]).astype(np.int64).astype(np.float64)  # exact as int and as bool
    if convert == "read-only":
        odd = x_t.copy()
        odd.flags.writeable = False
    else:
        odd = convert(x_t)
        x_t = np.asarray(odd, dtype=np.float64)
    a, b = (LSTMStream(*weights(p), (p["h0"], p["c0"])) for _ in range(2))
    out = np.empty((B, H))
    assert_same(a.step(odd), b.step(x_t))
    assert_same(a.step(odd, out=out), b.step(x_t))
    assert_same(out, a.state[0])


def test_stream_with_odd_weights_and_state_equals_lstm(p):
    """Fortran, strided, list and integer weights and state are converted like lstm's."""
    h0 = np.round(4 * p["h0"]).astype(np.int64)
    odd = [np.asfortranarray(p["kernel"]), strided(p["recurrent_kernel"]), p["bias"].tolist()]
    stream = LSTMStream(*odd, (h0, strided(p["c0"])))
    assert stream.dtype == np.float64  # the kernel is float64
    y, (h, c) = call(lstm, p, h0=h0.astype(np.float64))
    for t in range(T):
        assert_same(stream.step(p["x"][:, t]), y[:, t])
    assert_same(stream.state[0], h)
    assert_same(stream.state[1], c)


@pytest.mark.parametrize(
    ("state", "exc", "name", "expected", "got"),
    [
        (lambda p: (p["h0"][:1], p["c0"]), ValueError, "state[0]", shape_of(B, H), shape_of(1, H)),
        (
            lambda p: (p["h0"], p["c0"].ravel()),
            ValueError,
            "state[1]",
            shape_of(B, H),
            shape_of(B * H),
        ),
        (lambda p: (p["h0"], p["c0"] + 0j), TypeError, "state[1]", "real numbers", "complex128"),
        (lambda p: (p["h0"],), TypeError, "state", "a pair (h, c)", "a tuple of length 1"),
        (
            lambda p: p["h0"],
            TypeError,
            "state",
            "a pair (h, c)",
            f"one array of shape {shape_of(B, H)}",
        ),
    ],
)
@pytest.mark.parametrize("how", ["reset", "setter"])
def test_stream_bad_state_changes_nothing(stream, p, state, exc, name, expected, got, how):
    before = stream.state
    with raises(exc, name, expected, got):
        if how == "reset":
            stream.reset(state(p))
        else:
            stream.state = state(p)
    assert_state_unchanged(stream, before)


def test_stream_reset_and_state(p):
    stream = LSTMStream(*weights(p), batch_size=B)
    stream.reset((p["h0"].astype(np.float32), np.asfortranarray(p["c0"])))
    h, c = stream.state
    assert_same(h, p["h0"].astype(np.float32).astype(np.float64))
    assert_same(c, p["c0"])
    h[:] = 7  # state is a copy
    assert_same(stream.state[0], p["h0"].astype(np.float32).astype(np.float64))
    stream.reset()
    for a in stream.state:
        np.testing.assert_array_equal(a, np.zeros((B, H)))


@pytest.mark.parametrize(
    ("x", "expected"),
    [
        (np.zeros((B, T, I + 1)), f"({B}, time, {I}) (batch, time, input"),
        (np.zeros((B + 1, T, I)), f"({B}, time, {I}) (batch, time, input"),
        (np.zeros((T + 2, B, I)), f"({B}, time, {I}) (batch, time, input; batch-major"),
        (np.zeros((B, I)), "3-D array (batch, time, input)"),
        (np.zeros((1, B, T, I)), "3-D array (batch, time, input)"),
    ],
    ids=["I", "B", "time-major", "2-D", "4-D"],
)
def test_stream_run_wrong_shape_changes_nothing(stream, x, expected):
    before = stream.state
    with raises(ValueError, "x", expected, shape_of(*x.shape)):
        stream.run(x)
    assert_state_unchanged(stream, before)


@pytest.mark.parametrize("kind", [0, 1, 2], ids=["complex", "object", "str"])
def test_stream_run_complex_object_string(stream, p, kind):
    bad, dtype = bad_kinds(p["x"])[kind]
    before = stream.state
    with raises(TypeError, "x", "array of real numbers", f"dtype {dtype}"):
        stream.run(bad)
    assert_state_unchanged(stream, before)


@pytest.mark.parametrize(
    ("out", "exc", "expected", "got"),
    [
        (np.empty((B, T, H), np.float32), TypeError, "float64", "float32"),
        (np.empty((B, T + 1, H)), ValueError, shape_of(B, T, H), shape_of(B, T + 1, H)),
        (np.empty((B, H)), ValueError, shape_of(B, T, H), shape_of(B, H)),
        (np.empty((B, T, 2 * H))[:, :, ::2], TypeError, "C-contiguous", ""),
        ("out", TypeError, "array", "str"),
    ],
    ids=["float32", "shape", "2-D", "strided", "str"],
)
def test_stream_run_bad_out_changes_nothing(stream, p, out, exc, expected, got):
    before = stream.state
    with raises(exc, "out", expected, got):
        stream.run(p["x"], out)
    assert_state_unchanged(stream, before)


def test_stream_run_read_only_out(stream, p):
    out = np.zeros((B, T, H))
    out.flags.writeable = False
    before = stream.state
    with pytest.raises(ValueError, match=r"out: .*read-only"):
        stream.run(p["x"], out)
    assert_state_unchanged(stream, before)
    np.testing.assert_array_equal(out, 0)


@pytest.mark.parametrize(
    "convert",
    [lambda a: a.astype(np.int64), np.asfortranarray, strided, lambda a: a.tolist()],
    ids=["int", "fortran", "strided", "list"],
)
def test_stream_run_odd_inputs_equal_float(stream, p, convert):
    clone = LSTMStream(*weights(p), stream.state)
    expected = clone.run(np.asarray(convert(p["x"]), dtype=np.float64))
    assert_same(stream.run(convert(p["x"])), expected)
    for a, b in zip(stream.state, clone.state):
        assert_same(a, b)


def test_stream_run_out_sharing_memory_with_x(p):
    """With I == H the output could be written over x, which later steps still read: rejected,
    nothing changed. (x has 4096 values or more, so that the core reads it where it lies.)"""
    kernel = np.random.default_rng(1).standard_normal((H, G))  # I = H: x is (B, steps, H)
    w = [kernel, p["recurrent_kernel"], p["bias"]]
    stream = LSTMStream(*w, batch_size=B)
    steps = 300
    flat = np.random.default_rng(0).standard_normal(B * steps * H + 2 * H)
    x = flat[: B * steps * H].reshape(B, steps, H)
    before = stream.state
    for out in (x, flat[H : H + B * steps * H].reshape(B, steps, H)):  # the same, or shifted
        with raises(ValueError, "out", "does not share memory with x", "one that does"):
            stream.run(x, out)
        assert_state_unchanged(stream, before)
    out = np.empty_like(x)  # a separate array is fine
    assert stream.run(x, out) is out
    # Under 4096 values an unaligned x is copied before the walk: refused all the same, wherever
    # it lies (15 of 16 offsets were accepted)
    small = np.zeros(B * 2 * H + 16)
    for offset in range(16):
        x = small[offset : offset + B * 2 * H].reshape(B, 2, H)
        with raises(ValueError, "out", "does not share memory with x", "one that does"):
            stream.run(x, x)
        with raises(ValueError, "out", "does not share memory with x", "one that does"):
            stream.run(x[:, ::-1], x)  # a view with negative strides over the same bytes
