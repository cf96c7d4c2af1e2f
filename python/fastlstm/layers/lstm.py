"""The LSTM layer (Keras's ``keras.layers.LSTM``) and its options beyond Keras: a projection
(PyTorch's ``proj_size``), peepholes and ONNX's clip. Everything that is not cell-specific (the
sequence walk, states, masks, dropout, config) is :class:`.recurrent.Recurrent`'s."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from .. import initializers
from .._arrays import check_proj_size
from ..functional import (
    LSTMCache,
    LSTMGrads,
    LSTMOptionGrads,
    _flag,
    lstm,
    lstm_backward,
    lstm_forward,
)
from ..stream import LSTMStream
from .base import _init_name, arrived, weight_property
from .recurrent import Recurrent


class LSTM(Recurrent):
    """An LSTM layer (Keras's ``keras.layers.LSTM``) over NumPy arrays.

    The weights are made on the first call from the input's last dimension: ``kernel`` (I, 4H)
    glorot-uniform, ``recurrent_kernel`` (H, 4H) orthogonal, ``bias`` (4H,) zeros with the forget
    block at 1 (``unit_forget_bias``). ``seed`` makes them reproducible. Gate blocks are i, f, g, o.

    Calling the layer on x (B, T, I) returns, as Keras does, the last hidden state (B, H), or the
    whole sequence (B, T, H) with ``return_sequences=True``; with ``return_state=True`` it returns
    ``[output, h, c]``. A (B, T) bool ``mask`` (from Embedding(mask_zero=True) or Masking in a
    model, or passed to a call) skips padding steps: the state is carried over them and the output
    repeats the previous one, as Keras.

    Options that Keras's LSTM lacks, off by default: three of the cell (the functional API's
    ``projection=``, ``peephole=`` and ``clip=``, see :func:`fastlstm.lstm`), whose weights come
    after the bias in ``weight_names``, peephole first, and are trained like the others; and one
    more output, every c_t:

    - ``proj_size``: P, PyTorch's ``nn.LSTM(proj_size=P)``, an int with 0 < P < units. Adds
      ``projection`` (H, P) (``projection_initializer``, glorot-uniform), and
      ``h_t = (o ⊙ tanh(c_t))·projection``: the outputs and h are P wide (B, T, P), c stays H wide,
      the recurrent kernel is (P, 4H) and the recurrent dropout mask (B, P).
    - ``use_peepholes``: TensorFlow 1's ``LSTMCell`` name. Adds ``peephole`` (3H,), blocks i, f, o
      (``peephole_initializer``, zeros): p_i ⊙ c_{t-1} and p_f ⊙ c_{t-1} join the input and forget
      gates' pre-activations, p_o ⊙ c_t the output gate's.
    - ``clip``: a positive number, ONNX's LSTM ``clip`` (a cell clip in ONNX's words): every gate
      pre-activation is bounded to [-clip, clip], with no gradient where it clips. It is neither
      TensorFlow 1's ``cell_clip`` (which bounds c_t) nor an optimizer's gradient clipping
      (``clipnorm``, ``clipvalue``).
    - ``return_cell_states``: also return c_t for every step, (B, T, H) (H wide with a
      projection; every step with or without ``return_sequences``), in the order and layout of
      the sequence output (a go_backwards layer's reversed, as its outputs are): ``[output,
      cell_states]``, or ``[output, h, c, cell_states]`` with ``return_state``. A masked step's
      c_t is the state it carried. In a functional model it is one more output tensor, and
      training reaches the weights through it; its mask is the input's, reversed under
      go_backwards as the cell states are (Keras leaves a go_backwards layer's sequence output
      with the input's mask unreversed, and fastlstm follows it there). A Sequential and a
      Bidirectional take one output and refuse it. ``backward`` then takes its gradient last
      in ``doutputs``.

    Args: those of :class:`Recurrent`, ``unit_forget_bias``: start the forget gate's bias at 1,
    and the options above with ``peephole_initializer`` and ``projection_initializer``.
    """

    gates = 4
    state_names = ("h", "c")
    default_name = "lstm"

    _refused: ClassVar[dict[str, str]] = {
        "activation": "fixed at tanh (with sigmoid gates), as cuDNN's LSTM: 'tanh' or leave it out",
        "recurrent_activation": "fixed at sigmoid, as cuDNN's LSTM: 'sigmoid' or leave it out",
        "use_bias": "always True, as cuDNN's LSTM (a zero bias_initializer starts it at 0)",
    }
    _fixed: ClassVar[dict[str, Any]] = {
        "activation": "tanh",
        "recurrent_activation": "sigmoid",
        "use_bias": True,
    }

    def __init__(
        self,
        units: int,
        *,
        unit_forget_bias: bool = True,
        proj_size: int | None = None,
        use_peepholes: bool = False,
        clip: float | None = None,
        return_cell_states: bool = False,
        peephole_initializer: Any = "zeros",
        projection_initializer: Any = "glorot_uniform",
        **kwargs: Any,
    ) -> None:
        super().__init__(units, **kwargs)
        self.unit_forget_bias = _flag(unit_forget_bias, "unit_forget_bias")
        self.proj_size = check_proj_size(proj_size, self.units)
        self.use_peepholes = _flag(use_peepholes, "use_peepholes")
        self.clip = _check_clip(clip, self.dtype)
        self.return_cell_states = _flag(return_cell_states, "return_cell_states")
        self.peephole_initializer = peephole_initializer
        self.projection_initializer = projection_initializer
        self._init["peephole"] = initializers.resolve(peephole_initializer, "peephole_initializer")
        self._init["projection"] = initializers.resolve(
            projection_initializer, "projection_initializer"
        )
        self.weight_names = (
            *Recurrent.weight_names,
            *(("peephole",) if self.use_peepholes else ()),
            *(("projection",) if self.proj_size is not None else ()),
        )

    kernel = weight_property("kernel", "(I, 4H) input weights.")
    recurrent_kernel = weight_property(
        "recurrent_kernel", "(H, 4H) recurrent weights; (P, 4H) with proj_size."
    )
    bias = weight_property("bias", "(4H,) bias.")
    peephole = weight_property("peephole", "(3H,) peepholes i, f, o (None without them).")
    projection = weight_property("projection", "(H, P) projection (None without proj_size).")

    @property
    def _output_units(self) -> int:
        return self.units if self.proj_size is None else self.proj_size

    def _state_widths(self) -> tuple[int, ...]:
        return (self._output_units, self.units)  # h, c

    def _weight_shapes(self, first_shape):
        shapes = super()._weight_shapes(first_shape)
        shapes["peephole"] = (3 * self.units,)
        shapes["projection"] = (self.units, self._output_units)
        return shapes

    def _initial_bias(self, bias: np.ndarray) -> np.ndarray:
        if self.unit_forget_bias:
            bias[self.units : 2 * self.units] = 1
        return bias

    def _lstm_options(self) -> dict[str, Any]:
        """The functional API's peephole, clip and projection, only those in use (so that a plain
        layer makes the plain call)."""
        options: dict[str, Any] = {}
        for name in ("peephole", "projection"):
            if name in self._weights:
                options[name] = self._weights[name]
        if self.clip is not None:
            options["clip"] = self.clip
        return options

    # With return_cell_states, y below is the pair (y, every c_t), which _outputs unpacks.
    def _cell_call(self, x, weights, states, options):
        options = {**self._lstm_options(), **options}
        if not self.return_cell_states:
            return lstm(x, *weights, states, time_major=self.time_major, **options)
        y, states, c_seq = lstm(
            x, *weights, states, time_major=self.time_major, return_cell_states=True, **options
        )
        return (y, c_seq), states

    def _cell_forward(self, x, weights, states, options):
        options = {**self._lstm_options(), **options}
        y, states, cache = lstm_forward(x, *weights, states, time_major=self.time_major, **options)
        return ((y, cache.cell_states) if self.return_cell_states else y), states, cache

    def _cell_backward(
        self, cache: LSTMCache, dy, dstates, input_grad, dcell_states=None
    ) -> LSTMGrads | LSTMOptionGrads:
        return lstm_backward(cache, dy, dstates, dcell_states=dcell_states, input_grad=input_grad)

    def _outputs(self, y, states):
        if not self.return_cell_states:
            return super()._outputs(y, states)
        y, c_seq = y
        out = super()._outputs(y, states)
        return [*out, c_seq] if self.return_state else [out, c_seq]

    def _upstream(self, doutputs):
        if not self.return_cell_states:
            return super()._upstream(doutputs)
        count = len(self.state_names) + 2 if self.return_state else 2
        if not isinstance(doutputs, (list, tuple)) or len(doutputs) != count:
            names = "doutput, dh, dc" if self.return_state else "doutput"
            raise ValueError(
                f"doutputs: expected [{names}, dcell_states] for a return_cell_states layer, "
                f"got {arrived(doutputs)}"
            )
        rest = list(doutputs[:-1]) if self.return_state else doutputs[0]
        dout, dstates, _ = super()._upstream(rest)
        return dout, dstates, {"dcell_states": doutputs[-1]}

    def compute_output_shape(self, input_shape):
        shape = super().compute_output_shape(input_shape)
        if not self.return_cell_states:
            return shape
        first, second = tuple(input_shape)[:2]  # (batch, time), or (time, batch) time-major
        cells = (first, second, self.units)
        return [*shape, cells] if self.return_state else [shape, cells]

    def compute_mask(self, x, mask=None):
        out = super().compute_mask(x, mask)
        if not self.return_cell_states:
            return out
        cells = mask  # (B, T) in either layout; the cell states' order under go_backwards
        if mask is not None and self.go_backwards:
            cells = np.ascontiguousarray(np.asarray(mask)[:, ::-1])
        return [out, *([None] * len(self.state_names) if self.return_state else []), cells]

    def stream(self, initial_state=None, *, batch_size: int | None = None) -> LSTMStream:
        """A :class:`fastlstm.LSTMStream` with a copy of this layer's current weights (and its
        options)."""
        self._check_streamable()
        return LSTMStream(
            *self._weight_arrays(), initial_state, batch_size=batch_size, **self._lstm_options()
        )

    def get_config(self) -> dict[str, Any]:
        """Recurrent's config and unit_forget_bias; the options (and their initialisers) only
        where they differ from their defaults, so that a plain LSTM's config is Keras's keys."""
        config = {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}
        for name, default in _LSTM_OPTION_DEFAULTS.items():
            value = getattr(self, name)
            if name.endswith("_initializer"):
                value = _init_name(value, name, self.name)
            if value != default:
                config[name] = value
        return config


_LSTM_OPTION_DEFAULTS = {
    "proj_size": None,
    "use_peepholes": False,
    "clip": None,
    "return_cell_states": False,
    "peephole_initializer": "zeros",
    "projection_initializer": "glorot_uniform",
}


def _check_clip(value, dtype) -> float | None:
    """None, or a positive finite number (ONNX's clip) that ``dtype`` holds: as the core's
    check, here rather than at the first call (a model file with clip=1e300 for float32 had
    loaded, then failed to predict)."""
    if value is None:
        return None
    expected = "None or a positive finite number (ONNX's clip of the gate pre-activations)"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"clip: expected {expected}, got {value!r}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float's range
        number = math.inf
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"clip: expected {expected}, got {value!r}")
    with np.errstate(over="ignore", under="ignore"):
        held = np.dtype(dtype).type(number)
    if not (np.isfinite(held) and held > 0):
        raise ValueError(
            f"clip: expected a bound that {np.dtype(dtype).name} holds (the layer's dtype), "
            f"got {value!r}"
        )
    return number
