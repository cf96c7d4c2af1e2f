"""Attention and AdditiveAttention, Keras's dot-product (Luong) and additive (Bahdanau)
attention layers, against torch written out (forward
and every gradient: query, value, key, the learnt scale, the attention weights' own gradient),
with the value's mask, the query's mask, a causal mask and dropout; in a model's graph, where
an Embedding's masks reach it, trained, saved and loaded."""

from __future__ import annotations

import numpy as np
import pytest

import fastlstm
from conftest import import_peer
from fastlstm import Model
from fastlstm.layers import (
    LSTM,
    AdditiveAttention,
    Attention,
    Concatenate,
    Dense,
    Embedding,
    Input,
)

B, TQ, TV, D = 3, 4, 5, 6


def _torch_attention(torch, q, v, k, scale, value_mask, query_mask, causal, keep, additive):
    if additive:
        scores = (scale * torch.tanh(q[:, :, None, :] + k[:, None, :, :])).sum(-1)
    else:
        scores = scale * (q @ k.transpose(1, 2))
    padding = torch.zeros(scores.shape, dtype=scores.dtype)
    if value_mask is not None:
        padding = padding + (~torch.from_numpy(value_mask))[:, None, :].to(scores.dtype)
    if causal:
        padding = torch.maximum(
            padding, torch.ones(scores.shape[1:]).triu(1)[None].to(scores.dtype)
        )
    weights = torch.softmax(scores - 1e9 * padding, dim=-1)
    out = (weights if keep is None else weights * torch.from_numpy(keep)) @ v
    if query_mask is not None:
        out = out * torch.from_numpy(query_mask)[..., None].to(out.dtype)
    return out, weights


@pytest.mark.parametrize("additive", [False, True], ids=["Attention", "AdditiveAttention"])
@pytest.mark.parametrize("keyed", [False, True], ids=["value-as-key", "key"])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"use_scale": True},
        {"masks": True},
        {"use_causal_mask": True},
        {"dropout": 0.4},
        {"return_attention_scores": True, "masks": True, "use_scale": True},
    ],
    ids=["plain", "scale", "masks", "causal", "dropout", "scores-masks-scale"],
)
def test_attention_against_torch_forward_and_backward(additive, keyed, options):
    torch = import_peer("torch")
    rng = np.random.default_rng(0)
    options = dict(options)
    masks = options.pop("masks", False)
    if additive:
        options.setdefault("use_scale", False)  # Keras's default is True: both are checked
        layer = AdditiveAttention(dtype="float64", seed=3, **options)
    else:
        layer = Attention(dtype="float64", seed=3, **options)
    tv = TQ if options.get("use_causal_mask") else TV
    q, v, k = (rng.standard_normal(s) for s in ((B, TQ, D), (B, tv, D), (B, tv, D)))
    inputs = [q, v, k] if keyed else [q, v]
    value_mask = query_mask = None
    if masks:
        value_mask = rng.random((B, tv)) > 0.3
        value_mask[:, 0] = True
        query_mask = rng.random((B, TQ)) > 0.3
    layer.build([a.shape for a in inputs])
    scale_value = rng.standard_normal(D) if additive else np.array(1.7)
    if layer.use_scale:
        layer.set_weights([scale_value])
    out, cache = layer.forward(inputs, training=True, mask=[query_mask, value_mask])
    keep = cache[6]  # the dropout mask drawn (None without dropout)
    assert (keep is None) == (layer.dropout == 0)
    ts = [torch.tensor(a, requires_grad=True) for a in (q, v, k)]
    scale = torch.tensor(
        scale_value if layer.use_scale else 1.0, dtype=torch.float64, requires_grad=True
    )
    key = ts[2] if keyed else ts[1]
    want, weights = _torch_attention(
        torch,
        ts[0],
        ts[1],
        key,
        scale,
        value_mask,
        query_mask,
        layer.use_causal_mask,
        keep,
        additive,
    )
    got = out[0] if layer.return_attention_scores else out
    np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-10, atol=1e-12)
    d_out = rng.standard_normal(got.shape)
    total = (want * torch.from_numpy(d_out)).sum()
    douts = d_out
    if layer.return_attention_scores:
        np.testing.assert_allclose(out[1], weights.detach().numpy(), rtol=1e-10, atol=1e-12)
        d_weights = rng.standard_normal(out[1].shape)
        total = total + (weights * torch.from_numpy(d_weights)).sum()
        douts = [d_out, d_weights]
    total.backward()
    grads = layer.backward(cache, douts)
    wanted = [ts[0].grad, ts[1].grad] + ([ts[2].grad] if keyed else [])
    assert len(grads) == len(wanted)
    for g, w in zip(grads, wanted, strict=True):
        np.testing.assert_allclose(g, w.numpy(), rtol=1e-9, atol=1e-11)
    if layer.use_scale:
        np.testing.assert_allclose(layer.grads[0], scale.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", [Attention, AdditiveAttention])
def test_attention_in_a_model_reads_the_masks_and_trains_saves_and_loads(kind, tmp_path):
    """Luong attention over an encoder's outputs: the padded source steps get no weight, the
    output's mask is the query's, and the model trains, saves and loads."""
    rng = np.random.default_rng(1)
    source, target = Input(shape=(TV,), dtype="int32"), Input(shape=(TQ, D))
    encoded = LSTM(D, return_sequences=True, seed=1)(
        Embedding(20, D, mask_zero=True, seed=2)(source)
    )
    decoded = LSTM(D, return_sequences=True, seed=3)(target)
    attention = kind(use_scale=True, return_attention_scores=True, seed=5)
    context, weights = attention([decoded, encoded])
    out = Dense(2, seed=4)(Concatenate()([decoded, context]))
    model = Model([source, target], out)
    scorer = Model([source, target], weights)
    tokens = rng.integers(1, 20, (B, TV))
    tokens[0, 3:] = 0
    x = [tokens, rng.standard_normal((B, TQ, D)).astype(np.float32)]
    w = scorer.predict(x, verbose=0)
    np.testing.assert_allclose(w.sum(axis=-1), 1.0, rtol=1e-6)
    assert np.all(w[0, :, 3:] < 1e-30)  # the padding gets no attention
    model.compile("adam", "mse")
    y = rng.standard_normal((B, TQ, 2)).astype(np.float32)
    model.fit(x, y, epochs=2, verbose=0)
    model.save(tmp_path / "m.fastlstm")
    loaded = fastlstm.load_model(tmp_path / "m.fastlstm")
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.get_layer(attention.name).return_attention_scores
    assert type(loaded.get_layer(attention.name)) is kind
    assert attention.scale.shape == ((D,) if kind is AdditiveAttention else ())


def test_attention_refuses_what_it_cannot_attend_to():
    with pytest.raises(ValueError, match=r"score_mode: only 'dot' is supported"):
        Attention(score_mode="concat")
    with pytest.raises(ValueError, match=r"expected \[query, value\] or \[query, value, key\]"):
        Attention()([Input(shape=(TQ, D))] * 4)
    with pytest.raises(ValueError, match=r"query's and key's features to agree"):
        Attention()([Input(shape=(TQ, D)), Input(shape=(TV, D + 1))])
    with pytest.raises(ValueError, match=r"value's and key's steps to agree"):
        Attention()([Input(shape=(TQ, D)), Input(shape=(TV, D)), Input(shape=(TV + 1, D))])
    with pytest.raises(ValueError, match=r"dropout"):
        Attention(dropout=1.0)
