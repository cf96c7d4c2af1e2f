"""LSTMStream: step by step equals the whole sequence; state handling; no allocation per step."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import fastlstm
from conftest import make_problem


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("B", "T", "I", "H"), [(1, 12, 5, 7), (4, 9, 37, 19)])
def test_steps_equal_whole_sequence(B, T, I, H, dtype):
    p = make_problem(B, T, I, H, dtype=dtype)
    w = (p["kernel"], p["recurrent_kernel"], p["bias"])
    y, (h, c) = fastlstm.lstm(p["x"], *w, (p["h0"], p["c0"]))
    stream = fastlstm.LSTMStream(*w, (p["h0"], p["c0"]))
    assert stream.batch_size == B
    assert stream.units == H
    assert stream.input_size == I
    steps = np.stack([stream.step(p["x"][:, t]) for t in range(T)], axis=1)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(steps, y, rtol=0, atol=tol)
    h_s, c_s = stream.state
    np.testing.assert_allclose(h_s, h, rtol=0, atol=tol)
    np.testing.assert_allclose(c_s, c, rtol=0, atol=tol)


def test_reset_and_state_setter():
    p = make_problem(2, 6, 3, 4, dtype=np.float32)
    w = (p["kernel"], p["recurrent_kernel"], p["bias"])
    stream = fastlstm.LSTMStream(*w, batch_size=2)
    first = [stream.step(p["x"][:, t]).copy() for t in range(6)]
    stream.reset()
    assert not np.any(stream.state[0])
    assert not np.any(stream.state[1])
    again = [stream.step(p["x"][:, t]) for t in range(6)]
    np.testing.assert_array_equal(np.stack(again), np.stack(first))
    # Carrying the state across two halves equals one pass.
    y, _ = fastlstm.lstm(p["x"][:, 3:], *w, fastlstm.lstm(p["x"][:, :3], *w)[1])
    stream.reset()
    for t in range(3):
        stream.step(p["x"][:, t])
    saved = stream.state
    stream.reset()
    stream.state = saved
    np.testing.assert_allclose(stream.step(p["x"][:, 3]), y[:, 0], atol=1e-6)


def test_a_stream_takes_its_batch_size_from_c0_when_h0_is_none():
    """fastlstm.lstm takes (None, c0); a stream made from it took its batch size from h0 only,
    refusing the (4, H) c0 as the wrong shape for a batch of 1."""
    p = make_problem(4, 5, 3, 8, dtype=np.float32)
    w = (p["kernel"], p["recurrent_kernel"], p["bias"])
    stream = fastlstm.LSTMStream(*w, (None, p["c0"]))
    assert stream.batch_size == 4
    y, _ = fastlstm.lstm(p["x"], *w, (None, p["c0"]))
    np.testing.assert_allclose(stream.run(p["x"]), y, rtol=0, atol=1e-6)


def test_weights_are_copied_at_construction():
    p = make_problem(1, 1, 3, 4, dtype=np.float32)
    kernel = p["kernel"].copy()
    stream = fastlstm.LSTMStream(kernel, p["recurrent_kernel"], p["bias"])
    before = stream.step(p["x"][:, 0]).copy()
    kernel[:] = 100.0  # must not reach the stream
    stream.reset()
    np.testing.assert_array_equal(stream.step(p["x"][:, 0]), before)


def traced_peak(fn, repeats):
    """Peak bytes that Python and NumPy allocate while fn runs `repeats` times."""
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in range(repeats):
            fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - before


def test_out_argument_allocates_nothing():
    p = make_problem(1, 1, 64, 128, dtype=np.float32)
    stream = fastlstm.LSTMStream(p["kernel"], p["recurrent_kernel"], p["bias"])
    x_t = np.ascontiguousarray(p["x"][:, 0])
    out = np.empty((1, 128), np.float32)
    assert stream.step(x_t, out) is out
    # Without `out` each step allocates a (1, 128) float32 result (512 bytes): the measurement
    # sees it. With `out` nothing of that size is allocated in 1000 steps.
    assert traced_peak(lambda: stream.step(x_t), 100) >= 512
    assert traced_peak(lambda: stream.step(x_t, out), 1000) < 256


def test_step_returns_a_fresh_array_without_out():
    p = make_problem(1, 2, 3, 4, dtype=np.float32)
    stream = fastlstm.LSTMStream(p["kernel"], p["recurrent_kernel"], p["bias"])
    a = stream.step(p["x"][:, 0])
    a_copy = a.copy()
    b = stream.step(p["x"][:, 1])
    assert a is not b
    np.testing.assert_array_equal(a, a_copy)  # the first result is not overwritten


SPLIT_CASES = [
    # (stream class, extra arguments, I, H): each with 256 KiB or more of float32 weights.
    (fastlstm.LSTMStream, {}, 64, 128),
    (fastlstm.LSTMStream, {"peephole": True, "clip": 0.8}, 64, 128),
    (fastlstm.LSTMStream, {"projection": True}, 128, 128),
    (fastlstm.GRUStream, {}, 64, 128),
    # Reset before: a step of two phases (all of r ⊙ h_{t-1} before the candidate's product),
    # the blocks exchanging r ⊙ h_{t-1} between them.
    (fastlstm.GRUStream, {"reset_after": False}, 64, 128),
    (fastlstm.SimpleRNNStream, {}, 512, 128),
]


def split_weights(cls, options, I, H, B, seed=0):
    """Float32 weights, options filled in, and B rows of 8 inputs for one of SPLIT_CASES."""
    rng = np.random.default_rng(seed)
    G = {fastlstm.LSTMStream: 4, fastlstm.GRUStream: 3, fastlstm.SimpleRNNStream: 1}[cls]
    P = 48 if options.get("projection") else H
    w = [rng.standard_normal(s).astype(np.float32) * 0.1 for s in ((I, G * H), (P, G * H))]
    two_biases = cls is fastlstm.GRUStream and options.get("reset_after", True)
    w.append(rng.standard_normal((2, G * H) if two_biases else G * H).astype(np.float32))
    kwargs = dict(options)
    if kwargs.get("peephole"):
        kwargs["peephole"] = rng.standard_normal(3 * H).astype(np.float32)
    if kwargs.get("projection"):
        kwargs["projection"] = (rng.standard_normal((H, P)) * 0.1).astype(np.float32)
    xs = rng.standard_normal((8, B, I)).astype(np.float32)
    return w, kwargs, xs


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("B", [1, 3])
@pytest.mark.parametrize(("cls", "options", "I", "H"), SPLIT_CASES)
def test_a_step_split_over_threads_changes_nothing(cls, options, I, H, B):
    """A stream made while several threads are allowed splits its units into blocks that threads
    take at each step; its states equal, bit for bit, those of a stream made with one thread,
    whichever thread count runs either. 40 steps a count: past the steps that time the hand-off
    both ways (16 split, 16 on one thread) into those that follow the faster."""
    w, kwargs, xs = split_weights(cls, options, I, H, B)
    fastlstm.set_num_threads(1)
    whole = cls(*w, batch_size=B, **kwargs)
    fastlstm.set_num_threads(3)
    split = cls(*w, batch_size=B, **kwargs)
    assert whole._impl.blocks == 1
    assert split._impl.blocks >= 2
    for threads in (2, 1, 3):
        fastlstm.set_num_threads(threads)
        for x in [*xs] * 5:
            np.testing.assert_array_equal(split.step(x), whole.step(x))
        for a, b in zip(split.state, whole.state):
            np.testing.assert_array_equal(a, b)


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("B", [6, 8, 9])
@pytest.mark.parametrize(("cls", "options", "I", "H"), SPLIT_CASES[:1] + SPLIT_CASES[3:4])
def test_a_split_of_more_rows_agrees_to_rounding_and_exactly_with_avx512(cls, options, I, H, B):
    """With 16 vector registers (AVX2, SSE) Eigen's GEMM takes the step products of 5 or more
    rows, and may sum a block's narrower columns in another order: the split stream then agrees
    with the whole one to float rounding; with AVX-512 small_gemm takes them, the same bits."""
    w, kwargs, xs = split_weights(cls, options, I, H, B)
    fastlstm.set_num_threads(1)
    whole = cls(*w, batch_size=B, **kwargs)
    fastlstm.set_num_threads(3)
    split = cls(*w, batch_size=B, **kwargs)
    assert split._impl.blocks >= 2
    for x in [*xs] * 5:
        a, b = split.step(x), whole.step(x)
        if fastlstm._core.capability == "v4":
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


@pytest.mark.usefixtures("restore_threads")
def test_a_split_stream_equals_the_whole_sequence():
    B, T, I, H = 2, 8, 64, 128
    p = make_problem(B, T, I, H, dtype=np.float32, seed=4, scale=0.1)
    w = (p["kernel"], p["recurrent_kernel"], p["bias"])
    fastlstm.set_num_threads(2)
    y, (h, c) = fastlstm.lstm(p["x"], *w, (p["h0"], p["c0"]))
    stream = fastlstm.LSTMStream(*w, (p["h0"], p["c0"]))
    assert stream._impl.blocks == 2
    steps = np.stack([stream.step(p["x"][:, t]) for t in range(T)], axis=1)
    np.testing.assert_allclose(steps, y, rtol=0, atol=1e-6)
    np.testing.assert_allclose(stream.state[0], h, rtol=0, atol=1e-6)
    np.testing.assert_allclose(stream.state[1], c, rtol=0, atol=1e-6)


def test_small_streams_keep_one_block(restore_threads):
    fastlstm.set_num_threads(4)
    w, _, _ = split_weights(fastlstm.LSTMStream, {}, 8, 32, 1)
    assert fastlstm.LSTMStream(*w)._impl.blocks == 1  # 36 KiB of weights
    # 288 KiB: two blocks of at least 128 KiB, the two-phase reset-before GRU's too.
    w, kwargs, _ = split_weights(fastlstm.GRUStream, {"reset_after": False}, 64, 128, 1)
    assert fastlstm.GRUStream(*w, **kwargs)._impl.blocks == 2
