"""The LSTM's options (peepholes, cell clip, projection) and recurrent dropout in every cell.

The compiled core against the NumPy oracle (forward, backward, masks and lengths, both layouts,
1 and 2 threads, including the path that splits hidden units across threads); the oracle against
finite differences (float64); ONNX Runtime for peepholes and clip; torch's ``proj_size`` for the
projection; streams; semantics that need no reference (a zero dropout mask is a zero recurrent
kernel); bad input.
"""

from __future__ import annotations

import numpy as np
import pytest

import fastlstm
from fastlstm import convert, oracle
from onnx_models import recurrent_session
from onnx_models import run as ort_run
from test_cells import TOL, assert_close, layout, numeric_grad
from test_cells import make as make_cell

DTYPES = pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
LAYOUTS = pytest.mark.parametrize("time_major", [False, True], ids=["batch_major", "time_major"])
OPTIONS = pytest.mark.parametrize(
    "options",
    [("peephole",), ("clip",), ("peephole", "clip"), ("projection",), ("peephole", "projection")],
    ids=["peep", "clip", "peep+clip", "proj", "peep+proj"],
)
# (B, T, I, H): one row; a batch; B < 4 rows per thread with work enough for two threads (the
# hidden units are split across threads); a batch split across threads.
SIZES = [(1, 6, 5, 3), (5, 9, 37, 19), (2, 6, 8, 160), (9, 8, 16, 64)]
LSTM_NAMES = ("x", "kernel", "recurrent_kernel", "bias", "h0", "c0")
CLIP = 0.8  # below many of the pre-activations of these problems: clipping happens


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    before = fastlstm.get_num_threads()
    fastlstm.set_num_threads(request.param)
    yield request.param
    fastlstm.set_num_threads(before)


