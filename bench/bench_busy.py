"""Latency on a busy machine: the same calls with every core free, then while other processes
keep all but one core busy.

A service rarely has the machine to itself. A library whose threads wait for each other can stall
behind a thread that has no core: this measures how much each library's calls slow down (median)
and how bad the worst ones get (90th percentile, maximum) when that happens. Every library gets the
same thread count; answers are checked against fastlstm's first, as in bench_peers.py.

    python bench/bench_busy.py                        # 2 threads, 300 calls per library and phase
    python bench/bench_busy.py --threads 2 --calls 500 --json busy.json --markdown
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

import numpy as np

from timing import check_output, write_json

# (name, cell, kind, B, T, I, H): a training step split by batch rows (threads meet once per
# GEMM), a single sequence split by hidden units (threads meet at every step), and one streaming
# step whose unit blocks the threads take (a block no thread takes in time, the caller runs).
CONFIGS = [
    ("step-1x1x64x128", "lstm", "step", 1, 1, 64, 128),
    ("train-32x20x16x32", "lstm", "train", 32, 20, 16, 32),
    ("seq-1x50x64x256", "lstm", "seq", 1, 50, 64, 256),
    ("seq-16x50x128x256", "lstm", "seq", 16, 50, 128, 256),
]
PEERS_BY_KIND = {
    "train": ["torch"],
    "seq": ["torch", "onnxruntime"],
    "step": ["torch", "onnxruntime"],
}
BUSY_LOOP = "while True: pass"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2, help="threads for every library (2)")
    p.add_argument("--calls", type=int, default=300, help="timed calls per library and phase")
    p.add_argument(
        "--busy", type=int, default=None, help="busy processes (default: CPUs available - 1)"
    )
    p.add_argument("--block", type=int, default=20, help="calls per library per turn (20)")
    p.add_argument("--settle", type=float, default=0.1, help="pause before each turn, s (0.1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tol", type=float, default=1e-4, help="answer check, as in bench_peers.py")
    p.add_argument("--json", help="write the raw call times and the summary here")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = p.parse_args(argv)
    check_output(p, args.json, "--json")
    return args


def time_in_turns(calls: dict, count: int, block: int, settle: float) -> dict[str, list[float]]:
    """µs of each single call. The libraries take turns, `block` calls each (the first library
    rotating), with a pause of `settle` s before each turn: another library's thread pool keeps
    spinning for a while after its calls return and would otherwise be measured too."""
    names = list(calls)
    times = {name: [] for name in names}
    for name in names:  # warm-up
        for _ in range(5):
            calls[name]()
    for turn in range(-(-count // block)):
        for name in names[turn % len(names) :] + names[: turn % len(names)]:
            time.sleep(settle)
            for _ in range(min(block, count - turn * block)):
                start = time.perf_counter()
                calls[name]()
                times[name].append((time.perf_counter() - start) * 1e6)
    return times


def summary(values: list[float]) -> dict[str, float]:
    a = np.asarray(values)
    return {"median": float(np.median(a)), "p90": float(np.quantile(a, 0.9)), "max": float(a.max())}


def start_busy(count: int) -> list[subprocess.Popen]:
    procs = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(count)]
    time.sleep(0.5)  # let them get going
    return procs


def main(argv=None) -> int:
    args = parse_args(argv)
    from bench_peers import check_outputs, make_case, set_thread_env

    set_thread_env(args.threads)
    from peers import apply_threads
    from peers_family import libraries

    print(apply_threads(args.threads))
    busy = len(os.sched_getaffinity(0)) - 1 if args.busy is None else args.busy
    rows, raw = [], {}
    for config in CONFIGS:
        case = make_case(config, args.seed)
        libs = ["fastlstm", *PEERS_BY_KIND[case.kind]]
        setups = libraries(case.cell)
        runners = {lib: setups[lib](case, args.threads) for lib in libs}
        check_outputs(case, runners, args.tol)
        calls = {lib: r.call for lib, r in runners.items()}
        idle = time_in_turns(calls, args.calls, args.block, args.settle)
        procs = start_busy(busy)
        try:
            loaded = time_in_turns(calls, args.calls, args.block, args.settle)
        finally:
            for p in procs:
                p.kill()
                p.wait()
        raw[case.name] = {"idle": idle, "busy": loaded}
        for lib in libs:
            a, b = summary(idle[lib]), summary(loaded[lib])
            rows.append([case.name, lib, a["median"], b["median"], b["median"] / a["median"]])
            rows[-1] += [b["p90"], b["max"]]
    header = ["config", "library", "idle µs", "busy µs", "busy/idle", "busy p90 µs", "busy max µs"]
    print(
        f"threads {args.threads}; {busy} busy process(es); {args.calls} calls per library and "
        f"phase, in turns of {args.block} after a {args.settle} s pause"
    )
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "|".join([":--", ":--"] + ["--:"] * 5) + "|")
    else:
        print("  ".join(f"{h:>14}" for h in header))
    for name, lib, idle_us, busy_us, ratio, p90, worst in rows:
        us = [f"{v:,.1f}" if v < 100 else f"{v:,.0f}" for v in (idle_us, busy_us, p90, worst)]
        cells = [name, lib, us[0], us[1], f"{ratio:.2f}", us[2], us[3]]
        print(
            ("| " + " | ".join(cells) + " |")
            if args.markdown
            else "  ".join(f"{c:>14}" for c in cells)
        )
    if args.json:
        write_json(args.json, {"threads": args.threads, "busy": busy, "rows": rows, "raw_us": raw})
    return 0


if __name__ == "__main__":
    sys.exit(main())
