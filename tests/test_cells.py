"""The compiled GRU (both conventions) and SimpleRNN (tanh, relu): against the NumPy oracle over a
grid of shapes, layouts and dtypes, with 1 and 2 threads (including the path that splits hidden
units across threads), finite differences of every gradient with and without masks or lengths,
mask and lengths semantics, and the streams. Peers (torch, ONNX Runtime): test_cell_peers.py."""

from __future__ import annotations

import numpy as np
import pytest

import fastlstm
from conftest import assert_inference_matches_training
from fastlstm import oracle

CELLS = pytest.mark.parametrize(
    ("kind", "opts"),
    [
        pytest.param("gru", {"reset_after": True}, id="gru-reset_after"),
        pytest.param("gru", {"reset_after": False}, id="gru-reset_before"),
        pytest.param("rnn", {"activation": "tanh"}, id="rnn-tanh"),
        pytest.param("rnn", {"activation": "relu"}, id="rnn-relu"),
    ],
)
DTYPES = pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
LAYOUTS = pytest.mark.parametrize("time_major", [False, True], ids=["batch_major", "time_major"])
TOL = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-10}
WEIGHTS = ("kernel", "recurrent_kernel", "bias")
NAMES = ("x", *WEIGHTS, "h0")
# (inference, forward, backward, stream) per kind
API = {
    "gru": (fastlstm.gru, fastlstm.gru_forward, fastlstm.gru_backward, fastlstm.GRUStream),
    "rnn": (
        fastlstm.simple_rnn,
        fastlstm.simple_rnn_forward,
        fastlstm.simple_rnn_backward,
        fastlstm.SimpleRNNStream,
    ),
}


def make(kind, opts, B, T, I, H, dtype=np.float64, seed=0, scale=0.5, fan_in=False):
    """Random batch-major x (B, T, I), weights in fastlstm's layout and h0 (B, H), each entry
    N(0, scale²). With ``fan_in``, x is N(0, 1) and the kernels are divided by sqrt(I) and
    sqrt(H): a recurrence that neither explodes nor vanishes, so that the float32 rounding of two
    summation orders is not amplified beyond the tolerance over the steps."""
    rng = np.random.default_rng(seed)

    def r(*shape, s=scale):
        return (s * rng.standard_normal(shape)).astype(dtype)

    width = (3 if kind == "gru" else 1) * H
    k, rk = (1 / np.sqrt(I), 1 / np.sqrt(H)) if fan_in else (scale, scale)
    return {
        "x": r(B, T, I, s=1.0 if fan_in else scale),
        "kernel": r(I, width, s=k),
        "recurrent_kernel": r(H, width, s=rk),
        "bias": r(2, width) if opts.get("reset_after") else r(width),
        "h0": r(B, H),
    }


def weights(p):
    return tuple(p[n] for n in WEIGHTS)


def layout(a, time_major):
    """Batch-major <-> time-major (the same swap both ways)."""
    return np.ascontiguousarray(np.swapaxes(a, 0, 1)) if time_major else a


def run(kind, opts, p, initial=True, **kwargs):
    """Inference on p: (y, h); from p["h0"], or from no initial state."""
    return API[kind][0](p["x"], *weights(p), p["h0"] if initial else None, **opts, **kwargs)


def train(kind, opts, p, dy, dh, initial=True, **kwargs):
    """Forward and backward on p: (y, h, grads by name)."""
    h0 = p["h0"] if initial else None
    y, h, cache = API[kind][1](p["x"], *weights(p), h0, **opts, **kwargs)
    return y, h, API[kind][2](cache, dy, dh)._asdict()


def reference(kind, opts, p, mask=None, with_state=True):
    """The oracle (float64) on p's numbers, batch-major: y (B, T, H), h, saved. mask (B, T)."""
    a = {n: np.asarray(v, np.float64) for n, v in p.items()}
    h0 = a["h0"] if with_state else np.zeros_like(a["h0"])
    m = None if mask is None else np.ascontiguousarray(np.asarray(mask, bool).T)
    f = oracle.gru_forward if kind == "gru" else oracle.rnn_forward
    y, h, saved = f(layout(a["x"], True), *weights(a), h0, mask=m, **opts)
    return layout(y, True), h, saved