def lstm_problem(B, T, I, H, dtype=np.float64, seed=0, options=(), dropout=False):
    """Batch-major x (B, T, I), weights, (h0, c0) and the options asked for; entries N(0, 0.25)
    (x N(0, 1)), kernels scaled by fan-in so that float32 rounding is not amplified over steps.
    With "projection", h is P = max(1, H // 2) wide."""
    rng = np.random.default_rng(seed)

    def r(*shape, s=0.5):
        return (s * rng.standard_normal(shape)).astype(dtype)

    P = max(1, H // 2) if "projection" in options else H
    p = {
        "x": r(B, T, I, s=1.0),
        "kernel": r(I, 4 * H, s=1.5 / np.sqrt(I)),
        "recurrent_kernel": r(P, 4 * H, s=1.5 / np.sqrt(P)),
        "bias": r(4 * H),
        "h0": r(B, P),
        "c0": r(B, H),
    }
    kw = {}
    if "projection" in options:
        kw["projection"] = r(H, P, s=1.2 / np.sqrt(H))
    if "peephole" in options:
        kw["peephole"] = r(3 * H, s=0.7)
    if "clip" in options:
        kw["clip"] = CLIP
    if dropout:
        kw["recurrent_dropout_mask"] = dropout_mask(rng, B, P, dtype)
    return p, kw


def dropout_mask(rng, B, H, dtype, rate=0.4):
    """Keras's recurrent dropout mask: Bernoulli(1 - rate) / (1 - rate)."""
    return ((rng.random((B, H)) >= rate) / (1 - rate)).astype(dtype)


def lstm_reference(p, kw, mask=None, lengths=None):
    """The oracle in float64 on p's numbers: y (B, T, H), h, c and the gradient function."""
    a = {n: np.asarray(v, np.float64) for n, v in p.items()}
    T = a["x"].shape[1]
    if lengths is not None:
        mask = np.arange(T) < np.asarray(lengths)[:, None]
    m = None if mask is None else np.ascontiguousarray(np.asarray(mask, bool).T)
    options = {
        "peephole": None if "peephole" not in kw else np.asarray(kw["peephole"], np.float64),
        "clip": kw.get("clip"),
        "recurrent_mask": kw.get("recurrent_dropout_mask"),
        "projection": None if "projection" not in kw else np.asarray(kw["projection"], np.float64),
    }
    y, h, c, saved = oracle.forward(
        layout(a["x"], True), a["kernel"], a["recurrent_kernel"], a["bias"], a["h0"], a["c0"],
        mask=m, **options,
    )  # fmt: skip
    if lengths is not None:
        y = y * m[:, :, None]  # lengths: outputs past each length are zero

    def grads(dy, dh, dc):
        dy = layout(np.asarray(dy, np.float64), True)
        if lengths is not None:
            dy = dy * m[:, :, None]
        dx, *rest = oracle.backward(
            saved, dy, np.asarray(dh, np.float64), np.asarray(dc, np.float64)
        )
        names = LSTM_NAMES + tuple(n for n in ("peephole", "projection") if n in kw)
        return dict(zip(names, (layout(dx, True), *rest)))

    return layout(y, True), h, c, grads


def lstm_core(p, kw, dy, dh, dc, time_major=False, **masks):
    """Inference and training outputs of the compiled LSTM, batch-major, and its gradients."""
    args = (layout(p["x"], time_major), p["kernel"], p["recurrent_kernel"], p["bias"])
    state = (p["h0"], p["c0"])
    y_inf, (h_inf, c_inf) = fastlstm.lstm(*args, state, time_major=time_major, **masks, **kw)
    y, (h, c), cache = fastlstm.lstm_forward(*args, state, time_major=time_major, **masks, **kw)
    g = fastlstm.lstm_backward(cache, layout(dy, time_major), (dh, dc))._asdict()
    g = {name: v for name, v in g.items() if v is not None}  # the options not used
    g["x"] = layout(g["x"], time_major)
    outputs = {"y": layout(y, time_major), "h": h, "c": c, "y_inf": layout(y_inf, time_major)}
    return outputs | {"h_inf": h_inf, "c_inf": c_inf}, g


def cotangents(B, T, P, dtype, seed=1, H=None):
    """dL/dy (B, T, P), dL/dh (B, P) and dL/dc (B, H); H = P unless given."""
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((B, T, P)).astype(dtype),
        rng.standard_normal((B, P)).astype(dtype),
        rng.standard_normal((B, P if H is None else H)).astype(dtype),
    )


def check_lstm(p, kw, dtype, time_major=False, **masks):
    B, T, _ = p["x"].shape
    dy, dh, dc = cotangents(B, T, p["h0"].shape[1], dtype, H=p["c0"].shape[1])
    out, g = lstm_core(p, kw, dy, dh, dc, time_major, **masks)
    y_ref, h_ref, c_ref, ref_grads = lstm_reference(p, kw, **masks)
    expected = {"y": y_ref, "h": h_ref, "c": c_ref, "y_inf": y_ref, "h_inf": h_ref, "c_inf": c_ref}
    for name, e in expected.items():
        assert_close(out[name], e, dtype, name)
    g_ref = ref_grads(dy, dh, dc)
    assert g.keys() == g_ref.keys()
    for name, e in g_ref.items():
        assert_close(g[name], e, dtype, "d" + name)
    return out, g


# -- LSTM options against the oracle ----------------------------------------------------------------


@DTYPES
@LAYOUTS
@pytest.mark.parametrize("sizes", SIZES, ids=lambda s: "x".join(map(str, s)))
@OPTIONS
def test_lstm_options_match_oracle(options, sizes, time_major, dtype, threads):
    p, kw = lstm_problem(*sizes, dtype=dtype, seed=sum(sizes), options=options)
    out, g = check_lstm(p, kw, dtype, time_major)
    if "clip" in options:  # the problem does reach the clip, so the test exercises it
        a = {n: np.asarray(v, np.float64) for n, v in p.items()}
        z = a["x"] @ a["kernel"] + a["bias"]
        assert np.mean(np.abs(z) > CLIP) > 0.1
    # Bitwise repeatable with the same thread count (the same cotangents as check_lstm's).
    B, T, _, H = sizes
    P = p["h0"].shape[1]
    again, g2 = lstm_core(p, kw, *cotangents(B, T, P, dtype, H=H), time_major)
    np.testing.assert_array_equal(again["y"], out["y"])
    for name in g:
        np.testing.assert_array_equal(g2[name], g[name])


