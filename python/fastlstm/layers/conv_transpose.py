"""Keras's ``Conv1DTranspose``: the transpose of Conv1D along time, which lengthens a sequence
(the decoder of a convolutional autoencoder, as in keras.io's time-series anomaly detector).

Each input step i adds ``kernel[j] @ x[i]`` to output step ``i·strides + j·dilation`` for every
tap j: a "full" output of (T - 1)·strides + span steps (span = (kernel_size - 1)·dilation + 1),
from which ``padding`` takes Keras's window (its rule for every backend, TensorFlow's):

- "valid": the full output, with ``output_padding`` steps more on the right (by default
  max(span, strides) - span, so that it is (T - 1)·strides + max(span, strides) steps);
- "same": with p = strides + span - 2 (by default; span + span % 2 - 2 + output_padding when
  given), the window starts span - 1 - min(ceil(p / 2), span - 1) steps in and is
  (T - 1)·strides + p - span + 2 long (T·strides by default).

Steps of the window past the full output's end hold the bias alone. Masks: none taken, none
handed on (as Keras's).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import activations
from .._arrays import check_room, integer
from .convolutional import Conv1D


def _window(steps: int, span: int, stride: int, padding: str, output_padding) -> tuple[int, int]:
    """(first step of the full output taken, steps taken) for an input of ``steps`` steps."""
    if padding == "valid":
        extra = max(span, stride) - span if output_padding is None else output_padding
        return 0, (steps - 1) * stride + span + extra
    # the padding Keras gives the stretched input, both sides together
    pad = stride + span - 2 if output_padding is None else span + span % 2 - 2 + output_padding
    left = min(pad // 2 + pad % 2, span - 1)
    return span - 1 - left, (steps - 1) * stride + pad - span + 2


class Conv1DTranspose(Conv1D):
    """``activation(conv_transpose(x, kernel) + bias)``: x (B, T, C) -> (B, T_out, filters),
    Keras's ``keras.layers.Conv1DTranspose``; T_out is T·strides with ``padding="same"`` (see
    the module for "valid" and ``output_padding``).

    kernel (kernel_size, filters, C), Keras's layout (that of the Conv1D it transposes),
    glorot-uniform; bias (filters,) zeros. ``output_padding`` (below ``strides``) lengthens the
    output on the right; ``dilation_rate`` spaces the taps."""

    default_name = "conv1d_transpose"
    _paddings = ("valid", "same")

    def __init__(
        self,
        filters: int,
        kernel_size,
        strides=1,
        padding: str = "valid",
        output_padding=None,
        data_format: str | None = None,
        dilation_rate=1,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            data_format=data_format,
            dilation_rate=dilation_rate,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            **kwargs,
        )
        if output_padding is not None:
            if isinstance(output_padding, (tuple, list)) and len(output_padding) == 1:
                output_padding = output_padding[0]
            output_padding = integer(output_padding, "output_padding", at_least=0)
            if output_padding >= self.strides:
                raise ValueError(
                    f"output_padding: expected fewer steps than strides ({self.strides}), got "
                    f"{output_padding}"
                )
        self.output_padding = output_padding

    kernel = property(lambda self: self._weights.get("kernel"), doc="(k, filters, C) weights.")

    def _weight_shapes(self, first_shape):
        if len(first_shape) != 3 or first_shape[:2] != (self.kernel_size, self.filters):
            raise ValueError(
                f"kernel: expected shape ({self.kernel_size}, {self.filters}, channels), got "
                f"{tuple(first_shape)}"
            )
        return {"kernel": (self.kernel_size, self.filters, first_shape[2]), "bias": (self.filters,)}

    _kernel_channels = 2

    def _kernel_shape(self, channels: int) -> tuple:
        return (self.kernel_size, self.filters, channels)

    def _where(self, steps: int, shape: tuple) -> tuple[int, int]:
        """_window's (start, T_out) for ``steps`` input steps; ValueError naming x (``shape``,
        as given) for none."""
        if steps < 1:
            raise ValueError(f"x: expected at least 1 step, got shape {shape}")
        return _window(steps, self._span(), self.strides, self.padding, self.output_padding)

    def _out_steps(self, steps: int | None, shape: tuple) -> int | None:
        return None if steps is None else self._where(steps, shape)[1]

    def forward(self, x, training: bool = False, mask=None):
        self._ensure_built(x)
        weights = self._weights  # one set, whatever another thread's set_weights does
        kernel = weights["kernel"]  # (k, filters, C)
        given = np.shape(x)
        x = self._input(x)
        batch, steps, channels = x.shape
        if channels != kernel.shape[2]:
            raise ValueError(
                f"x: expected {kernel.shape[2]} channels (the layer {self.name!r} was built for "
                f"them), got shape {given}"
            )
        start, out_steps = self._where(steps, given)
        # The taps' products (B, T, k, filters), and z, y and an activation's temporaries: the
        # output's steps grow with strides and dilation_rate, not with x alone
        values = batch * (steps * self.kernel_size + 4 * out_steps) * self.filters
        what = (
            f"its output of {out_steps} steps (strides {self.strides}, dilation_rate "
            f"{self.dilation_rate}) for x of shape {given} and its working copies"
        )
        check_room(f"layer {self.name!r}", values, kernel.dtype, what)
        # Every tap's contribution at once: (B·T, C) @ (C, k·filters)
        taps = x.reshape(-1, channels) @ kernel.transpose(2, 0, 1).reshape(channels, -1)
        taps = taps.reshape(batch, steps, self.kernel_size, self.filters)
        z = np.zeros((batch, out_steps, self.filters), taps.dtype)
        for j in range(self.kernel_size):
            if (lands := self._tap_steps(j, start, steps, out_steps)) is not None:
                i0, i1, at = lands
                z[:, at] += taps[:, i0:i1, j]
        if self.use_bias:
            z += weights["bias"]
        y = activations.apply(self.activation, z)
        keep_z = z if self.activation in activations.NEEDS_Z else None
        return self._laid_out(y), (x, start, kernel, y, keep_z)

    def _tap_steps(self, j: int, start: int, steps: int, out_steps: int):
        """Where tap j's contributions land in the window: input steps [i0, i1) go to output
        steps ``at`` (i·strides + j·dilation - start, those inside [0, T_out)); None for none."""
        stride = self.strides
        first = j * self.dilation_rate - start  # where input step 0 lands in the window
        i0 = max(0, -(first // stride))  # the first input step landing at 0 or after
        i1 = min(steps, (out_steps - 1 - first) // stride + 1)  # past the last inside
        if i1 <= i0:
            return None
        return i0, i1, slice(first + i0 * stride, first + (i1 - 1) * stride + 1, stride)

    def backward(self, cache, dout):
        x, start, kernel, y, z = cache
        dz = activations.backward(self.activation, y, self._gradient(dout, y.shape), z)
        batch, steps, channels = x.shape
        dtaps = np.zeros((batch, steps, self.kernel_size, self.filters), dz.dtype)
        for j in range(self.kernel_size):
            if (lands := self._tap_steps(j, start, steps, dz.shape[1])) is not None:
                i0, i1, at = lands
                dtaps[:, i0:i1, j] = dz[:, at]
        flat = dtaps.reshape(-1, self.kernel_size * self.filters)  # (B·T, k·filters)
        dkernel = (x.reshape(-1, channels).T @ flat).reshape(channels, self.kernel_size, -1)
        grads = {"kernel": dkernel.transpose(1, 2, 0).astype(kernel.dtype, copy=False)}
        if self.use_bias:
            grads["bias"] = dz.sum(axis=(0, 1))
        self._keep_grads(grads)
        dx = flat @ kernel.reshape(-1, channels)  # (B·T, k·filters) @ (k·filters, C)
        return self._laid_out(dx.reshape(batch, steps, channels))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "output_padding": self.output_padding}
