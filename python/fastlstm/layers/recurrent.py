"""Recurrent layers with Keras's names, defaults and call semantics.

:class:`Recurrent` holds everything that is not cell-specific: the weights (kernel (I, gH),
recurrent_kernel (H, gH), bias (gH,) for g gate blocks) and their initialisers, regularisers,
input dropout, stateful operation, masks, and the layer protocol of :mod:`.base`. A cell is a
small subclass that sets ``gates`` and ``state_names`` and implements ``_cell_call``,
``_cell_forward`` and ``_cell_backward`` with its functional API: :class:`GRU` and
:class:`SimpleRNN` here, :class:`fastlstm.layers.lstm.LSTM` (with its options) in its own module.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .. import initializers, regularizers
from .._arrays import integer, real_number
from .._graph import connect, is_symbolic
from ..functional import (
    _ACTIVATIONS,
    _choice,
    _flag,
    gru,
    gru_backward,
    gru_forward,
    simple_rnn,
    simple_rnn_backward,
    simple_rnn_forward,
)
from ..stream import GRUStream, SimpleRNNStream
from .base import (
    BUILD_LOCK,
    Layer,
    _as_array,
    _init_name,
    cast_within_range,
    dropout_mask,
    input_array,
    weight_property,
)


class RecurrentCache:
    """What a recurrent layer's backward needs: the functional API's cache and the (B, I)
    input-dropout mask of the call (None without dropout). ``recurrent_dropout`` is the call's
    (B, H) recurrent dropout mask ((B, P) for an LSTM with a projection; None without), which the
    core's cache also holds."""

    __slots__ = ("core", "dropout", "recurrent_dropout")

    def __init__(self, core, dropout, recurrent_dropout=None) -> None:
        self.core = core
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout


def _sequence_shape(kwargs: dict) -> dict:
    """Keras 2's ``input_dim=I`` and ``input_length=T`` of a recurrent layer as the
    ``input_shape=(T, I)`` they declare (either may be left out: None). The base Layer's
    ``input_dim`` declares (None, I), one sample of I features, which a sequence is not."""
    dim, length = kwargs.pop("input_dim", None), kwargs.pop("input_length", None)
    if dim is None and length is None:
        return kwargs
    clash = [k for k in ("input_shape", "batch_input_shape") if kwargs.get(k) is not None]
    if clash:
        given = "input_dim" if dim is not None else "input_length"
        raise ValueError(
            f"{given}, {clash[0]}: expected at most one of them, got {given}="
            f"{dim if dim is not None else length!r} and {clash[0]}={kwargs[clash[0]]!r}"
        )
    shape = tuple(
        None if v is None else integer(v, n, at_least=1)  # None: not declared
        for n, v in (("input_length", length), ("input_dim", dim))
    )
    return {**kwargs, "input_shape": shape}


