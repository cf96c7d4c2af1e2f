"""Convolution and pooling along time, Keras's ``Conv1D``, ``MaxPooling1D`` and
``AveragePooling1D``: the front end of a CNN-LSTM, which shortens a long sequence of frames
(audio, sensor readings) before a recurrent layer reads it.

All three see x (B, T, C) (``data_format="channels_first"``: (B, C, T)) as windows of ``span``
steps every ``strides`` steps. With ``padding="valid"`` only whole windows are taken;
``"same"`` pads so that ceil(T / strides) windows come out, the extra step on the right where
the padding is odd (TensorFlow's rule, Keras's); Conv1D's ``"causal"`` pads span - 1 steps on
the left, so output t sees inputs up to t. Pooling's padded steps take part in no maximum and
no mean (TensorFlow's pooling).

Masks: as Keras's, these layers take none and hand none on (their steps are not the input's).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .. import activations
from .._arrays import integer
from ..functional import _choice
from .base import KernelLayer, Layer, input_array

_FORMATS = ("channels_last", "channels_first")


def _one_int(value, name: str) -> int:
    """An int, or Keras's tuple or list of one int (``kernel_size=(3,)``)."""
    if isinstance(value, (tuple, list)):
        if len(value) != 1:
            raise ValueError(f"{name}: expected an int or a tuple of one int, got {value!r}")
        value = value[0]
    return integer(value, name, at_least=1)


def _pads(steps: int, span: int, stride: int, padding: str) -> tuple[int, int]:
    """(left, right) steps of padding for a window of ``span`` steps every ``stride``."""
    if padding == "valid":
        return 0, 0
    if padding == "causal":
        return span - 1, 0
    total = max((math.ceil(steps / stride) - 1) * stride + span - steps, 0)
    return total // 2, total - total // 2


