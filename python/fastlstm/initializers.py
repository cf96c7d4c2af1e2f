"""Weight initialisers: Keras 3's classes (``GlorotUniform(seed=None)``, ``Constant(value)``, ...),
Keras's names for them (``"glorot_uniform"``), and the functions ``(shape, dtype, rng)`` that the
names stood for before the classes (``glorot_uniform(shape, dtype, rng)``).

Formulas, as Keras 3's. Fans from the shape: () -> (1, 1), (n,) -> (n, n), (i, o) -> (i, o),
(..., i, o) -> (r*i, r*o) with r the product of the leading sizes. ``VarianceScaling(scale,
mode, distribution)`` takes n = max(1, fan_in | fan_out | (fan_in + fan_out) / 2) and draws
"truncated_normal": N(0, sqrt(scale / n) / 0.8796...) redrawn beyond two standard deviations
(0.8796 is the standard deviation of a unit normal truncated there, so that the variance is
scale / n), "untruncated_normal": N(0, sqrt(scale / n)), or "uniform": U(+-sqrt(3 scale / n)).
Glorot is (1, fan_avg), He (2, fan_in), Lecun (1, fan_in), each a truncated normal or a uniform.

Where the random values come from (a layer draws its weights in ``weight_names`` order):

- An instance without a seed, given to a layer, draws from the layer's generator, exactly as
  its name does: ``LSTM(8, kernel_initializer=GlorotUniform(), seed=3)`` has the weights of
  ``LSTM(8, seed=3)``, and the layer's ``seed`` (or its model's) makes them reproducible.
- An instance with a seed draws from that seed alone and gives the same values at every call,
  as Keras 3's: two layers given ``GlorotUniform(seed=1)`` get the same kernel whatever their
  own seeds. The layer's other weights still come from the layer's seed, drawn after the
  weights before them; the seeded one takes nothing from the layer's generator.
- An instance without a seed called directly (``init(shape)``) draws a seed at its first such
  call (from ``utils.set_random_seed``'s sequence where that was called, else fresh entropy)
  and keeps it: it too gives the same values at every direct call, as Keras 3's unseeded
  initialisers do. Only a layer's build draws it afresh, from the layer's generator.

``Constant`` takes a number or an array that broadcasts to the weight's shape (Keras's
``value * ones(shape)``), e.g. pretrained embeddings. A model file holds configs as JSON, not
arrays: a layer whose ``Constant`` holds an array cannot be saved (ValueError); give the array
as the layer's weights instead (``Embedding(weights=[matrix])`` or ``set_weights``).

The classes live in :mod:`fastlstm._initializer_classes` and are re-exported here; this module
holds their names and configs (``get``, ``serialize``, ``deserialize``), what a layer calls
(``resolve``, ``check_fits``, ``refuse_arrays``) and the functions the names stood for.
"""

from __future__ import annotations

import inspect
import math
import re
from typing import Any, Callable

import numpy as np

from ._initializer_classes import (
    Constant,
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    Identity,
    Initializer,
    LecunNormal,
    LecunUniform,
    Ones,
    Orthogonal,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
    Zeros,
    compute_fans,
)

RngInitializer = Callable[[tuple, np.dtype, np.random.Generator], np.ndarray]


# -- names, configs, get ---------------------------------------------------------------------

_CLASSES: dict[str, type[Initializer]] = {
    cls.__name__: cls
    for cls in (
        Constant,
        Zeros,
        Ones,
        Identity,
        RandomNormal,
        RandomUniform,
        TruncatedNormal,
        VarianceScaling,
        GlorotUniform,
        GlorotNormal,
        HeUniform,
        HeNormal,
        LecunUniform,
        LecunNormal,
        Orthogonal,
    )
}
# Keras's names: each class's in snake case, and its aliases.
_BY_NAME: dict[str, type[Initializer]] = {
    re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower(): cls for name, cls in _CLASSES.items()
} | {"normal": RandomNormal, "uniform": RandomUniform, "one": Ones, "zero": Zeros}
# A class name in a string or a config: the classes' own, and Keras 3's longer spellings.
_BY_CLASS_NAME = _CLASSES | {"OrthogonalInitializer": Orthogonal, "IdentityInitializer": Identity}


