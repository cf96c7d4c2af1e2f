"""Losses with Keras's names, formulas and reduction, each giving its value and its gradient.

A loss compares y_true with y_pred (B, ..., C): it computes a per-sample value over the last axis
(shape (B, ...)), weights it by ``sample_weight`` (broadcast from (B,) or (B, T)) and by a mask,
and reduces as Keras's default "sum_over_batch_size": the weighted sum divided by the number of
per-sample values. With a (B, T) mask (padding steps), masked values count as zero and the sum
is divided by the number of unmasked ones, as Keras.

``loss(y_true, y_pred, sample_weight=None)`` gives the value; ``loss.value_and_grad(...)`` also
gives dL/dy_pred, shaped like y_pred. Probabilities are clipped to [1e-7, 1 - 1e-7] (Keras's
epsilon) before a logarithm; ``from_logits=True`` works from logits with log-sum-exp, stable for
any magnitude and usually the better choice.

The base class :class:`Loss` (with the checks of targets, labels and weights that the metrics
share) lives in :mod:`fastlstm._loss_base`, and Poisson, KLDivergence, CosineSimilarity, the hinge
losses and the focal crossentropies in :mod:`fastlstm._losses_more`; this module re-exports Loss
and registers those losses with the others.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from ._arrays import integer, real_number
from ._loss_base import (
    EPSILON,
    Loss,
    _dense_target,
    _Probabilistic,
    check_custom,
    sample_weights,
    sparse_labels,
)
from ._losses_more import (
    BinaryFocalCrossentropy,
    CategoricalFocalCrossentropy,
    CategoricalHinge,
    CosineSimilarity,
    Hinge,
    KLDivergence,
    Poisson,
    SquaredHinge,
)


class MeanSquaredError(Loss):
    """mean((y_pred - y_true)**2) over the last axis."""

    name = "mean_squared_error"

    def _values(self, y_true, y_pred):
        diff = y_pred - _dense_target(y_true, y_pred, self.name)
        values = np.square(diff).mean(axis=-1)
        diff *= y_pred.dtype.type(2.0 / max(1, y_pred.shape[-1]))
        return values, diff


class MeanAbsoluteError(Loss):
    """mean(|y_pred - y_true|) over the last axis; the gradient at 0 is 0."""

    name = "mean_absolute_error"

    def _values(self, y_true, y_pred):
        diff = y_pred - _dense_target(y_true, y_pred, self.name)
        values = np.abs(diff).mean(axis=-1)
        d = np.sign(diff)
        d *= y_pred.dtype.type(1.0 / max(1, y_pred.shape[-1]))
        return values, d


class Huber(Loss):
    """Per element 0.5*e**2 where |e| <= delta, else delta*(|e| - 0.5*delta); mean over the
    last axis."""

    name = "huber_loss"

    def __init__(self, delta: float = 1.0, reduction="sum_over_batch_size", name=None) -> None:
        super().__init__(reduction, name)
        self.delta = real_number(delta, "delta")
        if not self.delta > 0:
            raise ValueError(f"delta: expected a positive float, got {delta!r}")

    def _values(self, y_true, y_pred):
        diff = y_pred - _dense_target(y_true, y_pred, self.name)
        a = np.abs(diff)
        quad = np.minimum(a, self.delta)
        values = (0.5 * quad * quad + self.delta * (a - quad)).mean(axis=-1)
        d = np.clip(diff, -self.delta, self.delta)
        d *= y_pred.dtype.type(1.0 / max(1, y_pred.shape[-1]))
        return values, d

    def get_config(self):
        return {**super().get_config(), "delta": self.delta}


class MeanAbsolutePercentageError(Loss):
    """100 * mean(|y_true - y_pred| / max(|y_true|, 1e-7)) over the last axis (Keras's)."""

    name = "mean_absolute_percentage_error"

    def _values(self, y_true, y_pred):
        y = _dense_target(y_true, y_pred, self.name)
        scale = 100.0 / np.maximum(np.abs(y), EPSILON)
        diff = y_pred - y
        values = (np.abs(diff) * scale).mean(axis=-1)
        d = (np.sign(diff) * scale / max(1, y_pred.shape[-1])).astype(y_pred.dtype, copy=False)
        return values, d


class MeanSquaredLogarithmicError(Loss):
    """mean((log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1))**2) over the last axis
    (Keras's); no gradient flows where y_pred is below the floor."""

    name = "mean_squared_logarithmic_error"

    def _values(self, y_true, y_pred):
        y = _dense_target(y_true, y_pred, self.name)
        shifted = np.maximum(y_pred, EPSILON) + 1
        diff = np.log(shifted) - np.log(np.maximum(y, EPSILON) + 1)
        values = np.square(diff).mean(axis=-1)
        d = 2.0 / max(1, y_pred.shape[-1]) * diff / shifted * (y_pred > EPSILON)
        return values, d.astype(y_pred.dtype, copy=False)


class LogCosh(Loss):
    """mean(log(cosh(y_pred - y_true))) over the last axis, computed as x + softplus(-2x) -
    log(2) so that large errors do not overflow (Keras's)."""

    name = "log_cosh"

    def _values(self, y_true, y_pred):
        x = y_pred - _dense_target(y_true, y_pred, self.name)
        values = (x + np.logaddexp(0, -2 * x) - np.log(2)).mean(axis=-1)
        d = np.tanh(x)
        d *= y_pred.dtype.type(1.0 / max(1, y_pred.shape[-1]))
        return values, d


class BinaryCrossentropy(_Probabilistic):
    """-mean(y*log(p) + (1-y)*log(1-p)) over the last axis; p = sigmoid(y_pred) with
    ``from_logits``, else y_pred clipped to [eps, 1 - eps] (gradient 0 outside)."""

    name = "binary_crossentropy"

    def _values(self, y_true, y_pred):
        y = _dense_target(y_true, y_pred, self.name)
        if self.label_smoothing:
            y = y * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
        inv = y_pred.dtype.type(1.0 / max(1, y_pred.shape[-1]))
        if self.from_logits:
            z = y_pred
            # max(z, 0) - z*y + log(1 + exp(-|z|)): no overflow for any z
            values = (np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))).mean(axis=-1)
            d = 0.5 * (1 + np.tanh(0.5 * z)) - y
        else:
            p = np.clip(y_pred, EPSILON, 1 - EPSILON)
            values = -(y * np.log(p) + (1 - y) * np.log1p(-p)).mean(axis=-1)
            d = (p - y) / (p * (1 - p))
            d *= (y_pred > EPSILON) & (y_pred < 1 - EPSILON)
        d *= inv
        return values, d


