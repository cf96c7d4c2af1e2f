"""The CO2 demo runs through both entry points and reports its RMSEs."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import numpy as np

from conftest import child_timeout
from fastlstm import demo


def test_demo_prints_rmses_and_saves_plot(tmp_path, capsys):
    """The plot needs matplotlib (optional): without it the demo says so and still reports."""
    has_plotting = importlib.util.find_spec("matplotlib") is not None
    out = tmp_path / "co2.png"
    results = demo.main(["--epochs", "1", "--units", "4", "--window", "8", "--out", str(out)])
    printed = capsys.readouterr().out
    assert "test RMSE, one week ahead" in printed
    assert "test RMSE, whole test period" in printed
    for name in ("LSTM", "persistence", "seasonal naive"):
        assert f"  {name:<15}" in printed
    assert results["plot"] == has_plotting
    assert out.exists() == has_plotting
    if has_plotting:
        assert out.stat().st_size > 0
    for scores in (results["one_step"], results["iterated"]):
        assert all(np.isfinite(v) and v > 0 for v in scores.values())


def test_seasonal_forecast_repeats_last_year_plus_trend():
    history = np.arange(104.0)
    forecast = demo.seasonal_forecast(history, 60, 2.0)
    np.testing.assert_array_equal(forecast[:52], history[52:] + 2.0)
    np.testing.assert_array_equal(forecast[52:], history[52:60] + 4.0)


def test_module_demo_help():
    out = subprocess.run(
        [sys.executable, "-m", "fastlstm", "demo", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=child_timeout(60),
    ).stdout
    assert "--epochs" in out
    assert "--out" in out
