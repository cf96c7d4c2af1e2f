"""Bad input never crashes: it works with a documented result or raises a ValueError/TypeError
whose message names the argument, what was expected and what arrived.

Covers lstm, lstm_forward, lstm_backward, LSTMStream and layers.LSTM. Working cases are compared
with the NumPy oracle or with the same call on clean input.
"""

from __future__ import annotations

import pickle
import re

import numpy as np
import pytest

from conftest import make_problem
from fastlstm import LSTMCache, LSTMStream, lstm, lstm_backward, lstm_forward, oracle
from fastlstm.layers import LSTM

B, T, I, H = 3, 4, 5, 6  # distinct, so that every size in a message is unambiguous
G = 4 * H
WEIGHTS = ("kernel", "recurrent_kernel", "bias")
FORWARDS = pytest.mark.parametrize("fn", [lstm, lstm_forward], ids=["lstm", "lstm_forward"])
DTYPES = pytest.mark.parametrize("dtype", [np.float32, np.float64])


@pytest.fixture
def p():
    return make_problem(B, T, I, H)


def raises(exc, name: str, expected: str, got: str):
    """pytest.raises for a message "<name>: expected ...<expected>... got ...<got>"."""
    pattern = rf"{re.escape(name)}: expected\b.*{re.escape(expected)}.*\bgot\b.*{re.escape(got)}"
    return pytest.raises(exc, match=pattern)


def call(fn, p, time_major=False, **changes):
    """fn(x, kernel, recurrent_kernel, bias, (h0, c0)) with some arguments replaced."""
    a = {**p, **changes}
    state = (a["h0"], a["c0"])
    return fn(a["x"], a["kernel"], a["recurrent_kernel"], a["bias"], state, time_major=time_major)


def reference(p, **changes):
    """The oracle's (y, h, c) for batch-major x."""
    a = {**p, **changes}
    x = np.swapaxes(np.asarray(a["x"], dtype=np.float64), 0, 1)
    w = [np.asarray(a[n], dtype=np.float64) for n in (*WEIGHTS, "h0", "c0")]
    y, h, c, _ = oracle.forward(x, *w)
    return np.swapaxes(y, 0, 1), h, c


def tol(dtype) -> float:
    return 1e-5 if np.dtype(dtype) == np.float32 else 1e-12


def assert_same(actual, expected):
    """Same dtype and shape, equal values (NaN where expected has NaN)."""
    assert actual.dtype == expected.dtype
    np.testing.assert_allclose(actual, expected, rtol=0, atol=tol(expected.dtype))


def assert_outputs_same(a, b):
    """Two (y, (h, c), ...) results agree."""
    assert_same(a[0], b[0])
    assert_same(a[1][0], b[1][0])
    assert_same(a[1][1], b[1][1])


def shape_of(*dims) -> str:
    return "(" + ", ".join(map(str, dims)) + ("," if len(dims) == 1 else "") + ")"


# -- wrong ndim and mismatched sizes ---------------------------------------------------------