def _log_softmax(z: np.ndarray) -> np.ndarray:
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class CategoricalCrossentropy(_Probabilistic):
    """-sum(y * log(p)) over the class axis, y one-hot (or soft) (B, ..., C); p = softmax(y_pred)
    with ``from_logits``, else y_pred normalised to sum 1 and clipped to [eps, 1 - eps]."""

    name = "categorical_crossentropy"

    def _smooth(self, y: np.ndarray) -> np.ndarray:
        if self.label_smoothing:
            y = y * (1 - self.label_smoothing) + self.label_smoothing / y.shape[-1]
        return y

    def _values(self, y_true, y_pred):
        y = self._smooth(_dense_target(y_true, y_pred, self.name))
        return _crossentropy(y, y_pred, self.from_logits)


def _crossentropy(y: np.ndarray, y_pred: np.ndarray, from_logits: bool):
    if from_logits:
        logp = _log_softmax(y_pred)
        values = -(y * logp).sum(axis=-1)
        d = np.exp(logp)
        d *= y.sum(axis=-1, keepdims=True)
        d -= y
        return values, d
    total = y_pred.sum(axis=-1, keepdims=True)
    q = y_pred / total
    p = np.clip(q, EPSILON, 1 - EPSILON)
    values = -(y * np.log(p)).sum(axis=-1)
    g = -y / p  # dL/dq, zero where the clip is active
    g *= (q > EPSILON) & (q < 1 - EPSILON)
    d = (g - (g * q).sum(axis=-1, keepdims=True)) / total  # through q = y_pred / sum(y_pred)
    return values, d


def _sparse_crossentropy(labels: np.ndarray, y_pred: np.ndarray, from_logits: bool):
    """Values (B, ...) and their gradient (B, ..., C) for class indices ``labels`` (B, ...)."""
    if from_logits:
        logp = _log_softmax(y_pred)
        picked = np.take_along_axis(logp, labels[..., None], axis=-1)[..., 0]
        d = np.exp(logp)
        rows = d.reshape(-1, d.shape[-1])  # a view: d is fresh and contiguous
        rows[np.arange(labels.size), labels.ravel()] -= 1  # one label per row: no repeats
        return -picked, d
    y = np.zeros_like(y_pred)
    np.put_along_axis(y, labels[..., None], 1, axis=-1)
    return _crossentropy(y, y_pred, False)


