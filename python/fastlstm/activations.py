"""Activations for Dense layers: each maps z to y and back-propagates from y alone.

Every activation here has a derivative expressible through its output y, so a layer keeps only
y for the backward pass. Softmax works over the last axis.
"""

from __future__ import annotations

import numpy as np


def linear(z: np.ndarray) -> np.ndarray:
    return z


def relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0, dtype=z.dtype)


def tanh(z: np.ndarray) -> np.ndarray:
    return np.tanh(z)


def sigmoid(z: np.ndarray) -> np.ndarray:
    # 0.5 * (1 + tanh(z/2)) equals 1/(1+exp(-z)) without overflow for large |z|
    y = np.tanh(z * z.dtype.type(0.5))
    y += 1
    y *= 0.5
    return y


def softmax(z: np.ndarray) -> np.ndarray:
    y = z - z.max(axis=-1, keepdims=True)  # shift by the max: exp never overflows
    np.exp(y, out=y)
    y /= y.sum(axis=-1, keepdims=True)
    return y


def backward(name: str, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """dL/dz from the output y and dL/dy."""
    if name == "linear":
        return dy
    if name == "relu":
        return dy * (y > 0)
    if name == "tanh":
        return dy * (1 - y * y)
    if name == "sigmoid":
        return dy * (y * (1 - y))
    # softmax: J^T dy = y * (dy - <dy, y>)
    return y * (dy - (dy * y).sum(axis=-1, keepdims=True))


_BY_NAME = {"linear": linear, "relu": relu, "tanh": tanh, "sigmoid": sigmoid, "softmax": softmax}


def get(identifier, name: str = "activation") -> str:
    """The canonical name of an activation given as None, a name, or one of these functions."""
    if identifier is None:
        return "linear"
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return identifier
    for key, fn in _BY_NAME.items():
        if identifier is fn:
            return key
    raise ValueError(f"{name}: expected None or one of {sorted(_BY_NAME)}, got {identifier!r}")


def apply(name: str, z: np.ndarray) -> np.ndarray:
    return _BY_NAME[name](z)
