"""Merge layers, Keras's: a list of arrays in, one out. Add, Subtract, Multiply, Average,
Maximum, Minimum (element by element, inputs of one shape, or broadcast along axes of size 1), Concatenate (along an axis) and Dot
(dot products, as a two-tower recommender scores a user against an item), with Keras's
lower-case functions (``add([a, b])``). They join the branches of a functional model
(:class:`fastlstm.models.Model`) and may be called on arrays too.

Masks: where inputs carry (B, T) masks, a step is kept where every input keeps it (a missing
mask keeps every step); Concatenate along the time axis joins the masks instead.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ..functional import _flag
from .base import Layer, input_array


def _shapes(input_shape, name: str, exactly: int | None = None) -> list[tuple]:
    if not isinstance(input_shape, (list, tuple)) or not all(
        isinstance(s, (list, tuple)) for s in input_shape
    ):
        raise ValueError(f"{name}: expected a list of input shapes, got {input_shape!r}")
    shapes = [tuple(s) for s in input_shape]
    if exactly is not None and len(shapes) != exactly:
        raise ValueError(f"{name}: expected exactly {exactly} inputs, got {len(shapes)}")
    if len(shapes) < 2:
        raise ValueError(f"{name}: expected a list of at least 2 inputs, got {len(shapes)}")
    return shapes


def _joined(sizes, what: str) -> int | None:
    """One size from several where None is any size; ValueError where two disagree."""
    known = {s for s in sizes if s is not None}
    if len(known) > 1:
        raise ValueError(what)
    return known.pop() if known else None


class _Merge(Layer):
    """An element-by-element merge: subclasses give ``_merge(xs)`` and ``_grads(xs, out, dout)``
    (a gradient per input); ``_inputs`` fixes how many inputs there are (None: 2 or more)."""

    takes_list = True  # a functional model passes the layer a list of tensors
    _inputs: int | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)

    def build(self, input_shape) -> None:
        self.compute_output_shape(input_shape)  # checks the shapes
        self.built_input_shape = tuple(tuple(s) for s in input_shape)

    def _ensure_built(self, x) -> None:
        self._ensure_built_from_list(x)

    def compute_output_shape(self, input_shape) -> tuple:
        """The inputs' one shape, where an axis of size 1 stretches to the others' size
        (NumPy's broadcasting, as Keras's merges allow: (B, T, U) and (B, 1, U))."""
        shapes = _shapes(input_shape, self.name, self._inputs)
        what = f"{self.name}: expected inputs of one shape (or of size 1 where they differ), got {shapes}"
        if len({len(s) for s in shapes}) != 1:
            raise ValueError(what)
        out = []
        for sizes in zip(*shapes):
            known = {s for s in sizes if s is not None and s != 1}
            if len(known) > 1:
                raise ValueError(what)
            out.append(known.pop() if known else (None if None in sizes else 1))
        return tuple(out)

    def _arrays(self, xs) -> list[np.ndarray]:
        if not isinstance(xs, (list, tuple)):
            raise TypeError(f"x: expected a list of arrays, got {type(xs).__name__}")
        arrays = [input_array(a, f"x[{k}]", dtype=self.dtype) for k, a in enumerate(xs)]
        self.compute_output_shape([a.shape for a in arrays])
        return arrays

    def forward(self, x, training: bool = False, mask=None):
        xs = self._arrays(x)
        out = self._merge(xs)
        return out, (xs, out)

    def backward(self, cache, dout):
        """A list of dL/d(input), one per input (summed over the axes it was stretched along)."""
        xs, out = cache
        dy = self._dout(dout, out.shape)
        return [_unstretched(g, x.shape) for g, x in zip(self._grads(xs, out, dy), xs)]

    def compute_mask(self, x, mask=None):
        if mask is None or all(m is None for m in mask):
            return None
        kept = None
        for m in mask:
            if m is not None:
                m = np.asarray(m, dtype=bool)
                kept = m if kept is None else kept & m
        return kept


def _unstretched(g: np.ndarray, shape: tuple) -> np.ndarray:
    """The gradient of an input broadcast to g's shape: g summed over the stretched axes."""
    axes = tuple(k for k, (a, b) in enumerate(zip(shape, g.shape)) if a == 1 and b != 1)
    return g.sum(axis=axes, keepdims=True) if axes else g


def _stacked(xs) -> np.ndarray:
    """The inputs broadcast to one shape and stacked: (len(xs), *shape)."""
    return np.stack(np.broadcast_arrays(*xs))