def _both(mask, valid: np.ndarray):
    """Where the model's mask (B, T) and a loss's own ``valid`` (B, T, ...) both hold; a mask
    of another shape is handed on as it is, for sample_weights to name."""
    if mask is None:
        return valid
    mask = np.asarray(mask)
    if mask.shape != valid.shape[: mask.ndim]:
        return mask
    return valid & mask.astype(bool).reshape(mask.shape + (1,) * (valid.ndim - mask.ndim))


class SparseCategoricalCrossentropy(_Probabilistic):
    """Categorical crossentropy with integer labels y_true (B, ...) in [0, C) instead of one-hot
    rows; labels outside that range raise ValueError.

    ``ignore_class`` (Keras 3's; an integer, which may lie outside [0, C), such as -1 or 255 for
    padding): entries whose label equals it count as masked steps do. Their value is 0 and no
    gradient reaches their outputs; with "sum_over_batch_size" the loss is the (weighted) sum
    over the other entries divided by their number, not by all B*T (sample weights do not change
    that number), and 0 when every entry is ignored; "sum" only leaves them out, "none" gives 0
    there. Keras 3 masks them so (a mask of its own, joined with the model's: where both hold),
    and so does torch's ``cross_entropy(ignore_index=...)`` without class weights. Metrics do
    not see ignore_class, as in Keras: "accuracy" counts an ignored label in [0, C) as any
    other, and raises on one outside (which Keras counts as a miss)."""

    name = "sparse_categorical_crossentropy"
    sparse = True

    def __init__(
        self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size", name=None
    ) -> None:
        super().__init__(from_logits, 0.0, reduction, name)
        self.ignore_class = integer(ignore_class, "ignore_class", allow_none=True)

    def _values(self, y_true, y_pred):
        return self._masked_values(y_true, y_pred, None)[:2]

    def _masked_values(self, y_true, y_pred, mask):
        labels = sparse_labels(y_true, y_pred, self.name, self.ignore_class)
        if self.ignore_class is None:
            return (*_sparse_crossentropy(labels, y_pred, self.from_logits), mask)
        valid = labels != self.ignore_class  # (B, ...), as the values
        values = np.zeros(labels.shape, y_pred.dtype)
        d = np.zeros_like(y_pred)  # (B, ..., C): nothing reaches an ignored entry's outputs
        # Only the kept rows are computed: an ignored one may hold anything (zeros: no log).
        values[valid], d[valid] = _sparse_crossentropy(
            labels[valid], y_pred[valid], self.from_logits
        )
        return values, d, _both(mask, valid)

    def get_config(self):
        config = super().get_config()
        del config["label_smoothing"]
        return {**config, "ignore_class": self.ignore_class}


def _per_sample(cls):
    def fn(y_true, y_pred, **options):
        return cls(reduction="none", **options)(y_true, y_pred)

    fn.__name__ = fn.__qualname__ = cls.name
    fn.__doc__ = (
        f"Per-sample values (B, ...) of :class:`{cls.__name__}`, as Keras's function; keyword "
        f"options (``from_logits``, ``ignore_class``, ...) are the class's."
    )
    fn.loss_class = cls
    return fn


# Keras's functions: per-sample values, no reduction; compile() also takes them as losses.
mean_squared_error = mse = _per_sample(MeanSquaredError)
mean_absolute_error = mae = _per_sample(MeanAbsoluteError)
huber = _per_sample(Huber)
mean_absolute_percentage_error = mape = _per_sample(MeanAbsolutePercentageError)
mean_squared_logarithmic_error = msle = _per_sample(MeanSquaredLogarithmicError)
log_cosh = logcosh = _per_sample(LogCosh)
binary_crossentropy = _per_sample(BinaryCrossentropy)
categorical_crossentropy = _per_sample(CategoricalCrossentropy)
sparse_categorical_crossentropy = _per_sample(SparseCategoricalCrossentropy)
poisson = _per_sample(Poisson)
kl_divergence = kld = _per_sample(KLDivergence)
cosine_similarity = _per_sample(CosineSimilarity)
hinge = _per_sample(Hinge)
squared_hinge = _per_sample(SquaredHinge)
categorical_hinge = _per_sample(CategoricalHinge)
binary_focal_crossentropy = _per_sample(BinaryFocalCrossentropy)
categorical_focal_crossentropy = _per_sample(CategoricalFocalCrossentropy)

