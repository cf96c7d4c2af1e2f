"""Keras's ``TextVectorization``, in NumPy and Python strings: text to token ids (or to
multi-hot and count vectors) for a language or text model, with the vocabulary learnt by
``adapt`` from the training texts, as keras.io's text examples use it, and applied to the data
before ``fit`` (``x_ids = vectorize(x_texts)``), as Keras recommends for speed.

Each text goes through ``standardize`` ("lower_and_strip_punctuation": lower case, then ASCII
punctuation removed, Keras's default), ``split`` ("whitespace": runs of whitespace; "character";
None: the whole text one token), then ``ngrams`` (n-grams of 1 to n tokens, or of the sizes
listed, joined by a space, as Keras's). The vocabulary: in ``output_mode="int"`` the mask ""
(id 0) and "[UNK]" (id 1, every token outside the vocabulary) first; in "multi_hot" and
"count", "[UNK]" (0) first; then the tokens adapt saw, the most frequent first, ties broken by
the token, the later in code-point order first (Keras's order), at most ``max_tokens`` in all.
"""

from __future__ import annotations

import re
import string
from typing import Any

import numpy as np

from .._arrays import integer
from ..functional import _choice, _flag
from .vocabulary import VocabularyLayer, decoded

MASK, OOV = "", "[UNK]"
# Keras's DEFAULT_STRIP_REGEX: the ASCII punctuation characters
_PUNCTUATION = re.compile("[" + re.escape(string.punctuation) + "]")
_STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
_SPLIT = ("whitespace", "character")
_MODES = ("int", "multi_hot", "count")


def _texts(data, name: str) -> list[str]:
    """A batch of texts as a list of str: a str, a list or tuple of them, or an array of
    strings (bytes decoded as UTF-8)."""
    if isinstance(data, (str, bytes)):
        data = [data]
    array = np.asarray(data, dtype=object) if isinstance(data, (list, tuple)) else data
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name}: expected texts (str, a list or an array of them), got "
                        f"{type(data).__name__}")  # fmt: skip
    if array.ndim == 2 and array.shape[1] == 1:  # Keras's (N, 1) column of texts
        array = array[:, 0]
    if array.ndim != 1:
        raise ValueError(
            f"{name}: expected a batch of texts (N,) or (N, 1), got shape {array.shape}"
        )
    texts = []
    for k, text in enumerate(array.tolist()):
        text = decoded(text, f"{name}[{k}]")
        if not isinstance(text, str):
            raise TypeError(f"{name}[{k}]: expected a str, got {type(text).__name__}")
        texts.append(text)
    return texts


