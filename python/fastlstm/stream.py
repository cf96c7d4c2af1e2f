"""Streaming inference: one timestep per call, the state carried between calls."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike

from . import _core
from ._arrays import integer
from .functional import _ACTIVATIONS, _choice, _flag, _gru_cell, _pair, _single


class _Step(Protocol):
    def __call__(self, x_t: ArrayLike, out: np.ndarray | None = None) -> np.ndarray: ...


class _Run(Protocol):
    def __call__(
        self, x: ArrayLike, out: np.ndarray | None = None, *, reset: bool = False
    ) -> np.ndarray: ...


def _positional(compiled, owner: str) -> Any:
    """``step(x_t, out=None)`` or ``run(x, out=None, *, reset=False)`` over the compiled method of
    that name, always called positionally (the arguments keep their documented names for keyword
    calls). ``owner``, the stream's class name, names the method in Python's own errors (a
    missing or unknown argument): ``LSTMStream.step()``."""
    if compiled.__name__ == "step":

        def method(x_t, out=None):
            return compiled(x_t, out)

    else:

        def method(x, out=None, *, reset=False):
            if reset is not False and reset is not True:
                reset = _flag(reset, "reset")
            return compiled(x, out, reset)

    method.__name__ = compiled.__name__
    method.__qualname__ = f"{owner}.{compiled.__name__}"
    method.__doc__ = compiled.__doc__
    return method


class LSTMStream:
    """An LSTM that advances one timestep per :meth:`step`, for services fed live data.

    The weights are copied in when the stream is made (later changes to the arrays do not reach
    it) and every buffer is sized then, so a step allocates nothing inside the core. ``step`` is
    one line of Python over the compiled method, which takes its arguments positionally: a
    keyword ``out=`` through the binding's own argument parsing cost 0.19 µs more per step (0.48
    against 0.35 µs for an empty step), this wrapper 0.035 µs for a positional call. Calling
    ``step`` T times equals one :func:`fastlstm.lstm` call over the T steps to rounding (the call
    computes x·K for all steps in one GEMM, whose sums may run in another order: float32 2.2e-8
    seen at H=2; with a projection 2.6e-6 at I=256, H=512). Concurrent calls on
    one stream are safe and run one after another; give each thread its own stream to run them
    in parallel.

    :meth:`run` advances a whole chunk of timesteps in one call, from the weights packed when the
    stream was made: for a service that receives frames in chunks, or that answers requests of
    the same batch size with the same weights (``reset()``, then ``run(x)``), where it saves the
    per-call packing of the weights that :func:`fastlstm.lstm` does. Threads that share a stream
    for such requests call ``run(x, reset=True)``: the reset and the run happen under one hold of
    the stream's lock, where ``reset()`` then ``run(x)`` could start from another request's state.

    Args:
        kernel, recurrent_kernel, bias: the weights, as for :func:`fastlstm.lstm`.
        initial_state: ``(h0, c0)``, h0 (B, H) or (B, P) with a projection, c0 (B, H); zeros
            when omitted.
        batch_size: B, the number of independent streams advanced together. Defaults to the
            initial state's batch, else 1.
        peephole, clip, projection: the LSTM's options, as for :func:`fastlstm.lstm` (with a
            projection, h is (B, P)).

    ``step(x_t, out=None)``: x_t is (B, I); returns h_t (B, H), (B, P) with a projection. With
    ``out``, a C-contiguous array of that shape and the stream's dtype, h_t is written there and
    no array is allocated at all.

    ``run(x, out=None, *, reset=False)``: x is (B, T, I); returns h_t for every step, (B, T, H)
    or (B, T, P) (into ``out`` when given), and carries the state on, as T calls of ``step`` would (equal to
    float rounding); ``reset=True`` first sets the state to zeros.
    """

    # Bound in __init__ to one-line wrappers over the compiled methods (see _positional).
    step: _Step
    run: _Run

    _cell = "lstm"  # the core's name for the cell

    def __init__(
        self,
        kernel,
        recurrent_kernel,
        bias,
        initial_state: tuple[np.ndarray, np.ndarray] | None = None,
        *,
        batch_size: int | None = None,
        peephole=None,
        clip: float | None = None,
        projection=None,
    ) -> None:
        given = self._given_state(initial_state)
        named = "batch_size"
        if batch_size is None and given is not None and np.ndim(given) == 2:
            batch_size, named = np.shape(given)[0], "initial_state's batch"  # (B, width)
        batch_size = integer(
            1 if batch_size is None else batch_size, named, at_least=1, below=2**31
        )
        self.dtype = _core.compute_dtype(kernel)
        suffix = "f64" if self.dtype == np.float64 else "f32"
        impl = getattr(_core, f"Stream_{self._cell}_{suffix}")
        self._impl = impl(
            kernel, recurrent_kernel, bias, int(batch_size), peephole, clip, projection
        )
        self.step = _positional(self._impl.step, type(self).__name__)
        self.run = _positional(self._impl.run, type(self).__name__)
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
        """A copy of the carried state ``(h, c)``: h (B, H) ((B, P) with a projection), c (B, H)."""
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

    def _given_state(self, initial_state):
        """An array of the initial state whose rows give the batch size: h, else c."""
        h, c = _pair(initial_state, "initial_state")
        return h if h is not None else c

    def __copy__(self):
        # copy.copy would share the native stream, its state included: a second session
        # stepping it would move the first one's state
        raise TypeError(
            f"{type(self).__name__} cannot be copied (a copy would share its state): make "
            "another stream from the weights for another session, and copy a state with .state"
        )

    def __deepcopy__(self, memo):
        raise TypeError(self._not_pickled("deep-copied"))

    def __reduce_ex__(self, protocol):
        # Its weights lie packed for this process's CPU and thread count, in the native stream.
        raise TypeError(self._not_pickled("pickled"))

    def _not_pickled(self, what: str) -> str:
        return (
            f"{type(self).__name__} cannot be {what}: make another stream from the weights "
            "(in the other process, for multiprocessing), and pass its state with .state"
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(batch_size={self.batch_size}, input_size={self.input_size}, "
            f"units={self.units}, dtype={np.dtype(self.dtype).name})"
        )


class _HStream(LSTMStream):
    """A stream whose state is h alone, (B, H): the GRU's and the plain RNN's."""

    @property
    def state(self) -> np.ndarray:
        """A copy of the carried state h, (B, H)."""
        return self._impl.state()[0]

    @state.setter
    def state(self, value: np.ndarray) -> None:
        self.reset(value)

    def reset(self, state: np.ndarray | None = None) -> None:  # type: ignore[override]
        """Start again from ``state`` = h, or from zeros when it is None."""
        self._set(state, "state")

    def _set(self, state, name: str) -> None:
        self._impl.set_state(_single(state, name), None, name)

    def _given_state(self, initial_state):
        return _single(initial_state, "initial_state")


class GRUStream(_HStream):
    """A GRU that advances one timestep per :meth:`step` (see :class:`LSTMStream`). Its steps
    equal a :func:`fastlstm.gru` call to rounding, not always to the bit: where the call takes
    x·K for all steps in one GEMM, its sums may run in another order (float32 up to 7e-7 seen at
    I=H=8; with AVX-512 the same bits at H=128 and up, with AVX2 or SSE up to 8e-7 at H=128 and
    256). So for :class:`SimpleRNNStream`.

    Args:
        kernel, recurrent_kernel, bias, reset_after: as for :func:`fastlstm.gru`.
        initial_state: h0 (B, H); zeros when omitted.
        batch_size: as for :class:`LSTMStream`.

    ``state`` is h alone, (B, H).
    """

    def __init__(
        self,
        kernel,
        recurrent_kernel,
        bias,
        initial_state=None,
        *,
        reset_after: bool = True,
        batch_size: int | None = None,
    ) -> None:
        self._cell = _gru_cell(reset_after)
        super().__init__(kernel, recurrent_kernel, bias, initial_state, batch_size=batch_size)


class SimpleRNNStream(_HStream):
    """A plain RNN that advances one timestep per :meth:`step` (see :class:`GRUStream`);
    ``activation`` is "tanh" or "relu"."""

    def __init__(
        self,
        kernel,
        recurrent_kernel,
        bias,
        initial_state=None,
        *,
        activation: str = "tanh",
        batch_size: int | None = None,
    ) -> None:
        self._cell = "rnn_" + _choice(activation, "activation", _ACTIVATIONS)
        super().__init__(kernel, recurrent_kernel, bias, initial_state, batch_size=batch_size)
