"""Keras 3's confusion-count metrics: Precision, Recall, AUC (ROC and PR), F1Score, FBetaScore.

Each keeps weighted counts of true and false positives (and negatives) over every value seen
since the last reset, in variables from :meth:`Metric.add_weight` named as Keras's, and computes
its result from the counts: it is not a mean of per-batch values. ``sample_weight`` and a (B, T)
mask weigh each value (a masked step weighs 0). Re-exported by :mod:`fastlstm.metrics`.
"""

from __future__ import annotations

import numpy as np

from . import losses
from ._arrays import integer, real_array, real_number
from ._loss_base import _dense_target, _floating
from ._metric_base import Metric
from .functional import _flag

# A million thresholds resolve the AUC to about 1e-6; more would only take memory (four float64
# counts each), which a model file could otherwise ask for in gigabytes.
MAX_THRESHOLDS = 10**6
NEG_INF = -1e10  # Keras's stand-in for "below every prediction" (metrics_utils.NEG_INF)
EPSILON = 1e-7  # Keras's backend.epsilon()


def _divide_no_nan(x, y) -> np.ndarray:
    """x / y, 0 where y is 0 (Keras's ops.divide_no_nan)."""
    x, y = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(y, np.float64))
    return np.divide(x, y, out=np.zeros(x.shape), where=y != 0)


def _weights(sample_weight, mask, shape: tuple) -> np.ndarray:
    """One weight per value of ``shape`` from sample_weight and a mask (ones without)."""
    w = losses.sample_weights(sample_weight, mask, shape, np.dtype(np.float64), rescale=False)
    return np.ones(shape) if w is None else np.asarray(w, np.float64)


def _rows(a: np.ndarray) -> np.ndarray:
    """(N, C): the last axis as classes (labels), every other axis as samples; a 1-D array is
    one class. Keras takes (B, C) only; a sequence output (B, T, C) is B*T samples here."""
    return a.reshape(-1, 1) if a.ndim < 2 else a.reshape(-1, a.shape[-1])


def _top_k_mask(y_pred: np.ndarray, k: int) -> np.ndarray:
    """Where each row's k highest predictions lie (ties to the lower index, as Keras's
    ops.top_k): the values Keras's _filter_top_k keeps, the rest set to -1e10."""
    if k > y_pred.shape[-1]:
        raise ValueError(f"top_k: expected at most {y_pred.shape[-1]} (the classes), got {k}")
    order = np.argsort(-y_pred, axis=-1, kind="stable")[..., :k]
    keep = np.zeros(y_pred.shape, bool)
    np.put_along_axis(keep, order, True, axis=-1)
    return keep


def _parse_thresholds(thresholds) -> list[float]:
    """The thresholds Precision/Recall compare with, from Keras's ``thresholds``: a number or a
    non-empty list, each in [0, 1] (Keras's range)."""
    if isinstance(thresholds, (list, tuple, np.ndarray)):
        if len(thresholds) == 0:
            raise ValueError("thresholds: expected a number or a non-empty list, got an empty one")
        return [
            real_number(t, f"thresholds[{k}]", at_least=0, at_most=1)
            for k, t in enumerate(thresholds)
        ]
    return [real_number(thresholds, "thresholds", at_least=0, at_most=1)]


def _one_or_each(value):
    """A float, or an (n,) float64 array of one result a threshold."""
    value = np.asarray(value, dtype=np.float64)
    return value.copy() if value.ndim else float(value)


# The confusion matrix's cells, from the predicted and the actual positives (bool arrays)
_CELLS = {
    "true_positives": lambda predicted, actual: predicted & actual,
    "false_positives": lambda predicted, actual: predicted & ~actual,
    "false_negatives": lambda predicted, actual: ~predicted & actual,
    "true_negatives": lambda predicted, actual: ~predicted & ~actual,
}


