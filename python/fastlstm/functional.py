"""The functional API: NumPy arrays in, NumPy arrays out, for the LSTM, the GRU and the plain RNN.

Shapes use B (batch), T (time), I (input features), H (hidden units). Inputs are batch-major
(B, T, I) unless ``time_major=True``, which takes and returns (T, B, ...) arrays.

Weights use one layout (Keras's), gate blocks side by side:
  LSTM       kernel (I, 4H), recurrent_kernel (H, 4H), bias (4H,); gates i, f, g, o.
  GRU        kernel (I, 3H), recurrent_kernel (H, 3H); gates z, r, h; bias (2, 3H) = [input bias;
             recurrent bias] with ``reset_after=True`` (PyTorch's GRU), (3H,) without.
  SimpleRNN  kernel (I, H), recurrent_kernel (H, H), bias (H,).

Dtype rule: fastlstm computes in float64 when ``kernel`` is float64 (or a wider float, such as
``np.longdouble``: float64 is the widest it computes in) and in float32 otherwise. Every
other array is converted to that dtype (copied only when its dtype or memory layout differs);
bool and integer arrays are accepted, complex, object and string arrays raise ``TypeError``.

Variable-length batches: every function takes ``mask`` (B, T) bools (Keras: a masked step carries
the state and repeats the previous output) or ``lengths`` (B,) ints (ONNX, PyTorch's packed
sequences: outputs past each length are zero, the final state is the one at the last valid step).

Recurrent dropout: every function takes ``recurrent_dropout_mask`` (B, H), which multiplies
h_{t-1} where it enters the recurrent product (the same mask at every step, as in Keras; the state
update and the outputs read h_{t-1} itself). Keras draws it as Bernoulli(1 - rate) / (1 - rate).
"""

from __future__ import annotations

from typing import Literal, NamedTuple, overload

import numpy as np
from numpy.typing import ArrayLike

from . import _core
from ._arrays import refuse_masked

State = tuple[np.ndarray, np.ndarray]


class LSTMGrads(NamedTuple):
    """Gradients of a loss with respect to every input of :func:`lstm_forward`."""

    x: np.ndarray  # like x: (B, T, I), or (T, B, I) when time-major
    kernel: np.ndarray  # (I, 4H)
    recurrent_kernel: np.ndarray  # (H, 4H)
    bias: np.ndarray  # (4H,)
    h0: np.ndarray  # (B, H)
    c0: np.ndarray  # (B, H)


class LSTMOptionGrads(NamedTuple):
    """:class:`LSTMGrads` and the gradients of the options a forward call used (None for an
    option it did not use)."""

    x: np.ndarray
    kernel: np.ndarray
    recurrent_kernel: np.ndarray  # (P, 4H) with a projection
    bias: np.ndarray
    h0: np.ndarray  # (B, P) with a projection
    c0: np.ndarray
    peephole: np.ndarray | None  # (3H,), blocks i, f, o
    projection: np.ndarray | None  # (H, P)


class GRUGrads(NamedTuple):
    """Gradients of a loss with respect to every input of :func:`gru_forward`."""

    x: np.ndarray  # like x
    kernel: np.ndarray  # (I, 3H)
    recurrent_kernel: np.ndarray  # (H, 3H)
    bias: np.ndarray  # like bias: (2, 3H) or (3H,)
    h0: np.ndarray  # (B, H)


class SimpleRNNGrads(NamedTuple):
    """Gradients of a loss with respect to every input of :func:`simple_rnn_forward`."""

    x: np.ndarray  # like x
    kernel: np.ndarray  # (I, H)
    recurrent_kernel: np.ndarray  # (H, H)
    bias: np.ndarray  # (H,)
    h0: np.ndarray  # (B, H)


