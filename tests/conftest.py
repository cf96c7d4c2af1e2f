"""Shared test helpers: peers (torch, onnxruntime), random LSTM problems, the examples."""

from __future__ import annotations

import importlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


def import_peer(name: str):
    """Import a peer library. Missing peers skip the test, or fail it when
    FASTLSTM_REQUIRE_PEERS=1 (as in CI), so that a green run always means "compared"."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if os.environ.get("FASTLSTM_REQUIRE_PEERS") == "1":
            pytest.fail(f"peer {name!r} is required (FASTLSTM_REQUIRE_PEERS=1): {exc}")
        pytest.skip(f"peer {name!r} is not installed")


def child_timeout(seconds: float) -> float:
    """The seconds a test gives a child process or thread, times FASTLSTM_TEST_TIME_SCALE where
    the machine is slow: .ci/aarch64 runs the suite under emulation, where children that take
    a few seconds here took 75 and 109 s."""
    return seconds * float(os.environ.get("FASTLSTM_TEST_TIME_SCALE", "1"))


def child_output(code: str, *args: str, seconds: float = 120) -> str:
    """The stdout of ``python -c code args...`` in a fresh process (no state, threads or memory
    from earlier tests), which must succeed within child_timeout(seconds)."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=child_timeout(seconds),
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def with_header(blob: bytes, change) -> bytes:
    """The model file ``blob`` with ``change(header)`` applied to its JSON header (a damaged or
    hand-edited file, for tests of the loader)."""
    import io
    import json
    import zipfile

    from fastlstm import saving

    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        header, arrays = json.loads(zf.read(saving.HEADER)), zf.read(saving.BLOB)
    change(header)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(saving.HEADER, json.dumps(header))
        zf.writestr(saving.BLOB, arrays)
    return out.getvalue()


def load_example(name: str):
    """The script examples/<name>.py as a module. examples/ is not a package: the script is
    loaded by path, as a user would run it."""
    path = Path(__file__).resolve().parent.parent / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"example_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def torch():
    torch = import_peer("torch")
    torch.set_num_threads(1)
    return torch


def make_problem(B, T, I, H, dtype=np.float64, seed=0, scale=0.5):
    """Random x (B, T, I), weights and initial state (h0, c0) for an LSTM."""
    rng = np.random.default_rng(seed)

    def r(*shape):
        return (scale * rng.standard_normal(shape)).astype(dtype)

    return {
        "x": r(B, T, I),
        "kernel": r(I, 4 * H),
        "recurrent_kernel": r(H, 4 * H),
        "bias": r(4 * H),
        "h0": r(B, H),
        "c0": r(B, H),
    }


def assert_inference_matches_training(inference, training, whole=True):
    """Inference and training's forward over a padded batch (lengths, or a mask of one run a
    row) both walk the valid steps only, sorted by length and packed (by_length.hpp). Where
    inference computes x*K + b for all steps at once (`whole`, as training does: the tests'
    sizes) they take the same products: the same bits, at every SIMD level. Beyond, inference
    computes it for blocks of steps, with other GEMMs: the two agree to rounding."""
    inference, training = np.asarray(inference), np.asarray(training)
    if whole:
        np.testing.assert_array_equal(inference, training)
        return
    scale = max(1.0, float(np.max(np.abs(training)))) if training.size else 1.0
    tol = 1e-5 if training.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(inference, training, rtol=0, atol=tol * scale)


@pytest.fixture
def restore_threads():
    """Puts fastlstm's thread count back after a test that changes it."""
    import fastlstm

    before = fastlstm.get_num_threads()
    yield
    fastlstm.set_num_threads(before)


def check_model_gradients(model, x, y, grads, rng, eps=1e-6, per_weight=6):
    """Compares a compiled float64 model's gradients (as loss_and_gradients returned them, in
    trainable_weights order) with central differences of its loss at `per_weight` random entries
    of every weight."""
    weights = model.trainable_weights
    assert [g.shape for g in grads] == [w.shape for w in weights]
    for w, g in zip(weights, grads):
        for flat in rng.choice(w.size, size=min(per_weight, w.size), replace=False):
            i = np.unravel_index(flat, w.shape)
            old = w[i]
            w[i] = old + eps
            up = model.loss(y, model(x))
            w[i] = old - eps
            down = model.loss(y, model(x))
            w[i] = old
            assert g[i] == pytest.approx((up - down) / (2 * eps), rel=1e-5, abs=1e-9)
