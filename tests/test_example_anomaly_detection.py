"""The anomaly-detection example: its faults are where it says, and the LSTM finds the ones a
limit alarm cannot."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from conftest import load_example


@pytest.fixture(scope="module")
def example():
    return load_example("anomaly_detection")


@pytest.fixture(scope="module")
def run(example, tmp_path_factory):
    out = tmp_path_factory.mktemp("plot") / "anomaly.png"
    return example.main(["--test", "300", "--out", str(out)]), out


def test_normal_windows_are_the_three_locked_sensors(example):
    x = example.normal_windows(200, np.random.default_rng(1))
    assert x.shape == (200, example.T, example.CHANNELS)
    assert x.dtype == np.float32
    # channel 1 follows channel 0 a fixed phase later, channel 2 at twice the frequency
    spectrum = np.abs(np.fft.rfft(x - x.mean(axis=1, keepdims=True), axis=1)).mean(axis=0)
    turns = example.T / example.PERIOD  # the running frequency's bin
    assert spectrum[:, 0].argmax() == turns
    assert spectrum[:, 2].argmax() == 2 * turns
    correlation = np.corrcoef(x[..., 0].ravel(), x[..., 1].ravel())[0, 1]
    assert correlation > 0.4  # cos(1.0) = 0.54 less the noise


@pytest.mark.parametrize("fault", ["spike", "shift", "desync", "stuck", "frequency"])
def test_each_fault_changes_only_its_span(example, fault):
    seed = 7
    normal = example.normal_windows(50, np.random.default_rng(seed))
    rng = np.random.default_rng(seed)
    start = rng.integers(10, example.T - example.SPAN, 50)  # as faulty_windows draws them
    faulty = example.faulty_windows(50, fault, np.random.default_rng(seed))
    changed = np.abs(faulty - example.normal_windows(50, _after_fault_draws(rng, fault))).max(-1)
    for i in range(50):
        outside = np.ones(example.T, bool)
        outside[start[i] : start[i] + example.SPAN] = False
        if fault == "frequency":  # the machine's phase runs on after the span: later readings
            outside[start[i] :] = False  # differ too, earlier ones not
        assert changed[i, outside].max() < 1e-6, (fault, i)
        assert changed[i, ~outside].max() > 0.05, (fault, i)
    assert normal.shape == faulty.shape


def _after_fault_draws(rng, fault):
    """The generator as faulty_windows leaves it before it draws the windows themselves."""
    rng.integers(0, 3, 50)  # the sensor
    return rng


def test_the_lstm_finds_the_faults_a_limit_alarm_cannot(run):
    result, out = run
    lstm, zscore = result["flagged"]["LSTM"], result["flagged"]["z-score"]
    assert lstm["normal"] < 0.03  # about the 1% the threshold allows
    for fault in ("spike", "shift", "frequency", "desync"):
        assert lstm[fault] > 0.95, fault
        assert result["auc"]["LSTM"][fault] > 0.99, fault
    assert lstm["stuck"] > 0.85
    for fault in ("frequency", "desync", "stuck"):  # inside the normal range of each reading
        assert zscore[fault] < 0.1, fault
        assert result["auc"]["z-score"][fault] < 0.65, fault
    assert zscore["spike"] > 0.95
    # matplotlib is optional (not a test dependency): the plot is there exactly when it is
    assert out.exists() == (importlib.util.find_spec("matplotlib") is not None)


def test_roc_auc_counts_ties_half(example):
    assert example.roc_auc(np.array([0.0, 1.0]), np.array([2.0, 3.0])) == 1.0
    assert example.roc_auc(np.array([2.0, 3.0]), np.array([0.0, 1.0])) == 0.0
    assert example.roc_auc(np.array([1.0, 1.0]), np.array([1.0, 1.0])) == 0.5
    assert example.roc_auc(np.array([0.0, 2.0]), np.array([1.0, 3.0])) == 0.75
