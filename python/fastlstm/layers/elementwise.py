"""Element-by-element layers with Keras 3's names and arguments: the activations that take
parameters as layers of their own (``ReLU``, ``LeakyReLU``, ``ELU``, ``Softmax``) and the noise
layers that regularise in training (``GaussianNoise``, ``GaussianDropout``; the identity at
inference). None has weights; each hands the mask on.

Derivatives at a kink are torch's (and TensorFlow's): 0 for ReLU at its threshold, the slope
for LeakyReLU at 0, alpha for ELU at 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._arrays import integer, real_number
from ..functional import _flag
from .base import Layer, input_array
from .reshaping import _Weightless


class _Elementwise(_Weightless):
    """``y = f(x)`` from ``_value(x)`` and dL/dx from ``_slope(x, y, dy)``, x cast to the
    layer's dtype."""

    def _value(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _slope(self, x: np.ndarray, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def call(self, x, training: bool = False, mask=None):
        return self._value(input_array(x).astype(self.dtype, copy=False))

    def forward(self, x, training: bool = False, mask=None):
        self._ensure_built(x)
        x = input_array(x).astype(self.dtype, copy=False)
        y = self._value(x)
        return y, (x, y)

    def backward(self, cache, dout):
        self.grads = []
        x, y = cache
        return self._slope(x, y, self._dout(dout, y.shape))


class ReLU(_Elementwise):
    """Keras's ReLU layer: ``max_value`` (None: no cap) where x >= max_value, x where
    threshold <= x < max_value, ``negative_slope * (x - threshold)`` below the threshold."""

    default_name = "re_lu"

    def __init__(
        self,
        max_value: float | None = None,
        negative_slope: float = 0.0,
        threshold: float = 0.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.max_value = real_number(max_value, "max_value", at_least=0, allow_none=True)
        self.negative_slope = real_number(negative_slope, "negative_slope", at_least=0)
        self.threshold = real_number(threshold, "threshold")

    def _value(self, x):
        below = (x - self.threshold) * self.negative_slope if self.negative_slope else 0.0
        y = np.where(x < self.threshold, below, x)  # NaN stays NaN; 0.0, not 0 * x's -0.0
        if self.max_value is not None:
            y = np.minimum(y, self.max_value)
        return y.astype(x.dtype, copy=False)

    def _slope(self, x, y, dy):
        inside = x > self.threshold
        if self.max_value is not None:
            inside &= x < self.max_value
        slope = np.where(inside, 1.0, np.where(x < self.threshold, self.negative_slope, 0.0))
        return dy * slope.astype(dy.dtype)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "max_value": self.max_value,
            "negative_slope": self.negative_slope,
            "threshold": self.threshold,
        }


class LeakyReLU(_Elementwise):
    """x where x > 0, ``negative_slope * x`` elsewhere (Keras 3's default slope 0.3; Keras 2
    called it ``alpha``)."""

    default_name = "leaky_re_lu"

    def __init__(self, negative_slope: float = 0.3, *, alpha: float | None = None, **kwargs):
        super().__init__(**kwargs)
        if alpha is not None:  # Keras 2's name
            negative_slope = alpha
        self.negative_slope = real_number(negative_slope, "negative_slope", at_least=0)

    def _value(self, x):
        return np.where(x > 0, x, x * x.dtype.type(self.negative_slope))

    def _slope(self, x, y, dy):
        return np.where(x > 0, dy, dy * dy.dtype.type(self.negative_slope))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(_Elementwise):
    """x where x > 0, ``alpha * (exp(x) - 1)`` elsewhere."""

    default_name = "elu"

    def __init__(self, alpha: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha = real_number(alpha, "alpha")

    def _value(self, x):
        with np.errstate(over="ignore"):  # exp of a large x, which np.where does not take
            return np.where(x > 0, x, x.dtype.type(self.alpha) * np.expm1(x))

    def _slope(self, x, y, dy):
        return np.where(x > 0, dy, dy * (y + dy.dtype.type(self.alpha)))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(_Elementwise):
    """The softmax over ``axis`` (default the last). Keras's Softmax layer also takes a mask of
    x's own shape for attention scores; a sequence's (B, T) mask is handed on, not applied."""

    default_name = "softmax"

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = integer(axis, "axis")

    def _value(self, x):
        if not -x.ndim <= self.axis < x.ndim:
            raise ValueError(f"axis: expected an axis of x (shape {x.shape}), got {self.axis}")
        shifted = x - x.max(axis=self.axis, keepdims=True)
        e = np.exp(shifted)
        return e / e.sum(axis=self.axis, keepdims=True)

    def _slope(self, x, y, dy):
        return y * (dy - (dy * y).sum(axis=self.axis, keepdims=True))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class _Noise(Layer):
    """A noise layer: ``rate``-like argument checked by the subclass, masks drawn from ``seed``
    (a stream apart from the weights', as Dropout's), the identity at inference."""

    def __init__(self, *, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)

    def call(self, x, training: bool = False, mask=None):
        return self.forward(x, training=training, mask=mask)[0]

    def backward(self, cache, dout):
        self.grads = []
        factor, shape = cache
        dy = self._dout(dout, shape)
        return dy if factor is None else dy * factor


class GaussianNoise(_Noise):
    """In training, x + N(0, stddev²) drawn anew at every call (Keras's; an autoencoder's
    corruption, a small dataset's augmentation); at inference, x."""

    default_name = "gaussian_noise"

    def __init__(self, stddev: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self.stddev = real_number(stddev, "stddev", at_least=0)

    def forward(self, x, training: bool = False, mask=None):
        self._ensure_built(x)
        x = input_array(x).astype(self.dtype, copy=False)
        if _flag(training, "training") and self.stddev > 0:
            x = x + self.noise_rng.normal(0.0, self.stddev, x.shape).astype(x.dtype)
        return x, (None, x.shape)  # d(x + noise)/dx = 1

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "stddev": self.stddev}


class GaussianDropout(_Noise):
    """In training, x times N(1, rate / (1 - rate)) drawn anew at every call (Keras's); at
    inference, x."""

    default_name = "gaussian_dropout"

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self.rate = real_number(rate, "rate", at_least=0, below=1)

    def forward(self, x, training: bool = False, mask=None):
        self._ensure_built(x)
        x = input_array(x).astype(self.dtype, copy=False)
        if not _flag(training, "training") or self.rate == 0:
            return x, (None, x.shape)
        spread = math.sqrt(self.rate / (1.0 - self.rate))
        factor = self.noise_rng.normal(1.0, spread, x.shape).astype(x.dtype)
        return x * factor, (factor, x.shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate}
