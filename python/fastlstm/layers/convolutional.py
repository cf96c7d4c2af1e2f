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
from .._arrays import check_room, integer
from ..functional import _choice
from .base import Layer, input_array
from .kernel import KernelLayer

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


class _Geometry:
    """Windows of ``taps`` taps ``dilation`` steps apart, one every ``stride`` steps, over x (B,
    T, C) padded with ``left`` steps before it. Only the taps that reach one of x's steps in
    some window are taken (``first`` to ``stop``; the others read padding alone, which adds
    nothing to a sum, a maximum or a mean), and only the padding those taps read is made: a
    window far longer than x (pool_size=10**9 with "same") costs what x does."""

    def __init__(self, steps, pads, span, stride, dilation, taps) -> None:
        left, right = pads
        self.steps, self.left, self.stride, self.dilation = steps, left, stride, dilation
        self.out_steps = (steps + left + right - span) // stride + 1
        reach = (self.out_steps - 1) * stride  # from the first window's start to the last's
        # Tap j reads padded steps j·d to j·d + reach over the windows: x's, [left, left + T),
        # from the first j with j·d + reach >= left to the last with j·d < left + T.
        self.first = max(0, -(-(left - reach) // dilation))
        self.stop = max(self.first, min(taps, (left + steps - 1) // dilation + 1))
        self.start = self.first * dilation  # the padded step where the taken taps begin
        self.length = (max(self.stop - self.first, 1) - 1) * dilation + reach + 1

    def windows(self, x: np.ndarray, fill: float) -> np.ndarray:
        """(B, T_out, taken taps, C): a view of x padded (with ``fill``) where the taps read."""
        if self.stop == self.first:  # no tap reaches x: no window reads anything
            return np.zeros((x.shape[0], self.out_steps, 0, x.shape[2]), x.dtype)
        padded = np.full((x.shape[0], self.length, x.shape[2]), fill, x.dtype)
        lo, hi = self._overlap()
        padded[:, lo - self.start : hi - self.start] = x[:, lo - self.left : hi - self.left]
        span = (self.stop - self.first - 1) * self.dilation + 1
        view = sliding_window_view(padded, span, axis=1)[:, :: self.stride, :, :: self.dilation]
        return view.transpose(0, 1, 3, 2)

    def scatter(self, dwin: np.ndarray) -> np.ndarray:
        """The windows' gradient (B, T_out, taken taps, C) added back onto the steps they read:
        dL/dx (B, T, C)."""
        batch, out_steps, taps, channels = dwin.shape
        dpadded = np.zeros((batch, self.length, channels), dwin.dtype)
        last = (out_steps - 1) * self.stride + 1
        for j in range(taps):  # taken tap j of window i reads step i·stride + j·dilation
            at = j * self.dilation
            dpadded[:, at : at + last : self.stride] += dwin[:, :, j]
        dx = np.zeros((batch, self.steps, channels), dwin.dtype)
        lo, hi = self._overlap()
        dx[:, lo - self.left : hi - self.left] = dpadded[:, lo - self.start : hi - self.start]
        return dx

    def _overlap(self) -> tuple[int, int]:
        """The padded steps that are x's and that the taken taps read: [lo, hi)."""
        lo = max(self.left, self.start)
        hi = min(self.left + self.steps, self.start + self.length)
        return lo, max(lo, hi)


class _Windowed(Layer):
    """What the three share: the layout, the padding, and x as windows (B, T_out, k, C) of k
    taps ``dilation`` steps apart."""

    _paddings = ("valid", "same")

    def _setup(self, strides, padding, data_format) -> None:
        self.strides = _one_int(strides, "strides")
        self.padding = _choice(
            padding.lower() if isinstance(padding, str) else padding, "padding", self._paddings
        )
        if data_format is None:  # Keras: the configured image data format, channels_last
            data_format = "channels_last"
        self.data_format = _choice(data_format, "data_format", _FORMATS)
        self._first = self.data_format == "channels_first"

    def _span(self) -> int:
        """Steps a window covers."""
        return (self._taps - 1) * self._dilation + 1

    def _geometry(self, steps: int, shape: tuple) -> _Geometry:
        """Where the windows over ``steps`` steps lie; ValueError naming x (of ``shape``, as
        given) where not one window fits."""
        span = self._span()
        left, right = _pads(steps, span, self.strides, self.padding)
        if steps + left + right < span or steps < 1:
            need = span if self.padding == "valid" else 1
            raise ValueError(
                f"x: expected at least {need} step{'s' * (need > 1)} (a window of the layer "
                f"{self.name!r} covers {span} with padding {self.padding!r}), got shape {shape}"
            )
        return _Geometry(steps, (left, right), span, self.strides, self._dilation, self._taps)

    def _out_steps(self, steps: int | None, shape: tuple) -> int | None:
        return None if steps is None else self._geometry(steps, shape).out_steps

    def _input(self, x, name: str = "x") -> np.ndarray:
        """x as (B, T, C) floats in the layer's dtype, whatever the layout it came in."""
        x = input_array(x, name)
        if x.ndim != 3:
            order = "(batch, channels, time)" if self._first else "(batch, time, channels)"
            raise ValueError(f"{name}: expected a 3-D array {order}, got shape {x.shape}")
        x = input_array(x, name, dtype=self.dtype)  # a cast's copy checked against memory
        return x.transpose(0, 2, 1) if self._first else x

    def _gradient(self, dout, shape: tuple) -> np.ndarray:
        """dL/d(output) as (B, T_out, C), checked against the output's ``shape`` (B, T_out, C)."""
        laid_out = (shape[0], shape[2], shape[1]) if self._first else shape
        return self._input(self._dout(dout, laid_out), "dout")

    def _ensure_built(self, x) -> None:
        if not self.built:
            self._input(x)  # a 2-D x is named as x, before build sees its shape
        super()._ensure_built(x)

    def _laid_out(self, a: np.ndarray) -> np.ndarray:
        """A (B, T, C) array in the layer's layout."""
        return a.transpose(0, 2, 1) if self._first else a

    def compute_output_shape(self, input_shape) -> tuple:
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            raise ValueError(f"x: expected a 3-D input, got shape {input_shape}")
        if self._first:
            batch, channels, steps = input_shape
        else:
            batch, steps, channels = input_shape
        steps, channels = self._out_steps(steps, input_shape), self._out_channels(channels)
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

    _kernel_channels = 1  # the kernel's axis of the input's channels

    def _kernel_shape(self, channels: int) -> tuple:
        return (self.kernel_size, channels, self.filters)

    def _input_shape_from_weights(self):
        channels = self._weights["kernel"].shape[self._kernel_channels]
        return (None, channels, None) if self._first else (None, None, channels)

    def build(self, input_shape) -> None:
        """Make the weights for inputs of ``input_shape`` ((B, T, C) in the layer's layout, or
        just C)."""
        if not isinstance(input_shape, (tuple, list)):  # the width alone: a positive int
            channels = integer(input_shape, "input_shape", at_least=1)
            input_shape = (None, channels, None) if self._first else (None, None, channels)
        input_shape = tuple(input_shape)
        channels = input_shape[1 if self._first else -1] if len(input_shape) == 3 else None
        if channels is None:
            order = "(batch, channels, time)" if self._first else "(batch, time, channels)"
            raise ValueError(f"{self.name}: expected an input shape {order}, got {input_shape}")
        channels = integer(channels, "input_shape's channels", at_least=1)
        self._make_weights(self._kernel_shape(channels), self.filters)
        self.built_input_shape = input_shape

    def forward(self, x, training: bool = False, mask=None):
        self._ensure_built(x)
        weights = self._weights  # one set, whatever another thread's set_weights does
        kernel = weights["kernel"]
        given = np.shape(x)
        x = self._input(x)
        if x.shape[2] != kernel.shape[1]:
            raise ValueError(
                f"x: expected {kernel.shape[1]} channels (the layer {self.name!r} was built for "
                f"them), got shape {given}"
            )
        where = self._geometry(x.shape[1], given)
        taken = kernel[where.first : where.stop]  # the taps that reach x
        # the windows' copy (B·T_out, taps·C), and z, y and an activation's temporaries
        out_values = x.shape[0] * where.out_steps * (len(taken) * x.shape[2] + 4 * self.filters)
        what = f"its windows and output for x of shape {given} and their working copies"
        check_room(f"layer {self.name!r}", out_values, kernel.dtype, what)
        windows = where.windows(x, 0.0)
        batch, out_steps, taps, channels = windows.shape
        cols = windows.reshape(batch * out_steps, taps * channels)  # a copy: im2col
        z = cols @ taken.reshape(taps * channels, self.filters)  # (B·T_out, filters)
        if self.use_bias:
            z += weights["bias"]
        z = z.reshape(batch, out_steps, self.filters)
        y = activations.apply(self.activation, z)
        keep_z = z if self.activation in activations.NEEDS_Z else None
        return self._laid_out(y), (cols, where, kernel, y, keep_z)

    def backward(self, cache, dout):
        cols, where, kernel, y, z = cache
        dz = activations.backward(self.activation, y, self._gradient(dout, y.shape), z)
        taken = kernel[where.first : where.stop]
        taps, channels, filters = taken.shape
        dz2 = dz.reshape(-1, filters)
        dkernel = np.zeros_like(kernel)
        dkernel[where.first : where.stop] = (cols.T @ dz2).reshape(taken.shape)
        grads = {"kernel": dkernel}
        if self.use_bias:
            grads["bias"] = dz2.sum(axis=0)
        self._keep_grads(grads)
        dwin = (dz2 @ taken.reshape(taps * channels, filters).T).reshape(
            dz.shape[0], dz.shape[1], taps, channels
        )
        return self._laid_out(where.scatter(dwin))

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
        given = np.shape(x)
        x = self._input(x)
        where = self._geometry(x.shape[1], given)
        out, share = self._pool(x, where)
        return self._laid_out(out), (share, where, out.shape)

    def backward(self, cache, dout):
        self.grads = []
        share, where, shape = cache
        dwin = self._gradient(dout, shape)[:, :, None, :] * share  # (B, T_out, k, C)
        return self._laid_out(where.scatter(dwin))

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
    window's gradient to its maximum, the first of tied ones (as torch's and TensorFlow's max
    pooling; GlobalMaxPooling1D splits it, as TensorFlow's reduce_max)."""

    default_name = "max_pooling1d"

    def _pool(self, x, where):
        windows = where.windows(x, -np.inf)  # padding is never the maximum
        first = windows.argmax(axis=2)  # the first maximum (or NaN), as torch's and TensorFlow's
        out = np.take_along_axis(windows, first[:, :, None], axis=2)[:, :, 0]
        share = np.zeros(windows.shape, x.dtype)
        np.put_along_axis(share, first[:, :, None], 1, axis=2)
        return out, share


class AveragePooling1D(_Pooling1D):
    """The mean of each window's steps (Keras's ``keras.layers.AveragePooling1D``); with
    ``padding="same"`` an edge window's mean is over its steps within x alone."""

    default_name = "average_pooling1d"

    def _pool(self, x, where):
        windows = where.windows(x, 0.0)
        inside = where.windows(np.ones((1, x.shape[1], 1), x.dtype), 0.0)  # 1 at x's steps
        share = inside / inside.sum(axis=2, keepdims=True)  # (1, T_out, k, 1)
        return (windows * share).sum(axis=2), share
