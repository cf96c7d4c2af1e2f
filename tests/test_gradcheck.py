"""Finite differences in float64, for the oracle and the compiled backward; no peer needed."""

from __future__ import annotations

import numpy as np
import pytest

import fastlstm
from conftest import make_problem
from fastlstm import oracle

EPS = 1e-6


def loss_fast(p, dy, dh, dc, time_major):
    """L = <y, dy> + <h_T, dh> + <c_T, dc>, so that dL/dy = dy and so on."""
    y, (h, c) = fastlstm.lstm(
        p["x"],
        p["kernel"],
        p["recurrent_kernel"],
        p["bias"],
        (p["h0"], p["c0"]),
        time_major=time_major,
    )
    return float(np.sum(y * dy) + np.sum(h * dh) + np.sum(c * dc))


def loss_oracle(p, dy, dh, dc, time_major):
    x = p["x"] if time_major else p["x"].transpose(1, 0, 2)
    y, h, c, _ = oracle.forward(x, p["kernel"], p["recurrent_kernel"], p["bias"], p["h0"], p["c0"])
    dy_t = dy if time_major else dy.transpose(1, 0, 2)
    return float(np.sum(y * dy_t) + np.sum(h * dh) + np.sum(c * dc))


def numeric_grad(loss, p, name, *args):
    """Central differences of loss over every entry of p[name]."""
    grad = np.zeros_like(p[name])
    flat, g = p[name].reshape(-1), grad.reshape(-1)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + EPS
        up = loss(p, *args)
        flat[k] = old - EPS
        down = loss(p, *args)
        flat[k] = old
        g[k] = (up - down) / (2 * EPS)
    return grad


@pytest.mark.parametrize("time_major", [False, True])
@pytest.mark.parametrize("implementation", ["fast", "oracle"])
def test_gradients_match_finite_differences(implementation, time_major):
    B, T, I, H = 2, 4, 3, 5
    p = make_problem(B, T, I, H, seed=7, scale=0.7)
    if time_major:
        p["x"] = np.ascontiguousarray(p["x"].transpose(1, 0, 2))
    rng = np.random.default_rng(3)
    dy = rng.standard_normal((T, B, H) if time_major else (B, T, H))
    dh, dc = rng.standard_normal((2, B, H))
    args = (p["x"], p["kernel"], p["recurrent_kernel"], p["bias"], (p["h0"], p["c0"]))
    if implementation == "fast":
        _, _, cache = fastlstm.lstm_forward(*args, time_major=time_major)
        g = fastlstm.lstm_backward(cache, dy, (dh, dc))._asdict()
        loss = loss_fast
    else:
        x = p["x"] if time_major else p["x"].transpose(1, 0, 2)
        _, _, _, saved = oracle.forward(x, *args[1:4], p["h0"], p["c0"])
        dy_t = dy if time_major else dy.transpose(1, 0, 2)
        dx, dk, dr, db, dh0, dc0 = oracle.backward(saved, dy_t, dh, dc)
        dx = dx if time_major else dx.transpose(1, 0, 2)
        g = {"x": dx, "kernel": dk, "recurrent_kernel": dr, "bias": db, "h0": dh0, "c0": dc0}
        loss = loss_oracle
    for name in ("x", "kernel", "recurrent_kernel", "bias", "h0", "c0"):
        expected = numeric_grad(loss, p, name, dy, dh, dc, time_major)
        np.testing.assert_allclose(g[name], expected, rtol=1e-6, atol=1e-8, err_msg=name)
