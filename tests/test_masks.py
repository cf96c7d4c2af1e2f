"""Variable-length batches: ``mask`` (Keras semantics) and ``lengths`` (ONNX/PyTorch packed
semantics), forward and backward, against running each sequence on its own, finite differences
and torch's packed sequences."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import fastlstm
from conftest import child_output, make_problem

WEIGHTS = ("kernel", "recurrent_kernel", "bias")
# (B, T, I, H): the second has fewer than 4 rows per thread and enough work for two threads, so it
# takes the path that splits hidden units across threads (meeting after every step).
SIZES = [(5, 7, 4, 3), (2, 6, 8, 160)]


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    before = fastlstm.get_num_threads()
    fastlstm.set_num_threads(request.param)
    yield request.param
    fastlstm.set_num_threads(before)


def problem(B, T, I, H, dtype=np.float64, seed=0):
    p = make_problem(B, T, I, H, dtype=dtype, seed=seed)
    return p, tuple(p[n] for n in WEIGHTS), (p["h0"], p["c0"])


def row(p, b):
    return (p["h0"][b : b + 1], p["c0"][b : b + 1])


def layout(a, time_major):
    return np.ascontiguousarray(a.transpose(1, 0, 2)) if time_major else a


@pytest.mark.parametrize("time_major", [False, True])
@pytest.mark.parametrize("sizes", SIZES)
def test_lengths_equal_each_sequence_alone(sizes, time_major, threads):
    B, T = sizes[:2]
    p, w, state = problem(*sizes)
    lengths = np.random.default_rng(1).integers(0, T + 1, B)
    lengths[0], lengths[-1] = T, 0  # a full row and an empty one, unsorted
    y, (h, c) = fastlstm.lstm(
        layout(p["x"], time_major), *w, state, lengths=lengths, time_major=time_major
    )
    y = layout(y, time_major)
    for b, n in enumerate(lengths):
        yb, (hb, cb) = fastlstm.lstm(p["x"][b : b + 1, :n], *w, row(p, b))
        np.testing.assert_allclose(y[b, :n], yb[0], rtol=1e-12, atol=1e-12)
        assert np.all(y[b, n:] == 0), "outputs past the length are zero"
        np.testing.assert_allclose(h[b], hb[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(c[b], cb[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("time_major", [False, True])
@pytest.mark.parametrize("sizes", SIZES)
def test_mask_carries_state_and_repeats_output(sizes, time_major, threads):
    B, T = sizes[:2]
    p, w, state = problem(*sizes)
    mask = np.random.default_rng(2).random((B, T)) < 0.6
    mask[0, 0] = False  # a masked first step repeats h0
    mask[1] = False  # a fully masked row keeps its initial state
    y, (h, c) = fastlstm.lstm(
        layout(p["x"], time_major), *w, state, mask=mask, time_major=time_major
    )
    y = layout(y, time_major)
    for b in range(B):
        valid = np.flatnonzero(mask[b])
        yb, (hb, cb) = fastlstm.lstm(p["x"][b : b + 1, valid], *w, row(p, b))
        # Output at step t: h after the last valid step up to t (h0 before any).
        states = np.concatenate([p["h0"][b : b + 1], yb[0]])
        expected = states[np.cumsum(mask[b])]
        np.testing.assert_allclose(y[b], expected, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(h[b], hb[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(c[b], cb[0], rtol=1e-12, atol=1e-12)


def test_all_true_mask_and_full_lengths_change_nothing():
    p, w, state = problem(3, 5, 4, 6, dtype=np.float32)
    y, (h, c) = fastlstm.lstm(p["x"], *w, state)
    for kwargs in ({"mask": np.ones((3, 5), bool)}, {"lengths": [5, 5, 5]}):
        ym, (hm, cm) = fastlstm.lstm(p["x"], *w, state, **kwargs)
        np.testing.assert_array_equal(ym, y)
        np.testing.assert_array_equal(hm, h)
        np.testing.assert_array_equal(cm, c)


def masked_loss(p, dy, dh, dc, kwargs):
    y, (h, c) = fastlstm.lstm(p["x"], *(p[n] for n in WEIGHTS), (p["h0"], p["c0"]), **kwargs)
    return float(np.sum(y * dy) + np.sum(h * dh) + np.sum(c * dc))


@pytest.mark.parametrize("how", ["mask", "lengths"])
def test_masked_gradients_match_finite_differences(how):
    B, T, I, H = 3, 5, 2, 4
    p = make_problem(B, T, I, H, seed=4, scale=0.7)
    rng = np.random.default_rng(6)
    if how == "mask":
        kwargs = {"mask": np.array([[1, 0, 1, 1, 0], [0, 0, 0, 0, 0], [0, 1, 1, 0, 1]], bool)}
    else:
        kwargs = {"lengths": np.array([3, 0, 5])}
    dy = rng.standard_normal((B, T, H))
    dh, dc = rng.standard_normal((2, B, H))
    _, _, cache = fastlstm.lstm_forward(
        p["x"], *(p[n] for n in WEIGHTS), (p["h0"], p["c0"]), **kwargs
    )
    grads = fastlstm.lstm_backward(cache, dy, (dh, dc))._asdict()
    eps = 1e-6
    for name in ("x", *WEIGHTS, "h0", "c0"):
        expected = np.zeros_like(p[name])
        flat, g = p[name].reshape(-1), expected.reshape(-1)
        for k in range(flat.size):
            old = flat[k]
            flat[k] = old + eps
            up = masked_loss(p, dy, dh, dc, kwargs)
            flat[k] = old - eps
            down = masked_loss(p, dy, dh, dc, kwargs)
            flat[k] = old
            g[k] = (up - down) / (2 * eps)
        np.testing.assert_allclose(grads[name], expected, rtol=1e-6, atol=1e-8, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lengths_match_torch_packed_sequences(torch, dtype):
    """Unsorted lengths against nn.LSTM on a packed batch: outputs, final state, every gradient."""
    from test_peers import assert_close, torch_lstm

    B, T, I, H = 5, 9, 6, 7
    p, w, state = problem(B, T, I, H, dtype=dtype, seed=3)
    lengths = np.array([4, 9, 1, 6, 9])
    rng = np.random.default_rng(8)
    dy = rng.standard_normal((B, T, H)).astype(dtype)
    dh, dc = rng.standard_normal((2, B, H)).astype(dtype)

    net = torch_lstm(torch, p, dtype, time_major=False)
    xt = torch.tensor(p["x"], requires_grad=True)
    h0 = torch.tensor(p["h0"][None], requires_grad=True)
    c0 = torch.tensor(p["c0"][None], requires_grad=True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(
        xt, torch.from_numpy(lengths), batch_first=True, enforce_sorted=False
    )
    out, (ht, ct) = net(packed, (h0, c0))
    yt, _ = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=T)
    torch.autograd.backward(
        [yt, ht, ct], [torch.from_numpy(dy), torch.from_numpy(dh[None]), torch.from_numpy(dc[None])]
    )

    y, (h, c), cache = fastlstm.lstm_forward(p["x"], *w, state, lengths=lengths)
    g = fastlstm.lstm_backward(cache, dy, (dh, dc))
    assert_close(y, yt.detach().numpy(), dtype, "y")
    assert_close(h, ht.detach().numpy()[0], dtype, "h")
    assert_close(c, ct.detach().numpy()[0], dtype, "c")
    assert_close(g.x, xt.grad.numpy(), dtype, "dx")
    assert_close(g.h0, h0.grad.numpy()[0], dtype, "dh0")
    assert_close(g.c0, c0.grad.numpy()[0], dtype, "dc0")
    assert_close(g.kernel, net.weight_ih_l0.grad.numpy().T, dtype, "dkernel")
    assert_close(g.recurrent_kernel, net.weight_hh_l0.grad.numpy().T, dtype, "drecurrent")
    assert_close(g.bias, net.bias_ih_l0.grad.numpy(), dtype, "dbias")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"mask": np.ones((4, 2), bool)}, ValueError, r"mask: expected shape \(2, 4\)"),
        ({"mask": np.ones((2, 4, 1), bool)}, ValueError, r"mask: expected shape \(2, 4\)"),
        ({"mask": np.ones((2, 4))}, TypeError, "mask: expected a .* array of bools"),
        ({"mask": [[True] * 4] * 2, "lengths": [4, 4]}, ValueError, "at most one"),
        ({"lengths": [4, 5]}, ValueError, r"lengths: expected values in \[0, 4\].*got 5"),
        ({"lengths": [-1, 2]}, ValueError, r"lengths: expected values in \[0, 4\].*got -1"),
        ({"lengths": [1, 2, 3]}, ValueError, r"lengths: expected shape \(2,\)"),
        ({"lengths": [1.0, 2.0]}, TypeError, "lengths: expected an array of ints"),
    ],
)
def test_bad_masks_and_lengths(kwargs, error, message):
    p, w, state = problem(2, 4, 3, 5)
    with pytest.raises(error, match=message):
        fastlstm.lstm(p["x"], *w, state, **kwargs)
    with pytest.raises(error, match=message):
        fastlstm.lstm_forward(p["x"], *w, state, **kwargs)


# Peak memory (KiB to MiB) that one lstm(return_cell_states=True) call adds, in a fresh process.
CELL_STATES_PEAK = """
import resource
import numpy as np
import fastlstm
B, T, I, H = 32, 1000, 64, 256
rng = np.random.default_rng(0)
x = rng.standard_normal((B, T, I)).astype(np.float32)
k = (rng.standard_normal((I, 4 * H)) / 8).astype(np.float32)
r = (rng.standard_normal((H, 4 * H)) / 16).astype(np.float32)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
y, _, c_seq = fastlstm.lstm(x, k, r, np.zeros(4 * H, np.float32), return_cell_states=True)
print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KiB as on Linux")
def test_cell_states_keep_no_training_buffers():
    """return_cell_states keeps every c_t, not what else training keeps: at B=32, T=1000, I=64,
    H=256 (y and the cell states 31 MiB each, the gates training saves 125 MiB) the call's peak
    grew 52 MiB; running the training forward, as it did, 177 MiB (and took 54 ms against 46)."""
    assert float(child_output(CELL_STATES_PEAK).split()[-1]) < 100


