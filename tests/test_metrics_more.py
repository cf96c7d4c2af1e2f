"""Keras 3's metrics that keep counts or sums over everything seen: AUC (ROC and PR, each
summation method, multi_label), Precision and Recall (top_k, class_id, a list of one
threshold), F1Score and FBetaScore, R2Score, the cross-entropies as metrics, and Sum.

Each is checked against a formula written out here in NumPy (thresholds compared one by one,
Riemann sums and Davis & Goadrich's interpolation interval by interval, precision and recall
class by class), over several batches, with sample weights and with a (B, T) mask, alone and in
a model with a Masking layer; against the worked examples of Keras 3's own tests; and for
names, configs, model files, copies and bad arguments."""

from __future__ import annotations

import copy
import csv
import json
import pickle

import numpy as np
import pytest

from fastlstm import callbacks, metrics, optimizers
from fastlstm.layers import LSTM, Dense, Input, Masking
from fastlstm.models import Sequential, load_model

RNG = np.random.default_rng(21)


# -- reference formulas, written out ---------------------------------------------------------


def keras_thresholds(n: int) -> np.ndarray:
    """Keras's AUC thresholds: i / (n - 1) inside, -1e-7 and 1 + 1e-7 at the ends."""
    return np.array([-1e-7, *[(i + 1) / (n - 1) for i in range(n - 2)], 1 + 1e-7])


def confusion(y, p, w, t):
    """TP, FP, TN, FN at each threshold, one threshold at a time: positive where y != 0,
    predicted positive where p > threshold, each value counted with its weight."""
    y, p, w = np.ravel(y) != 0, np.ravel(p), np.ravel(w)
    rows = []
    for threshold in t:
        above = p > threshold
        rows.append(
            [w[above & y].sum(), w[above & ~y].sum(), w[~above & ~y].sum(), w[~above & y].sum()]
        )
    return np.array(rows).T


def ratio(a, b):
    return a / b if b != 0 else 0.0


def riemann(x, y, method):
    area = 0.0
    for i in range(len(x) - 1):
        if method == "interpolation":
            height = (y[i] + y[i + 1]) / 2
        elif method == "minoring":
            height = min(y[i], y[i + 1])
        else:
            height = max(y[i], y[i + 1])
        area += (x[i] - x[i + 1]) * height
    return area


def pr_interpolation(tp, fp, fn):
    """Keras's interpolate_pr_auc by hand: in each interval TP and P = TP + FP vary linearly,
    precision = TP / P is integrated over recall in closed form."""
    area = 0.0
    for i in range(len(tp) - 1):
        dtp = tp[i] - tp[i + 1]
        p_a, p_b = tp[i] + fp[i], tp[i + 1] + fp[i + 1]
        slope = ratio(dtp, max(p_a - p_b, 0))
        intercept = tp[i + 1] - slope * p_b
        log_ratio = np.log(p_a / p_b) if p_a > 0 and p_b > 0 else 0.0
        area += ratio(slope * (dtp + intercept * log_ratio), max(tp[i + 1] + fn[i + 1], 0))
    return area


def pr_by_quadrature(tp, fp, positives, steps=200_001):
    """The same area by numerical integration of precision d(recall) along the straight line
    from threshold i + 1 to threshold i in (TP, P): no closed form used."""
    s = np.linspace(0.0, 1.0, steps)[1:-1]
    area = 0.0
    for i in range(len(tp) - 1):
        dtp = tp[i] - tp[i + 1]
        if dtp == 0:
            continue
        true_pos = tp[i + 1] + s * dtp
        predicted = tp[i + 1] + fp[i + 1] + s * (tp[i] + fp[i] - tp[i + 1] - fp[i + 1])
        area += np.mean(true_pos / predicted) * dtp / positives
    return area


def auc_reference(y, p, w, n=200, curve="ROC", method="interpolation", t=None):
    t = keras_thresholds(n) if t is None else t
    tp, fp, tn, fn = confusion(y, p, w, t)
    if curve == "PR" and method == "interpolation":
        return pr_interpolation(tp, fp, fn)
    recall = [ratio(a, a + b) for a, b in zip(tp, fn)]
    if curve == "ROC":
        return riemann([ratio(a, a + b) for a, b in zip(fp, tn)], recall, method)
    return riemann(recall, [ratio(a, a + b) for a, b in zip(tp, fp)], method)


def batches(n, parts=3):
    return np.array_split(np.arange(n), parts)


# -- AUC --------------------------------------------------------------------------------------

# Keras 3's AUCTest: y_pred [0, .5, .3, .9], y_true [0, 0, 1, 1], weights 1..4, 3 thresholds
KY, KP, KW = np.array([0, 0, 1, 1]), np.array([0, 0.5, 0.3, 0.9]), np.array([1.0, 2, 3, 4])


@pytest.mark.parametrize(
    ("options", "weighted", "expected"),
    [
        ({}, False, 0.75),
        ({}, True, 0.7855),
        ({"summation_method": "majoring"}, True, 1.0),
        ({"summation_method": "minoring"}, True, 0.571),
        ({"curve": "PR", "summation_method": "majoring"}, True, 1.0),
        ({"curve": "PR", "summation_method": "minoring"}, True, 0.7 * 0.429),
        ({"curve": "PR"}, True, 2.416 / 7 + 4 / 7),
        ({"thresholds": [0.5]}, False, 0.75),
    ],
)
def test_auc_gives_keras_3s_worked_examples(options, weighted, expected):
    m = metrics.AUC(num_thresholds=3, **options)
    assert m(KY, KP, KW if weighted else None) == pytest.approx(expected, abs=1e-3)


def test_auc_keras_3s_other_examples():
    assert metrics.AUC(num_thresholds=3, curve="PR")(KY, KP, -KW) == 0.0  # max(TP+FN, 0) = 0
    assert metrics.AUC()(KY, KY) == 1.0
    logits = np.log(np.maximum(KP, 1e-12) / (1 - KP))  # 0.5 to 0 exactly (Keras's float32 does)
    assert metrics.AUC(num_thresholds=3, from_logits=True)(KY, logits) == pytest.approx(0.75)
    # extra dimensions are flattened
    a = np.array([[[-10.0, 10, -10], [10, -10, 10]], [[-12.0, 12, -12], [12, -12, 12]]])
    p = 1 / (1 + np.exp(a))  # Keras's expit(-a)
    labels = np.array([[[1, 0, 0], [1, 0, 0]], [[0, 1, 1], [0, 1, 1]]])
    assert metrics.AUC()(labels, p) == 0.5
    manual = metrics.AUC(num_thresholds=None, thresholds=[0.3, 0.5])
    assert manual.num_thresholds == 4
    assert manual.thresholds == pytest.approx([0.0, 0.3, 0.5, 1.0], abs=1e-6)


