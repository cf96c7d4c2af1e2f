"""Peer benchmark: fastlstm against torch, ONNX Runtime and a plain NumPy loop, LSTM/GRU/RNN.

For each configuration, every library gets the same float32 weights and input; each peer's answer
is checked against fastlstm's before anything is timed; then the libraries are timed round robin
(interleaved repetitions) and the table shows median µs per call and the ratio peer / fastlstm
(> 1: fastlstm is faster). ``--json`` writes every raw time with the machine's description.

    python bench/bench_peers.py            # full run, a few minutes
    python bench/bench_peers.py --quick    # fewer repetitions, no biggest config
    python bench/bench_peers.py --configs step-1x1x64x128,seq-1x100x64x256 --json out.json
    python bench/bench_peers.py --cells gru,rnn   # only the GRU and SimpleRNN rows

See bench/README.md for what each row means and the last results.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field

from timing import check_output, write_json

# (name, cell, kind, B, T, I, H): a streaming service, one request, DeepBench's server shape (both
# through the functional API, then served from a stream made once), a small batch, throughput,
# and two training steps. Kinds are described in peers.py, cells in
# peers_family.py. The LSTM rows keep their unprefixed names; the others are "<cell>-<name>".
LSTM_CONFIGS = [
    ("step-1x1x64x128", "lstm", "step", 1, 1, 64, 128),
    ("seq-1x100x64x256", "lstm", "seq", 1, 100, 64, 256),
    ("seq-1x25x512x512", "lstm", "seq", 1, 25, 512, 512),
    ("serve-1x100x64x256", "lstm", "serve", 1, 100, 64, 256),
    ("serve-1x25x512x512", "lstm", "serve", 1, 25, 512, 512),
    ("seq-16x50x128x256", "lstm", "seq", 16, 50, 128, 256),
    ("seq-256x100x256x512", "lstm", "seq", 256, 100, 256, 512),
    ("train-64x50x64x128", "lstm", "train", 64, 50, 64, 128),
    ("train-32x100x128x512", "lstm", "train", 32, 100, 128, 512),
]
RNN_ROWS = ("step-1x1x64x128", "seq-1x100x64x256", "seq-16x50x128x256", "train-64x50x64x128")
# The reset-before GRU (ONNX's default) against ONNX Runtime alone: torch has no such GRU.
GRU_RB_ROWS = ("step-1x1x64x128", "seq-1x100x64x256", "serve-1x100x64x256", "seq-16x50x128x256")
CONFIGS = [
    *LSTM_CONFIGS,
    *((f"gru-{name}", "gru", *rest) for name, _, *rest in LSTM_CONFIGS),
    *((f"grurb-{name}", "gru_rb", *rest) for name, _, *rest in LSTM_CONFIGS if name in GRU_RB_ROWS),
    *((f"rnn-{name}", "rnn", *rest) for name, _, *rest in LSTM_CONFIGS if name in RNN_ROWS),
    ("bilstm2-seq-8x2000x256x256", "bilstm2", "seq", 8, 2000, 256, 256),
]
CELLS = ("lstm", "gru", "gru_rb", "rnn", "bilstm2")
# The speed targets at 2 threads: fastlstm at least `ratio` times as fast as `peer` ("best": the
# faster of torch and ONNX Runtime). The throughput row also asks for 90% of NumPy's matmul rate.
# The GRU rows share the LSTM rows' targets; the reset-before GRU, SimpleRNN and bilstm2 rows
# have none.
TARGETS = {
    "step-1x1x64x128": [("onnxruntime", 5.0), ("torch", 30.0)],
    "seq-1x100x64x256": [("onnxruntime", 2.0)],
    "seq-1x25x512x512": [("onnxruntime", 2.0)],
    "serve-1x100x64x256": [("onnxruntime", 2.0)],
    "serve-1x25x512x512": [("onnxruntime", 2.0)],
    "seq-16x50x128x256": [("best", 1.2)],
    "seq-256x100x256x512": [("best", 1.0)],
    "train-64x50x64x128": [("torch", 1.25)],
    "train-32x100x128x512": [("torch", 1.2)],
}
TARGETS.update({f"gru-{name}": want for name, want in list(TARGETS.items())})
MATMUL_SHARE = 0.9  # of NumPy's float32 matmul GFLOP/s, on the (LSTM) throughput row
BIGGEST = "seq-256x100x256x512"  # the LSTM throughput row, which has the matmul-share target
# Skipped by --quick (unless named in --configs); their NumPy loop runs only with --numpy-big.
BIG = (BIGGEST, f"gru-{BIGGEST}", "bilstm2-seq-8x2000x256x256")
PEERS_BY_KIND = {
    "step": ["torch", "onnxruntime", "numpy"],
    "seq": ["torch", "onnxruntime", "numpy"],
    "serve": ["torch", "onnxruntime"],
    "train": ["torch"],
}
ALL_PEERS = ["torch", "onnxruntime", "numpy"]
SHORT = {"fastlstm": "fl", "torch": "torch", "onnxruntime": "ORT", "numpy": "NumPy"}


@dataclass
class Case:
    """One configuration with its data: x (B, T, I), weights, h0/c0 (step; c0 for the LSTM
    only), dy (train). ``cell``: "lstm", "gru", "gru_rb", "rnn" or "bilstm2"
    (peers_family.py)."""

    name: str
    kind: str
    batch: int
    steps: int
    input_size: int
    hidden: int
    cell: str = "lstm"
    weights: dict = field(default_factory=dict)
    x: object | None = None
    h0: object | None = None
    c0: object | None = None
    dy: object | None = None

    @property
    def flops(self) -> int:
        """Multiply-add FLOPs of the matmuls: 2·G·B·T·H·(I+H) forward with G gate blocks (LSTM 4,
        GRU 3, RNN 1), about 3× that to train; bilstm2 sums its four LSTM passes (layer 1: I=2H)."""
        from peers_family import GATES

        per_step = 2 * self.batch * self.steps * self.hidden
        if self.cell == "bilstm2":
            h = self.hidden
            return 2 * 4 * per_step * ((self.input_size + h) + (2 * h + h))
        forward = GATES[self.cell] * per_step * (self.input_size + self.hidden)
        return 3 * forward if self.kind == "train" else forward


def make_case(config: tuple, seed: int) -> Case:
    """The arrays for one configuration, from a seed: the same data for every library."""
    import numpy as np

    from peers_family import make_cell_weights

    name, cell, kind, batch, steps, input_size, hidden = config
    case = Case(name, kind, batch, steps, input_size, hidden, cell)
    case.weights = make_cell_weights(cell, input_size, hidden, seed)
    rng = np.random.default_rng(seed + 1)
    case.x = rng.standard_normal((batch, steps, input_size), dtype=np.float32)
    if kind == "step":  # a non-zero carried state, so that the state path is checked too
        case.h0 = np.tanh(rng.standard_normal((batch, hidden), dtype=np.float32))
        c0 = rng.standard_normal((batch, hidden), dtype=np.float32)
        case.c0 = c0 if cell == "lstm" else None
    if kind == "train":
        case.dy = rng.standard_normal((batch, steps, hidden), dtype=np.float32)
    return case


def check_outputs(case: Case, runners: dict, tol: float) -> dict[str, float]:
    """Each peer's max abs difference from fastlstm, scaled; exits when one exceeds ``tol``.

    A difference is divided by the larger of 1 and the largest |value| of that output in fastlstm
    (gradients summed over B·T terms grow with B·T); the worst over all outputs is returned.
    """
    import numpy as np

    reference = runners["fastlstm"].output
    errors = {}
    for lib, runner in runners.items():
        if lib == "fastlstm":
            continue
        worst = 0.0
        for key, ref in reference.items():
            got = np.asarray(runner.output[key])
            if got.shape != ref.shape:
                sys.exit(f"{case.name}: {lib} {key} has shape {got.shape}, fastlstm {ref.shape}")
            scale = max(1.0, float(np.max(np.abs(ref)))) if ref.size else 1.0
            err = float(np.max(np.abs(got - ref))) / scale if ref.size else 0.0
            if not err <= tol:  # also catches NaN
                sys.exit(
                    f"{case.name}: {lib} and fastlstm disagree on {key}: max abs difference "
                    f"{err * scale:.3g} > allowed {tol * scale:.3g} (= tol × max(1, max |value|))."
                    " Not timing wrong answers."
                )
            worst = max(worst, err)
        errors[lib] = worst
    return errors


def peers_for(case: Case, args) -> list[str]:
    """The peers timed for ``case``: by kind, minus the NumPy loop on the big configs (without
    --numpy-big) and on bilstm2 (no stacked NumPy loop), and minus torch on the reset-before GRU
    (torch has none)."""
    peers = [p for p in PEERS_BY_KIND[case.kind] if p in args.peers]
    if case.cell == "gru_rb" and "torch" in peers:
        peers.remove("torch")
    if "numpy" in peers and (case.cell == "bilstm2" or (case.name in BIG and not args.numpy_big)):
        peers.remove("numpy")
    return peers


def run_case(case: Case, args) -> dict:
    """Set up, check and time every library on one case; returns its raw and summary figures."""
    from peers_family import libraries
    from timing import interleave, median

    libs = ["fastlstm", *peers_for(case, args)]
    setups = libraries(case.cell)
    runners = {lib: setups[lib](case, args.threads) for lib in libs}
    errors = check_outputs(case, runners, args.tol)
    calls = {lib: runner.call for lib, runner in runners.items()}
    timed = interleave(calls, args.reps, args.min_time, args.warmup, args.settle)
    medians = {lib: median(times) for lib, times in timed["times_us"].items()}
    ratios = {lib: medians[lib] / medians["fastlstm"] for lib in libs if lib != "fastlstm"}
    return {
        "config": case.name,
        "cell": case.cell,
        "kind": case.kind,
        "shape": {"B": case.batch, "T": case.steps, "I": case.input_size, "H": case.hidden},
        "flops": case.flops,
        "fastlstm_gflops": case.flops / medians["fastlstm"] / 1e3,
        "max_scaled_error": errors,
        "median_us": medians,
        "ratio_vs_fastlstm": ratios,
        **timed,
    }


def _cell(value: float | None, ratio: bool = False) -> str:
    """A table cell: µs with thousands separators, a ratio to 2 decimals, "–" where not run."""
    if value is None:
        return "–"
    return f"{value:.2f}" if ratio else f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def check_targets(result: dict, matmul_gflops: float | None) -> tuple[str, str]:
    """The row's targets in words and whether this run met them: "yes", "no" or "–" (a peer
    needed for the verdict was not timed)."""
    ratios = result["ratio_vs_fastlstm"]
    words, verdicts = [], []
    for peer, want in TARGETS.get(result["config"], []):
        if peer == "best":
            got = min((ratios[p] for p in ("torch", "onnxruntime") if p in ratios), default=None)
        else:
            got = ratios.get(peer)
        words.append(f"≥{want:g}× {'best' if peer == 'best' else SHORT[peer]}")
        verdicts.append(None if got is None else got >= want)
    if result["config"] == BIGGEST and matmul_gflops:
        share = result["fastlstm_gflops"] / matmul_gflops
        result["matmul_share"] = share
        words.append(f"≥{MATMUL_SHARE:.0%} matmul ({share:.0%})")
        verdicts.append(share >= MATMUL_SHARE)
    met = "–" if not verdicts or None in verdicts else ("yes" if all(verdicts) else "no")
    result["target"], result["target_met"] = ", ".join(words) or "–", met
    return result["target"], met


# Measures the matmul rate in a child process (its stdout: the GFLOP/s).
_MATMUL_CHILD = """
import time
import numpy as np
a = np.random.default_rng(0).standard_normal((1024, 1024), dtype=np.float32)
for _ in range(3):
    a @ a
