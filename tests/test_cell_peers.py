"""The compiled GRU and SimpleRNN against the peers, live: torch.nn.GRU / nn.RNN (forward and every
gradient, float32 and float64, both layouts, packed sequences with unsorted lengths) and ONNX
Runtime's GRU / RNN nodes (forward, float32, with and without sequence_lens), from the same
weights converted by fastlstm.convert."""

from __future__ import annotations

import numpy as np
import pytest

import fastlstm
from fastlstm import convert
from onnx_models import recurrent_session
from onnx_models import run as ort_run
from test_cells import (
    API,
    CELLS,
    DTYPES,
    LAYOUTS,
    NAMES,
    assert_close,
    layout,
    make,
    random_cotangents,
    weights,
)

TORCH_CELLS = pytest.mark.parametrize(
    ("kind", "opts"),
    [
        pytest.param("gru", {"reset_after": True}, id="gru"),  # torch's only GRU
        pytest.param("rnn", {"activation": "tanh"}, id="rnn-tanh"),
        pytest.param("rnn", {"activation": "relu"}, id="rnn-relu"),
    ],
)
TORCH_NAMES = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")


def torch_net(torch, kind, opts, p, dtype, time_major):
    """An nn.GRU / nn.RNN of the dtype holding the problem's weights."""
    I, H = p["kernel"].shape[0], p["recurrent_kernel"].shape[0]
    if kind == "gru":
        net = torch.nn.GRU(I, H, batch_first=not time_major)
        values = convert.gru_to_torch(*weights(p))
    else:
        net = torch.nn.RNN(I, H, nonlinearity=opts["activation"], batch_first=not time_major)
        values = convert.rnn_to_torch(*weights(p))
    net = net.to(getattr(torch, np.dtype(dtype).name))
    with torch.no_grad():
        for name, value in zip(TORCH_NAMES, values):
            getattr(net, name).copy_(torch.from_numpy(value))
    return net


def assert_weight_grads_match(kind, net, g, dtype):
    """fastlstm's weight gradients against the net's, compared in torch's layout: the converter
    is a permutation and transposition, so it maps gradients as it maps weights."""
    theirs = {n: getattr(net, n).grad.numpy() for n in TORCH_NAMES}
    if kind == "gru":
        ours = convert.gru_to_torch(g["kernel"], g["recurrent_kernel"], g["bias"])
        for name, a in zip(TORCH_NAMES, ours):
            assert_close(a, theirs[name], dtype, f"d{name}")
        return
    assert_close(g["kernel"], theirs["weight_ih_l0"].T, dtype, "dkernel")
    assert_close(g["recurrent_kernel"], theirs["weight_hh_l0"].T, dtype, "drecurrent_kernel")
    # One bias for torch's two, added in the same sum: its gradient is either one's.
    assert_close(g["bias"], theirs["bias_ih_l0"], dtype, "dbias (bias_ih)")
    assert_close(g["bias"], theirs["bias_hh_l0"], dtype, "dbias (bias_hh)")


def ours(kind, opts, p, dy, dh, time_major, **kwargs):
    """fastlstm on p with x already in the layout: (y, h, grads by name)."""
    y, h, cache = API[kind][1](
        p["x"], *weights(p), p["h0"], time_major=time_major, **opts, **kwargs
    )
    return y, h, API[kind][2](cache, dy, dh)._asdict()


def assert_all_match(kind, net, xt, h0, yt, ht, y, h, g, dtype):
    assert y.dtype == h.dtype == dtype
    assert_close(y, yt.detach().numpy(), dtype, "y")
    assert_close(h, ht.detach().numpy()[0], dtype, "h")
    assert_close(g["x"], xt.grad.numpy(), dtype, "dx")
    assert_close(g["h0"], h0.grad.numpy()[0], dtype, "dh0")
    assert_weight_grads_match(kind, net, g, dtype)