@pytest.mark.parametrize("masking", ["mask", "lengths"])
@OPTIONS
def test_lstm_options_with_masks(options, masking):
    B, T, I, H = 4, 7, 6, 5
    p, kw = lstm_problem(B, T, I, H, seed=3, options=options, dropout=True)
    rng = np.random.default_rng(4)
    if masking == "mask":
        check_lstm(p, kw, np.float64, mask=rng.random((B, T)) < 0.7)
    else:
        check_lstm(p, kw, np.float64, lengths=np.array([T, 0, 3, 1]))


def test_no_options_are_the_plain_lstm():
    """Zero peepholes, a clip no input reaches and a dropout mask of ones change nothing."""
    p, _ = lstm_problem(3, 5, 4, 6, seed=5)
    dy, dh, dc = cotangents(3, 5, 6, np.float64)
    plain, g = lstm_core(p, {}, dy, dh, dc)
    kw = {"peephole": np.zeros(18), "clip": 1e6, "recurrent_dropout_mask": np.ones((3, 6))}
    same, g2 = lstm_core(p, kw, dy, dh, dc)
    for name in plain:
        np.testing.assert_allclose(same[name], plain[name], rtol=0, atol=1e-14)
    for name in g:
        np.testing.assert_allclose(g2[name], g[name], rtol=0, atol=1e-13)
    assert np.any(g2["peephole"] != 0)  # the zero peepholes still get their gradient


def test_clip_bounds_the_gates():
    """With a tiny clip every gate sits within [act(-clip), act(clip)]; c_t then follows."""
    p, _ = lstm_problem(2, 6, 4, 3, seed=6)
    clip = 0.05
    y, _, c_seq = fastlstm.lstm(
        p["x"], p["kernel"], p["recurrent_kernel"], p["bias"], (p["h0"], p["c0"]), clip=clip,
        return_cell_states=True,
    )  # fmt: skip
    s_hi, t_hi = 1 / (1 + np.exp(-clip)), np.tanh(clip)
    # |h_t| = o·|tanh(c_t)| <= σ(clip)·|tanh(c_t)|, and c_t grows at most by σ(clip)·tanh(clip).
    assert np.all(np.abs(y) <= s_hi * np.abs(np.tanh(c_seq)) + 1e-12)
    c_prev = np.concatenate([p["c0"][:, None], c_seq[:, :-1]], axis=1)
    assert np.all(np.abs(c_seq) <= s_hi * np.abs(c_prev) + s_hi * t_hi + 1e-12)


# -- recurrent dropout in every cell ---------------------------------------------------------------

CELLS = pytest.mark.parametrize(
    ("kind", "opts"),
    [
        pytest.param("gru", {"reset_after": True}, id="gru-reset_after"),
        pytest.param("gru", {"reset_after": False}, id="gru-reset_before"),
        pytest.param("rnn", {"activation": "tanh"}, id="rnn-tanh"),
        pytest.param("rnn", {"activation": "relu"}, id="rnn-relu"),
    ],
)
CELL_API = {
    "gru": (fastlstm.gru, fastlstm.gru_forward, fastlstm.gru_backward),
    "rnn": (fastlstm.simple_rnn, fastlstm.simple_rnn_forward, fastlstm.simple_rnn_backward),
}
CELL_NAMES = ("x", "kernel", "recurrent_kernel", "bias", "h0")


