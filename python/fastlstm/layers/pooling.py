"""Pooling over time: a sequence (B, T, F) to one vector (B, F), as Keras's global pooling
layers do after a recurrent layer with ``return_sequences=True`` (a text classifier's usual
head)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Layer, input_array


class _GlobalPooling1D(Layer):
    """x (B, T, F) -> (B, F), or (B, 1, F) with ``keepdims``; hands on no mask."""

    def __init__(
        self,
        keepdims: bool = False,
        *,
        dtype: Any = "float32",
        name: str | None = None,
        trainable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, dtype=dtype, seed=None, trainable=trainable, **kwargs)
        if not isinstance(keepdims, (bool, np.bool_)):
            raise TypeError(f"keepdims: expected True or False, got {keepdims!r}")
        self.keepdims = bool(keepdims)

    def _check(self, x) -> np.ndarray:
        x = input_array(x)
        if x.ndim != 3:
            raise ValueError(f"x: expected a (batch, time, features) array, got shape {x.shape}")
        return x

    def call(self, x, training: bool = False, mask=None):
        return self.forward(x, training=training, mask=mask)[0]

    def _shaped(self, out: np.ndarray) -> np.ndarray:
        return out[:, None, :] if self.keepdims else out

    def _unshaped(self, dout) -> np.ndarray:
        dout = np.asarray(dout)
        return dout[:, 0, :] if self.keepdims else dout

    def compute_output_shape(self, input_shape) -> tuple:
        if len(input_shape) != 3:
            raise ValueError(
                f"x: expected a (batch, time, features) input, got shape {tuple(input_shape)}"
            )
        b, _, f = input_shape
        return (b, 1, f) if self.keepdims else (b, f)

    def compute_mask(self, x, mask=None):
        return None

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["seed"]
        return {**config, "keepdims": self.keepdims}


class GlobalAveragePooling1D(_GlobalPooling1D):
    """The mean over the time axis; under a (B, T) mask, over the valid steps only (Keras). A
    row with no valid step gives zeros (Keras: 0/0, NaN)."""

    default_name = "global_average_pooling1d"

    def forward(self, x, training: bool = False, mask=None):
        self._ensure_built(x)
        x = self._check(x)
        if mask is None:
            weights = np.full(x.shape[:2], 1.0 / max(x.shape[1], 1), dtype=x.dtype)
        else:
            valid = np.asarray(mask, dtype=bool)
            if valid.shape != x.shape[:2]:
                raise ValueError(f"mask: expected shape {x.shape[:2]}, got {valid.shape}")
            count = np.maximum(valid.sum(axis=1, keepdims=True), 1)
            weights = (valid / count).astype(x.dtype if x.dtype.kind == "f" else np.float64)
        out = np.einsum("btf,bt->bf", x, weights)
        return self._shaped(out), weights

    def backward(self, cache, dout):
        self.grads = []
        return self._unshaped(dout)[:, None, :] * cache[:, :, None]


class GlobalMaxPooling1D(_GlobalPooling1D):
    """The maximum over the time axis, masked steps included (as Keras's, which takes no mask).
    Backward splits the gradient evenly among steps that tie for the maximum (TensorFlow's
    rule)."""

    default_name = "global_max_pooling1d"

    def forward(self, x, training: bool = False, mask=None):
        self._ensure_built(x)
        x = self._check(x)
        out = x.max(axis=1)
        return self._shaped(out), (x == out[:, None, :])

    def backward(self, cache, dout):
        self.grads = []
        at_max = cache
        share = at_max / at_max.sum(axis=1, keepdims=True)
        return self._unshaped(dout)[:, None, :] * share