@DTYPES
@LAYOUTS
@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "initial_state"])
@pytest.mark.parametrize(
    "sizes", [(1, 1, 5, 3), (4, 9, 37, 19), (3, 6, 8, 16)], ids=lambda s: "x".join(map(str, s))
)
@TORCH_CELLS
def test_torch_forward_and_gradients(torch, kind, opts, sizes, with_state, time_major, dtype):
    B, T, _, H = sizes
    p = make(kind, opts, *sizes, dtype=dtype, seed=sum(sizes) + 11)
    if not with_state:
        p["h0"] = None
    dy, dh = random_cotangents(B, T, H, dtype, seed=5)
    x, dy = layout(p["x"], time_major), layout(dy, time_major)

    net = torch_net(torch, kind, opts, p, dtype, time_major)
    xt = torch.tensor(x, requires_grad=True)
    # Without an initial state torch starts from zeros: so does fastlstm, and dh0 is the gradient
    # there (passing zeros to torch gives it too).
    h0 = torch.tensor(np.zeros((1, B, H), dtype) if p["h0"] is None else p["h0"][None])
    h0.requires_grad_(True)
    yt, ht = net(xt, h0)
    torch.autograd.backward([yt, ht], [torch.from_numpy(dy), torch.from_numpy(dh[None])])

    y, h, g = ours(kind, opts, {**p, "x": x}, dy, dh, time_major)
    assert_all_match(kind, net, xt, h0, yt, ht, y, h, g, dtype)


@DTYPES
@LAYOUTS
@pytest.mark.parametrize(
    "lengths", [[4, 9, 1, 6, 9], [4, 8, 1, 6, 2]], ids=["longest_T", "all_shorter"]
)
@TORCH_CELLS
def test_lengths_match_torch_packed_sequences(torch, kind, opts, lengths, time_major, dtype):
    """Unsorted lengths against a packed batch (enforce_sorted=False); past each length torch
    pads y with zeros, as fastlstm's ``lengths`` does, and no gradient flows there."""
    B, T, I, H = 5, 9, 6, 7
    p = make(kind, opts, B, T, I, H, dtype=dtype, seed=3)
    lengths = np.array(lengths)
    dy, dh = random_cotangents(B, T, H, dtype, seed=8)
    x, dy = layout(p["x"], time_major), layout(dy, time_major)

    net = torch_net(torch, kind, opts, p, dtype, time_major)
    xt = torch.tensor(x, requires_grad=True)
    h0 = torch.tensor(p["h0"][None], requires_grad=True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        xt, torch.from_numpy(lengths), batch_first=not time_major, enforce_sorted=False
    )
    out, ht = net(packed, h0)
    yt, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=not time_major, total_length=T)
    torch.autograd.backward([yt, ht], [torch.from_numpy(dy), torch.from_numpy(dh[None])])

    y, h, g = ours(kind, opts, {**p, "x": x}, dy, dh, time_major, lengths=lengths)
    assert_all_match(kind, net, xt, h0, yt, ht, y, h, g, dtype)
    dx = layout(g["x"], time_major)
    assert np.all(dx[np.arange(T) >= lengths[:, None]] == 0), "no gradient past the lengths"


# -- ONNX Runtime --------------------------------------------------------------------------------


def onnx_node(kind, opts, p):
    """(op, W, R, B, attributes) of the ONNX node computing the problem's cell."""
    if kind == "gru":
        reset_after = opts["reset_after"]
        W, R, B = convert.gru_to_onnx(*weights(p), reset_after)
        return "GRU", W, R, B, {"linear_before_reset": int(reset_after)}
    return "RNN", *convert.rnn_to_onnx(*weights(p)), {"activations": [opts["activation"].title()]}


@LAYOUTS
@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "sequence_lens"])
@CELLS
def test_onnxruntime_forward(kind, opts, masked, time_major):
    B, T, I, H = 5, 7, 37, 19
    p = make(kind, opts, B, T, I, H, dtype=np.float32, seed=31)
    # Lengths >= 1: for a length-0 row ONNX Runtime returns a zero state, not the initial one.
    lengths = np.array([T, 1, 3, T - 1, 5]) if masked else None
    op, W, R, Bias, attributes = onnx_node(kind, opts, p)
    session = recurrent_session(op, W, R, Bias, sequence_lens=masked, **attributes)
    Y, Y_h = ort_run(session, layout(p["x"], True), p["h0"], lengths=lengths)

    y, h = API[kind][0](
        layout(p["x"], time_major),
        *weights(p),
        p["h0"],
        time_major=time_major,
        lengths=lengths,
        **opts,
    )
    assert y.dtype == np.float32
    assert_close(layout(y, not time_major), Y, np.float32, "y")  # both zero past the lengths
    assert_close(h, Y_h, np.float32, "h")


def test_names_cover_every_gradient():
    """The peers' comparisons above go through every field of the gradient tuples."""
    assert fastlstm.GRUGrads._fields == NAMES
    assert fastlstm.SimpleRNNGrads._fields == NAMES
