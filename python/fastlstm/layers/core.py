"""Core layers with Keras's names, defaults and semantics: Dense, Dropout, Embedding, Masking,
TimeDistributed, Input (declares the input shape of a model) and InputLayer (an Input as a
model lists it). See :mod:`.base` for the protocol they implement. Shapes: B (batch), T (time),
I (input features), U (units).

Every layer also takes Keras 2's ``input_shape`` (with ``batch_size``), ``batch_input_shape`` and
``input_dim`` keywords; as the first layer of a Sequential they declare its input like an
``Input``. Embedding also takes Keras 2's ``input_length`` (``input_shape=(input_length,)``).
"""

from __future__ import annotations

import math
import re
import threading
from typing import Any

import numpy as np

from .. import activations, initializers, regularizers
from .._arrays import check_name, check_room, integer, real_number
from .._graph import KerasTensor
from ..functional import _flag
from .base import (
    Layer,
    _init_name,
    check_shape,
    declared_input_shape,
    dropout_mask,
    input_array,
    input_gradient,
    wrapped_spec,
    wrapper_keywords,
)
from .kernel import KernelLayer


def _rows(x: np.ndarray) -> np.ndarray:
    """x (..., F) as a 2-D (N, F) view, so that one matrix product covers every position."""
    return x.reshape(-1, x.shape[-1])


# What an Input's arrays may hold: real numbers, or integers for Embedding's token ids
INPUT_DTYPES = (
    "float16",
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
)


def input_dtype(dtype) -> str | None:
    """An Input's ``dtype`` by its NumPy name, or None (any); ValueError for another."""
    if dtype is None:
        return None
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in INPUT_DTYPES:
        raise ValueError(f"dtype: expected None or one of {', '.join(INPUT_DTYPES)}, got {dtype!r}")
    return name


class Input(KerasTensor):
    """Declares a model's input shape without the batch: ``Input(shape=(T, I))``, as Keras; with
    ``batch_size=B``, or as ``Input(batch_shape=(B, T, I))``, a fixed batch size too (a stateful
    model's). Its ``shape`` is the batch shape, ``(None, T, I)``, as a Keras tensor's.

    The first entry of a :class:`~fastlstm.models.Sequential`, or a symbolic tensor that layers
    are called on to describe a :class:`~fastlstm.models.Model` (see :mod:`fastlstm._graph`).
    ``dtype`` is what the model's arrays for it hold (a string such as "int32"; None: any)."""

    def __init__(
        self,
        shape=None,
        batch_size: int | None = None,
        dtype: Any = None,
        name: str | None = None,
        batch_shape=None,
    ) -> None:
        if shape is None and batch_shape is None:
            raise ValueError("shape: expected a shape such as (T, I) (or batch_shape=), got None")
        try:
            declared = declared_input_shape(shape, batch_shape, batch_size, None)
        except (TypeError, ValueError) as exc:  # ValueError for every bad shape, as always
            # the messages in Input's own argument names, not Keras 2's layer keywords
            message = str(exc).replace("batch_input_shape", "batch_shape")
            message = message.replace(" or input_dim", "")  # Input has no input_dim
            raise ValueError(message.replace("input_shape", "shape")) from None
        check_name(name)
        super().__init__(declared, input_dtype(dtype))
        self.batch_size = declared[0]
        self.name = name

    @property
    def batch_shape(self) -> tuple:
        return self.shape

    def __repr__(self) -> str:
        if self.batch_size is None:
            return f"Input(shape={self.shape[1:]})"
        return f"Input(batch_shape={self.shape})"


# Names for unnamed Inputs' layers, as Keras 3 gives them, one sequence for the process:
# input_layer, input_layer_1, ... (so the same Input's layer has one name in every model). A
# layer given such a name (a loaded model's) moves the sequence past it, so that the Inputs
# made after a load (keras.io's seq2seq inference models) are not named as the loaded ones.
_INPUT_NAME = re.compile(r"input_layer(?:_(\d+))?")
_input_names = [0]  # the next number
_input_names_lock = threading.Lock()


