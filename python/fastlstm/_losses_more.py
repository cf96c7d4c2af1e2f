"""Keras 3's losses for counts, distributions, embeddings, margins and imbalanced classes:
Poisson, KLDivergence, CosineSimilarity, Hinge, SquaredHinge, CategoricalHinge,
BinaryFocalCrossentropy and CategoricalFocalCrossentropy, each with the formula, defaults and
name of keras/src/losses/losses.py. :mod:`fastlstm.losses` registers them and holds their
functions (``poisson``, ``kl_divergence``, ...); import them from there.

Each ``_values`` gives the per-sample values and their gradient, which is what autodiff of
Keras's formula gives: zero where y_pred lies beyond a clip's bound (and passing through at the
bound itself, as torch.clamp and tf.clip_by_value pass it); at a tie of maximum(a, 0) half to
each side, and at a tie of a max over classes an equal share to each (torch's and JAX's rules,
so Keras 3 on those backends; TensorFlow's maximum gives all of it to its first argument).
"""

from __future__ import annotations

import numpy as np

from ._arrays import integer, real_number
from ._loss_base import EPSILON, Loss, _dense_target, _Probabilistic
from .functional import _flag


def _axis(axis, y_pred: np.ndarray, name: str) -> int:
    """``axis`` (checked to be an int on construction) as an axis of y_pred, or ValueError."""
    if not -y_pred.ndim <= axis < y_pred.ndim:
        raise ValueError(
            f"axis: expected an axis of y_pred, whose shape is {y_pred.shape} (-{y_pred.ndim} "
            f"to {y_pred.ndim - 1}), for {name}, got {axis}"
        )
    return axis


def _step(x: np.ndarray) -> np.ndarray:
    """d maximum(x, 0) / dx: 1 above 0, 0 below, 1/2 at 0 (torch's and JAX's tie rule)."""
    return (x > 0) + 0.5 * (x == 0)


def _dpow(base: np.ndarray, gamma: float) -> np.ndarray:
    """d base**gamma / d base as torch and JAX give it: 0 for gamma 0, else
    gamma * base**(gamma - 1) (inf at base 0 for gamma < 1, as theirs)."""
    if gamma == 0:
        return np.zeros_like(base)
    with np.errstate(divide="ignore"):
        return gamma * base ** (gamma - 1)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(z))  # <= 1: no overflow for any z
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


class Poisson(Loss):
    """mean(y_pred - y_true * log(y_pred + 1e-7)) over the last axis (Keras 3's), for counts
    y_true and positive rates y_pred (an exp or softplus output); y_pred + 1e-7 <= 0 gives inf
    or nan, as in Keras."""

    name = "poisson"

    def _values(self, y_true, y_pred):
        y = _dense_target(y_true, y_pred, self.name)
        shifted = y_pred + EPSILON
        values = (y_pred - y * np.log(shifted)).mean(axis=-1)
        d = 1 - y / shifted
        d *= y_pred.dtype.type(1.0 / max(1, y_pred.shape[-1]))
        return values, d


class KLDivergence(Loss):
    """sum(y_true * log(y_true / y_pred)) over the last axis, both clipped to [1e-7, 1] first
    (Keras 3's); no gradient reaches a y_pred outside that range."""

    name = "kl_divergence"

    def _values(self, y_true, y_pred):
        y = np.clip(_dense_target(y_true, y_pred, self.name), EPSILON, 1)
        p = np.clip(y_pred, EPSILON, 1)
        values = (y * np.log(y / p)).sum(axis=-1)
        d = -y / p
        d *= (y_pred >= EPSILON) & (y_pred <= 1)
        return values, d


