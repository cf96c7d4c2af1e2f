"""Recurrent layers with Keras's names, defaults and call semantics."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import initializers
from ..functional import LSTMCache, LSTMGrads, _flag, lstm, lstm_backward, lstm_forward
from ..stream import LSTMStream

_DTYPES = ("float32", "float64")


def _as_array(value, name: str) -> np.ndarray:
    """np.asarray that names the argument when NumPy cannot make an array of it."""
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name}: expected an array, got {type(value).__name__} ({exc})") from None


class LSTM:
    """An LSTM layer (Keras's ``keras.layers.LSTM``) over NumPy arrays.

    The weights are made on the first call from the input's last dimension: ``kernel`` (I, 4H)
    glorot-uniform, ``recurrent_kernel`` (H, 4H) orthogonal, ``bias`` (4H,) zeros with the forget
    block at 1 (``unit_forget_bias``). ``seed`` makes them reproducible. Gate blocks are i, f, g, o.

    Calling the layer on x (B, T, I) returns, as Keras does, the last hidden state (B, H), or the
    whole sequence (B, T, H) with ``return_sequences=True``; with ``return_state=True`` it returns
    ``[output, h, c]``.

    Args:
        units: H, the number of hidden units.
        return_sequences, return_state: what a call returns, as above.
        time_major: take and return (T, B, ...) arrays.
        unit_forget_bias: start the forget gate's bias at 1.
        kernel_initializer, recurrent_initializer, bias_initializer: Keras names or callables
            ``(shape, dtype, rng) -> array``.
        seed: an int for reproducible weights.
        dtype: "float32" (default) or "float64"; the weights' dtype and the compute dtype.
    """

    def __init__(
        self,
        units: int,
        *,
        return_sequences: bool = False,
        return_state: bool = False,
        time_major: bool = False,
        unit_forget_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        seed: int | None = None,
        dtype: str = "float32",
        name: str | None = None,
    ) -> None:
        if not isinstance(units, (int, np.integer)) or isinstance(units, bool) or units < 1:
            raise ValueError(f"units: expected a positive integer, got {units!r}")
        try:
            known = dtype is not None and np.dtype(dtype).name in _DTYPES
        except TypeError:
            known = False
        if not known:
            raise TypeError(f"dtype: expected one of {_DTYPES}, got {dtype!r}")
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0
        ):
            raise TypeError(f"seed: expected None or a non-negative int, got {seed!r}")
        self.units = int(units)
        self.return_sequences = _flag(return_sequences, "return_sequences")
        self.return_state = _flag(return_state, "return_state")
        self.time_major = _flag(time_major, "time_major")
        self.unit_forget_bias = _flag(unit_forget_bias, "unit_forget_bias")
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        self._init = {
            "kernel": initializers.get(kernel_initializer, "kernel_initializer"),
            "recurrent_kernel": initializers.get(recurrent_initializer, "recurrent_initializer"),
            "bias": initializers.get(bias_initializer, "bias_initializer"),
        }
        self.seed = seed
        self.dtype = np.dtype(dtype)
        self.name = name or "lstm"
        self._weights: dict[str, np.ndarray] = {}

    # -- weights ---------------------------------------------------------------------------

    @property
    def built(self) -> bool:
        return bool(self._weights)

    def build(self, input_size: int) -> None:
        """Make the weights for inputs with ``input_size`` features."""
        rng = np.random.default_rng(self.seed)
        H = self.units
        kernel = self._init["kernel"]((int(input_size), 4 * H), self.dtype, rng)
        recurrent = self._init["recurrent_kernel"]((H, 4 * H), self.dtype, rng)
        bias = self._init["bias"]((4 * H,), self.dtype, rng)
        if self.unit_forget_bias:
            bias[H : 2 * H] = 1
        self._weights = {}
        self.set_weights([kernel, recurrent, bias])

    def _shapes(self, input_size: int):
        H = self.units
        return {"kernel": (input_size, 4 * H), "recurrent_kernel": (H, 4 * H), "bias": (4 * H,)}

    def _set(self, name: str, value) -> None:
        if not self.built:
            raise ValueError(f"{name}: the layer has no weights yet; call it or build() first")
        self._assign(name, value, self._shapes(self._weights["kernel"].shape[0])[name])

    def _assign(self, name: str, value, shape) -> None:
        arr = _as_array(value, name)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name}: expected an array of real numbers, got dtype {arr.dtype}")
        if arr.shape != tuple(shape):
            raise ValueError(f"{name}: expected shape {tuple(shape)}, got {arr.shape}")
        self._weights[name] = np.array(arr, dtype=self.dtype, order="C")

    kernel = property(
        lambda self: self._weights.get("kernel"),
        lambda self, v: self._set("kernel", v),
        doc="(I, 4H) input weights.",
    )
    recurrent_kernel = property(
        lambda self: self._weights.get("recurrent_kernel"),
        lambda self, v: self._set("recurrent_kernel", v),
        doc="(H, 4H) recurrent weights.",
    )
    bias = property(
        lambda self: self._weights.get("bias"),
        lambda self, v: self._set("bias", v),
        doc="(4H,) bias.",
    )

    def get_weights(self) -> list[np.ndarray]:
        """[kernel, recurrent_kernel, bias], copies (empty before the layer is built)."""
        if not self.built:
            return []
        return [self._weights[n].copy() for n in ("kernel", "recurrent_kernel", "bias")]

    def set_weights(self, weights) -> None:
        """Set [kernel, recurrent_kernel, bias]; builds the layer from the kernel's shape."""
        if not isinstance(weights, (list, tuple)) or len(weights) != 3:
            got = (
                f"a {type(weights).__name__} of length {len(weights)}"
                if isinstance(weights, (list, tuple))
                else type(weights).__name__
            )
            raise ValueError(
                f"weights: expected a list [kernel, recurrent_kernel, bias], got {got}"
            )
        kernel = _as_array(weights[0], "kernel")
        if kernel.ndim != 2:
            raise ValueError(
                f"kernel: expected shape (input, {4 * self.units}), got {kernel.shape}"
            )
        shapes = self._shapes(kernel.shape[0])
        staged: dict[str, np.ndarray] = {}
        previous, self._weights = self._weights, staged
        try:
            for name, value in zip(("kernel", "recurrent_kernel", "bias"), weights):
                self._assign(name, value, shapes[name])
        except Exception:
            self._weights = previous  # nothing changes unless every weight is valid
            raise

    def count_params(self) -> int:
        return sum(w.size for w in self._weights.values())

    # -- computation -----------------------------------------------------------------------

    def _ensure_built(self, x) -> None:
        if not self.built:
            shape = np.shape(x)
            if len(shape) != 3:
                order = "(time, batch, input)" if self.time_major else "(batch, time, input)"
                raise ValueError(f"x: expected a 3-D array {order}, got shape {shape}")
            self.build(shape[2])

    def _outputs(self, y, h, c):
        last = y if self.return_sequences else h
        return [last, h, c] if self.return_state else last

    def __call__(self, x, initial_state=None):
        """Inference: see the class docstring for what is returned."""
        self._ensure_built(x)
        y, (h, c) = lstm(x, *self._weight_arrays(), initial_state, time_major=self.time_major)
        return self._outputs(y, h, c)

    def forward(self, x, initial_state=None):
        """Like a call, and also return the cache :meth:`backward` needs: ``(outputs, cache)``."""
        self._ensure_built(x)
        y, (h, c), cache = lstm_forward(
            x, *self._weight_arrays(), initial_state, time_major=self.time_major
        )
        return self._outputs(y, h, c), cache

    def backward(self, cache: LSTMCache, doutputs) -> LSTMGrads:
        """Gradients from dL/d(outputs), shaped like what :meth:`forward` returned: one array,
        or ``[doutput, dh, dc]`` with ``return_state`` (any of them None)."""
        if self.return_state:
            if not isinstance(doutputs, (list, tuple)) or len(doutputs) != 3:
                raise ValueError("doutputs: expected [doutput, dh, dc] for a return_state layer")
            dout, dh, dc = doutputs
        else:
            dout, dh, dc = doutputs, None, None
        if self.return_sequences:
            return lstm_backward(cache, dout, (dh, dc))
        if dout is not None:
            dh = dout if dh is None else np.add(dh, dout)
        return lstm_backward(cache, None, (dh, dc))

    def stream(self, initial_state=None, *, batch_size: int | None = None) -> LSTMStream:
        """A :class:`fastlstm.LSTMStream` with a copy of this layer's current weights."""
        if not self.built:
            raise ValueError("stream: the layer has no weights yet; call it or build() first")
        return LSTMStream(*self._weight_arrays(), initial_state, batch_size=batch_size)

    def _weight_arrays(self):
        """(kernel, recurrent_kernel, bias) without copies."""
        if not self.built:
            raise ValueError("the layer has no weights yet; call it or build() first")
        w = self._weights
        return w["kernel"], w["recurrent_kernel"], w["bias"]

    # -- config ----------------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        """Plain JSON data; ``LSTM.from_config(config)`` makes the same (unbuilt) layer."""

        def init_name(v):
            if isinstance(v, str):
                return v
            raise ValueError("get_config: only initialisers given by name can be serialised")

        return {
            "units": self.units,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "time_major": self.time_major,
            "unit_forget_bias": self.unit_forget_bias,
            "kernel_initializer": init_name(self.kernel_initializer),
            "recurrent_initializer": init_name(self.recurrent_initializer),
            "bias_initializer": init_name(self.bias_initializer),
            "seed": self.seed,
            "dtype": self.dtype.name,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LSTM:
        return cls(**config)

    def __repr__(self) -> str:
        return f"LSTM(units={self.units}, dtype={self.dtype.name}, built={self.built})"
