"""A padded batch, with ``lengths`` or a mask whose rows are each one run of valid steps (left or
right padding), walks its rows sorted by length, longest first, and computes only each
sequence's valid steps, kept packed step after step (by_length.hpp): inference, and training
forward and backward, in batch splits and unit splits, with or without recurrent dropout. Every
sequence must come out as it does alone, in the caller's row order, whatever the thread count,
layout, cell or option; as the NumPy oracle's walk of every step computes it, gradients included;
and inference as training's forward computes it."""

from __future__ import annotations

import numpy as np
import pytest

import fastlstm
from conftest import assert_inference_matches_training

# (B, threads): enough rows a thread (8 and more) for the batch split, chunks even and uneven.
SPLITS = [(16, 1), (16, 2), (26, 3)]
T, I, H = 12, 6, 32  # enough work for every thread of SPLITS (2e5 flops a thread)
# (B, threads, H): batch splits as above, and unit splits: under 4 rows a thread, the threads
# split the hidden units instead (H = 96: enough work for them with every cell).
ALL_SPLITS = [(B, threads, H) for B, threads in SPLITS] + [(4, 2, 96), (5, 3, 96)]
CELLS = {
    "lstm": ("lstm", 4, {}),
    "lstm-peephole-projection": ("lstm", 4, {"peephole": 3, "projection": 5}),
    "gru-reset_after": ("gru", 3, {"reset_after": True}),
    "gru-reset_before": ("gru", 3, {"reset_after": False}),
    "rnn": ("simple_rnn", 1, {}),
}


def problem(name, B, time_major, seed=0, H=H, cell=None):
    fn, gates, options = cell or CELLS[name]
    rng = np.random.default_rng(seed)

    def r(*shape):
        return 0.5 * rng.standard_normal(shape)

    P = options.get("projection", H)
    weights = [r(I, gates * H), r(P, gates * H)]
    weights.append(r(2, gates * H) if options.get("reset_after") else r(gates * H))
    kwargs = {k: v for k, v in options.items() if k == "reset_after"}
    if "peephole" in options:
        kwargs["peephole"] = r(3 * H)
    if "projection" in options:
        kwargs["projection"] = r(H, P)
    state = (r(B, P), r(B, H)) if fn == "lstm" else r(B, H)
    lengths = rng.integers(0, T + 1, size=B)
    lengths[[1, -1]] = T, 0  # a full and an empty sequence, unsorted
    x = r(B, T, I)
    return fn, x, weights, state, kwargs, lengths


def row_state(state, b):
    if isinstance(state, tuple):
        return tuple(s[b : b + 1] for s in state)
    return state[b : b + 1]


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("time_major", [False, True], ids=["batch_major", "time_major"])
@pytest.mark.parametrize(("B", "threads"), SPLITS, ids=lambda v: str(v))
@pytest.mark.parametrize("name", list(CELLS))
def test_each_sequence_comes_out_as_it_does_alone(name, B, threads, time_major):
    fn, x, weights, state, kwargs, lengths = problem(name, B, time_major)
    fastlstm.set_num_threads(threads)
    data = np.ascontiguousarray(x.transpose(1, 0, 2)) if time_major else x
    y, final = getattr(fastlstm, fn)(
        data, *weights, state, lengths=lengths, time_major=time_major, **kwargs
    )
    if time_major:
        y = y.transpose(1, 0, 2)
    finals = final if isinstance(final, tuple) else (final,)
    fastlstm.set_num_threads(1)
    for b, n in enumerate(lengths):
        alone, alone_final = getattr(fastlstm, fn)(
            x[b : b + 1, :n], *weights, row_state(state, b), **kwargs
        )
        np.testing.assert_allclose(y[b, :n], alone[0], rtol=0, atol=1e-12)
        assert np.all(y[b, n:] == 0), "outputs past the length are zero"
        for got, want in zip(
            finals, alone_final if isinstance(alone_final, tuple) else (alone_final,)
        ):
            np.testing.assert_allclose(got[b], want[0], rtol=0, atol=1e-12)
    fastlstm.set_num_threads(threads)
    forward = getattr(fastlstm, f"{fn}_forward")
    y_train, final_train, _ = forward(
        data, *weights, state, lengths=lengths, time_major=time_major, **kwargs
    )
    if time_major:
        y_train = y_train.transpose(1, 0, 2)
    assert_inference_matches_training(y, y_train)
    trains = final_train if isinstance(final_train, tuple) else (final_train,)
    for got, want in zip(finals, trains):
        assert_inference_matches_training(got, want)