@DTYPES
@pytest.mark.parametrize("sizes", SIZES, ids=lambda s: "x".join(map(str, s)))
@CELLS
def test_recurrent_dropout_matches_oracle(kind, opts, sizes, dtype, threads):
    B, T, _, H = sizes
    p = make_cell(kind, opts, *sizes, dtype=dtype, seed=sum(sizes), fan_in=True)
    rng = np.random.default_rng(7)
    m = dropout_mask(rng, B, H, dtype)
    mask = rng.random((B, T)) < 0.8
    dy, dh, _ = cotangents(B, T, H, dtype)
    w = (p["kernel"], p["recurrent_kernel"], p["bias"])
    run, fwd, bwd = CELL_API[kind]
    kw = {"recurrent_dropout_mask": m, "mask": mask, **opts}
    y_inf, h_inf = run(p["x"], *w, p["h0"], **kw)
    y, h, cache = fwd(p["x"], *w, p["h0"], **kw)
    g = bwd(cache, dy, dh)._asdict()

    a = {n: np.asarray(v, np.float64) for n, v in p.items()}
    f, b = (oracle.gru_forward, oracle.gru_backward) if kind == "gru" else (
        oracle.rnn_forward, oracle.rnn_backward)  # fmt: skip
    y_ref, h_ref, saved = f(
        layout(a["x"], True), a["kernel"], a["recurrent_kernel"], a["bias"], a["h0"],
        mask=np.ascontiguousarray(mask.T), recurrent_mask=m.astype(np.float64), **opts,
    )  # fmt: skip
    dx, *rest = b(saved, layout(dy.astype(np.float64), True), dh.astype(np.float64))
    for name, actual, e in (("y", y, layout(y_ref, True)), ("h", h, h_ref),
                            ("y_inf", y_inf, layout(y_ref, True)), ("h_inf", h_inf, h_ref)):  # fmt: skip
        assert_close(actual, e, dtype, name)
    for name, e in zip(CELL_NAMES, (layout(dx, True), *rest)):
        assert_close(g[name], e, dtype, "d" + name)


@pytest.mark.parametrize("kind", ["lstm", "gru", "gru_reset_before", "rnn_tanh", "rnn_relu"])
def test_zero_dropout_mask_is_a_zero_recurrent_kernel(kind):
    """Dropping every unit removes the recurrent product and nothing else (the state update of a
    GRU still reads h_{t-1}): the same outputs as a zero recurrent kernel."""
    B, T, I, H = 3, 5, 4, 6
    name, opts = {
        "lstm": ("lstm", {}),
        "gru": ("gru", {"reset_after": True}),
        "gru_reset_before": ("gru", {"reset_after": False}),
        "rnn_tanh": ("rnn", {"activation": "tanh"}),
        "rnn_relu": ("rnn", {"activation": "relu"}),
    }[kind]
    if name == "lstm":
        p, _ = lstm_problem(B, T, I, H, seed=8)
        run = fastlstm.lstm
        state = (p["h0"], p["c0"])
    else:
        p = make_cell(name, opts, B, T, I, H, seed=8)
        run = CELL_API[name][0]
        state = p["h0"]
    dropped = run(p["x"], p["kernel"], p["recurrent_kernel"], p["bias"], state,
                  recurrent_dropout_mask=np.zeros((B, H)), **opts)  # fmt: skip
    no_r = run(p["x"], p["kernel"], np.zeros_like(p["recurrent_kernel"]), p["bias"], state, **opts)
    kept = run(p["x"], p["kernel"], p["recurrent_kernel"], p["bias"], state, **opts)
    np.testing.assert_allclose(dropped[0], no_r[0], rtol=0, atol=1e-14)
    assert not np.allclose(kept[0], no_r[0], atol=1e-3)


# -- finite differences of the oracle (float64) -------------------------------------------------