def _expected(name: str, got) -> ValueError:
    return ValueError(
        f"{name}: expected one of {sorted(_BY_NAME)} (or a class name, e.g. 'GlorotUniform'), an "
        f"instance of fastlstm.initializers' classes, its config dict or a callable, got {got!r}"
    )


def deserialize(config, name: str = "initializer") -> Initializer:
    """One of this module's classes from ``{"class_name": ..., "config": {...}}`` (Keras's
    ``module`` and ``registered_name`` keys are allowed and ignored). No other class is ever
    made: a model file's config cannot name code to run."""
    if not isinstance(config, dict):
        raise TypeError(
            f"{name}: expected a config {{'class_name': ..., 'config': ...}}, got {config!r}"
        )
    extra = set(config) - {"class_name", "config", "module", "registered_name"}
    if extra:
        raise ValueError(
            f"{name}: expected the keys class_name and config, got also {sorted(extra)}"
        )
    class_name = config.get("class_name")
    cls = _BY_CLASS_NAME.get(class_name) if isinstance(class_name, str) else None
    if cls is None:
        raise ValueError(
            f"{name}: expected a class_name among {sorted(_CLASSES)}, got {class_name!r}"
        )
    params = config.get("config", {})
    if not isinstance(params, dict):
        raise TypeError(f"{name}: expected {class_name}'s config as a dict, got {params!r}")
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(
            f"{name}: expected {class_name}'s config keys among {allowed}, got {unknown}"
        )
    try:
        return cls.from_config(params)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{name}: {class_name}: {exc}") from None


def serialize(initializer) -> str | dict[str, Any]:
    """Config data: a name stays a name; an instance of this module's classes (or the class,
    or a config dict) becomes ``{"class_name": ..., "config": {...}}``. ValueError for anything
    else (a function, or an initialiser class of the caller's own), which a file cannot hold."""
    if isinstance(initializer, str):
        return initializer
    if isinstance(initializer, dict):
        initializer = deserialize(initializer)
    elif isinstance(initializer, type) and initializer in _CLASSES.values():
        initializer = initializer()
    if _CLASSES.get(type(initializer).__name__) is not type(initializer):
        raise ValueError(
            f"initializer: expected a name or an instance of {sorted(_CLASSES)}, got "
            f"{initializer!r}"
        )
    return {"class_name": type(initializer).__name__, "config": initializer.get_config()}


def get(identifier, name: str = "initializer"):
    """Keras's ``initializers.get``: None stays None; a name ("glorot_uniform", "GlorotUniform")
    or a class gives a new instance with the default arguments; a config dict is deserialised;
    an instance or any other callable is returned as it is. ValueError naming ``name`` else."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier) or _BY_CLASS_NAME.get(identifier)
        if cls is None:
            raise _expected(name, identifier)
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier, name)
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if callable(identifier):
        return identifier
    raise _expected(name, identifier)


def _takes_rng(fn) -> bool:
    """Whether ``fn`` takes (shape, dtype, rng): three positional arguments (or *args)."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return True
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if any(p.kind is inspect.Parameter.VAR_POSITIONAL for p in params):
        return True
    return sum(p.kind in positional for p in params) >= 3


class _ForLayer:
    """An instance of this module's classes as a layer calls it, ``(shape, dtype, rng)``, with
    its shape errors naming the layer's argument. A class, not a closure: layers pickle."""

    def __init__(self, initializer: Initializer, name: str) -> None:
        self.initializer, self.name = initializer, name

    def __call__(self, shape, dtype, rng: np.random.Generator) -> np.ndarray:
        self.initializer._check_fits(tuple(shape), self.name)
        return self.initializer(shape, dtype, rng)


class _KerasStyle:
    """A function ``(shape, dtype=None)`` (Keras's) as a layer calls it: it draws no seed."""

    def __init__(self, fn) -> None:
        self.keras_style = fn

    def __call__(self, shape, dtype, rng: np.random.Generator) -> np.ndarray:
        return np.asarray(self.keras_style(shape, dtype=dtype), dtype=dtype)


def resolve(identifier, name: str) -> RngInitializer:
    """What a layer calls as ``init(shape, dtype, rng)`` for its argument ``name``: a name, an
    instance, class or config dict of this module's (drawing from the layer's ``rng`` unless
    seeded), a function ``(shape, dtype, rng)``, or Keras's ``(shape, dtype=None)`` (then its
    values are its own affair: no seed)."""
    if identifier is None:
        raise _expected(name, None)
    init = get(identifier, name)
    if isinstance(init, Initializer) and type(init).__call__ is Initializer.__call__:
        return _ForLayer(init, name)
    return init if _takes_rng(init) else _KerasStyle(init)


