"""Bidirectional: a recurrent layer run over the sequence in both directions (Keras's
``keras.layers.Bidirectional``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._graph import connect, is_symbolic
from .._locks import WeightsLock
from ..functional import _flag
from .base import Layer, arrived, wrapped_spec, wrapper_keywords
from .recurrent import Recurrent

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def _torch_states_hint(given, n: int) -> str:
    """Advice where ``given`` is PyTorch's bidirectional state for a layer of ``n`` states: h0
    (2, B, H), or (h0, c0) for an LSTM, the directions stacked on the first axis."""
    if n == 1:
        torch = not isinstance(given, (list, tuple)) and np.ndim(given) == 3
        return "; from PyTorch's h0 (2, batch, units) pass list(h0)" if torch else ""
    torch = isinstance(given, (list, tuple)) and len(given) == 2
    if not (torch and all(not isinstance(a, (list, tuple)) and np.ndim(a) == 3 for a in given)):
        return ""
    return "; from PyTorch's (h0, c0), each (2, batch, units), pass [h0[0], c0[0], h0[1], c0[1]]"


class Bidirectional(Layer):
    """Runs ``layer`` forwards and a copy of it backwards (``go_backwards`` flipped, its own
    weights, seeded apart) and merges the two outputs. A ``backward_layer`` given instead (with
    the opposite ``go_backwards``) may be of another cell or width, as Keras's: halves of other
    widths merge by "concat" or None only, and the states are each half's own.

    With ``return_sequences``, the backward layer's output sequence is put back in input order
    first, so that step t of both halves belongs to input step t; with a mask, both halves'
    outputs are zero at masked steps (Keras's Bidirectional). ``merge_mode``: "concat"
    (default; (..., 2H)), "sum", "mul", "ave" ((..., H)), or None for the list
    ``[forward_output, backward_output]``; H is P for an LSTM with ``proj_size=P``, whose
    states are then ``(h (B, P), c (B, H))`` per direction. With ``return_state``, a call returns
    ``[output, *forward_states, *backward_states]``. The halves are named as Keras names them,
    ``forward_lstm`` and ``backward_lstm`` for an LSTM named ``lstm``. Weights: the forward
    layer's, then the backward layer's. ``input_shape=(T, I)`` (Keras 2, on the wrapper)
    declares a Sequential's input, as for any layer.
    """

    default_name = "bidirectional"

    def __init__(
        self,
        layer: Recurrent,
        merge_mode: str | None = "concat",
        *,
        backward_layer: Recurrent | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(layer, Recurrent):
            raise TypeError(f"layer: expected a recurrent layer, got {type(layer).__name__}")
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"merge_mode: expected one of {MERGE_MODES}, got {merge_mode!r}")
        if layer.stateful:
            raise ValueError("layer: a stateful layer cannot run in both directions")
        if getattr(layer, "return_cell_states", False):
            raise ValueError(
                "layer: a Bidirectional merges one output a direction, so its layer cannot have "
                "return_cell_states=True; call two LSTM layers (one with go_backwards=True) in a "
                "functional model to have each one's cell states"
            )
        # Keras's names for the halves, forward_lstm and backward_lstm (a file's halves, which
        # have them already, keep them); the layer is renamed once nothing can fail.
        base = layer.name.removeprefix("forward_")
        if backward_layer is None:
            config = {**layer.get_config(), "go_backwards": not layer.go_backwards}
            config["name"] = "backward_" + base
            if layer.seed is not None:
                config["seed"] = layer.seed + 1  # its own weights, still reproducible
            backward_layer = type(layer).from_config(config)
        elif not isinstance(backward_layer, Recurrent):
            raise TypeError(
                f"backward_layer: expected a recurrent layer, got {type(backward_layer).__name__}"
            )
        elif backward_layer is layer:  # one set of weights cannot read the sequence both ways
            raise ValueError(
                "backward_layer: expected a layer of its own, got the forward layer itself; "
                "leave backward_layer out for a copy of it that reads backwards"
            )
        if backward_layer.go_backwards == layer.go_backwards:
            raise ValueError(
                f"backward_layer: expected go_backwards={not layer.go_backwards} (the opposite "
                f"of layer's), got {backward_layer.go_backwards}"
            )
        if getattr(backward_layer, "return_cell_states", False):  # an LSTM's option
            raise ValueError(
                "backward_layer: expected return_cell_states=False (a Bidirectional merges one "
                "output a direction), got True"
            )
        # The halves may be of different cells and widths (Keras's too): an LSTM forwards and
        # a GRU backwards, or 64 units and 32 with merge_mode "concat" or None.
        for attr in (
            "return_sequences",
            "return_state",
            "time_major",
            "stateful",
            "dtype",  # one dtype for the layer's output, and the file that holds both halves
        ):
            ours, theirs = getattr(layer, attr), getattr(backward_layer, attr)
            if theirs != ours:
                shown = str if attr == "dtype" else repr  # float32, not dtype('float32')
                raise ValueError(
                    f"backward_layer: expected {attr}={shown(ours)} like layer, got {shown(theirs)}"
                )
        # _output_units: an LSTM's proj_size where it has one, else units
        widths = (layer._output_units, backward_layer._output_units)
        if merge_mode not in ("concat", None) and widths[0] != widths[1]:
            raise ValueError(
                f"backward_layer: merge_mode {merge_mode!r} combines outputs of one width, and "
                f"layer gives {widths[0]} and backward_layer {widths[1]}; give both the same "
                "width, or merge_mode 'concat'"
            )
        layer.name = "forward_" + base
        self.forward_layer, self.backward_layer = layer, backward_layer
        self._pair_lock = WeightsLock()  # the halves' weights change together (set_weights)
        # The halves keep their own flags (one may be frozen), unless trainable= is given here.
        trainable, seed = wrapper_keywords(kwargs, layer, "Bidirectional")
        flags = (layer.trainable, backward_layer.trainable)
        super().__init__(name=name, dtype=layer.dtype, seed=layer.seed, **kwargs)
        if trainable is None:
            layer.trainable, backward_layer.trainable = flags
        else:
            self.trainable = trainable
        self.seed = seed  # both halves' (the backward one's seed + 1, unless it has its own)
        self.merge_mode = merge_mode
        self.return_sequences, self.return_state = layer.return_sequences, layer.return_state

    @property
    def seed(self) -> int | None:
        """The forward layer's seed. Setting it (as a seeded Sequential does for a layer
        without one) seeds the forward layer, and the backward one with seed + 1 unless it has
        its own, so that both directions' weights are reproducible."""
        return self.forward_layer.seed

    @seed.setter
    def seed(self, value: int | None) -> None:
        if value is None:
            return
        self.forward_layer.seed = value
        if self.backward_layer.seed is None:
            self.backward_layer.seed = value + 1

    @property
    def _halves(self) -> tuple[Recurrent, Recurrent]:
        return self.forward_layer, self.backward_layer

    @property
    def trainable(self) -> bool:
        """Whether either half trains (one may be frozen on its own:
        ``forward_layer.trainable = False``); setting it sets both, as Keras's wrapper does."""
        return self.forward_layer.trainable or self.backward_layer.trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        value = _flag(value, "trainable")
        for half in self._halves:
            half.trainable = value

    @property
    def weight_names(self) -> tuple[str, ...]:
        f, b = (half.weight_names for half in self._halves)
        return tuple(f"forward_{n}" for n in f) + tuple(f"backward_{n}" for n in b)

    # -- weights: the two layers' -----------------------------------------------------------

    @property
    def built(self) -> bool:
        return self.forward_layer.built and self.backward_layer.built

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        return [w for half in self._halves for w in half.trainable_weights]

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        return [w for half in self._halves for w in half.non_trainable_weights]

    @property
    def weights(self) -> list[np.ndarray]:
        return [w for half in self._halves for w in half.weights]

    # The trained halves' gradients, in trainable_weights's order.
    grads = property(
        lambda self: [g for half in self._halves if half.trainable for g in half.grads],
        lambda self, v: None,
    )
    kernel_regularizer = property(lambda self: self.forward_layer.kernel_regularizer)
    recurrent_regularizer = property(lambda self: self.forward_layer.recurrent_regularizer)
    bias_regularizer = property(lambda self: self.forward_layer.bias_regularizer)

    def get_weights(self) -> list[np.ndarray]:
        return [w for half in self._halves for w in half.get_weights()]

    def set_weights(self, weights) -> None:
        """The forward layer's weights, then the backward layer's; nothing changes unless all
        are valid, and a call in another thread uses the old pair or the new one."""
        n, m = (len(half.weight_names) for half in self._halves)
        if not isinstance(weights, (list, tuple)) or len(weights) != n + m:
            got = len(weights) if isinstance(weights, (list, tuple)) else type(weights).__name__
            raise ValueError(
                f"weights: expected a list of {n + m} arrays (forward {n}, backward {m}), got {got}"
            )
        staged = []
        for side, half, given in zip(
            ("forward", "backward"), self._halves, (weights[:n], weights[n:])
        ):
            try:
                staged.append(half._staged_weights(list(given)))
            except (TypeError, ValueError) as exc:  # "kernel: ..." names this wrapper's weight
                raise type(exc)(f"{side}_{exc}") from None
        # Both halves read the same x: kernels of other input sizes made a layer (and a model
        # file) that loaded but ran on no input at all.
        sizes = [new[h.weight_names[0]].shape[0] for h, new in zip(self._halves, staged)]
        if sizes[0] != sizes[1]:
            raise ValueError(
                f"weights: the forward layer's kernel takes {sizes[0]} input features and the "
                f"backward layer's {sizes[1]}; both halves read the same input"
            )
        with self._pair_lock.writing:
            for half, new in zip(self._halves, staged):
                half._swap_weights(new)

    def count_params(self) -> int:
        return sum(half.count_params() for half in self._halves)

    def regularization_loss(self) -> float:
        return sum(half.regularization_loss() for half in self._halves)

    def build(self, input_shape) -> None:
        for half in self._halves:
            half.build(input_shape)
        self.built_input_shape = tuple(input_shape) if not np.isscalar(input_shape) else None

    def _ensure_built(self, x) -> None:
        for half in self._halves:
            half._ensure_built(x)

    # -- computation -----------------------------------------------------------------------

    def _aligned(self, output):
        """The backward layer's output sequence in input order (its last step is input step 0)."""
        if not self.return_sequences:
            return output
        return output[::-1] if self.forward_layer.time_major else output[:, ::-1]

    def _merge(self, outs):
        f, b = outs[0][0], self._aligned(outs[1][0])
        if self.merge_mode == "concat":
            y = np.concatenate([f, b], axis=-1)
        elif self.merge_mode == "sum":
            y = f + b
        elif self.merge_mode == "mul":
            y = f * b
        elif self.merge_mode == "ave":
            y = (f + b) / 2
        else:
            y = [f, b]
        if not self.return_state:
            return y
        return [y, *outs[0][1:], *outs[1][1:]]

    def _parts(self, out) -> list:
        return list(out) if self.return_state else [out]

    def _keeps(self, mask):
        """Per half, where its output sequence is kept: (B, T, 1) (time-major: (T, B, 1)) bools
        in that half's own step order; None without a mask or return_sequences. A masked step's
        output is zero in both halves (Keras's Bidirectional; a single layer repeats the last
        output there instead), so neither half leaks into steps it did not read."""
        if mask is None or not self.return_sequences:
            return None
        keep = np.asarray(mask, dtype=bool)
        keep = keep.T[..., None] if self.forward_layer.time_major else keep[..., None]
        flipped = keep[::-1] if self.forward_layer.time_major else keep[:, ::-1]
        return [flipped if h.go_backwards else keep for h in self._halves]

    def _masked(self, outs, keeps):
        if keeps is None:
            return outs
        return [[np.where(k, o[0], 0), *o[1:]] for o, k in zip(outs, keeps)]

    def _initial_states(self, initial_state) -> tuple:
        """Each half's initial state from Keras's list: the forward layer's states, then the
        backward layer's (None: zeros)."""
        if initial_state is None:
            return None, None
        n, m = (len(half.state_names) for half in self._halves)
        if not isinstance(initial_state, (list, tuple)) or len(initial_state) != n + m:
            f, b = (", ".join(half.state_names) for half in self._halves)
            hint = _torch_states_hint(initial_state, n) if n == m else ""
            raise ValueError(
                f"initial_state: expected a list of {n + m} arrays, the forward layer's ({f}) "
                f"then the backward layer's ({b}), got {arrived(initial_state)}{hint}"
            )
        return list(initial_state[:n]), list(initial_state[n:])

    def call(self, x, training: bool = False, mask=None, initial_state=None):
        self._ensure_built(x)
        with self._pair_lock.reading:  # both halves' weights of one set_weights
            outs = [
                self._parts(h.call(x, training=training, mask=mask, initial_state=s))
                for h, s in zip(self._halves, self._initial_states(initial_state))
            ]
        return self._merge(self._masked(outs, self._keeps(mask)))

    def __call__(self, x, initial_state=None, *, training: bool = False, mask=None) -> Any:
        if is_symbolic(x):  # describing a functional model: record the call (fastlstm._graph)
            return connect(self, x, initial_state, training, mask)
        training = _flag(training, "training")  # "no" would turn dropout on
        return self.call(x, training=training, mask=mask, initial_state=initial_state)

    def forward(self, x, training: bool = False, mask=None, initial_state=None):
        self._ensure_built(x)
        with self._pair_lock.reading:
            results = [
                h.forward(x, training=training, mask=mask, initial_state=s)
                for h, s in zip(self._halves, self._initial_states(initial_state))
            ]
        keeps = self._keeps(mask)
        outs = self._masked([self._parts(out) for out, _ in results], keeps)
        return self._merge(outs), ([c for _, c in results], outs, keeps)

    def _split(self, dout, outs):
        """dL/d(each half's output) from dL/d(merged output)."""
        if dout is None:
            return None, None
        f, b = outs[0][0], self._aligned(outs[1][0])
        if self.merge_mode == "concat":
            df, db = dout[..., : f.shape[-1]], dout[..., f.shape[-1] :]
        elif self.merge_mode == "sum":
            df, db = dout, dout
        elif self.merge_mode == "mul":
            df, db = dout * b, dout * f
        elif self.merge_mode == "ave":
            df, db = dout / 2, dout / 2
        else:
            df, db = dout
        return df, self._aligned(db)

    def backward(self, cache, dout, input_grad: bool = True):
        """dL/dx from dL/d(output) (``[doutput, *dstates]`` with return_state); the weight
        gradients are kept in ``grads``, the forward layer's first. ``input_grad=False`` skips
        dL/dx and returns None."""
        caches, outs, keeps = cache
        n, m = (len(half.state_names) for half in self._halves)
        if self.return_state:
            if not isinstance(dout, (list, tuple)) or len(dout) != 1 + n + m:
                raise ValueError(
                    f"doutputs: expected [doutput, {n + m} state gradients] for a return_state "
                    "layer"
                )
            dout, dstates = dout[0], list(dout[1:])
        else:
            dstates = [None] * (n + m)
        df, db = self._split(dout, outs)
        if keeps is not None and df is not None:  # a zeroed output has no gradient
            df, db = (np.where(k, d, 0) for d, k in zip((df, db), keeps))
        dx = None
        for half, c, d, ds in zip(self._halves, caches, (df, db), (dstates[:n], dstates[n:])):
            douts = [d, *ds] if self.return_state else d
            g = half.backward(c, douts, input_grad)
            if g.x is not None:
                dx = g.x if dx is None else dx + g.x
        return dx

    def compute_output_shape(self, input_shape):
        shapes = [half.compute_output_shape(input_shape) for half in self._halves]
        if self.return_state:
            (out, *states), (back, *back_states) = shapes
            states += back_states
        else:
            (out, back), states = shapes, []
        if self.merge_mode == "concat":  # widths: an LSTM's proj_size where it has one
            merged = (*out[:-1], out[-1] + back[-1])
        else:
            merged = [tuple(out), tuple(back)] if self.merge_mode is None else tuple(out)
        return [merged, *states] if self.return_state else merged

    def compute_mask(self, x, mask=None):
        return mask if self.return_sequences else None

    # -- randomness and config -------------------------------------------------------------

    def get_rng_state(self):
        return [half.get_rng_state() for half in self._halves]

    def set_rng_state(self, state) -> None:
        if state is None:
            state = [None, None]
        for half, s in zip(self._halves, state):
            half.set_rng_state(s)

    def get_config(self) -> dict[str, Any]:
        from . import serialize

        return {
            "name": self.name,
            "merge_mode": self.merge_mode,
            "layer": serialize(self.forward_layer),
            "backward_layer": serialize(self.backward_layer),
            **self._shape_config(),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        from . import deserialize  # the registry of the package's own layer classes

        config = dict(config)
        layer = deserialize(wrapped_spec(config, "Bidirectional"))
        backward = config.pop("backward_layer", None)
        backward = None if backward is None else deserialize(backward)
        return cls(layer, backward_layer=backward, **config)

    def __repr__(self) -> str:
        return f"Bidirectional({self.forward_layer!r}, merge_mode={self.merge_mode!r})"
