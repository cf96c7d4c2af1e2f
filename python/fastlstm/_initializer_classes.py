"""The initialiser classes: Keras 3's base ``Initializer``, the constants (Constant, Zeros,
Ones, Identity) and the random ones (RandomNormal, ..., VarianceScaling and its Glorot, He and
Lecun forms, Orthogonal), with the checks of their arguments and of the shape and dtype asked for.

Their formulas and where their random values come from are in :mod:`fastlstm.initializers`'
docstring; that module re-exports every class here and holds what reaches them by name or config
(``get``, ``serialize``, ``deserialize``) and what a layer calls (``resolve``). Separate so that
each file stays under the project's ~500 lines; this one imports nothing of fastlstm's but
``_arrays`` (no import cycle).
"""

from __future__ import annotations

import math
import numbers
import threading
from typing import Any

import numpy as np

from ._arrays import generator, integer, real_array, real_number

# Guards an unseeded instance's first direct call, which draws the seed it keeps.
_DIRECT_SEED_LOCK = threading.Lock()


def _shape(shape) -> tuple[int, ...]:
    """``shape`` as a tuple of sizes >= 0; TypeError or ValueError naming it."""
    expected = "a tuple of sizes (ints >= 0)"
    if isinstance(shape, (str, bytes)) or not isinstance(shape, (tuple, list, np.ndarray)):
        raise TypeError(f"shape: expected {expected}, got {shape!r}")
    for s in shape:
        if isinstance(s, (bool, np.bool_)) or not isinstance(s, numbers.Integral):
            raise TypeError(f"shape: expected {expected}, got {shape!r} (entry {s!r})")
        if s < 0:
            raise ValueError(f"shape: expected {expected}, got {shape!r} (entry {s!r})")
    return tuple(int(s) for s in shape)


def _dtype(dtype) -> np.dtype:
    """None (Keras's floatx, float32) or a floating-point dtype."""
    if dtype is None:
        return np.dtype("float32")
    try:
        out = np.dtype(dtype)
    except TypeError:
        out = None
    if out is None or out.kind != "f":
        raise TypeError(
            f"dtype: expected a floating-point dtype (float32, float64) or None, got {dtype!r}"
        )
    return out


def compute_fans(shape: tuple) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shape, as Keras 3 counts them (see the docstring of
    :mod:`fastlstm.initializers`)."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    receptive = math.prod(shape[:-2])  # 1 for a matrix
    return shape[-2] * receptive, shape[-1] * receptive


# Values drawn at a time. The generator's stream gives its values in order, so drawing a weight
# chunk by chunk gives the values of one draw of the whole, and the float64 draws and their
# arithmetic (the names' order, kept bit for bit) go through temporaries of one chunk (8 MiB),
# not of the whole weight: an Embedding of 10^6 x 128 in float32 (488 MiB) peaked at 1.5 GiB.
_CHUNK = 1 << 20


def _drawn(shape: tuple, dtype: np.dtype, values) -> np.ndarray:
    """An array of ``shape`` and ``dtype`` filled with ``values(n)`` (n float64 values, called
    for consecutive chunks), cast to ``dtype`` as ``astype`` casts."""
    out = np.empty(shape, dtype)
    flat = out.reshape(-1)
    for start in range(0, flat.size, _CHUNK):
        stop = min(start + _CHUNK, flat.size)
        flat[start:stop] = values(stop - start)
    return out