class _Cache:
    """What backward needs from one forward call.

    It holds references to the call's input, weights and recurrent dropout mask, not copies: do
    not change them in place between forward and backward (the mask is copied: backward finds
    the valid steps from it). It also holds the y that forward returned, from which backward
    reads every h_{t-1}: that y is read-only (``y.copy()`` gives one to change). A cache may be
    used for several backward calls.
    """

    __slots__ = ("_cell", "_saved", "_time_major")
    _default_cell = "lstm"

    def __init__(self, saved: tuple, time_major: bool, cell: str | None = None) -> None:
        self._cell = cell or self._default_cell  # the core's name for the cell
        self._saved = saved
        self._time_major = time_major

    @property
    def time_major(self) -> bool:
        """The layout of forward's x, read-only: backward reads the saved arrays in it."""
        return self._time_major

    @property
    def dtype(self) -> np.dtype:
        return self._saved[1].dtype

    @property
    def batch_size(self) -> int:
        x = self._saved[0]
        return x.shape[1] if self.time_major else x.shape[0]

    def __repr__(self) -> str:
        x = self._saved[0]
        layout = "time-major" if self.time_major else "batch-major"
        return f"{type(self).__name__}(x shape={x.shape}, {layout}, dtype={self.dtype})"


class LSTMCache(_Cache):
    """What :func:`lstm_backward` needs from one :func:`lstm_forward` call (see ``_Cache``)."""

    __slots__ = ()

    @property
    def cell_states(self) -> np.ndarray:
        """c_t for every step, shaped like y (H wide with a projection, where y is P wide),
        read-only: what backward uses, or a copy of it
        where forward kept the valid steps only (lengths, masks of one run a row). Masked steps
        carry the state: c0 before a row's valid steps, the last valid c_t after them."""
        c = _core.cell_states(self._saved, self.time_major).view()
        c.flags.writeable = False
        return c


class GRUCache(_Cache):
    """What :func:`gru_backward` needs from one :func:`gru_forward` call (see ``_Cache``)."""

    __slots__ = ()
    _default_cell = "gru"


class SimpleRNNCache(_Cache):
    """What :func:`simple_rnn_backward` needs from one :func:`simple_rnn_forward` call."""

    __slots__ = ()
    _default_cell = "rnn_tanh"


def _pair(value, name: str):
    """(a, b) from a pair or None; names the argument when it is neither."""
    if value is None:
        return None, None
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return value[0], value[1]
    if isinstance(value, np.ndarray):  # np.stack([h, c]), say: one array, not two
        got = f"one array of shape {value.shape} (pass the tuple (h, c))"
    else:
        try:
            got = f"a {type(value).__name__} of length {len(value)}"
        except TypeError:  # no length: a scalar, ...
            got = type(value).__name__
    raise TypeError(
        f"{name}: expected a pair (h, c) of (batch, hidden) arrays as a tuple or list, or None, "
        f"got {got}"
    )


def _single(value, name: str):
    """The initial state of a cell without a cell state: an array, or a list holding one array
    or another library's tensor (Keras passes states as lists). A nested list of one row stays
    as it is: its item has no shape."""
    if isinstance(value, (list, tuple)) and len(value) == 1 and hasattr(value[0], "shape"):
        return value[0]
    return value


def _flag(value, name: str) -> bool:
    if value is True or value is False:  # the common case, without the isinstance
        return value
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected True or False, got {value!r}")
    return bool(value)


def _choice(value, name: str, options: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name}: expected one of {', '.join(options)}, got {value!r}")
    return value


