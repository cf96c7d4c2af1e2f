"""Python overhead of the model API: Sequential.fit per batch and serving calls, against the bare
work of the same step done with the functional API and NumPy.

Training (B=32, T=50, I=32, H=128 by default): the model ``Input((T, I)) -> LSTM(H) -> Dense(1)``
with the mse loss, trained one epoch of ``--batches`` batches per call by
``fit(batch_size=B, epochs=1, verbose=0)`` (Keras's defaults otherwise: shuffled each epoch;
also with ``shuffle=False``) and by a loop of ``train_on_batch``. The bare epoch does the same
arithmetic on the same batches with nothing around it: per batch ``lstm_forward``, the Dense
layer's matmul, the mse gradient, the Dense backward, ``lstm_backward`` (without dL/dx, which
the model skips for its first layer too) and the optimizer's
update written out in NumPy in place (SGD: ``w -= lr*g``; Adam: Keras's formula). Overhead per
batch = (model epoch - bare epoch) / batches, the median over repetitions of the difference
within each repetition; as a share of the model's median time per batch, the target is < 10%.
A kernel time that varies by a few % between repetitions blurs that difference, so one more row
measures it where the kernels are cheap: the same data through an LSTM of one unit (H=1), Adam;
its overhead in µs, as a share of the full model's time per batch, is the sharper figure.

Serving (B=1, T=50): ``predict_on_batch``, ``model(x)`` and ``predict(x)`` against
``fastlstm.lstm`` plus the Dense matmul (rows named ``Model:``: the same layers and weights as a
functional ``Model``, its ``fit`` and ``model(x)``); the overhead in µs (target: under 10 µs, "microseconds
above the kernel").

Each overhead comes with a distribution-free 95% confidence interval of that median: on a shared
machine the spread, not the median, says whether a row's verdict can be trusted.

Before timing, the bare step's loss and gradients are checked against the model's
(``loss_and_gradients``) and the bare serving output against ``predict_on_batch``. The training
calls are timed round robin (interleaved repetitions, bench/timing.py) and the table shows
medians. A serving call (~0.2 ms) varies by more than the overhead it is meant to show, so the
serving calls are timed one call at a time, every call once per round in rotating order, and the
overhead is the median over rounds of (model call - bare call) in the same round.

    python bench/bench_overhead.py                 # under a minute on 2 idle cores
    python bench/bench_overhead.py --reps 5 --threads 1 --markdown --json out.json
"""

from __future__ import annotations

import argparse
import os
import sys

from timing import check_output, write_json

TRAIN_TARGET = 0.10  # the model's per-batch overhead, share of the model's time per batch
SERVE_TARGET_US = 10.0  # serving: µs above the bare forward
LEARNING_RATE = 1e-3


def parse_args(argv: list[str] | None = None):
    """Command-line options; see --help."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--threads",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="threads for fastlstm and NumPy's BLAS (default: CPUs available to this process)",
    )
    parser.add_argument("--reps", type=int, default=31, help="timed repetitions (default 31)")
    parser.add_argument("--batch", type=int, default=32, help="training batch size B (32)")
    parser.add_argument("--steps", type=int, default=50, help="sequence length T (50)")
    parser.add_argument("--input", type=int, default=32, help="input features I (32)")
    parser.add_argument("--hidden", type=int, default=128, help="LSTM units H (128)")
    parser.add_argument(
        "--batches", type=int, default=16, help="batches per fit call, one epoch (default 16)"
    )
    parser.add_argument(
        "--min-time",
        type=float,
        default=0.05,
        help="seconds one measurement lasts at least; short calls are batched (default 0.05)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=0.0,
        help="seconds to pause between measurements (default 0: every call here uses the same "
        "thread pools, so there is no other library's spinning pool to wait out)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=100,
        help="serving rounds per repetition (default 100: 3,100 of each call with --reps 31)",
    )
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls of each first")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights and data")
    parser.add_argument("--json", metavar="PATH", help="write all raw and summary figures here")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    args = parser.parse_args(argv)
    check_output(parser, args.json, "--json")
    sizes = (args.threads, args.reps, args.batch, args.steps, args.input, args.hidden)
    if min(*sizes, args.batches, args.rounds) < 1:
        parser.error(
            "--threads, --reps, --batch, --steps, --input, --hidden, --batches, --rounds: >= 1"
        )
    return args


def make_model(optimizer: str, shape: tuple[int, int, int], seed: int, functional=False):
    """The compiled model Input((T, I)) -> LSTM(H) -> Dense(1), mse, for shape (T, I, H): a
    Sequential, or with ``functional`` a functional Model of that Sequential's layers."""
    import fastlstm
    from fastlstm import layers, optimizers

    steps, inputs, hidden = shape
    model = fastlstm.Sequential(
        [layers.Input((steps, inputs)), layers.LSTM(hidden), layers.Dense(1)], seed=seed
    )
    if functional:  # the Sequential's layers (its weights) called on an Input
        inp = layers.Input((steps, inputs))
        model = fastlstm.Model(inp, model.layers[1](model.layers[0](inp)))
    opt = optimizers.SGD(LEARNING_RATE) if optimizer == "sgd" else optimizers.Adam(LEARNING_RATE)
    model.compile(opt, "mse")
    return model


