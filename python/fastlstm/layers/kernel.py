"""The base of the layers with a ``kernel`` and an optional ``bias`` (Dense, Conv1D): Keras's
arguments for them, their initialisers, regularisers and config, in one place."""

from __future__ import annotations

from typing import Any

from .. import initializers, regularizers
from ..functional import _flag
from .base import Layer, _init_name


class KernelLayer(Layer):
    """A layer with a ``kernel`` and, with ``use_bias``, a ``bias`` (Dense, Conv1D): Keras's
    arguments for them, their initialisers and regularisers."""

    def _kernel_and_bias(
        self, use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer
    ) -> None:
        self.use_bias = _flag(use_bias, "use_bias")
        self.weight_names = ("kernel", "bias") if self.use_bias else ("kernel",)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self._init = {
            "kernel": initializers.resolve(kernel_initializer, "kernel_initializer"),
            "bias": initializers.resolve(bias_initializer, "bias_initializer"),
        }
        self._regularizers = {
            "kernel": regularizers.get(kernel_regularizer, "kernel_regularizer"),
            "bias": regularizers.get(bias_regularizer, "bias_regularizer"),
        }

    kernel_regularizer = property(lambda self: self._regularizers["kernel"])
    bias_regularizer = property(lambda self: self._regularizers["bias"])

    def _make_weights(self, kernel_shape: tuple, units: int) -> None:
        """Draw the kernel, then the bias (units,), from the layer's seed."""
        rng = self._weight_rng()
        weights = [self._init["kernel"](kernel_shape, self.dtype, rng)]
        if self.use_bias:
            weights.append(self._init["bias"]((units,), self.dtype, rng))
        self._replace_weights(weights)

    def _kernel_config(self) -> dict[str, Any]:
        return {
            "use_bias": self.use_bias,
            "kernel_initializer": _init_name(
                self.kernel_initializer, "kernel_initializer", self.name
            ),
            "bias_initializer": _init_name(self.bias_initializer, "bias_initializer", self.name),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
        }
