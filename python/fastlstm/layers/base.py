"""The layer protocol every fastlstm layer implements, and the base class that carries it.

Shapes: B (batch), T (time), I (input features), H or U (units). Layers take and return NumPy
arrays, batch-major, the batch dimension first; a shape tuple uses ``None`` for the batch.

The protocol (what :class:`fastlstm.models.Sequential` relies on):

``build(input_shape)``
    Make the weights for inputs of ``input_shape`` (a tuple, batch first, e.g. ``(None, T, I)``).
    Weights come from ``numpy.random.default_rng(seed)``, so a seed makes them reproducible.
``call(x, training=False, mask=None) -> out``
    Inference (or a training-mode pass whose gradients are not needed): the cheapest path.
``forward(x, training=False, mask=None) -> (out, cache)``
    The same output, and the cache :meth:`backward` needs. ``training=True`` turns dropout on.
``backward(cache, dout) -> dx``
    dL/dx from dL/dout. Stores the weight gradients in ``grads`` (one per entry of
    ``trainable_weights``, same order), including the gradient of the layer's regularisation
    penalty. ``dx`` is None for integer inputs (Embedding). The recurrent layers return their
    functional API's gradient tuple (fields ``x``, ``kernel``, ..., and the initial states'),
    whose first field ``x`` is dx, as they always have; :func:`input_gradient` reads either.
    A layer whose ``backward`` also takes ``input_grad`` (the recurrent layers, Bidirectional)
    gets ``input_grad=False`` from a model where it is the first layer trained, whose dx would
    go nowhere: it may skip computing dx and give None in its place.
``trainable_weights`` / ``grads``
    The weight arrays themselves (not copies: an optimizer updates them in place) and the
    matching gradients from the last :meth:`backward`.
``compute_output_shape(input_shape)``, ``compute_mask(x, mask)``
    The output shape, and the (B, T) bool mask the layer hands on (None for no mask):
    Embedding(mask_zero=True) and Masking make one, most layers pass the incoming one through,
    the recurrent layers consume it and pass it on only with ``return_sequences=True``.
``regularization_loss() -> float``
    The penalty the layer's regularisers add to the training loss.
``get_config()`` / ``from_config(config)``
    Plain JSON data (no callables) and back; the layer comes back unbuilt, with the same seed.
``batch_input_shape``
    The input shape declared by Keras 2's keywords (``input_shape=(T, I)``, with ``batch_size``,
    or ``batch_input_shape=(B, T, I)``, or ``input_dim=I``), batch first, or None. It builds
    nothing by itself: as the first layer of a Sequential it builds the model at once, like an
    ``Input``; elsewhere it is ignored, as Keras ignores it. It is in the config when set.
``get_weights()`` / ``set_weights(weights)``, ``count_params()``
    Copies of the weights in a fixed order; setting checks every shape and dtype and changes
    nothing unless all are valid.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import numbers
from typing import Any, ClassVar

import numpy as np

from .. import activations, initializers
from .._arrays import (
    cast_within_range,
    check_name,
    check_room,
    check_seed,
    generator,
    integer,
    real_array,
    refuse_masked,
    snake_case,
    too_big,
)
from .._graph import connect, is_symbolic, only_call
from .._locks import BuildLock
from ..functional import _flag

_DTYPES = ("float32", "float64")

# Held while a layer or model builds itself on its first call, so that threads calling it at once
# neither build it twice (each with its own weights) nor use it half built. Re-entrant: a model's
# build builds its layers. Renewed in a forked child (a fork during another thread's build had
# left the child's first build waiting for ever).
BUILD_LOCK = BuildLock()


def _as_array(value, name: str) -> np.ndarray:
    """np.asarray that names the argument when NumPy cannot make an array of it (or a masked
    array, whose mask it would drop)."""
    refuse_masked(value, name)
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{name}: expected an array, got {type(value).__name__} ({exc})") from None


def input_array(x, name: str = "x", dtype=None) -> np.ndarray:
    """A layer's input as an array of real numbers, or TypeError naming it (see real_array);
    with ``dtype``, in that dtype, where the copy a cast makes is first checked against the
    memory free now (MemoryError naming ``name``, not NumPy's, which names nothing) and a value
    beyond that dtype's range refused (see cast_within_range)."""
    arr = real_array(x, name)
    if dtype is None or arr.dtype == dtype:
        return arr
    check_room(name, arr.size, dtype, f"a copy of shape {arr.shape} as {np.dtype(dtype)}")
    return cast_within_range(arr, dtype, name)


def check_dtype(dtype) -> np.dtype:
    try:
        known = dtype is not None and np.dtype(dtype).name in _DTYPES
    except (TypeError, ValueError):  # ValueError: a dict, as Keras 3's DTypePolicy config
        known = False
    if not known:
        raise TypeError(f"dtype: expected one of {_DTYPES}, got {dtype!r}")
    return np.dtype(dtype)


def check_shape(value, name: str, what: str = "without the batch") -> tuple:
    """A shape as a tuple: a tuple or list whose entries are non-negative ints or None."""
    expected = f"a tuple of sizes {what} (ints >= 0 or None)"
    if not isinstance(value, (tuple, list)):
        raise TypeError(f"{name}: expected {expected}, got {value!r}")
    for s in value:
        if s is not None and (isinstance(s, bool) or not isinstance(s, (int, np.integer))):
            raise TypeError(f"{name}: expected {expected}, got {value!r} (entry {s!r})")
        if s is not None and s < 0:
            raise ValueError(f"{name}: expected {expected}, got {value!r} (entry {s!r})")
    return tuple(None if s is None else int(s) for s in value)


def declared_input_shape(input_shape, batch_input_shape, batch_size, input_dim) -> tuple | None:
    """The batch-first shape Keras 2's layer keywords declare, or None when none is given:
    ``input_shape`` (one sample's shape) with an optional ``batch_size``, ``batch_input_shape``
    (the batch size first, None for any), or ``input_dim`` (``input_shape=(input_dim,)``)."""
    given = [
        n
        for n, v in (
            ("input_shape", input_shape),
            ("batch_input_shape", batch_input_shape),
            ("input_dim", input_dim),
        )
        if v is not None
    ]
    if len(given) > 1:
        values = {"input_shape": input_shape, "batch_input_shape": batch_input_shape}
        got = ", ".join(f"{n}={values.get(n, input_dim)!r}" for n in given)
        raise ValueError(f"{', '.join(given)}: expected at most one of them, got {got}")
    if batch_size is not None:
        batch_size = integer(batch_size, "batch_size", at_least=1)
        if input_shape is None and input_dim is None:
            raise ValueError(
                "batch_size: expected only with input_shape or input_dim (batch_input_shape "
                f"holds its own batch size), got batch_size={batch_size} with "
                f"{given[0] if given else 'neither'}"
            )
    if input_dim is not None:
        return (batch_size, integer(input_dim, "input_dim", at_least=1))
    if input_shape is not None:
        return (batch_size, *check_shape(input_shape, "input_shape"))
    if batch_input_shape is not None:
        shape = check_shape(batch_input_shape, "batch_input_shape", "with the batch first")
        if not shape or shape[0] == 0:
            raise ValueError(
                "batch_input_shape: expected the batch size (None or a positive int) first, "
                f"got {batch_input_shape!r}"
            )
        return shape
    return None


def arrived(value) -> str:
    """What came where a list was expected, for errors: "a tuple of 2", or the type's name."""
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)}"
    return type(value).__name__


