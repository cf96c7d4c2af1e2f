"""Bad input to lstm, lstm_forward and lstm_backward: wrong shapes, dtypes and memory layouts,
empty batches and zero-length sequences, NaN and inf. Working cases are compared with the NumPy
oracle or with the same call on clean input.
"""

from __future__ import annotations

import pickle
import time

import numpy as np
import pytest

import fastlstm
from badinput import (
    DTYPES,
    FORWARDS,
    WEIGHTS,
    B,
    G,
    H,
    I,
    T,
    assert_outputs_same,
    assert_same,
    bad_kinds,
    call,
    raises,
    reference,
    shape_of,
    strided,
    tol,
)
from conftest import import_peer, make_problem
from fastlstm import LSTMCache, lstm, lstm_backward, lstm_forward, oracle


@pytest.fixture
def p():
    return make_problem(B, T, I, H)


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
        (lambda p: np.stack([p["h0"], p["c0"]]), f"one array of shape {shape_of(2, B, H)}"),
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
def test_a_wider_float_kernel_computes_in_float64_not_float32(fn, p):
    """np.longdouble had been computed in float32, below what the caller asked for."""
    wide = {n: v.astype(np.longdouble) for n, v in p.items()}
    out = call(fn, wide)
    assert out[0].dtype == np.float64
    assert_outputs_same(out, call(fn, p))  # the same values, as float64
    assert fastlstm.LSTMStream(wide["kernel"], wide["recurrent_kernel"], wide["bias"]).dtype == (
        np.float64
    )


@FORWARDS
def test_float64_kernel_that_went_through_pickle_computes_in_float64(fn, p):
    """An unpickled array (multiprocessing, joblib) is float64 too, with an equal dtype object."""
    kernel = pickle.loads(pickle.dumps(p["kernel"]))
    assert kernel.dtype == np.float64
    assert_outputs_same(call(fn, p, kernel=kernel), call(fn, p))


@FORWARDS
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_torch_kernel_picks_the_dtype_by_its_own(fn, p, dtype):
    """Another library's array counts by the array it converts to (it used to mean float32
    whatever its dtype); a tensor that cannot convert is named."""
    torch = import_peer("torch")
    kernel = torch.from_numpy(p["kernel"].astype(dtype))
    out = call(fn, p, kernel=kernel)
    assert out[0].dtype == np.dtype(dtype)
    assert_outputs_same(out, call(fn, p, kernel=p["kernel"].astype(dtype)))
    with pytest.raises(
        TypeError,
        match=r"kernel: expected an array .*got Tensor that requires grad \(pass \.detach",
    ):
        call(fn, p, kernel=kernel.requires_grad_(True))


@FORWARDS
def test_nested_lists_work(fn, p):
    as_lists = {n: v.tolist() for n, v in p.items()}
    out = call(fn, as_lists)  # a list kernel is not float64: float32 compute
    expected = call(fn, {n: v.astype(np.float32) for n, v in p.items()})
    assert_outputs_same(out, expected)


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
    ("value", "got"),
    [(None, "None"), (object(), "object"), ("abc", "str (as dtype <U3"), ([[1, 2], [3]], "")],
)
def test_non_arrays_raise_type_error(fn, p, value, got):
    with raises(TypeError, "x", "array of real numbers", got):
        call(fn, p, x=value)


# -- memory layout ---------------------------------------------------------------------------


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


def test_empty_batch_of_a_long_sequence_returns_at_once():
    """No rows: nothing to walk, however many steps (this once took 0.04 s per million steps)."""
    p = make_problem(0, 1, I, H)
    x = np.zeros((0, 10**9, I))
    start = time.perf_counter()
    y, (h, _), cache = lstm_forward(x, p["kernel"], p["recurrent_kernel"], p["bias"])
    g = lstm_backward(cache, None)
    assert time.perf_counter() - start < 10
    assert (y.shape, h.shape, g.x.shape) == ((0, 10**9, H), (0, H), (0, 10**9, I))
    np.testing.assert_array_equal(g.kernel, np.zeros_like(p["kernel"]))


def test_lengths_of_an_empty_batch_may_be_an_empty_list():
    p = make_problem(0, T, I, H)
    y, (h, _) = lstm(p["x"], p["kernel"], p["recurrent_kernel"], p["bias"], lengths=[])
    assert (y.shape, h.shape) == ((0, T, H), (0, H))


def test_outputs_beyond_the_machines_memory_are_named_before_any_allocation():
    """A zero-byte x whose outputs or default states need terabytes: y's MemoryError named it,
    the default states' came out as C++'s bare std::bad_alloc; on Linux, which lets a process
    allocate more than the machine has, sizes beyond its memory are refused up front (a
    smaller excess could pass the allocator, then the out-of-memory killer ended the process)."""
    K = np.zeros((4, 4 * H), np.float32)
    R = np.zeros((H, 4 * H), np.float32)
    b = np.zeros(4 * H, np.float32)
    with pytest.raises(
        MemoryError, match=r"^initial_state\[0\]: cannot allocate .*\(2199023255552, "
    ):
        lstm(np.empty((2**41, 0, 4), np.float32), K, R, b)
    with pytest.raises(
        MemoryError, match=r"^y: cannot allocate an array of shape \(1099511627776, 1, "
    ):
        lstm(np.empty((2**40, 1, 0), np.float32), np.zeros((0, 4 * H), np.float32), R, b)