# (argument changed, new value, name in the message, expected, got)
WRONG_SHAPES = [
    ("x", lambda p: p["x"][0], "x", "3-D array (batch, time, input)", "(4, 5)"),
    ("x", lambda p: p["x"][None], "x", "3-D array", "(1, 3, 4, 5)"),
    ("x", lambda p: np.array(1.0), "x", "3-D array", "()"),
    ("kernel", lambda p: p["kernel"].ravel(), "kernel", shape_of(I, G), shape_of(I * G)),
    ("kernel", lambda p: p["kernel"][None], "kernel", shape_of(I, G), shape_of(1, I, G)),
    ("kernel", lambda p: np.array(1.0), "kernel", shape_of(I, G), "()"),
    (
        "recurrent_kernel",
        lambda p: p["recurrent_kernel"].ravel(),
        "recurrent_kernel",
        "2-D array (hidden, 4*hidden)",
        shape_of(H * G),
    ),
    ("recurrent_kernel", lambda p: np.array(1.0), "recurrent_kernel", "2-D array", "()"),
    ("bias", lambda p: p["bias"][None], "bias", shape_of(G), shape_of(1, G)),
    ("bias", lambda p: np.array(1.0), "bias", shape_of(G), "()"),
    ("h0", lambda p: p["h0"].ravel(), "initial_state[0]", shape_of(B, H), shape_of(B * H)),
    ("c0", lambda p: p["c0"][None], "initial_state[1]", shape_of(B, H), shape_of(1, B, H)),
    # Mismatched I, H and B between x, the weights and the state.
    ("x", lambda p: np.zeros((B, T, I + 1)), "kernel", shape_of(I + 1, G), shape_of(I, G)),
    ("kernel", lambda p: np.zeros((I + 1, G)), "kernel", shape_of(I, G), shape_of(I + 1, G)),
    ("kernel", lambda p: np.zeros((I, G - 1)), "kernel", shape_of(I, G), shape_of(I, G - 1)),
    (
        "recurrent_kernel",
        lambda p: np.zeros((H + 1, G + 4)),
        "kernel",
        shape_of(I, G + 4),
        shape_of(I, G),
    ),
    (
        "recurrent_kernel",
        lambda p: np.zeros((H, G + 1)),
        "recurrent_kernel",
        shape_of(H, G),
        shape_of(H, G + 1),
    ),
    (
        "recurrent_kernel",
        lambda p: np.zeros((0, 0)),
        "recurrent_kernel",
        "hidden >= 1",
        shape_of(0, 0),
    ),
    ("bias", lambda p: np.zeros(G + 4), "bias", shape_of(G), shape_of(G + 4)),
    ("h0", lambda p: np.zeros((B + 1, H)), "initial_state[0]", shape_of(B, H), shape_of(B + 1, H)),
    ("c0", lambda p: np.zeros((B, H - 1)), "initial_state[1]", shape_of(B, H), shape_of(B, H - 1)),
]


@FORWARDS
@pytest.mark.parametrize(("arg", "make", "name", "expected", "got"), WRONG_SHAPES)
def test_wrong_shape_raises_value_error(fn, p, arg, make, name, expected, got):
    with raises(ValueError, name, expected, got):
        call(fn, p, **{arg: make(p)})


@FORWARDS
def test_time_major_names_its_layout(fn, p):
    with raises(ValueError, "x", "3-D array (time, batch, input)", shape_of(T, I)):
        call(fn, p, time_major=True, x=p["x"][0])
    # Batch-major x read as time-major has B and T swapped, so the state no longer fits.
    with raises(ValueError, "initial_state[0]", shape_of(T, H), shape_of(B, H)):
        call(fn, p, time_major=True)


@FORWARDS
@pytest.mark.parametrize(
    ("value", "got"),
    [
        (lambda p: (p["h0"],), "a tuple of length 1"),
        (lambda p: (p["h0"], p["c0"], p["h0"]), "a tuple of length 3"),
        (lambda p: np.stack([p["h0"], p["c0"]]), "a ndarray of length 2"),
        (lambda p: {"h": p["h0"], "c": p["c0"]}, "a dict of length 2"),
        (lambda p: "hc", "a str of length 2"),
        (lambda p: 5, "int"),
        (lambda p: np.array(0.0), ""),  # a 0-d array has __len__ but no length
    ],
)
def test_initial_state_not_a_pair(fn, p, value, got):
    args = (p["x"], p["kernel"], p["recurrent_kernel"], p["bias"])
    with raises(TypeError, "initial_state", "a pair (h, c)", got):
        fn(*args, value(p))


@FORWARDS
@pytest.mark.parametrize("value", [1, 0, 1.0, "yes", None, np.array(True)])
def test_time_major_not_a_bool(fn, p, value):
    with raises(TypeError, "time_major", "True or False", repr(value)):
        call(fn, p, time_major=value)


def test_numpy_bool_is_a_bool(p):
    tm = {**p, "x": np.ascontiguousarray(np.swapaxes(p["x"], 0, 1))}
    assert_outputs_same(call(lstm, tm, time_major=np.bool_(True)), call(lstm, tm, time_major=True))


# -- dtypes ----------------------------------------------------------------------------------


