"""Layers that lengthen or shorten a sequence along time, Keras's ``UpSampling1D``,
``ZeroPadding1D`` and ``Cropping1D``: a convolutional autoencoder's decoder (upsample back to
the input's length, pad or crop the steps a stride lost). x (B, T, F) -> (B, T', F). No
weights; as Keras's, they hand on no mask (their steps are not the input's).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._arrays import allocate, integer
from .base import input_array
from .reshaping import _Weightless


def _pair(value, name: str) -> tuple[int, int]:
    """Keras's int (both ends) or (start, end), each >= 0."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{name}: expected an int or a pair (start, end), got {value!r}")
        return integer(value[0], name, at_least=0), integer(value[1], name, at_least=0)
    both = integer(value, name, at_least=0)
    return both, both


class _Temporal(_Weightless):
    """x checked as (B, T, F); ``_steps(T, shape)`` gives T' for an input of ``shape``."""

    def _sequence(self, x) -> np.ndarray:
        x = input_array(x)
        if x.ndim != 3:
            raise ValueError(
                f"x: expected a 3-D array (batch, time, features), got shape {x.shape}"
            )
        return x

    def _steps(self, steps: int, shape: tuple) -> int:
        raise NotImplementedError

    def call(self, x, training: bool = False, mask=None):
        return self.forward(x, training=training, mask=mask)[0]

    def compute_output_shape(self, input_shape) -> tuple:
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise ValueError(f"x: expected a 3-D input (batch, time, features), got {input_shape}")
        batch, steps, features = input_shape
        return (batch, None if steps is None else self._steps(steps, input_shape), features)

    def compute_mask(self, x, mask=None):
        return None


class UpSampling1D(_Temporal):
    """Each step repeated ``size`` times: (B, T, F) -> (B, T·size, F). Backward sums the
    copies' gradients."""

    default_name = "up_sampling1d"

    def __init__(self, size: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size = integer(size, "size", at_least=1, below=2**31)

    def _steps(self, steps, shape):
        return steps * self.size

    def forward(self, x, training: bool = False, mask=None):
        self._ensure_built(x)
        x = self._sequence(x)
        batch, steps, features = x.shape
        what = f"layer {self.name!r}'s output for x of shape {x.shape}"
        y = allocate("size", (batch, steps * self.size, features), x.dtype, what=what)
        y.reshape(batch, steps, self.size, features)[...] = x[:, :, None, :]  # each step size times
        return y, y.shape

    def backward(self, cache, dout):
        self.grads = []
        batch, steps, features = cache
        dy = self._dout(dout, cache, cast=False)
        return dy.reshape(batch, steps // self.size, self.size, features).sum(axis=2)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": self.size}


class ZeroPadding1D(_Temporal):
    """Zero steps before and after: ``padding`` an int (both ends) or (before, after)."""

    default_name = "zero_padding1d"

    def __init__(self, padding=1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.padding = _pair(padding, "padding")

    def _steps(self, steps, shape):
        return steps + sum(self.padding)

    def forward(self, x, training: bool = False, mask=None):
        self._ensure_built(x)
        x = self._sequence(x)
        (batch, steps, features), (before, after) = x.shape, self.padding
        what = f"layer {self.name!r}'s output for x of shape {x.shape}"
        y = allocate("padding", (batch, before + steps + after, features), x.dtype, 0, what)
        y[:, before : before + steps] = x
        return y, y.shape

    def backward(self, cache, dout):
        self.grads = []
        before, after = self.padding
        dy = self._dout(dout, cache, cast=False)
        return dy[:, before : dy.shape[1] - after]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "padding": list(self.padding)}


class Cropping1D(_Temporal):
    """Steps cut off at the start and the end: ``cropping`` an int (both ends) or (start, end);
    at least one step must remain."""

    default_name = "cropping1d"

    def __init__(self, cropping=(1, 1), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cropping = _pair(cropping, "cropping")

    def _steps(self, steps, shape):
        kept = steps - sum(self.cropping)
        if kept < 1:
            raise ValueError(
                f"cropping: expected to leave at least one of the input's steps, got "
                f"{list(self.cropping)} for an input of shape {shape}"
            )
        return kept

    def forward(self, x, training: bool = False, mask=None):
        self._ensure_built(x)
        x = self._sequence(x)
        self._steps(x.shape[1], x.shape)
        start, end = self.cropping
        return x[:, start : x.shape[1] - end], (x.shape, x.dtype)

    def backward(self, cache, dout):
        self.grads = []
        shape, dtype = cache
        start, end = self.cropping
        dy = self._dout(dout, (shape[0], shape[1] - start - end, shape[2]), cast=False)
        dx = np.zeros(shape, np.result_type(dy.dtype, dtype))
        dx[:, start : shape[1] - end] = dy
        return dx

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "cropping": list(self.cropping)}
