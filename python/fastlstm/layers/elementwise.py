"""Element-by-element layers with Keras 3's names and arguments: the activations that take
parameters as layers of their own (``ReLU``, ``LeakyReLU``, ``ELU``, ``Softmax``; ``PReLU``
learns its slopes) and the noise layers that regularise in training (``GaussianNoise``,
``GaussianDropout``; the identity at inference). None but PReLU has weights; each hands the
mask on.

Derivatives at a kink are torch's (and TensorFlow's): 0 for ReLU at its threshold, the slope
for LeakyReLU at 0, alpha for ELU at 0.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import initializers, regularizers
from .._arrays import integer, real_number
from ..functional import _flag
from .base import Layer, _init_name, input_array
from .reshaping import _Weightless


class _Elementwise(_Weightless):
    """``y = f(x)`` from ``_value(x)`` and dL/dx from ``_slope(x, y, dy)``, x cast to the
    layer's dtype."""

    def _value(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _slope(self, x: np.ndarray, y: np.ndarray, dy: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def call(self, x, training: bool = False, mask=None):
        return self._value(input_array(x, dtype=self.dtype))

    def forward(self, x, training: bool = False, mask=None):
        self._ensure_built(x)
        x = input_array(x, dtype=self.dtype)
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
        name = "negative_slope"
        if alpha is not None:  # Keras 2's name, named as given in errors
            negative_slope, name = alpha, "alpha"
        self.negative_slope = real_number(negative_slope, name, at_least=0)

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


class PReLU(Layer):
    """x where x > 0, ``alpha * x`` elsewhere, with ``alpha`` learnt (Keras's PReLU): one
    value per position and feature of a sample (alpha's shape is the input's without the
    batch), or shared along ``shared_axes`` (``shared_axes=[1]``: one alpha per feature for
    every step of a sequence). ``alpha_initializer`` "zeros" by default (a ReLU to start)."""

    default_name = "p_re_lu"
    weight_names = ("alpha",)

    def __init__(
        self,
        alpha_initializer: Any = "zeros",
        alpha_regularizer: Any = None,
        shared_axes=None,
        *,
        dtype: Any = "float32",
        name: str | None = None,
        trainable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, dtype=dtype, seed=None, trainable=trainable, **kwargs)
        if shared_axes is None:
            shared = ()
        else:
            listed = shared_axes if isinstance(shared_axes, (list, tuple)) else [shared_axes]
            shared = tuple(sorted({integer(a, "shared_axes", at_least=1) for a in listed}))
        self.shared_axes = shared
        self.alpha_initializer = alpha_initializer
        self._init = initializers.resolve(alpha_initializer, "alpha_initializer")
        self._regularizers = {"alpha": regularizers.get(alpha_regularizer, "alpha_regularizer")}

    alpha = property(lambda self: self._weights.get("alpha"), doc="The learnt slopes.")
    alpha_regularizer = property(lambda self: self._regularizers["alpha"])

    def _weight_shapes(self, first_shape):
        return {"alpha": tuple(first_shape)}

    def build(self, input_shape) -> None:
        input_shape = tuple(input_shape)
        sample = input_shape[1:]
        if not sample or any(s is None for s in sample):
            raise ValueError(
                f"{self.name}: expected an input shape with every size but the batch's known "
                f"(alpha has one value per position), got {input_shape}"
            )
        if self.shared_axes and self.shared_axes[-1] > len(sample):
            raise ValueError(
                f"shared_axes: expected axes of the input without the batch's (1 to "
                f"{len(sample)}), got {list(self.shared_axes)}"
            )
        shape = tuple(1 if i + 1 in self.shared_axes else int(s) for i, s in enumerate(sample))
        self._replace_weights([self._init(shape, self.dtype, self._weight_rng())])
        self.built_input_shape = input_shape

    def _input(self, x) -> tuple[np.ndarray, np.ndarray]:
        alpha = self._weights["alpha"]
        x = input_array(x, dtype=self.dtype)
        shared = self.shared_axes
        sample = tuple(None if i + 1 in shared else a for i, a in enumerate(alpha.shape))
        fits = x.ndim == alpha.ndim + 1 and all(
            a is None or a == s for a, s in zip(sample, x.shape[1:])
        )
        if not fits:
            raise ValueError(
                f"x: expected samples of shape {sample} (the layer {self.name!r} was built for "
                f"them; None: any size, shared), got shape {x.shape}"
            )
        return x, alpha

    def call(self, x, training: bool = False, mask=None):
        return self.forward(x)[0]

    def forward(self, x, training: bool = False, mask=None):
        self._ensure_built(x)
        x, alpha = self._input(x)
        return np.where(x > 0, x, x * alpha), (x, alpha)

    def backward(self, cache, dout):
        x, alpha = cache
        dy = self._dout(dout, x.shape)
        below = x <= 0
        # alpha's gradient summed over the batch and the axes it is shared along
        axes = (0, *self.shared_axes)
        self._keep_grads({"alpha": np.where(below, dy * x, 0).sum(axis=axes, keepdims=True)[0]})
        return np.where(below, dy * alpha, dy)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["seed"]
        return {
            **config,
            "alpha_initializer": _init_name(self.alpha_initializer, "alpha_initializer", self.name),
            "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
            "shared_axes": list(self.shared_axes) or None,
        }


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
        x = input_array(x, dtype=self.dtype)
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
        x = input_array(x, dtype=self.dtype)
        if not _flag(training, "training") or self.rate == 0:
            return x, (None, x.shape)
        spread = math.sqrt(self.rate / (1.0 - self.rate))
        factor = self.noise_rng.normal(1.0, spread, x.shape).astype(x.dtype)
        return x * factor, (factor, x.shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate}