def _truncated_normal(shape, stddev: float, rng: np.random.Generator, dtype, shift=None):
    """N(0, stddev) values (then ``shift``ed, as N(mean, stddev) adds its mean) of ``dtype``, each
    redrawn until within two standard deviations: first every value (``_drawn``'s chunks), then,
    in index order, one draw for every value still out of range, as often as needed (the values
    of drawing them all at once)."""

    def finish(v: np.ndarray) -> np.ndarray:
        return v * stddev if shift is None else shift(v * stddev)

    redraw = []  # positions whose value fell outside, in index order
    drawn = [0]  # values drawn so far

    def first(n: int) -> np.ndarray:
        v = rng.standard_normal(size=n)
        redraw.append(drawn[0] + np.flatnonzero(np.abs(v) > 2.0))
        drawn[0] += n
        return finish(v)

    out = _drawn(shape, dtype, first)
    flat = out.reshape(-1)
    todo = np.concatenate(redraw) if redraw else np.empty(0, np.intp)
    while todo.size:
        v = rng.standard_normal(size=todo.size)
        ok = np.abs(v) <= 2.0
        flat[todo[ok]] = finish(v[ok])
        todo = todo[~ok]
    return out


class Initializer:
    """Keras's base class: ``init(shape, dtype=None)`` -> an array of ``shape`` (dtype float32
    by default). fastlstm adds ``rng``: the generator an unseeded instance draws from, which is
    how a layer hands it its own (see the docstring of :mod:`fastlstm.initializers`). A subclass
    of fastlstm's gives its values from ``_draw(shape, dtype, rng)``; one of the caller's own may
    instead define ``__call__(shape, dtype=None)`` as in Keras (a layer takes it, a model file
    cannot hold it).
    """

    def __call__(self, shape, dtype=None, rng: np.random.Generator | None = None) -> np.ndarray:
        if rng is not None and not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng: expected a numpy.random.Generator or None, got {rng!r}")
        shape = _shape(shape)
        self._check_fits(shape)
        return self._draw(shape, _dtype(dtype), self._generator(rng))

    def _generator(self, rng: np.random.Generator | None) -> np.random.Generator | None:
        return rng  # constants draw nothing

    def _check_fits(self, shape: tuple, name: str | None = None) -> None:
        """ValueError naming ``name`` (the layer's argument) when this initialiser cannot make a
        weight of ``shape``; by default it can make any."""

    def _draw(self, shape: tuple, dtype: np.dtype, rng) -> np.ndarray:
        raise NotImplementedError(
            f"{type(self).__name__}: an initializer must implement __call__(shape, dtype=None)"
        )

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        return cls(**config)

    def clone(self):
        return type(self).from_config(self.get_config())

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.get_config() == self.get_config()

    def __hash__(self) -> int:
        return hash(type(self).__name__)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


# -- constants -------------------------------------------------------------------------------


def _constant_value(value):
    """A finite real number (kept as a Python int or float) or an array of them (not copied: a
    pretrained matrix can be large)."""
    expected = "a finite real number or an array of them"
    if isinstance(value, (bool, np.bool_, str, bytes)) or value is None:
        raise TypeError(f"value: expected {expected}, got {value!r}")
    if isinstance(value, numbers.Real):
        real_number(value, "value")  # finite
        return value.item() if isinstance(value, np.generic) else value
    arr = real_array(value, "value")
    if arr.dtype.kind == "b":
        raise TypeError(f"value: expected {expected}, got an array of bool")
    if arr.ndim == 0:
        return _constant_value(arr.item())
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"value: expected {expected}, got an array holding NaN or inf")
    return arr


class Constant(Initializer):
    """Every value ``value``: a number, or an array that broadcasts to the weight's shape (e.g.
    pretrained embeddings (input_dim, output_dim)), given exactly (cast to the dtype)."""

    def __init__(self, value=0.0) -> None:
        self.value = _constant_value(value)

    def _check_fits(self, shape, name=None, what="the shape asked for") -> None:
        value = self.value
        if isinstance(value, np.ndarray):
            try:
                fits = np.broadcast_shapes(value.shape, shape) == shape
            except ValueError:
                fits = False
            if not fits:
                raise ValueError(
                    f"{name or 'value'}: expected a Constant value that broadcasts to {shape} "
                    f"({what}), got one of shape {value.shape}"
                )

    def _draw(self, shape, dtype, rng) -> np.ndarray:
        if isinstance(self.value, np.ndarray):
            return np.array(np.broadcast_to(self.value, shape), dtype=dtype)  # a copy
        return np.full(shape, self.value, dtype=dtype)

    def get_config(self) -> dict[str, Any]:
        value = self.value
        return {"value": value.tolist() if isinstance(value, np.ndarray) else value}

    def __repr__(self) -> str:
        if isinstance(self.value, np.ndarray):
            return f"Constant(<array of shape {self.value.shape}>)"
        return super().__repr__()


