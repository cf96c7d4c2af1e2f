"""The NumPy oracles (LSTM, GRU both conventions, SimpleRNN tanh and relu), with and without
masks: against torch (forward and every gradient, float64), ONNX Runtime (forward, float32,
sequence_lens for masks), finite differences, and the definition of a masked step."""

from __future__ import annotations

import numpy as np
import pytest

from fastlstm import convert, oracle
from onnx_models import recurrent_session, run

CELLS = [
    pytest.param("lstm", {}, id="lstm"),
    pytest.param("gru", {"reset_after": True}, id="gru-reset_after"),
    pytest.param("gru", {"reset_after": False}, id="gru-reset_before"),
    pytest.param("rnn", {"activation": "tanh"}, id="rnn-tanh"),
    pytest.param("rnn", {"activation": "relu"}, id="rnn-relu"),
]
GATES = {"lstm": 4, "gru": 3, "rnn": 1}
STATES = {"lstm": ("h0", "c0"), "gru": ("h0",), "rnn": ("h0",)}


def make(kind, opts, B, T, I, H, seed, scale=0.5):
    """Random time-major x (T, B, I), weights in the canonical layout and initial state(s)."""
    rng = np.random.default_rng(seed)

    def r(*shape):
        return scale * rng.standard_normal(shape)

    width = GATES[kind] * H
    bias_shape = (2, width) if opts.get("reset_after") else (width,)
    p = {
        "x": r(T, B, I),
        "kernel": r(I, width),
        "recurrent_kernel": r(H, width),
        "bias": r(*bias_shape),
    }
    for name in STATES[kind]:
        p[name] = r(B, H)
    return p


def forward(kind, opts, p, mask=None):
    """(y (T, B, H), final states (h_T[, c_T]), saved) from the oracle."""
    w = (p["x"], p["kernel"], p["recurrent_kernel"], p["bias"])
    if kind == "lstm":
        y, h, c, saved = oracle.forward(*w, p["h0"], p["c0"], mask=mask)
        return y, (h, c), saved
    f = oracle.gru_forward if kind == "gru" else oracle.rnn_forward
    y, h, saved = f(*w, p["h0"], mask=mask, **opts)
    return y, (h,), saved


def backward(kind, saved, dy, dstates):
    """The oracle's gradients by name: x, kernel, recurrent_kernel, bias, h0[, c0]."""
    f = {"lstm": oracle.backward, "gru": oracle.gru_backward, "rnn": oracle.rnn_backward}[kind]
    names = ("x", "kernel", "recurrent_kernel", "bias", *STATES[kind])
    return dict(zip(names, f(saved, dy, *dstates)))


def right_padded(lengths, T):
    """The (T, B) mask of sequences of the given lengths padded at the end."""
    return np.arange(T)[:, None] < np.asarray(lengths)[None, :]


def random_mask(T, B, rng):
    """Random (T, B) mask with, in the first rows: one fully masked, one whose first step is
    masked, one fully kept, one whose last step is masked; the rest random."""
    assert B >= 4
    mask = rng.random((T, B)) < 0.6
    mask[:, 0] = False
    mask[:, 1] = True
    mask[0, 1] = False
    mask[:, 2] = True
    mask[-1, 3] = False
    return mask


def assert_close(actual, expected, tol, what):
    """Within tol relative to the scale (largest magnitude, at least 1) of the reference."""
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    err = float(np.max(np.abs(actual - expected), initial=0.0))
    assert err <= tol * scale, f"{what}: max error {err:.3g} (scale {scale:.3g})"


# ------------------------------------------------------------------------------------------------
# torch, live: forward and every gradient in float64. Masks as right-padded packed sequences.