times = []
for _ in range(10):
    start = time.perf_counter()
    a @ a
    times.append(time.perf_counter() - start)
print(2 * 1024**3 / float(np.median(times)) / 1e9)
"""

# Variables that pin OpenBLAS to a kernel and cache size other than its own choice for this CPU
# (some machines set them to work around old OpenBLAS bugs). On an AVX-512 Zen 5 with Haswell's
# kernel forced, NumPy's float32 matmul ran at 249 GFLOP/s instead of 455: no ceiling.
OPENBLAS_PINS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def numpy_matmul_gflops(threads: int) -> float:
    """NumPy's float32 matmul rate on 1024 x 1024 matrices, median of 10, with `threads` BLAS
    threads and OpenBLAS's own kernel for this CPU (OPENBLAS_PINS removed): the compute ceiling."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_PINS}
    env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = str(threads)
    out = subprocess.run(
        [sys.executable, "-c", _MATMUL_CHILD], env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout)


def table_header() -> list[str]:
    """Column names: config, median µs per library, ratios peer / fastlstm, fastlstm GFLOP/s,
    the row's targets and whether they were met."""
    times = [f"{SHORT[lib]} µs" for lib in ["fastlstm", *ALL_PEERS]]
    ratios = [f"{SHORT[lib]}/fl" for lib in ALL_PEERS]
    return ["config (B×T×I×H)", *times, *ratios, "fl GFLOP/s", "target", "met"]