def _run(
    cell,
    x,
    weights,
    h0,
    c0,
    time_major,
    mask,
    lengths,
    training: bool,
    dropout,
    peephole=None,
    clip=None,
    projection=None,
    cells: bool = False,
):
    """The core's forward for one cell: (time_major as a bool, (y, h, c, saved)). ``dropout`` is
    the recurrent dropout mask or None; peephole, clip and projection the LSTM's options;
    ``cells``: inference that keeps every c_t (in saved, for ``_core.cell_states``) without what
    else training keeps. Every argument goes to the core positionally: keywords cost pybind11
    about 1 µs a call."""
    time_major = _flag(time_major, "time_major")
    if type(x) is not np.ndarray:
        refuse_masked(x, "x")
    m, zero = (
        (None, False) if mask is None and lengths is None else _mask(mask, lengths, x, time_major)
    )
    return time_major, _core.rnn_forward(
        cell,
        x,
        *weights,
        h0,
        c0,
        m,
        zero,
        time_major,
        training,
        cells,
        dropout,
        peephole,
        clip,
        projection,
    )


def _kept(y: np.ndarray) -> np.ndarray:
    """A training forward's y as a read-only view: its cache holds the array and backward reads
    h_{t-1} from it, so an edit in place (``y *= mask``) would change every gradient silently."""
    view = y.view()
    view.flags.writeable = False
    return view


def _check_cache(cache, cls, forward: str) -> None:
    if not isinstance(cache, cls):
        raise TypeError(
            f"cache: expected the {cls.__name__} returned by {forward}, got {type(cache).__name__}"
        )


def _mask(mask, lengths, x, time_major: bool):
    """The (B, T) uint8 mask the core takes (or None) and whether masked outputs are zeroed.

    Both are batch-major whatever the layout of x. ``mask`` (B, T) bool: a masked step carries the state and repeats the previous output (Keras).
    ``lengths`` (B,) ints in [0, T]: steps past each length are masked and their outputs are zero,
    so the final state is the one at the last valid step (ONNX, PyTorch's packed sequences).
    """
    if mask is not None and lengths is not None:
        raise ValueError("mask, lengths: expected at most one of them, got both")
    if mask is not None:
        refuse_masked(mask, "mask")
        mask = np.asarray(mask)
        if mask.dtype.kind not in "biu":
            raise TypeError(
                f"mask: expected a (batch, time) array of bools, got dtype {mask.dtype}"
            )
        # A copy, whatever the dtype: a cache keeps it, and backward finds the steps forward
        # computed from it (the caller's array, changed in place, had sent it to unwritten rows).
        mask = np.array(mask if mask.dtype == np.bool_ else mask != 0, dtype=np.bool_, order="C")
        return mask.view(np.uint8), False
    if lengths is None:
        return None, False
    shape = np.shape(x)
    if len(shape) != 3:
        return None, False  # the core names x's shape as the problem
    batch, steps = (shape[1], shape[0]) if time_major else (shape[0], shape[1])
    refuse_masked(lengths, "lengths")
    lengths = np.asarray(lengths)
    if lengths.size == 0 and lengths.dtype.kind == "f":  # [] for an empty batch
        lengths = lengths.astype(np.int64)
    if lengths.dtype.kind not in "iu":
        raise TypeError(f"lengths: expected an array of ints, got dtype {lengths.dtype}")
    if lengths.shape != (batch,):
        raise ValueError(f"lengths: expected shape ({batch},) (batch,), got {lengths.shape}")
    # The mask first: a batch too large for it (x a view of no data, its strides 0) is refused
    # at once, not after minutes of reading lengths as large.
    try:
        mask = np.empty((batch, steps), np.bool_)
    except (MemoryError, ValueError):  # x holds no values (I = 0) but many steps
        raise MemoryError(
            f"lengths: the (batch, time) mask they make, {batch} x {steps} bytes, does not fit "
            "in memory"
        ) from None
    if lengths.size and (lengths.min() < 0 or lengths.max() > steps):
        bad = lengths[(lengths < 0) | (lengths > steps)][0]
        raise ValueError(f"lengths: expected values in [0, {steps}] (time steps), got {bad}")
    np.less(np.arange(steps), lengths[:, None], out=mask)
    return mask.view(np.uint8), True