class _Confusion(Metric):
    """Keras 3's Precision and Recall: y_true is positive where nonzero; y_pred above the
    threshold is predicted positive. ``top_k`` predicts positive only the k highest of each
    row (the threshold, unless given, is then -1e10); ``class_id`` counts that column of y_true
    and y_pred alone. Keras's argument order. A list of several thresholds gives one result a
    threshold, an (n,) array (the logs hold it, the progress bar shows its mean), as Keras's."""

    direction = "max"
    _counts: tuple = ()  # the variables kept, Keras's names

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None) -> None:
        self.top_k = integer(top_k, "top_k", at_least=1, allow_none=True)
        self.class_id = integer(class_id, "class_id", at_least=0, allow_none=True)
        if thresholds is None:
            self.init_thresholds = None
            self.thresholds = 0.5 if self.top_k is None else NEG_INF
        else:
            parsed = _parse_thresholds(thresholds)
            listed = isinstance(thresholds, (list, tuple, np.ndarray))
            self.init_thresholds = parsed if listed else parsed[0]
            self.thresholds = parsed if len(parsed) > 1 else parsed[0]
        super().__init__(name, dtype)
        shape = (len(self.thresholds),) if isinstance(self.thresholds, list) else ()
        for count in self._counts:
            setattr(self, count, self.add_weight(shape, name=count))

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        y_pred = _floating(y_pred)
        actual = _dense_target(y_true, y_pred, self.name) != 0
        w = _weights(sample_weight, mask, y_pred.shape)
        several = isinstance(self.thresholds, list)
        predicted = y_pred[..., None] > np.array(self.thresholds) if several else (
            y_pred > self.thresholds
        )  # fmt: skip
        if self.top_k is not None:
            keep = _top_k_mask(y_pred, self.top_k)
            predicted &= keep[..., None] if several else keep
        if self.class_id is not None:
            classes = y_pred.shape[-1] if y_pred.ndim >= 2 else None
            if classes is None or self.class_id >= classes:
                raise ValueError(
                    f"class_id: expected a class of y_pred (B, ..., C), below its C, got "
                    f"{self.class_id} for y_pred of shape {y_pred.shape}"
                )
            c = self.class_id
            predicted = predicted[..., c, :] if several else predicted[..., c]
            actual, w = actual[..., c], w[..., c]
        if several:  # a last axis of thresholds
            actual, w = actual[..., None], w[..., None]
        axes = tuple(range(predicted.ndim - 1)) if several else None
        for count in self._counts:  # only the cells this metric keeps
            cell = _CELLS[count](predicted, actual)
            getattr(self, count).assign_add(np.where(cell, w, 0.0).sum(axis=axes))

    def get_config(self):
        return {
            **super().get_config(),
            "thresholds": self.init_thresholds,
            "top_k": self.top_k,
            "class_id": self.class_id,
        }


class Precision(_Confusion):
    """TP / (TP + FP); 0 before any positive prediction."""

    name = "precision"
    _counts = ("true_positives", "false_positives")

    def result(self) -> float | np.ndarray:
        return _one_or_each(
            _divide_no_nan(self.true_positives, self.true_positives + self.false_positives)
        )


class Recall(_Confusion):
    """TP / (TP + FN); 0 before any positive label."""

    name = "recall"
    _counts = ("true_positives", "false_negatives")

    def result(self) -> float | np.ndarray:
        return _one_or_each(
            _divide_no_nan(self.true_positives, self.true_positives + self.false_negatives)
        )


class _Count(_Confusion):
    """Keras 3's TruePositives, FalsePositives, TrueNegatives and FalseNegatives: the weighted
    count of such values, y_pred above ``thresholds`` (0.5) predicted positive, y_true positive
    where nonzero; a list of thresholds gives a count each, an (n,) array. No top_k or
    class_id (Keras's take none)."""

    def __init__(self, thresholds=None, name=None, dtype=None) -> None:
        super().__init__(thresholds=thresholds, name=name, dtype=dtype)

    def result(self) -> float | np.ndarray:
        return _one_or_each(getattr(self, self._counts[0]))

    def get_config(self):
        return {"name": self.name, "thresholds": self.init_thresholds}


class TruePositives(_Count):
    name = "true_positives"
    _counts = ("true_positives",)


class FalsePositives(_Count):
    name = "false_positives"
    direction = "min"
    _counts = ("false_positives",)


class TrueNegatives(_Count):
    name = "true_negatives"
    _counts = ("true_negatives",)


class FalseNegatives(_Count):
    name = "false_negatives"
    direction = "min"
    _counts = ("false_negatives",)


