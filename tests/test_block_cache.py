"""The core's cache of large buffers (128 KiB and up): freed buffers are kept and reused by the next
calls, their old contents never reach a result, and empty_cache gives the memory back."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import fastlstm
from conftest import make_problem

# Big enough that every per-step buffer is over 1 MiB: the saved gates are 10 MiB.
SIZES = (16, 40, 24, 256)


def train_step(p):
    args = (p["x"], p["kernel"], p["recurrent_kernel"], p["bias"], (p["h0"], p["c0"]))
    y, _, cache = fastlstm.lstm_forward(*args)
    return [y, *fastlstm.lstm_backward(cache, np.cos(y))]


def poison_and_drop(arrays):
    """Fills every array with NaN and lets it go, so that its block goes back to the cache."""
    for a in arrays:
        # A training forward's y is a read-only view of the array that owns its block.
        target = a if a.flags.writeable else a.base
        target[...] = np.nan
    arrays.clear()


@pytest.fixture
def problem():
    return make_problem(*SIZES, dtype=np.float32, seed=3, scale=0.2)


def test_freed_buffers_are_kept_and_empty_cache_frees_them(problem):
    fastlstm.empty_cache()
    assert fastlstm.cached_bytes() == 0
    out = train_step(problem)
    out.clear()
    held = fastlstm.cached_bytes()
    B, T, _, H = SIZES
    assert held >= 4 * B * T * 4 * H  # at least the saved gates, (B*T, 4H) float32
    assert held <= 512 << 20
    assert fastlstm.empty_cache() == held
    assert fastlstm.cached_bytes() == 0
    assert fastlstm.empty_cache() == 0


def test_buffers_from_128_kib_are_kept():
    """Below 1 MiB too: buffers of 128 KiB and up freed at each call otherwise let the C library
    hand its heap's top back and take fresh pages again at the next call (a batch-split backward
    at B=16, T=50, I=128, H=256 on 2 threads took ~330 page faults a call)."""
    B, T, I, H = 4, 20, 16, 128  # saved gates (B*T, 4H) float32: 160 KiB; nothing of 1 MiB
    p = make_problem(B, T, I, H, dtype=np.float32, seed=5, scale=0.2)
    fastlstm.empty_cache()
    out = train_step(p)
    out.clear()
    held = fastlstm.cached_bytes()
    assert 4 * B * T * 4 * H <= held < 8 << 20
    out = train_step(p)
    fresh = [a.copy() for a in out]
    poison_and_drop(out)  # the next call takes these blocks back, full of NaN
    for a, b in zip(train_step(p), fresh):
        np.testing.assert_array_equal(a, b)
    fastlstm.empty_cache()


def test_reused_blocks_never_leak_into_results(problem):
    fastlstm.empty_cache()
    fresh = [a.copy() for a in train_step(problem)]
    for _ in range(3):
        out = train_step(problem)
        for a, b in zip(out, fresh):
            np.testing.assert_array_equal(a, b)
        # The next call takes these very blocks back, full of NaN.
        poison_and_drop(out)
        assert fastlstm.cached_bytes() > 0
    p = problem
    y = fastlstm.lstm(p["x"], p["kernel"], p["recurrent_kernel"], p["bias"], (p["h0"], p["c0"]))[0]
    np.testing.assert_array_equal(y, fresh[0])


def test_the_cache_follows_the_calls_shapes(problem):
    """A call of another size takes no block that is too small: results stay right when sizes
    alternate (as with a training loop's last, partial batch)."""
    small = {k: v[:5] if k in ("x", "h0", "c0") else v for k, v in problem.items()}
    expected = [train_step(problem), train_step(small)]
    expected = [[a.copy() for a in e] for e in expected]
    for _ in range(2):
        for p, e in zip((problem, small), expected):
            out = train_step(p)
            for a, b in zip(out, e):
                np.testing.assert_array_equal(a, b)
            poison_and_drop(out)


@pytest.mark.skipif(sys.platform != "linux", reason="minor page faults are read from getrusage")
def test_a_repeated_training_step_takes_no_fresh_pages(problem):
    """Fresh memory costs a page fault per 4 KiB page; the second of two identical steps finds
    its ~30 MB in the cache instead."""
    import resource

    train_step(problem)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    train_step(problem)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    B, T, I, H = SIZES
    pages = 4 * B * T * (4 * H + 4 * H + 3 * H + I) // 4096  # gates, dZ, y, c, h_prev, dx
    assert faults < pages // 4, f"{faults} page faults for ~{pages} pages of buffers"


def test_calls_of_varying_lengths_keep_a_small_multiple_of_the_largest_calls_buffers():
    """A request took only a block of its own size class: a service whose sequences vary in
    length kept a block of every size it met (training at B=8, I=H=32, T from 200 to 1000: 9.3
    times what the longest step uses, up to the 512 MiB cap). It takes any cached block of up to
    twice its size now."""
    rng = np.random.default_rng(0)
    B, I, H = 8, 32, 32
    x = rng.standard_normal((B, 1000, I)).astype(np.float32)
    weights = [(0.1 * rng.standard_normal(s)).astype(np.float32) for s in ((I, 4 * H), (H, 4 * H))]
    bias = np.zeros(4 * H, np.float32)

    def train_step(T):
        y, _, cache = fastlstm.lstm_forward(x[:, :T], *weights, bias)
        fastlstm.lstm_backward(cache, np.ones_like(y))

    fastlstm.empty_cache()
    train_step(1000)
    longest = fastlstm.cached_bytes()
    for T in np.random.default_rng(1).integers(200, 1001, 60):
        train_step(int(T))
    assert fastlstm.cached_bytes() <= 3 * longest
    fastlstm.empty_cache()