class BareStep:
    """The model's arithmetic for one epoch of batches, with its own copies of the model's
    weights: per batch forward, mse, backward, update; nothing else. ``epoch()`` runs every
    batch in order; ``gradients(i)`` gives batch i's loss and five gradients (kernel,
    recurrent_kernel, bias, dense kernel, dense bias) without updating."""

    def __init__(self, weights, x, y, batch: int, optimizer: str) -> None:
        import numpy as np

        self.np = np
        self.params = [w.copy() for w in weights]
        self.batches = [
            (x[i : i + batch], y[i : i + batch]) for i in range(0, len(x), batch)
        ]  # views, as fit's batches are
        self.adam = optimizer == "adam"
        self.scratch = [np.empty_like(p) for p in self.params]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0

    def gradients(self, i: int):
        import fastlstm

        np = self.np
        x, y = self.batches[i]
        kernel, recurrent, bias, dense_kernel, dense_bias = self.params
        _, (h, _), cache = fastlstm.lstm_forward(x, kernel, recurrent, bias)
        out = h @ dense_kernel
        out += dense_bias
        diff = out - y  # mse: the mean over the batch of (out - y)**2; gradient 2*diff/B
        loss = float(np.vdot(diff, diff)) / len(diff)
        diff *= np.float32(2.0 / len(diff))
        d_dense_kernel = h.T @ diff
        d_dense_bias = diff.sum(axis=0)
        dh = diff @ dense_kernel.T
        # dL/dx is not wanted (x is data), as the model knows for its first layer.
        g = fastlstm.lstm_backward(cache, None, (dh, None), input_grad=False)
        return loss, [g.kernel, g.recurrent_kernel, g.bias, d_dense_kernel, d_dense_bias]

    def update(self, grads) -> None:
        """The optimizer's step, in place: SGD ``w -= lr*g``, or Keras's Adam."""
        np = self.np
        self.t += 1
        if not self.adam:
            lr = np.float32(LEARNING_RATE)
            for p, g, s in zip(self.params, grads, self.scratch):
                np.multiply(g, lr, out=s)
                p -= s
            return
        b1, b2, eps = 0.9, 0.999, 1e-7
        alpha = np.float32(LEARNING_RATE * np.sqrt(1 - b2**self.t) / (1 - b1**self.t))
        for p, g, m, v, s in zip(self.params, grads, self.m, self.v, self.scratch):
            np.subtract(g, m, out=s)  # m += (1 - b1) * (g - m)
            s *= np.float32(1 - b1)
            m += s
            np.multiply(g, g, out=s)  # v += (1 - b2) * (g*g - v)
            s -= v
            s *= np.float32(1 - b2)
            v += s
            np.sqrt(v, out=s)  # w -= alpha * m / (sqrt(v) + eps)
            s += np.float32(eps)
            np.divide(m, s, out=s)
            s *= alpha
            p -= s

    def epoch(self) -> None:
        for i in range(len(self.batches)):
            self.update(self.gradients(i)[1])


