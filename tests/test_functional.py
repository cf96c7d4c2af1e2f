"""The compiled LSTM against the NumPy oracle: forward, backward, layouts, dtypes."""

from __future__ import annotations

import numpy as np
import pytest

import fastlstm
from conftest import make_problem
from fastlstm import oracle

SIZES = [(1, 1, 5, 3), (1, 7, 37, 19), (4, 9, 37, 19), (3, 1, 8, 16), (6, 13, 16, 8)]
TOL = {np.float32: 1e-5, np.float64: 1e-12}


def assert_close(actual, expected, dtype, what):
    """max |actual - expected| within the tolerance relative to the scale of expected."""
    scale = max(1.0, float(np.max(np.abs(expected)))) if expected.size else 1.0
    err = float(np.max(np.abs(actual - expected))) if expected.size else 0.0
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    assert err <= TOL[dtype] * scale, f"{what}: max error {err:.3g} (scale {scale:.3g})"


def run_oracle(p, with_state):
    """Oracle forward and backward for a batch-major problem; returns batch-major results."""
    B, H = p["h0"].shape
    h0 = p["h0"] if with_state else np.zeros((B, H), p["x"].dtype)
    c0 = p["c0"] if with_state else np.zeros((B, H), p["x"].dtype)
    xt = p["x"].transpose(1, 0, 2)
    y, h, c, saved = oracle.forward(xt, p["kernel"], p["recurrent_kernel"], p["bias"], h0, c0)
    return y.transpose(1, 0, 2), h, c, saved


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("time_major", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("sizes", SIZES)
def test_forward_backward_match_oracle(sizes, with_state, time_major, dtype):
    p = make_problem(*sizes, dtype=dtype, seed=sum(sizes))
    rng = np.random.default_rng(1)
    B, T, _, H = sizes
    dy = rng.standard_normal((B, T, H)).astype(dtype)
    dh, dc = rng.standard_normal((2, B, H)).astype(dtype)
    y_ref, h_ref, c_ref, saved = run_oracle(p, with_state)
    grads_ref = oracle.backward(saved, dy.transpose(1, 0, 2), dh, dc)

    def to_layout(a):  # batch-major -> the layout under test
        return np.ascontiguousarray(a.transpose(1, 0, 2)) if time_major else a

    state = (p["h0"], p["c0"]) if with_state else None
    args = (to_layout(p["x"]), p["kernel"], p["recurrent_kernel"], p["bias"], state)
    y, (h, c), cache = fastlstm.lstm_forward(*args, time_major=time_major)
    assert y.dtype == dtype
    assert_close(y, to_layout(y_ref), dtype, "y")
    assert_close(h, h_ref, dtype, "h")
    assert_close(c, c_ref, dtype, "c")
    # Inference adds x_t*K per step, training takes it from one GEMM: equal up to rounding.
    y2, (h2, c2) = fastlstm.lstm(*args, time_major=time_major)
    assert_close(y2, to_layout(y_ref), dtype, "y (inference)")
    assert_close(h2, h_ref, dtype, "h (inference)")
    assert_close(c2, c_ref, dtype, "c (inference)")

    g = fastlstm.lstm_backward(cache, to_layout(dy), (dh, dc))
    dx_ref = grads_ref[0].transpose(1, 0, 2)
    assert_close(g.x, to_layout(dx_ref), dtype, "dx")
    for name, ref in zip(("kernel", "recurrent_kernel", "bias", "h0", "c0"), grads_ref[1:]):
        assert_close(getattr(g, name), ref, dtype, f"d{name}")


def test_backward_optional_upstream_gradients_are_zero():
    p = make_problem(2, 5, 4, 3)
    args = (p["x"], p["kernel"], p["recurrent_kernel"], p["bias"], (p["h0"], p["c0"]))
    _, (h, c), cache = fastlstm.lstm_forward(*args)
    rng = np.random.default_rng(2)
    dh = rng.standard_normal(h.shape)
    zeros_dy = np.zeros((2, 5, 3))
    only_dh = fastlstm.lstm_backward(cache, None, (dh, None))
    explicit = fastlstm.lstm_backward(cache, zeros_dy, (dh, np.zeros_like(c)))
    for a, b in zip(only_dh, explicit):
        np.testing.assert_array_equal(a, b)
    nothing = fastlstm.lstm_backward(cache, None)
    assert all(not np.any(a) for a in nothing)


def test_cache_can_be_used_twice():
    p = make_problem(3, 4, 5, 6)
    _, _, cache = fastlstm.lstm_forward(p["x"], p["kernel"], p["recurrent_kernel"], p["bias"])
    dy = np.ones((3, 4, 6))
    first = fastlstm.lstm_backward(cache, dy)
    second = fastlstm.lstm_backward(cache, dy)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_dtype_rule_kernel_decides():
    p = make_problem(2, 3, 4, 5, dtype=np.float64)
    w = (p["kernel"], p["recurrent_kernel"], p["bias"])
    y64, _ = fastlstm.lstm(p["x"].astype(np.float32), *w)
    assert y64.dtype == np.float64  # float64 kernel: float64 compute, x converted up
    w32 = tuple(a.astype(np.float32) for a in w)
    y32, (h32, _) = fastlstm.lstm(p["x"], *w32)
    assert y32.dtype == np.float32
    assert h32.dtype == np.float32
    np.testing.assert_allclose(y32, y64, atol=1e-5)


def test_results_are_repeatable():
    p = make_problem(8, 20, 16, 32, dtype=np.float32)
    args = (p["x"], p["kernel"], p["recurrent_kernel"], p["bias"])
    first, _ = fastlstm.lstm(*args)
    for _ in range(3):
        again, _ = fastlstm.lstm(*args)
        np.testing.assert_array_equal(again, first)
