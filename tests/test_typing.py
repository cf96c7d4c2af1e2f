"""The package ships its types (py.typed, the compiled core's stub): code that uses the README's
API as documented type-checks under ``mypy --strict`` with no error, and runs."""

from __future__ import annotations

import inspect
import os
import runpy
import site
import subprocess
import sys
from pathlib import Path

import numpy as np

import fastlstm

USAGE = Path(__file__).with_name("typed_usage.py")


def test_readme_usage_type_checks_under_mypy_strict(tmp_path):
    env = dict(os.environ)
    # The package tested, where mypy finds it: an installed one in site-packages (mypy reads
    # those itself and refuses them on MYPYPATH), a source tree through MYPYPATH.
    root = Path(fastlstm.__file__).resolve().parent.parent
    installed = {Path(p).resolve() for p in [*site.getsitepackages(), site.getusersitepackages()]}
    if root not in installed:
        env["MYPYPATH"] = str(root)
    command = [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent"]
    command += ["--cache-dir", str(tmp_path / "cache"), "--no-error-summary", str(USAGE)]
    checked = subprocess.run(
        command,
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout == ""


def test_the_typed_usage_runs():
    total = runpy.run_path(str(USAGE))["main"]()
    assert isinstance(total, float)
    assert np.isfinite(total)


def test_help_shows_the_keywords_a_layer_passes_on():
    """help(layers.LSTM) had shown (units, *, unit_forget_bias, ..., **kwargs), hiding
    return_sequences, seed and every other keyword of the recurrent layers and of Layer."""
    from fastlstm import layers

    lstm = inspect.signature(layers.LSTM).parameters
    for name in ("units", "proj_size", "return_sequences", "dropout", "seed", "name", "dtype"):
        assert name in lstm, name
    assert next(iter(lstm)) == "units"
    assert lstm["return_sequences"].default is False
    gru = inspect.signature(layers.GRU).parameters
    assert {"reset_after", "go_backwards", "kernel_initializer"} <= gru.keys()
    assert "name" in inspect.signature(layers.Dense).parameters
    for cls in (layers.GRU, layers.LSTM):  # every keyword shown is one the layer takes
        shown = inspect.signature(cls).parameters.items()
        cls(2, **{k: p.default for k, p in shown if p.default is not p.empty})