class _Windowed(Layer):
    """What the three share: the layout, the padding, and x as windows (B, T_out, k, C) of k
    taps ``dilation`` steps apart."""

    _paddings = ("valid", "same")

    def _setup(self, strides, padding, data_format) -> None:
        self.strides = _one_int(strides, "strides")
        self.padding = _choice(
            padding.lower() if isinstance(padding, str) else padding, "padding", self._paddings
        )
        self.data_format = _choice(data_format or "channels_last", "data_format", _FORMATS)
        self._first = self.data_format == "channels_first"

    def _span(self) -> int:
        """Steps a window covers."""
        return (self._taps - 1) * self._dilation + 1

    def _out_steps(self, steps: int | None) -> int | None:
        if steps is None:
            return None
        left, right = _pads(steps, self._span(), self.strides, self.padding)
        return max((steps + left + right - self._span()) // self.strides + 1, 0)

    def _input(self, x, name: str = "x") -> np.ndarray:
        """x as (B, T, C) floats in the layer's dtype, whatever the layout it came in."""
        x = input_array(x, name)
        if x.ndim != 3:
            order = "(batch, channels, time)" if self._first else "(batch, time, channels)"
            raise ValueError(f"{name}: expected a 3-D array {order}, got shape {x.shape}")
        x = x.astype(self.dtype, copy=False)
        return x.transpose(0, 2, 1) if self._first else x

    def _ensure_built(self, x) -> None:
        if not self.built:
            self._input(x)  # a 2-D x is named as x, before build sees its shape
        super()._ensure_built(x)

    def _laid_out(self, a: np.ndarray) -> np.ndarray:
        """A (B, T, C) array in the layer's layout."""
        return a.transpose(0, 2, 1) if self._first else a

    def _windows(self, x: np.ndarray, fill: float = 0.0):
        """(windows (B, T_out, k, C), (left, right) padding) of x (B, T, C)."""
        steps, span = x.shape[1], self._span()
        left, right = _pads(steps, span, self.strides, self.padding)
        if steps + left + right < span:
            raise ValueError(
                f"x: expected at least {span - left - right} steps (a window of the layer "
                f"{self.name!r} covers {span}), got shape {self._laid_out(x).shape}"
            )
        xp = np.pad(x, ((0, 0), (left, right), (0, 0)), constant_values=fill)
        view = sliding_window_view(xp, span, axis=1)[:, :: self.strides, :, :: self._dilation]
        return view.transpose(0, 1, 3, 2), (left, right)

    def _scatter(self, dwin: np.ndarray, steps: int, pads: tuple[int, int]) -> np.ndarray:
        """The windows' gradient (B, T_out, k, C) added back onto the steps they read: dL/dx
        (B, T, C)."""
        left, right = pads
        batch, out_steps, taps, channels = dwin.shape
        dxp = np.zeros((batch, steps + left + right, channels), dwin.dtype)
        last = (out_steps - 1) * self.strides + 1
        for j in range(taps):  # tap j of window i reads padded step i * strides + j * dilation
            start = j * self._dilation
            dxp[:, start : start + last : self.strides] += dwin[:, :, j]
        return dxp[:, left : left + steps]

    def compute_output_shape(self, input_shape) -> tuple:
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise ValueError(f"x: expected a 3-D input, got shape {input_shape}")
        if self._first:
            batch, channels, steps = input_shape
        else:
            batch, steps, channels = input_shape
        steps, channels = self._out_steps(steps), self._out_channels(channels)
        return (batch, channels, steps) if self._first else (batch, steps, channels)

    def compute_mask(self, x, mask=None):
        return None

    def call(self, x, training: bool = False, mask=None):
        return self.forward(x, training=training, mask=mask)[0]


class Conv1D(_Windowed, KernelLayer):
    """``activation(conv(x, kernel) + bias)``: x (B, T, C) -> (B, T_out, filters), Keras's
    ``keras.layers.Conv1D`` (a cross-correlation, as every framework's).

    kernel (kernel_size, C, filters) glorot-uniform (fans counted with the kernel's taps, as
    Keras), bias (filters,) zeros. ``padding`` "valid", "same" or "causal" (see the module);
    ``dilation_rate`` d spaces the taps d steps apart. ``groups`` other than 1 is refused.
    """

    default_name = "conv1d"
    _paddings = ("valid", "same", "causal")

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides=1,
        padding: str = "valid",
        data_format: str | None = None,
        dilation_rate=1,
        groups: int = 1,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        *,
        seed: int | None = None,
        dtype: Any = "float32",
        name: str | None = None,
        trainable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, dtype=dtype, seed=seed, trainable=trainable, **kwargs)
        self.filters = integer(filters, "filters", at_least=1)
        self.kernel_size = _one_int(kernel_size, "kernel_size")
        self.dilation_rate = _one_int(dilation_rate, "dilation_rate")
        if integer(groups, "groups", at_least=1) != 1:
            raise ValueError(
                f"groups: expected 1 (grouped convolutions are not built), got {groups}"
            )
        self._setup(strides, padding, data_format)
        self._taps, self._dilation = self.kernel_size, self.dilation_rate
        self.activation = activations.get(activation)
        self._kernel_and_bias(
            use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer
        )

    kernel = property(lambda self: self._weights.get("kernel"), doc="(k, C, filters) weights.")
    bias = property(lambda self: self._weights.get("bias"), doc="(filters,) bias.")

    def _out_channels(self, channels):
        return self.filters

    def _weight_shapes(self, first_shape):
        if len(first_shape) != 3 or first_shape[0] != self.kernel_size:
            raise ValueError(
                f"kernel: expected shape ({self.kernel_size}, channels, {self.filters}), got "
                f"{tuple(first_shape)}"
            )
        return {"kernel": (self.kernel_size, first_shape[1], self.filters), "bias": (self.filters,)}

    def _input_shape_from_weights(self):
        channels = self._weights["kernel"].shape[1]
        return (None, channels, None) if self._first else (None, None, channels)

    def build(self, input_shape) -> None:
        input_shape = tuple(input_shape)
        channels = input_shape[1 if self._first else -1] if len(input_shape) == 3 else None
        if channels is None:
            order = "(batch, channels, time)" if self._first else "(batch, time, channels)"
            raise ValueError(f"{self.name}: expected an input shape {order}, got {input_shape}")
        self._make_weights((self.kernel_size, int(channels), self.filters), self.filters)
        self.built_input_shape = input_shape

    def forward(self, x, training: bool = False, mask=None):
        self._ensure_built(x)
        weights = self._weights  # one set, whatever another thread's set_weights does
        kernel = weights["kernel"]
        x = self._input(x)
        if x.shape[2] != kernel.shape[1]:
            raise ValueError(
                f"x: expected {kernel.shape[1]} channels (the layer {self.name!r} was built for "
                f"them), got shape {self._laid_out(x).shape}"
            )
        windows, pads = self._windows(x)
        batch, out_steps, taps, channels = windows.shape
        cols = windows.reshape(batch * out_steps, taps * channels)  # a copy: im2col
        z = cols @ kernel.reshape(taps * channels, self.filters)  # (B·T_out, filters)
        if self.use_bias:
            z += weights["bias"]
        z = z.reshape(batch, out_steps, self.filters)
        y = activations.apply(self.activation, z)
        cache = (
            cols,
            x.shape[1],
            pads,
            kernel,
            y,
            z if self.activation in activations.NEEDS_Z else None,
        )
        return self._laid_out(y), cache

    def backward(self, cache, dout):
        cols, steps, pads, kernel, y, z = cache
        dout = self._input(dout, "dout")
        dz = activations.backward(self.activation, y, dout, z)
        taps, channels, filters = kernel.shape
        dz2 = dz.reshape(-1, filters)
        dkernel = (cols.T @ dz2).reshape(kernel.shape)
        grads = {"kernel": dkernel}
        if self.use_bias:
            grads["bias"] = dz2.sum(axis=0)
        self._keep_grads(grads)
        dwin = (dz2 @ kernel.reshape(taps * channels, filters).T).reshape(
            dz.shape[0], dz.shape[1], taps, channels
        )
        return self._laid_out(self._scatter(dwin, steps, pads))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
            "dilation_rate": self.dilation_rate,
            "activation": self.activation,
            **self._kernel_config(),
        }