# The result's length follows return_cell_states: (y, state), or (y, state, c_seq); a bool known
# only at run time gives either.
@overload
def lstm(
    x: ArrayLike,
    kernel: ArrayLike,
    recurrent_kernel: ArrayLike,
    bias: ArrayLike,
    initial_state: State | None = ...,
    *,
    time_major: bool = ...,
    mask: ArrayLike | None = ...,
    lengths: ArrayLike | None = ...,
    return_cell_states: Literal[False] = ...,
    peephole: ArrayLike | None = ...,
    clip: float | None = ...,
    projection: ArrayLike | None = ...,
    recurrent_dropout_mask: ArrayLike | None = ...,
) -> tuple[np.ndarray, State]: ...
@overload
def lstm(
    x: ArrayLike,
    kernel: ArrayLike,
    recurrent_kernel: ArrayLike,
    bias: ArrayLike,
    initial_state: State | None = ...,
    *,
    time_major: bool = ...,
    mask: ArrayLike | None = ...,
    lengths: ArrayLike | None = ...,
    return_cell_states: Literal[True],
    peephole: ArrayLike | None = ...,
    clip: float | None = ...,
    projection: ArrayLike | None = ...,
    recurrent_dropout_mask: ArrayLike | None = ...,
) -> tuple[np.ndarray, State, np.ndarray]: ...
@overload
def lstm(
    x: ArrayLike,
    kernel: ArrayLike,
    recurrent_kernel: ArrayLike,
    bias: ArrayLike,
    initial_state: State | None = ...,
    *,
    time_major: bool = ...,
    mask: ArrayLike | None = ...,
    lengths: ArrayLike | None = ...,
    return_cell_states: bool,
    peephole: ArrayLike | None = ...,
    clip: float | None = ...,
    projection: ArrayLike | None = ...,
    recurrent_dropout_mask: ArrayLike | None = ...,
) -> tuple[np.ndarray, State] | tuple[np.ndarray, State, np.ndarray]: ...
def lstm(
    x: ArrayLike,
    kernel: ArrayLike,
    recurrent_kernel: ArrayLike,
    bias: ArrayLike,
    initial_state: State | None = None,
    *,
    time_major: bool = False,
    mask: ArrayLike | None = None,
    lengths: ArrayLike | None = None,
    return_cell_states: bool = False,
    peephole: ArrayLike | None = None,
    clip: float | None = None,
    projection: ArrayLike | None = None,
    recurrent_dropout_mask: ArrayLike | None = None,
) -> tuple[np.ndarray, State] | tuple[np.ndarray, State, np.ndarray]:
    """Run an LSTM over a sequence (inference).

    Args:
        x: (B, T, I), or (T, B, I) with ``time_major=True``.
        kernel: (I, 4H). recurrent_kernel: (H, 4H). bias: (4H,). Gate blocks i, f, g, o.
        initial_state: ``(h0, c0)``, each (B, H) (h0 (B, P) with a projection); zeros when
            omitted.
        time_major: take x and return y time-major.
        mask: (B, T) bools (batch-major in either layout), False where a step is padding. A masked
            step carries the state unchanged and its output repeats the previous one (Keras).
        lengths: (B,) ints in [0, T], for right-padded batches (instead of a mask): outputs past
            each length are zero and (h, c) is the state at the last valid step (ONNX, PyTorch's
            packed sequences; no sorting needed).
        return_cell_states: also return c_t for every step (masked steps carry the state: with
            lengths, each sequence's last valid c_t repeats past its length, as the final c
            holds it). To train through them, :func:`lstm_forward`'s cache has them
            (``cache.cell_states``) and :func:`lstm_backward` takes their gradient
            (``dcell_states=``).
        peephole: (3H,) peephole weights, blocks i, f, o (ONNX's ``P`` holds them as i, o, f):
            ``p_i ⊙ c_{t-1}`` is added to the input gate's pre-activation, ``p_f ⊙ c_{t-1}`` to
            the forget gate's and ``p_o ⊙ c_t`` to the output gate's.
        clip: a positive number: every activation's input (the gates' pre-activations, after the
            peepholes) is clipped to [-clip, clip] (ONNX's ``clip``); a clipped input has no
            gradient. None: no clipping.
        projection: (H, P), PyTorch's ``proj_size`` (``weight_hr_l0.T``): the state is
            ``h_t = (o ⊙ tanh(c_t))·projection``, P wide, so y, h0, h and the recurrent_kernel's
            rows ((P, 4H)) are P wide while c stays H wide.
        recurrent_dropout_mask: (B, H), or (B, P) with a projection; see the module's notes.

    Returns:
        ``(y, (h, c))``: y is (B, T, H) (or (T, B, H)), the hidden state at every step; h and c
        (B, H) are the final states (y and h P wide with a projection). With T = 0, y is empty and (h, c) is the initial state.
        With ``return_cell_states=True``, ``(y, (h, c), c_seq)``, c_seq shaped like y (H wide
        with a projection, where y is P wide).
    """
    h0, c0 = _pair(initial_state, "initial_state")
    keep = _flag(return_cell_states, "return_cell_states")
    weights = (kernel, recurrent_kernel, bias)
    time_major, (y, h, c, saved) = _run(
        "lstm",
        x,
        weights,
        h0,
        c0,
        time_major,
        mask,
        lengths,
        False,
        recurrent_dropout_mask,
        peephole,
        clip,
        projection,
        keep,
    )
    return (y, (h, c), _core.cell_states(saved, time_major)) if keep else (y, (h, c))


