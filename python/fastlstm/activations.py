"""Activations for Dense layers, with Keras 3's names and formulas: each maps z to y, and
``backward`` gives dL/dz from y (and from z for the few whose derivative y does not give:
NEEDS_Z, for which a layer keeps z too). Softmax works over the last axis.
"""

from __future__ import annotations

import numpy as np

from . import _core


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


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805
_LEAKY_SLOPE = 0.2  # Keras 3's negative_slope


def elu(z: np.ndarray) -> np.ndarray:
    """z where z > 0, else exp(z) - 1 (alpha 1)."""
    return np.where(z > 0, z, np.expm1(np.minimum(z, 0)))


def selu(z: np.ndarray) -> np.ndarray:
    """scale * (z where z > 0, else alpha * (exp(z) - 1)), Klambauer et al.'s constants."""
    y = np.where(z > 0, z, _SELU_ALPHA * np.expm1(np.minimum(z, 0)))
    return (y * _SELU_SCALE).astype(z.dtype, copy=False)


def softplus(z: np.ndarray) -> np.ndarray:
    """log(1 + exp(z)), without overflow."""
    return np.logaddexp(z, z.dtype.type(0))


def softsign(z: np.ndarray) -> np.ndarray:
    return z / (np.abs(z) + 1)


def silu(z: np.ndarray) -> np.ndarray:
    """z * sigmoid(z) (Keras's swish)."""
    return z * sigmoid(z)


def leaky_relu(z: np.ndarray) -> np.ndarray:
    return np.where(z > 0, z, z * z.dtype.type(_LEAKY_SLOPE))


def relu6(z: np.ndarray) -> np.ndarray:
    return np.clip(z, 0, 6).astype(z.dtype, copy=False)


def hard_sigmoid(z: np.ndarray) -> np.ndarray:
    """relu6(z + 3) / 6 (Keras 3's; Keras 2's had slope 0.2)."""
    return np.clip(z / 6 + z.dtype.type(0.5), 0, 1).astype(z.dtype, copy=False)


def hard_silu(z: np.ndarray) -> np.ndarray:
    """z * hard_sigmoid(z) (Keras's hard_swish)."""
    return z * hard_sigmoid(z)


def exponential(z: np.ndarray) -> np.ndarray:
    return np.exp(z)


def mish(z: np.ndarray) -> np.ndarray:
    """z * tanh(softplus(z))."""
    return z * np.tanh(softplus(z))


_SQRT_HALF, _INV_SQRT_2PI = 0.7071067811865476, 0.3989422804014327


def gelu(z: np.ndarray) -> np.ndarray:
    """z * Phi(z), Phi the standard normal CDF: 0.5 * z * (1 + erf(z / sqrt(2))) (Keras 3's
    "gelu", approximate=False; torch's GELU())."""
    phi = _erf(z * _SQRT_HALF)
    phi += 1
    phi *= z
    phi *= 0.5
    return phi


def _erf(u) -> np.ndarray:
    """erf of every element, in u's dtype where that is float32 or float64 (the core's), else
    in float64 (ints, float16), shaped as u (a 0-d array too)."""
    u = np.asarray(u)
    work = u if u.dtype in (np.float32, np.float64) else u.astype(np.float64)
    out = _core.erf(np.ascontiguousarray(work).reshape(-1))
    return out.reshape(u.shape)


# Those whose derivative needs z: a layer keeps z for them.
NEEDS_Z = frozenset({"silu", "hard_silu", "mish", "gelu"})


def backward(name: str, y: np.ndarray, dy: np.ndarray, z: np.ndarray | None = None) -> np.ndarray:
    """dL/dz from the output y, dL/dy and (for NEEDS_Z) the input z, in dy's dtype."""
    return np.asarray(_backward(name, y, dy, z)).astype(dy.dtype, copy=False)


def _backward(name: str, y, dy, z):
    if name == "linear":
        return dy
    if name == "relu":
        return dy * (y > 0)
    if name == "tanh":
        return dy * (1 - y * y)
    if name == "sigmoid":
        return dy * (y * (1 - y))
    if name == "softmax":  # J^T dy = y * (dy - <dy, y>)
        return y * (dy - (dy * y).sum(axis=-1, keepdims=True))
    if name == "elu":  # exp(z) = y + 1 where z <= 0
        return dy * np.where(y > 0, 1, y + 1)
    if name == "selu":
        return dy * np.where(y > 0, _SELU_SCALE, y + _SELU_SCALE * _SELU_ALPHA)
    if name == "softplus":  # sigmoid(z) = 1 - exp(-y)
        return dy * -np.expm1(-y)
    if name == "softsign":  # 1 / (1 + |z|)^2 = (1 - |y|)^2
        return dy * np.square(1 - np.abs(y))
    if name == "leaky_relu":
        return dy * np.where(y > 0, 1, _LEAKY_SLOPE)
    if name == "relu6":
        return dy * ((y > 0) & (y < 6))
    if name == "hard_sigmoid":
        return dy * ((y > 0) & (y < 1)) / 6
    if name == "exponential":
        return dy * y
    if name == "silu":
        s = sigmoid(z)
        return dy * (s * (1 + z * (1 - s)))
    if name == "hard_silu":  # hard_sigmoid(z) + z * hard_sigmoid'(z)
        return dy * (hard_sigmoid(z) + z * ((z > -3) & (z < 3)) / 6)
    if name == "gelu":  # Phi(z) + z * phi(z), phi the standard normal density
        cdf = 0.5 * (1 + _erf(z * z.dtype.type(_SQRT_HALF)))
        return dy * (cdf + z * _INV_SQRT_2PI * np.exp(-0.5 * z * z))
    # mish: tanh(sp) + z * (1 - tanh(sp)^2) * sigmoid(z), sp = softplus(z)
    t = np.tanh(softplus(z))
    return dy * (t + z * (1 - t * t) * sigmoid(z))


_BY_NAME = {
    "linear": linear,
    "relu": relu,
    "tanh": tanh,
    "sigmoid": sigmoid,
    "softmax": softmax,
    "elu": elu,
    "selu": selu,
    "softplus": softplus,
    "softsign": softsign,
    "silu": silu,
    "leaky_relu": leaky_relu,
    "relu6": relu6,
    "hard_sigmoid": hard_sigmoid,
    "hard_silu": hard_silu,
    "exponential": exponential,
    "mish": mish,
    "gelu": gelu,
}
_ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}  # Keras's other names


def get(identifier, name: str = "activation") -> str:
    """The canonical name of an activation given as None, a name, or one of these functions."""
    if identifier is None:
        return "linear"
    if isinstance(identifier, str) and identifier in _BY_NAME:
        return identifier
    if isinstance(identifier, str) and identifier in _ALIASES:
        return _ALIASES[identifier]
    for key, fn in _BY_NAME.items():
        if identifier is fn:
            return key
    raise ValueError(
        f"{name}: expected None or one of {sorted([*_BY_NAME, *_ALIASES])}, got {identifier!r}"
    )


def apply(name: str, z: np.ndarray) -> np.ndarray:
    return _BY_NAME[name](z)
