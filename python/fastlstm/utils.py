"""Keras's data helpers for sequence models: padding lists of sequences into one array, one-hot
labels, datasets that make their own batches (:class:`PyDataset`), windows of a time series
(:func:`timeseries_dataset_from_array`) and :func:`set_random_seed`."""

from __future__ import annotations

import math

import numpy as np

from ._arrays import (
    allocate,
    check_seed,
    generator,
    integer,
    real_array,
    set_random_seed,
)

__all__ = [
    "PyDataset",
    "Sequence",
    "pad_sequences",
    "set_random_seed",
    "timeseries_dataset_from_array",
    "to_categorical",
]


def pad_sequences(
    sequences,
    maxlen: int | None = None,
    dtype="int32",
    padding: str = "pre",
    truncating: str = "pre",
    value=0.0,
) -> np.ndarray:
    """Sequences of different lengths as one (N, maxlen, ...) array, as Keras's: each padded with
    ``value`` (before it with ``padding="pre"``, Keras's default, or after with "post") or cut to
    ``maxlen`` (dropping its start with ``truncating="pre"``, or its end with "post"). ``maxlen``
    defaults to the longest. Entries may be lists or arrays whose steps share one shape. With
    ``dtype=object`` (or a str dtype), the entries may be strings, tokens not yet ids, padded
    with ``value`` (say "<pad>"), as Keras's."""
    for name, v in (("padding", padding), ("truncating", truncating)):
        if v not in ("pre", "post"):
            raise ValueError(f"{name}: expected 'pre' or 'post', got {v!r}")
    if isinstance(sequences, (str, bytes)) or not hasattr(sequences, "__len__"):
        raise TypeError(f"sequences: expected a list of sequences, got {type(sequences).__name__}")
    try:
        out_dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype: expected a NumPy dtype, got {dtype!r}") from None
    if out_dtype.kind not in "biufOSU":  # datetimes, complex numbers, records
        raise TypeError(
            f"dtype: expected an integer, float or bool dtype (or object or str for tokens), got "
            f"{out_dtype}"
        )
    if out_dtype.kind in "OSU":  # tokens: any values, kept as they are
        rows = [np.asarray(s, dtype=object) for s in sequences]
    else:
        rows = [_numbers(s, f"sequences[{i}]", out_dtype) for i, s in enumerate(sequences)]
    for i, r in enumerate(rows):
        if r.ndim == 0:
            raise ValueError(f"sequences[{i}]: expected a sequence, got the scalar {r}")
    # the shape of one step, from the first sequence that has one (an empty list has no steps)
    step = next((r.shape[1:] for r in rows if len(r)), ())
    for i, r in enumerate(rows):
        if len(r) and r.shape[1:] != step:
            raise ValueError(
                f"sequences[{i}]: expected steps of shape {step} like sequences[0]'s, got "
                f"{r.shape[1:]}"
            )
    longest = max((len(r) for r in rows), default=0)
    maxlen = longest if maxlen is None else integer(maxlen, "maxlen", at_least=0)
    if out_dtype.kind in "iu":
        _check_fits(rows, value, out_dtype)
    # A str dtype without a width (str, "U") would hold one character: tokens as objects first.
    sized = out_dtype.kind not in "SU" or out_dtype.itemsize > 0
    out = allocate(
        "maxlen" if maxlen != longest else "sequences",
        (len(rows), int(maxlen), *step),
        out_dtype if sized else object,
        fill=value,
        what=f"{len(rows)} sequences of {maxlen} steps",
    )
    for i, r in enumerate(rows):
        kept = r[-maxlen:] if truncating == "pre" else r[:maxlen]
        if maxlen == 0 or not len(kept):
            continue
        if padding == "post":
            out[i, : len(kept)] = kept
        else:
            out[i, -len(kept) :] = kept
    return out if sized else out.astype(out_dtype.kind)  # as wide as the longest token


def _numbers(sequence, name: str, dtype: np.dtype) -> np.ndarray:
    """One of pad_sequences's entries as numbers; strings get a hint at dtype=object."""
    try:
        return real_array(sequence, name)
    except TypeError:
        if np.asarray(sequence).dtype.kind in "SU":
            raise TypeError(
                f"{name}: expected numbers for dtype {dtype}, got strings (dtype=object pads "
                "tokens)"
            ) from None
        raise


