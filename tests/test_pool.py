"""The core's worker threads (cpp/include/fastlstm/pool.hpp): a forked child can use them, the
default count honours OMP_NUM_THREADS and the CPU affinity, concurrent callers each get the
answer of a serial run on both ways of splitting work, and a Python thread's workers end with it."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import fastlstm
from conftest import child_timeout, make_problem
from fastlstm import _cgroups, _core

# (B, T, I, H): a batch split over threads (chunks, no meeting) and a single sequence whose hidden
# units are split into blocks (rounds: every block's step is done before any block's next).
SPLITS = pytest.mark.parametrize(
    "shape", [(16, 20, 24, 64), (1, 30, 32, 256)], ids=["batch-chunks", "unit-rounds"]
)


def train_step(p):
    args = (p["x"], p["kernel"], p["recurrent_kernel"], p["bias"], (p["h0"], p["c0"]))
    y, state, cache = fastlstm.lstm_forward(*args)
    y_inf, _ = fastlstm.lstm(*args)
    return (y, *state, y_inf, *fastlstm.lstm_backward(cache, np.cos(y)))


def wait_for_child(pid: int, seconds: float) -> int:
    """The child's exit code; kills it and fails when it has not exited in time (a hang)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail(f"the forked child did not finish in {seconds} s: it hung")


@SPLITS
@pytest.mark.usefixtures("restore_threads")
@pytest.mark.skipif(
    not hasattr(os, "fork"), reason="forks the process: os.fork is POSIX only (not on Windows)"
)
def test_forked_child_computes_after_parent_used_threads(shape):
    """A pre-forking server loads the model, warms it up, then forks its workers: the child's
    calls must neither hang on the parent's threads nor give a different answer."""
    fastlstm.set_num_threads(2)
    p = make_problem(*shape, dtype=np.float32, seed=1)
    expected = train_step(p)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code, never return into pytest
        code = 1
        try:
            os.close(read)
            same = all(np.array_equal(a, b) for a, b in zip(train_step(p), expected))
            code = 0 if same else 3
        finally:
            os._exit(code)
    os.close(write)
    os.close(read)
    assert wait_for_child(pid, 60) == 0, "the child's results differ from the parent's"
    # The parent's threads still work after the fork.
    for a, b in zip(train_step(p), expected):
        np.testing.assert_array_equal(a, b)


def threads_in_child(env: dict, affinity: set | None = None) -> int:
    code = "import fastlstm; print(fastlstm.get_num_threads())"
    environment = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"} | env

    def restrict():
        if affinity is not None:
            os.sched_setaffinity(0, affinity)

    out = subprocess.run(
        [sys.executable, "-c", code],
        env=environment,
        preexec_fn=restrict,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout)


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs sched_setaffinity")
def test_default_threads_follow_omp_num_threads_then_affinity():
    # The CPUs this process may run on, capped by its cgroup's CPU limit (test_cpu_quota.py).
    cpus = min(
        len(os.sched_getaffinity(0)), _cgroups.quota_threads(_cgroups.cgroup_cpu_limit()) or 1024
    )
    assert threads_in_child({}) == cpus
    assert threads_in_child({}, affinity={min(os.sched_getaffinity(0))}) == 1
    assert threads_in_child({"OMP_NUM_THREADS": "3"}) == 3
    assert threads_in_child({"OMP_NUM_THREADS": "5,2"}) == 5  # nested levels: the outermost
    for unusable in ("0", "-2", "two", "", "3x"):
        assert threads_in_child({"OMP_NUM_THREADS": unusable}) == cpus, unusable


@SPLITS
@pytest.mark.usefixtures("restore_threads")
@pytest.mark.parametrize("threads", [2, 3])
def test_concurrent_callers_get_the_serial_answer(shape, threads):
    """Four Python threads, each with its own pool of workers, call at once: every call gives the
    bits a lone call gives with the same thread count."""
    fastlstm.set_num_threads(threads)
    problems = [make_problem(*shape, dtype=np.float32, seed=10 + i) for i in range(4)]
    expected = [train_step(p) for p in problems]
    failures = []
    start = threading.Barrier(len(problems))

    def work(i):
        start.wait()
        for _ in range(5):
            for a, b in zip(train_step(problems[i]), expected[i]):
                if not np.array_equal(a, b):
                    failures.append(i)
                    return

    workers = [threading.Thread(target=work, args=(i,)) for i in range(len(problems))]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=child_timeout(120))
    assert not any(w.is_alive() for w in workers), "a concurrent call hung"
    assert failures == []


