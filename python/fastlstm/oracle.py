"""Slow, plain-NumPy LSTM, GRU and SimpleRNN: the references every fast path is checked against.

Written for clarity, one timestep at a time, straight from the equations (README, "The math").
Arrays are time-major here: x is (T, B, I), states are (B, H); the weights use the canonical
(Keras) layout, applied as x @ kernel + h @ recurrent_kernel:

- LSTM: kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,), gate blocks i, f, g, o.
- GRU: kernel (I, 3H), recurrent_kernel (H, 3H), gate blocks z (update), r (reset), h
  (candidate). ``reset_after=True`` (PyTorch's convention, Keras's default): bias (2, 3H) =
  [input bias; recurrent bias] and the reset gate multiplies the recurrent term after the
  matrix product, n = tanh(x·K_h + b_in + r ⊙ (h·R_h + b_rec)). ``reset_after=False``: bias
  (3H,) and n = tanh(x·K_h + (r ⊙ h)·R_h + b_h). Then h_t = z ⊙ h_{t-1} + (1 − z) ⊙ n.
- SimpleRNN: kernel (I, H), recurrent_kernel (H, H), bias (H,), h_t = act(x·K + h·R + b),
  act "tanh" or "relu".

Masks: ``mask`` is an optional (T, B) bool array; where it is False, step t of row b is skipped:
the state (h, and c for the LSTM) is carried unchanged, so the output y_t repeats h_{t-1}, and in
the backward pass the gradients pass straight through the step (dx is zero there). Note that
Keras outputs zeros, not h0, at masked steps *before the first unmasked one*; the two agree
whenever h0 is zero.

Each ``*_forward`` returns the outputs and an opaque ``saved`` value for the matching
``*_backward``, which takes dL/dy (T, B, H) and dL/dh_T (and dL/dc_T) and returns the gradients
of the inputs, weights, bias and initial state(s), each shaped like what it is the gradient of.
"""

from __future__ import annotations

import numpy as np


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # stable for large |z|


def _mask(mask, x: np.ndarray) -> np.ndarray:
    """The (T, B) bool mask, all True when there is none."""
    if mask is None:
        return np.ones(x.shape[:2], dtype=bool)
    mask = np.asarray(mask)
    if mask.dtype != np.bool_ or mask.shape != x.shape[:2]:
        raise ValueError(
            f"mask must be a bool array of shape (T, B) = {x.shape[:2]}, "
            f"got {mask.dtype} {mask.shape}"
        )
    return mask


def _stack(ys: list, h0: np.ndarray) -> np.ndarray:
    return np.stack(ys) if ys else np.zeros((0, *h0.shape), dtype=h0.dtype)


# ------------------------------------------------------------------------------------------------
# LSTM


def forward(x, kernel, recurrent_kernel, bias, h0, c0, mask=None):
    """LSTM. x (T, B, I), h0 and c0 (B, H), mask (T, B) bool or None.

    Returns y (T, B, H), h_T, c_T and the saved values for ``backward``.
    """
    mask = _mask(mask, x)
    hidden = recurrent_kernel.shape[0]
    h, c = h0, c0
    ys, steps = [], []
    for t in range(x.shape[0]):
        keep = mask[t][:, None]  # (B, 1): False where step t is skipped
        z = x[t] @ kernel + h @ recurrent_kernel + bias  # (B, 4H)
        i = _sigmoid(z[:, :hidden])
        f = _sigmoid(z[:, hidden : 2 * hidden])
        g = np.tanh(z[:, 2 * hidden : 3 * hidden])
        o = _sigmoid(z[:, 3 * hidden :])
        steps.append((h, c, i, f, g, o))
        c_new = f * c + i * g
        h_new = o * np.tanh(c_new)
        c = np.where(keep, c_new, c)
        h = np.where(keep, h_new, h)
        ys.append(h)
    return _stack(ys, h0), h, c, (x, kernel, recurrent_kernel, mask, steps)