@pytest.mark.parametrize("time_major", [False, True])
def test_cell_states_at_every_step(time_major):
    """return_cell_states and cache.cell_states give c_t per step: the last is the final c, and
    each equals the final c of the sequence cut after that step."""
    p, w, state = problem(3, 5, 4, 6)
    x = layout(p["x"], time_major)
    y, (h, c), c_seq = fastlstm.lstm(x, *w, state, time_major=time_major, return_cell_states=True)
    np.testing.assert_array_equal(h, layout(y, time_major)[:, -1])
    _, _, cache = fastlstm.lstm_forward(x, *w, state, time_major=time_major)
    assert c_seq.shape == y.shape
    np.testing.assert_array_equal(cache.cell_states, c_seq)
    assert not cache.cell_states.flags.writeable
    c_seq = layout(c_seq, time_major)
    np.testing.assert_array_equal(c_seq[:, -1], c)
    for t in range(5):
        _, (_, c_t) = fastlstm.lstm(p["x"][:, : t + 1], *w, state)
        np.testing.assert_allclose(c_seq[:, t], c_t, rtol=1e-13, atol=1e-13)
    with pytest.raises(TypeError, match="return_cell_states: expected True or False"):
        fastlstm.lstm(x, *w, state, time_major=time_major, return_cell_states=1)