def check_bare_step(model, bare: BareStep, tol: float = 1e-5) -> float:
    """The largest difference of the bare step's loss and gradients from the model's on the
    first batch, scaled by max(1, max |value|); exits when over ``tol``: a bare step that does
    other work than the model's would make the overhead meaningless."""
    import numpy as np

    loss, grads = model.loss_and_gradients(*bare.batches[0])
    bare_loss, bare_grads = bare.gradients(0)
    worst = abs(loss - bare_loss) / max(1.0, abs(loss))
    for g, b in zip(grads, bare_grads):
        worst = max(worst, float(np.max(np.abs(g - b))) / max(1.0, float(np.max(np.abs(g)))))
    if not worst <= tol:  # also catches NaN
        sys.exit(f"bare step and model disagree: scaled difference {worst:.3g} > {tol:g}")
    return worst


# (row name, the bare call it is compared with); the H=1 row's share is of "fit, adam"'s time.
TRAINING_ROWS = (
    ("fit, sgd", "bare, sgd"),
    ("fit, adam", "bare, adam"),
    ("fit, adam, shuffle=False", "bare, adam"),
    ("train_on_batch, adam", "bare, adam"),
    ("H=1: fit, adam", "H=1: bare, adam"),
    ("Model: fit, adam", "bare, adam"),
)


def epoch_calls(args, shape, opts=("sgd", "adam"), variants=True, prefix="", checked=None):
    """Zero-argument calls by name, each one epoch of ``args.batches`` batches of the model for
    ``shape`` (T, I, H): fit and the bare epoch for each optimizer in ``opts``; with
    ``variants``, Adam's fit with shuffle=False and a train_on_batch loop. Each bare step is
    checked against its model first; the scaled differences go into ``checked``."""
    import numpy as np

    rng = np.random.default_rng(args.seed + 1)
    n = args.batch * args.batches
    x = rng.standard_normal((n, shape[0], shape[1]), dtype=np.float32)
    y = rng.standard_normal((n, 1), dtype=np.float32)
    calls = {}
    for opt in opts:
        model = make_model(opt, shape, args.seed)
        bare = BareStep(model.trainable_weights, x, y, args.batch, opt)
        error = check_bare_step(model, bare)
        if checked is not None:
            checked[f"{prefix}{opt}"] = error
        calls[f"{prefix}bare, {opt}"] = bare.epoch
        calls[f"{prefix}fit, {opt}"] = lambda m=model: m.fit(
            x, y, batch_size=args.batch, epochs=1, verbose=0
        )
    if not variants:
        return calls
    model = make_model("adam", shape, args.seed)
    calls[f"{prefix}fit, adam, shuffle=False"] = lambda: model.fit(
        x, y, batch_size=args.batch, epochs=1, verbose=0, shuffle=False
    )
    model_tob = make_model("adam", shape, args.seed)
    batches = BareStep([], x, y, args.batch, "adam").batches

    def train_on_batch_epoch():
        for xb, yb in batches:
            model_tob.train_on_batch(xb, yb)

    calls[f"{prefix}train_on_batch, adam"] = train_on_batch_epoch
    graph = make_model("adam", shape, args.seed, functional=True)  # the functional Model's fit
    calls[f"{prefix}Model: fit, adam"] = lambda: graph.fit(
        x, y, batch_size=args.batch, epochs=1, verbose=0
    )
    return calls


def training_calls(args, checked: dict) -> dict:
    """Every timed training call by name (TRAINING_ROWS' names)."""
    shape = (args.steps, args.input, args.hidden)
    calls = epoch_calls(args, shape, checked=checked)
    small = (args.steps, args.input, 1)
    calls.update(epoch_calls(args, small, ("adam",), False, "H=1: ", checked))
    return calls


