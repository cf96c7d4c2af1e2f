"""SparseCategoricalCrossentropy(ignore_class=...), Keras 3's: labels equal to it add nothing to
the loss, leave the mean's count and get no gradient. Checked against a NumPy formula, torch's
cross_entropy(ignore_index=...), finite differences, and a model trained with the sample
weights that give the same loss."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from fastlstm import losses, optimizers
from fastlstm.layers import LSTM, Dense, Embedding, Input
from fastlstm.models import Sequential, load_model
from test_losses import numeric_grad

RNG = np.random.default_rng(7)
B, T, C = 4, 6, 5
PAD = -1


def softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def padded_labels(ignore=PAD, rng=RNG, n=B):
    """(n, T) labels in [0, C), right-padded with ``ignore`` to lengths 1..T."""
    labels = rng.integers(0, C, (n, T))
    lengths = rng.integers(1, T + 1, n)
    labels[np.arange(T) >= lengths[:, None]] = ignore
    return labels


def expected(labels, p, ignore, w=None, mask=None):
    """Keras 3's value: sum over the kept entries of -log p[label] (times the weights) divided
    by the number of kept entries."""
    kept = labels != ignore if mask is None else (labels != ignore) & mask
    safe = np.where(kept, labels, 0)
    nll = -np.log(np.take_along_axis(p, safe[..., None], -1)[..., 0])
    w = np.ones(labels.shape) if w is None else np.broadcast_to(w.reshape(len(w), -1), kept.shape)
    return (nll * w)[kept].sum() / max(kept.sum(), 1)


@pytest.mark.parametrize("ignore", [PAD, 0, 255])
@pytest.mark.parametrize("from_logits", [True, False])
def test_value_matches_the_numpy_formula(ignore, from_logits):
    labels = padded_labels(ignore)
    z = 2 * RNG.standard_normal((B, T, C))
    y_pred = z if from_logits else softmax(z)
    if not from_logits:
        y_pred[labels == ignore] = 0.0  # what an ignored entry holds does not matter
    p = softmax(z)
    loss = losses.SparseCategoricalCrossentropy(from_logits=from_logits, ignore_class=ignore)
    assert loss(labels, y_pred) == pytest.approx(expected(labels, p, ignore), rel=1e-12)
    assert loss(labels[..., None], y_pred) == pytest.approx(loss(labels, y_pred), rel=1e-15)
    w = RNG.uniform(0.5, 2, B)  # weights scale the kept entries, not their count
    assert loss(labels, y_pred, w) == pytest.approx(expected(labels, p, ignore, w), rel=1e-12)
    mask = RNG.random((B, T)) > 0.3  # the model's mask: both must hold
    mask[0, 0] = True
    want = expected(labels, p, ignore, mask=mask)
    assert loss(labels, y_pred, mask=mask) == pytest.approx(want, rel=1e-12)
    kept = labels != ignore
    nll = -np.log(np.take_along_axis(p, np.where(kept, labels, 0)[..., None], -1)[..., 0])
    for reduction, want in [("sum", (nll * kept).sum()), ("none", nll * kept)]:
        other = losses.SparseCategoricalCrossentropy(from_logits, ignore, reduction)
        np.testing.assert_allclose(other(labels, y_pred), want, rtol=1e-12)
    per_entry = losses.sparse_categorical_crossentropy(
        labels, y_pred, from_logits=from_logits, ignore_class=ignore
    )
    np.testing.assert_allclose(per_entry, nll * kept, rtol=1e-12)  # Keras's function: 0 there


def test_it_equals_torch_cross_entropy_with_ignore_index(torch):
    labels = padded_labels(PAD)
    z = 3 * RNG.standard_normal((B, T, C))
    zt = torch.tensor(z.transpose(0, 2, 1).copy(), requires_grad=True)  # torch's (B, C, T)
    target = torch.tensor(labels)
    for reduction, fastlstm_reduction in [("mean", "sum_over_batch_size"), ("sum", "sum")]:
        ours = losses.SparseCategoricalCrossentropy(True, PAD, fastlstm_reduction)
        value, grad = ours.value_and_grad(labels, z)
        zt.grad = None
        theirs = torch.nn.functional.cross_entropy(
            zt, target, ignore_index=PAD, reduction=reduction
        )
        theirs.backward()
        assert value == pytest.approx(theirs.item(), rel=1e-12)
        np.testing.assert_allclose(grad, zt.grad.numpy().transpose(0, 2, 1), rtol=1e-10, atol=1e-15)
    p = softmax(z)  # from probabilities: torch's nll_loss of their log
    logp = torch.tensor(np.log(p).transpose(0, 2, 1).copy())
    theirs = torch.nn.functional.nll_loss(logp, target, ignore_index=PAD).item()
    ours = losses.SparseCategoricalCrossentropy(ignore_class=PAD)(labels, p)
    assert ours == pytest.approx(theirs, rel=1e-12)


@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_gradient_matches_finite_differences_and_is_zero_where_ignored(from_logits, weighted):
    labels = padded_labels(PAD)
    z = RNG.standard_normal((B, T, C))
    y_pred = z if from_logits else softmax(z)
    w = RNG.uniform(0.5, 2, B) if weighted else None
    loss = losses.SparseCategoricalCrossentropy(from_logits=from_logits, ignore_class=PAD)
    value, grad = loss.value_and_grad(labels, y_pred.copy(), w)
    assert value == pytest.approx(loss(labels, y_pred, w), rel=1e-14)
    assert np.all(grad[labels == PAD] == 0)
    np.testing.assert_allclose(
        grad, numeric_grad(lambda q: loss(labels, q, w), y_pred.copy()), rtol=1e-5, atol=1e-8
    )


def test_everything_ignored_is_a_loss_of_zero():
    """Keras 3 divides by the kept count with divide_no_nan: 0, not nan."""
    loss = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD)
    value, grad = loss.value_and_grad(np.full((2, 3), PAD), RNG.standard_normal((2, 3, C)))
    assert value == 0.0
    assert not grad.any()


def test_zero_sample_weights_are_not_the_same_loss():
    """Keras 3's mean counts only the kept entries; weights of 0 on the others keep them in the
    count (sum over B*T). Scaled by B*T / kept, the weights give the same loss and gradient."""
    labels = padded_labels(PAD)
    z = RNG.standard_normal((B, T, C))
    kept = labels != PAD
    ignoring = losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD)
    plain = losses.SparseCategoricalCrossentropy(from_logits=True)
    filled = np.where(kept, labels, 0)
    value, grad = ignoring.value_and_grad(labels, z)
    zeroed = plain(filled, z, kept.astype(float))
    assert zeroed == pytest.approx(value * kept.sum() / kept.size, rel=1e-12)
    scaled = plain.value_and_grad(filled, z, kept * (kept.size / kept.sum()))
    assert scaled[0] == pytest.approx(value, rel=1e-12)
    np.testing.assert_allclose(scaled[1], grad, rtol=1e-12, atol=1e-18)


def tagger(loss) -> Sequential:
    model = Sequential(
        [Input((T, 3)), LSTM(4, return_sequences=True, dtype="float64"), Dense(C, dtype="float64")],
        seed=3,
    )
    model.compile(optimizers.SGD(0.5), loss)
    return model


def test_training_with_ignore_class_equals_training_with_the_sample_weights_of_its_mean():
    """The same weights after two epochs of batches of 4 (no shuffling): ignore_class, and the
    weights kept * (batch entries / kept entries in the batch) on labels filled in with 0."""
    rng = np.random.default_rng(11)
    n, batch = 12, 4
    x = rng.standard_normal((n, T, 3))
    labels = padded_labels(PAD, rng, n)
    kept = labels != PAD
    weights = np.zeros((n, T))
    for s in range(0, n, batch):
        part = kept[s : s + batch]
        weights[s : s + batch] = part * (part.size / part.sum())
    ignoring = tagger(losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD))
    weighted = tagger(losses.SparseCategoricalCrossentropy(from_logits=True))
    a = ignoring.fit(x, labels, batch_size=batch, epochs=2, shuffle=False, verbose=0)
    b = weighted.fit(
        x,
        np.where(kept, labels, 0),
        batch_size=batch,
        epochs=2,
        shuffle=False,
        verbose=0,
        sample_weight=weights,
    )
    np.testing.assert_allclose(a.history["loss"], b.history["loss"], rtol=1e-12)
    for wa, wb in zip(ignoring.get_weights(), weighted.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-12, atol=1e-15)
    changed = tagger(losses.SparseCategoricalCrossentropy(from_logits=True))
    assert not np.allclose(changed.get_weights()[0], ignoring.get_weights()[0])  # it trained


def test_a_model_mask_and_ignore_class_both_leave_entries_out():
    """Embedding(mask_zero) masks padded steps; ignore_class leaves out labelled ones too
    (Keras 3 joins the two masks: in_mask & out_mask)."""
    rng = np.random.default_rng(5)
    tokens = rng.integers(1, 9, (6, T))
    tokens[:, 4:] = 0  # padding the mask covers
    labels = rng.integers(0, C, (6, T))
    labels[:, 1] = PAD  # entries only ignore_class leaves out
    model = Sequential(
        [
            Input((T,)),
            Embedding(9, 3, mask_zero=True, dtype="float64"),
            LSTM(4, return_sequences=True, dtype="float64"),
            Dense(C, dtype="float64"),
        ],
        seed=1,
    )
    model.compile("sgd", losses.SparseCategoricalCrossentropy(from_logits=True, ignore_class=PAD))
    got = model.evaluate(tokens, labels, batch_size=6, verbose=0)
    p = softmax(model.predict(tokens, verbose=0))
    assert got == pytest.approx(expected(labels, p, PAD, mask=tokens != 0), rel=1e-12)


def test_names_functions_and_files_keep_ignore_class(tmp_path):
    partial = functools.partial(losses.sparse_categorical_crossentropy, ignore_class=PAD)
    loss = losses.get(partial)
    assert isinstance(loss, losses.SparseCategoricalCrossentropy)
    assert loss.ignore_class == PAD
    with_logits = functools.partial(losses.sparse_categorical_crossentropy, from_logits=True)
    assert losses.get(with_logits).from_logits
    clone = losses.deserialize(losses.serialize(losses.SparseCategoricalCrossentropy(True, 255)))
    assert (clone.from_logits, clone.ignore_class) == (True, 255)
    assert losses.SparseCategoricalCrossentropy(ignore_class=np.int64(3)).ignore_class == 3
    model = tagger(partial)
    model.fit(RNG.standard_normal((4, T, 3)), padded_labels(PAD), epochs=1, verbose=0)
    model.save(tmp_path / "m.fastlstm")
    assert load_model(tmp_path / "m.fastlstm").loss.ignore_class == PAD


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (
            lambda: losses.SparseCategoricalCrossentropy(ignore_class=1.5),
            TypeError,
            "ignore_class: expected an integer or None, got 1.5",
        ),
        (
            lambda: losses.SparseCategoricalCrossentropy(ignore_class="0"),
            TypeError,
            "ignore_class: expected an integer or None, got '0'",
        ),
        (lambda: losses.SparseCategoricalCrossentropy(ignore_class=True), TypeError, "ignore_cl"),
        (
            lambda: losses.deserialize(
                {
                    "class_name": "SparseCategoricalCrossentropy",
                    "config": {"ignore_class": [1]},
                }
            ),
            ValueError,
            r"bad config \(ignore_class: expected an integer or None",
        ),
        (  # another label out of range is still an error
            lambda: losses.SparseCategoricalCrossentropy(ignore_class=PAD)(
                np.array([0, PAD, 7]), np.ones((3, C)) / C
            ),
            ValueError,
            r"y_true: expected labels in \[0, 5\) .* or ignore_class -1 .* got 7",
        ),
        (
            lambda: losses.sparse_categorical_crossentropy([0], np.ones((1, C)), axis=1),
            TypeError,
            "axis",
        ),
    ],
)
def test_bad_input_is_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
