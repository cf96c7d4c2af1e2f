"""`python -m fastlstm` reports the build and passes its self-check."""

from __future__ import annotations

import subprocess
import sys

import fastlstm
from conftest import child_timeout
from fastlstm.__main__ import self_check


def test_self_check_errors_are_small():
    for dtype, err, tol, fast_us, oracle_us in self_check():
        assert err <= tol, dtype
        assert fast_us > 0
        assert oracle_us > 0


def test_command_prints_version_simd_and_threads():
    out = subprocess.run(
        [sys.executable, "-m", "fastlstm"],
        capture_output=True,
        text=True,
        check=True,
        timeout=child_timeout(120),
    ).stdout
    assert f"fastlstm {fastlstm.__version__}" in out
    assert f"SIMD level: {fastlstm.simd_level()}" in out
    assert "threads:" in out
    assert "self-check passed" in out


def test_command_help_and_unknown_commands():
    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "fastlstm", *args],
            capture_output=True,
            text=True,
            timeout=child_timeout(120),
            check=False,
        )

    shown = run("--help")
    assert shown.returncode == 0
    assert "usage: python -m fastlstm" in shown.stdout
    assert "SIMD level:" not in shown.stdout  # help only: no report, no self-check
    wrong = run("bogus")
    assert wrong.returncode == 2
    assert "unknown command: 'bogus'" in wrong.stderr
    assert wrong.stdout == ""


def test_submodules_come_with_the_package():
    code = "import fastlstm; fastlstm.convert.from_torch; fastlstm.datasets.co2"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=child_timeout(120))