# Keras 3's MultiAUCTest: two labels, 5 thresholds
MP = np.array([[0, 0.5, 0.3, 0.9], [0.1, 0.2, 0.3, 0.4]]).T
GOOD = np.array([[0, 0, 1, 1], [0, 0, 1, 1]]).T


def test_multi_label_auc_gives_keras_3s_worked_examples():
    assert metrics.AUC(5, multi_label=True)(GOOD, MP) == pytest.approx((0.875 + 1.0) / 2)
    weighted = metrics.AUC(5, multi_label=True, label_weights=[0.75, 0.25])
    assert weighted(GOOD, MP) == pytest.approx(0.875 * 0.75 + 0.25)
    assert metrics.AUC(5)(GOOD, MP) == pytest.approx(1.0 - 3.0 / 32.0)  # flattened
    flat = metrics.AUC(5, label_weights=[0.75, 0.25])
    assert flat(GOOD, MP) == pytest.approx(1.0 - (1.0 - 0.375) * 0.375 / 2.0)
    assert metrics.AUC(5)(GOOD, MP, KW) == pytest.approx(1.0 - 0.3333 * (1 - 0.2857) / 2, abs=1e-3)
    full = np.arange(8.0).reshape(4, 2)
    assert metrics.AUC(5)(GOOD, MP, full) == pytest.approx(1 - 0.3333 * (1 - 0.2727) / 2, abs=1e-3)
    manual = metrics.AUC(num_thresholds=2, thresholds=[0.5], multi_label=True)
    assert manual(GOOD, MP) == pytest.approx((0.75 + 0.5) / 2)
    assert metrics.AUC(5, "PR", multi_label=True)(GOOD, MP) == pytest.approx(
        (0.91667 + 1.0) / 2, abs=0.1
    )


@pytest.mark.parametrize("curve", ["ROC", "PR"])
@pytest.mark.parametrize("method", ["interpolation", "minoring", "majoring"])
@pytest.mark.parametrize("n", [200, 7])
def test_auc_matches_the_written_out_formula_over_weighted_batches(curve, method, n):
    y = RNG.integers(0, 2, (90, 2))
    p = np.clip(0.3 * y + 0.7 * RNG.random((90, 2)), 0, 1)
    p[:5, 0] = [0.0, 1.0, 0.5, 1 / 6, 2 / 3]  # on the thresholds and the ends
    w = RNG.uniform(0.2, 2.0, 90)
    m = metrics.AUC(n, curve, method)
    for part in batches(90):
        m.update_state(y[part], p[part], w[part])
    expected = auc_reference(y, p, np.broadcast_to(w[:, None], y.shape), n, curve, method)
    assert m.result() == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("n", [21, 200])
def test_pr_auc_interpolation_is_the_area_under_the_interpolated_curve(n):
    """Keras's closed form against the hand formula and a numerical integral of the same
    curve, over batches with weights."""
    y = RNG.integers(0, 2, 300)
    p = np.clip(0.25 * y + 0.75 * RNG.random(300), 0, 1)
    w = RNG.uniform(0.5, 2.0, 300)
    m = metrics.AUC(num_thresholds=n, curve="PR")
    for part in batches(300, 4):
        m.update_state(y[part], p[part], sample_weight=w[part])
    tp, fp, _, fn = confusion(y, p, w, keras_thresholds(n))
    assert m.result() == pytest.approx(pr_interpolation(tp, fp, fn), rel=1e-12)
    assert m.result() == pytest.approx(pr_by_quadrature(tp, fp, (w * y).sum()), abs=1e-6)
    # it approaches the exact average precision as the thresholds get finer
    order = np.argsort(-p)
    hits = np.cumsum((w * y)[order])
    precision = hits / np.cumsum(w[order])
    exact = np.sum(precision * (w * y)[order]) / (w * y).sum()
    assert abs(metrics.AUC(5000, "PR")(y, p, w) - exact) < 0.02


def test_auc_masked_steps_and_multi_label_match_the_formula():
    y = RNG.integers(0, 2, (10, 6, 3))
    p = RNG.random((10, 6, 3))
    mask = np.arange(6)[None, :] < RNG.integers(1, 7, (10, 1))
    w = RNG.uniform(0.5, 2.0, 10)
    weight = mask * w[:, None]  # (B, T)
    full = np.broadcast_to(weight[..., None], y.shape)
    for curve in ("ROC", "PR"):
        flat, per_label = metrics.AUC(curve=curve), metrics.AUC(curve=curve, multi_label=True)
        for m in (flat, per_label):
            for part in batches(10):
                m.update_state(y[part], p[part], w[part], mask=mask[part])
        assert flat.result() == pytest.approx(auc_reference(y, p, full, curve=curve), rel=1e-12)
        each = [auc_reference(y[..., j], p[..., j], full[..., j], curve=curve) for j in range(3)]
        assert per_label.result() == pytest.approx(np.mean(each), rel=1e-12)
    lw = np.array([1.0, 3.0, 0.5])
    weighted = metrics.AUC(multi_label=True, label_weights=lw)
    weighted.update_state(y, p, w, mask=mask)
    each = [auc_reference(y[..., j], p[..., j], full[..., j]) for j in range(3)]
    assert weighted.result() == pytest.approx(np.dot(each, lw) / lw.sum(), rel=1e-12)
    flat_weighted = metrics.AUC(label_weights=lw)
    flat_weighted.update_state(y, p, w, mask=mask)
    assert flat_weighted.result() == pytest.approx(auc_reference(y, p, full * lw), rel=1e-12)


def test_auc_clips_predictions_where_its_thresholds_are_evenly_spread():
    """Keras's fast path (evenly spread thresholds) clips y_pred to [0, 1] first; with other
    thresholds it compares them as they are."""
    y = np.array([1, 0, 1, 0, 1])
    p = np.array([1.5, -0.5, 0.7, 0.2, -2.0])
    clipped = np.clip(p, 0, 1)
    assert metrics.AUC(11)(y, p) == pytest.approx(auc_reference(y, clipped, np.ones(5), 11))
    uneven = [0.1, 0.25, 0.9]
    t = np.array([-1e-7, *uneven, 1 + 1e-7])
    assert metrics.AUC(thresholds=uneven)(y, p) == pytest.approx(
        auc_reference(y, p, np.ones(5), t=t)
    )
    even = metrics.AUC(thresholds=[0.25, 0.5, 0.75])  # the same as num_thresholds=5
    assert even(y, p) == pytest.approx(metrics.AUC(5)(y, p))


# -- Precision and Recall ---------------------------------------------------------------------