def torch_net(torch, kind, opts, p):
    """An nn.LSTM / nn.GRU / nn.RNN (float64) holding the problem's weights."""
    I, H = p["kernel"].shape[0], p["recurrent_kernel"].shape[0]
    w = (p["kernel"], p["recurrent_kernel"], p["bias"])
    if kind == "lstm":
        net, weights = torch.nn.LSTM(I, H), convert.to_torch(*w)
    elif kind == "gru":
        net, weights = torch.nn.GRU(I, H), convert.gru_to_torch(*w)
    else:
        net = torch.nn.RNN(I, H, nonlinearity=opts["activation"])
        weights = convert.rnn_to_torch(*w)
    net = net.double()
    names = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")
    with torch.no_grad():
        for name, value in zip(names, weights):
            getattr(net, name).copy_(torch.from_numpy(value))
    return net


def torch_weight_grads(kind, net):
    """The net's weight gradients in the canonical layout: (dkernel, drecurrent, dbias)."""
    grads = [getattr(net, n).grad.numpy() for n in ("weight_ih_l0", "weight_hh_l0")]
    b_ih, b_hh = net.bias_ih_l0.grad.numpy(), net.bias_hh_l0.grad.numpy()
    if kind == "gru":  # two biases in both layouts: the same permutation as the weights
        return convert.gru_from_torch(*grads, b_ih, b_hh)
    # One summed bias: its gradient is that of either of torch's two, which must agree.
    np.testing.assert_allclose(b_ih, b_hh, rtol=1e-12, atol=1e-14)
    return grads[0].T, grads[1].T, b_ih


TORCH_CELLS = [c for c in CELLS if c.id != "gru-reset_before"]


@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "right-padded"])
@pytest.mark.parametrize(("B", "T", "I", "H"), [(1, 1, 2, 3), (3, 6, 5, 4), (4, 9, 3, 7)])
@pytest.mark.parametrize(("kind", "opts"), TORCH_CELLS)
def test_torch_forward_and_gradients(torch, kind, opts, B, T, I, H, masked):
    p = make(kind, opts, B, T, I, H, seed=B * 100 + T * 10 + H)
    rng = np.random.default_rng(T)
    lengths = rng.integers(1, T + 1, size=B) if masked else np.full(B, T)
    lengths[0] = T  # the packed batch's time extent
    mask = right_padded(lengths, T)
    # Past a sequence's end torch pads y with zeros and ours repeats h: no gradient flows there.
    dy = rng.standard_normal((T, B, H)) * mask[:, :, None]
    dstates = tuple(rng.standard_normal((B, H)) for _ in STATES[kind])

    net = torch_net(torch, kind, opts, p)
    xt = torch.tensor(p["x"], requires_grad=True)
    s0 = [torch.tensor(p[n][None], requires_grad=True) for n in STATES[kind]]
    packed = torch.nn.utils.rnn.pack_padded_sequence(xt, lengths, enforce_sorted=False)
    yt, st = net(packed, tuple(s0) if kind == "lstm" else s0[0])
    yt, _ = torch.nn.utils.rnn.pad_packed_sequence(yt, total_length=T)
    st = st if kind == "lstm" else (st,)
    torch.autograd.backward(
        [yt, *st], [torch.from_numpy(dy)] + [torch.from_numpy(d[None]) for d in dstates]
    )

    y, states, saved = forward(kind, opts, p, mask=mask if masked else None)
    g = backward(kind, saved, dy, dstates)
    assert_close(y * mask[:, :, None], yt.detach().numpy(), 1e-10, "y")
    for name, ours, theirs in zip(STATES[kind], states, st):
        assert_close(ours, theirs.detach().numpy()[0], 1e-10, f"final {name}")
    assert_close(g["x"], xt.grad.numpy(), 1e-10, "dx")
    for name, theirs in zip(("kernel", "recurrent_kernel", "bias"), torch_weight_grads(kind, net)):
        assert_close(g[name], theirs, 1e-10, f"d{name}")
    for name, s in zip(STATES[kind], s0):
        assert_close(g[name], s.grad.numpy()[0], 1e-10, f"d{name}")


# ------------------------------------------------------------------------------------------------
# ONNX Runtime, live: forward (float32 only there), masks as sequence_lens.