class Add(_Merge):
    """The sum of the inputs."""

    default_name = "add"

    def _merge(self, xs):
        return functools.reduce(np.add, xs)

    def _grads(self, xs, out, dy):
        return [dy] * len(xs)


class Subtract(_Merge):
    """The first input minus the second (exactly two)."""

    default_name = "subtract"
    _inputs = 2

    def _merge(self, xs):
        return xs[0] - xs[1]

    def _grads(self, xs, out, dy):
        return [dy, -dy]


class Multiply(_Merge):
    """The product of the inputs, element by element."""

    default_name = "multiply"

    def _merge(self, xs):
        return functools.reduce(np.multiply, xs)

    def _grads(self, xs, out, dy):
        return [
            dy * functools.reduce(np.multiply, [a for j, a in enumerate(xs) if j != k])
            for k in range(len(xs))
        ]


class Average(_Merge):
    """The mean of the inputs."""

    default_name = "average"

    def _merge(self, xs):
        return functools.reduce(np.add, xs) / len(xs)

    def _grads(self, xs, out, dy):
        return [dy / len(xs)] * len(xs)


class Maximum(_Merge):
    """The largest of the inputs at each position; where several tie, the first takes the
    gradient (as TensorFlow's maximum)."""

    default_name = "maximum"
    _reduce, _pick = staticmethod(np.max), staticmethod(np.argmax)

    def _merge(self, xs):
        return self._reduce(_stacked(xs), axis=0)

    def _grads(self, xs, out, dy):
        chosen = self._pick(_stacked(xs), axis=0)  # the first extreme on ties
        return [np.where(chosen == k, dy, 0).astype(dy.dtype) for k in range(len(xs))]


class Minimum(Maximum):
    """The smallest of the inputs at each position; the first of tied ones takes the gradient."""

    default_name = "minimum"
    _reduce, _pick = staticmethod(np.min), staticmethod(np.argmin)


