"""`python -m fastlstm`: version, SIMD level, threads, and a quick self-check against the oracle.

`python -m fastlstm demo [options]` runs the CO2 forecasting demo (:mod:`fastlstm.demo`).
"""

from __future__ import annotations

import sys
import time

import numpy as np

import fastlstm
from fastlstm import _cgroups, _core, oracle


def timed(fn, repeats=5):
    """fn's result and its median time in µs over `repeats` runs after one warm-up run."""
    result = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return result, float(np.median(times)) * 1e6


def check_dtype(dtype, B, T, I, H, seed):
    """Max relative error of the compiled forward + backward against the oracle, and the median
    µs of each, for one dtype."""
    rng = np.random.default_rng(seed)
    x, h0, c0 = (rng.standard_normal(s).astype(dtype) for s in ((B, T, I), (B, H), (B, H)))
    w = [0.5 * rng.standard_normal(s).astype(dtype) for s in ((I, 4 * H), (H, 4 * H), (4 * H,))]
    dy = rng.standard_normal((B, T, H)).astype(dtype)

    def fast():
        y, (h, c), cache = fastlstm.lstm_forward(x, *w, (h0, c0))
        return y, h, c, fastlstm.lstm_backward(cache, dy)

    def reference():
        y, h, c, saved = oracle.forward(x.transpose(1, 0, 2), *w, h0, c0)
        zeros = np.zeros_like(h0)
        return y, h, c, oracle.backward(saved, dy.transpose(1, 0, 2), zeros, zeros)

    (y, h, c, grads), fast_us = timed(fast)
    (y_ref, h_ref, c_ref, ref), oracle_us = timed(reference)
    pairs = [
        (y, y_ref.transpose(1, 0, 2)),
        (h, h_ref),
        (c, c_ref),
        (grads.x, ref[0].transpose(1, 0, 2)),
        *zip(grads[1:], ref[1:]),
    ]
    err = max(float(np.max(np.abs(a - b))) / max(1.0, float(np.max(np.abs(b)))) for a, b in pairs)
    return err, fast_us, oracle_us


def self_check(B=4, T=16, I=24, H=32, seed=0):
    """Forward and backward of the compiled core against the NumPy oracle, in float64 and float32.

    Returns a list of (dtype, max relative error, tolerance, compiled µs, oracle µs), times being
    medians of forward + backward.
    """
    rows = []
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-5)):
        err, fast_us, oracle_us = check_dtype(dtype, B, T, I, H, seed)
        rows.append((np.dtype(dtype).name, err, tol, fast_us, oracle_us))
    return rows


def main() -> int:
    print(f"fastlstm {fastlstm.__version__}")
    print(f"SIMD level: {fastlstm.simd_level()} (Eigen: {_core.simd_instructions()})")
    print(f"ISA level: {fastlstm.cpu_capability()}")
    limit = _cgroups.cgroup_cpu_limit()
    quota = f" (the cgroup's CPU limit: {limit:g} CPUs)" if limit is not None else ""
    print(f"threads: {fastlstm.get_num_threads()}{quota}")
    print("self-check, forward + backward against the NumPy oracle (B=4, T=16, I=24, H=32):")
    ok = True
    for dtype, err, tol, fast_us, oracle_us in self_check():
        status = "ok" if err <= tol else "FAILED"
        ok &= err <= tol
        print(
            f"  {dtype:8s} max rel. error {err:.2e} (tolerance {tol:.0e}) {status:6s} "
            f"fastlstm {fast_us:8.0f} µs, NumPy oracle {oracle_us:8.0f} µs"
        )
    print("self-check passed" if ok else "self-check FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["demo"]:
        # Imported only here: the demo's imports are not needed for the report and self-check.
        from fastlstm.demo import main as demo_main

        demo_main(sys.argv[2:])
        sys.exit(0)
    if sys.argv[1:]:
        usage = "usage: python -m fastlstm [demo [options]]"
        if sys.argv[1] in ("-h", "--help"):
            print(f"{usage}\n\n{__doc__.strip()}")
            sys.exit(0)
        print(f"{usage}\nunknown command: {sys.argv[1]!r}", file=sys.stderr)
        sys.exit(2)
    sys.exit(main())