class _AtConstraint(_Confusion):
    """Keras 3's SensitivityAtSpecificity and its kin: the four counts at ``num_thresholds``
    thresholds evenly spread over [0, 1] (0 and 1 included; 0.5 alone for one), then the
    largest of one rate among the thresholds where the other reaches ``value`` (0 where none
    does). ``class_id`` counts that column alone."""

    direction = "max"
    _counts = ("true_positives", "false_positives", "true_negatives", "false_negatives")
    _value_name = "value"  # the constraint's keyword, Keras's

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None) -> None:
        self.value = real_number(value, self._value_name, at_least=0, at_most=1)
        self.num_thresholds = integer(num_thresholds, "num_thresholds", at_least=1)
        n = self.num_thresholds
        thresholds = [0.5] if n == 1 else [0.0, *((i + 1) / (n - 1) for i in range(n - 2)), 1.0]
        super().__init__(thresholds=thresholds, class_id=class_id, name=name, dtype=dtype)

    def _rates(self) -> dict[str, np.ndarray]:
        tp, fp = self.true_positives.numpy(), self.false_positives.numpy()
        tn, fn = self.true_negatives.numpy(), self.false_negatives.numpy()
        return {
            "sensitivity": _divide_no_nan(tp, tp + fn),  # = recall
            "specificity": _divide_no_nan(tn, tn + fp),
            "precision": _divide_no_nan(tp, tp + fp),
        }

    def result(self) -> float:
        rates = self._rates()
        constrained, dependent = rates[self._constrained], rates[self._dependent]
        feasible = constrained >= self.value
        return float(dependent[feasible].max()) if feasible.any() else 0.0

    def get_config(self):
        return {
            "name": self.name,
            self._value_name: self.value,
            "num_thresholds": self.num_thresholds,
            "class_id": self.class_id,
        }


class SensitivityAtSpecificity(_AtConstraint):
    """The best sensitivity (recall) at a specificity of at least ``specificity``."""

    name = "sensitivity_at_specificity"
    _value_name, _constrained, _dependent = "specificity", "specificity", "sensitivity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)


class SpecificityAtSensitivity(_AtConstraint):
    """The best specificity at a sensitivity (recall) of at least ``sensitivity``."""

    name = "specificity_at_sensitivity"
    _value_name, _constrained, _dependent = "sensitivity", "sensitivity", "specificity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)


class PrecisionAtRecall(_AtConstraint):
    """The best precision at a recall of at least ``recall``."""

    name = "precision_at_recall"
    _value_name, _constrained, _dependent = "recall", "sensitivity", "precision"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)


class RecallAtPrecision(_AtConstraint):
    """The best recall at a precision of at least ``precision``."""

    name = "recall_at_precision"
    _value_name, _constrained, _dependent = "precision", "precision", "sensitivity"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)


def _evenly_spaced(thresholds: np.ndarray) -> bool:
    """Keras's is_evenly_distributed_thresholds: i / (n - 1) for each i, within 1e-7."""
    n = len(thresholds)
    if n < 3:
        return False
    even = np.arange(n, dtype=np.float32) / (n - 1)
    return bool(np.allclose(thresholds, even, atol=EPSILON))


def _counts_above(scores, positive, negative, thresholds):
    """(n, L) weights of the positives and negatives scoring above each of the n thresholds,
    from (N, L) scores and weights: each column sorted once, the thresholds looked up in it."""
    tp = np.empty((len(thresholds), scores.shape[1]))
    fp = np.empty_like(tp)
    # NaN is above no threshold (as `y_pred > t` has it in Precision and Recall); sorted, it
    # would come last, above them all.
    scores = np.where(np.isnan(scores), -np.inf, scores)
    for j in range(scores.shape[1]):
        order = np.argsort(scores[:, j], kind="stable")
        first_above = np.searchsorted(scores[order, j], thresholds, side="right")
        for out, w in ((tp, positive), (fp, negative)):
            tail = np.concatenate([np.cumsum(w[order[::-1], j])[::-1], [0.0]])
            out[:, j] = tail[first_above]
    return tp, fp


_CURVES = {"ROC": "ROC", "roc": "ROC", "PR": "PR", "pr": "PR"}
_SUMMATIONS = {
    name: name.lower()
    for name in ("interpolation", "Interpolation", "minoring", "Minoring", "majoring", "Majoring")
}  # Keras's spellings