@FORWARDS
@pytest.mark.parametrize("arg", ["x", "h0", "c0", "bias", "recurrent_kernel"])
@pytest.mark.parametrize("kind", [np.int64, np.int8, np.uint16, np.bool_])
def test_integer_and_bool_inputs_equal_float(fn, arg, kind):
    """Integer and bool arrays are converted to the compute dtype (float64 here)."""
    p = make_problem(B, T, I, H, scale=2.0)
    value = (np.abs(p[arg]) if kind == np.uint16 else p[arg]).astype(kind)  # small integers
    expected = call(fn, p, **{arg: value.astype(np.float64)})
    assert_outputs_same(call(fn, p, **{arg: value}), expected)


@FORWARDS
@pytest.mark.parametrize("kind", [np.int32, np.bool_, np.float16, np.float32])
def test_kernel_dtype_picks_float32(fn, kind):
    """A kernel that is not float64 means float32 compute; the other arrays are converted."""
    p = make_problem(B, T, I, H, scale=2.0)
    kernel = p["kernel"].astype(kind)
    out = call(fn, p, kernel=kernel)
    as32 = {n: v.astype(np.float32) for n, v in p.items()}
    expected = call(fn, as32, kernel=kernel.astype(np.float32))
    assert out[0].dtype == np.float32
    assert_outputs_same(out, expected)


@FORWARDS
def test_float64_kernel_computes_in_float64(fn, p):
    as32 = {n: v.astype(np.float32) for n, v in p.items()}
    out = call(fn, as32, kernel=p["kernel"])
    expected = call(fn, {n: v.astype(np.float64) for n, v in as32.items()}, kernel=p["kernel"])
    assert_outputs_same(out, expected)


@FORWARDS
def test_float64_kernel_that_went_through_pickle_computes_in_float64(fn, p):
    """An unpickled array (multiprocessing, joblib) is float64 too, with an equal dtype object."""
    kernel = pickle.loads(pickle.dumps(p["kernel"]))
    assert kernel.dtype == np.float64
    assert_outputs_same(call(fn, p, kernel=kernel), call(fn, p))


@FORWARDS
def test_nested_lists_work(fn, p):
    as_lists = {n: v.tolist() for n, v in p.items()}
    out = call(fn, as_lists)  # a list kernel is not float64: float32 compute
    expected = call(fn, {n: v.astype(np.float32) for n, v in p.items()})
    assert_outputs_same(out, expected)


def bad_kinds(value):
    """(array, how its dtype appears in the message) for complex, object and string data."""
    v = np.asarray(value)
    return [
        (v.astype(np.complex128), "complex128"),
        (v.astype(object), "object"),
        (v.astype(str), "<U"),
    ]


@FORWARDS
@pytest.mark.parametrize("arg", ["x", "kernel", "recurrent_kernel", "bias", "h0", "c0"])
@pytest.mark.parametrize("kind", [0, 1, 2], ids=["complex", "object", "str"])
def test_complex_object_string_raise_type_error(fn, p, arg, kind):
    bad, dtype = bad_kinds(p[arg])[kind]
    name = {"h0": "initial_state[0]", "c0": "initial_state[1]"}.get(arg, arg)
    with raises(TypeError, name, "array of real numbers", f"dtype {dtype}"):
        call(fn, p, **{arg: bad})


@FORWARDS
@pytest.mark.parametrize(
    ("value", "got"), [(None, "object"), (object(), "object"), ("abc", "<U3"), ([[1, 2], [3]], "")]
)
def test_non_arrays_raise_type_error(fn, p, value, got):
    with raises(TypeError, "x", "array of real numbers", got):
        call(fn, p, x=value)


# -- memory layout ---------------------------------------------------------------------------


def strided(a):
    """A non-contiguous view with a's values: every other element of a doubled last axis."""
    big = np.repeat(a, 2, axis=-1)
    return big[..., ::2]


LAYOUTS = {
    "fortran": np.asfortranarray,
    "strided": strided,
    "reversed": lambda a: a[::-1].copy()[::-1],
    "transposed": lambda a: np.ascontiguousarray(a.T).T,
}