def lstm_forward(
    x: ArrayLike,
    kernel: ArrayLike,
    recurrent_kernel: ArrayLike,
    bias: ArrayLike,
    initial_state: State | None = None,
    *,
    time_major: bool = False,
    mask: ArrayLike | None = None,
    lengths: ArrayLike | None = None,
    peephole: ArrayLike | None = None,
    clip: float | None = None,
    projection: ArrayLike | None = None,
    recurrent_dropout_mask: ArrayLike | None = None,
) -> tuple[np.ndarray, State, LSTMCache]:
    """Like :func:`lstm`, and also return the cache that :func:`lstm_backward` needs (it
    remembers the masks and options); ``cache.cell_states`` gives c_t for every step (a loss
    may read them: their gradient is ``lstm_backward``'s ``dcell_states``).

    Returns:
        ``(y, (h, c), cache)``.
    """
    h0, c0 = _pair(initial_state, "initial_state")
    weights = (kernel, recurrent_kernel, bias)
    time_major, (y, h, c, saved) = _run(
        "lstm",
        x,
        weights,
        h0,
        c0,
        time_major,
        mask,
        lengths,
        True,
        recurrent_dropout_mask,
        peephole,
        clip,
        projection,
    )
    return _kept(y), (h, c), LSTMCache(saved, time_major)


def lstm_backward(
    cache: LSTMCache,
    dy: ArrayLike | None,
    dstate: tuple[ArrayLike | None, ArrayLike | None] | None = None,
    *,
    dcell_states: ArrayLike | None = None,
    input_grad: bool = True,
) -> LSTMGrads | LSTMOptionGrads:
    """Backpropagate through time for one :func:`lstm_forward` call.

    Args:
        cache: the cache that call returned.
        dy: dL/dy, shaped like y; None when the loss does not depend on y.
        dstate: ``(dh, dc)``, dL/dh and dL/dc for the final state, each (B, H) (dh (B, P) with a
            projection); either or both may be None (zero).
        dcell_states: dL/dc_t for every step, shaped like ``cache.cell_states`` (H wide), where
            the loss reads the cell states too; None (the default) when it does not. A masked
            step's c_t is the state it carried (c0 before a row's valid steps, the last valid
            c_t after them, with lengths too), so its gradient goes to that state.
        input_grad: False when dL/dx is not wanted (x is data, as for a model's first layer):
            its product, about I / (2 * (I + H)) of backward's work, is skipped and ``x`` is
            None. The other gradients are the same bits either way.

    Returns:
        :class:`LSTMGrads` with x, kernel, recurrent_kernel, bias, h0 and c0; for a forward call
        with peepholes or a projection, :class:`LSTMOptionGrads`, which adds peephole and
        projection.
    """
    _check_cache(cache, LSTMCache, "lstm_forward")
    dh, dc = _pair(dstate, "dstate")
    grads = _core.rnn_backward(
        "lstm",
        cache._saved,
        dy,
        dh,
        dc,
        cache.time_major,
        _flag(input_grad, "input_grad"),
        dcell_states,
    )
    if grads[6] is None and grads[7] is None:
        return LSTMGrads(*grads[:6])
    return LSTMOptionGrads(*grads)