class CosineSimilarity(Loss):
    """-sum(l2_normalize(y_true) * l2_normalize(y_pred)) over ``axis`` (Keras 3's): -1 where
    they point the same way, 0 where orthogonal or where either is zero. Keras 3's
    l2_normalize is x * min(1 / sqrt(sum(x**2)), 1e7), so x / max(|x|, 1e-7) (TensorFlow's,
    Keras 2's, is x / sqrt(max(sum(x**2), 1e-12))). Below that norm the scale is constant and
    the gradient that of x * 1e7.

    ``axis`` is kept in the config (Keras 3's get_config leaves it out)."""

    name = "cosine_similarity"

    def __init__(self, axis: int = -1, reduction="sum_over_batch_size", name=None) -> None:
        super().__init__(reduction, name)
        self.axis = integer(axis, "axis")

    def _values(self, y_true, y_pred):
        y = _dense_target(y_true, y_pred, self.name)
        axis = _axis(self.axis, y_pred, self.name)
        t = y / np.maximum(np.sqrt(np.square(y).sum(axis, keepdims=True)), EPSILON)
        norm = np.sqrt(np.square(y_pred).sum(axis, keepdims=True))
        inv = 1 / np.maximum(norm, EPSILON)
        tp = (t * y_pred).sum(axis, keepdims=True)
        values = -(tp * inv).squeeze(axis)
        # -d(t . p * inv)/dp = -t * inv - (t . p) * dinv/dp, where dinv/dp = -p * inv**3 while
        # the norm is above the floor (half of it at the floor) and 0 below
        live = _step(norm - EPSILON)
        d = y_pred * (live * tp * inv**3) - t * inv
        return values, d.astype(y_pred.dtype, copy=False)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def _hinge_labels(y: np.ndarray) -> np.ndarray:
    """Keras 3's convert_binary_labels_to_hinge: where every label given (the whole batch) is 0
    or 1, they become -1 and 1; otherwise (labels already -1/1, or any other value) they are
    left as they are."""
    if np.all((y == 0) | (y == 1)):
        return 2 * y - 1
    return y


class Hinge(Loss):
    """mean(maximum(1 - y_true * y_pred, 0)) over the last axis, y_true -1 or 1; labels that
    are all 0 or 1 in a batch are first mapped to -1 and 1 (Keras 3's)."""

    name = "hinge"

    def _values(self, y_true, y_pred):
        y = _hinge_labels(_dense_target(y_true, y_pred, self.name))
        margin = 1 - y * y_pred
        values = np.maximum(margin, 0).mean(axis=-1)
        d = -y * _step(margin)
        d *= y_pred.dtype.type(1.0 / max(1, y_pred.shape[-1]))
        return values, d.astype(y_pred.dtype, copy=False)


class SquaredHinge(Loss):
    """mean(maximum(1 - y_true * y_pred, 0)**2) over the last axis, with Hinge's labels."""

    name = "squared_hinge"

    def _values(self, y_true, y_pred):
        y = _hinge_labels(_dense_target(y_true, y_pred, self.name))
        over = np.maximum(1 - y * y_pred, 0)
        values = np.square(over).mean(axis=-1)
        d = -2 * y * over
        d *= y_pred.dtype.type(1.0 / max(1, y_pred.shape[-1]))
        return values, d


class CategoricalHinge(Loss):
    """maximum(neg - pos + 1, 0) with pos = sum(y_true * y_pred) and neg = max((1 - y_true) *
    y_pred) over the last axis, y_true one-hot (Keras 3's; no label conversion)."""

    name = "categorical_hinge"

    def _values(self, y_true, y_pred):
        y = _dense_target(y_true, y_pred, self.name)
        pos = (y * y_pred).sum(axis=-1)
        other = (1 - y) * y_pred
        neg = other.max(axis=-1, keepdims=True)
        margin = neg[..., 0] - pos + 1
        values = np.maximum(margin, 0)
        ties = other == neg  # the max's gradient, shared among the entries that reach it
        d = (1 - y) * ties / ties.sum(axis=-1, keepdims=True) - y
        d *= _step(margin)[..., None]
        return values, d.astype(y_pred.dtype, copy=False)


class BinaryFocalCrossentropy(_Probabilistic):
    """Keras 3's focal binary crossentropy, mean over ``axis``: with y_true smoothed towards
    0.5 by ``label_smoothing`` and p = sigmoid(y_pred) with ``from_logits`` (else y_pred),

        bce = -(y * log(c) + (1 - y) * log(1 - c)),  c = clip(p, 1e-7, 1 - 1e-7)
        p_t = y * p + (1 - y) * (1 - p)               (p itself, not c)
        value = weight * (1 - p_t)**gamma * bce

    with weight = y * alpha + (1 - y) * (1 - alpha) under ``apply_class_balancing``, else 1.
    Keras clips the sigmoid's output too (as its torch and JAX backends compute it), so with
    ``from_logits`` a logit beyond about +-16.1 saturates bce; only the focal factor's gradient
    flows there."""

    name = "binary_focal_crossentropy"

    def __init__(
        self,
        apply_class_balancing: bool = False,
        alpha: float = 0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction="sum_over_batch_size",
        name=None,
    ) -> None:
        super().__init__(from_logits, label_smoothing, reduction, name)
        self.apply_class_balancing = _flag(apply_class_balancing, "apply_class_balancing")
        self.alpha = real_number(alpha, "alpha", at_least=0, at_most=1)
        self.gamma = real_number(gamma, "gamma", at_least=0)
        self.axis = integer(axis, "axis")

    def _values(self, y_true, y_pred):
        y = _dense_target(y_true, y_pred, self.name)
        axis = _axis(self.axis, y_pred, self.name)
        if self.label_smoothing:
            y = y * (1 - self.label_smoothing) + 0.5 * self.label_smoothing
        p = _sigmoid(y_pred) if self.from_logits else y_pred
        c = np.clip(p, EPSILON, 1 - EPSILON)
        bce = -(y * np.log(c) + (1 - y) * np.log(1 - c))
        base = 1 - (y * p + (1 - y) * (1 - p))  # 1 - p_t
        focal = base**self.gamma
        weight = 1.0
        if self.apply_class_balancing:
            weight = y * self.alpha + (1 - y) * (1 - self.alpha)
        values = (weight * focal * bce).mean(axis=axis)
        dbce = (c - y) / (c * (1 - c)) * ((p >= EPSILON) & (p <= 1 - EPSILON))
        d = weight * (_dpow(base, self.gamma) * (1 - 2 * y) * bce + focal * dbce)
        if self.from_logits:
            d *= p * (1 - p)
        d *= y_pred.dtype.type(1.0 / max(1, y_pred.shape[axis]))
        return values, d.astype(y_pred.dtype, copy=False)

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "apply_class_balancing": self.apply_class_balancing,
            "alpha": self.alpha,
            "gamma": self.gamma,
        }


