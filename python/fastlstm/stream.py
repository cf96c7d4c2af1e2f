"""Streaming inference: one timestep per call, the state carried between calls."""

from __future__ import annotations

import numpy as np

from . import _core
from .functional import _pair


class LSTMStream:
    """An LSTM that advances one timestep per :meth:`step`, for services fed live data.

    The weights are copied in when the stream is made (later changes to the arrays do not reach
    it) and every buffer is sized then, so a step allocates nothing inside the core. ``step`` is
    the compiled method itself: no Python frame runs per step. Calling ``step`` T times equals one
    :func:`fastlstm.lstm` call over the T steps. Concurrent steps on one stream are safe and run
    one after another; give each thread its own stream to run them in parallel.

    Args:
        kernel, recurrent_kernel, bias: the weights, as for :func:`fastlstm.lstm`.
        initial_state: ``(h0, c0)``, each (B, H); zeros when omitted.
        batch_size: B, the number of independent streams advanced together. Defaults to the
            initial state's batch, else 1.

    ``step(x_t, out=None)``: x_t is (B, I); returns h_t (B, H). With ``out``, a C-contiguous
    (B, H) array of the stream's dtype, h_t is written there and no array is allocated at all.
    """

    def __init__(
        self,
        kernel,
        recurrent_kernel,
        bias,
        initial_state: tuple[np.ndarray, np.ndarray] | None = None,
        *,
        batch_size: int | None = None,
    ) -> None:
        h0, _ = _pair(initial_state, "initial_state")
        if batch_size is None:
            batch_size = np.shape(h0)[0] if h0 is not None and np.ndim(h0) == 2 else 1
        if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool):
            raise TypeError(f"batch_size: expected a positive integer, got {batch_size!r}")
        if not 1 <= batch_size < 2**31:
            raise ValueError(
                f"batch_size: expected a positive integer below 2**31, got {batch_size}"
            )
        self.dtype = _core.compute_dtype(kernel)
        impl = _core.LstmStreamF64 if self.dtype == np.float64 else _core.LstmStreamF32
        self._impl = impl(kernel, recurrent_kernel, bias, int(batch_size))
        self.step = self._impl.step
        self._set(initial_state, "initial_state")

    @property
    def batch_size(self) -> int:
        return self._impl.batch_size

    @property
    def units(self) -> int:
        return self._impl.units

    @property
    def input_size(self) -> int:
        return self._impl.input_size

    @property
    def state(self) -> tuple[np.ndarray, np.ndarray]:
        """A copy of the carried state ``(h, c)``, each (B, H)."""
        return self._impl.state()

    @state.setter
    def state(self, value: tuple[np.ndarray, np.ndarray]) -> None:
        self.reset(value)

    def reset(self, state: tuple[np.ndarray, np.ndarray] | None = None) -> None:
        """Start again from ``state`` = ``(h, c)``, or from zeros when it is None."""
        self._set(state, "state")

    def _set(self, state, name: str) -> None:
        h, c = _pair(state, name)
        self._impl.set_state(h, c, name)

    def __repr__(self) -> str:
        return (
            f"LSTMStream(batch_size={self.batch_size}, input_size={self.input_size}, "
            f"units={self.units}, dtype={np.dtype(self.dtype).name})"
        )