def input_gradient(result):
    """dx from what a layer's backward returned: an array, None, or a gradient tuple (x first)."""
    return result[0] if isinstance(result, tuple) else result


def weight_property(name: str, doc: str) -> property:
    """A property reading a weight without a copy and setting it with shape/dtype checks."""
    return property(
        lambda self: self._weights.get(name), lambda self, v: self._set(name, v), doc=doc
    )


def dropout_mask(rng: np.random.Generator, shape, rate: float, dtype) -> np.ndarray:
    """Inverted dropout: 1/(1-rate) where kept, 0 where dropped, so the expectation is unchanged."""
    keep = rng.random(shape) >= rate
    return keep.astype(dtype) * dtype.type(1.0 / (1.0 - rate))


def _init_name(value, name: str, layer: str) -> str | dict[str, Any]:
    """An initialiser as config data: its name, or ``{"class_name": ..., "config": {...}}`` for
    an instance of :mod:`fastlstm.initializers`' classes; a function (or an initialiser class of
    the caller's own) cannot be serialised."""
    if isinstance(value, str):
        return value
    try:
        return initializers.serialize(value)
    except (ValueError, TypeError):
        raise ValueError(
            f"get_config: layer {layer!r}'s {name} is a callable ({type(value).__name__}); only "
            "initialisers given by name or as instances of fastlstm.initializers' classes "
            "(GlorotUniform(seed=1), ...) can be serialised"
        ) from None


