"""Keras's cell API: ``LSTMCell``, ``GRUCell``, ``SimpleRNNCell`` and ``RNN(cell)``.

fastlstm runs a recurrent layer's whole sequence in C++, one time loop for every cell, so a cell
here is not a Python step function that a generic RNN layer loops over: it is the one-step view
of a recurrent layer. It takes the arguments that describe one step (units, initialisers,
regularisers, dropout, seed, and the cell's own: ``unit_forget_bias``, ``reset_after``,
``activation``), it holds the weights, and calling it advances one step, forward only (as a
decoder's loop does).

``RNN(cell, return_sequences=..., ...)`` is the layer of that cell: ``RNN(LSTMCell(64))`` is an
:class:`~fastlstm.layers.LSTM` of 64 units, trained, saved and loaded as one. The cell then reads
that layer's weights, so a model trained with ``RNN(cell)`` can be stepped with ``cell``; and
``layer.cell`` gives any recurrent layer's cell. ``isinstance(layer, RNN)`` holds for every
recurrent layer, as in Keras, where LSTM, GRU and SimpleRNN subclass RNN.

Not here: cells written in Python (there is no automatic differentiation to train them) and
stacked cells (``StackedRNNCells``, ``RNN([cell, cell])``): list one layer per cell instead, every
one but the last with ``return_sequences=True``; the result is the same.
"""

from __future__ import annotations

import abc
from contextlib import nullcontext
from typing import Any, ClassVar

import numpy as np

from .._arrays import allocate, integer
from ..functional import _flag
from .base import input_array
from .lstm import LSTM
from .recurrent import GRU, Recurrent, SimpleRNN

# A layer's arguments that say how the sequence is walked, not what one step does: RNN's, not a
# cell's (Keras's cells refuse them too).
_LAYER_ONLY = (
    "return_sequences",
    "return_state",
    "go_backwards",
    "stateful",
    "time_major",
    "unroll",
    "use_cudnn",
    "implementation",
    "input_shape",
    "batch_input_shape",
    "batch_size",
    "input_dim",
    "input_length",
)

# The layer's attributes a cell shows as its own (Keras's cells have them).
_SHOWN = frozenset(
    (
        "units",
        "dtype",
        "seed",
        "dropout",
        "recurrent_dropout",
        "kernel_initializer",
        "recurrent_initializer",
        "bias_initializer",
        "kernel_regularizer",
        "recurrent_regularizer",
        "bias_regularizer",
        "unit_forget_bias",
        "proj_size",
        "use_peepholes",
        "clip",
        "reset_after",
        "activation",
        "kernel",
        "recurrent_kernel",
        "bias",
        "peephole",
        "projection",
        "built",
        "weights",
        "trainable_weights",
        "non_trainable_weights",
        "get_weights",
        "set_weights",
        "count_params",
    )
)