def onnx_node(kind, opts, p):
    """(op, W, R, B, attributes) of the ONNX node equivalent to the problem's cell."""
    w = (p["kernel"], p["recurrent_kernel"], p["bias"])
    if kind == "lstm":
        return ("LSTM", *convert.to_onnx(*w), {})
    if kind == "gru":
        reset_after = opts["reset_after"]
        return ("GRU", *convert.gru_to_onnx(*w, reset_after), {"linear_before_reset": reset_after})
    return ("RNN", *convert.rnn_to_onnx(*w), {"activations": [opts["activation"].capitalize()]})


@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "sequence_lens"])
@pytest.mark.parametrize(("kind", "opts"), CELLS)
def test_onnxruntime_forward(kind, opts, masked):
    B, T, I, H = 5, 7, 6, 4
    p = make(kind, opts, B, T, I, H, seed=31)
    p = {k: v.astype(np.float32).astype(np.float64) for k, v in p.items()}  # same numbers
    # Lengths >= 1: for a length-0 row ONNX Runtime returns a zero state, not the initial one.
    lengths = np.array([T, 1, 3, T - 1, 5]) if masked else None
    mask = right_padded(lengths, T) if masked else np.ones((T, B), dtype=bool)

    op, W, R, Bias, attributes = onnx_node(kind, opts, p)
    session = recurrent_session(op, W, R, Bias, sequence_lens=masked, **attributes)
    Y, *ort_states = run(session, p["x"], p["h0"], p.get("c0"), lengths)
    y, states, _ = forward(kind, opts, p, mask=mask if masked else None)

    assert_close(y * mask[:, :, None], Y, 1e-5, "y")  # ONNX Runtime zeroes Y past the lengths
    for name, ours, theirs in zip(STATES[kind], states, ort_states):
        assert_close(ours, theirs, 1e-5, f"final {name}")
    # Ours repeats the final state past a sequence's end.
    np.testing.assert_array_equal(y[~mask], np.broadcast_to(states[0], y.shape)[~mask])


# ------------------------------------------------------------------------------------------------
# Finite differences (float64), with and without masks.

EPS = 1e-6


def loss(kind, opts, p, mask, dy, dstates):
    """L = <y, dy> + <h_T, dh> (+ <c_T, dc>), so that dL/dy = dy and so on."""
    y, states, _ = forward(kind, opts, p, mask)
    return float(np.sum(y * dy) + sum(np.sum(s * d) for s, d in zip(states, dstates)))


def numeric_grad(p, name, f):
    """Central differences of f() over every entry of p[name] (perturbed in place)."""
    grad = np.zeros_like(p[name])
    flat, g = p[name].reshape(-1), grad.reshape(-1)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + EPS
        up = f()
        flat[k] = old - EPS
        down = f()
        flat[k] = old
        g[k] = (up - down) / (2 * EPS)
    return grad


@pytest.mark.parametrize("masked", [False, True], ids=["unmasked", "masked"])
@pytest.mark.parametrize(("kind", "opts"), CELLS)
def test_gradients_match_finite_differences(kind, opts, masked):
    B, T, I, H = 5, 5, 3, 3
    p = make(kind, opts, B, T, I, H, seed=7, scale=0.7)
    rng = np.random.default_rng(3)
    mask = random_mask(T, B, rng) if masked else None
    dy = rng.standard_normal((T, B, H))
    dstates = tuple(rng.standard_normal((B, H)) for _ in STATES[kind])

    _, _, saved = forward(kind, opts, p, mask)
    g = backward(kind, saved, dy, dstates)
    for name, value in p.items():
        assert g[name].shape == value.shape, name
        expected = numeric_grad(p, name, lambda: loss(kind, opts, p, mask, dy, dstates))
        np.testing.assert_allclose(g[name], expected, rtol=1e-6, atol=1e-8, err_msg=name)
    if masked:
        assert np.all(g["x"][~mask] == 0), "dx must be zero at masked steps"
        # Row 0 is fully masked: h_T = h0 (and c_T = c0), y_t = h0 for every t, exactly.
        expected = dstates[0][0] + dy[:, 0].sum(axis=0)
        np.testing.assert_allclose(g["h0"][0], expected, rtol=1e-13, atol=1e-15)
        if kind == "lstm":
            np.testing.assert_array_equal(g["c0"][0], dstates[1][0])