@FORWARDS
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("arg", ["x", "kernel", "recurrent_kernel", "bias", "h0", "c0", "all"])
def test_non_contiguous_inputs_equal_contiguous(fn, p, layout, arg):
    args = list(p) if arg == "all" else [arg]
    changed = {n: LAYOUTS[layout](p[n]) for n in args}
    for v in changed.values():
        if v.ndim > 1 or layout in ("strided", "reversed"):
            assert not v.flags.c_contiguous
    assert_outputs_same(call(fn, p, **changed), call(fn, p))


@FORWARDS
def test_time_major_view_of_batch_major_x(fn, p):
    """A transposed view as time-major input gives the batch-major result, transposed."""
    out = call(fn, p, time_major=True, x=np.swapaxes(p["x"], 0, 1))
    expected = call(fn, p)
    assert_same(out[0], np.ascontiguousarray(np.swapaxes(expected[0], 0, 1)))
    assert_same(out[1][0], expected[1][0])


@FORWARDS
def test_read_only_inputs_work_and_nothing_is_written(fn, p):
    frozen = {n: v.copy() for n, v in p.items()}
    for v in frozen.values():
        v.flags.writeable = False
    assert_outputs_same(call(fn, frozen), call(fn, p))
    for n, v in frozen.items():
        np.testing.assert_array_equal(v, p[n])


def test_backward_read_only_and_non_contiguous(p):
    y, _, cache = call(lstm_forward, p)
    rng = np.random.default_rng(1)
    dy, dh, dc = (
        rng.standard_normal(y.shape),
        rng.standard_normal((B, H)),
        rng.standard_normal((B, H)),
    )
    expected = lstm_backward(cache, dy, (dh, dc))
    frozen = [v.copy() for v in (dy, dh, dc)]
    for v in frozen:
        v.flags.writeable = False
    grads = lstm_backward(cache, frozen[0], (frozen[1], frozen[2]))
    odd = lstm_backward(cache, np.asfortranarray(dy), (strided(dh), dc.T.copy().T))
    for name, want in expected._asdict().items():
        assert_same(getattr(grads, name), want)
        assert_same(getattr(odd, name), want)


# -- empty batch, zero-length sequence -------------------------------------------------------