def check_fits(identifier, shape: tuple, name: str, what: str) -> None:
    """ValueError naming ``name`` when ``identifier`` (a layer's argument) is a Constant whose
    value cannot make a weight of ``shape`` (``what``: which weight), checked where the layer
    knows the shape before its build."""
    init = identifier if isinstance(identifier, Constant) else None
    if isinstance(identifier, dict):
        init = deserialize(identifier, name)
    if isinstance(init, Constant):
        init._check_fits(tuple(shape), name, what)


def _array_shape(value) -> tuple | None:
    """The shape of the array a Constant (or its config dict) holds; None for anything else."""
    if isinstance(value, Constant) and isinstance(value.value, np.ndarray):
        return value.value.shape
    if isinstance(value, dict) and isinstance(value.get("class_name"), str):
        inner = value.get("config")
        if _BY_CLASS_NAME.get(value["class_name"]) is Constant and isinstance(inner, dict):
            held = inner.get("value")
            return np.shape(held) if isinstance(held, list) else None
    return None


# A Constant's array up to this size is kept in a model file's config (a bias's values, say).
MAX_SAVED_CONSTANT = 4096


def refuse_arrays(layer, _seen: set | None = None) -> None:
    """ValueError when ``layer``, or a layer it wraps, has a Constant initialiser holding an
    array of more than MAX_SAVED_CONSTANT values: a model file keeps configs as JSON, which the
    array would make as large as itself (a pretrained embedding: megabytes). Read from the layer's attributes, so that no config is
    made (its array as lists of floats) only to be refused."""
    from .layers.base import Layer  # here: the layers import this module

    seen = set() if _seen is None else _seen
    if id(layer) in seen:
        return
    seen.add(id(layer))
    for key, value in vars(layer).items():
        shape = _array_shape(value) if key.endswith("_initializer") else None
        if shape is not None and math.prod(shape) > MAX_SAVED_CONSTANT:
            raise ValueError(
                f"layer {layer.name!r}: {key} is a Constant holding an array of shape {shape}, "
                f"more than the {MAX_SAVED_CONSTANT:,} values a model file holds in its config "
                "(JSON): give the array as the layer's weights instead (Embedding(..., "
                "weights=[matrix]) or layer.set_weights(...)), which the file holds"
            )
        for inner in value if isinstance(value, (list, tuple)) else (value,):
            if isinstance(inner, Layer):  # Bidirectional's halves, TimeDistributed's layer
                refuse_arrays(inner, seen)


# -- the functions (shape, dtype, rng) the names stood for -------------------------------------


def _function(cls: type[Initializer]) -> RngInitializer:
    """``cls()``'s values drawn from ``rng``: what the name gives a layer."""
    instance = cls()

    def init(shape, dtype, rng: np.random.Generator) -> np.ndarray:
        return instance(shape, dtype, rng)

    init.__name__ = init.__qualname__ = re.sub(r"(?<!^)(?=[A-Z])", "_", cls.__name__).lower()
    init.__doc__ = f"{cls.__name__}()'s values from ``rng``: {cls.__doc__}"
    return init


glorot_uniform = _function(GlorotUniform)
glorot_normal = _function(GlorotNormal)
he_normal = _function(HeNormal)
he_uniform = _function(HeUniform)
lecun_normal = _function(LecunNormal)
lecun_uniform = _function(LecunUniform)
orthogonal = _function(Orthogonal)
random_normal = _function(RandomNormal)
random_uniform = _function(RandomUniform)
truncated_normal = _function(TruncatedNormal)
zeros = _function(Zeros)
ones = _function(Ones)

__all__ = [
    "Constant",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Identity",
    "Initializer",
    "LecunNormal",
    "LecunUniform",
    "Ones",
    "Orthogonal",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "Zeros",
    "compute_fans",
    "deserialize",
    "get",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "lecun_uniform",
    "ones",
    "orthogonal",
    "random_normal",
    "random_uniform",
    "serialize",
    "truncated_normal",
    "zeros",
]