class AUC(Metric):
    """Area under the ROC or precision-recall curve, as Keras 3's ``AUC`` computes it: weighted
    counts of true and false positives and negatives above each threshold, over every value
    seen, and a Riemann sum between neighbouring thresholds.

    Thresholds: ``num_thresholds`` spread evenly over [0, 1] (the inner ones i / (n - 1), then
    -1e-7 and 1 + 1e-7 at the ends), or the sorted ``thresholds`` given with the two ends
    added. Where they are evenly spread, predictions are first clipped to [0, 1] (Keras's fast
    path does; its other path does not). ``from_logits`` takes the sigmoid first.

    ``summation_method``: "interpolation" averages neighbouring heights for ROC and, for PR,
    is Davis & Goadrich's interpolation of the counts (Keras's interpolate_pr_auc);
    "minoring" takes the lower and "majoring" the higher of two neighbouring heights.

    ``multi_label=False`` treats every value as one binary problem (the labels flattened, each
    weighed by ``label_weights[column]`` where given); ``multi_label=True`` computes one AUC a
    column (the last axis; the other axes are samples) and averages them, weighted by
    ``label_weights`` where given. y_true is positive where nonzero."""

    name = "auc"
    direction = "max"

    def __init__(
        self,
        num_thresholds=200,
        curve="ROC",
        summation_method="interpolation",
        name=None,
        dtype=None,
        thresholds=None,
        multi_label=False,
        num_labels=None,
        label_weights=None,
        from_logits=False,
    ) -> None:
        # Keras ignores num_thresholds where thresholds are given (its configs then say None)
        num_thresholds = integer(
            num_thresholds,
            "num_thresholds",
            at_least=2,
            at_most=MAX_THRESHOLDS,
            allow_none=thresholds is not None,
        )
        if not isinstance(curve, str) or curve not in _CURVES:
            raise ValueError(f"curve: expected 'ROC' or 'PR', got {curve!r}")
        if not isinstance(summation_method, str) or summation_method not in _SUMMATIONS:
            raise ValueError(
                f"summation_method: expected 'interpolation', 'minoring' or 'majoring', got "
                f"{summation_method!r}"
            )
        self.curve, self.summation_method = _CURVES[curve], _SUMMATIONS[summation_method]
        self.multi_label = _flag(multi_label, "multi_label")
        self.from_logits = _flag(from_logits, "from_logits")
        self.num_labels = integer(num_labels, "num_labels", at_least=1, allow_none=True)
        if self.num_labels is not None and not self.multi_label:
            raise ValueError("num_labels: expected None unless multi_label=True (Keras's rule)")
        self.label_weights = self._check_label_weights(label_weights)
        self._init_thresholds = self._check_thresholds(thresholds)
        if self._init_thresholds is None:
            self.num_thresholds = num_thresholds
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._clip = True
        else:
            inner = sorted(self._init_thresholds)
            self.num_thresholds = len(inner) + 2
            self._clip = _evenly_spaced(np.array([0.0, *inner, 1.0]))
        self._thresholds = np.array([0.0 - EPSILON, *inner, 1.0 + EPSILON])
        super().__init__(name, dtype)
        self._labels = None  # the columns the counts were made for (multi_label)
        if not self.multi_label:
            self._build(1)

    @property
    def thresholds(self) -> list[float]:
        """The thresholds, the two ends included (Keras's)."""
        return [float(t) for t in self._thresholds]

    @staticmethod
    def _check_thresholds(thresholds):
        if thresholds is None:
            return None
        if not isinstance(thresholds, (list, tuple, np.ndarray)):
            raise TypeError(f"thresholds: expected None or a list of numbers, got {thresholds!r}")
        if len(thresholds) > MAX_THRESHOLDS - 2:
            raise ValueError(
                f"thresholds: expected at most {MAX_THRESHOLDS - 2}, got {len(thresholds)}"
            )
        return [
            real_number(t, f"thresholds[{i}]", at_least=0, at_most=1)
            for i, t in enumerate(thresholds)
        ]

    @staticmethod
    def _check_label_weights(label_weights):
        if label_weights is None:
            return None
        w = real_array(label_weights, "label_weights")
        if w.ndim != 1 or not np.isfinite(w).all() or (w < 0).any():
            raise ValueError(
                f"label_weights: expected a list of finite non-negative numbers, one a label, "
                f"got {label_weights!r}"
            )
        return [float(v) for v in w]

    def _build(self, labels: int) -> None:
        shape = (self.num_thresholds,) if not self.multi_label else (self.num_thresholds, labels)
        for name in ("true_positives", "false_positives", "true_negatives", "false_negatives"):
            setattr(self, name, self.add_weight(shape, name=name))
        self._labels = labels

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        y_pred = _floating(y_pred).astype(np.float64, copy=False)
        actual = _dense_target(y_true, y_pred, self.name) != 0
        w = _weights(sample_weight, mask, y_pred.shape)
        labels = y_pred.shape[-1] if y_pred.ndim >= 2 else 1
        if self.label_weights is not None and len(self.label_weights) != labels:
            raise ValueError(
                f"label_weights: expected one weight for each of the {labels} labels of y_pred "
                f"(shape {y_pred.shape}), got {len(self.label_weights)}"
            )
        if self.from_logits:
            y_pred = 0.5 * (1.0 + np.tanh(0.5 * y_pred))  # the sigmoid, without overflow
        if self._clip:
            y_pred = np.clip(y_pred, 0.0, 1.0)
        if self.multi_label:
            self._check_labels(labels, y_pred.shape)
            scores, actual, w = _rows(y_pred), _rows(actual), _rows(w)
        else:
            if self.label_weights is not None:
                w = w * np.asarray(self.label_weights)
            scores, actual, w = y_pred.reshape(-1, 1), actual.reshape(-1, 1), w.reshape(-1, 1)
        positive, negative = w * actual, w * ~actual
        tp, fp = _counts_above(scores, positive, negative, self._thresholds)
        if not self.multi_label:
            tp, fp = tp[:, 0], fp[:, 0]
        self.true_positives.assign_add(tp)
        self.false_positives.assign_add(fp)
        self.false_negatives.assign_add(positive.sum(axis=0).reshape(tp.shape[1:]) - tp)
        self.true_negatives.assign_add(negative.sum(axis=0).reshape(fp.shape[1:]) - fp)

    def _check_labels(self, labels: int, shape: tuple) -> None:
        expected = self._labels or self.num_labels
        if expected is not None and labels != expected:
            raise ValueError(
                f"y_pred: expected {expected} labels on its last axis (multi_label=True), got "
                f"shape {shape}"
            )
        if self._labels is None:
            self._build(labels)

    def _interpolate_pr_auc(self, tp, fp, fn) -> np.ndarray:
        """Keras's interpolate_pr_auc (Davis & Goadrich 2006): within each interval between
        thresholds, TP and P = TP + FP vary linearly, and precision dP is integrated exactly:
        slope * (dTP + intercept * log(P_A / P_B)) / positives, per label."""
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, _divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        area = slope * (dtp + intercept * np.log(ratio))
        return _divide_no_nan(area, np.maximum(tp[1:] + fn[1:], 0)).sum(axis=0)

    def result(self) -> float:
        if self._labels is None:  # multi_label, nothing seen yet
            return 0.0
        tp, fp = self.true_positives.value, self.false_positives.value
        tn, fn = self.true_negatives.value, self.false_negatives.value
        if self.curve == "PR" and self.summation_method == "interpolation":
            by_label = self._interpolate_pr_auc(tp, fp, fn)
        else:
            recall = _divide_no_nan(tp, tp + fn)
            if self.curve == "ROC":
                x, y = _divide_no_nan(fp, fp + tn), recall
            else:
                x, y = recall, _divide_no_nan(tp, tp + fp)
            if self.summation_method == "interpolation":
                heights = (y[:-1] + y[1:]) / 2
            elif self.summation_method == "minoring":
                heights = np.minimum(y[:-1], y[1:])
            else:
                heights = np.maximum(y[:-1], y[1:])
            by_label = ((x[:-1] - x[1:]) * heights).sum(axis=0)
        if not self.multi_label:
            return float(by_label)
        if self.label_weights is None:
            return float(by_label.mean())
        lw = np.asarray(self.label_weights)
        return float(_divide_no_nan((by_label * lw).sum(), lw.sum()))

    def get_config(self):
        config = {
            **super().get_config(),
            "num_thresholds": self.num_thresholds,
            "curve": self.curve,
            "summation_method": self.summation_method,
            "multi_label": self.multi_label,
            "num_labels": self.num_labels,
            "label_weights": self.label_weights,
            "from_logits": self.from_logits,
        }
        if self._init_thresholds is not None:
            config["thresholds"] = self.thresholds[1:-1]
        return config