def test_jobs_of_different_sizes_hand_over_cleanly():
    """Jobs of 1 to 16 items in turn, many times over, each item counting its runs: a worker still
    looking for items of the job just done must not take an item of the next one. That ran an
    item twice, or had the caller wait for ever (training hung on a 16-core machine). Item 0 of
    every job must run on the caller's thread: a stream's steps keep a block's weights in one
    core's cache that way. In a child process, so that a hang fails this test instead of stopping
    the run."""
    code = "from fastlstm import _core; print(*_core.check_pool(400_000, 16))"
    try:
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=child_timeout(90),
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the pool hung handing over from one job to the next")
    assert out.returncode == 0, out.stderr
    not_once, moved = map(int, out.stdout.split())
    assert not_once == 0, "items ran other than once"
    assert moved == 0, "item 0 ran on a worker instead of the caller"


@pytest.mark.usefixtures("restore_threads")
def test_more_workers_than_a_call_needs():
    """A pool grown for 4 threads then serves calls that use 2 (and 1): the spare workers must
    neither take one thread's block twice nor change the answer."""
    p = make_problem(1, 30, 32, 256, dtype=np.float64, seed=4)
    fastlstm.set_num_threads(2)
    expected = train_step(p)
    fastlstm.set_num_threads(4)
    train_step(p)
    fastlstm.set_num_threads(2)
    for _ in range(3):
        for a, b in zip(train_step(p), expected):
            np.testing.assert_array_equal(a, b)


