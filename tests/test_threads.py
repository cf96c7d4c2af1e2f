"""Thread count: settable, repeatable results for a given count, rounding-level agreement across
counts (the documented tolerance)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import fastlstm
from conftest import child_output, make_problem
from fastlstm import oracle
from test_cells import NAMES, make, reference, reference_grads, run, train


def train_step(p):
    args = (p["x"], p["kernel"], p["recurrent_kernel"], p["bias"], (p["h0"], p["c0"]))
    y, _, cache = fastlstm.lstm_forward(*args)
    return (y, *fastlstm.lstm_backward(cache, np.cos(y)))


@pytest.mark.usefixtures("restore_threads")
def test_set_and_get():
    fastlstm.set_num_threads(3)
    assert fastlstm.get_num_threads() == 3
    for bad in (0, -1, 1025, 2**40):
        with pytest.raises(
            ValueError, match=f"n: expected a positive integer up to 1024, got {bad}"
        ):
            fastlstm.set_num_threads(bad)
    with pytest.raises(TypeError, match=r"n: expected a positive integer up to 1024, got 2\.0"):
        fastlstm.set_num_threads(2.0)
    assert fastlstm.get_num_threads() == 3
    fastlstm.set_num_threads(np.int64(2))  # NumPy's ints are ints
    assert fastlstm.get_num_threads() == 2


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("threads", [1, 2, 3, 4])
def test_identical_run_to_run(threads):
    fastlstm.set_num_threads(threads)
    p = make_problem(32, 20, 48, 64, dtype=np.float32, seed=threads)
    first = train_step(p)
    for _ in range(3):
        for a, b in zip(train_step(p), first):
            np.testing.assert_array_equal(a, b)


@pytest.mark.usefixtures("restore_threads")
def test_thread_counts_agree_to_rounding():
    """Chunks change the blocking of the GEMMs, so results across thread counts agree to
    rounding: within 1e-5 of the scale in float32 (documented in set_num_threads)."""
    p = make_problem(32, 20, 48, 64, dtype=np.float32, seed=9)
    fastlstm.set_num_threads(1)
    reference = train_step(p)
    for threads in (2, 3, 4):
        fastlstm.set_num_threads(threads)
        for a, b in zip(train_step(p), reference):
            scale = max(1.0, float(np.abs(b).max()))
            assert float(np.abs(a - b).max()) <= 1e-5 * scale


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("threads", [2, 3])
# B=10 on 2 threads: 5 rows a thread, which a batch split would read R for twice per step, so
# the units split (on 3 threads it is a batch split of 4 rows a thread).
@pytest.mark.parametrize("B", [1, 2, 10])
def test_small_batch_split_over_hidden_units_matches_oracle(B, threads):
    """Small batches split the hidden units across threads (they meet after every step);
    forward, the gates kept for backward, and every gradient must still match the oracle."""
    fastlstm.set_num_threads(threads)
    p = make_problem(B, 20, 24, 64, dtype=np.float64, seed=B + threads)
    y, h, c, saved = oracle.forward(
        p["x"].transpose(1, 0, 2), p["kernel"], p["recurrent_kernel"], p["bias"], p["h0"], p["c0"]
    )
    dy = np.cos(y)
    expected = oracle.backward(saved, dy, np.zeros_like(h), np.zeros_like(c))
    args = (p["x"], p["kernel"], p["recurrent_kernel"], p["bias"], (p["h0"], p["c0"]))
    y_fast, (h_fast, c_fast), cache = fastlstm.lstm_forward(*args)
    y_inf, (h_inf, c_inf) = fastlstm.lstm(*args)
    grads = fastlstm.lstm_backward(cache, dy.transpose(1, 0, 2))
    for actual, ref in [
        (y_fast, y.transpose(1, 0, 2)),
        (y_inf, y.transpose(1, 0, 2)),
        (h_fast, h),
        (h_inf, h),
        (c_fast, c),
        (c_inf, c),
        (grads.x, expected[0].transpose(1, 0, 2)),
        *zip(grads[1:], expected[1:]),
    ]:
        np.testing.assert_allclose(actual, ref, rtol=0, atol=1e-12)


def misaligned_copy(a, offset):
    """a copied to an address `offset` elements past a 64-byte boundary."""
    raw = np.empty(a.size + 64, a.dtype)
    start = (-raw.ctypes.data % 64) // a.itemsize + offset
    out = raw[start : start + a.size].reshape(a.shape)
    out[...] = a
    return out


@pytest.mark.parametrize(("B", "H"), [(1, 64), (3, 40), (32, 48)])
def test_identical_whatever_the_input_alignment(B, H):
    """Large inputs are used where they lie (not copied to aligned memory): results must not depend
    on where NumPy placed them."""
    p = make_problem(B, 12, 40, H, dtype=np.float32, seed=B)
    first = (
        train_step(p)
        + fastlstm.lstm(p["x"], p["kernel"], p["recurrent_kernel"], p["bias"], (p["h0"], p["c0"]))[
            1
        ]
    )
    for offset in (1, 3, 7):
        q = {k: misaligned_copy(v, offset) for k, v in p.items()}
        again = (
            train_step(q)
            + fastlstm.lstm(
                q["x"], q["kernel"], q["recurrent_kernel"], q["bias"], (q["h0"], q["c0"])
            )[1]
        )
        for a, b in zip(again, first):
            np.testing.assert_array_equal(a, b)


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize(
    ("B", "T", "I", "H"),
    [
        # 16 MiB of recurrent columns per thread, above its L2: used in place for a few steps,
        # packed into panels for enough steps to pay for the copy.
        (1, 6, 8, 1024),
        (1, 8, 8, 1024),
        (2, 2100, 16, 64),  # T*B too big to project all at once: blocks of 64 steps, packed R
    ],
)
def test_small_batch_weight_layouts_match_oracle(B, T, I, H):
    fastlstm.set_num_threads(2)
    # Small weights keep the recurrence contracting, so rounding differences cannot grow over the
    # 2100 steps and the tolerance stays tight.
    p = make_problem(B, T, I, H, dtype=np.float64, seed=T, scale=0.1)
    args = (p["x"], p["kernel"], p["recurrent_kernel"], p["bias"], (p["h0"], p["c0"]))
    y_ref, h_ref, c_ref, _ = oracle.forward(p["x"].transpose(1, 0, 2), *args[1:4], *args[4])
    y, (h, c) = fastlstm.lstm(*args)
    np.testing.assert_allclose(y, y_ref.transpose(1, 0, 2), rtol=0, atol=1e-12)
    np.testing.assert_allclose(h, h_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(c, c_ref, rtol=0, atol=1e-12)


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize(
    ("kind", "B", "T", "I", "H"),
    [
        # 6 rows on 2 threads: a unit split (under 4 rows a thread), each block's R packed once
        # per call for all 6 rows into panels as wide as the strips the product reads (32
        # float64 columns with AVX-512, where 6 rows take one block of 4 packets), its columns
        # (600 for the LSTM) ending in narrower panels (16, 8); backward reads R^T from panels
        # of its 300 columns the same way.
        ("lstm", 6, 5, 7, 300),
        ("gru", 6, 5, 7, 300),
        ("rnn", 6, 5, 7, 300),
        ("lstm", 6, 3, 7, 300),  # fewer steps than pay for the copy: R read where it lies
        # Unit split (2 threads), each block's R packed into panels for all B rows: for 1, 2, 3,
        # 5 and 7 rows as wide as the strips the product reads (16, 8 and 4 packets; with 32
        # vector registers 5 and 7 rows take one block of 4 packets), for 12 rows (blocks of 6)
        # 256 columns; each block has 600 columns (450 for the GRU), which none of those widths
        # divides.
        ("lstm", 1, 5, 7, 300),
        ("lstm", 2, 5, 7, 300),
        ("gru", 3, 5, 7, 300),
        ("lstm", 5, 5, 7, 300),
        ("gru", 7, 5, 7, 300),
        ("lstm", 12, 5, 7, 300),
        # Batch split (2 threads) of 8 rows a thread: one block of 8 rows x 3 packets with 32
        # vector registers, from panels as wide (24 float64 columns); G*H = 280 and 210 leave
        # narrower panels at the end (16 columns as 12 and 4; 18 as 12 and 6).
        ("lstm", 16, 5, 7, 70),
        ("gru", 16, 5, 7, 70),
        # 5 and 7 rows a thread: with 32 vector registers a batch split, each step's product
        # one block of all of a thread's rows; with 16, a unit split.
        ("lstm", 10, 5, 7, 70),
        ("gru", 14, 5, 7, 70),
        # 9 to 17 rows a thread, with 32 vector registers blocks of 6 rows and the rest: 6 + 3
        # (9), 6 + 4 (10), 6 + 5 (11), 6 + 7 (13), 6 + 6 + 5 (17); with 16, of 8 and 4 first.
        ("lstm", 18, 5, 7, 70),
        ("gru", 20, 5, 7, 70),
        ("lstm", 22, 5, 7, 70),
        ("gru", 26, 5, 7, 70),
        ("lstm", 34, 5, 7, 70),
        # 80 rows per thread at 2 threads. With 32 vector registers (AVX-512) and enough steps
        # (4) R is packed into panels that small_gemm reads (at H=136, 64 float64 columns wide:
        # at most 128 KiB each); otherwise R is read in place, by small_gemm where it is at most
        # 512 KiB (13 KiB at H=20), by Eigen's GEMM where it is larger (578 KiB at H=136; T=3
        # takes that way at every level).
        ("lstm", 160, 4, 7, 20),
        ("lstm", 160, 4, 7, 136),
        ("lstm", 160, 3, 7, 136),
        # Many rows a thread (2 and 4 rows x 300 steps): with 32 vector registers x*K + b is
        # small_gemm's over K in panels for chunks of 512 float64 rows (256 KiB of x at I=64), the
        # last chunk partial; G*H = 80 and 63 end in narrower panels, 63 in one scalar column.
        ("lstm", 4, 300, 64, 20),
        ("gru", 4, 300, 64, 21),
        # Fewer rows (B*T) than columns: x*K and dX = dZ*K^T split by columns, 16 at a time (the
        # last group partial: I = 100, 70), instead of by rows.
        ("lstm", 2, 10, 100, 100),
        ("gru", 1, 12, 70, 96),
    ],
)
def test_weight_layouts_and_product_splits_match_oracle(kind, B, T, I, H, threads):
    """Forward, inference and every gradient, whichever layout of the recurrent kernel the step
    products read and whichever way the input products split, against the oracle in float64."""
    fastlstm.set_num_threads(threads)
    assert_all_match_oracle(kind, B, T, I, H)


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("B", [64, 96])
def test_many_threads_split_large_recurrent_weights_by_units(kind, B):
    """16 threads and an R (float64, H=512: 8 MiB for the LSTM, 6 MiB for the GRU) beyond a
    core's L2: on a CPU whose L2 holds twice a thread's share (1 MiB and up) the hidden units
    split at 4 and 6 rows a thread, the blocks' step products taking all B rows (96: past 64
    rows, small_gemm for a block's panels of at most 512 KiB). Elsewhere a batch split, checked
    the same way."""
    fastlstm.set_num_threads(16)
    assert_all_match_oracle(kind, B, 3, 8, 512)


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize(
    ("T", "I"),
    [(5, 24), (12, 24), (300, 24), (12, 600), (300, 600)],
    ids=["few-steps", "one-block", "many-blocks", "one-block-staged", "many-blocks-in-place"],
)
def test_unit_split_input_products_match_oracle(kind, T, I):
    """A unit split on 2 threads (B=1, H=250: blocks of 125 units, 500 columns for the LSTM and
    375 for the GRU, ending in panels narrower than 256) computes x*K + b in each block for blocks
    of steps. A block's float64 R is 0.95 MiB (LSTM), its K 94 KiB at I=24 and 2.3 MiB at I=600.
    With T=5 both are read where they lie (too few steps to pay for a copy); with T=300 (3 blocks
    of steps) K is packed where it fits in L2, else read where it lies; with T=12 (one block of
    steps) K is read once: from a packed copy where K and R together fit in L2, else staged, its
    panels copied one at a time into a scratch panel just before their product (staged_product).
    On a 2 MiB L2: I=24 packed, I=600 staged through panels 64 columns wide (the LSTM's last
    ones 32, 16 and 4 wide, the GRU's 32, 16 and 7). Training and inference take the same way,
    so they give the same bits (test_cells checks that)."""
    fastlstm.set_num_threads(2)
    assert_all_match_oracle(kind, 1, T, I, 250)


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("B", [16, 20])
def test_eight_to_ten_rows_a_thread_with_a_large_r_split_units(kind, B):
    """8 and 10 rows a thread on 2 threads, float64 R of 1.22 MiB (LSTM) and 0.92 MiB (GRU),
    at least 0.9 of a 1 MiB L2: a unit split where the CPU reports such an L2, else a batch
    split; either must give the oracle's answers."""
    fastlstm.set_num_threads(2)
    assert_all_match_oracle(kind, B, 4, 8, 200)


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("B", [24, 64])
def test_up_to_32_rows_a_thread_with_r_beyond_l2_split_units(kind, B):
    """12 and 32 rows a thread on 2 threads, float64 R at H=512 (8 MiB for the LSTM, 6 MiB for
    the GRU) beyond a core's L2: a unit split, each block's share of R packed into panels (8
    steps pay for the copy), where the CPU reports an L2 of less than R; else a batch split.
    Either must give the oracle's answers."""
    fastlstm.set_num_threads(2)
    assert_all_match_oracle(kind, B, 8, 8, 512)


# Calls of B=1, T=20000, I=H=16 on 2 threads for 0.3 s in a fresh process (no workers left
# spinning by earlier tests); prints the process's CPU time over the wall time.
FEW_UNITS = """
import resource, sys, time
import numpy as np
import fastlstm
kind = sys.argv[1]
fastlstm.set_num_threads(2)
rng = np.random.default_rng(0)
G = {"lstm": 4, "gru": 3, "simple_rnn": 1}[kind]
x = rng.standard_normal((1, 20000, 16)).astype(np.float32)
k, r = (0.3 * rng.standard_normal((16, G * 16)).astype(np.float32) for _ in range(2))
b = np.zeros((2, G * 16) if kind == "gru" else G * 16, np.float32)
call = getattr(fastlstm, kind)
call(x, k, r, b)
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
cpu0, wall0 = cpu(), time.perf_counter()
while time.perf_counter() - wall0 < 0.3:  # CPU time counts in ticks of a few ms
    call(x, k, r, b)
print((cpu() - cpu0) / (time.perf_counter() - wall0))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="process CPU time as on Linux")
@pytest.mark.parametrize("kind", ["lstm", "gru", "simple_rnn"])
def test_a_long_sequence_with_few_units_walks_on_one_thread(kind):
    """B=1, I=H=16, T=20000 on 2 threads: a step is too little work (R of 1-4 KiB) to split its
    units over threads that meet after every step, so one thread walks (the input GEMM still
    takes both). The unit split had kept both threads busy the whole call (CPU time 1.9-2.0x the
    wall time) and made it 3-4x slower than one thread; one walking thread: 1.1-1.3x."""
    ratio = float(child_output(FEW_UNITS, kind).split()[-1])
    assert ratio < 1.6, f"CPU time {ratio:.2f}x the wall time: both threads worked every step"


def assert_all_match_oracle(kind, B, T, I, H):
    """Forward, inference and every gradient of one random float64 problem equal the oracle's."""
    if kind == "lstm":
        p = make_problem(B, T, I, H, dtype=np.float64, seed=H + B, scale=0.1)
        args = (p["x"], p["kernel"], p["recurrent_kernel"], p["bias"], (p["h0"], p["c0"]))
        y_ref, h_ref, c_ref, saved = oracle.forward(p["x"].transpose(1, 0, 2), *args[1:4], *args[4])
        dy = np.cos(y_ref)
        expected = oracle.backward(saved, dy, np.zeros_like(h_ref), np.zeros_like(c_ref))
        y, (h, c), cache = fastlstm.lstm_forward(*args)
        grads = fastlstm.lstm_backward(cache, dy.transpose(1, 0, 2))
        y_inf = fastlstm.lstm(*args)[0]
        pairs = [(y, y_ref.transpose(1, 0, 2)), (y_inf, y_ref.transpose(1, 0, 2)), (h, h_ref)]
        pairs += [(c, c_ref), (grads.x, expected[0].transpose(1, 0, 2))]
        pairs += list(zip(grads[1:], expected[1:]))
    else:
        opts = {"reset_after": True} if kind == "gru" else {"activation": "tanh"}
        p = make(kind, opts, B, T, I, H, seed=H + B, scale=0.1)
        y_ref, h_ref, saved = reference(kind, opts, p)
        dy, dh = np.cos(y_ref), np.sin(h_ref)
        y, h, g = train(kind, opts, p, dy, dh)
        g_ref = reference_grads(kind, saved, dy, dh)
        pairs = [(y, y_ref), (run(kind, opts, p)[0], y_ref), (h, h_ref)]
        pairs += [(g[n], g_ref[n]) for n in NAMES]
    # Within 1e-12 of each output's scale: a weight gradient sums B*T rows (the GRU's bias
    # gradient reaches 1.5e3 at B=64, T=8, where float64 rounds at 2e-13).
    for actual, ref in pairs:
        scale = max(1.0, float(np.abs(ref).max()))
        np.testing.assert_allclose(actual, ref, rtol=0, atol=1e-12 * scale)
