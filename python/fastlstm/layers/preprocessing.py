"""Keras's ``Normalization`` preprocessing layer: each feature (the last axis) standardised by a
mean and variance given, or learnt from the training data by :meth:`Normalization.adapt` (a
time-series model's usual first layer: ``norm.adapt(x_train)``, then ``Sequential([Input(...),
norm, LSTM(...), ...])``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._arrays import real_array
from .._batches import is_dataset, unpack
from ..functional import _flag
from .base import Layer, input_array
from .normalization import feature_axis

EPSILON = 1e-7  # Keras's backend epsilon: the smallest deviation divided by


class Normalization(Layer):
    """``(x - mean) / max(sqrt(variance), 1e-7)`` per feature, as Keras's; ``invert=True``
    maps back, ``x * max(sqrt(variance), 1e-7) + mean``. ``mean`` and ``variance`` (a number or
    one per feature) are given together, or learnt by :meth:`adapt`; before either, mean 0 and
    variance 1. As in Keras 3, a layer that learns them has three weights, not trained (saved
    with the model): ``mean``, ``variance`` and ``count`` (a scalar: the samples adapt counted;
    Keras keeps it, at 0, for its older files), and a layer given them has none (they are its
    config). Only ``axis=-1`` (the features) is taken. The mask is handed on."""

    default_name = "normalization"
    weight_names = ("mean", "variance", "count")  # a layer given mean and variance: none

    def __init__(
        self,
        axis=-1,
        mean=None,
        variance=None,
        invert: bool = False,
        *,
        dtype: Any = "float32",
        name: str | None = None,
        trainable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, dtype=dtype, seed=None, trainable=trainable, **kwargs)
        self.axis = feature_axis(axis)
        self.invert = _flag(invert, "invert")
        if (mean is None) != (variance is None):
            raise ValueError("mean, variance: expected both or neither, got one of them")
        self._given = None
        if mean is not None:
            mean = real_array(mean, "mean").astype(np.float64).ravel()
            variance = real_array(variance, "variance").astype(np.float64).ravel()
            if not np.isfinite(mean).all():
                raise ValueError("mean: expected finite numbers")
            if not (np.isfinite(variance).all() and (variance >= 0).all()):
                raise ValueError("variance: expected finite numbers of at least 0")
            self._given = (mean, variance)
            self.weight_names = ()  # Keras's: constants, not weights
        self._fixed: dict = {}  # the given mean and variance, once built: (F,) each

    def _stats(self) -> dict:
        """The mean and variance in use: the given ones, or the weights (one dict: adapt swaps
        the weights in at once)."""
        return self._fixed if self._given is not None else self._weights

    mean = property(lambda self: self._stats().get("mean"), doc="(F,) means.")
    variance = property(lambda self: self._stats().get("variance"), doc="(F,) variances.")

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        return []  # learnt by adapt, not by gradients

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        return self.weights

    def _weight_shapes(self, first_shape):
        return {"mean": tuple(first_shape), "variance": tuple(first_shape), "count": ()}

    def build(self, input_shape) -> None:
        input_shape = tuple(input_shape)
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(
                f"{self.name}: expected an input shape (batch, ..., features), got {input_shape}"
            )
        features = int(input_shape[-1])
        mean, variance = self._given or (np.zeros(1), np.ones(1))
        for name, given in (("mean", mean), ("variance", variance)):
            if given.size not in (1, features):
                raise ValueError(
                    f"{name}: expected one number or {features} (the input's features), got "
                    f"{given.size}"
                )
        mean, variance = np.broadcast_to(mean, features), np.broadcast_to(variance, features)
        if self._given is not None:
            self._fixed = {"mean": mean.astype(self.dtype), "variance": variance.astype(self.dtype)}
        else:
            self._replace_weights([mean, variance, 0])
        self.built_input_shape = input_shape

    def adapt(self, data, batch_size=None, steps=None) -> None:
        """Learn each feature's mean and (biased) variance from ``data``: an array (N, ..., F),
        every position counted, or a dataset of batches (``x`` or ``(x, y)``: its x; ``steps``
        batches at most). ``batch_size`` is taken as Keras's and changes nothing."""
        if self._given is not None:  # Keras's layer has no weights to learn them into either
            raise ValueError(
                f"adapt: the layer {self.name!r} was given its mean and variance; make it "
                "without them to learn them from data"
            )
        total = squares = count = None
        for x in self._adapt_batches(data, steps):
            if not self.built:
                self.build((None, *x.shape[1:]))
            features = self._stats()["mean"].shape[0]
            if x.ndim < 2 or x.shape[-1] != features:
                raise ValueError(
                    f"data: expected arrays (batch, ..., {features}) (the layer {self.name!r} "
                    f"is built for {features} features), got shape {x.shape}"
                )
            rows = x.reshape(-1, features).astype(np.float64)
            if not np.isfinite(rows).all():
                raise ValueError("data: expected finite numbers (NaN or inf in it)")
            total = rows.sum(axis=0) + (0 if total is None else total)
            squares = (rows * rows).sum(axis=0) + (0 if squares is None else squares)
            count = len(rows) + (count or 0)
        if not count:
            raise ValueError("data: expected at least one sample to adapt to, got none")
        mean = total / count
        variance = np.maximum(squares / count - mean * mean, 0.0)  # rounding may go below 0
        self._replace_weights([mean, variance, count], keep_shapes=True)

    @staticmethod
    def _adapt_batches(data, steps):
        """The x arrays to adapt to: ``data`` itself, or a dataset's batches."""
        if not is_dataset(data):
            yield real_array(data, "data")
            return
        items = data if not hasattr(data, "__len__") else (data[i] for i in range(len(data)))
        for k, batch in enumerate(items):
            if steps is not None and k >= steps:
                return
            yield real_array(unpack(batch, "data", need_y=False)[0], "data")

    def _scale(self, weights) -> np.ndarray:
        return np.maximum(np.sqrt(weights["variance"]), self.dtype.type(EPSILON))

    def call(self, x, training: bool = False, mask=None):
        return self.forward(x)[0]

    def forward(self, x, training: bool = False, mask=None):
        self._ensure_built(x)
        weights = self._stats()  # one set: adapt swaps both in at once
        x = input_array(x, dtype=self.dtype)
        features = weights["mean"].shape[0]
        if x.ndim < 2 or x.shape[-1] != features:
            raise ValueError(
                f"x: expected an array (batch, ..., {features}) (the layer {self.name!r} is "
                f"built for {features} features), got shape {x.shape}"
            )
        scale = self._scale(weights)
        if self.invert:
            return x * scale + weights["mean"], (scale, x.shape)
        return (x - weights["mean"]) / scale, (scale, x.shape)

    def backward(self, cache, dout):
        self.grads = []
        scale, shape = cache
        dy = self._dout(dout, shape)
        return dy * scale if self.invert else dy / scale

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["seed"]
        mean, variance = self._given or (None, None)
        return {
            **config,
            "axis": self.axis,
            "mean": None if mean is None else mean.tolist(),
            "variance": None if variance is None else variance.tolist(),
            "invert": self.invert,
        }
