"""A slow, plain-NumPy LSTM: the reference every fast path is checked against.

Written for clarity, one timestep at a time, straight from the equations (README, "The math").
Arrays are time-major here: x is (T, B, I); the weights use the canonical layout, gate blocks
i, f, g, o.
"""

from __future__ import annotations

import numpy as np


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # stable for large |z|


def forward(x, kernel, recurrent_kernel, bias, h0, c0):
    """x (T, B, I), h0 and c0 (B, H). Returns y (T, B, H), h_T, c_T and the saved values."""
    seq_len = x.shape[0]
    hidden = recurrent_kernel.shape[0]
    h, c = h0, c0
    ys, saved = [], []
    for t in range(seq_len):
        z = x[t] @ kernel + h @ recurrent_kernel + bias
        i = _sigmoid(z[:, :hidden])
        f = _sigmoid(z[:, hidden : 2 * hidden])
        g = np.tanh(z[:, 2 * hidden : 3 * hidden])
        o = _sigmoid(z[:, 3 * hidden :])
        saved.append((h, c, i, f, g, o))
        c = f * c + i * g
        h = o * np.tanh(c)
        ys.append(h)
    y = np.stack(ys) if ys else np.zeros((0, *h0.shape), dtype=h0.dtype)
    return y, h, c, (x, kernel, recurrent_kernel, saved)


def backward(saved, dy, dh_last, dc_last):
    """Gradients of a loss given dL/dy (T, B, H) and dL/dh_T, dL/dc_T (B, H).

    Returns (dx, dkernel, drecurrent_kernel, dbias, dh0, dc0).
    """
    x, kernel, recurrent_kernel, steps = saved
    dx = np.zeros_like(x)
    dkernel = np.zeros_like(kernel)
    drecurrent = np.zeros_like(recurrent_kernel)
    dbias = np.zeros(kernel.shape[1], dtype=kernel.dtype)
    dh, dc = dh_last.copy(), dc_last.copy()
    for t in reversed(range(len(steps))):
        h_prev, c_prev, i, f, g, o = steps[t]
        c = f * c_prev + i * g
        tc = np.tanh(c)
        dh = dh + dy[t]
        dc = dc + dh * o * (1 - tc**2)
        dz = np.concatenate(
            [
                dc * g * i * (1 - i),
                dc * c_prev * f * (1 - f),
                dc * i * (1 - g**2),
                dh * tc * o * (1 - o),
            ],
            axis=1,
        )
        dx[t] = dz @ kernel.T
        dkernel += x[t].T @ dz
        drecurrent += h_prev.T @ dz
        dbias += dz.sum(axis=0)
        dh = dz @ recurrent_kernel.T
        dc = dc * f
    return dx, dkernel, drecurrent, dbias, dh, dc