def precision_recall(y, p, w, threshold=0.5, top_k=None, class_id=None):
    """Precision and recall by hand: a prediction is positive above the threshold and, with
    top_k, among the k highest of its row (ties to the lower index)."""
    y, p = np.asarray(y) != 0, np.asarray(p, float)
    predicted = p > threshold
    if top_k is not None:
        rows = p.reshape(-1, p.shape[-1])
        keep = np.zeros(rows.shape, bool)
        for r, row in enumerate(rows):
            order = sorted(range(len(row)), key=lambda j: (-row[j], j))
            keep[r, order[:top_k]] = True
        predicted &= keep.reshape(p.shape)
    w = np.broadcast_to(w, p.shape)
    if class_id is not None:
        y, predicted, w = y[..., class_id], predicted[..., class_id], w[..., class_id]
    tp = w[predicted & y].sum()
    return ratio(tp, w[predicted].sum()), ratio(tp, w[y].sum())


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"thresholds": 0.3},
        {"thresholds": [0.7]},
        {"top_k": 1},
        {"top_k": 2, "thresholds": 0.4},
        {"class_id": 2},
        {"top_k": 2, "class_id": 0},
        {"thresholds": [0.2, 0.5, 0.8]},
        {"thresholds": (0.3, 0.6), "top_k": 2, "class_id": 1},
    ],
)
def test_precision_and_recall_options_match_the_formula(options):
    y = RNG.integers(0, 2, (12, 5, 4))
    p = np.round(RNG.random((12, 5, 4)), 1)  # ties, for top_k
    mask = RNG.random((12, 5)) > 0.3
    w = RNG.uniform(0.5, 2.0, 12)
    weight = (mask * w[:, None])[..., None]
    found = []
    for cls in (metrics.Precision, metrics.Recall):
        m = cls(**options)
        for part in batches(12):
            m.update_state(y[part], p[part], w[part], mask=mask[part])
        found.append(m.result())
    threshold = options.get("thresholds", 0.5 if "top_k" not in options else -1e10)
    if np.ndim(threshold) and len(threshold) > 1:  # one result a threshold: (n,) arrays
        each = [
            precision_recall(y, p, weight, t, options.get("top_k"), options.get("class_id"))
            for t in threshold
        ]
        assert [np.shape(f) for f in found] == [(len(threshold),)] * 2
        for k in range(2):
            np.testing.assert_allclose(found[k], [e[k] for e in each], rtol=1e-12)
        assert len({e[0] for e in each}) > 1  # the thresholds give different results here
        return
    threshold = threshold[0] if np.ndim(threshold) else threshold
    expected = precision_recall(
        y, p, weight, threshold, options.get("top_k"), options.get("class_id")
    )
    assert found == pytest.approx(expected, rel=1e-12)


def test_precision_and_recall_give_keras_3s_worked_examples():
    p5, y5 = np.array([0.2, 0.1, 0.5, 0, 0.2]), np.array([0, 1, 1, 0, 0])
    assert metrics.Precision(top_k=3)(y5, p5) == pytest.approx(1 / 3)
    assert metrics.Recall(top_k=3)(y5, p5) == pytest.approx(0.5)
    for cls, expected in ((metrics.Precision, 13 / 17), (metrics.Recall, 13 / 23)):
        m = cls(top_k=3)
        m(
            np.array([[0, 1, 1, 0, 1]]),
            np.array([[0.2, 0.1, 0.4, 0, 0.2]]),
            np.array([[1, 4, 2, 3, 5]]),
        )
        result = m(np.array([1, 0, 1, 1, 1]), np.array([0.2, 0.6, 0.4, 0.2, 0.2]), np.array(3))
        assert result == pytest.approx(expected)
    y = np.eye(3)[[2, 0, 1, 0, 2]]
    p = np.array(
        [[0.1, 0.2, 0.7], [0.5, 0.3, 0.2], [0.2, 0.6, 0.2], [0.7, 0.2, 0.1], [0.1, 0.1, 0.8]]
    )
    precision, recall = metrics.Precision(class_id=1), metrics.Recall(class_id=1)
    assert precision(y, p) == 1.0
    assert float(precision.true_positives) == 1.0
    assert float(precision.false_positives) == 0.0
    assert recall(y, p) == 1.0
    both = metrics.Precision(thresholds=0.7, top_k=2)
    assert both(np.array([0, 1, 1, 0, 1]), np.array([0.2, 0.8, 0.6, 0, 0.2])) == 1.0
    assert (
        metrics.Recall(0.7, 2)(np.array([1, 1, 1, 0, 1]), np.array([0.2, 0.8, 0.6, 0, 0.2])) == 0.25
    )
    weighted = metrics.Precision()(
        np.array([[0, 1, 1, 0], [1, 0, 0, 1]]),
        np.array([[1, 0, 1, 0], [1, 0, 1, 0]]),
        np.array([[1, 2, 3, 4], [4, 3, 2, 1]]),
    )
    assert weighted == pytest.approx(7 / 10)
    assert [v.name for v in metrics.Precision().variables] == ["true_positives", "false_positives"]
    several = metrics.Precision(thresholds=[0.5, 0.7])(
        np.array([[0, 1, 1, 0]]), np.array([[1, 0, 0.6, 0]])
    )
    np.testing.assert_array_equal(several, [0.5, 0.0])
    assert metrics.Recall(thresholds=[0.5, 0.7]).get_config()["thresholds"] == [0.5, 0.7]
    assert [v.name for v in metrics.Recall().variables] == ["true_positives", "false_negatives"]


# -- F1Score and FBetaScore -------------------------------------------------------------------


def fbeta(y, p, w, beta=1.0, threshold=None, average="macro"):
    """F-beta class by class, with Keras's 1e-7 in each denominator."""
    y, p = np.asarray(y, float).reshape(-1, np.shape(y)[-1]), np.asarray(p, float)
    p = p.reshape(-1, p.shape[-1])
    w = np.broadcast_to(np.asarray(w, float).reshape(-1, 1), p.shape)
    if threshold is None:
        predicted = (p == p.max(axis=1, keepdims=True)) & (np.abs(p) > 1e-9)
    else:
        predicted = p > threshold
    tp = (w * predicted * y).sum(0)
    fp = (w * predicted * (1 - y)).sum(0)
    fn = (w * ~predicted * y).sum(0)
    if average == "micro":
        tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
    precision, recall = tp / (tp + fp + 1e-7), tp / (tp + fn + 1e-7)
    b2 = beta * beta
    score = (1 + b2) * precision * recall / (b2 * precision + recall + 1e-7)
    if average == "weighted":
        support = (w * y).sum(0)
        return float(np.sum(score * support / (support.sum() + 1e-7)))
    return score if average is None else float(np.mean(score))