# -- GRU ------------------------------------------------------------------------------------------


def _gru_cell(reset_after) -> str:
    return "gru" if _flag(reset_after, "reset_after") else "gru_reset_before"


def gru(
    x: ArrayLike,
    kernel: ArrayLike,
    recurrent_kernel: ArrayLike,
    bias: ArrayLike,
    initial_state: ArrayLike | None = None,
    *,
    reset_after: bool = True,
    time_major: bool = False,
    mask: ArrayLike | None = None,
    lengths: ArrayLike | None = None,
    recurrent_dropout_mask: ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run a GRU over a sequence (inference).

    Per step, gate blocks z (update), r (reset), h (candidate):
    ``u = σ(x·K_z + b_z + h·R_z + b'_z)``, ``r = σ(x·K_r + b_r + h·R_r + b'_r)``,
    ``n = tanh(x·K_h + b_h + r ⊙ (h·R_h + b'_h))`` with ``reset_after=True`` (PyTorch, Keras's
    default, ONNX ``linear_before_reset=1``; bias (2, 3H) = [b; b']) or
    ``n = tanh(x·K_h + (r ⊙ h)·R_h + b_h)`` without (the original GRU, ONNX's default; bias (3H,)),
    and ``h_t = u ⊙ h_{t-1} + (1 - u) ⊙ n``.

    Args:
        x: (B, T, I), or (T, B, I) with ``time_major=True``.
        kernel: (I, 3H). recurrent_kernel: (H, 3H). bias: (2, 3H), or (3H,) without reset_after.
        initial_state: h0 (B, H); zeros when omitted.
        reset_after, time_major, mask, lengths, recurrent_dropout_mask: as above and in
            :func:`lstm`.

    Returns:
        ``(y, h)``: y (B, T, H) (or (T, B, H)) the hidden state at every step, h (B, H) the last.
    """
    cell = _gru_cell(reset_after)
    h0 = _single(initial_state, "initial_state")
    weights = (kernel, recurrent_kernel, bias)
    _, (y, h, _, _) = _run(
        cell, x, weights, h0, None, time_major, mask, lengths, False, recurrent_dropout_mask
    )
    return y, h


def gru_forward(
    x: ArrayLike,
    kernel: ArrayLike,
    recurrent_kernel: ArrayLike,
    bias: ArrayLike,
    initial_state: ArrayLike | None = None,
    *,
    reset_after: bool = True,
    time_major: bool = False,
    mask: ArrayLike | None = None,
    lengths: ArrayLike | None = None,
    recurrent_dropout_mask: ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray, GRUCache]:
    """Like :func:`gru`, and also return the cache :func:`gru_backward` needs: ``(y, h, cache)``."""
    cell = _gru_cell(reset_after)
    h0 = _single(initial_state, "initial_state")
    weights = (kernel, recurrent_kernel, bias)
    time_major, (y, h, _, saved) = _run(
        cell, x, weights, h0, None, time_major, mask, lengths, True, recurrent_dropout_mask
    )
    return _kept(y), h, GRUCache(saved, time_major, cell)


def gru_backward(
    cache: GRUCache, dy: ArrayLike | None, dh: ArrayLike | None = None, *, input_grad: bool = True
) -> GRUGrads:
    """Backpropagate through time for one :func:`gru_forward` call.

    Args:
        cache: the cache that call returned.
        dy: dL/dy, shaped like y; None when the loss does not depend on y.
        dh: dL/dh for the final state (B, H), or None (zero).
        input_grad: False skips dL/dx (``x`` is None), as for :func:`lstm_backward`.

    Returns:
        :class:`GRUGrads` with x, kernel, recurrent_kernel, bias (shaped like bias) and h0.
    """
    _check_cache(cache, GRUCache, "gru_forward")
    dh = _single(dh, "dh")
    grads = _core.rnn_backward(
        cache._cell, cache._saved, dy, dh, None, cache.time_major, _flag(input_grad, "input_grad")
    )
    return GRUGrads(*grads[:5])


# -- SimpleRNN ------------------------------------------------------------------------------------

_ACTIVATIONS = ("tanh", "relu")


def simple_rnn(
    x: ArrayLike,
    kernel: ArrayLike,
    recurrent_kernel: ArrayLike,
    bias: ArrayLike,
    initial_state: ArrayLike | None = None,
    *,
    activation: str = "tanh",
    time_major: bool = False,
    mask: ArrayLike | None = None,
    lengths: ArrayLike | None = None,
    recurrent_dropout_mask: ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Run a plain RNN over a sequence (inference): ``h_t = act(x_t·K + h_{t-1}·R + b)``.

    Args:
        x: (B, T, I), or (T, B, I) with ``time_major=True``.
        kernel: (I, H). recurrent_kernel: (H, H). bias: (H,).
        initial_state: h0 (B, H); zeros when omitted.
        activation: "tanh" or "relu".
        time_major, mask, lengths, recurrent_dropout_mask: as in :func:`lstm`.

    Returns:
        ``(y, h)`` as :func:`gru` does.
    """
    cell = "rnn_" + _choice(activation, "activation", _ACTIVATIONS)
    h0 = _single(initial_state, "initial_state")
    weights = (kernel, recurrent_kernel, bias)
    _, (y, h, _, _) = _run(
        cell, x, weights, h0, None, time_major, mask, lengths, False, recurrent_dropout_mask
    )
    return y, h


def simple_rnn_forward(
    x: ArrayLike,
    kernel: ArrayLike,
    recurrent_kernel: ArrayLike,
    bias: ArrayLike,
    initial_state: ArrayLike | None = None,
    *,
    activation: str = "tanh",
    time_major: bool = False,
    mask: ArrayLike | None = None,
    lengths: ArrayLike | None = None,
    recurrent_dropout_mask: ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray, SimpleRNNCache]:
    """Like :func:`simple_rnn`, and also return the cache :func:`simple_rnn_backward` needs."""
    cell = "rnn_" + _choice(activation, "activation", _ACTIVATIONS)
    h0 = _single(initial_state, "initial_state")
    weights = (kernel, recurrent_kernel, bias)
    time_major, (y, h, _, saved) = _run(
        cell, x, weights, h0, None, time_major, mask, lengths, True, recurrent_dropout_mask
    )
    return _kept(y), h, SimpleRNNCache(saved, time_major, cell)


def simple_rnn_backward(
    cache: SimpleRNNCache,
    dy: ArrayLike | None,
    dh: ArrayLike | None = None,
    *,
    input_grad: bool = True,
) -> SimpleRNNGrads:
    """Backpropagate through time for one :func:`simple_rnn_forward` call (see
    :func:`gru_backward`)."""
    _check_cache(cache, SimpleRNNCache, "simple_rnn_forward")
    dh = _single(dh, "dh")
    grads = _core.rnn_backward(
        cache._cell, cache._saved, dy, dh, None, cache.time_major, _flag(input_grad, "input_grad")
    )
    return SimpleRNNGrads(*grads[:5])