def run_child(code: str) -> str:
    """The output of ``code`` run by a fresh Python, which must succeed; conftest beside this
    file comes ahead of whatever path found fastlstm for this process."""
    path = [os.path.dirname(__file__), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=child_timeout(120),
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def thread_count() -> int:
    return len(os.listdir("/proc/self/task"))


def wait_until(done, seconds: float = 5) -> None:
    """Polls ``done()`` every millisecond until it is true or ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.001)


def thread_count_down_to(limit: int) -> int:
    """The thread count once it is at most ``limit``, or after 5 s: a joined thread leaves
    /proc/self/task a moment after pthread_join returns (the kernel wakes the joiner as the
    thread's exit begins and removes its entry at the end)."""
    wait_until(lambda: thread_count() <= limit)
    return thread_count()


def tasks() -> set[str]:
    return set(os.listdir("/proc/self/task"))


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.skipif(
    not os.path.isdir("/proc/self/task"),
    reason="counts the process's threads in /proc/self/task, which only Linux has",
)
def test_short_lived_threads_reuse_the_workers_of_ended_ones():
    """A thread-per-request server: each new Python thread started its pool's workers and joined
    them when it ended (2 threads, B=1, T=25, H=256: 406 us a request against 199). The pool of a
    thread that ended now serves the next thread, the same workers, with the same answers."""
    fastlstm.set_num_threads(2)
    p = make_problem(1, 30, 32, 256, dtype=np.float64, seed=5)
    expected = train_step(p)

    before = tasks()
    requests: set[str] = set()
    seen: set[str] = set()

    def request(out):
        requests.add(str(threading.get_native_id()))
        out.append(train_step(p))
        seen.update(tasks())  # this request's pool's worker is alive now

    results: list = []
    for _ in range(20):
        t = threading.Thread(target=request, args=(results,))
        t.start()
        t.join()
        # join() returns once the thread's Python part is done; its pool goes back to the shelf
        # after that, as the thread itself ends (a thread_local's destructor), and only then
        # may the next request take it: wait until the thread has left /proc/self/task.
        wait_until(lambda t=t: str(t.native_id) not in tasks())
    workers = seen - before - requests
    assert len(workers) <= 1, f"{len(workers)} workers started for 20 requests, one at a time"
    for got in results:
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b)


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.skipif(
    not os.path.isdir("/proc/self/task"),
    reason="counts the process's threads in /proc/self/task, which only Linux has",
)
def test_the_pools_kept_for_later_threads_are_bounded():
    """Many threads at once each need a pool; once they end, at most PoolShelf::kShelved (8)
    pools stay, the rest are joined."""
    fastlstm.set_num_threads(2)
    p = make_problem(1, 30, 32, 256, dtype=np.float32, seed=6)
    before = len(tasks())
    barrier = threading.Barrier(16)

    def request():
        barrier.wait()
        train_step(p)

    threads = [threading.Thread(target=request) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    deadline = time.monotonic() + 10
    while len(tasks()) > before + 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(tasks()) <= before + 8  # one worker a pool at 2 threads


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.skipif(
    not os.path.isdir("/proc/self/task"),
    reason="counts the process's threads in /proc/self/task, which only Linux has",
)
def test_a_lowered_thread_count_ends_the_spare_workers():
    """After calls on 16 threads, lowering the count to 2 must end the workers no call can use any
    more (they slept for the life of the calling thread), and the pool must grow again after."""
    p = make_problem(128, 10, 16, 32, dtype=np.float64, seed=6)
    args = (p["x"], p["kernel"], p["recurrent_kernel"], p["bias"])
    fastlstm.set_num_threads(2)
    expected = fastlstm.lstm(*args)
    assert _core.pool_workers() == 1
    fastlstm.set_num_threads(16)
    fastlstm.lstm(*args)
    assert _core.pool_workers() == 15, "the pool did not grow to 16 threads"
    before = thread_count()  # other threads' pools may be there too: count this one's change
    fastlstm.set_num_threads(2)
    for a, b in zip(fastlstm.lstm(*args), expected):
        np.testing.assert_array_equal(a, b)
    assert _core.pool_workers() == 1
    assert thread_count_down_to(before - 14) <= before - 14  # ended (joined), not forgotten
    fastlstm.set_num_threads(1)
    fastlstm.lstm(*args)
    assert _core.pool_workers() == 0
    fastlstm.set_num_threads(4)
    for a, b in zip(fastlstm.lstm(*args), fastlstm.lstm(*args)):
        np.testing.assert_array_equal(a, b)
    assert _core.pool_workers() == 3, "the pool did not grow again"


@pytest.mark.usefixtures("restore_threads")
@pytest.mark.skipif(
    not os.path.isdir("/proc/self/task"),
    reason="counts the process's threads in /proc/self/task, which only Linux has",
)
def test_a_pool_a_new_thread_takes_from_the_shelf_sheds_a_higher_counts_workers():
    """Threads that ended after calls on 16 threads left pools of 15 workers on the shelf; a new
    thread took one for its first call on 2 threads and kept all 15 asleep (a thread-per-request
    server: 380 threads after the count went from 64 to 2). The first call now sheds them."""
    p = make_problem(128, 10, 16, 32, dtype=np.float64, seed=7)  # work for 16 threads
    wide_args = (p["x"], p["kernel"], p["recurrent_kernel"], p["bias"])
    q = make_problem(1, 25, 64, 128, dtype=np.float64, seed=8)  # a request: one parallel walk
    args = (q["x"], q["kernel"], q["recurrent_kernel"], q["bias"])
    fastlstm.set_num_threads(2)
    expected = fastlstm.lstm(*args)
    fastlstm.set_num_threads(16)
    barrier = threading.Barrier(4)

    def wide():
        barrier.wait()
        fastlstm.lstm(*wide_args)

    threads = [threading.Thread(target=wide) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    fastlstm.set_num_threads(2)
    workers, answers = [], []

    def request():
        answers.append(fastlstm.lstm(*args))
        workers.append(_core.pool_workers())

    for _ in range(6):  # one after another: each takes a pool an ended thread left
        t = threading.Thread(target=request)
        t.start()
        t.join()
    assert workers == [1] * 6
    for got in answers:
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(
    not os.path.isdir("/proc/self/task"),
    reason="counts the process's threads in /proc/self/task, which only Linux has",
)
def test_a_lowered_thread_count_ends_the_workers_of_the_kept_pools_at_once():
    """Pools that ended threads left on the shelf kept their workers when the count went down,
    until a new thread took each of them: 4 threads at 16 left 60 asleep after the count went to
    2 (a burst of 8 at 8 had left 56 at 1). A fresh process: the shelf holds these pools only."""
    code = """
import os, threading, time, numpy as np, fastlstm
from conftest import make_problem
p = make_problem(128, 10, 16, 32, dtype=np.float64, seed=7)  # work for 16 threads
args = (p["x"], p["kernel"], p["recurrent_kernel"], p["bias"])
count = lambda: len(os.listdir("/proc/self/task"))
base = count()
fastlstm.set_num_threads(16)
# Each thread holds its own pool until all four have called: a thread that ended first would
# put its pool on the shelf, and a later thread's first call would take that one (one pool for
# two threads, as under load)
called = threading.Barrier(4)
def call():
    fastlstm.lstm(*args)
    called.wait()
threads = [threading.Thread(target=call) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
# A thread's pool goes to the shelf as its OS thread ends, after join() returns
deadline = time.monotonic() + 10
while time.monotonic() < deadline and any(
    os.path.exists(f"/proc/self/task/{t.native_id}") for t in threads
):
    time.sleep(0.01)
kept = count()
fastlstm.set_num_threads(2)
deadline = time.monotonic() + 5  # a joined thread leaves /proc a moment after the join
while count() > base + 4 and time.monotonic() < deadline:
    time.sleep(0.001)
print(base, kept, count())
"""
    base, kept, after = map(int, run_child(code).split())
    assert kept >= base + 16  # the four pools on the shelf, most of 15 workers each
    assert after <= base + 4  # one worker each is what 2 threads use


@pytest.mark.skipif(sys.platform == "win32", reason="context switches from getrusage")
def test_a_job_wakes_only_the_workers_it_can_use():
    """After one call on 256 threads the pool keeps 255 workers asleep; a later job of 2 items
    must not wake them all. It did: 289 context switches a call, 3x the call's time; waking one
    worker a job, 68-89 (the workers woken for earlier calls still spin for a while), 1.1x."""
    code = """
import resource, numpy as np, fastlstm
from conftest import make_problem
p = make_problem(32, 20, 64, 256, dtype=np.float32)
args = (p["x"], p["kernel"], p["recurrent_kernel"], p["bias"])
fastlstm.set_num_threads(256)
fastlstm.lstm(np.repeat(p["x"], 16, axis=0), *args[1:])  # 512 rows: the pool grows to 256
fastlstm.set_num_threads(2)
for _ in range(20):
    fastlstm.lstm(*args)
def switches():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_nvcsw + r.ru_nivcsw
before = switches()
for _ in range(200):
    fastlstm.lstm(*args)
print((switches() - before) / 200)
"""
    per_call = float(run_child(code).split()[-1])
    assert per_call < 128, per_call  # fewer than half the idle workers


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS as on Linux")
def test_a_refused_thread_leaves_the_call_to_the_threads_there_are():
    """With too little address space for 1024 thread stacks, a call runs on the workers that
    did start (it raised "RuntimeError: Resource temporarily unavailable")."""
    code = """
import mmap, resource, numpy as np, fastlstm
rng = np.random.default_rng(0)
x = rng.standard_normal((4096, 5, 8)).astype(np.float32)
K = rng.standard_normal((8, 64)).astype(np.float32)
R = rng.standard_normal((16, 64)).astype(np.float32)
b = np.zeros(64, np.float32)
expected = fastlstm.lstm(x, K, R, b)[0]
with open("/proc/self/statm") as f:
    used = int(f.read().split()[0]) * resource.getpagesize()
# Room for about 60 more 8 MiB thread stacks, and address space held back (never touched) so
# that the process has room again once the call is over.
resource.setrlimit(resource.RLIMIT_AS, (used + (1024 << 20),) * 2)
reserve = mmap.mmap(-1, 512 << 20)
fastlstm.set_num_threads(1024)
y = fastlstm.lstm(x, K, R, b)[0]
reserve.close()
print(float(np.abs(y - expected).max()))
"""
    assert float(run_child(code).split()[-1]) < 1e-5


@pytest.mark.skipif(
    not os.path.isdir("/proc/self/task"),
    reason="waits for the ended thread to leave /proc/self/task, which only Linux has",
)
def test_a_lowered_thread_count_never_waits_for_a_worker_caught_between_job_and_end():
    """A worker woken for a job read whether to end, then the job's number: a shrink between the
    two reads (set_num_threads, on a pool kept from an ended thread) left it asleep waiting for a
    job after the shrink's, and the shrink joining it for ever, holding the GIL (a stress run of
    calls from many threads beside a thread changing the count hung so, rarely). Here the workers
    pause in that window while the count is lowered: a fresh process that must end in time."""
    code = """
import os, threading, time, numpy as np, fastlstm
from fastlstm import _core
from conftest import make_problem
p = make_problem(64, 10, 16, 32, dtype=np.float64, seed=3)  # work for 4 threads
args = (p["x"], p["kernel"], p["recurrent_kernel"], p["bias"])
fastlstm.set_num_threads(4)
expected, _ = fastlstm.lstm(*args)  # on this thread's own pool, before any pause
_core._pause_workers_for_tests(300_000)  # 0.3 s in the window, for each woken worker
worker = threading.Thread(target=lambda: fastlstm.lstm(*args))
worker.start()
worker.join()
deadline = time.monotonic() + 10  # its pool reaches the shelf as the OS thread ends
while time.monotonic() < deadline and os.path.exists(f"/proc/self/task/{worker.native_id}"):
    time.sleep(0.001)
fastlstm.set_num_threads(1)  # shrinks the kept pool while its workers pause in the window
_core._pause_workers_for_tests(0)
fastlstm.set_num_threads(4)
got, _ = fastlstm.lstm(*args)
print(np.array_equal(got, expected) or float(np.abs(got - expected).max()))
"""
    assert run_child(code).split() == ["True"]
