"""What a padded batch costs with its lengths given, against the same batch without them.

Each library runs the same float32 LSTM (GRU, SimpleRNN on the rows named so) twice: on the
padded batch as if every sequence were full length, and with the lengths (fastlstm's ``lengths=``, torch's ``pack_padded_sequence`` with
``enforce_sorted=False`` and ``pad_packed_sequence`` back, ONNX Runtime's ``sequence_lens``). The
lengths are drawn uniformly from [1, T] in no order, one of them T. With lengths, every library's
outputs are checked against fastlstm's before timing: y (zero past each length), the final state
(at each sequence's last valid step) and, for training, every gradient. A third row times
fastlstm's training step under a Keras mask (``mask=``, the same lengths, left-padded as Keras's
``pad_sequences`` pads by default) against the same step without it. Timing is bench_peers's:
interleaved repetitions, medians, one process, the same thread count everywhere.

    python bench/bench_lengths.py            # the seven rows, about two minutes
    python bench/bench_lengths.py --json out.json --markdown

Target (the recurrent family's): fastlstm with lengths (or the mask) costs no more than fastlstm
without them.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from timing import write_json

# (name, kind, B, T, I, H, cell): bench_peers's small-batch inference row and small training
# step, and that step under a Keras mask instead of lengths ("mask": fastlstm only; the peers
# have no such masks); the same two rows for the GRU (fastlstm's default, torch's and ONNX
# Runtime's with linear_before_reset=1) and the SimpleRNN (tanh).
CONFIGS = [
    ("lengths-seq-16x50x128x256", "seq", 16, 50, 128, 256, "lstm"),
    ("lengths-train-64x50x64x128", "train", 64, 50, 64, 128, "lstm"),
    ("mask-train-64x50x64x128", "mask", 64, 50, 64, 128, "lstm"),
    ("gru-lengths-seq-16x50x128x256", "seq", 16, 50, 128, 256, "gru"),
    ("gru-lengths-train-64x50x64x128", "train", 64, 50, 64, 128, "gru"),
    ("rnn-lengths-seq-16x50x128x256", "seq", 16, 50, 128, 256, "rnn"),
    ("rnn-lengths-train-64x50x64x128", "train", 64, 50, 64, 128, "rnn"),
]
# Per cell: fastlstm's inference, forward and backward calls.
CALLS = {
    "lstm": ("lstm", "lstm_forward", "lstm_backward"),
    "gru": ("gru", "gru_forward", "gru_backward"),
    "rnn": ("simple_rnn", "simple_rnn_forward", "simple_rnn_backward"),
}
# Variants: (library, with lengths). fastlstm with lengths is the reference of every ratio.
REFERENCE = ("fastlstm", True)
SHORT = {"fastlstm": "fl", "torch": "torch", "onnxruntime": "ORT"}


def label(variant: tuple[str, bool]) -> str:
    """A variant's column name: "fl" (padded, no lengths) or "fl+len" (with them)."""
    lib, lengths = variant
    return SHORT[lib] + ("+len" if lengths else "")


def make_data(kind: str, B: int, T: int, I: int, H: int, cell: str, seed: int) -> dict:
    """Weights of the cell (fastlstm's layout), x (B, T, I), lengths (B,) in [1, T] unsorted
    with one T, and dy (B, T, H) for training."""
    from peers_family import make_cell_weights

    rng = np.random.default_rng(seed + 1)
    lengths = rng.integers(1, T + 1, size=B)
    lengths[rng.integers(B)] = T
    data = {
        "cell": cell,
        "hidden": H,
        "weights": make_cell_weights(cell, I, H, seed),
        "x": rng.standard_normal((B, T, I), dtype=np.float32),
        "lengths": lengths,
    }
    if kind != "seq":
        data["dy"] = rng.standard_normal((B, T, H), dtype=np.float32)
    return data


