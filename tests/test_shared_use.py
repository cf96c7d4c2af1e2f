"""Objects a service shares between threads: a stream answering requests from several threads, a
layer or model called from several threads while another reloads its weights or before it is
built, and a call's thread count while another thread changes the setting. Each check compares
every answer with one computed alone, bit for bit."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import fastlstm
from fastlstm.layers import GRU, LSTM, Dense
from fastlstm.models import Sequential


def run_threads(target, n: int) -> None:
    errors: list[BaseException] = []

    def guarded(k):
        try:
            target(k)
        except BaseException as exc:  # noqa: BLE001 (reported below)
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def test_requests_on_a_shared_stream_start_from_zeros():
    """reset() then run(x) from several threads could start a request from another's final
    state (11 of 800 answers wrong); run(x, reset=True) does both under one hold of the lock."""
    layer = LSTM(32, return_sequences=True, seed=0)
    rng = np.random.default_rng(0)
    requests = rng.standard_normal((8, 1, 20, 4)).astype(np.float32)
    layer(requests[0])
    expected = [layer(x) for x in requests]
    stream = layer.stream(batch_size=1)
    wrong = []

    def serve(k):
        for i in range(60):
            j = (k + i) % len(requests)
            if not np.array_equal(stream.run(requests[j], reset=True), expected[j]):
                wrong.append(j)

    run_threads(serve, 4)
    assert not wrong
    with pytest.raises(TypeError, match="reset: expected True or False"):
        stream.run(requests[0], reset=1)


def test_run_with_reset_is_reset_then_run():
    rng = np.random.default_rng(1)
    k, r, b = (0.3 * rng.standard_normal(s) for s in ((3, 24), (8, 24), (2, 24)))
    x = rng.standard_normal((2, 5, 3))
    stream = fastlstm.GRUStream(k, r, b, batch_size=2)
    stream.run(x)  # a state to reset from
    y = stream.run(x, reset=True)
    np.testing.assert_array_equal(y, fastlstm.gru(x, k, r, b)[0])
    np.testing.assert_array_equal(stream.state, fastlstm.gru(x, k, r, b)[1])
    y = stream.run(x, reset=np.bool_(False))  # carries on from that state
    np.testing.assert_array_equal(y, fastlstm.gru(np.concatenate([x, x], 1), k, r, b)[0][:, 5:])


def test_set_weights_while_threads_call_the_layer():
    """set_weights emptied the layer's weights before filling them: calls in other threads raised
    KeyError('recurrent_kernel') or used a mix of the two sets."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 6, 5)).astype(np.float32)
    layer = GRU(16, return_sequences=True, seed=0)
    layer(x)
    sets = [layer.get_weights(), [0.5 * w for w in layer.get_weights()]]
    answers = []
    for s in sets:
        layer.set_weights(s)
        answers.append(layer(x))
    stop = threading.Event()

    def reload(_):
        i = 0
        while not stop.is_set():
            layer.set_weights(sets[i % 2])
            i += 1

    bad = []

    def serve(k):
        if k == 0:
            reload(k)
            return
        for _ in range(400):
            y = layer(x)
            if not any(np.array_equal(y, a) for a in answers):
                bad.append(y)
        stop.set()

    run_threads(serve, 3)
    assert not bad


@pytest.mark.parametrize(
    "make",
    [
        lambda: GRU(16),
        lambda: LSTM(8, return_sequences=True),
        lambda: Sequential([LSTM(8), Dense(1)]),
    ],
)
def test_threads_calling_an_unbuilt_layer_build_it_once(make):
    """Four threads making the first calls at once each built the weights (144 of 200 trials gave
    some thread an answer from weights then thrown away), or met it half built (KeyError)."""
    x = np.random.default_rng(3).standard_normal((3, 4, 5)).astype(np.float32)
    for _ in range(20):
        obj = make()
        call = obj.predict if isinstance(obj, Sequential) else obj
        barrier = threading.Barrier(4)
        results = [None] * 4

        def first_call(k, obj=obj, call=call, barrier=barrier, results=results):
            barrier.wait()
            results[k] = call(x, verbose=0) if call is not obj else call(x)

        run_threads(first_call, 4)
        final = obj.predict(x, verbose=0) if isinstance(obj, Sequential) else obj(x)
        for y in results:
            np.testing.assert_array_equal(y, final)


@pytest.mark.usefixtures("restore_threads")
def test_a_call_keeps_its_thread_count_while_another_thread_changes_it():
    """Backward read the setting several times: with another thread changing it, 33 of 300
    results matched no thread count's (up to 2.7e-5 off)."""
    rng = np.random.default_rng(4)
    cases = []
    for B, T, I, H in [(1, 30, 32, 256), (12, 30, 64, 256), (64, 20, 32, 64)]:
        x = rng.standard_normal((B, T, I)).astype(np.float32)
        w = [
            (s * rng.standard_normal(sh)).astype(np.float32)
            for s, sh in ((0.2, (I, 4 * H)), (0.2, (H, 4 * H)), (0.1, (4 * H,)))
        ]
        dy = rng.standard_normal((B, T, H)).astype(np.float32)
        cases.append((fastlstm.lstm_forward(x, *w)[2], dy))

    def grads(i):
        g = fastlstm.lstm_backward(*cases[i])
        return [g.x, g.kernel, g.recurrent_kernel, g.bias]

    counts = (1, 2, 3, 4, 8)
    expected = {}
    for n in counts:
        fastlstm.set_num_threads(n)
        expected[n] = [grads(i) for i in range(len(cases))]
    stop = threading.Event()
    bad = []

    def work(k):
        if k == 0:
            r = np.random.default_rng(5)
            while not stop.is_set():
                fastlstm.set_num_threads(int(r.choice(counts)))
                time.sleep(float(r.random()) * 1e-3)
            return
        r = np.random.default_rng(k)
        for _ in range(40):
            i = int(r.integers(len(cases)))
            got = grads(i)
            if not any(
                all(np.array_equal(a, b) for a, b in zip(got, expected[n][i])) for n in counts
            ):
                bad.append(i)
        stop.set()

    run_threads(work, 4)
    assert not bad
