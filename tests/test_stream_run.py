"""Stream.run: a chunk of timesteps in one call equals as many calls of step, for every cell and
option, split over threads or not; chunks carry the state on; it equals the functional API."""

from __future__ import annotations

import numpy as np
import pytest

import fastlstm
from test_stream import SPLIT_CASES, split_weights

# Every stream class with the options that change its step: (class, options, I, H) as in
# SPLIT_CASES (weights big enough to split at 2 threads), and the plain RNN with relu.
CELLS = [*SPLIT_CASES, (fastlstm.SimpleRNNStream, {"activation": "relu"}, 512, 128)]


# float32: run computes x*K as one product per block of timesteps, step as one per step; where
# the products fall back to Eigen (the baseline ISA) the two sum in different orders: up to
# 2.7e-6 apart over 8 steps there (0 to 1e-7 at AVX-512), within the tests' float32 tolerance
# for results equal to rounding.
ATOL32 = 1e-5


def cell_id(value):
    return getattr(value, "__name__", str(value))


def make_stream(cls, options, I, H, B, seed=0):
    """A float32 stream for one of CELLS with random weights, and its (8, B, I) inputs."""
    w, kwargs, xs = split_weights(cls, options, I, H, B, seed)
    return (lambda: cls(*w, batch_size=B, **kwargs)), xs


def steps(stream, x):
    """(B, T, P): T calls of step over x (B, T, I)."""
    return np.stack([stream.step(np.ascontiguousarray(x[:, t])) for t in range(x.shape[1])], 1)


def assert_states_close(a, b, atol):
    a = a if isinstance(a, tuple) else (a,)
    b = b if isinstance(b, tuple) else (b,)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=0, atol=atol)


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("B", [1, 3])
@pytest.mark.parametrize(("cls", "options", "I", "H"), CELLS, ids=cell_id)
def test_run_equals_steps(cls, options, I, H, B, threads):
    """run over 8 steps, from a state that is not zero, equals 8 calls of step; in chunks of 3,
    5 and 0 steps too, the state carried between them. At 2 threads the stream (>= 256 KiB of
    weights) splits its units into blocks, which run() walks as the unit split does."""
    fastlstm.set_num_threads(threads)
    make, xs = make_stream(cls, options, I, H, B)
    x = np.ascontiguousarray(xs.transpose(1, 0, 2))  # (B, 8, I)
    a, b = make(), make()
    assert b._impl.blocks == threads
    a.step(x[:, 0])  # a state that is not zero, the same in both
    b.step(x[:, 0])
    expected = steps(a, x)
    got = b.run(x)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL32)
    assert_states_close(b.state, a.state, ATOL32)
    # In chunks: the state carries from one to the next, and an empty chunk changes nothing.
    c = make()
    c.step(x[:, 0])
    chunks = [c.run(x[:, :3]), c.run(x[:, 3:3]), c.run(x[:, 3:])]
    assert chunks[1].shape == (B, 0, expected.shape[2])
    np.testing.assert_allclose(np.concatenate(chunks, 1), expected, rtol=0, atol=ATOL32)
    assert_states_close(c.state, a.state, ATOL32)


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize(("cls", "options", "I", "H"), CELLS, ids=cell_id)
def test_run_does_not_depend_on_the_threads(cls, options, I, H):
    """A stream made with 3 threads allowed (in blocks where it splits) gives the same bits from
    run at 1, 2 and 3 threads: each block's arithmetic is fixed, whichever thread runs it."""
    fastlstm.set_num_threads(3)
    make, xs = make_stream(cls, options, I, H, 2)
    x = np.ascontiguousarray(xs.transpose(1, 0, 2))
    stream, runs = make(), []
    for threads in (3, 1, 2):
        fastlstm.set_num_threads(threads)
        stream.reset()
        runs.append((stream.run(x).copy(), stream.state))
    for y, state in runs[1:]:
        np.testing.assert_array_equal(y, runs[0][0])
        assert_states_close(state, runs[0][1], 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cell", ["lstm", "gru", "gru_reset_before", "rnn_relu"])
def test_run_equals_the_functional_api(cell, dtype):
    """A stream's run from an initial state equals one functional call from that state."""
    B, T, I, H = 2, 30, 20, 96
    rng = np.random.default_rng(3)
    G = {"lstm": 4, "gru": 3, "gru_reset_before": 3, "rnn_relu": 1}[cell]

    def r(*shape, scale=0.2):
        return (scale * rng.standard_normal(shape)).astype(dtype)

    # R's spectral radius ~0.5: the relu RNN stays contractive, so rounding does not grow.
    bias = r(2, G * H) if cell == "gru" else r(G * H)
    w = (r(I, G * H), r(H, G * H, scale=0.05), bias)
    x, h0, c0 = r(B, T, I), r(B, H), r(B, H)
    if cell == "lstm":
        stream = fastlstm.LSTMStream(*w, (h0, c0))
        y, final = fastlstm.lstm(x, *w, (h0, c0))
    elif cell.startswith("gru"):
        stream = fastlstm.GRUStream(*w, h0, reset_after=cell == "gru")
        y, final = fastlstm.gru(x, *w, h0, reset_after=cell == "gru")
    else:
        stream = fastlstm.SimpleRNNStream(*w, h0, activation="relu")
        y, final = fastlstm.simple_rnn(x, *w, h0, activation="relu")
    # relu's outputs are not bounded: relative to them as well as absolute.
    tol = ATOL32 if dtype == np.float32 else 1e-12
    got = stream.run(x)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, y, rtol=tol, atol=tol)
    final = final if isinstance(final, tuple) else (final,)
    state = stream.state if isinstance(stream.state, tuple) else (stream.state,)
    for a, b in zip(state, final):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def test_run_into_out():
    make, xs = make_stream(fastlstm.LSTMStream, {}, 64, 128, 2)
    x = np.ascontiguousarray(xs.transpose(1, 0, 2))
    a, b = make(), make()
    out = np.full((2, 8, 128), np.nan, np.float32)
    assert a.run(x, out) is out
    np.testing.assert_array_equal(out, b.run(x))
    assert a.run(x, out=out) is out  # as a keyword too