def setup_fastlstm(kind: str, data: dict, lengths: bool):
    """fastlstm.lstm (gru, simple_rnn), or its forward + backward; returns (call, outputs of the
    first call)."""
    import fastlstm

    infer, forward, backward = (getattr(fastlstm, f) for f in CALLS[data["cell"]])
    w = data["weights"]
    args = (data["x"], w["kernel"], w["recurrent_kernel"], w["bias"])
    extra = {"lengths": data["lengths"]} if lengths else {}
    if kind == "mask" and lengths:
        # Left padding, as Keras's pad_sequences pads by default: each row's valid steps last.
        T = data["x"].shape[1]
        extra = {"mask": np.arange(T) >= T - data["lengths"][:, None]}
    if kind == "seq":
        y, state = infer(*args, **extra)
        return (lambda: infer(*args, **extra)), {"y": y, **named_state(state)}

    def train():
        y, _, cache = forward(*args, **extra)
        return y, backward(cache, data["dy"])

    y, g = train()
    grads = {"dx": g.x, "dkernel": g.kernel, "drecurrent_kernel": g.recurrent_kernel}
    return train, {"y": y, **grads, "dbias": g.bias}


def named_state(state) -> dict:
    """A final state as outputs: {"h", "c"} from an LSTM's (h, c), {"h"} from h alone (each
    (B, H), a leading axis of one dropped)."""
    h, c = state if isinstance(state, tuple) else (state, None)
    out = {"h": np.asarray(h).reshape(h.shape[-2:])}
    return out if c is None else {**out, "c": np.asarray(c).reshape(c.shape[-2:])}


def setup_torch(kind: str, data: dict, lengths: bool):
    """torch.nn.LSTM (GRU, RNN) on the padded batch, or on it packed (pack_padded_sequence,
    unsorted) and padded back to T steps."""
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    from peers import to_torch_lstm, torch_train
    from peers_family import to_torch_module, torch_train_cell

    cell, x = data["cell"], torch.from_numpy(data["x"])
    if cell == "lstm":
        module = to_torch_lstm(data["weights"])
    else:
        module = to_torch_module(cell, data["weights"], x.shape[2], data["hidden"])
    T = x.shape[1]
    sizes = torch.from_numpy(data["lengths"])  # pack_padded_sequence wants them on the CPU

    def forward():
        if not lengths:
            return module(x)
        packed = pack_padded_sequence(x, sizes, batch_first=True, enforce_sorted=False)
        out, state = module(packed)
        return pad_packed_sequence(out, batch_first=True, total_length=T)[0], state

    if kind == "seq":
        module.requires_grad_(False)
        y, state = forward()
        state = tuple(s.numpy() for s in state) if cell == "lstm" else state.numpy()
        return forward, {"y": y.numpy(), **named_state(state)}
    dy = torch.from_numpy(data["dy"])
    if cell == "lstm":
        runner = torch_train(module, x, dy, forward)
    else:
        runner = torch_train_cell(cell, module, x, dy, forward)
    return runner.call, runner.output


def setup_onnxruntime(kind: str, data: dict, lengths: bool, threads: int):
    """ONNX Runtime's LSTM (GRU, RNN) op (inference only), with or without sequence_lens."""
    from peers import ort_session, to_onnx_model
    from peers_family import to_onnx_cell_model

    del kind  # inference rows only
    if data["cell"] == "lstm":
        model = to_onnx_model(data["weights"], with_state=False, with_lengths=lengths)
    else:
        model = to_onnx_cell_model(data["cell"], data["weights"], False, with_lengths=lengths)
    session = ort_session(model, threads)
    feeds = {"X": np.ascontiguousarray(data["x"].transpose(1, 0, 2))}  # (T, B, I)
    if lengths:
        feeds["sequence_lens"] = data["lengths"].astype(np.int32)
    y, *state = session.run(None, feeds)
    output = {
        "y": y[:, 0].transpose(1, 0, 2),
        **named_state(tuple(state) if len(state) > 1 else state[0]),
    }
    return (lambda: session.run(None, feeds)), output


def variants(kind: str) -> list[tuple[str, bool]]:
    """The (library, with lengths) pairs a row times: ONNX Runtime on inference rows only, only
    fastlstm under a mask."""
    libs = ["fastlstm"] if kind == "mask" else ["fastlstm", "torch"]
    libs += ["onnxruntime"] if kind == "seq" else []
    return [(lib, with_lengths) for lib in libs for with_lengths in (True, False)]


def check(name: str, reference: dict, got: dict, who: str, tol: float) -> float:
    """The largest difference of ``got`` from fastlstm's outputs with lengths, scaled by
    max(1, max |value|) per output; exits when one exceeds ``tol``."""
    worst = 0.0
    for key, ref in reference.items():
        value = np.asarray(got[key])
        if value.shape != ref.shape:
            sys.exit(f"{name}: {who} {key} has shape {value.shape}, fastlstm {ref.shape}")
        scale = max(1.0, float(np.max(np.abs(ref))))
        err = float(np.max(np.abs(value - ref))) / scale
        if not err <= tol:  # also catches NaN
            sys.exit(f"{name}: {who} and fastlstm disagree on {key} by {err * scale:.3g}")
        worst = max(worst, err)
    return worst


