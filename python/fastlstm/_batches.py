"""Batches that fit, evaluate and predict take from a dataset instead of arrays: a
:class:`fastlstm.utils.PyDataset` (Keras's ``PyDataset``/``Sequence``: ``__len__`` batches,
``__getitem__(i)`` the i-th, ``on_epoch_end()`` after each epoch) or a Python generator or
iterator yielding batches. A batch is ``x``, ``(x,)``, ``(x, y)`` or ``(x, y, sample_weight)``,
each an array with one row per sample.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import numpy as np

from ._arrays import integer


def is_dataset(x) -> bool:
    """Whether x is a dataset: an iterator (a generator, say) or an object with Keras's
    PyDataset protocol (``__len__``, ``__getitem__`` and ``on_epoch_end``); arrays, lists and
    tuples are data, not datasets."""
    if isinstance(x, (np.ndarray, list, tuple)) or x is None:
        return False
    if isinstance(x, Iterator):
        return True
    return all(hasattr(x, name) for name in ("__len__", "__getitem__", "on_epoch_end"))


def unpack(batch, name: str, need_y: bool):
    """(x, y, sample_weight) from one batch a dataset gave; y and sample_weight may be None."""
    if isinstance(batch, list):  # Keras reads a list as a tuple
        batch = tuple(batch)
    if isinstance(batch, tuple) and 1 <= len(batch) <= 3:
        x, y, sw = (*batch, None, None)[:3]
    elif isinstance(batch, tuple):
        raise ValueError(
            f"{name}: expected batches x, (x,), (x, y) or (x, y, sample_weight), got a tuple of "
            f"{len(batch)}"
        )
    else:
        x, y, sw = batch, None, None
    if need_y and y is None:
        got = "a tuple (x,)" if isinstance(batch, tuple) else f"x alone ({type(batch).__name__})"
        raise ValueError(f"{name}: expected batches (x, y) or (x, y, sample_weight), got {got}")
    return x, y, sw


class DatasetBatches:
    """The batches of one dataset, epoch after epoch.

    A PyDataset gives ``len(dataset)`` batches an epoch, in a new random order each pass with
    ``shuffle`` (``rng``; not for one whose ``shuffled_by_fit`` is False), between its
    ``on_epoch_begin()`` and ``on_epoch_end()``; with fewer ``steps`` an epoch, the next epoch
    goes on where the last stopped, wrapping round to the first batch within an epoch, so every
    epoch has ``steps`` batches. (Keras 3 ends an epoch early where a pass runs out, with a
    warning, and starts the next pass at the first batch: 5 batches at steps 3 give it 3, 2, 3
    batches, here 3, 3, 3.) An iterator gives
    ``steps`` batches an epoch, or all it has in the first; one that runs out ends training
    with a warning, as Keras's fit does. The first batch is drawn early (:meth:`first`), for
    the model to build from."""

    def __init__(self, data, name: str, steps=None, steps_name: str = "steps", need_y=True):
        self.data, self.name, self.need_y = data, name, need_y
        self.steps = integer(steps, steps_name, at_least=1, allow_none=True)
        self.indexed = not isinstance(data, Iterator)
        if getattr(data, "unbatched", False):
            raise ValueError(
                f"{name}: expected a dataset of batches, got one of single windows "
                "(timeseries_dataset_from_array(batch_size=None)); give it a batch_size"
            )
        if self.indexed:
            count = self._count()
            if count < 1:
                raise ValueError(f"{name}: expected a dataset with at least one batch, got none")
            self.steps = count if self.steps is None else min(self.steps, count)
        self._held = None  # an iterator's batch drawn by first() and not yet given out
        # A PyDataset's batches in the current pass (a range, or a shuffled array: a list of
        # 5e7 ints had taken 2.3 GB, where steps_per_epoch took two of them), and the next one.
        self._order: range | np.ndarray = range(0)
        self._next = 0
        self.exhausted = False

    def _count(self) -> int:
        """``len(self.data)``, its failure naming the dataset."""
        try:
            return len(self.data)
        except TypeError as exc:  # __len__ gave a float, say
            raise TypeError(f"{self.name}: len() of the dataset failed: {exc}") from None
        except ValueError as exc:  # a negative __len__
            raise ValueError(f"{self.name}: len() of the dataset failed: {exc}") from None

    def first(self):
        """The first batch, (x, y, sample_weight) (drawn, not consumed, from an iterator)."""
        if self.indexed:
            return unpack(self.data[0], self.name, self.need_y)
        if self._held is None:
            try:
                self._held = next(self.data)
            except StopIteration:
                raise ValueError(f"{self.name}: expected at least one batch, got none") from None
        return unpack(self._held, self.name, self.need_y)

    def _pass(self, rng) -> range | np.ndarray:
        """The order of a pass over a PyDataset's batches: shuffled with ``rng``, else theirs."""
        count = self._count()
        if rng is None:
            return range(count)
        try:
            return rng.permutation(count)
        except (MemoryError, ValueError):  # ValueError: NumPy's "array is too big"
            raise MemoryError(
                f"{self.name}: cannot shuffle the order of its {count:,} batches (its len()) in "
                "memory; give fit shuffle=False, or a dataset with fewer batches"
            ) from None

    def epoch(self, rng=None):
        """Yields one epoch's (x, y, sample_weight) batches."""
        if self.indexed:
            if not getattr(self.data, "shuffled_by_fit", True):
                rng = None  # batches whose order means something (a time series' windows)
            hook = getattr(self.data, "on_epoch_begin", None)
            if callable(hook):
                hook()
            for _ in range(self.steps):
                if self._next == len(self._order):  # a new pass over the dataset
                    self._order = self._pass(rng)
                    self._next = 0
                self._next += 1
                yield unpack(self.data[int(self._order[self._next - 1])], self.name, self.need_y)
            self.data.on_epoch_end()
            return
        given = 0
        while self.steps is None or given < self.steps:
            if self._held is not None:
                batch, self._held = self._held, None
            else:
                try:
                    batch = next(self.data)
                except StopIteration:
                    break
            given += 1
            yield unpack(batch, self.name, self.need_y)
        if self.steps is None:
            self.steps = given  # the first epoch's length is every epoch's
        elif given < self.steps:
            self.exhausted = True
            warnings.warn(
                f"{self.name}: the iterator ran out of data after {given} of "
                f"{self.steps} batches; give one that yields that many (in fit, for every "
                "epoch: steps_per_epoch times epochs)",
                RuntimeWarning,
                stacklevel=3,
            )
