"""Pooling over time: a sequence (B, T, F) to one vector (B, F), as Keras's global pooling
layers do after a recurrent layer with ``return_sequences=True`` (a text classifier's usual
head)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Layer, input_array


class _GlobalPooling1D(Layer):
    """x (B, T, F) -> (B, F), or (B, 1, F) with ``keepdims``; with ``data_format=
    "channels_first"`` x is (B, F, T) (and keepdims gives (B, F, 1)). Hands on no mask."""

    def __init__(
        self,
        data_format: str | None = None,
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
        if data_format not in (None, "channels_last", "channels_first"):
            raise ValueError(
                f"data_format: expected None, 'channels_last' or 'channels_first', got "
                f"{data_format!r}"
            )
        self.keepdims = bool(keepdims)
        self.data_format = data_format or "channels_last"
        self._first = self.data_format == "channels_first"

    def _check(self, x) -> np.ndarray:
        """x as (B, T, F) floats, whatever the layout and dtype it came in."""
        x = input_array(x)
        if x.ndim != 3:
            order = "(batch, features, time)" if self._first else "(batch, time, features)"
            raise ValueError(f"x: expected a {order} array, got shape {x.shape}")
        if x.dtype.kind != "f":  # an integer mean would round
            x = input_array(x, dtype=self.dtype)
        return x.transpose(0, 2, 1) if self._first else x

    def call(self, x, training: bool = False, mask=None):
        return self.forward(x, training=training, mask=mask)[0]

    def _shaped(self, out: np.ndarray) -> np.ndarray:
        if not self.keepdims:
            return out
        return out[:, :, None] if self._first else out[:, None, :]

    def _unshaped(self, dout) -> np.ndarray:
        dout = np.asarray(dout)
        if not self.keepdims:
            return dout
        return dout[:, :, 0] if self._first else dout[:, 0, :]

    def _laid_out(self, dx: np.ndarray) -> np.ndarray:
        """dL/dx (B, T, F) in the input's layout."""
        return dx.transpose(0, 2, 1) if self._first else dx

    def compute_output_shape(self, input_shape) -> tuple:
        if len(input_shape) != 3:
            raise ValueError(f"x: expected a 3-D input, got shape {tuple(input_shape)}")
        b, f = input_shape[0], input_shape[1 if self._first else 2]
        if not self.keepdims:
            return (b, f)
        return (b, f, 1) if self._first else (b, 1, f)

    def compute_mask(self, x, mask=None):
        return None

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["seed"]
        return {**config, "data_format": self.data_format, "keepdims": self.keepdims}


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
            weights = (valid / count).astype(x.dtype)
        out = np.einsum("btf,bt->bf", x, weights)
        return self._shaped(out), weights

    def backward(self, cache, dout):
        self.grads = []
        return self._laid_out(self._unshaped(dout)[:, None, :] * cache[:, :, None])


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
        return self._laid_out(self._unshaped(dout)[:, None, :] * share)