class Concatenate(_Merge):
    """The inputs joined along ``axis`` (the last by default; not the batch axis); every other
    axis must agree."""

    default_name = "concatenate"

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"axis: expected an int, got {axis!r}")
        super().__init__(**kwargs)
        self.axis = int(axis)

    def _axis(self, ndim: int) -> int:
        axis = self.axis + ndim if self.axis < 0 else self.axis
        if not 1 <= axis < ndim:
            raise ValueError(
                f"axis: expected an axis of the {ndim}-D inputs other than the batch's (0), "
                f"got {self.axis}"
            )
        return axis

    def compute_output_shape(self, input_shape) -> tuple:
        shapes = _shapes(input_shape, self.name)
        if len({len(s) for s in shapes}) != 1:
            raise ValueError(
                f"{self.name}: expected inputs with the same number of axes, got {shapes}"
            )
        axis = self._axis(len(shapes[0]))
        what = (
            f"{self.name}: expected inputs that agree on every axis but {self.axis}, got {shapes}"
        )
        out = [
            _joined(sizes, what) if k != axis else (None if None in sizes else sum(sizes))
            for k, sizes in enumerate(zip(*shapes))
        ]
        return tuple(out)

    def _merge(self, xs):
        return np.concatenate(xs, axis=self._axis(xs[0].ndim))

    def _grads(self, xs, out, dy):
        axis = self._axis(dy.ndim)
        ends = np.cumsum([a.shape[axis] for a in xs])[:-1]
        return np.split(dy, ends, axis=axis)

    def compute_mask(self, x, mask=None):
        if mask is None or all(m is None for m in mask):
            return None
        if self._axis(np.ndim(x[0])) != 1 or np.ndim(x[0]) < 3:
            return super().compute_mask(x, mask)
        # along time: each input's steps keep their own mask (all kept where it has none)
        return np.concatenate(
            [
                np.ones(np.shape(a)[:2], dtype=bool) if m is None else np.asarray(m, dtype=bool)
                for a, m in zip(x, mask)
            ],
            axis=1,
        )

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class Dot(_Merge):
    """Dot products of two inputs along ``axes``, batch by batch (Keras's batch_dot): two
    (B, D) inputs give (B, 1); two 3-D inputs (B, M, D) and (B, D, N) (``axes=(2, 1)``), or
    (B, M, D) and (B, N, D) (``axes=2``, as attention scores), give (B, M, N). ``normalize``:
    each input is first divided by its L2 norm along its axis (cosine similarity; a norm below
    1e-6 counts as 1e-6, as Keras's epsilon of 1e-12 on the squared norm)."""

    default_name = "dot"
    _inputs = 2

    def __init__(self, axes=-1, normalize: bool = False, **kwargs: Any) -> None:
        pair = tuple(axes) if isinstance(axes, (list, tuple)) else (axes, axes)
        if len(pair) != 2 or not all(
            isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in pair
        ):
            raise TypeError(f"axes: expected an int or a pair of ints, got {axes!r}")
        super().__init__(**kwargs)
        self.axes = tuple(int(a) for a in pair)
        self.normalize = _flag(normalize, "normalize")

    def _axes(self, ndims) -> tuple[int, int]:
        out = []
        for axis, ndim in zip(self.axes, ndims):
            a = axis + ndim if axis < 0 else axis
            if not 1 <= a < ndim:
                raise ValueError(
                    f"axes: expected axes of the inputs other than the batch's (0), got "
                    f"{self.axes} for inputs of {list(ndims)} axes"
                )
            out.append(a)
        return out[0], out[1]

    def compute_output_shape(self, input_shape) -> tuple:
        (x, y) = _shapes(input_shape, self.name, 2)
        if (len(x), len(y)) not in ((2, 2), (3, 3)):
            raise ValueError(
                f"{self.name}: expected two 2-D or two 3-D inputs, got shapes {[x, y]}"
            )
        ax, ay = self._axes((len(x), len(y)))
        what = f"{self.name}: expected the summed axes to match, got shapes {[x, y]} at {self.axes}"
        _joined((x[ax], y[ay]), what)
        batch = _joined((x[0], y[0]), f"{self.name}: expected one batch size, got {[x, y]}")
        if len(x) == 2:
            return (batch, 1)
        return (batch, x[3 - ax], y[3 - ay])

    def _merge(self, xs):
        return self._forward(xs)[0]

    def forward(self, x, training: bool = False, mask=None):
        xs = self._arrays(x)
        out, parts = self._forward(xs)
        return out, (xs, parts, out)

    def _forward(self, xs):
        """(output, (the inputs as (B, M, D) and (B, D, N) and their norms or None))."""
        x, y = xs
        ax, ay = self._axes((x.ndim, y.ndim))
        a = np.moveaxis(x, ax, -1) if x.ndim == 3 else x[:, None, :]  # (B, M, D)
        b = np.moveaxis(y, ay, 1) if y.ndim == 3 else y[:, :, None]  # (B, D, N)
        norms = None
        if self.normalize:
            norms = (_norm(a, -1), _norm(b, 1))
            a, b = a / norms[0], b / norms[1]
        out = a @ b
        return (out[:, 0, :] if x.ndim == 2 else out), (a, b, norms)

    def backward(self, cache, dout):
        (x, y), (a, b, norms), out = cache
        dy = self._dout(dout, out.shape)
        if x.ndim == 2:
            dy = dy[:, None, :]  # (B, 1, 1)
        da = dy @ np.swapaxes(b, 1, 2)  # (B, M, D)
        db = np.swapaxes(a, 1, 2) @ dy  # (B, D, N)
        if norms is not None:  # through a / |a|: (da - a (a . da)) / |a|
            da = (da - a * np.sum(a * da, axis=-1, keepdims=True)) / norms[0]
            db = (db - b * np.sum(b * db, axis=1, keepdims=True)) / norms[1]
        if x.ndim == 2:
            return [da[:, 0, :], db[:, :, 0]]
        ax, ay = self._axes((x.ndim, y.ndim))
        return [np.moveaxis(da, -1, ax), np.moveaxis(db, 1, ay)]

    def compute_mask(self, x, mask=None):
        return None  # as Keras's Dot: the output has no time axis of the inputs' to mask

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axes": list(self.axes), "normalize": self.normalize}


def _norm(a: np.ndarray, axis: int) -> np.ndarray:
    return np.maximum(np.sqrt(np.sum(a * a, axis=axis, keepdims=True)), 1e-6)


def add(inputs, **kwargs: Any):
    """``Add(**kwargs)(inputs)``."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs: Any):
    """``Subtract(**kwargs)(inputs)``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs: Any):
    """``Multiply(**kwargs)(inputs)``."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs: Any):
    """``Average(**kwargs)(inputs)``."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs: Any):
    """``Maximum(**kwargs)(inputs)``."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs: Any):
    """``Minimum(**kwargs)(inputs)``."""
    return Minimum(**kwargs)(inputs)


def dot(inputs, axes, normalize: bool = False, **kwargs: Any):
    """``Dot(axes, normalize, **kwargs)(inputs)``."""
    return Dot(axes, normalize, **kwargs)(inputs)


def concatenate(inputs, axis: int = -1, **kwargs: Any):
    """``Concatenate(axis, **kwargs)(inputs)``."""
    return Concatenate(axis, **kwargs)(inputs)
