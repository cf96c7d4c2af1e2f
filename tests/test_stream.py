"""LSTMStream: step by step equals the whole sequence; state handling; no allocation per step."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import fastlstm
from conftest import make_problem


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("B", "T", "I", "H"), [(1, 12, 5, 7), (4, 9, 37, 19)])
def test_steps_equal_whole_sequence(B, T, I, H, dtype):
    p = make_problem(B, T, I, H, dtype=dtype)
    w = (p["kernel"], p["recurrent_kernel"], p["bias"])
    y, (h, c) = fastlstm.lstm(p["x"], *w, (p["h0"], p["c0"]))
    stream = fastlstm.LSTMStream(*w, (p["h0"], p["c0"]))
    assert stream.batch_size == B
    assert stream.units == H
    assert stream.input_size == I
    steps = np.stack([stream.step(p["x"][:, t]) for t in range(T)], axis=1)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(steps, y, rtol=0, atol=tol)
    h_s, c_s = stream.state
    np.testing.assert_allclose(h_s, h, rtol=0, atol=tol)
    np.testing.assert_allclose(c_s, c, rtol=0, atol=tol)


def test_reset_and_state_setter():
    p = make_problem(2, 6, 3, 4, dtype=np.float32)
    w = (p["kernel"], p["recurrent_kernel"], p["bias"])
    stream = fastlstm.LSTMStream(*w, batch_size=2)
    first = [stream.step(p["x"][:, t]).copy() for t in range(6)]
    stream.reset()
    assert not np.any(stream.state[0])
    assert not np.any(stream.state[1])
    again = [stream.step(p["x"][:, t]) for t in range(6)]
    np.testing.assert_array_equal(np.stack(again), np.stack(first))
    # Carrying the state across two halves equals one pass.
    y, _ = fastlstm.lstm(p["x"][:, 3:], *w, fastlstm.lstm(p["x"][:, :3], *w)[1])
    stream.reset()
    for t in range(3):
        stream.step(p["x"][:, t])
    saved = stream.state
    stream.reset()
    stream.state = saved
    np.testing.assert_allclose(stream.step(p["x"][:, 3]), y[:, 0], atol=1e-6)


def test_weights_are_copied_at_construction():
    p = make_problem(1, 1, 3, 4, dtype=np.float32)
    kernel = p["kernel"].copy()
    stream = fastlstm.LSTMStream(kernel, p["recurrent_kernel"], p["bias"])
    before = stream.step(p["x"][:, 0]).copy()
    kernel[:] = 100.0  # must not reach the stream
    stream.reset()
    np.testing.assert_array_equal(stream.step(p["x"][:, 0]), before)


def traced_peak(fn, repeats):
    """Peak bytes that Python and NumPy allocate while fn runs `repeats` times."""
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in range(repeats):
            fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before


def test_out_argument_allocates_nothing():
    p = make_problem(1, 1, 64, 128, dtype=np.float32)
    stream = fastlstm.LSTMStream(p["kernel"], p["recurrent_kernel"], p["bias"])
    x_t = np.ascontiguousarray(p["x"][:, 0])
    out = np.empty((1, 128), np.float32)
    assert stream.step(x_t, out) is out
    # Without `out` each step allocates a (1, 128) float32 result (512 bytes): the measurement
    # sees it. With `out` nothing of that size is allocated in 1000 steps.
    assert traced_peak(lambda: stream.step(x_t), 100) >= 512
    assert traced_peak(lambda: stream.step(x_t, out), 1000) < 256


def test_step_returns_a_fresh_array_without_out():
    p = make_problem(1, 2, 3, 4, dtype=np.float32)
    stream = fastlstm.LSTMStream(p["kernel"], p["recurrent_kernel"], p["bias"])
    a = stream.step(p["x"][:, 0])
    a_copy = a.copy()
    b = stream.step(p["x"][:, 1])
    assert a is not b
    np.testing.assert_array_equal(a, a_copy)  # the first result is not overwritten