def _check_fits(rows, value, dtype: np.dtype) -> None:
    """pad_sequences's values and padding value as integers of ``dtype``: an id outside its range
    would wrap round to another, valid-looking id, a NaN would become an arbitrary one, and a
    fraction would be cut to a whole number (-0.9 to 0, the padding value). Keras cuts them;
    here they are refused, with the dtype that keeps them."""
    info = np.iinfo(dtype)
    hint = "pass a wider dtype, e.g. dtype='int64'"
    for i, r in enumerate(rows):
        if not r.size or r.dtype.kind not in "iuf":
            continue
        if r.dtype.kind == "f" and not np.isfinite(r).all():
            raise ValueError(f"sequences[{i}]: expected ids, got a non-finite value")
        if r.dtype.kind == "f" and not np.array_equal(r, np.trunc(r)):
            bad = r[r != np.trunc(r)].flat[0]
            raise ValueError(
                f"sequences[{i}]: holds {bad}, not a whole number, for dtype {dtype} (which "
                "would cut it); pass dtype='float32' to pad real values"
            )
        low, high = r.min(), r.max()
        if low < info.min or high > info.max:
            bad = high if high > info.max else low
            raise ValueError(
                f"sequences[{i}]: holds {bad}, outside {dtype}'s range [{info.min}, {info.max}]; "
                + hint
            )
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"value: expected a number for dtype {dtype}, got {value!r}")
    # a Python int may be wider than any float, which np.isfinite cannot take (2**70)
    finite = isinstance(value, (int, np.integer)) or np.isfinite(value)
    if not finite or not info.min <= value <= info.max or value != int(value):
        raise ValueError(
            f"value: expected a whole padding value in {dtype}'s range [{info.min}, "
            f"{info.max}], got {value!r}"
        )


def to_categorical(x, num_classes: int | None = None, dtype="float32") -> np.ndarray:
    """Integer class labels (any shape) as one-hot rows (``dtype``, float32 by default, as Keras
    2's argument), shape + (num_classes,), as
    Keras's (a last axis of size 1 is dropped first: (N, 1) gives (N, C)); ``num_classes``
    defaults to the largest label + 1."""
    labels = real_array(x, "x")
    if labels.dtype.kind == "f" and not np.array_equal(labels, np.round(labels)):
        raise ValueError("x: expected integer class labels, got non-whole numbers")
    labels = labels.astype(np.int64)
    if labels.ndim > 1 and labels.shape[-1] == 1:  # (N, 1) labels give (N, C), as Keras
        labels = labels[..., 0]
    if labels.size and labels.min() < 0:
        raise ValueError(f"x: expected labels >= 0, got {labels.min()}")
    top = int(labels.max()) + 1 if labels.size else 0
    num_classes = integer(num_classes, "num_classes", at_least=0, allow_none=True)
    if num_classes is None:
        num_classes = top
    elif num_classes < top:
        raise ValueError(
            f"num_classes: expected at least {top} (the largest label + 1), got {num_classes}"
        )
    shape = (*labels.shape, int(num_classes))
    out = allocate("x", shape, np.dtype(dtype), fill=0, what=f"{num_classes} classes")
    # one entry set per label: memory and time go with labels x classes, as Keras's
    np.put_along_axis(out, labels[..., None], 1, axis=-1)
    return out


class PyDataset:
    """Keras's ``PyDataset`` (``keras.utils.Sequence``): batches by index, for data that is
    loaded or made batch by batch. Subclass it and implement ``__len__`` (batches per epoch)
    and ``__getitem__(index)`` (a batch: ``(x, y)`` or ``(x, y, sample_weight)``, arrays with
    one row per sample; ``x`` alone for predict); ``on_epoch_begin()`` and ``on_epoch_end()``
    run before and after each epoch. ``fit(dataset)`` takes the batches in a new random order
    each pass (``shuffle=True``, the default) or in index order; a subclass whose batch order
    matters sets ``shuffled_by_fit = False``. Batches are loaded on the thread that calls fit:
    ``workers``, ``use_multiprocessing`` and ``max_queue_size`` are accepted, for Keras code, and
    unused."""

    shuffled_by_fit = True

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False, max_queue_size=10):
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__}: a PyDataset implements __len__")

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__}: a PyDataset implements __getitem__")

    def on_epoch_begin(self) -> None:
        """Called before each epoch of fit."""

    def on_epoch_end(self) -> None:
        """Called after each epoch of fit (shuffle the samples here, for instance)."""


Sequence = PyDataset  # Keras 2's name


