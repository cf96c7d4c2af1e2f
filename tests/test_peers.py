"""Parity with the peers, live: torch.nn.LSTM (forward and every gradient) and ONNX Runtime's
LSTM (forward), from the same weights converted by fastlstm.convert."""

from __future__ import annotations

import numpy as np
import pytest

import fastlstm
from conftest import make_problem
from fastlstm import convert
from onnx_models import recurrent_session

SIZES = [(1, 1, 5, 3), (1, 7, 37, 19), (4, 9, 37, 19), (3, 1, 8, 16), (6, 13, 16, 8)]
TOL = {np.float32: 1e-5, np.float64: 1e-10}


def assert_close(actual, expected, dtype, what):
    """Within the tolerance relative to the scale (largest magnitude) of the reference."""
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(1.0, float(np.max(np.abs(expected))))
    err = float(np.max(np.abs(actual.astype(np.float64) - expected)))
    assert err <= TOL[dtype] * scale, f"{what}: max error {err:.3g} (scale {scale:.3g})"


def torch_lstm(torch, p, dtype, time_major):
    """An nn.LSTM holding the problem's weights."""
    I, H = p["kernel"].shape[0], p["recurrent_kernel"].shape[0]
    net = torch.nn.LSTM(I, H, batch_first=not time_major).to(getattr(torch, np.dtype(dtype).name))
    w_ih, w_hh, b_ih, b_hh = convert.to_torch(p["kernel"], p["recurrent_kernel"], p["bias"])
    with torch.no_grad():
        for name, value in zip(
            ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"), (w_ih, w_hh, b_ih, b_hh)
        ):
            getattr(net, name).copy_(torch.from_numpy(value))
    return net


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("time_major", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
@pytest.mark.parametrize("sizes", SIZES)
def test_torch_forward_and_gradients(torch, sizes, with_state, time_major, dtype):
    B, _T, _, H = sizes
    p = make_problem(*sizes, dtype=dtype, seed=sum(sizes) + 11)
    x = np.ascontiguousarray(p["x"].transpose(1, 0, 2)) if time_major else p["x"]
    rng = np.random.default_rng(5)
    dy = rng.standard_normal((*x.shape[:2], H)).astype(dtype)
    dh, dc = rng.standard_normal((2, B, H)).astype(dtype)

    net = torch_lstm(torch, p, dtype, time_major)
    xt = torch.tensor(x, requires_grad=True)
    h0 = torch.tensor(p["h0"][None], requires_grad=True)
    c0 = torch.tensor(p["c0"][None], requires_grad=True)
    yt, (ht, ct) = net(xt, (h0, c0)) if with_state else net(xt)
    torch.autograd.backward(
        [yt, ht, ct], [torch.from_numpy(dy), torch.from_numpy(dh[None]), torch.from_numpy(dc[None])]
    )

    state = (p["h0"], p["c0"]) if with_state else None
    y, (h, c), cache = fastlstm.lstm_forward(
        x, p["kernel"], p["recurrent_kernel"], p["bias"], state, time_major=time_major
    )
    g = fastlstm.lstm_backward(cache, dy, (dh, dc))

    assert_close(y, yt.detach().numpy(), dtype, "y")
    assert_close(h, ht.detach().numpy()[0], dtype, "h")
    assert_close(c, ct.detach().numpy()[0], dtype, "c")
    assert_close(g.x, xt.grad.numpy(), dtype, "dx")
    assert_close(g.kernel, net.weight_ih_l0.grad.numpy().T, dtype, "dkernel")
    assert_close(g.recurrent_kernel, net.weight_hh_l0.grad.numpy().T, dtype, "drecurrent_kernel")
    assert_close(g.bias, net.bias_ih_l0.grad.numpy(), dtype, "dbias")
    if with_state:
        assert_close(g.h0, h0.grad.numpy()[0], dtype, "dh0")
        assert_close(g.c0, c0.grad.numpy()[0], dtype, "dc0")


def onnx_lstm_session(p):
    """An ONNX Runtime session running one LSTM node with the problem's weights."""
    return recurrent_session(
        "LSTM", *convert.to_onnx(p["kernel"], p["recurrent_kernel"], p["bias"])
    )


@pytest.mark.parametrize("sizes", SIZES)
def test_onnxruntime_forward(sizes):
    p = make_problem(*sizes, dtype=np.float32, seed=sum(sizes) + 23)
    session = onnx_lstm_session(p)
    Y, Y_h, Y_c = session.run(
        None,
        {
            "X": p["x"].transpose(1, 0, 2).copy(),
            "initial_h": p["h0"][None],
            "initial_c": p["c0"][None],
        },
    )
    y, (h, c) = fastlstm.lstm(
        p["x"], p["kernel"], p["recurrent_kernel"], p["bias"], (p["h0"], p["c0"])
    )
    assert_close(y, Y[:, 0].transpose(1, 0, 2), np.float32, "y")  # Y is (T, D, B, H)
    assert_close(h, Y_h[0], np.float32, "h")
    assert_close(c, Y_c[0], np.float32, "c")
