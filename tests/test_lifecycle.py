"""A process's life around the core: exiting while daemon threads are inside calls, forking
while another thread holds a stream, reading a stream's state during a long run, and giving
cached memory back."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import fastlstm
from conftest import child_timeout

PROLOGUE = """
import os, sys, threading, time
import numpy as np
import fastlstm
rng = np.random.default_rng(0)
K = (0.1 * rng.standard_normal((64, 1024))).astype(np.float32)
R = (0.1 * rng.standard_normal((256, 1024))).astype(np.float32)
b = np.zeros(1024, np.float32)
x = rng.standard_normal((16, 100, 64)).astype(np.float32)
"""


def run_script(body: str, timeout: float = 60) -> subprocess.CompletedProcess:
    code = PROLOGUE + textwrap.dedent(body)
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=child_timeout(timeout),
        check=False,
    )


@pytest.mark.parametrize("call", ["fastlstm.lstm(x, K, R, b)", "stream.run(x[:1])"])
def test_exit_while_daemon_threads_are_inside_calls(call):
    """Python 3.11 ends such a thread with pthread_exit when it wants the GIL back during
    finalization; unwinding through the GIL release then called std::terminate (exit 134 in 8
    runs of 8 before). The exit status is the program's."""
    body = f"""
    stream = fastlstm.LSTMStream(K, R, b)
    def serve():
        while True:
            {call}
    for _ in range(3):
        threading.Thread(target=serve, daemon=True).start()
    time.sleep(0.3)
    sys.exit(3)
    """
    for _ in range(3):
        done = run_script(body)
        assert done.returncode == 3, done.stderr[-2000:]
        assert "terminate called" not in done.stderr


def test_an_exit_handler_can_wait_for_a_call_in_progress():
    """A graceful shutdown registered before fastlstm was imported runs after fastlstm's own
    exit hook and joins a thread inside a long call: the call must return (its thread slept for
    ever, and the process hung), with the right answer."""
    code = (
        """
import atexit, sys, threading
results, workers = [], []
def drain():
    for t in workers:
        t.join()
    print("joined", len(results), results and results[0])
atexit.register(drain)
"""
        + PROLOGUE.replace("(16, 100, 64)", "(1024, 100, 64)")
        + """
expected = float(fastlstm.lstm(x[:8], K, R, b)[0].sum())
def work():
    y = fastlstm.lstm(x, K, R, b)[0]  # about a second on 2 cores
    results.append(bool(abs(float(y[:8].sum()) - expected) < 1e-3 * max(1.0, abs(expected))))
t = threading.Thread(target=work, daemon=True)
workers.append(t)
t.start()
sys.exit(4)
"""
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=child_timeout(120),
        check=False,
    )
    assert done.returncode == 4, done.stderr[-2000:]
    assert "joined 1 True" in done.stdout


def test_a_child_forked_while_a_stream_is_busy_can_use_it():
    """A stream's lock, held by another thread at fork, must not block the child for ever."""
    done = run_script(
        """
        stream = fastlstm.LSTMStream(K, R, b, batch_size=16)
        stop = False
        def loop():
            while not stop:
                stream.run(x)
        t = threading.Thread(target=loop)
        t.start()
        time.sleep(0.2)
        pid = os.fork()
        if pid == 0:
            stream.reset()
            y = stream.run(x)
            expected = fastlstm.lstm(x, K, R, b)[0]
            os._exit(0 if np.allclose(y, expected, atol=1e-5) else 5)
        _, status = os.waitpid(pid, 0)
        stop = True
        t.join()
        sys.exit(os.waitstatus_to_exitcode(status))
        """,
        timeout=child_timeout(60),
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_reading_a_stream_during_a_long_run_leaves_other_threads_running():
    """state() waits for the run's lock with the GIL released: a third thread keeps running."""
    done = run_script(
        """
        stream = fastlstm.LSTMStream(K, R, b, batch_size=16)
        long = np.repeat(x, 20, axis=1)  # 2,000 steps
        start = time.perf_counter(); stream.run(long); took = time.perf_counter() - start
        pauses, stop = [], False
        def heartbeat():
            last = time.perf_counter()
            while not stop:
                time.sleep(0.001)
                now = time.perf_counter(); pauses.append(now - last); last = now
        runner = threading.Thread(target=stream.run, args=(long,))
        beat = threading.Thread(target=heartbeat)
        beat.start(); runner.start(); time.sleep(0.05)
        stream.state; stream.reset()
        runner.join(); stop = True; beat.join()
        print(took, max(pauses))
        sys.exit(0 if max(pauses) < took / 2 else 7)
        """,
        timeout=child_timeout(120),
    )
    assert done.returncode == 0, (done.stdout, done.stderr[-2000:])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads RSS from /proc")
def test_empty_cache_gives_the_memory_back():
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    fastlstm.empty_cache()
    rng = np.random.default_rng(0)
    K = rng.standard_normal((32, 256)).astype(np.float32)
    R = rng.standard_normal((64, 256)).astype(np.float32)
    b = np.zeros(256, np.float32)
    for steps in rng.integers(100, 400, 30):
        x = rng.standard_normal((64, int(steps), 32)).astype(np.float32)
        y, _, cache = fastlstm.lstm_forward(x, K, R, b)
        fastlstm.lstm_backward(cache, np.ones_like(y))
        del y, cache
    held, before = fastlstm.cached_bytes(), rss()
    assert held > 64 << 20
    assert fastlstm.empty_cache() == held
    assert before - rss() > held // 2