def serving_calls(args) -> dict:
    """The timed serving calls (B=1) by name, the bare forward checked against the model."""
    import numpy as np

    import fastlstm

    model = make_model("adam", (args.steps, args.input, args.hidden), args.seed)
    # The same layers as a functional Model, so that both calls read one set of weights (with
    # a second set of equal weights, timed in the same rotation, the Model's call measured
    # 15.0 µs over the bare call against 10.9 µs sharing them)
    inp = fastlstm.layers.Input((args.steps, args.input))
    graph = fastlstm.Model(inp, model.layers[1](model.layers[0](inp)))
    x1 = np.random.default_rng(args.seed + 2).standard_normal(
        (1, args.steps, args.input), dtype=np.float32
    )
    kernel, recurrent, bias, dense_kernel, dense_bias = model.trainable_weights

    def bare():
        _, (h, _) = fastlstm.lstm(x1, kernel, recurrent, bias)
        out = h @ dense_kernel
        out += dense_bias
        return out

    if not np.allclose(bare(), model.predict_on_batch(x1), rtol=1e-5, atol=1e-6):
        sys.exit("bare serving forward and predict_on_batch disagree")
    if not np.array_equal(graph(x1), model(x1)):
        sys.exit("the functional Model and the Sequential disagree")
    return {
        "serve, bare": bare,
        "predict_on_batch": lambda: model.predict_on_batch(x1),
        "model(x)": lambda: model(x1),
        "Model: model(x)": lambda: graph(x1),
        "predict": lambda: model.predict(x1, verbose=0),
    }


def paired(calls: dict, rounds: int, warmup: int) -> dict[str, list[float]]:
    """µs of every call, each timed alone, all calls once per round in an order that rotates
    from round to round: round r's figures were taken within a millisecond of each other, so a
    difference between two calls of one round is free of the machine's slower drifts."""
    import gc
    import time

    names = list(calls)
    for _ in range(warmup):
        for call in calls.values():
            call()
    times: dict[str, list[float]] = {name: [] for name in names}
    clock = time.perf_counter
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            for k in range(len(names)):
                name = names[(r + k) % len(names)]
                start = clock()
                calls[name]()
                times[name].append((clock() - start) * 1e6)
    finally:
        if gc_was_enabled:
            gc.enable()
    return times


def median_interval(values: list[float]) -> tuple[float, float]:
    """A distribution-free 95% confidence interval of the median: the order statistics of ranks
    (n - 1.96 sqrt(n)) / 2 and 1 + (n + 1.96 sqrt(n)) / 2 (the whole range for n < 6)."""
    import math

    ordered = sorted(values)
    n = len(ordered)
    if n < 6:
        return ordered[0], ordered[-1]
    half = 1.96 * math.sqrt(n)
    low = max(1, math.floor((n - half) / 2))
    high = min(n, math.ceil(1 + (n + half) / 2))
    return ordered[low - 1], ordered[high - 1]


def summarise(train_times: dict, serve_times: dict, args) -> list[dict]:
    """The table's rows: the model call's median, the bare call's, the overhead (the median of
    the differences within one repetition or round) in µs and as a share of the call, target,
    met. Training figures are per batch."""
    from timing import median

    train_shape = f"{args.batch}×{args.steps}×{args.input}×{args.hidden}"
    small_shape = f"{args.batch}×{args.steps}×{args.input}×1"
    serve_shape = f"1×{args.steps}×{args.input}×{args.hidden}"
    rows = []

    def row(name, times, bare, per, shape, target, met, of=None):
        call = median(times[name]) / per
        diffs = [(t - b) / per for t, b in zip(times[name], times[bare])]
        over = median(diffs)
        scale = call if of is None else median(times[of]) / per
        low, high = median_interval(diffs)
        rows.append(
            {
                "measurement": f"{name} ({shape})",
                "call_us": call,
                "bare_us": median(times[bare]) / per,
                "overhead_us": over,
                "overhead_share": over / scale,
                "interval_us": [low, high],
                "interval_share": [low / scale, high / scale],
                "target": target,
                "met": met(over, over / scale),
            }
        )

    def train_met(over, share):
        return "yes" if share < TRAIN_TARGET else "no"

    def serve_met(over, share):
        return "yes" if over < SERVE_TARGET_US else "no"

    target = f"< {TRAIN_TARGET:.0%}"
    for name, bare in TRAINING_ROWS:
        if name.startswith("H=1: "):  # the share is of the full model's fit, adam
            of = "fit, adam"
            row(name, train_times, bare, args.batches, small_shape, target, train_met, of)
        else:
            row(name, train_times, bare, args.batches, train_shape, target, train_met)
    for name in ("predict_on_batch", "model(x)", "Model: model(x)"):
        target = f"< {SERVE_TARGET_US:g} µs"
        row(name, serve_times, "serve, bare", 1, serve_shape, target, serve_met)
    # predict() is the dataset API (callbacks, batching, one output array): no target
    row("predict", serve_times, "serve, bare", 1, serve_shape, "–", lambda over, share: "–")
    return rows


