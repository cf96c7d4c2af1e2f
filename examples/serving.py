"""Serving an LSTM layer: per-request latency through the layer, the functional API and a stream.

A service that answers requests with one trained layer can call it three ways. This script
builds ``fastlstm.layers.LSTM(H, return_sequences=True)`` and answers the same requests, each one
sequence of T steps (B = 1), through:

    layer(x)                              the layer's call (Keras's way)
    fastlstm.lstm(x, kernel, ...)         the functional API, from the layer's weight arrays
    stream.run(x, out, reset=True)        a stream made once by ``layer.stream(batch_size=1)``

and, for data that arrives a frame at a time, ``stream.step(x_t, out_t)`` per frame. The stream
holds a copy of the weights packed the way its steps read them, so a request answered from it
skips the packing that a layer or functional call does each time; ``out`` is preallocated, so
nothing is allocated per request. The three answers are checked to agree before anything is
timed (the script stops if not).

Each request is timed alone, the three ways in turn (so each call finds the caches as the other
ways left them, as in a service that does other work between requests), and the table gives the
median and the 99th percentile of the latency. What runs on a 2-core AVX-512 VM printed, 300
requests, 2 threads, medians: at the default T = 100, I = 64, H = 256 the layer took 339 µs, the
functional API 334 µs and the stream 326 µs, and the stream's step 4.1 µs per frame; at
``--steps 25 --inputs 512 --units 512`` (DeepBench's server shape) 852, 818 and 734 µs, 38.6 µs
per frame. The 99th percentiles were 3-4 times the medians on that shared VM. The figures depend
on the machine and its load; the ordering is the point.

Usage:
    python serving.py [--steps 100] [--inputs 64] [--units 256] [--requests 300] [--threads N]
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import fastlstm
from fastlstm.demo import seed_value


def percentiles(times: list[float]) -> tuple[float, float]:
    """(median, 99th percentile) of per-call times in seconds, in µs."""
    p50, p99 = np.percentile(np.asarray(times) * 1e6, [50, 99])
    return float(p50), float(p99)


def main(argv: list[str] | None = None) -> dict:
    """Build the layer, check that the three ways agree, time them, print the table.

    Returns ``{"max_difference": ..., "latency_us": {way: (p50, p99)}}``, for callers and tests.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--steps", type=int, default=100, help="timesteps per request (T)")
    parser.add_argument("--inputs", type=int, default=64, help="input features (I)")
    parser.add_argument("--units", type=int, default=256, help="hidden units (H)")
    parser.add_argument("--requests", type=int, default=300, help="requests timed per way")
    parser.add_argument("--threads", type=int, default=None, help="fastlstm threads")
    parser.add_argument("--seed", type=seed_value, default=0, help="seed for weights and requests")
    args = parser.parse_args(argv)
    if min(args.steps, args.inputs, args.units, args.requests) < 1:
        parser.error("--steps, --inputs, --units and --requests must be at least 1")
    if args.threads is not None and not 1 <= args.threads <= 1024:
        parser.error("--threads must be between 1 and 1024")
    if args.threads is not None:
        fastlstm.set_num_threads(args.threads)

    T, I, H = args.steps, args.inputs, args.units
    rng = np.random.default_rng(args.seed)
    requests = rng.standard_normal((args.requests, 1, T, I)).astype(np.float32)
    layer = fastlstm.layers.LSTM(H, return_sequences=True, seed=args.seed)
    layer(requests[0])  # builds the weights
    weights = (layer.kernel, layer.recurrent_kernel, layer.bias)
    stream = layer.stream(batch_size=1)
    out = np.empty((1, T, H), np.float32)
    frame_out = np.empty((1, H), np.float32)

    def by_stream(x):  # the reset and the run in one call: safe on a stream threads share
        return stream.run(x, out, reset=True)

    ways = {
        "layer(x)": layer,
        "fastlstm.lstm": lambda x: fastlstm.lstm(x, *weights)[0],
        "stream.run": by_stream,
    }
    expected = layer(requests[0])
    difference = max(float(np.max(np.abs(way(requests[0]) - expected))) for way in ways.values())
    if difference > 1e-5:
        print(f"the three ways disagree: max difference {difference:.3g}", file=sys.stderr)
        raise SystemExit(1)

    times: dict[str, list[float]] = {name: [] for name in ways}
    for x in requests[:3]:  # warm-up
        for way in ways.values():
            way(x)
    for k, x in enumerate(requests):
        names = list(ways)
        for name in names[k % 3 :] + names[: k % 3]:  # rotate which goes first
            start = time.perf_counter()
            ways[name](x)
            times[name].append(time.perf_counter() - start)
    stream.reset()
    frames = [np.ascontiguousarray(requests[0][:, t]) for t in range(T)]
    step_times = []
    for _ in range(max(1, args.requests // 10)):
        for x_t in frames:
            start = time.perf_counter()
            stream.step(x_t, frame_out)
            step_times.append(time.perf_counter() - start)

    latency = {name: percentiles(t) for name, t in times.items()}
    latency["stream.step (per frame)"] = percentiles(step_times)
    print(
        f"B = 1, T = {T}, I = {I}, H = {H}, {args.requests} requests, "
        f"{fastlstm.get_num_threads()} threads; answers agree within {difference:.1e}"
    )
    print(f"{'way':<26}{'median µs':>11}{'p99 µs':>10}")
    for name, (p50, p99) in latency.items():
        print(f"{name:<26}{p50:>11.1f}{p99:>10.1f}")
    return {"max_difference": difference, "latency_us": latency}


if __name__ == "__main__":
    main()
