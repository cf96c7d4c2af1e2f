"""Weight initialisers with Keras's names and formulas. Each takes (shape, dtype, rng).

Fans as Keras computes them for a matrix: fan_in = shape[0], fan_out = shape[-1]. The
"truncated" normals redraw values beyond two standard deviations, and their scale is divided by
0.8796 (the standard deviation of a unit normal truncated there) so that the variance is the one
asked for.
"""

from __future__ import annotations

import inspect
from typing import Callable

import numpy as np

Initializer = Callable[[tuple[int, ...], np.dtype, np.random.Generator], np.ndarray]


def glorot_uniform(shape, dtype, rng: np.random.Generator) -> np.ndarray:
    """Uniform in +-sqrt(6 / (fan_in + fan_out)) for a (fan_in, fan_out) matrix."""
    fan_in, fan_out = shape[0], shape[-1]
    limit = np.sqrt(6.0 / max(1, fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def orthogonal(shape, dtype, rng: np.random.Generator) -> np.ndarray:
    """A matrix with orthonormal rows or columns (whichever are fewer), from the QR of a normal
    sample, signs fixed so that the distribution is uniform (Saxe et al., 2014)."""
    rows, cols = shape[0], int(np.prod(shape[1:]))
    a = rng.standard_normal((max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return q.reshape(shape).astype(dtype)


def _truncated_normal(shape, stddev: float, rng: np.random.Generator) -> np.ndarray:
    """N(0, stddev) values, each redrawn until within two standard deviations."""
    out = rng.standard_normal(size=shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.standard_normal(size=int(bad.sum()))
        bad = np.abs(out) > 2.0
    return out * stddev


def _variance_scaling(scale: float, fan: str, distribution: str) -> Initializer:
    """Keras's VarianceScaling: variance scale / fan, from a truncated normal or a uniform."""

    def init(shape, dtype, rng: np.random.Generator) -> np.ndarray:
        fan_in, fan_out = shape[0], shape[-1]
        n = max(1.0, {"in": fan_in, "avg": (fan_in + fan_out) / 2.0}[fan])
        if distribution == "uniform":
            limit = np.sqrt(3.0 * scale / n)
            return rng.uniform(-limit, limit, size=shape).astype(dtype)
        return _truncated_normal(shape, np.sqrt(scale / n) / 0.87962566103423978, rng).astype(dtype)

    return init


glorot_normal = _variance_scaling(1.0, "avg", "normal")
he_normal = _variance_scaling(2.0, "in", "normal")
he_uniform = _variance_scaling(2.0, "in", "uniform")
lecun_normal = _variance_scaling(1.0, "in", "normal")
lecun_uniform = _variance_scaling(1.0, "in", "uniform")


def random_normal(shape, dtype, rng: np.random.Generator) -> np.ndarray:
    """Keras's RandomNormal: N(0, 0.05)."""
    return (rng.standard_normal(size=shape) * 0.05).astype(dtype)


def random_uniform(shape, dtype, rng: np.random.Generator) -> np.ndarray:
    """Keras's RandomUniform: U(-0.05, 0.05)."""
    return rng.uniform(-0.05, 0.05, size=shape).astype(dtype)


def truncated_normal(shape, dtype, rng: np.random.Generator) -> np.ndarray:
    """Keras's TruncatedNormal: N(0, 0.05) within two standard deviations."""
    return _truncated_normal(shape, 0.05, rng).astype(dtype)


def zeros(shape, dtype, rng: np.random.Generator) -> np.ndarray:
    return np.zeros(shape, dtype=dtype)


def ones(shape, dtype, rng: np.random.Generator) -> np.ndarray:
    return np.ones(shape, dtype=dtype)


_BY_NAME: dict[str, Initializer] = {
    "glorot_uniform": glorot_uniform,
    "glorot_normal": glorot_normal,
    "he_normal": he_normal,
    "he_uniform": he_uniform,
    "lecun_normal": lecun_normal,
    "lecun_uniform": lecun_uniform,
    "orthogonal": orthogonal,
    "random_normal": random_normal,
    "normal": random_normal,
    "random_uniform": random_uniform,
    "uniform": random_uniform,
    "truncated_normal": truncated_normal,
    "zeros": zeros,
    "ones": ones,
}


def _takes_rng(fn) -> bool:
    """Whether ``fn`` takes (shape, dtype, rng): three positional arguments (or *args)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return True
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return True
    return sum(p.kind in positional for p in params) >= 3


def get(identifier: str | Initializer, name: str) -> Initializer:
    """An initialiser from its Keras name or a callable: (shape, dtype, rng) -> array, or
    Keras's (shape, dtype=None) -> array (then its values are its own affair: no seed)."""
    if callable(identifier):
        if _takes_rng(identifier):
            return identifier
        keras_style = identifier

        def init(shape, dtype, rng: np.random.Generator) -> np.ndarray:
            return np.asarray(keras_style(shape, dtype=dtype), dtype=dtype)

        init.keras_style = keras_style  # type: ignore[attr-defined]
        return init
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]
    raise ValueError(
        f"{name}: expected one of {sorted(_BY_NAME)} or a callable, got {identifier!r}"
    )
