"""ISA dispatch: each level's module loads when forced, reports itself, and computes correctly;
no level leaks Eigen symbols that another could bind to."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

from fastlstm import _core

SIMD = {"baseline": "sse4.2", "v3": "avx2", "v4": "avx512"}
PROBE = (
    "import json, fastlstm; from fastlstm.__main__ import self_check; "
    "print(json.dumps([fastlstm.cpu_capability(), fastlstm.simd_level(), self_check()]))"
)


def run_forced(level: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, FASTLSTM_CPU_CAPABILITY=level)
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("level", _core.LEVELS)
def test_forced_level_loads_and_is_correct(level):
    if not _core.cpu_supports(level):
        pytest.skip(f"this CPU cannot run {level}")
    result = run_forced(level)
    assert result.returncode == 0, result.stderr
    capability, simd, checks = json.loads(result.stdout)
    assert capability == level
    if sys.platform == "linux" and os.uname().machine == "x86_64":
        assert simd == SIMD[level]
    for dtype, err, tol, _, _ in checks:
        assert err <= tol, f"{level} {dtype}: error {err}"


def test_default_is_the_best_supported_level():
    env = {k: v for k, v in os.environ.items() if k != "FASTLSTM_CPU_CAPABILITY"}
    out = subprocess.run(
        [sys.executable, "-c", "import fastlstm; print(fastlstm.cpu_capability())"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    best = [level for level in _core.LEVELS if _core.cpu_supports(level)][-1]
    assert out == best


def test_unknown_level_is_a_clear_error():
    result = run_forced("avx9000")
    assert result.returncode != 0
    assert "FASTLSTM_CPU_CAPABILITY: expected one of baseline, v3, v4, got 'avx9000'" in (
        result.stderr
    )


@pytest.mark.skipif(shutil.which("nm") is None, reason="needs binutils' nm")
def test_modules_export_no_eigen_symbols():
    folder = pathlib.Path(_core._module.__file__).parent  # where the build installed them
    modules = sorted(folder.glob("_core_*.so"))
    assert modules, "no compiled modules found"
    for path in modules:
        symbols = subprocess.run(
            ["nm", "-D", "--defined-only", str(path)], capture_output=True, text=True, check=True
        ).stdout
        assert "Eigen" not in symbols, f"{path.name} exports Eigen symbols"
