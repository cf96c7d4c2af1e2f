"""The arguments of fit, evaluate and predict, checked: verbosity, batch sizes, arrays with one
sample per row, callbacks, and class weights turned into per-sample loss weights
(:func:`class_sample_weight`)."""

from __future__ import annotations

import numpy as np

from . import callbacks as callbacks_module
from ._arrays import check_within_range, integer, real_array


def _verbosity(verbose) -> int:
    """Keras's verbose: "auto" (1), 0, 1 or 2; True and False as 1 and 0 (Keras compares with
    1 and 0, and ported code passes bools)."""
    expected = f"verbose: expected 'auto', 0, 1 or 2, got {verbose!r}"
    if isinstance(verbose, (bool, np.bool_)):
        return int(verbose)
    if isinstance(verbose, str):
        if verbose != "auto":
            raise ValueError(expected)
        return 1
    if not isinstance(verbose, (int, np.integer)):
        raise TypeError(expected)
    if verbose not in (0, 1, 2):
        raise ValueError(expected)
    return int(verbose)


def _batch_size(batch_size) -> int:
    return 32 if batch_size is None else integer(batch_size, "batch_size", at_least=1)


def _array(value, name: str) -> np.ndarray:
    """``value`` as an array of real numbers with a batch axis (real_array: another library's
    tensor that cannot convert says why)."""
    if value is None:
        raise ValueError(f"{name}: expected an array, got None")
    if isinstance(value, dict):  # else "dtype object": arrays by name are a functional Model's
        raise TypeError(
            f"{name}: expected an array, got a dict (keys {sorted(map(str, value))}): a "
            "functional Model takes its inputs and targets by name, a Sequential one array each"
        )
    try:
        arr = real_array(value, name)
    except TypeError as exc:
        if "inhomogeneous" not in str(exc):
            raise
        raise ValueError(
            f"{exc}. Sequences of different lengths? utils.pad_sequences makes them one array"
        ) from None
    if arr.ndim == 0:
        raise ValueError(f"{name}: expected an array with a batch axis, got a scalar")
    return arr


def _callbacks(callbacks) -> list:
    """A list of callbacks from None, one Callback or a list of them."""
    if callbacks is None:
        return []
    if isinstance(callbacks, callbacks_module.Callback):
        return [callbacks]
    if not isinstance(callbacks, (list, tuple)):
        raise TypeError(f"callbacks: expected a list of Callback, got {type(callbacks).__name__}")
    return list(callbacks)


class ArrayGroup:
    """The arrays of a model's several inputs (checked, each with the same number of rows),
    indexed and sliced together: fit's shuffles, batches and validation split take the same
    samples of each, treating the group as one x."""

    __slots__ = ("arrays",)

    def __init__(self, arrays) -> None:
        self.arrays = tuple(arrays)

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index) -> ArrayGroup:
        return ArrayGroup([a[index] for a in self.arrays])

    @property
    def shape(self) -> list[tuple]:
        return [a.shape for a in self.arrays]


def _within_range(value, name: str, dtype) -> None:
    """Floats wider than ``dtype`` checked against its range before batching (check_within_range:
    the row named is the caller's; each layer's own check would name a row of a batch)."""
    arrays = value.arrays if isinstance(value, ArrayGroup) else (value,)
    for k, a in enumerate(arrays):
        check_within_range(a, dtype, f"{name}[{k}]" if len(arrays) > 1 else name)


def _data(x, y=None, sample_weight=None, *, need_y=True, dtype=None):
    """Checked (x, y, sample_weight) arrays with one sample per row (x may be an ArrayGroup);
    with ``dtype``, the model's widest, x's and y's floats checked against its range."""
    if not isinstance(x, ArrayGroup):
        x = _array(x, "x")
    if len(x) == 0:
        raise ValueError(f"x: expected at least one sample, got shape {x.shape}")
    if y is None:
        if need_y:
            raise ValueError("y: expected the targets (an array with one row per sample), got None")
        if dtype is not None:
            _within_range(x, "x", dtype)
        return x, None, None
    if not isinstance(y, ArrayGroup):  # a model's several outputs' targets are one group
        y = _array(y, "y")
    if len(y) != len(x):
        raise ValueError(
            f"x, y: expected the same number of samples, got x with {len(x)} and y with {len(y)}"
        )
    if sample_weight is not None:
        sample_weight = _array(sample_weight, "sample_weight")
        if len(sample_weight) != len(x):
            raise ValueError(
                f"sample_weight: expected {len(x)} rows (one per sample of x), got "
                f"{len(sample_weight)}"
            )
    if dtype is not None:
        _within_range(x, "x", dtype)
        _within_range(y, "y", dtype)
    return x, y, sample_weight


def _dataset_only_arguments(y, sample_weight, batch_size, validation_split=0.0) -> None:
    """A dataset makes its own batches: refuse what would have made them from arrays."""
    for name, value in (("y", y), ("sample_weight", sample_weight), ("batch_size", batch_size)):
        if value is not None:
            raise ValueError(
                f"{name}: expected None when x is a dataset (its batches hold the targets and "
                f"weights and set their size), got {type(value).__name__}"
            )
    if validation_split:
        raise ValueError(
            f"validation_split: expected 0 when x is a dataset (pass validation_data), got "
            f"{validation_split!r}"
        )


