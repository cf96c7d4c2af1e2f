"""Backward's weight gradients over many rows: with 32 vector registers (the v4 level) and at
least 4 blocks of 64 rows a thread, dK, dR, db (the GRU's recurrent bias too) and dX are summed
by blocks of rows, each thread its own chunk of rows, the chunks' sums added after in chunk order
(grads_by_rows, sequence_backward.hpp); elsewhere the threads split the columns, and each sums
its columns of dK and dR with Eigen's GEMM or, for wide layers over many rows (at least 1,024 rows
and 384 rows of dK and dR), by blocks of 64 rows from copies of dZ in panels (gemm_tn.hpp).
Every way every gradient must be the oracle's, for every cell and option, with and without
padding and recurrent dropout, on 1 to 3 threads; the same bits run to run and whether dL/dx is
wanted or not."""

from __future__ import annotations

import numpy as np
import pytest

import fastlstm
from test_by_length import CELLS, T, assert_matches, dropout_mask, padded, problem, reference, train

B = 200  # 2,400 rows (about 1,300 valid with padding): 4 blocks of 64 a thread on 3 threads
H = 32


def setup(name, padding, dropout, width=H):
    fn, x, weights, state, kwargs, lengths = problem(name, B, False, H=width)
    # R scaled as H = 32's (each z sums `width` terms): rounding errors then grow over the steps
    # as they do there, whatever the width (a factor of 1 at H = 32).
    weights[1] = weights[1] * np.sqrt(H / width)
    if padding == "none":
        pad, ref_pad = {}, {"lengths": np.full(B, T)}
    else:
        pad = ref_pad = padded(padding, lengths, np.random.default_rng(5))
    P = kwargs["projection"].shape[1] if "projection" in kwargs else width
    drop = dropout_mask(B, P) if dropout else None
    return fn, x, weights, state, kwargs, pad, ref_pad, drop


def check_against_oracle(name, threads, time_major, padding, dropout, width=H):
    fn, x, weights, state, kwargs, pad, ref_pad, drop = setup(name, padding, dropout, width)
    y, finals, _, grads, dy, dfinal = train(
        fn, x, weights, state, kwargs, pad, time_major, threads, drop
    )
    y_ref, finals_ref, grads_ref = reference(
        fn, x, weights, state, kwargs, ref_pad, drop, dy, dfinal
    )
    assert_matches([y, *finals, *grads], [y_ref, *finals_ref, *grads_ref])


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("dropout", [False, True], ids=["", "recurrent_dropout"])
@pytest.mark.parametrize("padding", ["none", "lengths", "mask-left"])
@pytest.mark.parametrize("time_major", [False, True], ids=["batch_major", "time_major"])
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("name", list(CELLS))
def test_weight_gradients_over_many_rows_match_the_oracle(
    name, threads, time_major, padding, dropout
):
    check_against_oracle(name, threads, time_major, padding, dropout)


WIDE = 400  # I + H = 406 rows of dK and dR stacked (LSTM, SimpleRNN), H = 400 of the GRU's dR


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("dropout", [False, True], ids=["", "recurrent_dropout"])
@pytest.mark.parametrize("padding", ["none", "mask-left"])
@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("name", ["lstm", "gru-reset_after", "gru-reset_before", "rnn"])
def test_wide_weight_gradients_match_the_oracle(name, threads, padding, dropout):
    """gemm_tn's blocks: 2,400 rows (about 1,300 valid under the mask) in blocks of 64 and a
    shorter last one; on one thread dK and dR's copy (406 x 1,600 float64, 5.2 MB) in two
    groups of columns, on three thread chunks of 533-534 columns, panels of 32 and a narrower
    last one; the reset-before GRU's dR in two runs of columns with different operands."""
    check_against_oracle(name, threads, False, padding, dropout, width=WIDE)


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("threads", [1, 3])
@pytest.mark.parametrize("name", ["lstm-peephole-projection", "gru-reset_before"])
def test_weight_gradients_repeat_and_do_not_depend_on_input_grad(name, threads):
    """In float32 (where a change of summation order shows): two backward calls give the same
    bits, and without dL/dx the other gradients are the same bits as with it."""
    fn, x, weights, state, kwargs, pad, _, _ = setup(name, "mask-left", False)
    f32 = [np.float32(a) if np.isscalar(a) else np.asarray(a, np.float32) for a in weights]
    options = {
        k: v.astype(np.float32) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()
    }
    state32 = (
        tuple(s.astype(np.float32) for s in state) if fn == "lstm" else state.astype(np.float32)
    )
    fastlstm.set_num_threads(threads)
    forward = getattr(fastlstm, f"{fn}_forward")
    backward = getattr(fastlstm, f"{fn}_backward")
    y, _, cache = forward(x.astype(np.float32), *f32, state32, **pad, **options)
    dy = np.random.default_rng(2).standard_normal(y.shape).astype(np.float32)
    first = backward(cache, dy)
    again = backward(cache, dy)
    without_dx = backward(cache, dy, input_grad=False)
    assert without_dx[0] is None
    for a, b, c in zip(first[1:], again[1:], without_dx[1:]):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    np.testing.assert_array_equal(first[0], again[0])


@pytest.mark.usefixtures("restore_threads")
def test_nan_at_masked_steps_reaches_no_weight_gradient():
    """A masked step's x may hold anything (NaN padding): its zero dL/dz must keep it out of dK."""
    fn, x, weights, state, kwargs, pad, _, _ = setup("lstm", "mask-left", False)
    nan_padded = np.where(pad["mask"][:, :, None], x, np.nan)
    zero_padded = np.where(pad["mask"][:, :, None], x, 0.0)
    results = [
        train(fn, data, weights, state, kwargs, pad, False, 2)[3]
        for data in (nan_padded, zero_padded)
    ]
    for a, b in zip(*results):
        assert np.all(np.isfinite(a))
        np.testing.assert_array_equal(a, b)