_CLASSES = {
    cls.__name__: cls
    for cls in (
        MeanSquaredError,
        MeanAbsoluteError,
        Huber,
        MeanAbsolutePercentageError,
        MeanSquaredLogarithmicError,
        LogCosh,
        BinaryCrossentropy,
        CategoricalCrossentropy,
        SparseCategoricalCrossentropy,
        Poisson,
        KLDivergence,
        CosineSimilarity,
        Hinge,
        SquaredHinge,
        CategoricalHinge,
        BinaryFocalCrossentropy,
        CategoricalFocalCrossentropy,
    )
}
_ALIASES = {
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "huber": Huber,
    "huber_loss": Huber,
    "mape": MeanAbsolutePercentageError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "msle": MeanSquaredLogarithmicError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
    "log_cosh": LogCosh,
    "logcosh": LogCosh,
    "binary_crossentropy": BinaryCrossentropy,
    "bce": BinaryCrossentropy,  # Keras 3's alias (and "BCE")
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "poisson": Poisson,
    "kl_divergence": KLDivergence,
    "kld": KLDivergence,  # and "KLD": names are looked up in lower case
    "cosine_similarity": CosineSimilarity,
    "hinge": Hinge,
    "squared_hinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge,
    "binary_focal_crossentropy": BinaryFocalCrossentropy,
    "categorical_focal_crossentropy": CategoricalFocalCrossentropy,
}


def get(identifier) -> Loss:
    """A loss from a Keras name: a function's name or alias ("mse",
    "sparse_categorical_crossentropy", any case) or a class name ("MeanSquaredError", as Keras 3
    takes); a class or an instance; one of this module's functions, or a ``functools.partial``
    of one with keyword options (``partial(sparse_categorical_crossentropy, ignore_class=-1)``,
    the class's options)."""
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        identifier = identifier()
    if isinstance(identifier, Loss):
        check_custom(identifier)
        return identifier
    fn, options = identifier, {}
    if isinstance(identifier, functools.partial) and not identifier.args:
        fn, options = identifier.func, identifier.keywords
    if callable(fn) and getattr(fn, "loss_class", None) in _CLASSES.values():
        return fn.loss_class(**options)
    if isinstance(identifier, str):
        if identifier in _CLASSES:
            return _CLASSES[identifier]()
        if identifier.lower() in _ALIASES:
            return _ALIASES[identifier.lower()]()
    own = ""
    if callable(identifier):  # a plain function has no gradient to train with
        own = (
            "; for a loss of your own, subclass fastlstm.losses.Loss with call(y_true, y_pred) "
            "and gradient(y_true, y_pred) (fastlstm has no automatic differentiation)"
        )
    raise ValueError(
        f"loss: expected a fastlstm.losses.Loss, one of {sorted(_ALIASES)} or a class name in "
        f"{sorted(_CLASSES)}, got {identifier!r}{own}"
    )


def serialize(loss: Loss) -> dict[str, Any]:
    if type(loss).__name__ not in _CLASSES or type(loss) is not _CLASSES[type(loss).__name__]:
        raise ValueError(
            f"loss: only fastlstm's own losses can be saved, got {loss!r}; "
            "save(..., include_optimizer=False) saves the model without its compile state "
            "(load_model then gives it uncompiled: compile it with the loss again)"
        )
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def deserialize(spec) -> Loss:
    if not isinstance(spec, dict) or spec.get("class_name") not in _CLASSES:
        raise ValueError(f"loss: expected a class name in {sorted(_CLASSES)}, got {spec!r}")
    config = spec.get("config")
    if not isinstance(config, dict):
        raise TypeError(f"loss: expected a config dict, got {config!r}")
    try:
        return _CLASSES[spec["class_name"]].from_config(config)
    except TypeError as exc:
        raise ValueError(f"loss {spec['class_name']}: bad config ({exc})") from None


__all__ = [
    "BinaryCrossentropy",
    "BinaryFocalCrossentropy",
    "CategoricalCrossentropy",
    "CategoricalFocalCrossentropy",
    "CategoricalHinge",
    "CosineSimilarity",
    "Hinge",
    "Huber",
    "KLDivergence",
    "LogCosh",
    "Loss",
    "MeanAbsoluteError",
    "MeanAbsolutePercentageError",
    "MeanSquaredError",
    "MeanSquaredLogarithmicError",
    "Poisson",
    "SparseCategoricalCrossentropy",
    "SquaredHinge",
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_hinge",
    "cosine_similarity",
    "deserialize",
    "get",
    "hinge",
    "huber",
    "kl_divergence",
    "kld",
    "log_cosh",
    "logcosh",
    "mae",
    "mape",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
    "mse",
    "msle",
    "poisson",
    "sample_weights",
    "serialize",
    "sparse_categorical_crossentropy",
    "sparse_labels",
    "squared_hinge",
]