@FORWARDS
@pytest.mark.parametrize("time_major", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_zero_length_sequence_returns_initial_state(fn, time_major, with_state):
    p = make_problem(B, 0, I, H)
    if time_major:
        p["x"] = np.zeros((0, B, I))
    state = (p["h0"], p["c0"]) if with_state else None
    out = fn(p["x"], p["kernel"], p["recurrent_kernel"], p["bias"], state, time_major=time_major)
    y, (h, c) = out[0], out[1]
    assert y.shape == ((0, B, H) if time_major else (B, 0, H))
    assert y.dtype == h.dtype == c.dtype == np.float64
    np.testing.assert_array_equal(h, p["h0"] if with_state else np.zeros((B, H)))
    np.testing.assert_array_equal(c, p["c0"] if with_state else np.zeros((B, H)))


@pytest.mark.parametrize("time_major", [False, True])
def test_zero_length_sequence_backward(time_major):
    p = make_problem(B, 0, I, H)
    x = np.zeros((0, B, I)) if time_major else p["x"]
    w = (p["kernel"], p["recurrent_kernel"], p["bias"])
    y, _, cache = lstm_forward(x, *w, (p["h0"], p["c0"]), time_major=time_major)
    dh, dc = np.full((B, H), 0.25), np.arange(B * H, dtype=np.float64).reshape(B, H)
    for dy in (None, np.zeros(y.shape)):
        g = lstm_backward(cache, dy, (dh, dc))
        assert g.x.shape == x.shape
        for name, want in zip(("kernel", "recurrent_kernel", "bias"), w):
            np.testing.assert_array_equal(getattr(g, name), np.zeros_like(want))
        np.testing.assert_array_equal(g.h0, dh)
        np.testing.assert_array_equal(g.c0, dc)
    g = lstm_backward(cache, None)
    np.testing.assert_array_equal(g.h0, np.zeros((B, H)))
    np.testing.assert_array_equal(g.c0, np.zeros((B, H)))


@pytest.mark.parametrize("steps", [T, 0])
def test_empty_batch(steps):
    p = make_problem(0, steps, I, H)
    y, (h, c), cache = call(lstm_forward, p)
    assert (y.shape, h.shape, c.shape) == ((0, steps, H), (0, H), (0, H))
    assert_outputs_same(call(lstm, p), (y, (h, c)))
    assert_outputs_same(call(lstm, p, h0=None, c0=None), (y, (h, c)))
    g = lstm_backward(cache, np.zeros(y.shape), (np.zeros((0, H)), np.zeros((0, H))))
    assert (g.x.shape, g.h0.shape, g.c0.shape) == ((0, steps, I), (0, H), (0, H))
    for name in WEIGHTS:
        np.testing.assert_array_equal(getattr(g, name), np.zeros_like(p[name]))


def test_layer_zero_length_sequence_returns_zero_state():
    layer = LSTM(H, return_state=True, seed=0)
    out, h, c = layer(np.zeros((B, 0, I)))
    for a in (out, h, c):
        np.testing.assert_array_equal(a, np.zeros((B, H), dtype=np.float32))


# -- NaN and inf -----------------------------------------------------------------------------


@DTYPES
@FORWARDS
def test_nan_in_x_stays_in_its_batch_row(fn, dtype):
    p = make_problem(B, T, I, H, dtype=dtype)
    x = p["x"].copy()
    x[1, 2, 0] = np.nan
    y, (h, c) = call(fn, p, x=x)[:2]
    clean_y, (clean_h, clean_c) = call(fn, p)[:2]
    assert np.isnan(y[1, 2:]).all()
    assert np.isnan(h[1]).all()
    assert np.isnan(c[1]).all()
    assert_same(y[1, :2], clean_y[1, :2])
    for b in (0, 2):
        assert_same(y[b], clean_y[b])
        assert_same(h[b], clean_h[b])
        assert_same(c[b], clean_c[b])


@DTYPES
@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("arg", ["x", "kernel", "recurrent_kernel", "bias", "h0", "c0"])
def test_nan_and_inf_propagate_like_the_oracle(dtype, value, arg):
    p = make_problem(B, T, I, H, dtype=dtype)
    bad = p[arg].copy()
    bad.flat[3] = value
    y, (h, c) = call(lstm, p, **{arg: bad})
    want_y, want_h, want_c = reference(p, **{arg: bad})
    if np.isnan(value):
        assert np.isnan(y).any()
    for actual, want in ((y, want_y), (h, want_h), (c, want_c)):
        np.testing.assert_array_equal(np.isnan(actual), np.isnan(want))
        np.testing.assert_allclose(actual, want, rtol=0, atol=100 * tol(dtype))


@DTYPES
def test_nan_in_backward_stays_in_its_batch_row(dtype):
    p = make_problem(B, T, I, H, dtype=dtype)
    x = p["x"].copy()
    x[1, 2, 0] = np.nan
    dy = np.ones((B, T, H), dtype=dtype)
    g = lstm_backward(call(lstm_forward, p, x=x)[2], dy)
    clean = lstm_backward(call(lstm_forward, p)[2], dy)
    assert np.isnan(g.x[1]).all()  # every step sees the NaN: t < 2 through dh, t >= 2 through z
    assert np.isnan(g.h0[1]).all()
    assert np.isnan(g.kernel).any()  # weight gradients sum over the batch
    for b in (0, 2):
        assert_same(g.x[b], clean.x[b])
        assert_same(g.h0[b], clean.h0[b])
        assert_same(g.c0[b], clean.c0[b])


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


# -- lstm_backward ---------------------------------------------------------------------------


@pytest.fixture
def fwd(p):
    """(y, cache) of lstm_forward on p."""
    y, _, cache = call(lstm_forward, p)
    return y, cache


def test_backward_with_a_cache_from_a_call_of_another_shape(p, fwd):
    y, _ = fwd
    other = make_problem(2, 7, I, H, seed=3)
    _, _, other_cache = call(lstm_forward, other)
    with raises(ValueError, "dy", shape_of(2, 7, H), shape_of(B, T, H)):
        lstm_backward(other_cache, np.ones_like(y))
    with raises(ValueError, "dstate[0]", shape_of(2, H), shape_of(B, H)):
        lstm_backward(other_cache, None, (p["h0"], None))


def test_backward_uses_its_own_cache(p):
    """A cache stays tied to its call: later calls change neither it nor its gradients."""
    dy = np.random.default_rng(2).standard_normal((B, T, H))
    _, _, cache = call(lstm_forward, p)
    first = lstm_backward(cache, dy)
    other = make_problem(B, T, I, H, seed=5)
    _, _, other_cache = call(lstm_forward, other)
    other_grads = lstm_backward(other_cache, dy)
    again = lstm_backward(cache, dy)
    for name in first._fields:
        assert_same(getattr(again, name), getattr(first, name))
    assert not np.allclose(other_grads.kernel, first.kernel)
    x_tm = np.swapaxes(p["x"], 0, 1)
    _, _, _, saved = oracle.forward(x_tm, *(p[n] for n in WEIGHTS), p["h0"], p["c0"])
    dx, dk, *_ = oracle.backward(saved, np.swapaxes(dy, 0, 1), np.zeros((B, H)), np.zeros((B, H)))
    assert_same(first.kernel, dk)
    assert_same(first.x, np.swapaxes(dx, 0, 1))


@pytest.mark.parametrize(
    ("dy", "got"),
    [
        (lambda y: y[:, :-1], shape_of(B, T - 1, H)),
        (lambda y: y[:, :, :-1], shape_of(B, T, H - 1)),
        (lambda y: y[0], shape_of(T, H)),
        (lambda y: np.swapaxes(y, 0, 1), shape_of(T, B, H)),
        (lambda y: y[None], shape_of(1, B, T, H)),
        (lambda y: np.float64(1.0), "()"),
    ],
)
def test_backward_dy_of_the_wrong_shape(fwd, dy, got):
    y, cache = fwd
    with raises(ValueError, "dy", f"{shape_of(B, T, H)} (batch, time, hidden)", got):
        lstm_backward(cache, dy(y))


def test_backward_time_major_dy_names_its_layout(p):
    tm = {**p, "x": np.swapaxes(p["x"], 0, 1)}
    y, _, cache = call(lstm_forward, tm, time_major=True)
    with raises(ValueError, "dy", f"{shape_of(T, B, H)} (time, batch, hidden)", shape_of(B, T, H)):
        lstm_backward(cache, np.swapaxes(y, 0, 1))


@pytest.mark.parametrize(
    ("dstate", "name", "got"),
    [
        ((np.zeros((B + 1, H)), None), "dstate[0]", shape_of(B + 1, H)),
        ((None, np.zeros((B, H + 1))), "dstate[1]", shape_of(B, H + 1)),
        ((np.zeros(H), np.zeros((B, H))), "dstate[0]", shape_of(H)),
    ],
)
def test_backward_dstate_of_the_wrong_shape(fwd, dstate, name, got):
    with raises(ValueError, name, f"{shape_of(B, H)} (batch, hidden)", got):
        lstm_backward(fwd[1], None, dstate)


@pytest.mark.parametrize(
    ("dstate", "got"),
    [
        ((np.zeros((B, H)),), "a tuple of length 1"),
        (np.zeros((2, B, H)), "a ndarray of length 2"),
        (1.0, "float"),
        (np.array(0.0), ""),
    ],
)
def test_backward_dstate_not_a_pair(fwd, dstate, got):
    with raises(TypeError, "dstate", "a pair (h, c)", got):
        lstm_backward(fwd[1], None, dstate)


@pytest.mark.parametrize("kind", [0, 1, 2], ids=["complex", "object", "str"])
@pytest.mark.parametrize("arg", ["dy", "dstate[0]", "dstate[1]"])
def test_backward_complex_object_string_raise_type_error(fwd, arg, kind):
    y, cache = fwd
    args = {"dy": None, "dstate[0]": None, "dstate[1]": None}
    args[arg], dtype = bad_kinds(y if arg == "dy" else y[:, 0])[kind]
    with raises(TypeError, arg, "array of real numbers", f"dtype {dtype}"):
        lstm_backward(cache, args["dy"], (args["dstate[0]"], args["dstate[1]"]))


@pytest.mark.parametrize(
    ("cache", "got"),
    [
        (lambda y, c: None, "NoneType"),
        (lambda y, c: c._saved, "tuple"),
        (lambda y, c: y, "ndarray"),
        (lambda y, c: {"cache": c}, "dict"),
    ],
)
def test_backward_with_a_non_cache(fwd, cache, got):
    y, real = fwd
    with raises(TypeError, "cache", "LSTMCache", got):
        lstm_backward(cache(y, real), y)


@pytest.mark.parametrize("saved", [(), (1, 2, 3), tuple(range(9))])
def test_backward_with_a_hand_made_cache(fwd, saved):
    with pytest.raises((TypeError, ValueError), match="cache"):
        lstm_backward(LSTMCache(saved, False), fwd[0])


def test_backward_integer_dy_equals_float(fwd):
    y, cache = fwd
    dy = np.arange(y.size).reshape(y.shape) % 3 - 1
    g, want = lstm_backward(cache, dy), lstm_backward(cache, dy.astype(np.float64))
    for name in g._fields:
        assert_same(getattr(g, name), getattr(want, name))


# -- LSTMStream ------------------------------------------------------------------------------


def weights(p, **changes):
    a = {**p, **changes}
    return [a[n] for n in WEIGHTS]


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
        (lambda p: p["h0"], TypeError, "state", "a pair (h, c)", "a ndarray of length 3"),
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


# -- layers.LSTM -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "exc", "name", "expected", "got"),
    [
        ({"units": 0}, ValueError, "units", "a positive integer", "0"),
        ({"units": -3}, ValueError, "units", "a positive integer", "-3"),
        ({"units": 2.0}, (TypeError, ValueError), "units", "a positive integer", "2.0"),
        ({"units": True}, (TypeError, ValueError), "units", "a positive integer", "True"),
        ({"units": None}, (TypeError, ValueError), "units", "a positive integer", "None"),
        ({"units": "4"}, (TypeError, ValueError), "units", "a positive integer", "'4'"),
        ({"dtype": "int32"}, TypeError, "dtype", "float32", "int32"),
        ({"dtype": "complex64"}, TypeError, "dtype", "float32", "complex64"),
        ({"dtype": "float16"}, TypeError, "dtype", "float32", "float16"),
        ({"dtype": "no-such-type"}, TypeError, "dtype", "float32", "no-such-type"),
        ({"return_sequences": 1}, TypeError, "return_sequences", "True or False", "1"),
        ({"return_state": "yes"}, TypeError, "return_state", "True or False", "'yes'"),
        ({"time_major": None}, TypeError, "time_major", "True or False", "None"),
        ({"unit_forget_bias": 0}, TypeError, "unit_forget_bias", "True or False", "0"),
        (
            {"kernel_initializer": "nope"},
            ValueError,
            "kernel_initializer",
            "glorot_uniform",
            "'nope'",
        ),
        ({"recurrent_initializer": 3}, ValueError, "recurrent_initializer", "orthogonal", "3"),
        ({"bias_initializer": None}, ValueError, "bias_initializer", "zeros", "None"),
    ],
)
def test_layer_constructor_args(kwargs, exc, name, expected, got):
    kwargs = {"units": H, **kwargs}
    with raises(exc, name, expected, got):
        LSTM(**kwargs)