def _next_input_name() -> str:
    with _input_names_lock:
        n = _input_names[0]
        _input_names[0] = n + 1
    return "input_layer" + (f"_{n}" if n else "")


def _note_input_name(name: str) -> None:
    match = _INPUT_NAME.fullmatch(name)
    if match:
        with _input_names_lock:
            _input_names[0] = max(_input_names[0], int(match.group(1) or 0) + 1)


class InputLayer(Layer):
    """An :class:`Input` as a layer, as Keras 3 has it: a functional
    :class:`~fastlstm.models.Model` lists one for each of its Inputs in its ``layers`` (so that
    ``model.layers[2]`` is the layer Keras's index names), with no weights; its ``output`` is
    the Input tensor. Made as ``InputLayer(shape=(T, I))`` (arguments as :class:`Input`'s, and
    Keras's ``input_shape``/``batch_input_shape``), it is a Sequential's first entry, as an Input
    is, and not among the Sequential's ``layers`` (nor is it in Keras 3). Unnamed, it is called
    ``input_layer``, ``input_layer_1``, ... in the order such layers are made. It passes arrays
    through unchanged."""

    default_name = "input_layer"

    def __init__(
        self,
        shape=None,
        batch_size: int | None = None,
        dtype: Any = None,
        sparse: bool | None = None,
        batch_shape=None,
        input_tensor: Input | None = None,
        optional: bool = False,
        name: str | None = None,
        *,
        input_shape=None,
        batch_input_shape=None,
        ragged: bool | None = None,
    ) -> None:
        for key, value in (("sparse", sparse), ("ragged", ragged), ("optional", optional)):
            if value:
                raise ValueError(f"{key}: expected None or False, got {value!r}: inputs are dense")
        shape = input_shape if shape is None else shape  # Keras 2's names
        batch_shape = batch_input_shape if batch_shape is None else batch_shape
        if input_tensor is None:
            input_tensor = Input(shape, batch_size, dtype, name, batch_shape)
        elif not isinstance(input_tensor, Input):
            raise TypeError(f"input_tensor: expected an Input, got {type(input_tensor).__name__}")
        elif (shape, batch_shape, batch_size, dtype) != (None, None, None, None):
            raise ValueError(
                "input_tensor: its shape and dtype are the layer's; expected no shape, "
                "batch_shape, batch_size or dtype beside it"
            )
        given = name or input_tensor.name
        if given:
            _note_input_name(given)
        super().__init__(name=given or _next_input_name())
        self._tensor = input_tensor
        self.dtype = np.dtype(input_tensor.dtype or "float32")
        self.built_input_shape = input_tensor.shape  # built: it has no weights to make
        input_tensor._layer = self  # the models made from the tensor list this layer

    @property
    def input(self) -> Input:
        return self._tensor

    @property
    def output(self) -> Input:
        return self._tensor

    @property
    def batch_shape(self) -> tuple:
        return self._tensor.shape

    def __call__(self, x, training: bool = False, mask=None) -> Any:
        if isinstance(x, KerasTensor):
            raise TypeError(
                f"InputLayer {self.name!r}: an input layer is not called on tensors; its "
                "output is the Input tensor the next layers are called on"
            )
        return super().__call__(x, training=training, mask=mask)

    def forward(self, x, training: bool = False, mask=None):
        return input_array(x), None

    def backward(self, cache, dout):
        return dout

    def __array__(self, *args, **kwargs):
        # a layer called on the InputLayer itself would read it as an array of one object
        raise TypeError(
            f"InputLayer {self.name!r} has no values: call the next layer on its .output, the "
            "Input tensor"
        )

    def get_config(self) -> dict[str, Any]:
        return {
            "batch_shape": list(self.batch_shape),
            "dtype": self._tensor.dtype,
            "name": self.name,
        }

    def __repr__(self) -> str:
        return f"InputLayer(name={self.name!r}, batch_shape={self.batch_shape})"


def input_layer_of(tensor: Input) -> InputLayer:
    """The InputLayer of an Input: the one made with it or for it before, else a new one."""
    held = tensor.__dict__.get("_layer")
    return held if held is not None else InputLayer(input_tensor=tensor)