def _rows(a, sl):
    return None if a is None else a[sl]


def _check_steps(steps, name: str) -> int | None:
    """A ``steps`` argument: None (all batches) or a positive int."""
    return integer(steps, name, at_least=1, allow_none=True)


def _first_batches(steps, batch_size: int, name: str, *arrays):
    """Keras's ``steps`` with arrays: the rows of their first ``steps`` batches (all of them for
    None, or where they hold fewer)."""
    steps = _check_steps(steps, name)
    if steps is None:
        return arrays
    return tuple(_rows(a, slice(steps * batch_size)) for a in arrays)


def _check_class_weight(class_weight) -> dict[int, float]:
    """A {class index: weight} dict: keys ints (a negative one for a label such as a padded
    step's -1), weights finite numbers >= 0."""
    if not isinstance(class_weight, dict):
        raise TypeError(
            f"class_weight: expected a dict {{class index: weight}}, got "
            f"{type(class_weight).__name__}"
        )
    checked = {}
    for key, weight in class_weight.items():
        if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
            raise TypeError(f"class_weight: expected class indices (ints) as keys, got {key!r}")
        if isinstance(weight, bool) or not isinstance(
            weight, (int, float, np.integer, np.floating)
        ):
            raise TypeError(
                f"class_weight: expected numbers as weights, got {weight!r} for class {key}"
            )
        if not np.isfinite(weight) or weight < 0:
            raise ValueError(
                f"class_weight: expected finite weights >= 0, got {weight!r} for class {key}"
            )
        checked[int(key)] = float(weight)
    return checked


def _classes(y: np.ndarray, out_shape: tuple) -> np.ndarray:
    """The class of each target in y, read as Keras reads it: one-hot rows (the last axis as
    long as the model's output's, > 1) give their argmax, a trailing axis of size 1 is dropped
    (binary 0/1 labels), anything else is a class index already (sparse labels). Shape: y's
    without the class axis: (N,), or (N, T) for a label per step."""
    if y.dtype.kind == "f" and not np.isfinite(y).all():
        raise ValueError("class_weight: expected class labels in y, got NaN or inf")
    rank, width = len(out_shape), out_shape[-1]
    if y.ndim == rank and y.shape[-1] == width and width != 1:
        if y.size and (y.min() < 0 or y.max() > 1):
            raise ValueError(
                f"class_weight: expected one-hot or probability rows (values in [0, 1]) in y of "
                f"shape {y.shape}, got values in [{y.min()}, {y.max()}]; class_weight is for "
                "classification targets"
            )
        return y.argmax(axis=-1)
    if y.ndim == rank and y.shape[-1] == 1:
        y = y[..., 0]
    elif y.ndim != rank - 1:
        raise ValueError(
            f"class_weight: expected y of shape (N, ..., {width}) (one-hot rows) or (N, ...) or "
            f"(N, ..., 1) (class indices) to match the model's output {out_shape}, got {y.shape}"
        )
    # Negative labels are classes too (Keras: weight 1 unless the dict names them), such as the
    # -1 of padded steps that a loss's ignore_class leaves out.
    wrong = np.zeros(y.shape, bool)
    if y.dtype.kind == "f":  # checked before the cast, which would wrap huge values
        wrong |= (y != np.floor(y)) | (np.abs(y) >= 2.0**62)
    if wrong.any():
        raise ValueError(
            f"class_weight: expected class labels in y (whole numbers), got "
            f"{y[wrong].ravel()[0]}; class_weight is for classification targets"
        )
    return y.astype(np.int64)


def class_sample_weight(class_weight, y, sample_weight, out_shape):
    """Keras's class weighting as sample weights: each target's class weight (1 for a class the
    dict does not name, as Keras 3), times ``sample_weight`` when given (multiplicative, as
    Keras 2; Keras 3 refuses the two together). (N,) for one target per sample, (N, T) for one
    per step (which Keras refuses)."""
    weights = _check_class_weight(class_weight)
    if not isinstance(out_shape, tuple):
        raise TypeError(f"class_weight: expected a model with one output, got {out_shape}")
    labels = _classes(np.asarray(y), out_shape)
    present, where = np.unique(labels, return_inverse=True)  # the few distinct classes
    table = np.array([weights.get(int(c), 1.0) for c in present], dtype=np.float64)
    cw = table[where.reshape(-1)].reshape(labels.shape)
    if sample_weight is None:
        return cw
    sw = np.asarray(sample_weight, dtype=np.float64)
    if sw.ndim == cw.ndim + 1 and sw.shape[-1] == 1:
        sw = sw[..., 0]
    a, b = sw.reshape(sw.shape + (1,) * (cw.ndim - sw.ndim)), cw
    b = b.reshape(b.shape + (1,) * (sw.ndim - cw.ndim))
    try:
        return a * b
    except ValueError:
        raise ValueError(
            f"sample_weight: expected shape {cw.shape[:1]} or {cw.shape} to combine with the "
            f"class weights of y, got {np.shape(sample_weight)}"
        ) from None
