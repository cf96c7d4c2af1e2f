"""Human-activity recognition from a wrist accelerometer: a CNN-LSTM against an LSTM on the raw
readings and a softmax on each window's mean and standard deviation.

The data stand for a smartwatch's 3-axis accelerometer, read at 50 Hz in windows of T = 256
readings (5.1 s), in units of g. The sensor's axes: x along the forearm towards the elbow, z out
of the watch face, y across the wrist. At rest it reads the unit vector pointing up, which the
forearm's pitch p (its angle below the horizontal) and the watch's roll r about the forearm fix:

    up(p, r) = (sin p, cos p sin r, cos p cos r)

A window is ``up(p + swing(t), r) + v(t) up(p, r) + noise``: the forearm turns by swing(t)
(gravity's share in each axis moves with it; |up| stays 1), the body's vertical acceleration
v(t) adds along the mean up direction, and the sensor adds white noise (0.005-0.02 g). Six
activities (swing: the peak of a sine, or a random wander with the same RMS):

    activity  pitch   rhythm (Hz)    swing                   v(t)                    RMS (g)
    walking   55-85°  steps 1.7-2.1  8-20°, 1 per 2 steps    bounce + heel strike    0.2-0.6
    stairs    55-85°  steps 1.1-1.5  8-20°, 1 per 2 steps    smooth lift             0.2-0.6
    jogging    0-30°  steps 2.4-3.0  20-40°, 1 per 2 steps   bounce + heel strike    0.6-1.2
    cycling   10-40°  pedal 1.0-1.5  2-8°, 1 per revolution  road vibration 5-15 Hz  0.05-0.15
    sitting   10-40°  none           2-8°, wander < 0.6 Hz   fidgeting < 2 Hz        0.05-0.15
    standing  55-85°  none           1-3°, sway < 0.6 Hz     sway < 2 Hz             0.01-0.03

A heel strike rings at 6-9 Hz and decays in 0.05 s (a jerk); a stair's lift is a cosine at the
step frequency and its second harmonic. Each window is another subject: pitch, roll (-30° to
30°), rhythm, swing, v's RMS, the ringing's frequency, the noise and the phase are drawn anew,
uniformly in their ranges, and the rhythm wanders by 3% (RMS) within the window. Two pairs
share their pitch, swing and RMS ranges and differ only in their temporal structure: walking and
stairs (step frequency, heel strikes), cycling and sitting (a periodic rocking and a vibration
against slow, aperiodic movements). So each pair's mean and standard deviation per axis are
distributed alike.

The readings are standardised per axis with the training set's mean and deviation, then

    CNN-LSTM: Conv1D(32, 8, strides=2, padding="same", relu) -> MaxPooling1D(2)
              -> LSTM(128) -> Dense(6, softmax)
    LSTM:     LSTM(128) -> Dense(6, softmax)

trained with sparse categorical cross-entropy and Adam (its rate falling from 0.01 to 0 along a
cosine). The convolution and the pooling halve the sequence each: the CNN-LSTM's LSTM reads 64
steps of 32 filter responses, the other 256 raw readings. The baseline is the same softmax on
each window's mean and standard deviation per axis (6 features, standardised): it sees the
pitch and the energy, not the rhythm.

What the default run prints (seed 0, 2,400 training windows, 12 epochs, 16 s on 2 idle cores):
test accuracy 0.996 for the CNN-LSTM (0.996 and 0.999 for seeds 1 and 2; 0.995-1.000 at the
other SIMD levels and on 1 thread), against 0.67 for the LSTM on the raw readings (0.71 and 0.79
for seeds 1 and 2, 0.54-0.71 at the other SIMD levels and on 1 thread: it learns the pitch and
the energy and little of the pairs) and 0.66 for the mean/std softmax (0.66-0.68), which tells
jogging and standing and guesses within the pairs. The CNN-LSTM trained in 6.5 s against 8.1 s
(11.5 against 19.3 at the AVX2 level, 22 against 41 at the baseline level, where the whole run
takes 66 s): its LSTM takes a quarter of the steps, and the convolution and pooling, in NumPy,
take back part of the saving. Their small matrix products run on NumPy's BLAS threads, which
cost more than they give on 2 cores: 4.1 s with OPENBLAS_NUM_THREADS=1, and 32-68 s where other
processes kept both cores busy (the LSTM took 12-16 s there). At 32 units the LSTM's steps cost
less than the convolution: the LSTM on the raw readings trains faster (0.13 s an epoch against
0.20). The plot shows a window of each activity of the two pairs, the three confusion matrices
and the training times.

For Keras 3, change the import to ``import keras``, and drop ``seed=`` from ``Sequential`` (call
``keras.utils.set_random_seed(seed)`` before building instead); the rest is the same code.

Usage:
    python activity_recognition.py [--train 2400] [--epochs 12] [--units 128] [--filters 32]
                                   [--kernel 8] [--seed 0] [--out activity_recognition.png]
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import NamedTuple

import numpy as np

import fastlstm as keras
from fastlstm.demo import plot_file, positive_int, positive_number, seed_value

RATE = 50.0  # readings per second
T, AXES = 256, 3  # readings per window (5.12 s); x, y, z
NOISE = (0.005, 0.02)  # the sensor's white noise, g
ROLL = (-30.0, 30.0)  # how the watch sits on the wrist, degrees
DRIFT = 0.03  # the rhythm's drift within a window, relative
BATCH = 32


class Activity(NamedTuple):
    """The ranges a window's parameters are drawn from (see the module's table)."""

    pitch: tuple[float, float]  # the forearm's mean angle below the horizontal, degrees
    rhythm: tuple[float, float] | None  # steps or pedal revolutions per second; None: still
    swing: tuple[float, float]  # the forearm's turning, degrees (peak of a sine)
    vertical: tuple[float, float]  # v(t)'s RMS, g
    waveform: str  # v(t): "strike", "lift", "road" or "fidget"


ACTIVITIES = {
    "walking": Activity((55, 85), (1.7, 2.1), (8, 20), (0.2, 0.6), "strike"),
    "stairs": Activity((55, 85), (1.1, 1.5), (8, 20), (0.2, 0.6), "lift"),
    "jogging": Activity((0, 30), (2.4, 3.0), (20, 40), (0.6, 1.2), "strike"),
    "cycling": Activity((10, 40), (1.0, 1.5), (2, 8), (0.05, 0.15), "road"),
    "sitting": Activity((10, 40), None, (2, 8), (0.05, 0.15), "fidget"),
    "standing": Activity((55, 85), None, (1, 3), (0.01, 0.03), "fidget"),
}
NAMES = list(ACTIVITIES)
PAIRS = (("walking", "stairs"), ("cycling", "sitting"))  # alike in mean and deviation


def band_noise(low: float, high: float, rng: np.random.Generator) -> np.ndarray:
    """(T,) random signal with its power spread evenly over low..high Hz; mean 0, RMS 1."""
    freqs = np.fft.rfftfreq(T, 1 / RATE)
    shape = len(freqs)
    spectrum = (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) * (
        (freqs >= low) & (freqs <= high)
    )
    x = np.fft.irfft(spectrum, T)
    return x / x.std()


def up(pitch: np.ndarray, roll: float) -> np.ndarray:
    """(..., 3): what the sensor reads at rest, the unit vector pointing up in its axes."""
    return np.stack(
        [np.sin(pitch), np.cos(pitch) * np.sin(roll), np.cos(pitch) * np.cos(roll)], axis=-1
    )


def vertical(
    waveform: str, cycles: np.ndarray | None, rate: float | None, rng: np.random.Generator
) -> np.ndarray:
    """(T,) the body's vertical acceleration, mean 0 and RMS 1, for ``cycles`` (T,), the steps
    taken since the window began, at ``rate`` steps per second (None where there is no rhythm)."""
    if waveform == "strike":  # a bounce each step, and the heel strike's ringing (a jerk)
        since = (cycles % 1) / rate  # seconds since the last heel strike
        ring = rng.uniform(6, 9)
        strike = np.exp(-since / 0.05) * np.sin(2 * np.pi * ring * since)
        v = np.cos(2 * np.pi * cycles) + 2 * strike
    elif waveform == "lift":  # a smooth push up each stair
        v = np.cos(2 * np.pi * cycles) + 0.5 * np.cos(
            4 * np.pi * cycles + rng.uniform(0, 2 * np.pi)
        )
    elif waveform == "road":
        v = band_noise(5, 15, rng)
    else:  # "fidget": slow, aperiodic movements
        v = band_noise(0.1, 2, rng)
    return (v - v.mean()) / v.std()


def record(activity: str, rng: np.random.Generator) -> np.ndarray:
    """One window of ``activity`` by a new subject: (T, 3) float32 acceleration in g."""
    a = ACTIVITIES[activity]
    pitch = np.radians(rng.uniform(*a.pitch))
    roll = np.radians(rng.uniform(*ROLL))
    swing = np.radians(rng.uniform(*a.swing))
    cycles = rate = None
    if a.rhythm is None:
        turn = band_noise(0.1, 0.6, rng) / np.sqrt(2)  # the RMS of a sine of peak 1
    else:
        rate = rng.uniform(*a.rhythm)
        speed = rate * (1 + DRIFT * band_noise(0.1, 1, rng))  # steps per second, drifting
        cycles = rng.uniform(0, 2) + np.cumsum(speed) / RATE
        # an arm swings forward once per two steps; the handlebar rocks once per revolution
        turn = np.sin(np.pi * cycles) if a.waveform != "road" else np.sin(2 * np.pi * cycles)
    v = rng.uniform(*a.vertical) * vertical(a.waveform, cycles, rate, rng)
    x = up(pitch + swing * turn, roll) + v[:, None] * up(pitch, roll)
    x += rng.uniform(*NOISE) * rng.standard_normal(x.shape)
    return x.astype(np.float32)


def make_dataset(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n windows (n, T, 3) float32 of random activities, and their labels (n,), NAMES' indices."""
    labels = rng.integers(0, len(NAMES), n)
    return np.stack([record(NAMES[k], rng) for k in labels]), labels