class Dense(KernelLayer):
    """``activation(x @ kernel + bias)`` over the last axis: x (..., I) -> (..., U).

    kernel (I, U) glorot-uniform, bias (U,) zeros, as Keras. On (B, T, I) it applies the same
    weights at every step, like TimeDistributed(Dense). It passes an incoming mask through.
    """

    default_name = "dense"

    def __init__(
        self,
        units: int,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        *,
        seed: int | None = None,
        dtype: Any = "float32",
        name: str | None = None,
        trainable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, dtype=dtype, seed=seed, trainable=trainable, **kwargs)
        self.units = integer(units, "units", at_least=1)
        self.activation = activations.get(activation)
        self._kernel_and_bias(
            use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer
        )

    kernel = property(lambda self: self._weights.get("kernel"), doc="(I, U) weights.")
    bias = property(lambda self: self._weights.get("bias"), doc="(U,) bias.")

    def _weight_shapes(self, first_shape):
        if len(first_shape) != 2:
            raise ValueError(f"kernel: expected shape (input, {self.units}), got {first_shape}")
        return {"kernel": (first_shape[0], self.units), "bias": (self.units,)}

    def _input_shape_from_weights(self):
        return (None, self._weights["kernel"].shape[0])

    def build(self, input_shape) -> None:
        input_shape = tuple(input_shape)
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(
                f"{self.name}: expected an input shape (batch, ..., features), got {input_shape}"
            )
        self._make_weights((int(input_shape[-1]), self.units), self.units)
        self.built_input_shape = input_shape

    def compute_output_shape(self, input_shape) -> tuple:
        return (*tuple(input_shape)[:-1], self.units)

    def _affine(self, x: np.ndarray) -> np.ndarray:
        weights = self._weights  # one set, whatever another thread's set_weights does
        kernel = weights["kernel"]
        if x.ndim < 1 or x.shape[-1] != kernel.shape[0]:
            raise ValueError(
                f"x: expected an array with {kernel.shape[0]} features in its last axis "
                f"(the layer {self.name!r} was built for them), got shape {x.shape}"
            )
        # z, and where an activation follows, y and its temporaries (softmax: two more)
        values = math.prod(x.shape[:-1]) * kernel.shape[1]
        copies = 1 if self.activation == "linear" else 4
        what = f"its output for x of shape {x.shape} ({self.units} units) and its working copies"
        check_room(f"layer {self.name!r}", copies * values, kernel.dtype, what)
        z = x @ kernel  # works on (B, I) and (B, T, I) alike
        if self.use_bias:
            z += weights["bias"]
        return z

    def call(self, x, training: bool = False, mask=None):
        x = input_array(x, dtype=self.dtype)
        return activations.apply(self.activation, self._affine(x))

    def forward(self, x, training: bool = False, mask=None):
        self._ensure_built(x)
        x = input_array(x, dtype=self.dtype)
        z = self._affine(x)
        y = activations.apply(self.activation, z)
        return y, (x, y, z if self.activation in activations.NEEDS_Z else None)

    def backward(self, cache, dout):
        x, y, z = cache
        dz = activations.backward(self.activation, y, np.asarray(dout, dtype=self.dtype), z)
        kernel = self._weights["kernel"]
        dz2 = _rows(dz)
        grads = {"kernel": _rows(x).T @ dz2}
        if self.use_bias:
            grads["bias"] = dz2.sum(axis=0)
        self._keep_grads(grads)
        return dz @ kernel.T

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "units": self.units,
            "activation": self.activation,
            **self._kernel_config(),
        }


