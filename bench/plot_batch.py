"""Latency and throughput against batch size, fastlstm beside each peer, drawn into a PNG.

Each batch size is one row of the peer benchmark (same weights, answers checked, interleaved
repetitions, matched threads), for a sequence of T=50 steps, I=128, H=256:

    python bench/plot_batch.py --out bench/results/batch.png [--json bench/results/batch.json]
"""

from __future__ import annotations

import argparse
import os
import sys

from bench_peers import make_case, parse_args, run_case, set_thread_env
from timing import check_output, write_json

BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
T, I, H = 50, 128, 256
LIBRARIES = ("fastlstm", "torch", "onnxruntime")


def sweep(threads: int, reps: int, batches=BATCHES) -> list[dict]:
    """One benchmark row per batch size; returns the rows' results."""
    args = parse_args(
        ["--threads", str(threads), "--reps", str(reps), "--peers", "torch,onnxruntime"]
    )
    results = []
    for b in batches:
        result = run_case(make_case((f"seq-{b}x{T}x{I}x{H}", "lstm", "seq", b, T, I, H), 0), args)
        results.append(result)
        medians = ", ".join(f"{lib} {result['median_us'][lib]:,.0f} µs" for lib in LIBRARIES)
        print(f"B={b}: {medians}", flush=True)
    return results


def plot(results: list[dict], path: str, threads: int) -> None:
    """Two panels: latency per call and sequences per second, both against batch size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    batches = [r["shape"]["B"] for r in results]
    fig, (lat, thr) = plt.subplots(1, 2, figsize=(11, 4.2))
    for lib in LIBRARIES:
        us = [r["median_us"][lib] for r in results]
        lat.plot(batches, us, marker="o", label=lib)
        thr.plot(batches, [b / u * 1e6 for b, u in zip(batches, us)], marker="o", label=lib)
    for ax, label in ((lat, "latency per call (µs)"), (thr, "throughput (sequences / s)")):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batch size")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(
        f"LSTM T={T}, I={I}, H={H}, float32, {threads} threads (median of interleaved reps)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="batch.png", help="PNG to write (default: %(default)s)")
    parser.add_argument("--json", metavar="PATH", help="also write the raw results here")
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--reps", type=int, default=7, help="repetitions per batch size")
    parser.add_argument(
        "--batches",
        default=",".join(map(str, BATCHES)),
        help="comma-separated batch sizes (default: %(default)s)",
    )
    opts = parser.parse_args(argv)
    check_output(parser, opts.out, "--out")
    check_output(parser, opts.json, "--json")
    try:
        batches = [int(b) for b in opts.batches.split(",")]
    except ValueError:
        parser.error(f"--batches: expected comma-separated integers, got {opts.batches!r}")
    if min(batches) < 1:
        parser.error(f"--batches: expected sizes of at least 1, got {batches}")
    set_thread_env(opts.threads)
    from peers import apply_threads

    apply_threads(opts.threads)
    results = sweep(opts.threads, opts.reps, batches)
    plot(results, opts.out, opts.threads)
    if opts.json:
        write_json(opts.json, results, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
