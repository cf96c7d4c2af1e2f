"""The activity-recognition example: its windows have the gravity, rhythm and jerk it describes,
two pairs of activities share their mean and deviation, and the CNN-LSTM tells them apart where
the mean/std softmax cannot."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from conftest import load_example


@pytest.fixture(scope="module")
def example():
    return load_example("activity_recognition")


@pytest.fixture(scope="module")
def run(example, tmp_path_factory):
    out = tmp_path_factory.mktemp("plot") / "activity.png"
    # 32 units: the LSTM on 256 raw steps is the slow part of the defaults (128)
    return example.main(["--units", "32", "--test", "600", "--out", str(out)]), out


def windows(example, activity: str, n: int = 100, seed: int = 1) -> np.ndarray:
    """(n, T, 3) float64 windows of ``activity``."""
    rng = np.random.default_rng(seed)
    return np.stack([example.record(activity, rng) for _ in range(n)]).astype(np.float64)


def test_a_window_is_three_axes_in_g_drawn_from_the_seed(example):
    x = example.record("walking", np.random.default_rng(4))
    assert x.shape == (example.T, example.AXES)
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, example.record("walking", np.random.default_rng(4)))
    assert not np.array_equal(x, example.record("walking", np.random.default_rng(5)))


def test_up_is_the_unit_vector_the_pitch_and_roll_give(example):
    np.testing.assert_allclose(example.up(np.pi / 2, 0.3), [1, 0, 0], atol=1e-12)  # arm hangs
    np.testing.assert_allclose(example.up(0.0, 0.0), [0, 0, 1], atol=1e-12)  # face up, flat
    pitch = np.random.default_rng(0).uniform(-2, 2, 50)
    np.testing.assert_allclose(np.linalg.norm(example.up(pitch, -0.4), axis=-1), 1)


def test_band_noise_has_its_power_in_its_band(example):
    x = example.band_noise(5, 15, np.random.default_rng(2))
    assert x.shape == (example.T,)
    assert abs(x.mean()) < 1e-12
    assert x.std() == pytest.approx(1)
    freqs = np.fft.rfftfreq(example.T, 1 / example.RATE)
    power = np.abs(np.fft.rfft(x)) ** 2
    assert power[(freqs < 5) | (freqs > 15)].sum() < 1e-20 * power.sum()


@pytest.mark.parametrize(("activity", "arm"), [("sitting", "flat"), ("standing", "hanging")])
def test_still_windows_read_gravity_along_the_forearms_pitch(example, activity, arm):
    x = windows(example, activity)
    # no rhythm: what moves is the forearm's direction (and noise), not the length of g
    np.testing.assert_allclose(np.linalg.norm(x, axis=-1).mean(), 1, atol=0.02)
    pitch = np.degrees(np.arcsin(np.clip(x[..., 0].mean(axis=1), -1, 1)))  # x reads sin(pitch)
    low, high = example.ACTIVITIES[activity].pitch
    assert np.all((pitch > low - 5) & (pitch < high + 5))
    assert (pitch.mean() < 45) == (arm == "flat")


@pytest.mark.parametrize("activity", ["walking", "stairs", "jogging"])
def test_a_gaits_strongest_rhythm_is_its_step_frequency(example, activity):
    # |a| moves with the vertical acceleration alone: a turning forearm leaves |g| = 1
    magnitude = np.linalg.norm(windows(example, activity), axis=-1)
    power = np.abs(np.fft.rfft(magnitude - magnitude.mean(axis=1, keepdims=True), axis=1)) ** 2
    freqs = np.fft.rfftfreq(example.T, 1 / example.RATE)
    band = (freqs > 0.5) & (freqs < 4)
    peak = freqs[band][power[:, band].argmax(axis=1)]
    low, high = example.ACTIVITIES[activity].rhythm
    step = example.RATE / example.T  # the spectrum's resolution, 0.2 Hz
    assert np.all((peak > low - step) & (peak < high + step)), np.unique(peak)


@pytest.mark.parametrize("pair", [("walking", "stairs"), ("cycling", "sitting")])
def test_a_pair_shares_its_mean_and_deviation_but_not_its_jerk(example, pair):
    assert pair in example.PAIRS
    first, second = (windows(example, name, n=300) for name in pair)
    summary = [example.summary(first), example.summary(second)]
    spread = np.concatenate(summary).std(axis=0)  # (6,)
    # the features the baseline sees: the two activities' averages within a quarter of a spread
    assert np.all(np.abs(summary[0].mean(axis=0) - summary[1].mean(axis=0)) < 0.25 * spread)
    # heel strikes and road vibration: larger changes from one reading to the next
    jerk = [np.median(np.abs(np.diff(x, axis=1)).mean(axis=(1, 2))) for x in (first, second)]
    assert jerk[0] > 1.3 * jerk[1]


def test_standardise_uses_the_training_sets_statistics(example):
    rng = np.random.default_rng(0)
    train, test = 3 + 2 * rng.standard_normal((2, 50, 7, 3))
    scaled_train, scaled_test = example.standardise(train, test)
    np.testing.assert_allclose(scaled_train.mean(axis=(0, 1)), 0, atol=1e-12)
    np.testing.assert_allclose(scaled_train.std(axis=(0, 1)), 1)
    mean, std = train.mean(axis=(0, 1)), train.std(axis=(0, 1))
    np.testing.assert_allclose(scaled_test, (test - mean) / std)


def test_the_cnn_lstm_reads_the_rhythm_that_mean_and_deviation_miss(run, example):
    result, out = run
    accuracy = result["accuracy"]
    assert result["steps"] == {"CNN-LSTM": example.T // 4, "LSTM": example.T}
    assert accuracy["CNN-LSTM"] > 0.95
    assert accuracy["mean/std"] < 0.8
    assert accuracy["CNN-LSTM"] > accuracy["LSTM"] + 0.1
    recall = dict(zip(example.NAMES, result["recall"]["mean/std"]))
    assert recall["jogging"] > 0.95  # the pitch and the energy tell these
    assert recall["standing"] > 0.95
    matrix = result["confusion"]["mean/std"]
    mistakes = matrix.sum() - np.trace(matrix)
    index = example.NAMES.index
    within_pairs = sum(matrix[index(a), index(b)] + matrix[index(b), index(a)]
                       for a, b in example.PAIRS)  # fmt: skip
    assert within_pairs > 0.9 * mistakes
    assert all(seconds > 0 for seconds in result["seconds"].values())
    # matplotlib is optional (not a test dependency): the plot is there exactly when it is
    assert out.exists() == (importlib.util.find_spec("matplotlib") is not None)
