"""A metric's state as Keras 3's ``Metric.add_weight`` makes it: :class:`Variable`, a float64
array that only ``assign``, ``assign_add`` and ``assign_sub`` change, and the checks of
add_weight's shape and initializer (used by ``Metric``, in :mod:`fastlstm._metric_base`)."""

from __future__ import annotations

import numbers

import numpy as np

from ._arrays import integer, real_array


class Variable:
    """A metric's state as ``Metric.add_weight`` makes it (Keras 3's variable): a float64 array
    of a fixed shape that only ``assign``, ``assign_add`` and ``assign_sub`` change. Arithmetic,
    comparisons, indexing and NumPy functions read its value (``self.total / self.count`` and
    ``np.sqrt(v)`` are arrays), ``float(v)`` that of a shape () variable. A value read before an
    assign keeps what it read. ``v += 1`` rebinds the name to an array, as with Keras's
    variables: use ``assign_add``."""

    def __init__(self, value: np.ndarray, name: str) -> None:
        self.name = name
        self._value = value
        self._value.flags.writeable = False

    @property
    def value(self) -> np.ndarray:
        return self._value

    @property
    def shape(self) -> tuple:
        return self._value.shape

    @property
    def dtype(self) -> str:
        return "float64"

    def numpy(self) -> np.ndarray:
        return self._value.copy()

    def assign(self, value) -> np.ndarray:
        new = np.array(real_array(value, "value"), dtype=np.float64)  # a copy, its own
        if new.shape != self._value.shape:
            raise ValueError(
                f"value: expected shape {self._value.shape} (variable {self.name!r}), "
                f"got {new.shape}"
            )
        new.flags.writeable = False  # a new array each time: what was read stays as it was
        self._value = new
        return new

    def assign_add(self, value) -> np.ndarray:
        return self.assign(self._value + real_array(value, "value"))

    def assign_sub(self, value) -> np.ndarray:
        return self.assign(self._value - real_array(value, "value"))

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return self._value if dtype is None and not copy else np.array(self._value, dtype)

    def __float__(self) -> float:
        if self._value.ndim:
            raise TypeError(
                f"float(): expected a variable of shape (), got {self.name!r} of shape "
                f"{self._value.shape}"
            )
        return float(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __format__(self, spec: str) -> str:
        return format(self._value[()] if self._value.ndim == 0 else self._value, spec)

    def __reduce__(self):  # copies and pickles: a value of their own, read-only again
        return Variable, (self._value, self.name)

    def __repr__(self) -> str:
        return f"<Variable {self.name!r} shape={self._value.shape} value={self._value}>"


def _reading(method: str):
    """Variable's ``method``: ndarray's, on its value (identity hash kept, as __eq__ is added
    after the class is made)."""
    op = getattr(np.ndarray, method)

    def read(self, *args):
        return op(self._value, *(a._value if isinstance(a, Variable) else a for a in args))

    read.__name__ = method
    return read


for _method in (
    *(f"__{op}__" for op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul")),
    *(f"__r{op}__" for op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul")),
    *("__neg__", "__pos__", "__abs__", "__getitem__"),
    *("__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"),
):
    setattr(Variable, _method, _reading(_method))


# Keras's names for the constant initialisers a metric's state may start from.
_CONSTANTS = {"zeros": 0.0, "zero": 0.0, "Zeros": 0.0, "ones": 1.0, "one": 1.0, "Ones": 1.0}


def initial_value(initializer, shape: tuple) -> np.ndarray:
    """``shape`` float64 values from a name in _CONSTANTS, a number or a function (shape,
    dtype=None) -> array (Keras's initialisers are such functions)."""
    if isinstance(initializer, str) and initializer in _CONSTANTS:
        return np.full(shape, _CONSTANTS[initializer])
    if isinstance(initializer, numbers.Real) and not isinstance(initializer, (bool, np.bool_)):
        return np.full(shape, float(initializer))
    if callable(initializer) and not isinstance(initializer, type):
        value = real_array(initializer(shape, dtype="float64"), "initializer")
        if value.shape != shape:
            raise ValueError(
                f"initializer: expected an array of shape {shape} from {initializer!r}, got "
                f"shape {value.shape}"
            )
        return value.astype(np.float64)
    raise (ValueError if isinstance(initializer, str) else TypeError)(
        f"initializer: expected one of {sorted(_CONSTANTS)}, a number or a function "
        f"(shape, dtype=None) -> array, got {initializer!r}"
    )


def variable_shape(shape) -> tuple:
    if isinstance(shape, str):  # Keras 2 took the name first
        raise TypeError(
            f"shape: expected a tuple of sizes (Keras 3's order is shape, initializer, dtype, "
            f"name: give the name by keyword), got {shape!r}"
        )
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"shape: expected a tuple of sizes, got {shape!r}") from None
    return tuple(integer(d, "shape", at_least=0) for d in dims)