class Dropout(Layer):
    """Inverted dropout: in training, zero each element with probability ``rate`` and scale the
    rest by 1/(1 - rate); at inference, the identity. ``noise_shape`` (with None for "as the
    input") shares one draw along axes of size 1, as Keras. Masks come from ``seed``."""

    default_name = "dropout"

    def __init__(
        self,
        rate: float,
        noise_shape=None,
        seed: int | None = None,
        *,
        dtype: Any = "float32",
        name: str | None = None,
        trainable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, dtype=dtype, seed=seed, trainable=trainable, **kwargs)
        self.rate = real_number(rate, "rate", at_least=0, below=1)
        if noise_shape is not None:
            if not isinstance(noise_shape, (tuple, list)):
                raise TypeError(f"noise_shape: expected None or a tuple, got {noise_shape!r}")
            noise_shape = list(check_shape(noise_shape, "noise_shape", "with the batch first"))
        self.noise_shape = noise_shape

    def _mask(self, x: np.ndarray) -> np.ndarray:
        shape = x.shape
        if self.noise_shape is not None:
            if len(self.noise_shape) != x.ndim:
                raise ValueError(
                    f"noise_shape: expected {x.ndim} entries to match x {x.shape}, "
                    f"got {self.noise_shape}"
                )
            shape = tuple(d if s is None else s for s, d in zip(self.noise_shape, x.shape))
            if any(s not in (1, d) for s, d in zip(shape, x.shape)):  # before any allocation
                raise ValueError(
                    f"noise_shape: expected each entry None, 1 or x's size there, got "
                    f"{self.noise_shape} for x {x.shape}"
                )
        return dropout_mask(self.noise_rng, shape, self.rate, x.dtype)

    def call(self, x, training: bool = False, mask=None):
        x = input_array(x)
        if not training or self.rate == 0.0:
            return x
        return x * self._mask(x)

    def forward(self, x, training: bool = False, mask=None):
        self._ensure_built(x)
        x = input_array(x)
        if not training or self.rate == 0.0:
            return x, (None, x.shape)
        keep = self._mask(x)
        return x * keep, (keep, x.shape)

    def backward(self, cache, dout):
        self.grads = []
        keep, shape = cache
        dy = self._dout(dout, shape, cast=False)
        return dy if keep is None else dy * keep

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape}


class SpatialDropout1D(Dropout):
    """Dropout of whole features: for x (B, T, F), one draw per sample and feature, the same at
    every step (Keras's SpatialDropout1D; Dropout with noise_shape (B, 1, F))."""

    default_name = "spatial_dropout1d"

    def __init__(self, rate: float, seed: int | None = None, **kwargs: Any) -> None:
        if "noise_shape" in kwargs:
            raise TypeError("noise_shape: SpatialDropout1D's is (batch, 1, features), fixed")
        super().__init__(rate, noise_shape=(None, 1, None), seed=seed, **kwargs)

    def _mask(self, x: np.ndarray) -> np.ndarray:
        if x.ndim != 3:
            raise ValueError(f"x: expected a (batch, time, features) array, got shape {x.shape}")
        return super()._mask(x)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["noise_shape"]
        return config