@pytest.mark.parametrize("seed", ["abc", 1.5, [1, "x"]])
def test_layer_bad_seed_names_seed(seed):
    with pytest.raises((TypeError, ValueError), match="seed"):
        LSTM(H, seed=seed)(np.zeros((B, T, I)))


@pytest.fixture
def layer(p):
    layer = LSTM(H, dtype="float64")
    layer.set_weights(weights(p))
    return layer


def assert_weights_unchanged(layer, p):
    for a, b in zip(layer.get_weights(), weights(p)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("value", "got"),
    [
        ("abc", "str"),
        ({"kernel": 1}, "dict"),
        (lambda p: weights(p)[:2], "2"),
        (lambda p: [*weights(p), p["bias"]], "4"),
        (None, "None"),
    ],
)
def test_layer_set_weights_not_three_arrays(layer, p, value, got):
    value = value(p) if callable(value) else value
    with raises((TypeError, ValueError), "weights", "[kernel, recurrent_kernel, bias]", got):
        layer.set_weights(value)
    assert_weights_unchanged(layer, p)


@pytest.mark.parametrize(
    ("arg", "value", "exc", "expected", "got"),
    [
        ("kernel", np.zeros(G), ValueError, f"(input, {G})", shape_of(G)),
        ("kernel", np.zeros((1, I, G)), ValueError, f"(input, {G})", shape_of(1, I, G)),
        ("kernel", np.zeros((I, G + 1)), ValueError, shape_of(I, G), shape_of(I, G + 1)),
        ("recurrent_kernel", np.zeros((H + 1, G)), ValueError, shape_of(H, G), shape_of(H + 1, G)),
        ("bias", np.zeros(G + 4), ValueError, shape_of(G), shape_of(G + 4)),
        ("bias", np.zeros(G, complex), TypeError, "real numbers", "complex128"),
        ("recurrent_kernel", np.zeros((H, G), object), TypeError, "real numbers", "object"),
        ("kernel", np.zeros((I, G), str), TypeError, "real numbers", "<U"),
        ("kernel", [[1.0, 2.0], [3.0]], (TypeError, ValueError), "", ""),
    ],
)
def test_layer_set_weights_bad_array_changes_nothing(layer, p, arg, value, exc, expected, got):
    with raises(exc, arg, expected, got):
        layer.set_weights(weights(p, **{arg: value}))
    assert_weights_unchanged(layer, p)


