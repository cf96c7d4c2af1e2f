"""Keras's older home of the sequence helpers, for code that imports them from there
(``keras.preprocessing.timeseries_dataset_from_array``,
``keras.preprocessing.sequence.pad_sequences``): the same functions as :mod:`fastlstm.utils`."""

from ..utils import pad_sequences, timeseries_dataset_from_array
from . import sequence

__all__ = ["pad_sequences", "sequence", "timeseries_dataset_from_array"]
