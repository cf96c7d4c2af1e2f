"""Threads: concurrent calls on shared weights give the single-threaded answer, steps on one
shared stream serialise, and the GIL is released while the core computes."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from conftest import make_problem
from fastlstm import LSTMStream, lstm, lstm_backward, lstm_forward

THREADS = 8
ITERATIONS = 30
B, T, I, H = 4, 12, 16, 32
WEIGHTS = ("kernel", "recurrent_kernel", "bias")
DTYPES = pytest.mark.parametrize("dtype", [np.float32, np.float64])


def assert_close(actual, expected):
    assert actual.dtype == expected.dtype
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-6)


def run_threads(work, n=THREADS):
    """work(i) in n threads started together; re-raises the first failure."""
    barrier = threading.Barrier(n)

    def task(i):
        barrier.wait()  # start together, so that the calls overlap
        return work(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return [f.result() for f in [pool.submit(task, i) for i in range(n)]]


@pytest.fixture(params=[np.float32, np.float64], ids=["float32", "float64"])
def shared(request):
    """Shared weights and, per thread, its own input, state and upstream gradient."""
    dtype = request.param
    w = make_problem(1, 1, I, H, dtype=dtype, seed=0)
    inputs = []
    for i in range(THREADS):
        q = make_problem(B, T, I, H, dtype=dtype, seed=100 + i)
        dy = np.random.default_rng(200 + i).standard_normal((B, T, H)).astype(dtype)
        inputs.append({"x": q["x"], "state": (q["h0"], q["c0"]), "dy": dy})
    return [w[n] for n in WEIGHTS], inputs


def test_lstm_from_many_threads(shared):
    weights, inputs = shared
    expected = [lstm(a["x"], *weights, a["state"]) for a in inputs]

    def work(i):
        a, (want_y, (want_h, want_c)) = inputs[i], expected[i]
        for _ in range(ITERATIONS):
            y, (h, c) = lstm(a["x"], *weights, a["state"])
            assert_close(y, want_y)
            assert_close(h, want_h)
            assert_close(c, want_c)
        return ITERATIONS

    assert run_threads(work) == [ITERATIONS] * THREADS


def test_forward_and_backward_from_many_threads(shared):
    weights, inputs = shared
    expected = []
    for a in inputs:
        y, state, cache = lstm_forward(a["x"], *weights, a["state"])
        expected.append((y, state, lstm_backward(cache, a["dy"], state)))

    def work(i):
        a, (want_y, want_state, want_grads) = inputs[i], expected[i]
        for _ in range(ITERATIONS):
            y, state, cache = lstm_forward(a["x"], *weights, a["state"])
            assert_close(y, want_y)
            assert_close(state[0], want_state[0])
            assert_close(state[1], want_state[1])
            grads = lstm_backward(cache, a["dy"], state)
            for name in want_grads._fields:
                assert_close(getattr(grads, name), getattr(want_grads, name))
        return ITERATIONS

    assert run_threads(work) == [ITERATIONS] * THREADS


def test_one_stream_per_thread(shared):
    weights, inputs = shared
    expected = [lstm(a["x"], *weights, a["state"]) for a in inputs]

    def work(i):
        a, (want_y, (want_h, want_c)) = inputs[i], expected[i]
        stream = LSTMStream(*weights, a["state"])
        out = np.empty((B, H), dtype=want_y.dtype)
        for _ in range(ITERATIONS):
            stream.reset(a["state"])
            for t in range(T):
                assert_close(stream.step(a["x"][:, t], out=out if t % 2 else None), want_y[:, t])
            assert_close(out, want_y[:, T - 1])
            h, c = stream.state
            assert_close(h, want_h)
            assert_close(c, want_c)
        return ITERATIONS

    assert run_threads(work) == [ITERATIONS] * THREADS


def counting_weights(dtype):
    """Weights under which c_t counts steps: the input and forget gates are saturated at 1, so
    c_t = c_{t-1} + g_t with g_t around tanh(0.5), and a lost or doubled step shows in c."""
    w = make_problem(1, 1, I, H, dtype=np.float64, seed=7, scale=0.05)
    w["bias"][: 2 * H] = 40.0  # i, f: sigmoid(40) is 1
    w["bias"][2 * H : 3 * H] = 0.5
    return [w[n].astype(dtype) for n in WEIGHTS]


@DTYPES
def test_steps_on_one_shared_stream_serialise(dtype):
    weights = counting_weights(dtype)
    x_t = make_problem(B, 1, I, H, dtype=dtype, seed=8)["x"][:, 0]  # every step gets the same x_t
    steps = 100
    shared = LSTMStream(*weights, batch_size=B)

    def work(i):
        out = np.empty((B, H), dtype=dtype)
        hs = []
        for s in range(steps):
            hs.append(shared.step(x_t, out=out).copy() if s % 2 else shared.step(x_t))
        return hs

    outputs = [h for hs in run_threads(work) for h in hs]

    sequential = LSTMStream(*weights, batch_size=B)
    expected = [sequential.step(x_t) for _ in range(THREADS * steps - 1)]
    c_one_short = sequential.state[1]
    expected.append(sequential.step(x_t))
    h, c = shared.state
    want_h, want_c = sequential.state
    assert_close(c, want_c)
    assert_close(h, want_h)
    assert np.all(np.abs(want_c - c_one_short) > 0.01)  # c tells a lost step apart
    # Each step returned one of the sequential run's outputs: compare the sorted values.
    flat = np.sort(np.stack(outputs).reshape(len(outputs), -1), axis=0)
    want = np.sort(np.stack(expected).reshape(len(expected), -1), axis=0)
    assert_close(flat, want)


def test_threads_sharing_a_stream_with_reset_and_state():
    """reset and state from other threads interleave with steps without tearing the state."""
    weights = counting_weights(np.float64)
    x_t = np.zeros((B, I))
    stream = LSTMStream(*weights, batch_size=B)
    zeros = (np.zeros((B, H)), np.zeros((B, H)))
    one_step = LSTMStream(*weights, batch_size=B)
    one_step.step(x_t)
    h1, c1 = one_step.state  # the state after one step from zeros

    def work(i):
        for _ in range(50):
            if i % 2:
                stream.step(x_t)
            else:
                stream.reset(zeros)
                h, c = stream.state
                # Every batch row sees the same inputs, so a whole state has equal rows; a state
                # torn between a reset and a step would not.
                np.testing.assert_array_equal(h, np.broadcast_to(h[0], h.shape))
                np.testing.assert_array_equal(c, np.broadcast_to(c[0], c.shape))
                assert 0 <= c[0, 0] <= THREADS * 50 * c1[0, 0] * 1.5
        return True

    assert all(run_threads(work))
    stream.reset(zeros)
    stream.step(x_t)
    assert_close(stream.state[0], h1)
    assert_close(stream.state[1], c1)


# -- the GIL ---------------------------------------------------------------------------------


class Counter:
    """Counts the loop iterations of a Python thread (see counting_thread)."""

    def __init__(self) -> None:
        self.count = 0
        self.stop = False

    def loop(self, running: threading.Event) -> None:
        running.set()
        while not self.stop:
            self.count += 1
            time.sleep(0)  # gives the GIL back, so the main thread never waits for it

    def during(self, fn) -> int:
        """How far the count advanced while fn() ran in the calling thread."""
        before = self.count
        fn()
        return self.count - before


@contextlib.contextmanager
def counting_thread():
    """A Counter running in its own thread. A long switch interval means that a thread that
    holds the GIL is not made to hand it over: the count can only advance while the main thread
    has released the GIL itself."""
    counter, running = Counter(), threading.Event()
    interval = sys.getswitchinterval()
    sys.setswitchinterval(30.0)
    thread = threading.Thread(target=counter.loop, args=(running,), daemon=True)
    try:
        thread.start()
        running.wait()
        yield counter
    finally:
        counter.stop = True
        thread.join()
        sys.setswitchinterval(interval)


def busy_python(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


@pytest.fixture(scope="module")
def long_problem():
    w = make_problem(64, 400, 128, 128, dtype=np.float32, seed=11, scale=0.1)
    y, _, cache = lstm_forward(w["x"], *(w[n] for n in WEIGHTS))
    return w, y, cache


def test_gil_is_released_during_lstm(long_problem):
    w, _, _ = long_problem
    with counting_thread() as counter:
        # The control: pure Python holds the GIL, so the counter cannot move at all.
        held = counter.during(lambda: busy_python(0.05))
        released = counter.during(lambda: lstm(w["x"], *(w[n] for n in WEIGHTS)))
    assert held == 0
    # The call lasts tens of ms (~40 ms on 2 cores); the counter makes hundreds of iterations in
    # that time on a free core (~500 there), and still a few dozen with 16 of fastlstm's threads
    # on 2 cores (17-153 seen). Held, it makes none.
    assert released > 20


def test_gil_is_released_during_backward(long_problem):
    _, y, cache = long_problem
    with counting_thread() as counter:
        held = counter.during(lambda: busy_python(0.05))
        released = counter.during(lambda: lstm_backward(cache, y))
    assert held == 0
    assert released > 20