@pytest.mark.parametrize("masking", ["none", "mask", "lengths"])
@OPTIONS
def test_lstm_options_finite_differences(options, masking):
    """The oracle's gradients (which the core matches above) against central differences, for
    every input, weight, state and the peepholes, with recurrent dropout."""
    B, T, I, H = 2, 4, 3, 3
    p, kw = lstm_problem(B, T, I, H, seed=9, options=options, dropout=True)
    masks = {
        "none": {},
        "mask": {"mask": np.array([[1, 0, 1, 1], [0, 1, 1, 0]], bool)},
        "lengths": {"lengths": np.array([3, 4])},
    }[masking]
    dy, dh, dc = cotangents(B, T, p["h0"].shape[1], np.float64, seed=10, H=H)
    extra = [n for n in ("peephole", "projection") if n in kw]
    params = {**p, **{n: kw[n] for n in extra}}

    def loss():
        kw2 = {**kw, **{n: params[n] for n in extra}}
        y, h, c, _ = lstm_reference(params, kw2, **masks)
        return float(np.sum(y * dy) + np.sum(h * dh) + np.sum(c * dc))

    _, _, _, grads = lstm_reference(params, kw, **masks)
    analytic = grads(dy, dh, dc)
    for name, g in analytic.items():
        np.testing.assert_allclose(g, numeric_grad(params, name, loss), rtol=1e-6, atol=1e-8,
                                   err_msg=name)  # fmt: skip


@CELLS
def test_recurrent_dropout_finite_differences(kind, opts):
    B, T, I, H = 2, 4, 3, 3
    p = make_cell(kind, opts, B, T, I, H, seed=11)
    m = dropout_mask(np.random.default_rng(12), B, H, np.float64)
    mask = np.array([[1, 1, 0, 1], [1, 0, 1, 1]], bool).T
    dy, dh, _ = cotangents(B, T, H, np.float64, seed=13)
    dy = layout(dy, True)
    f, b = (oracle.gru_forward, oracle.gru_backward) if kind == "gru" else (
        oracle.rnn_forward, oracle.rnn_backward)  # fmt: skip
    x = layout(p["x"], True)
    arrays = {"x": x, **{n: p[n] for n in CELL_NAMES[1:]}}

    def loss():
        y, h, _ = f(*arrays.values(), mask=mask, recurrent_mask=m, **opts)
        return float(np.sum(y * dy) + np.sum(h * dh))

    _, _, saved = f(*arrays.values(), mask=mask, recurrent_mask=m, **opts)
    for name, g in zip(CELL_NAMES, b(saved, dy, dh)):
        np.testing.assert_allclose(g, numeric_grad(arrays, name, loss), rtol=1e-6, atol=1e-8,
                                   err_msg=name)  # fmt: skip


# -- ONNX Runtime -------------------------------------------------------------------------------


@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "sequence_lens"])
@pytest.mark.parametrize(  # ONNX's LSTM has no projection
    "options", [("peephole",), ("clip",), ("peephole", "clip")], ids=["peep", "clip", "peep+clip"]
)
def test_onnxruntime_peepholes_and_clip(options, masked):
    B, T, I, H = 5, 7, 37, 19
    p, kw = lstm_problem(B, T, I, H, dtype=np.float32, seed=14, options=options)
    lengths = np.array([T, 1, 3, T - 1, 5]) if masked else None
    W, R, Bias = convert.to_onnx(p["kernel"], p["recurrent_kernel"], p["bias"])
    attributes = {"clip": CLIP} if "clip" in kw else {}
    P = convert.peephole_to_onnx(kw["peephole"]) if "peephole" in kw else None
    session = recurrent_session("LSTM", W, R, Bias, sequence_lens=masked, P=P, **attributes)
    Y, Y_h, Y_c = ort_run(session, layout(p["x"], True), p["h0"], p["c0"], lengths)

    args = (p["x"], p["kernel"], p["recurrent_kernel"], p["bias"], (p["h0"], p["c0"]))
    y, (h, c) = fastlstm.lstm(*args, lengths=lengths, **kw)
    assert_close(layout(y, True), Y, np.float32, "y")
    assert_close(h, Y_h, np.float32, "h")
    assert_close(c, Y_c, np.float32, "c")
    # The options change the answer: the comparison is not one of plain LSTMs.
    y_plain, _ = fastlstm.lstm(*args, lengths=lengths)
    assert np.max(np.abs(y_plain - y)) > 1e-2