class Zeros(Initializer):
    """Every value 0."""

    def _draw(self, shape, dtype, rng) -> np.ndarray:
        return np.zeros(shape, dtype=dtype)


class Ones(Initializer):
    """Every value 1."""

    def _draw(self, shape, dtype, rng) -> np.ndarray:
        return np.ones(shape, dtype=dtype)


class Identity(Initializer):
    """``gain`` times the identity matrix (a 2-D shape; rectangular ones have ones on the
    diagonal)."""

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = real_number(gain, "gain")

    def _check_fits(self, shape, name=None) -> None:
        if len(shape) != 2:
            raise ValueError(
                f"{name or 'shape'}: expected a 2-D shape (rows, cols) for Identity, got {shape}"
            )

    def _draw(self, shape, dtype, rng) -> np.ndarray:
        return (self.gain * np.eye(*shape)).astype(dtype)

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain}


# -- random ----------------------------------------------------------------------------------


class _Random(Initializer):
    """An initialiser that draws: its own ``seed``, else the generator it is handed, else (a
    direct call) a seed drawn at the first direct call and kept (see the docstring of
    :mod:`fastlstm.initializers`)."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = integer(seed, "seed", at_least=0, allow_none=True)
        self._direct_seed: int | None = None

    def _generator(self, rng):
        if self.seed is not None:
            return generator(self.seed)  # the same values at every call, as Keras 3's
        if rng is not None:
            return rng
        with _DIRECT_SEED_LOCK:
            if self._direct_seed is None:
                self._direct_seed = int(generator().integers(2**63))
        return generator(self._direct_seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class _MeanStddev(_Random):
    """A normal distribution's mean and standard deviation, and the seed."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        self.mean = real_number(mean, "mean")
        self.stddev = real_number(stddev, "stddev", at_least=0)
        super().__init__(seed)

    def _shifted(self, out: np.ndarray) -> np.ndarray:
        if self.mean:  # adding 0.0 would turn -0.0 to 0.0: the names' values stay bit for bit
            out += self.mean
        return out

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, **super().get_config()}


class RandomNormal(_MeanStddev):
    """N(mean, stddev)."""

    def _draw(self, shape, dtype, rng) -> np.ndarray:
        return _drawn(shape, dtype, lambda n: self._shifted(rng.standard_normal(n) * self.stddev))


class TruncatedNormal(_MeanStddev):
    """N(mean, stddev), each value redrawn until within two standard deviations of the mean."""

    def _draw(self, shape, dtype, rng) -> np.ndarray:
        return _truncated_normal(shape, self.stddev, rng, dtype, self._shifted)


class RandomUniform(_Random):
    """U(minval, maxval)."""

    def __init__(
        self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None
    ) -> None:
        self.minval = real_number(minval, "minval")
        self.maxval = real_number(maxval, "maxval", at_least=self.minval)
        super().__init__(seed)

    def _draw(self, shape, dtype, rng) -> np.ndarray:
        return _drawn(shape, dtype, lambda n: rng.uniform(self.minval, self.maxval, size=n))

    def get_config(self) -> dict[str, Any]:
        return {"minval": self.minval, "maxval": self.maxval, **super().get_config()}


_MODES = ("fan_avg", "fan_in", "fan_out")
_DISTRIBUTIONS = ("truncated_normal", "uniform", "untruncated_normal")