class RecurrentCell:
    """Base of the cells: one step of the recurrent layer ``_layer_class``.

    A cell made by its constructor holds a layer of its own until ``RNN(cell)`` makes the layer
    that owns its weights from then on; a cell from ``layer.cell`` is that layer's from the
    start. Weights are made on the first call (or :meth:`build`) from the input's width.
    """

    _layer_class: ClassVar[type[Recurrent]]
    default_name: ClassVar[str]

    def __init__(self, units: int, *, name: str | None = None, **kwargs: Any) -> None:
        layer_only = sorted(k for k in kwargs if k in _LAYER_ONLY)
        if layer_only:
            raise TypeError(
                f"{type(self).__name__}: unexpected keyword argument(s) {layer_only}: they "
                f"belong to the layer, RNN(cell, {layer_only[0]}=...)"
            )
        self._layer = self._layer_class(units, name=name or self.default_name, **kwargs)
        self._kwargs = {"units": units, **kwargs}  # what RNN(cell) makes its layer from
        self.name = self._layer.name
        self._owner: Recurrent | None = None  # the layer RNN(cell) made, once made

    @classmethod
    def _of(cls, layer: Recurrent) -> RecurrentCell:
        """The cell of an existing layer (``layer.cell``)."""
        cell = cls.__new__(cls)
        cell._layer, cell._kwargs, cell._owner = layer, None, layer
        cell.name = cls.default_name
        return cell

    def __getattr__(self, name: str):
        # Only called for what the cell does not define: the layer's units, weights, options.
        layer = self.__dict__.get("_layer")  # absent while a copy is being made
        if layer is not None and name in _SHOWN:
            try:
                return getattr(layer, name)
            except AttributeError:
                pass
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def trainable(self) -> bool:
        return self._layer.trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._layer.trainable = value

    @property
    def state_size(self):
        """The width of each state: Keras's list for an LSTM ([h, c]), one int for the others."""
        widths = self._layer._state_widths()
        return list(widths) if len(widths) > 1 else widths[0]

    @property
    def output_size(self) -> int:
        """The width of a step's output, h (an LSTM's proj_size when it has one)."""
        return self._layer._output_units

    def build(self, input_shape) -> None:
        """Make the weights for steps of ``input_shape`` ((batch, features), or features)."""
        if isinstance(input_shape, (tuple, list)):
            if len(input_shape) != 2 or input_shape[-1] is None:
                raise ValueError(
                    f"input_shape: expected (batch, features) of one step, got {input_shape}"
                )
            input_shape = input_shape[-1]
        features = integer(input_shape, "input_shape", at_least=1)
        self._layer._build_named((None, None, features))  # a size beyond memory names the layer

    def get_initial_state(self, batch_size: int | None = None) -> list[np.ndarray]:
        """Zero states for ``batch_size`` rows, one array per state (Keras 3's list)."""
        rows = integer(batch_size, "batch_size", at_least=0)
        layer = self._layer
        return [allocate("batch_size", (rows, w), layer.dtype, 0) for w in layer._state_widths()]

    def __call__(self, inputs, states=None, training: bool = False):
        """One step: inputs (B, I) and ``states`` (a list: LSTM [h, c]; GRU, SimpleRNN [h] or h
        alone; None: zeros) -> ``(output, new_states)``, where output is the new h and
        new_states has the form ``states`` had (Keras's cells). Forward only. With
        ``training=True`` a cell with dropout draws new dropout masks at every call (within a
        layer's call they are drawn once per sequence)."""
        layer = self._layer
        x = input_array(inputs, "inputs")
        if x.ndim != 2:
            raise ValueError(
                f"inputs: expected a 2-D array (batch, features), one step, got shape {x.shape}"
            )
        training = _flag(training, "training")
        names = layer.state_names
        nested = states is None or isinstance(states, (list, tuple))
        given = None if states is None else tuple(states) if nested else (states,)
        if given is not None and len(given) != len(names):
            raise ValueError(
                f"states: expected {len(names)} array(s) [{', '.join(names)}], got {len(given)}"
            )
        seq = x[None] if layer.time_major else x[:, None]  # a sequence of one step
        if not layer.built:
            layer._ensure_built(seq)  # from this step's width
        self._check_step(x, given)
        seq, _ = layer._drop(seq, training)
        options = layer._options(None, layer._recurrent_drop(seq, training))
        start = None if given is None else given if len(given) > 1 else given[0]
        lock = getattr(layer, "_model_lock", None)  # the weights of one step beside fit
        with nullcontext() if lock is None else lock.reading:
            _, new = layer._cell_call(seq, layer._weight_arrays(), start, options)
        new = [np.asarray(s) for s in new]
        return new[0], new if nested or len(new) > 1 else new[0]

    def _check_step(self, x: np.ndarray, states) -> None:
        """ValueError naming the cell's arguments (the layer's checks name its own: a sequence
        x of one step, initial_state)."""
        features = self._layer.kernel.shape[0]
        if x.shape[1] != features:
            raise ValueError(
                f"inputs: expected {features} features (the cell {self.name!r} was built for "
                f"them), got shape {x.shape}"
            )
        for k, (name, width, s) in enumerate(
            zip(self._layer.state_names, self._layer._state_widths(), states or ())
        ):
            if np.asarray(s).dtype.kind not in "biuf":
                raise TypeError(
                    f"states[{k}]: expected {name} in real numbers, got dtype {np.asarray(s).dtype}"
                )
            if np.shape(s) != (x.shape[0], width):
                raise ValueError(
                    f"states[{k}]: expected {name} of shape {(x.shape[0], width)} (batch, "
                    f"{width}) for inputs of {x.shape[0]} rows, got {np.shape(s)}"
                )

    def get_config(self) -> dict[str, Any]:
        """The layer's config without the arguments that belong to the layer (RNN's)."""
        config = self._layer.get_config()
        for key in _LAYER_ONLY:
            config.pop(key, None)
        return {**config, "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> RecurrentCell:
        return cls(**config)

    def _layer_for(self, rnn_kwargs: dict[str, Any]) -> Recurrent:
        """The layer RNN(cell, ...) makes: the cell's arguments and RNN's, with the cell's
        weights if it has made them; from then on the cell is that layer's."""
        if self._owner is not None:
            raise ValueError(
                f"cell: expected a cell of no layer, got the cell of layer {self._owner.name!r} "
                f"(a cell's weights belong to one layer here: make another cell)"
            )
        for key in rnn_kwargs.keys() & self._kwargs.keys():
            ours, theirs = self._kwargs[key], rnn_kwargs[key]
            if not _same(ours, theirs):
                raise ValueError(
                    f"{key}: given to the cell ({ours!r}) and to RNN ({theirs!r}); give it once"
                )
        layer = self._layer_class(**{**self._kwargs, **rnn_kwargs})
        layer.trainable = self._layer.trainable
        if self._layer.built:
            layer.build((None, None, self._layer.kernel.shape[0]))
            layer.set_weights(self._layer.get_weights())
        layer._cell = self
        self._layer = self._owner = layer
        return layer

    def __repr__(self) -> str:
        return f"{type(self).__name__}(units={self._layer.units}, built={self._layer.built})"


def _same(a, b) -> bool:
    """Whether an argument given twice (to a cell and to RNN) is given the same."""
    if a is b:
        return True
    try:
        return type(a) is type(b) and bool(a == b)
    except (TypeError, ValueError):  # arrays, or objects without a plain ==
        return False


class LSTMCell(RecurrentCell):
    """One step of an LSTM (Keras's ``keras.layers.LSTMCell``); arguments as
    :class:`~fastlstm.layers.LSTM`'s but those of RNN. States [h (B, H), c (B, H)]; h is P wide
    with ``proj_size=P``."""

    _layer_class = LSTM
    default_name = "lstm_cell"


class GRUCell(RecurrentCell):
    """One step of a GRU (Keras's ``keras.layers.GRUCell``); arguments as
    :class:`~fastlstm.layers.GRU`'s (``reset_after`` among them) but those of RNN."""

    _layer_class = GRU
    default_name = "gru_cell"


class SimpleRNNCell(RecurrentCell):
    """One step of a fully-connected RNN (Keras's ``keras.layers.SimpleRNNCell``); arguments as
    :class:`~fastlstm.layers.SimpleRNN`'s (``activation`` "tanh" or "relu") but those of RNN."""

    _layer_class = SimpleRNN
    default_name = "simple_rnn_cell"


_CELLS = {LSTM: LSTMCell, GRU: GRUCell, SimpleRNN: SimpleRNNCell}


def cell_of(layer: Recurrent) -> RecurrentCell:
    """``layer.cell``: the cell RNN(cell) made the layer from, or a new view of the layer."""
    cell = getattr(layer, "_cell", None)
    if cell is None:
        kind = next(c for base, c in _CELLS.items() if isinstance(layer, base))
        cell = layer._cell = kind._of(layer)
    return cell


class RNN(abc.ABC):  # noqa: B024 (an ABC for register(): isinstance(LSTM(4), RNN))
    """``RNN(cell, return_sequences=False, return_state=False, go_backwards=False,
    stateful=False, unroll=False, zero_output_for_mask=False, **kwargs)``: the recurrent layer of
    a fastlstm cell (Keras's ``keras.layers.RNN``). ``RNN(LSTMCell(64), return_sequences=True)``
    returns ``LSTM(64, return_sequences=True)``, with the cell's weights if it has them; the cell
    then reads the layer's. ``kwargs``: the layer's others (``name``, ``time_major``,
    ``input_shape``, ...).

    Refused, with why: a list of cells or a StackedRNNCells (list one layer per cell), a cell
    that is not fastlstm's, a cell that already belongs to a layer, and
    ``zero_output_for_mask=True`` (a masked step repeats the previous output here).
    """

    def __new__(
        cls,
        cell: RecurrentCell,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        unroll: bool = False,
        zero_output_for_mask: bool = False,
        **kwargs: Any,
    ) -> Recurrent:
        if isinstance(cell, (list, tuple)) or type(cell).__name__ == "StackedRNNCells":
            raise TypeError(
                "cell: expected one cell, got a stack of cells: list one layer per cell, every "
                "one but the last with return_sequences=True (Sequential([LSTM(64, "
                "return_sequences=True), LSTM(64)]) is RNN([LSTMCell(64), LSTMCell(64)]))"
            )
        if not isinstance(cell, RecurrentCell):
            raise TypeError(
                f"cell: expected an LSTMCell, GRUCell or SimpleRNNCell, got "
                f"{type(cell).__name__} (fastlstm runs its cells in C++; a cell written in "
                f"Python could not be trained: there is no automatic differentiation)"
            )
        if _flag(zero_output_for_mask, "zero_output_for_mask"):
            raise ValueError(
                "zero_output_for_mask: expected False, got True (a masked step repeats the "
                "previous output here; multiply the sequence by the mask for zeros)"
            )
        return cell._layer_for(
            {
                "return_sequences": return_sequences,
                "return_state": return_state,
                "go_backwards": go_backwards,
                "stateful": stateful,
                "unroll": unroll,
                **kwargs,
            }
        )


RNN.register(Recurrent)