def table_row(result: dict) -> list[str]:
    """One table row for one case's result (check_targets must have run on it)."""
    medians, ratios = result["median_us"], result["ratio_vs_fastlstm"]
    times = [_cell(medians.get(lib)) for lib in ["fastlstm", *ALL_PEERS]]
    rel = [_cell(ratios.get(lib), ratio=True) for lib in ALL_PEERS]
    gflops = f"{result['fastlstm_gflops']:.1f}"
    return [result["config"], *times, *rel, gflops, result["target"], result["target_met"]]


def print_row(cells: list[str], widths: list[int], markdown: bool) -> None:
    """Print one row, left-aligned config and right-aligned numbers, as Markdown or plain."""
    padded = [cells[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:])]
    print(("| " + " | ".join(padded) + " |") if markdown else "  ".join(padded), flush=True)


def print_rule(widths: list[int]) -> None:
    """Markdown's line under the header: the first column left-aligned, the others right."""
    cells = (":" + "-" * (w + 1) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths))
    print("|" + "|".join(cells) + "|")


def _loads(values) -> str:
    """Load averages as "0.12, 0.34, 0.56"."""
    return ", ".join(f"{v:.2f}" for v in values)


def add_shared_options(parser) -> None:
    """The options every peer benchmark takes (this script's and bench_lengths.py's): threads,
    warm-up, the answer check's tolerance, seed and output."""
    parser.add_argument(
        "--threads",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="threads for every library and NumPy's BLAS (default: CPUs available to this process)",
    )
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls per library first")
    parser.add_argument(
        "--tol",
        type=float,
        default=1e-4,
        help="allowed max abs difference from fastlstm, times max(1, max |value|)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for weights and data")
    parser.add_argument("--json", metavar="PATH", help="write all raw and summary figures here")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")