def test_input_too_large_to_convert_is_a_memory_error():
    """A float32 view that must be copied to be used (broadcast: 2**48 values, 1 PiB, more than
    any address space) reports NumPy's MemoryError naming the argument, not a dtype problem."""
    p = make_problem(B, T, I, H, dtype=np.float32)
    huge = np.broadcast_to(np.float32(0.5), (2**16, 2**16, 2**16))
    with pytest.raises(MemoryError, match=r"^x: .*allocate"):
        lstm(huge, p["kernel"], p["recurrent_kernel"], p["bias"])
    with pytest.raises(MemoryError, match=r"^kernel: .*allocate"):
        lstm(
            p["x"],
            np.broadcast_to(np.float32(0.5), (2**24, 2**24)),
            p["recurrent_kernel"],
            p["bias"],
        )


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
        (np.zeros((2, B, H)), f"one array of shape {shape_of(2, B, H)} (pass the tuple"),
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


def test_what_numpy_cannot_convert_says_why(torch):
    """An array-like NumPy cannot read is a TypeError with NumPy's reason: a ragged list, a
    bfloat16 tensor (the message had named the type alone)."""
    k, r, b = np.zeros((4, 8), np.float32), np.zeros((2, 8), np.float32), np.zeros(8, np.float32)
    with pytest.raises(TypeError, match=r"x: expected an array of real numbers, got list \("):
        fastlstm.lstm([[[1.0, 2.0, 3.0, 4.0]], [[1.0]]], k, r, b)
    with pytest.raises(TypeError, match=r"got Tensor \(TypeError: .*BFloat16\)$"):
        fastlstm.lstm(torch.zeros(2, 3, 4, dtype=torch.bfloat16), k, r, b)


def test_a_list_holding_a_tensor_is_a_single_state(torch):
    """Keras passes states as lists: [h] with h another library's tensor is the state h, as
    [h, c] of tensors is for the LSTM (it had been read as an array of shape (1, B, H))."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    k, r = (rng.standard_normal((n, 15)).astype(np.float32) for n in (4, 5))
    b = rng.standard_normal((2, 15)).astype(np.float32)
    h0 = rng.standard_normal((2, 5)).astype(np.float32)
    expected = fastlstm.gru(x, k, r, b, h0)
    for state in ([torch.from_numpy(h0)], (torch.from_numpy(h0),)):
        for a, e in zip(fastlstm.gru(x, k, r, b, state), expected):
            np.testing.assert_array_equal(a, e)
    stream = fastlstm.GRUStream(k, r, b, [torch.from_numpy(h0)])
    assert stream.batch_size == 2
    # A stream's input product is per step, the call's one GEMM: equal to rounding.
    np.testing.assert_allclose(stream.run(x), expected[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("cell", "G"), [("lstm", 4), ("gru", 3), ("simple_rnn", 1)])
def test_weights_in_the_peers_layout_are_named_as_such(cell, G):
    """PyTorch's and ONNX's weights are (G*H, I) and (G*H, H): passed as they are, the error says
    so. The recurrent kernel's rows had been read as H (an expected shape of (80, 320) for a
    transposed (80, 20)), and a stream's kernel rows as I."""
    I, H = 5, 20
    k, r = np.zeros((I, G * H), np.float32), np.zeros((H, G * H), np.float32)
    b = np.zeros((2, G * H) if cell == "gru" else G * H, np.float32)
    x = np.zeros((2, 3, I), np.float32)
    call = getattr(fastlstm, cell)
    stream = {"lstm": fastlstm.LSTMStream, "gru": fastlstm.GRUStream}.get(
        cell, fastlstm.SimpleRNNStream
    )
    layout = r"got its transpose \({0}, {1}\) \(PyTorch's and ONNX's layout"
    with pytest.raises(
        ValueError, match=rf"kernel: expected shape \(5, {G * H}\) .*" + layout.format(G * H, I)
    ):
        call(x, k.T, r, b)
    with pytest.raises(
        ValueError, match=rf"kernel: expected shape \(5, {G * H}\) .*" + layout.format(G * H, I)
    ):
        stream(k.T, r, b, batch_size=1)
    if G > 1:  # a square SimpleRNN recurrent kernel has no telling layout
        with pytest.raises(
            ValueError,
            match=rf"recurrent_kernel: expected shape \(20, {G * H}\) .*" + layout.format(G * H, H),
        ):
            call(x, k, r.T, b)


def test_a_packed_sequence_is_named_with_the_way_to_pass_it(p):
    """It had got NumPy's 'inhomogeneous shape' message."""
    torch = import_peer("torch")
    from torch.nn.utils.rnn import pack_padded_sequence

    x = torch.from_numpy(p["x"])
    packed = pack_padded_sequence(x, torch.tensor([T] * B), batch_first=True)
    with pytest.raises(
        TypeError, match=r"^x: .*got PackedSequence \(torch.nn.utils.rnn.pad_packed"
    ):
        lstm(packed, p["kernel"], p["recurrent_kernel"], p["bias"])