@pytest.mark.usefixtures("restore_threads")
def test_a_long_padded_batch_in_float32_matches_the_unpadded_sequences():
    """float32, more rows than small_gemm takes on one thread (64), steps of every length."""
    fastlstm.set_num_threads(2)
    rng = np.random.default_rng(4)
    B, T, I, H = 150, 30, 8, 32
    x = rng.standard_normal((B, T, I)).astype(np.float32)
    w = [(0.3 * rng.standard_normal(s)).astype(np.float32) for s in ((I, 4 * H), (H, 4 * H), 4 * H)]
    lengths = rng.integers(0, T + 1, size=B)
    y, (h, c) = fastlstm.lstm(x, *w, lengths=lengths)
    for b in range(0, B, 7):
        n = lengths[b]
        alone, (ha, ca) = fastlstm.lstm(x[b : b + 1, :n], *w)
        np.testing.assert_allclose(y[b, :n], alone[0], rtol=0, atol=1e-5)
        np.testing.assert_allclose(h[b], ha[0], rtol=0, atol=1e-5)
        np.testing.assert_allclose(c[b], ca[0], rtol=0, atol=1e-5)
        assert np.all(y[b, n:] == 0)


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("threads", [1, 2])
def test_a_zero_masked_mask_with_gaps_is_walked_step_by_step(threads):
    """The core's zero_masked promises right padding (lengths); a caller of the core that passes
    a mask with gaps gets the walk that sets masked steps aside, not the sorted one, which would
    read steps it never wrote: inference equals training's forward, and every row itself alone."""
    from fastlstm import _core

    fastlstm.set_num_threads(threads)
    rng = np.random.default_rng(0)
    B, T, I, H = 16, 6, 3, 32
    x = rng.standard_normal((B, T, I))
    K, R, b = (0.5 * rng.standard_normal(s) for s in ((I, H), (H, H), H))
    h0 = np.zeros((B, H))
    mask = (rng.random((B, T)) < 0.7).astype(np.uint8)
    mask[0] = [1, 0, 1, 1, 0, 1]  # gaps

    def run(training, rows=slice(None)):
        y, h, _, _ = _core.rnn_forward(
            "rnn_tanh",
            x[rows],
            K,
            R,
            b,
            h0[rows],
            None,
            mask[rows],
            True,
            False,
            training,
            False,
            None,
            None,
            None,
            None,
        )
        return y, h

    y, h = run(False)
    y_train, h_train = run(True)
    np.testing.assert_array_equal(y, y_train)
    np.testing.assert_array_equal(h, h_train)
    for r in range(B):
        y1, h1 = run(False, slice(r, r + 1))
        np.testing.assert_allclose(y[r], y1[0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(h[r], h1[0], rtol=0, atol=1e-12)


# -- training ---------------------------------------------------------------------------------------


def train(fn, x, weights, state, kwargs, padding, time_major, threads, dropout=None, seed=1):
    """forward and backward with the padding ({"lengths": ...} or {"mask": ...}) and the
    recurrent dropout mask given, batch-major whatever the layout: (y, final states, cache,
    every gradient, dy, the final states' gradients)."""
    fastlstm.set_num_threads(threads)
    forward = getattr(fastlstm, f"{fn}_forward")
    backward = getattr(fastlstm, f"{fn}_backward")
    options = {"time_major": time_major, "recurrent_dropout_mask": dropout, **padding}
    data = np.ascontiguousarray(x.transpose(1, 0, 2)) if time_major else x
    y, final, cache = forward(data, *weights, state, **options, **kwargs)
    finals = final if isinstance(final, tuple) else (final,)
    rng = np.random.default_rng(seed)
    dy = rng.standard_normal((x.shape[0], x.shape[1], y.shape[2]))
    dfinal = tuple(rng.standard_normal(f.shape) for f in finals)
    dy_in = np.ascontiguousarray(dy.transpose(1, 0, 2)) if time_major else dy
    grads = [
        g for g in backward(cache, dy_in, dfinal if fn == "lstm" else dfinal[0]) if g is not None
    ]
    if time_major:
        y, grads[0] = y.transpose(1, 0, 2), grads[0].transpose(1, 0, 2)
    return y, finals, cache, grads, dy, dfinal


def reference(fn, x, weights, state, kwargs, padding, dropout, dy=None, dfinal=None):
    """The NumPy oracle (fastlstm.oracle, one step at a time, every step, masked ones set
    aside) on train()'s call, batch-major: (y, final states, every gradient if dy is given)."""
    from fastlstm import oracle

    T = x.shape[1]
    valid = padding["mask"] if "mask" in padding else np.arange(T) < padding["lengths"][:, None]
    m = np.ascontiguousarray(np.asarray(valid, bool).T)  # (T, B)
    xt = np.ascontiguousarray(x.transpose(1, 0, 2))
    if fn == "lstm":
        y, h, c, saved = oracle.forward(
            xt, *weights, *state, mask=m, peephole=kwargs.get("peephole"),
            recurrent_mask=dropout, projection=kwargs.get("projection"),
        )  # fmt: skip
        finals, backward = (h, c), oracle.backward
    elif fn == "gru":
        y, h, saved = oracle.gru_forward(
            xt, *weights, state, reset_after=kwargs["reset_after"], mask=m, recurrent_mask=dropout
        )
        finals, backward = (h,), oracle.gru_backward
    else:
        y, h, saved = oracle.rnn_forward(xt, *weights, state, mask=m, recurrent_mask=dropout)
        finals, backward = (h,), oracle.rnn_backward
    zeroed = "lengths" in padding  # outputs past each length are zero: they have no gradient
    if zeroed:
        y = y * m[:, :, None]
    if dy is None:
        return y.transpose(1, 0, 2), finals, None
    dyt = dy.transpose(1, 0, 2) * (m[:, :, None] if zeroed else 1)
    grads = list(backward(saved, dyt, *dfinal))
    grads[0] = grads[0].transpose(1, 0, 2)
    return y.transpose(1, 0, 2), finals, grads


def assert_matches(got, want):
    for g, w in zip(got, want, strict=True):
        scale = max(1.0, float(np.max(np.abs(w)))) if np.size(w) else 1.0
        np.testing.assert_allclose(g, w, rtol=0, atol=1e-11 * scale)


def padded(kind, lengths, rng):
    """The padding argument for rows of these lengths: lengths itself, or a Keras mask whose valid
    steps are the first (right padding), the last (left padding, Keras's pad_sequences default)
    or a run anywhere in the row."""
    if kind == "lengths":
        return {"lengths": lengths}
    first = {
        "mask-right": np.zeros_like(lengths),
        "mask-left": T - lengths,
        "mask-run": rng.integers(0, T - lengths + 1),
    }[kind]
    steps = np.arange(T)
    return {"mask": (steps >= first[:, None]) & (steps < (first + lengths)[:, None])}


def dropout_mask(B, P, seed=9, rate=0.3):
    """Keras's recurrent dropout mask: Bernoulli(1 - rate) / (1 - rate)."""
    return (np.random.default_rng(seed).random((B, P)) >= rate) / (1 - rate)


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("dropout", [False, True], ids=["", "recurrent_dropout"])
@pytest.mark.parametrize("padding", ["lengths", "mask-right", "mask-left", "mask-run"])
@pytest.mark.parametrize("time_major", [False, True], ids=["batch_major", "time_major"])
@pytest.mark.parametrize(("B", "threads", "H"), ALL_SPLITS, ids=lambda v: str(v))
@pytest.mark.parametrize("name", list(CELLS))
def test_training_over_the_valid_steps_matches_the_oracle(
    name, B, threads, H, time_major, padding, dropout
):
    """Training's forward and backward with lengths, or a mask whose rows are each one run of
    valid steps, keep the valid steps only, packed (the cache says so), with or without
    recurrent dropout: the same outputs (at masked steps too), final states and gradients (dy at
    masked steps included) as the oracle's walk of every step; the padded steps' inputs get no
    gradient."""
    fn, x, weights, state, kwargs, lengths = problem(name, B, False, H=H)
    pad = padded(padding, lengths, np.random.default_rng(5))
    P = kwargs["projection"].shape[1] if "projection" in kwargs else H
    drop = dropout_mask(B, P) if dropout else None
    y, finals, cache, grads, dy, dfinal = train(
        fn, x, weights, state, kwargs, pad, time_major, threads, drop
    )
    assert cache._saved[15]
    y_ref, finals_ref, grads_ref = reference(fn, x, weights, state, kwargs, pad, drop, dy, dfinal)
    assert_matches([y, *finals, *grads], [y_ref, *finals_ref, *grads_ref])
    valid = pad["mask"] if "mask" in pad else np.arange(T) < lengths[:, None]
    assert np.all(grads[0][~valid] == 0), "padded steps have no gradient"


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("padding", ["lengths", "mask-right", "mask-left", "mask-run"])
@pytest.mark.parametrize(
    ("B", "H"), [(16, 32), (4, 96), (200, 128)], ids=["batch_split", "unit_split", "blocks"]
)
@pytest.mark.parametrize("name", list(CELLS))
def test_inference_over_the_valid_steps_matches_the_oracle(name, B, H, padding):
    """Inference with lengths, or under a mask whose rows are each one run, walks the valid
    steps only, as training does, and matches the oracle: with a mask, masked steps repeat h0
    before the run and its last h after it. At B=200, x*K + b for all steps (the LSTM's and the
    GRU's) exceeds what inference computes at once (kMaxProjectionBytes): each thread computes it
    for blocks of steps, from its rows of the packed x."""
    fastlstm.set_num_threads(2)
    fn, x, weights, state, kwargs, lengths = problem(name, B, False, H=H)
    pad = padded(padding, lengths, np.random.default_rng(6))
    y, final = getattr(fastlstm, fn)(x, *weights, state, **pad, **kwargs)
    y_train, final_train, _ = getattr(fastlstm, f"{fn}_forward")(
        x, *weights, state, **pad, **kwargs
    )
    finals = final if isinstance(final, tuple) else (final,)
    trains = final_train if isinstance(final_train, tuple) else (final_train,)
    for got, trained in zip([y, *finals], [y_train, *trains]):
        assert_inference_matches_training(got, trained, whole=B < 200)
    y_ref, finals_ref, _ = reference(fn, x, weights, state, kwargs, pad, None)
    assert_matches([y, *finals], [y_ref, *finals_ref])


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("name", ["lstm-peephole-projection", "gru-reset_before"])
def test_backward_finds_the_packed_steps_at_another_thread_count(name):
    """The packed order depends on the lengths alone: a cache made on 3 threads gives, on 1 and
    2, the gradients it gives on 3, within rounding (the chunks differ)."""
    fn, x, weights, state, kwargs, lengths = problem(name, 26, False)
    fastlstm.set_num_threads(3)
    y, _, cache = getattr(fastlstm, f"{fn}_forward")(x, *weights, state, lengths=lengths, **kwargs)
    assert cache._saved[15]
    dy = np.random.default_rng(2).standard_normal(y.shape)
    backward = getattr(fastlstm, f"{fn}_backward")
    want = backward(cache, dy)
    for threads in (1, 2):
        fastlstm.set_num_threads(threads)
        for got, ref in zip(backward(cache, dy), want):
            if ref is not None:
                np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12 * max(1, np.abs(ref).max()))


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("time_major", [False, True], ids=["batch_major", "time_major"])
def test_cell_states_with_lengths_repeat_the_last_valid_step(time_major):
    """return_cell_states and cache.cell_states with lengths: c_t at the valid steps, then the
    last valid c_t (c0 for an empty sequence) repeated, as the final c holds it."""
    fastlstm.set_num_threads(2)
    _, x, weights, (h0, c0), _, lengths = problem("lstm", 16, time_major)
    data = np.ascontiguousarray(x.transpose(1, 0, 2)) if time_major else x
    options = {"lengths": lengths, "time_major": time_major}
    _, (_, c), c_seq = fastlstm.lstm(data, *weights, (h0, c0), return_cell_states=True, **options)
    _, _, cache = fastlstm.lstm_forward(data, *weights, (h0, c0), **options)
    np.testing.assert_array_equal(cache.cell_states, c_seq)
    assert not cache.cell_states.flags.writeable
    c_seq = c_seq.transpose(1, 0, 2) if time_major else c_seq
    fastlstm.set_num_threads(1)
    for b, n in enumerate(lengths):
        state = (h0[b : b + 1], c0[b : b + 1])
        _, _, alone = fastlstm.lstm(x[b : b + 1, :n], *weights, state, return_cell_states=True)
        np.testing.assert_allclose(c_seq[b, :n], alone[0], rtol=0, atol=1e-12)
        np.testing.assert_array_equal(c_seq[b, n:], np.broadcast_to(c[b], (T - n, H)))
        if n == 0:
            np.testing.assert_array_equal(c[b], c0[b])


@pytest.mark.usefixtures("restore_threads")
def test_training_with_uneven_lengths_and_every_length_zero():
    """Chunks balanced by valid steps hold different numbers of rows (one long sequence and many
    short ones); a batch whose lengths are all zero has no valid step at all."""
    rng = np.random.default_rng(7)
    B, T, I, H = 40, 30, 5, 16
    w = [0.4 * rng.standard_normal(s) for s in ((I, 4 * H), (H, 4 * H), 4 * H)]
    x = rng.standard_normal((B, T, I))
    state = (rng.standard_normal((B, H)), rng.standard_normal((B, H)))
    for lengths in (np.r_[T, rng.integers(0, 4, size=B - 1)], np.zeros(B, dtype=int)):
        pad = {"lengths": lengths}
        for threads in (1, 2, 3):
            y, finals, cache, grads, dy, dfinal = train(
                "lstm", x, w, state, {}, pad, False, threads
            )
            assert cache._saved[15]
            y_ref, finals_ref, grads_ref = reference("lstm", x, w, state, {}, pad, None, dy, dfinal)
            assert_matches([y, *finals, *grads], [y_ref, *finals_ref, *grads_ref])
        if not lengths.any():
            np.testing.assert_array_equal(finals[0], state[0])
            assert not y.any()
            assert not grads[0].any()


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("dropout", [False, True], ids=["", "recurrent_dropout"])
@pytest.mark.parametrize("padding", ["none", "lengths", "mask-gaps"])
@pytest.mark.parametrize(
    "name", ["lstm", "lstm-peephole-projection", "gru-reset_after", "gru-reset_before", "rnn"]
)
def test_step_products_split_by_units_under_dropout_and_projection(name, padding, dropout):
    """Three rows on 2 threads and a float64 recurrent kernel of 512 KiB or more (H = 288; with
    a projection to P = 160, (160, 4H)): backward splits its step products by the units of h
    (sequence_backward.hpp), each thread's block of dZr_t R^T times the recurrent dropout mask's
    columns of that block where there is one; with lengths, over the packed rows sorted by
    length; under a mask with gaps, over every row at every step (a masked row's dZ_t is zero,
    its dh carried); the reset-before GRU in two phases, each with its own product (dn R_h^T,
    then [du, dr] R_zr^T). The same outputs, final states and gradients as the oracle's."""
    B, H = 3, 288
    cell = ("lstm", 4, {"peephole": 3, "projection": 160}) if "projection" in name else None
    fn, x, weights, state, kwargs, lengths = problem(name, B, False, H=H, cell=cell)
    # problem()'s weights scaled for 288 units as for 32 (the projection, whose sums run over
    # the 288 units, further): at full scale a SimpleRNN of 288 units amplifies float64
    # rounding step after step beyond assert_matches' 1e-11.
    weights = [w / 3 for w in weights]
    if "projection" in kwargs:
        kwargs["projection"] = kwargs["projection"] / 9
    pad = {"none": {}, "lengths": {"lengths": lengths}}.get(padding)
    if padding == "mask-gaps":  # each row's valid steps in two runs or more; one row all masked
        pad = {"mask": np.array([[1, 0, 1] * (T // 3), [0, 1, 1, 0] * (T // 4), [0] * T], bool)}
    P = kwargs["projection"].shape[1] if "projection" in kwargs else H
    drop = dropout_mask(B, P) if dropout else None
    y, finals, _, grads, dy, dfinal = train(fn, x, weights, state, kwargs, pad, False, 2, drop)
    full = {"lengths": np.full(B, T)}  # the oracle's padding argument for no padding
    y_ref, finals_ref, grads_ref = reference(
        fn, x, weights, state, kwargs, pad or full, drop, dy, dfinal
    )
    assert_matches([y, *finals, *grads], [y_ref, *finals_ref, *grads_ref])
