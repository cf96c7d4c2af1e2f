"""Metrics with Keras's names: running means of a per-sample value over an epoch.

Each metric computes a value per sample (per step for sequence outputs), weights it by
``sample_weight`` and a mask, and keeps the weighted sum and the sum of weights, so that
``result()`` after several ``update_state`` calls is the weighted mean over all of them.

"accuracy" (or "acc") in ``compile(metrics=[...])`` is resolved as Keras 2 did, from the loss
(Keras 3 looks at the shapes alone, and so takes multi-label binary_crossentropy's outputs for
categories):
binary_crossentropy -> binary_accuracy, categorical_crossentropy -> categorical_accuracy,
sparse_categorical_crossentropy -> sparse_categorical_accuracy; for other losses from the
shapes (one output: binary; labels with one axis fewer than the output, or a last axis of 1:
sparse; else categorical). With a ``from_logits`` binary loss the threshold is 0 (a logit of 0
is a probability of 0.5), so that the accuracy is the same as from probabilities.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from . import losses
from ._arrays import check_name, integer, real_number


class Metric:
    """Base: subclasses implement ``_values(y_true, y_pred) -> (B, ...) per-sample values``.

    A Keras-style subclass may instead override ``update_state(y_true, y_pred,
    sample_weight=None)``, ``result()`` and ``reset_state()``, making its state after
    ``super().__init__(name=..., dtype=...)`` as in Keras: the model then passes a mask folded
    into ``sample_weight``, as Keras does (only an ``update_state`` with a parameter named
    ``mask`` gets it apart)."""

    name = "metric"
    # Which way is better ("max" or "min"), for callbacks' mode="auto"; None: not known.
    direction: str | None = None

    def __init__(self, name: str | None = None, dtype=None) -> None:
        check_name(name)
        if name is not None:
            self.name = name
        self.dtype = dtype  # accepted as Keras's; the values are float64 whatever it is
        # The running sums (reset_state's, set here directly: a Keras-style subclass makes its
        # own state after this returns, which its reset_state may need)
        self.total = 0.0
        self.count = 0.0

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def _values(self, y_true, y_pred) -> np.ndarray:
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        y_pred = np.asarray(y_pred)
        values = self._values(y_true, y_pred)
        # The mask only zeroes: count is then the weight of the valid values (Keras).
        w = losses.sample_weights(
            sample_weight, mask, values.shape, np.dtype(np.float64), rescale=False
        )
        if w is None:
            self.total += float(values.sum())
            self.count += values.size
        else:
            self.total += float(np.vdot(values, w))
            self.count += float(w.sum())

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0

    def __call__(self, y_true, y_pred, sample_weight=None) -> float:
        """``update_state`` then ``result()``, as Keras 3's: the batch is added to the running
        state (``reset_state()`` first for one batch alone)."""
        self.update_state(y_true, y_pred, sample_weight)
        return self.result()

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class Accuracy(Metric):
    """How often y_pred equals y_true exactly (Keras's ``Accuracy``)."""

    name = "accuracy"
    direction = "max"

    def _values(self, y_true, y_pred):
        y_true = np.asarray(y_true)
        if y_true.shape != y_pred.shape:
            raise ValueError(f"y_true: expected shape {y_pred.shape}, got {y_true.shape}")
        return (y_true == y_pred).astype(np.float64)


class BinaryAccuracy(Metric):
    """Mean over the last axis of (y_pred > threshold) == y_true (Keras's: a soft label such
    as 0.7 matches neither class)."""

    name = "binary_accuracy"
    direction = "max"

    def __init__(self, name: str | None = None, threshold: float = 0.5) -> None:
        self.threshold = real_number(threshold, "threshold")
        super().__init__(name)

    def _values(self, y_true, y_pred):
        y = losses._dense_target(y_true, y_pred.astype(np.float64, copy=False), self.name)
        return ((y_pred > self.threshold).astype(y.dtype) == y).mean(axis=-1)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


class CategoricalAccuracy(Metric):
    """argmax(y_pred) == argmax(y_true), y_true one-hot (B, ..., C)."""

    name = "categorical_accuracy"
    direction = "max"

    def _values(self, y_true, y_pred):
        y = losses._dense_target(y_true, y_pred.astype(np.float64, copy=False), self.name)
        return (y.argmax(axis=-1) == y_pred.argmax(axis=-1)).astype(np.float64)


class SparseCategoricalAccuracy(Metric):
    """argmax(y_pred) == y_true, y_true integer labels (B, ...)."""

    name = "sparse_categorical_accuracy"
    direction = "max"

    def _values(self, y_true, y_pred):
        labels = losses.sparse_labels(y_true, y_pred, self.name)
        return (labels == y_pred.argmax(axis=-1)).astype(np.float64)


class _FromLoss(Metric):
    loss_class: type = losses.Loss
    direction = "min"

    def _values(self, y_true, y_pred):
        y_pred = losses._floating(y_pred)
        return self.loss_class(reduction="none", name=self.name)._values(y_true, y_pred)[0]


class MeanSquaredError(_FromLoss):
    name = "mean_squared_error"
    loss_class = losses.MeanSquaredError


class MeanAbsoluteError(_FromLoss):
    name = "mean_absolute_error"
    loss_class = losses.MeanAbsoluteError


class MeanAbsolutePercentageError(_FromLoss):
    name = "mean_absolute_percentage_error"
    loss_class = losses.MeanAbsolutePercentageError


class MeanSquaredLogarithmicError(_FromLoss):
    name = "mean_squared_logarithmic_error"
    loss_class = losses.MeanSquaredLogarithmicError


class LogCoshError(_FromLoss):
    name = "logcosh"
    loss_class = losses.LogCosh


class RootMeanSquaredError(MeanSquaredError):
    """The square root of the weighted mean squared error over everything seen (Keras's: not a
    mean of per-sample roots)."""

    name = "root_mean_squared_error"

    def result(self) -> float:
        return float(np.sqrt(super().result()))


class SparseTopKCategoricalAccuracy(Metric):
    """Whether the label y_true (integer, (B, ...)) is among the ``k`` highest of y_pred
    (B, ..., C); classes tied with the label's score count for it, as TensorFlow's in_top_k."""

    name = "sparse_top_k_categorical_accuracy"
    direction = "max"

    def __init__(self, k: int = 5, name: str | None = None) -> None:
        self.k = integer(k, "k", at_least=1)
        super().__init__(name)

    def _labels(self, y_true, y_pred):
        return losses.sparse_labels(y_true, y_pred, self.name)

    def _values(self, y_true, y_pred):
        labels = self._labels(y_true, y_pred)
        score = np.take_along_axis(y_pred, labels[..., None], axis=-1)
        return ((y_pred > score).sum(axis=-1) < self.k).astype(np.float64)

    def get_config(self):
        return {**super().get_config(), "k": self.k}


class TopKCategoricalAccuracy(SparseTopKCategoricalAccuracy):
    """As SparseTopKCategoricalAccuracy, with one-hot y_true (B, ..., C): its argmax is the
    label."""

    name = "top_k_categorical_accuracy"

    def _labels(self, y_true, y_pred):
        y = losses._dense_target(y_true, y_pred.astype(np.float64, copy=False), self.name)
        return y.argmax(axis=-1)


class _Confusion(Metric):
    """Weighted counts of true and false positives and false negatives over every value seen:
    a value is predicted positive above ``thresholds``, and y_true counts as positive where it is
    nonzero (Keras's Precision and Recall, one threshold)."""

    direction = "max"

    def __init__(self, thresholds: float = 0.5, name: str | None = None) -> None:
        self.thresholds = real_number(thresholds, "thresholds")
        super().__init__(name)
        self.reset_state()

    def reset_state(self) -> None:
        self.true_positives = self.false_positives = self.false_negatives = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        y_pred = losses._floating(y_pred)
        actual = losses._dense_target(y_true, y_pred, self.name) != 0
        predicted = y_pred > self.thresholds
        w = losses.sample_weights(
            sample_weight, mask, y_pred.shape, np.dtype(np.float64), rescale=False
        )
        w = np.ones(y_pred.shape) if w is None else w
        self.true_positives += float(w[predicted & actual].sum())
        self.false_positives += float(w[predicted & ~actual].sum())
        self.false_negatives += float(w[~predicted & actual].sum())

    def get_config(self):
        return {**super().get_config(), "thresholds": self.thresholds}


class Precision(_Confusion):
    """TP / (TP + FP); 0 before any positive prediction."""

    name = "precision"

    def result(self) -> float:
        seen = self.true_positives + self.false_positives
        return self.true_positives / seen if seen else 0.0


class Recall(_Confusion):
    """TP / (TP + FN); 0 before any positive label."""

    name = "recall"

    def result(self) -> float:
        seen = self.true_positives + self.false_negatives
        return self.true_positives / seen if seen else 0.0


# A million thresholds resolve the AUC to about 1e-6; more would only take memory (four float64
# counts each), which a model file could otherwise ask for in gigabytes.
MAX_THRESHOLDS = 10**6


class AUC(Metric):
    """Area under the ROC curve, as Keras's ``AUC()`` computes it: true and false positive rates
    at ``num_thresholds`` thresholds spread over [0, 1] (y_pred is a probability; y_true counts
    as positive where nonzero), counted with weights over every value seen, and the trapezoids
    between neighbouring thresholds summed. It approaches the exact AUC as the thresholds get
    finer (within about 1/num_thresholds)."""

    name = "auc"
    direction = "max"

    def __init__(self, num_thresholds: int = 200, curve: str = "ROC", name: str | None = None):
        num_thresholds = integer(
            num_thresholds, "num_thresholds", at_least=2, at_most=MAX_THRESHOLDS
        )
        if curve != "ROC":
            raise ValueError(f"curve: expected 'ROC' (the only curve fastlstm has), got {curve!r}")
        self.num_thresholds, self.curve = int(num_thresholds), curve
        inner = np.arange(1, num_thresholds - 1) / (num_thresholds - 1)
        self.thresholds = np.concatenate([[-1e-7], inner, [1.0 + 1e-7]])  # Keras's
        super().__init__(name)
        self.reset_state()

    def reset_state(self) -> None:
        # Weighted positives and negatives above each threshold, and in all.
        n = self.num_thresholds
        self.true_positives, self.false_positives = np.zeros(n), np.zeros(n)
        self.positives = self.negatives = 0.0

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        y_pred = losses._floating(y_pred)
        actual = (losses._dense_target(y_true, y_pred, self.name) != 0).ravel()
        w = losses.sample_weights(
            sample_weight, mask, y_pred.shape, np.dtype(np.float64), rescale=False
        )
        w = np.ones(y_pred.size) if w is None else np.asarray(w, np.float64).ravel()
        scores = y_pred.ravel()
        # The weight of the positives (negatives) with a score above each threshold: sort the
        # scores once and read cumulative sums where the thresholds fall.
        order = np.argsort(scores, kind="stable")
        s, pos, neg = scores[order], (w * actual)[order], (w * ~actual)[order]
        first_above = np.searchsorted(s, self.thresholds, side="right")
        pos_tail = np.concatenate([np.cumsum(pos[::-1])[::-1], [0.0]])
        neg_tail = np.concatenate([np.cumsum(neg[::-1])[::-1], [0.0]])
        self.true_positives += pos_tail[first_above]
        self.false_positives += neg_tail[first_above]
        self.positives += float(pos.sum())
        self.negatives += float(neg.sum())

    def result(self) -> float:
        tpr = (
            self.true_positives / self.positives
            if self.positives
            else np.zeros_like(self.true_positives)
        )
        fpr = (
            self.false_positives / self.negatives
            if self.negatives
            else np.zeros_like(self.false_positives)
        )
        return float(np.sum((fpr[:-1] - fpr[1:]) * (tpr[:-1] + tpr[1:]) / 2))

    def get_config(self):
        return {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve}


class MeanMetricWrapper(Metric):
    """A function ``fn(y_true, y_pred)`` that returns a value per sample ((B,) or (B, T)), as a
    running weighted mean named after the function (Keras's wrapping of ``metrics=[fn]``). A
    function that returns one number for the batch counts it once per batch, as Keras's mean
    does (batches of 8, 8 and 4 weigh alike), or once per sample where sample weights or a
    mask apply."""

    def __init__(self, fn, name: str | None = None) -> None:
        if not callable(fn):
            raise TypeError(f"fn: expected a function (y_true, y_pred) -> values, got {fn!r}")
        self.fn = fn
        self._per_sample = False  # whether this update has weights or a mask
        super().__init__(name or getattr(fn, "__name__", None) or "metric")

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        self._per_sample = sample_weight is not None or mask is not None
        super().update_state(y_true, y_pred, sample_weight, mask)

    def _values(self, y_true, y_pred):
        values = np.asarray(self.fn(y_true, y_pred), dtype=np.float64)
        if values.ndim == 0:
            return np.full(len(y_pred) if self._per_sample else 1, float(values))
        if values.shape[:1] != y_pred.shape[:1]:
            raise ValueError(
                f"metric {self.name}: expected one value per sample (shape {y_pred.shape[:1]} "
                f"or {y_pred.shape[:-1]}) from {self.fn!r}, got shape {values.shape}"
            )
        return values


class Mean:
    """A weighted running mean of scalars (the loss over an epoch's batches)."""

    def __init__(self, name: str = "loss") -> None:
        self.name = name
        self.reset_state()

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def update_state(self, value: float, weight: float = 1.0) -> None:
        self.total += value * weight
        self.count += weight

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0


_CLASSES = {
    cls.__name__: cls
    for cls in (
        Accuracy,
        BinaryAccuracy,
        CategoricalAccuracy,
        SparseCategoricalAccuracy,
        MeanSquaredError,
        MeanAbsoluteError,
        MeanAbsolutePercentageError,
        MeanSquaredLogarithmicError,
        LogCoshError,
        RootMeanSquaredError,
        SparseTopKCategoricalAccuracy,
        TopKCategoricalAccuracy,
        Precision,
        Recall,
        AUC,
    )
}
_ALIASES = {
    "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "mape": MeanAbsolutePercentageError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "logcosh": LogCoshError,
    "log_cosh": LogCoshError,
    "root_mean_squared_error": RootMeanSquaredError,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "precision": Precision,
    "recall": Recall,
    "auc": AUC,
}


def direction_of(name: str) -> str | None:
    """The direction ("max"/"min") of fastlstm's built-in metric called ``name``, else None."""
    if name.lower() in ("accuracy", "acc"):
        return "max"
    cls = _ALIASES.get(name.lower())
    return cls.direction if cls is not None else None


# Metric types whose update_state names a `mask` parameter (fastlstm's own); others (Keras-style)
# get the mask folded into sample_weight.
_TAKES_MASK: dict[type, bool] = {}


def update(metric, y_true, y_pred, sample_weight, mask) -> None:
    """``metric.update_state`` for one batch, with the output mask where there is one."""
    kind = type(metric)
    if kind not in _TAKES_MASK:
        try:
            params = inspect.signature(metric.update_state).parameters
        except (TypeError, ValueError):
            params = {}
        _TAKES_MASK[kind] = "mask" in params  # **kwargs would swallow it unread
    if _TAKES_MASK[kind]:
        metric.update_state(y_true, y_pred, sample_weight, mask=mask)
        return
    if mask is not None:
        mask = np.asarray(mask)
        sample_weight = losses.sample_weights(
            sample_weight, mask, mask.shape, np.dtype(np.float64), rescale=False
        )
    metric.update_state(y_true, y_pred, sample_weight)


def resolve_accuracy(loss: losses.Loss | None, y_true_shape, y_pred_shape) -> Metric:
    """The accuracy Keras 2 picks for "accuracy" given the loss (then the shapes)."""
    if isinstance(loss, losses.BinaryCrossentropy):
        return BinaryAccuracy(threshold=0.0 if loss.from_logits else 0.5)
    if isinstance(loss, losses.SparseCategoricalCrossentropy):
        return SparseCategoricalAccuracy()
    if isinstance(loss, losses.CategoricalCrossentropy):
        return CategoricalAccuracy()
    if y_pred_shape[-1] == 1:
        return BinaryAccuracy()
    if len(y_true_shape) < len(y_pred_shape) or y_true_shape[-1] == 1:
        return SparseCategoricalAccuracy()
    return CategoricalAccuracy()


def get(identifier) -> Metric | str:
    """A metric from a Keras name, a class or an instance. "accuracy"/"acc" come back as the
    string given: the model resolves them once it knows the loss and the shapes."""
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in ("accuracy", "acc"):
            return identifier
        if key in _ALIASES:
            return _ALIASES[key](name=identifier)  # logged under the name given, as Keras
        if identifier in _CLASSES:  # a class name, as Keras takes too
            return _CLASSES[identifier]()
    elif callable(identifier) and not isinstance(identifier, type):
        return MeanMetricWrapper(identifier)
    raise ValueError(
        f"metrics: expected fastlstm.metrics.Metric instances, functions (y_true, y_pred) -> "
        f"values per sample, or names among {sorted([*_ALIASES, 'accuracy'])}, "
        f"got {identifier!r}"
    )


def serialize(metric) -> dict[str, Any] | str:
    if isinstance(metric, str):
        return metric
    if is_custom(metric):
        # A function or a class of the caller's: code, which a model file does not hold. Its
        # name is kept, so that loading can say what to do (load_model(compile=False)).
        return {"class_name": CUSTOM, "config": {"name": str(metric.name)}}
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


def is_custom(metric) -> bool:
    """Whether a compiled metric is of the caller's code (a function, wrapped, or a class of
    theirs), which a model file holds by name only."""
    return not isinstance(metric, str) and _CLASSES.get(type(metric).__name__) is not type(metric)


# The class name a saved compile config gives a metric that is code (see serialize).
CUSTOM = "<custom>"


class CustomMetricError(ValueError):
    """A saved model was compiled with a metric of the caller's code, which the file does not
    hold: load it with custom_objects={name: metric}, or with compile=False."""


def deserialize(spec, custom_objects=None):
    """A metric from its saved spec; one of the caller's code (saved by name only) from
    ``custom_objects``, a dict of name: metric (function or Metric), as Keras's."""
    if isinstance(spec, str) and spec.lower() in ("accuracy", "acc"):
        return spec
    if isinstance(spec, dict) and spec.get("class_name") == CUSTOM:
        name = (spec.get("config") or {}).get("name")
        if not isinstance(name, str):
            raise ValueError(f"metrics: expected the name of a metric of your code, got {name!r}")
        check_name(name)
        if custom_objects and name in custom_objects:
            return custom_objects[name]
        raise CustomMetricError(
            f"metrics: the model was compiled with {name!r}, a metric of your own code, which "
            f"a model file does not hold: load_model(path, custom_objects={{{name!r}: ...}}) "
            f"with it, or load_model(path, compile=False), then compile() again"
        )
    if not isinstance(spec, dict) or spec.get("class_name") not in _CLASSES:
        raise ValueError(f"metrics: expected a class name in {sorted(_CLASSES)}, got {spec!r}")
    config = spec.get("config")
    if not isinstance(config, dict):
        raise TypeError(f"metrics: expected a config dict, got {config!r}")
    try:
        return _CLASSES[spec["class_name"]].from_config(config)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metrics {spec['class_name']}: bad config ({exc})") from None