def test_peephole_conversion_round_trips():
    p = np.arange(12.0)
    P = convert.peephole_to_onnx(p)
    assert P.shape == (1, 12)
    np.testing.assert_array_equal(P[0], np.r_[p[:4], p[8:], p[4:8]])  # i, o, f
    np.testing.assert_array_equal(convert.peephole_from_onnx(P), p)


# -- torch's proj_size ---------------------------------------------------------------------------


@DTYPES
@pytest.mark.parametrize("lengths", [None, [7, 2, 5, 1]], ids=["full", "packed"])
@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
def test_projection_matches_torch(torch, lengths, dtype):
    """nn.LSTM(proj_size=P): outputs, final states and every gradient, weight_hr included; with
    lengths, against a packed sequence (unsorted)."""
    B, T, I, H, P = 4, 7, 6, 9, 4
    p, kw = lstm_problem(B, T, I, H, dtype=dtype, seed=17, options=("projection",))
    tdtype = torch.float64 if dtype == np.float64 else torch.float32
    net = torch.nn.LSTM(I, H, proj_size=P, batch_first=True).to(tdtype)
    w_ih, w_hh, b_ih, b_hh = convert.to_torch(
        p["kernel"], p["recurrent_kernel"], p["bias"], proj_size=P
    )
    with torch.no_grad():
        net.weight_ih_l0.copy_(torch.from_numpy(w_ih))
        net.weight_hh_l0.copy_(torch.from_numpy(w_hh))
        net.bias_ih_l0.copy_(torch.from_numpy(b_ih))
        net.bias_hh_l0.copy_(torch.from_numpy(b_hh))
        net.weight_hr_l0.copy_(torch.from_numpy(convert.projection_to_torch(kw["projection"])))
    x = torch.from_numpy(p["x"]).requires_grad_()
    h0 = torch.from_numpy(p["h0"][None].copy()).requires_grad_()
    c0 = torch.from_numpy(p["c0"][None].copy()).requires_grad_()
    dy, dh, dc = cotangents(B, T, P, dtype, seed=18, H=H)
    if lengths is None:
        out, (hT, cT) = net(x, (h0, c0))
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            x, torch.tensor(lengths), batch_first=True, enforce_sorted=False
        )
        out, (hT, cT) = net(packed, (h0, c0))
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=T)
    loss = (out * torch.from_numpy(dy)).sum() + (hT[0] * torch.from_numpy(dh)).sum()
    (loss + (cT[0] * torch.from_numpy(dc)).sum()).backward()

    args = (p["x"], p["kernel"], p["recurrent_kernel"], p["bias"], (p["h0"], p["c0"]))
    y, (h, c), cache = fastlstm.lstm_forward(*args, lengths=lengths, **kw)
    g = fastlstm.lstm_backward(cache, dy, (dh, dc))
    assert (y.shape, h.shape, c.shape) == ((B, T, P), (B, P), (B, H))
    ours = {"y": y, "h": h, "c": c, "dx": g.x, "dh0": g.h0, "dc0": g.c0}
    theirs = {"y": out, "h": hT[0], "c": cT[0], "dx": x.grad, "dh0": h0.grad[0], "dc0": c0.grad[0]}
    for name, a in ours.items():
        assert_close(a, theirs[name].detach().numpy().astype(np.float64), dtype, name)
    kernel, recurrent, _ = convert.from_torch(
        net.weight_ih_l0.grad, net.weight_hh_l0.grad, proj_size=P
    )
    assert_close(g.kernel, kernel, dtype, "dkernel")
    assert_close(g.recurrent_kernel, recurrent, dtype, "drecurrent_kernel")
    assert_close(g.bias, net.bias_ih_l0.grad.numpy(), dtype, "dbias")
    assert_close(g.bias, net.bias_hh_l0.grad.numpy(), dtype, "dbias (recurrent)")
    projection = convert.projection_from_torch(net.weight_hr_l0.grad)
    assert_close(g.projection, projection, dtype, "dprojection")


