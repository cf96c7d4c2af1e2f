"""Two rows beside the peer table: training memory against torch, and throughput of two Python
threads calling fastlstm at once against one (the GIL is released during the computation).

    python bench/extra_rows.py memory LIB B T I H   # run by the benchmark in a fresh process
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import numpy as np

MEMORY_CONFIG = (32, 100, 128, 512)  # the large training step
CONCURRENCY_CONFIG = (1, 100, 64, 256)  # one request
CONCURRENCY_TARGET = 1.8  # two threads' throughput over one thread's, on 2 cores


def _status_kib(field: str) -> int:
    """A VmRSS/VmHWM-style figure of this process, in KiB, from /proc/self/status."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _train_step(lib: str, B: int, T: int, I: int, H: int):
    """A zero-argument training step (forward + backward, all gradients) for `lib`."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, I), dtype=np.float32)
    dy = rng.standard_normal((B, T, H), dtype=np.float32)
    w = [
        0.05 * rng.standard_normal(s, dtype=np.float32) for s in ((I, 4 * H), (H, 4 * H), (4 * H,))
    ]
    if lib == "fastlstm":
        import fastlstm

        def step():
            _, _, cache = fastlstm.lstm_forward(x, *w)
            return fastlstm.lstm_backward(cache, dy)

        return step
    import torch

    net = torch.nn.LSTM(I, H, batch_first=True)
    xt, dyt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(dy)

    def step():
        net.zero_grad()
        xt.grad = None
        y, _ = net(xt)
        y.backward(dyt)

    return step


def memory_probe(lib: str, B: int, T: int, I: int, H: int) -> dict:
    """Peak resident memory of one training step above the process's footprint after imports and
    before the data (so both libraries count the same input), in MiB. Linux only."""
    if lib == "fastlstm":
        import fastlstm  # noqa: F401
    else:
        import torch  # noqa: F401
    base = _status_kib("VmRSS")
    step = _train_step(lib, B, T, I, H)
    step()
    return {"library": lib, "peak_mib": (_status_kib("VmHWM") - base) / 1024}


def measure_memory(threads: int) -> dict:
    """The memory row: each library's peak in a fresh process (so that neither sees the other's
    caches), and fastlstm / torch; the target is at most 1."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    peaks = {}
    for lib in ("fastlstm", "torch"):
        out = subprocess.run(
            [sys.executable, __file__, "memory", lib, *map(str, MEMORY_CONFIG)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        ).stdout
        peaks[lib] = json.loads(out)["peak_mib"]
    return {"config": MEMORY_CONFIG, "peak_mib": peaks, "ratio": peaks["fastlstm"] / peaks["torch"]}


def measure_concurrency(reps: int = 7, calls: int = 200) -> dict:
    """Throughput of two Python threads each making `calls` fastlstm.lstm calls (one core each)
    over one thread making 2 * `calls`; medians over interleaved repetitions."""
    import fastlstm

    B, T, I, H = CONCURRENCY_CONFIG
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, I), dtype=np.float32)
    w = [0.1 * rng.standard_normal(s, dtype=np.float32) for s in ((I, 4 * H), (H, 4 * H), (4 * H,))]
    before = fastlstm.get_num_threads()
    fastlstm.set_num_threads(1)

    def work(n):
        for _ in range(n):
            fastlstm.lstm(x, *w)

    def one():
        start = time.perf_counter()
        work(2 * calls)
        return time.perf_counter() - start

    def two():
        workers = [threading.Thread(target=work, args=(calls,)) for _ in range(2)]
        start = time.perf_counter()
        for t in workers:
            t.start()
        for t in workers:
            t.join()
        return time.perf_counter() - start

    try:
        work(20)
        singles, doubles = [], []
        for _ in range(reps):
            singles.append(one())
            doubles.append(two())
    finally:
        fastlstm.set_num_threads(before)
    speedup = float(np.median(singles) / np.median(doubles))
    return {
        "config": CONCURRENCY_CONFIG,
        "calls": 2 * calls,
        "one_thread_s": singles,
        "two_threads_s": doubles,
        "speedup": speedup,
    }


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "memory":
        print(json.dumps(memory_probe(sys.argv[2], *map(int, sys.argv[3:]))))
    else:
        sys.exit(__doc__)