def parse_shared(parser, argv: list[str] | None):
    """The parsed options, the shared ones checked."""
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error("--threads must be at least 1")
    check_output(parser, args.json, "--json")
    return args


def parse_args(argv: list[str] | None = None):
    """Command-line options; see --help."""
    names = [c[0] for c in CONFIGS]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--reps", type=int, help="timed repetitions per library (default 15, 5 with --quick)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"fewer repetitions and shorter measurements; skip {', '.join(BIG)}",
    )
    parser.add_argument(
        "--configs",
        help="comma-separated config names to run (default: all). Names: " + ", ".join(names),
    )
    parser.add_argument(
        "--cells",
        default=",".join(CELLS),
        help="comma-separated cells whose rows run (default: %(default)s); "
        "with --configs, the named configs of these cells",
    )
    parser.add_argument(
        "--peers",
        default=",".join(ALL_PEERS),
        help="comma-separated peers to time beside fastlstm (default: %(default)s)",
    )
    parser.add_argument(
        "--numpy-big",
        action="store_true",
        help=f"also time the (slow) NumPy loop on {BIGGEST} and gru-{BIGGEST}",
    )
    parser.add_argument(
        "--min-time",
        type=float,
        help="seconds one measurement lasts at least; "
        "short calls are batched (default 0.1, 0.02 with --quick)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        help="seconds to pause between measurements, so that the previous library's idle "
        "threads stop spinning before the next one runs (default 0.25, 0.2 with --quick)",
    )
    add_shared_options(parser)
    args = parse_shared(parser, argv)
    args.reps = args.reps or (5 if args.quick else 15)
    # After each --settle pause, a thread pool's second thread on this kind of VM can run at a
    # fraction of its speed for tens of ms (measured: fastlstm's worker took its half of the work
    # in 82-95% of jobs, yet 2-thread calls ran at 1-thread speed for the next ~40 ms). A
    # measurement of 0.1 s is mostly the steady state that a loop of calls sees.
    args.min_time = args.min_time or (0.02 if args.quick else 0.1)
    args.settle = args.settle if args.settle is not None else (0.2 if args.quick else 0.25)
    args.peers = [p for p in args.peers.split(",") if p]
    if set(args.peers) - set(ALL_PEERS):
        parser.error(f"--peers: unknown {sorted(set(args.peers) - set(ALL_PEERS))}")
    args.cells = [c for c in args.cells.split(",") if c]
    if not args.cells or set(args.cells) - set(CELLS):
        parser.error(
            f"--cells: unknown {sorted(set(args.cells) - set(CELLS))}; choose from {CELLS}"
        )
    chosen = args.configs.split(",") if args.configs else names
    unknown = [c for c in chosen if c not in names]
    if unknown:
        parser.error(f"--configs: unknown {unknown}; choose from {names}")
    if args.quick and not args.configs:
        chosen = [c for c in chosen if c not in BIG]
    args.configs = [c for c in CONFIGS if c[0] in chosen and c[1] in args.cells]
    if not args.configs:
        parser.error("no config left: --configs names none of the --cells rows")
    return args


