"""Normalisation over the feature axis, Keras's ``LayerNormalization`` and
``BatchNormalization``: x (..., F), the features last (Keras's ``axis=-1``, the only axis taken
here), with per-feature ``gamma`` (scale) and ``beta`` (offset).

LayerNormalization normalises each position's F features by their own mean and variance (a
recurrent stack's usual normaliser: nothing depends on the batch). BatchNormalization
normalises each feature by its mean and variance over the batch (and time) in training, and by
the moving averages of those at inference (a convolutional front end's). Both hand the mask on.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import initializers, regularizers
from .._arrays import real_number
from ..functional import _flag
from .base import Layer, _init_name, input_array


def feature_axis(axis) -> int:
    """-1, Keras's default axis (also as [-1]): the features, last; other axes are not built."""
    if isinstance(axis, (list, tuple)) and len(axis) == 1:
        axis = axis[0]
    if isinstance(axis, bool) or axis != -1:
        raise ValueError(
            f"axis: expected -1 (the features, last; normalising other axes is not built), "
            f"got {axis!r}"
        )
    return -1


class _Normalization(Layer):
    """What both share: the axis, epsilon, center and scale, and weights of shape (F,)."""

    def __init__(
        self,
        axis=-1,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        *,
        dtype: Any = "float32",
        name: str | None = None,
        trainable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, dtype=dtype, seed=None, trainable=trainable, **kwargs)
        self.axis = feature_axis(axis)
        self.epsilon = real_number(epsilon, "epsilon", above=0)
        self.center = _flag(center, "center")
        self.scale = _flag(scale, "scale")
        self.beta_initializer, self.gamma_initializer = beta_initializer, gamma_initializer
        self._init = {
            "gamma": initializers.resolve(gamma_initializer, "gamma_initializer"),
            "beta": initializers.resolve(beta_initializer, "beta_initializer"),
        }
        self._regularizers = {
            "gamma": regularizers.get(gamma_regularizer, "gamma_regularizer"),
            "beta": regularizers.get(beta_regularizer, "beta_regularizer"),
        }
        # Keras's order: gamma, then beta (each only where used), then what subclasses add
        self.weight_names = (
            *(("gamma",) if self.scale else ()),
            *(("beta",) if self.center else ()),
        )

    gamma = property(lambda self: self._weights.get("gamma"), doc="(F,) scale (None without).")
    beta = property(lambda self: self._weights.get("beta"), doc="(F,) offset (None without).")
    gamma_regularizer = property(lambda self: self._regularizers["gamma"])
    beta_regularizer = property(lambda self: self._regularizers["beta"])

    def _weight_shapes(self, first_shape):
        if len(first_shape) != 1:
            raise ValueError(
                f"{self.weight_names[0]}: expected shape (features,), got {first_shape}"
            )
        return dict.fromkeys(self.weight_names, tuple(first_shape))

    def build(self, input_shape) -> None:
        input_shape = tuple(input_shape)
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(
                f"{self.name}: expected an input shape (batch, ..., features), got {input_shape}"
            )
        features = (int(input_shape[-1]),)
        rng = np.random.default_rng(0)  # the initialisers here draw nothing at random
        if self.weight_names:  # none for a LayerNormalization without center and scale
            self._replace_weights(
                [self._init[n](features, self.dtype, rng) for n in self.weight_names]
            )
        self.built_input_shape = input_shape

    def _input(self, x, weights) -> np.ndarray:
        x = input_array(x, dtype=self.dtype)
        if weights:
            features = next(iter(weights.values())).shape[0]
        else:  # no gamma, no beta: the width it was built for
            features = (self.built_input_shape or (None,))[-1]
        if x.ndim < 2 or (features is not None and x.shape[-1] != features):
            raise ValueError(
                f"x: expected an array (batch, ..., {features}) (the layer {self.name!r} was "
                f"built for {features} features), got shape {x.shape}"
            )
        return x

    def _affine(self, xhat, weights) -> np.ndarray:
        y = xhat * weights["gamma"] if self.scale else xhat.copy()
        if self.center:
            y += weights["beta"]
        return y

    def _backward_affine(self, dout, xhat, weights) -> np.ndarray:
        """dL/d(xhat) from dL/d(output), keeping dL/dgamma and dL/dbeta (summed over every
        position) in ``grads``."""
        dy = self._dout(dout, xhat.shape)
        axes = tuple(range(dy.ndim - 1))
        grads = {}
        if self.scale:
            grads["gamma"] = (dy * xhat).sum(axis=axes)
        if self.center:
            grads["beta"] = dy.sum(axis=axes)
        self._keep_grads(grads)
        return dy * weights["gamma"] if self.scale else dy

    def call(self, x, training: bool = False, mask=None):
        return self.forward(x, training=training, mask=mask)[0]

    def compute_output_shape(self, input_shape) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["seed"]
        return {
            **config,
            "axis": self.axis,
            "epsilon": self.epsilon,
            "center": self.center,
            "scale": self.scale,
            "beta_initializer": _init_name(self.beta_initializer, "beta_initializer", self.name),
            "gamma_initializer": _init_name(self.gamma_initializer, "gamma_initializer", self.name),
            "beta_regularizer": regularizers.serialize(self.beta_regularizer),
            "gamma_regularizer": regularizers.serialize(self.gamma_regularizer),
        }


