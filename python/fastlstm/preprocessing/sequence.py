"""``keras.preprocessing.sequence``'s helpers: :func:`fastlstm.utils.pad_sequences`."""

from ..utils import pad_sequences

__all__ = ["pad_sequences"]
