"""Metrics with Keras's names: running means of a per-sample value over an epoch.

Each metric computes a value per sample (per step for sequence outputs), weights it by
``sample_weight`` and a mask, and keeps the weighted sum and the sum of weights, so that
``result()`` after several ``update_state`` calls is the weighted mean over all of them.
Others keep weighted counts or sums over everything seen since the last reset and compute their
result from those, as Keras 3's: Precision, Recall, AUC, F1Score and FBetaScore (defined in
``_metrics_classification``), R2Score (``_metrics_regression``) and Sum.

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
from ._arrays import check_name, integer, real_array, real_number, snake_case
from ._loss_base import _dense_target
from ._metric_base import Metric
from ._metric_variables import Variable
from ._metrics_classification import (
    AUC,
    F1Score,
    FalseNegatives,
    FalsePositives,
    FBetaScore,
    Precision,
    PrecisionAtRecall,
    Recall,
    RecallAtPrecision,
    SensitivityAtSpecificity,
    SpecificityAtSensitivity,
    TrueNegatives,
    TruePositives,
)
from ._metrics_from_losses import (
    _FROM_LOSSES,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    CategoricalHinge,
    Hinge,
    KLDivergence,
    LogCoshError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredError,
    MeanSquaredLogarithmicError,
    Poisson,
    RootMeanSquaredError,
    SparseCategoricalCrossentropy,
    SquaredHinge,
)
from ._metrics_regression import (
    ConcordanceCorrelation,
    CosineSimilarity,
    PearsonCorrelation,
    R2Score,
    concordance_correlation,
    pearson_correlation,
)
from .losses import (  # Keras's metrics module has the losses' functions too
    binary_crossentropy,
    binary_focal_crossentropy,
    categorical_crossentropy,
    categorical_focal_crossentropy,
    categorical_hinge,
    hinge,
    huber,
    kl_divergence,
    kld,
    log_cosh,
    mae,
    mape,
    mean_absolute_error,
    mean_absolute_percentage_error,
    mean_squared_error,
    mean_squared_logarithmic_error,
    mse,
    msle,
    poisson,
    sparse_categorical_crossentropy,
    squared_hinge,
)


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
        y = _dense_target(y_true, y_pred.astype(np.float64, copy=False), self.name)
        return ((y_pred > self.threshold).astype(y.dtype) == y).mean(axis=-1)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


class CategoricalAccuracy(Metric):
    """argmax(y_pred) == argmax(y_true), y_true one-hot (B, ..., C)."""

    name = "categorical_accuracy"
    direction = "max"

    def _values(self, y_true, y_pred):
        y = _dense_target(y_true, y_pred.astype(np.float64, copy=False), self.name)
        return (y.argmax(axis=-1) == y_pred.argmax(axis=-1)).astype(np.float64)


class SparseCategoricalAccuracy(Metric):
    """argmax(y_pred) == y_true, y_true integer labels (B, ...); a label outside [0, C) (a
    padded step's -1, masked or weighted 0) is a miss, as in Keras."""

    name = "sparse_categorical_accuracy"
    direction = "max"

    def _values(self, y_true, y_pred):
        labels = losses.sparse_labels(y_true, y_pred, self.name, any_label=True)
        return (labels == y_pred.argmax(axis=-1)).astype(np.float64)


class SparseTopKCategoricalAccuracy(Metric):
    """Whether the label y_true (integer, (B, ...)) is among the ``k`` highest of y_pred
    (B, ..., C); classes tied with the label's score count for it, as TensorFlow's in_top_k."""

    name = "sparse_top_k_categorical_accuracy"
    direction = "max"

    def __init__(self, k: int = 5, name: str | None = None) -> None:
        self.k = integer(k, "k", at_least=1)
        super().__init__(name)

    def _labels(self, y_true, y_pred):
        return losses.sparse_labels(y_true, y_pred, self.name, any_label=True)

    def _values(self, y_true, y_pred):
        labels = self._labels(y_true, y_pred)
        valid = (labels >= 0) & (labels < y_pred.shape[-1])  # else a miss, as in Keras
        score = np.take_along_axis(y_pred, np.where(valid, labels, 0)[..., None], axis=-1)
        return (((y_pred > score).sum(axis=-1) < self.k) & valid).astype(np.float64)

    def get_config(self):
        return {**super().get_config(), "k": self.k}


class TopKCategoricalAccuracy(SparseTopKCategoricalAccuracy):
    """As SparseTopKCategoricalAccuracy, with one-hot y_true (B, ..., C): its argmax is the
    label."""

    name = "top_k_categorical_accuracy"

    def _labels(self, y_true, y_pred):
        y = _dense_target(y_true, y_pred.astype(np.float64, copy=False), self.name)
        return y.argmax(axis=-1)


# Keras's metric functions: values per sample ((B,), or (B, T) for a sequence output) from
# the classes above. Given to compile(metrics=[...]) they become those classes (named after the
# function, as Keras logs them), so that a model file can name them.
def binary_accuracy(y_true, y_pred, threshold: float = 0.5) -> np.ndarray:
    """Per sample, the mean over the last axis of (y_pred > threshold) == y_true."""
    return BinaryAccuracy(threshold=threshold)._values(y_true, np.asarray(y_pred))


def categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """Per sample, 1 where argmax(y_pred) == argmax(y_true) (one-hot y_true), else 0."""
    return CategoricalAccuracy()._values(y_true, np.asarray(y_pred))


def sparse_categorical_accuracy(y_true, y_pred) -> np.ndarray:
    """Per sample, 1 where argmax(y_pred) equals the integer label y_true, else 0."""
    return SparseCategoricalAccuracy()._values(y_true, np.asarray(y_pred))


def top_k_categorical_accuracy(y_true, y_pred, k: int = 5) -> np.ndarray:
    """Per sample, 1 where the class of one-hot y_true is among y_pred's k highest."""
    return TopKCategoricalAccuracy(k)._values(y_true, np.asarray(y_pred))


def sparse_top_k_categorical_accuracy(y_true, y_pred, k: int = 5) -> np.ndarray:
    """Per sample, 1 where the integer label y_true is among y_pred's k highest."""
    return SparseTopKCategoricalAccuracy(k)._values(y_true, np.asarray(y_pred))


_FUNCTIONS = {
    fn.__name__: (fn, cls)
    for fn, cls in (
        (binary_accuracy, BinaryAccuracy),
        (categorical_accuracy, CategoricalAccuracy),
        (sparse_categorical_accuracy, SparseCategoricalAccuracy),
        (top_k_categorical_accuracy, TopKCategoricalAccuracy),
        (sparse_top_k_categorical_accuracy, SparseTopKCategoricalAccuracy),
        (binary_crossentropy, BinaryCrossentropy),
        (categorical_crossentropy, CategoricalCrossentropy),
        (sparse_categorical_crossentropy, SparseCategoricalCrossentropy),
        (pearson_correlation, PearsonCorrelation),
        (concordance_correlation, ConcordanceCorrelation),
    )
}


def _object_name(fn) -> str:
    """What Keras names a metric made of ``fn``: its ``name`` (a loss object's,
    "mean_squared_error"), else its ``__name__``, else its class's in snake case."""
    name = getattr(fn, "name", None)
    if isinstance(name, str) and name:
        return name
    name = getattr(fn, "__name__", None)
    if isinstance(name, str) and name:
        return name
    return snake_case(type(fn).__name__) or "metric"


class MeanMetricWrapper(Metric):
    """A function ``fn(y_true, y_pred)`` that returns a value per sample ((B,) or (B, T)), as a
    running weighted mean named after the function (Keras's wrapping of ``metrics=[fn]``). A
    function that returns one number for the batch counts it once per batch, as Keras's mean
    does (batches of 8, 8 and 4 weigh alike), or once per sample (per step of a sequence output)
    where sample weights or a mask apply."""

    def __init__(self, fn, name: str | None = None) -> None:
        if not callable(fn):
            raise TypeError(f"fn: expected a function (y_true, y_pred) -> values, got {fn!r}")
        self.fn = fn
        self._per_sample = False  # whether this update has weights or a mask
        super().__init__(name or _object_name(fn))

    def update_state(self, y_true, y_pred, sample_weight=None, mask=None) -> None:
        self._per_sample = sample_weight is not None or mask is not None
        super().update_state(y_true, y_pred, sample_weight, mask)

    def _values(self, y_true, y_pred):
        values = np.asarray(self.fn(y_true, y_pred), dtype=np.float64)
        if values.ndim == 0:  # per sample (or step: a (B, T) mask weighs each) where weighed
            return np.full(y_pred.shape[:-1] if self._per_sample else 1, float(values))
        if values.shape[:1] != y_pred.shape[:1]:
            raise ValueError(
                f"metric {self.name}: expected one value per sample (shape {y_pred.shape[:1]} "
                f"or {y_pred.shape[:-1]}) from {self.fn!r}, got shape {values.shape}"
            )
        return values


class Sum(Metric):
    """Keras 3's Sum: the weighted sum of every value given to ``update_state(values,
    sample_weight=None)`` (a weight of shape (B,) weighs all of sample b's values). A model
    passes (y_true, y_pred), not values, so compile() refuses it, as Keras's cannot be compiled
    either: use it on its own, in a loop of yours or a callback."""

    name = "sum"

    def __init__(self, name=None, dtype=None) -> None:
        super().__init__(name, dtype)
        self.total = self.add_weight(name="total")

    def update_state(self, values, sample_weight=None) -> None:
        values = real_array(values, "values").astype(np.float64, copy=False)
        w = losses.sample_weights(
            sample_weight, None, values.shape, np.dtype(np.float64), rescale=False
        )
        self.total.assign_add(values.sum() if w is None else np.vdot(values, w))

    def result(self) -> float:
        return float(self.total)


class Mean:
    """A weighted running mean (Keras's ``Mean``; the model's loss over an epoch's batches):
    ``update_state(values, sample_weight=None)`` adds every value, weighted (a weight of fewer
    dimensions weighs the values along the trailing axes), and ``result()`` is the weighted
    sum over the sum of weights."""

    def __init__(self, name: str = "mean", dtype=None) -> None:
        self.name = name
        self.dtype = dtype  # accepted as Keras's; float64 whatever it is
        self.reset_state()

    def reset_state(self) -> None:
        self.total = 0.0
        self.count = 0.0

    def update_state(self, values, sample_weight=None) -> None:
        if isinstance(values, float) and (
            sample_weight is None or type(sample_weight) in (int, float)
        ):
            weight = 1.0 if sample_weight is None else sample_weight  # a batch's loss: quick
            self.total += values * weight
            self.count += weight
            return
        v = real_array(values, "values").astype(np.float64)
        if sample_weight is None:
            self.total += float(v.sum())
            self.count += v.size
            return
        w = real_array(sample_weight, "sample_weight").astype(np.float64)
        try:
            w = np.broadcast_to(w.reshape(w.shape + (1,) * (v.ndim - w.ndim)), v.shape)
        except ValueError:
            raise ValueError(
                f"sample_weight: expected a shape that weighs values of shape {v.shape}, got "
                f"{w.shape}"
            ) from None
        self.total += float(np.vdot(v, w))
        self.count += float(w.sum())

    def result(self) -> float:
        return self.total / self.count if self.count else 0.0

    def __call__(self, values, sample_weight=None) -> float:
        """``update_state`` then ``result()``, as Keras 3's metrics are called."""
        self.update_state(values, sample_weight)
        return self.result()


_CLASSES = {
    cls.__name__: cls
    for cls in (
        Accuracy,
        BinaryAccuracy,
        CategoricalAccuracy,
        SparseCategoricalAccuracy,
        *_FROM_LOSSES,
        RootMeanSquaredError,
        SparseTopKCategoricalAccuracy,
        TopKCategoricalAccuracy,
        Precision,
        Recall,
        AUC,
        F1Score,
        FBetaScore,
        R2Score,
        BinaryCrossentropy,
        CategoricalCrossentropy,
        SparseCategoricalCrossentropy,
        TruePositives,
        FalsePositives,
        TrueNegatives,
        FalseNegatives,
        PrecisionAtRecall,
        RecallAtPrecision,
        SensitivityAtSpecificity,
        SpecificityAtSensitivity,
        PearsonCorrelation,
        ConcordanceCorrelation,
        CosineSimilarity,
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
    "f1_score": F1Score,
    "fbeta_score": FBetaScore,  # its default name
    "f_beta_score": FBetaScore,  # Keras 3's key (snake case of the class name)
    "r2_score": R2Score,
    "true_positives": TruePositives,
    "false_positives": FalsePositives,
    "true_negatives": TrueNegatives,
    "false_negatives": FalseNegatives,
    "pearson_correlation": PearsonCorrelation,
    "concordance_correlation": ConcordanceCorrelation,
    "cosine_similarity": CosineSimilarity,
    "binary_crossentropy": BinaryCrossentropy,
    "bce": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "poisson": Poisson,
    "kl_divergence": KLDivergence,
    "kld": KLDivergence,
    "hinge": Hinge,
    "squared_hinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge,
}


def result_value(metric) -> float | np.ndarray:
    """``metric.result()`` for the logs: a float (a Keras-style metric may give a Variable, a
    NumPy scalar or a 0-d array), or a 1-D float64 array where it gives one number for each of
    several classes (an F-score with ``average=None``), as Keras 3's logs hold it."""
    value = metric.result()
    if type(value) is float:
        return value
    try:
        number = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        number = None
    if number is not None and number.ndim == 1 and number.size > 1:
        return number.copy()
    if number is None or number.size != 1:
        raise TypeError(
            f"metric {metric.name!r}: expected result() to give one number or a 1-D array of "
            f"them, got {value!r}"
        )
    return float(number.reshape(()))


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
    if isinstance(loss, (losses.BinaryCrossentropy, losses.BinaryFocalCrossentropy)):
        return BinaryAccuracy(threshold=0.0 if loss.from_logits else 0.5)
    if isinstance(loss, losses.SparseCategoricalCrossentropy):
        return SparseCategoricalAccuracy()
    if isinstance(loss, (losses.CategoricalCrossentropy, losses.CategoricalFocalCrossentropy)):
        return CategoricalAccuracy()
    if y_pred_shape[-1] == 1:
        return BinaryAccuracy()
    if len(y_true_shape) < len(y_pred_shape) or y_true_shape[-1] == 1:
        return SparseCategoricalAccuracy()
    return CategoricalAccuracy()


def get(identifier) -> Metric | str:
    """A metric from a Keras name, a class or an instance. "accuracy"/"acc" come back as the
    string given: the model resolves them once it knows the loss and the shapes. Sum is
    refused: its update_state takes values, not (y_true, y_pred)."""
    named = isinstance(identifier, str) and identifier.lower() == "sum"
    if named or identifier is Sum or type(identifier) is Sum:
        raise ValueError(
            f"metrics: {identifier!r} is Keras's Sum, which adds up the values given to "
            f"update_state(values, sample_weight): a model gives (y_true, y_pred), so it "
            f"cannot be compiled (nor can Keras's); use metrics.Sum() on its own"
        )
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in ("accuracy", "acc"):
            return identifier
        if identifier in _CLASSES:  # a class name: its default name in the logs, as Keras's
            return _CLASSES[identifier]()  # ("AUC" logs "auc", which callbacks then find)
        if key in _ALIASES:
            return _ALIASES[key](name=identifier)  # a function's name: logged as given
    elif callable(identifier) and not isinstance(identifier, type):
        # One of this module's functions, or of fastlstm.losses': its metric, which a file can
        # name.
        fn, cls = _FUNCTIONS.get(getattr(identifier, "__name__", None), (None, None))
        if fn is identifier:
            return cls(name=identifier.__name__)
        for cls in _FROM_LOSSES:
            if getattr(identifier, "loss_class", None) is cls.loss_class:
                return cls(name=identifier.__name__)
        return MeanMetricWrapper(identifier)
    raise ValueError(
        f"metrics: expected fastlstm.metrics.Metric instances, functions (y_true, y_pred) -> "
        f"values per sample, or names among {sorted([*_ALIASES, 'accuracy'])}, "
        f"got {identifier!r}"
    )


def _wraps_own_loss(metric) -> bool:
    """Whether ``metric`` is compile's wrapper of one of fastlstm's own loss objects
    (``metrics=[losses.Huber(delta=0.5)]``), which a model file holds by the loss's config."""
    fn = getattr(metric, "fn", None)
    return (
        type(metric) is MeanMetricWrapper
        and isinstance(fn, losses.Loss)
        and losses._CLASSES.get(type(fn).__name__) is type(fn)
    )


def serialize(metric) -> dict[str, Any] | str:
    if isinstance(metric, str):
        return metric
    if _wraps_own_loss(metric):
        config = {"name": metric.name, "loss": losses.serialize(metric.fn)}
        return {"class_name": "MeanMetricWrapper", "config": config}
    if is_custom(metric):
        # A function or a class of the caller's: code, which a model file does not hold. Its
        # name is kept, so that loading can say what to do (load_model(compile=False)).
        return {"class_name": CUSTOM, "config": {"name": str(metric.name)}}
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


def is_custom(metric) -> bool:
    """Whether a compiled metric is of the caller's code (a function, wrapped, or a class of
    theirs), which a model file holds by name only."""
    return (
        not isinstance(metric, str)
        and not _wraps_own_loss(metric)
        and _CLASSES.get(type(metric).__name__) is not type(metric)
    )


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
    if isinstance(spec, dict) and spec.get("class_name") == "MeanMetricWrapper":
        config = spec.get("config")
        name = config.get("name") if isinstance(config, dict) else None
        if not isinstance(name, str):
            raise ValueError(f"metrics: expected a loss's config and name, got {spec!r}")
        check_name(name)
        return MeanMetricWrapper(losses.deserialize(config.get("loss")), name=name)
    if not isinstance(spec, dict) or spec.get("class_name") not in _CLASSES:
        raise ValueError(f"metrics: expected a class name in {sorted(_CLASSES)}, got {spec!r}")
    config = spec.get("config")
    if not isinstance(config, dict):
        raise TypeError(f"metrics: expected a config dict, got {config!r}")
    try:
        return _CLASSES[spec["class_name"]].from_config(config)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"metrics {spec['class_name']}: bad config ({exc})") from None


__all__ = [
    "AUC",
    "Accuracy",
    "BinaryAccuracy",
    "BinaryCrossentropy",
    "CategoricalAccuracy",
    "CategoricalCrossentropy",
    "CategoricalHinge",
    "ConcordanceCorrelation",
    "CosineSimilarity",
    "CustomMetricError",
    "F1Score",
    "FBetaScore",
    "FalseNegatives",
    "FalsePositives",
    "Hinge",
    "KLDivergence",
    "LogCoshError",
    "Mean",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanMetricWrapper",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Metric",
    "PearsonCorrelation",
    "Poisson",
    "Precision",
    "PrecisionAtRecall",
    "R2Score",
    "Recall",
    "RecallAtPrecision",
    "RootMeanSquaredError",
    "SensitivityAtSpecificity",
    "SparseCategoricalAccuracy",
    "SparseCategoricalCrossentropy",
    "SparseTopKCategoricalAccuracy",
    "SpecificityAtSensitivity",
    "SquaredHinge",
    "Sum",
    "TopKCategoricalAccuracy",
    "TrueNegatives",
    "TruePositives",
    "Variable",
    "binary_accuracy",
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_accuracy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_hinge",
    "concordance_correlation",
    "deserialize",
    "get",
    "hinge",
    "huber",
    "kl_divergence",
    "kld",
    "log_cosh",
    "mae",
    "mape",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
    "mse",
    "msle",
    "pearson_correlation",
    "poisson",
    "serialize",
    "sparse_categorical_accuracy",
    "sparse_categorical_crossentropy",
    "sparse_top_k_categorical_accuracy",
    "squared_hinge",
    "top_k_categorical_accuracy",
]