def reference_grads(kind, saved, dy, dh):
    """The oracle's gradients by name, x batch-major, for batch-major dy."""
    f = oracle.gru_backward if kind == "gru" else oracle.rnn_backward
    dy = layout(np.asarray(dy, np.float64), True)
    dx, *rest = f(saved, dy, np.asarray(dh, np.float64))
    return dict(zip(NAMES, (layout(dx, True), *rest)))


def assert_close(actual, expected, dtype, what, tol=TOL):
    """Within tol[dtype] relative to the scale (largest magnitude, at least 1) of expected."""
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    err = float(np.max(np.abs(actual.astype(np.float64) - expected), initial=0.0))
    assert err <= tol[np.dtype(dtype)] * scale, f"{what}: max error {err:.3g} (scale {scale:.3g})"


def random_cotangents(B, T, H, dtype, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((B, T, H)).astype(dtype), rng.standard_normal((B, H)).astype(dtype)


# -- fast vs oracle ------------------------------------------------------------------------------

SIZES = [(1, 1, 5, 3), (1, 7, 37, 19), (5, 9, 37, 19), (3, 1, 8, 16)]


@DTYPES
@LAYOUTS
@pytest.mark.parametrize("with_state", [False, True], ids=["zero_state", "initial_state"])
@pytest.mark.parametrize("sizes", SIZES, ids=lambda s: "x".join(map(str, s)))
@CELLS
def test_fast_matches_oracle(kind, opts, sizes, with_state, time_major, dtype):
    B, T, _, H = sizes
    p = make(kind, opts, *sizes, dtype=dtype, seed=sum(sizes))
    dy, dh = random_cotangents(B, T, H, dtype)
    q = {**p, "x": layout(p["x"], time_major)}
    dy_q = layout(dy, time_major)
    y, h, g = train(kind, opts, q, dy_q, dh, with_state, time_major=time_major)
    y_inf, h_inf = run(kind, opts, q, with_state, time_major=time_major)
    y_ref, h_ref, saved = reference(kind, opts, p, with_state=with_state)
    expected = reference_grads(kind, saved, dy, dh)

    for name, a in (("y", y), ("h", h), ("y_inf", y_inf), ("h_inf", h_inf), *g.items()):
        assert a.dtype == dtype, f"{name}: dtype {a.dtype}"
    assert_close(layout(y, time_major), y_ref, dtype, "y")
    assert_close(layout(y_inf, time_major), y_ref, dtype, "y (inference)")
    assert_close(h, h_ref, dtype, "h")
    assert_close(h_inf, h_ref, dtype, "h (inference)")
    g["x"] = layout(g["x"], time_major)
    for name in NAMES:  # dh0 too: the gradient at the zero state when none was given
        assert_close(g[name], expected[name], dtype, f"d{name}")


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@CELLS
def test_every_width_past_the_last_packet_matches_oracle(kind, opts, dtype):
    """G*H columns for H = 1..17 leave every remainder past the widest packet (a GRU's 3H runs
    through all of them mod 16), which the products take in narrower packets and then scalars;
    B = 1, 3, 9, 13 take every block of rows (8, 4, 3, 2, 1) with them."""
    for H in range(1, 18):
        for B in (1, 3, 9, 13):
            p = make(kind, opts, B, 2, 5, H, dtype=dtype, seed=H + B)
            dy, dh = random_cotangents(B, 2, H, dtype)
            y, h, g = train(kind, opts, p, dy, dh)
            y_ref, h_ref, saved = reference(kind, opts, p)
            expected = reference_grads(kind, saved, dy, dh)
            assert_close(y, y_ref, dtype, f"y (B={B}, H={H})")
            assert_close(h, h_ref, dtype, f"h (B={B}, H={H})")
            for name in NAMES:
                assert_close(g[name], expected[name], dtype, f"d{name} (B={B}, H={H})")


# -- threads -------------------------------------------------------------------------------------

# (B, T, I, H): the first has fewer than 4 rows per thread and enough work for two threads, so
# every cell splits hidden units across threads, meeting after every step (the reset-before GRU
# after each of its step's two phases). The second splits the batch (8 rows a thread on two
# threads), with enough work for two threads in every cell.
THREAD_SIZES = [(2, 6, 8, 160), (16, 8, 16, 64)]


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    before = fastlstm.get_num_threads()
    fastlstm.set_num_threads(request.param)
    yield request.param
    fastlstm.set_num_threads(before)


def everything(kind, opts, p, dy, dh, **kwargs):
    """Inference and training outputs and every gradient, as one list."""
    y, h, g = train(kind, opts, p, dy, dh, **kwargs)
    return [y, h, *run(kind, opts, p, **kwargs), *g.values()]


@DTYPES
@pytest.mark.parametrize("sizes", THREAD_SIZES, ids=["split_units", "split_batch"])
@CELLS
def test_threads_match_oracle_and_repeat_bitwise(kind, opts, sizes, dtype, threads):
    B, T, _, H = sizes
    p = make(kind, opts, *sizes, dtype=dtype, seed=H + threads, fan_in=True)
    dy, dh = random_cotangents(B, T, H, dtype, seed=2)
    first = everything(kind, opts, p, dy, dh)
    y_ref, h_ref, saved = reference(kind, opts, p)
    g_ref = reference_grads(kind, saved, dy, dh)
    expected = [y_ref, h_ref, y_ref, h_ref, *(g_ref[n] for n in NAMES)]
    for name, a, e in zip(("y", "h", "y_inf", "h_inf", *NAMES), first, expected):
        assert_close(a, e, dtype, name)
    for _ in range(2):
        for a, b in zip(everything(kind, opts, p, dy, dh), first):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("sizes", THREAD_SIZES, ids=["split_units", "split_batch"])
@CELLS
def test_thread_counts_agree_in_float32(kind, opts, sizes):
    B, T, _, H = sizes
    p = make(kind, opts, *sizes, dtype=np.float32, seed=5, fan_in=True)
    dy, dh = random_cotangents(B, T, H, np.float32, seed=3)
    before = fastlstm.get_num_threads()
    try:
        fastlstm.set_num_threads(1)
        one = everything(kind, opts, p, dy, dh)
        fastlstm.set_num_threads(2)
        two = everything(kind, opts, p, dy, dh)
    finally:
        fastlstm.set_num_threads(before)
    for name, a, b in zip(("y", "h", "y_inf", "h_inf", *NAMES), two, one):
        assert_close(a, b.astype(np.float64), np.float32, name)


@CELLS
@pytest.mark.parametrize("B", [7, 16], ids=["unit-split", "batch-split"])
def test_long_sequence_inference_with_two_threads(kind, opts, B):
    """T*B large enough that inference projects x*K a block of timesteps at a time instead of
    every step at once (a projection over 8 MB; blocks of ceil(128 / rows) steps, the last one
    partial), on the small-batch path (B = 7 < 4 rows per thread * 2 threads: one block of all 7
    rows per thread) and the batch-split path (B = 16: each thread its own 8 rows)."""
    I = 8
    H, T = (384, 400) if kind == "rnn" else (160, 240)
    p = make(kind, opts, B, T, I, H, seed=T, fan_in=True)
    before = fastlstm.get_num_threads()
    try:
        fastlstm.set_num_threads(2)
        y, h = run(kind, opts, p)
    finally:
        fastlstm.set_num_threads(before)
    y_ref, h_ref, _ = reference(kind, opts, p)
    assert_close(y, y_ref, np.float64, "y")
    assert_close(h, h_ref, np.float64, "h")


# -- finite differences --------------------------------------------------------------------------

EPS = 1e-6


def numeric_grad(p, name, loss):
    """Central differences of loss() over every entry of p[name] (perturbed in place)."""
    grad = np.zeros_like(p[name])
    flat, g = p[name].reshape(-1), grad.reshape(-1)
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + EPS
        up = loss()
        flat[k] = old - EPS
        down = loss()
        flat[k] = old
        g[k] = (up - down) / (2 * EPS)
    return grad


@pytest.mark.parametrize("how", ["unmasked", "mask", "lengths"])
@CELLS
def test_gradients_match_finite_differences(kind, opts, how):
    B, T, I, H = 4, 5, 3, 3
    p = make(kind, opts, B, T, I, H, seed=7, scale=0.7)
    rng = np.random.default_rng(3)
    dy, dh = rng.standard_normal((B, T, H)), rng.standard_normal((B, H))
    if how == "mask":
        mask = rng.random((B, T)) < 0.6
        mask[0] = False  # fully masked row
        mask[1, 0] = False  # masked first step
        mask[2] = True
        kwargs = {"mask": mask}
    elif how == "lengths":
        lengths = np.array([3, 0, 5, 1])  # unsorted, with an empty row
        kwargs = {"lengths": lengths}
        mask = np.arange(T) < lengths[:, None]
    else:
        kwargs, mask = {}, np.ones((B, T), bool)

    def loss():
        y, h = run(kind, opts, p, **kwargs)
        return float(np.sum(y * dy) + np.sum(h * dh))

    _, _, g = train(kind, opts, p, dy, dh, **kwargs)
    for name in NAMES:
        assert g[name].shape == p[name].shape, name
        expected = numeric_grad(p, name, loss)
        np.testing.assert_allclose(g[name], expected, rtol=1e-6, atol=1e-8, err_msg=name)
    assert np.all(g["x"][~mask] == 0), "dx is zero at masked steps"
    if how == "mask":  # row 0 never runs: y_t = h_T = h0 exactly
        np.testing.assert_allclose(g["h0"][0], dh[0] + dy[0].sum(axis=0), rtol=1e-13, atol=0)
    if how == "lengths":  # row 1 is empty: h_T = h0, its outputs are constant zeros
        np.testing.assert_array_equal(g["h0"][1], dh[1])


# -- masks and lengths ---------------------------------------------------------------------------

MASK_SIZES = [(5, 7, 4, 3), (2, 6, 8, 160)]  # the second splits units with two threads


def row(p, b, steps=slice(None)):
    return {**p, "x": p["x"][b : b + 1, steps], "h0": p["h0"][b : b + 1]}


@LAYOUTS
@pytest.mark.parametrize("sizes", MASK_SIZES, ids=["small", "split_units"])
@CELLS
def test_lengths_equal_each_sequence_alone(kind, opts, sizes, time_major, threads):
    B, T, _, H = sizes
    p = make(kind, opts, *sizes, seed=11)
    lengths = np.random.default_rng(1).integers(0, T + 1, B)
    lengths[0], lengths[-1] = T, 0  # a full row and an empty one, unsorted
    dy, dh = random_cotangents(B, T, H, np.float64, seed=4)
    q = {**p, "x": layout(p["x"], time_major)}
    y, h, g = train(
        kind, opts, q, layout(dy, time_major), dh, lengths=lengths, time_major=time_major
    )
    y_inf, h_inf = run(kind, opts, q, lengths=lengths, time_major=time_major)
    assert_inference_matches_training(y_inf, y)
    assert_inference_matches_training(h_inf, h)
    y, dx = layout(y, time_major), layout(g["x"], time_major)
    sums = dict.fromkeys(WEIGHTS, 0.0)
    for b, n in enumerate(lengths):
        yb, hb, gb = train(kind, opts, row(p, b, slice(0, n)), dy[b : b + 1, :n], dh[b : b + 1])
        np.testing.assert_allclose(y[b, :n], yb[0], rtol=1e-12, atol=1e-12)
        assert np.all(y[b, n:] == 0), "outputs past the length are zero"
        np.testing.assert_allclose(h[b], hb[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(dx[b, :n], gb["x"][0], rtol=1e-10, atol=1e-12)
        assert np.all(dx[b, n:] == 0), "no gradient past the length"
        np.testing.assert_allclose(g["h0"][b], gb["h0"][0], rtol=1e-10, atol=1e-12)
        for name in WEIGHTS:
            sums[name] = sums[name] + gb[name]
    for name in WEIGHTS:  # weight gradients add up over the rows
        np.testing.assert_allclose(g[name], sums[name], rtol=1e-10, atol=1e-12, err_msg=name)


@LAYOUTS
@pytest.mark.parametrize("sizes", MASK_SIZES, ids=["small", "split_units"])
@CELLS
def test_mask_carries_state_and_repeats_output(kind, opts, sizes, time_major, threads):
    B, T = sizes[:2]
    p = make(kind, opts, *sizes, seed=12)
    mask = np.random.default_rng(2).random((B, T)) < 0.6
    mask[0, 0] = False  # a masked first step repeats h0
    mask[1] = False  # a fully masked row keeps its initial state
    q = {**p, "x": layout(p["x"], time_major)}
    y, h = run(kind, opts, q, mask=mask, time_major=time_major)
    y = layout(y, time_major)
    for b in range(B):
        yb, hb = run(kind, opts, row(p, b, np.flatnonzero(mask[b])))
        # Output at step t: h after the last valid step up to t (h0 before any).
        states = np.concatenate([p["h0"][b : b + 1], yb[0]])
        np.testing.assert_allclose(y[b], states[np.cumsum(mask[b])], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(h[b], hb[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(h[1], p["h0"][1])


@CELLS
def test_all_true_mask_and_full_lengths_change_nothing(kind, opts):
    B, T, _, H = sizes = (3, 5, 4, 6)
    p = make(kind, opts, *sizes, dtype=np.float32, seed=13)
    dy, dh = random_cotangents(B, T, H, np.float32)
    plain = everything(kind, opts, p, dy, dh)
    for kwargs in ({"mask": np.ones((B, T), bool)}, {"lengths": [T] * B}):
        for a, b in zip(everything(kind, opts, p, dy, dh, **kwargs), plain):
            np.testing.assert_array_equal(a, b)


# -- streams -------------------------------------------------------------------------------------

# The same operations as the whole sequence, summed in another order (test_stream.py's bounds).
STREAM_TOL = {np.dtype(np.float32): 1e-6, np.dtype(np.float64): 1e-13}


@DTYPES
@CELLS
def test_stream_steps_equal_whole_sequence(kind, opts, dtype):
    B, T, I, H = 4, 9, 37, 19
    p = make(kind, opts, B, T, I, H, dtype=dtype, seed=21, fan_in=True)
    y, h = run(kind, opts, p)
    stream = API[kind][3](*weights(p), p["h0"], **opts)
    assert (stream.batch_size, stream.input_size, stream.units) == (B, I, H)
    assert stream.dtype == dtype
    steps = np.stack([stream.step(p["x"][:, t]) for t in range(T)], axis=1)
    assert steps.dtype == dtype
    assert_close(steps, y, dtype, "steps", STREAM_TOL)
    state = stream.state  # h alone, not a tuple
    assert isinstance(state, np.ndarray)
    assert state.shape == (B, H)
    assert state.dtype == dtype
    assert_close(state, h, dtype, "state", STREAM_TOL)


@CELLS
def test_stream_out_state_and_reset(kind, opts):
    B, T, I, H = 3, 6, 5, 7
    p = make(kind, opts, B, T, I, H, dtype=np.float32, seed=22)
    stream_type = API[kind][3]
    stream = stream_type(*weights(p), batch_size=B, **opts)
    assert not np.any(stream.state), "zeros without an initial state"
    first = [stream.step(p["x"][:, t]).copy() for t in range(T)]

    stream.reset()
    assert not np.any(stream.state)
    out = np.full((B, H), np.nan, np.float32)
    for t in range(T):
        assert stream.step(p["x"][:, t], out) is out  # written in place
        np.testing.assert_array_equal(out, first[t])
    np.testing.assert_array_equal(stream.state, first[-1])
    copy = stream.state
    copy[:] = 7.0  # a copy: the stream's state is untouched
    np.testing.assert_array_equal(stream.state, first[-1])

    # Carrying the state across two halves equals one pass from h0.
    _, h_half = run(kind, opts, {**p, "x": p["x"][:, :3]})
    y, _ = run(kind, opts, {**p, "x": p["x"][:, 3:], "h0": h_half})
    stream.reset(p["h0"])
    for t in range(3):
        stream.step(p["x"][:, t])
    saved = stream.state
    stream.reset()
    stream.state = saved
    assert_close(stream.step(p["x"][:, 3]), y[:, 0], np.float32, "after state=", STREAM_TOL)
    stream.reset([h_half])  # a list holding h, as Keras passes states
    assert_close(stream.step(p["x"][:, 3]), y[:, 0], np.float32, "after reset", STREAM_TOL)


@CELLS
def test_stream_weights_are_copied_at_construction(kind, opts):
    p = make(kind, opts, 1, 1, 3, 4, seed=23)
    kernel = p["kernel"].copy()
    stream = API[kind][3](kernel, p["recurrent_kernel"], p["bias"], **opts)
    before = stream.step(p["x"][:, 0]).copy()
    kernel[:] = 100.0  # must not reach the stream
    stream.reset()
    np.testing.assert_array_equal(stream.step(p["x"][:, 0]), before)