class Embedding(Layer):
    """Integer indices (B, T) in [0, input_dim) -> vectors (B, T, output_dim), a lookup in
    ``embeddings`` (input_dim, output_dim), initialised U(-0.05, 0.05) as Keras.
    ``input_length=T`` (Keras 2) declares the input shape (T,), like ``input_shape=(T,)``; the
    config keeps it as ``batch_input_shape``.

    ``mask_zero=True`` treats index 0 as padding: the layer hands on the (B, T) mask ``x != 0``
    (so index 0 must not be a real token, and input_dim counts it). Float inputs holding whole
    numbers are accepted; an index outside [0, input_dim) raises ValueError.

    ``weights``: pretrained vectors (input_dim, output_dim) to start from (Keras 3 takes the
    array, Keras 2 a list holding it; both work), in place of the initialiser. Keras's other
    spelling, ``embeddings_initializer=initializers.Constant(matrix)``, gives the same weights,
    but a model file cannot hold its array (``save`` raises): ``weights`` can be saved.
    """

    default_name = "embedding"
    weight_names = ("embeddings",)

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        embeddings_initializer: Any = "uniform",
        embeddings_regularizer: Any = None,
        mask_zero: bool = False,
        weights=None,
        *,
        input_length: int | None = None,
        seed: int | None = None,
        dtype: Any = "float32",
        name: str | None = None,
        trainable: bool = True,
        **kwargs: Any,
    ) -> None:
        if input_length is not None:  # Keras 2: the length of the input sequences
            length = integer(input_length, "input_length", at_least=1)
            clash = [k for k in ("input_shape", "batch_input_shape") if kwargs.get(k) is not None]
            if clash:
                raise ValueError(
                    f"input_length, {clash[0]}: expected at most one of them, got "
                    f"input_length={input_length!r} and {clash[0]}={kwargs[clash[0]]!r}"
                )
            kwargs["input_shape"] = (length,)
        super().__init__(name=name, dtype=dtype, seed=seed, trainable=trainable, **kwargs)
        # Keras 2 only warned when data of another length came, Keras 3 ignores input_length:
        # a Sequential checks the rank only (models.py)
        self._shape_from_length = input_length is not None
        self.input_dim = integer(input_dim, "input_dim", at_least=1)
        self.output_dim = integer(output_dim, "output_dim", at_least=1)
        self.embeddings_initializer = embeddings_initializer
        self._init = initializers.resolve(embeddings_initializer, "embeddings_initializer")
        if weights is None:  # pretrained vectors as Constant(matrix): a wrong shape fails now
            initializers.check_fits(
                embeddings_initializer,
                (self.input_dim, self.output_dim),
                "embeddings_initializer",
                "the embeddings' shape (input_dim, output_dim)",
            )
        self.embeddings_regularizer = regularizers.get(
            embeddings_regularizer, "embeddings_regularizer"
        )
        self.mask_zero = _flag(mask_zero, "mask_zero")
        if weights is not None:
            if isinstance(weights, (list, tuple)) and len(weights) == 1:
                weights = weights[0]  # Keras 2's [matrix]
            try:
                self._replace_weights([weights])
            except (ValueError, TypeError) as exc:
                raise type(exc)(f"weights: {exc}") from None

    embeddings = property(
        lambda self: self._weights.get("embeddings"), doc="(input_dim, output_dim) vectors."
    )

    def _weight_shapes(self, first_shape):
        return {"embeddings": (self.input_dim, self.output_dim)}

    def _input_shape_from_weights(self):
        return (None, None)

    def build(self, input_shape) -> None:
        shape = (self.input_dim, self.output_dim)
        self._replace_weights([self._init(shape, self.dtype, self._weight_rng())])
        self.built_input_shape = tuple(input_shape)

    def compute_output_shape(self, input_shape) -> tuple:
        return (*tuple(input_shape), self.output_dim)

    def _indices(self, x) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype.kind not in "iufb":
            raise TypeError(f"x: expected an array of integer indices, got dtype {x.dtype}")
        # whole and in range before any cast: NaN or 1e30 cast to int64 is an arbitrary number
        if x.dtype.kind == "f" and not (np.isfinite(x).all() and np.array_equal(x, np.floor(x))):
            raise TypeError(
                f"x: expected integer indices (the layer {self.name!r} is an Embedding), "
                f"got {x.dtype} values that are not whole numbers"
            )
        if x.size:
            lo, hi = x.min(), x.max()
            if lo < 0 or hi >= self.input_dim:
                bad = lo if lo < 0 else hi
                bad = bad.item() if x.dtype.kind in "iu" else format(bad, "g")
                raise ValueError(
                    f"x: expected indices in [0, {self.input_dim}) (input_dim of {self.name!r}), "
                    f"got {bad}"
                )
        return x if x.dtype.kind in "iu" else x.astype(np.int64)

    def call(self, x, training: bool = False, mask=None):
        return self._rows(x)[0]

    def forward(self, x, training: bool = False, mask=None):
        self._ensure_built(x)
        return self._rows(x)

    def _rows(self, x) -> tuple[np.ndarray, np.ndarray]:
        """The table's rows for the indices in ``x``, (*x.shape, output_dim), and the indices.
        The output's size is checked first: reading x's indices takes time and copies of its
        size (a broadcast x of 10^11 entries had been scanned for tens of seconds, then given
        NumPy's unnamed MemoryError)."""
        x = np.asarray(x)
        table = self._weights["embeddings"]
        what = f"its output for x of shape {x.shape} (output_dim {self.output_dim})"
        check_room(f"layer {self.name!r}", x.size * self.output_dim, table.dtype, what)
        idx = self._indices(x)
        return table[idx], idx

    def backward(self, cache, dout):
        idx = cache
        table = self._weights["embeddings"]
        grad = np.zeros_like(table)
        # add.at accumulates repeated indices (a plain fancy-index += would keep only one)
        np.add.at(grad, idx.ravel(), np.asarray(dout, dtype=self.dtype).reshape(-1, table.shape[1]))
        if self.embeddings_regularizer is not None:
            self.embeddings_regularizer.add_gradient(table, grad)
        self.grads = [grad] if self.trainable else []
        # integer inputs (indices) have no gradient: dx is None

    def compute_mask(self, x, mask=None):
        if not self.mask_zero:
            return None
        return np.asarray(x) != 0

    def regularization_loss(self) -> float:
        if self.embeddings_regularizer is None or not self.built:
            return 0.0
        return self.embeddings_regularizer(self._weights["embeddings"])

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "input_dim": self.input_dim,
            "output_dim": self.output_dim,
            "embeddings_initializer": _init_name(
                self.embeddings_initializer, "embeddings_initializer", self.name
            ),
            "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
            "mask_zero": self.mask_zero,
        }