# -- streams ------------------------------------------------------------------------------------


@DTYPES
@OPTIONS
def test_stream_with_options_equals_sequence(options, dtype):
    B, T, I, H = 3, 6, 5, 7
    p, kw = lstm_problem(B, T, I, H, dtype=dtype, seed=15, options=options)
    w = (p["kernel"], p["recurrent_kernel"], p["bias"])
    y, (h, c) = fastlstm.lstm(p["x"], *w, (p["h0"], p["c0"]), **kw)
    stream = fastlstm.LSTMStream(*w, (p["h0"], p["c0"]), **kw)
    steps = np.stack([stream.step(p["x"][:, t]) for t in range(T)], axis=1)
    np.testing.assert_allclose(steps, y, rtol=0, atol=TOL[np.dtype(dtype)])
    np.testing.assert_allclose(stream.state[0], h, rtol=0, atol=TOL[np.dtype(dtype)])
    np.testing.assert_allclose(stream.state[1], c, rtol=0, atol=TOL[np.dtype(dtype)])


# -- bad input ----------------------------------------------------------------------------------


def _lstm_args(B=2, T=3, I=4, H=5):
    p, _ = lstm_problem(B, T, I, H, seed=16)
    return (p["x"], p["kernel"], p["recurrent_kernel"], p["bias"]), p


