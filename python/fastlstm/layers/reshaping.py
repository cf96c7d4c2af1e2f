"""Weightless layers that move values around or map them one by one, with Keras 3's names and
semantics: RepeatVector (an LSTM autoencoder's bridge), Reshape and Flatten (between a Dense and a
sequence, or a sequence and a Dense), and Activation (an activation as a layer of its own).

Activation sits here rather than beside Dense in :mod:`.core` (Keras's home for it), which is
already past the project's ~500 lines a file.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from .. import activations
from .._arrays import allocate, integer
from .base import Layer, input_array


class _Weightless(Layer):
    """What the layers here share: no weights and nothing random, so no ``seed`` taken or saved
    (Keras's have none); ``dtype``, ``name``, ``trainable`` and Keras 2's input-shape keywords
    are handed to :class:`Layer`."""

    def __init__(
        self,
        *,
        dtype: Any = "float32",
        name: str | None = None,
        trainable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, dtype=dtype, seed=None, trainable=trainable, **kwargs)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["seed"]
        return config


class RepeatVector(_Weightless):
    """Repeats each input vector ``n`` times: x (B, F) -> (B, n, F), as Keras's RepeatVector
    (the encoder's last state handed to every step of a decoder). Backward sums the n steps'
    gradients. It hands on no mask."""

    default_name = "repeat_vector"

    def __init__(self, n: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n = integer(n, "n", at_least=1, below=2**31)

    def _check(self, x) -> np.ndarray:
        x = input_array(x)
        if x.ndim != 2:
            raise ValueError(f"x: expected a (batch, features) array, got shape {x.shape}")
        return x

    def call(self, x, training: bool = False, mask=None):
        x = self._check(x)
        batch, features = x.shape
        what = f"layer {self.name!r}'s output for x of shape {x.shape}"
        out = allocate("n", (batch, self.n, features), x.dtype, what=what)
        out[...] = x[:, None, :]
        return out

    def forward(self, x, training: bool = False, mask=None):
        self._ensure_built(x)
        return self.call(x), None

    def backward(self, cache, dout):
        self.grads = []
        return np.asarray(dout).sum(axis=1)

    def compute_output_shape(self, input_shape) -> tuple:
        if len(input_shape) != 2:
            raise ValueError(
                f"x: expected a (batch, features) input, got shape {tuple(input_shape)}"
            )
        return (input_shape[0], self.n, input_shape[1])

    def compute_mask(self, x, mask=None):
        return None

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "n": self.n}


def _batched(x) -> np.ndarray:
    """x as an array of real numbers with a batch axis first (shape (B, ...))."""
    x = input_array(x)
    if x.ndim < 1:
        raise ValueError(f"x: expected an array with the batch axis first, got shape {x.shape}")
    return x


def _unshaped(shape: tuple, dout):
    """dL/dx from dL/dout, for a layer whose output is its input reshaped (x of ``shape``)."""
    return None if dout is None else np.asarray(dout).reshape(shape)


def _target_shape(value) -> tuple:
    """Reshape's ``target_shape`` checked: sizes >= 1, at most one of them -1 (Keras's)."""
    expected = "a tuple of sizes without the batch (ints >= 1, at most one of them -1)"
    if not isinstance(value, (tuple, list)):
        raise TypeError(f"target_shape: expected {expected}, got {value!r}")
    for s in value:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, numbers.Integral):
            raise TypeError(f"target_shape: expected {expected}, got {value!r} (entry {s!r})")
        if not (s == -1 or 1 <= s < 2**63):  # 2**63: beyond what NumPy can index
            raise ValueError(f"target_shape: expected {expected}, got {value!r} (entry {s!r})")
    if list(value).count(-1) > 1:
        raise ValueError(f"target_shape: expected {expected}, got {value!r} (two -1s)")
    return tuple(int(s) for s in value)


class Reshape(_Weightless):
    """Reshapes each sample: x (B, ...) -> (B, *target_shape), as Keras's Reshape (the batch
    axis is not in ``target_shape``; one entry may be -1, worked out from the sample's size).

    An input shape with None (a free time axis) leaves the -1 as None until a call, which then
    checks the sizes; any mismatch is a ValueError naming ``target_shape`` and the input shape,
    at build or at call. Backward reshapes dL/dout back to x's shape. It hands on no mask (as
    Keras's, whose Reshape drops it: the steps it masked may no longer exist)."""

    default_name = "reshape"

    def __init__(self, target_shape, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_shape = _target_shape(target_shape)

    def compute_output_shape(self, input_shape) -> tuple:
        """(B, *target_shape) with the -1 worked out, or None where the input has a None (the
        sample's size is then known only at call time, as Keras's)."""
        input_shape = tuple(input_shape)
        if not input_shape:
            raise ValueError("x: expected an input shape with the batch first, got ()")
        sample, target = input_shape[1:], self.target_shape
        if None in sample:
            return (input_shape[0], *(None if s == -1 else s for s in target))
        size, known = math.prod(sample), math.prod(s for s in target if s != -1)
        if size != known and (-1 not in target or size % known):
            holds = f"a multiple of {known}" if -1 in target else known
            raise ValueError(
                f"target_shape: expected a shape holding the {size} values of a sample of the "
                f"input shape {input_shape}, got {target} (which holds {holds} values)"
            )
        return (input_shape[0], *(size // known if s == -1 else s for s in target))

    def build(self, input_shape) -> None:
        self.compute_output_shape(input_shape)  # a target_shape that cannot fit fails here
        super().build(input_shape)

    def call(self, x, training: bool = False, mask=None):
        x = _batched(x)
        # every size resolved here (NumPy cannot work out a -1 for an empty batch)
        return x.reshape(self.compute_output_shape(x.shape))

    def forward(self, x, training: bool = False, mask=None):
        self._ensure_built(x)
        x = _batched(x)
        return x.reshape(self.compute_output_shape(x.shape)), x.shape

    def backward(self, cache, dout):
        self.grads = []
        return _unshaped(cache, dout)

    def compute_mask(self, x, mask=None):
        return None

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "target_shape": list(self.target_shape)}


class Flatten(_Weightless):
    """x (B, ...) -> (B, product of the other sizes), as Keras's Flatten; x (B,) gives (B, 1).
    A None in the input shape makes the output's size None until a call. Backward reshapes
    dL/dout back to x's shape. It hands on no mask. ``data_format``: only "channels_last" (or
    None), fastlstm's only layout (Keras's "channels_first" would transpose first)."""

    default_name = "flatten"

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if data_format is not None and not isinstance(data_format, str):
            raise TypeError(f"data_format: expected None or 'channels_last', got {data_format!r}")
        if data_format not in (None, "channels_last"):
            raise ValueError(
                "data_format: expected None or 'channels_last' (fastlstm's layers are channels "
                f"last), got {data_format!r}"
            )
        self.data_format = "channels_last"

    def compute_output_shape(self, input_shape) -> tuple:
        input_shape = tuple(input_shape)
        if not input_shape:
            raise ValueError("x: expected an input shape with the batch first, got ()")
        sample = input_shape[1:]
        return (input_shape[0], None if None in sample else math.prod(sample))

    def call(self, x, training: bool = False, mask=None):
        x = _batched(x)
        # the size spelt out: reshape(B, -1) fails on an empty batch
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))

    def forward(self, x, training: bool = False, mask=None):
        self._ensure_built(x)
        x = _batched(x)
        return x.reshape(x.shape[0], math.prod(x.shape[1:])), x.shape

    def backward(self, cache, dout):
        self.grads = []
        return _unshaped(cache, dout)

    def compute_mask(self, x, mask=None):
        return None

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format}


