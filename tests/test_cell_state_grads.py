"""Training through the cell states: lstm_backward's ``dcell_states`` (dL/dc_t for every step, where
a loss reads the cell states as an output) against torch's autograd, live, through an LSTM
written step by step in torch (nn.LSTM does not return c_t per step), with masks (one run a row,
left-padded; with gaps), lengths, a projection, both layouts, float32 and float64; the NumPy
oracle against the same."""

from __future__ import annotations

import numpy as np
import pytest

import fastlstm
from conftest import import_peer
from fastlstm import oracle
from test_cells import TOL, assert_close, layout

DTYPES = pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])


def problem(B, T, I, H, P, dtype, seed):
    """Batch-major x, weights in fastlstm's layout (a projection (H, P) when P), states and the
    upstream gradients dy, dh, dc and dcs (dL/dc_t per step), all N(0, 1) or scaled so that the
    recurrence neither explodes nor vanishes."""
    rng = np.random.default_rng(seed)
    width = P or H

    def r(*shape, s=1.0):
        return (s * rng.standard_normal(shape)).astype(dtype)

    p = {
        "x": r(B, T, I),
        "kernel": r(I, 4 * H, s=I**-0.5),
        "recurrent_kernel": r(width, 4 * H, s=width**-0.5),
        "bias": r(4 * H, s=0.5),
        "h0": r(B, width, s=0.5),
        "c0": r(B, H, s=0.5),
        "projection": r(H, P, s=H**-0.5) if P else None,
    }
    up = {"dy": r(B, T, width), "dh": r(B, width), "dc": r(B, H), "dcs": r(B, T, H)}
    return p, up


def masks(kind, B, T, rng):
    """(mask, lengths): None, or a (B, T) bool mask of the kind, or (B,) lengths in no order."""
    if kind == "none":
        return None, None
    if kind == "lengths":
        lengths = rng.integers(0, T + 1, size=B)
        lengths[0] = T
        return None, lengths
    if kind == "left":  # Keras's pad_sequences: the padding first, one run a row
        valid = rng.integers(0, T + 1, size=B)
        return np.arange(T)[None, :] >= (T - valid)[:, None], None
    mask = rng.random((B, T)) < 0.7  # "gaps": any step may be masked
    return mask, None


def torch_grads(torch, p, up, mask, zero):
    """The same LSTM in torch, step by step: y, c_t per step and the gradients of
    sum(dy·y) + sum(dcs·c_seq) + sum(dh·h_T) + sum(dc·c_T). A masked step carries h and c; its
    output is zero where ``zero`` (lengths), else the carried h (Keras)."""
    names = ["x", "kernel", "recurrent_kernel", "bias", "h0", "c0"]
    if p["projection"] is not None:
        names.append("projection")
    t = {n: torch.tensor(p[n].astype(np.float64), requires_grad=True) for n in names}
    H = p["c0"].shape[1]
    h, c = t["h0"], t["c0"]
    ys, cs = [], []
    for step in range(p["x"].shape[1]):
        z = t["x"][:, step] @ t["kernel"] + h @ t["recurrent_kernel"] + t["bias"]
        i, f = torch.sigmoid(z[:, :H]), torch.sigmoid(z[:, H : 2 * H])
        g, o = torch.tanh(z[:, 2 * H : 3 * H]), torch.sigmoid(z[:, 3 * H :])
        c_new = f * c + i * g
        h_new = o * torch.tanh(c_new)
        if "projection" in t:
            h_new = h_new @ t["projection"]
        if mask is None:
            h, c, y = h_new, c_new, h_new
        else:
            keep = torch.from_numpy(mask[:, step])[:, None]
            h, c = torch.where(keep, h_new, h), torch.where(keep, c_new, c)
            y = torch.where(keep, h, torch.zeros_like(h)) if zero else h
        ys.append(y)
        cs.append(c)
    y, c_seq = torch.stack(ys, 1), torch.stack(cs, 1)
    u = {k: torch.from_numpy(v.astype(np.float64)) for k, v in up.items()}
    loss = (
        (y * u["dy"]).sum() + (c_seq * u["dcs"]).sum() + (h * u["dh"]).sum() + (c * u["dc"]).sum()
    )
    loss.backward()
    grads = {n: t[n].grad.numpy() for n in names}
    return y.detach().numpy(), c_seq.detach().numpy(), grads


CASES = [
    # (B, T, I, H, P, masking)
    (5, 7, 6, 8, 0, "none"),
    (5, 7, 6, 8, 0, "lengths"),
    (5, 7, 6, 8, 0, "left"),
    (5, 7, 6, 8, 0, "gaps"),
    (4, 6, 5, 8, 3, "lengths"),
    (4, 6, 5, 8, 3, "gaps"),
    # R of 576 KiB in float32: backward may split its step products by units
    (2, 9, 8, 192, 0, "none"),
    (3, 9, 8, 192, 0, "lengths"),
]