class Masking(Layer):
    """Marks padding steps: a step of x (B, T, F) whose features all equal ``mask_value`` is
    masked (the (B, T) mask handed on is False there) and its output zeroed, as Keras. With
    ``mask_value=np.nan``, the steps whose features are all NaN (gaps in a time series; Keras's
    Masking compares with ==, which NaN never meets, and masks nothing)."""

    default_name = "masking"

    def __init__(
        self,
        mask_value: float = 0.0,
        *,
        dtype: Any = "float32",
        name: str | None = None,
        trainable: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, dtype=dtype, seed=None, trainable=trainable, **kwargs)
        if isinstance(mask_value, bool) or not isinstance(
            mask_value, (int, float, np.integer, np.floating)
        ):
            raise TypeError(f"mask_value: expected a number, got {mask_value!r}")
        self.mask_value = float(mask_value)

    def _keep(self, x: np.ndarray) -> np.ndarray:
        if x.ndim < 3:
            raise ValueError(f"x: expected a (batch, time, features) array, got shape {x.shape}")
        if np.isnan(self.mask_value):
            return ~np.all(np.isnan(x), axis=-1)
        return np.any(x != self.mask_value, axis=-1)

    def call(self, x, training: bool = False, mask=None):
        x = input_array(x)
        return np.where(self._keep(x)[..., None], x, 0)  # x * 0 would keep NaN and inf

    def forward(self, x, training: bool = False, mask=None):
        self._ensure_built(x)
        x = input_array(x)
        keep = self._keep(x)[..., None]
        return np.where(keep, x, 0), keep

    def backward(self, cache, dout):
        self.grads = []
        return dout * cache

    def compute_mask(self, x, mask=None):
        return self._keep(input_array(x))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["seed"]
        # JSON has no NaN or inf: those are saved as the strings "nan", "inf", "-inf"
        value = self.mask_value if np.isfinite(self.mask_value) else str(self.mask_value)
        return {**config, "mask_value": value}

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        value = config.get("mask_value")
        if value in ("nan", "inf", "-inf"):
            config = {**config, "mask_value": float(value)}
        return cls(**config)


