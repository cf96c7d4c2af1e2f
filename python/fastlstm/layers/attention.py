"""Keras's dot-product attention (Luong's): ``Attention()([query, value])`` or
``([query, value, key])``, the key being the value where none is given.

    scores  = scale · query · keyᵀ               (B, Tq, Tv); scale 1, or learnt (use_scale)
    weights = softmax(scores − 1e9 · padding)    over Tv; padding: the value's masked steps and,
                                                 with use_causal_mask, the steps after the query's
    output  = dropout(weights) · value           (B, Tq, dim), zero at the query's masked steps

As Keras 3's (the same 1e9, the same masks: the value's mask pads, the query's mask zeroes the
output and is the output's mask). ``use_causal_mask`` and ``return_attention_scores`` are
Keras's call arguments; here they are the layer's (a model's graph passes its layers nothing but
tensors): with ``return_attention_scores`` the layer gives ``[output, weights]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import initializers
from .._arrays import check_room, real_number
from ..functional import _flag
from .base import Layer, dropout_mask, input_array

_PADDING = 1e9  # what a masked score loses (Keras's, for float32 and float64)


class Attention(Layer):
    """Dot-product attention over a list ``[query, value]`` or ``[query, value, key]``: query
    (B, Tq, dim), value and key (B, Tv, dim). ``use_scale`` learns the scores' scale (the weight
    ``scale``, from 1); ``dropout`` drops attention weights in training (the kept ones scaled
    by 1/(1 - dropout)); ``score_mode`` "dot" (Keras's "concat" is not supported)."""

    default_name = "attention"
    takes_list = True  # a functional model passes the layer a list of tensors

    def __init__(
        self,
        use_scale: bool = False,
        score_mode: str = "dot",
        dropout: float = 0.0,
        *,
        use_causal_mask: bool = False,
        return_attention_scores: bool = False,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        if score_mode != "dot":
            raise ValueError(
                f"score_mode: only 'dot' is supported (Keras's 'concat', tanh of the sum, is "
                f"not), got {score_mode!r}"
            )
        super().__init__(seed=seed, **kwargs)
        self.use_scale = _flag(use_scale, "use_scale")
        self.score_mode = score_mode  # AdditiveAttention's is its own
        self.dropout = real_number(dropout, "dropout", at_least=0, below=1)
        self.use_causal_mask = _flag(use_causal_mask, "use_causal_mask")
        self.return_attention_scores = _flag(return_attention_scores, "return_attention_scores")
        self.weight_names = ("scale",) if self.use_scale else ()

    scale = property(lambda self: self._weights.get("scale"), doc="The scores' learnt scale.")

    def _weight_shapes(self, first_shape):
        return {"scale": ()}

    def build(self, input_shape) -> None:
        self.compute_output_shape(input_shape)  # checks the shapes
        if self.use_scale:
            self._replace_weights([np.ones((), self.dtype)])
        self.built_input_shape = tuple(tuple(s) for s in input_shape)

    def _ensure_built(self, x) -> None:
        self._ensure_built_from_list(x, "a list [query, value] or [query, value, key]")

    def compute_output_shape(self, input_shape):
        shapes = [tuple(s) for s in input_shape] if isinstance(input_shape, (list, tuple)) else []
        if len(shapes) not in (2, 3) or any(len(s) != 3 for s in shapes):
            raise ValueError(
                f"{self.name}: expected [query, value] or [query, value, key], each 3-D (batch, "
                f"steps, features), got {input_shape!r}"
            )
        q, v, k = (*shapes, shapes[1])[:3]
        agree = [
            (q[2], k[2], "query's and key's features"),
            (v[1], k[1], "value's and key's steps"),
        ]
        agree.append((q[0], v[0], "batch sizes"))
        for a, b, what in agree:
            if a is not None and b is not None and a != b:
                raise ValueError(f"{self.name}: expected the {what} to agree, got {shapes}")
        out = (q[0], q[1], v[2])
        return [out, (q[0], q[1], v[1])] if self.return_attention_scores else out

    def compute_mask(self, x, mask=None):
        query_mask = mask[0] if isinstance(mask, (list, tuple)) and mask else None
        return [query_mask, None] if self.return_attention_scores else query_mask

    def call(self, x, training: bool = False, mask=None):
        return self.forward(x, training=training, mask=mask)[0]

    def forward(self, x, training: bool = False, mask=None):
        self._ensure_built(x)
        arrays = [input_array(a, f"x[{i}]", dtype=self.dtype) for i, a in enumerate(x)]
        self.compute_output_shape([a.shape for a in arrays])
        q, v = arrays[0], arrays[1]
        k = arrays[2] if len(arrays) == 3 else v
        masks = list(mask) if isinstance(mask, (list, tuple)) else []
        query_mask, value_mask = [*masks, None, None][:2]  # a key's mask is not read (Keras)
        what = (
            f"its scores for {q.shape[1]} query and {k.shape[1]} key steps (batch "
            f"{q.shape[0]}) and their working copies"
        )
        values = q.shape[0] * q.shape[1] * k.shape[1] * self._score_copies(q.shape[2])
        check_room(f"layer {self.name!r}", values, self.dtype, what)
        scores, saved = self._scores(q, k)
        padding = self._padding(scores.shape, value_mask)
        if padding is not None:
            scores = scores - self.dtype.type(_PADDING) * padding
        weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
        weights /= weights.sum(axis=-1, keepdims=True)
        keep = None
        if training and self.dropout > 0:
            keep = dropout_mask(self.noise_rng, weights.shape, self.dropout, self.dtype)
        dropped = weights if keep is None else weights * keep
        out = dropped @ v
        kept = None if query_mask is None else np.asarray(query_mask, bool)[..., None]
        if kept is not None:
            out = np.where(kept, out, 0).astype(self.dtype)
        cache = (q, v, k, len(arrays) == 3, saved, weights, keep, kept)
        return ([out, weights] if self.return_attention_scores else out), cache

    def _padding(self, shape, value_mask):
        """1 where a score is masked out (B, Tq, Tv), or None."""
        padding = None
        if value_mask is not None:
            padding = ~np.asarray(value_mask, bool)[:, None, :]
        if self.use_causal_mask:
            later = np.triu(np.ones(shape[1:], bool), k=1)[None]  # key steps after the query's
            padding = later if padding is None else padding | later
        return None if padding is None else padding.astype(self.dtype)

    def backward(self, cache, dout):
        """[dquery, dvalue] (and dkey where a key was given), from dL/d(output) (and, with
        return_attention_scores, dL/d(weights); either may be None)."""
        q, v, k, keyed, saved, weights, keep, kept = cache
        d_out, d_weights = dout if self.return_attention_scores else (dout, None)
        batch, tq, _ = weights.shape
        d_out = (
            np.zeros((batch, tq, v.shape[2]), self.dtype)
            if d_out is None
            else self._dout(d_out, (batch, tq, v.shape[2]))
        )
        if kept is not None:
            d_out = np.where(kept, d_out, 0).astype(self.dtype)
        dropped = weights if keep is None else weights * keep
        dv = dropped.transpose(0, 2, 1) @ d_out
        dw = d_out @ v.transpose(0, 2, 1)
        if keep is not None:
            dw = dw * keep
        if d_weights is not None:
            dw = dw + self._dout(d_weights, weights.shape)
        ds = weights * (dw - (dw * weights).sum(axis=-1, keepdims=True))  # through the softmax
        dq, dk, dscale = self._score_grads(ds, q, k, saved)
        if self.use_scale:
            self._keep_grads({"scale": dscale})
        else:
            self.grads = []
        return [dq, dv, dk] if keyed else [dq, dv + dk]

    # -- the scores (B, Tq, Tv) and their gradients: the one difference of AdditiveAttention

    def _scale(self):
        return self._weights["scale"] if self.use_scale else self.dtype.type(1.0)

    def _score_copies(self, dim: int) -> int:
        """Arrays of the scores' size (B, Tq, Tv) a call holds at once, about: the products,
        the scores, their padding, exponentials and the weights, dropped."""
        return 6

    def _scores(self, q, k):
        """(scale · q · kᵀ, what the gradients need: q · kᵀ)."""
        products = q @ k.transpose(0, 2, 1)
        return self._scale() * products, products

    def _score_grads(self, ds, q, k, products):
        """(dq, dk, dscale) from dL/d(scores)."""
        scale = self._scale()
        dscale = np.asarray((ds * products).sum(), self.dtype)
        return scale * (ds @ k), scale * (ds.transpose(0, 2, 1) @ q), dscale

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "use_scale": self.use_scale,
            "score_mode": self.score_mode,
            "dropout": self.dropout,
            "use_causal_mask": self.use_causal_mask,
            "return_attention_scores": self.return_attention_scores,
        }


class AdditiveAttention(Attention):
    """Keras's additive (Bahdanau) attention: the scores are Σ_d scale_d · tanh(query_d +
    key_d) over the features, each query step against each key step, with ``scale`` (dim,)
    learnt (glorot-uniform, as Keras's) where ``use_scale`` (True by default), 1 otherwise;
    the rest is :class:`Attention`'s."""

    default_name = "additive_attention"

    def __init__(
        self,
        use_scale: bool = True,
        dropout: float = 0.0,
        *,
        use_causal_mask: bool = False,
        return_attention_scores: bool = False,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            use_scale,
            "dot",
            dropout,
            use_causal_mask=use_causal_mask,
            return_attention_scores=return_attention_scores,
            seed=seed,
            **kwargs,
        )
        self.score_mode = "additive"
        self._init = initializers.resolve("glorot_uniform", "scale")

    def _weight_shapes(self, first_shape):
        return {"scale": tuple(first_shape)}

    def build(self, input_shape) -> None:
        self.compute_output_shape(input_shape)  # checks the shapes
        if self.use_scale:
            features = input_shape[0][-1]
            if features is None:
                raise ValueError(
                    f"{self.name}: expected the query's features known (scale has one weight "
                    f"per feature), got {input_shape!r}"
                )
            self._replace_weights([self._init((int(features),), self.dtype, self._weight_rng())])
        self.built_input_shape = tuple(tuple(s) for s in input_shape)

    def _score_copies(self, dim: int) -> int:
        """Attention's, and the sum q + k and its tanh, (B, Tq, Tv, dim) each."""
        return 6 + 2 * dim

    def _scores(self, q, k):
        """(Σ scale · tanh(q + k) over the features, the tanh (B, Tq, Tv, dim))."""
        t = np.tanh(q[:, :, None, :] + k[:, None, :, :])
        return (t * self._scale()).sum(axis=-1), t

    def _score_grads(self, ds, q, k, t):
        dt = ds[..., None] * self._scale()
        dpre = dt * (1 - t * t)  # through the tanh
        dscale = np.asarray((ds[..., None] * t).sum(axis=(0, 1, 2)), self.dtype)
        return dpre.sum(axis=2), dpre.sum(axis=1), dscale

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["score_mode"]
        return config