class TextVectorization(VocabularyLayer):
    """Texts (N,) to token ids (N, L) (``output_mode="int"``: L is ``output_sequence_length``,
    shorter ones padded with 0 and longer cut on the right, else the batch's longest), or to
    (N, vocabulary_size) vectors ("multi_hot": 1 where a token occurs, "count": how often; with
    ``pad_to_max_tokens`` max_tokens wide). ``standardize`` and ``split`` also take a function
    of one str (to a str, to a list of str). ``vocabulary`` (a list, or a file of one token a
    line) sets it at once; :meth:`adapt` learns it. See the module for the rules.

    A preprocessing layer applied to the data, not a model's layer: it has no weights, and a
    model refuses it (map the texts to ids before ``fit``). ``tf_idf`` and ``sparse``/``ragged``
    outputs are not built."""

    default_name = "text_vectorization"

    def __init__(
        self,
        max_tokens: int | None = None,
        standardize: Any = "lower_and_strip_punctuation",
        split: Any = "whitespace",
        ngrams: Any = None,
        output_mode: str = "int",
        output_sequence_length: int | None = None,
        pad_to_max_tokens: bool = False,
        vocabulary: Any = None,
        idf_weights: Any = None,
        sparse: bool = False,
        ragged: bool = False,
        encoding: str = "utf-8",
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.output_mode = _choice(output_mode, "output_mode", _MODES)
        reserved = 2 if self.output_mode == "int" else 1
        self.max_tokens = integer(max_tokens, "max_tokens", at_least=reserved, allow_none=True)
        if standardize is not None and not callable(standardize):
            standardize = _choice(standardize, "standardize", _STANDARDIZE)
        if split is not None and not callable(split):
            split = _choice(split, "split", _SPLIT)
        self.standardize, self.split = standardize, split
        self.ngrams = self._check_ngrams(ngrams)
        self.output_sequence_length = integer(
            output_sequence_length, "output_sequence_length", at_least=1, allow_none=True
        )
        if self.output_sequence_length is not None and self.output_mode != "int":
            raise ValueError("output_sequence_length: only output_mode='int' takes it")
        self.pad_to_max_tokens = _flag(pad_to_max_tokens, "pad_to_max_tokens")
        if self.pad_to_max_tokens and self.max_tokens is None:
            raise ValueError("pad_to_max_tokens: True needs max_tokens")
        for key, value in (("sparse", sparse), ("ragged", ragged)):
            if _flag(value, key):
                raise ValueError(f"{key}: expected False, got True: outputs are dense arrays")
        if idf_weights is not None:
            raise ValueError("idf_weights: output_mode 'tf_idf' is not built")
        if str(encoding).lower().replace("-", "") != "utf8":
            raise ValueError(f"encoding: expected 'utf-8', got {encoding!r}")
        self._set(self._reserved())
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)

    @staticmethod
    def _check_ngrams(ngrams):
        if ngrams is None:
            return None
        if isinstance(ngrams, (tuple, list)):
            sizes = tuple(integer(n, f"ngrams[{k}]", at_least=1) for k, n in enumerate(ngrams))
            if not sizes:
                raise ValueError("ngrams: expected an int or a non-empty tuple, got ()")
            return sizes
        return integer(ngrams, "ngrams", at_least=1)

    def _reserved(self) -> list[str]:
        return [MASK, OOV] if self.output_mode == "int" else [OOV]

    # -- text to tokens --------------------------------------------------------------------

    def _tokens(self, text: str) -> list[str]:
        standardize, split = self.standardize, self.split
        if callable(standardize):
            text = standardize(text)
        elif standardize is not None:
            if standardize.startswith("lower"):
                text = text.lower()
            if standardize.endswith("punctuation"):
                text = _PUNCTUATION.sub("", text)
        if callable(split):
            tokens = list(split(text))
        elif split == "whitespace":
            tokens = text.split()
        elif split == "character":
            tokens = list(text)
        else:
            tokens = [text]
        if self.ngrams is None:
            return tokens
        sizes = range(1, self.ngrams + 1) if isinstance(self.ngrams, int) else self.ngrams
        return [" ".join(tokens[i : i + n]) for n in sizes for i in range(len(tokens) - n + 1)]

    # -- the vocabulary (VocabularyLayer's adapt and set_vocabulary) ----------------------

    def _tokens_of(self, x, name: str) -> list[str]:
        return [token for text in _texts(x, name) for token in self._tokens(text)]

    def _listed(self, vocabulary, name: str) -> list[str]:
        return _texts(vocabulary, name)

    # -- calls ---------------------------------------------------------------------------------

    def call(self, x, training: bool = False, mask=None) -> np.ndarray:
        ids, vocabulary = self._ids, self._vocabulary  # one vocabulary for the whole batch
        texts = _texts(x, "x")
        oov = ids[OOV]
        rows = [[ids.get(token, oov) for token in self._tokens(text)] for text in texts]
        if self.output_mode == "int":
            length = self.output_sequence_length or max((len(r) for r in rows), default=0)
            out = np.zeros((len(rows), length), np.int64)
            for r, row in enumerate(rows):
                row = row[:length]
                out[r, : len(row)] = row
            return out
        width = self.max_tokens if self.pad_to_max_tokens else len(vocabulary)
        out = np.zeros((len(rows), width), np.float32)
        for r, row in enumerate(rows):
            np.add.at(out[r], row, 1.0)
        return np.minimum(out, 1.0) if self.output_mode == "multi_hot" else out

    def compute_output_shape(self, input_shape) -> tuple:
        if self.output_mode == "int":
            return (input_shape[0], self.output_sequence_length)
        return (
            input_shape[0],
            self.max_tokens if self.pad_to_max_tokens else len(self._vocabulary),
        )

    def get_config(self) -> dict[str, Any]:
        if callable(self.standardize) or callable(self.split):
            raise TypeError(
                f"TextVectorization {self.name!r}: a standardize or split function cannot be "
                "written into a config"
            )
        return {
            "name": self.name,
            "max_tokens": self.max_tokens,
            "standardize": self.standardize,
            "split": self.split,
            "ngrams": self.ngrams,
            "output_mode": self.output_mode,
            "output_sequence_length": self.output_sequence_length,
            "pad_to_max_tokens": self.pad_to_max_tokens,
            "vocabulary": self.get_vocabulary(include_special_tokens=False),
        }