class TimeDistributed(Layer):
    """Applies ``layer`` to every step: x (B, T, ...) -> (B, T, ...) through one call on the
    (B*T, ...) reshaped input, so the weights are shared across steps. The weights are the
    wrapped layer's; an incoming mask is passed through."""

    default_name = "time_distributed"

    def __init__(self, layer: Layer, *, name: str | None = None, **kwargs: Any) -> None:
        if not isinstance(layer, Layer):
            raise TypeError(f"layer: expected a fastlstm layer, got {type(layer).__name__}")
        # Each step goes through the layer as rows of one array: it must give one array back,
        # batch first (predict failed with an AttributeError on the states' list).
        for option in ("return_state", "time_major"):
            if getattr(layer, option, False):
                raise ValueError(
                    f"layer: TimeDistributed takes a layer that returns one batch-first array, "
                    f"got {type(layer).__name__} with {option}=True"
                )
        trainable, seed = wrapper_keywords(kwargs, layer, "TimeDistributed")
        self.layer = layer  # first: the properties below read through to it
        super().__init__(
            name=name, dtype=layer.dtype, seed=layer.seed, trainable=layer.trainable, **kwargs
        )
        if trainable is not None:
            self.trainable = trainable  # the layer's, as Keras's wrapper sets its layer's
        if seed is not None:
            self.seed = seed

    # The wrapped layer owns the weights; these read through to it, through its public names
    # (a Bidirectional keeps its weights in its two halves, not in _weights).
    _weights = property(lambda self: self.layer._weights, lambda self, v: None)
    weight_names = property(lambda self: self.layer.weight_names, lambda self, v: None)
    weights = property(lambda self: self.layer.weights)
    trainable_weights = property(lambda self: self.layer.trainable_weights)
    non_trainable_weights = property(lambda self: self.layer.non_trainable_weights)
    grads = property(lambda self: self.layer.grads, lambda self, v: None)
    trainable = property(
        lambda self: self.layer.trainable, lambda self, v: setattr(self.layer, "trainable", v)
    )
    seed = property(lambda self: self.layer.seed, lambda self, v: setattr(self.layer, "seed", v))

    def _weight_shapes(self, first_shape):
        return self.layer._weight_shapes(first_shape)

    def get_weights(self) -> list[np.ndarray]:
        return self.layer.get_weights()

    def set_weights(self, weights) -> None:
        self.layer.set_weights(weights)

    def _input_shape_from_weights(self):
        inner = self.layer._input_shape_from_weights()
        return None if inner is None else (None, None, *inner[1:])

    def _inner_shape(self, input_shape) -> tuple:
        input_shape = tuple(input_shape)
        if len(input_shape) < 3:
            raise ValueError(
                f"{self.name}: expected an input shape (batch, time, ...), got {input_shape}"
            )
        return (None, *input_shape[2:])

    def build(self, input_shape) -> None:
        self.layer.build(self._inner_shape(input_shape))
        self.built_input_shape = tuple(input_shape)

    @property
    def built(self) -> bool:
        return self.layer.built

    def compute_output_shape(self, input_shape) -> tuple:
        inner = self.layer.compute_output_shape(self._inner_shape(input_shape))
        return (input_shape[0], input_shape[1], *inner[1:])

    def _flat(self, x) -> np.ndarray:
        x = input_array(x)
        if x.ndim < 3:
            raise ValueError(f"x: expected a (batch, time, ...) array, got shape {x.shape}")
        return x.reshape(-1, *x.shape[2:])

    def call(self, x, training: bool = False, mask=None):
        x = input_array(x)
        out = self.layer.call(self._flat(x), training=training)
        return out.reshape(*x.shape[:2], *out.shape[1:])

    def forward(self, x, training: bool = False, mask=None):
        self._ensure_built(x)
        x = input_array(x)
        out, cache = self.layer.forward(self._flat(x), training=training)
        return out.reshape(*x.shape[:2], *out.shape[1:]), (cache, x.shape)

    def backward(self, cache, dout):
        inner, shape = cache
        dout = np.asarray(dout)
        # A recurrent layer returns its gradient tuple, dL/dx first.
        dx = input_gradient(self.layer.backward(inner, dout.reshape(-1, *dout.shape[2:])))
        return None if dx is None else dx.reshape(shape)

    def regularization_loss(self) -> float:
        return self.layer.regularization_loss()

    def get_rng_state(self):
        return self.layer.get_rng_state()

    def set_rng_state(self, state) -> None:
        self.layer.set_rng_state(state)

    def count_params(self) -> int:
        return self.layer.count_params()

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "layer": {"class_name": type(self.layer).__name__, "config": self.layer.get_config()},
            **self._shape_config(),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        from . import deserialize  # the registry of the package's own layer classes

        config = dict(config)
        return cls(deserialize(wrapped_spec(config, "TimeDistributed")), **config)