@pytest.mark.parametrize(
    "make_layer",
    [
        lambda: fastlstm.layers.LSTM(48, return_sequences=True, seed=1),
        lambda: fastlstm.layers.GRU(48, return_sequences=True, seed=1),
        lambda: fastlstm.layers.GRU(48, return_sequences=True, reset_after=False, seed=1),
        lambda: fastlstm.layers.SimpleRNN(48, return_sequences=True, seed=1),
    ],
    ids=["lstm", "gru", "gru-reset-before", "simple-rnn"],
)
def test_a_layers_stream_runs_what_the_layer_computes(make_layer):
    """layer.stream() then run(x) serves the sequence the layer's own call computes."""
    x = np.random.default_rng(5).standard_normal((3, 11, 7)).astype(np.float32)
    layer = make_layer()
    expected = layer(x)
    np.testing.assert_allclose(layer.stream(batch_size=3).run(x), expected, rtol=0, atol=ATOL32)


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("B", [1, 3])
def test_a_long_run_projects_its_input_in_blocks_of_steps(B):
    """Over 300 steps a block's x*K is computed a block of timesteps at a time (128 rows of x
    each): every block boundary must carry on as one call of the functional API does."""
    fastlstm.set_num_threads(2)
    w, _, _ = split_weights(fastlstm.LSTMStream, {}, 64, 128, B)
    stream = fastlstm.LSTMStream(*w, batch_size=B)
    assert stream._impl.blocks == 2
    x = np.random.default_rng(6).standard_normal((B, 300, 64)).astype(np.float32)
    y, (h, c) = fastlstm.lstm(x, *w)
    np.testing.assert_allclose(stream.run(x), y, rtol=0, atol=ATOL32)
    np.testing.assert_allclose(stream.state[0], h, rtol=0, atol=ATOL32)
    np.testing.assert_allclose(stream.state[1], c, rtol=0, atol=ATOL32)


def test_step_and_run_take_their_arguments_by_name():
    make, xs = make_stream(fastlstm.LSTMStream, {}, 64, 128, 2)
    a, b = make(), make()
    out = np.empty((2, 128), np.float32)
    assert a.step(x_t=xs[0], out=out) is out
    np.testing.assert_array_equal(out, b.step(xs[0]))
    x = np.ascontiguousarray(xs.transpose(1, 0, 2))
    np.testing.assert_array_equal(a.run(x=x), b.run(x))
    assert a.run.__name__ == "run"
    assert a.step.__name__ == "step"