# Keras keywords no fastlstm layer takes, but for None (Keras's default), with why.
_UNSUPPORTED = {
    "constraint": "constraints are not supported (None, Keras's default, is accepted)",
    "activity_regularizer": "not supported (None, Keras's default, is accepted)",
}


def _is_fixed(value, fixed) -> bool:
    """Whether ``value`` is the one value a layer takes for a keyword: the value itself, or for
    an activation the function of that name (``activation=activations.tanh``)."""
    if type(value) is type(fixed) and value == fixed:
        return True
    if isinstance(fixed, str) and callable(value):
        try:
            return activations.get(value) == fixed
        except ValueError:
            return False
    return False


def wrapper_keywords(kwargs: dict, layer, who: str) -> tuple:
    """Keras's Layer keywords given to a wrapper of ``layer`` (popped from ``kwargs``): its
    dtype must be the layer's, which it computes in; ``(trainable, seed)`` are returned for the
    wrapper to set on the layer once made (None where not given). A seed other than a built
    layer's, or than the one it has, is refused: its weights come from that one."""
    dtype = kwargs.pop("dtype", None)
    if dtype is not None and check_dtype(dtype) != layer.dtype:
        raise ValueError(
            f"dtype: a {who} computes in its layer's dtype, {layer.dtype}, got "
            f"{check_dtype(dtype)}; give dtype= to the layer instead"
        )
    seed = check_seed(kwargs.pop("seed", None))
    if seed is not None and layer.seed != seed and (layer.seed is not None or layer.built):
        why = f"its seed is {layer.seed}" if layer.seed is not None else "it is built"
        raise ValueError(
            f"seed: a {who}'s weights are its layer's, and {why}; got {seed}: give seed= to "
            "the layer instead"
        )
    return kwargs.pop("trainable", None), seed


def wrapped_spec(config: dict, wrapper: str) -> Any:
    """The wrapped layer's spec in a wrapper's config (popped from it), or a ValueError naming
    what is missing (a file's config without it had given a bare KeyError 'layer')."""
    if "layer" not in config:
        raise ValueError(f"layer {wrapper}: expected its config to hold the wrapped 'layer'")
    return config.pop("layer")


def _keywords_taken(call) -> Any:
    """``call`` itself where it takes ``training`` and ``mask`` (or any keyword), else ``call``
    given only the ones it names: Keras 3 passes them to a layer's ``call`` only where its
    signature has them, so ``call(self, inputs)`` is a whole layer's call there."""
    parameters = inspect.signature(call).parameters
    if any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
        return call
    dropped = {"training", "mask"} - parameters.keys()
    if not dropped:
        return call

    @functools.wraps(call)
    def taking_its_own(self, x, **keywords):
        for name in dropped:
            keywords.pop(name, None)
        return call(self, x, **keywords)

    return taking_its_own


