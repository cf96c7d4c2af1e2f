"""The many-core rows: thread scaling, and DeepBench's server shape against a GPU.

    python bench/bench_scaling.py                       # threads 1, 2, 4, ... up to the CPUs
    python bench/bench_scaling.py --threads 1,4,16 --markdown --json scaling.json

1. Scaling: seq-256x100x256x512 (a whole sequence, output at every step) at each thread count,
   fastlstm, torch and ONNX Runtime interleaved at that count; speedup = time at 1 thread / time
   at n. Target: fastlstm ≥ 10× at 16 threads (the peers were reported to scale under 5×).
2. Latency: 1x25x512x512 through fastlstm.lstm and through a stream made once (serve) at every
   thread count, ONNX Runtime at every thread count (its best is the comparison), torch on the
   CPU at the most threads, and torch's cuDNN LSTM on a CUDA GPU where there is one (input and
   weights already on the GPU, float32 without TF32, synchronised after each call). Targets, at
   16 threads: faster than the GPU, and ≥ 3× faster than ONNX Runtime's best thread count.

Every library gets the same weights and input, and every answer is checked against fastlstm's
before anything is timed (bench_peers.check_outputs). fastlstm's and torch's thread counts are
process-wide: each timed call sets its own before each measurement, untimed.
"""

from __future__ import annotations

import argparse
import os
import sys

from timing import check_output, write_json

SCALING = ("seq-256x100x256x512", "lstm", "seq", 256, 100, 256, 512)
LATENCY = ("seq-1x25x512x512", "lstm", "seq", 1, 25, 512, 512)
SCALING_TARGET = 10.0  # fastlstm's speedup from 1 to 16 threads
ORT_TARGET = 3.0  # fastlstm at 16 threads over ONNX Runtime's best thread count
TARGET_THREADS = 16


def thread_counts(most: int) -> list[int]:
    """1, 2, 4, ... below ``most``, then ``most`` itself."""
    counts, n = [], 1
    while n < most:
        counts.append(n)
        n *= 2
    return [*counts, most]


def set_threads(n: int):
    """An untimed preparation: fastlstm and torch at ``n`` threads (ONNX Runtime's count is per
    session)."""
    from peers import apply_threads

    return lambda: apply_threads(n)


def measure_scaling(args) -> list[dict]:
    """Part 1: each thread count's medians, interleaved among the libraries at that count."""
    from bench_peers import check_outputs, make_case, numpy_matmul_gflops
    from peers import apply_threads, setup_fastlstm, setup_onnxruntime, setup_torch
    from timing import interleave, median

    case = make_case(SCALING, args.seed)
    rows = []
    for n in args.threads:
        apply_threads(n)
        runners = {
            "fastlstm": setup_fastlstm(case, n),
            "torch": setup_torch(case, n),
            "onnxruntime": setup_onnxruntime(case, n),
        }
        errors = check_outputs(case, runners, args.tol)
        calls = {lib: r.call for lib, r in runners.items()}
        prepare = dict.fromkeys(calls, set_threads(n))
        timed = interleave(calls, args.reps, args.min_time, 1, args.settle, prepare)
        medians = {lib: median(t) for lib, t in timed["times_us"].items()}
        rows.append(
            {
                "threads": n,
                "median_us": medians,
                "fastlstm_gflops": case.flops / medians["fastlstm"] / 1e3,
                "numpy_matmul_gflops": numpy_matmul_gflops(n),
                "max_scaled_error": errors,
                **timed,
            }
        )
        print(f"  scaling, {n} threads: " + _medians(medians), flush=True)
    for row in rows:
        row["speedup"] = {
            lib: rows[0]["median_us"][lib] / us for lib, us in row["median_us"].items()
        }
    return rows


def cuda_runner(case, tf32: bool):
    """torch's cuDNN LSTM on the first CUDA GPU, or None without one. The call runs the module
    and waits for the GPU; output as fastlstm's."""
    import torch

    from peers import Runner, to_torch_lstm

    if not torch.cuda.is_available():
        return None
    torch.backends.cudnn.allow_tf32 = tf32
    module = to_torch_lstm(case.weights).cuda().requires_grad_(False)
    x = torch.from_numpy(case.x).cuda()

    def call():
        module(x)
        torch.cuda.synchronize()

    y, (h, c) = module(x)
    output = {"y": y.cpu().numpy(), "h": h[0].cpu().numpy(), "c": c[0].cpu().numpy()}
    return Runner(call, output)


def measure_latency(args) -> dict:
    """Part 2: every library and thread count interleaved in one round robin."""
    import fastlstm
    from bench_peers import check_outputs, make_case
    from peers import (
        apply_threads,
        serve_runner,
        setup_fastlstm,
        setup_onnxruntime,
        setup_torch,
    )
    from timing import interleave, median

    case = make_case(LATENCY, args.seed)
    w = case.weights
    runners, prepare = {}, {}
    for n in args.threads:
        apply_threads(n)  # a stream splits its units for the thread count it is made under
        runners[f"fastlstm@{n}"] = setup_fastlstm(case, n)
        stream = fastlstm.LSTMStream(w["kernel"], w["recurrent_kernel"], w["bias"], batch_size=1)
        runners[f"serve@{n}"] = serve_runner(stream, case.x)
        runners[f"onnxruntime@{n}"] = setup_onnxruntime(case, n)
        prepare[f"fastlstm@{n}"] = prepare[f"serve@{n}"] = set_threads(n)
    most = args.threads[-1]
    apply_threads(most)
    runners[f"torch@{most}"] = setup_torch(case, most)
    prepare[f"torch@{most}"] = set_threads(most)
    ref = {"fastlstm": runners[f"fastlstm@{most}"]}
    errors = check_outputs(case, {**ref, **runners}, args.tol)
    for name, tf32 in (("cuda", False), ("cuda-tf32", True)):
        gpu = cuda_runner(case, tf32)
        if gpu is not None:
            # TF32 rounds the products' inputs to 10-bit mantissas: checked to 1e-2, not 1e-4.
            errors.update(check_outputs(case, {**ref, name: gpu}, 1e-2 if tf32 else args.tol))
            runners[name] = gpu
    calls = {name: r.call for name, r in runners.items()}
    timed = interleave(calls, args.reps, args.min_time, 2, args.settle, prepare)
    medians = {name: median(t) for name, t in timed["times_us"].items()}
    print("  latency: " + _medians(medians), flush=True)
    return {"median_us": medians, "max_scaled_error": errors, **timed}


