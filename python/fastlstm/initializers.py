"""Weight initialisers with Keras's names and formulas. Each takes (shape, dtype, rng)."""

from __future__ import annotations

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


def zeros(shape, dtype, rng: np.random.Generator) -> np.ndarray:
    return np.zeros(shape, dtype=dtype)


def ones(shape, dtype, rng: np.random.Generator) -> np.ndarray:
    return np.ones(shape, dtype=dtype)


_BY_NAME: dict[str, Initializer] = {
    "glorot_uniform": glorot_uniform,
    "orthogonal": orthogonal,
    "zeros": zeros,
    "ones": ones,
}


def get(identifier: str | Initializer, name: str) -> Initializer:
    """An initialiser from its Keras name or a callable (shape, dtype, rng) -> array."""
    if callable(identifier):
        return identifier
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return _BY_NAME[identifier]
    raise ValueError(
        f"{name}: expected one of {sorted(_BY_NAME)} or a callable, got {identifier!r}"
    )
