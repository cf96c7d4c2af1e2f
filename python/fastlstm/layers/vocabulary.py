"""What Keras's vocabulary layers (TextVectorization, StringLookup, IntegerLookup) share: a
vocabulary of reserved tokens (mask, OOV) then learnt ones, learnt by ``adapt`` (the most
frequent first, ties broken by the token, the larger first, as Keras's index lookup orders
them), set from a list or a file, read back; and their place, the data before ``fit``, never a
model (they map texts and ids, not a model's arrays)."""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

from .._batches import is_dataset, unpack
from .._graph import KerasTensor
from ..functional import _flag
from .base import Layer


def decoded(value, where: str):
    """``value`` as a str where it is one or UTF-8 bytes (ValueError naming ``where`` for
    other bytes); anything else as it is, for the caller to refuse."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"{where}: expected UTF-8 text, got {exc.reason} at byte {exc.start}"
            ) from None
    return value


class VocabularyLayer(Layer):
    """Subclasses give ``_reserved()`` (the tokens before the learnt ones), ``_tokens_of(x,
    name)`` (a batch's tokens, for adapt), ``_listed(vocabulary, name)`` (a vocabulary list's
    tokens) and ``max_tokens``."""

    _data_only = True  # models refuse it (Sequential.add)
    max_tokens: int | None = None

    def _reserved(self) -> list:
        raise NotImplementedError

    def _tokens_of(self, x, name: str) -> list:
        raise NotImplementedError

    def _listed(self, vocabulary, name: str) -> list:
        raise NotImplementedError

    def adapt(self, data, batch_size=None, steps=None) -> None:
        """Learn the vocabulary from ``data``, or from a dataset of batches (``x`` or ``(x,
        y)``: its x; ``steps`` batches at most). ``batch_size`` is taken as Keras's and changes
        nothing."""
        counts: Counter = Counter()
        if not is_dataset(data):
            counts.update(self._tokens_of(data, "data"))
        else:
            batches = data if not hasattr(data, "__len__") else (data[i] for i in range(len(data)))
            for k, batch in enumerate(batches):
                if steps is not None and k >= steps:
                    break
                counts.update(self._tokens_of(unpack(batch, "data", need_y=False)[0], "data"))
        reserved = self._reserved()
        for token in reserved:
            counts.pop(token, None)
        ordered = sorted(counts.items(), key=lambda item: (item[1], item[0]), reverse=True)
        if self.max_tokens is not None:
            ordered = ordered[: self.max_tokens - len(reserved)]
        self._set([*reserved, *(token for token, _ in ordered)])

    def set_vocabulary(self, vocabulary, idf_weights=None) -> None:
        """Set the vocabulary: a list (without the reserved tokens, or starting with them as
        get_vocabulary gives them), or the path of a file of one token a line."""
        if idf_weights is not None:
            raise ValueError("idf_weights: output_mode 'tf_idf' is not built")
        where, first = "vocabulary[{}]", 0  # how an entry is named, and its first number
        if isinstance(vocabulary, (str, os.PathLike)):  # a file of one token a line
            where, first = f"vocabulary (line {{}} of {os.fspath(vocabulary)!r})", 1
            with open(vocabulary, encoding="utf-8") as f:
                vocabulary = f.read().splitlines()
            while vocabulary and not vocabulary[-1]:  # the file's last newlines
                vocabulary.pop()
        tokens = self._listed(vocabulary, "vocabulary")
        reserved = self._reserved()
        skipped = len(reserved) if tokens[: len(reserved)] == reserved else 0
        tokens = tokens[skipped:]
        for k, token in enumerate(tokens):
            if token in reserved:
                at = where.format(k + skipped + first)
                raise ValueError(f"{at}: {token!r} is reserved (the mask or OOV token)")
        if len(set(tokens)) != len(tokens):
            repeated = next(t for t in tokens if tokens.count(t) > 1)
            raise ValueError(f"vocabulary: {repeated!r} is listed more than once")
        if self.max_tokens is not None and len(tokens) + len(reserved) > self.max_tokens:
            raise ValueError(
                f"vocabulary: {len(tokens) + len(reserved)} tokens with the reserved ones, more "
                f"than max_tokens={self.max_tokens}"
            )
        self._set([*reserved, *tokens])

    def _set(self, vocabulary: list) -> None:
        ids: dict = {}
        for i, token in enumerate(vocabulary):
            ids.setdefault(token, i)
        self._vocabulary, self._ids = vocabulary, ids  # swapped in together

    def get_vocabulary(self, include_special_tokens: bool = True) -> list:
        skip = (
            0 if _flag(include_special_tokens, "include_special_tokens") else len(self._reserved())
        )
        return list(self._vocabulary[skip:])

    def vocabulary_size(self) -> int:
        return len(self._vocabulary)

    def __call__(self, x, training: bool = False, mask=None) -> Any:
        if isinstance(x, KerasTensor):
            raise TypeError(
                f"{type(self).__name__} {self.name!r}: a model takes numbers only; apply it to "
                "the data before fit and give the model what it gives"
            )
        return self.call(x)

    def forward(self, x, training: bool = False, mask=None):
        return self.call(x), None

    def backward(self, cache, dout):
        raise TypeError(f"{type(self).__name__}: its input has no gradient (not a model's layer)")

    @classmethod
    def from_config(cls, config: dict[str, Any]):
        config = dict(config)
        for key in ("vocabulary_size", "vocabulary_dtype", "encoding", "sparse", "idf_weights"):
            config.pop(key, None)  # Keras 3's keys that say nothing here
        return cls(**config)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, vocabulary_size={self.vocabulary_size()})"
        )