_AVERAGES = (None, "micro", "macro", "weighted")


class FBetaScore(Metric):
    """Keras 3's F-beta score: (1 + b^2) * precision * recall / (b^2 * precision + recall),
    from weighted counts over every row seen (y_true and y_pred (B, C), or (B, T, C): B*T rows
    weighed by the mask), each with Keras's 1e-7 in its denominators.

    A row's predictions are positive above ``threshold`` (in (0, 1]), or, with ``threshold``
    None, where they equal the row's maximum (and are not 0). ``average``: "micro" one score
    from the counts summed over the classes; "macro" the mean of the scores per class;
    "weighted" their mean weighted by each class's weight of positive labels; None (Keras's
    default) the score of each class: ``result()`` and the logs give a (C,) array (one number
    where C is 1), the progress bar their mean, as Keras's."""

    name = "fbeta_score"
    direction = "max"

    def __init__(self, average=None, beta=1.0, threshold=None, name=None, dtype=None) -> None:
        if not (average is None or isinstance(average, str)) or average not in _AVERAGES:
            raise ValueError(
                f"average: expected None, 'micro', 'macro' or 'weighted', got {average!r}"
            )
        self.average = average
        self.beta = real_number(beta, "beta", above=0)
        self.threshold = real_number(threshold, "threshold", above=0, at_most=1, allow_none=True)
        super().__init__(name, dtype)
        self._classes = None

    def _build(self, classes: int) -> None:
        shape = () if self.average == "micro" else (classes,)
        for name in ("true_positives", "false_positives", "false_negatives"):
            setattr(self, name, self.add_weight(shape, name=name))
        self.intermediate_weights = self.add_weight(shape, name="intermediate_weights")
        self._classes = classes

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        y_pred = _floating(y_pred).astype(np.float64, copy=False)
        y = _rows(_dense_target(y_true, y_pred, self.name))
        w = _rows(_weights(sample_weight, mask, y_pred.shape))
        p = _rows(y_pred)
        classes = p.shape[1]
        if self._classes is None:
            self._build(classes)
        elif classes != self._classes:
            raise ValueError(
                f"y_pred: expected {self._classes} classes on its last axis, as before, got "
                f"shape {y_pred.shape}"
            )
        if self.threshold is None:
            top = p.max(axis=-1, keepdims=True) if len(p) else p
            predicted = (p >= top) & (np.abs(p) > 1e-9)
        else:
            predicted = p > self.threshold
        predicted = predicted.astype(np.float64)
        axis = None if self.average == "micro" else 0
        self.true_positives.assign_add((predicted * y * w).sum(axis=axis))
        self.false_positives.assign_add((predicted * (1 - y) * w).sum(axis=axis))
        self.false_negatives.assign_add(((1 - predicted) * y * w).sum(axis=axis))
        self.intermediate_weights.assign_add((y * w).sum(axis=axis))

    def result(self) -> float | np.ndarray:
        if self._classes is None:
            return 0.0
        tp = self.true_positives.value
        precision = tp / (tp + self.false_positives.value + EPSILON)
        recall = tp / (tp + self.false_negatives.value + EPSILON)
        b2 = self.beta**2
        score = precision * recall / (b2 * precision + recall + EPSILON) * (1 + b2)
        if self.average == "weighted":
            support = self.intermediate_weights.value
            score = np.sum(score * support / (support.sum() + EPSILON))
        elif self.average is not None:
            score = np.mean(score)
        if np.size(score) > 1:
            return np.array(score, dtype=np.float64)  # average=None: one a class
        return float(np.reshape(score, -1)[0]) if np.ndim(score) else float(score)

    def get_config(self):
        return {
            **super().get_config(),
            "average": self.average,
            "beta": self.beta,
            "threshold": self.threshold,
        }


class F1Score(FBetaScore):
    """FBetaScore with beta 1: 2 * precision * recall / (precision + recall) (Keras 3's)."""

    name = "f1_score"

    def __init__(self, average=None, threshold=None, name=None, dtype=None) -> None:
        super().__init__(average, 1.0, threshold, name, dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config
