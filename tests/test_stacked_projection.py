"""fastlstm.stacked with a projection per LSTM layer and direction (4-item weight entries):
torch.nn.LSTM(num_layers=2, bidirectional=..., proj_size=P) parity for outputs, final states and
every gradient (with packed sequences of unsorted lengths), layers with and without a projection
mixed (against layer-by-layer functional calls and finite differences), clip for every layer, and
bad input."""

from __future__ import annotations

import numpy as np
import pytest

import fastlstm
from conftest import assert_inference_matches_training
from fastlstm import convert
from fastlstm import functional as F
from fastlstm.stacked import rnn, rnn_backward, rnn_forward
from test_cells import numeric_grad
from test_stacked import assert_close, make_weights, torch_module

B, T, I, H, P, L = 4, 7, 5, 6, 3, 2  # H != P: a transposed projection cannot pass unnoticed
LENGTHS = np.array([5, 7, 2, 6])  # unsorted
ONEDNN = "ignore:LSTM with projections is not supported with oneDNN"


def projected_weights(I, H, P, layers, directions, dtype, seed=0, project=None):
    """LSTM weight entries in PyTorch's order, N(0, 0.4²): (kernel, recurrent_kernel, bias,
    projection (H, P)) for layer l when project[l] (every layer by default), its outputs then P
    wide; (kernel, recurrent_kernel, bias) otherwise, its outputs H wide."""
    rng = np.random.default_rng(seed)
    project = [True] * layers if project is None else project

    def r(*shape):
        return (0.4 * rng.standard_normal(shape)).astype(dtype)

    weights, rows = [], I
    for layer in range(layers):
        width = P if project[layer] else H
        for _ in range(directions):
            entry = (r(rows, 4 * H), r(width, 4 * H), r(4 * H))
            weights.append((*entry, r(H, P)) if project[layer] else entry)
        rows = width * directions
    return weights


def torch_run(torch, net, x, h0, c0, lengths, dy, dh, dc):
    """torch's outputs (y, h_n, c_n) and gradients (dx, dh0, dc0) for the cotangents, with a
    packed sequence (unsorted) when lengths are given; the parameters' gradients stay in net."""
    T = x.shape[1]
    xt, h0t, c0t = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    inp = xt
    if lengths is not None:
        inp = torch.nn.utils.rnn.pack_padded_sequence(
            xt, torch.from_numpy(lengths), batch_first=True, enforce_sorted=False
        )
    out, (hn, cn) = net(inp, (h0t, c0t))
    if lengths is not None:
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=T)
    torch.autograd.backward([out, hn, cn], [torch.from_numpy(g) for g in (dy, dh, dc)])
    outputs = (out, hn, cn, xt.grad, h0t.grad, c0t.grad)
    return tuple(t.detach().numpy() for t in outputs)