class LayerNormalization(_Normalization):
    """``gamma * (x - mean) / sqrt(var + epsilon) + beta`` with the mean and (biased) variance of
    each position's F features (Keras's ``keras.layers.LayerNormalization``, torch's
    ``nn.LayerNorm``): the same in training and at inference."""

    default_name = "layer_normalization"

    def forward(self, x, training: bool = False, mask=None):
        self._ensure_built(x)
        weights = self._weights  # one set, whatever another thread's set_weights does
        x = self._input(x, weights)
        centred = x - x.mean(axis=-1, keepdims=True)
        variance = (centred * centred).mean(axis=-1, keepdims=True)
        inv = (1.0 / np.sqrt(variance + self.epsilon)).astype(x.dtype)  # (..., 1)
        xhat = centred * inv
        return self._affine(xhat, weights), (xhat, inv, weights)

    def backward(self, cache, dout):
        xhat, inv, weights = cache
        dxhat = self._backward_affine(dout, xhat, weights)
        # d/dx of (x - mean)·inv over the feature axis, with inv depending on x too
        return inv * (
            dxhat
            - dxhat.mean(axis=-1, keepdims=True)
            - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True)
        )


class BatchNormalization(_Normalization):
    """``gamma * (x - mean) / sqrt(var + epsilon) + beta`` per feature (Keras's
    ``keras.layers.BatchNormalization``). In training (fit, or a call with ``training=True``)
    the mean and (biased) variance are the batch's, over every axis but the features (under a
    (B, T) mask, over the valid steps alone), and ``moving_mean``/``moving_variance`` move
    towards them: ``moving = moving * momentum + batch * (1 - momentum)``; at inference those
    are used. A layer made not trainable runs as at inference, as Keras 3's.

    Weights (Keras's order): gamma, beta (trainable), moving_mean, moving_variance (not).
    """

    default_name = "batch_normalization"

    def __init__(
        self,
        axis=-1,
        momentum: float = 0.99,
        epsilon: float = 1e-3,
        center: bool = True,
        scale: bool = True,
        beta_initializer: Any = "zeros",
        gamma_initializer: Any = "ones",
        moving_mean_initializer: Any = "zeros",
        moving_variance_initializer: Any = "ones",
        beta_regularizer: Any = None,
        gamma_regularizer: Any = None,
        synchronized: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            axis,
            epsilon,
            center,
            scale,
            beta_initializer,
            gamma_initializer,
            beta_regularizer,
            gamma_regularizer,
            **kwargs,
        )
        _flag(synchronized, "synchronized")  # one device here: nothing to synchronise
        self.momentum = real_number(momentum, "momentum", at_least=0, at_most=1)
        self.moving_mean_initializer = moving_mean_initializer
        self.moving_variance_initializer = moving_variance_initializer
        self._init["moving_mean"] = initializers.resolve(
            moving_mean_initializer, "moving_mean_initializer"
        )
        self._init["moving_variance"] = initializers.resolve(
            moving_variance_initializer, "moving_variance_initializer"
        )
        self._trained = self.weight_names
        self.weight_names = (*self._trained, "moving_mean", "moving_variance")

    moving_mean = property(lambda self: self._weights.get("moving_mean"), doc="(F,) means.")
    moving_variance = property(
        lambda self: self._weights.get("moving_variance"), doc="(F,) variances."
    )

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        if not self.trainable:
            return []
        return [self._weights[n] for n in self._trained if n in self._weights]

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        trained = self.trainable_weights
        return [w for w in self.weights if not any(w is t for t in trained)]

    def forward(self, x, training: bool = False, mask=None):
        self._ensure_built(x)
        weights = self._weights  # one set: the moving averages are swapped in, not changed
        x = self._input(x, weights)
        if training and self.trainable and x.size:  # an empty batch has no statistics
            mean, var, share = self._moments(x, mask)
            self._move(weights, mean, var)
        else:  # the moving averages: constants, for backward too (share None)
            mean, var, share = weights["moving_mean"], weights["moving_variance"], None
        inv = (1.0 / np.sqrt(var + self.epsilon)).astype(x.dtype)
        xhat = (x - mean) * inv
        return self._affine(xhat, weights), (xhat, inv, weights, share)

    def _moments(self, x, mask):
        """The batch's mean and variance per feature, and each position's weight in them: 1/N
        for all N positions, or an array (…, 1), 1/(valid count) at valid steps, 0 elsewhere."""
        axes = tuple(range(x.ndim - 1))
        if mask is None:
            share = 1.0 / max(x.size // x.shape[-1], 1)
        else:
            valid = np.asarray(mask)
            if valid.dtype.kind not in "biu":
                raise TypeError(f"mask: expected an array of bools, got dtype {valid.dtype}")
            if valid.shape != x.shape[:-1]:
                raise ValueError(f"mask: expected shape {x.shape[:-1]}, got {valid.shape}")
            valid = valid != 0
            share = (valid[..., None] / max(int(valid.sum()), 1)).astype(x.dtype)
        mean = (x * share).sum(axis=axes)
        return mean, (((x - mean) ** 2) * share).sum(axis=axes), share

    def _move(self, weights, mean, var) -> None:
        """The moving averages one step towards the batch's. A layer of a model stages them:
        the model makes them with the step's weight update (:meth:`commit_staged`), so that a
        call beside fit sees one step's statistics in every layer; a layer on its own swaps them
        in at once, whole (a call in another thread reads the old pair or the new)."""
        m = self.dtype.type(self.momentum)
        moved = {
            "moving_mean": (weights["moving_mean"] * m + mean * (1 - m)).astype(self.dtype),
            "moving_variance": (weights["moving_variance"] * m + var * (1 - m)).astype(self.dtype),
        }
        if getattr(self, "_model_lock", None) is None:
            self._weights = {**self._weights, **moved}
        else:
            self._staged = moved

    def commit_staged(self, keep: bool = True) -> None:
        """Swap in (``keep``) or drop the moving averages the last training pass staged."""
        staged, self._staged = getattr(self, "_staged", None), None
        if staged is not None and keep:
            self._weights = {**self._weights, **staged}

    def backward(self, cache, dout):
        xhat, inv, weights, share = cache
        dxhat = self._backward_affine(dout, xhat, weights)
        if share is None:  # normalised by the moving averages: constants
            return dxhat * inv
        # The batch's mean and variance depend on each position they were taken over, by its
        # share; every output (masked ones too) depends on them.
        axes = tuple(range(dxhat.ndim - 1))
        return inv * (
            dxhat - share * dxhat.sum(axis=axes) - share * xhat * (dxhat * xhat).sum(axis=axes)
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "momentum": self.momentum,
            "moving_mean_initializer": _init_name(
                self.moving_mean_initializer, "moving_mean_initializer", self.name
            ),
            "moving_variance_initializer": _init_name(
                self.moving_variance_initializer, "moving_variance_initializer", self.name
            ),
        }