def backward(saved, dy, dh_last, dc_last):
    """LSTM gradients of a loss given dL/dy (T, B, H) and dL/dh_T, dL/dc_T (B, H).

    Returns (dx, dkernel, drecurrent_kernel, dbias, dh0, dc0).
    """
    x, kernel, recurrent_kernel, mask, steps = saved
    dx = np.zeros_like(x)
    dkernel = np.zeros_like(kernel)
    drecurrent = np.zeros_like(recurrent_kernel)
    dbias = np.zeros(kernel.shape[1], dtype=kernel.dtype)
    dh, dc = dh_last.copy(), dc_last.copy()  # dL/dh_t, dL/dc_t (B, H), from the later steps
    for t in reversed(range(len(steps))):
        keep = mask[t][:, None]
        h_prev, c_prev, i, f, g, o = steps[t]
        c = f * c_prev + i * g
        tc = np.tanh(c)
        dh = dh + dy[t]  # y_t = h_t, masked or not
        # Only the rows that ran the cell at step t get gradients through it.
        dh_cell = np.where(keep, dh, 0.0)
        dc_cell = np.where(keep, dc, 0.0) + dh_cell * o * (1 - tc**2)
        dz = np.concatenate(
            [
                dc_cell * g * i * (1 - i),
                dc_cell * c_prev * f * (1 - f),
                dc_cell * i * (1 - g**2),
                dh_cell * tc * o * (1 - o),
            ],
            axis=1,
        )  # (B, 4H), zero in the skipped rows
        dx[t] = dz @ kernel.T
        dkernel += x[t].T @ dz
        drecurrent += h_prev.T @ dz
        dbias += dz.sum(axis=0)
        # Skipped rows: h_t = h_{t-1} and c_t = c_{t-1}, so dh and dc pass through unchanged.
        dh = np.where(keep, dz @ recurrent_kernel.T, dh)
        dc = np.where(keep, dc_cell * f, dc)
    return dx, dkernel, drecurrent, dbias, dh, dc


lstm_forward = forward
lstm_backward = backward


# ------------------------------------------------------------------------------------------------
# GRU


def _gru_bias_shape(hidden: int, reset_after: bool) -> tuple[int, ...]:
    return (2, 3 * hidden) if reset_after else (3 * hidden,)


def gru_forward(x, kernel, recurrent_kernel, bias, h0, reset_after=True, mask=None):
    """GRU. x (T, B, I), h0 (B, H), bias (2, 3H) if reset_after else (3H,), mask (T, B) or None.

    Returns y (T, B, H), h_T and the saved values for ``gru_backward``.
    """
    mask = _mask(mask, x)
    hidden = recurrent_kernel.shape[0]
    bias = np.asarray(bias)
    if bias.shape != _gru_bias_shape(hidden, reset_after):
        raise ValueError(
            f"GRU bias must be {_gru_bias_shape(hidden, reset_after)} with "
            f"reset_after={reset_after}, got {bias.shape}"
        )
    b_in = bias[0] if reset_after else bias  # (3H,)
    r_zr, r_h = recurrent_kernel[:, : 2 * hidden], recurrent_kernel[:, 2 * hidden :]
    h = h0
    ys, steps = [], []
    for t in range(x.shape[0]):
        keep = mask[t][:, None]
        a = x[t] @ kernel + b_in  # (B, 3H): the input's part of every gate
        if reset_after:
            u = h @ recurrent_kernel + bias[1]  # (B, 3H): the state's part, bias included
            z = _sigmoid(a[:, :hidden] + u[:, :hidden])
            r = _sigmoid(a[:, hidden : 2 * hidden] + u[:, hidden : 2 * hidden])
            rec = u[:, 2 * hidden :]  # h·R_h + b_rec_h, which r multiplies
            n = np.tanh(a[:, 2 * hidden :] + r * rec)
        else:
            u = h @ r_zr  # (B, 2H)
            z = _sigmoid(a[:, :hidden] + u[:, :hidden])
            r = _sigmoid(a[:, hidden : 2 * hidden] + u[:, hidden:])
            rec = r * h  # the reset state, which R_h multiplies
            n = np.tanh(a[:, 2 * hidden :] + rec @ r_h)
        steps.append((h, z, r, n, rec))
        h = np.where(keep, z * h + (1 - z) * n, h)
        ys.append(h)
    saved = (x, kernel, recurrent_kernel, reset_after, mask, steps)
    return _stack(ys, h0), h, saved