class _Pooling1D(_Windowed):
    """Windows of ``pool_size`` steps every ``strides`` steps (default: pool_size); padding
    "valid" or "same". No weights."""

    def __init__(
        self,
        pool_size=2,
        strides=None,
        padding: str = "valid",
        data_format: str | None = None,
        *,
        dtype: Any = "float32",
        name: str | None = None,
        trainable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, dtype=dtype, seed=None, trainable=trainable, **kwargs)
        self.pool_size = _one_int(pool_size, "pool_size")
        self._setup(self.pool_size if strides is None else strides, padding, data_format)
        self._taps, self._dilation = self.pool_size, 1

    def _out_channels(self, channels):
        return channels

    def forward(self, x, training: bool = False, mask=None):
        self._ensure_built(x)
        x = self._input(x)
        out, cache = self._pool(x)
        return self._laid_out(out), cache

    def backward(self, cache, dout):
        self.grads = []
        share, steps, pads = cache
        dwin = self._input(dout, "dout")[:, :, None, :] * share  # (B, T_out, k, C)
        return self._laid_out(self._scatter(dwin, steps, pads))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["seed"]
        return {
            **config,
            "pool_size": self.pool_size,
            "strides": self.strides,
            "padding": self.padding,
            "data_format": self.data_format,
        }


class MaxPooling1D(_Pooling1D):
    """The maximum of each window (Keras's ``keras.layers.MaxPooling1D``). Backward gives a
    window's gradient to its maximum, split evenly where steps tie (as GlobalMaxPooling1D)."""

    default_name = "max_pooling1d"

    def _pool(self, x):
        windows, pads = self._windows(x, fill=-np.inf)  # padding is never the maximum
        out = windows.max(axis=2)
        at_max = windows == out[:, :, None]  # none in a window holding NaN: no gradient
        share = at_max / np.maximum(at_max.sum(axis=2, keepdims=True), 1)
        return out, (share.astype(x.dtype), x.shape[1], pads)


class AveragePooling1D(_Pooling1D):
    """The mean of each window's steps (Keras's ``keras.layers.AveragePooling1D``); with
    ``padding="same"`` an edge window's mean is over its steps within x alone."""

    default_name = "average_pooling1d"

    def _pool(self, x):
        windows, pads = self._windows(x)
        inside, _ = self._windows(np.ones((1, x.shape[1], 1), x.dtype))  # 1 where a step is x's
        share = inside / inside.sum(axis=2, keepdims=True)  # (1, T_out, k, 1)
        return (windows * share).sum(axis=2), (share, x.shape[1], pads)