def _class_alpha(alpha):
    """A float, or a list of floats (one per class, Keras's alternative), each >= 0."""
    if isinstance(alpha, (list, tuple, np.ndarray)):
        values = np.asarray(alpha, dtype=object)
        if values.ndim != 1 or values.size == 0:
            raise ValueError(f"alpha: expected a float or a list of floats, got {alpha!r}")
        return [real_number(a, "alpha", at_least=0) for a in values]
    return real_number(alpha, "alpha", at_least=0)


class CategoricalFocalCrossentropy(_Probabilistic):
    """Keras 3's focal categorical crossentropy, summed over ``axis``: with y_true smoothed by
    ``label_smoothing`` (towards 1/C, C the size of the last axis) and p = softmax(y_pred)
    over ``axis`` with ``from_logits`` (else y_pred),

        c = clip(p / sum(p), 1e-7, 1 - 1e-7)
        value = sum(alpha * (1 - c)**gamma * -y * log(c))

    ``alpha`` a float or a list of floats, one per class (C of them, along the last axis)."""

    name = "categorical_focal_crossentropy"

    def __init__(
        self,
        alpha=0.25,
        gamma: float = 2.0,
        from_logits: bool = False,
        label_smoothing: float = 0.0,
        axis: int = -1,
        reduction="sum_over_batch_size",
        name=None,
    ) -> None:
        super().__init__(from_logits, label_smoothing, reduction, name)
        self.alpha = _class_alpha(alpha)
        self.gamma = real_number(gamma, "gamma", at_least=0)
        self.axis = integer(axis, "axis")

    def _values(self, y_true, y_pred):
        y = _dense_target(y_true, y_pred, self.name)
        axis = _axis(self.axis, y_pred, self.name)
        alpha = self.alpha
        if isinstance(alpha, list):
            if len(alpha) != y_pred.shape[-1]:
                raise ValueError(
                    f"alpha: expected {y_pred.shape[-1]} values (one per class, y_pred's last "
                    f"axis) for {self.name}, got {len(alpha)}"
                )
            alpha = np.asarray(alpha, dtype=y_pred.dtype)
        if self.label_smoothing:
            y = y * (1 - self.label_smoothing) + self.label_smoothing / y.shape[-1]
        if self.from_logits:
            e = np.exp(y_pred - y_pred.max(axis=axis, keepdims=True))
            p = e / e.sum(axis=axis, keepdims=True)
        else:
            p = y_pred
        total = p.sum(axis=axis, keepdims=True)
        q = p / total
        c = np.clip(q, EPSILON, 1 - EPSILON)
        log_c = np.log(c)
        modulating = (1 - c) ** self.gamma
        values = (alpha * modulating * -y * log_c).sum(axis=axis)
        # dL/dq, zero where the clip holds q; then through q = p / sum(p) and the softmax
        dq = alpha * (_dpow(1 - c, self.gamma) * y * log_c - modulating * y / c)
        dq *= (q >= EPSILON) & (q <= 1 - EPSILON)
        d = (dq - (dq * q).sum(axis=axis, keepdims=True)) / total
        if self.from_logits:
            d = p * (d - (d * p).sum(axis=axis, keepdims=True))
        return values, d.astype(y_pred.dtype, copy=False)

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "alpha": self.alpha,
            "gamma": self.gamma,
        }