# ------------------------------------------------------------------------------------------------
# What a masked step is, independently of the backward: running each row's kept steps alone.


@pytest.mark.parametrize(("kind", "opts"), CELLS)
def test_masked_row_equals_its_kept_steps(kind, opts):
    B, T, I, H = 6, 8, 3, 4
    p = make(kind, opts, B, T, I, H, seed=5)
    mask = random_mask(T, B, np.random.default_rng(11))
    y, states, _ = forward(kind, opts, p, mask)
    for b in range(B):
        kept = np.flatnonzero(mask[:, b])
        row = {k: v[kept, b : b + 1] if k == "x" else v for k, v in p.items()}
        for name in STATES[kind]:
            row[name] = p[name][b : b + 1]
        y_row, states_row, _ = forward(kind, opts, row)
        for ours, alone in zip(states, states_row):
            np.testing.assert_allclose(ours[b], alone[0], rtol=1e-13, atol=1e-15)
        # y_t is the state after step t: the last kept step's output, or h0 before any.
        y_expected = np.concatenate([p["h0"][b : b + 1], y_row[:, 0]])
        index = np.cumsum(mask[:, b])  # kept steps up to t; 0 selects h0
        np.testing.assert_allclose(y[:, b], y_expected[index], rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(("kind", "opts"), CELLS)
def test_all_true_mask_is_no_mask(kind, opts):
    p = make(kind, opts, 3, 4, 2, 3, seed=2)
    y, states, saved = forward(kind, opts, p)
    y_m, states_m, saved_m = forward(kind, opts, p, mask=np.ones((4, 3), dtype=bool))
    np.testing.assert_array_equal(y, y_m)
    for a, b in zip(states, states_m):
        np.testing.assert_array_equal(a, b)
    dy = np.random.default_rng(0).standard_normal(y.shape)
    dstates = tuple(np.ones_like(s) for s in states)
    for name, grad in backward(kind, saved, dy, dstates).items():
        np.testing.assert_array_equal(grad, backward(kind, saved_m, dy, dstates)[name])


# ------------------------------------------------------------------------------------------------
# Bad arguments get clear errors.


@pytest.mark.parametrize(("kind", "opts"), CELLS)
@pytest.mark.parametrize(
    "mask",
    [np.ones((4, 2), dtype=bool), np.ones((3, 4), dtype=bool), np.ones((4, 3))],
    ids=["short-batch", "transposed", "float"],
)
def test_bad_mask_raises(kind, opts, mask):
    p = make(kind, opts, 3, 4, 2, 3, seed=1)
    with pytest.raises(ValueError, match=r"mask must be a bool array of shape \(T, B\)"):
        forward(kind, opts, p, mask)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_bias_shape_must_match_convention(reset_after):
    p = make("gru", {"reset_after": not reset_after}, 2, 3, 2, 3, seed=1)
    with pytest.raises(ValueError, match="GRU bias must be"):
        oracle.gru_forward(
            *(p[k] for k in ("x", "kernel", "recurrent_kernel", "bias", "h0")),
            reset_after=reset_after,
        )


def test_rnn_activation_must_be_known():
    p = make("rnn", {}, 2, 3, 2, 3, seed=1)
    with pytest.raises(ValueError, match="activation must be one of"):
        oracle.rnn_forward(
            p["x"], p["kernel"], p["recurrent_kernel"], p["bias"], p["h0"], activation="sigmoid"
        )


def test_lstm_aliases():
    assert oracle.lstm_forward is oracle.forward
    assert oracle.lstm_backward is oracle.backward