@pytest.mark.parametrize("average", ["micro", "macro", "weighted"])
@pytest.mark.parametrize(("beta", "threshold"), [(1.0, None), (0.5, 0.4), (2.0, 0.6)])
def test_fbeta_matches_the_formula_over_masked_weighted_batches(average, beta, threshold):
    y = RNG.integers(0, 2, (12, 5, 3))
    p = np.round(RNG.random((12, 5, 3)), 1)
    mask = RNG.random((12, 5)) > 0.3
    w = RNG.uniform(0.5, 2.0, 12)
    m = metrics.FBetaScore(average, beta, threshold)
    for part in batches(12):
        m.update_state(y[part], p[part], w[part], mask=mask[part])
    expected = fbeta(y, p, mask * w[:, None], beta, threshold, average)
    assert m.result() == pytest.approx(expected, rel=1e-12)
    if beta == 1.0:
        f1 = metrics.F1Score(average, threshold)
        f1.update_state(y, p, w, mask=mask)
        assert f1.result() == pytest.approx(expected, rel=1e-12)


KF_TRUE = np.eye(3)[[0, 1, 2, 0, 0, 2]]
KF_PRED = np.array(
    [[0.9, 0.1, 0], [0.2, 0.6, 0.2], [0, 0, 1], [0.4, 0.3, 0.3], [0, 0.9, 0.1], [0, 0, 1]]
)


@pytest.mark.parametrize(
    ("average", "beta", "weights", "expected"),
    [
        ("micro", 0.5, None, 0.833334),
        ("macro", 0.5, None, 0.821549),
        ("macro", 2.0, None, 0.849206),
        ("weighted", 0.5, None, 0.880471),
        ("weighted", 2.0, None, 0.829365),
        ("micro", 1.0, [0.5, 1.0, 1.0, 1.0, 0.5, 1.0], 0.9),
        ("macro", 1.0, [1.0, 0.0, 1.0, 1.0, 0.0, 1.0], 0.666667),
        ("macro", 2.0, [0.5, 1.0, 1.0, 1.0, 0.5, 1.0], 0.899522),
        ("weighted", 1.0, [0.5, 1.0, 1.0, 1.0, 0.5, 1.0], 0.902857),
    ],
)
def test_fbeta_gives_keras_3s_test_values(average, beta, weights, expected):
    m = metrics.FBetaScore(average, beta)
    assert m(KF_TRUE, KF_PRED, weights) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("weights", [None, [0.5, 1.0, 0.0, 1.0, 0.5, 1.0]])
def test_fbeta_average_none_gives_the_score_of_each_class(beta, weights):
    """average=None (Keras's default): a (C,) array, one score a class, whose mean is the
    macro score; over two batches as over one."""
    w = np.ones(6) if weights is None else np.asarray(weights)
    m = metrics.FBetaScore(None, beta)
    m.update_state(KF_TRUE[:4], KF_PRED[:4], w[:4])
    got = m(KF_TRUE[4:], KF_PRED[4:], w[4:])
    expected = fbeta(KF_TRUE, KF_PRED, w, beta, average=None)
    assert isinstance(got, np.ndarray)
    assert got.shape == (3,)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert len(set(np.round(expected, 4))) > 1  # the classes differ: no mean hides in a class
    macro = metrics.FBetaScore("macro", beta)(KF_TRUE, KF_PRED, w)
    assert float(np.mean(got)) == pytest.approx(macro, abs=1e-6)


def test_f1_of_one_class_is_one_number():
    y, p = RNG.integers(0, 2, (20, 1)), RNG.random((20, 1))
    got = metrics.F1Score(threshold=0.5)(y, p)
    assert isinstance(got, float)
    assert got == pytest.approx(fbeta(y, p, np.ones(20), threshold=0.5))


def _three_classes(n=60):
    x = RNG.standard_normal((n, 5, 3)).astype(np.float32)
    labels = np.argmax(x[:, -1], axis=1)
    return x, np.eye(3, dtype=np.float32)[labels]


def test_fit_logs_each_class_f1_and_the_callbacks_take_it(tmp_path, capsys):
    """A (C,) metric in fit's logs, as in Keras 3: History and evaluate hold the array,
    CSVLogger writes it as [a, b, c], the progress bar shows its mean."""
    x, y = _three_classes()
    model = Sequential([Input((5, 3)), LSTM(8, seed=0), Dense(3, activation="softmax", seed=1)])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["f1_score"])
    log = tmp_path / "log.csv"
    history = model.fit(
        x, y, epochs=2, batch_size=20, validation_split=0.25, verbose=2,
        callbacks=[callbacks.CSVLogger(log)],
    )  # fmt: skip
    printed = capsys.readouterr().out.splitlines()
    for key in ("f1_score", "val_f1_score"):
        assert [np.shape(v) for v in history.history[key]] == [(3,), (3,)]
    last = history.history["val_f1_score"][-1]
    np.testing.assert_allclose(last, metrics.F1Score()(y[45:], model.predict(x[45:])), atol=1e-6)
    evaluated = model.evaluate(x[45:], y[45:], verbose=0, return_dict=True)["f1_score"]
    np.testing.assert_allclose(evaluated, last, atol=1e-6)
    assert f"val_f1_score: {np.mean(last):.4f}" in printed[-1]
    rows = log.read_text().splitlines()
    header, row = rows[0].split(","), next(csv.reader([rows[-1]]))
    field = row[header.index("val_f1_score")]
    np.testing.assert_allclose(json.loads(field), last)


@pytest.mark.parametrize("make", [
    lambda: callbacks.EarlyStopping(monitor="val_f1_score"),
    lambda: callbacks.ReduceLROnPlateau(monitor="val_f1_score"),
    lambda: callbacks.ModelCheckpoint("m.fastlstm", monitor="val_f1_score", save_best_only=True),
])  # fmt: skip
def test_a_callback_monitoring_each_class_score_names_it(make, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    x, y = _three_classes(40)
    model = Sequential([Input((5, 3)), LSTM(4, seed=0), Dense(3, activation="softmax", seed=1)])
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["f1_score"])
    with pytest.raises(ValueError, match=r"'val_f1_score' is 3 numbers, one a class.*'macro'"):
        model.fit(x, y, epochs=1, validation_split=0.25, verbose=0, callbacks=[make()])
    assert not (tmp_path / "m.fastlstm").exists()


# -- R2Score ----------------------------------------------------------------------------------


