"""fastlstm.metrics: values against NumPy formulas, running means over batches, weights and
masks, and how "accuracy" is resolved."""

from __future__ import annotations

import numpy as np
import pytest

from fastlstm import losses, metrics

RNG = np.random.default_rng(1)
B, C = 6, 4


def test_each_metric_matches_numpy():
    yt, yp = RNG.standard_normal((B, C)), RNG.standard_normal((B, C))
    assert metrics.MeanSquaredError()(yt, yp) == pytest.approx(((yp - yt) ** 2).mean())
    assert metrics.MeanAbsoluteError()(yt, yp) == pytest.approx(np.abs(yp - yt).mean())
    mape = 100 * np.abs((yt - yp) / yt).mean()
    assert metrics.MeanAbsolutePercentageError()(yt, yp) == pytest.approx(mape)
    assert metrics.LogCoshError()(yt, yp) == pytest.approx(np.log(np.cosh(yp - yt)).mean())
    pt, pp = np.abs(yt), np.abs(yp)
    msle = ((np.log1p(pp) - np.log1p(pt)) ** 2).mean()
    assert metrics.MeanSquaredLogarithmicError()(pt, pp) == pytest.approx(msle)
    bt = (RNG.random((B, C)) > 0.5).astype(float)
    p = RNG.random((B, C))
    assert metrics.BinaryAccuracy()(bt, p) == pytest.approx(((p > 0.5) == bt).mean())
    assert metrics.BinaryAccuracy(threshold=0.8)(bt, p) == pytest.approx(((p > 0.8) == bt).mean())
    onehot = np.eye(C)[RNG.integers(0, C, B)]
    expected = (onehot.argmax(-1) == yp.argmax(-1)).mean()
    assert metrics.CategoricalAccuracy()(onehot, yp) == pytest.approx(expected)
    labels = RNG.integers(0, C, B)
    expected = (labels == yp.argmax(-1)).mean()
    assert metrics.SparseCategoricalAccuracy()(labels, yp) == pytest.approx(expected)
    assert metrics.SparseCategoricalAccuracy()(labels[:, None], yp) == pytest.approx(expected)
    assert metrics.Accuracy()(np.array([1, 2, 3, 4]), np.array([1, 2, 0, 4])) == 0.75


def test_running_mean_over_batches_with_weights():
    m = metrics.MeanAbsoluteError()
    batches = [(RNG.standard_normal((n, 2)), RNG.standard_normal((n, 2))) for n in (3, 5, 1)]
    weights = [RNG.uniform(0, 2, len(b[0])) for b in batches]
    for (yt, yp), w in zip(batches, weights):
        m.update_state(yt, yp, sample_weight=w)
    per = np.concatenate([np.abs(yp - yt).mean(-1) for yt, yp in batches])
    w = np.concatenate(weights)
    assert m.result() == pytest.approx((per * w).sum() / w.sum())
    m.reset_state()
    assert m.result() == 0.0


def test_mask_restricts_to_valid_steps():
    yt = RNG.integers(0, C, (B, 5))
    yp = RNG.standard_normal((B, 5, C))
    mask = RNG.random((B, 5)) > 0.5
    mask[0, 0] = True
    m = metrics.SparseCategoricalAccuracy()
    m.update_state(yt, yp, mask=mask)
    assert m.result() == pytest.approx((yt == yp.argmax(-1))[mask].mean())


@pytest.mark.parametrize(
    ("loss", "y_shape", "out_shape", "cls", "threshold"),
    [
        (losses.BinaryCrossentropy(), (8, 1), (None, 1), metrics.BinaryAccuracy, 0.5),
        (
            losses.BinaryCrossentropy(from_logits=True),
            (8, 1),
            (None, 1),
            metrics.BinaryAccuracy,
            0.0,
        ),
        (
            losses.BinaryFocalCrossentropy(from_logits=True),
            (8, 3),  # several outputs: binary all the same, as with BinaryCrossentropy
            (None, 3),
            metrics.BinaryAccuracy,
            0.0,
        ),
        (losses.CategoricalCrossentropy(), (8, 3), (None, 3), metrics.CategoricalAccuracy, None),
        (
            losses.CategoricalFocalCrossentropy(),
            (8, 1),  # one class per row, one-hot: categorical, not the shapes' binary
            (None, 1),
            metrics.CategoricalAccuracy,
            None,
        ),
        (
            losses.SparseCategoricalCrossentropy(),
            (8,),
            (None, 3),
            metrics.SparseCategoricalAccuracy,
            None,
        ),
        (losses.MeanSquaredError(), (8, 1), (None, 1), metrics.BinaryAccuracy, 0.5),
        (losses.MeanSquaredError(), (8,), (None, 3), metrics.SparseCategoricalAccuracy, None),
        (losses.MeanSquaredError(), (8, 3), (None, 3), metrics.CategoricalAccuracy, None),
    ],
)
def test_accuracy_is_resolved_from_the_loss_then_shapes(loss, y_shape, out_shape, cls, threshold):
    m = metrics.resolve_accuracy(loss, y_shape, out_shape)
    assert type(m) is cls
    if threshold is not None:
        assert m.threshold == threshold