class Recurrent(Layer):
    """Base of the recurrent layers: x (B, T, I) -> (B, H), or (B, T, H) with
    ``return_sequences=True``; ``[output, *states]`` with ``return_state=True``.

    Args:
        units: H, the number of hidden units.
        return_sequences, return_state: what a call returns, as above.
        time_major: take and return (T, B, ...) arrays.
        go_backwards: read the sequence from its last step to its first (and the mask with it);
            the output sequence is in that reversed order, as Keras returns it.
        stateful: keep the final state of each call and start the next call from it (the
            batch size must then stay the same); :meth:`reset_states` starts again from zeros.
            In training, gradients stop at the batch boundary (truncated backpropagation).
        dropout: rate of input dropout in training: one (B, I) mask per call, the same at every
            timestep (as Keras), scaled by 1/(1 - rate).
        recurrent_dropout: rate of recurrent dropout in training: one (B, H) mask per call
            ((B, P) for an LSTM with a projection: it is as wide as h), likewise, multiplying
            h_{t-1} where the recurrent kernel reads it (as Keras; the state update and the
            outputs read h_{t-1} itself).
        kernel_initializer, recurrent_initializer, bias_initializer: Keras names, instances
            of :mod:`fastlstm.initializers`' classes (``Orthogonal(gain=0.5)``) or their config
            dicts, or callables ``(shape, dtype, rng) -> array`` or ``(shape, dtype=None)``.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: e.g.
            ``fastlstm.regularizers.L2(0.01)``; their penalty is added to a model's loss.
        seed: an int for reproducible weights and dropout masks.
        dtype: "float32" (default) or "float64"; the weights' dtype and the compute dtype.
        input_shape, batch_input_shape, batch_size: Keras 2's way to declare (T, I) in the first
            layer of a Sequential (see :mod:`.base`); also Keras 2's ``input_dim=I`` with an
            optional ``input_length=T``.
    """

    gates = 1
    state_names: tuple[str, ...] = ("h",)
    weight_names = ("kernel", "recurrent_kernel", "bias")

    def __init__(
        self,
        units: int,
        *,
        return_sequences: bool = False,
        return_state: bool = False,
        time_major: bool = False,
        go_backwards: bool = False,
        stateful: bool = False,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        kernel_initializer: Any = "glorot_uniform",
        recurrent_initializer: Any = "orthogonal",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        recurrent_regularizer: Any = None,
        bias_regularizer: Any = None,
        seed: int | None = None,
        dtype: str = "float32",
        name: str | None = None,
        trainable: bool = True,
        unroll: bool = False,
        use_cudnn: Any = "auto",
        implementation: int = 2,
        **kwargs: Any,
    ) -> None:
        units = integer(units, "units", at_least=1)
        # Keras's hints for its backends (Keras 2's implementation 1 or 2: smaller or fewer,
        # larger products): the results do not depend on them, so they are checked and otherwise
        # ignored (fastlstm's one kernel serves them all).
        _flag(unroll, "unroll")
        if not (use_cudnn is True or use_cudnn is False or use_cudnn == "auto"):
            raise ValueError(f"use_cudnn: expected 'auto', True or False, got {use_cudnn!r}")
        if isinstance(implementation, bool) or implementation not in (1, 2):
            raise ValueError(f"implementation: expected 1 or 2, got {implementation!r}")
        # Keras 2's input_length/input_dim: a shape Keras 2 only warned about when data of another
        # length came (Keras 3 has neither), so a Sequential checks its rank only (models.py)
        from_keras2 = any(kwargs.get(k) is not None for k in ("input_length", "input_dim"))
        kwargs = _sequence_shape(kwargs)
        super().__init__(name=name, dtype=dtype, seed=seed, trainable=trainable, **kwargs)
        self._shape_from_length = from_keras2 and self.batch_input_shape is not None
        self.units = units
        self.return_sequences = _flag(return_sequences, "return_sequences")
        self.return_state = _flag(return_state, "return_state")
        self.time_major = _flag(time_major, "time_major")
        self.go_backwards = _flag(go_backwards, "go_backwards")
        self.stateful = _flag(stateful, "stateful")
        self.dropout = real_number(dropout, "dropout", at_least=0, below=1)
        self.recurrent_dropout = real_number(
            recurrent_dropout, "recurrent_dropout", at_least=0, below=1
        )
        self.kernel_initializer = kernel_initializer
        self.recurrent_initializer = recurrent_initializer
        self.bias_initializer = bias_initializer
        self._init = {
            "kernel": initializers.resolve(kernel_initializer, "kernel_initializer"),
            "recurrent_kernel": initializers.resolve(
                recurrent_initializer, "recurrent_initializer"
            ),
            "bias": initializers.resolve(bias_initializer, "bias_initializer"),
        }
        self._regularizers = {
            "kernel": regularizers.get(kernel_regularizer, "kernel_regularizer"),
            "recurrent_kernel": regularizers.get(recurrent_regularizer, "recurrent_regularizer"),
            "bias": regularizers.get(bias_regularizer, "bias_regularizer"),
        }
        self._states: tuple[np.ndarray, ...] | None = None
        # The rows of the state reset_states() zeroed, while no call has set another (None:
        # not known): what `states` shows as zeros, as Keras's.
        self._reset_rows: int | None = None

    @property
    def cell(self):
        """Keras's ``layer.cell``: this layer's one step (an LSTMCell, GRUCell or SimpleRNNCell
        of :mod:`.cells`), which reads the layer's weights."""
        from .cells import cell_of  # cells builds on this module

        return cell_of(self)

    kernel_regularizer = property(lambda self: self._regularizers["kernel"])
    recurrent_regularizer = property(lambda self: self._regularizers["recurrent_kernel"])
    bias_regularizer = property(lambda self: self._regularizers["bias"])

    # -- cell-specific hooks ---------------------------------------------------------------

    def _cell_call(self, x, weights, states, options):
        """Inference: ``(y, states)``. ``options``: the functional API's keywords besides
        time_major (mask, recurrent_dropout_mask), only those in use."""
        raise NotImplementedError

    def _cell_forward(self, x, weights, states, options):
        """Training: ``(y, states, cache)``."""
        raise NotImplementedError

    def _cell_backward(self, cache, dy, dstates, input_grad, **extra):
        """A gradient tuple (x, kernel, recurrent_kernel, bias, d_initial_states...); x is None
        without ``input_grad``. ``extra``: what ``_upstream`` found beyond Keras's outputs."""
        raise NotImplementedError

    def _initial_bias(self, bias: np.ndarray) -> np.ndarray:
        """The bias after its initialiser (LSTM: the forget block set to 1)."""
        return bias

    @property
    def _output_units(self) -> int:
        """The width of the outputs and of h (an LSTM's proj_size when it has one)."""
        return self.units

    def _state_widths(self) -> tuple[int, ...]:
        """The width of each state in ``state_names`` order."""
        return (self._output_units,) * len(self.state_names)

    # -- weights ---------------------------------------------------------------------------

    def _weight_shapes(self, first_shape):
        """Every weight's shape from the kernel's; a cell with another bias shape overrides it."""
        G = self.gates * self.units
        if len(first_shape) != 2:
            raise ValueError(f"kernel: expected shape (input, {G}), got {tuple(first_shape)}")
        rows = self._output_units  # the recurrent kernel reads h_{t-1}
        return {"kernel": (first_shape[0], G), "recurrent_kernel": (rows, G), "bias": (G,)}

    def _input_shape_from_weights(self):
        return (None, None, self._weights["kernel"].shape[0])

    def build(self, input_shape) -> None:
        """Make the weights for inputs of ``input_shape`` ((B, T, I), or just I)."""
        if not isinstance(input_shape, (tuple, list)):  # the width alone: a positive int
            input_size = integer(input_shape, "input_shape", at_least=1)
            input_shape = (None, None, input_size)
        else:
            input_shape = tuple(input_shape)
            if len(input_shape) != 3 or input_shape[-1] is None:
                raise ValueError(
                    f"{self.name}: expected an input shape (batch, time, input), got {input_shape}"
                )
            input_size = integer(input_shape[-1], "input_shape[-1]", at_least=1)
        rng = self._weight_rng()
        shapes = self._weight_shapes((int(input_size), self.gates * self.units))
        weights = []
        for name in self.weight_names:  # drawn in this order: kernel, recurrent_kernel, bias, ...
            w = self._init[name](shapes[name], self.dtype, rng)
            weights.append(self._initial_bias(w) if name == "bias" else w)
        self._replace_weights(weights)
        self.built_input_shape = input_shape

    def _weight_arrays(self):
        """(kernel, recurrent_kernel, bias) without copies."""
        if not self.built:
            raise ValueError("the layer has no weights yet; call it or build() first")
        w = self._weights
        return w["kernel"], w["recurrent_kernel"], w["bias"]

    # -- state -----------------------------------------------------------------------------

    @property
    def states(self) -> tuple[np.ndarray, ...] | None:
        """The state a stateful layer carries into its next call: zeros after
        :meth:`reset_states` where the batch size is known (that of the state it reset, or one
        declared with the input shape), None before the first call."""
        if self._states is None and self._reset_rows is not None and self.stateful:
            return tuple(np.zeros((self._reset_rows, w), self.dtype) for w in self._state_widths())
        return self._states

    def reset_states(self, states=None) -> None:
        """Start the next call of a stateful layer from ``states`` (zeros when None; the next
        call may then have another batch size, unless the input declares one)."""
        if states is None:
            if self._states:
                self._reset_rows = self._states[0].shape[0]
            elif self._reset_rows is None:
                self._reset_rows = (self.batch_input_shape or (None,))[0]
            self._states = None
            return
        self.set_state_arrays(list(states) if isinstance(states, (tuple, list)) else [states])

    def reset_state(self, states=None) -> None:
        """Keras 3's name for :meth:`reset_states`."""
        self.reset_states(states)

    def get_state_arrays(self) -> list[np.ndarray]:
        return [] if self._states is None else [s.copy() for s in self._states]

    def set_state_arrays(self, arrays) -> None:
        self._reset_rows = None
        if not arrays:
            self._states = None
            return
        n = len(self.state_names)
        if len(arrays) != n:
            raise ValueError(f"states: expected {n} arrays {self.state_names}, got {len(arrays)}")
        rows = np.shape(arrays[0])[0] if np.ndim(arrays[0]) == 2 else None
        declared = self._declared_batch()
        if rows is not None and declared is not None and rows != declared:
            raise ValueError(
                f"states: expected {declared} rows (the batch size declared for this stateful "
                f"layer {self.name!r}'s input), got {rows}"
            )
        out = []
        for name, width, a in zip(self.state_names, self._state_widths(), arrays):
            a = _as_array(a, name)
            if a.dtype.kind not in "biuf" or a.shape != (rows, width):
                raise ValueError(
                    f"states: expected {name} of shape (batch, {width}) in real numbers, "
                    f"got {a.dtype} {a.shape}"
                )
            out.append(cast_within_range(a, self.dtype, name))
        self._states = tuple(out)

    def _declared_batch(self) -> int | None:
        """The batch size declared for the input (Input(batch_shape=...)), or None."""
        built = self.built_input_shape or ()
        return built[1 if self.time_major else 0] if len(built) == 3 else None

    def _initial(self, x, initial_state):
        if initial_state is not None or not self.stateful:
            return initial_state
        shape = np.shape(x)
        batch = shape[1] if self.time_major else shape[0]
        if self._states is None:
            # A batch size declared for the input (Input(batch_shape=...)) is the state's: a
            # batch of another size would start a state that the next batches do not fit.
            declared = self._declared_batch()
            if declared is not None and batch != declared:
                raise ValueError(
                    f"x: expected a batch of {declared} rows (the batch size declared for this "
                    f"stateful layer {self.name!r}'s input), got {batch}"
                )
            return None
        kept = self._states[0].shape[0]
        if batch != kept:
            # reset_states() frees the batch size only where the input declares none
            declared = self._declared_batch()
            hint = (
                f"; its input declares a batch of {declared} rows"
                if declared is not None
                else "; call reset_states() to start over"
            )
            raise ValueError(
                f"x: expected a batch of {kept} rows (the state this stateful layer {self.name!r} "
                f"keeps), got {batch}{hint}"
            )
        return self._states

    # -- computation -----------------------------------------------------------------------

    def _ensure_built(self, x) -> None:
        shape = x.shape if type(x) is np.ndarray else np.shape(x)  # np.shape costs 0.1 µs more
        if not self.built:
            if len(shape) != 3:
                order = "(time, batch, input)" if self.time_major else "(batch, time, input)"
                raise ValueError(f"x: expected a 3-D array {order}, got shape {shape}")
            with BUILD_LOCK:  # threads calling an unbuilt layer at once build it once
                if not self.built:
                    self._build_named(shape[2] if self.time_major else (None, *shape[1:]))
        features = self._weights["kernel"].shape[0]
        if len(shape) == 3 and shape[2] != features:  # else the core would blame the kernel
            raise ValueError(
                f"x: expected {features} features in its last axis (the layer {self.name!r} was "
                f"built for them), got shape {shape}"
            )

    def _drop(self, x, training: bool):
        """x with input dropout applied, and the (B, 1, I)-broadcastable mask (or None)."""
        if not training or self.dropout == 0.0:
            return x, None
        x = input_array(x, dtype=self.dtype)
        batch, features = (x.shape[1], x.shape[2]) if self.time_major else (x.shape[0], x.shape[2])
        keep = dropout_mask(self.noise_rng, (batch, features), self.dropout, self.dtype)
        keep = keep[None] if self.time_major else keep[:, None]
        return x * keep, keep

    def _recurrent_drop(self, x, training: bool):
        """The (B, H) recurrent dropout mask of a call ((B, P) with a projection: it multiplies
        h_{t-1}), or None (drawn after the input's)."""
        if not training or self.recurrent_dropout == 0.0:
            return None
        shape = (np.shape(x)[1 if self.time_major else 0], self._output_units)
        return dropout_mask(self.noise_rng, shape, self.recurrent_dropout, self.dtype)

    @staticmethod
    def _options(mask, recurrent_mask) -> dict[str, Any]:
        """The keywords in use, so that a plain call stays the plain one."""
        options = {}
        if mask is not None:
            options["mask"] = mask
        if recurrent_mask is not None:
            options["recurrent_dropout_mask"] = recurrent_mask
        return options

    def _reverse(self, a, mask=None):
        """a (and a (B, T) mask) reversed in time, with go_backwards; else unchanged."""
        if not self.go_backwards:
            return a, mask
        a = np.asarray(a)
        a = a[::-1] if self.time_major else a[:, ::-1]
        return a, None if mask is None else np.asarray(mask)[:, ::-1]

    def _check_streamable(self) -> None:
        if not self.built:
            raise ValueError("stream: the layer has no weights yet; call it or build() first")
        if self.go_backwards:
            raise ValueError("stream: a go_backwards layer needs the whole sequence first")

    def _carry(self, states) -> None:
        """A stateful layer keeps copies of the final states: the call returns the states
        themselves, which the caller may change in place."""
        if self.stateful:
            self._states = tuple(np.copy(s) for s in states)
            self._reset_rows = None

    def _outputs(self, y, states):
        last = y if self.return_sequences else states[0]
        return [last, *states] if self.return_state else last

    def call(self, x, training: bool = False, mask=None, initial_state=None):
        """Inference without a cache; see the class docstring for what is returned."""
        self._ensure_built(x)
        x, _ = self._drop(x, training)
        recurrent_mask = self._recurrent_drop(x, training)
        x, mask = self._reverse(x, mask)
        options = self._options(mask, recurrent_mask)
        states = self._initial(x, initial_state)
        y, states = self._cell_call(x, self._weight_arrays(), states, options)
        self._carry(states)
        return self._outputs(y, states)

    def __call__(self, x, initial_state=None, *, training: bool = False, mask=None) -> Any:
        if is_symbolic(x):  # describing a functional model: record the call (fastlstm._graph)
            return connect(self, x, initial_state, training, mask)
        training = _flag(training, "training")  # "no" would turn dropout on
        return self.call(x, training=training, mask=mask, initial_state=initial_state)

    def forward(self, x, training: bool = False, mask=None, initial_state=None):
        """Like a call, and also return the cache :meth:`backward` needs: ``(outputs, cache)``."""
        self._ensure_built(x)
        x, keep = self._drop(x, training)
        recurrent_mask = self._recurrent_drop(x, training)
        x, mask = self._reverse(x, mask)
        options = self._options(mask, recurrent_mask)
        states = self._initial(x, initial_state)
        y, states, core = self._cell_forward(x, self._weight_arrays(), states, options)
        self._carry(states)
        return self._outputs(y, states), RecurrentCache(core, keep, recurrent_mask)

    def backward(self, cache, doutputs, input_grad: bool = True):
        """Gradients from dL/d(outputs), shaped like what :meth:`forward` returned: one array,
        or ``[doutput, *dstates]`` with ``return_state`` (any of them None; an LSTM with
        ``return_cell_states`` adds dL/d(cell states) last). Returns the cell's
        gradient tuple (x, kernel, recurrent_kernel, bias, initial states; an LSTM's options
        add peephole and projection); the weight gradients, with the regularisers', are also
        kept in ``grads``, in ``weight_names`` order. ``input_grad=False`` skips dL/dx (``x``
        is None), which a model's first trained layer does not need."""
        dout, dstates, extra = self._upstream(doutputs)
        core, keep = (
            (cache.core, cache.dropout) if isinstance(cache, RecurrentCache) else (cache, None)
        )
        if not self.return_sequences and dout is not None:
            # The output is h_T: its gradient joins dL/dh_T, which must not broadcast into it.
            batch = getattr(core, "batch_size", None)  # a foreign cache: the core says so below
            want = (batch, self._output_units)
            if batch is not None and np.shape(dout) != want:
                name = "doutputs[0]" if self.return_state else "doutputs"
                raise ValueError(
                    f"{name}: expected shape {want} (batch, units) like the layer's output, got "
                    f"{np.shape(dout)}"
                )
            dstates[0] = dout if dstates[0] is None else np.add(dstates[0], dout)
            dout = None
        grads = self._cell_backward(core, dout, tuple(dstates), input_grad, **extra)
        if grads.x is not None:  # None without input_grad
            if self.go_backwards:
                grads = grads._replace(x=self._reverse(grads.x)[0])
            if keep is not None:
                grads = grads._replace(x=grads.x * keep)
        self._keep_grads({name: getattr(grads, name) for name in self.weight_names})
        return grads

    def _upstream(self, doutputs):
        """dL/d(outputs) as ``(doutput, [dstate, ...], extra)``: ``extra``, keywords for
        ``_cell_backward`` from outputs beyond Keras's (an LSTM's cell states)."""
        n = len(self.state_names)
        if not self.return_state:
            return doutputs, [None] * n, {}
        if not isinstance(doutputs, (list, tuple)) or len(doutputs) != n + 1:
            names = ", ".join(f"d{s}" for s in self.state_names)
            raise ValueError(f"doutputs: expected [doutput, {names}] for a return_state layer")
        return doutputs[0], list(doutputs[1:]), {}

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 3:
            order = "(time, batch, input)" if self.time_major else "(batch, time, input)"
            raise ValueError(
                f"{self.name}: expected an input shape {order}, got {input_shape} (a layer "
                f"before it without return_sequences=True gives one vector per sequence)"
            )
        units = self._output_units
        if self.time_major:
            steps, batch = input_shape[0], input_shape[1]
            out = (steps, batch, units) if self.return_sequences else (batch, units)
        else:
            batch, steps = input_shape[0], input_shape[1]
            out = (batch, steps, units) if self.return_sequences else (batch, units)
        if self.return_state:
            return [out, *[(batch, width) for width in self._state_widths()]]
        return out

    def compute_mask(self, x, mask=None):
        return mask if self.return_sequences else None

    # -- config ----------------------------------------------------------------------------

    def get_config(self) -> dict[str, Any]:
        """Plain JSON data; ``from_config(config)`` makes the same (unbuilt) layer."""
        return {
            **super().get_config(),
            "units": self.units,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "time_major": self.time_major,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "kernel_initializer": _init_name(
                self.kernel_initializer, "kernel_initializer", self.name
            ),
            "recurrent_initializer": _init_name(
                self.recurrent_initializer, "recurrent_initializer", self.name
            ),
            "bias_initializer": _init_name(self.bias_initializer, "bias_initializer", self.name),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(units={self.units}, dtype={self.dtype.name}, built={self.built})"


class _SingleState(Recurrent):
    """A cell whose state is h alone: the functional API takes and returns one array."""

    def _cell_call(self, x, weights, states, options):
        y, h = self._fn[0](x, *weights, states, **self._kwargs(options))
        return y, (h,)

    def _cell_forward(self, x, weights, states, options):
        y, h, cache = self._fn[1](x, *weights, states, **self._kwargs(options))
        return y, (h,), cache

    def _cell_backward(self, cache, dy, dstates, input_grad):
        return self._fn[2](cache, dy, dstates[0], input_grad=input_grad)

    def _kwargs(self, options) -> dict[str, Any]:
        return {"time_major": self.time_major, **self._cell_options(), **options}


class GRU(_SingleState):
    """A GRU layer (Keras's ``keras.layers.GRU``) over NumPy arrays.

    Weights: ``kernel`` (I, 3H) glorot-uniform, ``recurrent_kernel`` (H, 3H) orthogonal, gate blocks
    z, r, h (Keras's order); ``bias`` (2, 3H) = [input bias; recurrent bias] with
    ``reset_after=True`` (Keras's default, PyTorch's GRU), (3H,) without (the original GRU).
    Calls return the last h (B, H), the sequence with ``return_sequences``, and ``[output, h]``
    with ``return_state``; masks as for :class:`LSTM`.

    Args: those of :class:`Recurrent`, and ``reset_after``.
    """

    gates = 3
    default_name = "gru"
    _fn = (gru, gru_forward, gru_backward)

    _refused: ClassVar[dict[str, str]] = {
        "activation": "fixed at tanh (with sigmoid gates), as cuDNN's GRU: 'tanh' or leave it out",
        "recurrent_activation": "fixed at sigmoid, as cuDNN's GRU: 'sigmoid' or leave it out",
        "use_bias": "always True, as cuDNN's GRU (a zero bias_initializer starts it at 0)",
    }
    _fixed: ClassVar[dict[str, Any]] = {
        "activation": "tanh",
        "recurrent_activation": "sigmoid",
        "use_bias": True,
    }

    def __init__(self, units: int, *, reset_after: bool = True, **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.reset_after = _flag(reset_after, "reset_after")

    kernel = weight_property("kernel", "(I, 3H) input weights.")
    recurrent_kernel = weight_property("recurrent_kernel", "(H, 3H) recurrent weights.")
    bias = weight_property("bias", "(2, 3H) bias (reset_after), else (3H,).")

    def _cell_options(self) -> dict[str, Any]:
        return {"reset_after": self.reset_after}

    def _weight_shapes(self, first_shape):
        shapes = super()._weight_shapes(first_shape)
        if self.reset_after:
            shapes["bias"] = (2, 3 * self.units)
        return shapes

    def stream(self, initial_state=None, *, batch_size: int | None = None) -> GRUStream:
        """A :class:`fastlstm.GRUStream` with a copy of this layer's current weights."""
        self._check_streamable()
        return GRUStream(
            *self._weight_arrays(),
            initial_state,
            reset_after=self.reset_after,
            batch_size=batch_size,
        )

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "reset_after": self.reset_after}


class SimpleRNN(_SingleState):
    """A fully-connected RNN layer (Keras's ``keras.layers.SimpleRNN``):
    ``h_t = activation(x_t·kernel + h_{t-1}·recurrent_kernel + bias)``, activation "tanh"
    (default) or "relu"; kernel (I, H), recurrent_kernel (H, H), bias (H,).

    Args: those of :class:`Recurrent`, and ``activation``.
    """

    gates = 1
    default_name = "simple_rnn"
    _fn = (simple_rnn, simple_rnn_forward, simple_rnn_backward)

    def __init__(self, units: int, *, activation: str = "tanh", **kwargs: Any) -> None:
        super().__init__(units, **kwargs)
        self.activation = _choice(activation, "activation", _ACTIVATIONS)

    kernel = weight_property("kernel", "(I, H) input weights.")
    recurrent_kernel = weight_property("recurrent_kernel", "(H, H) recurrent weights.")
    bias = weight_property("bias", "(H,) bias.")

    def _cell_options(self) -> dict[str, Any]:
        return {"activation": self.activation}

    def stream(self, initial_state=None, *, batch_size: int | None = None) -> SimpleRNNStream:
        """A :class:`fastlstm.SimpleRNNStream` with a copy of this layer's current weights."""
        self._check_streamable()
        return SimpleRNNStream(
            *self._weight_arrays(),
            initial_state,
            activation=self.activation,
            batch_size=batch_size,
        )

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": self.activation}