@pytest.mark.parametrize(
    ("kw", "error", "match"),
    [
        ({"peephole": np.zeros(14)}, ValueError, r"peephole: expected shape \(15,\)"),
        ({"peephole": np.zeros((3, 5))}, ValueError, r"peephole: expected shape \(15,\)"),
        ({"peephole": np.zeros(15, complex)}, TypeError, "peephole: expected an array of real"),
        ({"peephole": "abc"}, TypeError, "peephole"),
        ({"clip": -1.0}, ValueError, "clip: expected a positive finite number or None, got -1.0"),
        ({"clip": 0}, ValueError, "clip: expected a positive finite number"),
        ({"clip": float("nan")}, ValueError, "clip: expected a positive finite number"),
        ({"clip": float("inf")}, ValueError, "clip: expected a positive finite number"),
        ({"clip": True}, TypeError, "clip: expected a positive finite number or None, got True"),
        ({"clip": "1"}, TypeError, "clip: expected a positive finite number or None, got '1'"),
        ({"clip": np.array([1.0])}, TypeError, "clip: expected a positive finite number"),
        ({"clip": 10**400}, ValueError, "clip: expected a positive finite number or None, got 1"),
        ({"recurrent_dropout_mask": np.ones((2, 4))}, ValueError,
         r"recurrent_dropout_mask: expected shape \(2, 5\) \(batch, hidden\), got \(2, 4\)"),
        ({"recurrent_dropout_mask": np.ones((5, 2))}, ValueError, "recurrent_dropout_mask"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("fn", [fastlstm.lstm, fastlstm.lstm_forward], ids=["lstm", "forward"])
def test_bad_options(fn, kw, error, match):
    args, _ = _lstm_args()
    with pytest.raises(error, match=match):
        fn(*args, **kw)


def test_numpy_scalar_clips_are_accepted():
    args, _ = _lstm_args()
    y, _ = fastlstm.lstm(*args, clip=0.5)
    for clip in (np.float32(0.5), np.float64(0.5)):
        np.testing.assert_array_equal(fastlstm.lstm(*args, clip=clip)[0], y)
    y_int, _ = fastlstm.lstm(*args, clip=np.int64(1))
    np.testing.assert_array_equal(y_int, fastlstm.lstm(*args, clip=1.0)[0])


@pytest.mark.parametrize("kind", ["gru", "rnn"])
def test_other_cells_have_no_lstm_options(kind):
    p = make_cell(kind, {}, 2, 3, 4, 5)
    w = (p["x"], p["kernel"], p["recurrent_kernel"], p["bias"])
    run = CELL_API[kind][0]
    stream = fastlstm.GRUStream if kind == "gru" else fastlstm.SimpleRNNStream
    with pytest.raises(TypeError, match="peephole"):
        run(*w, peephole=np.zeros(15))
    with pytest.raises(TypeError, match="clip"):
        run(*w, clip=1.0)
    with pytest.raises(TypeError):
        stream(*w[1:], peephole=np.zeros(15))


def test_stream_bad_options():
    args, _ = _lstm_args()
    with pytest.raises(ValueError, match=r"peephole: expected shape \(15,\)"):
        fastlstm.LSTMStream(*args[1:], peephole=np.zeros(3))
    with pytest.raises(ValueError, match="clip: expected a positive finite number"):
        fastlstm.LSTMStream(*args[1:], clip=-2)


def test_bad_projection():
    B, T, I, H, P = 2, 3, 4, 5, 2
    p, kw = lstm_problem(B, T, I, H, seed=19, options=("projection",))
    args = (p["x"], p["kernel"], p["recurrent_kernel"], p["bias"])
    state = (p["h0"], p["c0"])
    with pytest.raises(ValueError, match=r"projection: expected a 2-D array \(hidden, proj\)"):
        fastlstm.lstm(*args, state, projection=np.zeros(5))
    with pytest.raises(
        ValueError,
        match=r"recurrent_kernel: expected shape \(3, 20\) \(proj, 4\*hidden\) to match projection",
    ):
        fastlstm.lstm(*args, state, projection=np.zeros((H, 3)))
    with pytest.raises(ValueError, match=r"recurrent_kernel: expected shape \(2, 24\)"):
        fastlstm.lstm(*args, projection=np.zeros((6, P)))  # H = 6 from the projection
    with pytest.raises(
        ValueError, match=r"initial_state\[0\]: expected shape \(2, 2\) \(batch, proj\)"
    ):
        fastlstm.lstm(*args, (np.zeros((B, H)), p["c0"]), **kw)
    with pytest.raises(
        ValueError, match=r"initial_state\[1\]: expected shape \(2, 5\) \(batch, hidden\)"
    ):
        fastlstm.lstm(*args, (p["h0"], np.zeros((B, P))), **kw)
    with pytest.raises(ValueError, match="projection: expected shape"):
        fastlstm.lstm(*args, state, projection=np.zeros((H, 0)))
    # PyTorch's weight_hr (P, H) as it is: the recurrent kernel, (P, 4H) as it should be, had
    # been blamed, asked to be (5, 8) to match a projection read as (H, P) = (2, 5)
    for call in (fastlstm.lstm, fastlstm.lstm_forward):
        with pytest.raises(
            ValueError,
            match=r"^projection: expected shape \(5, 2\) \(hidden, proj\) to match "
            r"recurrent_kernel .*got its transpose \(2, 5\)",
        ):
            call(*args, state, projection=kw["projection"].T.copy())
    with pytest.raises(ValueError, match=r"^projection: .*got its transpose \(2, 5\)"):
        fastlstm.LSTMStream(*args[1:], projection=kw["projection"].T.copy())
    _, _, cache = fastlstm.lstm_forward(*args, state, **kw)
    with pytest.raises(ValueError, match=r"dy: expected shape \(2, 3, 2\)"):
        fastlstm.lstm_backward(cache, np.zeros((B, T, H)))
    with pytest.raises(ValueError, match=r"dstate\[0\]: expected shape \(2, 2\)"):
        fastlstm.lstm_backward(cache, None, (np.zeros((B, H)), None))
    with pytest.raises(ValueError, match=r"projection: expected a 2-D array"):
        fastlstm.LSTMStream(*args[1:], projection=np.zeros(3))
    g = make_cell("gru", {}, 2, 3, 4, 5)
    with pytest.raises(ValueError, match="projection: only the LSTM has a projection"):
        fastlstm._core.rnn_forward(
            "gru", g["x"], g["kernel"], g["recurrent_kernel"], g["bias"], None, None, None,
            False, False, False, projection=np.zeros((5, 2)),
        )  # fmt: skip