class Activation(_Weightless):
    """``activation(x)``, element by element (softmax over the last axis), as Keras's
    Activation: any name or function Dense takes (see :mod:`fastlstm.activations`), with the
    same formulas and derivatives, so Dense(U) then Activation(a) equals Dense(U, activation=a).
    Inputs are cast to the layer's dtype, as Dense casts them. An incoming mask is passed
    through unchanged (Keras's Activation supports masking); masked steps are computed too."""

    default_name = "activation"

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not (activation is None or isinstance(activation, str) or callable(activation)):
            raise TypeError(
                "activation: expected None, an activation's name or one of "
                f"fastlstm.activations' functions, got {activation!r}"
            )
        self.activation = activations.get(activation)

    def call(self, x, training: bool = False, mask=None):
        return activations.apply(self.activation, input_array(_batched(x), dtype=self.dtype))

    def forward(self, x, training: bool = False, mask=None):
        self._ensure_built(x)
        z = input_array(_batched(x), dtype=self.dtype)
        y = activations.apply(self.activation, z)
        # z kept only where y alone does not give the derivative
        return y, (y, z if self.activation in activations.NEEDS_Z else None)

    def backward(self, cache, dout):
        self.grads = []
        y, z = cache
        return activations.backward(self.activation, y, np.asarray(dout, dtype=self.dtype), z)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": self.activation}