def _choice(value, name: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected one of {list(allowed)}, got {value!r}")
    if value not in allowed:
        raise ValueError(f"{name}: expected one of {list(allowed)}, got {value!r}")
    return value


class VarianceScaling(_Random):
    """Variance ``scale / n`` with n the fan ``mode`` counts, from ``distribution`` (see the
    docstring of :mod:`fastlstm.initializers`; "normal" is Keras's old name for
    "truncated_normal")."""

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: int | None = None,
    ) -> None:
        self.scale = real_number(scale, "scale", above=0)
        self.mode = _choice(mode, "mode", _MODES)
        if isinstance(distribution, str):
            distribution = distribution.lower()
            distribution = "truncated_normal" if distribution == "normal" else distribution
        self.distribution = _choice(distribution, "distribution", _DISTRIBUTIONS)
        super().__init__(seed)

    def _draw(self, shape, dtype, rng) -> np.ndarray:
        fan_in, fan_out = compute_fans(shape)
        fans = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}
        n = max(1.0, fans[self.mode])
        # The arithmetic below is the order the names always used, so that their values (and
        # models saved with them) do not move by a rounding.
        if self.distribution == "uniform":
            limit = np.sqrt(3.0 * self.scale / n)
            return _drawn(shape, dtype, lambda k: rng.uniform(-limit, limit, size=k))
        if self.distribution == "untruncated_normal":
            scale = np.sqrt(self.scale / n)
            return _drawn(shape, dtype, lambda k: rng.standard_normal(size=k) * scale)
        stddev = np.sqrt(self.scale / n) / 0.87962566103423978
        return _truncated_normal(shape, stddev, rng, dtype)

    def get_config(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "mode": self.mode,
            "distribution": self.distribution,
            **super().get_config(),
        }


class _FixedScaling(VarianceScaling):
    """A VarianceScaling whose scale, mode and distribution are fixed: its config is the seed."""

    _args: tuple[float, str, str]

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(*self._args, seed=seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class GlorotUniform(_FixedScaling):
    """U(+-sqrt(6 / (fan_in + fan_out)))."""

    _args = (1.0, "fan_avg", "uniform")


class GlorotNormal(_FixedScaling):
    """Truncated normal, standard deviation sqrt(2 / (fan_in + fan_out))."""

    _args = (1.0, "fan_avg", "truncated_normal")


class HeUniform(_FixedScaling):
    """U(+-sqrt(6 / fan_in))."""

    _args = (2.0, "fan_in", "uniform")


class HeNormal(_FixedScaling):
    """Truncated normal, standard deviation sqrt(2 / fan_in)."""

    _args = (2.0, "fan_in", "truncated_normal")


class LecunUniform(_FixedScaling):
    """U(+-sqrt(3 / fan_in))."""

    _args = (1.0, "fan_in", "uniform")


class LecunNormal(_FixedScaling):
    """Truncated normal, standard deviation sqrt(1 / fan_in)."""

    _args = (1.0, "fan_in", "truncated_normal")


class Orthogonal(_Random):
    """``gain`` times a matrix with orthonormal rows or columns (whichever are fewer), from the
    QR of a normal sample, signs fixed so that the distribution is uniform (Saxe et al., 2014).
    A shape (..., n) is made as a (product of the rest, n) matrix, as Keras's; a 1-D shape (n,)
    gives a unit vector (Keras refuses it)."""

    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        self.gain = real_number(gain, "gain")
        super().__init__(seed)

    def _check_fits(self, shape, name=None) -> None:
        if len(shape) == 0:
            raise ValueError(
                f"{name or 'shape'}: expected a shape of at least one dimension for Orthogonal, "
                "got ()"
            )

    def _draw(self, shape, dtype, rng) -> np.ndarray:
        # (n,) is the column (n, 1), as the name always made it; transposed, Keras's (1, n).
        rows, cols = (shape[0], 1) if len(shape) == 1 else (math.prod(shape[:-1]), shape[-1])
        a = rng.standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        if self.gain != 1.0:
            q = self.gain * q
        return q.reshape(shape).astype(dtype)

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain, **super().get_config()}