@pytest.mark.filterwarnings(ONEDNN)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("lengths", [None, LENGTHS], ids=["full", "packed"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
def test_projection_matches_torch(torch, bidirectional, lengths, dtype):
    D = 2 if bidirectional else 1
    rng = np.random.default_rng(1)
    x = rng.standard_normal((B, T, I)).astype(dtype)
    weights = projected_weights(I, H, P, L, D, dtype)
    h0 = (0.5 * rng.standard_normal((L * D, B, P))).astype(dtype)
    c0 = (0.5 * rng.standard_normal((L * D, B, H))).astype(dtype)
    dy = rng.standard_normal((B, T, D * P)).astype(dtype)
    dh = rng.standard_normal((L * D, B, P)).astype(dtype)
    dc = rng.standard_normal((L * D, B, H)).astype(dtype)
    if lengths is not None:
        dy[np.arange(T)[None, :] >= lengths[:, None]] = 0  # padding has no gradient in torch

    net, _ = torch_module(torch, "lstm", I, H, L, bidirectional, dtype, weights, proj_size=P)
    out, hn, cn, dx, dh0, dc0 = torch_run(torch, net, x, h0, c0, lengths, dy, dh, dc)

    states = [(h0[k], c0[k]) for k in range(L * D)]
    kw = {"num_layers": L, "bidirectional": bidirectional, "lengths": lengths}
    y, final, cache = rnn_forward(x, weights, states, **kw)
    g = rnn_backward(cache, dy, [(dh[k], dc[k]) for k in range(L * D)])

    assert_close(y, out, dtype, "y")
    y_inf, final_inf = rnn(x, weights, states, **kw)
    assert_inference_matches_training(y_inf, y)
    for k in range(L * D):
        suffix = f"l{k // D}" + ("_reverse" if k % D else "")
        assert_close(final[k][0], hn[k], dtype, f"h_n[{k}]")
        assert_close(final[k][1], cn[k], dtype, f"c_n[{k}]")
        assert_inference_matches_training(final_inf[k][0], final[k][0])
        assert_close(g.layers[k].h0, dh0[k], dtype, f"dh0[{k}]")
        assert_close(g.layers[k].c0, dc0[k], dtype, f"dc0[{k}]")
        gk = g.layers[k]
        w_ih, w_hh, b_ih, _ = convert.to_torch(gk.kernel, gk.recurrent_kernel, gk.bias, proj_size=P)
        mine = {
            "weight_ih": w_ih,
            "weight_hh": w_hh,
            "bias_ih": b_ih,
            "bias_hh": b_ih,  # torch's two biases both receive the gradient of fastlstm's one
            "weight_hr": convert.projection_to_torch(gk.projection),
        }
        for name, value in mine.items():
            theirs = getattr(net, f"{name}_{suffix}").grad.numpy()
            assert_close(value, theirs, dtype, f"d{name}_{suffix}")
    assert_close(g.x, dx, dtype, "dx")

    # The comparison tells the entries apart: entry 0's and 1's projections swapped (the two
    # directions of layer 0, or layer 0 and layer 1) give another answer.
    swapped = list(weights)
    swapped[0] = (*weights[0][:3], weights[1][3])
    swapped[1] = (*weights[1][:3], weights[0][3])
    y_swapped, _ = rnn(x, swapped, states, **kw)
    assert np.max(np.abs(y_swapped - out)) > 1e-2


@pytest.mark.parametrize("clip", [None, 0.3], ids=["no_clip", "clip"])
def test_mixed_layers_equal_layer_by_layer_calls(clip):
    """A projected layer between plain ones: each entry is its own functional call, the clip goes
    to every layer, and the states keep each entry's widths."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((B, T, I))
    project = [False, True, False]
    weights = projected_weights(I, H, P, 3, 1, np.float64, seed=3, project=project)
    kw = {} if clip is None else {"clip": clip}
    y, states = rnn(x, weights, num_layers=3, lengths=LENGTHS, **kw)

    inputs = x
    for k, w in enumerate(weights):
        options = {"projection": w[3]} if len(w) == 4 else {}
        inputs, (h, c) = fastlstm.lstm(inputs, *w[:3], lengths=LENGTHS, **options, **kw)
        np.testing.assert_allclose(states[k][0], h, rtol=0, atol=1e-14)
        np.testing.assert_allclose(states[k][1], c, rtol=0, atol=1e-14)
        assert h.shape == (B, P if project[k] else H)
        assert c.shape == (B, H)
    np.testing.assert_allclose(y, inputs, rtol=0, atol=1e-14)
    if clip is not None:  # the clip reaches the layers: the answer is not the unclipped one
        y_plain, _ = rnn(x, weights, num_layers=3, lengths=LENGTHS)
        assert np.max(np.abs(y_plain - y)) > 1e-3


@pytest.mark.parametrize("merge_mode", ["concat", "sum"])
def test_mixed_layers_finite_differences(merge_mode):
    """Every gradient of a bidirectional stack whose layer 0 is plain and layer 1 projected, with
    lengths, against central differences (float64)."""
    B, T, I, H, P = 2, 4, 3, 3, 2
    rng = np.random.default_rng(4)
    weights = projected_weights(I, H, P, 2, 2, np.float64, seed=5, project=[False, True])
    widths = [H, H, P, P]
    names = ("kernel", "recurrent_kernel", "bias", "projection")
    params = {"x": rng.standard_normal((B, T, I))}
    for k, w in enumerate(weights):
        params |= {f"{name}{k}": a for name, a in zip(names, w)}  # 3 or 4 items
        params[f"h0{k}"] = 0.5 * rng.standard_normal((B, widths[k]))
        params[f"c0{k}"] = 0.5 * rng.standard_normal((B, H))
    lengths = np.array([3, 4])
    kw = {"num_layers": 2, "bidirectional": True, "merge_mode": merge_mode, "lengths": lengths}
    dy = rng.standard_normal((B, T, 2 * P if merge_mode == "concat" else P))
    dstates = [(rng.standard_normal((B, widths[k])), rng.standard_normal((B, H))) for k in range(4)]

    def split():
        ws = [tuple(params[f"{n}{k}"] for n in names if f"{n}{k}" in params) for k in range(4)]
        return ws, [(params[f"h0{k}"], params[f"c0{k}"]) for k in range(4)]

    def loss():
        y, states = rnn(params["x"], *split(), **kw)
        total = np.sum(y * dy)
        for (h, c), (dh, dc) in zip(states, dstates):
            total += np.sum(h * dh) + np.sum(c * dc)
        return float(total)

    _, _, cache = rnn_forward(params["x"], *split(), **kw)
    g = rnn_backward(cache, dy, dstates)
    assert type(g.layers[0]) is F.LSTMGrads  # no projection: the plain gradients
    assert type(g.layers[2]) is F.LSTMOptionGrads
    analytic = {"x": g.x}
    for k, gk in enumerate(g.layers):
        for name, value in gk._asdict().items():
            if name != "x" and value is not None:
                analytic[f"{name}{k}"] = value
    assert analytic.keys() == params.keys()
    for name, value in analytic.items():
        np.testing.assert_allclose(
            value, numeric_grad(params, name, loss), rtol=1e-6, atol=1e-8, err_msg=name
        )


# -- bad input ----------------------------------------------------------------------------------


def _bad_call(case):
    """(weights, kwargs) for rnn over x (B, T, I) with 2 bidirectional layers."""
    kw = {"num_layers": 2, "bidirectional": True}
    if case in ("gru", "simple_rnn"):
        weights = make_weights(case, I, H, 2, 2, np.float64)
        weights[0] = (*weights[0], np.zeros((H, P)))
        return weights, kw | {"cell": case}
    weights = projected_weights(I, H, P, 2, 2, np.float64)
    k, r, b, p = weights[1]
    if case == "five_items":
        weights[1] = (k, r, b, p, p)
    elif case == "transposed":
        weights[1] = (k, r, b, p.T)
    elif case == "one_d":
        weights[1] = (k, r, b, p[:, 0])
    elif case == "other_width":  # a consistent entry, 2 wide instead of 3
        weights[1] = (k, np.zeros((2, 4 * H)), b, np.zeros((H, 2)))
    elif case == "no_projection":  # a consistent entry without a projection, H wide
        weights[1] = (k, np.zeros((H, 4 * H)), b)
    elif case == "next_kernel":  # layer 1 built for 2H inputs instead of 2P
        weights[2] = (np.zeros((2 * H, 4 * H)), *weights[2][1:])
    elif case in ("projection", "peephole"):
        kw[case] = p if case == "projection" else np.zeros(3 * H)
    elif case == "state":  # h0 H wide instead of P
        kw["initial_state"] = [(np.zeros((B, H)), np.zeros((B, H)))] * 4
    return weights, kw


BAD = {  # case: (error, message)
    "gru": (
        ValueError,
        (
            r"weights\[0\]: expected \(kernel, recurrent_kernel, bias\) \(only an LSTM entry has a "
            r"4th item, its projection\) for cell='gru', got 4 items"
        ),
    ),
    "simple_rnn": (ValueError, r"weights\[0\]: .* for cell='simple_rnn', got 4 items"),
    "five_items": (
        ValueError,
        (
            r"weights\[1\]: expected \(kernel, recurrent_kernel, bias\) or \(kernel, "
            r"recurrent_kernel, bias, projection\) for cell='lstm', got 5 items"
        ),
    ),
    "transposed": (
        ValueError,
        (
            r"layer 0, direction 1 \(weights\[1\]\): projection: expected shape \(6, 3\) "
            r"\(hidden, proj\) to match recurrent_kernel .*got its transpose \(3, 6\)"
        ),
    ),
    "one_d": (
        ValueError,
        r"layer 0, direction 1 \(weights\[1\]\): projection: expected a 2-D array",
    ),
    "other_width": (
        ValueError,
        (
            r"layer 0: weights\[0\] gives outputs 3 wide and weights\[1\] 2 wide; the directions "
            r"of a layer must give the same width"
        ),
    ),
    "no_projection": (
        ValueError,
        r"layer 0: weights\[0\] gives outputs 3 wide and weights\[1\] 6 wide",
    ),
    "next_kernel": (
        ValueError,
        r"layer 1, direction 0 \(weights\[2\]\): kernel: expected shape \(6, 24\)",
    ),
    "projection": (
        TypeError,
        r"projection: stacked.rnn takes no projection= keyword .* 4th item of its weight entry",
    ),
    "peephole": (TypeError, "peephole: stacked.rnn takes no peephole= keyword"),
    "state": (
        ValueError,
        (
            r"layer 0, direction 0 \(weights\[0\]\): initial_state\[0\]: expected shape "
            r"\(4, 3\) \(batch, proj\)"
        ),
    ),
}


@pytest.mark.parametrize("case", BAD)
@pytest.mark.parametrize("fn", [rnn, rnn_forward], ids=["rnn", "rnn_forward"])
def test_bad_projected_entries(fn, case):
    error, match = BAD[case]
    weights, kw = _bad_call(case)
    initial_state = kw.pop("initial_state", None)
    with pytest.raises(error, match=match):
        fn(np.zeros((B, T, I)), weights, initial_state, **kw)


def test_bad_projected_state_gradients():
    weights = projected_weights(I, H, P, 2, 2, np.float64)
    _, _, cache = rnn_forward(np.zeros((B, T, I)), weights, num_layers=2, bidirectional=True)
    dstates = [(None, None)] * 4
    dstates[3] = (np.zeros((B, H)), None)  # dh H wide instead of P
    with pytest.raises(ValueError, match=r"layer 1, direction 1 \(entry 3 of weights and dstates"):
        rnn_backward(cache, None, dstates)
