"""Keras's ``StringLookup`` and ``IntegerLookup``, in NumPy: a recommender's user and item ids
(or any categorical feature) to indices an Embedding takes, with the vocabulary learnt by
``adapt`` from the training data, and back with ``invert=True``.

The vocabulary: ``mask_token`` (index 0) where one is given, then ``oov_token`` (every value
outside the vocabulary), then the values adapt saw, the most frequent first, ties broken by the
value, the larger first (Keras's order), at most ``max_tokens`` in all. Applied to the data
before ``fit`` (``idx = lookup(raw)``); a model refuses them as layers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._arrays import integer
from ..functional import _choice, _flag
from .vocabulary import VocabularyLayer, decoded

_MODES = ("int", "one_hot", "multi_hot", "count")


class _Lookup(VocabularyLayer):
    """What StringLookup and IntegerLookup share; subclasses say how values are read
    (``_values``) and what the tokens are."""

    _kind = "value"

    def __init__(
        self,
        max_tokens=None,
        num_oov_indices=1,
        mask_token=None,
        oov_token=None,
        vocabulary=None,
        idf_weights=None,
        invert=False,
        output_mode="int",
        pad_to_max_tokens=False,
        sparse=False,
        name=None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        oov = integer(num_oov_indices, "num_oov_indices", at_least=0)
        if oov > 1:
            raise ValueError(
                f"num_oov_indices: expected 0 or 1, got {oov} (several OOV indices hash the "
                "values, which is not built)"
            )
        self.num_oov_indices = oov
        self.mask_token, self.oov_token = mask_token, oov_token
        self.invert = _flag(invert, "invert")
        self.output_mode = _choice(output_mode, "output_mode", _MODES)
        if self.invert and self.output_mode != "int":
            raise ValueError("invert: True takes output_mode='int' alone")
        reserved = len(self._reserved())
        self.max_tokens = integer(max_tokens, "max_tokens", at_least=max(reserved, 1),
                                  allow_none=True)  # fmt: skip
        self.pad_to_max_tokens = _flag(pad_to_max_tokens, "pad_to_max_tokens")
        if self.pad_to_max_tokens and self.max_tokens is None:
            raise ValueError("pad_to_max_tokens: True needs max_tokens")
        if _flag(sparse, "sparse"):
            raise ValueError("sparse: expected False, got True: outputs are dense arrays")
        if idf_weights is not None:
            raise ValueError("idf_weights: output_mode 'tf_idf' is not built")
        self._set(self._reserved())
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)

    def _reserved(self) -> list:
        mask = [] if self.mask_token is None else [self.mask_token]
        return mask + [self.oov_token] * self.num_oov_indices

    def _values(self, data, name: str) -> np.ndarray:
        raise NotImplementedError

    # -- the vocabulary (VocabularyLayer's adapt and set_vocabulary) ----------------------

    def _tokens_of(self, x, name: str) -> list:
        return self._values(x, name).ravel().tolist()

    _listed = _tokens_of

    # -- calls ---------------------------------------------------------------------------------

    def call(self, x, training: bool = False, mask=None) -> np.ndarray:
        ids, vocabulary = self._ids, self._vocabulary  # one vocabulary for the whole call
        if self.invert:
            return self._inverted(x, vocabulary)
        values = self._values(x, "x")
        flat = values.ravel().tolist()
        oov = ids.get(self.oov_token) if self.num_oov_indices else None
        out = np.empty(len(flat), np.int64)
        for k, value in enumerate(flat):
            index = ids.get(value, oov)
            if index is None:
                raise ValueError(
                    f"x: {value!r} is not in the vocabulary, and num_oov_indices=0 maps no "
                    f"{self._kind} outside it"
                )
            out[k] = index
        out = out.reshape(values.shape)
        if self.output_mode == "int":
            return out
        width = self.max_tokens if self.pad_to_max_tokens else len(vocabulary)
        if self.output_mode == "one_hot":  # each value; a last axis of 1 is the one encoded
            if out.ndim >= 2 and out.shape[-1] == 1:
                out = out[..., 0]
            hot = np.zeros((*out.shape, width), np.float32)
            np.put_along_axis(hot, out[..., None], 1.0, axis=-1)
            return hot
        # multi_hot, count: the last axis is a sample's values, (..., k) -> (..., width)
        out = out.reshape(1) if out.ndim == 0 else out
        rows = out.reshape(-1, out.shape[-1])
        counts = np.zeros((len(rows), width), np.float32)
        for r, row in enumerate(rows):
            np.add.at(counts[r], row, 1.0)
        counts = counts.reshape(*out.shape[:-1], width)
        return np.minimum(counts, 1.0) if self.output_mode == "multi_hot" else counts

    def _inverted(self, x, vocabulary: list) -> np.ndarray:
        indices = np.asarray(x)
        if indices.dtype.kind not in "iu":
            raise TypeError(f"x: expected integer indices (invert=True), got {indices.dtype}")
        out = np.empty(indices.shape, object)
        flat = out.reshape(-1)
        for k, i in enumerate(indices.ravel().tolist()):
            flat[k] = vocabulary[i] if 0 <= i < len(vocabulary) else self.oov_token
        return self._as_values(out)

    def _as_values(self, out: np.ndarray) -> np.ndarray:
        return out

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "max_tokens": self.max_tokens,
            "num_oov_indices": self.num_oov_indices,
            "mask_token": self.mask_token,
            "oov_token": self.oov_token,
            "vocabulary": self.get_vocabulary(include_special_tokens=False),
            "invert": self.invert,
            "output_mode": self.output_mode,
            "pad_to_max_tokens": self.pad_to_max_tokens,
        }


class StringLookup(_Lookup):
    """Strings (any shape) to int64 indices (``output_mode="int"``; "one_hot" adds an axis of
    vocabulary_size, "multi_hot" and "count" give (N, vocabulary_size) per row), as Keras's
    ``StringLookup``; ``invert=True`` maps indices back to strings. ``num_oov_indices`` 1 (0:
    a value outside the vocabulary is an error); ``mask_token`` None by default."""

    default_name = "string_lookup"
    _kind = "string"

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]",
                 vocabulary=None, idf_weights=None, invert=False, output_mode="int",
                 pad_to_max_tokens=False, sparse=False, encoding="utf-8", name=None,
                 **kwargs: Any) -> None:  # fmt: skip
        if str(encoding).lower().replace("-", "") != "utf8":
            raise ValueError(f"encoding: expected 'utf-8', got {encoding!r}")
        for key, token in (("mask_token", mask_token), ("oov_token", oov_token)):
            if token is not None and not isinstance(token, str):
                raise TypeError(f"{key}: expected a str or None, got {type(token).__name__}")
        super().__init__(max_tokens, num_oov_indices, mask_token, oov_token, vocabulary,
                         idf_weights, invert, output_mode, pad_to_max_tokens, sparse, name,
                         **kwargs)  # fmt: skip

    def _values(self, data, name: str) -> np.ndarray:
        if isinstance(data, (str, bytes)):
            data = [data]
        array = np.asarray(data, dtype=object)
        flat = array.reshape(-1)
        for k, value in enumerate(flat.tolist()):
            flat[k] = decoded(value, name)
            if not isinstance(flat[k], str):
                raise TypeError(f"{name}: expected strings, got {type(value).__name__}")
        return array


class IntegerLookup(_Lookup):
    """Integers (any shape) to int64 indices, as Keras's ``IntegerLookup`` (its arguments as
    StringLookup's; ``oov_token`` -1 by default, ``mask_token`` None); ``invert=True`` maps
    indices back to the integers."""

    default_name = "integer_lookup"
    _kind = "integer"

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1,
                 vocabulary=None, vocabulary_dtype="int64", idf_weights=None, invert=False,
                 output_mode="int", sparse=False, pad_to_max_tokens=False, name=None,
                 **kwargs: Any) -> None:  # fmt: skip
        if vocabulary_dtype not in ("int64", "int32", np.int64, np.int32):
            raise ValueError(f"vocabulary_dtype: expected 'int64', got {vocabulary_dtype!r}")
        for key, token in (("mask_token", mask_token), ("oov_token", oov_token)):
            if token is not None:
                integer(token, key)
        super().__init__(max_tokens, num_oov_indices, mask_token, oov_token, vocabulary,
                         idf_weights, invert, output_mode, pad_to_max_tokens, sparse, name,
                         **kwargs)  # fmt: skip

    def _values(self, data, name: str) -> np.ndarray:
        if isinstance(data, (list, tuple)) and data and all(isinstance(v, str) for v in data):
            data = [int(v) for v in data]  # a vocabulary file's lines
        array = np.asarray(data)
        if array.dtype.kind not in "iu" and array.size:
            raise TypeError(f"{name}: expected integers, got {array.dtype}")
        return array.astype(np.int64)

    def _as_values(self, out: np.ndarray) -> np.ndarray:
        return out.astype(np.int64)