def gru_backward(saved, dy, dh_last):
    """GRU gradients given dL/dy (T, B, H) and dL/dh_T (B, H).

    Returns (dx, dkernel, drecurrent_kernel, dbias, dh0); dbias is (2, 3H) if reset_after.
    """
    x, kernel, recurrent_kernel, reset_after, mask, steps = saved
    hidden = recurrent_kernel.shape[0]
    r_zr, r_h = recurrent_kernel[:, : 2 * hidden], recurrent_kernel[:, 2 * hidden :]
    dx = np.zeros_like(x)
    dkernel = np.zeros_like(kernel)
    drecurrent = np.zeros_like(recurrent_kernel)
    dbias = np.zeros(_gru_bias_shape(hidden, reset_after), dtype=kernel.dtype)
    dh = dh_last.copy()
    for t in reversed(range(len(steps))):
        keep = mask[t][:, None]
        h_prev, z, r, n, rec = steps[t]
        dh = dh + dy[t]
        dh_cell = np.where(keep, dh, 0.0)
        # Gradients of the gates' pre-activations, (B, H) each.
        dz = dh_cell * (h_prev - n) * z * (1 - z)
        dn = dh_cell * (1 - z) * (1 - n**2)
        if reset_after:
            dr = dn * rec * r * (1 - r)
            da = np.concatenate([dz, dr, dn], axis=1)  # (B, 3H), input part
            du = np.concatenate([dz, dr, dn * r], axis=1)  # (B, 3H), state part
            drecurrent += h_prev.T @ du
            dbias[0] += da.sum(axis=0)
            dbias[1] += du.sum(axis=0)
            dh_prev = dh_cell * z + du @ recurrent_kernel.T
        else:
            drec = dn @ r_h.T  # dL/d(r ⊙ h_{t-1})
            dr = drec * h_prev * r * (1 - r)
            da = np.concatenate([dz, dr, dn], axis=1)
            du = np.concatenate([dz, dr], axis=1)  # (B, 2H)
            drecurrent[:, : 2 * hidden] += h_prev.T @ du
            drecurrent[:, 2 * hidden :] += rec.T @ dn
            dbias += da.sum(axis=0)
            dh_prev = dh_cell * z + du @ r_zr.T + drec * r
        dx[t] = da @ kernel.T
        dkernel += x[t].T @ da
        dh = np.where(keep, dh_prev, dh)
    return dx, dkernel, drecurrent, dbias, dh


# ------------------------------------------------------------------------------------------------
# SimpleRNN

_ACTIVATIONS = ("tanh", "relu")


def rnn_forward(x, kernel, recurrent_kernel, bias, h0, activation="tanh", mask=None):
    """SimpleRNN. x (T, B, I), h0 (B, H), activation "tanh" or "relu", mask (T, B) or None.

    Returns y (T, B, H), h_T and the saved values for ``rnn_backward``.
    """
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {_ACTIVATIONS}, got {activation!r}")
    mask = _mask(mask, x)
    h = h0
    ys, steps = [], []
    for t in range(x.shape[0]):
        keep = mask[t][:, None]
        s = x[t] @ kernel + h @ recurrent_kernel + bias  # (B, H)
        h_new = np.tanh(s) if activation == "tanh" else np.maximum(s, 0.0)
        steps.append((h, h_new))
        h = np.where(keep, h_new, h)
        ys.append(h)
    return _stack(ys, h0), h, (x, kernel, recurrent_kernel, activation, mask, steps)


def rnn_backward(saved, dy, dh_last):
    """SimpleRNN gradients given dL/dy (T, B, H) and dL/dh_T (B, H).

    Returns (dx, dkernel, drecurrent_kernel, dbias, dh0).
    """
    x, kernel, recurrent_kernel, activation, mask, steps = saved
    dx = np.zeros_like(x)
    dkernel = np.zeros_like(kernel)
    drecurrent = np.zeros_like(recurrent_kernel)
    dbias = np.zeros(kernel.shape[1], dtype=kernel.dtype)
    dh = dh_last.copy()
    for t in reversed(range(len(steps))):
        keep = mask[t][:, None]
        h_prev, h_new = steps[t]
        dh = dh + dy[t]
        # act'(s) from the output: 1 − tanh² or the ReLU's step (0 at s = 0, as in torch).
        slope = 1 - h_new**2 if activation == "tanh" else (h_new > 0).astype(h_new.dtype)
        ds = np.where(keep, dh, 0.0) * slope  # (B, H)
        dx[t] = ds @ kernel.T
        dkernel += x[t].T @ ds
        drecurrent += h_prev.T @ ds
        dbias += ds.sum(axis=0)
        dh = np.where(keep, ds @ recurrent_kernel.T, dh)
    return dx, dkernel, drecurrent, dbias, dh