def _passed_on(cls) -> inspect.Signature | None:
    """The signature of ``cls(...)`` with the keywords its ``__init__`` passes on through
    ``**kwargs`` spelt out (its base's, recursively): what help() and an editor show, where
    ``LSTM(units, *, unit_forget_bias, ..., **kwargs)`` hid return_sequences, seed and the rest.
    None where the class has no ``__init__`` of its own or takes no ``**kwargs``."""
    init = cls.__dict__.get("__init__")
    if init is None:
        return None
    own = list(inspect.signature(init).parameters.values())[1:]  # without self
    if not own or own[-1].kind is not inspect.Parameter.VAR_KEYWORD:
        return None
    base = next(c for c in cls.__mro__[1:] if "__init__" in c.__dict__)
    named = {p.name for p in own}
    inherited = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
        for p in inspect.signature(base).parameters.values()
        if p.name not in named and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    if not inherited:
        return None
    positional = [p for p in own[:-1] if p.kind is not p.KEYWORD_ONLY]
    keywords = [p for p in own[:-1] if p.kind is p.KEYWORD_ONLY]
    return inspect.Signature([*positional, *keywords, *inherited, own[-1]])


class Layer:
    """Base class: name, dtype, seed, trainable flag, weight bookkeeping, config and RNG state.

    Subclasses set ``weight_names`` (the order of ``get_weights``), implement
    ``_weight_shapes(first_shape)`` (every weight's shape, from the first weight's shape, or
    raise), ``build``, ``forward``, ``backward`` and ``compute_output_shape``, and extend
    ``get_config``. They pass ``**kwargs`` on, so that every layer takes Keras 2's
    ``input_shape``, ``batch_input_shape``, ``batch_size`` and ``input_dim`` keywords (see
    ``batch_input_shape`` in the module docstring); any other unknown keyword is a TypeError.
    """

    weight_names: tuple[str, ...] = ()
    default_name = "layer"
    # Keras keywords a layer refuses, with why (added to the TypeError), and the one value of
    # each that it takes (Keras's default: code ported from Keras often spells it out).
    _refused: ClassVar[dict[str, str]] = {}
    _fixed: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "call" in cls.__dict__:
            cls.call = _keywords_taken(cls.__dict__["call"])
        if "default_name" not in cls.__dict__ and not cls.__module__.startswith("fastlstm."):
            cls.default_name = snake_case(cls.__name__)  # a layer of the user's own, as Keras
        signature = _passed_on(cls)
        if signature is not None:
            cls.__signature__ = signature

    def __init__(
        self,
        *,
        name: str | None = None,
        dtype: Any = "float32",
        seed: int | None = None,
        trainable: bool = True,
        input_shape=None,
        batch_input_shape=None,
        batch_size: int | None = None,
        input_dim: int | None = None,
        **unknown: Any,
    ) -> None:
        for key, value in list(unknown.items()):
            if key in self._fixed and _is_fixed(value, self._fixed[key]):
                del unknown[key]
            elif value is None and (key.endswith("_constraint") or key == "activity_regularizer"):
                del unknown[key]  # Keras's default spelt out: no constraint, no such penalty
        if unknown:
            refused = self._refused | {k: _UNSUPPORTED[k] for k in unknown if k in _UNSUPPORTED}
            refused |= {k: _UNSUPPORTED["constraint"] for k in unknown if k.endswith("_constraint")}
            why = refused.keys() & unknown.keys()
            raise TypeError(
                f"{type(self).__name__}: unexpected keyword argument(s) {sorted(unknown)}"
                + "".join(f"; {k}: {refused[k]}" for k in sorted(why))
            )
        check_name(name)
        self.dtype = check_dtype(dtype)
        self.seed = check_seed(seed)
        self.trainable = trainable
        self.name = name or self.default_name
        self._auto_name = name is None  # a model may rename it to keep names unique
        self._weights: dict[str, np.ndarray] = {}
        self.grads: list[np.ndarray] = []
        self._noise: np.random.Generator | None = None
        self.built_input_shape: tuple | None = None
        self.batch_input_shape = declared_input_shape(
            input_shape, batch_input_shape, batch_size, input_dim
        )

    # -- randomness ------------------------------------------------------------------------

    def _weight_rng(self) -> np.random.Generator:
        return generator(self.seed)

    @property
    def noise_rng(self) -> np.random.Generator:
        """The generator for dropout masks: seeded from ``seed`` (a stream apart from the
        weights'), made on first use so that a model can assign the seed before."""
        if self._noise is None:
            self._noise = generator(self.seed, 1)
        return self._noise

    # -- weights ---------------------------------------------------------------------------

    @property
    def built(self) -> bool:
        return bool(self._weights) or (not self.weight_names and self.built_input_shape is not None)

    @property
    def trainable_weights(self) -> list[np.ndarray]:
        if not self.trainable:
            return []
        return [self._weights[n] for n in self.weight_names if n in self._weights]

    @property
    def non_trainable_weights(self) -> list[np.ndarray]:
        return [] if self.trainable else self.weights

    @property
    def trainable(self) -> bool:
        """Whether training updates this layer's weights (Keras's flag; set it at any time)."""
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = _flag(value, "trainable")  # 2 or "no" had been kept as given

    @property
    def weights(self) -> list[np.ndarray]:
        held = self._weights  # one set: weights are swapped in whole (set_weights, moving means)
        return [held[n] for n in self.weight_names if n in held]

    def _weight_shapes(self, first_shape: tuple) -> dict[str, tuple]:
        raise NotImplementedError

    def _set(self, name: str, value) -> None:
        weights = self._weights
        if not self.built or name not in weights:
            raise ValueError(f"{name}: the layer has no weights yet; call it or build() first")
        first = weights[self.weight_names[0]].shape
        new = self._converted(name, value, self._weight_shapes(first)[name])
        self._weights = {**weights, name: new}

    def _converted(self, name: str, value, shape) -> np.ndarray:
        arr = _as_array(value, name)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name}: expected an array of real numbers, got dtype {arr.dtype}")
        if arr.shape != tuple(shape):
            transposed = arr.ndim == 2 and arr.shape == tuple(shape)[::-1]
            raise ValueError(
                f"{name}: expected shape {tuple(shape)}, got "
                + (
                    f"its transpose {arr.shape} (PyTorch and ONNX store weights as W for W·x: "
                    "fastlstm.convert converts a recurrent layer's; a Linear's weight is the "
                    "transpose of a Dense kernel)"
                    if transposed
                    else str(arr.shape)
                )
            )
        return cast_within_range(arr, self.dtype, name)

    def get_weights(self) -> list[np.ndarray]:
        """Copies of the weights, in ``weight_names`` order (empty before the layer is built)."""
        return [w.copy() for w in self.weights]

    def set_weights(self, weights) -> None:
        """Set every weight (``weight_names`` order). A built layer keeps its shapes (as Keras's
        does); an unbuilt one is built from the first weight's shape. Nothing changes unless every
        weight is valid, and the new weights replace the old all at once: a call running in
        another thread uses either."""
        staged = self._staged_weights(weights)
        if staged is not None:
            self._swap_weights(staged)

    def _staged_weights(self, weights) -> dict | None:
        """set_weights' checks and conversions: the new weights by name, not yet in place (None
        for a layer without weights)."""
        names = self.weight_names
        if not isinstance(weights, (list, tuple)) or len(weights) != len(names):
            got = (
                f"a {type(weights).__name__} of length {len(weights)}"
                if isinstance(weights, (list, tuple))
                else type(weights).__name__
            )
            raise ValueError(f"weights: expected a list [{', '.join(names)}], got {got}")
        if not names:
            return None
        return self._converted_all(weights, keep_shapes=self.built and names[0] in self._weights)

    def _converted_all(self, weights, keep_shapes: bool) -> dict:
        """Every weight checked and converted; without ``keep_shapes`` (a build) the shapes
        follow from the first weight's."""
        names = self.weight_names
        if keep_shapes:
            shapes = self._weight_shapes(self._weights[names[0]].shape)
        else:
            shapes = self._weight_shapes(_as_array(weights[0], names[0]).shape)
        return {n: self._converted(n, w, shapes[n]) for n, w in zip(names, weights)}

    def _swap_weights(self, staged: dict) -> None:
        self._weights = staged  # one swap, after every weight is made
        if self.built_input_shape is None:
            self.built_input_shape = self._input_shape_from_weights()

    def _replace_weights(self, weights, keep_shapes: bool = False) -> None:
        """set_weights without the argument check (a build's)."""
        self._swap_weights(self._converted_all(weights, keep_shapes))

    def _input_shape_from_weights(self) -> tuple | None:
        return None

    def count_params(self) -> int:
        return int(sum(w.size for w in self._weights.values()))

    # The regularisers of the weights that have one, by weight name (none by default).
    _regularizers: ClassVar[dict[str, Any]] = {}

    def regularization_loss(self) -> float:
        total = 0.0
        for name, reg in self._regularizers.items():
            if reg is not None and name in self._weights:
                total += reg(self._weights[name])
        return total

    def _dout(self, dout, shape: tuple, cast: bool = True) -> np.ndarray:
        """dL/d(output) as real numbers (in the layer's dtype with ``cast``), of the output's
        ``shape`` (ValueError naming dout otherwise, before NumPy's broadcasting could take it)."""
        dy = real_array(dout, "dout")
        if cast and dy.dtype != self.dtype:
            dy = cast_within_range(dy, self.dtype, "dout")
        if dy.shape != tuple(shape):
            raise ValueError(
                f"dout: expected shape {tuple(shape)} like the layer's output, got {dy.shape}"
            )
        return dy

    def _keep_grads(self, grads: dict[str, np.ndarray]) -> None:
        """``grads`` (by weight name: the trainable weights') with their regularisers' gradients
        added, as ``self.grads`` in ``weight_names`` order (none for a frozen layer)."""
        for name, g in grads.items():
            reg = self._regularizers.get(name)
            if reg is not None:
                reg.add_gradient(self._weights[name], g)
        self.grads = [grads[n] for n in self.weight_names if n in grads] if self.trainable else []

    # -- computation -----------------------------------------------------------------------

    def build(self, input_shape) -> None:
        self.built_input_shape = tuple(input_shape)

    def _build_named(self, input_shape) -> None:
        """build(), with a MemoryError that says which layer's weights did not fit (NumPy's
        names only an array's shape, or says "Maximum allowed dimension exceeded").
        ``input_shape``: a shape, or (a recurrent layer's) the number of input features."""
        try:
            self.build(input_shape)
        except (MemoryError, ValueError) as exc:
            if not too_big(exc):
                raise
            inputs = (
                f"{input_shape} input features"
                if isinstance(input_shape, numbers.Integral)
                else f"inputs of shape {tuple(input_shape)}"
            )
            raise MemoryError(
                f"layer {self.name!r} ({type(self).__name__}): its weights for {inputs} do not "
                f"fit in memory ({exc})"
            ) from None

    def _ensure_built(self, x) -> None:
        if not self.built:
            with BUILD_LOCK:  # threads calling an unbuilt layer at once build it once
                if not self.built:
                    self._build_named((None, *np.shape(x)[1:]))

    def _ensure_built_from_list(self, x, what: str = "a list of arrays") -> None:
        """_ensure_built for a layer of a list of inputs (a merge layer, Attention): built for
        their shapes, the batch left open."""
        if not isinstance(x, (list, tuple)):
            raise TypeError(f"x: expected {what}, got {type(x).__name__}")
        if not self.built:
            with BUILD_LOCK:
                if not self.built:
                    self._build_named([(None, *np.shape(a)[1:]) for a in x])

    def call(self, *args: Any, **kwargs: Any) -> Any:
        """The output for ``(x, training=False, mask=None)``: forward's, its cache not kept. A
        layer of the user's may define ``call(self, inputs)`` alone (see _keywords_taken)."""
        return self.forward(*args, **kwargs)[0]

    def __call__(self, x, training: bool = False, mask=None) -> Any:
        if is_symbolic(x):  # describing a functional model: record the call (fastlstm._graph)
            return connect(self, x, training=training, mask=mask)
        training = _flag(training, "training")  # "no" would turn dropout on
        self._ensure_built(x)
        return self.call(x, training=training, mask=mask)

    def forward(self, x, training: bool = False, mask=None):
        raise NotImplementedError(
            f"{type(self).__name__}.forward: a layer must implement forward(x, training=False, "
            f"mask=None) -> (out, cache), and backward(cache, dout) -> dx to be trained: "
            f"fastlstm has no automatic differentiation (see fastlstm.layers.base)"
        )

    def backward(self, cache, dout):
        raise NotImplementedError(
            f"{type(self).__name__}.backward: a layer that is trained through must implement "
            f"backward(cache, dout) -> dx (dL/dx from dL/dout, storing its weights' gradients "
            f"in self.grads): fastlstm has no automatic differentiation (see "
            f"fastlstm.layers.base)"
        )

    def compute_output_shape(self, input_shape) -> tuple:
        return tuple(input_shape)

    def compute_mask(self, x, mask=None):
        return mask

    # -- in a functional model's graph -----------------------------------------------------

    @property
    def input(self):
        """The symbolic tensor (a list for a merge layer) of this layer's one call on symbolic
        tensors, as Keras's ``layer.input``."""
        node = only_call(self._in_a_graph(), "input")
        return list(node.inputs) if node.listed else node.inputs[0]

    @property
    def output(self):
        """The symbolic tensor (a list with ``return_state``) its one call made, as Keras's
        ``layer.output``: ``Model(model.input, model.get_layer("lstm").output)`` gives a model
        of the first layers."""
        node = only_call(self._in_a_graph(), "output")
        return list(node.outputs) if node.multi else node.outputs[0]

    def _in_a_graph(self) -> Layer:
        """Itself, called on its Sequential's Input first where it has never been called on
        tensors (seq.layers[1].output before seq.inputs was read, as Keras's has it)."""
        owner = self.__dict__.get("_sequential")
        model = owner() if owner is not None else None
        if not self.__dict__.get("_graph_nodes") and model is not None and self in model._layers:
            with contextlib.suppress(AttributeError):  # no input yet: only_call says so
                model._graph()
        return self

    def __getstate__(self) -> dict:
        # A copied or pickled layer leaves the graphs it was called in behind (as a saved
        # model's do: the model file rebuilds them), and the model that held it.
        state = self.__dict__.copy()
        state.pop("_graph_nodes", None)
        state.pop("_sequential", None)
        return state

    # -- state beyond the weights (for exact save/resume) -----------------------------------

    def get_rng_state(self):
        return None if self._noise is None else self._noise.bit_generator.state

    def set_rng_state(self, state) -> None:
        if state is None:
            self._noise = None
            return
        if not isinstance(state, dict):  # NumPy's own error names no layer
            raise TypeError(
                f"layer {self.name!r}: expected a random generator's state (a dict) or None, "
                f"got {type(state).__name__}"
            )
        rng = np.random.default_rng()
        rng.bit_generator.state = state
        self._noise = rng

    def get_state_arrays(self) -> list[np.ndarray]:
        """Arrays a stateful layer carries between batches (none by default)."""
        return []

    def set_state_arrays(self, arrays: list[np.ndarray]) -> None:
        if arrays:
            raise ValueError(f"{self.name}: expected no state arrays, got {len(arrays)}")

    # -- config ----------------------------------------------------------------------------

    def _shape_config(self) -> dict[str, Any]:
        """``{"batch_input_shape": [...]}`` when the layer declares one (Keras 2's key), else {}."""
        if self.batch_input_shape is None:
            return {}
        return {"batch_input_shape": list(self.batch_input_shape)}

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dtype": self.dtype.name,
            "seed": self.seed,
            "trainable": self.trainable,
            **self._shape_config(),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, built={self.built})"


def sublayers(layer: Layer) -> list[Layer]:
    """``layer`` and the layers it wraps (TimeDistributed's, Bidirectional's halves), depth
    first."""
    inner = [getattr(layer, name, None) for name in ("layer", "forward_layer", "backward_layer")]
    return [layer, *(deep for sub in inner if isinstance(sub, Layer) for deep in sublayers(sub))]
