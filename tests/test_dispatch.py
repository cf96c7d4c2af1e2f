"""ISA dispatch: each level's module loads when forced, reports itself, and computes correctly;
no level leaks Eigen symbols that another could bind to."""

from __future__ import annotations

import importlib
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys

import pytest

from conftest import child_output, child_timeout
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
        timeout=child_timeout(120),
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
        timeout=child_timeout(60),
    ).stdout.strip()
    best = [level for level in _core.LEVELS if _core.cpu_supports(level)][-1]
    assert out == best


def test_unknown_level_is_a_clear_error():
    result = run_forced("avx9000")
    assert result.returncode != 0
    assert "FASTLSTM_CPU_CAPABILITY: expected one of baseline, v3, v4, got 'avx9000'" in (
        result.stderr
    )


# Every level this CPU runs, imported into one process (the package loads the baseline and the
# best; the rest are imported after): each must bind its classes and raise its errors as
# Python's. Where the modules share pybind11's registry and each carries its own C++ runtime, the
# second import failed ("already registered") and errors raised in all but the first module came
# out as RuntimeError("Caught an unknown exception!").
ALL_LEVELS = """
import importlib, json
import numpy as np
import fastlstm
from fastlstm import _core
seen = {}
for level in _core.LEVELS:
    if not _core.cpu_supports(level):
        continue
    module = importlib.import_module("fastlstm._core_" + level)
    k, r, b = np.ones((3, 8), np.float32), np.ones((2, 8), np.float32), np.zeros(8, np.float32)
    stream = module.Stream_lstm_f32(k, r, b, 1)
    errors = []
    for call in (lambda: module.set_num_threads(0), lambda: module.Stream_lstm_f32(k, r, b, 0),
                 lambda: stream.run(np.ones((2, 4, 3), np.float32))):
        try:
            call()
            errors.append(None)
        except Exception as e:
            errors.append([type(e).__name__, str(e)])
    seen[level] = [stream.units, errors]
print(json.dumps(seen))
"""


def test_every_level_in_one_process_binds_and_raises_its_own_errors():
    seen = json.loads(child_output(ALL_LEVELS))
    assert sorted(seen) == sorted(level for level in _core.LEVELS if _core.cpu_supports(level))
    for level, (units, errors) in seen.items():
        assert units == 2, level
        kinds = [kind for kind, _ in errors]
        assert kinds == ["ValueError"] * 3, (level, errors)
        assert errors[0][1].startswith("n: expected a number of threads"), (level, errors)
        assert errors[1][1].startswith("batch_size:"), (level, errors)
        assert errors[2][1].startswith("x: expected shape (1, time, 3)"), (level, errors)


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


# CPU models QEMU emulates, with the levels each has (x86-64 psABI): qemu64 is below the baseline.
EMULATED = {"qemu64": [], "Nehalem-v1": ["baseline"], "Haswell-v4": ["baseline", "v3"]}


def load_by_path(name: str) -> str:
    """Python that loads fastlstm's compiled module `name` from its file (not through the
    package, whose __init__ imports NumPy: under QEMU's older CPU models NumPy itself may not)."""
    module = importlib.import_module(f"fastlstm.{name}")
    return (
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location({name!r}, {module.__file__!r})\n"
        f"{name} = importlib.util.module_from_spec(spec)\n"
        f"spec.loader.exec_module({name})\n"
    )


def under_qemu(model: str, code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["qemu-x86_64", "-cpu", model, sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        timeout=child_timeout(600),
    )


@pytest.mark.skipif(
    platform.machine() not in ("x86_64", "AMD64"), reason="x86-64's levels (this is another ISA)"
)
@pytest.mark.skipif(shutil.which("qemu-x86_64") is None, reason="needs qemu-user (qemu-x86_64)")
@pytest.mark.parametrize("model", sorted(EMULATED))
def test_the_cpu_check_on_emulated_cpus(model):
    """On a CPU below x86-64-v2 (QEMU's default model, Core 2), importing fastlstm stopped with an
    illegal instruction in the baseline module, which ran the check: the check now has a module
    of its own, built without -march, and the import raises ImportError. On each model the check
    finds the psABI's levels, and the modules of those levels load."""
    levels = "print([l for l in ('baseline', 'v3', 'v4') if _cpu.cpu_supports(l)])\n"
    done = under_qemu(model, load_by_path("_cpu") + levels)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(EMULATED[model])
    for level in EMULATED[model]:
        done = under_qemu(model, load_by_path(f"_core_{level}") + "print('ok')\n")
        assert (done.returncode, done.stdout.strip()) == (0, "ok"), (level, done.stderr[-2000:])
    if not EMULATED[model]:
        done = under_qemu(model, "import fastlstm")
        assert "ImportError: fastlstm: this CPU does not support the baseline" in done.stderr