def r2(y, p, w, aggregation="uniform_average", regressors=0, seen=None):
    """Per column 1 - sum w (y - p)^2 / sum w (y - mean_w y)^2, then aggregated; adjusted for
    p regressors over n values."""
    columns = np.shape(y)[-1]
    y, p = np.reshape(y, (-1, columns)), np.reshape(p, (-1, columns))
    w = np.broadcast_to(np.reshape(w, (len(y), -1)), y.shape)
    mean = (w * y).sum(0) / w.sum(0)
    total = (w * (y - mean) ** 2).sum(0)
    raw = 1 - (w * (y - p) ** 2).sum(0) / total
    score = {"uniform_average": raw.mean(), None: raw}.get(aggregation)
    score = np.sum(total * raw) / total.sum() if score is None else score
    n = y.size if seen is None else seen
    return 1 - (1 - score) * (n - 1) / (n - regressors - 1) if regressors else score


@pytest.mark.parametrize("aggregation", ["uniform_average", "variance_weighted_average"])
def test_r2_is_over_everything_seen_not_a_mean_of_batches(aggregation):
    y = RNG.standard_normal((30, 4, 2)) + np.array([1.0, -2.0])
    p = y + 0.5 * RNG.standard_normal((30, 4, 2))
    mask = RNG.random((30, 4)) > 0.25
    w = RNG.uniform(0.5, 2.0, 30)
    m = metrics.R2Score(aggregation)
    per_batch = []
    for part in batches(30):
        m.update_state(y[part], p[part], w[part], mask=mask[part])
        per_batch.append(r2(y[part], p[part], (mask * w[:, None])[part], aggregation))
    expected = r2(y, p, mask * w[:, None], aggregation)
    assert m.result() == pytest.approx(expected, rel=1e-10)
    assert abs(np.mean(per_batch) - expected) > 1e-4  # the distinction is real here
    adjusted = metrics.R2Score(aggregation, num_regressors=3)
    adjusted.update_state(y, p, w, mask=mask)
    seen = 2 * mask.sum()  # masked steps are not seen; each step has 2 values
    assert adjusted.result() == pytest.approx(r2(y, p, mask * w[:, None], aggregation, 3, seen))