@DTYPES
@pytest.mark.parametrize("time_major", [False, True], ids=["batch_major", "time_major"])
@pytest.mark.parametrize(("B", "T", "I", "H", "P", "masking"), CASES)
def test_cell_state_gradients_match_torch(B, T, I, H, P, masking, time_major, dtype):
    torch = import_peer("torch")
    p, up = problem(B, T, I, H, P, dtype, seed=B * 100 + T + H)
    mask, lengths = masks(masking, B, T, np.random.default_rng(H + T))
    steps = mask if lengths is None else np.arange(T)[None, :] < lengths[:, None]
    want_y, want_c_seq, want = torch_grads(torch, p, up, steps, zero=lengths is not None)
    y, _, cache = fastlstm.lstm_forward(
        layout(p["x"], time_major),
        p["kernel"],
        p["recurrent_kernel"],
        p["bias"],
        (p["h0"], p["c0"]),
        time_major=time_major,
        mask=mask,
        lengths=lengths,
        projection=p["projection"],
    )
    assert_close(layout(y, time_major), want_y, dtype, "y")
    assert_close(layout(cache.cell_states, time_major), want_c_seq, dtype, "cell_states")
    g = fastlstm.lstm_backward(
        cache,
        layout(up["dy"], time_major),
        (up["dh"], up["dc"]),
        dcell_states=layout(up["dcs"], time_major),
    )
    ours = {
        "x": layout(g.x, time_major),
        "kernel": g.kernel,
        "recurrent_kernel": g.recurrent_kernel,
        "bias": g.bias,
        "h0": g.h0,
        "c0": g.c0,
    }
    if P:
        ours["projection"] = g.projection
    for name, value in want.items():
        assert_close(ours[name], value, dtype, f"d{name}")
    # Without dcell_states the answer differs wherever c_t reaches (so the term was used), and
    # dcell_states=None is the plain backward's answer, bit for bit.
    plain = fastlstm.lstm_backward(cache, layout(up["dy"], time_major), (up["dh"], up["dc"]))
    assert not np.allclose(plain.kernel, g.kernel)
    again = fastlstm.lstm_backward(
        cache, layout(up["dy"], time_major), (up["dh"], up["dc"]), dcell_states=None
    )
    np.testing.assert_array_equal(again.kernel, plain.kernel)


@pytest.mark.parametrize("masking", ["none", "left", "gaps"])
def test_oracle_cell_state_gradients_match_torch(masking):
    """The slow oracle beside the compiled backward takes dc_seq too (time-major, float64)."""
    torch = import_peer("torch")
    B, T, I, H = 4, 6, 5, 7
    p, up = problem(B, T, I, H, 0, np.float64, seed=7)
    mask, _ = masks(masking, B, T, np.random.default_rng(3))
    _, _, want = torch_grads(torch, p, up, mask, zero=False)
    tm = {k: np.ascontiguousarray(np.swapaxes(up[k], 0, 1)) for k in ("dy", "dcs")}
    _, _, _, saved = oracle.forward(
        np.swapaxes(p["x"], 0, 1),
        p["kernel"],
        p["recurrent_kernel"],
        p["bias"],
        p["h0"],
        p["c0"],
        mask=None if mask is None else mask.T,
    )
    dx, dk, dr, db, dh0, dc0 = oracle.backward(saved, tm["dy"], up["dh"], up["dc"], tm["dcs"])
    dtype = np.float64
    assert_close(np.swapaxes(dx, 0, 1), want["x"], dtype, "dx", TOL)
    for name, value in zip(
        ("kernel", "recurrent_kernel", "bias", "h0", "c0"), (dk, dr, db, dh0, dc0)
    ):
        assert_close(value, want[name], dtype, f"d{name}", TOL)


def test_bad_cell_state_gradients():
    p, up = problem(2, 3, 4, 5, 0, np.float32, seed=1)
    w = (p["kernel"], p["recurrent_kernel"], p["bias"])
    _, _, cache = fastlstm.lstm_forward(p["x"], *w)
    with pytest.raises(ValueError, match=r"dcell_states: expected shape \(2, 3, 5\)"):
        fastlstm.lstm_backward(cache, None, dcell_states=up["dcs"][:, :2])
    with pytest.raises(TypeError, match="dcell_states"):
        fastlstm.lstm_backward(cache, None, dcell_states="cells")
    # A cell without a cell state has nothing to take it.
    gw = (
        np.zeros((4, 15), np.float32),
        np.zeros((5, 15), np.float32),
        np.zeros((2, 15), np.float32),
    )
    _, _, gcache = fastlstm.gru_forward(p["x"], *gw)
    with pytest.raises(ValueError, match="dcell_states: expected None for a cell without"):
        fastlstm._core.rnn_backward("gru", gcache._saved, None, None, None, False, True, up["dcs"])
