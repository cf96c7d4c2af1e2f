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

Recurrent dropout: every ``*_forward`` takes ``recurrent_mask`` (B, H) or None; the recurrent
products read h_{t-1} ⊙ recurrent_mask, everything else h_{t-1} (Keras). The LSTM also takes
``peephole`` (3H,) blocks i, f, o, adding p_i ⊙ c_{t-1}, p_f ⊙ c_{t-1} and p_o ⊙ c_t to the
pre-activations of i, f and o, and ``clip``: every pre-activation (after the peepholes) is clipped
to [-clip, clip] and has no gradient where |z| >= clip (ONNX), and ``projection`` (H, P):
h_t = (o ⊙ tanh(c_t))·projection, P wide, with recurrent_kernel (P, 4H) (PyTorch's proj_size).

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


def _recurrent_mask(recurrent_mask, h0: np.ndarray) -> np.ndarray:
    return np.ones_like(h0) if recurrent_mask is None else np.asarray(recurrent_mask)


def forward(
    x,
    kernel,
    recurrent_kernel,
    bias,
    h0,
    c0,
    mask=None,
    peephole=None,
    clip=None,
    recurrent_mask=None,
    projection=None,
):
    """LSTM. x (T, B, I), h0 and c0 (B, H), mask (T, B) bool or None; the options as above.

    Returns y (T, B, H), h_T, c_T and the saved values for ``backward``.
    """
    mask = _mask(mask, x)
    hidden = kernel.shape[1] // 4
    m = _recurrent_mask(recurrent_mask, h0)
    # Without peepholes their terms are left out, not multiplied by zero (an infinite c stays so).
    p_i, p_f, p_o = (0, 0, 0) if peephole is None else np.split(peephole, 3)
    bound = np.inf if clip is None else clip
    h, c = h0, c0
    ys, steps = [], []
    for t in range(x.shape[0]):
        keep = mask[t][:, None]  # (B, 1): False where step t is skipped
        z = x[t] @ kernel + (h * m) @ recurrent_kernel + bias  # (B, 4H)
        z_i = z[:, :hidden] + (0 if peephole is None else p_i * c)
        z_f = z[:, hidden : 2 * hidden] + (0 if peephole is None else p_f * c)
        z_g = z[:, 2 * hidden : 3 * hidden]
        i = _sigmoid(np.clip(z_i, -bound, bound))
        f = _sigmoid(np.clip(z_f, -bound, bound))
        g = np.tanh(np.clip(z_g, -bound, bound))
        c_new = f * c + i * g
        z_o = z[:, 3 * hidden :] + (0 if peephole is None else p_o * c_new)
        o = _sigmoid(np.clip(z_o, -bound, bound))
        inside = [np.abs(a) < bound for a in (z_i, z_f, z_g, z_o)]  # where gradients flow
        steps.append((h, c, i, f, g, o, inside))
        h_new = o * np.tanh(c_new)
        if projection is not None:
            h_new = h_new @ projection
        c = np.where(keep, c_new, c)
        h = np.where(keep, h_new, h)
        ys.append(h)
    saved = (x, kernel, recurrent_kernel, mask, steps, m, peephole, projection)
    return _stack(ys, h0), h, c, saved


def backward(saved, dy, dh_last, dc_last, dc_seq=None):
    """LSTM gradients of a loss given dL/dy (T, B, H) and dL/dh_T, dL/dc_T (B, H); dc_seq
    (T, B, H), or None: dL/dc_t for every step, the cell states read as an output (a skipped
    step's c_t is the state it carried).

    Returns (dx, dkernel, drecurrent_kernel, dbias, dh0, dc0), then dpeephole (3H,) when forward
    had peepholes and dprojection (H, P) when it had a projection.
    """
    x, kernel, recurrent_kernel, mask, steps, m, peephole, projection = saved
    hidden = kernel.shape[1] // 4
    p_i, p_f, p_o = np.split(np.zeros(3 * hidden) if peephole is None else peephole, 3)
    peep = peephole is not None
    dx = np.zeros_like(x)
    dkernel = np.zeros_like(kernel)
    drecurrent = np.zeros_like(recurrent_kernel)
    dbias = np.zeros(kernel.shape[1], dtype=kernel.dtype)
    dpeephole = np.zeros(3 * hidden, dtype=kernel.dtype)
    dprojection = None if projection is None else np.zeros_like(projection)
    dh, dc = dh_last.copy(), dc_last.copy()  # dL/dh_t, dL/dc_t (B, H), from the later steps
    for t in reversed(range(len(steps))):
        keep = mask[t][:, None]
        h_prev, c_prev, i, f, g, o, (in_i, in_f, in_g, in_o) = steps[t]
        c = f * c_prev + i * g
        tc = np.tanh(c)
        dh = dh + dy[t]  # y_t = h_t, masked or not
        if dc_seq is not None:
            dc = dc + dc_seq[t]  # c_seq[t] = c_t, masked or not
        # Only the rows that ran the cell at step t get gradients through it.
        dh_cell = np.where(keep, dh, 0.0)
        if projection is not None:  # h_t = (o ⊙ tanh(c_t))·W_p
            dprojection += (o * tc).T @ dh_cell
            dh_cell = dh_cell @ projection.T
        dz_o = dh_cell * tc * o * (1 - o) * in_o
        dc_cell = np.where(keep, dc, 0.0) + dh_cell * o * (1 - tc**2)
        if peep:
            dc_cell = dc_cell + dz_o * p_o
        dz_i = dc_cell * g * i * (1 - i) * in_i
        dz_f = dc_cell * c_prev * f * (1 - f) * in_f
        dz_g = dc_cell * i * (1 - g**2) * in_g
        dz = np.concatenate([dz_i, dz_f, dz_g, dz_o], axis=1)  # (B, 4H), zero in skipped rows
        dx[t] = dz @ kernel.T
        dkernel += x[t].T @ dz
        drecurrent += (h_prev * m).T @ dz
        dbias += dz.sum(axis=0)
        if peep:
            dpeephole += np.concatenate(
                [(dz_i * c_prev).sum(0), (dz_f * c_prev).sum(0), (dz_o * c).sum(0)]
            )
        # Skipped rows: h_t = h_{t-1} and c_t = c_{t-1}, so dh and dc pass through unchanged.
        dh = np.where(keep, (dz @ recurrent_kernel.T) * m, dh)
        dc_prev = dc_cell * f + (dz_i * p_i + dz_f * p_f if peep else 0)
        dc = np.where(keep, dc_prev, dc)
    grads = (dx, dkernel, drecurrent, dbias, dh, dc)
    if peephole is not None:
        grads = (*grads, dpeephole)
    return grads if projection is None else (*grads, dprojection)


lstm_forward = forward
lstm_backward = backward


# ------------------------------------------------------------------------------------------------
# GRU


def _gru_bias_shape(hidden: int, reset_after: bool) -> tuple[int, ...]:
    return (2, 3 * hidden) if reset_after else (3 * hidden,)


def gru_forward(
    x, kernel, recurrent_kernel, bias, h0, reset_after=True, mask=None, recurrent_mask=None
):
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
    m = _recurrent_mask(recurrent_mask, h0)
    h = h0
    ys, steps = [], []
    for t in range(x.shape[0]):
        keep = mask[t][:, None]
        a = x[t] @ kernel + b_in  # (B, 3H): the input's part of every gate
        if reset_after:
            u = (h * m) @ recurrent_kernel + bias[1]  # (B, 3H): the state's part, bias included
            z = _sigmoid(a[:, :hidden] + u[:, :hidden])
            r = _sigmoid(a[:, hidden : 2 * hidden] + u[:, hidden : 2 * hidden])
            rec = u[:, 2 * hidden :]  # h·R_h + b_rec_h, which r multiplies
            n = np.tanh(a[:, 2 * hidden :] + r * rec)
        else:
            u = (h * m) @ r_zr  # (B, 2H)
            z = _sigmoid(a[:, :hidden] + u[:, :hidden])
            r = _sigmoid(a[:, hidden : 2 * hidden] + u[:, hidden:])
            rec = r * h * m  # the reset state, which R_h multiplies
            n = np.tanh(a[:, 2 * hidden :] + rec @ r_h)
        steps.append((h, z, r, n, rec))
        h = np.where(keep, z * h + (1 - z) * n, h)
        ys.append(h)
    saved = (x, kernel, recurrent_kernel, reset_after, mask, steps, m)
    return _stack(ys, h0), h, saved


def gru_backward(saved, dy, dh_last):
    """GRU gradients given dL/dy (T, B, H) and dL/dh_T (B, H).

    Returns (dx, dkernel, drecurrent_kernel, dbias, dh0); dbias is (2, 3H) if reset_after.
    """
    x, kernel, recurrent_kernel, reset_after, mask, steps, m = saved
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
            drecurrent += (h_prev * m).T @ du
            dbias[0] += da.sum(axis=0)
            dbias[1] += du.sum(axis=0)
            dh_prev = dh_cell * z + (du @ recurrent_kernel.T) * m
        else:
            drec = dn @ r_h.T  # dL/d(r ⊙ h_{t-1} ⊙ m)
            dr = drec * h_prev * m * r * (1 - r)
            da = np.concatenate([dz, dr, dn], axis=1)
            du = np.concatenate([dz, dr], axis=1)  # (B, 2H)
            drecurrent[:, : 2 * hidden] += (h_prev * m).T @ du
            drecurrent[:, 2 * hidden :] += rec.T @ dn
            dbias += da.sum(axis=0)
            dh_prev = dh_cell * z + (du @ r_zr.T + drec * r) * m
        dx[t] = da @ kernel.T
        dkernel += x[t].T @ da
        dh = np.where(keep, dh_prev, dh)
    return dx, dkernel, drecurrent, dbias, dh


# ------------------------------------------------------------------------------------------------
# SimpleRNN

_ACTIVATIONS = ("tanh", "relu")


def rnn_forward(
    x, kernel, recurrent_kernel, bias, h0, activation="tanh", mask=None, recurrent_mask=None
):
    """SimpleRNN. x (T, B, I), h0 (B, H), activation "tanh" or "relu", mask (T, B) or None.

    Returns y (T, B, H), h_T and the saved values for ``rnn_backward``.
    """
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation must be one of {_ACTIVATIONS}, got {activation!r}")
    mask = _mask(mask, x)
    m = _recurrent_mask(recurrent_mask, h0)
    h = h0
    ys, steps = [], []
    for t in range(x.shape[0]):
        keep = mask[t][:, None]
        s = x[t] @ kernel + (h * m) @ recurrent_kernel + bias  # (B, H)
        h_new = np.tanh(s) if activation == "tanh" else np.maximum(s, 0.0)
        steps.append((h, h_new))
        h = np.where(keep, h_new, h)
        ys.append(h)
    return _stack(ys, h0), h, (x, kernel, recurrent_kernel, activation, mask, steps, m)


def rnn_backward(saved, dy, dh_last):
    """SimpleRNN gradients given dL/dy (T, B, H) and dL/dh_T (B, H).

    Returns (dx, dkernel, drecurrent_kernel, dbias, dh0).
    """
    x, kernel, recurrent_kernel, activation, mask, steps, m = saved
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
        drecurrent += (h_prev * m).T @ ds
        dbias += ds.sum(axis=0)
        dh = np.where(keep, (ds @ recurrent_kernel.T) * m, dh)
    return dx, dkernel, drecurrent, dbias, dh