def summary(x: np.ndarray) -> np.ndarray:
    """(n, 6): each window's mean and standard deviation per axis, what the baseline sees."""
    return np.concatenate([x.mean(axis=1), x.std(axis=1)], axis=1)


def standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both scaled per feature (the last axis) by the training set's mean and deviation."""
    over = tuple(range(train.ndim - 1))
    mean, std = train.mean(axis=over), train.std(axis=over)
    return (train - mean) / std, (test - mean) / std


def build_model(inputs: tuple, layers: list, seed: int, learning_rate: float, steps: int):
    """Input(inputs) -> ``layers`` -> Dense(6, softmax), compiled with Adam, whose rate falls
    from ``learning_rate`` along half a cosine to 0 at the last of ``steps`` training steps: the
    last epochs settle (at a constant rate the test accuracy jumped by up to 0.15 from one epoch
    to the next)."""
    model = keras.Sequential(
        [
            keras.layers.Input(inputs),
            *layers,
            keras.layers.Dense(len(NAMES), activation="softmax"),
        ],
        seed=seed,
    )
    rate = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
    model.compile(keras.optimizers.Adam(rate), "sparse_categorical_crossentropy", ["accuracy"])
    return model


def confusion(labels: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """(6, 6) counts: row the activity done, column the one recognised."""
    matrix = np.zeros((len(NAMES), len(NAMES)), np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def save_plot(path: str, examples: dict[str, np.ndarray], result: dict) -> bool:
    """``examples``, windows (T, 3) in g by activity, the models' confusion matrices and their
    training times."""
    try:
        import matplotlib
    except ImportError:
        print("matplotlib is not installed: no plot (pip install matplotlib to get one)")
        return False
    matplotlib.use("Agg")  # render to a file, never a window: works without a display
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(16, 7.5))
    seconds = np.arange(T) / RATE
    for ax, (name, window) in zip(axes[0], examples.items()):
        for k, axis in enumerate("xyz"):
            ax.plot(seconds, window[:, k], lw=0.8, label=axis)
        ax.set_title(name)
        ax.set_xlabel("s")
    axes[0, 0].set_ylabel("acceleration (g)")
    axes[0, 0].legend(loc="upper right", ncol=3)
    for ax, (name, matrix) in zip(axes[1], result["confusion"].items()):
        done = np.maximum(matrix.sum(axis=1, keepdims=True), 1)  # a small test set may lack one
        ax.imshow(matrix / done, cmap="Blues", vmin=0, vmax=1)
        ax.set_xticks(range(len(NAMES)), NAMES, rotation=90)
        ax.set_yticks(range(len(NAMES)), NAMES)
        ax.set_title(f"{name}: accuracy {result['accuracy'][name]:.3f}")
        ax.set_xlabel("recognised")
    axes[1, 0].set_ylabel("done")
    names = list(result["seconds"])
    axes[1, 3].barh(names, [result["seconds"][name] for name in names], color="C0")
    axes[1, 3].invert_yaxis()  # the models top to bottom, as in the matrices left to right
    axes[1, 3].set_xlabel("training time (s)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> dict:
    """Train the three models, print their accuracy, time and recall by activity, save the plot.

    Returns ``{"accuracy": {model: float}, "seconds": {model: training time}, "steps": {model:
    steps its LSTM reads}, "recall": {model: (6,) per activity}, "confusion": {model: (6, 6)}}``.
    """
    parser = argparse.ArgumentParser(
        description="Activity recognition: a CNN-LSTM against an LSTM on the raw readings "
        "and a softmax on their mean and deviation."
    )
    parser.add_argument("--train", type=positive_int, default=2400, help="training windows (2400)")
    parser.add_argument("--test", type=positive_int, default=1200, help="test windows (1200)")
    parser.add_argument("--epochs", type=positive_int, default=12, help="training epochs (12)")
    parser.add_argument("--units", type=positive_int, default=128, help="LSTM units (128)")
    parser.add_argument("--filters", type=positive_int, default=32, help="Conv1D's (32)")
    parser.add_argument("--kernel", type=positive_int, default=8, help="Conv1D's taps (8)")
    parser.add_argument("--learning-rate", type=positive_number, default=0.01, help="Adam's")
    parser.add_argument("--seed", type=seed_value, default=0, help="random seed (default 0)")
    parser.add_argument("--out", type=plot_file, default="activity_recognition.png", help="plot")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    x_train, y_train = make_dataset(args.train, rng)
    x_test, y_test = make_dataset(args.test, rng)
    print(f"{len(NAMES)} activities, {args.train} training and {args.test} test windows of {T} "
          f"readings ({T / RATE:.2f} s at {RATE:g} Hz)")  # fmt: skip

    conv = keras.layers.Conv1D(
        args.filters, args.kernel, strides=2, padding="same", activation="relu"
    )
    pool = keras.layers.MaxPooling1D(2)
    steps = args.epochs * -(-args.train // BATCH)  # Adam's updates: epochs times batches
    common = {"seed": args.seed, "learning_rate": args.learning_rate, "steps": steps}
    models = {
        "CNN-LSTM": build_model((T, AXES), [conv, pool, keras.layers.LSTM(args.units)], **common),
        "LSTM": build_model((T, AXES), [keras.layers.LSTM(args.units)], **common),
        "mean/std": build_model((2 * AXES,), [], **common),
    }
    inputs = {
        "CNN-LSTM": standardise(x_train, x_test),
        "mean/std": standardise(summary(x_train), summary(x_test)),
    }
    inputs["LSTM"] = inputs["CNN-LSTM"]
    # the steps each model's LSTM reads: (B, T, 3) -> Conv1D -> (B, T/2, filters) -> pool -> T/4
    shrunk = pool.compute_output_shape(conv.compute_output_shape((None, T, AXES)))[1]
    result = {
        "accuracy": {},
        "seconds": {},
        "steps": {"CNN-LSTM": shrunk, "LSTM": T},
        "recall": {},
        "confusion": {},
    }
    print(f"{'model':10}{'LSTM steps':>12}{'test accuracy':>15}{'training':>11}")
    for name, model in models.items():
        train, test = inputs[name]
        start = time.perf_counter()
        model.fit(train, y_train, batch_size=BATCH, epochs=args.epochs, verbose=0)
        result["seconds"][name] = time.perf_counter() - start
        predicted = model.predict(test, verbose=0).argmax(-1)
        matrix = confusion(y_test, predicted)
        result["accuracy"][name] = float((predicted == y_test).mean())
        result["recall"][name] = np.diag(matrix) / np.maximum(matrix.sum(axis=1), 1)
        result["confusion"][name] = matrix
        print(f"{name:10}{result['steps'].get(name, '-'):>12}{result['accuracy'][name]:>15.3f}"
              f"{result['seconds'][name]:>9.1f} s")  # fmt: skip

    print("\nrecall by activity")
    print(f"{'':10}" + "".join(f"{name:>10}" for name in NAMES))
    for name, recall in result["recall"].items():
        print(f"{name:10}" + "".join(f"{r:>10.2f}" for r in recall))
    matrix = result["confusion"]["mean/std"]
    mistakes = [
        (int(matrix[i, j]), f"{NAMES[i]} as {NAMES[j]}") for i, j in np.argwhere(matrix) if i != j
    ]
    print("the mean/std softmax's most common mistakes:", ", ".join(
        f"{what} ({count})" for count, what in sorted(mistakes, reverse=True)[:4]))  # fmt: skip
    # the same subject's draws for each activity of the two pairs
    examples = {
        name: record(name, np.random.default_rng(args.seed)) for pair in PAIRS for name in pair
    }
    if save_plot(args.out, examples, result):
        print(f"plot saved to {args.out}")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