@pytest.mark.parametrize("arg", WEIGHTS)
@pytest.mark.parametrize(
    ("make", "exc", "expected", "got"),
    [
        (lambda a: a[..., :-1], ValueError, "shape", "shape"),
        (lambda a: a[None], ValueError, "shape", "shape"),
        (lambda a: a + 1j, TypeError, "real numbers", "complex128"),
        (lambda a: a.astype(object), TypeError, "real numbers", "object"),
        (lambda a: "abc", TypeError, "real numbers", "<U3"),
    ],
)
def test_layer_weight_setters_reject(layer, p, arg, make, exc, expected, got):
    value = make(p[arg])
    if got == "shape":  # the message gives both shapes
        expected, got = shape_of(*p[arg].shape), shape_of(*value.shape)
    with raises(exc, arg, expected, got):
        setattr(layer, arg, value)
    assert_weights_unchanged(layer, p)


def test_layer_setter_before_build():
    with pytest.raises(ValueError, match=r"kernel: the layer has no weights yet"):
        LSTM(H).kernel = np.zeros((I, G))


@pytest.mark.parametrize(
    "convert",
    [lambda a: a.astype(np.int64), np.asfortranarray, strided, lambda a: a.tolist(), "read-only"],
    ids=["int", "fortran", "strided", "list", "read-only"],
)
def test_layer_odd_weights_equal_float(p, convert):
    exact = {n: np.round(4 * p[n]) for n in WEIGHTS}  # exact as integers
    if convert == "read-only":
        odd = {n: v.copy() for n, v in exact.items()}
        for v in odd.values():
            v.flags.writeable = False
    else:
        odd = {n: convert(v) for n, v in exact.items()}
    a, b = LSTM(H, dtype="float64"), LSTM(H, dtype="float64")
    a.set_weights([odd[n] for n in WEIGHTS])
    b.set_weights([exact[n] for n in WEIGHTS])
    a.kernel = odd["kernel"]
    for w in a.get_weights():
        assert w.dtype == np.float64
        assert w.flags.c_contiguous
    assert_same(a(p["x"]), b(p["x"]))


def test_layer_call_with_the_wrong_input_size(layer, p):
    with raises(ValueError, "kernel", shape_of(I + 1, G), shape_of(I, G)):
        layer(np.zeros((B, T, I + 1)))
    with raises(ValueError, "x", "3-D array (batch, time, input)", shape_of(B, I)):
        LSTM(H)(np.zeros((B, I)))