def extra_rows(args) -> dict:
    """The memory and concurrency rows (extra_rows.py), printed under the table."""
    from extra_rows import CONCURRENCY_TARGET, measure_concurrency, measure_memory

    memory = measure_memory(args.threads)
    peaks = memory["peak_mib"]
    shape = "x".join(map(str, memory["config"]))
    print(
        f"\nmemory, training step {shape}: peak above imports fastlstm {peaks['fastlstm']:.0f} MiB, "
        f"torch {peaks['torch']:.0f} MiB, ratio {memory['ratio']:.2f} "
        f"(target ≤ 1: {'yes' if memory['ratio'] <= 1 else 'no'})"
    )
    concurrency = measure_concurrency(reps=3 if args.quick else 7)
    shape = "x".join(map(str, concurrency["config"]))
    ok = concurrency["speedup"] >= CONCURRENCY_TARGET
    print(
        f"concurrency, lstm {shape} with 1 thread per call: two Python threads give "
        f"{concurrency['speedup']:.2f}x one thread's throughput "
        f"(target ≥ {CONCURRENCY_TARGET}: {'yes' if ok else 'no'})"
    )
    return {"memory": memory, "concurrency": concurrency}


def set_thread_env(threads: int) -> None:
    """Thread counts for BLAS and OpenMP pools, set before numpy, torch or fastlstm load them."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(threads)


def start_run(threads: int) -> tuple[dict, str]:
    """Sets every library's thread count (before they load) and describes the machine: (info,
    the commit with a flag for uncommitted changes). info["fastlstm_threading"] says how
    fastlstm holds to the count."""
    set_thread_env(threads)
    from peers import apply_threads
    from timing import machine_info

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    note = apply_threads(threads)
    info = machine_info(repo, threads)
    info["fastlstm_threading"] = note
    return info, f"{info['commit']}{' + uncommitted changes' if info['dirty'] else ''}"


def main(argv: list[str] | None = None) -> int:
    """Parse the options, set thread counts, run every chosen config, print and save the table."""
    args = parse_args(argv)
    info, commit = start_run(args.threads)
    threading_note = info["fastlstm_threading"]
    print(f"{info['cpu_model']}, {info['cpus_available']} CPUs available; commit {commit}")
    print(
        f"fastlstm {info['fastlstm']} (SIMD {info['fastlstm_simd_level']}); torch {info['torch']}; "
        f"onnxruntime {info['onnxruntime']}; numpy {info['numpy']}"
    )
    print(f"threads: torch, ONNX Runtime, NumPy BLAS = {args.threads}; {threading_note}")
    print(
        f"median µs per call over {args.reps} interleaved reps; X/fl = X / fastlstm "
        "(> 1: fastlstm faster)"
    )
    matmul = numpy_matmul_gflops(args.threads)
    print(f"NumPy float32 matmul (1024³, OpenBLAS's own kernel): {matmul:.0f} GFLOP/s\n")
    header = table_header()
    widths = [max(len(header[0]), *(len(c[0]) for c in args.configs))]
    widths += [max(len(h), 9) for h in header[1:-2]] + [30, 3]
    print_row(header, widths, args.markdown)
    if args.markdown:
        print_rule(widths)
    load_before = os.getloadavg()
    results = []
    for config in args.configs:
        result = run_case(make_case(config, args.seed), args)
        check_targets(result, matmul)
        results.append(result)
        print_row(table_row(result), widths, args.markdown)
    extra = extra_rows(args) if "lstm" in args.cells else {}  # both extra rows are LSTM rows
    load = {"before": load_before, "after": os.getloadavg()}
    print(
        f"\nload average (1, 5, 15 min) before: {_loads(load['before'])}; after: "
        f"{_loads(load['after'])} (this run adds up to --threads; more: other work shared the CPUs)"
    )
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k not in ("configs", "json")}
        settings["configs"] = [c[0] for c in args.configs]
        report = {
            "machine": info,
            "numpy_matmul_gflops": matmul,
            "load_average": load,
            "settings": settings,
            "results": results,
            "extra": extra,
        }
        write_json(args.json, report, indent=1)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