def test_get_and_serialize():
    assert metrics.get("accuracy") == "accuracy"
    assert metrics.get("acc") == "acc"
    mae = metrics.get("mae")
    assert isinstance(mae, metrics.MeanAbsoluteError)
    assert mae.name == "mae"  # logged under the name given, as Keras
    for name, cls in [
        ("mape", metrics.MeanAbsolutePercentageError),
        ("msle", metrics.MeanSquaredLogarithmicError),
        ("logcosh", metrics.LogCoshError),
    ]:
        assert isinstance(metrics.get(name), cls)
        assert metrics.direction_of(name) == "min"
        assert isinstance(metrics.deserialize(metrics.serialize(cls())), cls)
    clone = metrics.deserialize(metrics.serialize(metrics.BinaryAccuracy(threshold=0.3)))
    assert clone.threshold == 0.3
    with pytest.raises(ValueError, match=r"metrics: expected .* got 'acuracy'"):
        metrics.get("acuracy")
    with pytest.raises(ValueError, match="class name"):
        metrics.deserialize({"class_name": "Exec", "config": {}})


@pytest.mark.parametrize("weighted", [False, True])
def test_masked_running_metric_does_not_depend_on_the_batches(weighted):
    """The mask only zeroes: the metric is the (weighted) mean over valid steps however the
    samples are split into batches (the loss's size/valid rescaling counted padding before)."""
    yt = RNG.integers(0, C, (6, 5))
    yp = RNG.standard_normal((6, 5, C))
    mask = np.ones((6, 5), bool)
    mask[1, 1:] = mask[4, 2:] = False  # two sequences mostly padding
    w = RNG.uniform(0.5, 2, (6, 5)) if weighted else None
    right = (yt == yp.argmax(-1)).astype(float)
    weight = mask * (1.0 if w is None else w)
    expected = (right * weight).sum() / weight.sum()
    for size in (1, 2, 3, 6):
        m = metrics.SparseCategoricalAccuracy()
        for s in range(0, 6, size):
            part = slice(s, s + size)
            m.update_state(yt[part], yp[part], None if w is None else w[part], mask[part])
        assert m.result() == pytest.approx(expected, rel=1e-12), size


def test_binary_accuracy_compares_labels_as_keras_does():
    """(y_pred > threshold) == y_true: a soft label matches neither class."""
    assert metrics.BinaryAccuracy()(np.array([[0.7, 1.0, 0.0]]), np.array([[0.9, 0.9, 0.1]])) == (
        pytest.approx(2 / 3)
    )


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (
            lambda: metrics.BinaryAccuracy(threshold="0.5"),
            TypeError,
            "threshold: expected a finite number, got '0.5'",
        ),
        (lambda: metrics.BinaryAccuracy(threshold=True), TypeError, "threshold"),
        (lambda: metrics.BinaryAccuracy(threshold=np.inf), ValueError, "threshold: expected a fin"),
        (
            lambda: metrics.Precision(thresholds=-np.inf),
            ValueError,
            "thresholds: expected a number in \\[0, 1\\]",
        ),
        (
            lambda: metrics.Recall(thresholds=np.nan),
            ValueError,
            "thresholds: expected a number in \\[0, 1\\]",
        ),
        (
            lambda: metrics.AUC(num_thresholds=10**6 + 1),
            ValueError,
            r"num_thresholds: expected an integer in \[2, 1000000\]",
        ),
        (lambda: metrics.AUC(num_thresholds=1), ValueError, "num_thresholds"),
        (lambda: metrics.Accuracy(name=7), TypeError, "name: expected a str or None, got 7"),
        (lambda: metrics.MeanSquaredError(name=["x"]), TypeError, "name: expected a str"),
    ],
)
def test_bad_arguments_are_named(call, exc, match):
    """Each of these came back from a model file as a silent wrong answer (an infinite
    threshold), gigabytes at load (AUC's thresholds) or an error deep in fit (a name of 7)."""
    with pytest.raises(exc, match=match):
        call()


def test_a_function_giving_one_number_a_batch_counts_once_per_batch():
    """Keras's mean weighs each batch's number alike; it was weighted by batch size."""
    y = RNG.standard_normal((20, 1))
    p = RNG.standard_normal((20, 1))

    def batch_mae(y_true, y_pred):
        return float(np.abs(y_true - y_pred).mean())

    m = metrics.MeanMetricWrapper(batch_mae)
    parts = (slice(0, 8), slice(8, 16), slice(16, 20))
    for s in parts:
        m.update_state(y[s], p[s])
    assert m.result() == pytest.approx(np.mean([batch_mae(y[s], p[s]) for s in parts]))
    weighted = metrics.MeanMetricWrapper(batch_mae)  # with weights: per sample, weighted
    w = RNG.uniform(0.5, 2.0, 20)
    for s in parts:
        weighted.update_state(y[s], p[s], sample_weight=w[s])
    expected = sum(batch_mae(y[s], p[s]) * w[s].sum() for s in parts) / w.sum()
    assert weighted.result() == pytest.approx(expected)