def run_row(config: tuple, args) -> dict:
    """Set up every variant of one row, check the ones with lengths, time them all."""
    from timing import interleave, median

    name, kind, B, T, I, H, cell = config
    data = make_data(kind, B, T, I, H, cell, args.seed)
    calls, errors, reference = {}, {}, None
    for variant in variants(kind):
        lib, with_lengths = variant
        if lib == "onnxruntime":
            call, output = setup_onnxruntime(kind, data, with_lengths, args.threads)
        else:
            call, output = {"fastlstm": setup_fastlstm, "torch": setup_torch}[lib](
                kind, data, with_lengths
            )
        calls[label(variant)] = call
        if variant == REFERENCE:
            reference = output
        elif with_lengths:
            errors[label(variant)] = check(name, reference, output, label(variant), args.tol)
    timed = interleave(calls, args.reps, args.min_time, args.warmup, args.settle)
    medians = {k: median(v) for k, v in timed["times_us"].items()}
    base = medians[label(REFERENCE)]
    return {
        "config": name,
        "kind": kind,
        "cell": cell,
        "shape": {"B": B, "T": T, "I": I, "H": H},
        "lengths": data["lengths"].tolist(),
        "max_scaled_error": errors,
        "median_us": medians,
        "ratio_vs_fastlstm_lengths": {k: v / base for k, v in medians.items()},
        "lengths_cost": {
            lib: medians[f"{s}+len"] / medians[s] for lib, s in SHORT.items() if s in medians
        },
        **timed,
    }


COLUMNS = ["fl+len", "fl", "torch+len", "torch", "ORT+len", "ORT"]


def table(results: list[dict], markdown: bool) -> None:
    """Median µs of each variant; each library's time with lengths over its time without; the
    peers' times with lengths over fastlstm's; the target's verdict."""
    from bench_peers import print_row, print_rule

    header = ["config (B×T×I×H)", *(f"{c} µs" for c in COLUMNS)]
    header += ["fl+len/fl", "torch+len/torch", "ORT+len/ORT", "torch+len/fl+len", "ORT+len/fl+len"]
    header += ["target", "met"]
    rows = []
    for r in results:
        med, cost, ratio = r["median_us"], r["lengths_cost"], r["ratio_vs_fastlstm_lengths"]
        cells = [r["config"], *(f"{med[c]:,.0f}" if c in med else "–" for c in COLUMNS)]
        cells += [f"{cost[lib]:.2f}" if lib in cost else "–" for lib in SHORT]
        cells += [f"{ratio[c]:.2f}" if c in ratio else "–" for c in ("torch+len", "ORT+len")]
        cells += ["fl+len ≤ fl", "yes" if r["target_met"] else "no"]
        rows.append(cells)
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    print_row(header, widths, markdown)
    if markdown:
        print_rule(widths)
    for cells in rows:
        print_row(cells, widths, markdown)


def parse_args(argv: list[str] | None = None):
    """Command-line options; see --help."""
    from bench_peers import add_shared_options, parse_shared

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=15, help="timed repetitions per variant")
    parser.add_argument(
        "--min-time",
        type=float,
        default=0.1,
        help="seconds one measurement lasts at least (short calls batched)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=0.25,
        help="seconds between measurements (see bench_peers.py)",
    )
    add_shared_options(parser)
    return parse_shared(parser, argv)


def main(argv: list[str] | None = None) -> int:
    """Run the rows and print the table (and write the JSON)."""
    args = parse_args(argv)
    from bench_peers import start_run

    info, commit = start_run(args.threads)
    note = info["fastlstm_threading"]
    print(f"{info['cpu_model']}; commit {commit}; threads {args.threads} ({note})")
    print(
        f"median µs per call over {args.reps} interleaved reps; X+len: with the lengths "
        "(the mask row: with a Keras mask, left-padded)\n"
    )
    results = []
    for config in CONFIGS:
        result = run_row(config, args)
        result["target_met"] = result["lengths_cost"]["fastlstm"] <= 1.0
        results.append(result)
    table(results, args.markdown)
    if args.json:
        write_json(
            args.json, {"machine": info, "settings": vars(args), "results": results}, indent=1
        )
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