def _medians(medians: dict[str, float]) -> str:
    return ", ".join(f"{name} {us:,.0f} µs" for name, us in medians.items())


def report(scaling: list[dict], latency: dict, markdown: bool) -> dict:
    """Print both tables and the targets' verdicts; returns the verdicts."""

    def line(cells: list[str]) -> None:
        print(("| " + " | ".join(cells) + " |") if markdown else "  ".join(cells))

    libs = ("fastlstm", "torch", "onnxruntime")
    print(f"\n{SCALING[0]}: median µs per call (speedup over 1 thread)")
    line(["threads", *libs, "fl GFLOP/s", "NumPy matmul GFLOP/s"])
    if markdown:
        print("|" + "---:|" * 6)
    for row in scaling:
        cells = [f"{row['median_us'][lib]:,.0f} ({row['speedup'][lib]:.2f}×)" for lib in libs]
        gflops = [f"{row['fastlstm_gflops']:.0f}", f"{row['numpy_matmul_gflops']:.0f}"]
        line([str(row["threads"]), *cells, *gflops])
    medians = latency["median_us"]
    print(f"\n{LATENCY[0]}: median µs per call")
    line(["call", "µs"])
    if markdown:
        print("|:---|---:|")
    for name, us in sorted(medians.items(), key=lambda item: item[1]):
        line([name, f"{us:,.0f}"])

    verdicts = {}
    # The targets are for 16 threads: judged at that count when it was run (on more CPUs too).
    counts = [row["threads"] for row in scaling]
    judged = TARGET_THREADS in counts
    if judged:
        got = scaling[counts.index(TARGET_THREADS)]["speedup"]["fastlstm"]
        verdicts["scaling"] = got >= SCALING_TARGET
        print(f"\nscaling 1 -> {TARGET_THREADS} threads: {got:.2f}× (target ≥ {SCALING_TARGET:g}×)")
    at = TARGET_THREADS if judged else counts[-1]
    ort = {k: v for k, v in medians.items() if k.startswith("onnxruntime@")}
    best_ort = min(ort, key=ort.get)
    for call in (f"fastlstm@{at}", f"serve@{at}"):
        ratio = ort[best_ort] / medians[call]
        words = f"{call}: {ratio:.2f}× ONNX Runtime's best ({best_ort})"
        if judged:
            verdicts[f"{call} vs ORT"] = ratio >= ORT_TARGET
            words += f" (target ≥ {ORT_TARGET:g}×)"
        for gpu in ("cuda", "cuda-tf32"):
            if gpu in medians:
                words += f"; {medians[gpu] / medians[call]:.2f}× {gpu}"
                if judged and gpu == "cuda":
                    verdicts[f"{call} vs cuda"] = medians[call] < medians[gpu]
        print(words)
    return verdicts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    cpus = len(os.sched_getaffinity(0))
    parser.add_argument(
        "--threads",
        default=",".join(map(str, thread_counts(cpus))),
        help="comma-separated thread counts, ascending, the first 1 (default: %(default)s)",
    )
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions per call")
    parser.add_argument("--min-time", type=float, default=0.1, help="seconds per measurement")
    parser.add_argument("--settle", type=float, default=0.25, help="seconds between measurements")
    parser.add_argument("--tol", type=float, default=1e-4, help="as bench_peers.py's --tol")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", metavar="PATH", help="write all raw and summary figures here")
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    args = parser.parse_args(argv)
    check_output(parser, args.json, "--json")
    try:
        args.threads = [int(n) for n in args.threads.split(",")]
    except ValueError:
        parser.error(f"--threads: expected comma-separated integers, got {args.threads!r}")
    if args.threads[0] != 1 or args.threads != sorted(set(args.threads)):
        parser.error(f"--threads: expected ascending counts starting at 1, got {args.threads}")

    # Pools sized for the most threads before any library loads; each call then sets its count.
    from bench_peers import set_thread_env

    set_thread_env(args.threads[-1])
    from timing import machine_info

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    info = machine_info(repo, args.threads[-1])
    print(f"{info['cpu_model']}, {info['cpus_available']} CPUs available; commit {info['commit']}")
    print(
        f"fastlstm {info['fastlstm']} ({info['fastlstm_cpu_capability']}); torch {info['torch']};"
        f" onnxruntime {info['onnxruntime']}; thread counts {args.threads}",
        flush=True,
    )
    scaling = measure_scaling(args)
    latency = measure_latency(args)
    verdicts = report(scaling, latency, args.markdown)
    if args.json:
        settings = {k: v for k, v in vars(args).items() if k != "json"}
        report_json = {
            "machine": info,
            "settings": settings,
            "scaling": scaling,
            "latency": latency,
            "verdicts": verdicts,
        }
        if latency["median_us"].get("cuda"):
            import torch

            report_json["gpu"] = torch.cuda.get_device_name(0)
        write_json(args.json, report_json, indent=1)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
