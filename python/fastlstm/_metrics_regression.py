"""Keras 3's R2Score: the coefficient of determination from weighted sums over every value seen.

Re-exported by :mod:`fastlstm.metrics`.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from . import losses
from ._arrays import integer
from ._loss_base import _dense_target, _floating
from ._metric_base import Metric

_AGGREGATIONS = (None, "uniform_average", "variance_weighted_average")


class R2Score(Metric):
    """Keras 3's coefficient of determination over every value seen since the last reset (not
    a mean of per-batch scores): per output column, 1 - SS_res / SS_tot from weighted sums,
    SS_tot = sum(w*y^2) - sum(w*y)^2 / sum(w); a column whose score is infinite (a constant
    target) scores 0, and a column with nothing to compare (0 / 0) is NaN, as Keras's.

    ``class_aggregation``: "uniform_average" the mean over the columns, "variance_weighted_
    average" weighted by SS_tot, None the score of each column: a (C,) array (one number for
    one column), as Keras's, which the logs hold as it is and the progress bar as its mean. ``num_regressors`` p > 0 gives the adjusted score
    1 - (1 - R2) (n - 1) / (n - p - 1), n every value seen (Keras's count: samples times
    columns, weights aside; a masked step is not seen), with Keras's warning and the plain
    score where n - 1 <= p. y (B, C), or (B, T, C): B*T rows weighed by the mask. 0 before
    any value (Keras's gives NaN after a reset)."""

    name = "r2_score"
    direction = "max"

    def __init__(
        self, class_aggregation="uniform_average", num_regressors=0, name=None, dtype=None
    ) -> None:
        if not (class_aggregation is None or isinstance(class_aggregation, str)) or (
            class_aggregation not in _AGGREGATIONS
        ):
            raise ValueError(
                f"class_aggregation: expected one of {_AGGREGATIONS}, got {class_aggregation!r}"
            )
        self.class_aggregation = class_aggregation
        self.num_regressors = integer(num_regressors, "num_regressors", at_least=0)
        super().__init__(name, dtype)
        self.num_samples = self.add_weight(name="num_samples")
        self._columns = None

    def _build(self, columns: int) -> None:
        for name in ("squared_sum", "sum", "total_mse", "count"):
            setattr(self, name, self.add_weight((columns,), name=name))
        self._columns = columns

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        y_pred = _floating(y_pred).astype(np.float64, copy=False)
        y = _dense_target(y_true, y_pred, self.name)
        w = losses.sample_weights(
            sample_weight, mask, y_pred.shape, np.dtype(np.float64), rescale=False
        )
        w = np.ones(y_pred.shape) if w is None else w
        seen = (
            y.size
            if mask is None
            else np.count_nonzero(
                losses.sample_weights(None, mask, y.shape, np.dtype(np.float64), rescale=False)
            )
        )
        columns = y.shape[-1] if y.ndim >= 2 else 1
        y, p, w = y.reshape(-1, columns), y_pred.reshape(-1, columns), w.reshape(-1, columns)
        if self._columns is None:
            self._build(columns)
        elif columns != self._columns:
            raise ValueError(
                f"y_pred: expected {self._columns} outputs on its last axis, as before, got "
                f"shape {y_pred.shape}"
            )
        self.sum.assign_add((y * w).sum(axis=0))
        self.squared_sum.assign_add((y * y * w).sum(axis=0))
        self.total_mse.assign_add(((y - p) ** 2 * w).sum(axis=0))
        self.count.assign_add(w.sum(axis=0))
        self.num_samples.assign_add(seen)

    def result(self) -> float | np.ndarray:
        if self._columns is None or not self.num_samples:  # nothing seen since the reset
            return 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = self.sum / self.count
            total = self.squared_sum - self.sum * mean
            raw = 1 - self.total_mse / total
            raw = np.where(np.isinf(raw), 0.0, raw)
            if self.class_aggregation == "variance_weighted_average":
                score = float(np.sum(total * raw) / np.sum(total))
            elif self.class_aggregation is None and raw.size > 1:
                score = np.array(raw, dtype=np.float64)  # one a column
            else:
                score = float(np.mean(raw))
        n, p = float(self.num_samples), self.num_regressors
        if p == 0:
            return score
        if p >= n - 1:
            warnings.warn(
                "More independent predictors than datapoints in adjusted R2 score. Falling "
                "back to standard R2 score."
                if p > n - 1
                else "Division by zero in Adjusted R2 score. Falling back to standard R2 score.",
                stacklevel=2,
            )
            return score
        return 1.0 - (1.0 - score) * (n - 1.0) / (n - p - 1.0)

    def get_config(self):
        return {
            **super().get_config(),
            "class_aggregation": self.class_aggregation,
            "num_regressors": self.num_regressors,
        }


# -- the means of per-sample scores over the last axis (Keras 3's correlation metrics) --------

_EPSILON = 1e-7  # Keras's backend.epsilon()


def _pair(y_true, y_pred, name: str) -> tuple[np.ndarray, np.ndarray]:
    y_pred = _floating(y_pred)
    return _dense_target(y_true, y_pred, name).astype(y_pred.dtype, copy=False), y_pred


def pearson_correlation(y_true, y_pred, axis=-1) -> np.ndarray:
    """Keras 3's: per sample, the mean over ``axis`` of the product of y_true and y_pred each
    centred and divided by (its standard deviation + 1e-7): the Pearson coefficient, near 0
    where either is constant."""
    t, p = _pair(y_true, y_pred, "pearson_correlation")
    axis = integer(axis, "axis")
    t = t - t.mean(axis, keepdims=True)
    p = p - p.mean(axis, keepdims=True)
    t = t / (t.std(axis, keepdims=True) + _EPSILON)
    p = p / (p.std(axis, keepdims=True) + _EPSILON)
    return (t * p).mean(axis)


def concordance_correlation(y_true, y_pred, axis=-1) -> np.ndarray:
    """Keras 3's: per sample, Lin's concordance 2 cov(t, p) / (var t + var p + (mean t -
    mean p)^2 + 1e-7) over ``axis`` (population moments): 1 only where they agree, not just
    correlate."""
    t, p = _pair(y_true, y_pred, "concordance_correlation")
    axis = integer(axis, "axis")
    t_mean, p_mean = t.mean(axis, keepdims=True), p.mean(axis, keepdims=True)
    covariance = ((t - t_mean) * (p - p_mean)).mean(axis, keepdims=True)
    norm = t.var(axis, keepdims=True) + p.var(axis, keepdims=True) + (t_mean - p_mean) ** 2
    return (2 * covariance / (norm + _EPSILON)).squeeze(axis)


class _PerSample(Metric):
    """The weighted mean of a per-sample score over the last axis (y (B, F) or (B, T, F)). A
    one-column output (B, 1) (a forecaster's Dense(1)) is scored as Keras 3 scores it with a
    (B,) target: its trailing 1 squeezed, the score over the batch's rows, one value a batch
    (the rows a mask or zero weight leaves out are not taken; other weights do not weigh it)."""

    direction = "max"
    _fn: Any = None

    def __init__(self, name=None, dtype=None, axis=-1) -> None:
        self.axis = integer(axis, "axis")
        if self.axis != -1:
            raise ValueError(f"axis: expected -1 (the features' axis), got {axis!r}")
        super().__init__(name, dtype)

    def _values(self, y_true, y_pred):
        return type(self)._fn(y_true, y_pred, self.axis)

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        y_true, y_pred = _pair(y_true, y_pred, self.name)
        if y_pred.ndim != 2 or y_pred.shape[1] != 1:
            return super().update_state(y_true, y_pred, sample_weight, mask)
        w = losses.sample_weights(sample_weight, mask, (len(y_pred),), np.dtype(np.float64))
        rows = slice(None) if w is None else w != 0
        t, p = y_true[rows, 0], y_pred[rows, 0]
        if len(p):
            self.total += float(type(self)._fn(t[None], p[None], -1)[0])
            self.count += 1
        return None

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class PearsonCorrelation(_PerSample):
    """The mean of :func:`pearson_correlation` over the samples seen (Keras 3's)."""

    name = "pearson_correlation"
    _fn = staticmethod(pearson_correlation)


class ConcordanceCorrelation(_PerSample):
    """The mean of :func:`concordance_correlation` over the samples seen (Keras 3's)."""

    name = "concordance_correlation"
    _fn = staticmethod(concordance_correlation)


def _cosine(y_true, y_pred, axis=-1):
    return -losses.CosineSimilarity(axis, reduction="none")._values(y_true, _floating(y_pred))[0]


class CosineSimilarity(_PerSample):
    """The mean cosine of the angle between y_true and y_pred over the last axis (Keras 3's
    metric: the loss's value with its sign turned, 1 where they point the same way)."""

    name = "cosine_similarity"
    _fn = staticmethod(_cosine)