def print_table(rows: list[dict], markdown: bool) -> None:
    header = ["measurement (B×T×I×H)", "call µs", "bare µs", "overhead µs", "overhead"]
    header += ["95% CI", "target", "met"]

    def interval(r):  # in the target's unit: µs for serving, % of the call for training
        if "µs" in r["target"] or r["target"] == "–":
            low, high = r["interval_us"]
            return f"{low:,.1f} … {high:,.1f} µs"
        low, high = r["interval_share"]
        return f"{low:.1%} … {high:.1%}"

    cells = [
        [
            r["measurement"],
            f"{r['call_us']:,.1f}",
            f"{r['bare_us']:,.1f}",
            f"{r['overhead_us']:,.1f}",
            f"{r['overhead_share']:.1%}",
            interval(r),
            r["target"],
            r["met"],
        ]
        for r in rows
    ]
    widths = [max(len(c[i]) for c in [header, *cells]) for i in range(len(header))]

    def line(c):
        padded = [c[0].ljust(widths[0])] + [v.rjust(w) for v, w in zip(c[1:], widths[1:])]
        print(("| " + " | ".join(padded) + " |") if markdown else "  ".join(padded))

    line(header)
    if markdown:
        print(
            "|:"
            + "-" * (widths[0] + 1)
            + "|"
            + "|".join("-" * (w + 1) + ":" for w in widths[1:])
            + "|"
        )
    for c in cells:
        line(c)


def _load() -> str:
    """The 1, 5 and 15 minute load averages: a busy machine slows 2-thread calls most."""
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from bench_peers import set_thread_env

    set_thread_env(args.threads)  # before NumPy loads its BLAS
    import numpy as np

    import fastlstm
    from timing import cpu_model, git_commit, interleave

    fastlstm.set_num_threads(args.threads)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    commit = git_commit(repo)
    dirty = " + uncommitted changes" if commit["dirty"] else ""
    cpus = len(os.sched_getaffinity(0))
    print(f"{cpu_model()}, {cpus} CPUs available; commit {commit['commit']}{dirty}")
    threads = fastlstm.get_num_threads()
    print(
        f"fastlstm {fastlstm.__version__} ({fastlstm.cpu_capability()}), {threads} "
        f"thread{'s' if threads > 1 else ''}; numpy {np.__version__}; "
        f"medians over {args.reps} interleaved reps; load average {_load()} before"
    )

    checked: dict = {}
    calls = training_calls(args, checked)
    timed = interleave(calls, args.reps, args.min_time, args.warmup, args.settle)
    serve_times = paired(serving_calls(args), args.reps * args.rounds, args.warmup)
    rows = summarise(timed["times_us"], serve_times, args)
    print(
        f"bare steps agree with loss_and_gradients to {max(checked.values()):.1e} (scaled); "
        f"training: {args.batches} batches per call (one epoch), per-batch figures, overhead = "
        "median over reps of (model - bare); serving: overhead = median over "
        f"{args.reps * args.rounds} rounds of (call - bare) in the same round\n"
    )
    print_table(rows, args.markdown)
    print(f"\nload average {_load()} after")
    if args.json:
        write_json(
            args.json,
            {
                "args": vars(args),
                "commit": commit,
                "cpu_model": cpu_model(),
                "fastlstm_threads": fastlstm.get_num_threads(),
                "rows": rows,
                "bare_check_scaled_error": checked,
                "inner": timed["inner"],
                "training_times_us": timed["times_us"],
                "serving_times_us": serve_times,
            },
            indent=1,
        )
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
