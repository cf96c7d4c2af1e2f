"""Keras's data helpers for sequence models: padding lists of sequences into one array, and one-hot
labels."""

from __future__ import annotations

import numpy as np

from ._arrays import real_array


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
    defaults to the longest. Entries may be lists or arrays whose steps share one shape."""
    for name, v in (("padding", padding), ("truncating", truncating)):
        if v not in ("pre", "post"):
            raise ValueError(f"{name}: expected 'pre' or 'post', got {v!r}")
    if isinstance(sequences, (str, bytes)) or not hasattr(sequences, "__len__"):
        raise TypeError(f"sequences: expected a list of sequences, got {type(sequences).__name__}")
    rows = [real_array(s, f"sequences[{i}]") for i, s in enumerate(sequences)]
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
    if maxlen is None:
        maxlen = longest
    elif isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 0:
        raise ValueError(f"maxlen: expected None or an int >= 0, got {maxlen!r}")
    out = np.full((len(rows), int(maxlen), *step), value, dtype=np.dtype(dtype))
    for i, r in enumerate(rows):
        kept = r[-maxlen:] if truncating == "pre" else r[:maxlen]
        if maxlen == 0 or not len(kept):
            continue
        if padding == "post":
            out[i, : len(kept)] = kept
        else:
            out[i, -len(kept) :] = kept
    return out


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
    if num_classes is None:
        num_classes = top
    elif isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(f"num_classes: expected an int, got {num_classes!r}")
    elif num_classes < top:
        raise ValueError(
            f"num_classes: expected at least {top} (the largest label + 1), got {num_classes}"
        )
    return np.eye(int(num_classes), dtype=np.dtype(dtype))[labels]
