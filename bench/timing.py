"""Timing and machine description for the peer benchmark.

Timing: warm up, then interleave — each repetition runs every library
once, in turn, so that a slow spell of a shared machine hits all of them alike — and summarise by
the median. Calls shorter than ``min_time`` are run in a batch of ``inner`` calls per measurement
(as timeit does) and the measurement divided by ``inner``.

Between two measurements the process sleeps ``settle`` seconds. The libraries' thread pools keep
spinning after a call returns (OpenBLAS for up to 2^28 cycles, about 0.1 s; ONNX Runtime and
OpenMP pools less), and on a machine with as many threads as cores those spinning threads take
cores from whichever library runs next: interleaved without a pause, fastlstm and torch measured
2-3x slower right after ONNX Runtime or NumPy than alone.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import platform
import statistics
import subprocess
import time
from typing import Callable

Call = Callable[[], object]


def check_output(parser, path: str | None, option: str) -> None:
    """Checks an output file's path before a run of minutes, not when the run ends and writes it:
    makes its folder where missing (``bench/results`` is not in a fresh clone) and has ``parser``
    stop with the option's name where the file cannot be written there."""
    if path is None:
        return
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        parser.error(f"{option} {path}: cannot make the folder {folder} ({e.strerror})")
    if os.path.isdir(path):
        parser.error(f"{option} {path}: expected a file path, got a folder")
    if not os.access(folder, os.W_OK) or (os.path.exists(path) and not os.access(path, os.W_OK)):
        parser.error(f"{option} {path}: not writable")


def write_json(path: str, data, **options) -> None:
    """Writes ``data`` as JSON to ``path`` whole or not at all: into a file beside it, renamed
    over it once complete, so that a failure part way leaves no half-written file."""
    partial = f"{path}.partial-{os.getpid()}"
    try:
        with open(partial, "w") as f:
            json.dump(data, f, **options)
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(partial)
        raise


def _nothing() -> None:
    """The default preparation: none."""


def time_batch(call: Call, inner: int) -> float:
    """Seconds per call, averaged over ``inner`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(inner):
        call()
    return (time.perf_counter() - start) / inner


def calibrate(call: Call, min_time: float, warmup: int) -> int:
    """Warm ``call`` up and return how many calls make one measurement last ``min_time`` seconds."""
    for _ in range(warmup):
        call()
    once = time_batch(call, 1)
    if once >= 4 * min_time:  # long calls: one per measurement, no more calls to find out
        return 1
    once = min(once, *(time_batch(call, 1) for _ in range(2)))  # the best of 3 resists noise
    inner = max(1, math.ceil(min_time / max(once, 1e-9)))
    time_batch(call, inner)  # one more warm-up at the measured batch size
    return inner


def interleave(
    calls: dict[str, Call],
    reps: int,
    min_time: float,
    warmup: int,
    settle: float,
    prepare: dict[str, Call] | None = None,
) -> dict:
    """Time every call ``reps`` times, round robin; returns µs per call and batch sizes by name.

    The starting library rotates from one repetition to the next, so that none always runs right
    after the same neighbour (whose threads may still be spinning or whose data fills the cache).
    ``prepare[name]``, where given, runs untimed before each of that call's measurements (e.g. to
    set a process-wide thread count that differs from call to call).
    """
    names = list(calls)
    prepare = prepare or {}
    inner = {}
    for name in names:
        prepare.get(name, _nothing)()
        inner[name] = calibrate(calls[name], min_time, warmup)
        time.sleep(settle)
    times: dict[str, list[float]] = {name: [] for name in names}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for rep in range(reps):
            for k in range(len(names)):
                name = names[(rep + k) % len(names)]
                prepare.get(name, _nothing)()
                times[name].append(time_batch(calls[name], inner[name]) * 1e6)
                time.sleep(settle)  # let this library's idle threads stop spinning
    finally:
        if gc_was_enabled:
            gc.enable()
    return {"times_us": times, "inner": inner}


def median(values: list[float]) -> float:
    """The median: what the table reports, robust to the slow outliers a shared machine adds."""
    return statistics.median(values)


def _run(args: list[str]) -> str:
    """A command's stripped stdout, or "" when it fails or is missing."""
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what platform says."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The vector-ISA flags (avx*, fma) the CPU reports, from /proc/cpuinfo."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = line.split(":", 1)[1].split()
                    return sorted(f for f in flags if f.startswith("avx") or f == "fma")
    except OSError:
        pass
    return []


def cache_sizes() -> dict[str, str]:
    """Cache sizes of CPU 0 by level and type (e.g. "L2": "2048K"), from sysfs on Linux."""
    sizes = {}
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        entries = sorted(os.listdir(base))
    except OSError:
        return sizes
    for entry in entries:
        try:
            with open(f"{base}/{entry}/level") as f:
                level = f.read().strip()
            with open(f"{base}/{entry}/type") as f:
                kind = f.read().strip()
            with open(f"{base}/{entry}/size") as f:
                size = f.read().strip()
        except OSError:
            continue
        suffix = {"Data": "d", "Instruction": "i"}.get(kind, "")
        sizes[f"L{level}{suffix}"] = size
    return sizes


def git_commit(repo: str) -> dict[str, object]:
    """The short HEAD commit of ``repo`` and whether the working tree has uncommitted changes."""
    commit = _run(["git", "-C", repo, "rev-parse", "--short", "HEAD"])
    status = _run(["git", "-C", repo, "status", "--porcelain"]) if commit else ""
    return {"commit": commit or None, "dirty": bool(status) if commit else None}


def _optional(module, name: str):
    """``module.name()``, or None where this version of fastlstm does not have it."""
    function = getattr(module, name, None)
    return function() if callable(function) else None


def machine_info(repo: str, threads: int) -> dict[str, object]:
    """What a reader needs to interpret the figures: CPU, cores, threads, versions, commit."""
    import numpy
    import onnxruntime
    import torch

    import fastlstm

    return {
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags(),
        "caches": cache_sizes(),
        "cpu_count": os.cpu_count(),
        "cpus_available": len(os.sched_getaffinity(0)),
        "threads": threads,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "fastlstm": fastlstm.__version__,
        "fastlstm_simd_level": fastlstm.simd_level(),
        "fastlstm_cpu_capability": _optional(fastlstm, "cpu_capability"),
        "fastlstm_threads": _optional(fastlstm, "get_num_threads") or 1,
        "numpy": numpy.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "onnxruntime": onnxruntime.__version__,
        **git_commit(repo),
    }
