"""Layers that only move values around: RepeatVector (an LSTM autoencoder's bridge)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._arrays import integer
from .base import Layer, input_array


class RepeatVector(Layer):
    """Repeats each input vector ``n`` times: x (B, F) -> (B, n, F), as Keras's RepeatVector
    (the encoder's last state handed to every step of a decoder). Backward sums the n steps'
    gradients. It hands on no mask."""

    default_name = "repeat_vector"

    def __init__(
        self,
        n: int,
        *,
        dtype: Any = "float32",
        name: str | None = None,
        trainable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, dtype=dtype, seed=None, trainable=trainable, **kwargs)
        self.n = integer(n, "n", at_least=1, below=2**31)

    def _check(self, x) -> np.ndarray:
        x = input_array(x)
        if x.ndim != 2:
            raise ValueError(f"x: expected a (batch, features) array, got shape {x.shape}")
        return x

    def call(self, x, training: bool = False, mask=None):
        x = self._check(x)
        return np.repeat(x[:, None, :], self.n, axis=1)

    def forward(self, x, training: bool = False, mask=None):
        self._ensure_built(x)
        return self.call(x), None

    def backward(self, cache, dout):
        self.grads = []
        return np.asarray(dout).sum(axis=1)

    def compute_output_shape(self, input_shape) -> tuple:
        if len(input_shape) != 2:
            raise ValueError(
                f"x: expected a (batch, features) input, got shape {tuple(input_shape)}"
            )
        return (input_shape[0], self.n, input_shape[1])

    def compute_mask(self, x, mask=None):
        return None

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["seed"]
        return {**config, "n": self.n}
