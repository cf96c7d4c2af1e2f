"""Bad input to the GRU and SimpleRNN functions (gru, gru_forward, gru_backward, simple_rnn, ...)
and streams (GRUStream, SimpleRNNStream): each raises a ValueError or TypeError whose message names
the argument, what was expected and what arrived. A few working edge cases (zero-length sequences,
empty batches, numpy bools) are checked against clean calls.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastlstm
from badinput import B, H, I, T, bad_kinds, raises, shape_of, strided
from fastlstm import GRUCache, GRUStream, LSTMCache, SimpleRNNCache, SimpleRNNStream
from test_cells import API, CELLS, NAMES, make, train, weights

G3 = 3 * H
GRU_FORWARDS = pytest.mark.parametrize(
    "fn", [fastlstm.gru, fastlstm.gru_forward], ids=["gru", "gru_forward"]
)
RNN_FORWARDS = pytest.mark.parametrize(
    "fn", [fastlstm.simple_rnn, fastlstm.simple_rnn_forward], ids=["simple_rnn", "forward"]
)
FORWARD_FNS = [fastlstm.gru, fastlstm.gru_forward, fastlstm.simple_rnn, fastlstm.simple_rnn_forward]
FORWARDS = pytest.mark.parametrize(
    "fn", FORWARD_FNS, ids=["gru", "gru_forward", "simple_rnn", "simple_rnn_forward"]
)


def problem(fn, reset_after=True, dtype=np.float64):
    """(kind, opts, p) for the cell that fn computes."""
    kind = "gru" if fn in (fastlstm.gru, fastlstm.gru_forward, GRUStream) else "rnn"
    opts = {"reset_after": reset_after} if kind == "gru" else {"activation": "tanh"}
    return kind, opts, make(kind, opts, B, T, I, H, dtype=dtype, seed=1)


def call(fn, p, opts, **changes):
    """fn on p (batch-major) with some arguments replaced; streams get no x."""
    a = {**p, **changes}
    if fn in (GRUStream, SimpleRNNStream):
        return fn(*weights(a), a["h0"], **opts)
    return fn(a["x"], *weights(a), a["h0"], **opts)


# -- weights -------------------------------------------------------------------------------------

# (reset_after, bias given, expected in the message)
OTHER_CONVENTION = [
    (True, np.zeros(G3), shape_of(2, G3)),
    (False, np.zeros((2, G3)), shape_of(G3)),
    (True, np.zeros((2, G3 + 3)), shape_of(2, G3)),
    (True, np.zeros((3, G3)), shape_of(2, G3)),
    (False, np.zeros(G3 + 1), shape_of(G3)),
    (False, np.zeros((1, G3)), shape_of(G3)),
]


@pytest.mark.parametrize("fn", [fastlstm.gru, fastlstm.gru_forward, GRUStream])
@pytest.mark.parametrize(("reset_after", "bias", "expected"), OTHER_CONVENTION)
def test_gru_bias_must_match_the_convention(fn, reset_after, bias, expected):
    _, opts, p = problem(fn, reset_after)
    with raises(ValueError, "bias", expected, shape_of(*bias.shape)):
        call(fn, p, opts, bias=bias)


# (arg, value, name in the message, expected, got)
GRU_SHAPES = [
    ("kernel", np.zeros((I, 4 * H)), "kernel", shape_of(I, G3), shape_of(I, 4 * H)),
    ("kernel", np.zeros((I, H)), "kernel", shape_of(I, G3), shape_of(I, H)),
    ("kernel", np.zeros(I * G3), "kernel", "(input, 3*hidden)", shape_of(I * G3)),
    ("recurrent_kernel", np.zeros((H, 4 * H)), "recurrent_kernel", shape_of(H, G3), "(6, 24)"),
    ("recurrent_kernel", np.zeros((H, H)), "recurrent_kernel", shape_of(H, G3), shape_of(H, H)),
    ("recurrent_kernel", np.zeros(H * G3), "recurrent_kernel", "2-D array", shape_of(H * G3)),
]
RNN_SHAPES = [
    ("kernel", np.zeros((I, G3)), "kernel", shape_of(I, H), shape_of(I, G3)),
    ("kernel", np.zeros((I, H + 1)), "kernel", shape_of(I, H), shape_of(I, H + 1)),
    ("recurrent_kernel", np.zeros((H, G3)), "recurrent_kernel", shape_of(H, H), shape_of(H, G3)),
    ("recurrent_kernel", np.zeros((H, 2 * H)), "recurrent_kernel", shape_of(H, H), "(6, 12)"),
    ("bias", np.zeros(H + 1), "bias", shape_of(H), shape_of(H + 1)),
    ("bias", np.zeros((2, H)), "bias", shape_of(H), shape_of(2, H)),
    ("bias", np.zeros(G3), "bias", shape_of(H), shape_of(G3)),
]
MISMATCHED_INPUT = [  # only where there is an x to match
    ("kernel", np.zeros((I + 1, G3)), "kernel", shape_of(I, G3), shape_of(I + 1, G3)),
]


@pytest.mark.parametrize(("arg", "value", "name", "expected", "got"), GRU_SHAPES)
@pytest.mark.parametrize("fn", [fastlstm.gru, fastlstm.gru_forward, GRUStream])
def test_gru_weights_of_the_wrong_shape(fn, arg, value, name, expected, got):
    _, opts, p = problem(fn)
    with raises(ValueError, name, expected, got):
        call(fn, p, opts, **{arg: value})


@pytest.mark.parametrize(("arg", "value", "name", "expected", "got"), RNN_SHAPES)
@pytest.mark.parametrize("fn", [fastlstm.simple_rnn, fastlstm.simple_rnn_forward, SimpleRNNStream])
def test_rnn_weights_of_the_wrong_shape(fn, arg, value, name, expected, got):
    _, opts, p = problem(fn)
    with raises(ValueError, name, expected, got):
        call(fn, p, opts, **{arg: value})


@GRU_FORWARDS
@pytest.mark.parametrize(("arg", "value", "name", "expected", "got"), MISMATCHED_INPUT)
def test_gru_kernel_must_match_x(fn, arg, value, name, expected, got):
    _, opts, p = problem(fn)
    with raises(ValueError, name, expected, got):
        call(fn, p, opts, **{arg: value})


@FORWARDS
def test_weights_of_another_cell(fn):
    """LSTM weights to a GRU, GRU weights to a SimpleRNN: the recurrent kernel is named."""
    kind, opts, p = problem(fn)
    width = 4 * H if kind == "gru" else G3
    other = {"kernel": np.zeros((I, width)), "recurrent_kernel": np.zeros((H, width))}
    other["bias"] = np.zeros(width)
    expected = shape_of(H, G3 if kind == "gru" else H)
    with raises(ValueError, "recurrent_kernel", expected, shape_of(H, width)):
        call(fn, p, opts, **other)


# -- options -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["sigmoid", "Tanh", "", None, 1])
@pytest.mark.parametrize("fn", [fastlstm.simple_rnn, fastlstm.simple_rnn_forward, SimpleRNNStream])
def test_unknown_activation(fn, value):
    _, _, p = problem(fn)
    error = ValueError if isinstance(value, str) else (ValueError, TypeError)
    with raises(error, "activation", "one of tanh, relu", repr(value)):
        call(fn, p, {"activation": value})


@pytest.mark.parametrize("value", [1, 0, None, "yes", "False", np.array(True)])
@pytest.mark.parametrize("fn", [fastlstm.gru, fastlstm.gru_forward, GRUStream])
def test_reset_after_not_a_bool(fn, value):
    _, _, p = problem(fn)
    with raises(TypeError, "reset_after", "True or False", repr(value)):
        call(fn, p, {"reset_after": value})


@FORWARDS
@pytest.mark.parametrize("value", [1, None, "yes"])
def test_time_major_not_a_bool(fn, value):
    _, opts, p = problem(fn)
    with raises(TypeError, "time_major", "True or False", repr(value)):
        call(fn, p, {**opts, "time_major": value})


@pytest.mark.parametrize("reset_after", [True, False])
def test_numpy_bool_reset_after_is_a_bool(reset_after):
    _, opts, p = problem(fastlstm.gru, reset_after)
    y, h = call(fastlstm.gru, p, {"reset_after": np.bool_(reset_after)})
    y_ref, h_ref = call(fastlstm.gru, p, opts)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(h, h_ref)


# -- initial state -------------------------------------------------------------------------------

BAD_STATES = [
    (np.zeros((B + 1, H)), shape_of(B + 1, H)),
    (np.zeros((B, H + 1)), shape_of(B, H + 1)),
    (np.zeros(H), shape_of(H)),
    ((np.zeros((B, H)), np.zeros((B, H))), shape_of(2, B, H)),  # an LSTM's (h, c)
    (np.float64(1.0), "()"),
]


@FORWARDS
@pytest.mark.parametrize(("value", "got"), BAD_STATES)
def test_initial_state_of_the_wrong_shape(fn, value, got):
    _, opts, p = problem(fn)
    with raises(ValueError, "initial_state", f"{shape_of(B, H)} (batch, hidden)", got):
        call(fn, p, opts, h0=value)


@pytest.mark.parametrize("fn", [GRUStream, SimpleRNNStream])
def test_stream_initial_state_must_match_batch_size(fn):
    _, opts, p = problem(fn)
    with raises(ValueError, "initial_state", shape_of(2, H), shape_of(B, H)):
        fn(*weights(p), p["h0"], batch_size=2, **opts)
    with raises(ValueError, "initial_state", shape_of(B, H), shape_of(B, H + 1)):
        fn(*weights(p), np.zeros((B, H + 1)), **opts)


@FORWARDS
def test_initial_state_in_a_list_of_one(fn):
    """Keras passes states as lists: [h0] equals h0."""
    _, opts, p = problem(fn)
    for a, b in zip(call(fn, p, opts, h0=[p["h0"]])[:2], call(fn, p, opts)[:2]):
        np.testing.assert_array_equal(a, b)


# -- dtypes --------------------------------------------------------------------------------------

ARG_NAMES = {"x": "x", "kernel": "kernel", "recurrent_kernel": "recurrent_kernel"}
ARG_NAMES.update(bias="bias", h0="initial_state")
DTYPE_CASES = [
    pytest.param(fn, arg, id=f"{fn.__name__}-{arg}")
    for fn in (*FORWARD_FNS, GRUStream, SimpleRNNStream)
    for arg in ARG_NAMES
    if not (arg == "x" and isinstance(fn, type))  # a stream takes no x
]


@pytest.mark.parametrize(("fn", "arg"), DTYPE_CASES)
@pytest.mark.parametrize("kind", [0, 1, 2], ids=["complex", "object", "str"])
def test_complex_object_string_raise_type_error(fn, arg, kind):
    _, opts, p = problem(fn)
    bad, dtype = bad_kinds(p[arg])[kind]
    with raises(TypeError, ARG_NAMES[arg], "array of real numbers", f"dtype {dtype}"):
        call(fn, p, opts, **{arg: bad})


# -- masks and lengths ---------------------------------------------------------------------------

MASK_ERRORS = [
    ({"mask": np.ones((T, B), bool)}, ValueError, rf"mask: expected shape \({B}, {T}\)"),
    ({"mask": np.ones((B, T, 1), bool)}, ValueError, rf"mask: expected shape \({B}, {T}\)"),
    ({"mask": np.ones((B, T))}, TypeError, "mask: expected a .* array of bools, got dtype float64"),
    ({"mask": np.ones((B, T), complex)}, TypeError, "mask: expected .* bools, got dtype complex"),
    ({"mask": np.ones((B, T), bool), "lengths": [T] * B}, ValueError, "mask, lengths: .*one"),
    ({"lengths": [1, 2, T + 1]}, ValueError, rf"lengths: expected values in \[0, {T}\].*got 5"),
    ({"lengths": [1, -1, 2]}, ValueError, rf"lengths: expected values in \[0, {T}\].*got -1"),
    ({"lengths": [1, 2]}, ValueError, rf"lengths: expected shape \({B},\).*got \(2,\)"),
    ({"lengths": np.ones((B, 1), int)}, ValueError, rf"lengths: expected shape \({B},\)"),
    ({"lengths": [1.0, 2.0, 3.0]}, TypeError, "lengths: expected an array of ints, got dtype f"),
]


@FORWARDS
@pytest.mark.parametrize(("kwargs", "error", "message"), MASK_ERRORS)
def test_bad_masks_and_lengths(fn, kwargs, error, message):
    _, opts, p = problem(fn)
    with pytest.raises(error, match=message):
        call(fn, p, {**opts, **kwargs})


@FORWARDS
def test_time_major_mask_is_still_batch_major(fn):
    _, opts, p = problem(fn)
    x = np.ascontiguousarray(np.swapaxes(p["x"], 0, 1))
    with raises(ValueError, "mask", f"{shape_of(B, T)} (batch, time)", shape_of(T, B)):
        call(fn, p, {**opts, "time_major": True, "mask": np.ones((T, B), bool)}, x=x)
    with raises(ValueError, "lengths", shape_of(B), shape_of(T)):
        call(fn, p, {**opts, "time_major": True, "lengths": [1] * T}, x=x)


# -- backward ------------------------------------------------------------------------------------

BACKWARDS = pytest.mark.parametrize("fn", [fastlstm.gru_forward, fastlstm.simple_rnn_forward])


def forward(fn, **opts_changes):
    kind, opts, p = problem(fn)
    y, _, cache = call(fn, p, {**opts, **opts_changes})
    return API[kind][2], y, cache


@BACKWARDS
@pytest.mark.parametrize(
    ("dy", "got"),
    [
        (lambda y: y[:, :-1], shape_of(B, T - 1, H)),
        (lambda y: y[:, :, :-1], shape_of(B, T, H - 1)),
        (lambda y: np.swapaxes(y, 0, 1), shape_of(T, B, H)),
        (lambda y: y[0], shape_of(T, H)),
    ],
)
def test_backward_dy_of_the_wrong_shape(fn, dy, got):
    backward, y, cache = forward(fn)
    with raises(ValueError, "dy", f"{shape_of(B, T, H)} (batch, time, hidden)", got):
        backward(cache, dy(y))


BAD_DH = [np.zeros((B + 1, H)), np.zeros((B, H + 1)), np.zeros(H), np.zeros((2, B, H))]


@BACKWARDS
@pytest.mark.parametrize("dh", BAD_DH, ids=["batch", "hidden", "1d", "pair"])
def test_backward_dh_of_the_wrong_shape(fn, dh):
    """The shapes are right in the message; the name is checked in the next test."""
    backward, _, cache = forward(fn)
    with pytest.raises(ValueError, match=rf"expected shape \({B}, {H}\) \(batch, hidden\).*got"):
        backward(cache, None, dh)


@BACKWARDS
@pytest.mark.parametrize(
    "dh", [np.zeros((B + 1, H)), np.zeros((B, H), complex)], ids=["shape", "complex"]
)
def test_backward_dh_errors_name_dh(fn, dh):
    backward, _, cache = forward(fn)
    with pytest.raises((ValueError, TypeError), match=r"^dh: expected"):
        backward(cache, None, dh)


@BACKWARDS
def test_backward_complex_dy(fn):
    backward, y, cache = forward(fn)
    with raises(TypeError, "dy", "array of real numbers", "dtype complex128"):
        backward(cache, y.astype(complex))


@pytest.mark.parametrize(
    ("backward", "forward_fn", "expected"),
    [
        (fastlstm.gru_backward, fastlstm.lstm_forward, "GRUCache returned by gru_forward"),
        (fastlstm.gru_backward, fastlstm.simple_rnn_forward, "GRUCache returned by gru_forward"),
        (fastlstm.simple_rnn_backward, fastlstm.gru_forward, "SimpleRNNCache returned by simple"),
        (fastlstm.simple_rnn_backward, fastlstm.lstm_forward, "SimpleRNNCache"),
        (fastlstm.lstm_backward, fastlstm.gru_forward, "LSTMCache returned by lstm_forward"),
        (fastlstm.lstm_backward, fastlstm.simple_rnn_forward, "LSTMCache"),
    ],
)
def test_cache_from_another_function(backward, forward_fn, expected):
    width = {fastlstm.lstm_forward: 4, fastlstm.gru_forward: 3}.get(forward_fn, 1) * H
    bias = np.zeros((2, width)) if forward_fn is fastlstm.gru_forward else np.zeros(width)
    x = np.zeros((B, T, I))
    y, _, cache = forward_fn(x, np.zeros((I, width)), np.zeros((H, width)), bias)
    with raises(TypeError, "cache", expected, type(cache).__name__):
        backward(cache, y)


@BACKWARDS
@pytest.mark.parametrize(("cache", "got"), [(None, "NoneType"), ((), "tuple"), ({}, "dict")])
def test_backward_with_a_non_cache(fn, cache, got):
    backward, y, _ = forward(fn)
    with raises(TypeError, "cache", "Cache returned by", got):
        backward(cache, y)


@pytest.mark.parametrize(
    "make_cache",
    [
        lambda c: GRUCache((), False),
        lambda c: GRUCache(tuple(range(9)), False),
        lambda c: GRUCache(c["lstm"]._saved, False),
        lambda c: GRUCache(c["rnn"]._saved, False),
        lambda c: GRUCache(c["gru_reset_before"]._saved, False),  # the default cell: reset_after
        lambda c: GRUCache(c["gru"]._saved, True),  # a batch-major call read as time-major
        lambda c: SimpleRNNCache((1, 2, 3), False),
        lambda c: SimpleRNNCache(c["gru"]._saved, False),
        lambda c: LSTMCache(c["gru"]._saved, False),
    ],
)
def test_hand_made_caches_raise(make_cache):
    x, h0 = np.zeros((B, T, I)), np.zeros((B, H))
    w3 = np.zeros((I, G3)), np.zeros((H, G3))
    caches = {
        "lstm": fastlstm.lstm_forward(
            x, np.zeros((I, 4 * H)), np.zeros((H, 4 * H)), np.zeros(4 * H)
        )[2],
        "rnn": fastlstm.simple_rnn_forward(x, np.zeros((I, H)), np.zeros((H, H)), np.zeros(H))[2],
        "gru": fastlstm.gru_forward(x, *w3, np.zeros((2, G3)), h0)[2],
        "gru_reset_before": fastlstm.gru_forward(x, *w3, np.zeros(G3), reset_after=False)[2],
    }
    cache = make_cache(caches)
    backward = {GRUCache: fastlstm.gru_backward, SimpleRNNCache: fastlstm.simple_rnn_backward}
    with pytest.raises(ValueError, match=r"^cache: not a cache"):
        backward.get(type(cache), fastlstm.lstm_backward)(cache, None)


# -- streams: steps, out=, state -----------------------------------------------------------------

STREAMS = pytest.mark.parametrize("fn", [GRUStream, SimpleRNNStream])


def stream_of(fn, dtype=np.float64):
    _, opts, p = problem(fn, dtype=dtype)
    return fn(*weights(p), p["h0"], **opts), p


@STREAMS
def test_stream_bad_steps_and_states_change_nothing(fn):
    stream, p = stream_of(fn)
    x_t = p["x"][:, 0]
    stream.step(x_t)
    before = stream.state
    wide = np.concatenate([x_t, x_t[:, :1]], axis=1)
    # (error, name, expected, got, step's arguments)
    cases = [
        (ValueError, "x_t", f"{shape_of(B, I)} (batch, input)", shape_of(B, I + 1), (wide,)),
        (ValueError, "x_t", shape_of(B, I), shape_of(I), (x_t[0],)),
        (TypeError, "x_t", "array of real numbers", "dtype complex128", (x_t.astype(complex),)),
        (
            ValueError,
            "out",
            f"{shape_of(B, H)} (batch, hidden)",
            shape_of(B, H + 1),
            (x_t, np.zeros((B, H + 1))),
        ),
        (TypeError, "out", "C-contiguous float64", "float32 array", (x_t, np.zeros((B, H), "f4"))),
        (TypeError, "out", "C-contiguous", "not C-contiguous", (x_t, strided(np.zeros((B, H))))),
    ]
    for error, name, expected, got, args in cases:
        with raises(error, name, expected, got):
            stream.step(*args)
        np.testing.assert_array_equal(stream.state, before)
    for state, got in [(np.zeros((B + 1, H)), shape_of(B + 1, H)), ((before, before), "(2, 3, 6)")]:
        with raises(ValueError, "state", f"{shape_of(B, H)} (batch, hidden)", got):
            stream.reset(state)
        with raises(ValueError, "state", shape_of(B, H), got):
            stream.state = state
        np.testing.assert_array_equal(stream.state, before)
    with raises(TypeError, "state", "array of real numbers", "dtype complex128"):
        stream.reset(before.astype(complex))
    np.testing.assert_array_equal(stream.state, before)


@STREAMS
def test_stream_read_only_out(fn):
    stream, p = stream_of(fn)
    out = np.zeros((B, H))
    out.flags.writeable = False
    with pytest.raises(ValueError, match=r"^out: .*read-only"):
        stream.step(p["x"][:, 0], out)
    assert not np.any(out)


@STREAMS
@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (0, ValueError, "batch_size: expected a positive integer below 2\\*\\*31, got 0"),
        (-1, ValueError, "batch_size: expected a positive integer .*got -1"),
        (1.0, TypeError, "batch_size: expected a positive integer below 2\\*\\*31, got 1.0"),
        (True, TypeError, "batch_size: expected a positive integer .*got True"),
    ],
)
def test_stream_bad_batch_size(fn, value, error, message):
    _, opts, p = problem(fn)
    with pytest.raises(error, match=message):
        fn(*weights(p), batch_size=value, **opts)


# -- working edge cases --------------------------------------------------------------------------


@CELLS
@pytest.mark.parametrize("arg", NAMES)
def test_non_contiguous_inputs_equal_contiguous(kind, opts, arg):
    p = make(kind, opts, B, T, I, H, seed=4)
    dy, dh = np.cos(np.arange(B * T * H)).reshape(B, T, H), np.ones((B, H))
    expected = train(kind, opts, p, dy, dh)
    for change in (np.asfortranarray, strided, lambda a: a[::-1].copy()[::-1]):
        got = train(kind, opts, {**p, arg: change(p[arg])}, change(dy), change(dh))
        for a, b in zip((*got[:2], *got[2].values()), (*expected[:2], *expected[2].values())):
            np.testing.assert_array_equal(a, b)


@CELLS
@pytest.mark.parametrize(("batch", "steps"), [(B, 0), (0, T), (0, 0)])
def test_zero_length_and_empty_batch(kind, opts, batch, steps):
    p = make(kind, opts, batch, steps, I, H, seed=2)
    y, h, cache = API[kind][1](p["x"], *weights(p), p["h0"], **opts)
    assert y.shape == (batch, steps, H)
    np.testing.assert_array_equal(h, p["h0"])
    dh = np.arange(batch * H, dtype=np.float64).reshape(batch, H)
    for dy in (None, np.zeros(y.shape)):
        g = API[kind][2](cache, dy, dh)
        for name in NAMES:
            assert getattr(g, name).shape == p[name].shape, name
        np.testing.assert_array_equal(g.h0, dh)
        for name in ("x", "kernel", "recurrent_kernel", "bias"):
            np.testing.assert_array_equal(getattr(g, name), 0)


@CELLS
def test_all_lengths_zero_keep_the_initial_state(kind, opts):
    p = make(kind, opts, B, T, I, H, seed=3)
    y, h, cache = API[kind][1](p["x"], *weights(p), p["h0"], lengths=[0] * B, **opts)
    np.testing.assert_array_equal(h, p["h0"])
    np.testing.assert_array_equal(y, 0)
    g = API[kind][2](cache, np.ones(y.shape), np.ones((B, H)))
    np.testing.assert_array_equal(g.h0, 1)
    for name in ("x", "kernel", "recurrent_kernel", "bias"):
        np.testing.assert_array_equal(getattr(g, name), 0)