class _Windows(PyDataset):
    """The batches of :func:`timeseries_dataset_from_array`, in their own order in fit too
    (Keras's is a tf.data dataset, which fit does not shuffle); ``rng``: the generator that
    shuffled the windows, which shuffles them again when a pass over them ends, at the first
    batch asked for after it (a pass may span epochs, with ``steps_per_epoch``: each window
    comes once a pass, as from Keras's dataset); None: in time order always. ``batch_size``
    None: single windows (sequence_length, ...) with their targets, not batches (``unbatched``:
    fit, evaluate and predict refuse them)."""

    shuffled_by_fit = False

    def __init__(self, data, targets, starts, offsets, batch_size, rng=None):
        super().__init__()
        self.data, self.targets = data, targets
        self.starts, self.offsets, self.batch_size = starts, offsets, batch_size
        self.unbatched = batch_size is None
        self._rng = rng
        self._served = 0  # batches given since the windows were last shuffled

    def __len__(self) -> int:
        if self.unbatched:
            return len(self.starts)
        return math.ceil(len(self.starts) / self.batch_size)

    def __getitem__(self, index):
        index = integer(index, "index")
        if not 0 <= index < len(self):
            raise IndexError(f"index: expected 0 to {len(self) - 1}, got {index}")
        if index == 0 and self._rng is not None and self._served >= len(self):
            self.starts, self._served = self._rng.permutation(self.starts), 0  # a new pass
        self._served += 1
        if self.unbatched:
            start = self.starts[index]
            x = self.data[start + self.offsets]
            return x if self.targets is None else (x, self.targets[start])
        starts = self.starts[index * self.batch_size : (index + 1) * self.batch_size]
        x = self.data[starts[:, None] + self.offsets]
        return x if self.targets is None else (x, self.targets[starts])


def timeseries_dataset_from_array(
    data,
    targets,
    sequence_length: int,
    sequence_stride: int = 1,
    sampling_rate: int = 1,
    batch_size: int | None = 128,
    shuffle: bool = False,
    seed: int | None = None,
    start_index: int | None = None,
    end_index: int | None = None,
) -> PyDataset:
    """Keras's sliding windows over a time series, as a dataset for fit, evaluate and predict.

    Window i starts at row ``s_i = start_index + i * sequence_stride`` of ``data`` (T, ...) and
    takes ``sequence_length`` rows ``sampling_rate`` apart; its target is ``targets[s_i]`` (None:
    windows only, for predict). As Keras's, ``targets`` may be shorter than ``data`` (say
    ``data[10:]``): windows past its end are left out. Windows lie within rows [start_index, end_index). Batches hold
    ``batch_size`` windows, (batch, sequence_length, ...); None, as Keras's, gives single
    windows (sequence_length, ...) with their targets, to iterate over (fit needs batches);
    ``shuffle`` orders the windows at
    random (``seed``), and again after each epoch of fit, as Keras's dataset gives a new order
    each pass. fit takes the batches in this order, whatever its own ``shuffle`` (as Keras's fit
    takes a dataset's)."""
    data = real_array(data, "data")
    if data.ndim == 0:
        raise ValueError("data: expected an array with a time axis, got a scalar")
    if targets is not None:
        targets = real_array(targets, "targets")
        if targets.ndim == 0:
            raise ValueError("targets: expected one row per window start, got a scalar")
    sequence_length = integer(sequence_length, "sequence_length", at_least=1)
    sequence_stride = integer(sequence_stride, "sequence_stride", at_least=1)
    sampling_rate = integer(sampling_rate, "sampling_rate", at_least=1)
    batch_size = integer(batch_size, "batch_size", at_least=1, allow_none=True)
    start = integer(start_index, "start_index", at_least=0, allow_none=True) or 0
    end = integer(end_index, "end_index", at_least=0, allow_none=True)
    end = len(data) if end is None else min(end, len(data))
    if start >= end:
        raise ValueError(
            f"start_index: expected a row before end_index and the end of data ({end}), got {start}"
        )
    span = (sequence_length - 1) * sampling_rate + 1  # rows a window covers
    starts = np.arange(start, end - span + 1, sequence_stride)
    if len(starts) == 0:
        raise ValueError(
            f"sequence_length: a window covers {span} rows, more than rows {start} to {end} hold"
        )
    if targets is not None:  # as Keras's: the windows whose start has a target
        starts = starts[starts < len(targets)]
        if len(starts) == 0:
            raise ValueError(
                f"targets: expected a target for the first window (row {start}), got "
                f"{len(targets)} rows"
            )
    rng = generator(check_seed(seed)) if shuffle else None
    if rng is not None:
        rng.shuffle(starts)
    offsets = np.arange(sequence_length) * sampling_rate
    return _Windows(data, targets, starts, offsets, batch_size, rng)