@pytest.mark.parametrize(
    ("aggregation", "regressors", "expected"),
    [
        ("uniform_average", 0, -3.0615367889404297),
        ("uniform_average", 1, -3.641756534576416),
        ("uniform_average", 2, -4.415382385253906),
        ("variance_weighted_average", 0, -1.3710224628448486),
        ("variance_weighted_average", 2, -2.161363363265991),
    ],
)
def test_r2_gives_keras_3s_test_values(aggregation, regressors, expected):
    y = [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    p = [[0.4, 0.9, 1.6], [0.1, 1.2, 0.6], [1.5, 0.8, 0.6]]
    m = metrics.R2Score(aggregation, regressors)
    assert m(y, p, [0.8, 0.1, 0.4]) == pytest.approx(expected, abs=1e-5)
    assert m.result() == pytest.approx(r2(y, p, [0.8, 0.1, 0.4], aggregation, regressors))


@pytest.mark.parametrize("regressors", [0, 1])
def test_r2_class_aggregation_none_gives_each_column(regressors):
    """class_aggregation=None: a (C,) array, each column's score (adjusted one by one), whose
    mean is the uniform average's score."""
    y = [[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]
    p = [[0.4, 0.9, 1.6], [0.1, 1.2, 0.6], [1.5, 0.8, 0.6]]
    w = [0.8, 0.1, 0.4]
    got = metrics.R2Score(None, regressors)(y, p, w)
    assert isinstance(got, np.ndarray)
    assert got.shape == (3,)
    np.testing.assert_allclose(got, r2(y, p, w, None, regressors), rtol=1e-12)
    uniform = metrics.R2Score("uniform_average", regressors)(y, p, w)
    assert float(np.mean(got)) == pytest.approx(uniform)  # the adjustment is affine


def test_r2_edges_as_keras():
    assert metrics.R2Score()([[1.0], [4.0], [3.0]], [[2.0], [4.0], [4.0]]) == pytest.approx(
        0.57142854
    )
    one = metrics.R2Score(class_aggregation=None)
    assert one([[1.0], [4.0], [3.0]], [[2.0], [4.0], [4.0]]) == pytest.approx(0.57142854)
    assert metrics.R2Score()([[2.0], [2.0]], [[1.0], [3.0]]) == 0.0  # constant target: -inf -> 0
    too_many = metrics.R2Score(num_regressors=5)
    with pytest.warns(UserWarning, match="More independent predictors than datapoints"):
        assert too_many([[1.0], [4.0], [3.0]], [[2.0], [4.0], [4.0]]) == pytest.approx(0.5714285)
    exactly = metrics.R2Score(num_regressors=2)
    with pytest.warns(UserWarning, match="Division by zero in Adjusted R2"):
        exactly([[1.0], [4.0], [3.0]], [[2.0], [4.0], [4.0]])
    fresh = metrics.R2Score()
    fresh([[1.0]], [[2.0]])
    fresh.reset_state()
    assert fresh.result() == 0.0  # nothing seen since the reset


# -- cross-entropies and Sum ------------------------------------------------------------------


def crossentropy(kind, y, p, from_logits=False, smoothing=0.0):
    """Per-sample values, written out (Keras's clip to [1e-7, 1 - 1e-7] for probabilities)."""
    if kind == "binary":
        y = y * (1 - smoothing) + 0.5 * smoothing
        if from_logits:
            log_p, log_q = -np.logaddexp(0, -p), -np.logaddexp(0, p)
        else:
            q = np.clip(p, 1e-7, 1 - 1e-7)
            log_p, log_q = np.log(q), np.log(1 - q)
        return -(y * log_p + (1 - y) * log_q).mean(-1)
    if kind == "sparse":
        y = np.eye(p.shape[-1])[y]
    y = y * (1 - smoothing) + smoothing / p.shape[-1]
    if from_logits:
        log_p = p - p.max(-1, keepdims=True)
        log_p = log_p - np.log(np.exp(log_p).sum(-1, keepdims=True))
    else:
        log_p = np.log(np.clip(p / p.sum(-1, keepdims=True), 1e-7, 1 - 1e-7))
    return -(y * log_p).sum(-1)


@pytest.mark.parametrize("from_logits", [False, True])
def test_crossentropy_metrics_match_the_formula(from_logits):
    b, t, c = 12, 5, 3
    mask = RNG.random((b, t)) > 0.3
    w = RNG.uniform(0.5, 2.0, b)
    weight = mask * w[:, None]
    logits = RNG.standard_normal((b, t, c))
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    pred = logits if from_logits else probs
    binary_p = logits if from_logits else 1 / (1 + np.exp(-logits))
    labels = RNG.integers(0, c, (b, t))
    cases = [
        (metrics.BinaryCrossentropy(from_logits=from_logits, label_smoothing=0.1),
         RNG.integers(0, 2, (b, t, c)), binary_p, "binary", 0.1),
        (metrics.CategoricalCrossentropy(from_logits=from_logits, label_smoothing=0.2),
         np.eye(c)[labels], pred, "categorical", 0.2),
        (metrics.SparseCategoricalCrossentropy(from_logits=from_logits), labels, pred,
         "sparse", 0.0),
    ]  # fmt: skip
    for m, y, p, kind, smoothing in cases:
        for part in batches(b):
            m.update_state(y[part], p[part], w[part], mask=mask[part])
        values = crossentropy(kind, y, p, from_logits, smoothing)
        expected = (values * weight).sum() / weight.sum()
        assert m.result() == pytest.approx(expected, rel=1e-10), kind


def test_sum_as_keras_3s_and_refused_in_compile():
    m = metrics.Sum()
    m.update_state([1, 3, 5, 7])
    assert m.result() == 16.0
    m.update_state(np.array([[1.0, 2.0], [3.0, 4.0]]), sample_weight=[0.5, 2.0])
    assert m.result() == 16.0 + 1.5 + 14.0
    m.reset_state()
    assert m.result() == 0.0
    assert m([1.0, 2.0]) == 3.0  # Keras 3's call: update_state(values), then result()
    assert m([4.0], sample_weight=[0.5]) == 5.0
    model = Sequential([Input((4, 2)), LSTM(3), Dense(1)], seed=0)
    for given in ("sum", metrics.Sum, metrics.Sum()):
        with pytest.raises(ValueError, match=r"Keras's Sum, which adds up the values given"):
            model.compile("sgd", "mse", metrics=[given])
    assert metrics.direction_of("sum") is None


# -- in a model, by name and as instances -----------------------------------------------------

B, T, F = 24, 6, 3


def _data(classes):
    rng = np.random.default_rng(classes)
    x = rng.standard_normal((B, T, F))  # float64, as the model: compared at 1e-9 below
    lengths = rng.integers(2, T + 1, B)
    mask = np.arange(T)[None, :] < lengths[:, None]
    x[~mask] = 0.0  # what the Masking layer leaves out
    y = rng.integers(0, 2, (B, T, classes)).astype(np.float64)
    return x, y, mask, rng.uniform(0.5, 2.0, B)


def _model(classes):
    return Sequential(
        [
            Input((T, F)),
            Masking(0.0, dtype="float64"),
            LSTM(5, return_sequences=True, dtype="float64"),
            Dense(classes, activation="sigmoid", dtype="float64"),
        ],
        seed=3,
    )  # fmt: skip  (float64: the metrics are compared with float64 formulas at 1e-9)


def test_in_a_model_by_name_with_a_mask_and_weights(tmp_path):
    x, y, mask, w = _data(1)
    model = _model(1)
    names = ["auc", "f1_score", "r2_score", "binary_crossentropy", "bce", "precision"]
    model.compile(optimizers.SGD(0.0), "binary_crossentropy", metrics=names,
                  weighted_metrics=[metrics.AUC(curve="PR"), "recall", "fbeta_score"])  # fmt: skip
    assert model.metrics_names == ["loss", *names, "weighted_auc", "recall", "fbeta_score"]
    logs = model.evaluate(x, y, sample_weight=w, batch_size=5, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0).astype(np.float64)
    unweighted = np.broadcast_to(mask[..., None], y.shape).astype(float)
    weighted = unweighted * w[:, None, None]
    bce = crossentropy("binary", y, p)
    expected = {
        "auc": auc_reference(y, p, unweighted),
        "f1_score": fbeta(y[mask], p[mask], np.ones(mask.sum())),
        "r2_score": r2(y[mask], p[mask], np.ones(mask.sum())),
        "binary_crossentropy": (bce * mask).sum() / mask.sum(),
        "bce": (bce * mask).sum() / mask.sum(),
        "precision": precision_recall(y, p, unweighted)[0],
        "weighted_auc": auc_reference(y, p, weighted, curve="PR"),
        "recall": precision_recall(y, p, weighted)[1],
        "fbeta_score": fbeta(y[mask], p[mask], w[np.nonzero(mask)[0]]),
    }
    for name, value in expected.items():
        assert logs[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
    path = tmp_path / "m.fastlstm"
    model.save(path)
    loaded = load_model(path)
    assert loaded.metrics_names == model.metrics_names
    again = loaded.evaluate(x, y, sample_weight=w, batch_size=5, verbose=0, return_dict=True)
    assert again == pytest.approx(logs, rel=1e-12)


def test_in_a_model_as_instances_reset_each_epoch(tmp_path):
    x, y, mask, _ = _data(3)
    model = _model(3)
    chosen = [
        metrics.AUC(curve="PR", multi_label=True, name="pr_auc"),
        metrics.AUC(summation_method="majoring", label_weights=[1.0, 2.0, 0.5], name="auc_major"),
        metrics.Precision(top_k=1),
        metrics.Recall(class_id=2, thresholds=[0.4]),
        metrics.F1Score("macro", threshold=0.5),
        metrics.FBetaScore("weighted", 2.0),
        metrics.R2Score("variance_weighted_average", num_regressors=2),
        metrics.BinaryCrossentropy(label_smoothing=0.1),
    ]
    model.compile(optimizers.SGD(0.0), "binary_crossentropy", metrics=chosen)
    history = model.fit(x, y, epochs=2, batch_size=7, shuffle=False, verbose=0)
    # lr 0: the same outputs each epoch; the counts are one epoch's, not two
    r2_metric = model.metrics[6]
    assert float(r2_metric.num_samples) == 3 * mask.sum()
    assert float(model.metrics[2].true_positives) + float(model.metrics[2].false_positives) == (
        mask.sum()
    )
    p = model.predict(x, verbose=0).astype(np.float64)
    valid = np.broadcast_to(mask[..., None], y.shape).astype(float)
    expected = {
        "pr_auc": np.mean([auc_reference(y[..., j], p[..., j], valid[..., j], curve="PR") for j in range(3)]),
        "auc_major": auc_reference(y, p, valid * [1.0, 2.0, 0.5], method="majoring"),
        "precision": precision_recall(y, p, valid, -1e10, top_k=1)[0],
        "recall": precision_recall(y, p, valid, 0.4, class_id=2)[1],
        "f1_score": fbeta(y[mask], p[mask], np.ones(mask.sum()), threshold=0.5),
        "fbeta_score": fbeta(y[mask], p[mask], np.ones(mask.sum()), 2.0, average="weighted"),
        "r2_score": r2(y[mask], p[mask], np.ones(mask.sum()), "variance_weighted_average", 2, 3 * mask.sum()),
        "binary_crossentropy": (crossentropy("binary", y, p, smoothing=0.1) * mask).sum() / mask.sum(),
    }  # fmt: skip
    for name, value in expected.items():
        assert history.history[name][0] == pytest.approx(value, rel=1e-9), name
        assert history.history[name][1] == pytest.approx(value, rel=1e-9), name
    path = tmp_path / "m.fastlstm"
    model.save(path)
    loaded = load_model(path)
    assert [m.get_config() for m in loaded.metrics] == [m.get_config() for m in model.metrics]
    assert loaded.evaluate(x, y, verbose=0, return_dict=True) == pytest.approx(
        model.evaluate(x, y, verbose=0, return_dict=True), rel=1e-12
    )


# -- names, directions, configs, copies -------------------------------------------------------

NEW = [
    ("auc", metrics.AUC, "max"),
    ("f1_score", metrics.F1Score, "max"),
    ("fbeta_score", metrics.FBetaScore, "max"),
    ("f_beta_score", metrics.FBetaScore, "max"),
    ("r2_score", metrics.R2Score, "max"),
    ("precision", metrics.Precision, "max"),
    ("recall", metrics.Recall, "max"),
    ("binary_crossentropy", metrics.BinaryCrossentropy, "min"),
    ("bce", metrics.BinaryCrossentropy, "min"),
    ("categorical_crossentropy", metrics.CategoricalCrossentropy, "min"),
    ("sparse_categorical_crossentropy", metrics.SparseCategoricalCrossentropy, "min"),
]


@pytest.mark.parametrize(("name", "cls", "direction"), NEW)
def test_names_classes_and_directions(name, cls, direction):
    m = metrics.get(name)
    assert type(m) is cls
    assert m.name == name  # logged under the name given, as Keras
    assert type(metrics.get(cls.__name__)) is cls
    assert metrics.direction_of(name) == direction
    model = Sequential([Input((4, 2)), LSTM(3), Dense(1, activation="sigmoid")], seed=0)
    model.compile("sgd", "binary_crossentropy", metrics=[name])
    who = "EarlyStopping"
    assert callbacks._direction(who, f"val_{name}", "auto", model) == direction


def _used(m):
    """The metric after two batches it can take."""
    if isinstance(m, metrics.SparseCategoricalCrossentropy):
        y, p = RNG.integers(0, 3, (8,)), RNG.random((8, 3))
    elif isinstance(m, metrics.R2Score):
        y, p = RNG.standard_normal((8, 3)), RNG.standard_normal((8, 3))
    else:
        y, p = RNG.integers(0, 2, (8, 3)), RNG.random((8, 3))
    m.update_state(y[:4], p[:4])
    m.update_state(y[4:], p[4:])
    return m, (y, p)


CONFIGURED = [
    lambda: metrics.AUC(50, "PR", "minoring", multi_label=True, num_labels=3, from_logits=True),
    lambda: metrics.AUC(thresholds=[0.2, 0.7], label_weights=[1.0, 2.0, 3.0], name="a"),
    lambda: metrics.Precision([0.4], top_k=2, class_id=1, name="p"),
    lambda: metrics.Recall(0.3),
    lambda: metrics.F1Score("micro", 0.5),
    lambda: metrics.FBetaScore("macro", 0.5),
    lambda: metrics.R2Score("variance_weighted_average", 1),
    lambda: metrics.BinaryCrossentropy("b", from_logits=True, label_smoothing=0.2),
    lambda: metrics.CategoricalCrossentropy(label_smoothing=0.1),
    lambda: metrics.SparseCategoricalCrossentropy(from_logits=True),
]


@pytest.mark.parametrize("make", CONFIGURED)
def test_configs_round_trip_through_json_and_serialize(make):
    m = make()
    config = m.get_config()
    assert json.loads(json.dumps(config)) == config
    again = type(m).from_config(json.loads(json.dumps(config)))
    assert again.get_config() == config
    clone = metrics.deserialize(json.loads(json.dumps(metrics.serialize(m))))
    assert type(clone) is type(m)
    assert clone.get_config() == config
    _, data = _used(make())
    fresh = type(m).from_config(config)
    fresh.update_state(*data)
    twice = type(m).from_config(config)
    twice.update_state(*data)
    assert fresh.result() == twice.result()


@pytest.mark.parametrize("make", [*CONFIGURED, metrics.Sum])
def test_copies_keep_their_own_state(make):
    if make is metrics.Sum:
        m, data = metrics.Sum(), None
        m.update_state([1.0, 2.0])
    else:
        m, data = _used(make())
    before = m.result()
    for other in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        assert other.result() == pytest.approx(before, nan_ok=True)
        other.reset_state()
        if data is None:
            other.update_state([10.0])
        else:
            other.update_state(data[0][:3], data[1][:3])
        assert m.result() == pytest.approx(before, nan_ok=True)
    m.reset_state()
    assert m.result() == 0.0


def test_an_old_auc_and_precision_config_still_loads():
    """Files written before these options: {'name', 'num_thresholds', 'curve'} and
    {'name', 'thresholds'}."""
    auc = metrics.deserialize(
        {"class_name": "AUC", "config": {"name": "auc", "num_thresholds": 50, "curve": "ROC"}}
    )
    assert (auc.num_thresholds, auc.curve, auc.summation_method) == (50, "ROC", "interpolation")
    precision = metrics.deserialize(
        {"class_name": "Precision", "config": {"name": "p", "thresholds": 0.3}}
    )
    assert precision.thresholds == 0.3  # fmt: skip


# -- bad arguments ----------------------------------------------------------------------------


def _update(m, y, p):
    return lambda: m.update_state(y, p)


Y3, P3 = np.eye(3)[[0, 1, 2, 0]], RNG.random((4, 3))


@pytest.mark.parametrize(
    ("call", "exc", "match"),
    [
        (lambda: metrics.AUC(curve="PRC"), ValueError, r"curve: expected 'ROC' or 'PR', got 'PRC'"),
        (lambda: metrics.AUC(summation_method="trapezoid"), ValueError, r"summation_method: expected"),
        (lambda: metrics.AUC(multi_label=1), TypeError, r"multi_label: expected True or False"),
        (lambda: metrics.AUC(from_logits="yes"), TypeError, r"from_logits: expected True or False"),
        (lambda: metrics.AUC(num_labels=3), ValueError, r"num_labels: expected None unless multi_label"),
        (lambda: metrics.AUC(multi_label=True, num_labels=0), ValueError, r"num_labels: expected a positive"),
        (lambda: metrics.AUC(thresholds=[0.5, 1.5]), ValueError, r"thresholds\[1\]: expected a number in \[0, 1\]"),
        (lambda: metrics.AUC(thresholds=0.5), TypeError, r"thresholds: expected None or a list"),
        (lambda: metrics.AUC(num_thresholds=None), TypeError, r"num_thresholds: expected an integer"),
        (lambda: metrics.AUC(label_weights=[1.0, -1.0]), ValueError, r"label_weights: expected a list of finite non-neg"),
        (_update(metrics.AUC(label_weights=[1.0, 2.0]), Y3, P3), ValueError, r"label_weights: expected one weight for each of the 3"),
        (_update(metrics.AUC(multi_label=True, num_labels=2), Y3, P3), ValueError, r"y_pred: expected 2 labels"),
        (lambda: metrics.Precision(thresholds=[]), ValueError, r"thresholds: expected a number or a non-empty list"),
        (lambda: metrics.Recall(thresholds=[0.3, 1.5]), ValueError, r"thresholds\[1\]: expected a number in \[0, 1\]"),
        (lambda: metrics.Recall(thresholds=["0.5"]), TypeError, r"thresholds\[0\]: expected a number in \[0, 1\]"),
        (lambda: metrics.Precision(top_k=0), ValueError, r"top_k: expected a positive integer"),
        (lambda: metrics.Recall(class_id=-1), ValueError, r"class_id: expected a non-negative integer"),
        (lambda: metrics.Recall(class_id=1.0), TypeError, r"class_id: expected a non-negative integer"),
        (_update(metrics.Precision(top_k=4), Y3, P3), ValueError, r"top_k: expected at most 3 \(the classes\)"),
        (_update(metrics.Recall(class_id=3), Y3, P3), ValueError, r"class_id: expected a class of y_pred"),
        (_update(metrics.Recall(class_id=0), Y3[:, 0], P3[:, 0]), ValueError, r"class_id: expected a class"),
        (lambda: metrics.F1Score(average="binary"), ValueError, r"average: expected None, 'micro'"),
        (lambda: metrics.FBetaScore(beta=0.0), ValueError, r"beta: expected a finite number > 0"),
        (lambda: metrics.FBetaScore(beta="1"), TypeError, r"beta: expected a finite number > 0"),
        (lambda: metrics.F1Score(threshold=0.0), ValueError, r"threshold: expected a number in \(0, 1\]"),
        (lambda: metrics.F1Score(threshold=1.5), ValueError, r"threshold: expected a number in \(0, 1\]"),
        (lambda: metrics.R2Score(class_aggregation="mean"), ValueError, r"class_aggregation: expected one of"),
        (lambda: metrics.R2Score(num_regressors=-1), ValueError, r"num_regressors: expected a non-negative"),
        (lambda: metrics.BinaryCrossentropy(from_logits=1), TypeError, r"from_logits: expected True or False"),
        (lambda: metrics.CategoricalCrossentropy(label_smoothing=2), ValueError, r"label_smoothing: expected a number in \[0, 1\]"),
        (lambda: metrics.SparseCategoricalCrossentropy(axis=1), ValueError, r"axis: expected -1"),
        (lambda: metrics.get("sum"), ValueError, r"'sum' is Keras's Sum"),
        (lambda: metrics.deserialize({"class_name": "Sum", "config": {}}), ValueError, r"class name"),
    ],
)  # fmt: skip
def test_bad_arguments_are_named(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_a_metric_built_for_some_classes_refuses_others():
    for m in (metrics.F1Score("macro"), metrics.R2Score(), metrics.AUC(multi_label=True)):
        m.update_state(Y3, P3)
        with pytest.raises(ValueError, match=r"y_pred: expected 3"):
            m.update_state(np.eye(2)[[0, 1]], RNG.random((2, 2)))


def test_precision_and_recall_thresholds_lie_in_0_1():
    """2.0 had made every prediction negative (a precision of 0), silently; Keras raises."""
    for cls in (metrics.Precision, metrics.Recall):
        for bad in (2.0, -0.1, [1.5]):
            with pytest.raises(ValueError, match=r"thresholds(\[0\])?: expected"):
                cls(thresholds=bad)


def test_a_metric_function_of_one_number_a_batch_with_a_sequence_mask():
    """Its docstring promised it; a (B, T) mask met its per-sample (B,) values and raised."""
    from fastlstm.layers import Embedding

    def batch_mae(y_true, y_pred):  # one number for the batch
        return float(np.mean(np.abs(y_true - y_pred)))

    x = np.array([[3, 4, 0], [5, 0, 0]])
    y = np.ones((2, 3, 1))
    model = Sequential(
        [Embedding(10, 4, mask_zero=True), LSTM(4, return_sequences=True), Dense(1)], seed=0
    )
    model.compile("sgd", "mse", metrics=[batch_mae])
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)
    assert logs["batch_mae"] == pytest.approx(np.mean(np.abs(y - p)), rel=1e-6)


def test_mean_is_keras_mean():
    """metrics.Mean had kept Keras's name with an API of scalars only: an array gave an array,
    and sample_weight raised."""
    m = metrics.Mean()
    m.update_state(np.array([1.0, 2.0, 3.0]))
    assert m.result() == pytest.approx(2.0)
    m.reset_state()
    m.update_state([[1.0, 2.0], [3.0, 5.0]], sample_weight=[1.0, 0.0])  # row weights
    assert m.result() == pytest.approx(1.5)
    m.update_state(7.0, sample_weight=2)
    assert m.result() == pytest.approx((3.0 + 14.0) / 4.0)
    with pytest.raises(ValueError, match=r"sample_weight: expected a shape that weighs"):
        m.update_state([1.0, 2.0], sample_weight=[1.0, 2.0, 3.0])
    m.reset_state()
    assert m([1.0, 3.0]) == pytest.approx(2.0)  # called, as Keras 3's metrics are
    assert m([6.0], [2.0]) == pytest.approx(4.0)


def test_a_nan_prediction_counts_as_negative_in_auc_as_in_precision():
    """AUC had sorted a NaN above every threshold (a positive prediction at each), where
    Precision, Recall and accuracy (y_pred > t, as Keras's AUC compares too) count it negative."""
    y_true, y_pred = [1.0, 0.0, 0.0, 1.0], [0.9, np.nan, 0.2, 0.7]
    for curve in ("ROC", "PR"):
        auc, without = metrics.AUC(curve=curve), metrics.AUC(curve=curve)
        auc.update_state(y_true, y_pred)
        without.update_state([1.0, 0.0, 1.0], [0.9, 0.2, 0.7])  # the NaN's sample left out
        for name in ("true_positives", "false_positives", "false_negatives"):
            np.testing.assert_array_equal(
                getattr(auc, name).numpy(), getattr(without, name).numpy()
            )
        np.testing.assert_array_equal(
            auc.true_negatives.numpy(), without.true_negatives.numpy() + 1
        )
